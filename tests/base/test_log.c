/* JSON-lines logger and redaction: every line is JSON, filtered by level,
 * and no credential form reaches a line or a redacted buffer. */
#include "testutil.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tern/alloc.h"
#include "tern/clock.h"
#include "tern/error.h"
#include "tern/log.h"
#include "tern/rand.h"

/* ---- a capturing sink ---------------------------------------------------- */

typedef struct capture {
  char *buf;
  size_t len, cap;
  size_t lines;
} capture_t;

static capture_t g_cap;

static void cap_sink(const char *line, size_t len, void *ud) {
  capture_t *c = ud;
  assert_true(len > 0 && line[len - 1] == '\n');
  assert_null(memchr(line, '\n', len - 1)); /* exactly one line */
  if (c->len + len + 1 > c->cap) {
    c->cap = (c->len + len + 1) * 2;
    c->buf = realloc(c->buf, c->cap);
    assert_non_null(c->buf);
  }
  memcpy(c->buf + c->len, line, len);
  c->len += len;
  c->buf[c->len] = '\0';
  c->lines++;
}

static int setup(void **state) {
  (void)state;
  memset(&g_cap, 0, sizeof g_cap);
  tern_log_set_sink(cap_sink, &g_cap);
  tern_log_set_level(TERN_LOG_DEBUG);
  tern_secret_clear();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  tern_log_set_sink(NULL, NULL);
  tern_log_set_level(TERN_LOG_INFO);
  tern_secret_clear();
  free(g_cap.buf);
  memset(&g_cap, 0, sizeof g_cap);
  return 0;
}

/* Parses line `idx` (0-based) of the capture; every line must be an object. */
static json_t *line_json(size_t idx) {
  const char *p = g_cap.buf;
  for (size_t i = 0; i < idx; i++) {
    p = strchr(p, '\n');
    assert_non_null(p);
    p++;
  }
  const char *nl = strchr(p, '\n');
  assert_non_null(nl);
  json_error_t e;
  json_t *j = json_loadb(p, (size_t)(nl - p), 0, &e);
  if (!j)
    fail_msg("line %zu is not JSON (%s): %.*s", idx, e.text, (int)(nl - p), p);
  assert_true(json_is_object(j));
  return j;
}

static const char *jstr(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  assert_non_null(v);
  assert_true(json_is_string(v));
  return json_string_value(v);
}

/* ---- records ------------------------------------------------------------- */

static void test_record_is_one_json_line(void **state) {
  (void)state;
  int64_t before = tern_wall_ms();
  TERN_LOG(TERN_LOG_WARN, "breaker_opened", TERN_LF_STR("provider", "openai"),
           TERN_LF_INT("failures", 3), TERN_LF_DBL("ratio", 0.5), TERN_LF_BOOL("probe", true),
           TERN_LF_STR("quote", "say \"hi\"\n\ttab"));
  int64_t after = tern_wall_ms();
  assert_int_equal(g_cap.lines, 1);
  assert_memory_equal(g_cap.buf, "{\"ts\":", 6); /* ts, level, event lead */
  json_t *j = line_json(0);
  json_int_t ts = json_integer_value(json_object_get(j, "ts"));
  assert_true(ts >= before && ts <= after);
  assert_string_equal(jstr(j, "level"), "warn");
  assert_string_equal(jstr(j, "event"), "breaker_opened");
  assert_string_equal(jstr(j, "provider"), "openai");
  assert_int_equal(json_integer_value(json_object_get(j, "failures")), 3);
  assert_true(json_real_value(json_object_get(j, "ratio")) == 0.5);
  assert_true(json_is_true(json_object_get(j, "probe")));
  assert_string_equal(jstr(j, "quote"), "say \"hi\"\n\ttab");
  const char *keys[] = {"ts", "level", "event", "provider"};
  void *it = json_object_iter(j);
  for (int i = 0; i < 4; i++, it = json_object_iter_next(j, it))
    assert_string_equal(json_object_iter_key(it), keys[i]);
  json_decref(j);
}

