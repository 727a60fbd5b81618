/* pocketsphinx decoder pool.
 *
 * Invariants (under pool->lock): 0 <= borrowed <= created <= max; the free
 * list holds created - borrowed - loading decoders. A slot is reserved
 * (`loading`) before a decoder is built outside the lock, so a slow model
 * load never blocks other borrowers, and a failed load gives the slot
 * back and wakes a waiter. Decoders are built one at a time process-wide
 * (g_init_lock) because sphinxbase keeps process-wide state while it
 * loads (its log stream, its option tables). Logging is switched off once
 * for the process (err_set_logfp(NULL)) rather than per decoder with
 * "-logfn": that option makes every decoder reopen one shared FILE that
 * other decoders may be writing to at the same moment. */
#include "tern/sphinx.h"

#include <pocketsphinx.h>
#include <sphinxbase/err.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "provider/pcm_resample.h"
#include "tern/alloc.h"
#include "tern/error.h"

struct tern_sphinx_decoder {
  tern_sphinx_pool_t *pool;
  ps_decoder_t *ps;
  tern__rs_t *rs; /* only while an utterance at another rate is open */
  int in_utt;
  int failed; /* pocketsphinx refused audio in this utterance */
  tern_sphinx_decoder_t *next;
};

struct tern_sphinx_pool {
  pthread_mutex_t lock;
  pthread_cond_t freed;
  int max, created, borrowed, loading, waiting;
  tern_sphinx_decoder_t *free_list;
  char *hmm, *dict, *lm, *jsgf, *keyphrase;
  double kws_threshold;
};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t g_init_lock = PTHREAD_MUTEX_INITIALIZER;

static void quiet_sphinx(void) { err_set_logfp(NULL); }

static void set_err(char *err, size_t errsz, const char *fmt, const char *arg) {
  if (err && errsz)
    snprintf(err, errsz, fmt, arg);
}

static char *join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *s = tern_malloc(n);
  if (s)
    snprintf(s, n, "%s/%s", dir, name);
  return s;
}

static int dup_opt(const char *given, const char *fallback_name, char **out) {
  /* Written as two plain branches: GCC's -O3 inliner otherwise "sees" a
   * NULL fallback_name reaching join() and fails the Release build. */
  *out = NULL;
  if (given)
    *out = tern_strdup(given);
  else if (fallback_name)
    *out = join(TERN_SPHINX_MODEL_DIR, fallback_name);
  else
    return 0;
  return *out ? 0 : TERN_ENOMEM;
}

/* Builds one decoder; outside pool->lock. */
static int decoder_new(tern_sphinx_pool_t *pool, tern_sphinx_decoder_t **out, char *err,
                       size_t errsz) {
  *out = NULL;
  tern_sphinx_decoder_t *d = tern_calloc(1, sizeof *d);
  if (!d)
    return TERN_ENOMEM;
  d->pool = pool;
  char thr[32];
  snprintf(thr, sizeof thr, "%g", pool->kws_threshold > 0 ? pool->kws_threshold : 1e-20);
  const char *argv[16];
  int argc = 0;
  argv[argc++] = "-hmm";
  argv[argc++] = pool->hmm;
  argv[argc++] = "-dict";
  argv[argc++] = pool->dict;
  if (pool->jsgf) {
    argv[argc++] = "-jsgf";
    argv[argc++] = pool->jsgf;
  } else if (pool->keyphrase) {
    argv[argc++] = "-keyphrase";
    argv[argc++] = pool->keyphrase;
    argv[argc++] = "-kws_threshold";
    argv[argc++] = thr;
  } else {
    argv[argc++] = "-lm";
    argv[argc++] = pool->lm;
  }
  pthread_once(&g_once, quiet_sphinx);
  pthread_mutex_lock(&g_init_lock);
  cmd_ln_t *cfg = cmd_ln_parse_r(NULL, ps_args(), argc, (char **)argv, FALSE);
  if (cfg)
    d->ps = ps_init(cfg);
  cmd_ln_free_r(cfg); /* the decoder keeps its own reference */
  pthread_mutex_unlock(&g_init_lock);
  if (!d->ps) {
    tern_free(d);
    set_err(err, errsz, "pocketsphinx could not load its model or options (%s)",
            pool->jsgf ? "check the grammar file" : pool->keyphrase ? "check the keyphrase words"
                                                                    : "check hmm, dict and lm");
    return TERN_ECONFIG;
  }
  *out = d;
  return 0;
}

