/* Error codes, allocation hook, clocks and random source. */
#include "testutil.h"

#include <string.h>

#include "tern/alloc.h"
#include "tern/clock.h"
#include "tern/error.h"
#include "tern/rand.h"

static void test_strerror_names_every_code(void **state) {
  (void)state;
  for (int e = 0; e >= TERN_ETRUNCATED; e--) {
    assert_string_not_equal(tern_strerror(e), "unknown error");
    assert_string_not_equal(tern_err_name(e), "TERN_E?");
  }
  assert_string_equal(tern_err_name(TERN_ENOMEM), "TERN_ENOMEM");
  assert_string_equal(tern_strerror(-9999), "unknown error");
}

static void test_alloc_fails_nth(void **state) {
  (void)state;
  tern_alloc_fail_after(2, 0);
  void *a = tern_malloc(8), *b = tern_malloc(8), *c = tern_malloc(8), *d = tern_malloc(8);
  tern_alloc_fail_after(-1, 0);
  assert_non_null(a);
  assert_non_null(b);
  assert_null(c);
  assert_non_null(d); /* not sticky: only the third fails */
  tern_free(a);
  tern_free(b);
  tern_free(d);

  tern_alloc_fail_after(0, 1);
  assert_null(tern_strdup("x"));
  assert_null(tern_calloc(2, 2));
  assert_int_equal(tern_alloc_failures(), 2);
  tern_alloc_fail_after(-1, 0);
  char *s = tern_strndup("hello world", 5);
  assert_string_equal(s, "hello");
  tern_free(s);
  assert_null(tern_calloc(SIZE_MAX / 2, 4)); /* overflow refused */
}

static void test_fake_clock(void **state) {
  (void)state;
  tern_fake_clock_t fc;
  tern_fake_clock_init(&fc, TERN_SEC(5));
  tern_clock_t *c = &fc.clock;
  assert_int_equal(tern_clock_now(c), 5000000);
  tern_fake_clock_advance(&fc, TERN_MS(20));
  assert_int_equal(tern_clock_now(c), 5020000);
  tern_usec_t a = tern_clock_now(tern_clock_monotonic());
  tern_usec_t b = tern_clock_now(tern_clock_monotonic());
  assert_true(b >= a);
}

static void test_rand_reproducible_and_bounded(void **state) {
  (void)state;
  tern_rand_t a, b;
  tern_rand_seed(&a, 42);
  tern_rand_seed(&b, 42);
  for (int i = 0; i < 100; i++)
    assert_true(tern_rand_u64(&a) == tern_rand_u64(&b));
  int hist[10] = {0};
  for (int i = 0; i < 100000; i++) {
    double d = tern_rand_double(&a);
    assert_true(d >= 0.0 && d < 1.0);
    uint64_t k = tern_rand_below(&a, 10);
    assert_true(k < 10);
    hist[k]++;
  }
  for (int i = 0; i < 10; i++) /* uniform within 5 % */
    assert_true(hist[i] > 9500 && hist[i] < 10500);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_strerror_names_every_code),
      cmocka_unit_test(test_alloc_fails_nth),
      cmocka_unit_test(test_fake_clock),
      cmocka_unit_test(test_rand_reproducible_and_bounded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
