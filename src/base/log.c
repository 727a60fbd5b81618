/* JSON-lines logger and secret redaction.
 *
 * A record is built as a jansson object, dumped into one buffer with its
 * trailing newline and handed to the sink under a mutex, so lines from
 * different threads never interleave and a sink need not be thread-safe
 * itself (a sink must not log). Every string value passes through the same
 * redactor as tern_redact(), and fields whose key looks secret are never
 * written at all. Logging never fails its caller: when memory runs out the
 * record degrades to a fixed line built without allocation, and the loss is
 * counted (tern_log_degraded()).
 *
 * The redactor is a single left-to-right scan with no allocation; at each
 * position it tries, in order, registered secrets (longest first), known key
 * prefixes (sk-, gsk_, JWTs...), HTTP auth schemes, quoted "secret_key":
 * "value" pairs and name=value / Header: value pairs. Output is written
 * through a bounded writer that keeps counting past the end, so callers can
 * size a buffer exactly and truncation can never overflow.
 */
#include "tern/log.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "tern/alloc.h"
#include "tern/clock.h"
#include "tern/error.h"

#define REDACTED "[REDACTED]"
#define REDACTED_LEN (sizeof REDACTED - 1)
#define SECRET_MIN_LEN 6

static atomic_int g_level = TERN_LOG_INFO;
static atomic_ulong g_degraded;

static pthread_mutex_t g_sink_mu = PTHREAD_MUTEX_INITIALIZER;
static tern_log_sink_fn g_sink;
static void *g_sink_ud;

typedef struct secret {
  char *s;
  size_t n;
} secret_t;

static pthread_mutex_t g_sec_mu = PTHREAD_MUTEX_INITIALIZER;
static secret_t *g_secrets; /* sorted by length, longest first */
static size_t g_nsecrets, g_capsecrets;

static const char *const k_level_names[] = {"debug", "info", "warn", "error", "off"};

/* ---- levels and sinks ---------------------------------------------------- */

void tern_log_set_level(tern_log_level_t level) {
  if ((int)level >= TERN_LOG_DEBUG && level <= TERN_LOG_OFF)
    atomic_store(&g_level, (int)level);
}

tern_log_level_t tern_log_get_level(void) {
  return (tern_log_level_t)atomic_load_explicit(&g_level, memory_order_relaxed);
}

int tern_log_level_parse(const char *s, tern_log_level_t *out) {
  if (!s || !out)
    return TERN_EINVAL;
  for (int i = TERN_LOG_DEBUG; i <= TERN_LOG_OFF; i++) {
    if (strcasecmp(s, k_level_names[i]) == 0) {
      *out = (tern_log_level_t)i;
      return 0;
    }
  }
  if (strcasecmp(s, "warning") == 0) {
    *out = TERN_LOG_WARN;
    return 0;
  }
  return TERN_EINVAL;
}

void tern_log_set_sink(tern_log_sink_fn fn, void *ud) {
  pthread_mutex_lock(&g_sink_mu);
  g_sink = fn;
  g_sink_ud = fn ? ud : NULL;
  pthread_mutex_unlock(&g_sink_mu);
}

unsigned long tern_log_degraded(void) { return atomic_load(&g_degraded); }

static void stderr_sink(const char *line, size_t len) {
  /* One write() normally; the loop only covers signals and short writes. */
  while (len > 0) {
    ssize_t w = write(STDERR_FILENO, line, len);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return;
    }
    line += w;
    len -= (size_t)w;
  }
}

static void emit(const char *line, size_t len) {
  pthread_mutex_lock(&g_sink_mu);
  if (g_sink)
    g_sink(line, len, g_sink_ud);
  else
    stderr_sink(line, len);
  pthread_mutex_unlock(&g_sink_mu);
}

/* ---- secret keys --------------------------------------------------------- */

static bool word_eq(const char *w, size_t n, const char *lit) {
  size_t m = strlen(lit);
  if (n != m)
    return false;
  for (size_t i = 0; i < n; i++)
    if (tolower((unsigned char)w[i]) != lit[i])
      return false;
  return true;
}

