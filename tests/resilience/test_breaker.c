/* Circuit breaker: every transition as a table-driven step script on a fake
 * clock, the callback's event sequence, config validation, allocation
 * failure, and a multi-threaded stress run whose counters must add up. */
#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/breaker.h"
#include "tern/error.h"

#define CL TERN_BREAKER_CLOSED
#define OP TERN_BREAKER_OPEN
#define HO TERN_BREAKER_HALF_OPEN
#define S_ TERN_BREAKER_SUCCESS
#define F_ TERN_BREAKER_FAILURE
#define I_ TERN_BREAKER_IGNORED
#define OK 0
#define NO TERN_EOPEN

/* ---- step scripts -------------------------------------------------------- */

enum op {
  END = 0,
  ACQ,     /* acquire; keep the permit for a later REC */
  REC,     /* record the oldest kept permit */
  CALL,    /* `n` times: acquire (must give rc) and record at once */
  FOPEN,   /* force open */
  FCLOSED, /* force closed */
  RELEASE,
  RESET,
  WIN,   /* check window counts: a = calls, b = failures, c = slow */
  OPDUR, /* check stats.open_duration == a ms */
  UNTIL, /* check stats.until_half_open == a µs */
  STALE, /* check stats.stale == a */
};

typedef struct step {
  enum op op;
  int64_t t_ms;
  int outcome;
  int64_t dur_ms;
  int rc;
  int state;
  int n;
  int64_t a, b, c;
} step_t;

#define A(t, rc_, st)                                                                              \
  { .op = ACQ, .t_ms = (t), .rc = (rc_), .state = (st) }
#define R(t, out, dur, st)                                                                         \
  { .op = REC, .t_ms = (t), .outcome = (out), .dur_ms = (dur), .state = (st) }
#define C(n_, t, out, dur, st)                                                                     \
  { .op = CALL, .n = (n_), .t_ms = (t), .outcome = (out), .dur_ms = (dur), .rc = OK, .state = (st) }
#define FO(t, st)                                                                                  \
  { .op = FOPEN, .t_ms = (t), .state = (st) }
#define FC(t, st)                                                                                  \
  { .op = FCLOSED, .t_ms = (t), .state = (st) }
#define REL(t, st)                                                                                 \
  { .op = RELEASE, .t_ms = (t), .state = (st) }
#define RST(t, st)                                                                                 \
  { .op = RESET, .t_ms = (t), .state = (st) }
#define W(t, calls, fails, slow)                                                                   \
  { .op = WIN, .t_ms = (t), .state = -1, .a = (calls), .b = (fails), .c = (slow) }
#define OD(ms)                                                                                     \
  { .op = OPDUR, .state = -1, .a = (ms) }
#define UN(t, us)                                                                                  \
  { .op = UNTIL, .t_ms = (t), .state = -1, .a = (us) }
#define ST(n_)                                                                                     \
  { .op = STALE, .state = -1, .a = (n_) }

typedef struct ev {
  int from, to;
  int64_t t_ms;
} ev_t;
#define EV_END                                                                                     \
  { -1, -1, -1 }

typedef struct script {
  const char *name;
  void (*setup)(tern_breaker_config_t *cfg);
  step_t steps[48];
  ev_t events[16];
} script_t;

typedef struct evlog {
  ev_t ev[64];
  int n;
  char name[32];
} evlog_t;

static void log_event(void *ud, const char *name, tern_breaker_state_t from,
                      tern_breaker_state_t to, tern_usec_t now) {
  evlog_t *log = ud;
  snprintf(log->name, sizeof log->name, "%s", name);
  if (log->n < 64)
    log->ev[log->n++] = (ev_t){(int)from, (int)to, now / 1000};
}

