/* The agent session. See session.h for the contract.
 *
 * Data flow:
 *   push_audio -> 20 ms frames -> VAD -> segmenter -> turn machine
 *              -> utterance buffer (from speech start, with pre-roll)
 *   user stops -> STT (speculative; cancelled if the user goes on)
 *   COMMIT     -> user_speech_committed -> chat -> LLM (fallback runner)
 *   LLM text   -> sentence segmenter -> sentence queue -> TTS (one at a
 *                 time, only while less than tts_lookahead is queued)
 *   TTS audio  -> output queue (segments: which text each sample range says)
 *   pull_audio -> plays the output queue, knows exactly what was heard
 *
 * One "speech" is something the agent says: a reply, a say(), a holding
 * phrase, a fallback phrase, the goodbye. At most one reply is in flight;
 * other speech is queued behind it. What was heard is committed to the
 * transcript when a speech finishes playing or is interrupted, never
 * before, and nothing committed is ever dropped: failures change how
 * something is said (another provider, a phrase, a clip, text only), not
 * whether it is recorded.
 */
#include "tern/session.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/buf.h"
#include "tern/degrade.h"
#include "tern/error.h"
#include "tern/loop.h"
#include "tern/rand.h"
#include "tern/segment.h"

#define MAX_FRAME_PUSH (48000 * 10) /* one push of more than 10 s is a caller bug */
#define PREROLL_MS 300

typedef enum { SP_REPLY, SP_SAY, SP_HOLD, SP_FALLBACK, SP_GOODBYE } speech_kind_t;

typedef struct sentence {
  struct sentence *next;
  char *text;
} sentence_t;

/* A run of queued samples and the text they say. */
typedef struct seg {
  struct seg *next;
  struct speech *sp;
  char *text;      /* NULL for a clip without words */
  uint64_t start;  /* output stream positions [start, end) */
  uint64_t end;
  bool closed;     /* no more audio will be added */
} seg_t;

typedef struct speech {
  struct speech *next;
  speech_kind_t kind;
  bool interruptible;
  sentence_t *todo, *todo_tail; /* sentences waiting for TTS */
  bool text_done;               /* no more sentences will come */
  bool started;                 /* its first sample was played */
  bool spoken_text_only;        /* the voice was down: went out as text */
  tern_buf_t said;              /* all text of this speech, as queued */
  tern_buf_t heard;             /* text whose audio fully played */
  unsigned long id;
} speech_t;

typedef struct turn_metrics {
  tern_usec_t user_stop, commit, stt_start, stt_end, llm_start, llm_first, tts_start, tts_first,
      audio;
  bool reported;
} turn_metrics_t;

struct tern_session {
  tern_session_config_t cfg;
  tern_session_deps_t d;
  tern_turn_t turn;
  tern_loop_timer_t *turn_timer;
  tern_rand_t rng;
  bool started, closed, ending;
  char close_reason[64];

  /* input */
  tern_vad_t *vad;
  tern_vad_t *own_vad; /* the one made from cfg.vad_kind when deps.vad is NULL */
  tern_vad_seg_t seg;
  int16_t frame[960];
  size_t frame_len, frame_samples;
  uint64_t in_pos; /* caller samples pushed */
  int16_t preroll[48000 / 1000 * PREROLL_MS];
  size_t preroll_len, preroll_cap;
  int16_t *utt;
  size_t utt_len, utt_cap;
  bool recording;
  /* The utterance as handed to STT. A request's audio is borrowed until
   * on_done (provider.h), and the runner re-reads it on every retry and
   * failover; `utt` keeps growing (and may move) while the user pauses, so
   * STT gets this copy, reused from turn to turn. */
  int16_t *stt_pcm;
  size_t stt_cap;

  /* STT */
  tern_op_t *stt_op;
  tern_buf_t transcript;
  bool have_final;
  char stt_provider[32];

  /* chat and reply */
  tern_chat_t *chat;
  json_t *userdata;
  tern_op_t *llm_op;
  tern_segmenter_t segm;
  speech_t *reply; /* the reply in flight (also in the speech list) */
  tern_tool_call_t calls[8];
  size_t ncalls;
  unsigned tool_round;
  tern_op_t *tool_op;
  size_t tool_next;
  tern_chat_t *tool_snap_chat;
  json_t *tool_snap_state;
  tern_buf_t round_text; /* text of the current LLM round */
  bool context_retry;    /* already truncated once for this reply */

  /* TTS and output */
  speech_t *speeches, *speeches_tail; /* in play order */
  speech_t *tts_speech;               /* the speech whose sentence TTS is saying */
  tern_op_t *tts_op;
  seg_t *tts_seg;
  seg_t *segs, *segs_tail;
  int16_t *out;                       /* output ring */
  size_t out_cap, out_head, out_len;
  uint64_t out_queued, out_played;    /* stream positions */
  bool paused;
  bool agent_audible;                 /* the agent's audio is playing */
  unsigned long next_speech_id;

  /* resilience */
  tern_recovery_t *recovery;
  tern_phrases_t *own_phrases;
  tern_degrade_t degrade;
  bool voice_down_announced;

  /* transcript */
  tern_transcript_line_t *lines;
  size_t nlines, caplines;

  turn_metrics_t m;
  unsigned turn_no;
  tern_session_stats_t stats;
};

static void pump_tts(tern_session_t *s);
static void start_llm(tern_session_t *s);
static void apply(tern_session_t *s, unsigned actions);
static void speak_phrase(tern_session_t *s, tern_phrase_slot_t slot, const tern_error_t *err,
                         speech_kind_t kind, const char *reason);

/* ---- helpers ----------------------------------------------------------- */

static tern_usec_t now_of(tern_session_t *s) { return tern_loop_now(s->d.loop); }

static tern_phrases_t *phrases(tern_session_t *s) {
  return s->d.phrases ? s->d.phrases : s->own_phrases;
}

static void sched_turn_timer(tern_session_t *s) {
  tern_usec_t due = tern_turn_deadline(&s->turn);
  if (due < 0) {
    tern_loop_timer_stop(s->turn_timer);
    return;
  }
  tern_usec_t now = now_of(s);
  tern_loop_timer_start(s->turn_timer, due > now ? due - now : 0, 0);
}

static void turn_event(tern_session_t *s, tern_turn_event_t ev, const char *text) {
  unsigned a = tern_turn_step(&s->turn, ev, text, now_of(s));
  apply(s, a);
  sched_turn_timer(s);
}

static void on_turn_timer(tern_loop_timer_t *t, void *ud) {
  (void)t;
  turn_event(ud, TERN_TEV_TIMER, NULL);
}

static void add_line(tern_session_t *s, const char *role, const char *text, bool interrupted,
                     bool spoken) {
  if (s->nlines == s->caplines) {
    size_t cap = s->caplines ? s->caplines * 2 : 32;
    tern_transcript_line_t *v = tern_realloc(s->lines, cap * sizeof *v);
    if (!v) {
      TERN_LOG(TERN_LOG_ERROR, "transcript_line_lost", TERN_LF_STR("role", role));
      return;
    }
    s->lines = v;
    s->caplines = cap;
  }
  char *copy = tern_strdup(text ? text : "");
  if (!copy) {
    TERN_LOG(TERN_LOG_ERROR, "transcript_line_lost", TERN_LF_STR("role", role));
    return;
  }
  s->lines[s->nlines++] = (tern_transcript_line_t){role, copy, interrupted, spoken, tern_wall_ms()};
}

