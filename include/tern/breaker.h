/* Circuit breaker: one per provider, shared by every session of a process.
 *
 * A failure seen by one call protects every call: after enough failures the
 * breaker opens and callers go straight to their fallback instead of
 * waiting on a provider that is down. After the open duration the breaker
 * lets a few probe calls through (half-open); if they all succeed it
 * closes, if one fails it opens again for longer.
 *
 * Trip conditions (any enabled one opens a closed breaker):
 *   - consecutive failures reach `consecutive_failures`;
 *   - over a sliding time window of `window` split in `window_buckets`
 *     buckets, once at least `min_calls` calls were recorded, the failure
 *     ratio reaches `failure_ratio`, or the slow-call ratio reaches
 *     `slow_call_ratio` (a call is slow when its duration is longer than
 *     `slow_call_duration`).
 *
 * Slow-call tripping is off by default (slow_call_duration = 0): only the
 * guard knows which duration means "slow" for a provider (pass time to
 * first byte/token, not the length of a whole audio stream), and stalls are
 * already failures through the guard's timeouts.
 *
 * Open duration: `open_duration` for the first open; each further open
 * without a healthy spell in between multiplies it by `open_multiplier`, up
 * to `open_duration_max` (a flapping provider is ejected for longer, as in
 * Envoy). The growth resets to the base once the breaker has stayed closed
 * for `open_reset_after` (checked at the next trip; 0 means only failed
 * probes grow it), or on tern_breaker_reset().
 *
 * The open -> half_open move happens lazily, at the first acquire after the
 * open duration (no timers: time is an argument). In half-open, up to
 * `half_open_probes` probe permits are handed out; further acquires are
 * rejected. A probe recorded as ignored gives its slot back; a slow probe
 * (when slow calls are tracked) counts as a failed one.
 *
 * Every permit must be recorded exactly once (a probe never recorded holds
 * its half-open slot until a force or reset). A permit from an earlier
 * state (acquired before the breaker last changed state) is counted in the
 * stats but does not move the state machine.
 *
 * Thread safety: all functions may be called from any thread. Acquire in
 * the closed state is an atomic load and a relaxed counter increment;
 * record takes a short mutex. The
 * state-change callback is called outside the breaker's lock, one call at a
 * time and in transition order, on whichever thread is delivering queued
 * transitions (not necessarily the one that caused them); it may call back
 * into the breaker, and should be quick (post an event, log a line). If more
 * than TERN_BREAKER_EVENT_QUEUE transitions pile up while a callback runs,
 * the newest ones are merged (A->B, B->C becomes A->C; A->B, B->A
 * vanishes; counted in events_merged) so that the sequence the callback
 * sees stays a consistent chain ending in the current state.
 */
#ifndef TERN_BREAKER_H
#define TERN_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

#include "tern/clock.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_BREAKER_MAX_BUCKETS 64
#define TERN_BREAKER_NAME_MAX 64
#define TERN_BREAKER_EVENT_QUEUE 16

typedef enum tern_breaker_state {
  TERN_BREAKER_CLOSED = 0,
  TERN_BREAKER_OPEN = 1,
  TERN_BREAKER_HALF_OPEN = 2,
} tern_breaker_state_t;

typedef enum tern_breaker_outcome {
  TERN_BREAKER_SUCCESS = 0,
  TERN_BREAKER_FAILURE,
  TERN_BREAKER_IGNORED, /* cancelled (hang-up, barge-in) or not the provider's fault */
} tern_breaker_outcome_t;

typedef struct tern_breaker tern_breaker_t;

typedef void (*tern_breaker_change_fn)(void *ud, const char *name, tern_breaker_state_t from,
                                       tern_breaker_state_t to, tern_usec_t now);