static void test_levels_filter_and_parse(void **state) {
  (void)state;
  tern_log_set_level(TERN_LOG_WARN);
  assert_int_equal(tern_log_get_level(), TERN_LOG_WARN);
  TERN_LOG(TERN_LOG_DEBUG, "d", TERN_LF_INT("n", 1));
  TERN_LOG(TERN_LOG_INFO, "i", TERN_LF_INT("n", 1));
  tern_log_fields(TERN_LOG_INFO, "direct_info", NULL, 0); /* the function filters too */
  assert_int_equal(g_cap.lines, 0);
  TERN_LOG(TERN_LOG_WARN, "w", TERN_LF_INT("n", 1));
  TERN_LOG(TERN_LOG_ERROR, "e", TERN_LF_INT("n", 1));
  assert_int_equal(g_cap.lines, 2);
  json_t *j = line_json(1);
  assert_string_equal(jstr(j, "level"), "error");
  json_decref(j);

  tern_log_set_level(TERN_LOG_OFF);
  TERN_LOG(TERN_LOG_ERROR, "e", TERN_LF_INT("n", 1));
  tern_log_fields(TERN_LOG_OFF, "off_is_not_a_level", NULL, 0);
  assert_int_equal(g_cap.lines, 2);
  tern_log_set_level((tern_log_level_t)42); /* ignored */
  assert_int_equal(tern_log_get_level(), TERN_LOG_OFF);

  static const struct {
    const char *s;
    int rc;
    tern_log_level_t lv;
  } cases[] = {{"debug", 0, TERN_LOG_DEBUG}, {"info", 0, TERN_LOG_INFO},
               {"warn", 0, TERN_LOG_WARN},   {"WARNING", 0, TERN_LOG_WARN},
               {"error", 0, TERN_LOG_ERROR}, {"off", 0, TERN_LOG_OFF},
               {"loud", TERN_EINVAL, 0},     {"", TERN_EINVAL, 0}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    tern_log_level_t lv = (tern_log_level_t)99;
    assert_int_equal(tern_log_level_parse(cases[i].s, &lv), cases[i].rc);
    if (cases[i].rc == 0)
      assert_int_equal(lv, cases[i].lv);
  }
  tern_log_level_t lv;
  assert_int_equal(tern_log_level_parse(NULL, &lv), TERN_EINVAL);
}

static void test_fields_are_redacted(void **state) {
  (void)state;
  assert_int_equal(tern_secret_register("s3cr3t-value-42"), 0);
  TERN_LOG(TERN_LOG_INFO, "request", TERN_LF_STR("api_key", "plain-looking"),
           TERN_LF_STR("Authorization", "Bearer abc"), TERN_LF_INT("max_tokens", 256),
           TERN_LF_INT("token", 7), TERN_LF_STR("url", "https://x/v1?key=AIzaZZZ&alt=json"),
           TERN_LF_STR("body", "{\"error\":\"bad key s3cr3t-value-42\"}"),
           TERN_LF_STR("level", "spoofed"), TERN_LF_STR("nothing", NULL));
  json_t *j = line_json(0);
  assert_string_equal(jstr(j, "api_key"), "[REDACTED]");
  assert_string_equal(jstr(j, "Authorization"), "[REDACTED]");
  assert_string_equal(jstr(j, "token"), "[REDACTED]"); /* whatever its type */
  assert_int_equal(json_integer_value(json_object_get(j, "max_tokens")), 256);
  assert_string_equal(jstr(j, "url"), "https://x/v1?key=[REDACTED]&alt=json");
  assert_string_equal(jstr(j, "body"), "{\"error\":\"bad key [REDACTED]\"}");
  assert_string_equal(jstr(j, "level"), "info"); /* a field cannot overwrite the header */
  assert_true(json_is_null(json_object_get(j, "nothing")));
  json_decref(j);
  assert_null(strstr(g_cap.buf, "s3cr3t"));
  assert_null(strstr(g_cap.buf, "AIzaZZZ"));
}

