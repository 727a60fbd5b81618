/* The Anthropic Messages provider against the fault-injecting fake server:
 * the request shape (system, alternating roles, tool blocks, headers), the
 * event stream with text and tool use, every scripted fault classified,
 * the runner's retries and failover with an assistant prefill, switch
 * back, cancellation, and that the key never leaks. */
#include "cloudfx.h"

#include "tern/anthropic.h"

#define MSG "anthropic.messages"

static const char *const k_names[] = {"anthropic", "backup"};
static const char *k_reply = "alpha beta gamma delta";

static fx_t *fx_anthropic(int links) {
  const char *url = fakeprov_url(&g_fp, NULL);
  char cfg[1024];
  snprintf(cfg, sizeof cfg,
           "[llm.anthropic]\nbase_url = %s\napi_key = " FX_KEY "\n"
           "[llm.backup]\nbase_url = %s\napi_key = " FX_KEY "\nmodel = backup-model\n"
           "max_tokens = 300\n",
           url, url);
  fx_t *x = fx_new(TERN_COMP_LLM, tern_anthropic_provider_create, cfg, k_names, 2, links);
  assert_int_equal(fakeprov_key(&g_fp, "anthropic", FX_KEY), 0);
  return x;
}

static void test_streams_text_and_sends_the_messages_shape(void **state) {
  (void)state;
  REQUIRE_SERVER();
  fx_t *x = fx_anthropic(0);
  const char *reply = "Sure, the meeting is at three o'clock tomorrow.";
  assert_int_equal(fakeprov_reply(&g_fp, MSG, reply), 0);
  /* An agent that greets first, then two user turns in a row (merged). */
  tern_chat_t *c2;
  assert_int_equal(tern_chat_create(&c2), 0);
  assert_int_equal(tern_chat_set_system(c2, "You are a scheduler."), 0);
  assert_int_equal(tern_chat_add(c2, TERN_ROLE_ASSISTANT, "Hello, how can I help?"), 0);
  assert_int_equal(tern_chat_add(c2, TERN_ROLE_USER, "hi"), 0);
  assert_int_equal(tern_chat_add(c2, TERN_ROLE_USER, "when is the meeting?"), 0);
  tern_llm_request_t req = {.chat = c2, .temperature = -1};
  assert_int_equal(fx_llm_start(x, 0, &req), 0);
  fx_run(x);
  assert_false(x->failed);
  assert_string_equal(tern_buf_str(&x->text), reply);
  assert_true(x->n_text >= 8);
  fx_assert_last_str(MSG, "model", "claude-3-5-haiku-latest");
  fx_assert_last_str(MSG, "max_tokens", "1024");
  fx_assert_last_str(MSG, "system", "You are a scheduler.");
  fx_assert_last_str(MSG, "stream", "true");
  fx_assert_last_str(MSG, "headers.x-api-key", FX_KEY);
  fx_assert_last_str(MSG, "headers.anthropic-version", "2023-06-01");
  json_t *m = fx_last_json(MSG, "messages");
  /* user (implicit start), assistant greeting, user (two turns merged) */
  assert_int_equal(json_array_size(m), 3);
  const char *roles[] = {"user", "assistant", "user"};
  for (size_t i = 0; i < 3; i++)
    assert_string_equal(json_string_value(json_object_get(json_array_get(m, i), "role")), roles[i]);
  json_t *last = json_object_get(json_array_get(m, 2), "content");
  assert_int_equal(json_array_size(last), 2);
  assert_string_equal(json_string_value(json_object_get(json_array_get(last, 1), "text")),
                      "when is the meeting?");
  json_decref(m);
  tern_chat_destroy(c2);
  fx_free(x);
}

