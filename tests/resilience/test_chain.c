/* Fallback chain: failover order, exhaustion, probe schedule, switch-back,
 * holds (breaker open, Retry-After). Table-driven on a fake timeline. */
#include "testutil.h"

#include <string.h>

#include "tern/alloc.h"
#include "tern/chain.h"
#include "tern/error.h"

#define NONE TERN_CHAIN_NONE
/* seconds (fractions allowed) to microseconds, rounded */
#define S(x) ((tern_usec_t)((x)*1e6 + 0.5))
#define NOSW (-2) /* no switch event expected */
#define SKIP INT64_MIN

typedef enum {
  OP_FAIL,       /* report_failure(link), arg = Retry-After (0: none) */
  OP_CANCEL,     /* report_failure(link) with a cancelled error */
  OP_SUCCESS,    /* report_success(link) */
  OP_MARK,       /* mark_unavailable(link, until = arg) */
  OP_PROBES,     /* due_probes: expect the set `probes` (bitmask) */
  OP_PROBE_OK,   /* probe_result(link, true) */
  OP_PROBE_FAIL, /* probe_result(link, false) */
  OP_NONE        /* nothing: just check the state at t */
} op_t;

typedef struct step {
  op_t op;
  double t; /* seconds */
  int link;
  double arg;      /* seconds */
  int rc;          /* expected return code */
  unsigned probes; /* OP_PROBES: expected links as a bitmask */
  int cur;         /* expected current link afterwards */
  int sw_from;     /* expected switch event, or NOSW */
  int sw_to;
  int sw_reason;
  double next_at; /* expected next_probe_at of `link` (seconds), or -1 */
} step_t;

typedef struct recorder {
  int n;
  tern_chain_switch_t last;
  char from[32], to[32];
} recorder_t;

static void on_switch(const tern_chain_switch_t *sw, void *ud) {
  recorder_t *r = ud;
  r->n++;
  r->last = *sw;
  snprintf(r->from, sizeof r->from, "%s", sw->from_name ? sw->from_name : "-");
  snprintf(r->to, sizeof r->to, "%s", sw->to_name ? sw->to_name : "-");
}

static const char *const NAMES[] = {"a", "b", "c", "d"};

static void run_steps(const step_t *steps, size_t n, size_t links) {
  tern_chain_t *c = NULL;
  assert_int_equal(tern_chain_create(NAMES, links, NULL, &c), 0);
  recorder_t rec = {0};
  tern_chain_on_switch(c, on_switch, &rec);
  for (size_t i = 0; i < n; i++) {
    const step_t *s = &steps[i];
    tern_usec_t now = S(s->t);
    int before = rec.n;
    int rc = 0;
    tern_error_t err;
    memset(&err, 0, sizeof err);
    err.component = TERN_COMP_LLM;
    err.kind = TERN_KIND_SERVER;
    err.retry_after = s->arg > 0 ? S(s->arg) : -1;
    switch (s->op) {
    case OP_FAIL:
      rc = tern_chain_report_failure(c, s->link, &err, now);
      break;
    case OP_CANCEL:
      err.kind = TERN_KIND_CANCELLED;
      rc = tern_chain_report_failure(c, s->link, &err, now);
      break;
    case OP_SUCCESS:
      rc = tern_chain_report_success(c, s->link, now);
      break;
    case OP_MARK:
      rc = tern_chain_mark_unavailable(c, s->link, S(s->arg), now);
      break;
    case OP_PROBES: {
      int out[TERN_CHAIN_MAX_LINKS];
      size_t got = 99;
      rc = tern_chain_due_probes(c, now, out, TERN_CHAIN_MAX_LINKS, &got);
      unsigned mask = 0;
      for (size_t k = 0; k < got; k++) {
        if (k > 0 && out[k] <= out[k - 1])
          fail_msg("step %zu: probes not in priority order", i);
        mask |= 1u << out[k];
      }
      if (mask != s->probes)
        fail_msg("step %zu: probes 0x%x, expected 0x%x", i, mask, s->probes);
      break;
    }
    case OP_PROBE_OK:
      rc = tern_chain_probe_result(c, s->link, true, now);
      break;
    case OP_PROBE_FAIL:
      rc = tern_chain_probe_result(c, s->link, false, now);
      break;
    case OP_NONE:
      break;
    }
    if (rc != s->rc)
      fail_msg("step %zu: rc %s, expected %s", i, tern_err_name(rc), tern_err_name(s->rc));
    int cur = 12345;
    int crc = tern_chain_current(c, &cur);
    if (cur != s->cur)
      fail_msg("step %zu: current %d, expected %d", i, cur, s->cur);
    assert_int_equal(crc, s->cur == NONE ? TERN_EEXHAUSTED : 0);
    if (s->sw_from == NOSW) {
      if (rec.n != before)
        fail_msg("step %zu: unexpected switch %d -> %d", i, rec.last.from, rec.last.to);
    } else {
      if (rec.n != before + 1)
        fail_msg("step %zu: expected one switch event, got %d", i, rec.n - before);
      if (rec.last.from != s->sw_from || rec.last.to != s->sw_to ||
          (int)rec.last.reason != s->sw_reason)
        fail_msg("step %zu: switch %d -> %d (%s), expected %d -> %d (%s)", i, rec.last.from,
                 rec.last.to, tern_switch_reason_name(rec.last.reason), s->sw_from, s->sw_to,
                 tern_switch_reason_name((tern_switch_reason_t)s->sw_reason));
      assert_string_equal(rec.from, s->sw_from == NONE ? "-" : NAMES[s->sw_from]);
      assert_string_equal(rec.to, s->sw_to == NONE ? "-" : NAMES[s->sw_to]);
    }
    if (s->next_at >= 0) {
      tern_chain_link_info_t info;
      assert_int_equal(tern_chain_link_info(c, s->link, &info), 0);
      assert_int_equal(info.state, TERN_LINK_COOLING);
      if (info.next_probe_at != S(s->next_at))
        fail_msg("step %zu: next probe of %d at %lld us, expected %lld", i, s->link,
                 (long long)info.next_probe_at, (long long)S(s->next_at));
    }
  }
  tern_chain_destroy(c);
}