static bool word_ends(const char *w, size_t n, const char *lit) {
  size_t m = strlen(lit);
  return n > m && word_eq(w + n - m, m, lit);
}

static bool component_is_secret(const char *w, size_t n) {
  static const char *const exact[] = {"key",         "apikey",    "secret",     "token",
                                      "password",    "passwd",    "passphrase", "authorization",
                                      "auth",        "cookie",    "cookies",    "credential",
                                      "credentials", "signature", "privatekey", NULL};
  static const char *const suffix[] = {"token", "secret", "password", "apikey", NULL};
  for (int i = 0; exact[i]; i++)
    if (word_eq(w, n, exact[i]))
      return true;
  for (int i = 0; suffix[i]; i++)
    if (word_ends(w, n, suffix[i]))
      return true;
  return false;
}

/* A component after a secret word that turns the key into a description of
 * the secret rather than the secret: token_count, api_key_env, auth_mode. */
static bool component_is_qualifier(const char *w, size_t n) {
  static const char *const q[] = {"count",   "counts",  "usage",    "limit",  "limits", "bucket",
                                  "budget",  "rate",    "total",    "len",    "length", "size",
                                  "env",     "file",    "path",     "header", "type",   "mode",
                                  "name",    "url",     "endpoint", "id",     "ttl",    "expiry",
                                  "expires", "timeout", "ms",       NULL};
  for (int i = 0; q[i]; i++)
    if (word_eq(w, n, q[i]))
      return true;
  return false;
}

bool tern_key_is_secret(const char *key) {
  if (!key)
    return false;
  /* Components are runs of letters and digits, also split where a lower-case
   * letter or digit meets an upper-case one (apiKey -> api, key). A key is
   * secret when some component is a secret word and no qualifier follows
   * it; plural counts ("max_tokens", "prompt_tokens") are not secret words. */
  bool pending = false;
  const char *p = key;
  while (*p) {
    while (*p && !isalnum((unsigned char)*p))
      p++;
    if (!*p)
      break;
    const char *start = p++;
    while (*p && isalnum((unsigned char)*p) &&
           !(isupper((unsigned char)*p) &&
             (islower((unsigned char)p[-1]) || isdigit((unsigned char)p[-1]))))
      p++;
    size_t n = (size_t)(p - start);
    if (component_is_secret(start, n))
      pending = true;
    else if (pending && component_is_qualifier(start, n))
      pending = false;
  }
  return pending;
}

/* ---- registered secrets -------------------------------------------------- */

int tern_secret_register(const char *value) {
  if (!value)
    return TERN_EINVAL;
  size_t n = strlen(value);
  if (n < SECRET_MIN_LEN)
    return TERN_EINVAL;
  int rc = 0;
  pthread_mutex_lock(&g_sec_mu);
  for (size_t i = 0; i < g_nsecrets; i++)
    if (g_secrets[i].n == n && memcmp(g_secrets[i].s, value, n) == 0)
      goto out;
  if (g_nsecrets == g_capsecrets) {
    size_t cap = g_capsecrets ? g_capsecrets * 2 : 8;
    secret_t *ns = tern_realloc(g_secrets, cap * sizeof *ns);
    if (!ns) {
      rc = TERN_ENOMEM;
      goto out;
    }
    g_secrets = ns;
    g_capsecrets = cap;
  }
  char *copy = tern_strndup(value, n);
  if (!copy) {
    rc = TERN_ENOMEM;
    goto out;
  }
  size_t at = 0;
  while (at < g_nsecrets && g_secrets[at].n >= n)
    at++;
  memmove(g_secrets + at + 1, g_secrets + at, (g_nsecrets - at) * sizeof *g_secrets);
  g_secrets[at] = (secret_t){copy, n};
  g_nsecrets++;
out:
  pthread_mutex_unlock(&g_sec_mu);
  return rc;
}

void tern_secret_clear(void) {
  pthread_mutex_lock(&g_sec_mu);
  for (size_t i = 0; i < g_nsecrets; i++)
    tern_free(g_secrets[i].s);
  tern_free(g_secrets);
  g_secrets = NULL;
  g_nsecrets = g_capsecrets = 0;
  pthread_mutex_unlock(&g_sec_mu);
}

