/* Backoff and jitter: envelopes, bounds over many draws, overflow. */
#include "testutil.h"

#include <math.h>
#include <stdint.h>

#include "tern/backoff.h"
#include "tern/error.h"
#include "tern/rand.h"

static void test_validate(void **state) {
  (void)state;
  tern_backoff_t b;
  tern_backoff_init_exponential(&b, TERN_MS(100), 2.0, TERN_SEC(1), TERN_JITTER_FULL);
  assert_int_equal(tern_backoff_validate(&b), 0);
  b.multiplier = 0.5;
  assert_int_equal(tern_backoff_validate(&b), TERN_EINVAL);
  b.multiplier = NAN;
  assert_int_equal(tern_backoff_validate(&b), TERN_EINVAL);
  b.multiplier = INFINITY;
  assert_int_equal(tern_backoff_validate(&b), TERN_EINVAL);
  b.multiplier = 2.0;
  b.cap = TERN_MS(50); /* below base */
  assert_int_equal(tern_backoff_validate(&b), TERN_EINVAL);
  b.cap = TERN_SEC(1);
  b.base = -1;
  assert_int_equal(tern_backoff_validate(&b), TERN_EINVAL);
  b.base = TERN_MS(100);
  b.jitter = TERN_JITTER__COUNT;
  assert_int_equal(tern_backoff_validate(&b), TERN_EINVAL);
  assert_int_equal(tern_backoff_validate(NULL), TERN_EINVAL);

  tern_backoff_init_exponential(&b, TERN_MS(100), 2.0, TERN_SEC(1), TERN_JITTER_FULL);
  tern_usec_t d;
  assert_int_equal(tern_backoff_next(&b, 0, 0, 1.0, &d), TERN_EINVAL);
  assert_int_equal(tern_backoff_next(&b, 0, 0, -0.01, &d), TERN_EINVAL);
  assert_int_equal(tern_backoff_next(&b, 0, 0, NAN, &d), TERN_EINVAL);
  assert_int_equal(tern_backoff_next(&b, 0, 0, 0.5, NULL), TERN_EINVAL);
}

static void test_envelope_and_constant(void **state) {
  (void)state;
  tern_backoff_t b;
  tern_backoff_init_exponential(&b, TERN_MS(100), 2.0, TERN_SEC(1), TERN_JITTER_NONE);
  static const tern_usec_t want[] = {TERN_MS(100), TERN_MS(200), TERN_MS(400),
                                     TERN_MS(800), TERN_SEC(1),  TERN_SEC(1)};
  for (unsigned n = 0; n < sizeof want / sizeof want[0]; n++) {
    tern_usec_t d;
    assert_int_equal(tern_backoff_envelope(&b, n), want[n]);
    assert_int_equal(tern_backoff_next(&b, n, 0, 0.7, &d), 0);
    assert_int_equal(d, want[n]); /* no jitter: the draw does not matter */
  }
  /* Huge attempt numbers saturate at cap instead of overflowing. */
  assert_int_equal(tern_backoff_envelope(&b, 64), TERN_SEC(1));
  assert_int_equal(tern_backoff_envelope(&b, 1100), TERN_SEC(1));
  assert_int_equal(tern_backoff_envelope(&b, UINT32_MAX), TERN_SEC(1));

  /* Even with base and cap near the top of the range. */
  tern_backoff_init_exponential(&b, INT64_MAX / 4, 10.0, INT64_MAX, TERN_JITTER_FULL);
  for (unsigned n = 0; n < 100; n += 7) {
    tern_usec_t d;
    assert_int_equal(tern_backoff_next(&b, n, 0, 0.999999, &d), 0);
    assert_true(d >= 0 && d <= INT64_MAX);
  }
  assert_int_equal(tern_backoff_envelope(&b, 5), INT64_MAX);

  tern_backoff_init_constant(&b, TERN_MS(250));
  for (unsigned n = 0; n < 20; n++) {
    tern_usec_t d;
    assert_int_equal(tern_backoff_next(&b, n, 0, 0.3, &d), 0);
    assert_int_equal(d, TERN_MS(250));
  }
}

/* Every mode stays inside its documented bounds over many draws, and the
 * draws are spread as documented (mean of full jitter near half the
 * envelope, of equal jitter near three quarters). */
