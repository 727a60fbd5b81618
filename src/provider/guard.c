/* Guards and their process-wide registry. The registry is a small list
 * behind a mutex: it is touched when sessions start and end, never per
 * call; the per-call work happens inside the breaker, limiter and budget,
 * which are thread-safe themselves. */
#include "tern/guard.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/config.h"
#include "tern/error.h"

void tern_guard_config_default(tern_component_t component, tern_guard_config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  tern_breaker_config_default(&cfg->breaker);
  cfg->limiter_max_wait = TERN_MS(250);
  tern_retry_policy_default(&cfg->retry);
  tern_retry_budget_config_default(&cfg->budget);
  cfg->first_output_timeout = component == TERN_COMP_STT ? TERN_SEC(5) : TERN_SEC(3);
  cfg->idle_timeout = TERN_SEC(2);
  cfg->retry.deadline = TERN_SEC(8);
}

/* Look the key up in [comp.provider] first, then [comp]. */
static const char *pick_section(const tern_config_t *conf, const char *comp, const char *prov,
                                const char *key, char *buf, size_t bufsz) {
  const char *v, *origin;
  if (prov) {
    snprintf(buf, bufsz, "%s.%s", comp, prov);
    if (tern_config_lookup(conf, buf, key, &v, &origin) == 0)
      return buf;
  }
  return comp;
}

#define DUR(key, field, lo, hi)                                                                 \
  do {                                                                                          \
    int64_t ms;                                                                                 \
    const char *sec = pick_section(conf, comp, provider, key, secbuf, sizeof secbuf);          \
    if ((rc = tern_config_get_duration_ms(conf, sec, key, (field) / 1000, lo, hi, &ms, err,    \
                                          errsz)))                                              \
      return rc;                                                                                \
    (field) = TERN_MS(ms);                                                                      \
  } while (0)

#define INT(key, field, lo, hi)                                                                 \
  do {                                                                                          \
    int64_t v;                                                                                  \
    const char *sec = pick_section(conf, comp, provider, key, secbuf, sizeof secbuf);          \
    if ((rc = tern_config_get_int(conf, sec, key, (int64_t)(field), lo, hi, &v, err, errsz)))  \
      return rc;                                                                                \
    (field) = v;                                                                                \
  } while (0)

int tern_guard_config_load(tern_guard_config_t *cfg, const tern_config_t *conf,
                           tern_component_t component, const char *provider, char *err,
                           size_t errsz) {
  const char *comp = tern_component_name(component);
  char secbuf[96];
  int rc;
  DUR("first_byte_timeout_ms", cfg->first_output_timeout, 50, 120000);
  DUR("idle_timeout_ms", cfg->idle_timeout, 50, 120000);
  DUR("attempt_timeout_ms", cfg->retry.attempt_timeout, 0, 600000);
  DUR("deadline_ms", cfg->retry.deadline, 0, 600000);
  int64_t retries = cfg->retry.max_attempts - 1;
  INT("max_retries", retries, 0, 10);
  cfg->retry.max_attempts = (unsigned)retries + 1;
  DUR("retry_base_ms", cfg->retry.backoff.base, 0, 60000);
  DUR("retry_cap_ms", cfg->retry.backoff.cap, 0, 600000);
  if (cfg->retry.backoff.cap < cfg->retry.backoff.base)
    cfg->retry.backoff.cap = cfg->retry.backoff.base;
  DUR("retry_after_cap_ms", cfg->retry.retry_after_cap, 0, 600000);
  {
    static const char *const jit[] = {"none", "full", "equal", "decorrelated", NULL};
    int idx;
    const char *sec = pick_section(conf, comp, provider, "jitter", secbuf, sizeof secbuf);
    if ((rc = tern_config_get_enum(conf, sec, "jitter", jit,
                                   tern_jitter_name(cfg->retry.backoff.jitter), &idx, err, errsz)))
      return rc;
    cfg->retry.backoff.jitter = (tern_jitter_t)idx;
  }
  INT("breaker_failures", cfg->breaker.consecutive_failures, 0, 1000);
  DUR("breaker_window_ms", cfg->breaker.window, 0, 3600000);
  INT("breaker_min_calls", cfg->breaker.min_calls, 1, 100000);
  {
    const char *sec =
        pick_section(conf, comp, provider, "breaker_failure_ratio", secbuf, sizeof secbuf);
    if ((rc = tern_config_get_double(conf, sec, "breaker_failure_ratio",
                                     cfg->breaker.failure_ratio, 0.0, 1.0,
                                     &cfg->breaker.failure_ratio, err, errsz)))
      return rc;
  }
  DUR("breaker_open_ms", cfg->breaker.open_duration, 100, 3600000);
  if (cfg->breaker.open_duration_max < cfg->breaker.open_duration)
    cfg->breaker.open_duration_max = cfg->breaker.open_duration;
  INT("breaker_probes", cfg->breaker.half_open_probes, 1, 100);
  {
    double rate = 0;
    const char *sec = pick_section(conf, comp, provider, "rate_per_sec", secbuf, sizeof secbuf);
    if ((rc = tern_config_get_double(conf, sec, "rate_per_sec", 0.0, 0.0, 1e6, &rate, err, errsz)))
      return rc;
    if (rate > 0) {
      /* tokens per period in integers: rate per second as tokens per ms*1000 */
      cfg->limiter.tokens = (uint32_t)(rate * 1000.0 + 0.5);
      cfg->limiter.period = TERN_SEC(1000);
      if (cfg->limiter.tokens == 0)
        cfg->limiter.tokens = 1;
      if (cfg->limiter.burst == 0)
        cfg->limiter.burst = (uint32_t)(rate < 1 ? 1 : rate);
    }
    INT("burst", cfg->limiter.burst, 0, 1000000);
  }
  INT("max_concurrent", cfg->bulkhead.max_concurrent, 0, 1000000);
  return 0;
}

