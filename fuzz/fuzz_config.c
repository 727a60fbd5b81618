/* libFuzzer driver for the config parser, getters, validation and the
 * redactor. Input: INI text, optionally followed by a 0x01 byte and a value
 * that the fake environment returns for a few TERN_* names, so parsing of
 * environment overrides is reached too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tern/config.h"
#include "tern/log.h"

static const char *g_env_value;

static const char *fuzz_getenv(const char *name, void *ud) {
  (void)ud;
  if (!g_env_value)
    return NULL;
  if (strcmp(name, "TERN_LLM_FIRST_BYTE_TIMEOUT_MS") == 0 ||
      strcmp(name, "TERN_LLM_OPENAI_MODEL") == 0 || strcmp(name, "TERN_LLM_CHAIN") == 0 ||
      strcmp(name, "TERN_SERVER_WORKERS") == 0)
    return g_env_value;
  return NULL;
}

static void null_sink(const char *line, size_t len, void *ud) {
  (void)line;
  (void)len;
  (void)ud;
}

static void null_problem(const char *msg, void *ud) {
  (void)msg;
  (*(size_t *)ud)++;
}

static const tern_config_key_t k_schema[] = {
    {"llm", "chain", TERN_CFG_LIST, "scripted", 0, 0, NULL, "chain"},
    {"llm", "first_byte_timeout_ms", TERN_CFG_DURATION, "3s", 100, 60000, NULL, "first byte"},
    {"llm.*", "model", TERN_CFG_STR, NULL, 0, 0, NULL, "model"},
    {"llm.*", "kind", TERN_CFG_ENUM, "openai", 0, 0, "openai|anthropic|scripted", "kind"},
    {"llm.*", "temperature", TERN_CFG_DOUBLE, "0.7", 0, 2, NULL, "temperature"},
    {"server", "workers", TERN_CFG_INT, "0", 0, 256, NULL, "workers"},
    {"server", "drain", TERN_CFG_BOOL, "true", 0, 0, NULL, "drain"},
    {"stt", "chain", TERN_CFG_LIST, NULL, 0, 0, "deepgram|pocketsphinx", "stt"},
    {NULL, NULL, 0, NULL, 0, 0, NULL, NULL},
};

static void every_getter(const tern_config_t *cfg, const char *section, const char *key) {
  static const char *const kinds[] = {"openai", "anthropic", "scripted", NULL};
  char err[256];
  const char *s;
  int64_t i;
  double d;
  bool b;
  int idx;
  tern_config_list_t l;
  tern_config_get_str(cfg, section, key, "def", &s, err, sizeof err);
  tern_config_get_int(cfg, section, key, 1, -5, 1000, &i, err, sizeof err);
  tern_config_get_int(cfg, section, key, 1, 0, 0, &i, err, sizeof err);
  tern_config_get_double(cfg, section, key, 0.5, 0, 2, &d, err, sizeof err);
  tern_config_get_bool(cfg, section, key, true, &b, err, sizeof err);
  tern_config_get_duration_ms(cfg, section, key, 3000, 100, 60000, &i, err, sizeof err);
  tern_config_get_duration_ms(cfg, section, key, 3000, 0, 0, &i, err, sizeof err);
  tern_config_get_enum(cfg, section, key, kinds, "openai", &idx, err, sizeof err);
  if (tern_config_get_list(cfg, section, key, "a,b", &l, err, sizeof err) == 0) {
    for (size_t k = 0; k < l.count; k++)
      if (!l.items[k] || !l.items[k][0])
        abort(); /* items are never empty */
    tern_config_list_free(&l);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int once;
  if (!once) {
    tern_log_set_sink(null_sink, NULL);
    once = 1;
  }
  const uint8_t *sep = memchr(data, 0x01, size);
  size_t text_len = sep ? (size_t)(sep - data) : size;
  char *env = NULL;
  if (sep) {
    size_t n = size - text_len - 1;
    env = malloc(n + 1);
    if (!env)
      return 0;
    memcpy(env, sep + 1, n);
    env[n] = '\0';
    g_env_value = env;
  }

  tern_config_t *cfg;
  if (tern_config_new(&cfg) == 0) {
    tern_config_set_env(cfg, fuzz_getenv, NULL);
    char err[512];
    tern_config_load_string(cfg, (const char *)data, text_len, "fuzz.ini", err, sizeof err);
    every_getter(cfg, "llm", "chain");
    every_getter(cfg, "llm", "first_byte_timeout_ms");
    every_getter(cfg, "llm.openai", "model");
    every_getter(cfg, "server", "workers");
    size_t n = tern_config_count(cfg);
    for (size_t k = 0; k < n && k < 8; k++) {
      tern_config_entry_t e;
      if (tern_config_entry(cfg, k, &e) == 0)
        every_getter(cfg, e.section, e.key);
    }
    for (size_t k = 0; k < tern_config_section_count(cfg); k++)
      tern_config_has_section(cfg, tern_config_section(cfg, k));
    size_t problems = 0, reported = 0;
    tern_config_validate(cfg, k_schema, null_problem, &reported, &problems);
    if (problems != reported)
      abort();
    tern_config_free(cfg);
  }

  /* The redactor and the logger on the same bytes. */
  char *text = malloc(text_len + 1);
  if (text) {
    memcpy(text, data, text_len);
    text[text_len] = '\0';
    char small[40], big[2048];
    size_t w = tern_redact(text, small, sizeof small);
    if (w >= sizeof small || strlen(small) != w)
      abort();
    w = tern_redact(text, big, sizeof big);
    if (w >= sizeof big || strlen(big) != w)
      abort();
    TERN_LOG(TERN_LOG_ERROR, "fuzz", TERN_LF_STR("text", text), TERN_LF_STR(text, "as key"));
    free(text);
  }
  tern_secret_clear(); /* values of secret keys were registered */
  free(env);
  g_env_value = NULL;
  return 0;
}