static void test_tool_use_is_assembled_and_history_uses_tool_blocks(void **state) {
  (void)state;
  REQUIRE_SERVER();
  fx_t *x = fx_anthropic(0);
  fx_script(MSG,
            "[{\"text\":\"Let me check.\",\"tool_calls\":["
            "{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\",\"unit\":\"celsius\"}},"
            "{\"name\":\"set_alarm\",\"arguments\":{\"time\":\"07:30\"}}]}]");
  tern_tool_def_t tools[] = {
      {"get_weather", "Weather for a city",
       "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}"},
      {"set_alarm", "Set an alarm", NULL},
  };
  tern_chat_t *chat = fx_chat("weather in Paris?");
  tern_tool_call_t call = {"toolu_1", "get_weather", "{\"city\":\"Rome\"}"};
  assert_int_equal(tern_chat_add_tool_calls(chat, "Checking Rome first.", &call, 1), 0);
  assert_int_equal(tern_chat_add_tool_result(chat, "toolu_1", "get_weather", "rainy"), 0);
  assert_int_equal(tern_chat_add(chat, TERN_ROLE_USER, "and Paris?"), 0);
  tern_llm_request_t req = {.chat = chat, .tools = tools, .n_tools = 2, .temperature = 0.3};
  assert_int_equal(fx_llm_start(x, 0, &req), 0);
  fx_run(x);
  assert_false(x->failed);
  assert_string_equal(tern_buf_str(&x->text), "Let me check.");
  assert_int_equal(json_array_size(x->tools), 2);
  json_t *a = json_array_get(x->tools, 0);
  assert_string_equal(json_string_value(json_object_get(a, "id")), "toolu_fake0");
  assert_string_equal(json_string_value(json_object_get(a, "name")), "get_weather");
  assert_string_equal(json_string_value(json_object_get(a, "arguments")),
                      "{\"city\":\"Paris\",\"unit\":\"celsius\"}");
  assert_string_equal(json_string_value(json_object_get(json_array_get(x->tools, 1), "name")),
                      "set_alarm");
  fx_assert_last_str(MSG, "tools", "[\"get_weather\",\"set_alarm\"]");
  json_t *m = fx_last_json(MSG, "messages");
  assert_int_equal(json_array_size(m), 3); /* user, assistant, user (result + text merged) */
  json_t *asst = json_object_get(json_array_get(m, 1), "content");
  json_t *use = json_array_get(asst, 1);
  assert_string_equal(json_string_value(json_object_get(use, "type")), "tool_use");
  assert_string_equal(json_string_value(json_object_get(use, "id")), "toolu_1");
  assert_string_equal(json_string_value(json_object_get(json_object_get(use, "input"), "city")),
                      "Rome");
  json_t *user = json_object_get(json_array_get(m, 2), "content");
  json_t *res = json_array_get(user, 0);
  assert_string_equal(json_string_value(json_object_get(res, "type")), "tool_result");
  assert_string_equal(json_string_value(json_object_get(res, "tool_use_id")), "toolu_1");
  assert_string_equal(json_string_value(json_object_get(res, "content")), "rainy");
  assert_string_equal(json_string_value(json_object_get(json_array_get(user, 1), "text")),
                      "and Paris?");
  json_decref(m);
  tern_chat_destroy(chat);
  fx_free(x);
}

typedef struct {
  const char *note;
  const char *fault;
  bool ok;
  tern_kind_t kind;
  const char *partial; /* the caller saw a prefix of this ... */
  size_t min_partial;  /* ... at least this long (0: all of it) */
} fault_case_t;

/* Events: message_start, block start, ping, "alpha ", "beta ", "gamma ",
 * "delta", block stop, message_delta, message_stop. */
static const fault_case_t k_faults[] = {
    {"429", "{\"status\":429,\"retry_after\":3}", false, TERN_KIND_RATE_LIMITED, "", 0},
    {"500", "{\"status\":500}", false, TERN_KIND_SERVER, "", 0},
    {"529", "{\"status\":529}", false, TERN_KIND_OVERLOADED, "", 0},
    {"401", "{\"status\":401}", false, TERN_KIND_AUTH, "", 0},
    {"delay", "{\"delay_headers_ms\":3000}", false, TERN_KIND_TIMEOUT, "", 0},
    {"overloaded event", "{\"error_after_chunks\":5}", false, TERN_KIND_OVERLOADED, "alpha beta ",
     0},
    {"reset", "{\"reset_after_chunks\":5,\"drip_ms\":30}", false, TERN_KIND_CONNECTION,
     "alpha beta ", 6},
    {"stall", "{\"stall_after_chunks\":5,\"stall_ms\":5000}", false, TERN_KIND_STALLED,
     "alpha beta ", 0},
    {"truncated", "{\"truncate_after_chunks\":5}", false, TERN_KIND_CONNECTION, "alpha beta ", 0},
    {"malformed", "{\"malformed_json\":true,\"malformed_at\":4}", false, TERN_KIND_BAD_RESPONSE,
     "alpha ", 0},
    {"wrong type", "{\"wrong_content_type\":true}", false, TERN_KIND_BAD_RESPONSE, "", 0},
    {"oversized", "{\"oversized_body_bytes\":400000}", false, TERN_KIND_BAD_RESPONSE, "", 0},
    {"close", "{\"close_before_response\":true}", false, TERN_KIND_CONNECTION, "", 0},
    {"drip", "{\"drip_ms\":40}", true, 0, NULL, 0},
};