static void degrade_update(tern_session_t *s, tern_component_t comp, tern_health_t h) {
  tern_degrade_change_t ch;
  if (tern_degrade_set(&s->degrade, comp, h, &ch) == 0 && ch.changed)
    TERN_EVENT(s->d.events, "degradation_changed", TERN_LF_STR("from", tern_degrade_level_name(ch.from)),
               TERN_LF_STR("to", tern_degrade_level_name(ch.to)),
               TERN_LF_STR("component", tern_component_name(comp)));
}

/* ---- output queue ------------------------------------------------------ */

static int out_reserve(tern_session_t *s, size_t extra) {
  if (s->out_len + extra <= s->out_cap)
    return 0;
  size_t maxs = (size_t)(s->cfg.max_queued_audio / 1000) * (size_t)s->cfg.sample_rate / 1000;
  size_t cap = s->out_cap ? s->out_cap : (size_t)s->cfg.sample_rate * 2;
  while (cap < s->out_len + extra)
    cap *= 2;
  if (cap > maxs)
    cap = maxs;
  if (cap < s->out_len + extra)
    return TERN_ETOOBIG;
  int16_t *n = tern_malloc(cap * sizeof *n);
  if (!n)
    return TERN_ENOMEM;
  for (size_t i = 0; i < s->out_len; i++) /* unwrap into the new ring */
    n[i] = s->out[(s->out_head + i) % s->out_cap];
  tern_free(s->out);
  s->out = n;
  s->out_cap = cap;
  s->out_head = 0;
  return 0;
}

static int out_write(tern_session_t *s, const int16_t *pcm, size_t n) {
  int rc = out_reserve(s, n);
  if (rc)
    return rc;
  size_t tail = (s->out_head + s->out_len) % s->out_cap;
  size_t first = n < s->out_cap - tail ? n : s->out_cap - tail;
  memcpy(s->out + tail, pcm, first * sizeof *pcm);
  memcpy(s->out, pcm + first, (n - first) * sizeof *pcm);
  s->out_len += n;
  s->out_queued += n;
  return 0;
}

static seg_t *seg_open(tern_session_t *s, speech_t *sp, const char *text) {
  seg_t *g = tern_calloc(1, sizeof *g);
  if (!g)
    return NULL;
  if (text && !(g->text = tern_strdup(text))) {
    tern_free(g);
    return NULL;
  }
  g->sp = sp;
  g->start = g->end = s->out_queued;
  if (s->segs_tail)
    s->segs_tail->next = g;
  else
    s->segs = g;
  s->segs_tail = g;
  return g;
}

static void seg_free(seg_t *g) {
  tern_free(g->text);
  tern_free(g);
}

/* ---- speeches ---------------------------------------------------------- */

static speech_t *speech_new(tern_session_t *s, speech_kind_t kind, bool interruptible) {
  speech_t *sp = tern_calloc(1, sizeof *sp);
  if (!sp)
    return NULL;
  sp->kind = kind;
  sp->interruptible = interruptible;
  sp->id = ++s->next_speech_id;
  if (s->speeches_tail)
    s->speeches_tail->next = sp;
  else
    s->speeches = sp;
  s->speeches_tail = sp;
  return sp;
}

static void speech_free(speech_t *sp) {
  while (sp->todo) {
    sentence_t *n = sp->todo->next;
    tern_free(sp->todo->text);
    tern_free(sp->todo);
    sp->todo = n;
  }
  tern_buf_free(&sp->said);
  tern_buf_free(&sp->heard);
  tern_free(sp);
}

static int speech_add_text(speech_t *sp, const char *text) {
  sentence_t *st = tern_calloc(1, sizeof *st);
  if (!st || !(st->text = tern_strdup(text))) {
    tern_free(st);
    return TERN_ENOMEM;
  }
  if (sp->said.len)
    tern_buf_appends(&sp->said, " ");
  tern_buf_appends(&sp->said, text);
  if (sp->todo_tail)
    sp->todo_tail->next = st;
  else
    sp->todo = st;
  sp->todo_tail = st;
  return 0;
}

static const char *speech_kind_name(speech_kind_t k) {
  switch (k) {
  case SP_REPLY: return "reply";
  case SP_SAY: return "say";
  case SP_HOLD: return "holding";
  case SP_FALLBACK: return "fallback";
  case SP_GOODBYE: return "goodbye";
  }
  return "reply";
}

/* Commit a speech to the transcript (what was heard), and to the chat when
 * it is the model's own answer. Then forget it. */
static void speech_commit(tern_session_t *s, speech_t *sp, bool interrupted) {
  const char *text = interrupted ? tern_buf_str(&sp->heard) : tern_buf_str(&sp->said);
  bool spoken = !sp->spoken_text_only;
  /* An interrupted reply is reported even when nothing of it was heard,
   * so every answered turn has its agent commit. */
  if (*text || !interrupted || sp->kind == SP_REPLY) {
    TERN_EVENT(s->d.events, "agent_speech_committed", TERN_LF_STR("text", text),
               TERN_LF_BOOL("interrupted", interrupted), TERN_LF_BOOL("spoken", spoken),
               TERN_LF_STR("source", speech_kind_name(sp->kind)));
    if (*text)
      add_line(s, "agent", text, interrupted, spoken);
  }
  if (sp->kind == SP_REPLY || sp->kind == SP_SAY || sp->kind == SP_FALLBACK) {
    if (interrupted)
      tern_chat_add_interrupted(s->chat, text);
    else if (*text)
      tern_chat_add(s->chat, TERN_ROLE_ASSISTANT, text);
  }
}

static void speech_unlink(tern_session_t *s, speech_t *sp) {
  speech_t **pp = &s->speeches;
  speech_t *prev = NULL;
  while (*pp && *pp != sp) {
    prev = *pp;
    pp = &(*pp)->next;
  }
  if (!*pp)
    return;
  *pp = sp->next;
  if (s->speeches_tail == sp)
    s->speeches_tail = prev;
  if (s->reply == sp)
    s->reply = NULL;
  if (s->tts_speech == sp)
    s->tts_speech = NULL;
  speech_free(sp);
}

/* Is anything more coming for this speech? */
static bool speech_pending(const tern_session_t *s, const speech_t *sp) {
  if (sp->todo || !sp->text_done || s->tts_speech == sp)
    return true;
  for (const seg_t *g = s->segs; g; g = g->next)
    if (g->sp == sp)
      return true;
  return false;
}

/* Everything queued for the speech has played: commit it. */
static void speech_check_done(tern_session_t *s, speech_t *sp) {
  if (speech_pending(s, sp))
    return;
  bool goodbye = sp->kind == SP_GOODBYE;
  if (sp->started || sp->spoken_text_only || sp->said.len)
    speech_commit(s, sp, false);
  if (sp == s->reply)
    s->stats.replies++;
  speech_unlink(s, sp);
  if (goodbye && s->ending)
    tern_session_close(s, s->close_reason[0] ? s->close_reason : "goodbye");
}