#define CHECK(s, i, got, want)                                                                     \
  do {                                                                                             \
    long long g_ = (long long)(got), w_ = (long long)(want);                                       \
    if (g_ != w_)                                                                                  \
      fail_msg("%s, step %d: %s is %lld, want %lld", (s)->name, (i), #got, g_, w_);                \
  } while (0)

static void run_script(const script_t *s) {
  tern_breaker_config_t cfg;
  tern_breaker_config_default(&cfg);
  if (s->setup)
    s->setup(&cfg);
  evlog_t log = {.n = 0};
  cfg.on_change = log_event;
  cfg.on_change_ud = &log;
  tern_breaker_t *b = NULL;
  assert_int_equal(tern_breaker_create(&cfg, "prov", &b), 0);
  tern_breaker_permit_t kept[32];
  int khead = 0, ktail = 0;

  for (int i = 0; i < 48 && s->steps[i].op != END; i++) {
    const step_t *st = &s->steps[i];
    tern_usec_t now = TERN_MS(st->t_ms);
    tern_breaker_stats_t stats;
    tern_breaker_permit_t p;
    switch (st->op) {
    case ACQ: {
      int rc = tern_breaker_acquire(b, now, &p);
      CHECK(s, i, rc, st->rc);
      if (rc == 0)
        kept[ktail++ % 32] = p;
      break;
    }
    case REC:
      if (khead == ktail)
        fail_msg("%s, step %d: no permit kept", s->name, i);
      CHECK(s, i, tern_breaker_record(b, kept[khead++ % 32], st->outcome, TERN_MS(st->dur_ms), now),
            0);
      break;
    case CALL:
      for (int k = 0; k < st->n; k++) {
        CHECK(s, i, tern_breaker_acquire(b, now, &p), st->rc);
        CHECK(s, i, tern_breaker_record(b, p, st->outcome, TERN_MS(st->dur_ms), now), 0);
      }
      break;
    case FOPEN:
      CHECK(s, i, tern_breaker_force_open(b, now), 0);
      break;
    case FCLOSED:
      CHECK(s, i, tern_breaker_force_closed(b, now), 0);
      break;
    case RELEASE:
      CHECK(s, i, tern_breaker_release(b, now), 0);
      break;
    case RESET:
      CHECK(s, i, tern_breaker_reset(b, now), 0);
      break;
    case WIN:
    case OPDUR:
    case UNTIL:
    case STALE:
      assert_int_equal(tern_breaker_stats(b, now, &stats), 0);
      if (st->op == WIN) {
        CHECK(s, i, stats.window_calls, st->a);
        CHECK(s, i, stats.window_failures, st->b);
        CHECK(s, i, stats.window_slow, st->c);
      } else if (st->op == OPDUR) {
        CHECK(s, i, stats.open_duration, TERN_MS(st->a));
      } else if (st->op == UNTIL) {
        CHECK(s, i, stats.until_half_open, st->a);
      } else {
        CHECK(s, i, stats.stale, st->a);
      }
      break;
    case END:
      break;
    }
    if (st->state >= 0)
      CHECK(s, i, tern_breaker_state(b), st->state);
  }

  int want = 0;
  while (want < 16 && s->events[want].from >= 0)
    want++;
  for (int k = 0; k < want && k < log.n; k++) {
    if (log.ev[k].from != s->events[k].from || log.ev[k].to != s->events[k].to ||
        log.ev[k].t_ms != s->events[k].t_ms)
      fail_msg("%s: event %d is %s->%s at %lld ms, want %s->%s at %lld ms", s->name, k,
               tern_breaker_state_name(log.ev[k].from), tern_breaker_state_name(log.ev[k].to),
               (long long)log.ev[k].t_ms, tern_breaker_state_name(s->events[k].from),
               tern_breaker_state_name(s->events[k].to), (long long)s->events[k].t_ms);
  }
  if (log.n != want)
    fail_msg("%s: %d events, want %d", s->name, log.n, want);
  if (want > 0)
    assert_string_equal(log.name, "prov");
  tern_breaker_destroy(b);
}

static void no_consecutive(tern_breaker_config_t *c) { c->consecutive_failures = 0; }
static void three_probes(tern_breaker_config_t *c) { c->half_open_probes = 3; }
static void slow_calls(tern_breaker_config_t *c) {
  c->consecutive_failures = 0;
  c->slow_call_duration = TERN_SEC(1);
  c->slow_call_ratio = 0.8;
}
static void capped_growth(tern_breaker_config_t *c) { c->open_duration_max = TERN_SEC(100); }

static const script_t scripts[] = {
    {"consecutive failures open",
     NULL,
     {C(1, 0, F_, 0, CL), C(1, 1, F_, 0, CL), C(1, 2, F_, 0, OP), A(3, NO, OP), OD(30000)},
     {{CL, OP, 2}, EV_END}},
    {"a success resets the consecutive count",
     NULL,
     {C(2, 0, F_, 0, CL), C(1, 1, S_, 0, CL), C(2, 2, F_, 0, CL), C(1, 3, F_, 0, OP)},
     {{CL, OP, 3}, EV_END}},
    {"window ratio counts only from min_calls",
     no_consecutive,
     {C(9, 0, F_, 0, CL), W(0, 9, 9, 0), C(1, 5, F_, 0, OP)},
     {{CL, OP, 5}, EV_END}},
    {"window ratio below threshold stays closed",
     no_consecutive,
     {C(6, 0, S_, 0, CL), C(4, 0, F_, 0, CL), C(1, 1, F_, 0, CL), W(1, 11, 5, 0),
      C(1, 2, F_, 0, OP)},
     {{CL, OP, 2}, EV_END}},
    {"window roll-over ages out the oldest bucket",
     no_consecutive,
     /* Five failures at 0 s, four successes at 15 s. At 31 s the 0-3 s bucket
      * has left the window: had it not, the tenth call would trip. */
     {C(5, 0, F_, 0, CL), C(4, 15000, S_, 0, CL), W(15000, 9, 5, 0), C(1, 31000, S_, 0, CL),
      W(31000, 5, 0, 0), C(4, 32000, F_, 0, CL), C(1, 32000, F_, 0, OP)},
     {{CL, OP, 32000}, EV_END}},
    {"the window is the full 30 s",
     no_consecutive,
     {C(5, 0, F_, 0, CL), C(4, 29999, F_, 0, CL), W(29999, 9, 9, 0), C(1, 29999, F_, 0, OP)},
     {{CL, OP, 29999}, EV_END}},
    {"an idle gap longer than the window clears it",
     no_consecutive,
     {C(9, 0, F_, 0, CL), C(1, 100000, F_, 0, CL), W(100000, 1, 1, 0), C(8, 3600000, F_, 0, CL),
      W(3600000, 8, 8, 0)},
     {EV_END}},
    {"slow-call ratio trips; exactly the threshold is not slow",
     slow_calls,
     {C(10, 0, S_, 1000, CL), W(0, 10, 0, 0), C(7, 1, S_, 1001, CL), W(1, 17, 0, 7),
      C(10, 40000, S_, 2000, OP)},
     {{CL, OP, 40000}, EV_END}},
    {"slow-call ratio trips at the ratio with min calls",
     slow_calls,
     {C(7, 0, S_, 2000, CL), C(2, 0, S_, 500, CL), W(0, 9, 0, 7), C(1, 0, F_, 3000, OP)},
     {{CL, OP, 0}, EV_END}},
    {"open rejects until its duration, then one probe",
     NULL,
     {C(3, 0, F_, 0, OP), UN(1, 29999000), A(29999, NO, OP), A(30000, OK, HO), A(30000, NO, HO),
      A(30001, NO, HO), R(30001, S_, 0, CL), W(30001, 0, 0, 0), C(2, 30002, F_, 0, CL),
      C(1, 30003, F_, 0, OP), OD(60000)},
     {{CL, OP, 0}, {OP, HO, 30000}, {HO, CL, 30001}, {CL, OP, 30003}, EV_END}},
    {"three probes: excess rejected, all must succeed",
     three_probes,
     {C(3, 0, F_, 0, OP), A(30000, OK, HO), A(30000, OK, HO), A(30000, OK, HO), A(30000, NO, HO),
      R(30001, S_, 0, HO), R(30002, S_, 0, HO), A(30002, NO, HO), R(30003, S_, 0, CL),
      A(30003, OK, CL)},
     {{CL, OP, 0}, {OP, HO, 30000}, {HO, CL, 30003}, EV_END}},
    {"one failed probe of three reopens for longer",
     three_probes,
     {C(3, 0, F_, 0, OP), A(30000, OK, HO), A(30000, OK, HO), A(30000, OK, HO), R(30001, S_, 0, HO),
      R(30002, F_, 0, OP), OD(60000), R(30003, S_, 0, OP), ST(1), A(90001, NO, OP),
      A(90002, OK, HO)},
     {{CL, OP, 0}, {OP, HO, 30000}, {HO, OP, 30002}, {OP, HO, 90002}, EV_END}},
    {"open duration grows to its max and resets after a healthy spell",
     capped_growth,
     {C(3, 0, F_, 0, OP), OD(30000), C(1, 30000, F_, 0, OP), OD(60000), A(89999, NO, OP),
      C(1, 90000, F_, 0, OP), OD(100000), C(1, 190000, F_, 0, OP), OD(100000),
      C(1, 290000, S_, 0, CL), C(3, 340000, F_, 0, OP), OD(100000), C(1, 440000, S_, 0, CL),
      C(3, 500000, F_, 0, OP), OD(30000)},
     {{CL, OP, 0},
      {OP, HO, 30000},
      {HO, OP, 30000},
      {OP, HO, 90000},
      {HO, OP, 90000},
      {OP, HO, 190000},
      {HO, OP, 190000},
      {OP, HO, 290000},
      {HO, CL, 290000},
      {CL, OP, 340000},
      {OP, HO, 440000},
      {HO, CL, 440000},
      {CL, OP, 500000},
      EV_END}},
    {"forced states hold until released",
     NULL,
     {FO(0, OP), A(3600000, NO, OP), UN(3600000, 0), REL(3600001, CL), FC(3600002, CL),
      C(20, 3600003, F_, 0, CL), REL(3600004, CL), W(3600004, 0, 0, 0), C(2, 3600005, F_, 0, CL),
      C(1, 3600006, F_, 0, OP), FC(3600007, CL), A(3600008, OK, CL), FO(3600009, OP),
      A(3600010, NO, OP), RST(3600011, CL)},
     {{CL, OP, 0},
      {OP, CL, 3600001},
      {CL, OP, 3600006},
      {OP, CL, 3600007},
      {CL, OP, 3600009},
      {OP, CL, 3600011},
      EV_END}},
    {"force open during half-open; release closes",
     NULL,
     {C(3, 0, F_, 0, OP), A(30000, OK, HO), FO(30001, OP), R(30002, S_, 0, OP), ST(1),
      A(999999, NO, OP), REL(1000000, CL)},
     {{CL, OP, 0}, {OP, HO, 30000}, {HO, OP, 30001}, {OP, CL, 1000000}, EV_END}},
    {"ignored outcomes count for nothing",
     NULL,
     {C(2, 0, F_, 0, CL), C(5, 0, I_, 0, CL), W(0, 2, 2, 0), C(1, 0, F_, 0, OP), A(30000, OK, HO),
      R(30000, I_, 0, HO), A(30000, OK, HO), A(30000, NO, HO), R(30001, S_, 0, CL)},
     {{CL, OP, 0}, {OP, HO, 30000}, {HO, CL, 30001}, EV_END}},
    {"ignored outcomes don't reach min_calls",
     no_consecutive,
     {C(9, 0, F_, 0, CL), C(50, 0, I_, 0, CL), W(0, 9, 9, 0)},
     {EV_END}},
    {"a permit from before the last change moves nothing",
     NULL,
     {A(0, OK, CL), C(3, 1, F_, 0, OP), A(30001, OK, HO), R(30001, S_, 0, HO), ST(1),
      R(30002, S_, 0, CL), ST(1)},
     {{CL, OP, 1}, {OP, HO, 30001}, {HO, CL, 30002}, EV_END}},
    {"a slow probe is a failed probe",
     slow_calls,
     {C(10, 0, S_, 5000, OP), A(30000, OK, HO), R(35000, S_, 5000, OP), OD(60000), A(95000, OK, HO),
      R(95000, S_, 10, CL)},
     {{CL, OP, 0}, {OP, HO, 30000}, {HO, OP, 35000}, {OP, HO, 95000}, {HO, CL, 95000}, EV_END}},
    {"reset clears the grown duration",
     NULL,
     {C(3, 0, F_, 0, OP), C(1, 30000, F_, 0, OP), OD(60000), RST(30001, CL), C(3, 30002, F_, 0, OP),
      OD(30000)},
     {{CL, OP, 0}, {OP, HO, 30000}, {HO, OP, 30000}, {OP, CL, 30001}, {CL, OP, 30002}, EV_END}},
};

static void test_scripts(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof scripts / sizeof scripts[0]; i++)
    run_script(&scripts[i]);
}