static void test_every_fault_is_classified(void **state) {
  (void)state;
  REQUIRE_SERVER();
  fx_t *x = fx_anthropic(0);
  for (int i = 0; i < 2; i++) {
    x->p[i]->first_byte_timeout = TERN_MS(300);
    x->p[i]->idle_timeout = TERN_MS(300);
  }
  for (size_t i = 0; i < sizeof k_faults / sizeof k_faults[0]; i++) {
    const fault_case_t *c = &k_faults[i];
    char script[512];
    snprintf(script, sizeof script, "[%s]", c->fault);
    assert_int_equal(fakeprov_reset(&g_fp), 0);
    assert_int_equal(fakeprov_key(&g_fp, "anthropic", FX_KEY), 0);
    assert_int_equal(fakeprov_reply(&g_fp, MSG, k_reply), 0);
    fx_script(MSG, script);
    fx_ask(x, 0, "hi");
    if (c->ok) {
      if (x->failed)
        fail_msg("%s: failed: %s", c->note, x->err.message);
      assert_string_equal(tern_buf_str(&x->text), k_reply);
      continue;
    }
    if (!x->failed)
      fail_msg("%s: succeeded", c->note);
    if (x->err.kind != c->kind)
      fail_msg("%s: kind %s, want %s (%s)", c->note, tern_kind_name(x->err.kind),
               tern_kind_name(c->kind), x->err.message);
    assert_string_equal(x->err.provider, "anthropic");
    assert_int_equal(x->err.retryable, tern_kind_retryable(c->kind));
    size_t seen = x->text.len, want = c->min_partial ? c->min_partial : strlen(c->partial);
    if (seen < want || seen > strlen(c->partial) ||
        strncmp(tern_buf_str(&x->text), c->partial, seen))
      fail_msg("%s: saw '%s', want '%s'", c->note, tern_buf_str(&x->text), c->partial);
    if (c->kind == TERN_KIND_RATE_LIMITED)
      assert_int_equal(x->err.retry_after, TERN_SEC(3));
  }
  fx_free(x);
}

/* After a cut the backup gets the partial answer as a prefill (trailing
 * space trimmed) and, like the real API, answers only the rest. */
static void test_failover_continues_with_a_prefill(void **state) {
  (void)state;
  REQUIRE_SERVER();
  const char *faults[] = {"{\"truncate_after_chunks\":5}",
                          "{\"stall_after_chunks\":5,\"stall_ms\":5000}",
                          "{\"error_after_chunks\":5}"};
  for (size_t i = 0; i < 3; i++) {
    fx_t *x = fx_anthropic(2);
    assert_int_equal(fakeprov_reply(&g_fp, MSG, k_reply), 0);
    char script[256];
    snprintf(script, sizeof script, "[%s,{\"text\":\" gamma delta\"}]", faults[i]);
    fx_script(MSG, script);
    fx_ask(x, -1, "hi");
    assert_false(x->failed);
    assert_string_equal(tern_buf_str(&x->text), k_reply);
    assert_int_equal(fakeprov_count(&g_fp, MSG), 2);
    fx_assert_last_str(MSG, "model", "backup-model");
    fx_assert_last_str(MSG, "max_tokens", "300");
    json_t *m = fx_last_json(MSG, "messages");
    json_t *last = json_array_get(m, json_array_size(m) - 1);
    assert_string_equal(json_string_value(json_object_get(last, "role")), "assistant");
    json_t *blk = json_array_get(json_object_get(last, "content"), 0);
    assert_string_equal(json_string_value(json_object_get(blk, "text")), "alpha beta");
    json_decref(m);
    assert_int_equal(fx_count_events(x, "provider_switched", "to", "backup"), 1);
    fx_free(x);
  }
}

static void test_runner_retries_transient_errors(void **state) {
  (void)state;
  REQUIRE_SERVER();
  const char *faults[] = {"{\"status\":529}", "{\"status\":500}",
                          "{\"status\":429,\"retry_after\":0.1}", "{\"error_after_chunks\":1}",
                          "{\"close_before_response\":true}"};
  for (size_t i = 0; i < 5; i++) {
    fx_t *x = fx_anthropic(2);
    assert_int_equal(fakeprov_reply(&g_fp, MSG, k_reply), 0);
    char script[256];
    snprintf(script, sizeof script, "[%s]", faults[i]);
    fx_script(MSG, script);
    fx_ask(x, -1, "hi");
    assert_false(x->failed);
    assert_string_equal(tern_buf_str(&x->text), k_reply);
    assert_int_equal(fakeprov_count(&g_fp, MSG), 2);
    fx_assert_last_str(MSG, "model", "claude-3-5-haiku-latest"); /* the primary again */
    assert_int_equal(fx_count_events(x, "error", NULL, NULL), 1);
    assert_int_equal(fx_count_events(x, "provider_switched", NULL, NULL), 0);
    fx_free(x);
  }
}