static void test_odd_values_still_give_json(void **state) {
  (void)state;
  char big[3000];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  memcpy(big + 1000, " Bearer tok123 ", 15);
  TERN_LOG(TERN_LOG_ERROR, "odd", TERN_LF_STR("bytes", "ok \xff\xfe \xc3\xa9 \xed\xa0\x80 end"),
           TERN_LF_DBL("nan", 0.0 / 0.0), TERN_LF_DBL("inf", 1.0 / 0.0), TERN_LF_STR("big", big),
           TERN_LF_STR("bad\xffkey", "dropped"));
  tern_log_fields(TERN_LOG_INFO, NULL, NULL, 0);
  json_t *j = line_json(0);
  assert_string_equal(jstr(j, "bytes"), "ok ?? \xc3\xa9 ??? end");
  assert_true(json_is_null(json_object_get(j, "nan")));
  assert_true(json_is_null(json_object_get(j, "inf")));
  const char *b = jstr(j, "big");
  assert_non_null(strstr(b, " Bearer [REDACTED] "));
  assert_int_equal(strlen(b), sizeof big - 1 - 6 + 10);
  assert_int_equal(json_object_size(j), 7);
  json_decref(j);
  j = line_json(1);
  assert_string_equal(jstr(j, "event"), "");
  json_decref(j);
}

static void test_default_sink_is_stderr(void **state) {
  (void)state;
  tern_log_set_sink(NULL, NULL);
  const char *path = tu_tmp_path("stderr.log");
  fflush(stderr);
  int saved = dup(2);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  dup2(fileno(f), 2);
  TERN_LOG(TERN_LOG_ERROR, "to_stderr", TERN_LF_STR("password", "hunter22"));
  dup2(saved, 2);
  close(saved);
  fclose(f);
  size_t len;
  char *text = tu_read_file(path, &len);
  assert_non_null(text);
  json_error_t e;
  json_t *j = json_loads(text, 0, &e);
  assert_non_null(j);
  assert_string_equal(jstr(j, "event"), "to_stderr");
  assert_string_equal(jstr(j, "password"), "[REDACTED]");
  assert_int_equal(text[len - 1], '\n');
  json_decref(j);
  free(text);
  tern_log_set_sink(cap_sink, &g_cap);
}

/* ---- secret keys and redaction ------------------------------------------ */

static void test_key_is_secret(void **state) {
  (void)state;
  static const char *const secret[] = {"key",
                                       "api_key",
                                       "apiKey",
                                       "OPENAI_API_KEY",
                                       "secret",
                                       "client_secret",
                                       "token",
                                       "access_token",
                                       "accessToken",
                                       "refresh_token",
                                       "authToken",
                                       "password",
                                       "PASSWD",
                                       "Authorization",
                                       "proxy-authorization",
                                       "auth",
                                       "Cookie",
                                       "set-cookie",
                                       "credential",
                                       "credentials",
                                       "signature",
                                       "X-Amz-Signature",
                                       "xi-api-key",
                                       "x-api-key",
                                       "private_key",
                                       "passphrase",
                                       NULL};
  static const char *const plain[] = {
      "max_tokens",  "prompt_tokens", "completion_tokens", "tokens", "maxTokens", "token_count",
      "tokenizer",   "monkey",        "keyboard",          "author", "model",     "provider",
      "api_key_env", "auth_mode",     "token_bucket_size", "",       "key_id",    NULL};
  for (int i = 0; secret[i]; i++)
    if (!tern_key_is_secret(secret[i]))
      fail_msg("'%s' should be secret", secret[i]);
  for (int i = 0; plain[i]; i++)
    if (tern_key_is_secret(plain[i]))
      fail_msg("'%s' should not be secret", plain[i]);
  assert_false(tern_key_is_secret(NULL));
}

