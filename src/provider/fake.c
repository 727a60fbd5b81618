/* Fake providers: a scripted step per call, played out on loop timers.
 *
 * One fake may serve sessions on several worker loops at once (tern serve
 * shares its provider stack), so everything a call reads or changes in the
 * shared fake_t (the step queue, the default step, the fault draws, the
 * stats) is taken under `mu`; an op, once made, belongs to its loop alone. */
#include "tern/fake.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/loop.h"
#include "tern/rand.h"

#define MAX_STEPS 64

typedef struct fake {
  tern_provider_t base;
  tern_fake_step_t q[MAX_STEPS];
  size_t qhead, qlen;
  tern_fake_step_t def;
  double spl;
  tern_fake_stats_t stats;
  double fail_rate, stall_rate;
  tern_rand_t rand;
  pthread_mutex_t mu;
} fake_t;

typedef struct fop {
  tern_op_t op;
  fake_t *fake;
  tern_component_t comp;
  tern_fake_step_t step; /* strings owned */
  union {
    tern_llm_sink_t llm;
    tern_stt_sink_t stt;
    tern_tts_sink_t tts;
  } sink;
  tern_loop_timer_t *timer;
  char *out;       /* LLM / STT: the text to deliver */
  size_t pos;      /* LLM / STT: bytes delivered */
  size_t samples;  /* TTS: samples still to deliver */
  int rate;
  int emitted;     /* outputs so far */
  int16_t chunk[960];
} fop_t;

static char *dup_or_null(const char *s) { return s ? tern_strdup(s) : NULL; }

static void step_free(tern_fake_step_t *s) {
  tern_free((char *)s->text);
  tern_free((char *)s->tool);
  tern_free((char *)s->tool_args);
}

static int step_copy(tern_fake_step_t *dst, const tern_fake_step_t *src) {
  *dst = *src;
  dst->text = dup_or_null(src->text);
  dst->tool = dup_or_null(src->tool);
  dst->tool_args = dup_or_null(src->tool_args);
  if ((src->text && !dst->text) || (src->tool && !dst->tool) ||
      (src->tool_args && !dst->tool_args)) {
    step_free(dst);
    return TERN_ENOMEM;
  }
  return 0;
}

int tern_fake_push(tern_provider_t *p, const tern_fake_step_t *step) {
  fake_t *f = (fake_t *)p;
  pthread_mutex_lock(&f->mu);
  int rc = TERN_EBUSY;
  if (f->qlen < MAX_STEPS && !(rc = step_copy(&f->q[(f->qhead + f->qlen) % MAX_STEPS], step)))
    f->qlen++;
  pthread_mutex_unlock(&f->mu);
  return rc;
}

int tern_fake_set_default(tern_provider_t *p, const tern_fake_step_t *step) {
  fake_t *f = (fake_t *)p;
  tern_fake_step_t s;
  int rc = step_copy(&s, step);
  if (rc)
    return rc;
  pthread_mutex_lock(&f->mu);
  step_free(&f->def);
  f->def = s;
  pthread_mutex_unlock(&f->mu);
  return 0;
}

void tern_fake_set_samples_per_letter(tern_provider_t *p, double spl) { ((fake_t *)p)->spl = spl; }

int tern_fake_set_faults(tern_provider_t *p, double fail_rate, double stall_rate, uint64_t seed) {
  if (!(fail_rate >= 0 && fail_rate <= 1 && stall_rate >= 0 && stall_rate <= 1))
    return TERN_EINVAL;
  fake_t *f = (fake_t *)p;
  pthread_mutex_lock(&f->mu);
  f->fail_rate = fail_rate;
  f->stall_rate = stall_rate;
  tern_rand_seed(&f->rand, seed);
  pthread_mutex_unlock(&f->mu);
  return 0;
}

void tern_fake_stats(const tern_provider_t *p, tern_fake_stats_t *out) {
  fake_t *f = (fake_t *)p;
  pthread_mutex_lock(&f->mu);
  *out = f->stats;
  pthread_mutex_unlock(&f->mu);
}

/* A random fault on top of the step, when rates are set: the call fails
 * (a retryable server error) or goes silent after 0 to 2 outputs. Scripted
 * faults win: a step that already fails or stalls is left as it is. */
static void draw_fault(fake_t *f, tern_fake_step_t *st) {
  if ((f->fail_rate <= 0 && f->stall_rate <= 0) || st->fail_after >= 0 || st->stall_after >= 0)
    return;
  double u = tern_rand_double(&f->rand);
  int after = (int)tern_rand_below(&f->rand, 3);
  if (u < f->fail_rate) {
    st->fail_after = after;
    st->kind = TERN_KIND_SERVER;
    st->status = 503;
    st->retry_after = -1;
  } else if (u < f->fail_rate + f->stall_rate) {
    st->stall_after = after;
  }
}

/* Under f->mu. */
static int next_step(fake_t *f, tern_fake_step_t *out) {
  if (f->qlen) {
    *out = f->q[f->qhead]; /* ownership moves to the op */
    f->qhead = (f->qhead + 1) % MAX_STEPS;
    f->qlen--;
    return 0;
  }
  return step_copy(out, &f->def);
}

