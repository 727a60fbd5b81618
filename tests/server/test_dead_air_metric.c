/* Dead-air violations (turns where no agent audio started within the
 * bound) reach the operator: the sessions' counts add up in /metrics as
 * tern_dead_air_violations_total, and in the counts /stats is built from. */
#include "testutil.h"

#include "server/server_internal.h"
#include "tern/buf.h"

static void test_counted_and_rendered(void **state) {
  (void)state;
  tern__metrics_t *m;
  assert_int_equal(tern__metrics_create(8, &m), 0);
  tern__counts_t c;
  tern__metrics_counts(m, &c);
  assert_int_equal(c.dead_air_violations, 0);
  tern__metrics_dead_air(m, 2);
  tern__metrics_dead_air(m, 0);
  tern__metrics_dead_air(m, 1);
  tern__metrics_holds(m, 5); /* holding phrases are a different count */
  tern__metrics_counts(m, &c);
  assert_int_equal(c.dead_air_violations, 3);
  assert_int_equal(c.holds, 5);
  tern__gauges_t g = {0};
  tern_buf_t b = TERN_BUF_INIT;
  assert_int_equal(tern__metrics_render(m, &g, &b), 0);
  assert_non_null(strstr(tern_buf_str(&b), "\ntern_dead_air_violations_total 3\n"));
  assert_non_null(strstr(tern_buf_str(&b), "# TYPE tern_dead_air_violations_total counter\n"));
  tern_buf_free(&b);
  tern__metrics_destroy(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_counted_and_rendered),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