static void test_redact_forms(void **state) {
  (void)state;
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"Authorization: Bearer abc.def-123", "Authorization: [REDACTED]"},
      {"sent Bearer abc/DEF+ghi= then", "sent Bearer [REDACTED] then"},
      {"bearer x", "bearer [REDACTED]"},
      {"Basic dXNlcjpwYXNzd29yZA==", "Basic [REDACTED]"},
      {"Token 0123456789abcdef0123456789abcdef01234567", "Token [REDACTED]"},
      {"token expired", "token expired"},
      {"the Basic plan", "the Basic plan"},
      {"using sk-proj-AbCdEfGhIjKlMnOp1234 now", "using [REDACTED] now"},
      {"sk-ant-api03-AAAABBBBCCCCDDDD-xyz", "[REDACTED]"},
      {"groq gsk_abcdefghijklmnop0123", "groq [REDACTED]"},
      {"sk_0123456789abcdef0123456789abcdef", "[REDACTED]"},
      {"task-abcdefghijklmnopqrstuvwxyz", "task-abcdefghijklmnopqrstuvwxyz"},
      {"sk-learn", "sk-learn"},
      {"xi-api-key: 0123abcd\r\nAccept: */*", "xi-api-key: [REDACTED]\r\nAccept: */*"},
      {"X-Api-Key:abc", "X-Api-Key:[REDACTED]"},
      {"Cookie: session=abc; other=1", "Cookie: [REDACTED]"},
      {"GET /v1?api_key=abc123&model=x", "GET /v1?api_key=[REDACTED]&model=x"},
      {"https://g/v1?key=AIzaSyabc&alt=json", "https://g/v1?key=[REDACTED]&alt=json"},
      {"/cb?access_token=xyz#frag", "/cb?access_token=[REDACTED]#frag"},
      {"wss://x/listen?token=abc123 ok", "wss://x/listen?token=[REDACTED] ok"},
      {"max_tokens=100&n=1", "max_tokens=100&n=1"},
      {"OPENAI_API_KEY=sk-xyz", "OPENAI_API_KEY=[REDACTED]"},
      {"password = \"a b c\" rest", "password = \"[REDACTED]\" rest"},
      {"{\"api_key\": \"abc\", \"max_tokens\": 5}",
       "{\"api_key\": \"[REDACTED]\", \"max_tokens\": 5}"},
      {"{'token': 'a\\'b', 'x': 1}", "{'token': '[REDACTED]', 'x': 1}"},
      {"{\\\"password\\\":\\\"p@ss\\\"}", "{\\\"password\\\":\\\"[REDACTED]\\\"}"},
      {"jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOjF9.sig_part end", "jwt [REDACTED] end"},
      {"token: expired", "token: expired"},
      {"plain text, nothing here", "plain text, nothing here"},
      {"https://api.openai.com/v1", "https://api.openai.com/v1"},
      {"", ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char out[256];
    size_t n = tern_redact(cases[i].in, out, sizeof out);
    if (strcmp(out, cases[i].out) != 0)
      fail_msg("redact(%s) = %s, want %s", cases[i].in, out, cases[i].out);
    assert_int_equal(n, strlen(out));
  }
}

static void test_registered_secrets(void **state) {
  (void)state;
  char out[128];
  char value[] = "hunter2hunter2";
  assert_int_equal(tern_secret_register(value), 0);
  assert_int_equal(tern_secret_register(value), 0); /* duplicates are fine */
  memset(value, 'x', sizeof value - 1);             /* the registry keeps its own copy */
  tern_redact("pre-hunter2hunter2-post and hunter2hunter2", out, sizeof out);
  assert_string_equal(out, "pre-[REDACTED]-post and [REDACTED]");

  assert_int_equal(tern_secret_register("abcde"), TERN_EINVAL); /* too short */
  assert_int_equal(tern_secret_register(NULL), TERN_EINVAL);
  tern_redact("abcde", out, sizeof out);
  assert_string_equal(out, "abcde");

  /* Longest first: a secret that extends another is removed whole. */
  assert_int_equal(tern_secret_register("abcdef"), 0);
  assert_int_equal(tern_secret_register("abcdefgh"), 0);
  tern_redact("<abcdefgh><abcdef>", out, sizeof out);
  assert_string_equal(out, "<[REDACTED]><[REDACTED]>");

  tern_secret_clear();
  tern_redact("hunter2hunter2", out, sizeof out);
  assert_string_equal(out, "hunter2hunter2");
}

