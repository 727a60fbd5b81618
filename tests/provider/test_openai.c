/* The OpenAI-compatible provider against the fault-injecting fake server:
 * streamed chat with tools, transcription and speech, every scripted fault
 * classified, driven directly and through the fallback runner (retries,
 * failover with continuation, switch back), cancellation from inside
 * callbacks, configuration, and that the API key never leaks. */
#include "cloudfx.h"

#include "tern/alloc.h"
#include "tern/openai.h"

#define CHAT "openai.chat"
#define STT "openai.stt"
#define TTS "openai.tts"

static const char *const k_names[] = {"openai", "backup"};

/* Both instances talk to the same fake; the models tell them apart. */
static fx_t *fx_openai(tern_component_t comp, int links) {
  const char *url = fakeprov_url(&g_fp, "/v1");
  char cfg[2048];
  snprintf(cfg, sizeof cfg,
           "[llm.openai]\nbase_url = %s\napi_key = " FX_KEY "\nmodel = primary-model\n"
           "[llm.backup]\nbase_url = %s\napi_key = " FX_KEY "\nmodel = backup-model\n"
           "[stt.openai]\nbase_url = %s\napi_key = " FX_KEY "\n"
           "[stt.backup]\nbase_url = %s\napi_key = " FX_KEY "\nmodel = backup-stt\n"
           "[tts.openai]\nbase_url = %s\napi_key = " FX_KEY "\n"
           "[tts.backup]\nbase_url = %s\napi_key = " FX_KEY "\nmodel = backup-tts\n",
           url, url, url, url, url, url);
  fx_t *x = fx_new(comp, tern_openai_provider_create, cfg, k_names, 2, links);
  assert_int_equal(fakeprov_key(&g_fp, "openai", FX_KEY), 0);
  return x;
}

/* For direct calls: the HTTP layer's own timeouts, short. */
static void short_http_timeouts(fx_t *x) {
  for (int i = 0; i < 2; i++) {
    x->p[i]->first_byte_timeout = TERN_MS(300);
    x->p[i]->idle_timeout = TERN_MS(300);
  }
}

/* ---- chat: the normal path ---------------------------------------------- */

static void test_llm_streams_the_reply_as_it_arrives(void **state) {
  (void)state;
  REQUIRE_SERVER();
  fx_t *x = fx_openai(TERN_COMP_LLM, 0);
  const char *reply = "The quick brown fox jumps over the lazy dog.";
  assert_int_equal(fakeprov_reply(&g_fp, CHAT, reply), 0);
  fx_ask(x, 0, "tell me about foxes");
  assert_false(x->failed);
  assert_string_equal(tern_buf_str(&x->text), reply);
  assert_true(x->n_text >= 9); /* word by word, not in one piece at the end */
  fx_assert_last_str(CHAT, "model", "primary-model");
  fx_assert_last_str(CHAT, "stream", "true");
  fx_assert_last_str(CHAT, "last_user", "tell me about foxes");
  fx_assert_last_str(CHAT, "headers.authorization", "Bearer " FX_KEY);
  json_t *m = fx_last_json(CHAT, "messages");
  assert_int_equal(json_array_size(m), 2);
  assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "role")), "system");
  assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "content")),
                      "You are a terse assistant.");
  json_decref(m);
  fx_free(x);
}

static void test_llm_tool_calls_are_assembled_from_pieces(void **state) {
  (void)state;
  REQUIRE_SERVER();
  fx_t *x = fx_openai(TERN_COMP_LLM, 0);
  fx_script(CHAT,
            "[{\"tool_calls\":["
            "{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\",\"unit\":\"celsius\"}},"
            "{\"name\":\"set_alarm\",\"arguments\":{\"time\":\"07:30\",\"label\":\"a long label "
            "split across many pieces\"}}]}]");
  tern_tool_def_t tools[] = {
      {"get_weather", "Weather for a city",
       "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}"},
      {"set_alarm", "Set an alarm", NULL},
  };
  tern_chat_t *chat = fx_chat("weather in Paris and wake me at 7:30");
  tern_llm_request_t req = {
      .chat = chat, .tools = tools, .n_tools = 2, .temperature = 0.2, .max_tokens = 77};
  assert_int_equal(fx_llm_start(x, 0, &req), 0);
  fx_run(x);
  tern_chat_destroy(chat);
  assert_false(x->failed);
  assert_string_equal(tern_buf_str(&x->text), "");
  assert_int_equal(json_array_size(x->tools), 2);
  json_t *a = json_array_get(x->tools, 0), *b = json_array_get(x->tools, 1);
  assert_string_equal(json_string_value(json_object_get(a, "name")), "get_weather");
  assert_string_equal(json_string_value(json_object_get(a, "id")), "call_fake0");
  assert_string_equal(json_string_value(json_object_get(a, "arguments")),
                      "{\"city\":\"Paris\",\"unit\":\"celsius\"}");
  assert_string_equal(json_string_value(json_object_get(b, "name")), "set_alarm");
  assert_string_equal(json_string_value(json_object_get(b, "arguments")),
                      "{\"time\":\"07:30\",\"label\":\"a long label split across many pieces\"}");
  fx_assert_last_str(CHAT, "tools", "[\"get_weather\",\"set_alarm\"]");
  fx_assert_last_str(CHAT, "max_tokens", "77");
  fx_free(x);
}

