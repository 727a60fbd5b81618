/* The agent session: one conversation, on one loop.
 *
 * Caller audio goes in (tern_session_push_audio), agent audio comes out
 * (tern_session_pull_audio, called at the playback pace: every call means
 * that many samples were played). In between: voice activity detection,
 * turn-taking (turn.h), speech-to-text, the language model with tools, the
 * answer cut into sentences and spoken as each completes, interruptions,
 * and the safety net — fallback chains per component, spoken fallback
 * phrases, pre-rendered clips when every voice is down, holding phrases
 * against dead air, and a graceful goodbye after too many unrecoverable
 * errors. Every committed utterance is kept in the transcript, whatever
 * fails.
 *
 * Events (events.h): session_started, user_started_speaking,
 * user_stopped_speaking, user_speech_committed, agent_started_speaking,
 * agent_stopped_speaking, agent_speech_committed, agent_false_interruption,
 * function_call_started, function_calls_finished, error, provider_switched,
 * breaker_state_changed, degradation_changed, fallback_spoken, metrics,
 * session_closed.
 */
#ifndef TERN_SESSION_H
#define TERN_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/config.h"
#include "tern/events.h"
#include "tern/fallback.h"
#include "tern/recovery.h"
#include "tern/tools.h"
#include "tern/turn.h"
#include "tern/vad.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_session tern_session_t;
typedef struct tern_clips tern_clips_t;

typedef struct tern_session_config {
  int sample_rate; /* caller and agent audio (16000) */
  tern_turn_config_t turn;
  tern_vad_seg_opts_t vad;
  tern_vad_kind_t vad_kind;    /* detector made when deps.vad is NULL (TERN_VAD_KIND_AUTO) */
  const char *system_prompt;
  const char *greeting;        /* spoken when the session starts; NULL: none */
  unsigned keep_on_overflow;   /* messages kept when the context is too long (8) */
  unsigned max_tool_rounds;    /* model -> tools -> model rounds per reply (4) */
  uint32_t error_tolerance;    /* unrecoverable errors per component before goodbye (3) */
  tern_usec_t max_utterance;   /* longer user speech is cut into turns (30 s) */
  tern_usec_t max_queued_audio; /* agent audio held ahead of playback at most (60 s) */
  tern_usec_t tts_lookahead;   /* synthesise the next sentence when less than this is queued (3 s) */
  uint64_t seed;               /* for phrase choice and jitter */
} tern_session_config_t;

typedef struct tern_session_deps {
  tern_loop_t *loop;
  tern_fallback_t *stt, *llm, *tts; /* borrowed; their loop must be `loop` */
  tern_tools_t *tools;              /* may be NULL */
  tern_events_t *events;            /* may be NULL */
  tern_phrases_t *phrases;          /* may be NULL: built-in wording */
  const tern_clips_t *clips;        /* pre-rendered phrases; may be NULL */
  tern_vad_t *vad;                  /* borrowed; NULL: the session makes cfg.vad_kind */
} tern_session_deps_t;

void tern_session_config_default(tern_session_config_t *cfg);
/* Read [session] from configuration over the defaults: sample_rate,
 * system_prompt, greeting, dead_air_ms, min_endpoint_ms, max_endpoint_ms,
 * allow_interruptions, min_interruption_ms, min_interruption_words,
 * vad (auto|webrtc|energy), vad_min_speech_ms, vad_min_silence_ms, error_tolerance,
 * max_utterance_ms, max_tool_rounds. Strings point into `conf`. */
int tern_session_config_load(tern_session_config_t *cfg, const tern_config_t *conf, char *err,
                             size_t errsz);

int tern_session_create(const tern_session_config_t *cfg, const tern_session_deps_t *deps,
                        tern_session_t **out);
/* Cancels everything in flight; emits session_closed if not closed yet. */
void tern_session_destroy(tern_session_t *s);

/* Emits session_started and speaks the greeting. */
int tern_session_start(tern_session_t *s);

/* Caller audio, mono PCM16 at the session rate, any length. Frames over a
 * sane size are refused with TERN_ETOOBIG. */
int tern_session_push_audio(tern_session_t *s, const int16_t *pcm, size_t n);
/* Fill `out` with the next n samples of agent audio (silence when the
 * agent is quiet or paused). Returns the number of agent (non-silent)
 * samples written. Each call means n samples were played. */
size_t tern_session_pull_audio(tern_session_t *s, int16_t *out, size_t n);

/* Speak fixed text (through TTS) or a recorded clip, queued after
 * whatever is being said. */
int tern_session_say(tern_session_t *s, const char *text, bool allow_interruptions);
int tern_session_play(tern_session_t *s, const int16_t *pcm, size_t n, const char *text,
                      bool allow_interruptions);

/* End gracefully: say `goodbye` (NULL: a built-in goodbye phrase), then
 * close with `reason` once it has played. */
int tern_session_end(tern_session_t *s, const char *goodbye, const char *reason);
/* Stop the agent now, as a barge-in would (push-to-talk): the answer in
 * progress is cancelled, queued audio dropped, what was heard committed as
 * interrupted, and the turn goes back to listening. TERN_ESTATE while the
 * goodbye is playing (it cannot be cut); 0 when there was nothing to stop. */
int tern_session_interrupt(tern_session_t *s);
/* Close at once (the caller hung up). */
void tern_session_close(tern_session_t *s, const char *reason);
bool tern_session_closed(const tern_session_t *s);

tern_turn_state_t tern_session_state(const tern_session_t *s);
tern_chat_t *tern_session_chat(tern_session_t *s);
/* The session's state object, handed to tools (snapshotted around them). */
json_t *tern_session_userdata(tern_session_t *s);

/* The transcript: every committed user and agent utterance, in order. */
typedef struct tern_transcript_line {
  const char *role; /* "user" or "agent" */
  const char *text;
  bool interrupted; /* agent: cut off by the user; text is what was heard */
  bool spoken;      /* agent: false when it went out as text only (voice down) */
  int64_t ts_ms;
} tern_transcript_line_t;
size_t tern_session_transcript_count(const tern_session_t *s);
int tern_session_transcript_at(const tern_session_t *s, size_t i, tern_transcript_line_t *out);

typedef struct tern_session_stats {
  unsigned turns;        /* user turns committed */
  unsigned replies;      /* agent replies that reached the caller */
  unsigned interruptions, false_interruptions;
  unsigned holds;        /* holding phrases spoken against dead air */
  unsigned fallbacks;    /* spoken fallback phrases */
  unsigned tool_calls, tool_failures;
  unsigned dead_air_violations; /* turns where no audio started within the bound */
  tern_usec_t max_silence;      /* longest wait from turn end to agent audio */
} tern_session_stats_t;
void tern_session_stats(const tern_session_t *s, tern_session_stats_t *out);

/* ---- pre-rendered clips ------------------------------------------------ */

/* Audio for phrase ids ("llm.timeout.2", "holding.1", "fallback"), loaded
 * from <dir>/<id>.wav and resampled to `sample_rate`. */
int tern_clips_load_dir(const char *dir, int sample_rate, tern_clips_t **out, char *err,
                        size_t errsz);
int tern_clips_create(int sample_rate, tern_clips_t **out);
int tern_clips_add(tern_clips_t *c, const char *id, const int16_t *pcm, size_t n);
void tern_clips_destroy(tern_clips_t *c);
/* The clip for id, or NULL. */
const int16_t *tern_clips_get(const tern_clips_t *c, const char *id, size_t *n);
size_t tern_clips_count(const tern_clips_t *c);

#ifdef __cplusplus
}
#endif
#endif
