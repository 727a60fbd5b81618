/* Turn-taking state machine. See turn.h for the picture. Invariants:
 * next_hold is meaningful only in THINKING; agent_paused only in SPEAKING;
 * every COMMIT_TURN is emitted exactly once per user turn. */
#include "tern/turn.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

void tern_turn_config_default(tern_turn_config_t *cfg) {
  cfg->min_endpoint = TERN_MS(500);
  cfg->max_endpoint = TERN_SEC(3);
  cfg->final_wait = TERN_SEC(5);
  cfg->allow_interruptions = true;
  cfg->min_interruption = TERN_MS(500);
  cfg->min_interruption_words = 0;
  cfg->dead_air_bound = TERN_MS(1500);
  cfg->max_holds = 3;
}

void tern_turn_init(tern_turn_t *t, const tern_turn_config_t *cfg) {
  memset(t, 0, sizeof *t);
  if (cfg)
    t->cfg = *cfg;
  else
    tern_turn_config_default(&t->cfg);
  t->state = TERN_TURN_LISTENING;
  t->interruptible = true;
}

const char *tern_turn_state_name(tern_turn_state_t s) {
  static const char *const names[] = {"listening", "user_speaking", "end_of_turn", "thinking",
                                      "speaking"};
  return (unsigned)s < sizeof names / sizeof *names ? names[s] : "listening";
}

bool tern_turn_sounds_unfinished(const char *text) {
  static const char *const tails[] = {"and", "but", "or", "so", "because", "um", "uh", "erm",
                                      "the", "a", "to", "of", "with", "like", "if", "then"};
  if (!text)
    return false;
  size_t n = strlen(text);
  while (n && (isspace((unsigned char)text[n - 1]) || text[n - 1] == ','))
    n--;
  if (n && strchr(".?!", text[n - 1]))
    return false;
  size_t w = n;
  while (w && isalpha((unsigned char)text[w - 1]))
    w--;
  for (size_t i = 0; i < sizeof tails / sizeof *tails; i++)
    if (strlen(tails[i]) == n - w && !strncasecmp(text + w, tails[i], n - w))
      return true;
  return false;
}

static unsigned count_words(const char *s) {
  unsigned n = 0;
  bool in = false;
  for (; s && *s; s++) {
    bool alnum = isalnum((unsigned char)*s) || *s == '\'';
    if (alnum && !in)
      n++;
    in = alnum;
  }
  return n;
}

static void begin_user_turn(tern_turn_t *t, tern_usec_t now) {
  t->state = TERN_TURN_USER_SPEAKING;
  t->user_start = now;
  t->final_seen = false;
  t->awaiting_final = false;
  t->unfinished = false;
  t->words = 0;
  t->holds = 0;
}

static tern_usec_t endpoint_due(const tern_turn_t *t) {
  return t->user_stop + (t->unfinished ? t->cfg.max_endpoint : t->cfg.min_endpoint);
}

/* The user has held the floor over the agent long enough to take it. */
static bool barge_ready(const tern_turn_t *t, tern_usec_t now) {
  return t->user_active && now - t->user_start >= t->cfg.min_interruption &&
         t->words >= t->cfg.min_interruption_words;
}

static unsigned on_timer(tern_turn_t *t, tern_usec_t now) {
  unsigned a = 0;
  switch (t->state) {
  case TERN_TURN_END_OF_TURN:
    if (now >= endpoint_due(t)) {
      t->state = TERN_TURN_THINKING;
      t->turn_end = now;
      t->next_hold = now + t->cfg.dead_air_bound;
      t->holds = 0;
      if (t->final_seen)
        a |= TERN_TACT_COMMIT_TURN;
      else
        t->awaiting_final = true;
    }
    break;
  case TERN_TURN_THINKING:
    if (t->user_active && t->interruptible && t->cfg.allow_interruptions && barge_ready(t, now)) {
      /* The user talks on over a reply that has not started: drop it. */
      a |= TERN_TACT_INTERRUPT_AGENT;
      begin_user_turn(t, t->user_start);
      break;
    }
    if (t->awaiting_final && now >= t->turn_end + t->cfg.final_wait) {
      t->awaiting_final = false;
      a |= TERN_TACT_COMMIT_TURN; /* without words: the session says it missed them */
    }
    if (now >= t->next_hold && t->holds < t->cfg.max_holds) {
      a |= TERN_TACT_HOLD;
      t->holds++;
      t->next_hold = now + t->cfg.dead_air_bound;
    }
    break;
  case TERN_TURN_SPEAKING:
    if (t->agent_paused && barge_ready(t, now)) {
      a |= TERN_TACT_INTERRUPT_AGENT;
      t->agent_paused = false;
      t->reply_pending = false;
      begin_user_turn(t, t->user_start);
    }
    break;
  default:
    break;
  }
  return a;
}

