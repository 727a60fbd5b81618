/* API keys never reach a person's eyes: not in a log line, not in an
 * event, not in an error message — whichever way the key came in (the
 * environment, the configuration file, a URL's query string) and even when
 * the provider echoes it back in an error body, as OpenAI does for a wrong
 * key ("Incorrect API key provided: sk-...").
 *
 * Each case drives real provider calls against the fake provider server
 * through a guard and a fallback runner (the path a session uses), with
 * every log line (debug level) and every event captured, and checks that
 * the call failed the way the user expects (auth, so the next provider
 * takes over) and that the key is nowhere in what was captured.
 *
 * The server's admin views are checked too: every event also feeds a
 * metrics registry, whose /metrics text and /debug/events ring must not
 * hold the key either. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "fakeprov.h"
#include "server/server_internal.h"
#include "tern/anthropic.h"
#include "tern/buf.h"
#include "tern/chat.h"
#include "tern/config.h"
#include "tern/elevenlabs.h"
#include "tern/error.h"
#include "tern/events.h"
#include "tern/fallback.h"
#include "tern/guard.h"
#include "tern/log.h"
#include "tern/loop.h"
#include "tern/openai.h"

/* Distinct keys per source, none shaped like a well-known key prefix, so
 * only registration (not pattern matching) can hide them. */
#define KEY_ENV "tern-env-Q7w2Zk9Lp4Xv"
#define KEY_CFG "tern-cfg-M3n8Rt5Yb1Hc"
#define KEY_URL "tern-url-J6d4Fs2Wq9Gk"
#define KEY_ANTH "tern-ant-P5c7Vx3Nb8Tz"
#define KEY_EL "tern-xil-K2h9Ld6Sa4Ue"

static fakeprov_t g_fp;
static bool g_have;
static tern_buf_t g_log;

#define NEED_FAKE()                                                                                \
  do {                                                                                             \
    if (!g_have) {                                                                                 \
      fprintf(stderr, "skipped: the fake provider server needs python3\n");                        \
      skip();                                                                                      \
    }                                                                                              \
  } while (0)

static void log_sink(const char *line, size_t len, void *ud) {
  (void)ud;
  tern_buf_append(&g_log, line, len);
}

typedef struct call {
  tern_loop_t *loop;
  tern_config_t *cfg;
  tern_provider_t *p;
  tern_guard_t *g;
  tern_fallback_t *f;
  tern_events_t *ev;
  tern_buf_t events;
  tern__metrics_t *metrics;
  bool done, failed;
  tern_error_t err;
} call_t;

static void on_event(void *ud, const char *type, const char *line, size_t len,
                     const tern_log_field_t *fields, size_t nfields) {
  (void)type, (void)fields, (void)nfields;
  call_t *c = ud;
  tern_buf_append(&c->events, line, len);
  tern_buf_append(&c->events, "\n", 1);
  tern__metrics_event(c->metrics, type, line, len, fields, nfields);
}

static void on_text(void *ud, const char *t, size_t n) { (void)ud, (void)t, (void)n; }
static void on_audio(void *ud, const int16_t *p, size_t n) { (void)ud, (void)p, (void)n; }
static void on_done(void *ud, const tern_error_t *err) {
  call_t *c = ud;
  c->done = true;
  if (err) {
    c->failed = true;
    c->err = *err;
  }
}
static bool is_done(void *ud) { return ((call_t *)ud)->done; }

typedef int (*create_fn)(tern_component_t, const char *, const tern_config_t *, tern_provider_t **,
                         char *, size_t);

/* Build provider `name` of `comp` from cfg_text, run one call through a
 * guard and a single-link runner, and return with the outcome in c. */