static void test_jitter_bounds_property(void **state) {
  (void)state;
  const tern_usec_t base = TERN_MS(100), cap = TERN_SEC(1);
  const int draws = 10000;
  for (uint64_t seed = 1; seed <= 5; seed++) {
    tern_rand_t r;
    tern_rand_seed(&r, seed);
    for (int mode = TERN_JITTER_FULL; mode <= TERN_JITTER_EQUAL; mode++) {
      tern_backoff_t b;
      tern_backoff_init_exponential(&b, base, 2.0, cap, (tern_jitter_t)mode);
      for (unsigned n = 0; n < 12; n++) {
        tern_usec_t env = tern_backoff_envelope(&b, n);
        double sum = 0;
        tern_usec_t lo = env, hi = 0;
        for (int i = 0; i < draws; i++) {
          tern_usec_t d;
          assert_int_equal(tern_backoff_next(&b, n, 0, tern_rand_double(&r), &d), 0);
          if (mode == TERN_JITTER_FULL)
            assert_true(d >= 0 && d <= env);
          else
            assert_true(d >= env / 2 && d <= env);
          sum += (double)d;
          lo = d < lo ? d : lo;
          hi = d > hi ? d : hi;
        }
        double mean = sum / draws;
        double want = mode == TERN_JITTER_FULL ? env / 2.0 : env * 0.75;
        assert_true(fabs(mean - want) < env * 0.02);
        /* The spread really covers the range (jitter is not a constant). */
        double width = mode == TERN_JITTER_FULL ? (double)env : env / 2.0;
        assert_true((double)(hi - lo) > width * 0.95);
      }
    }

    /* Decorrelated: a chain of delays, each in [base, min(cap, 3 * prev)]. */
    tern_backoff_t b;
    tern_backoff_init_exponential(&b, base, 1.0, cap, TERN_JITTER_DECORRELATED);
    tern_usec_t prev = 0;
    int at_cap = 0;
    for (int i = 0; i < draws; i++) {
      tern_usec_t d;
      assert_int_equal(tern_backoff_next(&b, (unsigned)i, prev, tern_rand_double(&r), &d), 0);
      assert_true(d >= base && d <= cap);
      tern_usec_t p = prev < base ? base : prev;
      assert_true(d <= 3 * p);
      at_cap += d == cap;
      prev = i % 50 == 49 ? 0 : d; /* restart the chain now and then */
    }
    assert_true(at_cap > 0 && at_cap < draws);
  }
}

static void test_decorrelated_edges(void **state) {
  (void)state;
  tern_backoff_t b;
  tern_backoff_init_exponential(&b, TERN_MS(100), 1.0, TERN_SEC(1), TERN_JITTER_DECORRELATED);
  tern_usec_t d;
  assert_int_equal(tern_backoff_next(&b, 0, 0, 0.0, &d), 0);
  assert_int_equal(d, TERN_MS(100));
  assert_int_equal(tern_backoff_next(&b, 0, 0, 0.5, &d), 0);
  assert_int_equal(d, TERN_MS(200)); /* halfway between base and 3 * base */
  assert_int_equal(tern_backoff_next(&b, 0, INT64_MAX, 0.5, &d), 0);
  assert_int_equal(d, TERN_SEC(1)); /* a huge prev saturates at cap */
  assert_int_equal(tern_backoff_next(&b, UINT32_MAX, TERN_MS(300), 0.999, &d), 0);
  assert_true(d >= TERN_MS(100) && d <= TERN_MS(900));
}

static void test_jitter_names(void **state) {
  (void)state;
  for (int j = 0; j < TERN_JITTER__COUNT; j++) {
    tern_jitter_t out;
    assert_int_equal(tern_jitter_parse(tern_jitter_name((tern_jitter_t)j), &out), 0);
    assert_int_equal(out, j);
  }
  tern_jitter_t out;
  assert_int_equal(tern_jitter_parse("fully", &out), TERN_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_validate),
      cmocka_unit_test(test_envelope_and_constant),
      cmocka_unit_test(test_jitter_bounds_property),
      cmocka_unit_test(test_decorrelated_edges),
      cmocka_unit_test(test_jitter_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
