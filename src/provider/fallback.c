/* Fallback runner: guard + retry + failover + continuation + probes.
 *
 * A call walks the chain from its current link. Each attempt on a link
 * passes the breaker, the limiter and the bulkhead, starts the provider,
 * and arms one watchdog timer (first output, then idle). An attempt ends
 * in exactly one of: success, provider error, watchdog cut, cancel. A
 * failed attempt is recorded in the breaker, reported as an error event,
 * then either retried on the same link (only while nothing of it was
 * delivered) or handed to the next link with what was already delivered
 * (continuation). The call object owns one provider op at a time; the
 * provider contract (no callback after cancel) means an old attempt can
 * never call back into a new one.
 *
 * Re-entrancy: the caller may cancel the call from inside any of its own
 * callbacks. `depth` counts nested user callbacks; cancel inside one only
 * marks the call, and it is freed when the outermost callback returns.
 */
#include "tern/fallback.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/buf.h"
#include "tern/error.h"
#include "tern/loop.h"
#include "tern/rand.h"
#include "tern/segment.h"

typedef struct call call_t;

struct tern_fallback {
  tern_loop_t *loop;
  tern_component_t component;
  tern_fallback_link_t links[TERN_CHAIN_MAX_LINKS];
  tern_breaker_state_t seen[TERN_CHAIN_MAX_LINKS]; /* breaker state last reported */
  double samples_per_letter;                       /* TTS speed estimate, per session rate */
  size_t n;
  tern_chain_t *chain;
  tern_fallback_config_t cfg;
  tern_events_t *events;
  tern_fallback_observer_t obs;
  tern_rand_t rng;
  tern_loop_timer_t *probe_timer;
  call_t *calls; /* live calls and probes */
  tern_fallback_stats_t stats;
};

struct call {
  tern_op_t op; /* the caller's handle */
  tern_fallback_t *f;
  call_t *next;
  bool probe; /* background probe: one link, no retry, output discarded */

  union {
    tern_llm_request_t llm;
    tern_stt_request_t stt;
    tern_tts_request_t tts;
  } req;
  union {
    tern_llm_sink_t llm;
    tern_stt_sink_t stt;
    tern_tts_sink_t tts;
  } sink;

  tern_buf_t text;     /* LLM: all text delivered so far (incl. caller's continuation) */
  char *tts_text;      /* TTS: the text the current attempt speaks (owned) */
  size_t tts_samples;  /* TTS: samples delivered by the current attempt */
  size_t tts_total;    /* TTS: samples delivered over the call */
  bool stt_final;      /* STT: a final transcript was delivered */
  tern_chat_t *probe_chat;
  int16_t *probe_pcm;

  int link;
  uint32_t tried; /* bit per link tried in this call */
  bool desperate; /* every link was cooling when the call began: try all */
  tern_retry_state_t rs;
  tern_breaker_permit_t permit;
  bool have_permit, in_bulkhead;
  tern_op_t *pop;
  tern_loop_timer_t *watchdog, *retry_timer;
  tern_usec_t attempt_start, last_output, first_output;
  bool attempt_output; /* this attempt delivered something */
  tern_error_t last_err;
  bool have_err;

  int depth;
  bool cancelled, finished, started;
};

static void start_attempt(call_t *c);
static void attempt_failed(call_t *c, const tern_error_t *err);
static void arm_probe_timer(tern_fallback_t *f);

/* ---- small helpers ----------------------------------------------------- */

static tern_usec_t now_of(call_t *c) { return tern_loop_now(c->f->loop); }

static const char *link_name(tern_fallback_t *f, int i) { return f->links[i].provider->name; }

static void free_call(call_t *c) {
  tern_fallback_t *f = c->f;
  for (call_t **pp = &f->calls; *pp; pp = &(*pp)->next)
    if (*pp == c) {
      *pp = c->next;
      break;
    }
  tern_loop_timer_destroy(c->watchdog);
  tern_loop_timer_destroy(c->retry_timer);
  tern_buf_free(&c->text);
  tern_free(c->tts_text);
  tern_chat_destroy(c->probe_chat);
  tern_free(c->probe_pcm);
  tern_free(c);
}

/* Leave a user callback; true when the call was cancelled inside it and is
 * now gone. */