/* ---- TTS --------------------------------------------------------------- */

static void tts_audio(void *ud, const int16_t *pcm, size_t n) {
  tern_session_t *s = ud;
  if (!s->m.tts_first && s->tts_speech == s->reply)
    s->m.tts_first = now_of(s);
  if (!s->tts_seg)
    return;
  int rc = out_write(s, pcm, n);
  if (rc) {
    TERN_LOG(TERN_LOG_WARN, "agent_audio_dropped", TERN_LF_INT("samples", n),
             TERN_LF_STR("why", tern_strerror(rc)));
    return;
  }
  s->tts_seg->end = s->out_queued;
}

static void tts_done(void *ud, const tern_error_t *err) {
  tern_session_t *s = ud;
  speech_t *sp = s->tts_speech;
  s->tts_op = NULL;
  seg_t *g = s->tts_seg;
  s->tts_seg = NULL;
  if (g)
    g->closed = true;
  if (err && sp) {
    /* Every voice failed for this sentence. What was heard stays heard;
     * the rest of this speech goes out as text on the event stream, and
     * the caller hears a recorded clip saying so. */
    degrade_update(s, TERN_COMP_TTS, TERN_HEALTH_DOWN);
    sp->spoken_text_only = true;
    if (g && g->start == g->end && g->text) {
      TERN_EVENT(s->d.events, "agent_text", TERN_LF_STR("text", g->text));
    }
    while (sp->todo) {
      sentence_t *n = sp->todo->next;
      TERN_EVENT(s->d.events, "agent_text", TERN_LF_STR("text", sp->todo->text));
      tern_free(sp->todo->text);
      tern_free(sp->todo);
      sp->todo = n;
    }
    sp->todo_tail = NULL;
  } else if (!err) {
    tern_recovery_on_success(s->recovery, TERN_COMP_TTS);
  }
  s->tts_speech = NULL;
  if (g && g->start == g->end) { /* nothing was said: drop the empty run */
    seg_t **pp = &s->segs, *prev = NULL;
    while (*pp && *pp != g) {
      prev = *pp;
      pp = &(*pp)->next;
    }
    if (*pp) {
      *pp = g->next;
      if (s->segs_tail == g)
        s->segs_tail = prev;
      seg_free(g);
    }
  }
  if (sp)
    speech_check_done(s, sp);
  pump_tts(s);
  if (err && !s->voice_down_announced) {
    s->voice_down_announced = true;
    speak_phrase(s, tern_phrase_slot_error(TERN_COMP_TTS, err->kind), err, SP_FALLBACK,
                 "tts_down");
  }
}

static size_t queued_samples(const tern_session_t *s) { return s->out_len; }

/* Start the next sentence's TTS when nothing is being synthesised and the
 * queue ahead of playback is short. */
static void pump_tts(tern_session_t *s) {
  if (s->tts_op || s->closed)
    return;
  size_t ahead = (size_t)(s->cfg.tts_lookahead / 1000) * (size_t)s->cfg.sample_rate / 1000;
  if (queued_samples(s) > ahead)
    return;
  for (speech_t *sp = s->speeches; sp; sp = sp->next) {
    if (!sp->todo)
      continue;
    sentence_t *st = sp->todo;
    sp->todo = st->next;
    if (!sp->todo)
      sp->todo_tail = NULL;
    if (sp->spoken_text_only || !s->d.tts) {
      TERN_EVENT(s->d.events, "agent_text", TERN_LF_STR("text", st->text));
      tern_free(st->text);
      tern_free(st);
      speech_check_done(s, sp);
      return;
    }
    s->tts_seg = seg_open(s, sp, st->text);
    s->tts_speech = sp;
    if (sp == s->reply && !s->m.tts_start)
      s->m.tts_start = now_of(s);
    tern_tts_request_t req = {.text = st->text, .sample_rate = s->cfg.sample_rate};
    tern_tts_sink_t sink = {tts_audio, tts_done, s};
    int rc = s->tts_seg ? tern_fallback_tts(s->d.tts, &req, &sink, &s->tts_op) : TERN_ENOMEM;
    tern_free(st->text);
    tern_free(st);
    if (rc) {
      tern_error_t err;
      tern_error_init(&err, TERN_COMP_TTS, TERN_KIND_INVALID_REQUEST, "session");
      tern_error_set_message(&err, "speech could not start: %s", tern_strerror(rc));
      s->tts_op = NULL;
      tts_done(s, &err);
    }
    return;
  }
}

/* Queue a recorded clip as (part of) a speech. */
static int queue_clip(tern_session_t *s, speech_t *sp, const int16_t *pcm, size_t n,
                      const char *text) {
  /* A sentence still waiting for its first sample keeps its place after
   * the clip: the clip goes in front of it, so the two never interleave. */
  seg_t *waiting = s->tts_seg && s->tts_seg == s->segs_tail && s->tts_seg->start == s->out_queued &&
                           s->tts_seg->end == s->out_queued
                       ? s->tts_seg
                       : NULL;
  seg_t *g = seg_open(s, sp, text);
  if (!g)
    return TERN_ENOMEM;
  int rc = out_write(s, pcm, n);
  g->end = s->out_queued;
  g->closed = true;
  if (waiting) {
    seg_t **pp = &s->segs;
    while (*pp != waiting)
      pp = &(*pp)->next;
    *pp = g;             /* ... -> g -> waiting */
    waiting->next = NULL;
    g->next = waiting;
    s->segs_tail = waiting;
    waiting->start = waiting->end = s->out_queued;
  }
  if (text) {
    if (sp->said.len)
      tern_buf_appends(&sp->said, " ");
    tern_buf_appends(&sp->said, text);
  }
  return rc;
}

/* ---- spoken phrases ---------------------------------------------------- */

/* Say a phrase for a slot: a pre-rendered clip when there is one (instant,
 * and works with every voice down), else through TTS. */
static void speak_phrase(tern_session_t *s, tern_phrase_slot_t slot, const tern_error_t *err,
                         speech_kind_t kind, const char *reason) {
  tern_phrase_t ph;
  int rc = err ? tern_phrases_pick_for(phrases(s), err, tern_rand_double(&s->rng), &ph)
               : tern_phrases_pick(phrases(s), slot, tern_rand_double(&s->rng), &ph);
  if (rc)
    return;
  speech_t *sp = speech_new(s, kind, kind != SP_GOODBYE);
  if (!sp)
    return;
  size_t n = 0;
  const int16_t *clip = tern_clips_get(s->d.clips, ph.id, &n);
  bool tts_ok = tern_degrade_modes(&s->degrade) & TERN_DEGRADE_MODE_VOICE;
  if (!clip && !tts_ok) /* no voice and no clip for these words: the generic clip */
    clip = tern_clips_get(s->d.clips, "fallback", &n);
  if (clip && (!tts_ok || kind != SP_REPLY)) {
    queue_clip(s, sp, clip, n, ph.text);
  } else {
    speech_add_text(sp, ph.text);
  }
  sp->text_done = true;
  if (kind == SP_FALLBACK)
    s->stats.fallbacks++;
  if (kind == SP_HOLD)
    s->stats.holds++;
  if (kind != SP_HOLD)
    TERN_EVENT(s->d.events, "fallback_spoken",
               TERN_LF_STR("component", err ? tern_component_name(err->component) : "session"),
               TERN_LF_STR("reason", reason), TERN_LF_STR("phrase", ph.id),
               TERN_LF_BOOL("clip", clip != NULL));
  pump_tts(s);
  speech_check_done(s, sp);
}