typedef struct tern_breaker_config {
  uint32_t consecutive_failures;  /* 0 disables; default 3 */
  tern_usec_t window;             /* 0 disables the window; default 30 s */
  uint32_t window_buckets;        /* 1..TERN_BREAKER_MAX_BUCKETS, must divide window; default 10 */
  uint32_t min_calls;             /* calls in the window before a ratio counts; default 10 */
  double failure_ratio;           /* (0, 1]; 0 disables; default 0.5 */
  tern_usec_t slow_call_duration; /* 0 disables slow-call tracking (default) */
  double slow_call_ratio;         /* (0, 1] when slow calls are tracked; default 1.0 */
  tern_usec_t open_duration;      /* default 30 s */
  double open_multiplier;         /* >= 1; default 2 */
  tern_usec_t open_duration_max;  /* >= open_duration; default 300 s */
  tern_usec_t open_reset_after;   /* closed this long -> growth resets; default 60 s */
  uint32_t half_open_probes;      /* >= 1; default 1 */
  tern_breaker_change_fn on_change; /* may be NULL */
  void *on_change_ud;
} tern_breaker_config_t;

/* What a successful acquire hands out; pass it back to tern_breaker_record. */
typedef struct tern_breaker_permit {
  uint64_t gen; /* state generation it was issued in */
  bool probe;   /* a half-open probe */
} tern_breaker_permit_t;

typedef struct tern_breaker_stats {
  tern_breaker_state_t state;
  bool forced; /* state held by force_open / force_closed */
  uint64_t permitted, rejected;
  uint64_t successes, failures, ignored, slow; /* every record, by outcome */
  uint64_t stale;                              /* records of permits from an earlier state */
  uint64_t opens;                              /* trips into open (forced opens not counted) */
  uint32_t consecutive_failures;
  uint32_t window_calls, window_failures, window_slow;
  tern_usec_t open_duration;   /* of the current or most recent open */
  tern_usec_t until_half_open; /* 0 unless open (timed) */
  uint32_t probes_in_flight;
  uint64_t transitions;   /* changes of the visible state */
  uint64_t events_merged; /* transitions not reported one by one */
} tern_breaker_stats_t;

/* "closed", "open", "half_open". */
const char *tern_breaker_state_name(tern_breaker_state_t s);

void tern_breaker_config_default(tern_breaker_config_t *cfg);
/* 0, or TERN_EINVAL with *reason (may be NULL) set to a static sentence. */
int tern_breaker_config_validate(const tern_breaker_config_t *cfg, const char **reason);

/* name: provider name reported to the callback (truncated to NAME_MAX-1). */
int tern_breaker_create(const tern_breaker_config_t *cfg, const char *name,
                        tern_breaker_t **out /* OUT */);
void tern_breaker_destroy(tern_breaker_t *b);

/* 0 and a permit, or TERN_EOPEN (open, forced open, or half-open probes taken). */
int tern_breaker_acquire(tern_breaker_t *b, tern_usec_t now,
                         tern_breaker_permit_t *permit /* OUT */);
/* Report how the permitted call went. duration_us feeds slow-call tracking. */
int tern_breaker_record(tern_breaker_t *b, tern_breaker_permit_t permit,
                        tern_breaker_outcome_t outcome, tern_usec_t duration_us, tern_usec_t now);

/* The current state (cheap; does not apply the lazy open -> half_open move). */
tern_breaker_state_t tern_breaker_state(const tern_breaker_t *b);
int tern_breaker_stats(tern_breaker_t *b, tern_usec_t now, tern_breaker_stats_t *out /* OUT */);

/* Operator overrides: held until tern_breaker_release() or _reset(). */
int tern_breaker_force_open(tern_breaker_t *b, tern_usec_t now);
int tern_breaker_force_closed(tern_breaker_t *b, tern_usec_t now);
/* Ends a forced state: the breaker is closed with fresh counts. */
int tern_breaker_release(tern_breaker_t *b, tern_usec_t now);
/* Closed, counts and open-duration growth cleared, any force released. */
int tern_breaker_reset(tern_breaker_t *b, tern_usec_t now);

#ifdef __cplusplus
}
#endif
#endif
