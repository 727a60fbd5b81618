/* Retry policy: decisions as step tables on a fake clock, per-attempt
 * timeouts, and the retry budget's sliding window. */
#include "testutil.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "tern/error.h"
#include "tern/retry.h"

#define NONE (-1)

static tern_error_t mkerr(tern_kind_t kind, tern_usec_t retry_after) {
  tern_error_t e;
  tern_error_init(&e, TERN_COMP_LLM, kind, "prov");
  e.retry_after = retry_after;
  return e;
}

static void test_defaults(void **state) {
  (void)state;
  tern_retry_policy_t p;
  tern_retry_policy_default(&p);
  assert_int_equal(tern_retry_policy_validate(&p), 0);
  assert_int_equal(p.max_attempts, 3);
  assert_int_equal(p.retry_after_cap, TERN_SEC(2));
  assert_int_equal(p.backoff.base, TERN_MS(100));
  assert_int_equal(p.backoff.cap, TERN_SEC(1));
  assert_int_equal(p.backoff.jitter, TERN_JITTER_FULL);
  for (int k = 0; k < TERN_KIND__COUNT; k++)
    assert_int_equal(tern_retry_policy_retries(&p, (tern_kind_t)k),
                     tern_kind_retryable((tern_kind_t)k));
  tern_retry_budget_config_t c;
  tern_retry_budget_config_default(&c);
  assert_true(c.budget_percent == 20.0);
  assert_int_equal(c.min_retries, 3);

  p.max_attempts = 0;
  assert_int_equal(tern_retry_policy_validate(&p), TERN_EINVAL);
  tern_retry_policy_default(&p);
  tern_retry_state_t s;
  tern_retry_state_init(&s, &p, 0);
  tern_error_t e = mkerr(TERN_KIND_TIMEOUT, NONE);
  tern_retry_decision_t d;
  assert_int_equal(tern_retry_decide(&p, &s, &e, false, 0, 1.0, &d), TERN_EINVAL);
  assert_int_equal(tern_retry_decide(&p, &s, NULL, false, 0, 0.5, &d), TERN_EINVAL);
  assert_string_equal(tern_retry_reason_name(TERN_RETRY_REASON_RETRY_AFTER_TOO_LONG),
                      "retry_after_too_long");
  assert_string_equal(tern_retry_action_name(TERN_RETRY_GIVE_UP_FAILOVER), "give_up_failover");
}

static void test_attempt_timeout(void **state) {
  (void)state;
  tern_retry_policy_t p;
  tern_retry_policy_default(&p);
  tern_retry_state_t s;
  tern_retry_state_init(&s, &p, TERN_SEC(100));
  tern_usec_t t;
  assert_int_equal(tern_retry_attempt_timeout(&p, &s, TERN_SEC(100), &t), 0);
  assert_int_equal(t, -1); /* no limit set */
  p.attempt_timeout = TERN_SEC(5);
  assert_int_equal(tern_retry_attempt_timeout(&p, &s, TERN_SEC(100), &t), 0);
  assert_int_equal(t, TERN_SEC(5));
  p.deadline = TERN_SEC(8);
  assert_int_equal(tern_retry_attempt_timeout(&p, &s, TERN_SEC(101), &t), 0);
  assert_int_equal(t, TERN_SEC(5)); /* 7 s left: the attempt limit is shorter */
  assert_int_equal(tern_retry_attempt_timeout(&p, &s, TERN_SEC(106), &t), 0);
  assert_int_equal(t, TERN_SEC(2)); /* only 2 s left overall */
  p.attempt_timeout = 0;
  assert_int_equal(tern_retry_attempt_timeout(&p, &s, TERN_SEC(107), &t), 0);
  assert_int_equal(t, TERN_SEC(1));
  assert_int_equal(tern_retry_attempt_timeout(&p, &s, TERN_SEC(108), &t), TERN_ETIMEDOUT);
}

/* One failed attempt and what decide must answer. */
typedef struct step {
  tern_kind_t kind;
  tern_usec_t retry_after; /* NONE: the provider gave none */
  bool delivered;
  tern_usec_t now;
  double draw;
  tern_retry_action_t action;
  tern_retry_reason_t reason;
  tern_usec_t delay; /* checked when retrying */
} step_t;

