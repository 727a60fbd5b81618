/* The fallback runner with fake providers on a virtual-time loop: retries,
 * failover, continuation after partial output, the watchdog, breakers,
 * probes and switch-back, cancellation, and the events a user sees. */
#include "testutil.h"

#include <jansson.h>
#include <string.h>

#include "tern/buf.h"
#include "tern/error.h"
#include "tern/fake.h"
#include "tern/fallback.h"
#include "tern/loop.h"

typedef struct {
  tern_fake_clock_t clock; /* virtual time: the tests take no real time */
  tern_loop_t *loop;
  tern_provider_t *p[3];
  tern_guard_t *g[3];
  tern_fallback_t *f;
  tern_events_t *ev;
  json_t *events; /* array of every event */
  /* the call */
  tern_buf_t text;
  size_t samples;
  int tool_calls;
  bool done;
  tern_error_t err;
  bool failed;
  int finals; /* observer: final errors */
  tern_op_t *op;
  bool cancel_on_text;
} fx_t;

static void on_event(void *ud, const char *type, const char *line, size_t len,
                     const tern_log_field_t *fields, size_t nfields) {
  (void)type, (void)fields, (void)nfields;
  fx_t *x = ud;
  json_t *o = json_loadb(line, len, 0, NULL);
  assert_non_null(o);
  json_array_append_new(x->events, o);
}

static int count_events(fx_t *x, const char *type, const char *key, const char *val) {
  int n = 0;
  size_t i;
  json_t *o;
  json_array_foreach(x->events, i, o) {
    if (strcmp(json_string_value(json_object_get(o, "type")), type))
      continue;
    if (key && strcmp(json_string_value(json_object_get(o, key)) ?: "", val))
      continue;
    n++;
  }
  return n;
}

static void fast_guard(tern_component_t comp, tern_guard_config_t *gc) {
  tern_guard_config_default(comp, gc);
  gc->first_output_timeout = TERN_MS(150);
  gc->idle_timeout = TERN_MS(150);
  gc->retry.backoff.base = TERN_MS(1);
  gc->retry.backoff.cap = TERN_MS(2);
  gc->retry.deadline = TERN_SEC(5);
}

static void obs_error(void *ud, const tern_error_t *err, bool final) {
  (void)err;
  fx_t *x = ud;
  x->finals += final;
}

static fx_t *setup(tern_component_t comp, int n, const tern_guard_config_t *gc_override) {
  fx_t *x = calloc(1, sizeof *x);
  tern_fake_clock_init(&x->clock, TERN_SEC(1000));
  assert_int_equal(tern_loop_create_virtual(&x->clock, &x->loop), 0);
  assert_int_equal(tern_events_create("test", &x->ev), 0);
  x->events = json_array();
  assert_int_equal(tern_events_listen(x->ev, on_event, x), 0);
  tern_fallback_link_t links[3];
  const char *names[] = {"primary", "secondary", "tertiary"};
  for (int i = 0; i < n; i++) {
    tern_guard_config_t gc;
    if (gc_override)
      gc = *gc_override;
    else
      fast_guard(comp, &gc);
    assert_int_equal(tern_fake_create(comp, names[i], &x->p[i]), 0);
    assert_int_equal(tern_guard_create(comp, names[i], &gc, &x->g[i]), 0);
    links[i] = (tern_fallback_link_t){x->p[i], x->g[i]};
  }
  tern_fallback_config_t fc;
  tern_fallback_config_default(&fc);
  fc.chain.probe_initial = TERN_MS(20);
  fc.chain.probe_max = TERN_MS(40);
  assert_int_equal(tern_fallback_create(x->loop, comp, links, (size_t)n, &fc, x->ev, 7, &x->f), 0);
  tern_fallback_observer_t obs = {obs_error, NULL, x};
  tern_fallback_set_observer(x->f, &obs);
  return x;
}