/* ---- errors from the runners ------------------------------------------- */

static void on_runner_error(void *ud, const tern_error_t *err, bool final) {
  tern_session_t *s = ud;
  if (!final)
    return;
  tern_recovery_action_t act = TERN_RECOVERY_CONTINUE;
  tern_recovery_on_error(s->recovery, err, &act);
  if (act == TERN_RECOVERY_END_SESSION && !s->ending)
    tern_session_end(s, NULL, "too_many_errors");
}

static void on_runner_switch_stt(void *ud, const tern_chain_switch_t *sw) {
  degrade_update(ud, TERN_COMP_STT, tern_health_from_link(sw->to));
}
static void on_runner_switch_llm(void *ud, const tern_chain_switch_t *sw) {
  degrade_update(ud, TERN_COMP_LLM, tern_health_from_link(sw->to));
}
static void on_runner_switch_tts(void *ud, const tern_chain_switch_t *sw) {
  degrade_update(ud, TERN_COMP_TTS, tern_health_from_link(sw->to));
}

/* ---- the reply: LLM rounds and tools ----------------------------------- */

static void on_sentence(void *ud, const char *sentence, size_t len) {
  tern_session_t *s = ud;
  (void)len;
  if (!s->reply)
    return;
  speech_add_text(s->reply, sentence);
  pump_tts(s);
}

static void llm_text(void *ud, const char *text, size_t len) {
  tern_session_t *s = ud;
  if (!s->m.llm_first)
    s->m.llm_first = now_of(s);
  tern_buf_append(&s->round_text, text, len);
  tern_segmenter_feed(&s->segm, text, len, on_sentence, s);
}

static void llm_tool(void *ud, const tern_tool_call_t *call) {
  tern_session_t *s = ud;
  if (s->ncalls == sizeof s->calls / sizeof s->calls[0])
    return;
  if (tern_tool_call_copy(&s->calls[s->ncalls], call) == 0)
    s->ncalls++;
}

static void clear_calls(tern_session_t *s) {
  for (size_t i = 0; i < s->ncalls; i++)
    tern_tool_call_free(&s->calls[i]);
  s->ncalls = 0;
}

static void run_next_tool(tern_session_t *s);

static void tool_done(void *ud, const tern_tool_call_t *call, bool ok, const char *result) {
  tern_session_t *s = ud;
  s->tool_op = NULL;
  TERN_EVENT(s->d.events, "function_calls_finished", TERN_LF_STR("name", call->name),
             TERN_LF_BOOL("ok", ok));
  if (!ok) {
    /* Put the session back as it was before the tool ran, then tell the
     * model what happened so it can answer in words. */
    s->stats.tool_failures++;
    if (s->tool_snap_chat) {
      tern_chat_destroy(s->chat);
      s->chat = s->tool_snap_chat;
      s->tool_snap_chat = NULL;
    }
    if (s->tool_snap_state) {
      json_decref(s->userdata);
      s->userdata = s->tool_snap_state;
      s->tool_snap_state = NULL;
    }
  }
  tern_chat_destroy(s->tool_snap_chat);
  s->tool_snap_chat = NULL;
  json_decref(s->tool_snap_state);
  s->tool_snap_state = NULL;
  tern_chat_add_tool_result(s->chat, call->id, call->name, result);
  run_next_tool(s);
}

static void run_next_tool(tern_session_t *s) {
  if (s->tool_next >= s->ncalls) {
    clear_calls(s);
    start_llm(s); /* the next round, with the results */
    return;
  }
  tern_tool_call_t *c = &s->calls[s->tool_next++];
  s->stats.tool_calls++;
  TERN_EVENT(s->d.events, "function_call_started", TERN_LF_STR("name", c->name),
             TERN_LF_STR("args", c->arguments), TERN_LF_STR("call_id", c->id));
  tern_chat_clone(s->chat, &s->tool_snap_chat);
  s->tool_snap_state = json_deep_copy(s->userdata);
  if (!s->d.tools ||
      tern_tools_invoke(s->d.tools, s->d.loop, c, s->userdata, tool_done, s, &s->tool_op)) {
    tool_done(s, c, false, "{\"error\":\"no tools are available\"}");
  }
}

static void reply_failed(tern_session_t *s, const tern_error_t *err) {
  /* The model could not answer: say so in plain words (a static reply). */
  if (err->component == TERN_COMP_LLM)
    degrade_update(s, TERN_COMP_LLM, TERN_HEALTH_DOWN);
  speech_t *r = s->reply;
  if (r) {
    r->text_done = true;
    tern_segmenter_flush(&s->segm, on_sentence, s);
  }
  speak_phrase(s, tern_phrase_slot_error(err->component, err->kind), err, SP_FALLBACK,
               "llm_failed");
  if (r)
    speech_check_done(s, r);
}

static void llm_done(void *ud, const tern_error_t *err) {
  tern_session_t *s = ud;
  s->llm_op = NULL;
  if (err) {
    if (err->kind == TERN_KIND_CONTEXT_LENGTH && !s->context_retry) {
      size_t dropped = 0;
      s->context_retry = true;
      tern_chat_truncate(s->chat, s->cfg.keep_on_overflow, &dropped);
      TERN_LOG(TERN_LOG_INFO, "context_truncated", TERN_LF_INT("dropped", dropped));
      clear_calls(s);
      start_llm(s);
      return;
    }
    clear_calls(s);
    tern_buf_reset(&s->round_text);
    reply_failed(s, err);
    return;
  }
  tern_recovery_on_success(s->recovery, TERN_COMP_LLM);
  if (s->ncalls && s->tool_round < s->cfg.max_tool_rounds) {
    /* Speak what the model said before the call ("let me check") while the
     * tool runs; those words belong with the call in the chat. */
    tern_segmenter_flush(&s->segm, on_sentence, s);
    tern_chat_add_tool_calls(s->chat, s->round_text.len ? tern_buf_str(&s->round_text) : NULL,
                             s->calls, s->ncalls);
    tern_buf_reset(&s->round_text);
    s->tool_round++;
    s->tool_next = 0;
    run_next_tool(s);
    return;
  }
  clear_calls(s);
  tern_buf_reset(&s->round_text);
  tern_segmenter_flush(&s->segm, on_sentence, s);
  if (s->reply) {
    s->reply->text_done = true;
    if (!s->reply->said.len) { /* the model said nothing at all */
      tern_error_t e;
      tern_error_init(&e, TERN_COMP_LLM, TERN_KIND_BAD_RESPONSE, "session");
      tern_error_set_message(&e, "the model returned an empty answer");
      reply_failed(s, &e);
      return;
    }
    speech_check_done(s, s->reply);
  }
  tern_turn_reply_pending(&s->turn, s->reply != NULL, now_of(s));
  sched_turn_timer(s);
}