static bool leave_cb(call_t *c) {
  if (--c->depth == 0 && c->cancelled) {
    free_call(c);
    return true;
  }
  return c->cancelled;
}

static void note_breaker(tern_fallback_t *f, int link) {
  tern_breaker_state_t s = tern_breaker_state(f->links[link].guard->breaker);
  if (s == f->seen[link])
    return;
  TERN_EVENT(f->events, "breaker_state_changed", TERN_LF_STR("provider", link_name(f, link)),
             TERN_LF_STR("component", tern_component_name(f->component)),
             TERN_LF_STR("from", tern_breaker_state_name(f->seen[link])),
             TERN_LF_STR("to", tern_breaker_state_name(s)));
  f->seen[link] = s;
}

static void on_chain_switch(const tern_chain_switch_t *sw, void *ud) {
  tern_fallback_t *f = ud;
  TERN_EVENT(f->events, "provider_switched",
             TERN_LF_STR("component", tern_component_name(f->component)),
             TERN_LF_STR("from", sw->from_name ? sw->from_name : "none"),
             TERN_LF_STR("to", sw->to_name ? sw->to_name : "none"),
             TERN_LF_STR("reason", tern_switch_reason_name(sw->reason)));
  if (f->obs.on_switch)
    f->obs.on_switch(f->obs.ud, sw);
}

static void release_slots(call_t *c, tern_breaker_outcome_t outcome) {
  tern_guard_t *g = c->f->links[c->link].guard;
  tern_usec_t now = now_of(c);
  if (c->in_bulkhead) {
    tern_bulkhead_leave(g->bulkhead, NULL);
    c->in_bulkhead = false;
  }
  if (c->have_permit) {
    tern_usec_t took = (c->first_output ? c->first_output : now) - c->attempt_start;
    tern_breaker_record(g->breaker, c->permit, outcome, took, now);
    c->have_permit = false;
    note_breaker(c->f, c->link);
  }
}

static void stop_attempt(call_t *c) {
  tern_loop_timer_stop(c->watchdog);
  if (c->pop) {
    tern_op_t *op = c->pop;
    c->pop = NULL;
    tern_op_cancel(op);
  }
}

/* The call is over: report to the caller (unless it is a probe) and free. */
static void finish(call_t *c, const tern_error_t *err) {
  tern_fallback_t *f = c->f;
  c->finished = true;
  tern_loop_timer_stop(c->watchdog);
  tern_loop_timer_stop(c->retry_timer);
  if (c->probe) {
    f->stats.probes++;
    if (!err)
      f->stats.probe_successes++;
    tern_chain_probe_result(f->chain, c->link, err == NULL, now_of(c));
    free_call(c);
    arm_probe_timer(f);
    return;
  }
  if (err) {
    f->stats.failed++;
    if (f->obs.on_error)
      f->obs.on_error(f->obs.ud, err, true);
  } else {
    f->stats.succeeded++;
  }
  f->stats.calls++;
  arm_probe_timer(f);
  c->depth++;
  switch (f->component) {
  case TERN_COMP_LLM:
    c->sink.llm.on_done(c->sink.llm.ud, err);
    break;
  case TERN_COMP_STT:
    c->sink.stt.on_done(c->sink.stt.ud, err);
    break;
  default:
    c->sink.tts.on_done(c->sink.tts.ud, err);
    break;
  }
  c->depth--;
  free_call(c); /* the handle is gone after on_done, cancelled inside or not */
}

/* ---- the watchdog ------------------------------------------------------ */

/* The earliest of: first-output or idle deadline, attempt timeout, overall
 * deadline. */
static void arm_watchdog(call_t *c) {
  tern_guard_t *g = c->f->links[c->link].guard;
  tern_usec_t now = now_of(c);
  tern_usec_t due = c->attempt_output ? c->last_output + g->cfg.idle_timeout
                                      : c->attempt_start + g->cfg.first_output_timeout;
  tern_usec_t left;
  if (!c->probe && tern_retry_attempt_timeout(&g->retry, &c->rs, now, &left) == 0 && left >= 0 &&
      now + left < due)
    due = now + left;
  tern_loop_timer_start(c->watchdog, due > now ? due - now : 0, 0);
}