static void test_llm_sends_tool_history_in_openai_shape(void **state) {
  (void)state;
  REQUIRE_SERVER();
  fx_t *x = fx_openai(TERN_COMP_LLM, 0);
  tern_chat_t *chat = fx_chat("weather in Paris?");
  tern_tool_call_t call = {"call_1", "get_weather", "{\"city\":\"Paris\"}"};
  assert_int_equal(tern_chat_add_tool_calls(chat, NULL, &call, 1), 0);
  assert_int_equal(tern_chat_add_tool_result(chat, "call_1", "get_weather", "sunny, 21 C"), 0);
  assert_int_equal(tern_chat_add(chat, TERN_ROLE_USER, "thanks"), 0);
  tern_llm_request_t req = {.chat = chat, .temperature = -1};
  assert_int_equal(fx_llm_start(x, 0, &req), 0);
  fx_run(x);
  tern_chat_destroy(chat);
  assert_false(x->failed);
  assert_string_equal(tern_buf_str(&x->text), "You said: thanks");
  json_t *m = fx_last_json(CHAT, "messages");
  const char *roles[] = {"system", "user", "assistant", "tool", "user"};
  assert_int_equal(json_array_size(m), 5);
  for (size_t i = 0; i < 5; i++)
    assert_string_equal(json_string_value(json_object_get(json_array_get(m, i), "role")), roles[i]);
  json_t *tc = json_array_get(json_object_get(json_array_get(m, 2), "tool_calls"), 0);
  assert_string_equal(json_string_value(json_object_get(tc, "id")), "call_1");
  assert_string_equal(json_string_value(json_object_get(tc, "type")), "function");
  json_t *fn = json_object_get(tc, "function");
  assert_string_equal(json_string_value(json_object_get(fn, "name")), "get_weather");
  assert_string_equal(json_string_value(json_object_get(fn, "arguments")), "{\"city\":\"Paris\"}");
  json_t *tool = json_array_get(m, 3);
  assert_string_equal(json_string_value(json_object_get(tool, "tool_call_id")), "call_1");
  assert_string_equal(json_string_value(json_object_get(tool, "content")), "sunny, 21 C");
  json_decref(m);
  fx_free(x);
}

static void test_llm_invalid_tool_schema_is_refused_at_start(void **state) {
  (void)state;
  REQUIRE_SERVER();
  fx_t *x = fx_openai(TERN_COMP_LLM, 0);
  tern_tool_def_t tools[] = {{"broken", "bad schema", "{\"type\":\"object\",}"}};
  tern_chat_t *chat = fx_chat("hi");
  tern_llm_request_t req = {.chat = chat, .tools = tools, .n_tools = 1, .temperature = -1};
  assert_int_equal(fx_llm_start(x, 0, &req), TERN_EINVAL);
  assert_null(x->op);
  tools[0].parameters_json = "[1,2]"; /* JSON, but not a schema object */
  assert_int_equal(fx_llm_start(x, 0, &req), TERN_EINVAL);
  fx_settle(x, TERN_MS(50));
  assert_false(x->done);
  assert_int_equal(fakeprov_count(&g_fp, CHAT), 0);
  tern_chat_destroy(chat);
  fx_free(x);
}

/* ---- chat: every fault, classified (direct calls) ----------------------- */

typedef struct {
  const char *note;
  const char *fault;
  bool ok;
  tern_kind_t kind;
  const char *partial; /* text the caller saw before the failure */
  size_t min_partial;  /* at least this much of it (0: all of it) */
} fault_case_t;

static const char *k_reply = "alpha beta gamma delta";

/* Chunks of the reply: role, "alpha ", "beta ", "gamma ", "delta", finish,
 * [DONE]. */
static const fault_case_t k_chat_faults[] = {
    {"429", "{\"status\":429,\"retry_after\":7}", false, TERN_KIND_RATE_LIMITED, "", 0},
    {"500", "{\"status\":500}", false, TERN_KIND_SERVER, "", 0},
    {"503", "{\"status\":503}", false, TERN_KIND_OVERLOADED, "", 0},
    {"401", "{\"status\":401}", false, TERN_KIND_AUTH, "", 0},
    {"400 context",
     "{\"status\":400,\"error_code\":\"context_length_exceeded\","
     "\"message\":\"This model's maximum context length is 128000 tokens\"}",
     false, TERN_KIND_CONTEXT_LENGTH, "", 0},
    {"delay", "{\"delay_headers_ms\":3000}", false, TERN_KIND_TIMEOUT, "", 0},
    /* A reset may discard what was still in flight: at least the chunks
     * that came well before it were seen. */
    {"reset", "{\"reset_after_chunks\":3,\"drip_ms\":30}", false, TERN_KIND_CONNECTION,
     "alpha beta ", 6},
    {"stall", "{\"stall_after_chunks\":3,\"stall_ms\":5000}", false, TERN_KIND_STALLED,
     "alpha beta ", 0},
    {"drip", "{\"drip_ms\":60}", true, 0, NULL, 0},
    {"malformed", "{\"malformed_json\":true,\"malformed_at\":2}", false, TERN_KIND_BAD_RESPONSE,
     "alpha ", 0},
    {"truncated", "{\"truncate_after_chunks\":3}", false, TERN_KIND_CONNECTION, "alpha beta ", 0},
    {"in-stream error", "{\"error_after_chunks\":2}", false, TERN_KIND_SERVER, "alpha ", 0},
    {"wrong type", "{\"wrong_content_type\":true}", false, TERN_KIND_BAD_RESPONSE, "", 0},
    {"oversized", "{\"oversized_body_bytes\":400000}", false, TERN_KIND_BAD_RESPONSE, "", 0},
    {"close", "{\"close_before_response\":true}", false, TERN_KIND_CONNECTION, "", 0},
    {"close rst", "{\"close_before_response\":\"reset\"}", false, TERN_KIND_CONNECTION, "", 0},
};