static void teardown_fx(fx_t *x) {
  tern_fallback_destroy(x->f);
  for (int i = 0; i < 3; i++) {
    tern_provider_destroy(x->p[i]);
    tern_guard_destroy(x->g[i]);
  }
  tern_events_destroy(x->ev);
  json_decref(x->events);
  tern_buf_free(&x->text);
  tern_loop_destroy(x->loop);
  free(x);
}

static bool is_done(void *ud) { return ((fx_t *)ud)->done; }

static void run(fx_t *x) {
  assert_int_equal(tern_loop_run_until(x->loop, is_done, x, TERN_SEC(20)), 0);
}

/* ---- sinks ---- */

static void s_text(void *ud, const char *t, size_t n) {
  fx_t *x = ud;
  tern_buf_append(&x->text, t, n);
  if (x->cancel_on_text) {
    tern_op_cancel(x->op);
    x->done = true;
  }
}
static void s_tool(void *ud, const tern_tool_call_t *c) {
  (void)c;
  ((fx_t *)ud)->tool_calls++;
}
static void s_done(void *ud, const tern_error_t *err) {
  fx_t *x = ud;
  assert_false(x->done); /* exactly once */
  x->done = true;
  if (err) {
    x->failed = true;
    x->err = *err;
  }
}
static void s_audio(void *ud, const int16_t *pcm, size_t n) {
  (void)pcm;
  ((fx_t *)ud)->samples += n;
}
static void s_transcript(void *ud, const char *t, bool fin, double conf) {
  (void)conf;
  fx_t *x = ud;
  if (fin) {
    tern_buf_reset(&x->text);
    tern_buf_appends(&x->text, t);
  }
}

static void ask(fx_t *x) {
  tern_chat_t *chat;
  assert_int_equal(tern_chat_create(&chat), 0);
  assert_int_equal(tern_chat_add(chat, TERN_ROLE_USER, "what is the weather"), 0);
  tern_llm_request_t req = {.chat = chat, .temperature = -1};
  tern_llm_sink_t sink = {s_text, s_tool, s_done, x};
  x->done = x->failed = false;
  tern_buf_reset(&x->text);
  assert_int_equal(tern_fallback_llm(x->f, &req, &sink, &x->op), 0);
  assert_false(x->done); /* never called back inside the start call */
  run(x);
  tern_chat_destroy(chat);
}

static tern_fake_step_t step_fail(tern_kind_t kind, int status, int after) {
  tern_fake_step_t s = TERN_FAKE_OK;
  s.kind = kind;
  s.status = status;
  s.fail_after = after;
  return s;
}

static const char *k_reply = "It is sunny and twenty degrees in London today.";

static void set_reply(fx_t *x, int n) {
  tern_fake_step_t ok = TERN_FAKE_OK;
  ok.text = k_reply;
  for (int i = 0; i < n; i++)
    tern_fake_set_default(x->p[i], &ok);
}

/* ---- tests ---- */

static void test_transient_errors_are_retried_on_the_same_provider(void **state) {
  (void)state;
  fx_t *x = setup(TERN_COMP_LLM, 2, NULL);
  set_reply(x, 2);
  tern_fake_step_t e500 = step_fail(TERN_KIND_SERVER, 500, 0);
  tern_fake_push(x->p[0], &e500);
  tern_fake_push(x->p[0], &e500);
  ask(x);
  assert_false(x->failed);
  assert_string_equal(tern_buf_str(&x->text), k_reply);
  tern_fake_stats_t s0, s1;
  tern_fake_stats(x->p[0], &s0);
  tern_fake_stats(x->p[1], &s1);
  assert_int_equal(s0.calls, 3); /* two retries, the third attempt succeeds */
  assert_int_equal(s1.calls, 0);
  assert_int_equal(count_events(x, "error", "kind", "server"), 2);
  assert_int_equal(count_events(x, "provider_switched", NULL, NULL), 0);
  teardown_fx(x);
}