/* ---- config --------------------------------------------------------------- */

static void test_config_defaults_and_validation(void **state) {
  (void)state;
  tern_breaker_config_t c;
  tern_breaker_config_default(&c);
  const char *why = "x";
  assert_int_equal(tern_breaker_config_validate(&c, &why), 0);
  assert_null(why);
  assert_int_equal(c.consecutive_failures, 3);
  assert_int_equal(c.window, TERN_SEC(30));
  assert_int_equal(c.min_calls, 10);
  assert_int_equal(c.open_duration, TERN_SEC(30));
  assert_int_equal(c.half_open_probes, 1);

  /* Each line breaks one rule of a default config. */
  tern_breaker_config_t bad[16];
  int n = 0;
  for (int i = 0; i < 16; i++)
    tern_breaker_config_default(&bad[i]);
  bad[n].consecutive_failures = 0, bad[n++].window = 0;
  bad[n++].window = -1;
  bad[n++].window_buckets = 0;
  bad[n++].window_buckets = TERN_BREAKER_MAX_BUCKETS + 1;
  bad[n++].window_buckets = 7; /* 30 s is not a multiple of 7 µs */
  bad[n++].min_calls = 0;
  bad[n++].failure_ratio = 1.5;
  bad[n].failure_ratio = 0, bad[n++].slow_call_duration = 0;
  bad[n++].slow_call_duration = -1;
  bad[n].slow_call_duration = TERN_SEC(1), bad[n++].slow_call_ratio = 0;
  bad[n++].open_duration = 0;
  bad[n++].open_multiplier = 0.5;
  bad[n++].open_duration_max = TERN_SEC(1);
  bad[n++].half_open_probes = 0;
  bad[n++].open_reset_after = -1;
  bad[n].slow_call_duration = TERN_SEC(1), bad[n].window = 0, bad[n++].consecutive_failures = 3;
  for (int i = 0; i < n; i++) {
    why = NULL;
    if (tern_breaker_config_validate(&bad[i], &why) != TERN_EINVAL)
      fail_msg("bad config %d accepted", i);
    assert_non_null(why);
    tern_breaker_t *b = (tern_breaker_t *)1;
    assert_int_equal(tern_breaker_create(&bad[i], "p", &b), TERN_EINVAL);
    assert_null(b);
  }
  tern_breaker_t *b;
  assert_int_equal(tern_breaker_create(&c, NULL, &b), TERN_EINVAL);
  assert_int_equal(tern_breaker_create(NULL, "p", &b), TERN_EINVAL);
  assert_int_equal(tern_breaker_config_validate(NULL, NULL), TERN_EINVAL);

  /* Slow calls alone can drive a window (failure ratio off). */
  c.failure_ratio = 0;
  c.slow_call_duration = TERN_SEC(2);
  assert_int_equal(tern_breaker_config_validate(&c, NULL), 0);
}