static void run_call(call_t *c, tern_component_t comp, create_fn create, const char *name,
                     const char *cfg_text) {
  memset(c, 0, sizeof *c);
  char err[256] = "";
  assert_int_equal(tern_loop_create(NULL, &c->loop), 0);
  assert_int_equal(tern_config_new(&c->cfg), 0);
  assert_int_equal(
      tern_config_load_string(c->cfg, cfg_text, strlen(cfg_text), "test.ini", err, sizeof err), 0);
  int rc = create(comp, name, c->cfg, &c->p, err, sizeof err);
  if (rc)
    fail_msg("create %s: %s", name, err);
  tern_guard_config_t gc;
  tern_guard_config_default(comp, &gc);
  gc.retry.max_attempts = 1;
  assert_int_equal(tern_guard_create(comp, name, &gc, &c->g), 0);
  assert_int_equal(tern__metrics_create(64, &c->metrics), 0);
  assert_int_equal(tern_events_create("secrets", &c->ev), 0);
  assert_int_equal(tern_events_listen(c->ev, on_event, c), 0);
  tern_fallback_link_t l = {c->p, c->g};
  tern_fallback_config_t fc;
  tern_fallback_config_default(&fc);
  fc.probes = false;
  assert_int_equal(tern_fallback_create(c->loop, comp, &l, 1, &fc, c->ev, 3, &c->f), 0);
  tern_op_t *op;
  tern_chat_t *chat = NULL;
  if (comp == TERN_COMP_LLM) {
    assert_int_equal(tern_chat_create(&chat), 0);
    assert_int_equal(tern_chat_add(chat, TERN_ROLE_USER, "hello"), 0);
    tern_llm_request_t req = {.chat = chat, .temperature = -1};
    tern_llm_sink_t sink = {on_text, NULL, on_done, c};
    assert_int_equal(tern_fallback_llm(c->f, &req, &sink, &op), 0);
  } else {
    tern_tts_request_t req = {.text = "Hello there.", .sample_rate = 16000};
    tern_tts_sink_t sink = {on_audio, on_done, c};
    assert_int_equal(tern_fallback_tts(c->f, &req, &sink, &op), 0);
  }
  assert_int_equal(tern_loop_run_until(c->loop, is_done, c, TERN_SEC(20)), 0);
  tern_chat_destroy(chat);
}

static void free_call(call_t *c) {
  tern_fallback_destroy(c->f);
  tern_provider_destroy(c->p);
  tern_guard_destroy(c->g);
  tern_events_destroy(c->ev);
  tern_buf_free(&c->events);
  tern__metrics_destroy(c->metrics);
  tern_loop_destroy(c->loop);
  tern_config_free(c->cfg);
}

/* The key, or a telling piece of it, in anything a person can read. */
static void assert_hidden(call_t *c, const char *key) {
  char piece[12];
  snprintf(piece, sizeof piece, "%s", key + strlen(key) - 10);
  tern_buf_t prom = {0}, ring = {0};
  tern__gauges_t g = {0};
  assert_int_equal(tern__metrics_render(c->metrics, &g, &prom), 0);
  assert_int_equal(tern__metrics_events(c->metrics, 0, &ring), 0);
  const char *where[5] = {tern_buf_str(&g_log), tern_buf_str(&c->events), c->err.message,
                          tern_buf_str(&prom), tern_buf_str(&ring)};
  const char *names[5] = {"a log line", "an event", "the error message", "/metrics",
                          "/debug/events"};
  for (int i = 0; i < 5; i++)
    if (strstr(where[i], piece))
      fail_msg("the key reached %s:\n%s", names[i], where[i]);
  /* the admin views did see the failure (so the check above means something) */
  assert_non_null(strstr(tern_buf_str(&ring), "\"type\":\"error\""));
  tern_buf_free(&prom);
  tern_buf_free(&ring);
}