static void fop_free(fop_t *o) {
  tern_loop_timer_destroy(o->timer);
  step_free(&o->step);
  tern_free(o->out);
  tern_free(o);
}

static void fop_cancel(tern_op_t *op) {
  fop_t *o = (fop_t *)op;
  pthread_mutex_lock(&o->fake->mu);
  o->fake->stats.cancelled++;
  pthread_mutex_unlock(&o->fake->mu);
  fop_free(o);
}

static void done(fop_t *o, const tern_error_t *err) {
  tern_loop_timer_stop(o->timer);
  switch (o->comp) {
  case TERN_COMP_LLM:
    o->sink.llm.on_done(o->sink.llm.ud, err);
    break;
  case TERN_COMP_STT:
    o->sink.stt.on_done(o->sink.stt.ud, err);
    break;
  default:
    o->sink.tts.on_done(o->sink.tts.ud, err);
    break;
  }
  fop_free(o);
}

static void fail(fop_t *o) {
  tern_error_t err;
  if (o->step.status)
    tern_error_from_http(&err, o->comp, o->fake->base.name, o->step.status);
  else
    tern_error_init(&err, o->comp, o->step.kind, o->fake->base.name);
  err.kind = o->step.kind;
  err.retryable = tern_kind_retryable(o->step.kind);
  err.recoverable = tern_kind_recoverable(o->step.kind);
  err.retry_after = o->step.retry_after;
  tern_error_set_message(&err, "scripted %s failure", tern_kind_name(o->step.kind));
  done(o, &err);
}

/* Deliver the next word (LLM, STT) or 20 ms chunk (TTS). Returns false when
 * there is nothing left. The op may be gone when a callback cancelled it:
 * `alive` is cleared then. */
static void on_tick(tern_loop_timer_t *t, void *ud) {
  (void)t;
  fop_t *o = ud;
  if (o->step.fail_after >= 0 && o->emitted >= o->step.fail_after) {
    fail(o);
    return;
  }
  if (o->step.stall_after >= 0 && o->emitted >= o->step.stall_after)
    return; /* silent: the caller's watchdog must notice */
  if (o->comp == TERN_COMP_LLM && o->step.tool) {
    tern_tool_call_t call = {(char *)"call_fake_1", (char *)o->step.tool,
                             (char *)(o->step.tool_args ? o->step.tool_args : "{}")};
    o->emitted++;
    o->sink.llm.on_tool_call(o->sink.llm.ud, &call);
    /* A cancel inside on_tool_call frees o; the contract forbids touching it,
     * so the tool call is the last thing this op does in that case. */
    done(o, NULL);
    return;
  }
  if (o->comp == TERN_COMP_TTS) {
    if (o->samples == 0) {
      done(o, NULL);
      return;
    }
    size_t n = (size_t)o->rate / 50;
    if (n > sizeof o->chunk / sizeof o->chunk[0])
      n = sizeof o->chunk / sizeof o->chunk[0];
    if (n > o->samples)
      n = o->samples;
    for (size_t i = 0; i < n; i++) /* a quiet 440 Hz-ish square, audible in a WAV */
      o->chunk[i] = (int16_t)(((o->samples - i) / (size_t)(o->rate / 880 + 1)) % 2 ? 3000 : -3000);
    o->samples -= n;
    o->emitted++;
    tern_loop_timer_start(o->timer, o->step.interval, 0);
    o->sink.tts.on_audio(o->sink.tts.ud, o->chunk, n);
    return;
  }
  /* LLM and STT: a word at a time; the STT's final transcript is one more
   * output after the last word, and pos moves past the end to mark it. */
  size_t len = strlen(o->out);
  if (o->pos > len) {
    done(o, NULL);
    return;
  }
  const char *s = o->out + o->pos;
  if (!*s) {
    if (o->comp == TERN_COMP_STT) {
      o->pos++;
      o->emitted++;
      tern_loop_timer_start(o->timer, o->step.interval, 0);
      o->sink.stt.on_transcript(o->sink.stt.ud, o->out, true, 0.9);
      return;
    }
    done(o, NULL);
    return;
  }
  size_t n = 0;
  while (s[n] && isspace((unsigned char)s[n]))
    n++;
  while (s[n] && !isspace((unsigned char)s[n]))
    n++;
  o->pos += n;
  o->emitted++;
  tern_loop_timer_start(o->timer, o->step.interval, 0);
  if (o->comp == TERN_COMP_LLM) {
    o->sink.llm.on_text(o->sink.llm.ud, s, n);
  } else {
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%.*s", (int)(o->pos < sizeof tmp ? o->pos : sizeof tmp - 1), o->out);
    o->sink.stt.on_transcript(o->sink.stt.ud, tmp, false, 0.5);
  }
}