static void test_state_names_and_bad_outcome(void **state) {
  (void)state;
  assert_string_equal(tern_breaker_state_name(TERN_BREAKER_CLOSED), "closed");
  assert_string_equal(tern_breaker_state_name(TERN_BREAKER_OPEN), "open");
  assert_string_equal(tern_breaker_state_name(TERN_BREAKER_HALF_OPEN), "half_open");
  tern_breaker_config_t c;
  tern_breaker_config_default(&c);
  tern_breaker_t *b;
  assert_int_equal(tern_breaker_create(&c,
                                       "a-provider-name-that-is-rather-long-so-it-gets-cut-at-"
                                       "sixty-three-bytes-ok",
                                       &b),
                   0);
  tern_breaker_permit_t p;
  assert_int_equal(tern_breaker_acquire(b, 0, &p), 0);
  assert_int_equal(tern_breaker_record(b, p, (tern_breaker_outcome_t)7, 0, 0), TERN_EINVAL);
  tern_breaker_destroy(b);
  tern_breaker_destroy(NULL);
}

/* ---- callback: re-entry and merging --------------------------------------- */

typedef struct reenter {
  tern_breaker_t *b;
  int calls;
  int flips; /* transitions the callback itself causes on its first call */
  int from[64], to[64];
  int depth, max_depth;
} reenter_t;