static void test_redact_truncates_safely(void **state) {
  (void)state;
  assert_int_equal(tern_secret_register("topsecretvalue"), 0);
  const char *in = "a topsecretvalue b Bearer zzz c sk-abcdefghijklmnopqrst d";
  char full[256];
  size_t n = tern_redact(in, full, sizeof full);
  assert_string_equal(full, "a [REDACTED] b Bearer [REDACTED] c [REDACTED] d");
  for (size_t sz = 1; sz <= n + 4; sz++) {
    char out[256];
    memset(out, 0x5a, sizeof out);
    size_t w = tern_redact(in, out, sz);
    assert_true(w < sz);
    assert_int_equal(strlen(out), w);
    assert_memory_equal(out, full, w); /* a prefix of the full result */
    for (size_t k = sz; k < sizeof out; k++)
      assert_int_equal((unsigned char)out[k], 0x5a);
    assert_null(strstr(out, "topsec"));
    assert_null(strstr(out, "zzz"));
  }
  char one = 'q';
  assert_int_equal(tern_redact(in, &one, 0), 0);
  assert_int_equal(one, 'q');
  assert_int_equal(tern_redact(in, NULL, 10), 0);
  char out[8] = "xxxxxxx";
  assert_int_equal(tern_redact(NULL, out, sizeof out), 0);
  assert_string_equal(out, "");
}

static void test_redact_random_input(void **state) {
  (void)state;
  static const char *const atoms[] = {"Bearer ", "Basic ", "Token ", "sk-",    "key=", "\"",
                                      "'",       ":",      "=",      "\\",     " ",    "api_key",
                                      "&",       "?",      "eyJ",    "x",      "Auth", "\xff",
                                      "0123",    "\r\n",   "cookie", "secret1"};
  tern_rand_t r;
  tern_rand_seed(&r, 7);
  assert_int_equal(tern_secret_register("secret1secret1"), 0);
  for (int it = 0; it < 3000; it++) {
    char in[400] = "";
    size_t len = 0;
    int parts = (int)tern_rand_below(&r, 40);
    for (int p = 0; p < parts; p++) {
      const char *a = atoms[tern_rand_below(&r, sizeof atoms / sizeof atoms[0])];
      size_t al = strlen(a);
      if (len + al >= sizeof in)
        break;
      memcpy(in + len, a, al + 1);
      len += al;
    }
    char out[512];
    size_t sz = (size_t)tern_rand_below(&r, sizeof out) + 1;
    memset(out, 0x5a, sizeof out);
    size_t w = tern_redact(in, out, sz);
    assert_true(w < sz);
    assert_int_equal(strlen(out), w);
    for (size_t k = sz; k < sizeof out; k++)
      assert_int_equal((unsigned char)out[k], 0x5a);
  }
}

/* ---- threads ------------------------------------------------------------- */

static void *log_thread(void *arg) {
  long id = (long)arg;
  for (int i = 0; i < 400; i++) {
    TERN_LOG(TERN_LOG_INFO, "tick", TERN_LF_INT("thread", id), TERN_LF_INT("i", i),
             TERN_LF_STR("text", "words \"quoted\" with Bearer abc and more words"));
    if (i % 50 == 0) {
      char s[32];
      snprintf(s, sizeof s, "thread%ld-secret-%d", id, i);
      tern_secret_register(s);
    }
  }
  return NULL;
}

