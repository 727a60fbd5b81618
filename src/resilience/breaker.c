/* Circuit breaker (see include/tern/breaker.h for the behaviour).
 *
 * Invariants:
 *   - `word` packs gen << 3 | forced << 2 | state and is written only under
 *     `mu`; readers outside the lock see a consistent (state, gen) pair, so
 *     acquire in the closed state needs no lock.
 *   - gen changes on every state change (and force/release/reset), so a
 *     permit from an earlier state is recognised as stale at record time.
 *   - The window's buckets hold epochs (head - nb, head]; bucket slot for
 *     epoch e is e mod nb; the totals are the sum of the buckets.
 *   - Transitions are queued under `mu` and handed to the callback by
 *     whichever thread holds `notify_mu`, outside `mu`, in queue order.
 */
#include "tern/breaker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/error.h"

#define WORD_STATE_MASK UINT64_C(3)
#define WORD_FORCED UINT64_C(4)
#define WORD_GEN_SHIFT 3

typedef struct bucket {
  uint32_t calls, failures, slow;
} bucket_t;

typedef struct event {
  tern_breaker_state_t from, to;
  tern_usec_t now;
} event_t;

struct tern_breaker {
  _Atomic uint64_t word;
  _Atomic uint64_t permitted; /* counted on the lock-free path */
  pthread_mutex_t mu;
  pthread_mutex_t notify_mu;
  tern_breaker_config_t cfg;
  uint64_t fail_ppm, slow_ppm;
  tern_usec_t bucket_width;

  /* Everything below is guarded by mu. */
  uint64_t gen;
  tern_breaker_state_t state;
  bool forced;
  uint32_t consec;
  bucket_t buckets[TERN_BREAKER_MAX_BUCKETS];
  bool window_started;
  int64_t head_epoch;
  uint32_t wcalls, wfail, wslow;
  tern_usec_t open_until, open_dur, closed_since;
  uint32_t streak; /* opens since the last healthy spell */
  uint32_t probes_issued, probes_ok;
  uint64_t rejected, successes, failures, ignored, slow, stale, opens, transitions, merged;
  event_t events[TERN_BREAKER_EVENT_QUEUE];
  unsigned nevents;

  char name[TERN_BREAKER_NAME_MAX];
};

const char *tern_breaker_state_name(tern_breaker_state_t s) {
  switch (s) {
  case TERN_BREAKER_CLOSED:
    return "closed";
  case TERN_BREAKER_OPEN:
    return "open";
  case TERN_BREAKER_HALF_OPEN:
    return "half_open";
  }
  return "unknown";
}

void tern_breaker_config_default(tern_breaker_config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->consecutive_failures = 3;
  cfg->window = TERN_SEC(30);
  cfg->window_buckets = 10;
  cfg->min_calls = 10;
  cfg->failure_ratio = 0.5;
  cfg->slow_call_duration = 0;
  cfg->slow_call_ratio = 1.0;
  cfg->open_duration = TERN_SEC(30);
  cfg->open_multiplier = 2.0;
  cfg->open_duration_max = TERN_SEC(300);
  cfg->open_reset_after = TERN_SEC(60);
  cfg->half_open_probes = 1;
}

static bool ratio_ok(double r) { return r >= 0.0 && r <= 1.0; } /* false for NaN */