static void test_llm_every_fault_is_classified(void **state) {
  (void)state;
  REQUIRE_SERVER();
  fx_t *x = fx_openai(TERN_COMP_LLM, 0);
  short_http_timeouts(x);
  for (size_t i = 0; i < sizeof k_chat_faults / sizeof k_chat_faults[0]; i++) {
    const fault_case_t *c = &k_chat_faults[i];
    char script[512];
    snprintf(script, sizeof script, "[%s]", c->fault);
    assert_int_equal(fakeprov_reset(&g_fp), 0);
    assert_int_equal(fakeprov_key(&g_fp, "openai", FX_KEY), 0);
    assert_int_equal(fakeprov_reply(&g_fp, CHAT, k_reply), 0);
    fx_script(CHAT, script);
    fx_ask(x, 0, "hi");
    if (c->ok) {
      if (x->failed)
        fail_msg("%s: failed with %s: %s", c->note, tern_kind_name(x->err.kind), x->err.message);
      assert_string_equal(tern_buf_str(&x->text), k_reply);
      continue;
    }
    if (!x->failed)
      fail_msg("%s: succeeded", c->note);
    if (x->err.kind != c->kind)
      fail_msg("%s: kind %s, want %s (%s)", c->note, tern_kind_name(x->err.kind),
               tern_kind_name(c->kind), x->err.message);
    assert_int_equal(x->err.component, TERN_COMP_LLM);
    assert_string_equal(x->err.provider, "openai");
    assert_true(x->err.message[0] != '\0');
    assert_int_equal(x->err.retryable, tern_kind_retryable(c->kind));
    size_t seen = x->text.len, want = c->min_partial ? c->min_partial : strlen(c->partial);
    if (seen < want || seen > strlen(c->partial) ||
        strncmp(tern_buf_str(&x->text), c->partial, seen))
      fail_msg("%s: saw '%s', want '%s'", c->note, tern_buf_str(&x->text), c->partial);
    if (c->kind == TERN_KIND_RATE_LIMITED) {
      assert_int_equal(x->err.http_status, 429);
      assert_int_equal(x->err.retry_after, TERN_SEC(7));
    }
    if (c->kind == TERN_KIND_AUTH)
      assert_false(x->err.recoverable);
  }
  fx_free(x);
}

/* ---- chat: cancellation ------------------------------------------------- */

static void test_llm_cancel_inside_on_text_stops_everything(void **state) {
  (void)state;
  REQUIRE_SERVER();
  fx_t *x = fx_openai(TERN_COMP_LLM, 0);
  assert_int_equal(fakeprov_reply(&g_fp, CHAT, k_reply), 0);
  x->cancel_at_text = 2;
  tern_chat_t *chat = fx_chat("hi");
  tern_llm_request_t req = {.chat = chat, .temperature = -1};
  assert_int_equal(fx_llm_start(x, 0, &req), 0);
  x->cancel_at_text = 2;
  fx_run(x);
  x->done = false;
  fx_settle(x, TERN_MS(200));
  assert_false(x->done);
  assert_int_equal(x->late_callbacks, 0);
  assert_string_equal(tern_buf_str(&x->text), "alpha beta ");
  tern_chat_destroy(chat);
  fx_free(x);
}

static void test_llm_cancel_inside_on_tool_call(void **state) {
  (void)state;
  REQUIRE_SERVER();
  fx_t *x = fx_openai(TERN_COMP_LLM, 0);
  fx_script(CHAT, "[{\"tool_calls\":[{\"name\":\"a\",\"arguments\":{}},"
                  "{\"name\":\"b\",\"arguments\":{}}]}]");
  tern_chat_t *chat = fx_chat("hi");
  tern_llm_request_t req = {.chat = chat, .temperature = -1};
  assert_int_equal(fx_llm_start(x, 0, &req), 0);
  x->cancel_on_tool = true;
  fx_run(x);
  x->done = false;
  fx_settle(x, TERN_MS(200));
  assert_int_equal(x->late_callbacks, 0);
  assert_int_equal(json_array_size(x->tools), 1); /* the second never came */
  tern_chat_destroy(chat);
  fx_free(x);
}

