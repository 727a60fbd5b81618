/* Retry policy, per-attempt retry decisions and the retry budget.
 *
 * A call protected by a retry policy goes like this:
 *
 *   tern_retry_state_init(&st, now);              first attempt starts
 *   tern_retry_attempt_timeout(&pol, &st, now, &t) how long it may take
 *   ... attempt fails with err ...
 *   tern_retry_decide(&pol, &st, &err, delivered, now, draw, &d);
 *   d.action == TERN_RETRY_AGAIN: wait d.delay, start the next attempt
 *   (st was advanced by decide); otherwise stop: GIVE_UP_FAILOVER lets the
 *   fallback chain move to the next provider, GIVE_UP stops altogether
 *   (the request was cancelled: nobody wants the answer any more).
 *
 * Rules, in the order decide applies them: a cancelled request is never
 * retried; once output was delivered nothing is retried (a retry would
 * speak or show it twice; the chain continues from where output stopped);
 * only retryable errors of a kind in the policy's set are retried; at most
 * max_attempts attempts; a Retry-After longer than retry_after_cap is not
 * waited for (fail over instead), a shorter one is honoured (the delay is
 * the longer of it and the backoff); the delay must end before the overall
 * deadline; and the provider's retry budget must have room.
 *
 * The retry budget (per provider, shared by every session, thread-safe)
 * stops retry storms: over a sliding window (10 one-second buckets by
 * default) retries may be at most budget_percent of the first attempts
 * seen, but min_retries are always allowed. A window instead of in-flight
 * counts needs no release call, so a forgotten release cannot leak
 * capacity, and it recovers by itself as time passes: ARCHITECTURE's
 * "min 3 in flight" reads here as "3 per window".
 *
 * Policy code: time and draws come in as arguments.
 */
#ifndef TERN_RETRY_H
#define TERN_RETRY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "tern/backoff.h"
#include "tern/clock.h"
#include "tern/taxonomy.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- retry budget ---- */

#define TERN_RETRY_BUDGET_BUCKETS 10

typedef struct tern_retry_budget_config {
  double budget_percent; /* retries per 100 first attempts in the window (20) */
  unsigned min_retries;  /* always allowed in the window (3) */
  tern_usec_t window;    /* sliding window length (10 s), >= BUCKETS usec */
} tern_retry_budget_config_t;

typedef struct tern_retry_budget {
  /* private */
  pthread_mutex_t mu;
  tern_retry_budget_config_t cfg;
  tern_usec_t bucket_width;
  struct {
    int64_t slot; /* which bucket_width-long span of time this bucket counts */
    uint32_t requests;
    uint32_t retries;
  } b[TERN_RETRY_BUDGET_BUCKETS];
} tern_retry_budget_t;

void tern_retry_budget_config_default(tern_retry_budget_config_t *cfg);
/* cfg NULL gives the defaults. Returns 0, TERN_EINVAL or TERN_ENOMEM. */
int tern_retry_budget_init(tern_retry_budget_t *b, const tern_retry_budget_config_t *cfg);
void tern_retry_budget_destroy(tern_retry_budget_t *b);
/* A first attempt started (retries are not counted here). */
void tern_retry_budget_on_request(tern_retry_budget_t *b, tern_usec_t now);
/* A retry wants to start: true (and the retry is counted) when the window
 * has room, false otherwise. */
bool tern_retry_budget_try_acquire(tern_retry_budget_t *b, tern_usec_t now);
/* First attempts and retries in the window ending at now (metrics, tests). */
void tern_retry_budget_counts(tern_retry_budget_t *b, tern_usec_t now, uint32_t *requests,
                              uint32_t *retries);

/* ---- policy ---- */

typedef struct tern_retry_policy {
  unsigned max_attempts;       /* attempts in all, the first included (3 = 2 retries), >= 1 */
  tern_usec_t attempt_timeout; /* limit on one attempt; 0 = none */
  tern_usec_t deadline;        /* limit on all attempts and waits from the first start; 0 = none */
  uint32_t retryable_kinds;    /* bit (1u << kind) set: that kind may be retried */
  tern_usec_t retry_after_cap; /* longest Retry-After worth waiting for */
  tern_backoff_t backoff;
  tern_retry_budget_t *budget; /* optional, shared per provider; not owned */
} tern_retry_policy_t;