static void test_auth_error_fails_over_at_once(void **state) {
  (void)state;
  fx_t *x = setup(TERN_COMP_LLM, 2, NULL);
  set_reply(x, 2);
  tern_fake_step_t e401 = step_fail(TERN_KIND_AUTH, 401, 0);
  tern_fake_push(x->p[0], &e401);
  ask(x);
  assert_false(x->failed);
  assert_string_equal(tern_buf_str(&x->text), k_reply);
  tern_fake_stats_t s0;
  tern_fake_stats(x->p[0], &s0);
  assert_int_equal(s0.calls, 1); /* not retried: a retry cannot fix a bad key */
  assert_int_equal(count_events(x, "error", "kind", "auth"), 1);
  assert_int_equal(count_events(x, "provider_switched", "to", "secondary"), 1);
  assert_string_equal(tern_fallback_current(x->f), "secondary");
  size_t i;
  json_t *o;
  json_array_foreach(x->events, i, o) {
    if (!strcmp(json_string_value(json_object_get(o, "type")), "error")) {
      assert_true(json_is_false(json_object_get(o, "recoverable")));
      assert_true(json_is_false(json_object_get(o, "retryable")));
      assert_string_equal(json_string_value(json_object_get(o, "provider")), "primary");
      assert_string_equal(json_string_value(json_object_get(o, "component")), "llm");
    }
  }
  teardown_fx(x);
}

static void test_stall_mid_answer_continues_on_the_fallback(void **state) {
  (void)state;
  fx_t *x = setup(TERN_COMP_LLM, 2, NULL);
  set_reply(x, 2);
  tern_fake_step_t stall = TERN_FAKE_OK;
  stall.text = k_reply;
  stall.stall_after = 3; /* "It is sunny" then silence */
  tern_fake_push(x->p[0], &stall);
  ask(x);
  assert_false(x->failed);
  /* The caller hears the answer once, whole, with nothing repeated. */
  assert_string_equal(tern_buf_str(&x->text), k_reply);
  tern_fake_stats_t s0, s1;
  tern_fake_stats(x->p[0], &s0);
  tern_fake_stats(x->p[1], &s1);
  assert_int_equal(s0.calls, 1); /* output was delivered: no retry */
  assert_string_equal(s1.last_continuation, "It is sunny");
  assert_int_equal(count_events(x, "error", "kind", "stalled"), 1);
  tern_fallback_stats_t st;
  tern_fallback_stats(x->f, &st);
  assert_int_equal(st.stalls, 1);
  teardown_fx(x);
}

static void test_silent_provider_times_out_then_fails_over(void **state) {
  (void)state;
  fx_t *x = setup(TERN_COMP_LLM, 2, NULL);
  set_reply(x, 2);
  tern_fake_step_t hang = TERN_FAKE_OK;
  hang.first_delay = TERN_SEC(60);
  tern_fake_set_default(x->p[0], &hang);
  ask(x);
  assert_false(x->failed);
  assert_string_equal(tern_buf_str(&x->text), k_reply);
  tern_fake_stats_t s0;
  tern_fake_stats(x->p[0], &s0);
  assert_int_equal(s0.calls, 3); /* timeouts are retryable: 1 + 2 retries */
  assert_int_equal(s0.cancelled, 3);
  assert_int_equal(count_events(x, "error", "kind", "timeout"), 3);
  teardown_fx(x);
}

static void test_every_provider_down_reports_one_final_error(void **state) {
  (void)state;
  fx_t *x = setup(TERN_COMP_LLM, 2, NULL);
  tern_fake_step_t e503 = step_fail(TERN_KIND_OVERLOADED, 503, 0);
  tern_fake_set_default(x->p[0], &e503);
  tern_fake_step_t e401 = step_fail(TERN_KIND_AUTH, 401, 0);
  tern_fake_set_default(x->p[1], &e401);
  ask(x);
  assert_true(x->failed);
  assert_int_equal(x->err.kind, TERN_KIND_AUTH);
  assert_string_equal(x->err.provider, "secondary");
  assert_int_equal(x->finals, 1);
  teardown_fx(x);
}

