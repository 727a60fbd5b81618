/* The guard: the protection every provider gets, the same for all.
 *
 * One guard per provider per process (shared by every session and worker
 * thread, so a failure seen by one call protects every call): a circuit
 * breaker, an optional token-bucket limiter, an optional bulkhead, a retry
 * policy with a retry budget, and the timeouts that catch a provider that
 * hangs before its first byte or stalls mid-stream. The guard holds only
 * policy and shared state; the fallback runner (fallback.h) applies it to
 * each call on a loop.
 */
#ifndef TERN_GUARD_H
#define TERN_GUARD_H

#include <stdbool.h>

#include "tern/breaker.h"
#include "tern/bulkhead.h"
#include "tern/limiter.h"
#include "tern/retry.h"
#include "tern/taxonomy.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_config tern_config_t;

typedef struct tern_guard_config {
  tern_breaker_config_t breaker;
  tern_limiter_config_t limiter; /* limiter.tokens == 0: no limiter */
  tern_usec_t limiter_max_wait;  /* wait at most this for a token, else fail over */
  tern_bulkhead_config_t bulkhead; /* max_concurrent == 0: no bulkhead */
  tern_retry_policy_t retry;       /* retry.budget is ignored: the guard owns one */
  tern_retry_budget_config_t budget;
  tern_usec_t first_output_timeout; /* start -> first output (token, chunk, transcript) */
  tern_usec_t idle_timeout;         /* between outputs: longer is a stall */
} tern_guard_config_t;

typedef struct tern_guard {
  char name[TERN_ERROR_PROVIDER_MAX];
  tern_component_t component;
  tern_guard_config_t cfg;
  tern_breaker_t *breaker;
  tern_limiter_t *limiter;   /* NULL when off */
  tern_bulkhead_t *bulkhead; /* NULL when off */
  tern_retry_budget_t budget;
  tern_retry_policy_t retry; /* cfg.retry with .budget = &budget */
} tern_guard_t;

/* Defaults from ARCHITECTURE.md, sized for voice: first output 3 s (STT
 * 5 s, since it sees a whole utterance), stall 2 s, 2 retries with full
 * jitter from 100 ms capped at 1 s, Retry-After honoured up to 2 s, budget
 * 20 % (min 3), breaker 3 consecutive / 50 % of >= 10 calls over 30 s,
 * open 30 s, one half-open probe. */
void tern_guard_config_default(tern_component_t component, tern_guard_config_t *cfg);

/* Apply settings from [<component>] then [<component>.<provider>] (the
 * provider's section wins): first_byte_timeout_ms, idle_timeout_ms,
 * attempt_timeout_ms, deadline_ms, max_retries, retry_base_ms,
 * retry_cap_ms, retry_after_cap_ms, jitter, breaker_failures,
 * breaker_window_ms, breaker_failure_ratio, breaker_min_calls,
 * breaker_open_ms, breaker_probes, rate_per_sec, burst, max_concurrent.
 * Returns TERN_ECONFIG with a message naming the key on a bad value. */
int tern_guard_config_load(tern_guard_config_t *cfg, const tern_config_t *conf,
                           tern_component_t component, const char *provider, char *err,
                           size_t errsz);

int tern_guard_create(tern_component_t component, const char *name,
                      const tern_guard_config_t *cfg, tern_guard_t **out);
void tern_guard_destroy(tern_guard_t *g);

/* The process-wide registry: the guard for (component, name), created from
 * cfg on first use and shared afterwards (later cfgs are ignored). Each
 * successful get is balanced by a put; the last put destroys the guard. */
int tern_guards_get(tern_component_t component, const char *name, const tern_guard_config_t *cfg,
                    tern_guard_t **out);
void tern_guards_put(tern_guard_t *g);
/* Visit every registered guard (admin /metrics, `tern doctor`). */
void tern_guards_foreach(void (*fn)(tern_guard_t *g, void *ud), void *ud);

/* How a failed call counts for the breaker: cancellations and the caller's
 * own mistakes (invalid request, context too long) are not the provider's
 * fault and are ignored. */
tern_breaker_outcome_t tern_guard_outcome(const tern_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