typedef struct scenario {
  const char *name;
  tern_jitter_t jitter;
  tern_usec_t deadline;
  bool no_server_retries;
  bool not_retryable_flag; /* err.retryable cleared (a certificate problem) */
  const step_t *steps;
  size_t n;
} scenario_t;

#define AGAIN TERN_RETRY_AGAIN
#define FAILOVER TERN_RETRY_GIVE_UP_FAILOVER
#define STOP TERN_RETRY_GIVE_UP
#define R(x) TERN_RETRY_REASON_##x
#define K(x) TERN_KIND_##x
#define SCEN(name, jit, dl, nsr, nrf, arr)                                                         \
  { name, jit, dl, nsr, nrf, arr, sizeof arr / sizeof arr[0] }

static const step_t s_exhaust[] = {
    {K(TIMEOUT), NONE, false, TERN_SEC(1), 0.9, AGAIN, R(NONE), TERN_MS(100)},
    {K(SERVER), NONE, false, TERN_MS(1500), 0.9, AGAIN, R(NONE), TERN_MS(200)},
    {K(CONNECTION), NONE, false, TERN_SEC(2), 0.9, FAILOVER, R(ATTEMPTS_EXHAUSTED), 0},
    {K(CONNECTION), NONE, false, TERN_SEC(3), 0.9, FAILOVER, R(ATTEMPTS_EXHAUSTED), 0},
};
static const step_t s_full_jitter[] = {
    {K(OVERLOADED), NONE, false, 0, 0.5, AGAIN, R(NONE), TERN_MS(50)},
    {K(RATE_LIMITED), NONE, false, TERN_MS(100), 0.25, AGAIN, R(NONE), TERN_MS(50)},
};
static const step_t s_not_retryable[] = {
    {K(AUTH), NONE, false, 0, 0.5, FAILOVER, R(NOT_RETRYABLE), 0},
    {K(QUOTA), NONE, false, 0, 0.5, FAILOVER, R(NOT_RETRYABLE), 0},
    {K(INVALID_REQUEST), NONE, false, 0, 0.5, FAILOVER, R(NOT_RETRYABLE), 0},
    {K(CONTEXT_LENGTH), NONE, false, 0, 0.5, FAILOVER, R(NOT_RETRYABLE), 0},
    {K(BAD_RESPONSE), NONE, false, 0, 0.5, FAILOVER, R(NOT_RETRYABLE), 0},
    {K(UNAVAILABLE), NONE, false, 0, 0.5, FAILOVER, R(NOT_RETRYABLE), 0},
    /* a give-up leaves the state alone: the next timeout still retries */
    {K(TIMEOUT), NONE, false, 0, 0.5, AGAIN, R(NONE), TERN_MS(100)},
};
static const step_t s_cancelled[] = {
    {K(CANCELLED), NONE, false, 0, 0.5, STOP, R(CANCELLED), 0},
    {K(CANCELLED), NONE, true, 0, 0.5, STOP, R(CANCELLED), 0},
};
static const step_t s_delivered[] = {
    {K(TIMEOUT), NONE, true, 0, 0.5, FAILOVER, R(OUTPUT_DELIVERED), 0},
    {K(STALLED), NONE, true, 0, 0.5, FAILOVER, R(OUTPUT_DELIVERED), 0},
    {K(AUTH), NONE, true, 0, 0.5, FAILOVER, R(OUTPUT_DELIVERED), 0},
    {K(STALLED), NONE, false, 0, 0.5, AGAIN, R(NONE), TERN_MS(100)},
};
static const step_t s_retry_after[] = {
    {K(RATE_LIMITED), TERN_MS(1500), false, 0, 0.5, AGAIN, R(NONE), TERN_MS(1500)},
    {K(RATE_LIMITED), TERN_MS(2001), false, TERN_SEC(2), 0.5, FAILOVER, R(RETRY_AFTER_TOO_LONG), 0},
    {K(RATE_LIMITED), TERN_SEC(60), false, TERN_SEC(2), 0.5, FAILOVER, R(RETRY_AFTER_TOO_LONG), 0},
    {K(RATE_LIMITED), TERN_SEC(2), false, TERN_SEC(2), 0.5, AGAIN, R(NONE), TERN_SEC(2)},
};
static const step_t s_retry_after_short[] = {
    /* shorter than the backoff: the backoff wins (never earlier than asked) */
    {K(OVERLOADED), TERN_MS(10), false, 0, 0.5, AGAIN, R(NONE), TERN_MS(100)},
    {K(OVERLOADED), 0, false, TERN_MS(200), 0.5, AGAIN, R(NONE), TERN_MS(200)},
};
static const step_t s_deadline[] = {
    {K(TIMEOUT), NONE, false, TERN_MS(500), 0.5, AGAIN, R(NONE), TERN_MS(100)},
    /* 800 + 200 reaches the 1 s deadline: no time for another attempt */
    {K(TIMEOUT), NONE, false, TERN_MS(800), 0.5, FAILOVER, R(DEADLINE), 0},
    {K(TIMEOUT), NONE, false, TERN_MS(799), 0.5, AGAIN, R(NONE), TERN_MS(200)},
};
static const step_t s_deadline_retry_after[] = {
    {K(RATE_LIMITED), TERN_MS(1200), false, 0, 0.5, FAILOVER, R(DEADLINE), 0},
    {K(RATE_LIMITED), TERN_MS(900), false, 0, 0.5, AGAIN, R(NONE), TERN_MS(900)},
};
static const step_t s_policy_set[] = {
    {K(SERVER), NONE, false, 0, 0.5, FAILOVER, R(NOT_RETRYABLE), 0},
    {K(TIMEOUT), NONE, false, 0, 0.5, AGAIN, R(NONE), TERN_MS(100)},
};
static const step_t s_flag[] = {
    {K(CONNECTION), NONE, false, 0, 0.5, FAILOVER, R(NOT_RETRYABLE), 0},
};
static const step_t s_decorrelated[] = {
    {K(TIMEOUT), NONE, false, 0, 0.5, AGAIN, R(NONE), TERN_MS(200)},
    /* prev 200 ms: halfway between 100 and 600 */
    {K(TIMEOUT), NONE, false, TERN_SEC(1), 0.5, AGAIN, R(NONE), TERN_MS(350)},
};