static void expect_auth_failure(call_t *c) {
  assert_true(c->done);
  assert_true(c->failed);
  if (c->err.kind != TERN_KIND_AUTH)
    fail_msg("expected an auth failure, got %s: %s", tern_kind_name(c->err.kind), c->err.message);
  assert_false(c->err.recoverable);
  /* The provider's own words were quoted (so the echo really went through
   * the classifier), with the key cut out. */
  assert_non_null(strstr(c->err.message, "Incorrect API key provided: [REDACTED]"));
  /* The error event told the user what happened. */
  assert_non_null(strstr(tern_buf_str(&c->events), "\"kind\":\"auth\""));
}

/* The fake answers 401 with a body that quotes the key it was sent. */
static void script_echo(const char *route, const char *key) {
  char json[512];
  snprintf(json, sizeof json,
           "{\"default\":{\"status\":401,\"message\":\"Incorrect API key provided: %s. You can "
           "find your API key in your account settings.\",\"error_code\":\"invalid_api_key\"}}",
           key);
  assert_int_equal(fakeprov_script(&g_fp, route, json), 0);
}

/* ---- the cases ---------------------------------------------------------- */

static void test_key_from_the_environment(void **state) {
  (void)state;
  NEED_FAKE();
  setenv("OPENAI_API_KEY", KEY_ENV, 1);
  setenv("OPENAI_BASE_URL", fakeprov_url(&g_fp, "/v1"), 1);
  script_echo("openai.chat", KEY_ENV);
  call_t c;
  run_call(&c, TERN_COMP_LLM, tern_openai_provider_create, "openai", "");
  unsetenv("OPENAI_API_KEY");
  unsetenv("OPENAI_BASE_URL");
  /* The key really was sent, and really was echoed back. */
  char *sent = fakeprov_last(&g_fp, "openai.chat", "headers.authorization");
  assert_non_null(sent);
  assert_non_null(strstr(sent, KEY_ENV));
  free(sent);
  expect_auth_failure(&c);
  assert_hidden(&c, KEY_ENV);
  free_call(&c);
}

static void test_key_from_the_config_file(void **state) {
  (void)state;
  NEED_FAKE();
  script_echo("openai.tts", KEY_CFG);
  char ini[512];
  snprintf(ini, sizeof ini, "[tts.openai]\nbase_url = %s\napi_key = %s\n",
           fakeprov_url(&g_fp, "/v1"), KEY_CFG);
  call_t c;
  run_call(&c, TERN_COMP_TTS, tern_openai_provider_create, "openai", ini);
  expect_auth_failure(&c);
  assert_hidden(&c, KEY_CFG);
  free_call(&c);
}

static void test_anthropic_key_echoed(void **state) {
  (void)state;
  NEED_FAKE();
  script_echo("anthropic.messages", KEY_ANTH);
  char ini[512];
  snprintf(ini, sizeof ini, "[llm.claude]\nbase_url = %s\napi_key = %s\n", fakeprov_url(&g_fp, ""),
           KEY_ANTH);
  call_t c;
  run_call(&c, TERN_COMP_LLM, tern_anthropic_provider_create, "claude", ini);
  expect_auth_failure(&c);
  assert_hidden(&c, KEY_ANTH);
  free_call(&c);
}

static void test_elevenlabs_key_from_the_environment_echoed(void **state) {
  (void)state;
  NEED_FAKE();
  setenv("ELEVENLABS_API_KEY", KEY_EL, 1);
  script_echo("elevenlabs.tts", KEY_EL);
  char ini[512];
  snprintf(ini, sizeof ini, "[tts.eleven]\nbase_url = %s\n", fakeprov_url(&g_fp, ""));
  call_t c;
  run_call(&c, TERN_COMP_TTS, tern_elevenlabs_provider_create, "eleven", ini);
  unsetenv("ELEVENLABS_API_KEY");
  expect_auth_failure(&c);
  assert_hidden(&c, KEY_EL);
  free_call(&c);
}

/* A key in the URL itself (some gateways take ?api_key=): nothing
 * registers it as a secret, so the pattern must catch it wherever the URL
 * is quoted. Port 1 refuses the connection, so the failure message is the
 * transport's. */