int tern_guard_create(tern_component_t component, const char *name,
                      const tern_guard_config_t *cfg, tern_guard_t **out) {
  const char *reason = NULL;
  if (tern_breaker_config_validate(&cfg->breaker, &reason) ||
      tern_retry_policy_validate(&cfg->retry) ||
      (cfg->limiter.tokens && tern_limiter_config_validate(&cfg->limiter, &reason)) ||
      (cfg->bulkhead.max_concurrent && tern_bulkhead_config_validate(&cfg->bulkhead, &reason)))
    return TERN_EINVAL;
  tern_guard_t *g = tern_calloc(1, sizeof *g);
  if (!g)
    return TERN_ENOMEM;
  snprintf(g->name, sizeof g->name, "%s", name);
  g->component = component;
  g->cfg = *cfg;
  int rc = tern_breaker_create(&cfg->breaker, name, &g->breaker);
  if (!rc && cfg->limiter.tokens)
    rc = tern_limiter_create(&cfg->limiter, &g->limiter);
  if (!rc && cfg->bulkhead.max_concurrent)
    rc = tern_bulkhead_create(&cfg->bulkhead, &g->bulkhead);
  if (!rc)
    rc = tern_retry_budget_init(&g->budget, &cfg->budget);
  if (rc) {
    tern_bulkhead_destroy(g->bulkhead);
    tern_limiter_destroy(g->limiter);
    tern_breaker_destroy(g->breaker);
    tern_free(g);
    return rc;
  }
  g->retry = cfg->retry;
  g->retry.budget = &g->budget;
  *out = g;
  return 0;
}

void tern_guard_destroy(tern_guard_t *g) {
  if (!g)
    return;
  tern_retry_budget_destroy(&g->budget);
  tern_bulkhead_destroy(g->bulkhead);
  tern_limiter_destroy(g->limiter);
  tern_breaker_destroy(g->breaker);
  tern_free(g);
}

tern_breaker_outcome_t tern_guard_outcome(const tern_error_t *err) {
  if (!err)
    return TERN_BREAKER_SUCCESS;
  switch (err->kind) {
  case TERN_KIND_CANCELLED:
  case TERN_KIND_INVALID_REQUEST:
  case TERN_KIND_CONTEXT_LENGTH:
  case TERN_KIND_UNAVAILABLE:
    return TERN_BREAKER_IGNORED;
  default:
    return TERN_BREAKER_FAILURE;
  }
}

/* ---- registry ---------------------------------------------------------- */

typedef struct entry {
  struct entry *next;
  tern_guard_t *g;
  int refs;
} entry_t;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static entry_t *g_list;

int tern_guards_get(tern_component_t component, const char *name, const tern_guard_config_t *cfg,
                    tern_guard_t **out) {
  int rc = 0;
  pthread_mutex_lock(&g_mu);
  entry_t *e = g_list;
  while (e && !(e->g->component == component && !strcmp(e->g->name, name)))
    e = e->next;
  if (!e) {
    e = tern_calloc(1, sizeof *e);
    if (!e) {
      rc = TERN_ENOMEM;
      goto out;
    }
    if ((rc = tern_guard_create(component, name, cfg, &e->g))) {
      tern_free(e);
      goto out;
    }
    e->next = g_list;
    g_list = e;
  }
  e->refs++;
  *out = e->g;
out:
  pthread_mutex_unlock(&g_mu);
  return rc;
}

void tern_guards_put(tern_guard_t *g) {
  if (!g)
    return;
  pthread_mutex_lock(&g_mu);
  for (entry_t **pp = &g_list; *pp; pp = &(*pp)->next) {
    entry_t *e = *pp;
    if (e->g != g)
      continue;
    if (--e->refs == 0) {
      *pp = e->next;
      tern_guard_destroy(e->g);
      tern_free(e);
    }
    break;
  }
  pthread_mutex_unlock(&g_mu);
}

void tern_guards_foreach(void (*fn)(tern_guard_t *g, void *ud), void *ud) {
  pthread_mutex_lock(&g_mu);
  for (entry_t *e = g_list; e; e = e->next)
    fn(e->g, ud);
  pthread_mutex_unlock(&g_mu);
}