static const scenario_t scenarios[] = {
    SCEN("exhaust", TERN_JITTER_NONE, 0, false, false, s_exhaust),
    SCEN("full jitter", TERN_JITTER_FULL, 0, false, false, s_full_jitter),
    SCEN("not retryable", TERN_JITTER_NONE, 0, false, false, s_not_retryable),
    SCEN("cancelled", TERN_JITTER_NONE, 0, false, false, s_cancelled),
    SCEN("delivered", TERN_JITTER_NONE, 0, false, false, s_delivered),
    SCEN("retry-after", TERN_JITTER_NONE, 0, false, false, s_retry_after),
    SCEN("retry-after short", TERN_JITTER_NONE, 0, false, false, s_retry_after_short),
    SCEN("deadline", TERN_JITTER_NONE, TERN_SEC(1), false, false, s_deadline),
    SCEN("deadline vs retry-after", TERN_JITTER_NONE, TERN_SEC(1), false, false,
         s_deadline_retry_after),
    SCEN("policy kind set", TERN_JITTER_NONE, 0, true, false, s_policy_set),
    SCEN("retryable flag", TERN_JITTER_NONE, 0, false, true, s_flag),
    SCEN("decorrelated", TERN_JITTER_DECORRELATED, 0, false, false, s_decorrelated),
};

static void test_decision_tables(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
    const scenario_t *sc = &scenarios[i];
    tern_retry_policy_t p;
    tern_retry_policy_default(&p);
    /* A high attempt limit except where exhaustion is the point. */
    if (strcmp(sc->name, "exhaust") != 0)
      p.max_attempts = 100;
    p.backoff.jitter = sc->jitter;
    if (sc->jitter == TERN_JITTER_DECORRELATED)
      p.backoff.multiplier = 1.0;
    p.deadline = sc->deadline;
    if (sc->no_server_retries)
      p.retryable_kinds &= ~(1u << TERN_KIND_SERVER);
    tern_retry_state_t s;
    tern_retry_state_init(&s, &p, 0);
    for (size_t k = 0; k < sc->n; k++) {
      const step_t *st = &sc->steps[k];
      tern_error_t e = mkerr(st->kind, st->retry_after);
      if (sc->not_retryable_flag)
        e.retryable = false;
      tern_retry_state_t before = s;
      tern_retry_decision_t d;
      assert_int_equal(tern_retry_decide(&p, &s, &e, st->delivered, st->now, st->draw, &d), 0);
      if (d.action != st->action || d.reason != st->reason ||
          (d.action == AGAIN && d.delay != st->delay))
        fail_msg("%s step %zu: got %s/%s delay %lld", sc->name, k, tern_retry_action_name(d.action),
                 tern_retry_reason_name(d.reason), (long long)d.delay);
      if (d.action == AGAIN) {
        assert_int_equal(s.attempts, before.attempts + 1);
        assert_int_equal(d.attempt, s.attempts);
        assert_int_equal(d.retry_at, st->now + d.delay);
        assert_int_equal(s.prev_delay, d.delay);
        if (p.deadline > 0)
          assert_true(d.retry_at < s.start + p.deadline);
      } else {
        assert_memory_equal(&s, &before, sizeof s);
      }
    }
  }
}