static void decoder_free(tern_sphinx_decoder_t *d) {
  if (!d)
    return;
  if (d->in_utt)
    ps_end_utt(d->ps);
  tern__rs_destroy(d->rs);
  ps_free(d->ps);
  tern_free(d);
}

void tern_sphinx_pool_destroy(tern_sphinx_pool_t *pool) {
  if (!pool)
    return;
  while (pool->free_list) {
    tern_sphinx_decoder_t *d = pool->free_list;
    pool->free_list = d->next;
    decoder_free(d);
  }
  pthread_mutex_destroy(&pool->lock);
  pthread_cond_destroy(&pool->freed);
  tern_free(pool->hmm);
  tern_free(pool->dict);
  tern_free(pool->lm);
  tern_free(pool->jsgf);
  tern_free(pool->keyphrase);
  tern_free(pool);
}

static int check_file(const char *path, const char *what, char *err, size_t errsz) {
  if (path && access(path, R_OK) != 0) {
    if (err && errsz)
      snprintf(err, errsz, "pocketsphinx %s not found: %s", what, path);
    return TERN_ENOENT;
  }
  return 0;
}

/* sphinxbase's grammar lexer echoes what it cannot parse to stdout, so a
 * file that is plainly not JSGF is refused before it gets there. */
static int check_jsgf(const char *path, char *err, size_t errsz) {
  char head[5] = {0};
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(head, 1, sizeof head, f) : 0;
  if (f)
    fclose(f);
  if (n < 5 || memcmp(head, "#JSGF", 5) != 0) {
    set_err(err, errsz, "not a JSGF grammar (no '#JSGF' header): %s", path);
    return TERN_ECONFIG;
  }
  return 0;
}

int tern_sphinx_pool_create(const tern_sphinx_config_t *cfg, tern_sphinx_pool_t **out, char *err,
                            size_t errsz) {
  *out = NULL;
  tern_sphinx_config_t def = {0};
  if (!cfg)
    cfg = &def;
  int max = cfg->max_decoders ? cfg->max_decoders : 2;
  if (max < 1 || max > 64) {
    set_err(err, errsz, "%s", "max_decoders must be between 1 and 64");
    return TERN_EINVAL;
  }
  if (cfg->jsgf && cfg->keyphrase) {
    set_err(err, errsz, "%s", "give either a JSGF grammar or a keyphrase, not both");
    return TERN_EINVAL;
  }
  if (cfg->keyphrase && !cfg->keyphrase[0]) {
    set_err(err, errsz, "%s", "the keyphrase is empty");
    return TERN_EINVAL;
  }
  tern_sphinx_pool_t *p = tern_calloc(1, sizeof *p);
  if (!p)
    return TERN_ENOMEM;
  if (pthread_mutex_init(&p->lock, NULL)) {
    tern_free(p);
    return TERN_ENOMEM;
  }
  if (pthread_cond_init(&p->freed, NULL)) {
    pthread_mutex_destroy(&p->lock);
    tern_free(p);
    return TERN_ENOMEM;
  }
  p->max = max;
  p->kws_threshold = cfg->kws_threshold;
  int use_lm = !cfg->jsgf && !cfg->keyphrase;
  int rc = dup_opt(cfg->hmm, "en-us", &p->hmm);
  if (!rc)
    rc = dup_opt(cfg->dict, "cmudict-en-us.dict", &p->dict);
  if (!rc && use_lm)
    rc = dup_opt(cfg->lm, "en-us.lm.bin", &p->lm);
  if (!rc)
    rc = dup_opt(cfg->jsgf, NULL, &p->jsgf);
  if (!rc)
    rc = dup_opt(cfg->keyphrase, NULL, &p->keyphrase);
  if (!rc)
    rc = check_file(p->hmm, "acoustic model", err, errsz);
  if (!rc) {
    char *mdef = join(p->hmm, "mdef");
    rc = mdef ? check_file(mdef, "acoustic model", err, errsz) : TERN_ENOMEM;
    tern_free(mdef);
  }
  if (!rc)
    rc = check_file(p->dict, "dictionary", err, errsz);
  if (!rc)
    rc = check_file(p->lm, "language model", err, errsz);
  if (!rc)
    rc = check_file(p->jsgf, "grammar", err, errsz);
  if (!rc && p->jsgf)
    rc = check_jsgf(p->jsgf, err, errsz);
  tern_sphinx_decoder_t *first = NULL;
  if (!rc)
    rc = decoder_new(p, &first, err, errsz);
  if (rc) {
    tern_sphinx_pool_destroy(p);
    return rc;
  }
  p->created = 1;
  p->free_list = first;
  *out = p;
  return 0;
}