static void on_watchdog(tern_loop_timer_t *t, void *ud) {
  (void)t;
  call_t *c = ud;
  tern_fallback_t *f = c->f;
  tern_guard_t *g = f->links[c->link].guard;
  tern_error_t err;
  if (c->attempt_output) {
    f->stats.stalls++;
    tern_error_init(&err, f->component, TERN_KIND_STALLED, link_name(f, c->link));
    tern_error_set_message(&err, "the provider went quiet mid-stream for %lld ms",
                           (long long)(g->cfg.idle_timeout / 1000));
  } else {
    f->stats.timeouts++;
    tern_error_init(&err, f->component, TERN_KIND_TIMEOUT, link_name(f, c->link));
    tern_error_set_message(&err, "no response within %lld ms",
                           (long long)((now_of(c) - c->attempt_start) / 1000));
  }
  stop_attempt(c);
  attempt_failed(c, &err);
}

static void on_retry_timer(tern_loop_timer_t *t, void *ud) {
  (void)t;
  call_t *c = ud;
  if (!c->started) {
    c->started = true;
    tern_retry_state_init(&c->rs, &c->f->links[c->link].guard->retry, now_of(c));
  }
  start_attempt(c);
}

/* Output arrived from the provider: it is alive. */
static void got_output(call_t *c) {
  tern_usec_t now = now_of(c);
  if (!c->attempt_output)
    c->first_output = now;
  c->attempt_output = true;
  c->last_output = now;
  arm_watchdog(c);
}

/* ---- provider sinks ---------------------------------------------------- */

static void llm_text(void *ud, const char *text, size_t len) {
  call_t *c = ud;
  got_output(c);
  if (tern_buf_append(&c->text, text, len)) {
    tern_error_t err;
    tern_error_init(&err, TERN_COMP_LLM, TERN_KIND_BAD_RESPONSE, link_name(c->f, c->link));
    tern_error_set_message(&err, "the answer is too long to hold");
    stop_attempt(c);
    attempt_failed(c, &err);
    return;
  }
  if (c->probe)
    return;
  c->depth++;
  c->sink.llm.on_text(c->sink.llm.ud, text, len);
  leave_cb(c);
}

static void llm_tool(void *ud, const tern_tool_call_t *call) {
  call_t *c = ud;
  got_output(c);
  if (c->probe)
    return;
  c->depth++;
  c->sink.llm.on_tool_call(c->sink.llm.ud, call);
  leave_cb(c);
}

static void stt_transcript(void *ud, const char *text, bool is_final, double confidence) {
  call_t *c = ud;
  got_output(c);
  if (is_final)
    c->stt_final = true;
  if (c->probe)
    return;
  c->depth++;
  c->sink.stt.on_transcript(c->sink.stt.ud, text, is_final, confidence);
  leave_cb(c);
}

static void tts_audio(void *ud, const int16_t *pcm, size_t n) {
  call_t *c = ud;
  got_output(c);
  c->tts_samples += n;
  c->tts_total += n;
  if (c->probe)
    return;
  c->depth++;
  c->sink.tts.on_audio(c->sink.tts.ud, pcm, n);
  leave_cb(c);
}

static size_t letters_of(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    n += !isspace((unsigned char)*s);
  return n;
}

static void provider_done(void *ud, const tern_error_t *err) {
  call_t *c = ud;
  tern_fallback_t *f = c->f;
  c->pop = NULL; /* the provider frees its op after this returns */
  tern_loop_timer_stop(c->watchdog);
  if (err) {
    /* An STT that failed after its final transcript still did its job. */
    if (!(f->component == TERN_COMP_STT && c->stt_final)) {
      attempt_failed(c, err);
      return;
    }
  }
  if (f->component == TERN_COMP_TTS && c->tts_text) {
    size_t letters = letters_of(c->tts_text);
    if (letters > 0 && c->tts_samples > 0) { /* learn this voice's pace */
      double spl = (double)c->tts_samples / (double)letters;
      f->samples_per_letter = 0.7 * f->samples_per_letter + 0.3 * spl;
    }
  }
  release_slots(c, TERN_BREAKER_SUCCESS);
  tern_chain_report_success(f->chain, c->link, now_of(c));
  finish(c, NULL);
}

/* ---- attempts ---------------------------------------------------------- */

