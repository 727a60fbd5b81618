/* Chat context: ordering, ownership, truncation that keeps tool calls and
 * their results together, snapshots, and out-of-memory safety. */
#include "testutil.h"

#include <string.h>

#include "tern/chat.h"
#include "tern/error.h"

static tern_chat_t *sample(void) {
  tern_chat_t *c;
  assert_int_equal(tern_chat_create(&c), 0);
  assert_int_equal(tern_chat_set_system(c, "You are a helpful voice agent."), 0);
  assert_int_equal(tern_chat_add(c, TERN_ROLE_USER, "hi"), 0);
  assert_int_equal(tern_chat_add(c, TERN_ROLE_ASSISTANT, "hello!"), 0);
  assert_int_equal(tern_chat_add(c, TERN_ROLE_USER, "weather in Paris?"), 0);
  tern_tool_call_t call = {"call_1", "get_weather", "{\"city\":\"Paris\"}"};
  assert_int_equal(tern_chat_add_tool_calls(c, NULL, &call, 1), 0);
  assert_int_equal(tern_chat_add_tool_result(c, "call_1", "get_weather", "{\"temp_c\":18}"), 0);
  assert_int_equal(tern_chat_add(c, TERN_ROLE_ASSISTANT, "It is 18 degrees."), 0);
  return c;
}

static void test_order_and_copies(void **state) {
  (void)state;
  char buf[16];
  strcpy(buf, "mutable");
  tern_chat_t *c;
  assert_int_equal(tern_chat_create(&c), 0);
  assert_int_equal(tern_chat_add(c, TERN_ROLE_USER, buf), 0);
  strcpy(buf, "changed");
  assert_string_equal(tern_chat_at(c, 0)->content, "mutable");
  assert_int_equal(tern_chat_add(c, TERN_ROLE_TOOL, "x"), TERN_EINVAL);
  assert_int_equal(tern_chat_add_interrupted(c, "It is eigh"), 0);
  assert_true(tern_chat_at(c, 1)->interrupted);
  assert_string_equal(tern_chat_last_user(c), "mutable");
  tern_chat_destroy(c);
}

static void test_truncate_never_orphans_tool_results(void **state) {
  (void)state;
  tern_chat_t *c = sample();
  assert_int_equal(tern_chat_count(c), 6);
  size_t dropped;
  /* Keeping 2 would start on the tool result: the cut moves past it. */
  assert_int_equal(tern_chat_truncate(c, 2, &dropped), 0);
  assert_int_equal(dropped, 5);
  assert_int_equal(tern_chat_count(c), 1);
  assert_string_equal(tern_chat_at(c, 0)->content, "It is 18 degrees.");
  assert_string_equal(tern_chat_system(c), "You are a helpful voice agent.");
  tern_chat_destroy(c);

  c = sample();
  assert_int_equal(tern_chat_truncate(c, 3, &dropped), 0); /* starts on the tool call */
  assert_int_equal(dropped, 3);
  assert_int_equal(tern_chat_at(c, 0)->n_tool_calls, 1);
  assert_int_equal(tern_chat_at(c, 1)->role, TERN_ROLE_TOOL);
  tern_chat_destroy(c);
}

static void test_clone_is_independent(void **state) {
  (void)state;
  tern_chat_t *c = sample(), *snap;
  assert_int_equal(tern_chat_clone(c, &snap), 0);
  assert_int_equal(tern_chat_add(c, TERN_ROLE_USER, "more"), 0);
  assert_int_equal(tern_chat_count(snap), 6);
  assert_string_equal(tern_chat_at(snap, 3)->tool_calls[0].arguments, "{\"city\":\"Paris\"}");
  assert_int_equal(tern_chat_chars(snap) < tern_chat_chars(c), 1);
  tern_chat_destroy(c);
  tern_chat_destroy(snap);
}

static int build_and_clone(void *ctx) {
  (void)ctx;
  tern_chat_t *c = NULL, *snap = NULL;
  int rc = tern_chat_create(&c);
  if (rc)
    return rc;
  tern_tool_call_t call = {"id", "t", "{}"};
  if ((rc = tern_chat_set_system(c, "sys")) || (rc = tern_chat_add(c, TERN_ROLE_USER, "u")) ||
      (rc = tern_chat_add_tool_calls(c, "thinking", &call, 1)) ||
      (rc = tern_chat_add_tool_result(c, "id", "t", "{}")) || (rc = tern_chat_clone(c, &snap)))
    goto out;
  if (tern_chat_count(snap) != 3)
    rc = TERN_ESTATE;
out:
  tern_chat_destroy(snap);
  tern_chat_destroy(c);
  return rc;
}

static void test_alloc_sweep(void **state) {
  (void)state;
  assert_true(tu_alloc_sweep(build_and_clone, NULL) > 10);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_order_and_copies),
      cmocka_unit_test(test_truncate_never_orphans_tool_results),
      cmocka_unit_test(test_clone_is_independent),
      cmocka_unit_test(test_alloc_sweep),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
