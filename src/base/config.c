/* Configuration: INI text merged into a store, overridden by the environment.
 *
 * Invariants: section and key names in the store are lower-case and unique
 * per (section, key); a load parses into a staging store first and merges
 * only after the whole text parsed and every allocation the merge needs was
 * made, so a failed load leaves the config exactly as it was. Environment
 * values are looked up on every read (the lookup is injectable) and copied
 * into a mutex-guarded cache owned by the config, which is what lets the
 * getters take a const config, hand out pointers that live as long as it,
 * and run from several threads at once.
 */
#include "tern/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/log.h"

typedef struct entry {
  char *section, *key, *value, *origin; /* one allocation, strings follow */
} entry_t;

typedef struct section {
  char *name, *origin;
} section_t;

typedef struct store {
  entry_t **e;
  size_t n, cap;
  section_t **s;
  size_t ns, caps;
} store_t;

typedef struct env_val {
  struct env_val *next;
  char *name, *value;
} env_val_t;

struct tern_config {
  store_t st;
  tern_config_getenv_fn env;
  void *env_ud;
  pthread_mutex_t mu; /* guards env_cache */
  env_val_t *env_cache;
};

/* ---- small helpers ------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errsz, const char *fmt,
                                                          ...) {
  if (!err || errsz == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errsz, fmt, ap);
  va_end(ap);
}

static const char *default_getenv(const char *name, void *ud) {
  (void)ud;
  return getenv(name);
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

static bool name_char(char c, bool section) {
  return isalnum((unsigned char)c) || c == '_' || c == '-' || (section && c == '.');
}

static void lower(char *s) {
  for (; *s; s++)
    *s = (char)tolower((unsigned char)*s);
}

/* A value as it may appear in a message: redacted, shortened. */
static void show_value(const char *key, const char *value, char *out, size_t outsz) {
  if (tern_key_is_secret(key)) {
    snprintf(out, outsz, "[REDACTED]");
    return;
  }
  char tmp[128];
  size_t n = tern_redact(value, tmp, sizeof tmp);
  if (n >= 80)
    snprintf(out, outsz, "%.77s...", tmp);
  else
    snprintf(out, outsz, "%s", tmp);
}

/* ---- store --------------------------------------------------------------- */

static entry_t *entry_new(const char *section, const char *key, const char *value,
                          const char *origin) {
  size_t ls = strlen(section) + 1, lk = strlen(key) + 1, lv = strlen(value) + 1,
         lo = strlen(origin) + 1;
  entry_t *e = tern_malloc(sizeof *e + ls + lk + lv + lo);
  if (!e)
    return NULL;
  char *p = (char *)(e + 1);
  e->section = memcpy(p, section, ls);
  e->key = memcpy(p += ls, key, lk);
  e->value = memcpy(p += lk, value, lv);
  e->origin = memcpy(p += lv, origin, lo);
  return e;
}

static section_t *section_new(const char *name, const char *origin) {
  size_t ln = strlen(name) + 1, lo = strlen(origin) + 1;
  section_t *s = tern_malloc(sizeof *s + ln + lo);
  if (!s)
    return NULL;
  s->name = memcpy((char *)(s + 1), name, ln);
  s->origin = memcpy(s->name + ln, origin, lo);
  return s;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return 0;
  size_t nc = *cap ? *cap : 8;
  while (nc < need)
    nc *= 2;
  void *na = tern_realloc(*arr, nc * elem);
  if (!na)
    return TERN_ENOMEM;
  *arr = na;
  *cap = nc;
  return 0;
}

static void store_free(store_t *st) {
  for (size_t i = 0; i < st->n; i++)
    tern_free(st->e[i]);
  for (size_t i = 0; i < st->ns; i++)
    tern_free(st->s[i]);
  tern_free(st->e);
  tern_free(st->s);
  memset(st, 0, sizeof *st);
}

static long find_entry(const store_t *st, const char *section, const char *key) {
  for (size_t i = 0; i < st->n; i++)
    if (strcasecmp(st->e[i]->section, section) == 0 && strcasecmp(st->e[i]->key, key) == 0)
      return (long)i;
  return -1;
}

static long find_section(const store_t *st, const char *name) {
  for (size_t i = 0; i < st->ns; i++)
    if (strcasecmp(st->s[i]->name, name) == 0)
      return (long)i;
  return -1;
}

/* Moves src into dst; cannot fail once the capacity was reserved. */
static int store_merge(store_t *dst, store_t *src) {
  if (grow((void **)&dst->e, &dst->cap, dst->n + src->n, sizeof *dst->e) ||
      grow((void **)&dst->s, &dst->caps, dst->ns + src->ns, sizeof *dst->s))
    return TERN_ENOMEM;
  for (size_t i = 0; i < src->n; i++) {
    entry_t *e = src->e[i];
    long at = find_entry(dst, e->section, e->key);
    if (at >= 0) {
      tern_free(dst->e[at]);
      dst->e[at] = e;
    } else {
      dst->e[dst->n++] = e;
    }
  }
  for (size_t i = 0; i < src->ns; i++) {
    if (find_section(dst, src->s[i]->name) >= 0)
      tern_free(src->s[i]);
    else
      dst->s[dst->ns++] = src->s[i];
  }
  src->n = src->ns = 0;
  store_free(src);
  return 0;
}