int tern_breaker_config_validate(const tern_breaker_config_t *cfg, const char **reason) {
  const char *why = NULL;
  if (!cfg)
    why = "no configuration";
  else if (cfg->consecutive_failures == 0 && cfg->window <= 0)
    why = "no trip condition: both consecutive_failures and window are off";
  else if (cfg->window < 0)
    why = "window must not be negative";
  else if (cfg->window > 0 &&
           (cfg->window_buckets < 1 || cfg->window_buckets > TERN_BREAKER_MAX_BUCKETS))
    why = "window_buckets must be between 1 and TERN_BREAKER_MAX_BUCKETS";
  else if (cfg->window > 0 && cfg->window % cfg->window_buckets != 0)
    why = "window must be a whole multiple of window_buckets microseconds";
  else if (cfg->window > 0 && cfg->min_calls < 1)
    why = "min_calls must be at least 1";
  else if (!ratio_ok(cfg->failure_ratio))
    why = "failure_ratio must be within [0, 1]";
  else if (cfg->slow_call_duration < 0)
    why = "slow_call_duration must not be negative";
  else if (cfg->slow_call_duration > 0 && cfg->window <= 0)
    why = "slow-call tracking needs a window";
  else if (cfg->slow_call_duration > 0 &&
           (!ratio_ok(cfg->slow_call_ratio) || cfg->slow_call_ratio == 0.0))
    why = "slow_call_ratio must be within (0, 1]";
  else if (cfg->window > 0 && cfg->failure_ratio == 0.0 && cfg->slow_call_duration == 0)
    why = "window enabled but neither failure_ratio nor slow calls can trip it";
  else if (cfg->open_duration <= 0)
    why = "open_duration must be positive";
  else if (!(cfg->open_multiplier >= 1.0 && cfg->open_multiplier <= 1000.0))
    why = "open_multiplier must be within [1, 1000]";
  else if (cfg->open_duration_max < cfg->open_duration)
    why = "open_duration_max must be at least open_duration";
  else if (cfg->open_reset_after < 0)
    why = "open_reset_after must not be negative";
  else if (cfg->half_open_probes < 1 || cfg->half_open_probes > 100000)
    why = "half_open_probes must be between 1 and 100000";
  if (reason)
    *reason = why;
  return why ? TERN_EINVAL : 0;
}

int tern_breaker_create(const tern_breaker_config_t *cfg, const char *name, tern_breaker_t **out) {
  if (!out || !name)
    return TERN_EINVAL;
  *out = NULL;
  int rc = tern_breaker_config_validate(cfg, NULL);
  if (rc)
    return rc;
  tern_breaker_t *b = tern_calloc(1, sizeof *b);
  if (!b)
    return TERN_ENOMEM;
  if (pthread_mutex_init(&b->mu, NULL) != 0) {
    tern_free(b);
    return TERN_ENOMEM;
  }
  if (pthread_mutex_init(&b->notify_mu, NULL) != 0) {
    pthread_mutex_destroy(&b->mu);
    tern_free(b);
    return TERN_ENOMEM;
  }
  b->cfg = *cfg;
  b->fail_ppm = (uint64_t)(cfg->failure_ratio * 1e6 + 0.5);
  b->slow_ppm = (uint64_t)(cfg->slow_call_ratio * 1e6 + 0.5);
  b->bucket_width = cfg->window > 0 ? cfg->window / cfg->window_buckets : 0;
  b->state = TERN_BREAKER_CLOSED;
  b->open_dur = cfg->open_duration;
  atomic_init(&b->word, 0);
  atomic_init(&b->permitted, 0);
  size_t n = strlen(name);
  if (n >= sizeof b->name)
    n = sizeof b->name - 1;
  memcpy(b->name, name, n);
  b->name[n] = '\0';
  *out = b;
  return 0;
}

void tern_breaker_destroy(tern_breaker_t *b) {
  if (!b)
    return;
  pthread_mutex_destroy(&b->notify_mu);
  pthread_mutex_destroy(&b->mu);
  tern_free(b);
}

/* ---- window ------------------------------------------------------------ */

static int64_t floor_div(int64_t a, int64_t d) {
  int64_t q = a / d;
  return (a % d != 0 && (a < 0) != (d < 0)) ? q - 1 : q;
}

static bucket_t *slot(tern_breaker_t *b, int64_t epoch) {
  int64_t nb = b->cfg.window_buckets;
  int64_t s = epoch % nb;
  return &b->buckets[s < 0 ? s + nb : s];
}

static void window_clear(tern_breaker_t *b) {
  memset(b->buckets, 0, sizeof b->buckets);
  b->wcalls = b->wfail = b->wslow = 0;
  b->window_started = false;
}