static void test_key_in_a_url_query(void **state) {
  (void)state;
  const char *ini = "[llm.gateway]\nbase_url = http://127.0.0.1:1/v1?api_key=" KEY_URL "\n";
  tern_log_set_level(TERN_LOG_DEBUG);
  call_t c;
  run_call(&c, TERN_COMP_LLM, tern_openai_provider_create, "gateway", ini);
  assert_true(c.failed);
  assert_int_equal(c.err.kind, TERN_KIND_CONNECTION);
  assert_hidden(&c, KEY_URL);
  /* and the redactor on its own, on the shapes a URL is quoted in */
  char out[256];
  tern_redact("GET http://h/v1?model=x&api_key=" KEY_URL "&y=1 failed", out, sizeof out);
  assert_null(strstr(out, "Fs2Wq9Gk"));
  assert_non_null(strstr(out, "model=x"));
  free_call(&c);
}

/* A registered key glued to a word that the redactor reads as a header
 * name ("...KEY: value"): the name used to be copied out verbatim. Found
 * by fuzz_errors. */
static void test_key_glued_to_a_header_name(void **state) {
  (void)state;
  assert_int_equal(tern_secret_register(KEY_CFG), 0);
  char out[256];
  tern_redact("R-min" KEY_CFG "e: Tded", out, sizeof out);
  assert_null(strstr(out, "Rt5Yb1Hc"));
  tern_redact("\"x_" KEY_CFG "_api_key\": \"v\"", out, sizeof out);
  assert_null(strstr(out, "Rt5Yb1Hc"));
  tern_error_t e;
  const char body[] = "{\"error\": {\"message\": \"R-min" KEY_CFG "e: Tded\"}}";
  assert_int_equal(tern_error_from_response(&e, TERN_COMP_LLM, "p", 429, body, sizeof body - 1), 0);
  assert_int_equal(e.kind, TERN_KIND_RATE_LIMITED);
  assert_null(strstr(e.message, "Rt5Yb1Hc"));
}

static int each_setup(void **state) {
  (void)state;
  if (g_have)
    assert_int_equal(fakeprov_reset(&g_fp), 0);
  tern_buf_reset(&g_log);
  tern_log_set_level(TERN_LOG_DEBUG);
  tern_log_set_sink(log_sink, NULL);
  return 0;
}

static int each_teardown(void **state) {
  (void)state;
  tern_log_set_sink(NULL, NULL);
  tern_log_set_level(TERN_LOG_INFO);
  tern_secret_clear();
  return 0;
}

static int group_setup(void **state) {
  (void)state;
  unsetenv("OPENAI_API_KEY");
  unsetenv("OPENAI_BASE_URL");
  unsetenv("ANTHROPIC_API_KEY");
  unsetenv("ANTHROPIC_BASE_URL");
  unsetenv("ELEVENLABS_API_KEY");
  unsetenv("ELEVENLABS_BASE_URL");
  int rc = fakeprov_start(&g_fp);
  if (rc == TERN_EUNSUPPORTED)
    return 0; /* the server cases skip, with the reason on stderr */
  if (rc)
    return -1;
  g_have = true;
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  if (g_have)
    fakeprov_stop(&g_fp);
  tern_buf_free(&g_log);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_key_from_the_environment, each_setup, each_teardown),
      cmocka_unit_test_setup_teardown(test_key_from_the_config_file, each_setup, each_teardown),
      cmocka_unit_test_setup_teardown(test_anthropic_key_echoed, each_setup, each_teardown),
      cmocka_unit_test_setup_teardown(test_elevenlabs_key_from_the_environment_echoed, each_setup,
                                      each_teardown),
      cmocka_unit_test_setup_teardown(test_key_in_a_url_query, each_setup, each_teardown),
      cmocka_unit_test_setup_teardown(test_key_glued_to_a_header_name, each_setup, each_teardown),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