static void test_llm_cancel_before_anything_arrived(void **state) {
  (void)state;
  REQUIRE_SERVER();
  fx_t *x = fx_openai(TERN_COMP_LLM, 0);
  fx_script(CHAT, "[{\"stall_after_chunks\":0,\"stall_ms\":5000}]");
  tern_chat_t *chat = fx_chat("hi");
  tern_llm_request_t req = {.chat = chat, .temperature = -1};
  assert_int_equal(fx_llm_start(x, 0, &req), 0);
  tern_op_cancel(x->op); /* at once, from outside any callback */
  x->cancelled = true;
  fx_settle(x, TERN_MS(200));
  assert_int_equal(x->late_callbacks, 0);
  assert_false(x->done);
  tern_chat_destroy(chat);
  fx_free(x);
}

/* ---- chat through the runner -------------------------------------------- */

typedef struct {
  const char *note;
  const char *fault;
  tern_kind_t kind;
  bool retried;      /* served by the primary on a second attempt */
  bool continuation; /* failover after partial output */
} runner_case_t;

static const runner_case_t k_runner_faults[] = {
    {"429 short", "{\"status\":429,\"retry_after\":0.1}", TERN_KIND_RATE_LIMITED, true, false},
    {"429 long", "{\"status\":429,\"retry_after\":30}", TERN_KIND_RATE_LIMITED, false, false},
    {"500", "{\"status\":500}", TERN_KIND_SERVER, true, false},
    {"503", "{\"status\":503}", TERN_KIND_OVERLOADED, true, false},
    {"401", "{\"status\":401}", TERN_KIND_AUTH, false, false},
    {"reset", "{\"reset_after_chunks\":3,\"drip_ms\":30}", TERN_KIND_CONNECTION, false, true},
    {"stall", "{\"stall_after_chunks\":3,\"stall_ms\":5000}", TERN_KIND_STALLED, false, true},
    {"truncated", "{\"truncate_after_chunks\":3}", TERN_KIND_CONNECTION, false, true},
    {"malformed", "{\"malformed_json\":true}", TERN_KIND_BAD_RESPONSE, false, false},
    {"in-stream error early", "{\"error_after_chunks\":1}", TERN_KIND_SERVER, true, false},
    {"in-stream error late", "{\"error_after_chunks\":3}", TERN_KIND_SERVER, false, true},
    {"wrong type", "{\"wrong_content_type\":true}", TERN_KIND_BAD_RESPONSE, false, false},
    {"oversized", "{\"oversized_body_bytes\":400000}", TERN_KIND_BAD_RESPONSE, false, false},
    {"close", "{\"close_before_response\":true}", TERN_KIND_CONNECTION, true, false},
};

static void run_runner_case(const runner_case_t *c) {
  fx_t *x = fx_openai(TERN_COMP_LLM, 2);
  assert_int_equal(fakeprov_reply(&g_fp, CHAT, k_reply), 0);
  char script[512];
  snprintf(script, sizeof script, "[%s]", c->fault);
  fx_script(CHAT, script);
  fx_ask(x, -1, "hi");
  if (x->failed)
    fail_msg("%s: the call failed: %s", c->note, x->err.message);
  /* The caller hears the answer once, whole, whatever happened. With
   * continuation the backup (which, like a careless model, starts over)
   * has its repeated prefix dropped. */
  if (strcmp(tern_buf_str(&x->text), k_reply))
    fail_msg("%s: heard '%s'", c->note, tern_buf_str(&x->text));
  assert_int_equal(fakeprov_count(&g_fp, CHAT), 2);
  if (fx_count_events(x, "error", "kind", tern_kind_name(c->kind)) != 1)
    fail_msg("%s: no single error event of kind %s", c->note, tern_kind_name(c->kind));
  if (c->retried) {
    fx_assert_last_str(CHAT, "model", "primary-model");
    assert_int_equal(fx_count_events(x, "provider_switched", NULL, NULL), 0);
  } else {
    fx_assert_last_str(CHAT, "model", "backup-model");
    assert_int_equal(fx_count_events(x, "provider_switched", "to", "backup"), 1);
  }
  json_t *m = fx_last_json(CHAT, "messages");
  size_t n = json_array_size(m);
  if (c->continuation) {
    /* The backup saw the partial answer and was asked to go on. */
    json_t *prev = json_array_get(m, n - 2);
    assert_string_equal(json_string_value(json_object_get(prev, "role")), "assistant");
    const char *partial = json_string_value(json_object_get(prev, "content"));
    assert_non_null(partial);
    assert_true(partial[0] && !strncmp(partial, k_reply, strlen(partial)));
    assert_string_equal(json_string_value(json_object_get(json_array_get(m, n - 1), "role")),
                        "user");
  } else {
    assert_int_equal(n, 2); /* the plain request: system + user */
  }
  json_decref(m);
  fx_free(x);
}

static void test_runner_handles_every_fault(void **state) {
  (void)state;
  REQUIRE_SERVER();
  for (size_t i = 0; i < sizeof k_runner_faults / sizeof k_runner_faults[0]; i++)
    run_runner_case(&k_runner_faults[i]);
}