static int begin_provider(call_t *c) {
  tern_fallback_t *f = c->f;
  tern_provider_t *p = f->links[c->link].provider;
  switch (f->component) {
  case TERN_COMP_LLM: {
    tern_llm_request_t r = c->req.llm;
    if (c->text.len)
      r.continuation = tern_buf_str(&c->text);
    tern_llm_sink_t s = {llm_text, llm_tool, provider_done, c};
    return p->vt->llm_start ? p->vt->llm_start(p, f->loop, &r, &s, &c->pop) : TERN_EUNSUPPORTED;
  }
  case TERN_COMP_STT: {
    tern_stt_sink_t s = {stt_transcript, provider_done, c};
    return p->vt->stt_start ? p->vt->stt_start(p, f->loop, &c->req.stt, &s, &c->pop)
                            : TERN_EUNSUPPORTED;
  }
  default: {
    tern_tts_request_t r = c->req.tts;
    r.text = c->tts_text;
    tern_tts_sink_t s = {tts_audio, provider_done, c};
    return p->vt->tts_start ? p->vt->tts_start(p, f->loop, &r, &s, &c->pop) : TERN_EUNSUPPORTED;
  }
  }
}

static void start_attempt(call_t *c) {
  tern_fallback_t *f = c->f;
  tern_guard_t *g = f->links[c->link].guard;
  tern_usec_t now = now_of(c);
  tern_error_t err;
  const char *name = link_name(f, c->link);

  c->attempt_output = false;
  c->first_output = 0;
  c->tts_samples = 0;
  c->tried |= 1u << c->link;

  int rc = tern_breaker_acquire(g->breaker, now, &c->permit);
  note_breaker(f, c->link);
  if (rc) {
    tern_error_init(&err, f->component, TERN_KIND_UNAVAILABLE, name);
    tern_error_set_message(&err, "the circuit breaker is open after repeated failures");
    attempt_failed(c, &err);
    return;
  }
  c->have_permit = true;
  if (g->limiter) {
    tern_usec_t wait = 0;
    if (tern_limiter_try_acquire(g->limiter, 1, now, &wait)) {
      release_slots(c, TERN_BREAKER_IGNORED);
      if (wait <= g->cfg.limiter_max_wait) {
        tern_loop_timer_start(c->retry_timer, wait, 0);
        return;
      }
      tern_error_init(&err, f->component, TERN_KIND_RATE_LIMITED, name);
      err.retryable = false; /* our own limit: waiting longer would only add silence */
      tern_error_set_message(&err, "the local rate limit for this provider is reached");
      attempt_failed(c, &err);
      return;
    }
  }
  if (g->bulkhead) {
    tern_bulkhead_ticket_t ticket;
    rc = tern_bulkhead_try_enter(g->bulkhead, now, &ticket);
    if (rc == TERN_EAGAIN) /* a caller on the line cannot queue: fail over */
      tern_bulkhead_cancel(g->bulkhead, ticket);
    if (rc) {
      release_slots(c, TERN_BREAKER_IGNORED);
      tern_error_init(&err, f->component, TERN_KIND_OVERLOADED, name);
      err.retryable = false;
      tern_error_set_message(&err, "too many calls to this provider at once");
      attempt_failed(c, &err);
      return;
    }
    c->in_bulkhead = true;
  }
  f->stats.attempts++;
  c->attempt_start = now;
  rc = begin_provider(c);
  if (rc) {
    c->pop = NULL;
    tern_error_init(&err, f->component,
                    rc == TERN_EUNSUPPORTED || rc == TERN_EINVAL || rc == TERN_ETOOBIG
                        ? TERN_KIND_INVALID_REQUEST
                        : TERN_KIND_CONNECTION,
                    name);
    tern_error_set_message(&err, "the provider could not start the call: %s", tern_strerror(rc));
    err.retryable = false;
    attempt_failed(c, &err);
    return;
  }
  arm_watchdog(c);
}

/* Pick the next link for this call, or -1. */
static int next_link(call_t *c) {
  tern_fallback_t *f = c->f;
  if (!c->desperate) {
    int nx;
    int after = c->link;
    while (tern_chain_next(f->chain, after, &nx) == 0) {
      if (!(c->tried & (1u << nx)))
        return nx;
      after = nx;
    }
  }
  for (size_t i = 0; i < f->n; i++)
    if (!(c->tried & (1u << i)) && (c->desperate || (int)i > c->link))
      return (int)i;
  return -1;
}