static bool switched_back(void *ud) {
  return fx_count_events(ud, "provider_switched", "reason", "switch_back") > 0;
}

static void test_auth_error_fails_over_and_switches_back(void **state) {
  (void)state;
  REQUIRE_SERVER();
  fx_t *x = fx_anthropic(2);
  fx_script(MSG, "[{\"status\":401,\"message\":\"invalid x-api-key " FX_KEY "\"}]");
  fx_ask(x, -1, "hi");
  assert_false(x->failed);
  assert_string_equal(tern_buf_str(&x->text), "You said: hi");
  assert_int_equal(fx_count_events(x, "error", "kind", "auth"), 1);
  assert_string_equal(tern_fallback_current(x->f), "backup");
  assert_int_equal(tern_loop_run_until(x->loop, switched_back, x, TERN_SEC(20)), 0);
  assert_string_equal(tern_fallback_current(x->f), "anthropic");
  assert_null(strstr(tern_buf_str(&x->lines), FX_SECRET));
  fx_free(x);
}

static void test_cancel_inside_callbacks(void **state) {
  (void)state;
  REQUIRE_SERVER();
  fx_t *x = fx_anthropic(0);
  assert_int_equal(fakeprov_reply(&g_fp, MSG, k_reply), 0);
  tern_chat_t *chat = fx_chat("hi");
  tern_llm_request_t req = {.chat = chat, .temperature = -1};
  assert_int_equal(fx_llm_start(x, 0, &req), 0);
  x->cancel_at_text = 1;
  fx_run(x);
  x->done = false;
  fx_settle(x, TERN_MS(200));
  assert_int_equal(x->late_callbacks, 0);
  assert_string_equal(tern_buf_str(&x->text), "alpha ");

  fx_script(MSG, "[{\"tool_calls\":[{\"name\":\"a\",\"arguments\":{\"k\":1}},"
                 "{\"name\":\"b\",\"arguments\":{}}]}]");
  x->cancel_at_text = 0;
  assert_int_equal(fx_llm_start(x, 0, &req), 0);
  x->cancel_on_tool = true;
  fx_run(x);
  x->done = false;
  fx_settle(x, TERN_MS(200));
  assert_int_equal(x->late_callbacks, 0);
  assert_int_equal(json_array_size(x->tools), 1);
  tern_chat_destroy(chat);
  fx_free(x);
}

static void test_config(void **state) {
  (void)state;
  unsetenv("ANTHROPIC_API_KEY");
  unsetenv("ANTHROPIC_BASE_URL");
  tern_provider_t *p = NULL;
  char err[256] = "";
  assert_int_equal(
      tern_anthropic_provider_create(TERN_COMP_LLM, "anthropic", NULL, &p, err, sizeof err),
      TERN_ECONFIG);
  assert_non_null(strstr(err, "ANTHROPIC_API_KEY"));
  assert_non_null(strstr(err, "[llm.anthropic] api_key"));
  assert_int_equal(
      tern_anthropic_provider_create(TERN_COMP_TTS, "anthropic", NULL, &p, err, sizeof err),
      TERN_ECONFIG);
  setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789", 1);
  assert_int_equal(
      tern_anthropic_provider_create(TERN_COMP_LLM, "anthropic", NULL, &p, err, sizeof err), 0);
  assert_string_equal(p->vt->kind, "anthropic");
  assert_null(p->vt->tts_start);
  tern_provider_destroy(p);
  unsetenv("ANTHROPIC_API_KEY");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_streams_text_and_sends_the_messages_shape),
      cmocka_unit_test(test_tool_use_is_assembled_and_history_uses_tool_blocks),
      cmocka_unit_test(test_every_fault_is_classified),
      cmocka_unit_test(test_failover_continues_with_a_prefill),
      cmocka_unit_test(test_runner_retries_transient_errors),
      cmocka_unit_test(test_auth_error_fails_over_and_switches_back),
      cmocka_unit_test(test_cancel_inside_callbacks),
      cmocka_unit_test(test_config),
  };
  return cmocka_run_group_tests(tests, fx_group_setup, fx_group_teardown);
}