static void start_llm(tern_session_t *s) {
  size_t ntools = 0;
  const tern_tool_def_t *defs = s->d.tools ? tern_tools_defs(s->d.tools, &ntools) : NULL;
  tern_llm_request_t req = {.chat = s->chat, .tools = defs, .n_tools = ntools,
                            .temperature = -1};
  tern_llm_sink_t sink = {llm_text, llm_tool, llm_done, s};
  if (!s->m.llm_start)
    s->m.llm_start = now_of(s);
  int rc = tern_fallback_llm(s->d.llm, &req, &sink, &s->llm_op);
  if (rc) {
    tern_error_t e;
    tern_error_init(&e, TERN_COMP_LLM, TERN_KIND_INVALID_REQUEST, "session");
    tern_error_set_message(&e, "the reply could not start: %s", tern_strerror(rc));
    s->llm_op = NULL;
    reply_failed(s, &e);
  }
}

static void begin_reply(tern_session_t *s) {
  s->reply = speech_new(s, SP_REPLY, true);
  if (!s->reply)
    return;
  tern_segmenter_reset(&s->segm);
  tern_buf_reset(&s->round_text);
  s->tool_round = 0;
  s->context_retry = false;
  tern_turn_reply_pending(&s->turn, true, now_of(s));
  start_llm(s);
}

/* ---- STT --------------------------------------------------------------- */

static void stt_transcript(void *ud, const char *text, bool is_final, double conf) {
  tern_session_t *s = ud;
  (void)conf;
  if (is_final) {
    tern_buf_reset(&s->transcript);
    tern_buf_appends(&s->transcript, text);
  }
  turn_event(s, TERN_TEV_TRANSCRIPT, text);
}

static void stt_done(void *ud, const tern_error_t *err) {
  tern_session_t *s = ud;
  s->stt_op = NULL;
  s->m.stt_end = now_of(s);
  s->have_final = true;
  snprintf(s->stt_provider, sizeof s->stt_provider, "%s", tern_fallback_current(s->d.stt));
  if (err) {
    tern_buf_reset(&s->transcript); /* no words: the commit says we missed them */
    degrade_update(s, TERN_COMP_STT, TERN_HEALTH_DOWN);
  } else {
    tern_recovery_on_success(s->recovery, TERN_COMP_STT);
  }
  turn_event(s, TERN_TEV_FINAL, tern_buf_str(&s->transcript));
}

static void start_stt(tern_session_t *s) {
  if (s->stt_op || !s->utt_len)
    return;
  s->have_final = false;
  s->m.stt_start = now_of(s);
  tern_buf_reset(&s->transcript);
  if (s->utt_len > s->stt_cap) { /* no STT is in flight: the old copy is free */
    int16_t *p = tern_realloc(s->stt_pcm, s->utt_len * sizeof *p);
    if (p) {
      s->stt_pcm = p;
      s->stt_cap = s->utt_len;
    }
  }
  bool copied = s->utt_len <= s->stt_cap;
  if (copied)
    memcpy(s->stt_pcm, s->utt, s->utt_len * sizeof *s->utt);
  tern_stt_request_t req = {.pcm = s->stt_pcm, .n_samples = s->utt_len,
                            .sample_rate = s->cfg.sample_rate};
  tern_stt_sink_t sink = {stt_transcript, stt_done, s};
  if (!copied || tern_fallback_stt(s->d.stt, &req, &sink, &s->stt_op)) {
    s->stt_op = NULL;
    s->have_final = true;
    turn_event(s, TERN_TEV_FINAL, "");
  }
}

static void cancel_stt(tern_session_t *s) {
  if (s->stt_op) {
    tern_op_t *op = s->stt_op;
    s->stt_op = NULL;
    tern_op_cancel(op);
  }
}

/* ---- interruption ------------------------------------------------------ */

/* Text of segment g heard when playback stopped at `played`. */
static void heard_of(seg_t *g, uint64_t played, tern_buf_t *into) {
  if (!g->text || played <= g->start)
    return;
  size_t take;
  if (played >= g->end && g->closed) {
    take = strlen(g->text);
  } else {
    double frac = (double)(played - g->start) / (double)(g->end > g->start ? g->end - g->start : 1);
    if (!g->closed) /* still being synthesised: the total is unknown, be conservative */
      frac *= 0.5;
    take = tern_text_resume_offset(g->text, frac);
  }
  while (take > 0 && isspace((unsigned char)g->text[take - 1]))
    take--;
  if (!take)
    return;
  if (into->len)
    tern_buf_appends(into, " ");
  tern_buf_append(into, g->text, take);
}

/* Stop the agent now: cancel the answer, drop queued audio, commit what
 * was heard of each interrupted speech. Non-interruptible speech stays. */
static void interrupt_agent(tern_session_t *s) {
  if (s->llm_op) {
    tern_op_t *op = s->llm_op;
    s->llm_op = NULL;
    tern_op_cancel(op);
  }
  if (s->tool_op) {
    tern_op_t *op = s->tool_op;
    s->tool_op = NULL;
    tern_op_cancel(op);
  }
  clear_calls(s);
  if (s->tts_op) {
    tern_op_t *op = s->tts_op;
    s->tts_op = NULL;
    tern_op_cancel(op);
    if (s->tts_seg)
      s->tts_seg->closed = true;
    s->tts_seg = NULL;
    s->tts_speech = NULL;
  }
  /* What was heard, per speech. */
  for (seg_t *g = s->segs; g; g = g->next)
    if (g->sp && g->sp->interruptible)
      heard_of(g, s->out_played, &g->sp->heard);
  /* Drop all queued audio (interruptible or not: a mixed queue cannot be
   * cut in the middle), then commit. */
  while (s->segs) {
    seg_t *g = s->segs;
    s->segs = g->next;
    seg_free(g);
  }
  s->segs_tail = NULL;
  s->out_head = s->out_len = 0;
  s->out_queued = s->out_played;
  speech_t *sp = s->speeches;
  while (sp) {
    speech_t *next = sp->next;
    if (sp->kind != SP_HOLD)
      speech_commit(s, sp, true);
    speech_unlink(s, sp);
    sp = next;
  }
  s->reply = NULL;
  s->paused = false;
  if (s->agent_audible) {
    s->agent_audible = false;
    TERN_EVENT(s->d.events, "agent_stopped_speaking", TERN_LF_BOOL("interrupted", true));
  }
  s->stats.interruptions++;
}

/* ---- turn actions ------------------------------------------------------ */

static void emit_metrics(tern_session_t *s) {
  turn_metrics_t *m = &s->m;
  if (m->reported || !m->commit)
    return;
  m->reported = true;
#define MS(a, b) ((a) && (b) && (b) >= (a) ? (double)((b) - (a)) / 1000.0 : -1.0)
  TERN_EVENT(s->d.events, "metrics", TERN_LF_INT("turn", s->turn_no),
             TERN_LF_DBL("eou_ms", MS(m->user_stop, m->commit)),
             TERN_LF_DBL("stt_ms", MS(m->stt_start, m->stt_end)),
             TERN_LF_DBL("llm_ttft_ms", MS(m->llm_start, m->llm_first)),
             TERN_LF_DBL("tts_ttfb_ms", MS(m->tts_start, m->tts_first)),
             TERN_LF_DBL("e2e_ms", MS(m->user_stop, m->audio)));
#undef MS
}