static void bucket_drop(tern_breaker_t *b, bucket_t *k) {
  b->wcalls -= k->calls;
  b->wfail -= k->failures;
  b->wslow -= k->slow;
  k->calls = k->failures = k->slow = 0;
}

/* Slide the window so that `epoch` is its newest bucket. Cost is bounded by
 * the bucket count however long the idle gap was. */
static void window_advance(tern_breaker_t *b, int64_t epoch) {
  if (!b->window_started) {
    b->window_started = true;
    b->head_epoch = epoch;
    return;
  }
  if (epoch <= b->head_epoch)
    return;
  if (epoch - b->head_epoch >= (int64_t)b->cfg.window_buckets) {
    window_clear(b);
    b->window_started = true;
  } else {
    for (int64_t e = b->head_epoch + 1; e <= epoch; e++)
      bucket_drop(b, slot(b, e));
  }
  b->head_epoch = epoch;
}

static void window_add(tern_breaker_t *b, tern_usec_t now, bool failure, bool slow) {
  int64_t epoch = floor_div(now, b->bucket_width);
  window_advance(b, epoch);
  /* A caller's `now` may lag another thread's a little: it still lands in its
   * own bucket if that bucket is in the window, and is dropped otherwise. */
  if (epoch <= b->head_epoch - (int64_t)b->cfg.window_buckets)
    return;
  bucket_t *k = slot(b, epoch);
  k->calls++;
  b->wcalls++;
  if (failure) {
    k->failures++;
    b->wfail++;
  }
  if (slow) {
    k->slow++;
    b->wslow++;
  }
}

static bool window_trips(const tern_breaker_t *b) {
  if (b->cfg.window <= 0 || b->wcalls < b->cfg.min_calls)
    return false;
  if (b->fail_ppm > 0 && (uint64_t)b->wfail * 1000000u >= b->fail_ppm * b->wcalls)
    return true;
  if (b->cfg.slow_call_duration > 0 && (uint64_t)b->wslow * 1000000u >= b->slow_ppm * b->wcalls)
    return true;
  return false;
}

/* ---- transitions (all under mu) --------------------------------------- */

static void push_event(tern_breaker_t *b, tern_breaker_state_t from, tern_breaker_state_t to,
                       tern_usec_t now) {
  if (!b->cfg.on_change || from == to)
    return;
  if (b->nevents == TERN_BREAKER_EVENT_QUEUE) {
    /* Full while a callback is slow: fold into the newest event so the
     * chain of from/to the callback sees stays unbroken. */
    event_t *last = &b->events[b->nevents - 1];
    last->to = to;
    last->now = now;
    b->merged++;
    if (last->from == last->to) {
      b->nevents--; /* A->B, B->A: neither is reported */
      b->merged++;
    }
    return;
  }
  b->events[b->nevents++] = (event_t){from, to, now};
}

static void publish(tern_breaker_t *b) {
  b->gen++;
  uint64_t w = b->gen << WORD_GEN_SHIFT | (b->forced ? WORD_FORCED : 0) | (uint64_t)b->state;
  atomic_store_explicit(&b->word, w, memory_order_release);
}

static void set_state(tern_breaker_t *b, tern_breaker_state_t to, tern_usec_t now) {
  tern_breaker_state_t from = b->state;
  if (from != to)
    b->transitions++;
  b->state = to;
  b->probes_issued = b->probes_ok = 0;
  publish(b);
  push_event(b, from, to, now);
}

static void counts_clear(tern_breaker_t *b) {
  b->consec = 0;
  window_clear(b);
}

static tern_usec_t sat_add(tern_usec_t a, tern_usec_t d) {
  return a > INT64_MAX - d ? INT64_MAX : a + d;
}