static void test_breaker_opens_and_later_calls_skip_the_provider(void **state) {
  (void)state;
  tern_guard_config_t gc;
  fast_guard(TERN_COMP_LLM, &gc);
  gc.retry.max_attempts = 1; /* no retries: one failure per call */
  fx_t *x = setup(TERN_COMP_LLM, 2, &gc);
  set_reply(x, 2);
  tern_fake_step_t e500 = step_fail(TERN_KIND_SERVER, 500, 0);
  tern_fake_set_default(x->p[0], &e500);
  for (int i = 0; i < 3; i++) {
    ask(x);
    assert_false(x->failed);
    /* The chain now prefers the secondary; make the primary the first
     * choice again so each call hits it, as a fresh session would. */
    tern_chain_report_success(tern_fallback_chain(x->f), 0, tern_loop_now(x->loop));
  }
  assert_int_equal(tern_breaker_state(x->g[0]->breaker), TERN_BREAKER_OPEN);
  assert_int_equal(count_events(x, "breaker_state_changed", "to", "open"), 1);
  tern_fake_stats_t s0;
  tern_fake_stats(x->p[0], &s0);
  assert_int_equal(s0.calls, 3);
  ask(x); /* the open breaker answers for the primary without calling it */
  assert_false(x->failed);
  tern_fake_stats(x->p[0], &s0);
  assert_int_equal(s0.calls, 3);
  assert_string_equal(tern_buf_str(&x->text), k_reply);
  teardown_fx(x);
}

static bool switched_back(void *ud) {
  fx_t *x = ud;
  return count_events(x, "provider_switched", "reason", "switch_back") > 0;
}

static void test_probe_switches_back_when_the_provider_recovers(void **state) {
  (void)state;
  fx_t *x = setup(TERN_COMP_LLM, 2, NULL);
  set_reply(x, 2);
  tern_fake_step_t e401 = step_fail(TERN_KIND_AUTH, 401, 0);
  tern_fake_push(x->p[0], &e401); /* fails once, then healthy */
  ask(x);
  assert_string_equal(tern_fallback_current(x->f), "secondary");
  assert_int_equal(tern_loop_run_until(x->loop, switched_back, x, TERN_SEC(20)), 0);
  assert_string_equal(tern_fallback_current(x->f), "primary");
  tern_fake_stats_t s0;
  tern_fake_stats(x->p[0], &s0);
  assert_int_equal(s0.calls, 2); /* the failed call and the probe */
  ask(x);
  tern_fake_stats(x->p[0], &s0);
  assert_int_equal(s0.calls, 3); /* real traffic is back on the primary */
  tern_fallback_stats_t st;
  tern_fallback_stats(x->f, &st);
  assert_int_equal(st.probe_successes, 1);
  teardown_fx(x);
}

static void test_cancel_inside_a_callback(void **state) {
  (void)state;
  fx_t *x = setup(TERN_COMP_LLM, 1, NULL);
  set_reply(x, 1);
  x->cancel_on_text = true;
  ask(x);
  /* run() returned because the sink marked done on cancel; make sure nothing
   * else arrives afterwards. */
  x->done = false;
  tern_loop_run_until(x->loop, is_done, x, TERN_MS(50));
  assert_false(x->done);
  assert_string_equal(tern_buf_str(&x->text), "It");
  tern_fake_stats_t s0;
  tern_fake_stats(x->p[0], &s0);
  assert_int_equal(s0.cancelled, 1);
  teardown_fx(x);
}