/* ---- lifecycle ----------------------------------------------------------- */

int tern_config_new(tern_config_t **out) {
  if (!out)
    return TERN_EINVAL;
  *out = NULL;
  tern_config_t *cfg = tern_calloc(1, sizeof *cfg);
  if (!cfg)
    return TERN_ENOMEM;
  if (pthread_mutex_init(&cfg->mu, NULL) != 0) {
    tern_free(cfg);
    return TERN_ENOMEM;
  }
  cfg->env = default_getenv;
  *out = cfg;
  return 0;
}

void tern_config_free(tern_config_t *cfg) {
  if (!cfg)
    return;
  store_free(&cfg->st);
  for (env_val_t *v = cfg->env_cache, *next; v; v = next) {
    next = v->next;
    tern_free(v);
  }
  pthread_mutex_destroy(&cfg->mu);
  tern_free(cfg);
}

void tern_config_set_env(tern_config_t *cfg, tern_config_getenv_fn fn, void *ud) {
  if (!cfg)
    return;
  cfg->env = fn ? fn : default_getenv;
  cfg->env_ud = fn ? ud : NULL;
}

/* ---- parsing ------------------------------------------------------------- */

typedef struct parser {
  store_t st;
  const char *name;
  int line;
  char section[TERN_CONFIG_MAX_LINE + 1];
  char buf[TERN_CONFIG_MAX_LINE + 1];   /* the current line */
  char value[TERN_CONFIG_MAX_LINE + 1]; /* unescaped value */
  char origin[512];
  char *err;
  size_t errsz;
} parser_t;

__attribute__((format(printf, 2, 3))) static int perr(parser_t *p, const char *fmt, ...) {
  if (p->err && p->errsz) {
    int n = snprintf(p->err, p->errsz, "%s:%d: ", p->name, p->line);
    if (n >= 0 && (size_t)n < p->errsz) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(p->err + n, p->errsz - (size_t)n, fmt, ap);
      va_end(ap);
    }
  }
  return TERN_ECONFIG;
}

/* The offending line for a message: redacted, shortened, and if it starts
 * with a secret-looking word, only that word. */
static void show_line(const char *line, char *out, size_t outsz) {
  char word[64];
  size_t w = 0;
  while (line[w] && name_char(line[w], true) && w < sizeof word - 1) {
    word[w] = line[w];
    w++;
  }
  word[w] = '\0';
  if (w > 0 && line[w] && tern_key_is_secret(word)) {
    snprintf(out, outsz, "%s [REDACTED]", word);
    return;
  }
  char tmp[96];
  size_t n = tern_redact(line, tmp, sizeof tmp);
  if (n >= 60)
    snprintf(out, outsz, "%.57s...", tmp);
  else
    snprintf(out, outsz, "%s", tmp);
}

static char *trim(char *s) {
  while (is_blank(*s))
    s++;
  char *e = s + strlen(s);
  while (e > s && is_blank(e[-1]))
    *--e = '\0';
  return s;
}

static bool valid_section(const char *s) {
  if (!*s || *s == '.' || s[strlen(s) - 1] == '.' || strstr(s, ".."))
    return false;
  for (; *s; s++)
    if (!name_char(*s, true))
      return false;
  return true;
}

static bool valid_key(const char *s) {
  if (!*s)
    return false;
  for (; *s; s++)
    if (!name_char(*s, false))
      return false;
  return true;
}

static void set_origin(parser_t *p) {
  snprintf(p->origin, sizeof p->origin, "%s:%d", p->name, p->line);
}

static int parse_section(parser_t *p, char *s) {
  char shown[128];
  char *close = strchr(s, ']');
  if (!close) {
    show_line(p->buf, shown, sizeof shown);
    return perr(p, "expected ']' to close the section name, got '%s'", shown);
  }
  *close = '\0';
  char *rest = close + 1;
  while (is_blank(*rest))
    rest++;
  if (*rest && *rest != '#' && *rest != ';') {
    show_line(rest, shown, sizeof shown);
    return perr(p, "unexpected text after ']': '%s'", shown);
  }
  char *name = trim(s + 1);
  if (!valid_section(name)) {
    show_line(name, shown, sizeof shown);
    return perr(p,
                "invalid section name '[%s]' (use letters, digits, '_', '-', and '.' "
                "between parts)",
                shown);
  }
  lower(name);
  snprintf(p->section, sizeof p->section, "%s", name);
  if (find_section(&p->st, name) >= 0)
    return 0;
  if (grow((void **)&p->st.s, &p->st.caps, p->st.ns + 1, sizeof *p->st.s))
    return TERN_ENOMEM;
  set_origin(p);
  section_t *sec = section_new(name, p->origin);
  if (!sec)
    return TERN_ENOMEM;
  p->st.s[p->st.ns++] = sec;
  return 0;
}

