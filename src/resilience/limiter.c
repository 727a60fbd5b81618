/* Token-bucket limiter (see include/tern/limiter.h).
 *
 * Invariants: 0 <= level <= cap, where one token is `period` units and cap
 * is burst * period (validated to fit comfortably in int64); `last` is the
 * latest `now` seen, and the level is exact as of `last`. Each elapsed
 * microsecond adds `tokens` units, so there is no rounding anywhere except
 * the final ceiling of a wait.
 */
#include "tern/limiter.h"

#include <pthread.h>
#include <stdbool.h>

#include "tern/alloc.h"
#include "tern/error.h"

struct tern_limiter {
  pthread_mutex_t mu;
  int64_t unit; /* units per token (= period) */
  int64_t rate; /* units per microsecond (= tokens) */
  int64_t cap;  /* burst * unit */
  uint32_t burst;
  int64_t level; /* guarded by mu, as are the next two */
  tern_usec_t last;
  bool started;
};

#define LIMITER_MAX_UNITS (INT64_MAX / 4)

int tern_limiter_config_validate(const tern_limiter_config_t *cfg, const char **reason) {
  const char *why = NULL;
  if (!cfg)
    why = "no configuration";
  else if (cfg->tokens < 1)
    why = "tokens per period must be at least 1";
  else if (cfg->period < 1)
    why = "period must be at least 1 microsecond";
  else if (cfg->burst < 1)
    why = "burst must be at least 1";
  else if ((int64_t)cfg->burst > LIMITER_MAX_UNITS / cfg->period)
    why = "burst * period is too large";
  if (reason)
    *reason = why;
  return why ? TERN_EINVAL : 0;
}

int tern_limiter_create(const tern_limiter_config_t *cfg, tern_limiter_t **out) {
  if (!out)
    return TERN_EINVAL;
  *out = NULL;
  int rc = tern_limiter_config_validate(cfg, NULL);
  if (rc)
    return rc;
  tern_limiter_t *l = tern_calloc(1, sizeof *l);
  if (!l)
    return TERN_ENOMEM;
  if (pthread_mutex_init(&l->mu, NULL) != 0) {
    tern_free(l);
    return TERN_ENOMEM;
  }
  l->unit = cfg->period;
  l->rate = cfg->tokens;
  l->burst = cfg->burst;
  l->cap = (int64_t)cfg->burst * cfg->period;
  l->level = l->cap;
  *out = l;
  return 0;
}

void tern_limiter_destroy(tern_limiter_t *l) {
  if (!l)
    return;
  pthread_mutex_destroy(&l->mu);
  tern_free(l);
}

/* Bring the level up to `now`. The gap is compared against the time to fill
 * before multiplying, so a gap of years cannot overflow. */
static void refill(tern_limiter_t *l, tern_usec_t now) {
  if (!l->started) {
    l->started = true;
    l->last = now;
    return;
  }
  if (now <= l->last)
    return;
  int64_t missing = l->cap - l->level;
  /* Subtraction of two int64 times can overflow only across ~292k years;
   * treat such a gap as "long enough to fill". */
  bool huge = (l->last < 0 && now > INT64_MAX + l->last);
  int64_t dt = huge ? INT64_MAX : now - l->last;
  if (dt >= (missing + l->rate - 1) / l->rate)
    l->level = l->cap;
  else
    l->level += dt * l->rate;
  l->last = now;
}

int tern_limiter_try_acquire(tern_limiter_t *l, uint32_t n, tern_usec_t now, tern_usec_t *wait_us) {
  if (wait_us)
    *wait_us = 0;
  if (!l)
    return TERN_EINVAL;
  if (n > l->burst)
    return TERN_EINVAL;
  int64_t need = (int64_t)n * l->unit;
  int rc = 0;
  pthread_mutex_lock(&l->mu);
  refill(l, now);
  if (l->level >= need) {
    l->level -= need;
  } else {
    rc = TERN_EAGAIN;
    if (wait_us)
      *wait_us = (need - l->level + l->rate - 1) / l->rate;
  }
  pthread_mutex_unlock(&l->mu);
  return rc;
}

int tern_limiter_available(tern_limiter_t *l, tern_usec_t now, uint32_t *tokens) {
  if (!l || !tokens)
    return TERN_EINVAL;
  pthread_mutex_lock(&l->mu);
  refill(l, now);
  *tokens = (uint32_t)(l->level / l->unit);
  pthread_mutex_unlock(&l->mu);
  return 0;
}
