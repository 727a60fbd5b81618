/* Configuration: INI parsing, environment overrides, typed getters with
 * messages a person can act on, schema validation, enumeration, and
 * out-of-memory safety. The environment is a table injected per test. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/config.h"
#include "tern/error.h"
#include "tern/log.h"

/* ---- a fake environment -------------------------------------------------- */

typedef struct fake_env {
  const char *names[16];
  const char *values[16];
  int n;
} fake_env_t;

static const char *fake_getenv(const char *name, void *ud) {
  fake_env_t *e = ud;
  for (int i = 0; i < e->n; i++)
    if (strcmp(e->names[i], name) == 0)
      return e->values[i];
  return NULL;
}

static void env_set(fake_env_t *e, const char *name, const char *value) {
  for (int i = 0; i < e->n; i++) {
    if (strcmp(e->names[i], name) == 0) {
      e->values[i] = value;
      return;
    }
  }
  e->names[e->n] = name;
  e->values[e->n++] = value;
}

static void quiet_sink(const char *line, size_t len, void *ud) {
  (void)line;
  (void)len;
  (*(int *)ud)++;
}
static int g_log_lines;

static int setup(void **state) {
  (void)state;
  g_log_lines = 0;
  tern_log_set_sink(quiet_sink, &g_log_lines);
  tern_secret_clear();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  tern_log_set_sink(NULL, NULL);
  tern_secret_clear();
  return 0;
}

/* A config reading `env` and holding `text` (must parse). */
static tern_config_t *make(fake_env_t *env, const char *text) {
  tern_config_t *cfg;
  assert_int_equal(tern_config_new(&cfg), 0);
  tern_config_set_env(cfg, fake_getenv, env);
  if (text) {
    char err[256] = "";
    int rc = tern_config_load_string(cfg, text, strlen(text), "t.ini", err, sizeof err);
    if (rc)
      fail_msg("load failed: %s (%s)", tern_err_name(rc), err);
  }
  return cfg;
}

static const char *str(tern_config_t *cfg, const char *sec, const char *key) {
  const char *v = NULL;
  assert_int_equal(tern_config_get_str(cfg, sec, key, "<absent>", &v, NULL, 0), 0);
  return v;
}

/* ---- parsing ------------------------------------------------------------- */

static const char k_good[] =
    "\xEF\xBB\xBF# tern configuration\r\n"
    "; another comment style\r\n"
    "\r\n"
    "[llm]\r\n"
    "chain = openai, scripted   # inline comment\r\n"
    "First_Byte_Timeout_MS=3s\r\n"
    "\r\n"
    "[LLM.OpenAI]\r\n"
    "  model   =   gpt-4o-mini  \r\n"
    "base_url = https://api.openai.com/v1#not-a-comment\r\n"
    "system = \"  You are \\\"brief\\\" # not a comment\\n\"  ; trailing comment\r\n"
    "empty =\r\n"
    "[tts.eleven-labs]\r\n"
    "[server]\n"
    "workers = 4\n"
    "workers = 8\n"
    "last = no newline at end";

static void test_good_file(void **state) {
  (void)state;
  fake_env_t env = {0};
  tern_config_t *cfg = make(&env, k_good);
  assert_string_equal(str(cfg, "llm", "chain"), "openai, scripted");
  assert_string_equal(str(cfg, "llm", "first_byte_timeout_ms"), "3s");
  assert_string_equal(str(cfg, "llm.openai", "model"), "gpt-4o-mini");
  assert_string_equal(str(cfg, "LLM.OPENAI", "Model"), "gpt-4o-mini"); /* names ignore case */
  assert_string_equal(str(cfg, "llm.openai", "base_url"),
                      "https://api.openai.com/v1#not-a-comment");
  assert_string_equal(str(cfg, "llm.openai", "system"), "  You are \"brief\" # not a comment\n");
  assert_string_equal(str(cfg, "llm.openai", "empty"), "");
  assert_string_equal(str(cfg, "server", "workers"), "8"); /* last wins */
  assert_string_equal(str(cfg, "server", "last"), "no newline at end");
  assert_string_equal(str(cfg, "server", "missing"), "<absent>");
  assert_string_equal(str(cfg, "nosuch", "chain"), "<absent>");
  assert_true(g_log_lines >= 1); /* the duplicate was warned about */

  const char *v, *origin;
  assert_int_equal(tern_config_lookup(cfg, "llm.openai", "model", &v, &origin), 0);
  assert_string_equal(origin, "t.ini:9");
  assert_int_equal(tern_config_lookup(cfg, "server", "workers", &v, &origin), 0);
  assert_string_equal(origin, "t.ini:16");
  assert_int_equal(tern_config_lookup(cfg, "server", "nope", &v, &origin), TERN_ENOENT);

  /* Enumeration, for `tern doctor`. */
  assert_int_equal(tern_config_count(cfg), 8);
  tern_config_entry_t e;
  assert_int_equal(tern_config_entry(cfg, 0, &e), 0);
  assert_string_equal(e.section, "llm");
  assert_string_equal(e.key, "chain");
  assert_string_equal(e.origin, "t.ini:5");
  assert_false(e.secret);
  assert_int_equal(tern_config_entry(cfg, 2, &e), 0);
  assert_string_equal(e.section, "llm.openai"); /* stored lower-case */
  assert_int_equal(tern_config_entry(cfg, 8, &e), TERN_ENOENT);
  assert_int_equal(tern_config_section_count(cfg), 4);
  assert_string_equal(tern_config_section(cfg, 0), "llm");
  assert_string_equal(tern_config_section(cfg, 2), "tts.eleven-labs"); /* empty, still listed */
  assert_null(tern_config_section(cfg, 4));
  assert_true(tern_config_has_section(cfg, "TTS.Eleven-Labs"));
  assert_false(tern_config_has_section(cfg, "stt"));
  tern_config_free(cfg);
}