/* Unescapes a quoted value starting after its opening quote into p->value. */
static int parse_quoted(parser_t *p, const char *s) {
  size_t o = 0;
  for (;;) {
    char c = *s++;
    if (c == '\0')
      return perr(p, "unterminated quoted value (missing closing '\"')");
    if (c == '"')
      break;
    if (c == '\\') {
      char e = *s++;
      switch (e) {
      case '"':
      case '\\':
        c = e;
        break;
      case 'n':
        c = '\n';
        break;
      case 't':
        c = '\t';
        break;
      case 'r':
        c = '\r';
        break;
      case '\0':
        return perr(p, "unterminated quoted value (missing closing '\"')");
      default:
        return perr(p, "unknown escape '\\%c' in quoted value (use \\\" \\\\ \\n \\t \\r)",
                    isprint((unsigned char)e) ? e : '?');
      }
    }
    p->value[o++] = c;
  }
  p->value[o] = '\0';
  while (is_blank(*s))
    s++;
  if (*s && *s != '#' && *s != ';') {
    char shown[128];
    show_line(s, shown, sizeof shown);
    return perr(p, "unexpected text after the closing quote: '%s'", shown);
  }
  return 0;
}

static int parse_pair(parser_t *p, char *s) {
  char shown[128];
  char *eq = strchr(s, '=');
  if (!eq) {
    show_line(s, shown, sizeof shown);
    return perr(p, "expected 'key = value', got '%s'", shown);
  }
  *eq = '\0';
  char *key = trim(s);
  if (!*key)
    return perr(p, "missing key before '='");
  if (!valid_key(key)) {
    show_line(key, shown, sizeof shown);
    return perr(p, "invalid key name '%s' (use letters, digits, '_' and '-')", shown);
  }
  lower(key);
  if (!p->section[0])
    return perr(p, "key '%s' appears before any [section]", key);
  char *v = eq + 1;
  while (is_blank(*v))
    v++;
  if (*v == '"') {
    int rc = parse_quoted(p, v + 1);
    if (rc)
      return rc;
  } else {
    /* An inline comment needs whitespace before '#': "a#b" stays a value. */
    for (char *c = v; *c; c++) {
      if (*c == '#' && (c == v || is_blank(c[-1]))) {
        *c = '\0';
        break;
      }
    }
    snprintf(p->value, sizeof p->value, "%s", trim(v));
  }
  set_origin(p);
  entry_t *e = entry_new(p->section, key, p->value, p->origin);
  if (!e)
    return TERN_ENOMEM;
  long at = find_entry(&p->st, p->section, key);
  if (at >= 0) {
    TERN_LOG(TERN_LOG_WARN, "config_duplicate_key", TERN_LF_STR("section", p->section),
             TERN_LF_STR("name", key), TERN_LF_STR("first", p->st.e[at]->origin),
             TERN_LF_STR("used", p->origin));
    tern_free(p->st.e[at]);
    p->st.e[at] = e;
    return 0;
  }
  if (grow((void **)&p->st.e, &p->st.cap, p->st.n + 1, sizeof *p->st.e)) {
    tern_free(e);
    return TERN_ENOMEM;
  }
  p->st.e[p->st.n++] = e;
  return 0;
}

static int parse_line(parser_t *p) {
  char *s = p->buf;
  while (is_blank(*s))
    s++;
  if (!*s || *s == '#' || *s == ';')
    return 0;
  if (*s == '[')
    return parse_section(p, s);
  return parse_pair(p, s);
}

static int parse_text(parser_t *p, const char *text, size_t len) {
  const char *q = text, *end = text + len;
  if (len >= 3 && memcmp(q, "\xEF\xBB\xBF", 3) == 0)
    q += 3; /* UTF-8 byte order mark from Windows editors */
  while (q < end) {
    p->line++;
    const char *nl = memchr(q, '\n', (size_t)(end - q));
    size_t ll = (size_t)((nl ? nl : end) - q);
    if (ll > 0 && q[ll - 1] == '\r')
      ll--;
    if (ll > TERN_CONFIG_MAX_LINE)
      return perr(p, "line is longer than %d bytes", TERN_CONFIG_MAX_LINE);
    if (memchr(q, '\0', ll))
      return perr(p, "NUL byte in line");
    memcpy(p->buf, q, ll);
    p->buf[ll] = '\0';
    int rc = parse_line(p);
    if (rc)
      return rc;
    q = nl ? nl + 1 : end;
  }
  return 0;
}

int tern_config_load_string(tern_config_t *cfg, const char *text, size_t len, const char *name,
                            char *err, size_t errsz) {
  if (!cfg || (!text && len))
    return TERN_EINVAL;
  if (!name)
    name = "<string>";
  if (len > TERN_CONFIG_MAX_FILE) {
    set_err(err, errsz, "%s: %zu bytes is larger than the %d-byte limit for a config file", name,
            len, TERN_CONFIG_MAX_FILE);
    return TERN_ETOOBIG;
  }
  parser_t *p = tern_calloc(1, sizeof *p);
  if (!p)
    return TERN_ENOMEM;
  p->name = name;
  p->err = err;
  p->errsz = errsz;
  int rc = text ? parse_text(p, text, len) : 0;
  /* Register secrets before merging: a value must never be readable
   * through the config without also being known to the redactor. */
  for (size_t i = 0; rc == 0 && i < p->st.n; i++)
    if (tern_key_is_secret(p->st.e[i]->key) &&
        tern_secret_register(p->st.e[i]->value) == TERN_ENOMEM)
      rc = TERN_ENOMEM;
  if (rc == 0)
    rc = store_merge(&cfg->st, &p->st);
  if (rc == TERN_ENOMEM)
    set_err(err, errsz, "%s: out of memory", name);
  store_free(&p->st);
  tern_free(p);
  return rc;
}