static int acquire(tern_sphinx_pool_t *pool, tern_sphinx_decoder_t **out, int wait) {
  *out = NULL;
  pthread_mutex_lock(&pool->lock);
  for (;;) {
    if (pool->free_list) {
      tern_sphinx_decoder_t *d = pool->free_list;
      pool->free_list = d->next;
      d->next = NULL;
      pool->borrowed++;
      pthread_mutex_unlock(&pool->lock);
      *out = d;
      return 0;
    }
    if (pool->created < pool->max) {
      pool->created++;
      pool->loading++;
      pthread_mutex_unlock(&pool->lock);
      tern_sphinx_decoder_t *d = NULL;
      int rc = decoder_new(pool, &d, NULL, 0);
      pthread_mutex_lock(&pool->lock);
      pool->loading--;
      if (rc) {
        pool->created--;
        pthread_cond_signal(&pool->freed); /* the slot is free again */
        pthread_mutex_unlock(&pool->lock);
        return rc;
      }
      pool->borrowed++;
      pthread_mutex_unlock(&pool->lock);
      *out = d;
      return 0;
    }
    if (!wait) {
      pthread_mutex_unlock(&pool->lock);
      return TERN_EBUSY;
    }
    pool->waiting++;
    pthread_cond_wait(&pool->freed, &pool->lock);
    pool->waiting--;
  }
}

int tern_sphinx_acquire(tern_sphinx_pool_t *pool, tern_sphinx_decoder_t **out) {
  if (!pool || !out)
    return TERN_EINVAL;
  return acquire(pool, out, 1);
}

int tern_sphinx_try_acquire(tern_sphinx_pool_t *pool, tern_sphinx_decoder_t **out) {
  if (!pool || !out)
    return TERN_EINVAL;
  return acquire(pool, out, 0);
}

void tern_sphinx_release(tern_sphinx_decoder_t *d) {
  if (!d)
    return;
  if (d->in_utt) {
    ps_end_utt(d->ps);
    d->in_utt = 0;
  }
  tern__rs_destroy(d->rs);
  d->rs = NULL;
  tern_sphinx_pool_t *pool = d->pool;
  pthread_mutex_lock(&pool->lock);
  d->next = pool->free_list;
  pool->free_list = d;
  pool->borrowed--;
  pthread_cond_signal(&pool->freed);
  pthread_mutex_unlock(&pool->lock);
}

void tern_sphinx_pool_stats(tern_sphinx_pool_t *pool, int *created, int *borrowed, int *waiting) {
  pthread_mutex_lock(&pool->lock);
  if (waiting)
    *waiting = pool->waiting;
  if (created)
    *created = pool->created;
  if (borrowed)
    *borrowed = pool->borrowed;
  pthread_mutex_unlock(&pool->lock);
}

int tern_sphinx_begin(tern_sphinx_decoder_t *d, int sample_rate) {
  if (!d || sample_rate < 8000 || sample_rate > 48000)
    return TERN_EINVAL;
  if (d->in_utt)
    return TERN_ESTATE;
  if (sample_rate != TERN_SPHINX_RATE) {
    int rc = tern__rs_create(sample_rate, TERN_SPHINX_RATE, &d->rs);
    if (rc)
      return rc;
  }
  if (ps_start_utt(d->ps) < 0) {
    tern__rs_destroy(d->rs);
    d->rs = NULL;
    return TERN_EPROVIDER;
  }
  d->in_utt = 1;
  d->failed = 0;
  return 0;
}

static int to_decoder(void *ud, const int16_t *pcm, size_t n) {
  tern_sphinx_decoder_t *d = ud;
  if (ps_process_raw(d->ps, pcm, n, FALSE, FALSE) < 0) {
    d->failed = 1;
    return 1;
  }
  return 0;
}

int tern_sphinx_feed(tern_sphinx_decoder_t *d, const int16_t *pcm, size_t n) {
  if (!d || (!pcm && n))
    return TERN_EINVAL;
  if (!d->in_utt)
    return TERN_ESTATE;
  if (n == 0)
    return 0;
  int rc = d->rs ? tern__rs_push(d->rs, pcm, n, to_decoder, d) : (to_decoder(d, pcm, n) ? TERN_ECANCELED : 0);
  if (d->failed)
    return TERN_EPROVIDER;
  return rc;
}

int tern_sphinx_partial(tern_sphinx_decoder_t *d, char **text) {
  *text = NULL;
  if (!d->in_utt)
    return TERN_ESTATE;
  int32 score = 0;
  const char *hyp = ps_get_hyp(d->ps, &score);
  *text = tern_strdup(hyp ? hyp : "");
  return *text ? 0 : TERN_ENOMEM;
}