static void test_empty_config_is_valid(void **state) {
  (void)state;
  fake_env_t env = {0};
  tern_config_t *cfg = make(&env, NULL);
  assert_int_equal(tern_config_count(cfg), 0);
  int64_t ms = 0;
  assert_int_equal(tern_config_get_duration_ms(cfg, "llm", "first_byte_timeout_ms", 3000, 100,
                                               60000, &ms, NULL, 0),
                   0);
  assert_int_equal(ms, 3000);
  char err[64] = "";
  assert_int_equal(tern_config_load_string(cfg, "", 0, NULL, err, sizeof err), 0);
  assert_int_equal(tern_config_load_string(cfg, NULL, 0, NULL, err, sizeof err), 0);
  assert_int_equal(tern_config_load_string(cfg, "\n\n# only comments\n", 18, NULL, err, sizeof err),
                   0);
  assert_int_equal(tern_config_count(cfg), 0);
  tern_config_free(cfg);
  tern_config_free(NULL);
}

static void test_malformed_lines(void **state) {
  (void)state;
  static const struct {
    const char *text;
    size_t len; /* 0: strlen */
    const char *want;
  } cases[] = {
      {"[llm]\nmodel\n", 0, "t.ini:2: expected 'key = value', got 'model'"},
      {"[llm\n", 0, "t.ini:1: expected ']' to close the section name, got '[llm'"},
      {"[llm] extra\n", 0, "t.ini:1: unexpected text after ']': 'extra'"},
      {"[]\n", 0, "t.ini:1: invalid section name '[]'"},
      {"[a..b]\n", 0, "invalid section name '[a..b]'"},
      {"[.llm]\n", 0, "invalid section name"},
      {"[ll m]\n", 0, "invalid section name '[ll m]'"},
      {"[llm]\n = v\n", 0, "t.ini:2: missing key before '='"},
      {"[llm]\nmy key = 1\n", 0, "t.ini:2: invalid key name 'my key'"},
      {"x = 1\n", 0, "t.ini:1: key 'x' appears before any [section]"},
      {"[llm]\nk = \"abc\n", 0, "t.ini:2: unterminated quoted value"},
      {"[llm]\nk = \"abc\\", 0, "t.ini:2: unterminated quoted value"},
      {"[llm]\nk = \"a\\qb\"\n", 0, "t.ini:2: unknown escape '\\q' in quoted value"},
      {"[llm]\nk = \"a\" junk\n", 0, "t.ini:2: unexpected text after the closing quote: 'junk'"},
      {"[llm]\nk = v\0x\n", 12, "t.ini:2: NUL byte in line"},
      {"[llm]\r\n\r\n\r\nbroken line\r\n", 0, "t.ini:4: expected 'key = value', got 'broken line'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fake_env_t env = {0};
    tern_config_t *cfg = make(&env, "[keep]\nx = 1\n");
    char err[256] = "";
    size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);
    int rc = tern_config_load_string(cfg, cases[i].text, len, "t.ini", err, sizeof err);
    if (rc != TERN_ECONFIG || !strstr(err, cases[i].want))
      fail_msg("case %zu: rc %s, message '%s', want '%s'", i, tern_err_name(rc), err,
               cases[i].want);
    /* A failed load changes nothing. */
    assert_int_equal(tern_config_count(cfg), 1);
    assert_int_equal(tern_config_section_count(cfg), 1);
    tern_config_free(cfg);
  }
}

static void test_parse_errors_hide_secrets(void **state) {
  (void)state;
  fake_env_t env = {0};
  tern_config_t *cfg = make(&env, NULL);
  char err[256];
  const char *t1 = "[llm.openai]\napi_key sk-proj-abcdefghijklmnop\n";
  assert_int_equal(tern_config_load_string(cfg, t1, strlen(t1), "t.ini", err, sizeof err),
                   TERN_ECONFIG);
  assert_non_null(strstr(err, "got 'api_key [REDACTED]'"));
  assert_null(strstr(err, "abcdefgh"));
  const char *t2 = "[llm.openai]\nmodel x Bearer abc123\n";
  assert_int_equal(tern_config_load_string(cfg, t2, strlen(t2), "t.ini", err, sizeof err),
                   TERN_ECONFIG);
  assert_non_null(strstr(err, "got 'model x Bearer [REDACTED]'"));
  tern_config_free(cfg);
}

