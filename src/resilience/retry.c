/* Retry policy, retry decisions and the per-provider retry budget (see
 * include/tern/retry.h for the rules and the budget model).
 *
 * Invariants: tern_retry_decide changes the state and takes a retry from
 * the budget only when it answers AGAIN, so a give-up leaves everything as
 * it was. A delay handed out always ends strictly before the overall
 * deadline. The budget's buckets are only read and written under its
 * mutex; a bucket is reused for a newer span of time by zeroing it, so the
 * window slides without any timer.
 */
#include "tern/retry.h"

#include <math.h>

#include "tern/error.h"

/* ---- budget ----------------------------------------------------------- */

void tern_retry_budget_config_default(tern_retry_budget_config_t *cfg) {
  cfg->budget_percent = 20.0;
  cfg->min_retries = 3;
  cfg->window = TERN_SEC(10);
}

int tern_retry_budget_init(tern_retry_budget_t *b, const tern_retry_budget_config_t *cfg) {
  tern_retry_budget_config_t def;
  if (!b)
    return TERN_EINVAL;
  if (!cfg) {
    tern_retry_budget_config_default(&def);
    cfg = &def;
  }
  if (!isfinite(cfg->budget_percent) || cfg->budget_percent < 0.0 ||
      cfg->window < TERN_RETRY_BUDGET_BUCKETS)
    return TERN_EINVAL;
  b->cfg = *cfg;
  b->bucket_width = cfg->window / TERN_RETRY_BUDGET_BUCKETS;
  for (int i = 0; i < TERN_RETRY_BUDGET_BUCKETS; i++) {
    b->b[i].slot = INT64_MIN;
    b->b[i].requests = b->b[i].retries = 0;
  }
  return pthread_mutex_init(&b->mu, NULL) == 0 ? 0 : TERN_ENOMEM;
}

void tern_retry_budget_destroy(tern_retry_budget_t *b) {
  if (b)
    pthread_mutex_destroy(&b->mu);
}

static int64_t slot_of(const tern_retry_budget_t *b, tern_usec_t now) {
  int64_t q = now / b->bucket_width;
  return (now % b->bucket_width < 0) ? q - 1 : q; /* floor, for times before 0 */
}

/* The bucket counting now, emptied first if it still holds an older span.
 * NULL when it already counts a newer span (a caller whose `now` lags a
 * whole window behind the others): such an event is not counted. */
static int bucket_for(tern_retry_budget_t *b, tern_usec_t now) {
  int64_t slot = slot_of(b, now);
  int i = (int)(((slot % TERN_RETRY_BUDGET_BUCKETS) + TERN_RETRY_BUDGET_BUCKETS) %
                TERN_RETRY_BUDGET_BUCKETS);
  if (b->b[i].slot > slot)
    return -1;
  if (b->b[i].slot != slot) {
    b->b[i].slot = slot;
    b->b[i].requests = b->b[i].retries = 0;
  }
  return i;
}

static void sum_window(const tern_retry_budget_t *b, tern_usec_t now, uint32_t *req,
                       uint32_t *ret) {
  int64_t cur = slot_of(b, now);
  uint64_t rq = 0, rt = 0;
  for (int i = 0; i < TERN_RETRY_BUDGET_BUCKETS; i++) {
    if (b->b[i].slot <= cur && b->b[i].slot > cur - TERN_RETRY_BUDGET_BUCKETS) {
      rq += b->b[i].requests;
      rt += b->b[i].retries;
    }
  }
  *req = rq > UINT32_MAX ? UINT32_MAX : (uint32_t)rq;
  *ret = rt > UINT32_MAX ? UINT32_MAX : (uint32_t)rt;
}

void tern_retry_budget_on_request(tern_retry_budget_t *b, tern_usec_t now) {
  if (!b)
    return;
  pthread_mutex_lock(&b->mu);
  int i = bucket_for(b, now);
  if (i >= 0 && b->b[i].requests < UINT32_MAX)
    b->b[i].requests++;
  pthread_mutex_unlock(&b->mu);
}

bool tern_retry_budget_try_acquire(tern_retry_budget_t *b, tern_usec_t now) {
  if (!b)
    return true;
  pthread_mutex_lock(&b->mu);
  uint32_t req, ret;
  sum_window(b, now, &req, &ret);
  /* The small epsilon keeps 15 * 20 % from flooring to 2. */
  double share = floor((double)req * b->cfg.budget_percent / 100.0 + 1e-9);
  double allowed = share > (double)b->cfg.min_retries ? share : (double)b->cfg.min_retries;
  bool ok = (double)ret < allowed;
  if (ok) {
    int i = bucket_for(b, now);
    if (i >= 0 && b->b[i].retries < UINT32_MAX)
      b->b[i].retries++;
  }
  pthread_mutex_unlock(&b->mu);
  return ok;
}

void tern_retry_budget_counts(tern_retry_budget_t *b, tern_usec_t now, uint32_t *requests,
                              uint32_t *retries) {
  uint32_t rq = 0, rt = 0;
  if (b) {
    pthread_mutex_lock(&b->mu);
    sum_window(b, now, &rq, &rt);
    pthread_mutex_unlock(&b->mu);
  }
  if (requests)
    *requests = rq;
  if (retries)
    *retries = rt;
}

/* ---- policy ----------------------------------------------------------- */