static void trip(tern_breaker_t *b, tern_usec_t now) {
  if (b->state == TERN_BREAKER_CLOSED && b->streak > 0 &&
      now - b->closed_since >= b->cfg.open_reset_after)
    b->streak = 0;
  if (b->streak == 0) {
    b->open_dur = b->cfg.open_duration;
  } else {
    double d = (double)b->open_dur * b->cfg.open_multiplier;
    b->open_dur = d >= (double)b->cfg.open_duration_max ? b->cfg.open_duration_max : (tern_usec_t)d;
  }
  b->streak++;
  b->opens++;
  b->open_until = sat_add(now, b->open_dur);
  counts_clear(b);
  set_state(b, TERN_BREAKER_OPEN, now);
}

static void close_breaker(tern_breaker_t *b, tern_usec_t now) {
  b->closed_since = now;
  counts_clear(b);
  set_state(b, TERN_BREAKER_CLOSED, now);
}

/* Hand queued transitions to the callback outside mu. Whoever holds
 * notify_mu drains the queue; a thread that finds it held leaves its events
 * to the holder, which re-checks the queue after letting go. A callback that
 * re-enters the breaker therefore never deadlocks and never reorders. */
static void notify(tern_breaker_t *b) {
  event_t local[TERN_BREAKER_EVENT_QUEUE];
  for (;;) {
    if (pthread_mutex_trylock(&b->notify_mu) != 0)
      return;
    for (;;) {
      pthread_mutex_lock(&b->mu);
      unsigned n = b->nevents;
      memcpy(local, b->events, n * sizeof local[0]);
      b->nevents = 0;
      pthread_mutex_unlock(&b->mu);
      if (n == 0)
        break;
      for (unsigned i = 0; i < n; i++)
        b->cfg.on_change(b->cfg.on_change_ud, b->name, local[i].from, local[i].to, local[i].now);
    }
    pthread_mutex_unlock(&b->notify_mu);
    pthread_mutex_lock(&b->mu);
    unsigned pending = b->nevents;
    pthread_mutex_unlock(&b->mu);
    if (!pending)
      return;
  }
}

static void unlock_and_notify(tern_breaker_t *b) {
  bool pending = b->nevents > 0;
  pthread_mutex_unlock(&b->mu);
  if (pending)
    notify(b);
}

/* ---- calls -------------------------------------------------------------- */

int tern_breaker_acquire(tern_breaker_t *b, tern_usec_t now, tern_breaker_permit_t *permit) {
  uint64_t w = atomic_load_explicit(&b->word, memory_order_acquire);
  if ((w & WORD_STATE_MASK) == TERN_BREAKER_CLOSED) {
    atomic_fetch_add_explicit(&b->permitted, 1, memory_order_relaxed);
    permit->gen = w >> WORD_GEN_SHIFT;
    permit->probe = false;
    return 0;
  }
  int rc = TERN_EOPEN;
  pthread_mutex_lock(&b->mu);
  if (b->state == TERN_BREAKER_OPEN && !b->forced && now >= b->open_until)
    set_state(b, TERN_BREAKER_HALF_OPEN, now);
  if (b->state == TERN_BREAKER_CLOSED) {
    permit->gen = b->gen;
    permit->probe = false;
    rc = 0;
  } else if (b->state == TERN_BREAKER_HALF_OPEN && b->probes_issued < b->cfg.half_open_probes) {
    b->probes_issued++;
    permit->gen = b->gen;
    permit->probe = true;
    rc = 0;
  }
  if (rc == 0)
    atomic_fetch_add_explicit(&b->permitted, 1, memory_order_relaxed);
  else
    b->rejected++;
  unlock_and_notify(b);
  return rc;
}

