/* flite and espeak-ng as asynchronous TTS providers.
 *
 * Both engines block, so each request is a thread-pool job (job.h): the
 * worker synthesises phrase by phrase and posts every chunk to the loop as
 * it is produced, then a final message with the outcome. A cancel makes
 * the engine stop at its next chunk. Content problems (text too long, an
 * unknown voice) are reported through on_done as classified
 * invalid_request errors, so a fallback chain can try another provider;
 * only misuse (NULL arguments) fails the start call itself.
 *
 * The request's text and voice are copied at start: after a cancel the
 * worker may still be reading them while the caller has freed its own. */
#include <stdio.h>
#include <string.h>

#include "provider/job.h"
#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/espeak_tts.h"
#include "tern/flite_tts.h"

typedef int (*synth_fn)(const char *text, const char *voice, int rate, tern_pcm_chunk_fn fn,
                        void *ud);

typedef struct tts_provider {
  tern_provider_t base;
  synth_fn synth;
  size_t text_max;
  char voice[64]; /* the configured voice */
} tts_provider_t;

typedef struct tts_job {
  tern__job_t job;
  tts_provider_t *prov;
  tern_tts_sink_t sink;
  int rate;
  int rc;        /* the synthesis outcome, for the final message */
  size_t n_text; /* bytes of text, for the error message */
  char *voice;
  char text[];
} tts_job_t;

typedef struct chunk {
  size_t n;
  int16_t pcm[];
} chunk_t;

static void deliver_chunk(tern__job_t *job, void *payload) {
  tts_job_t *t = (tts_job_t *)job;
  chunk_t *c = payload;
  t->sink.on_audio(t->sink.ud, c->pcm, c->n);
}

static void finish(tts_job_t *t, int rc) {
  tern__job_finish(&t->job);
  if (rc == 0) {
    t->sink.on_done(t->sink.ud, NULL);
    return;
  }
  tern_error_t err;
  const char *name = t->prov->base.name;
  tern_kind_t kind = TERN_KIND_SERVER;
  if (rc == TERN_ETOOBIG || rc == TERN_ENOENT || rc == TERN_EINVAL)
    kind = TERN_KIND_INVALID_REQUEST;
  tern_error_init(&err, TERN_COMP_TTS, kind, name);
  if (rc == TERN_ETOOBIG)
    tern_error_set_message(&err, "text too long for %s: %zu bytes, the limit is %zu", name,
                           t->n_text, t->prov->text_max);
  else if (rc == TERN_ENOENT)
    tern_error_set_message(&err, "%s has no voice named '%s'", name, t->voice);
  else if (rc == TERN_EINVAL)
    tern_error_set_message(&err, "%s cannot speak at %d Hz", name, t->rate);
  else if (rc == TERN_ENOMEM)
    tern_error_set_message(&err, "%s ran out of memory", name);
  else
    tern_error_set_message(&err, "%s failed to synthesise the text (%s)", name,
                           tern_err_name(rc));
  t->sink.on_done(t->sink.ud, &err);
}

static void deliver_end(tern__job_t *job, void *payload) {
  (void)payload;
  tts_job_t *t = (tts_job_t *)job;
  finish(t, t->rc);
}

static void fail(tern__job_t *job, int code) { finish((tts_job_t *)job, code); }

static void destroy(tern__job_t *job) { tern_free(job); }

/* Worker thread: each chunk is copied into a message for the loop. */
static int on_pcm(void *ud, const int16_t *pcm, size_t n) {
  tts_job_t *t = ud;
  if (tern__job_cancelled(&t->job))
    return 1;
  chunk_t *c = tern_malloc(sizeof *c + n * sizeof *pcm);
  if (!c) {
    t->rc = TERN_ENOMEM;
    return 1;
  }
  c->n = n;
  memcpy(c->pcm, pcm, n * sizeof *pcm);
  int rc = tern__job_post(&t->job, deliver_chunk, c, false);
  if (rc) {
    t->rc = rc;
    return 1;
  }
  return 0;
}