static void test_runner_retries_a_slow_start_then_fails_over(void **state) {
  (void)state;
  REQUIRE_SERVER();
  fx_t *x = fx_openai(TERN_COMP_LLM, 2);
  assert_int_equal(fakeprov_reply(&g_fp, CHAT, k_reply), 0);
  fx_script(CHAT, "[{\"delay_headers_ms\":3000},{\"delay_headers_ms\":3000},"
                  "{\"delay_headers_ms\":3000}]");
  fx_ask(x, -1, "hi");
  assert_false(x->failed);
  assert_string_equal(tern_buf_str(&x->text), k_reply);
  /* 1 + 2 retries on the primary, then the backup. */
  assert_int_equal(fakeprov_count(&g_fp, CHAT), 4);
  fx_assert_last_str(CHAT, "model", "backup-model");
  assert_int_equal(fx_count_events(x, "error", "kind", "timeout"), 3);
  tern_fallback_stats_t st;
  tern_fallback_stats(x->f, &st);
  assert_int_equal(st.retries, 2);
  assert_int_equal(st.failovers, 1);
  fx_free(x);
}

static void test_runner_slow_drip_under_the_idle_timeout_succeeds(void **state) {
  (void)state;
  REQUIRE_SERVER();
  fx_t *x = fx_openai(TERN_COMP_LLM, 2);
  assert_int_equal(fakeprov_reply(&g_fp, CHAT, k_reply), 0);
  fx_script(CHAT, "[{\"drip_ms\":120}]");
  fx_ask(x, -1, "hi");
  assert_false(x->failed);
  assert_string_equal(tern_buf_str(&x->text), k_reply);
  assert_int_equal(fakeprov_count(&g_fp, CHAT), 1);
  assert_int_equal(fx_count_events(x, "error", NULL, NULL), 0);
  fx_free(x);
}

static void test_runner_continuation_with_an_obedient_model(void **state) {
  (void)state;
  REQUIRE_SERVER();
  fx_t *x = fx_openai(TERN_COMP_LLM, 2);
  assert_int_equal(fakeprov_reply(&g_fp, CHAT, k_reply), 0);
  fx_script(CHAT, "[{\"truncate_after_chunks\":3},{\"text\":\"gamma delta\"}]");
  fx_ask(x, -1, "hi");
  assert_false(x->failed);
  assert_string_equal(tern_buf_str(&x->text), k_reply);
  fx_free(x);
}

static bool switched_back(void *ud) {
  return fx_count_events(ud, "provider_switched", "reason", "switch_back") > 0;
}

static void test_runner_switches_back_after_the_probe(void **state) {
  (void)state;
  REQUIRE_SERVER();
  fx_t *x = fx_openai(TERN_COMP_LLM, 2);
  fx_script(CHAT, "[{\"status\":401}]"); /* fails once, then healthy */
  fx_ask(x, -1, "hi");
  assert_false(x->failed);
  assert_string_equal(tern_fallback_current(x->f), "backup");
  assert_int_equal(tern_loop_run_until(x->loop, switched_back, x, TERN_SEC(20)), 0);
  assert_string_equal(tern_fallback_current(x->f), "openai");
  assert_int_equal(fakeprov_count(&g_fp, CHAT), 3); /* call, failover, probe */
  fx_assert_last_str(CHAT, "model", "primary-model");
  fx_ask(x, -1, "again");
  assert_false(x->failed);
  assert_int_equal(fakeprov_count(&g_fp, CHAT), 4);
  fx_assert_last_str(CHAT, "model", "primary-model"); /* real traffic is back */
  fx_free(x);
}

/* ---- secrets ------------------------------------------------------------ */

static void test_the_key_never_leaks(void **state) {
  (void)state;
  REQUIRE_SERVER();
  fx_t *x = fx_openai(TERN_COMP_LLM, 2);
  /* A provider that quotes the key back in its error, as OpenAI does. */
  fx_script(CHAT, "[{\"status\":401,\"message\":\"Incorrect API key provided: " FX_KEY
                  ". You can find your key at https://platform.openai.com\"},"
                  "{\"error_after_chunks\":1,\"message\":\"bad key " FX_KEY "\"}]");
  fx_ask(x, 0, "hi");
  assert_true(x->failed);
  assert_int_equal(x->err.kind, TERN_KIND_AUTH);
  assert_null(strstr(x->err.message, FX_SECRET));
  fx_ask(x, -1, "hi"); /* through the runner: error events carry the message */
  assert_false(x->failed);
  assert_true(fx_count_events(x, "error", NULL, NULL) >= 1);
  assert_null(strstr(tern_buf_str(&x->lines), FX_SECRET));
  fx_free(x);
}

static void test_a_wrong_key_is_an_auth_error(void **state) {
  (void)state;
  REQUIRE_SERVER();
  char cfg[512];
  snprintf(cfg, sizeof cfg, "[llm.openai]\nbase_url = %s\napi_key = sk-wrong-OTHERKEY987654\n",
           fakeprov_url(&g_fp, "/v1"));
  fx_t *x = fx_new(TERN_COMP_LLM, tern_openai_provider_create, cfg, k_names, 1, 0);
  assert_int_equal(fakeprov_key(&g_fp, "openai", FX_KEY), 0);
  fx_ask(x, 0, "hi");
  assert_true(x->failed);
  assert_int_equal(x->err.kind, TERN_KIND_AUTH);
  assert_false(x->err.retryable);
  assert_null(strstr(x->err.message, "OTHERKEY987654"));
  fx_free(x);
}

/* ---- configuration ------------------------------------------------------ */