/* ---- budget ---- */

typedef enum { REQ, RETRY } op_t;
typedef struct budget_step {
  op_t op;
  int count; /* how many times */
  tern_usec_t now;
  int granted;                        /* RETRY: how many of them must be granted */
  uint32_t win_requests, win_retries; /* the window afterwards */
} budget_step_t;

static void test_budget_window(void **state) {
  (void)state;
  tern_retry_budget_t b;
  assert_int_equal(tern_retry_budget_init(&b, NULL), 0); /* 20 %, min 3, 10 s of 1 s buckets */
  static const budget_step_t t[] = {
      {RETRY, 5, TERN_MS(100), 3, 0, 3}, /* no traffic: the minimum of 3 */
      {REQ, 10, TERN_MS(200), 0, 10, 3}, /* 20 % of 10 = 2 < 3 */
      {RETRY, 1, TERN_MS(300), 0, 10, 3},
      {REQ, 15, TERN_MS(1500), 0, 25, 3}, /* 20 % of 25 = 5 */
      {RETRY, 4, TERN_MS(1600), 2, 25, 5},
      {REQ, 25, TERN_SEC(5), 0, 50, 5}, /* 10 allowed */
      {RETRY, 10, TERN_SEC(6), 5, 50, 10},
      /* t = 10.5 s: the first bucket (0-1 s: 10 requests, 3 retries) left */
      {RETRY, 1, TERN_MS(10500), 1, 40, 8}, /* 8 allowed, 7 taken */
      {RETRY, 3, TERN_MS(10600), 0, 40, 8},
      /* t = 11.5 s: the 1-2 s bucket left too (15 requests, 2 retries) */
      {RETRY, 1, TERN_MS(11500), 0, 25, 6},
      /* t = 17 s: only the retry taken at 10.5 s is left: back to the minimum */
      {RETRY, 4, TERN_SEC(17), 2, 0, 3},
      /* the edge of a bucket: at 26.999999 s the 17 s bucket still counts */
      {RETRY, 3, TERN_SEC(26) + 999999, 1, 0, 3},
      {RETRY, 3, TERN_SEC(27), 2, 0, 3},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    int granted = 0;
    for (int k = 0; k < t[i].count; k++) {
      if (t[i].op == REQ)
        tern_retry_budget_on_request(&b, t[i].now);
      else
        granted += tern_retry_budget_try_acquire(&b, t[i].now);
    }
    uint32_t rq, rt;
    tern_retry_budget_counts(&b, t[i].now, &rq, &rt);
    if ((t[i].op == RETRY && granted != t[i].granted) || rq != t[i].win_requests ||
        rt != t[i].win_retries)
      fail_msg("budget step %zu: granted %d, window %u/%u", i, granted, rq, rt);
  }
  tern_retry_budget_destroy(&b);

  tern_retry_budget_config_t c = {.budget_percent = 20, .min_retries = 0, .window = 5};
  assert_int_equal(tern_retry_budget_init(&b, &c), TERN_EINVAL);
  c.window = TERN_SEC(1);
  c.budget_percent = -1;
  assert_int_equal(tern_retry_budget_init(&b, &c), TERN_EINVAL);
  /* min 0: with no traffic no retry at all */
  c.budget_percent = 50;
  assert_int_equal(tern_retry_budget_init(&b, &c), 0);
  assert_false(tern_retry_budget_try_acquire(&b, 0));
  tern_retry_budget_on_request(&b, 0);
  tern_retry_budget_on_request(&b, 0);
  assert_true(tern_retry_budget_try_acquire(&b, 0));
  assert_false(tern_retry_budget_try_acquire(&b, 0));
  tern_retry_budget_destroy(&b);
}