unsigned tern_turn_step(tern_turn_t *t, tern_turn_event_t ev, const char *text, tern_usec_t now) {
  unsigned a = 0;
  switch (ev) {
  case TERN_TEV_USER_START:
    t->user_active = true;
    a |= TERN_TACT_USER_STARTED;
    switch (t->state) {
    case TERN_TURN_LISTENING:
      begin_user_turn(t, now);
      break;
    case TERN_TURN_END_OF_TURN: /* a pause, not the end: same turn */
      t->state = TERN_TURN_USER_SPEAKING;
      break;
    case TERN_TURN_THINKING:
      t->user_start = now;
      t->words = 0;
      break;
    case TERN_TURN_SPEAKING:
      if (t->interruptible && t->cfg.allow_interruptions) {
        t->user_start = now;
        t->words = 0;
        t->agent_paused = true;
        a |= TERN_TACT_PAUSE_AGENT;
      }
      break;
    default:
      break;
    }
    break;
  case TERN_TEV_USER_STOP:
    if (!t->user_active)
      break;
    t->user_active = false;
    a |= TERN_TACT_USER_STOPPED;
    if (t->state == TERN_TURN_USER_SPEAKING) {
      t->state = TERN_TURN_END_OF_TURN;
      t->user_stop = now;
    } else if (t->state == TERN_TURN_SPEAKING && t->agent_paused) {
      t->agent_paused = false; /* too short to be a turn: a cough, a click */
      a |= TERN_TACT_RESUME_AGENT | TERN_TACT_FALSE_INTERRUPTION;
    }
    break;
  case TERN_TEV_TRANSCRIPT:
  case TERN_TEV_FINAL:
    t->words = count_words(text);
    if (t->state == TERN_TURN_USER_SPEAKING || t->state == TERN_TURN_END_OF_TURN ||
        (t->state == TERN_TURN_THINKING && t->awaiting_final))
      t->unfinished = tern_turn_sounds_unfinished(text);
    if (ev == TERN_TEV_FINAL) {
      if (t->state == TERN_TURN_THINKING && t->awaiting_final) {
        t->awaiting_final = false;
        t->final_seen = true;
        a |= TERN_TACT_COMMIT_TURN;
      } else if (t->state == TERN_TURN_USER_SPEAKING || t->state == TERN_TURN_END_OF_TURN) {
        t->final_seen = true;
      }
    }
    break;
  case TERN_TEV_AGENT_REPLY:
    t->reply_pending = true;
    if (t->state == TERN_TURN_LISTENING) {
      t->state = TERN_TURN_THINKING;
      t->turn_end = now;
      t->next_hold = now + t->cfg.dead_air_bound;
      t->holds = 0;
    }
    break;
  case TERN_TEV_AGENT_AUDIO:
    if (t->state == TERN_TURN_THINKING || t->state == TERN_TURN_LISTENING) {
      t->state = TERN_TURN_SPEAKING;
      t->agent_paused = false;
      if (t->user_active && t->interruptible && t->cfg.allow_interruptions) {
        t->agent_paused = true; /* the user is talking already */
        a |= TERN_TACT_PAUSE_AGENT;
      }
    }
    break;
  case TERN_TEV_AGENT_DONE:
    if (t->state == TERN_TURN_SPEAKING) {
      t->agent_paused = false;
      if (t->reply_pending) { /* more is coming: the silence clock runs */
        t->state = TERN_TURN_THINKING;
        t->next_hold = now + t->cfg.dead_air_bound;
      } else if (t->user_active) {
        begin_user_turn(t, now);
      } else {
        t->state = TERN_TURN_LISTENING;
      }
    }
    break;
  case TERN_TEV_TIMER:
    break;
  }
  tern_usec_t due = tern_turn_deadline(t);
  if (due >= 0 && now >= due)
    a |= on_timer(t, now);
  return a;
}

tern_usec_t tern_turn_deadline(const tern_turn_t *t) {
  tern_usec_t due = -1;
#define EARLIER(x)                                                                                 \
  do {                                                                                             \
    tern_usec_t x_ = (x);                                                                          \
    if (due < 0 || x_ < due)                                                                       \
      due = x_;                                                                                    \
  } while (0)
  switch (t->state) {
  case TERN_TURN_END_OF_TURN:
    EARLIER(endpoint_due(t));
    break;
  case TERN_TURN_THINKING:
    if (t->holds < t->cfg.max_holds)
      EARLIER(t->next_hold);
    if (t->awaiting_final)
      EARLIER(t->turn_end + t->cfg.final_wait);
    if (t->user_active && t->interruptible && t->cfg.allow_interruptions)
      EARLIER(t->user_start + t->cfg.min_interruption);
    break;
  case TERN_TURN_SPEAKING:
    if (t->agent_paused)
      EARLIER(t->user_start + t->cfg.min_interruption);
    break;
  default:
    break;
  }
#undef EARLIER
  return due;
}

void tern_turn_set_interruptible(tern_turn_t *t, bool yes) { t->interruptible = yes; }

void tern_turn_reply_pending(tern_turn_t *t, bool pending, tern_usec_t now) {
  t->reply_pending = pending;
  if (!pending && t->state == TERN_TURN_THINKING && !t->awaiting_final)
    t->state = t->user_active ? TERN_TURN_USER_SPEAKING : TERN_TURN_LISTENING;
  (void)now;
}
