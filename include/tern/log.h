/* JSON-lines logging with structured fields and secret redaction.
 *
 * Each record is one JSON object on one line:
 *   {"ts":1732240000123,"level":"warn","event":"breaker_opened","provider":"openai","failures":3}
 * Fields are typed. A field whose key looks like a secret (key, secret,
 * token, password, authorization, cookie...) is written as "[REDACTED]";
 * every string value is also scrubbed of anything that looks like a
 * credential (Bearer tokens, sk-... keys, api_key=... query parameters) and
 * of every value registered with tern_secret_register(). Thread-safe: a
 * record is formatted in full and written with one write() call.
 */
#ifndef TERN_LOG_H
#define TERN_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tern_log_level {
  TERN_LOG_DEBUG = 0,
  TERN_LOG_INFO,
  TERN_LOG_WARN,
  TERN_LOG_ERROR,
  TERN_LOG_OFF
} tern_log_level_t;

typedef enum tern_log_type {
  TERN_LOG_T_STR = 1,
  TERN_LOG_T_INT,
  TERN_LOG_T_DOUBLE,
  TERN_LOG_T_BOOL
} tern_log_type_t;

typedef struct tern_log_field {
  const char *key;
  tern_log_type_t type;
  union {
    const char *s;
    int64_t i;
    double d;
    bool b;
  } v;
} tern_log_field_t;

#define TERN_LF_STR(k, val) ((tern_log_field_t){.key = (k), .type = TERN_LOG_T_STR, .v.s = (val)})
#define TERN_LF_INT(k, val) ((tern_log_field_t){.key = (k), .type = TERN_LOG_T_INT, .v.i = (int64_t)(val)})
#define TERN_LF_DBL(k, val) ((tern_log_field_t){.key = (k), .type = TERN_LOG_T_DOUBLE, .v.d = (double)(val)})
#define TERN_LF_BOOL(k, val) ((tern_log_field_t){.key = (k), .type = TERN_LOG_T_BOOL, .v.b = (bool)(val)})

/* A sink receives one finished line (with its trailing '\n'). */
typedef void (*tern_log_sink_fn)(const char *line, size_t len, void *ud);

void tern_log_set_level(tern_log_level_t level);
tern_log_level_t tern_log_get_level(void);
/* Parse "debug", "info", "warn", "error", "off". Returns 0 or TERN_EINVAL. */
int tern_log_level_parse(const char *s, tern_log_level_t *out);
/* NULL restores the default sink (standard error). */
void tern_log_set_sink(tern_log_sink_fn fn, void *ud);

/* Records that lost their fields because memory ran out (each was still
 * written as a short line with "log_error"); for metrics and tests. */
unsigned long tern_log_degraded(void);

/* Write one record. `event` is a short snake_case name. The sink is called
 * under a lock (lines never interleave); a sink must not log. */
void tern_log_fields(tern_log_level_t level, const char *event, const tern_log_field_t *fields,
                     size_t nfields);

/* TERN_LOG(TERN_LOG_WARN, "retrying", TERN_LF_STR("provider", p), TERN_LF_INT("attempt", 2)); */
#define TERN_LOG(level, event, ...)                                                       \
  do {                                                                                    \
    if ((level) >= tern_log_get_level()) {                                                \
      const tern_log_field_t tern__lf[] = {{0}, __VA_ARGS__};                             \
      tern_log_fields((level), (event), tern__lf + 1,                                     \
                      sizeof tern__lf / sizeof tern__lf[0] - 1);                          \
    }                                                                                     \
  } while (0)

/* Register a secret value (an API key read from the environment or a
 * config file): it will never appear in a log line, an event or an error
 * message produced through tern_redact(). The registry keeps its own copy.
 * Values shorter than 6 bytes are refused with TERN_EINVAL (too likely to
 * match ordinary words); TERN_ENOMEM if the copy cannot be made.
 * Thread-safe. */
int tern_secret_register(const char *value);
/* Forget every registered secret (tests). */
void tern_secret_clear(void);

/* True when a field or header name looks like it carries a secret
 * (api_key, apiKey, access_token, Authorization, xi-api-key...). Plural
 * counts (max_tokens) and names qualified as a description of the secret
 * (token_count, api_key_env, auth_mode) are not secret. */
bool tern_key_is_secret(const char *key);

/* Copy `in` to `out` (capacity outsz, always NUL-terminated, truncated if
 * needed) with every credential-looking run and every registered secret
 * replaced by "[REDACTED]". Returns the length written. */
size_t tern_redact(const char *in, char *out, size_t outsz);

#ifdef __cplusplus
}
#endif
#endif