static void test_size_limits(void **state) {
  (void)state;
  fake_env_t env = {0};
  tern_config_t *cfg = make(&env, NULL);
  char err[256];
  /* A line of exactly the limit is fine; one byte more is refused. */
  size_t n = TERN_CONFIG_MAX_LINE + 64;
  char *text = malloc(n);
  assert_non_null(text);
  const char *head = "[s]\nk = ";
  size_t line2 = TERN_CONFIG_MAX_LINE - 4; /* "k = " + value */
  memcpy(text, head, strlen(head));
  memset(text + strlen(head), 'v', line2);
  size_t len = strlen(head) + line2;
  assert_int_equal(tern_config_load_string(cfg, text, len, "t.ini", err, sizeof err), 0);
  text[len++] = 'v';
  assert_int_equal(tern_config_load_string(cfg, text, len, "t.ini", err, sizeof err), TERN_ECONFIG);
  assert_non_null(strstr(err, "t.ini:2: line is longer than 4096 bytes"));
  free(text);

  size_t big = TERN_CONFIG_MAX_FILE + 1;
  text = malloc(big);
  assert_non_null(text);
  memset(text, '\n', big);
  assert_int_equal(tern_config_load_string(cfg, text, big, "t.ini", err, sizeof err), TERN_ETOOBIG);
  assert_non_null(strstr(err, "t.ini: "));
  assert_non_null(strstr(err, "limit"));
  const char *path = tu_tmp_path("big.ini");
  assert_int_equal(tu_write_file(path, text, big), 0);
  assert_int_equal(tern_config_load_file(cfg, path, err, sizeof err), TERN_ETOOBIG);
  assert_int_equal(tern_config_load_string(cfg, text, big - 1, "t.ini", err, sizeof err), 0);
  free(text);
  tern_config_free(cfg);
}

static void test_load_file_and_layering(void **state) {
  (void)state;
  fake_env_t env = {0};
  tern_config_t *cfg = make(&env, NULL);
  char err[256];
  const char *path = tu_tmp_path("tern.ini");
  const char *text = "[llm]\nchain = openai\n[llm.openai]\nmodel = a\n";
  assert_int_equal(tu_write_file(path, text, strlen(text)), 0);
  assert_int_equal(tern_config_load_file(cfg, path, err, sizeof err), 0);
  const char *v, *origin;
  assert_int_equal(tern_config_lookup(cfg, "llm.openai", "model", &v, &origin), 0);
  char want[512];
  snprintf(want, sizeof want, "%s:4", path);
  assert_string_equal(origin, want);

  /* A later source wins key by key; the entry keeps its place. */
  const char *over = "[llm.openai]\nmodel = b\ntemperature = 0.2\n";
  assert_int_equal(tern_config_load_string(cfg, over, strlen(over), "local.ini", err, sizeof err),
                   0);
  assert_int_equal(tern_config_lookup(cfg, "llm.openai", "model", &v, &origin), 0);
  assert_string_equal(v, "b");
  assert_string_equal(origin, "local.ini:2");
  assert_string_equal(str(cfg, "llm", "chain"), "openai");
  assert_int_equal(tern_config_count(cfg), 3);
  tern_config_entry_t e;
  assert_int_equal(tern_config_entry(cfg, 1, &e), 0);
  assert_string_equal(e.key, "model");

  assert_int_equal(tern_config_load_file(cfg, tu_tmp_path("missing.ini"), err, sizeof err),
                   TERN_ENOENT);
  assert_non_null(strstr(err, "missing.ini: cannot open"));
  tern_config_free(cfg);
}

/* ---- environment --------------------------------------------------------- */

static void test_env_names(void **state) {
  (void)state;
  char buf[64];
  assert_int_equal(tern_config_env_name("llm.openai", "model", buf, sizeof buf), 21);
  assert_string_equal(buf, "TERN_LLM_OPENAI_MODEL");
  tern_config_env_name("tts.eleven-labs", "voice-id", buf, sizeof buf);
  assert_string_equal(buf, "TERN_TTS_ELEVEN_LABS_VOICE_ID");
  assert_int_equal(tern_config_env_name("llm", "chain", buf, 6), 14);
  assert_string_equal(buf, "TERN_");
  assert_int_equal(tern_config_env_name("llm", "chain", NULL, 0), 14);
}