/* Step rows read: op, t (s), link, arg (s), rc, probes, current afterwards,
 * switch event (from, to, reason) or NO_EVENT, next probe of link (s) or -1. */
#define FO TERN_SWITCH_FAILOVER
#define SB TERN_SWITCH_BACK
#define NO_EVENT NOSW, 0, 0

static void test_failover_order_and_exhaustion(void **state) {
  (void)state;
  static const step_t steps[] = {
      {OP_NONE, 0, 0, 0, 0, 0, 0, NO_EVENT, -1},
      {OP_FAIL, 1, 0, 0, 0, 0, 1, 0, 1, FO, 6},
      /* a failure of a link that is not current moves nothing */
      {OP_FAIL, 1, 2, 0, 0, 0, 1, NO_EVENT, 6},
      {OP_FAIL, 1, 1, 0, 0, 0, NONE, 1, NONE, FO, 6},
      /* a second failure of a cooling link keeps its schedule */
      {OP_FAIL, 3, 1, 0, 0, 0, NONE, NO_EVENT, 6},
  };
  run_steps(steps, sizeof steps / sizeof steps[0], 3);
}

static void test_probe_schedule_grows_to_cap_then_switches_back(void **state) {
  (void)state;
  static const step_t steps[] = {
      {OP_FAIL, 0, 0, 0, 0, 0, 1, 0, 1, FO, 5},
      {OP_PROBES, 4.999, 0, 0, 0, 0x0, 1, NO_EVENT, -1},
      {OP_PROBES, 5, 0, 0, 0, 0x1, 1, NO_EVENT, -1},
      {OP_PROBES, 5, 0, 0, 0, 0x0, 1, NO_EVENT, -1},   /* handed out once */
      {OP_PROBES, 500, 0, 0, 0, 0x0, 1, NO_EVENT, -1}, /* still out */
      {OP_PROBE_FAIL, 6, 0, 0, 0, 0, 1, NO_EVENT, 16}, /* 10 s */
      {OP_PROBES, 15.999, 0, 0, 0, 0x0, 1, NO_EVENT, -1},
      {OP_PROBES, 16, 0, 0, 0, 0x1, 1, NO_EVENT, -1},
      {OP_PROBE_FAIL, 16, 0, 0, 0, 0, 1, NO_EVENT, 36}, /* 20 s */
      {OP_PROBES, 36, 0, 0, 0, 0x1, 1, NO_EVENT, -1},
      {OP_PROBE_FAIL, 36, 0, 0, 0, 0, 1, NO_EVENT, 76}, /* 40 s */
      {OP_PROBES, 76, 0, 0, 0, 0x1, 1, NO_EVENT, -1},
      {OP_PROBE_FAIL, 76, 0, 0, 0, 0, 1, NO_EVENT, 136}, /* 80 s capped at 60 */
      {OP_PROBES, 136, 0, 0, 0, 0x1, 1, NO_EVENT, -1},
      {OP_PROBE_FAIL, 136, 0, 0, 0, 0, 1, NO_EVENT, 196}, /* stays at 60 */
      {OP_PROBES, 196, 0, 0, 0, 0x1, 1, NO_EVENT, -1},
      {OP_PROBE_OK, 197, 0, 0, 0, 0, 0, 1, 0, SB, -1},
      /* its result was taken: a second one is refused */
      {OP_PROBE_OK, 197, 0, 0, TERN_ESTATE, 0, 0, NO_EVENT, -1},
      /* a new failure starts again from the first interval */
      {OP_FAIL, 200, 0, 0, 0, 0, 1, 0, 1, FO, 205},
  };
  run_steps(steps, sizeof steps / sizeof steps[0], 2);
}