static void commit_turn(tern_session_t *s) {
  const char *text = tern_buf_str(&s->transcript);
  s->m.commit = now_of(s);
  s->turn_no++;
  s->stats.turns++;
  s->recording = false;
  /* "My voice is down" is said once per turn, not once per session: while
   * the voice stays down every later reply goes out as text only, and
   * without the clip the caller would hear nothing at all for that turn. */
  s->voice_down_announced = false;
  if (!*text) {
    /* Heard speech but no words came back: ask again, in words. */
    tern_error_t e;
    tern_error_init(&e, TERN_COMP_STT, TERN_KIND_BAD_RESPONSE, s->stt_provider);
    speak_phrase(s, tern_phrase_slot_error(TERN_COMP_STT, TERN_PHRASE_ANY), &e, SP_FALLBACK,
                 "no_transcript");
    tern_turn_reply_pending(&s->turn, true, now_of(s));
    return;
  }
  TERN_EVENT(s->d.events, "user_speech_committed", TERN_LF_STR("text", text),
             TERN_LF_STR("provider", s->stt_provider));
  add_line(s, "user", text, false, true);
  tern_chat_add(s->chat, TERN_ROLE_USER, text);
  begin_reply(s);
}

static void apply(tern_session_t *s, unsigned a) {
  tern_usec_t now = now_of(s);
  if (a & TERN_TACT_USER_STARTED)
    TERN_EVENT(s->d.events, "user_started_speaking", TERN_LF_STR("state", tern_turn_state_name(s->turn.state)));
  if (a & TERN_TACT_USER_STOPPED)
    TERN_EVENT(s->d.events, "user_stopped_speaking", TERN_LF_STR("state", tern_turn_state_name(s->turn.state)));
  if (a & TERN_TACT_PAUSE_AGENT)
    s->paused = true;
  if (a & TERN_TACT_RESUME_AGENT)
    s->paused = false;
  if (a & TERN_TACT_FALSE_INTERRUPTION) {
    s->stats.false_interruptions++;
    TERN_EVENT(s->d.events, "agent_false_interruption", TERN_LF_BOOL("resumed", true));
  }
  if (a & TERN_TACT_INTERRUPT_AGENT)
    interrupt_agent(s);
  if (a & TERN_TACT_COMMIT_TURN)
    commit_turn(s);
  if (a & TERN_TACT_HOLD) {
    /* Silent means no audio queued to play: a sentence whose voice has not
     * produced a sample yet (slow, stalled or failing over) is silence. */
    if (s->out_len == 0)
      speak_phrase(s, tern_phrase_slot_holding(), NULL, SP_HOLD, "dead_air");
  }
  (void)now;
}

/* ---- input ------------------------------------------------------------- */

static int utt_append(tern_session_t *s, const int16_t *pcm, size_t n) {
  size_t max = (size_t)(s->cfg.max_utterance / 1000) * (size_t)s->cfg.sample_rate / 1000;
  if (s->utt_len + n > max)
    n = max > s->utt_len ? max - s->utt_len : 0;
  if (!n)
    return 0;
  if (s->utt_len + n > s->utt_cap) {
    size_t cap = s->utt_cap ? s->utt_cap : (size_t)s->cfg.sample_rate * 2;
    while (cap < s->utt_len + n)
      cap *= 2;
    int16_t *u = tern_realloc(s->utt, cap * sizeof *u);
    if (!u)
      return TERN_ENOMEM;
    s->utt = u;
    s->utt_cap = cap;
  }
  memcpy(s->utt + s->utt_len, pcm, n * sizeof *pcm);
  s->utt_len += n;
  return 0;
}

static void preroll_push(tern_session_t *s, const int16_t *pcm, size_t n) {
  if (n >= s->preroll_cap) {
    memcpy(s->preroll, pcm + n - s->preroll_cap, s->preroll_cap * sizeof *pcm);
    s->preroll_len = s->preroll_cap;
    return;
  }
  size_t keep = s->preroll_len + n > s->preroll_cap ? s->preroll_cap - n : s->preroll_len;
  memmove(s->preroll, s->preroll + s->preroll_len - keep, keep * sizeof *pcm);
  memcpy(s->preroll + keep, pcm, n * sizeof *pcm);
  s->preroll_len = keep + n;
}

static void on_vad_event(tern_session_t *s, const tern_vad_event_t *ev) {
  if (ev->type == TERN_VAD_SPEECH_START) {
    bool same_turn = s->turn.state == TERN_TURN_END_OF_TURN;
    if (same_turn) {
      cancel_stt(s); /* the user goes on: transcribe the whole turn later */
    } else {
      s->utt_len = 0;
      utt_append(s, s->preroll, s->preroll_len);
    }
    s->recording = true;
    turn_event(s, TERN_TEV_USER_START, NULL);
  } else if (ev->type == TERN_VAD_SPEECH_END) {
    /* The turn clock starts where the speech really ended, not where the
     * detector became sure of it. */
    uint64_t late = ev->decided_at > ev->sample ? ev->decided_at - ev->sample : 0;
    tern_usec_t now = now_of(s);
    s->m = (turn_metrics_t){0};
    s->m.user_stop = now - tern_audio_usec(late, (uint32_t)s->cfg.sample_rate);
    bool was_turn = s->turn.state == TERN_TURN_USER_SPEAKING;
    unsigned a = tern_turn_step(&s->turn, TERN_TEV_USER_STOP, NULL, s->m.user_stop);
    apply(s, a);
    if (was_turn && s->turn.state == TERN_TURN_END_OF_TURN)
      start_stt(s);
    else if (!was_turn)
      s->recording = false; /* a false interruption: not a turn */
    /* Feed a timer tick at the real now so the endpoint can fire. */
    turn_event(s, TERN_TEV_TIMER, NULL);
  }
}

static void process_frame(tern_session_t *s, const int16_t *pcm, size_t n) {
  tern_frame_t f = {.samples = (int16_t *)pcm, .count = n,
                    .sample_rate = (uint32_t)s->cfg.sample_rate, .channels = 1};
  float prob = 0;
  if (tern_vad_process(s->vad, &f, &prob) != 0)
    prob = 0;
  if (s->recording)
    utt_append(s, pcm, n);
  tern_vad_event_t ev;
  int had_event = tern_vad_seg_push(&s->seg, prob, n, &ev);
  if (!s->recording)
    preroll_push(s, pcm, n);
  if (had_event > 0 || (had_event == 0 && ev.type != TERN_VAD_NONE))
    on_vad_event(s, &ev);
  if (s->recording && s->utt_len >= (size_t)(s->cfg.max_utterance / 1000) *
                                         (size_t)s->cfg.sample_rate / 1000) {
    /* A monologue: treat what we have as a turn. */
    tern_vad_event_t end = {TERN_VAD_SPEECH_END, s->in_pos, s->in_pos};
    on_vad_event(s, &end);
  }
}