static int take_result(tern_sphinx_decoder_t *d, tern_sphinx_result_t *out) {
  int32 score = 0;
  const char *hyp = ps_get_hyp(d->ps, &score);
  out->text = tern_strdup(hyp ? hyp : "");
  if (!out->text)
    return TERN_ENOMEM;
  double conf = 0.0;
  if (hyp && hyp[0]) {
    conf = logmath_exp(ps_get_logmath(d->ps), ps_get_prob(d->ps));
    if (!(conf >= 0.0)) /* NaN too */
      conf = 0.0;
    if (conf > 1.0)
      conf = 1.0;
  }
  out->confidence = conf;
  return 0;
}

int tern_sphinx_end(tern_sphinx_decoder_t *d, tern_sphinx_result_t *out) {
  out->text = NULL;
  out->confidence = 0.0;
  if (!d->in_utt)
    return TERN_ESTATE;
  int rc = 0;
  if (d->rs)
    rc = tern__rs_finish(d->rs, to_decoder, d);
  tern__rs_destroy(d->rs);
  d->rs = NULL;
  d->in_utt = 0;
  if (ps_end_utt(d->ps) < 0 || d->failed || rc)
    return rc == TERN_ENOMEM ? rc : TERN_EPROVIDER;
  return take_result(d, out);
}

/* Collects resampled audio into one buffer so the decoder sees the whole
 * utterance at once (full-utterance normalisation is more accurate). */
typedef struct collect {
  int16_t *buf;
  size_t n, cap;
} collect_t;

static int to_buffer(void *ud, const int16_t *pcm, size_t n) {
  collect_t *c = ud;
  if (c->n + n > c->cap)
    return 1;
  memcpy(c->buf + c->n, pcm, n * sizeof *pcm);
  c->n += n;
  return 0;
}

int tern_sphinx_decode_utt(tern_sphinx_decoder_t *d, const int16_t *pcm, size_t n,
                           int sample_rate, tern_sphinx_result_t *out) {
  out->text = NULL;
  out->confidence = 0.0;
  if (!d || (!pcm && n) || sample_rate < 8000 || sample_rate > 48000)
    return TERN_EINVAL;
  if (d->in_utt)
    return TERN_ESTATE;
  collect_t c = {0};
  if (sample_rate != TERN_SPHINX_RATE) {
    tern__rs_t *rs = NULL;
    c.cap = (size_t)((uint64_t)n * TERN_SPHINX_RATE / (uint64_t)sample_rate) + 2;
    c.buf = tern_malloc(c.cap * sizeof *c.buf);
    if (!c.buf)
      return TERN_ENOMEM;
    int rc = tern__rs_create(sample_rate, TERN_SPHINX_RATE, &rs);
    if (!rc)
      rc = tern__rs_push(rs, pcm, n, to_buffer, &c);
    if (!rc)
      rc = tern__rs_finish(rs, to_buffer, &c);
    tern__rs_destroy(rs);
    if (rc) {
      tern_free(c.buf);
      return rc == TERN_ECANCELED ? TERN_EPROVIDER : rc;
    }
    pcm = c.buf;
    n = c.n;
  }
  int rc;
  if (ps_start_utt(d->ps) < 0) {
    rc = TERN_EPROVIDER;
  } else {
    int bad = n > 0 && ps_process_raw(d->ps, pcm, n, FALSE, TRUE) < 0;
    if (ps_end_utt(d->ps) < 0 || bad)
      rc = TERN_EPROVIDER;
    else
      rc = take_result(d, out);
  }
  tern_free(c.buf);
  return rc;
}

int tern_sphinx_decode(tern_sphinx_pool_t *pool, const int16_t *pcm, size_t n, int sample_rate,
                       tern_sphinx_result_t *out) {
  out->text = NULL;
  out->confidence = 0.0;
  if (!pool || (!pcm && n) || sample_rate < 8000 || sample_rate > 48000)
    return TERN_EINVAL;
  tern_sphinx_decoder_t *d = NULL;
  int rc = tern_sphinx_acquire(pool, &d);
  if (rc)
    return rc;
  rc = tern_sphinx_decode_utt(d, pcm, n, sample_rate, out);
  tern_sphinx_release(d);
  return rc;
}

void tern_sphinx_result_free(tern_sphinx_result_t *r) {
  if (!r)
    return;
  tern_free(r->text);
  r->text = NULL;
}