/* ---- redaction ----------------------------------------------------------- */

typedef struct rbuf {
  char *out;
  size_t cap; /* bytes available, including the NUL */
  size_t len; /* bytes the full output needs, excluding the NUL */
} rbuf_t;

static void rb_put(rbuf_t *b, const char *s, size_t n) {
  if (b->cap > 0 && b->len < b->cap - 1) {
    size_t room = b->cap - 1 - b->len;
    memcpy(b->out + b->len, s, n < room ? n : room);
  }
  b->len += n;
}

static bool is_ident(unsigned char c) { return isalnum(c) || c == '_' || c == '-'; }

static bool ci_prefix(const char *s, size_t n, const char *lit) {
  size_t m = strlen(lit);
  if (n < m)
    return false;
  for (size_t i = 0; i < m; i++)
    if (tolower((unsigned char)s[i]) != lit[i])
      return false;
  return true;
}

static size_t match_registered(const char *in, size_t n, size_t i) {
  for (size_t k = 0; k < g_nsecrets; k++) {
    const secret_t *s = &g_secrets[k];
    if (s->n <= n - i && in[i] == s->s[0] && memcmp(in + i, s->s, s->n) == 0)
      return s->n;
  }
  return 0;
}

/* Copy in[from, to) as it is, but for registered secrets lying wholly
 * inside it: the name part of a "name: value" match is otherwise copied
 * verbatim, and a key glued to a name ("xzq9...Secret77e: v") would leak
 * through it. (A secret crossing `to` would have to contain the ':' or '='
 * that ends a name, which no API key does.) */
static void rb_put_scrubbed(rbuf_t *b, const char *in, size_t from, size_t to) {
  size_t i = from, run = from;
  while (i < to) {
    size_t adv = match_registered(in, to, i);
    if (!adv) {
      i++;
      continue;
    }
    rb_put(b, in + run, i - run);
    rb_put(b, REDACTED, REDACTED_LEN);
    i += adv;
    run = i;
  }
  rb_put(b, in + run, to - run);
}

/* API keys recognisable by their prefix alone. */
static size_t match_key_prefix(const char *in, size_t n, size_t i) {
  static const char *const prefixes[] = {"sk-", "sk_", "gsk_", "xai-", "AIza", NULL};
  for (int k = 0; prefixes[k]; k++) {
    size_t m = strlen(prefixes[k]);
    if (n - i < m || memcmp(in + i, prefixes[k], m) != 0)
      continue;
    size_t j = i + m;
    while (j < n && is_ident((unsigned char)in[j]))
      j++;
    if (j - i - m >= 12)
      return j - i;
  }
  /* A JSON Web Token: base64url header starting {" then dotted parts. */
  if (n - i >= 3 && memcmp(in + i, "eyJ", 3) == 0) {
    size_t j = i, dots = 0;
    while (j < n && (is_ident((unsigned char)in[j]) || in[j] == '.' || in[j] == '=')) {
      dots += in[j] == '.';
      j++;
    }
    if (dots >= 1 && j - i >= 20)
      return j - i;
  }
  return 0;
}

static bool cred_char(unsigned char c) {
  return c > ' ' && c != 0x7f && !strchr("\"'`,;<>()[]{}\\", c);
}

/* "Bearer x", "Basic x", "Token x" (Deepgram). Basic and Token are also
 * English words, so their credential must look like one: long enough and
 * with a digit, mixed case or base64 punctuation. */
static size_t match_scheme(const char *in, size_t n, size_t i, rbuf_t *b) {
  static const char *const schemes[] = {"bearer", "basic", "token", NULL};
  for (int k = 0; schemes[k]; k++) {
    size_t m = strlen(schemes[k]);
    if (!ci_prefix(in + i, n - i, schemes[k]))
      continue;
    size_t j = i + m;
    if (j >= n || (in[j] != ' ' && in[j] != '\t'))
      continue;
    while (j < n && (in[j] == ' ' || in[j] == '\t'))
      j++;
    size_t c0 = j;
    bool digit = false, upper = false, lower = false, punct = false;
    while (j < n && cred_char((unsigned char)in[j])) {
      unsigned char c = (unsigned char)in[j];
      digit |= isdigit(c) != 0;
      upper |= isupper(c) != 0;
      lower |= islower(c) != 0;
      punct |= c == '+' || c == '/' || c == '=';
      j++;
    }
    size_t clen = j - c0;
    if (clen == 0)
      continue;
    if (k > 0 && (clen < 8 || !(digit || (upper && lower) || punct)))
      continue;
    rb_put(b, in + i, c0 - i);
    rb_put(b, REDACTED, REDACTED_LEN);
    return j - i;
  }
  return 0;
}