int tern_config_load_file(tern_config_t *cfg, const char *path, char *err, size_t errsz) {
  if (!cfg || !path)
    return TERN_EINVAL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    set_err(err, errsz, "%s: cannot open: %s", path, strerror(e));
    return e == ENOENT ? TERN_ENOENT : TERN_EIO;
  }
  /* Read one byte past the limit so an oversized file is told apart from
   * one exactly at it. */
  size_t cap = 4096, n = 0;
  char *buf = tern_malloc(cap);
  int rc = buf ? 0 : TERN_ENOMEM;
  while (rc == 0) {
    if (n == cap) {
      char *nb = tern_realloc(buf, cap * 2);
      if (!nb) {
        rc = TERN_ENOMEM;
        break;
      }
      buf = nb;
      cap *= 2;
    }
    size_t want = cap - n;
    if (want > (size_t)TERN_CONFIG_MAX_FILE + 1 - n)
      want = (size_t)TERN_CONFIG_MAX_FILE + 1 - n;
    size_t r = fread(buf + n, 1, want, f);
    n += r;
    if (n > TERN_CONFIG_MAX_FILE) {
      set_err(err, errsz, "%s: larger than the %d-byte limit for a config file", path,
              TERN_CONFIG_MAX_FILE);
      rc = TERN_ETOOBIG;
    } else if (r == 0) {
      if (ferror(f)) {
        set_err(err, errsz, "%s: read error: %s", path, strerror(errno));
        rc = TERN_EIO;
      }
      break;
    }
  }
  if (rc == TERN_ENOMEM)
    set_err(err, errsz, "%s: out of memory", path);
  fclose(f);
  if (rc == 0)
    rc = tern_config_load_string(cfg, buf, n, path, err, errsz);
  tern_free(buf);
  return rc;
}

/* ---- lookup -------------------------------------------------------------- */

size_t tern_config_env_name(const char *section, const char *key, char *out, size_t outsz) {
  size_t n = 0;
  const char *parts[3] = {"TERN_", section ? section : "", key ? key : ""};
  for (int k = 0; k < 3; k++) {
    for (const char *s = parts[k]; *s; s++) {
      char c = (*s == '.' || *s == '-') ? '_' : (char)toupper((unsigned char)*s);
      if (out && n + 1 < outsz)
        out[n] = c;
      n++;
    }
    if (k == 1) {
      if (out && n + 1 < outsz)
        out[n] = '_';
      n++;
    }
  }
  if (out && outsz)
    out[n < outsz ? n : outsz - 1] = '\0';
  return n;
}

/* The environment's value for section/key, copied into the config. */
static int env_get(const tern_config_t *ccfg, const char *section, const char *key,
                   const char **value, const char **origin) {
  tern_config_t *cfg = (tern_config_t *)ccfg; /* the cache is interior state */
  char stack[256];
  size_t need = tern_config_env_name(section, key, NULL, 0);
  char *name = need < sizeof stack ? stack : tern_malloc(need + 1);
  if (!name)
    return TERN_ENOMEM;
  tern_config_env_name(section, key, name, need + 1);
  int rc = TERN_ENOENT;
  pthread_mutex_lock(&cfg->mu);
  const char *v = cfg->env(name, cfg->env_ud);
  if (v) {
    env_val_t *hit = NULL;
    for (env_val_t *c = cfg->env_cache; c && !hit; c = c->next)
      if (strcmp(c->name, name) == 0 && strcmp(c->value, v) == 0)
        hit = c;
    if (!hit) {
      size_t ln = strlen(name) + 1, lv = strlen(v) + 1;
      hit = tern_malloc(sizeof *hit + ln + lv);
      if (hit) {
        hit->name = memcpy((char *)(hit + 1), name, ln);
        hit->value = memcpy(hit->name + ln, v, lv);
        hit->next = cfg->env_cache;
        cfg->env_cache = hit;
      }
    }
    if (!hit) {
      rc = TERN_ENOMEM;
    } else if (tern_key_is_secret(key) && tern_secret_register(hit->value) == TERN_ENOMEM) {
      rc = TERN_ENOMEM;
    } else {
      *value = hit->value;
      if (origin)
        *origin = hit->name;
      rc = 0;
    }
  }
  pthread_mutex_unlock(&cfg->mu);
  if (name != stack)
    tern_free(name);
  return rc;
}

int tern_config_lookup(const tern_config_t *cfg, const char *section, const char *key,
                       const char **value, const char **origin) {
  if (!cfg || !section || !key || !value)
    return TERN_EINVAL;
  int rc = env_get(cfg, section, key, value, origin);
  if (rc != TERN_ENOENT)
    return rc;
  long at = find_entry(&cfg->st, section, key);
  if (at < 0)
    return TERN_ENOENT;
  *value = cfg->st.e[at]->value;
  if (origin)
    *origin = cfg->st.e[at]->origin;
  return 0;
}

/* ---- value checks (shared by getters and validation) --------------------- */