static void test_config_a_cloud_endpoint_needs_a_key(void **state) {
  (void)state;
  unsetenv("OPENAI_API_KEY");
  unsetenv("OPENAI_BASE_URL");
  tern_provider_t *p = NULL;
  char err[256] = "";
  assert_int_equal(tern_openai_provider_create(TERN_COMP_LLM, "openai", NULL, &p, err, sizeof err),
                   TERN_ECONFIG);
  assert_null(p);
  assert_non_null(strstr(err, "llm.openai: no API key"));
  assert_non_null(strstr(err, "OPENAI_API_KEY"));
  assert_non_null(strstr(err, "[llm.openai] api_key"));

  setenv("OPENAI_API_KEY", "sk-env-KEY0123456789", 1);
  assert_int_equal(tern_openai_provider_create(TERN_COMP_TTS, "openai", NULL, &p, err, sizeof err),
                   0);
  assert_string_equal(p->name, "openai");
  assert_int_equal(p->component, TERN_COMP_TTS);
  tern_provider_destroy(p);

  /* Another cloud server does not get the OpenAI key unasked. */
  tern_config_t *cfg;
  assert_int_equal(tern_config_new(&cfg), 0);
  const char *ini = "[llm.groq]\nbase_url = https://api.groq.com/openai/v1\n"
                    "[llm.groq2]\nbase_url = https://api.groq.com/openai/v1\n"
                    "api_key_env = TERN_TEST_GROQ_KEY\n"
                    "[tts.openai]\nresponse_format = mp3\n";
  assert_int_equal(tern_config_load_string(cfg, ini, strlen(ini), "t.ini", err, sizeof err), 0);
  assert_int_equal(tern_openai_provider_create(TERN_COMP_LLM, "groq", cfg, &p, err, sizeof err),
                   TERN_ECONFIG);
  assert_non_null(strstr(err, "api_key_env"));
  setenv("TERN_TEST_GROQ_KEY", "gsk-test-abcdef123456", 1);
  assert_int_equal(tern_openai_provider_create(TERN_COMP_LLM, "groq2", cfg, &p, err, sizeof err),
                   0);
  tern_provider_destroy(p);
  assert_int_equal(tern_openai_provider_create(TERN_COMP_TTS, "openai", cfg, &p, err, sizeof err),
                   TERN_ECONFIG);
  assert_non_null(strstr(err, "response_format"));
  assert_int_equal(tern_openai_provider_create(TERN_COMP_VAD, "openai", cfg, &p, err, sizeof err),
                   TERN_ECONFIG);
  tern_config_free(cfg);
  unsetenv("OPENAI_API_KEY");
  unsetenv("TERN_TEST_GROQ_KEY");
}

static void test_config_a_local_server_needs_no_key(void **state) {
  (void)state;
  REQUIRE_SERVER();
  unsetenv("OPENAI_API_KEY");
  char cfg[512];
  snprintf(cfg, sizeof cfg, "[llm.local]\nbase_url = %s/\nmodel = llama\n",
           fakeprov_url(&g_fp, "/v1"));
  const char *names[] = {"local"};
  fx_t *x = fx_new(TERN_COMP_LLM, tern_openai_provider_create, cfg, names, 1, 0);
  fx_ask(x, 0, "hi");
  assert_false(x->failed);
  assert_string_equal(tern_buf_str(&x->text), "You said: hi");
  char *auth = fx_last(CHAT, "headers.authorization");
  assert_null(auth); /* no key: no Authorization header at all */
  fx_assert_last_str(CHAT, "model", "llama");
  fx_free(x);
}

/* ---- transcription ------------------------------------------------------ */

static int16_t *tone(size_t n, int rate) {
  int16_t *pcm = malloc(n * sizeof *pcm);
  assert_non_null(pcm);
  for (size_t i = 0; i < n; i++)
    pcm[i] = (int16_t)((i * 440 * 2 / (size_t)rate) % 2 ? 4000 : -4000);
  return pcm;
}

static void transcribe(fx_t *x, int via_runner) {
  int16_t *pcm = tone(16000, 16000);
  tern_stt_request_t req = {.pcm = pcm, .n_samples = 16000, .sample_rate = 16000};
  tern_stt_sink_t sink = {fx_transcript, fx_done, x};
  fx_reset_call(x);
  int rc = via_runner ? tern_fallback_stt(x->f, &req, &sink, &x->op)
                      : x->p[0]->vt->stt_start(x->p[0], x->loop, &req, &sink, &x->op);
  assert_int_equal(rc, 0);
  fx_run(x);
  free(pcm);
}

static void test_stt_transcribes_an_utterance(void **state) {
  (void)state;
  REQUIRE_SERVER();
  fx_t *x = fx_openai(TERN_COMP_STT, 0);
  assert_int_equal(fakeprov_reply(&g_fp, STT, "turn on the kitchen lights"), 0);
  transcribe(x, 0);
  assert_false(x->failed);
  assert_int_equal(x->finals, 1);
  assert_string_equal(tern_buf_str(&x->transcript), "turn on the kitchen lights");
  fx_assert_last_str(STT, "model", "whisper-1");
  fx_assert_last_str(STT, "language", "en");
  fx_assert_last_str(STT, "response_format", "json");
  fx_assert_last_str(STT, "wav.sample_rate", "16000");
  fx_assert_last_str(STT, "wav.duration_ms", "1000");
  fx_free(x);
}