/* Length of a quoted value's contents starting after the opening quote q;
 * `escaped` means the quotes were themselves backslash-escaped (JSON inside a
 * JSON string), so the value ends at \q. */
static size_t quoted_extent(const char *in, size_t n, size_t j, char q, bool escaped) {
  size_t s = j;
  while (j < n) {
    if (in[j] == '\\') {
      if (escaped && j + 1 < n && in[j + 1] == q)
        break;
      j += 2;
      continue;
    }
    if (in[j] == q && !escaped)
      break;
    j++;
  }
  return (j > n ? n : j) - s;
}

static size_t skip_blanks(const char *in, size_t n, size_t j) {
  while (j < n && (in[j] == ' ' || in[j] == '\t'))
    j++;
  return j;
}

static bool secret_name(const char *in, size_t len) {
  char name[128];
  if (len >= sizeof name)
    len = sizeof name - 1;
  memcpy(name, in, len);
  name[len] = '\0';
  return tern_key_is_secret(name);
}

/* "api_key": "value" (also 'single' quotes and \"escaped\" JSON). */
static size_t match_quoted_key(const char *in, size_t n, size_t i, rbuf_t *b) {
  char q = in[i];
  size_t j = i + 1, name0 = j;
  while (j < n && (is_ident((unsigned char)in[j]) || in[j] == '.'))
    j++;
  size_t name_len = j - name0;
  if (name_len == 0 || !secret_name(in + name0, name_len))
    return 0;
  bool escaped = false;
  if (j < n && in[j] == '\\') {
    escaped = true;
    j++;
  }
  if (j >= n || in[j] != q)
    return 0;
  j = skip_blanks(in, n, j + 1);
  if (j >= n || (in[j] != ':' && in[j] != '='))
    return 0;
  j = skip_blanks(in, n, j + 1);
  if (escaped) {
    if (j + 1 >= n || in[j] != '\\' || (in[j + 1] != '"' && in[j + 1] != '\''))
      return 0;
    j++;
  }
  if (j >= n || (in[j] != '"' && in[j] != '\''))
    return 0;
  char vq = in[j++];
  size_t vlen = quoted_extent(in, n, j, vq, escaped);
  rb_put_scrubbed(b, in, i, j);
  rb_put(b, REDACTED, REDACTED_LEN);
  return j + vlen - i;
}

static bool header_name(const char *in, size_t len) {
  static const char *const names[] = {"authorization",
                                      "proxy-authorization",
                                      "cookie",
                                      "set-cookie",
                                      "password",
                                      "passwd",
                                      "secret",
                                      "apikey",
                                      NULL};
  for (int k = 0; names[k]; k++)
    if (word_eq(in, len, names[k]))
      return true;
  /* Compound names (xi-api-key, x-api-key, OPENAI_API_KEY) are specific
   * enough; a bare "token:" or "auth:" is too often prose. */
  return (memchr(in, '-', len) || memchr(in, '_', len)) && secret_name(in, len);
}