static void test_switch_back_step_by_step_and_from_exhaustion(void **state) {
  (void)state;
  static const step_t steps[] = {
      {OP_FAIL, 0, 0, 0, 0, 0, 1, 0, 1, FO, 5},
      {OP_FAIL, 1, 1, 0, 0, 0, 2, 1, 2, FO, 6},
      {OP_FAIL, 2, 2, 0, 0, 0, NONE, 2, NONE, FO, 7},
      {OP_PROBES, 6, 0, 0, 0, 0x3, NONE, NO_EVENT, -1},
      /* the lower link answers first: back from exhaustion to it */
      {OP_PROBE_OK, 6.5, 1, 0, 0, 0, 1, NONE, 1, SB, -1},
      {OP_PROBES, 7, 0, 0, 0, 0x4, 1, NO_EVENT, -1},
      /* a link below the current one coming back changes nothing */
      {OP_PROBE_OK, 7.5, 2, 0, 0, 0, 1, NO_EVENT, -1},
      {OP_PROBE_OK, 8, 0, 0, 0, 0, 0, 1, 0, SB, -1},
  };
  run_steps(steps, sizeof steps / sizeof steps[0], 3);
}

static void test_holds_delay_probes(void **state) {
  (void)state;
  static const step_t steps[] = {
      /* breaker open for 30 s: the first probe waits for it */
      {OP_MARK, 0, 0, 30, 0, 0, 1, 0, 1, FO, 30},
      {OP_PROBES, 5, 0, 0, 0, 0x0, 1, NO_EVENT, -1},
      {OP_PROBES, 29.999, 0, 0, 0, 0x0, 1, NO_EVENT, -1},
      /* a longer hold on a cooling link pushes its probe out; a shorter one does not */
      {OP_MARK, 10, 0, 40, 0, 0, 1, NO_EVENT, 40},
      {OP_MARK, 11, 0, 20, 0, 0, 1, NO_EVENT, 40},
      {OP_PROBES, 40, 0, 0, 0, 0x1, 1, NO_EVENT, -1},
      /* a hold outlives a failed probe: the regrown interval is shorter */
      {OP_MARK, 41, 0, 90, 0, 0, 1, NO_EVENT, -1},
      {OP_PROBE_FAIL, 42, 0, 0, 0, 0, 1, NO_EVENT, 90},
      /* back before the hold ends (a late success): the hold is gone, so
       * the next failure probes after 5 s, not at 90 */
      {OP_SUCCESS, 50, 0, 0, 0, 0, 0, 1, 0, SB, -1},
      {OP_FAIL, 60, 0, 0, 0, 0, 1, 0, 1, FO, 65},
      {OP_PROBES, 65, 0, 0, 0, 0x1, 1, NO_EVENT, -1},
      {OP_PROBE_OK, 65, 0, 0, 0, 0, 0, 1, 0, SB, -1},
      /* Retry-After of 12 s beats the 5 s first probe */
      {OP_FAIL, 200, 0, 12, 0, 0, 1, 0, 1, FO, 212},
      /* a hold that is already over does not bring the probe forward */
      {OP_MARK, 201, 0, 150, 0, 0, 1, NO_EVENT, 212},
  };
  run_steps(steps, sizeof steps / sizeof steps[0], 2);
}