static void test_threads_never_interleave(void **state) {
  (void)state;
  pthread_t t[3];
  for (long i = 0; i < 3; i++)
    assert_int_equal(pthread_create(&t[i], NULL, log_thread, (void *)i), 0);
  for (int i = 0; i < 3; i++)
    pthread_join(t[i], NULL);
  assert_int_equal(g_cap.lines, 1200);
  int per[3] = {0};
  for (size_t i = 0; i < 1200; i++) {
    json_t *j = line_json(i);
    per[json_integer_value(json_object_get(j, "thread"))]++;
    assert_string_equal(jstr(j, "text"), "words \"quoted\" with Bearer [REDACTED] and more words");
    json_decref(j);
  }
  assert_int_equal(per[0], 400);
  assert_int_equal(per[2], 400);
}

/* ---- out of memory ------------------------------------------------------- */

static int log_once(void *ctx) {
  (void)ctx;
  unsigned long before = tern_log_degraded();
  size_t lines = g_cap.lines;
  char big[2000];
  memset(big, 'b', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  TERN_LOG(TERN_LOG_WARN, "sweep_event", TERN_LF_STR("provider", "openai"), TERN_LF_STR("big", big),
           TERN_LF_INT("n", 1), TERN_LF_DBL("d", 1.5));
  /* Every outcome writes exactly one line (parsed after the sweep: the
   * parser allocates too). */
  assert_int_equal(g_cap.lines, lines + 1);
  return tern_log_degraded() == before ? 0 : TERN_ENOMEM;
}

static void test_logging_survives_allocation_failure(void **state) {
  (void)state;
  /* jansson allocates through the tern hook (alloc.c), so the sweep
   * reaches the JSON building too. */
  long made = tu_alloc_sweep(log_once, NULL);
  assert_true(made > 3);
  assert_true(tern_log_degraded() > 0);
  size_t degraded = 0;
  for (size_t i = 0; i < g_cap.lines; i++) {
    json_t *j = line_json(i);
    assert_string_equal(jstr(j, "event"), "sweep_event");
    assert_string_equal(jstr(j, "level"), "warn");
    degraded += json_object_get(j, "log_error") != NULL;
    json_decref(j);
  }
  assert_int_equal(degraded, g_cap.lines - 1); /* every run but the last lost its fields */
  json_t *j = line_json(g_cap.lines - 1);
  assert_int_equal(strlen(jstr(j, "big")), 1999);
  json_decref(j);
}

static int register_once(void *ctx) {
  (void)ctx;
  tern_secret_clear();
  int rc = tern_secret_register("alpha-secret");
  if (rc == 0)
    rc = tern_secret_register("beta-secret-longer");
  char out[64];
  tern_redact("alpha-secret", out, sizeof out);
  if (rc == 0)
    assert_string_equal(out, "[REDACTED]");
  return rc;
}

static void test_register_survives_allocation_failure(void **state) {
  (void)state;
  assert_true(tu_alloc_sweep(register_once, NULL) >= 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_record_is_one_json_line, setup, teardown),
      cmocka_unit_test_setup_teardown(test_levels_filter_and_parse, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fields_are_redacted, setup, teardown),
      cmocka_unit_test_setup_teardown(test_odd_values_still_give_json, setup, teardown),
      cmocka_unit_test_setup_teardown(test_default_sink_is_stderr, setup, teardown),
      cmocka_unit_test_setup_teardown(test_key_is_secret, setup, teardown),
      cmocka_unit_test_setup_teardown(test_redact_forms, setup, teardown),
      cmocka_unit_test_setup_teardown(test_registered_secrets, setup, teardown),
      cmocka_unit_test_setup_teardown(test_redact_truncates_safely, setup, teardown),
      cmocka_unit_test_setup_teardown(test_redact_random_input, setup, teardown),
      cmocka_unit_test_setup_teardown(test_threads_never_interleave, setup, teardown),
      cmocka_unit_test_setup_teardown(test_logging_survives_allocation_failure, setup, teardown),
      cmocka_unit_test_setup_teardown(test_register_survives_allocation_failure, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