/* name=value (query strings, env dumps) and Header: value. */
static size_t match_assign(const char *in, size_t n, size_t i, rbuf_t *b) {
  size_t j = i;
  while (j < n && is_ident((unsigned char)in[j]))
    j++;
  size_t name_len = j - i;
  j = skip_blanks(in, n, j);
  if (j >= n || (in[j] != '=' && in[j] != ':'))
    return 0;
  bool colon = in[j] == ':';
  if (colon ? !header_name(in + i, name_len) : !secret_name(in + i, name_len))
    return 0;
  if (colon && j + 2 < n && in[j + 1] == '/' && in[j + 2] == '/')
    return 0; /* a URL scheme, not a header */
  j = skip_blanks(in, n, j + 1);
  size_t v0 = j, vlen;
  if (j < n && (in[j] == '"' || in[j] == '\'')) {
    v0 = j + 1;
    vlen = quoted_extent(in, n, v0, in[j], false);
  } else if (colon) {
    while (j < n && in[j] != '\r' && in[j] != '\n' && in[j] != '"' && in[j] != '\'')
      j++;
    vlen = j - v0;
  } else {
    while (j < n && !isspace((unsigned char)in[j]) && !strchr("&#\"',;)]}<>", in[j]))
      j++;
    vlen = j - v0;
  }
  if (vlen == 0)
    return 0;
  rb_put_scrubbed(b, in, i, v0);
  rb_put(b, REDACTED, REDACTED_LEN);
  return v0 + vlen - i;
}

/* Caller holds g_sec_mu. */
static void redact_locked(const char *in, size_t n, rbuf_t *b) {
  size_t i = 0;
  while (i < n) {
    size_t adv = match_registered(in, n, i);
    if (adv) {
      rb_put(b, REDACTED, REDACTED_LEN);
      i += adv;
      continue;
    }
    unsigned char c = (unsigned char)in[i];
    bool boundary = i == 0 || !is_ident((unsigned char)in[i - 1]);
    if (boundary && (adv = match_key_prefix(in, n, i)) > 0) {
      rb_put(b, REDACTED, REDACTED_LEN);
      i += adv;
      continue;
    }
    if (boundary && isalpha(c) && (adv = match_scheme(in, n, i, b)) > 0) {
      i += adv;
      continue;
    }
    if ((c == '"' || c == '\'') && (adv = match_quoted_key(in, n, i, b)) > 0) {
      i += adv;
      continue;
    }
    if (boundary && is_ident(c) && (adv = match_assign(in, n, i, b)) > 0) {
      i += adv;
      continue;
    }
    rb_put(b, in + i, 1);
    i++;
  }
}

/* Redacts into out (capacity outsz) and returns the length the whole
 * redacted text needs, which may exceed what was written. */
static size_t redact_measure(const char *in, size_t n, char *out, size_t outsz) {
  rbuf_t b = {out, outsz, 0};
  pthread_mutex_lock(&g_sec_mu);
  redact_locked(in, n, &b);
  pthread_mutex_unlock(&g_sec_mu);
  if (outsz > 0)
    out[b.len < outsz ? b.len : outsz - 1] = '\0';
  return b.len;
}

size_t tern_redact(const char *in, char *out, size_t outsz) {
  if (!out || outsz == 0)
    return 0;
  if (!in) {
    out[0] = '\0';
    return 0;
  }
  size_t need = redact_measure(in, strlen(in), out, outsz);
  return need < outsz ? need : outsz - 1;
}

/* ---- records ------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s (n bytes left), 0 if none. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len;
  uint32_t cp, min;
  if (c < 0x80)
    return 1;
  if ((c & 0xe0) == 0xc0)
    len = 2, cp = c & 0x1f, min = 0x80;
  else if ((c & 0xf0) == 0xe0)
    len = 3, cp = c & 0x0f, min = 0x800;
  else if ((c & 0xf8) == 0xf0)
    len = 4, cp = c & 0x07, min = 0x10000;
  else
    return 0;
  if (len > n)
    return 0;
  for (size_t k = 1; k < len; k++) {
    if ((s[k] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[k] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

/* Replace every byte that is not part of a well-formed UTF-8 sequence with
 * '?', so jansson accepts the string (provider bodies can be anything). */
static void utf8_fix(char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    size_t k = utf8_seq((const unsigned char *)s + i, n - i);
    if (k == 0)
      s[i++] = '?';
    else
      i += k;
  }
}

static bool utf8_valid(const char *s) {
  size_t n = strlen(s);
  for (size_t i = 0; i < n;) {
    size_t k = utf8_seq((const unsigned char *)s + i, n - i);
    if (k == 0)
      return false;
    i += k;
  }
  return true;
}