static void test_success_cancel_and_stale_probe_results(void **state) {
  (void)state;
  static const step_t steps[] = {
      /* a cancelled request (barge-in) is not a provider failure */
      {OP_CANCEL, 0, 0, 0, 0, 0, 0, NO_EVENT, -1},
      {OP_FAIL, 0, 0, 0, 0, 0, 1, 0, 1, FO, 5},
      /* no probe was handed out yet */
      {OP_PROBE_OK, 1, 0, 0, TERN_ESTATE, 0, 1, NO_EVENT, 5},
      {OP_PROBE_FAIL, 1, 0, 0, TERN_ESTATE, 0, 1, NO_EVENT, 5},
      {OP_PROBES, 5, 0, 0, 0, 0x1, 1, NO_EVENT, -1},
      /* a late success of a request on link 0 brings it back at once */
      {OP_SUCCESS, 6, 0, 0, 0, 0, 0, 1, 0, SB, -1},
      /* and the probe's later result is refused, changing nothing */
      {OP_PROBE_FAIL, 7, 0, 0, TERN_ESTATE, 0, 0, NO_EVENT, -1},
      /* success of an available link: nothing */
      {OP_SUCCESS, 8, 1, 0, 0, 0, 0, NO_EVENT, -1},
      /* out-of-range links */
      {OP_FAIL, 9, 2, 0, TERN_EINVAL, 0, 0, NO_EVENT, -1},
      {OP_FAIL, 9, -1, 0, TERN_EINVAL, 0, 0, NO_EVENT, -1},
      {OP_PROBE_OK, 9, 5, 0, TERN_EINVAL, 0, 0, NO_EVENT, -1},
  };
  run_steps(steps, sizeof steps / sizeof steps[0], 2);
}

static void test_next_skips_unavailable_links(void **state) {
  (void)state;
  tern_chain_t *c;
  assert_int_equal(tern_chain_create(NAMES, 4, NULL, &c), 0);
  assert_int_equal(tern_chain_report_failure(c, 1, NULL, 0), 0);
  static const struct {
    int after, rc, link;
  } cases[] = {
      {NONE, 0, 0}, {0, 0, 2}, {1, 0, 2}, {2, 0, 3}, {3, TERN_EEXHAUSTED, NONE},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int link = 77;
    assert_int_equal(tern_chain_next(c, cases[i].after, &link), cases[i].rc);
    assert_int_equal(link, cases[i].link);
  }
  int link;
  assert_int_equal(tern_chain_next(c, 4, &link), TERN_EINVAL);
  assert_int_equal(tern_chain_next(c, -2, &link), TERN_EINVAL);
  /* the last link failing leaves the request nothing after link 2 */
  assert_int_equal(tern_chain_report_failure(c, 3, NULL, 0), 0);
  assert_int_equal(tern_chain_next(c, 2, &link), TERN_EEXHAUSTED);
  assert_int_equal(tern_chain_next(c, 0, &link), 0);
  assert_int_equal(link, 2);
  tern_chain_destroy(c);
}