static int bad_value(char *err, size_t errsz, const char *section, const char *key,
                     const char *value, const char *origin, const char *expected) {
  char shown[128];
  show_value(key, value, shown, sizeof shown);
  set_err(err, errsz, "[%s] %s = \"%s\" (from %s): expected %s", section, key, shown, origin,
          expected);
  return TERN_ECONFIG;
}

static bool bounded(double min, double max) { return !(min == 0 && max == 0); }

static bool parse_int(const char *v, int64_t *out) {
  if (!*v || isspace((unsigned char)*v))
    return false;
  errno = 0;
  char *end;
  long long x = strtoll(v, &end, 10);
  if (errno || *end)
    return false;
  *out = x;
  return true;
}

static bool parse_double(const char *v, double *out) {
  if (!*v || strspn(v, "0123456789+-.eE") != strlen(v))
    return false; /* no hex, nan or inf */
  errno = 0;
  char *end;
  double x = strtod(v, &end);
  if (errno || *end || !isfinite(x))
    return false;
  *out = x;
  return true;
}

static bool parse_bool(const char *v, bool *out) {
  static const char *const t[] = {"true", "yes", "on", "1"}, *const f[] = {"false", "no", "off",
                                                                           "0"};
  for (int i = 0; i < 4; i++) {
    if (strcasecmp(v, t[i]) == 0)
      return *out = true, true;
    if (strcasecmp(v, f[i]) == 0)
      return *out = false, true;
  }
  return false;
}

static bool parse_duration(const char *v, int64_t *out_ms) {
  const char *p = v;
  double x = 0, scale = 1;
  bool digits = false;
  while (isdigit((unsigned char)*p)) {
    x = x * 10 + (*p++ - '0');
    digits = true;
  }
  if (*p == '.') {
    p++;
    while (isdigit((unsigned char)*p)) {
      scale /= 10;
      x += (*p++ - '0') * scale;
      digits = true;
    }
  }
  if (!digits)
    return false;
  while (is_blank(*p))
    p++;
  double mult;
  if (!*p || strcasecmp(p, "ms") == 0)
    mult = 1;
  else if (strcasecmp(p, "s") == 0)
    mult = 1000;
  else if (strcasecmp(p, "m") == 0 || strcasecmp(p, "min") == 0)
    mult = 60000;
  else if (strcasecmp(p, "h") == 0)
    mult = 3600000;
  else
    return false;
  double ms = x * mult + 0.5;
  if (!isfinite(ms) || ms >= 9.0e18)
    return false;
  *out_ms = (int64_t)ms;
  return true;
}

static void fmt_ms(int64_t ms, char *out, size_t outsz) {
  if (ms != 0 && ms % 1000 == 0)
    snprintf(out, outsz, "%" PRId64 "s", ms / 1000);
  else
    snprintf(out, outsz, "%" PRId64 "ms", ms);
}

static void expect_int(int64_t min, int64_t max, char *out, size_t outsz) {
  if (bounded((double)min, (double)max))
    snprintf(out, outsz, "an integer, between %" PRId64 " and %" PRId64, min, max);
  else
    snprintf(out, outsz, "an integer");
}

static void expect_double(double min, double max, char *out, size_t outsz) {
  if (bounded(min, max))
    snprintf(out, outsz, "a number, between %g and %g", min, max);
  else
    snprintf(out, outsz, "a number");
}

static void expect_duration(int64_t min, int64_t max, char *out, size_t outsz) {
  if (bounded((double)min, (double)max)) {
    char a[32], b[32];
    fmt_ms(min, a, sizeof a);
    fmt_ms(max, b, sizeof b);
    snprintf(out, outsz, "a duration such as 3000 or 3s, between %s and %s", a, b);
  } else {
    snprintf(out, outsz, "a duration such as 3000 or 3s");
  }
}

static const char k_expect_bool[] = "true or false (also yes/no, on/off, 1/0)";

static bool check_int(const char *v, int64_t min, int64_t max, int64_t *out) {
  return parse_int(v, out) && (!bounded((double)min, (double)max) || (*out >= min && *out <= max));
}

static bool check_double(const char *v, double min, double max, double *out) {
  return parse_double(v, out) && (!bounded(min, max) || (*out >= min && *out <= max));
}

static bool check_duration(const char *v, int64_t min, int64_t max, int64_t *out) {
  return parse_duration(v, out) &&
         (!bounded((double)min, (double)max) || (*out >= min && *out <= max));
}

/* "a|b|c": index of v (ignoring case) or -1. */
static int pipe_index(const char *allowed, const char *v, size_t vlen) {
  int idx = 0;
  for (const char *p = allowed;; idx++) {
    const char *bar = strchr(p, '|');
    size_t n = bar ? (size_t)(bar - p) : strlen(p);
    if (n == vlen && strncasecmp(p, v, n) == 0)
      return idx;
    if (!bar)
      return -1;
    p = bar + 1;
  }
}

/* ---- getters ------------------------------------------------------------- */