/* ARCHITECTURE defaults: 3 attempts (2 retries), full jitter from 100 ms
 * doubling up to 1 s, Retry-After honoured up to 2 s, the kinds that
 * tern_kind_retryable() names, no timeouts (the guard sets them per
 * component), no budget. */
void tern_retry_policy_default(tern_retry_policy_t *p);
int tern_retry_policy_validate(const tern_retry_policy_t *p);
/* Whether the policy retries errors of this kind. */
bool tern_retry_policy_retries(const tern_retry_policy_t *p, tern_kind_t k);

/* ---- per call ---- */

typedef struct tern_retry_state {
  unsigned attempts;      /* attempts started so far (1 after init) */
  tern_usec_t start;      /* when the first attempt started */
  tern_usec_t prev_delay; /* the last delay waited (decorrelated jitter) */
} tern_retry_state_t;

/* The first attempt starts at now. Counts it in the policy's budget. */
void tern_retry_state_init(tern_retry_state_t *s, const tern_retry_policy_t *p, tern_usec_t now);

/* The time the attempt starting at now may take: min(attempt_timeout, time
 * left before the deadline); -1 when neither limit is set. Returns 0,
 * TERN_ETIMEDOUT when the deadline has already passed, or TERN_EINVAL. */
int tern_retry_attempt_timeout(const tern_retry_policy_t *p, const tern_retry_state_t *s,
                               tern_usec_t now, tern_usec_t *out);

typedef enum tern_retry_action {
  TERN_RETRY_AGAIN = 0,        /* wait delay, then attempt again */
  TERN_RETRY_GIVE_UP_FAILOVER, /* stop retrying this provider; the chain may move on */
  TERN_RETRY_GIVE_UP,          /* stop altogether (cancelled) */
} tern_retry_action_t;

typedef enum tern_retry_reason {
  TERN_RETRY_REASON_NONE = 0, /* retrying */
  TERN_RETRY_REASON_NOT_RETRYABLE,
  TERN_RETRY_REASON_ATTEMPTS_EXHAUSTED,
  TERN_RETRY_REASON_DEADLINE,
  TERN_RETRY_REASON_OUTPUT_DELIVERED,
  TERN_RETRY_REASON_RETRY_AFTER_TOO_LONG,
  TERN_RETRY_REASON_BUDGET_EXHAUSTED,
  TERN_RETRY_REASON_CANCELLED,
  TERN_RETRY_REASON__COUNT
} tern_retry_reason_t;

typedef struct tern_retry_decision {
  tern_retry_action_t action;
  tern_retry_reason_t reason;
  tern_usec_t delay;    /* AGAIN: wait this long */
  tern_usec_t retry_at; /* AGAIN: now + delay */
  unsigned attempt;     /* AGAIN: the number of the attempt about to start (2 = first retry) */
} tern_retry_decision_t;

/* Decide what to do after the attempt that just failed with err at now.
 * output_delivered: whether any of this call's output already reached the
 * caller. draw in [0,1) feeds the jitter. On AGAIN, s is advanced (one
 * more attempt, prev_delay) and a retry is taken from the budget; on a
 * give-up s is left as it was. Returns 0 or TERN_EINVAL. */
int tern_retry_decide(const tern_retry_policy_t *p, tern_retry_state_t *s, const tern_error_t *err,
                      bool output_delivered, tern_usec_t now, double draw,
                      tern_retry_decision_t *out);

/* "retry", "give_up_failover", "give_up"; "not_retryable", "deadline", ... */
const char *tern_retry_action_name(tern_retry_action_t a);
const char *tern_retry_reason_name(tern_retry_reason_t r);

#ifdef __cplusplus
}
#endif
#endif