static void test_due_probes_respects_cap_and_next_probe_at(void **state) {
  (void)state;
  tern_chain_t *c;
  assert_int_equal(tern_chain_create(NAMES, 3, NULL, &c), 0);
  tern_usec_t at;
  assert_int_equal(tern_chain_next_probe_at(c, &at), TERN_ENOENT);
  assert_int_equal(tern_chain_report_failure(c, 2, NULL, S(1)), 0);
  assert_int_equal(tern_chain_report_failure(c, 0, NULL, S(2)), 0);
  assert_int_equal(tern_chain_report_failure(c, 1, NULL, S(3)), 0);
  assert_int_equal(tern_chain_next_probe_at(c, &at), 0);
  assert_int_equal(at, S(6));
  int out[1];
  size_t n;
  /* all three due; one slot at a time, by priority, none twice */
  assert_int_equal(tern_chain_due_probes(c, S(10), out, 1, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(out[0], 0);
  assert_int_equal(tern_chain_due_probes(c, S(10), out, 1, &n), 0);
  assert_int_equal(out[0], 1);
  assert_int_equal(tern_chain_due_probes(c, S(10), out, 1, &n), 0);
  assert_int_equal(out[0], 2);
  assert_int_equal(tern_chain_due_probes(c, S(10), out, 1, &n), 0);
  assert_int_equal(n, 0);
  /* probing links are not "scheduled" any more */
  assert_int_equal(tern_chain_next_probe_at(c, &at), TERN_ENOENT);
  assert_int_equal(tern_chain_probe_result(c, 1, false, S(11)), 0);
  assert_int_equal(tern_chain_next_probe_at(c, &at), 0);
  assert_int_equal(at, S(21));
  assert_int_equal(tern_chain_due_probes(c, S(10), NULL, 0, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(tern_chain_due_probes(c, S(10), NULL, 1, &n), TERN_EINVAL);
  tern_chain_destroy(c);
}

static void test_custom_config(void **state) {
  (void)state;
  tern_chain_config_t cfg;
  tern_chain_config_default(&cfg);
  assert_int_equal(cfg.probe_initial, S(5));
  assert_int_equal(cfg.probe_max, S(60));
  cfg.probe_initial = S(1);
  cfg.probe_max = S(4);
  cfg.probe_multiplier = 3.0;
  tern_chain_t *c;
  assert_int_equal(tern_chain_create(NAMES, 2, &cfg, &c), 0);
  assert_int_equal(tern_chain_report_failure(c, 0, NULL, 0), 0);
  static const double expect[] = {1, 3, 4, 4}; /* x3, capped at 4 */
  tern_usec_t now = 0;
  for (size_t i = 0; i < 4; i++) {
    tern_chain_link_info_t info;
    assert_int_equal(tern_chain_link_info(c, 0, &info), 0);
    assert_int_equal(info.interval, S(expect[i]));
    assert_int_equal(info.next_probe_at, now + S(expect[i]));
    assert_int_equal(info.failed_probes, i);
    now = info.next_probe_at;
    int out[2];
    size_t n;
    assert_int_equal(tern_chain_due_probes(c, now, out, 2, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(tern_chain_probe_result(c, 0, false, now), 0);
  }
  tern_chain_destroy(c);

  static const tern_chain_config_t bad[] = {
      {0, S(60), 2.0},
      {S(5), S(4), 2.0},
      {S(5), S(60), 0.5},
      {-1, S(60), 2.0},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    c = (tern_chain_t *)1;
    assert_int_equal(tern_chain_create(NAMES, 2, &bad[i], &c), TERN_EINVAL);
    assert_null(c);
  }
}

static void test_create_validates_names(void **state) {
  (void)state;
  tern_chain_t *c;
  const char *dup[] = {"a", "b", "a"};
  const char *empty[] = {"a", ""};
  const char *null[] = {"a", NULL};
  const char *nine[] = {"1", "2", "3", "4", "5", "6", "7", "8", "9"};
  assert_int_equal(tern_chain_create(dup, 3, NULL, &c), TERN_EINVAL);
  assert_int_equal(tern_chain_create(empty, 2, NULL, &c), TERN_EINVAL);
  assert_int_equal(tern_chain_create(null, 2, NULL, &c), TERN_EINVAL);
  assert_int_equal(tern_chain_create(nine, 9, NULL, &c), TERN_EINVAL);
  assert_int_equal(tern_chain_create(nine, 0, NULL, &c), TERN_EINVAL);
  assert_int_equal(tern_chain_create(nine, 8, NULL, &c), 0);
  assert_int_equal(tern_chain_size(c), 8);
  assert_string_equal(tern_chain_name(c, 7), "8");
  assert_null(tern_chain_name(c, 8));
  assert_null(tern_chain_name(c, NONE));
  /* names are copied */
  char buf[8] = "mine";
  const char *one[] = {buf};
  tern_chain_t *c2;
  assert_int_equal(tern_chain_create(one, 1, NULL, &c2), 0);
  buf[0] = 'X';
  assert_string_equal(tern_chain_name(c2, 0), "mine");
  tern_chain_destroy(c2);
  tern_chain_destroy(c);
  tern_chain_destroy(NULL);
  assert_string_equal(tern_link_state_name(TERN_LINK_PROBING), "probing");
  assert_string_equal(tern_switch_reason_name(TERN_SWITCH_BACK), "switch_back");
}

static int create_four(void *ctx) {
  (void)ctx;
  tern_chain_t *c = NULL;
  int rc = tern_chain_create(NAMES, 4, NULL, &c);
  if (rc != 0) {
    assert_null(c);
    return rc;
  }
  tern_chain_destroy(c);
  return 0;
}

static void test_create_survives_allocation_failures(void **state) {
  (void)state;
  long made = tu_alloc_sweep(create_four, NULL);
  assert_int_equal(made, 5); /* the chain and four names */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_failover_order_and_exhaustion),
      cmocka_unit_test(test_probe_schedule_grows_to_cap_then_switches_back),
      cmocka_unit_test(test_switch_back_step_by_step_and_from_exhaustion),
      cmocka_unit_test(test_holds_delay_probes),
      cmocka_unit_test(test_success_cancel_and_stale_probe_results),
      cmocka_unit_test(test_next_skips_unavailable_links),
      cmocka_unit_test(test_due_probes_respects_cap_and_next_probe_at),
      cmocka_unit_test(test_custom_config),
      cmocka_unit_test(test_create_validates_names),
      cmocka_unit_test(test_create_survives_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