static void test_stt_server_error_is_retried(void **state) {
  (void)state;
  REQUIRE_SERVER();
  fx_t *x = fx_openai(TERN_COMP_STT, 2);
  fx_script(STT, "[{\"status\":500}]");
  transcribe(x, 1);
  assert_false(x->failed);
  assert_string_equal(tern_buf_str(&x->transcript), "hello there");
  assert_int_equal(fakeprov_count(&g_fp, STT), 2);
  fx_assert_last_str(STT, "model", "whisper-1"); /* the primary, again */
  assert_int_equal(fx_count_events(x, "error", "kind", "server"), 1);
  fx_free(x);
}

static void test_stt_bad_replies_are_bad_responses(void **state) {
  (void)state;
  REQUIRE_SERVER();
  fx_t *x = fx_openai(TERN_COMP_STT, 0);
  const char *faults[] = {"[{\"malformed_json\":true}]", "[{\"wrong_content_type\":true}]",
                          "[{\"body\":{\"transcript\":\"not the field\"}}]"};
  for (size_t i = 0; i < 3; i++) {
    fx_script(STT, faults[i]);
    transcribe(x, 0);
    assert_true(x->failed);
    assert_int_equal(x->err.kind, TERN_KIND_BAD_RESPONSE);
    assert_int_equal(x->finals, 0);
  }
  fx_free(x);
}

/* ---- speech ------------------------------------------------------------- */

static void speak(fx_t *x, int via_runner, const char *text, int rate) {
  tern_tts_request_t req = {.text = text, .sample_rate = rate};
  tern_tts_sink_t sink = {fx_audio, fx_done, x};
  fx_reset_call(x);
  int rc = via_runner ? tern_fallback_tts(x->f, &req, &sink, &x->op)
                      : x->p[0]->vt->tts_start(x->p[0], x->loop, &req, &sink, &x->op);
  assert_int_equal(rc, 0);
  fx_run(x);
}

static void test_tts_length_matches_the_text_at_every_rate(void **state) {
  (void)state;
  REQUIRE_SERVER();
  fx_t *x = fx_openai(TERN_COMP_TTS, 0);
  const char *text = "Hello there, friend."; /* 20 characters: one second */
  const int rates[] = {24000, 16000, 8000, 48000, 22050};
  for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
    speak(x, 0, text, rates[i]);
    assert_false(x->failed);
    long want = rates[i], got = (long)x->samples;
    if (got < want - 4 || got > want + 4)
      fail_msg("rate %d: %ld samples, want %ld", rates[i], got, want);
    assert_true(x->n_audio > 1); /* streamed, not in one piece */
  }
  fx_assert_last_str(TTS, "input", text);
  fx_assert_last_str(TTS, "voice", "alloy");
  fx_assert_last_str(TTS, "model", "tts-1");
  fx_assert_last_str(TTS, "response_format", "pcm");
  fx_free(x);
}

static void test_tts_samples_split_across_chunks_are_kept_whole(void **state) {
  (void)state;
  REQUIRE_SERVER();
  fx_t *x = fx_openai(TERN_COMP_TTS, 0);
  const char *text = "Odd pieces.";
  speak(x, 0, text, 24000);
  assert_false(x->failed);
  size_t n = x->samples;
  int16_t *whole = malloc(n * sizeof *whole);
  assert_non_null(whole);
  memcpy(whole, x->pcm, n * sizeof *whole);
  /* The same audio cut into odd-sized pieces that arrive apart. */
  fx_script(TTS, "[{\"piece_bytes\":4801,\"drip_ms\":5}]");
  speak(x, 0, text, 24000);
  assert_false(x->failed);
  assert_int_equal(x->samples, n);
  assert_memory_equal(x->pcm, whole, n * sizeof *whole);
  /* A stray final byte (half a sample) changes nothing the caller hears. */
  fx_script(TTS, "[{\"malformed_json\":true}]");
  speak(x, 0, text, 24000);
  assert_false(x->failed);
  assert_int_equal(x->samples, n);
  free(whole);
  fx_free(x);
}

static void test_tts_bad_replies_are_bad_responses(void **state) {
  (void)state;
  REQUIRE_SERVER();
  fx_t *x = fx_openai(TERN_COMP_TTS, 0);
  fx_script(TTS, "[{\"wrong_content_type\":true}]");
  speak(x, 0, "hi", 16000);
  assert_true(x->failed);
  assert_int_equal(x->err.kind, TERN_KIND_BAD_RESPONSE);
  assert_int_equal(x->samples, 0);
  fx_script(TTS, "[{\"oversized_body_bytes\":4000000}]"); /* far more than "hi" takes */
  speak(x, 0, "hi", 16000);
  assert_true(x->failed);
  assert_int_equal(x->err.kind, TERN_KIND_BAD_RESPONSE);
  fx_free(x);
}