static void test_env_overrides_file(void **state) {
  (void)state;
  fake_env_t env = {0};
  tern_config_t *cfg = make(&env, "[llm.openai]\nmodel = from-file\n");
  assert_string_equal(str(cfg, "llm.openai", "model"), "from-file");
  env_set(&env, "TERN_LLM_OPENAI_MODEL", "from-env");
  env_set(&env, "TERN_LLM_CHAIN", "openai,scripted");
  const char *first = str(cfg, "llm.openai", "model");
  assert_string_equal(first, "from-env");
  const char *v, *origin;
  assert_int_equal(tern_config_lookup(cfg, "llm.openai", "model", &v, &origin), 0);
  assert_string_equal(origin, "TERN_LLM_OPENAI_MODEL");
  assert_ptr_equal(v, first); /* the same value is not copied twice */

  /* A key only in the environment. */
  tern_config_list_t l;
  assert_int_equal(tern_config_get_list(cfg, "llm", "chain", "scripted", &l, NULL, 0), 0);
  assert_int_equal(l.count, 2);
  assert_string_equal(l.items[0], "openai");
  assert_string_equal(l.items[1], "scripted");
  assert_null(l.items[2]);
  tern_config_list_free(&l);

  /* The environment is read on every lookup; old pointers stay valid. */
  env_set(&env, "TERN_LLM_OPENAI_MODEL", "changed");
  assert_string_equal(str(cfg, "llm.openai", "model"), "changed");
  assert_string_equal(first, "from-env");
  env_set(&env, "TERN_LLM_OPENAI_MODEL", NULL);
  assert_string_equal(str(cfg, "llm.openai", "model"), "from-file");
  tern_config_free(cfg);
}

static void test_default_env_is_process_environment(void **state) {
  (void)state;
  tern_config_t *cfg;
  assert_int_equal(tern_config_new(&cfg), 0);
  setenv("TERN_ZZ_CONFIG_TEST_PROBE", "seen", 1);
  assert_string_equal(str(cfg, "zz.config-test", "probe"), "seen");
  unsetenv("TERN_ZZ_CONFIG_TEST_PROBE");
  fake_env_t env = {0};
  tern_config_set_env(cfg, fake_getenv, &env);
  tern_config_set_env(cfg, NULL, NULL); /* back to getenv */
  setenv("TERN_ZZ_CONFIG_TEST_PROBE", "again", 1);
  assert_string_equal(str(cfg, "zz.config-test", "probe"), "again");
  unsetenv("TERN_ZZ_CONFIG_TEST_PROBE");
  tern_config_free(cfg);
}

/* ---- typed getters ------------------------------------------------------- */

static void test_get_int_and_double(void **state) {
  (void)state;
  fake_env_t env = {0};
  tern_config_t *cfg =
      make(&env, "[server]\nworkers = 4\nneg = -5\nbad = 4x\nhuge = 99999999999999999999\n"
                 "hex = 0x10\n[vad]\nthreshold = 0.25\nsci = 1e3\nnan = nan\n");
  char err[256] = "";
  int64_t i = 0;
  assert_int_equal(tern_config_get_int(cfg, "server", "workers", 1, 1, 64, &i, err, sizeof err), 0);
  assert_int_equal(i, 4);
  assert_int_equal(tern_config_get_int(cfg, "server", "neg", 0, 0, 0, &i, err, sizeof err), 0);
  assert_int_equal(i, -5);
  assert_int_equal(tern_config_get_int(cfg, "server", "absent", 7, 1, 64, &i, err, sizeof err), 0);
  assert_int_equal(i, 7);
  i = 123;
  assert_int_equal(tern_config_get_int(cfg, "server", "bad", 1, 1, 64, &i, err, sizeof err),
                   TERN_ECONFIG);
  assert_string_equal(
      err, "[server] bad = \"4x\" (from t.ini:4): expected an integer, between 1 and 64");
  assert_int_equal(i, 123); /* untouched on error */
  assert_int_equal(tern_config_get_int(cfg, "server", "workers", 1, 8, 64, &i, err, sizeof err),
                   TERN_ECONFIG);
  assert_non_null(strstr(err, "\"4\" (from t.ini:2): expected an integer, between 8 and 64"));
  assert_int_equal(tern_config_get_int(cfg, "server", "huge", 0, 0, 0, &i, err, sizeof err),
                   TERN_ECONFIG);
  assert_non_null(strstr(err, "expected an integer"));
  assert_int_equal(tern_config_get_int(cfg, "server", "hex", 0, 0, 0, &i, err, sizeof err),
                   TERN_ECONFIG);

  double d = 0;
  assert_int_equal(tern_config_get_double(cfg, "vad", "threshold", 0.5, 0, 1, &d, err, sizeof err),
                   0);
  assert_true(d == 0.25);
  assert_int_equal(tern_config_get_double(cfg, "vad", "sci", 0, 0, 0, &d, err, sizeof err), 0);
  assert_true(d == 1000.0);
  assert_int_equal(tern_config_get_double(cfg, "vad", "sci", 0, 0, 1, &d, err, sizeof err),
                   TERN_ECONFIG);
  assert_non_null(
      strstr(err, "[vad] sci = \"1e3\" (from t.ini:9): expected a number, between 0 and 1"));
  assert_int_equal(tern_config_get_double(cfg, "vad", "nan", 0, 0, 0, &d, err, sizeof err),
                   TERN_ECONFIG);
  assert_int_equal(tern_config_get_double(cfg, "vad", "absent", 0.5, 0, 1, &d, err, sizeof err), 0);
  assert_true(d == 0.5);
  env_set(&env, "TERN_SERVER_HEX", "16");
  assert_int_equal(tern_config_get_int(cfg, "server", "hex", 0, 0, 0, &i, err, sizeof err), 0);
  assert_int_equal(i, 16);
  tern_config_free(cfg);
}