#define GET_RAW(cfg, section, key, out)                                                            \
  const char *raw, *origin;                                                                        \
  if (!(cfg) || !(section) || !(key) || !(out))                                                    \
    return TERN_EINVAL;                                                                            \
  int rc_ = tern_config_lookup((cfg), (section), (key), &raw, &origin);                            \
  if (rc_ == TERN_ENOMEM)                                                                          \
    set_err(err, errsz, "[%s] %s: out of memory", (section), (key));                               \
  if (rc_ != 0 && rc_ != TERN_ENOENT)                                                              \
    return rc_;                                                                                    \
  bool found_ = rc_ == 0

int tern_config_get_str(const tern_config_t *cfg, const char *section, const char *key,
                        const char *def, const char **out, char *err, size_t errsz) {
  GET_RAW(cfg, section, key, out);
  *out = found_ ? raw : def;
  return 0;
}

int tern_config_get_int(const tern_config_t *cfg, const char *section, const char *key, int64_t def,
                        int64_t min, int64_t max, int64_t *out, char *err, size_t errsz) {
  GET_RAW(cfg, section, key, out);
  if (!found_) {
    *out = def;
    return 0;
  }
  int64_t x;
  if (!check_int(raw, min, max, &x)) {
    char exp[128];
    expect_int(min, max, exp, sizeof exp);
    return bad_value(err, errsz, section, key, raw, origin, exp);
  }
  *out = x;
  return 0;
}

int tern_config_get_double(const tern_config_t *cfg, const char *section, const char *key,
                           double def, double min, double max, double *out, char *err,
                           size_t errsz) {
  GET_RAW(cfg, section, key, out);
  if (!found_) {
    *out = def;
    return 0;
  }
  double x;
  if (!check_double(raw, min, max, &x)) {
    char exp[128];
    expect_double(min, max, exp, sizeof exp);
    return bad_value(err, errsz, section, key, raw, origin, exp);
  }
  *out = x;
  return 0;
}

int tern_config_get_bool(const tern_config_t *cfg, const char *section, const char *key, bool def,
                         bool *out, char *err, size_t errsz) {
  GET_RAW(cfg, section, key, out);
  if (!found_) {
    *out = def;
    return 0;
  }
  bool x;
  if (!parse_bool(raw, &x))
    return bad_value(err, errsz, section, key, raw, origin, k_expect_bool);
  *out = x;
  return 0;
}

int tern_config_get_duration_ms(const tern_config_t *cfg, const char *section, const char *key,
                                int64_t def_ms, int64_t min_ms, int64_t max_ms, int64_t *out_ms,
                                char *err, size_t errsz) {
  GET_RAW(cfg, section, key, out_ms);
  if (!found_) {
    *out_ms = def_ms;
    return 0;
  }
  int64_t x;
  if (!check_duration(raw, min_ms, max_ms, &x)) {
    char exp[128];
    expect_duration(min_ms, max_ms, exp, sizeof exp);
    return bad_value(err, errsz, section, key, raw, origin, exp);
  }
  *out_ms = x;
  return 0;
}

static int list_parse(const char *s, tern_config_list_t *out) {
  out->items = NULL;
  out->count = 0;
  if (!s)
    return 0;
  size_t count = 0, bytes = 0;
  for (const char *p = s;;) {
    const char *c = strchr(p, ',');
    const char *e = c ? c : p + strlen(p);
    const char *a = p;
    while (a < e && isspace((unsigned char)*a))
      a++;
    while (e > a && isspace((unsigned char)e[-1]))
      e--;
    if (e > a) {
      count++;
      bytes += (size_t)(e - a) + 1;
    }
    if (!c)
      break;
    p = c + 1;
  }
  if (count == 0)
    return 0;
  char **items = tern_malloc((count + 1) * sizeof *items + bytes);
  if (!items)
    return TERN_ENOMEM;
  char *dst = (char *)(items + count + 1);
  size_t k = 0;
  for (const char *p = s;;) {
    const char *c = strchr(p, ',');
    const char *e = c ? c : p + strlen(p);
    const char *a = p;
    while (a < e && isspace((unsigned char)*a))
      a++;
    while (e > a && isspace((unsigned char)e[-1]))
      e--;
    if (e > a) {
      size_t n = (size_t)(e - a);
      items[k++] = memcpy(dst, a, n);
      dst[n] = '\0';
      dst += n + 1;
    }
    if (!c)
      break;
    p = c + 1;
  }
  items[count] = NULL;
  out->items = items;
  out->count = count;
  return 0;
}

void tern_config_list_free(tern_config_list_t *list) {
  if (!list)
    return;
  tern_free(list->items);
  list->items = NULL;
  list->count = 0;
}

int tern_config_get_list(const tern_config_t *cfg, const char *section, const char *key,
                         const char *def, tern_config_list_t *out, char *err, size_t errsz) {
  if (out) {
    out->items = NULL;
    out->count = 0;
  }
  GET_RAW(cfg, section, key, out);
  int rc = list_parse(found_ ? raw : def, out);
  if (rc)
    set_err(err, errsz, "[%s] %s: out of memory", section, key);
  return rc;
}