static void failover(call_t *c, const tern_error_t *err) {
  tern_fallback_t *f = c->f;
  tern_usec_t now = now_of(c);
  if (err->kind == TERN_KIND_UNAVAILABLE) {
    tern_breaker_stats_t bs;
    tern_breaker_stats(f->links[c->link].guard->breaker, now, &bs);
    tern_chain_mark_unavailable(f->chain, c->link, now + bs.until_half_open, now);
  }
  tern_chain_report_failure(f->chain, c->link, err, now);
  int nx = next_link(c);
  if (nx < 0 || c->probe) {
    finish(c, err);
    return;
  }
  f->stats.failovers++;
  if (f->component == TERN_COMP_TTS && c->tts_samples > 0) {
    /* Speak only what was not heard yet. */
    size_t letters = letters_of(c->tts_text);
    double heard = (double)c->tts_samples / (f->samples_per_letter * (double)(letters ? letters : 1));
    size_t off = tern_text_resume_offset(c->tts_text, heard);
    if (c->tts_text[off] == '\0') {
      tern_chain_report_success(f->chain, nx, now);
      finish(c, NULL); /* everything was already spoken */
      return;
    }
    memmove(c->tts_text, c->tts_text + off, strlen(c->tts_text + off) + 1);
  }
  c->link = nx;
  tern_retry_state_init(&c->rs, &f->links[nx].guard->retry, now);
  start_attempt(c);
}

static void attempt_failed(call_t *c, const tern_error_t *err_in) {
  tern_fallback_t *f = c->f;
  tern_error_t err = *err_in;
  if (!err.provider[0])
    snprintf(err.provider, sizeof err.provider, "%s", link_name(f, c->link));
  c->last_err = err;
  c->have_err = true;
  release_slots(c, tern_guard_outcome(&err));
  if (err.kind != TERN_KIND_UNAVAILABLE || !c->probe) {
    TERN_EVENT(f->events, "error", TERN_LF_STR("component", tern_component_name(err.component)),
               TERN_LF_STR("kind", tern_kind_name(err.kind)), TERN_LF_STR("provider", err.provider),
               TERN_LF_BOOL("retryable", err.retryable), TERN_LF_BOOL("recoverable", err.recoverable),
               TERN_LF_INT("status", err.http_status), TERN_LF_BOOL("probe", c->probe),
               TERN_LF_STR("message", err.message));
    if (!c->probe && f->obs.on_error)
      f->obs.on_error(f->obs.ud, &err, false);
  }
  if (err.kind == TERN_KIND_CONTEXT_LENGTH || err.kind == TERN_KIND_CANCELLED) {
    finish(c, &err); /* the caller must change the request; no provider will take it */
    return;
  }
  if (c->probe) {
    failover(c, &err);
    return;
  }
  tern_retry_decision_t d;
  bool delivered = c->attempt_output;
  tern_retry_decide(&f->links[c->link].guard->retry, &c->rs, &err, delivered, now_of(c),
                    tern_rand_double(&f->rng), &d);
  if (d.action == TERN_RETRY_AGAIN) {
    f->stats.retries++;
    tern_loop_timer_start(c->retry_timer, d.delay, 0);
    return;
  }
  failover(c, &err);
}

static void call_cancel(tern_op_t *op) {
  call_t *c = (call_t *)op;
  if (c->cancelled || c->finished)
    return;
  c->cancelled = true;
  stop_attempt(c);
  tern_loop_timer_stop(c->retry_timer);
  if (c->have_permit || c->in_bulkhead) {
    release_slots(c, TERN_BREAKER_IGNORED);
  }
  if (c->depth == 0)
    free_call(c);
}

/* ---- calls ------------------------------------------------------------- */

static int new_call(tern_fallback_t *f, bool probe, int link, call_t **out) {
  call_t *c = tern_calloc(1, sizeof *c);
  if (!c)
    return TERN_ENOMEM;
  c->op.cancel = call_cancel;
  c->f = f;
  c->probe = probe;
  if (tern_loop_timer_create(f->loop, on_watchdog, c, &c->watchdog) ||
      tern_loop_timer_create(f->loop, on_retry_timer, c, &c->retry_timer)) {
    tern_loop_timer_destroy(c->watchdog);
    tern_free(c);
    return TERN_ENOMEM;
  }
  if (link < 0 && tern_chain_current(f->chain, &link) != 0) {
    link = 0;
    c->desperate = true;
  }
  c->link = link;
  c->next = f->calls;
  f->calls = c;
  *out = c;
  return 0;
}