static void test_get_bool(void **state) {
  (void)state;
  static const struct {
    const char *v;
    int rc;
    bool want;
  } cases[] = {
      {"true", 0, true}, {"TRUE", 0, true},          {"yes", 0, true},      {"on", 0, true},
      {"1", 0, true},    {"false", 0, false},        {"No", 0, false},      {"off", 0, false},
      {"0", 0, false},   {"maybe", TERN_ECONFIG, 0}, {"", TERN_ECONFIG, 0}, {"2", TERN_ECONFIG, 0}};
  fake_env_t env = {0};
  tern_config_t *cfg = make(&env, NULL);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    env_set(&env, "TERN_SERVER_DRAIN", cases[i].v);
    bool b = !cases[i].want;
    char err[256] = "";
    assert_int_equal(tern_config_get_bool(cfg, "server", "drain", false, &b, err, sizeof err),
                     cases[i].rc);
    if (cases[i].rc == 0)
      assert_int_equal(b, cases[i].want);
    else
      assert_non_null(strstr(err, "(from TERN_SERVER_DRAIN): expected true or false"));
  }
  env_set(&env, "TERN_SERVER_DRAIN", NULL);
  bool b = false;
  assert_int_equal(tern_config_get_bool(cfg, "server", "drain", true, &b, NULL, 0), 0);
  assert_true(b);
  tern_config_free(cfg);
}

static void test_get_duration(void **state) {
  (void)state;
  static const struct {
    const char *v;
    int rc;
    int64_t ms;
  } cases[] = {
      {"1500", 0, 1500},         {"1500ms", 0, 1500},
      {"1.5s", 0, 1500},         {"2s", 0, 2000},
      {"0.5 s", 0, 500},         {"1m", 0, 60000},
      {"100MS", 0, 100},         {"60s", 0, 60000},
      {"0.1004s", 0, 100},       {"abc", TERN_ECONFIG, 0},
      {"", TERN_ECONFIG, 0},     {"-5", TERN_ECONFIG, 0},
      {"5x", TERN_ECONFIG, 0},   {"1e3s", TERN_ECONFIG, 0},
      {".s", TERN_ECONFIG, 0},   {"61s", TERN_ECONFIG, 0},
      {"99ms", TERN_ECONFIG, 0}, {"99999999999999999999999h", TERN_ECONFIG, 0},
  };
  fake_env_t env = {0};
  tern_config_t *cfg = make(&env, NULL);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    env_set(&env, "TERN_LLM_FIRST_BYTE_TIMEOUT_MS", cases[i].v);
    int64_t ms = -1;
    char err[256] = "";
    int rc = tern_config_get_duration_ms(cfg, "llm", "first_byte_timeout_ms", 3000, 100, 60000, &ms,
                                         err, sizeof err);
    if (rc != cases[i].rc)
      fail_msg("'%s': rc %s (%s)", cases[i].v, tern_err_name(rc), err);
    if (rc == 0)
      assert_int_equal(ms, cases[i].ms);
  }
  env_set(&env, "TERN_LLM_FIRST_BYTE_TIMEOUT_MS", "abc");
  char err[256];
  int64_t ms;
  assert_int_equal(tern_config_get_duration_ms(cfg, "llm", "first_byte_timeout_ms", 3000, 100,
                                               60000, &ms, err, sizeof err),
                   TERN_ECONFIG);
  assert_string_equal(err, "[llm] first_byte_timeout_ms = \"abc\" (from "
                           "TERN_LLM_FIRST_BYTE_TIMEOUT_MS): expected a duration such as 3000 or "
                           "3s, between 100ms and 60s");
  assert_int_equal(tern_config_get_duration_ms(cfg, "llm", "first_byte_timeout_ms", 3000, 0, 0, &ms,
                                               err, sizeof err),
                   TERN_ECONFIG);
  assert_true(strstr(err, "expected a duration such as 3000 or 3s") && !strstr(err, "between"));
  tern_config_free(cfg);
}