static int fop_new(fake_t *f, tern_loop_t *loop, fop_t **out) {
  fop_t *o = tern_calloc(1, sizeof *o);
  if (!o)
    return TERN_ENOMEM;
  o->op.cancel = fop_cancel;
  o->fake = f;
  o->comp = f->base.component;
  pthread_mutex_lock(&f->mu);
  int rc = next_step(f, &o->step);
  if (!rc) {
    draw_fault(f, &o->step);
    f->stats.calls++;
  }
  pthread_mutex_unlock(&f->mu);
  if (!rc)
    rc = tern_loop_timer_create(loop, on_tick, o, &o->timer);
  if (rc) {
    step_free(&o->step);
    tern_free(o);
    return rc;
  }
  *out = o;
  return 0;
}

static int fop_go(fop_t *o, tern_op_t **op) {
  if (tern_loop_timer_start(o->timer, o->step.first_delay, 0)) {
    fop_free(o);
    return TERN_EINVAL;
  }
  *op = &o->op;
  return 0;
}

static int fake_llm(tern_provider_t *p, tern_loop_t *loop, const tern_llm_request_t *req,
                    const tern_llm_sink_t *sink, tern_op_t **op) {
  fake_t *f = (fake_t *)p;
  fop_t *o;
  int rc = fop_new(f, loop, &o);
  if (rc)
    return rc;
  o->sink.llm = *sink;
  const char *user = tern_chat_last_user(req->chat);
  pthread_mutex_lock(&f->mu);
  snprintf(f->stats.last_input, sizeof f->stats.last_input, "%s", user ? user : "");
  snprintf(f->stats.last_continuation, sizeof f->stats.last_continuation, "%s",
           req->continuation ? req->continuation : "");
  pthread_mutex_unlock(&f->mu);
  const char *reply = o->step.text ? o->step.text : "This is a fake answer.";
  const char *c = req->continuation;
  if (c && !strncmp(reply, c, strlen(c)))
    reply += strlen(c); /* continue exactly where the last provider stopped */
  if (!(o->out = tern_strdup(reply))) {
    fop_free(o);
    return TERN_ENOMEM;
  }
  return fop_go(o, op);
}

static int fake_stt(tern_provider_t *p, tern_loop_t *loop, const tern_stt_request_t *req,
                    const tern_stt_sink_t *sink, tern_op_t **op) {
  fake_t *f = (fake_t *)p;
  fop_t *o;
  int rc = fop_new(f, loop, &o);
  if (rc)
    return rc;
  o->sink.stt = *sink;
  pthread_mutex_lock(&f->mu);
  snprintf(f->stats.last_input, sizeof f->stats.last_input, "%zu samples", req->n_samples);
  pthread_mutex_unlock(&f->mu);
  if (!(o->out = tern_strdup(o->step.text ? o->step.text : "hello there"))) {
    fop_free(o);
    return TERN_ENOMEM;
  }
  return fop_go(o, op);
}

static int fake_tts(tern_provider_t *p, tern_loop_t *loop, const tern_tts_request_t *req,
                    const tern_tts_sink_t *sink, tern_op_t **op) {
  fake_t *f = (fake_t *)p;
  if (!req->text || req->sample_rate < 8000 || req->sample_rate > 48000)
    return TERN_EINVAL;
  fop_t *o;
  int rc = fop_new(f, loop, &o);
  if (rc)
    return rc;
  o->sink.tts = *sink;
  o->rate = req->sample_rate;
  pthread_mutex_lock(&f->mu);
  snprintf(f->stats.last_input, sizeof f->stats.last_input, "%s", req->text);
  pthread_mutex_unlock(&f->mu);
  size_t letters = 0;
  for (const char *s = req->text; *s; s++)
    letters += !isspace((unsigned char)*s);
  double spl = f->spl > 0 ? f->spl : req->sample_rate / 12.0;
  o->samples = (size_t)(spl * (double)letters);
  return fop_go(o, op);
}

static void fake_destroy(tern_provider_t *p) {
  fake_t *f = (fake_t *)p;
  while (f->qlen) {
    step_free(&f->q[f->qhead]);
    f->qhead = (f->qhead + 1) % MAX_STEPS;
    f->qlen--;
  }
  step_free(&f->def);
  pthread_mutex_destroy(&f->mu);
  tern_free(f);
}

static const tern_provider_vt_t k_fake_vt = {"fake", fake_llm, fake_stt, NULL, fake_tts,
                                             fake_destroy};

int tern_fake_create(tern_component_t component, const char *name, tern_provider_t **out) {
  fake_t *f = tern_calloc(1, sizeof *f);
  if (!f)
    return TERN_ENOMEM;
  f->base.vt = &k_fake_vt;
  f->base.component = component;
  snprintf(f->base.name, sizeof f->base.name, "%s", name ? name : "fake");
  f->def = TERN_FAKE_OK;
  f->def.interval = TERN_MS(1);
  tern_rand_seed(&f->rand, 1);
  if (pthread_mutex_init(&f->mu, NULL)) {
    tern_free(f);
    return TERN_ENOMEM;
  }
  *out = &f->base;
  return 0;
}
