/* Turn-taking: who has the floor, decided from voice activity, transcripts
 * and agent playback. Pure policy: events and `now` come in, actions come
 * out; the session executes the actions and arms one timer for
 * tern_turn_deadline().
 *
 *   LISTENING --user starts--> USER_SPEAKING --user stops--> END_OF_TURN
 *   END_OF_TURN --endpoint delay passes (and a final transcript is in)-->
 *       THINKING (action COMMIT_TURN)
 *   END_OF_TURN --user starts again--> USER_SPEAKING (same turn)
 *   THINKING --first agent audio--> SPEAKING --playback done--> LISTENING
 *
 * Endpointing waits min_endpoint after the user stops; when the words so
 * far end like an unfinished thought ("and", "so", "um"...) it waits up to
 * max_endpoint instead.
 *
 * Interruptions: user speech while the agent speaks pauses the agent's
 * audio at once (PAUSE_AGENT). If the speech lasts min_interruption (and,
 * when set, brings min_interruption_words words) the agent is interrupted
 * (INTERRUPT_AGENT: stop the answer, commit what was heard). If it ends
 * sooner it was a false interruption: RESUME_AGENT.
 *
 * Dead air: from the moment the user's turn ends, if no agent audio has
 * started within dead_air_bound, HOLD (speak a holding phrase); again each
 * further bound while the agent is still silent.
 */
#ifndef TERN_TURN_H
#define TERN_TURN_H

#include <stdbool.h>
#include <stddef.h>

#include "tern/clock.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tern_turn_state {
  TERN_TURN_LISTENING = 0,
  TERN_TURN_USER_SPEAKING,
  TERN_TURN_END_OF_TURN,
  TERN_TURN_THINKING,
  TERN_TURN_SPEAKING
} tern_turn_state_t;

typedef enum tern_turn_event {
  TERN_TEV_USER_START = 0,  /* VAD: speech began */
  TERN_TEV_USER_STOP,       /* VAD: speech ended */
  TERN_TEV_TRANSCRIPT,      /* an interim transcript (words) */
  TERN_TEV_FINAL,           /* the final transcript of the turn arrived */
  TERN_TEV_AGENT_AUDIO,     /* the first agent audio of a reply is playing */
  TERN_TEV_AGENT_DONE,      /* the agent's audio finished (queue drained) */
  TERN_TEV_AGENT_REPLY,     /* the agent started replying without a user turn (say) */
  TERN_TEV_TIMER            /* the deadline passed */
} tern_turn_event_t;

enum {
  TERN_TACT_NONE = 0,
  TERN_TACT_COMMIT_TURN = 1 << 0,     /* the user's turn is over: answer it */
  TERN_TACT_PAUSE_AGENT = 1 << 1,     /* hold agent audio, keep the queue */
  TERN_TACT_RESUME_AGENT = 1 << 2,    /* false interruption: play on */
  TERN_TACT_INTERRUPT_AGENT = 1 << 3, /* stop the answer; commit what was heard */
  TERN_TACT_HOLD = 1 << 4,            /* dead air: speak a holding phrase */
  TERN_TACT_USER_STARTED = 1 << 5,    /* emit user_started_speaking */
  TERN_TACT_USER_STOPPED = 1 << 6,    /* emit user_stopped_speaking */
  TERN_TACT_FALSE_INTERRUPTION = 1 << 7
};

typedef struct tern_turn_config {
  tern_usec_t min_endpoint;     /* 500 ms */
  tern_usec_t max_endpoint;     /* 3 s */
  tern_usec_t final_wait;       /* after the endpoint, wait this much more for a final transcript (1 s) */
  bool allow_interruptions;     /* true */
  tern_usec_t min_interruption; /* 500 ms */
  unsigned min_interruption_words; /* 0: any speech counts */
  tern_usec_t dead_air_bound;   /* 1.5 s */
  unsigned max_holds;           /* holding phrases per turn at most (3) */
} tern_turn_config_t;

typedef struct tern_turn {
  tern_turn_config_t cfg;
  tern_turn_state_t state;
  tern_usec_t user_start;     /* current user speech began */
  tern_usec_t user_stop;      /* the user stopped (end-of-turn wait began) */
  tern_usec_t turn_end;       /* the turn was committed (dead-air clock) */
  tern_usec_t next_hold;      /* THINKING: when the next holding phrase is due */
  bool final_seen;            /* the turn has its final transcript */
  bool unfinished;            /* the words so far end like an unfinished thought */
  unsigned words;             /* words in the newest transcript */
  bool agent_paused;          /* SPEAKING, with user speech on top */
  bool interruptible;         /* the current agent speech may be cut */
  unsigned holds;             /* holding phrases spoken this turn */
  bool user_active;           /* VAD says the user is speaking now */
  bool awaiting_final;        /* THINKING: the turn ended, its transcript has not */
  bool reply_pending;         /* the session is still producing the reply */
} tern_turn_t;

void tern_turn_config_default(tern_turn_config_t *cfg);
void tern_turn_init(tern_turn_t *t, const tern_turn_config_t *cfg);
/* Feed one event; returns a set of TERN_TACT_* bits. `text` is the
 * transcript for TRANSCRIPT and FINAL (may be NULL otherwise). */
unsigned tern_turn_step(tern_turn_t *t, tern_turn_event_t ev, const char *text, tern_usec_t now);
/* When TIMER must be fed next, or -1 for no deadline. */
tern_usec_t tern_turn_deadline(const tern_turn_t *t);
/* Whether the agent's current speech may be interrupted (say() can forbid it). */
void tern_turn_set_interruptible(tern_turn_t *t, bool yes);
/* The session says whether a reply is still being produced; when the
 * agent's audio drains while one is, the dead-air clock runs again. A reply
 * that ends with no audio at all (nothing could be said) returns the turn
 * to LISTENING. */
void tern_turn_reply_pending(tern_turn_t *t, bool pending, tern_usec_t now);

const char *tern_turn_state_name(tern_turn_state_t s); /* "listening", ... as in events */
/* Words that suggest the speaker has not finished ("and", "um", ...). */
bool tern_turn_sounds_unfinished(const char *text);

#ifdef __cplusplus
}
#endif
#endif