static void reenter_cb(void *ud, const char *name, tern_breaker_state_t from,
                       tern_breaker_state_t to, tern_usec_t now) {
  (void)name;
  reenter_t *r = ud;
  r->depth++;
  if (r->depth > r->max_depth)
    r->max_depth = r->depth;
  if (r->calls < 64) {
    r->from[r->calls] = from;
    r->to[r->calls] = to;
  }
  r->calls++;
  tern_breaker_stats_t st;
  assert_int_equal(tern_breaker_stats(r->b, now, &st), 0); /* no deadlock */
  if (r->calls == 1) {
    for (int i = 0; i < r->flips; i++) {
      if (i % 2 == 0)
        tern_breaker_force_closed(r->b, now + 1 + i);
      else
        tern_breaker_force_open(r->b, now + 1 + i);
    }
  }
  r->depth--;
}

static void test_callback_reentry_keeps_order(void **state) {
  (void)state;
  for (int flips = 1; flips <= 40; flips += 39) {
    reenter_t r = {.flips = flips};
    tern_breaker_config_t c;
    tern_breaker_config_default(&c);
    c.on_change = reenter_cb;
    c.on_change_ud = &r;
    assert_int_equal(tern_breaker_create(&c, "p", &r.b), 0);
    assert_int_equal(tern_breaker_force_open(r.b, 0), 0);
    tern_breaker_stats_t st;
    assert_int_equal(tern_breaker_stats(r.b, 0, &st), 0);
    /* Never nested: callbacks caused inside a callback run after it returns. */
    assert_int_equal(r.max_depth, 1);
    /* The chain is unbroken and starts from closed. */
    assert_int_equal(r.from[0], CL);
    for (int i = 1; i < r.calls && i < 64; i++)
      assert_int_equal(r.from[i], r.to[i - 1]);
    assert_int_equal(r.to[(r.calls < 64 ? r.calls : 64) - 1], tern_breaker_state(r.b));
    if (flips == 1) {
      assert_int_equal(r.calls, 2); /* closed->open, open->closed */
      assert_int_equal(st.events_merged, 0);
      assert_int_equal(st.transitions, 2);
    } else {
      /* 40 flips don't fit in the queue: some merged, none lost from the chain. */
      assert_true(st.events_merged > 0);
      assert_int_equal(r.calls + (int)st.events_merged, 1 + flips);
    }
    tern_breaker_destroy(r.b);
  }
}