/* A redacted, UTF-8-clean jansson string; NULL on out of memory. */
static json_t *safe_string(const char *s) {
  if (!s)
    return json_null();
  char stack[512];
  size_t n = strlen(s);
  size_t need = redact_measure(s, n, stack, sizeof stack);
  char *buf = stack;
  if (need >= sizeof stack) {
    buf = tern_malloc(need + 1);
    if (!buf)
      return NULL;
    need = redact_measure(s, n, buf, need + 1); /* a secret may have been added since */
  }
  utf8_fix(buf, need);
  json_t *j = json_stringn_nocheck(buf, need);
  if (buf != stack)
    tern_free(buf);
  return j;
}

static bool reserved_key(const char *k) {
  return strcmp(k, "ts") == 0 || strcmp(k, "level") == 0 || strcmp(k, "event") == 0;
}

static bool plain_event(const char *e) {
  if (!e || !*e || strlen(e) > 64)
    return false;
  for (; *e; e++)
    if (!(isalnum((unsigned char)*e) || *e == '_' || *e == '.' || *e == '-'))
      return false;
  return true;
}

/* The record we can still write when memory is gone: no allocation. */
static void emit_degraded(int64_t ts, tern_log_level_t level, const char *event) {
  char line[256];
  int n = snprintf(line, sizeof line,
                   "{\"ts\":%" PRId64 ",\"level\":\"%s\",\"event\":\"%s\",\"log_error\":"
                   "\"out of memory: fields dropped\"}\n",
                   ts, k_level_names[level], plain_event(event) ? event : "log_failed");
  if (n > 0 && (size_t)n < sizeof line)
    emit(line, (size_t)n);
}

static json_t *field_value(const tern_log_field_t *f) {
  if (tern_key_is_secret(f->key))
    return json_string(REDACTED);
  switch (f->type) {
  case TERN_LOG_T_STR:
    return safe_string(f->v.s);
  case TERN_LOG_T_INT:
    return json_integer((json_int_t)f->v.i);
  case TERN_LOG_T_DOUBLE:
    /* JSON has no NaN or infinity. */
    return isfinite(f->v.d) ? json_real(f->v.d) : json_null();
  case TERN_LOG_T_BOOL:
    return json_boolean(f->v.b);
  }
  return json_null();
}

void tern_log_fields(tern_log_level_t level, const char *event, const tern_log_field_t *fields,
                     size_t nfields) {
  if ((int)level < TERN_LOG_DEBUG || level >= TERN_LOG_OFF || level < tern_log_get_level())
    return;
  int64_t ts = tern_wall_ms();
  bool ok = true;
  char stack[1024];
  char *line = NULL;
  size_t len = 0;
  json_t *o = json_object();
  if (!o)
    goto fail;
  ok &= json_object_set_new(o, "ts", json_integer(ts)) == 0;
  ok &= json_object_set_new(o, "level", json_string(k_level_names[level])) == 0;
  ok &= json_object_set_new(o, "event", safe_string(event ? event : "")) == 0;
  for (size_t i = 0; ok && fields && i < nfields; i++) {
    const tern_log_field_t *f = &fields[i];
    if (!f->key || reserved_key(f->key))
      continue;
    json_t *v = field_value(f);
    if (!v) {
      ok = false;
      break;
    }
    /* Keys come from code; one that is not valid UTF-8 is skipped rather
     * than losing the record. */
    if (!utf8_valid(f->key)) {
      json_decref(v);
      continue;
    }
    ok &= json_object_set_new(o, f->key, v) == 0;
  }
  if (!ok)
    goto fail;
  len = json_dumpb(o, NULL, 0, JSON_COMPACT);
  if (len == 0)
    goto fail;
  line = len + 1 <= sizeof stack ? stack : tern_malloc(len + 1);
  if (!line || json_dumpb(o, line, len, JSON_COMPACT) != len)
    goto fail;
  line[len] = '\n';
  emit(line, len + 1);
  if (line != stack)
    tern_free(line);
  json_decref(o);
  return;
fail:
  atomic_fetch_add(&g_degraded, 1);
  if (line && line != stack)
    tern_free(line);
  json_decref(o);
  emit_degraded(ts, level, event);
}