/* Start on the loop, never inside the caller's start function: the retry
 * timer fires at once and its first firing initialises the retry state. */
static int launch(call_t *c, tern_op_t **op) {
  if (tern_loop_timer_start(c->retry_timer, 0, 0)) {
    free_call(c);
    return TERN_EINVAL;
  }
  if (op)
    *op = &c->op;
  return 0;
}

int tern_fallback_llm(tern_fallback_t *f, const tern_llm_request_t *req,
                      const tern_llm_sink_t *sink, tern_op_t **op) {
  if (f->component != TERN_COMP_LLM || !req || !req->chat || !sink || !sink->on_done)
    return TERN_EINVAL;
  call_t *c;
  int rc = new_call(f, false, -1, &c);
  if (rc)
    return rc;
  c->req.llm = *req;
  c->req.llm.continuation = NULL;
  c->sink.llm = *sink;
  if (req->continuation && (rc = tern_buf_appends(&c->text, req->continuation))) {
    free_call(c);
    return rc;
  }
  return launch(c, op);
}

int tern_fallback_stt(tern_fallback_t *f, const tern_stt_request_t *req,
                      const tern_stt_sink_t *sink, tern_op_t **op) {
  if (f->component != TERN_COMP_STT || !req || !sink || !sink->on_done)
    return TERN_EINVAL;
  call_t *c;
  int rc = new_call(f, false, -1, &c);
  if (rc)
    return rc;
  c->req.stt = *req;
  c->sink.stt = *sink;
  return launch(c, op);
}

int tern_fallback_tts(tern_fallback_t *f, const tern_tts_request_t *req,
                      const tern_tts_sink_t *sink, tern_op_t **op) {
  if (f->component != TERN_COMP_TTS || !req || !req->text || !sink || !sink->on_done)
    return TERN_EINVAL;
  call_t *c;
  int rc = new_call(f, false, -1, &c);
  if (rc)
    return rc;
  c->req.tts = *req;
  c->sink.tts = *sink;
  if (!(c->tts_text = tern_strdup(req->text))) {
    free_call(c);
    return TERN_ENOMEM;
  }
  if (f->samples_per_letter <= 0) /* about 12 letters a second until measured */
    f->samples_per_letter = (double)req->sample_rate / 12.0;
  return launch(c, op);
}

/* ---- probes ------------------------------------------------------------ */

static void probe_noop_text(void *ud, const char *t, size_t n) { (void)ud, (void)t, (void)n; }
static void probe_noop_done(void *ud, const tern_error_t *e) { (void)ud, (void)e; }

static int start_probe(tern_fallback_t *f, int link) {
  call_t *c;
  int rc = new_call(f, true, link, &c);
  if (rc)
    return rc;
  switch (f->component) {
  case TERN_COMP_LLM:
    if ((rc = tern_chat_create(&c->probe_chat)) ||
        (rc = tern_chat_set_system(c->probe_chat, "Answer with one word.")) ||
        (rc = tern_chat_add(c->probe_chat, TERN_ROLE_USER, "Say OK.")))
      break;
    c->req.llm.chat = c->probe_chat;
    c->req.llm.max_tokens = 5;
    c->req.llm.temperature = -1;
    c->sink.llm.on_done = probe_noop_done;
    break;
  case TERN_COMP_STT:
    /* A quarter second of silence: any answer, even empty, proves life. */
    if (!(c->probe_pcm = tern_calloc(4000, sizeof *c->probe_pcm))) {
      rc = TERN_ENOMEM;
      break;
    }
    c->req.stt.pcm = c->probe_pcm;
    c->req.stt.n_samples = 4000;
    c->req.stt.sample_rate = 16000;
    c->sink.stt.on_done = probe_noop_done;
    break;
  default:
    c->req.tts.sample_rate = 16000;
    if (!(c->tts_text = tern_strdup("OK.")))
      rc = TERN_ENOMEM;
    c->sink.tts.on_done = probe_noop_done;
    break;
  }
  (void)probe_noop_text;
  if (rc) {
    free_call(c);
    return rc;
  }
  return launch(c, NULL);
}