static void test_get_list_and_enum(void **state) {
  (void)state;
  fake_env_t env = {0};
  tern_config_t *cfg = make(&env, "[llm]\nchain = openai, scripted ,, flite ,\nnone = \" , \"\n"
                                  "kind = Anthropic\nbadkind = gemini\n");
  tern_config_list_t l;
  assert_int_equal(tern_config_get_list(cfg, "llm", "chain", NULL, &l, NULL, 0), 0);
  assert_int_equal(l.count, 3);
  assert_string_equal(l.items[0], "openai");
  assert_string_equal(l.items[1], "scripted");
  assert_string_equal(l.items[2], "flite");
  tern_config_list_free(&l);
  assert_int_equal(tern_config_get_list(cfg, "llm", "none", "x", &l, NULL, 0), 0);
  assert_int_equal(l.count, 0);
  tern_config_list_free(&l);
  assert_int_equal(tern_config_get_list(cfg, "llm", "absent", " a,b ", &l, NULL, 0), 0);
  assert_int_equal(l.count, 2);
  assert_string_equal(l.items[0], "a");
  tern_config_list_free(&l);
  assert_int_equal(tern_config_get_list(cfg, "llm", "absent", NULL, &l, NULL, 0), 0);
  assert_int_equal(l.count, 0);
  tern_config_list_free(&l);

  static const char *const kinds[] = {"openai", "anthropic", "scripted", NULL};
  int idx = -1;
  char err[256];
  assert_int_equal(tern_config_get_enum(cfg, "llm", "kind", kinds, "openai", &idx, err, sizeof err),
                   0);
  assert_int_equal(idx, 1);
  assert_int_equal(
      tern_config_get_enum(cfg, "llm", "absent", kinds, "scripted", &idx, err, sizeof err), 0);
  assert_int_equal(idx, 2);
  assert_int_equal(
      tern_config_get_enum(cfg, "llm", "badkind", kinds, "openai", &idx, err, sizeof err),
      TERN_ECONFIG);
  assert_string_equal(err, "[llm] badkind = \"gemini\" (from t.ini:5): expected one of: openai, "
                           "anthropic, scripted");
  assert_int_equal(tern_config_get_enum(cfg, "llm", "kind", kinds, "gemini", &idx, err, sizeof err),
                   TERN_EINVAL);
  const char *s = "x";
  assert_int_equal(tern_config_get_str(cfg, "llm", "absent", NULL, &s, NULL, 0), 0);
  assert_null(s);
  assert_int_equal(tern_config_get_str(cfg, NULL, "k", NULL, &s, NULL, 0), TERN_EINVAL);
  tern_config_free(cfg);
}

static void test_secrets_are_registered_and_hidden(void **state) {
  (void)state;
  fake_env_t env = {0};
  tern_config_t *cfg = make(&env, "[llm.openai]\napi_key = file-secret-123\n"
                                  "note = has Bearer abc123 inside\n");
  char out[128];
  tern_redact("echo file-secret-123!", out, sizeof out);
  assert_string_equal(out, "echo [REDACTED]!");
  tern_config_entry_t e;
  assert_int_equal(tern_config_entry(cfg, 0, &e), 0);
  assert_true(e.secret);

  char err[256];
  int64_t i;
  assert_int_equal(tern_config_get_int(cfg, "llm.openai", "api_key", 0, 0, 0, &i, err, sizeof err),
                   TERN_ECONFIG);
  assert_non_null(strstr(err, "[llm.openai] api_key = \"[REDACTED]\" (from t.ini:2)"));
  assert_null(strstr(err, "file-secret"));
  assert_int_equal(tern_config_get_int(cfg, "llm.openai", "note", 0, 0, 0, &i, err, sizeof err),
                   TERN_ECONFIG);
  assert_non_null(strstr(err, "\"has Bearer [REDACTED] inside\""));

  /* A secret first seen in the environment is registered when read. */
  env_set(&env, "TERN_LLM_GROQ_API_KEY", "env-secret-456");
  const char *v;
  assert_int_equal(tern_config_get_str(cfg, "llm.groq", "api_key", NULL, &v, NULL, 0), 0);
  assert_string_equal(v, "env-secret-456");
  tern_redact("x env-secret-456", out, sizeof out);
  assert_string_equal(out, "x [REDACTED]");
  tern_config_free(cfg);
}

/* ---- schema validation --------------------------------------------------- */

static const tern_config_key_t k_schema[] = {
    {"llm", "chain", TERN_CFG_LIST, "scripted", 0, 0, NULL, "LLM providers in fallback order"},
    {"llm", "first_byte_timeout_ms", TERN_CFG_DURATION, "3s", 100, 60000, NULL,
     "give up on a provider that sends nothing for this long"},
    {"llm.*", "model", TERN_CFG_STR, NULL, 0, 0, NULL, "model name"},
    {"llm.*", "api_key", TERN_CFG_STR, NULL, 0, 0, NULL, "API key"},
    {"llm.*", "temperature", TERN_CFG_DOUBLE, "0.7", 0, 2, NULL, "sampling temperature"},
    {"llm.*", "kind", TERN_CFG_ENUM, "openai", 0, 0, "openai|anthropic|scripted", "protocol"},
    {"server", "workers", TERN_CFG_INT, "0", 0, 256, NULL, "worker threads (0 = cores)"},
    {"server", "drain", TERN_CFG_BOOL, "true", 0, 0, NULL, "drain sessions on SIGTERM"},
    {"stt", "chain", TERN_CFG_LIST, "pocketsphinx", 0, 0, "deepgram|pocketsphinx", "STT providers"},
    {NULL, NULL, 0, NULL, 0, 0, NULL, NULL},
};

