/* Events: every line is one JSON object with ts, session and type first;
 * listeners all see it; secrets never reach a listener. */
#include "testutil.h"

#include <jansson.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/events.h"

typedef struct {
  int n;
  char last[1024];
  char type[64];
} capture_t;

static void cap(void *ud, const char *type, const char *line, size_t len,
                const tern_log_field_t *fields, size_t nfields) {
  (void)fields, (void)nfields;
  capture_t *c = ud;
  c->n++;
  snprintf(c->last, sizeof c->last, "%.*s", (int)len, line);
  snprintf(c->type, sizeof c->type, "%s", type);
}

static void test_shape_and_fanout(void **state) {
  (void)state;
  tern_events_t *ev;
  capture_t a = {0}, b = {0};
  assert_int_equal(tern_events_create("s-42", &ev), 0);
  TERN_EVENT(ev, "nobody_listens", TERN_LF_INT("x", 1)); /* no listener: nothing to do */
  assert_int_equal(tern_events_listen(ev, cap, &a), 0);
  assert_int_equal(tern_events_listen(ev, cap, &b), 0);
  TERN_EVENT(ev, "provider_switched", TERN_LF_STR("component", "llm"), TERN_LF_STR("from", "openai"),
             TERN_LF_STR("to", "scripted"), TERN_LF_BOOL("recoverable", 1), TERN_LF_DBL("e2e_ms", 812.5));
  assert_int_equal(a.n, 1);
  assert_int_equal(b.n, 1);
  assert_string_equal(a.type, "provider_switched");
  json_error_t jerr;
  json_t *o = json_loads(a.last, 0, &jerr);
  assert_non_null(o);
  assert_true(json_integer_value(json_object_get(o, "ts")) > 1600000000000LL);
  assert_string_equal(json_string_value(json_object_get(o, "session")), "s-42");
  assert_string_equal(json_string_value(json_object_get(o, "to")), "scripted");
  assert_true(json_is_true(json_object_get(o, "recoverable")));
  assert_true(strncmp(a.last, "{\"ts\":", 6) == 0); /* ts first: greppable, sortable */
  json_decref(o);
  tern_events_unlisten(ev, cap, &a);
  TERN_EVENT(ev, "session_closed", TERN_LF_STR("reason", "user_hangup"));
  assert_int_equal(a.n, 1);
  assert_int_equal(b.n, 2);
  tern_events_destroy(ev);
}

static void test_secrets_never_reach_listeners(void **state) {
  (void)state;
  tern_events_t *ev;
  capture_t a = {0};
  assert_int_equal(tern_events_create("s", &ev), 0);
  assert_int_equal(tern_events_listen(ev, cap, &a), 0);
  assert_int_equal(tern_secret_register("k3y-very-secret-value"), 0);
  TERN_EVENT(ev, "error", TERN_LF_STR("message", "provider said: bad key k3y-very-secret-value"),
             TERN_LF_STR("api_key", "anything"));
  assert_null(strstr(a.last, "k3y-very-secret-value"));
  assert_null(strstr(a.last, "anything"));
  assert_non_null(strstr(a.last, "[REDACTED]"));
  tern_secret_clear();
  tern_events_destroy(ev);
}

static void test_oom_drops_and_counts(void **state) {
  (void)state;
  tern_events_t *ev;
  capture_t a = {0};
  assert_int_equal(tern_events_create("s", &ev), 0);
  assert_int_equal(tern_events_listen(ev, cap, &a), 0);
  tern_alloc_fail_after(0, 1);
  TERN_EVENT(ev, "metrics", TERN_LF_INT("turn", 1));
  tern_alloc_fail_after(-1, 0);
  assert_int_equal(a.n, 0);
  assert_int_equal(tern_events_dropped(ev), 1);
  tern_events_destroy(ev);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_shape_and_fanout),
      cmocka_unit_test(test_secrets_never_reach_listeners),
      cmocka_unit_test(test_oom_drops_and_counts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