/* decide consults the budget last, and a give-up takes nothing from it;
 * once the window rolls on, retries come back. */
static void test_decide_with_budget(void **state) {
  (void)state;
  tern_retry_budget_t b;
  tern_retry_budget_config_t c;
  tern_retry_budget_config_default(&c);
  c.min_retries = 2;
  assert_int_equal(tern_retry_budget_init(&b, &c), 0);
  tern_retry_policy_t p;
  tern_retry_policy_default(&p);
  p.budget = &b;
  tern_retry_decision_t d;
  tern_error_t timeout = mkerr(TERN_KIND_TIMEOUT, NONE);
  tern_error_t auth = mkerr(TERN_KIND_AUTH, NONE);

  struct {
    tern_usec_t start, now;
    tern_error_t *err;
    tern_retry_action_t action;
    tern_retry_reason_t reason;
    uint32_t win_requests, win_retries;
  } t[] = {
      {0, TERN_MS(10), &timeout, AGAIN, R(NONE), 1, 1},
      {0, TERN_MS(20), &auth, FAILOVER, R(NOT_RETRYABLE), 2, 1},
      {0, TERN_MS(30), &timeout, AGAIN, R(NONE), 3, 2},
      {0, TERN_MS(40), &timeout, FAILOVER, R(BUDGET_EXHAUSTED), 4, 2},
      {TERN_MS(500), TERN_MS(600), &timeout, FAILOVER, R(BUDGET_EXHAUSTED), 5, 2},
      /* 10.5 s on: the first second's calls and retries have left the window */
      {TERN_MS(10500), TERN_MS(10600), &timeout, AGAIN, R(NONE), 1, 1},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    tern_retry_state_t s;
    tern_retry_state_init(&s, &p, t[i].start); /* counts the first attempt */
    assert_int_equal(tern_retry_decide(&p, &s, t[i].err, false, t[i].now, 0.5, &d), 0);
    uint32_t rq, rt;
    tern_retry_budget_counts(&b, t[i].now, &rq, &rt);
    if (d.action != t[i].action || d.reason != t[i].reason || rq != t[i].win_requests ||
        rt != t[i].win_retries)
      fail_msg("step %zu: %s/%s window %u/%u", i, tern_retry_action_name(d.action),
               tern_retry_reason_name(d.reason), rq, rt);
  }
  tern_retry_budget_destroy(&b);
}

typedef struct stress {
  tern_retry_budget_t *b;
  int granted;
} stress_t;

static void *stress_thread(void *arg) {
  stress_t *st = arg;
  for (int i = 0; i < 20000; i++) {
    tern_usec_t now = TERN_MS(i % 1000); /* all inside one window */
    tern_retry_budget_on_request(st->b, now);
    st->granted += tern_retry_budget_try_acquire(st->b, now);
  }
  return NULL;
}

/* Many sessions share one budget: counts stay exact under contention and
 * retries never exceed the budget. */
static void test_budget_threads(void **state) {
  (void)state;
  tern_retry_budget_t b;
  assert_int_equal(tern_retry_budget_init(&b, NULL), 0);
  pthread_t th[4];
  stress_t st[4];
  for (int i = 0; i < 4; i++) {
    st[i] = (stress_t){&b, 0};
    assert_int_equal(pthread_create(&th[i], NULL, stress_thread, &st[i]), 0);
  }
  int granted = 0;
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    granted += st[i].granted;
  }
  uint32_t rq, rt;
  tern_retry_budget_counts(&b, TERN_MS(999), &rq, &rt);
  assert_int_equal(rq, 80000);
  assert_int_equal(rt, (uint32_t)granted);
  assert_true(granted <= 80000 / 5 && granted >= 80000 / 5 - 4);
  tern_retry_budget_destroy(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),           cmocka_unit_test(test_attempt_timeout),
      cmocka_unit_test(test_decision_tables),    cmocka_unit_test(test_budget_window),
      cmocka_unit_test(test_decide_with_budget), cmocka_unit_test(test_budget_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