int tern_breaker_record(tern_breaker_t *b, tern_breaker_permit_t permit,
                        tern_breaker_outcome_t outcome, tern_usec_t duration_us, tern_usec_t now) {
  if (outcome != TERN_BREAKER_SUCCESS && outcome != TERN_BREAKER_FAILURE &&
      outcome != TERN_BREAKER_IGNORED)
    return TERN_EINVAL;
  bool failure = outcome == TERN_BREAKER_FAILURE;
  bool slow = outcome != TERN_BREAKER_IGNORED && b->cfg.slow_call_duration > 0 &&
              duration_us > b->cfg.slow_call_duration;
  pthread_mutex_lock(&b->mu);
  if (outcome == TERN_BREAKER_SUCCESS)
    b->successes++;
  else if (failure)
    b->failures++;
  else
    b->ignored++;
  if (slow)
    b->slow++;
  if (permit.gen != b->gen) {
    b->stale++;
  } else if (!b->forced && b->state == TERN_BREAKER_CLOSED && outcome != TERN_BREAKER_IGNORED) {
    b->consec = failure ? b->consec + 1 : 0;
    if (b->bucket_width > 0)
      window_add(b, now, failure, slow);
    if ((b->cfg.consecutive_failures > 0 && b->consec >= b->cfg.consecutive_failures) ||
        window_trips(b))
      trip(b, now);
  } else if (!b->forced && b->state == TERN_BREAKER_HALF_OPEN && permit.probe) {
    /* A slow probe is a failed probe when slow calls are tracked: closing on
     * it would reopen the door to the latency that may have tripped us. */
    if (outcome == TERN_BREAKER_IGNORED)
      b->probes_issued--;
    else if (failure || slow)
      trip(b, now);
    else if (++b->probes_ok >= b->cfg.half_open_probes)
      close_breaker(b, now);
  }
  unlock_and_notify(b);
  return 0;
}

tern_breaker_state_t tern_breaker_state(const tern_breaker_t *b) {
  uint64_t w = atomic_load_explicit(&((tern_breaker_t *)b)->word, memory_order_acquire);
  return (tern_breaker_state_t)(w & WORD_STATE_MASK);
}

int tern_breaker_stats(tern_breaker_t *b, tern_usec_t now, tern_breaker_stats_t *out) {
  if (!b || !out)
    return TERN_EINVAL;
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&b->mu);
  out->state = b->state;
  out->forced = b->forced;
  out->permitted = atomic_load_explicit(&b->permitted, memory_order_relaxed);
  out->rejected = b->rejected;
  out->successes = b->successes;
  out->failures = b->failures;
  out->ignored = b->ignored;
  out->slow = b->slow;
  out->stale = b->stale;
  out->opens = b->opens;
  out->consecutive_failures = b->consec;
  out->window_calls = b->wcalls;
  out->window_failures = b->wfail;
  out->window_slow = b->wslow;
  out->open_duration = b->open_dur;
  if (b->state == TERN_BREAKER_OPEN && !b->forced && b->open_until > now)
    out->until_half_open = b->open_until - now;
  if (b->state == TERN_BREAKER_HALF_OPEN)
    out->probes_in_flight = b->probes_issued - b->probes_ok;
  out->transitions = b->transitions;
  out->events_merged = b->merged;
  pthread_mutex_unlock(&b->mu);
  return 0;
}

/* ---- operator overrides ------------------------------------------------- */

static int force(tern_breaker_t *b, tern_breaker_state_t to, tern_usec_t now) {
  if (!b)
    return TERN_EINVAL;
  pthread_mutex_lock(&b->mu);
  b->forced = true;
  counts_clear(b);
  set_state(b, to, now);
  unlock_and_notify(b);
  return 0;
}

int tern_breaker_force_open(tern_breaker_t *b, tern_usec_t now) {
  return force(b, TERN_BREAKER_OPEN, now);
}

int tern_breaker_force_closed(tern_breaker_t *b, tern_usec_t now) {
  return force(b, TERN_BREAKER_CLOSED, now);
}

static int unforce(tern_breaker_t *b, tern_usec_t now, bool full_reset) {
  if (!b)
    return TERN_EINVAL;
  pthread_mutex_lock(&b->mu);
  if (b->forced || full_reset) {
    b->forced = false;
    if (full_reset) {
      b->streak = 0;
      b->open_dur = b->cfg.open_duration;
    }
    close_breaker(b, now);
  }
  unlock_and_notify(b);
  return 0;
}

int tern_breaker_release(tern_breaker_t *b, tern_usec_t now) { return unforce(b, now, false); }

int tern_breaker_reset(tern_breaker_t *b, tern_usec_t now) { return unforce(b, now, true); }