typedef struct problems {
  char msgs[16][512];
  int n;
} problems_t;

static void collect(const char *msg, void *ud) {
  problems_t *p = ud;
  assert_true(p->n < 16);
  snprintf(p->msgs[p->n++], sizeof p->msgs[0], "%s", msg);
}

static bool has_problem(const problems_t *p, const char *needle) {
  for (int i = 0; i < p->n; i++)
    if (strstr(p->msgs[i], needle))
      return true;
  return false;
}

static void test_validate_clean(void **state) {
  (void)state;
  fake_env_t env = {0};
  tern_config_t *cfg = make(&env, "[llm]\nchain = openai, groq\nfirst_byte_timeout_ms = 2.5s\n"
                                  "[llm.openai]\nmodel = gpt-4o-mini\napi_key = abcdefgh\n"
                                  "[llm.groq]\nkind = OpenAI\ntemperature = 0.2\n"
                                  "[server]\nworkers = 8\ndrain = yes\n[stt]\nchain = deepgram\n");
  env_set(&env, "TERN_SERVER_WORKERS", "16");
  problems_t p = {0};
  size_t n = 99;
  assert_int_equal(tern_config_validate(cfg, k_schema, collect, &p, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(p.n, 0);
  assert_non_null(tern_config_schema_find(k_schema, "llm.openai", "model"));
  assert_non_null(tern_config_schema_find(k_schema, "LLM.Groq", "Temperature"));
  assert_null(tern_config_schema_find(k_schema, "llm", "model")); /* "llm.*" needs a subsection */
  assert_null(tern_config_schema_find(k_schema, "llmx.openai", "model"));
  tern_config_free(cfg);
}

static void test_validate_reports_every_problem(void **state) {
  (void)state;
  fake_env_t env = {0};
  tern_config_t *cfg = make(&env, "[llm]\nchain = openai\nmodel = x\n"
                                  "[llm.openai]\nmodle = gpt-4o\nwibble = 1\n"
                                  "[llm.groq]\ntemperature = 3\n"
                                  "[lmm]\nchain = a\n"
                                  "[server]\nworkers = lots\nwrokers = 2\n"
                                  "[stt]\nchain = deepgram, whisper\n"
                                  "[zzzzzz]\n");
  env_set(&env, "TERN_LLM_FIRST_BYTE_TIMEOUT_MS", "abc");
  env_set(&env, "TERN_LLM_GROQ_KIND", "gemini");
  env_set(&env, "TERN_LLM_GROQ_API_KEY", "groq-env-secret");
  env_set(&env, "TERN_LLM_GROQ_TEMPERATURE", "-1");
  problems_t p = {0};
  size_t n = 0;
  assert_int_equal(tern_config_validate(cfg, k_schema, collect, &p, &n), TERN_ECONFIG);
  for (int i = 0; i < p.n; i++)
    print_message("  problem: %s\n", p.msgs[i]);
  assert_int_equal(n, (size_t)p.n);
  assert_int_equal(p.n, 12);
  assert_true(has_problem(&p, "unknown key 'model' in [llm] (t.ini:3)"));
  assert_true(
      has_problem(&p, "unknown key 'modle' in [llm.openai] (t.ini:5); did you mean 'model'?"));
  assert_true(has_problem(&p, "unknown key 'wibble' in [llm.openai] (t.ini:6)"));
  assert_false(has_problem(&p, "'wibble' in [llm.openai] (t.ini:6); did you mean"));
  assert_true(has_problem(&p, "[llm.groq] temperature = \"3\" (from t.ini:8): expected a number, "
                              "between 0 and 2"));
  assert_true(has_problem(&p, "unknown section [lmm] (t.ini:9); did you mean [llm]?"));
  assert_true(has_problem(&p, "unknown section [zzzzzz] (t.ini:16)"));
  assert_true(has_problem(&p, "[server] workers = \"lots\" (from t.ini:12): expected an integer, "
                              "between 0 and 256"));
  assert_true(
      has_problem(&p, "unknown key 'wrokers' in [server] (t.ini:13); did you mean 'workers'?"));
  assert_true(has_problem(&p, "[stt] chain = \"deepgram, whisper\" (from t.ini:15): expected a "
                              "comma-separated list of: deepgram|pocketsphinx"));
  assert_true(has_problem(&p, "[llm] first_byte_timeout_ms = \"abc\" (from "
                              "TERN_LLM_FIRST_BYTE_TIMEOUT_MS): expected a duration"));
  assert_true(has_problem(&p, "[llm.groq] kind = \"gemini\" (from TERN_LLM_GROQ_KIND): expected "
                              "one of: openai|anthropic|scripted"));
  /* The env value wins for temperature, and both bad values are reported
   * (the file's too, since it would surface once the variable is unset). */
  assert_true(has_problem(&p, "\"-1\" (from TERN_LLM_GROQ_TEMPERATURE)"));
  /* Reading the env api_key during validation registered it. */
  char out[64];
  tern_redact("groq-env-secret", out, sizeof out);
  assert_string_equal(out, "[REDACTED]");
  n = 0;
  assert_int_equal(tern_config_validate(cfg, k_schema, NULL, NULL, &n), TERN_ECONFIG);
  assert_int_equal(n, 12);
  tern_config_free(cfg);
}

/* ---- out of memory ------------------------------------------------------- */

/* No duplicate keys here: the duplicate warning is a log line, and logging
 * degrades instead of failing, which the sweep would count as a swallowed
 * failure. */
static const char k_sweep_text[] = "[llm]\nchain = openai, scripted\nfirst_byte_timeout_ms = 2s\n"
                                   "[llm.openai]\nmodel = \"gpt\"\napi_key = sweep-secret-1\n"
                                   "[server]\nworkers = 4\n[empty]\n";

static int config_roundtrip(void *ctx) {
  fake_env_t *env = ctx;
  tern_secret_clear();
  tern_config_t *cfg;
  int rc = tern_config_new(&cfg);
  if (rc)
    return rc;
  tern_config_set_env(cfg, fake_getenv, env);
  char err[256];
  rc = tern_config_load_string(cfg, k_sweep_text, strlen(k_sweep_text), "s.ini", err, sizeof err);
  if (rc == 0)
    rc = tern_config_load_string(cfg, "[server]\nworkers = 5\n", 21, "t.ini", err, sizeof err);
  if (rc) {
    assert_int_equal(rc, TERN_ENOMEM);
    /* Whatever failed, the config is intact: nothing or a whole file. */
    size_t c = tern_config_count(cfg);
    assert_true(c == 0 || c == 5);
    tern_config_free(cfg);
    return rc;
  }
  tern_config_list_t l;
  rc = tern_config_get_list(cfg, "llm", "chain", NULL, &l, err, sizeof err);
  if (rc == 0) {
    assert_int_equal(l.count, 2);
    tern_config_list_free(&l);
    const char *v;
    rc = tern_config_get_str(cfg, "llm.openai", "model", NULL, &v, err, sizeof err);
  }
  if (rc == 0) {
    int64_t ms;
    rc = tern_config_get_duration_ms(cfg, "llm", "first_byte_timeout_ms", 0, 0, 0, &ms, err,
                                     sizeof err);
  }
  if (rc == 0) {
    size_t n;
    rc = tern_config_validate(cfg, k_schema, NULL, NULL, &n);
    if (rc == TERN_ECONFIG)
      rc = 0; /* [empty] is unknown: a finding, not a failure */
  }
  tern_config_free(cfg);
  return rc;
}

static void test_config_survives_allocation_failure(void **state) {
  (void)state;
  fake_env_t env = {0};
  env_set(&env, "TERN_LLM_OPENAI_MODEL", "env-model");
  env_set(&env, "TERN_LLM_OPENAI_API_KEY", "env-secret-sweep");
  assert_true(tu_alloc_sweep(config_roundtrip, &env) > 10);
}

static int file_load(void *ctx) {
  const char *path = ctx;
  tern_config_t *cfg;
  int rc = tern_config_new(&cfg);
  if (rc)
    return rc;
  rc = tern_config_load_file(cfg, path, NULL, 0);
  tern_config_free(cfg);
  return rc;
}

static void test_file_load_survives_allocation_failure(void **state) {
  (void)state;
  const char *path = tu_tmp_path("sweep.ini");
  /* Larger than the first read buffer, so the buffer grows. */
  char text[9000];
  size_t n = 0;
  n += (size_t)snprintf(text, sizeof text, "[s]\n");
  for (int i = 0; n < 8500; i++)
    n += (size_t)snprintf(text + n, sizeof text - n, "k%d = value number %d\n", i, i);
  assert_int_equal(tu_write_file(path, text, n), 0);
  assert_true(tu_alloc_sweep(file_load, (void *)path) > 3);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_good_file),
      T(test_empty_config_is_valid),
      T(test_malformed_lines),
      T(test_parse_errors_hide_secrets),
      T(test_size_limits),
      T(test_load_file_and_layering),
      T(test_env_names),
      T(test_env_overrides_file),
      T(test_default_env_is_process_environment),
      T(test_get_int_and_double),
      T(test_get_bool),
      T(test_get_duration),
      T(test_get_list_and_enum),
      T(test_secrets_are_registered_and_hidden),
      T(test_validate_clean),
      T(test_validate_reports_every_problem),
      T(test_config_survives_allocation_failure),
      T(test_file_load_survives_allocation_failure),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