static void test_tts_failover_speaks_only_the_unspoken_rest(void **state) {
  (void)state;
  REQUIRE_SERVER();
  fx_t *x = fx_openai(TERN_COMP_TTS, 2);
  const char *text = "one two three four five six seven eight nine ten eleven twelve";
  fx_script(TTS, "[{\"reset_after_chunks\":12,\"drip_ms\":20}]");
  speak(x, 1, text, 16000);
  assert_false(x->failed);
  assert_int_equal(fakeprov_count(&g_fp, TTS), 2);
  fx_assert_last_str(TTS, "model", "backup-tts");
  char *rest = fx_last(TTS, "input");
  assert_non_null(rest);
  size_t tl = strlen(text), rl = strlen(rest);
  /* A proper suffix, starting at a word: what was heard is not said again. */
  assert_true(rl > 0 && rl < tl);
  assert_string_equal(text + tl - rl, rest);
  assert_true(text[tl - rl - 1] == ' ');
  /* The caller got what was heard (the reset may swallow the chunk still
   * in flight) plus the rest, not the whole text twice; give or take the
   * resampler's filter delay. */
  long rest_samples = (long)rl * 800, got = (long)x->samples;
  if (got < 11 * 1600 + rest_samples - 64 || got > 12 * 1600 + rest_samples + 64)
    fail_msg("%ld samples, want 11 or 12 chunks (of 1600) plus %ld", got, rest_samples);
  free(rest);
  fx_free(x);
}

/* ---- out of memory ------------------------------------------------------ */

typedef struct {
  fx_t *x;
  tern_chat_t *chat;
} sweep_ctx_t;

static int sweep_start_cancel(void *ud) {
  sweep_ctx_t *s = ud;
  tern_provider_t *p;
  int rc = tern_openai_provider_create(TERN_COMP_LLM, "openai", s->x->cfg, &p, NULL, 0);
  if (rc)
    return rc;
  tern_tool_def_t tools[] = {{"get_weather", "Weather", "{\"type\":\"object\"}"}};
  tern_llm_request_t req = {
      .chat = s->chat, .tools = tools, .n_tools = 1, .temperature = -1, .continuation = "It is"};
  tern_llm_sink_t sink = {fx_text, fx_tool, fx_done, s->x};
  tern_op_t *op = NULL;
  rc = p->vt->llm_start(p, s->x->loop, &req, &sink, &op);
  if (rc == 0) {
    assert_non_null(op);
    tern_op_cancel(op);
  } else {
    assert_null(op);
  }
  tern_provider_destroy(p);
  tern_loop_run_once(s->x->loop, false);
  return rc;
}

static void test_llm_out_of_memory_never_crashes_or_leaks(void **state) {
  (void)state;
  REQUIRE_SERVER();
  fx_t *x = fx_openai(TERN_COMP_LLM, 0);
  tern_chat_t *chat = fx_chat("hi");
  tern_tool_call_t call = {"call_1", "get_weather", "{\"city\":\"Paris\"}"};
  assert_int_equal(tern_chat_add_tool_calls(chat, "checking", &call, 1), 0);
  assert_int_equal(tern_chat_add_tool_result(chat, "call_1", "get_weather", "sunny"), 0);
  sweep_ctx_t s = {x, chat};
  assert_true(tu_alloc_sweep(sweep_start_cancel, &s) > 0);
  fx_settle(x, TERN_MS(50));
  assert_false(x->done);
  tern_chat_destroy(chat);
  fx_free(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_llm_streams_the_reply_as_it_arrives),
      cmocka_unit_test(test_llm_tool_calls_are_assembled_from_pieces),
      cmocka_unit_test(test_llm_sends_tool_history_in_openai_shape),
      cmocka_unit_test(test_llm_invalid_tool_schema_is_refused_at_start),
      cmocka_unit_test(test_llm_every_fault_is_classified),
      cmocka_unit_test(test_llm_cancel_inside_on_text_stops_everything),
      cmocka_unit_test(test_llm_cancel_inside_on_tool_call),
      cmocka_unit_test(test_llm_cancel_before_anything_arrived),
      cmocka_unit_test(test_runner_handles_every_fault),
      cmocka_unit_test(test_runner_retries_a_slow_start_then_fails_over),
      cmocka_unit_test(test_runner_slow_drip_under_the_idle_timeout_succeeds),
      cmocka_unit_test(test_runner_continuation_with_an_obedient_model),
      cmocka_unit_test(test_runner_switches_back_after_the_probe),
      cmocka_unit_test(test_the_key_never_leaks),
      cmocka_unit_test(test_a_wrong_key_is_an_auth_error),
      cmocka_unit_test(test_config_a_cloud_endpoint_needs_a_key),
      cmocka_unit_test(test_config_a_local_server_needs_no_key),
      cmocka_unit_test(test_stt_transcribes_an_utterance),
      cmocka_unit_test(test_stt_server_error_is_retried),
      cmocka_unit_test(test_stt_bad_replies_are_bad_responses),
      cmocka_unit_test(test_tts_length_matches_the_text_at_every_rate),
      cmocka_unit_test(test_tts_samples_split_across_chunks_are_kept_whole),
      cmocka_unit_test(test_tts_bad_replies_are_bad_responses),
      cmocka_unit_test(test_tts_failover_speaks_only_the_unspoken_rest),
      cmocka_unit_test(test_llm_out_of_memory_never_crashes_or_leaks),
  };
  return cmocka_run_group_tests(tests, fx_group_setup, fx_group_teardown);
}