static void on_probe_timer(tern_loop_timer_t *t, void *ud) {
  (void)t;
  tern_fallback_t *f = ud;
  int due[TERN_CHAIN_MAX_LINKS];
  size_t n = 0;
  tern_chain_due_probes(f->chain, tern_loop_now(f->loop), due, TERN_CHAIN_MAX_LINKS, &n);
  for (size_t i = 0; i < n; i++)
    if (start_probe(f, due[i]))
      tern_chain_probe_result(f->chain, due[i], false, tern_loop_now(f->loop));
  arm_probe_timer(f);
}

static void arm_probe_timer(tern_fallback_t *f) {
  tern_usec_t at;
  if (!f->cfg.probes || !f->probe_timer)
    return;
  if (tern_chain_next_probe_at(f->chain, &at) != 0) {
    tern_loop_timer_stop(f->probe_timer);
    return;
  }
  tern_usec_t now = tern_loop_now(f->loop);
  tern_loop_timer_start(f->probe_timer, at > now ? at - now : 0, 0);
}

/* ---- the runner -------------------------------------------------------- */

void tern_fallback_config_default(tern_fallback_config_t *cfg) {
  tern_chain_config_default(&cfg->chain);
  cfg->probes = true;
}

int tern_fallback_create(tern_loop_t *loop, tern_component_t component,
                         const tern_fallback_link_t *links, size_t n,
                         const tern_fallback_config_t *cfg, tern_events_t *events, uint64_t seed,
                         tern_fallback_t **out) {
  if (!loop || !links || n == 0 || n > TERN_CHAIN_MAX_LINKS)
    return TERN_EINVAL;
  tern_fallback_t *f = tern_calloc(1, sizeof *f);
  if (!f)
    return TERN_ENOMEM;
  f->loop = loop;
  f->component = component;
  f->n = n;
  f->events = events;
  if (cfg)
    f->cfg = *cfg;
  else
    tern_fallback_config_default(&f->cfg);
  tern_rand_seed(&f->rng, seed);
  const char *names[TERN_CHAIN_MAX_LINKS];
  for (size_t i = 0; i < n; i++) {
    if (!links[i].provider || !links[i].guard) {
      tern_free(f);
      return TERN_EINVAL;
    }
    f->links[i] = links[i];
    names[i] = links[i].provider->name;
    f->seen[i] = tern_breaker_state(links[i].guard->breaker);
  }
  int rc = tern_chain_create(names, n, &f->cfg.chain, &f->chain);
  if (!rc)
    rc = tern_loop_timer_create(loop, on_probe_timer, f, &f->probe_timer);
  if (rc) {
    tern_chain_destroy(f->chain);
    tern_free(f);
    return rc;
  }
  tern_chain_on_switch(f->chain, on_chain_switch, f);
  *out = f;
  return 0;
}

void tern_fallback_destroy(tern_fallback_t *f) {
  if (!f)
    return;
  while (f->calls) {
    call_t *c = f->calls;
    stop_attempt(c);
    if (c->have_permit || c->in_bulkhead)
      release_slots(c, TERN_BREAKER_IGNORED);
    free_call(c);
  }
  tern_loop_timer_destroy(f->probe_timer);
  tern_chain_destroy(f->chain);
  tern_free(f);
}

void tern_fallback_set_observer(tern_fallback_t *f, const tern_fallback_observer_t *obs) {
  if (obs)
    f->obs = *obs;
  else
    memset(&f->obs, 0, sizeof f->obs);
}

const char *tern_fallback_current(const tern_fallback_t *f) {
  int link;
  if (tern_chain_current(f->chain, &link) != 0)
    return "none";
  return f->links[link].provider->name;
}

tern_chain_t *tern_fallback_chain(tern_fallback_t *f) { return f->chain; }
size_t tern_fallback_size(const tern_fallback_t *f) { return f->n; }
tern_provider_t *tern_fallback_provider(const tern_fallback_t *f, size_t i) {
  return i < f->n ? f->links[i].provider : NULL;
}
void tern_fallback_stats(const tern_fallback_t *f, tern_fallback_stats_t *out) { *out = f->stats; }