int tern_session_push_audio(tern_session_t *s, const int16_t *pcm, size_t n) {
  if (!pcm && n)
    return TERN_EINVAL;
  if (n > MAX_FRAME_PUSH)
    return TERN_ETOOBIG;
  if (s->closed)
    return TERN_ECLOSED;
  while (n) {
    size_t take = s->frame_samples - s->frame_len;
    if (take > n)
      take = n;
    memcpy(s->frame + s->frame_len, pcm, take * sizeof *pcm);
    s->frame_len += take;
    pcm += take;
    n -= take;
    s->in_pos += take;
    if (s->frame_len == s->frame_samples) {
      process_frame(s, s->frame, s->frame_len);
      s->frame_len = 0;
    }
  }
  return 0;
}

/* ---- output ------------------------------------------------------------ */

size_t tern_session_pull_audio(tern_session_t *s, int16_t *out, size_t n) {
  memset(out, 0, n * sizeof *out);
  if (s->closed || s->paused)
    return 0;
  size_t take = s->out_len < n ? s->out_len : n;
  if (take) {
    size_t first = take < s->out_cap - s->out_head ? take : s->out_cap - s->out_head;
    memcpy(out, s->out + s->out_head, first * sizeof *out);
    memcpy(out + first, s->out, (take - first) * sizeof *out);
  }
  if (take) {
    s->out_head = (s->out_head + take) % s->out_cap;
    s->out_len -= take;
    uint64_t before = s->out_played;
    s->out_played += take;
    if (!s->agent_audible) {
      s->agent_audible = true;
      tern_usec_t now = now_of(s);
      if (s->turn.state == TERN_TURN_THINKING && s->m.user_stop && !s->m.audio) {
        s->m.audio = now;
        tern_usec_t wait = now - (s->turn.turn_end ? s->turn.turn_end : now);
        if (wait > s->stats.max_silence)
          s->stats.max_silence = wait;
        if (wait > s->cfg.turn.dead_air_bound + TERN_MS(100))
          s->stats.dead_air_violations++;
      }
      TERN_EVENT(s->d.events, "agent_started_speaking", TERN_LF_INT("turn", s->turn_no));
      turn_event(s, TERN_TEV_AGENT_AUDIO, NULL);
      if (s->closed)
        return take;
    }
    /* Segments that finished playing; speeches that finished. */
    (void)before;
    while (s->segs && s->segs->closed && s->segs->end <= s->out_played) {
      seg_t *g = s->segs;
      speech_t *sp = g->sp;
      if (sp) {
        sp->started = true;
        if (g->text) {
          if (sp->heard.len)
            tern_buf_appends(&sp->heard, " ");
          tern_buf_appends(&sp->heard, g->text);
        }
      }
      s->segs = g->next;
      if (!s->segs)
        s->segs_tail = NULL;
      seg_free(g);
      if (sp && sp == s->reply && s->m.audio)
        emit_metrics(s);
      if (sp)
        speech_check_done(s, sp);
      if (s->closed)
        return take;
    }
    for (seg_t *g = s->segs; g && g->start < s->out_played; g = g->next)
      if (g->sp)
        g->sp->started = true;
  }
  if (s->out_len == 0 && s->agent_audible && !s->tts_op) {
    s->agent_audible = false;
    TERN_EVENT(s->d.events, "agent_stopped_speaking", TERN_LF_BOOL("interrupted", false));
    tern_turn_reply_pending(&s->turn, s->reply != NULL || s->speeches != NULL, now_of(s));
    turn_event(s, TERN_TEV_AGENT_DONE, NULL);
  }
  pump_tts(s);
  return take;
}

/* ---- public ------------------------------------------------------------ */

void tern_session_config_default(tern_session_config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->sample_rate = 16000;
  tern_turn_config_default(&cfg->turn);
  cfg->vad = (tern_vad_seg_opts_t)TERN_VAD_SEG_OPTS_DEFAULT;
  cfg->vad.min_silence_ms = 300;
  cfg->system_prompt = "You are a helpful voice assistant. Answer in one or two short spoken "
                       "sentences, without lists or formatting.";
  cfg->keep_on_overflow = 8;
  cfg->max_tool_rounds = 4;
  cfg->error_tolerance = 3;
  cfg->max_utterance = TERN_SEC(30);
  cfg->max_queued_audio = TERN_SEC(60);
  cfg->tts_lookahead = TERN_SEC(3);
  cfg->seed = 1;
}

int tern_session_create(const tern_session_config_t *cfg, const tern_session_deps_t *deps,
                        tern_session_t **out) {
  if (!cfg || !deps || !deps->loop || !deps->stt || !deps->llm || !deps->tts)
    return TERN_EINVAL;
  if (cfg->sample_rate < 8000 || cfg->sample_rate > 48000 || cfg->sample_rate % 50)
    return TERN_EINVAL;
  tern_session_t *s = tern_calloc(1, sizeof *s);
  if (!s)
    return TERN_ENOMEM;
  s->cfg = *cfg;
  s->d = *deps;
  tern_rand_seed(&s->rng, cfg->seed);
  tern_turn_init(&s->turn, &cfg->turn);
  tern_segmenter_init(&s->segm);
  tern_degrade_init(&s->degrade);
  s->frame_samples = (size_t)cfg->sample_rate / 50;
  s->preroll_cap = (size_t)cfg->sample_rate * PREROLL_MS / 1000;
  if (s->preroll_cap > sizeof s->preroll / sizeof s->preroll[0])
    s->preroll_cap = sizeof s->preroll / sizeof s->preroll[0];
  tern_recovery_config_t rc_cfg = {cfg->error_tolerance ? cfg->error_tolerance : 3};
  int rc = tern_vad_seg_init(&s->seg, &cfg->vad, (uint32_t)cfg->sample_rate);
  if (!rc && !deps->vad) {
    rc = tern_vad_create(cfg->vad_kind, (uint32_t)cfg->sample_rate,
                         TERN_VAD_WEBRTC_AGGRESSIVENESS, &s->own_vad);
    s->vad = s->own_vad;
  } else {
    s->vad = deps->vad;
  }
  if (!rc)
    rc = tern_chat_create(&s->chat);
  if (!rc && cfg->system_prompt)
    rc = tern_chat_set_system(s->chat, cfg->system_prompt);
  if (!rc && !(s->userdata = json_object()))
    rc = TERN_ENOMEM;
  if (!rc)
    rc = tern_recovery_create(&rc_cfg, &s->recovery);
  if (!rc && !deps->phrases)
    rc = tern_phrases_create(&s->own_phrases);
  if (!rc)
    rc = tern_loop_timer_create(deps->loop, on_turn_timer, s, &s->turn_timer);
  if (rc) {
    tern_session_destroy(s);
    return rc;
  }
  tern_fallback_observer_t o = {on_runner_error, on_runner_switch_stt, s};
  tern_fallback_set_observer(deps->stt, &o);
  o.on_switch = on_runner_switch_llm;
  tern_fallback_set_observer(deps->llm, &o);
  o.on_switch = on_runner_switch_tts;
  tern_fallback_set_observer(deps->tts, &o);
  *out = s;
  return 0;
}

static void cancel_all(tern_session_t *s) {
  tern_op_t *ops[4] = {s->stt_op, s->llm_op, s->tts_op, s->tool_op};
  s->stt_op = s->llm_op = s->tts_op = s->tool_op = NULL;
  for (int i = 0; i < 4; i++)
    tern_op_cancel(ops[i]);
}

