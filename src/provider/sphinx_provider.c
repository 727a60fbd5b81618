/* pocketsphinx as an asynchronous STT provider: one utterance per request,
 * decoded on the loop's thread pool (job.h) by a decoder borrowed from the
 * provider's pool. The audio is copied at start, because after a cancel
 * the worker may still be decoding while the caller has reused its buffer.
 * The utterance is decoded in one piece (more accurate than feeding it
 * frame by frame), so a cancel takes effect when the decode returns.
 * A busy pool is reported as `overloaded` (retryable) instead of waiting:
 * libuv's thread pool is small and shared with every other offline engine,
 * so a thread must never park on a decoder. */
#include <stdio.h>
#include <string.h>

#include "provider/job.h"
#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/sphinx.h"

/* Longest utterance accepted: a minute at 48 kHz. */
#define MAX_SAMPLES ((size_t)48000 * 60)

typedef struct sphinx_provider {
  tern_provider_t base;
  tern_sphinx_pool_t *pool;
  int max_decoders;
} sphinx_provider_t;

typedef struct stt_job {
  tern__job_t job;
  sphinx_provider_t *prov;
  tern_stt_sink_t sink;
  int rate;
  int rc;
  tern_sphinx_result_t result;
  size_t n;
  int16_t pcm[];
} stt_job_t;

static void finish(stt_job_t *t, int rc) {
  if (rc == 0) {
    t->sink.on_transcript(t->sink.ud, t->result.text ? t->result.text : "", true,
                          t->result.confidence);
    /* on_transcript may have cancelled (which marks the job finished):
     * then on_done must not run. The job itself stays valid: the message
     * being delivered holds a reference. */
    if (t->job.finished)
      return;
    tern__job_finish(&t->job);
    t->sink.on_done(t->sink.ud, NULL);
    return;
  }
  tern__job_finish(&t->job);
  tern_error_t err;
  const char *name = t->prov->base.name;
  tern_kind_t kind = rc == TERN_EBUSY        ? TERN_KIND_OVERLOADED
                     : rc == TERN_EINVAL     ? TERN_KIND_INVALID_REQUEST
                     : rc == TERN_ETOOBIG    ? TERN_KIND_INVALID_REQUEST
                     : rc == TERN_EUNSUPPORTED ? TERN_KIND_INVALID_REQUEST
                                             : TERN_KIND_SERVER;
  tern_error_init(&err, TERN_COMP_STT, kind, name);
  if (rc == TERN_EBUSY)
    tern_error_set_message(&err, "all %d %s decoders are busy", t->prov->max_decoders, name);
  else if (rc == TERN_ETOOBIG)
    tern_error_set_message(&err, "utterance too long for %s (more than a minute)", name);
  else if (rc == TERN_EINVAL)
    tern_error_set_message(&err, "%s cannot take audio at %d Hz", name, t->rate);
  else if (rc == TERN_EUNSUPPORTED)
    tern_error_set_message(&err, "%s here only recognises English", name);
  else
    tern_error_set_message(&err, "%s failed to decode the utterance (%s)", name,
                           tern_err_name(rc));
  t->sink.on_done(t->sink.ud, &err);
}

static void deliver_end(tern__job_t *job, void *payload) {
  (void)payload;
  stt_job_t *t = (stt_job_t *)job;
  finish(t, t->rc);
}

static void fail(tern__job_t *job, int code) { finish((stt_job_t *)job, code); }

static void destroy(tern__job_t *job) {
  stt_job_t *t = (stt_job_t *)job;
  tern_sphinx_result_free(&t->result);
  tern_free(t);
}

static void work(tern__job_t *job) {
  stt_job_t *t = (stt_job_t *)job;
  if (t->rc == 0) {
    tern_sphinx_decoder_t *d = NULL;
    t->rc = tern_sphinx_try_acquire(t->prov->pool, &d);
    if (t->rc == 0) {
      /* The whole utterance at once: batch normalisation hears better. */
      t->rc = tern_sphinx_decode_utt(d, t->pcm, t->n, t->rate, &t->result);
      tern_sphinx_release(d);
    }
  }
  if (!tern__job_cancelled(job))
    tern__job_post(job, deliver_end, NULL, true);
}

static int is_english(const char *lang) {
  if (!lang || !lang[0])
    return 1;
  return !strncmp(lang, "en", 2) && (lang[2] == '\0' || lang[2] == '-' || lang[2] == '_');
}

static int stt_start(tern_provider_t *p, tern_loop_t *loop, const tern_stt_request_t *req,
                     const tern_stt_sink_t *sink, tern_op_t **op) {
  if (op)
    *op = NULL;
  if (!p || !loop || !req || (!req->pcm && req->n_samples) || !sink || !sink->on_transcript ||
      !sink->on_done || !op)
    return TERN_EINVAL;
  sphinx_provider_t *prov = (sphinx_provider_t *)p;
  int early = 0; /* a problem reported through on_done, like any other */
  size_t n = req->n_samples;
  if (n > MAX_SAMPLES) {
    early = TERN_ETOOBIG;
    n = 0;
  } else if (req->sample_rate < 8000 || req->sample_rate > 48000) {
    early = TERN_EINVAL;
    n = 0;
  } else if (!is_english(req->language)) {
    early = TERN_EUNSUPPORTED;
    n = 0;
  }
  stt_job_t *t = tern_malloc(sizeof *t + n * sizeof(int16_t));
  if (!t)
    return TERN_ENOMEM;
  memset(t, 0, sizeof *t);
  if (n)
    memcpy(t->pcm, req->pcm, n * sizeof(int16_t));
  t->n = n;
  t->rc = early;
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

static void sphinx_destroy(tern_provider_t *p) {
  sphinx_provider_t *sp = (sphinx_provider_t *)p;
  tern_sphinx_pool_destroy(sp->pool);
  tern_free(sp);
}

static const tern_provider_vt_t SPHINX_VT = {.kind = "pocketsphinx", .stt_start = stt_start,
                                              .destroy = sphinx_destroy};

int tern_sphinx_provider_create(const tern_sphinx_config_t *cfg, tern_provider_t **out, char *err,
                                size_t errsz) {
  if (!out)
    return TERN_EINVAL;
  *out = NULL;
  sphinx_provider_t *p = tern_calloc(1, sizeof *p);
  if (!p)
    return TERN_ENOMEM;
  int rc = tern_sphinx_pool_create(cfg, &p->pool, err, errsz);
  if (rc) {
    tern_free(p);
    return rc;
  }
  p->max_decoders = cfg && cfg->max_decoders ? cfg->max_decoders : 2;
  p->base.vt = &SPHINX_VT;
  p->base.component = TERN_COMP_STT;
  snprintf(p->base.name, sizeof p->base.name, "pocketsphinx");
  /* Decoding runs at several times real time; a 10 s utterance takes ~2 s. */
  p->base.first_byte_timeout = TERN_SEC(5);
  p->base.idle_timeout = TERN_SEC(5);
  p->base.total_timeout = TERN_SEC(20);
  *out = &p->base;
  return 0;
}