static void work(tern__job_t *job) {
  tts_job_t *t = (tts_job_t *)job;
  int rc = t->prov->synth(t->text, t->voice, t->rate, on_pcm, t);
  if (tern__job_cancelled(job))
    return; /* nobody is listening; after_work frees the job */
  if (t->rc == 0)
    t->rc = rc == TERN_ECANCELED ? TERN_EPROVIDER : rc;
  tern__job_post(job, deliver_end, NULL, true);
}

static int tts_start(tern_provider_t *p, tern_loop_t *loop, const tern_tts_request_t *req,
                     const tern_tts_sink_t *sink, tern_op_t **op) {
  if (op)
    *op = NULL;
  if (!p || !loop || !req || !req->text || !sink || !sink->on_audio || !sink->on_done || !op)
    return TERN_EINVAL;
  tts_provider_t *prov = (tts_provider_t *)p;
  const char *voice = req->voice && req->voice[0] ? req->voice : prov->voice;
  /* Oversize text is copied only up to the limit and refused by the
   * engine, so a huge input costs no huge copy. */
  size_t n = strlen(req->text);
  size_t keep = n > prov->text_max ? prov->text_max + 1 : n;
  size_t vlen = strlen(voice);
  tts_job_t *t = tern_malloc(sizeof *t + keep + 1 + vlen + 1);
  if (!t)
    return TERN_ENOMEM;
  memset(t, 0, sizeof *t);
  memcpy(t->text, req->text, keep);
  t->text[keep] = '\0';
  t->voice = t->text + keep + 1;
  memcpy(t->voice, voice, vlen + 1);
  t->n_text = n;
  t->prov = prov;
  t->sink = *sink;
  t->rate = req->sample_rate;
  t->job.work = work;
  t->job.fail = fail;
  t->job.destroy = destroy;
  int rc = tern__job_start(&t->job, loop);
  if (rc) {
    tern_free(t);
    return rc;
  }
  *op = &t->job.op;
  return 0;
}

static void tts_destroy(tern_provider_t *p) { tern_free(p); }

static const tern_provider_vt_t FLITE_VT = {.kind = "flite", .tts_start = tts_start,
                                             .destroy = tts_destroy};
static const tern_provider_vt_t ESPEAK_VT = {.kind = "espeak", .tts_start = tts_start,
                                              .destroy = tts_destroy};

static int make(const tern_provider_vt_t *vt, const char *name, synth_fn synth, size_t text_max,
                const char *voice, tern_provider_t **out) {
  if (strlen(voice) >= sizeof((tts_provider_t *)0)->voice)
    return TERN_EINVAL;
  tts_provider_t *p = tern_calloc(1, sizeof *p);
  if (!p)
    return TERN_ENOMEM;
  p->base.vt = vt;
  p->base.component = TERN_COMP_TTS;
  snprintf(p->base.name, sizeof p->base.name, "%s", name);
  /* Local engines: the first audio comes within a phrase's synthesis. */
  p->base.first_byte_timeout = TERN_SEC(2);
  p->base.idle_timeout = TERN_SEC(2);
  p->base.total_timeout = TERN_SEC(60);
  p->synth = synth;
  p->text_max = text_max;
  snprintf(p->voice, sizeof p->voice, "%s", voice);
  *out = &p->base;
  return 0;
}

int tern_flite_provider_create(const char *voice, tern_provider_t **out) {
  if (!out)
    return TERN_EINVAL;
  *out = NULL;
  if (!voice || !voice[0])
    voice = TERN_FLITE_DEFAULT_VOICE;
  int rc = tern_flite_voice_check(voice); /* loads it now, not on the first call */
  if (rc)
    return rc;
  return make(&FLITE_VT, "flite", tern_flite_synth, TERN_FLITE_TEXT_MAX, voice, out);
}

int tern_espeak_provider_create(const char *voice, tern_provider_t **out) {
  if (!out)
    return TERN_EINVAL;
  *out = NULL;
  if (!voice || !voice[0])
    voice = TERN_ESPEAK_DEFAULT_VOICE;
  int rc = tern_espeak_init();
  if (rc)
    return rc;
  return make(&ESPEAK_VT, "espeak", tern_espeak_synth, TERN_ESPEAK_TEXT_MAX, voice, out);
}