/* ---- stress ---------------------------------------------------------------- */

#define STRESS_THREADS 4
#define STRESS_ITERS 100000

typedef struct stress_shared {
  tern_breaker_t *b;
  atomic_int in_cb;
  atomic_int overlap;
  pthread_mutex_t mu;
  int events, chain_breaks, last_to, trips;
} stress_shared_t;

typedef struct stress_thread {
  stress_shared_t *sh;
  unsigned seed;
  uint64_t ok, rejected, succ, fail, ign, errors;
} stress_thread_t;

static void stress_cb(void *ud, const char *name, tern_breaker_state_t from,
                      tern_breaker_state_t to, tern_usec_t now) {
  (void)name;
  (void)now;
  stress_shared_t *sh = ud;
  if (atomic_fetch_add(&sh->in_cb, 1) != 0)
    atomic_fetch_add(&sh->overlap, 1);
  pthread_mutex_lock(&sh->mu);
  if ((int)from != sh->last_to)
    sh->chain_breaks++;
  sh->last_to = (int)to;
  sh->events++;
  if (to == TERN_BREAKER_OPEN)
    sh->trips++;
  pthread_mutex_unlock(&sh->mu);
  atomic_fetch_sub(&sh->in_cb, 1);
}

static void *stress_run(void *arg) {
  stress_thread_t *t = arg;
  unsigned x = t->seed;
  for (int i = 0; i < STRESS_ITERS; i++) {
    x = x * 1103515245u + 12345u;
    tern_usec_t now = (tern_usec_t)i * 10 + (x >> 28); /* threads roughly in step */
    tern_breaker_permit_t p;
    if (tern_breaker_acquire(t->sh->b, now, &p) != 0) {
      t->rejected++;
      continue;
    }
    t->ok++;
    unsigned r = (x >> 16) % 100;
    tern_breaker_outcome_t o = r < 30   ? TERN_BREAKER_FAILURE
                               : r < 35 ? TERN_BREAKER_IGNORED
                                        : TERN_BREAKER_SUCCESS;
    if (o == TERN_BREAKER_FAILURE)
      t->fail++;
    else if (o == TERN_BREAKER_IGNORED)
      t->ign++;
    else
      t->succ++;
    if (tern_breaker_record(t->sh->b, p, o, (tern_usec_t)(x >> 20) % 3000, now + 5) != 0)
      t->errors++;
  }
  return NULL;
}