void tern_session_close(tern_session_t *s, const char *reason) {
  if (s->closed)
    return;
  s->closed = true;
  cancel_all(s);
  tern_loop_timer_stop(s->turn_timer);
  /* Whatever was on its way but never played is still recorded. */
  while (s->speeches) {
    speech_t *sp = s->speeches;
    if (sp->kind != SP_HOLD && (sp->heard.len || sp->said.len)) {
      for (seg_t *g = s->segs; g; g = g->next)
        if (g->sp == sp)
          heard_of(g, s->out_played, &sp->heard);
      if (sp->said.len)
        speech_commit(s, sp, true);
    }
    speech_unlink(s, sp);
  }
  tern_recovery_stats_t rs;
  tern_recovery_stats(s->recovery, &rs);
  TERN_EVENT(s->d.events, "session_closed", TERN_LF_STR("reason", reason ? reason : "closed"),
             TERN_LF_INT("turns", s->stats.turns), TERN_LF_INT("errors", rs.errors_total));
}

void tern_session_destroy(tern_session_t *s) {
  if (!s)
    return;
  if (s->recovery && !s->closed)
    tern_session_close(s, "destroyed");
  cancel_all(s);
  if (s->d.stt)
    tern_fallback_set_observer(s->d.stt, NULL);
  if (s->d.llm)
    tern_fallback_set_observer(s->d.llm, NULL);
  if (s->d.tts)
    tern_fallback_set_observer(s->d.tts, NULL);
  while (s->speeches)
    speech_unlink(s, s->speeches);
  while (s->segs) {
    seg_t *g = s->segs;
    s->segs = g->next;
    seg_free(g);
  }
  clear_calls(s);
  tern_loop_timer_destroy(s->turn_timer);
  tern_chat_destroy(s->chat);
  tern_chat_destroy(s->tool_snap_chat);
  json_decref(s->userdata);
  json_decref(s->tool_snap_state);
  tern_recovery_destroy(s->recovery);
  tern_phrases_destroy(s->own_phrases);
  tern_vad_close(s->own_vad);
  tern_buf_free(&s->transcript);
  tern_buf_free(&s->round_text);
  for (size_t i = 0; i < s->nlines; i++)
    tern_free((char *)s->lines[i].text);
  tern_free(s->lines);
  tern_free(s->utt);
  tern_free(s->stt_pcm);
  tern_free(s->out);
  tern_free(s);
}

int tern_session_start(tern_session_t *s) {
  if (s->started)
    return TERN_ESTATE;
  s->started = true;
  TERN_EVENT(s->d.events, "session_started", TERN_LF_INT("sample_rate", s->cfg.sample_rate),
             TERN_LF_STR("stt", tern_fallback_current(s->d.stt)),
             TERN_LF_STR("llm", tern_fallback_current(s->d.llm)),
             TERN_LF_STR("tts", tern_fallback_current(s->d.tts)),
             TERN_LF_STR("vad", tern_vad_active_name(s->vad)));
  if (s->cfg.greeting && *s->cfg.greeting)
    return tern_session_say(s, s->cfg.greeting, true);
  return 0;
}

static void say_sentence(void *ud, const char *sentence, size_t len) {
  (void)len;
  speech_add_text(ud, sentence);
}

int tern_session_say(tern_session_t *s, const char *text, bool allow_interruptions) {
  if (s->closed)
    return TERN_ECLOSED;
  if (!text || !*text)
    return TERN_EINVAL;
  speech_t *sp = speech_new(s, SP_SAY, allow_interruptions);
  if (!sp)
    return TERN_ENOMEM;
  /* Cut long text into sentences so the first one is heard soonest. */
  tern_segmenter_t seg;
  tern_segmenter_init(&seg);
  tern_segmenter_feed(&seg, text, strlen(text), say_sentence, sp);
  tern_segmenter_flush(&seg, say_sentence, sp);
  sp->text_done = true;
  tern_turn_set_interruptible(&s->turn, allow_interruptions);
  if (s->turn.state == TERN_TURN_LISTENING)
    turn_event(s, TERN_TEV_AGENT_REPLY, NULL);
  tern_turn_reply_pending(&s->turn, true, now_of(s));
  pump_tts(s);
  return 0;
}

int tern_session_play(tern_session_t *s, const int16_t *pcm, size_t n, const char *text,
                      bool allow_interruptions) {
  if (s->closed)
    return TERN_ECLOSED;
  if (!pcm || !n)
    return TERN_EINVAL;
  speech_t *sp = speech_new(s, SP_SAY, allow_interruptions);
  if (!sp)
    return TERN_ENOMEM;
  int rc = queue_clip(s, sp, pcm, n, text);
  sp->text_done = true;
  tern_turn_set_interruptible(&s->turn, allow_interruptions);
  if (s->turn.state == TERN_TURN_LISTENING)
    turn_event(s, TERN_TEV_AGENT_REPLY, NULL);
  return rc;
}

int tern_session_end(tern_session_t *s, const char *goodbye, const char *reason) {
  if (s->closed)
    return TERN_ECLOSED;
  if (s->ending)
    return 0;
  s->ending = true;
  snprintf(s->close_reason, sizeof s->close_reason, "%s", reason ? reason : "goodbye");
  interrupt_agent(s);
  s->stats.interruptions--; /* not the user's doing */
  if (goodbye) {
    speech_t *sp = speech_new(s, SP_GOODBYE, false);
    if (!sp) {
      tern_session_close(s, s->close_reason);
      return TERN_ENOMEM;
    }
    speech_add_text(sp, goodbye);
    sp->text_done = true;
    pump_tts(s);
  } else {
    speak_phrase(s, tern_phrase_slot_goodbye(), NULL, SP_GOODBYE, s->close_reason);
  }
  tern_turn_set_interruptible(&s->turn, false);
  if (!s->speeches)
    tern_session_close(s, s->close_reason);
  return 0;
}

int tern_session_interrupt(tern_session_t *s) {
  if (s->closed)
    return TERN_ECLOSED;
  if (s->ending)
    return TERN_ESTATE;
  if (!s->speeches && !s->segs && !s->llm_op && !s->tool_op && !s->tts_op)
    return 0;
  interrupt_agent(s);
  tern_turn_reply_pending(&s->turn, false, now_of(s));
  turn_event(s, TERN_TEV_AGENT_DONE, NULL); /* SPEAKING -> LISTENING */
  return 0;
}

bool tern_session_closed(const tern_session_t *s) { return s->closed; }
tern_turn_state_t tern_session_state(const tern_session_t *s) { return s->turn.state; }
tern_chat_t *tern_session_chat(tern_session_t *s) { return s->chat; }
json_t *tern_session_userdata(tern_session_t *s) { return s->userdata; }
size_t tern_session_transcript_count(const tern_session_t *s) { return s->nlines; }

int tern_session_transcript_at(const tern_session_t *s, size_t i, tern_transcript_line_t *out) {
  if (i >= s->nlines)
    return TERN_ERANGE;
  *out = s->lines[i];
  return 0;
}

void tern_session_stats(const tern_session_t *s, tern_session_stats_t *out) { *out = s->stats; }