static void test_context_too_long_is_not_failed_over(void **state) {
  (void)state;
  fx_t *x = setup(TERN_COMP_LLM, 2, NULL);
  tern_fake_step_t e = step_fail(TERN_KIND_CONTEXT_LENGTH, 400, 0);
  tern_fake_push(x->p[0], &e);
  ask(x);
  assert_true(x->failed);
  assert_int_equal(x->err.kind, TERN_KIND_CONTEXT_LENGTH);
  tern_fake_stats_t s1;
  tern_fake_stats(x->p[1], &s1);
  assert_int_equal(s1.calls, 0);
  assert_int_equal(tern_breaker_state(x->g[0]->breaker), TERN_BREAKER_CLOSED);
  teardown_fx(x);
}

static void test_tts_fallback_speaks_only_the_unspoken_rest(void **state) {
  (void)state;
  fx_t *x = setup(TERN_COMP_TTS, 2, NULL);
  /* Both voices speak at the runner's starting estimate (16000 / 12
   * samples a letter) so the split point is exact. */
  const char *text = "one two three four five six seven eight";
  tern_fake_step_t die = TERN_FAKE_OK;
  die.fail_after = 60;
  die.kind = TERN_KIND_CONNECTION;
  tern_fake_push(x->p[0], &die);
  tern_tts_request_t req = {.text = text, .sample_rate = 16000};
  tern_tts_sink_t sink = {s_audio, s_done, x};
  assert_int_equal(tern_fallback_tts(x->f, &req, &sink, &x->op), 0);
  run(x);
  assert_false(x->failed);
  tern_fake_stats_t s1;
  tern_fake_stats(x->p[1], &s1);
  /* 60 chunks of 320 samples = 19200 samples = 14.4 letters heard of 33:
   * "one two three" (11) fully heard, "four" cut: resume there. */
  assert_string_equal(s1.last_input, "four five six seven eight");
  size_t letters_total = 33, rest_letters = 21;
  size_t expect = 60 * 320 + (size_t)(16000.0 / 12.0 * rest_letters);
  assert_int_equal(x->samples, expect);
  assert_true(x->samples < (size_t)(16000.0 / 12.0 * letters_total) + 60 * 320);
  teardown_fx(x);
}

static void test_stt_fails_over_with_the_same_audio(void **state) {
  (void)state;
  fx_t *x = setup(TERN_COMP_STT, 2, NULL);
  tern_fake_step_t e = step_fail(TERN_KIND_CONNECTION, 0, 1);
  tern_fake_set_default(x->p[0], &e);
  int16_t pcm[1600] = {0};
  tern_stt_request_t req = {.pcm = pcm, .n_samples = 1600, .sample_rate = 16000};
  tern_stt_sink_t sink = {s_transcript, s_done, x};
  assert_int_equal(tern_fallback_stt(x->f, &req, &sink, &x->op), 0);
  run(x);
  assert_false(x->failed);
  assert_string_equal(tern_buf_str(&x->text), "hello there");
  tern_fake_stats_t s1;
  tern_fake_stats(x->p[1], &s1);
  assert_string_equal(s1.last_input, "1600 samples");
  teardown_fx(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_transient_errors_are_retried_on_the_same_provider),
      cmocka_unit_test(test_auth_error_fails_over_at_once),
      cmocka_unit_test(test_stall_mid_answer_continues_on_the_fallback),
      cmocka_unit_test(test_silent_provider_times_out_then_fails_over),
      cmocka_unit_test(test_every_provider_down_reports_one_final_error),
      cmocka_unit_test(test_breaker_opens_and_later_calls_skip_the_provider),
      cmocka_unit_test(test_probe_switches_back_when_the_provider_recovers),
      cmocka_unit_test(test_cancel_inside_a_callback),
      cmocka_unit_test(test_context_too_long_is_not_failed_over),
      cmocka_unit_test(test_tts_fallback_speaks_only_the_unspoken_rest),
      cmocka_unit_test(test_stt_fails_over_with_the_same_audio),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