static void test_stress_threads(void **state) {
  (void)state;
  stress_shared_t sh = {.last_to = CL};
  pthread_mutex_init(&sh.mu, NULL);
  tern_breaker_config_t c;
  tern_breaker_config_default(&c);
  c.window = 10000; /* short enough that every path runs many times */
  c.window_buckets = 10;
  c.slow_call_duration = 2500;
  c.slow_call_ratio = 0.5;
  c.open_duration = 200;
  c.open_duration_max = 2000;
  c.open_reset_after = 1000;
  c.half_open_probes = 2;
  c.on_change = stress_cb;
  c.on_change_ud = &sh;
  assert_int_equal(tern_breaker_create(&c, "stress", &sh.b), 0);
  pthread_t th[STRESS_THREADS];
  stress_thread_t ts[STRESS_THREADS];
  for (int i = 0; i < STRESS_THREADS; i++) {
    ts[i] = (stress_thread_t){.sh = &sh, .seed = 7919u * (unsigned)(i + 1)};
    assert_int_equal(pthread_create(&th[i], NULL, stress_run, &ts[i]), 0);
  }
  uint64_t ok = 0, rej = 0, succ = 0, fail = 0, ign = 0;
  for (int i = 0; i < STRESS_THREADS; i++) {
    pthread_join(th[i], NULL);
    ok += ts[i].ok;
    rej += ts[i].rejected;
    succ += ts[i].succ;
    fail += ts[i].fail;
    ign += ts[i].ign;
    assert_int_equal(ts[i].errors, 0);
  }
  tern_breaker_stats_t st;
  assert_int_equal(tern_breaker_stats(sh.b, INT64_MAX / 2, &st), 0);
  assert_int_equal(ok + rej, (uint64_t)STRESS_THREADS * STRESS_ITERS);
  assert_int_equal(st.permitted, ok);
  assert_int_equal(st.rejected, rej);
  assert_int_equal(st.successes, succ);
  assert_int_equal(st.failures, fail);
  assert_int_equal(st.ignored, ign);
  assert_true(st.opens > 10); /* the run did exercise the machine */
  assert_true(rej > 0);
  assert_int_equal(atomic_load(&sh.overlap), 0);
  assert_int_equal(sh.chain_breaks, 0);
  assert_int_equal(sh.last_to, (int)tern_breaker_state(sh.b));
  /* Every transition reached the callback, alone or folded into a merge. */
  assert_int_equal((uint64_t)sh.events + st.events_merged, st.transitions);
  if (st.events_merged == 0)
    assert_int_equal((uint64_t)sh.trips, st.opens);
  tern_breaker_destroy(sh.b);
  pthread_mutex_destroy(&sh.mu);
}

/* ---- allocation failure ----------------------------------------------------- */

static int create_one(void *ctx) {
  (void)ctx;
  tern_breaker_config_t c;
  tern_breaker_config_default(&c);
  tern_breaker_t *b = NULL;
  int rc = tern_breaker_create(&c, "p", &b);
  if (rc) {
    assert_null(b);
    return rc;
  }
  tern_breaker_permit_t p;
  assert_int_equal(tern_breaker_acquire(b, 0, &p), 0);
  assert_int_equal(tern_breaker_record(b, p, TERN_BREAKER_FAILURE, 0, 0), 0);
  tern_breaker_destroy(b);
  return 0;
}

static void test_alloc_sweep(void **state) {
  (void)state;
  assert_true(tu_alloc_sweep(create_one, NULL) >= 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scripts),
      cmocka_unit_test(test_config_defaults_and_validation),
      cmocka_unit_test(test_state_names_and_bad_outcome),
      cmocka_unit_test(test_callback_reentry_keeps_order),
      cmocka_unit_test(test_stress_threads),
      cmocka_unit_test(test_alloc_sweep),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