void tern_retry_policy_default(tern_retry_policy_t *p) {
  p->max_attempts = 3;
  p->attempt_timeout = 0;
  p->deadline = 0;
  p->retryable_kinds = 0;
  for (int k = 0; k < TERN_KIND__COUNT; k++)
    if (tern_kind_retryable((tern_kind_t)k))
      p->retryable_kinds |= 1u << k;
  p->retry_after_cap = TERN_SEC(2);
  tern_backoff_init_exponential(&p->backoff, TERN_MS(100), 2.0, TERN_SEC(1), TERN_JITTER_FULL);
  p->budget = NULL;
}

int tern_retry_policy_validate(const tern_retry_policy_t *p) {
  if (!p || p->max_attempts < 1 || p->attempt_timeout < 0 || p->deadline < 0 ||
      p->retry_after_cap < 0 || tern_backoff_validate(&p->backoff) != 0)
    return TERN_EINVAL;
  return 0;
}

bool tern_retry_policy_retries(const tern_retry_policy_t *p, tern_kind_t k) {
  return p && (unsigned)k < TERN_KIND__COUNT && (p->retryable_kinds & (1u << k)) != 0;
}

void tern_retry_state_init(tern_retry_state_t *s, const tern_retry_policy_t *p, tern_usec_t now) {
  s->attempts = 1;
  s->start = now;
  s->prev_delay = 0;
  if (p && p->budget)
    tern_retry_budget_on_request(p->budget, now);
}

int tern_retry_attempt_timeout(const tern_retry_policy_t *p, const tern_retry_state_t *s,
                               tern_usec_t now, tern_usec_t *out) {
  if (!p || !s || !out)
    return TERN_EINVAL;
  tern_usec_t t = p->attempt_timeout > 0 ? p->attempt_timeout : -1;
  if (p->deadline > 0) {
    tern_usec_t left = s->start + p->deadline - now;
    if (left <= 0)
      return TERN_ETIMEDOUT;
    if (t < 0 || left < t)
      t = left;
  }
  *out = t;
  return 0;
}

static int give_up(tern_retry_decision_t *out, tern_retry_action_t a, tern_retry_reason_t r) {
  out->action = a;
  out->reason = r;
  return 0;
}

int tern_retry_decide(const tern_retry_policy_t *p, tern_retry_state_t *s, const tern_error_t *err,
                      bool output_delivered, tern_usec_t now, double draw,
                      tern_retry_decision_t *out) {
  if (!s || !err || !out || tern_retry_policy_validate(p) != 0 || !(draw >= 0.0 && draw < 1.0))
    return TERN_EINVAL;
  out->delay = 0;
  out->retry_at = 0;
  out->attempt = s->attempts;
  if (err->kind == TERN_KIND_CANCELLED)
    return give_up(out, TERN_RETRY_GIVE_UP, TERN_RETRY_REASON_CANCELLED);
  if (output_delivered)
    return give_up(out, TERN_RETRY_GIVE_UP_FAILOVER, TERN_RETRY_REASON_OUTPUT_DELIVERED);
  if (!err->retryable || !tern_retry_policy_retries(p, err->kind))
    return give_up(out, TERN_RETRY_GIVE_UP_FAILOVER, TERN_RETRY_REASON_NOT_RETRYABLE);
  if (s->attempts >= p->max_attempts)
    return give_up(out, TERN_RETRY_GIVE_UP_FAILOVER, TERN_RETRY_REASON_ATTEMPTS_EXHAUSTED);

  tern_usec_t delay;
  int rc = tern_backoff_next(&p->backoff, s->attempts - 1, s->prev_delay, draw, &delay);
  if (rc != 0)
    return rc;
  if (err->retry_after >= 0) {
    if (err->retry_after > p->retry_after_cap)
      return give_up(out, TERN_RETRY_GIVE_UP_FAILOVER, TERN_RETRY_REASON_RETRY_AFTER_TOO_LONG);
    /* Wait at least what the provider asked; the jittered backoff on top
     * keeps callers told the same Retry-After from returning in step. */
    if (err->retry_after > delay)
      delay = err->retry_after;
  }
  if (p->deadline > 0 && now + delay >= s->start + p->deadline)
    return give_up(out, TERN_RETRY_GIVE_UP_FAILOVER, TERN_RETRY_REASON_DEADLINE);
  /* Last, so a retry that will not happen anyway takes nothing from it. */
  if (p->budget && !tern_retry_budget_try_acquire(p->budget, now))
    return give_up(out, TERN_RETRY_GIVE_UP_FAILOVER, TERN_RETRY_REASON_BUDGET_EXHAUSTED);

  s->attempts++;
  s->prev_delay = delay;
  out->action = TERN_RETRY_AGAIN;
  out->reason = TERN_RETRY_REASON_NONE;
  out->delay = delay;
  out->retry_at = now + delay;
  out->attempt = s->attempts;
  return 0;
}

const char *tern_retry_action_name(tern_retry_action_t a) {
  switch (a) {
  case TERN_RETRY_AGAIN:
    return "retry";
  case TERN_RETRY_GIVE_UP_FAILOVER:
    return "give_up_failover";
  case TERN_RETRY_GIVE_UP:
    return "give_up";
  }
  return "unknown";
}

const char *tern_retry_reason_name(tern_retry_reason_t r) {
  static const char *const names[TERN_RETRY_REASON__COUNT] = {
      "none",
      "not_retryable",
      "attempts_exhausted",
      "deadline",
      "output_delivered",
      "retry_after_too_long",
      "budget_exhausted",
      "cancelled",
  };
  return (unsigned)r < TERN_RETRY_REASON__COUNT ? names[r] : "unknown";
}