int tern_config_get_enum(const tern_config_t *cfg, const char *section, const char *key,
                         const char *const *allowed, const char *def, int *out_index, char *err,
                         size_t errsz) {
  if (!allowed || !def)
    return TERN_EINVAL;
  int def_index = -1, n = 0;
  for (; allowed[n]; n++)
    if (def_index < 0 && strcasecmp(allowed[n], def) == 0)
      def_index = n;
  if (def_index < 0)
    return TERN_EINVAL;
  GET_RAW(cfg, section, key, out_index);
  if (!found_) {
    *out_index = def_index;
    return 0;
  }
  for (int i = 0; i < n; i++) {
    if (strcasecmp(allowed[i], raw) == 0) {
      *out_index = i;
      return 0;
    }
  }
  char exp[512];
  size_t o = (size_t)snprintf(exp, sizeof exp, "one of: ");
  for (int i = 0; i < n && o < sizeof exp; i++)
    o += (size_t)snprintf(exp + o, sizeof exp - o, "%s%s", i ? ", " : "", allowed[i]);
  return bad_value(err, errsz, section, key, raw, origin, exp);
}

/* ---- schema and validation ----------------------------------------------- */

static bool section_matches(const char *pattern, const char *section) {
  size_t n = strlen(pattern);
  if (n >= 2 && pattern[n - 2] == '.' && pattern[n - 1] == '*')
    return strncasecmp(pattern, section, n - 1) == 0 && section[n - 1] != '\0';
  return strcasecmp(pattern, section) == 0;
}

const tern_config_key_t *tern_config_schema_find(const tern_config_key_t *schema,
                                                 const char *section, const char *key) {
  if (!schema || !section || !key)
    return NULL;
  for (const tern_config_key_t *k = schema; k->section; k++)
    if (k->key && section_matches(k->section, section) && strcasecmp(k->key, key) == 0)
      return k;
  return NULL;
}

static bool section_known(const tern_config_key_t *schema, const char *section) {
  for (const tern_config_key_t *k = schema; k->section; k++)
    if (section_matches(k->section, section))
      return true;
  return false;
}

/* Optimal string alignment distance (a swap of neighbours costs 1, so
 * "modle" is one edit from "model"); names longer than 63 are not compared. */
static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 63 || lb > 63)
    return SIZE_MAX;
  size_t d[64][64];
  for (size_t i = 0; i <= la; i++)
    d[i][0] = i;
  for (size_t j = 0; j <= lb; j++)
    d[0][j] = j;
  for (size_t i = 1; i <= la; i++) {
    for (size_t j = 1; j <= lb; j++) {
      size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
      size_t best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best)
        best = d[i][j - 1] + 1;
      if (d[i - 1][j - 1] + cost < best)
        best = d[i - 1][j - 1] + cost;
      if (i > 1 && j > 1 && tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 2]) &&
          tolower((unsigned char)a[i - 2]) == tolower((unsigned char)b[j - 1]) &&
          d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  }
  return d[la][lb];
}

static size_t suggest_limit(const char *word) {
  size_t n = strlen(word);
  return n >= 12 ? 3 : n >= 6 ? 2 : 1;
}

/* Closest known key in (a pattern matching) `section`, or NULL. */
static const char *suggest_key(const tern_config_key_t *schema, const char *section,
                               const char *key) {
  const char *best = NULL;
  size_t bd = suggest_limit(key) + 1;
  for (const tern_config_key_t *k = schema; k->section; k++) {
    if (!k->key || !section_matches(k->section, section))
      continue;
    size_t d = edit_distance(key, k->key);
    if (d < bd) {
      bd = d;
      best = k->key;
    }
  }
  return best;
}

static void suggest_section(const tern_config_key_t *schema, const char *section, char *out,
                            size_t outsz) {
  out[0] = '\0';
  const char *dot = strchr(section, '.');
  size_t bd = suggest_limit(section) + 1;
  for (const tern_config_key_t *k = schema; k->section; k++) {
    char cand[256];
    size_t n = strlen(k->section);
    if (n >= 2 && k->section[n - 1] == '*') {
      if (!dot)
        continue;
      snprintf(cand, sizeof cand, "%.*s%s", (int)(n - 1), k->section, dot + 1);
    } else {
      snprintf(cand, sizeof cand, "%s", k->section);
    }
    size_t d = edit_distance(section, cand);
    if (d < bd) {
      bd = d;
      snprintf(out, outsz, "%s", cand);
    }
  }
}

typedef struct vstate {
  tern_config_problem_fn fn;
  void *ud;
  size_t n;
} vstate_t;

__attribute__((format(printf, 2, 3))) static void report(vstate_t *vs, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  vs->n++;
  if (vs->fn)
    vs->fn(msg, vs->ud);
}

static void check_typed(vstate_t *vs, const tern_config_key_t *k, const char *section,
                        const char *key, const char *value, const char *origin) {
  char exp[512], msg[1024];
  bool ok = true;
  switch (k->type) {
  case TERN_CFG_INT: {
    int64_t x;
    ok = check_int(value, (int64_t)k->min, (int64_t)k->max, &x);
    if (!ok)
      expect_int((int64_t)k->min, (int64_t)k->max, exp, sizeof exp);
    break;
  }
  case TERN_CFG_DOUBLE: {
    double x;
    ok = check_double(value, k->min, k->max, &x);
    if (!ok)
      expect_double(k->min, k->max, exp, sizeof exp);
    break;
  }
  case TERN_CFG_BOOL: {
    bool x;
    ok = parse_bool(value, &x);
    if (!ok)
      snprintf(exp, sizeof exp, "%s", k_expect_bool);
    break;
  }
  case TERN_CFG_DURATION: {
    int64_t x;
    ok = check_duration(value, (int64_t)k->min, (int64_t)k->max, &x);
    if (!ok)
      expect_duration((int64_t)k->min, (int64_t)k->max, exp, sizeof exp);
    break;
  }
  case TERN_CFG_ENUM:
    ok = !k->allowed || pipe_index(k->allowed, value, strlen(value)) >= 0;
    if (!ok)
      snprintf(exp, sizeof exp, "one of: %s", k->allowed);
    break;
  case TERN_CFG_LIST:
    if (k->allowed) {
      /* Each trimmed item must be allowed; walk without allocating. */
      for (const char *p = value; ok;) {
        const char *c = strchr(p, ',');
        const char *e = c ? c : p + strlen(p);
        const char *a = p;
        while (a < e && isspace((unsigned char)*a))
          a++;
        while (e > a && isspace((unsigned char)e[-1]))
          e--;
        if (e > a && pipe_index(k->allowed, a, (size_t)(e - a)) < 0)
          ok = false;
        if (!c)
          break;
        p = c + 1;
      }
      if (!ok)
        snprintf(exp, sizeof exp, "a comma-separated list of: %s", k->allowed);
    }
    break;
  case TERN_CFG_STR:
    break;
  }
  if (!ok) {
    bad_value(msg, sizeof msg, section, key, value, origin, exp);
    report(vs, "%s", msg);
  }
}

/* The env override of one schema key in one concrete section. */
static int check_env(vstate_t *vs, const tern_config_t *cfg, const tern_config_key_t *k,
                     const char *section) {
  const char *v, *origin;
  int rc = env_get(cfg, section, k->key, &v, &origin);
  if (rc == TERN_ENOENT)
    return 0;
  if (rc)
    return rc;
  check_typed(vs, k, section, k->key, v, origin);
  return 0;
}

int tern_config_validate(const tern_config_t *cfg, const tern_config_key_t *schema,
                         tern_config_problem_fn fn, void *ud, size_t *nproblems) {
  if (nproblems)
    *nproblems = 0;
  if (!cfg || !schema)
    return TERN_EINVAL;
  vstate_t vs = {fn, ud, 0};
  const store_t *st = &cfg->st;
  for (size_t i = 0; i < st->ns; i++) {
    const section_t *s = st->s[i];
    if (section_known(schema, s->name))
      continue;
    char sug[256];
    suggest_section(schema, s->name, sug, sizeof sug);
    if (sug[0])
      report(&vs, "unknown section [%s] (%s); did you mean [%s]?", s->name, s->origin, sug);
    else
      report(&vs, "unknown section [%s] (%s)", s->name, s->origin);
  }
  for (size_t i = 0; i < st->n; i++) {
    const entry_t *e = st->e[i];
    if (!section_known(schema, e->section))
      continue; /* reported once above */
    const tern_config_key_t *k = tern_config_schema_find(schema, e->section, e->key);
    if (!k) {
      const char *sug = suggest_key(schema, e->section, e->key);
      if (sug)
        report(&vs, "unknown key '%s' in [%s] (%s); did you mean '%s'?", e->key, e->section,
               e->origin, sug);
      else
        report(&vs, "unknown key '%s' in [%s] (%s)", e->key, e->section, e->origin);
      continue;
    }
    check_typed(&vs, k, e->section, e->key, e->value, e->origin);
  }
  int rc = 0;
  for (const tern_config_key_t *k = schema; k->section && rc == 0; k++) {
    if (!k->key)
      continue;
    size_t n = strlen(k->section);
    if (n >= 2 && k->section[n - 1] == '*') {
      for (size_t i = 0; i < st->ns && rc == 0; i++)
        if (section_matches(k->section, st->s[i]->name) &&
            tern_config_schema_find(schema, st->s[i]->name, k->key) == k)
          rc = check_env(&vs, cfg, k, st->s[i]->name);
    } else if (tern_config_schema_find(schema, k->section, k->key) == k) {
      rc = check_env(&vs, cfg, k, k->section);
    }
  }
  if (nproblems)
    *nproblems = vs.n;
  if (rc)
    return rc;
  return vs.n ? TERN_ECONFIG : 0;
}

/* ---- enumeration --------------------------------------------------------- */

size_t tern_config_count(const tern_config_t *cfg) { return cfg ? cfg->st.n : 0; }

int tern_config_entry(const tern_config_t *cfg, size_t i, tern_config_entry_t *out) {
  if (!cfg || !out)
    return TERN_EINVAL;
  if (i >= cfg->st.n)
    return TERN_ENOENT;
  const entry_t *e = cfg->st.e[i];
  *out = (tern_config_entry_t){e->section, e->key, e->value, e->origin, tern_key_is_secret(e->key)};
  return 0;
}

size_t tern_config_section_count(const tern_config_t *cfg) { return cfg ? cfg->st.ns : 0; }

const char *tern_config_section(const tern_config_t *cfg, size_t i) {
  return cfg && i < cfg->st.ns ? cfg->st.s[i]->name : NULL;
}

bool tern_config_has_section(const tern_config_t *cfg, const char *section) {
  return cfg && section && find_section(&cfg->st, section) >= 0;
}
