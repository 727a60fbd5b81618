/* A small JSON-schema validator for tool arguments.
 *
 * Only the keywords a tool's parameters need are understood (type,
 * properties, required, enum, minimum/maximum, minLength/maxLength,
 * minItems/maxItems, items, additionalProperties); unknown keywords are
 * ignored, as JSON schema itself does. The messages are written for the
 * language model that made the call, so that it can correct itself: they
 * name the argument by its path ("address.street", "tags[2]") and say what
 * was expected and what came instead. Validation never allocates, so it
 * cannot fail for want of memory.
 */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/tools_internal.h"
#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/tools.h"

#define PATH_MAX_LEN 192
#define MAX_DEPTH 32 /* nesting of schemas and values followed */

static int fail(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errsz, const char *fmt, ...) {
  if (err && errsz) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
  }
  return TERN_EINVAL;
}

/* ---- UTF-8 ------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t len;
  unsigned min;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  unsigned cp = c & (0x7F >> len);
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

char *tern__tools_utf8_clean(const char *s, size_t len, size_t max, int *cut) {
  size_t n = len < max ? len : max;
  char *out = tern_malloc(n + 1);
  if (!out)
    return NULL;
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0, o = 0;
  while (i < n) {
    size_t k = utf8_seq(u + i, len - i);
    if (k == 0) {
      out[o++] = '?';
      i++;
    } else if (i + k > n) {
      break; /* a character that does not fit whole */
    } else if (k == 1 && u[i] == 0) {
      out[o++] = '?'; /* jansson refuses NUL inside a C string */
      i++;
    } else {
      memcpy(out + o, u + i, k);
      o += k;
      i += k;
    }
  }
  out[o] = '\0';
  if (cut)
    *cut = i < len;
  return out;
}

static size_t utf8_chars(const char *s, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80)
      n++;
  return n;
}

/* ---- telling bad JSON from no memory ----------------------------------- */

/* jansson's loader and dumper are not exact when an allocation fails: some
 * failures come back as syntax errors, and some are swallowed (a byte of a
 * long token, or an object key, is silently dropped). So every text that
 * crosses into or out of a tree is checked against the tree: an
 * allocation-free scan of the text and a walk of the tree both fold what
 * they hold, in document order, into one fingerprint. */

#define JSON_MAX_DEPTH 2048 /* jansson's own parser limit */

typedef struct print {
  uint64_t h;
} print_t;

static void fold(print_t *p, unsigned char c) {
  p->h ^= c;
  p->h *= UINT64_C(1099511628211);
}

static void fold_bytes(print_t *p, const void *data, size_t n) {
  const unsigned char *b = data;
  for (size_t i = 0; i < n; i++)
    fold(p, b[i]);
}

/* 0xFF never occurs in UTF-8: it ends a string unambiguously. */
#define END_OF_STRING 0xFF

static void skip_ws(const char *s, size_t n, size_t *i) {
  while (*i < n && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\n' || s[*i] == '\r'))
    (*i)++;
}

static int hex4(const char *s, size_t n, size_t i) {
  if (i + 4 > n)
    return -1;
  int v = 0;
  for (size_t k = i; k < i + 4; k++) {
    char c = s[k];
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0)
      return -1;
    v = v * 16 + d;
  }
  return v;
}

static void fold_codepoint(print_t *p, unsigned cp) {
  if (cp < 0x80) {
    fold(p, (unsigned char)cp);
  } else if (cp < 0x800) {
    fold(p, (unsigned char)(0xC0 | (cp >> 6)));
    fold(p, (unsigned char)(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    fold(p, (unsigned char)(0xE0 | (cp >> 12)));
    fold(p, (unsigned char)(0x80 | ((cp >> 6) & 0x3F)));
    fold(p, (unsigned char)(0x80 | (cp & 0x3F)));
  } else {
    fold(p, (unsigned char)(0xF0 | (cp >> 18)));
    fold(p, (unsigned char)(0x80 | ((cp >> 12) & 0x3F)));
    fold(p, (unsigned char)(0x80 | ((cp >> 6) & 0x3F)));
    fold(p, (unsigned char)(0x80 | (cp & 0x3F)));
  }
}

/* A string at s[*i] == '"', as strictly as jansson reads one (valid UTF-8,
 * no raw control characters, paired surrogates); its decoded bytes are
 * folded into p. */
static bool scan_string(const char *s, size_t n, size_t *i, unsigned char tag, print_t *p) {
  fold(p, tag);
  size_t k = *i + 1;
  while (k < n) {
    unsigned char c = (unsigned char)s[k];
    if (c == '"') {
      fold(p, END_OF_STRING);
      *i = k + 1;
      return true;
    }
    if (c < 0x20)
      return false;
    if (c == '\\') {
      if (k + 1 >= n)
        return false;
      char e = s[k + 1];
      static const char esc[] = "\"\\/bfnrt", val[] = "\"\\/\b\f\n\r\t";
      const char *at = e ? strchr(esc, e) : NULL;
      if (at) {
        fold(p, (unsigned char)val[at - esc]);
        k += 2;
        continue;
      }
      if (e != 'u')
        return false;
      int v = hex4(s, n, k + 2);
      if (v < 0 || (v >= 0xDC00 && v <= 0xDFFF))
        return false;
      k += 6;
      unsigned cp = (unsigned)v;
      if (v >= 0xD800 && v <= 0xDBFF) {
        if (k + 1 >= n || s[k] != '\\' || s[k + 1] != 'u')
          return false;
        int w = hex4(s, n, k + 2);
        if (w < 0xDC00 || w > 0xDFFF)
          return false;
        k += 6;
        cp = 0x10000 + (((unsigned)v - 0xD800) << 10) + ((unsigned)w - 0xDC00);
      }
      fold_codepoint(p, cp);
      continue;
    }
    size_t len = utf8_seq((const unsigned char *)s + k, n - k);
    if (!len)
      return false;
    fold_bytes(p, s + k, len);
    k += len;
  }
  return false;
}

/* A number token; its value is folded as jansson will hold it. The text
 * is NUL-terminated (tern__tools_json_load's contract), so strtoll and strtod
 * stop at the token's end, which the syntax check has placed. */
static bool scan_number(const char *s, size_t n, size_t *i, print_t *p) {
  size_t k = *i;
  bool real = false;
  if (k < n && s[k] == '-')
    k++;
  if (k >= n)
    return false;
  if (s[k] == '0')
    k++;
  else if (s[k] >= '1' && s[k] <= '9')
    while (k < n && s[k] >= '0' && s[k] <= '9')
      k++;
  else
    return false;
  if (k < n && s[k] == '.') {
    real = true;
    k++;
    if (k >= n || s[k] < '0' || s[k] > '9')
      return false;
    while (k < n && s[k] >= '0' && s[k] <= '9')
      k++;
  }
  if (k < n && (s[k] == 'e' || s[k] == 'E')) {
    real = true;
    k++;
    if (k < n && (s[k] == '+' || s[k] == '-'))
      k++;
    if (k >= n || s[k] < '0' || s[k] > '9')
      return false;
    while (k < n && s[k] >= '0' && s[k] <= '9')
      k++;
  }
  if (real) {
    double d = strtod(s + *i, NULL);
    fold(p, 'r');
    fold_bytes(p, &d, sizeof d);
  } else {
    long long v = strtoll(s + *i, NULL, 10);
    fold(p, 'i');
    fold_bytes(p, &v, sizeof v);
  }
  *i = k;
  return true;
}

/* An object key and its colon, at the first byte after '{' or ','. When
 * `want` is given, *found is set if the key is exactly it. */
static bool scan_key(const char *s, size_t n, size_t *i, print_t *p, const char *want,
                     bool *found) {
  skip_ws(s, n, i);
  size_t start = *i;
  if (*i >= n || s[*i] != '"' || !scan_string(s, n, i, 'k', p))
    return false;
  if (want && *i - start == strlen(want) + 2 && !memcmp(s + start + 1, want, strlen(want)))
    *found = true;
  skip_ws(s, n, i);
  if (*i >= n || s[*i] != ':')
    return false;
  (*i)++;
  return true;
}

/* RFC 8259 syntax, without allocating (an explicit bit stack of open
 * containers instead of recursion), folding the content into p. With
 * top_key, *found says whether the outermost object has that key
 * (written without escapes). */
static bool json_scan_key(const char *s, size_t n, print_t *p, const char *top_key, bool *found) {
  unsigned char is_obj[JSON_MAX_DEPTH / 8];
  size_t depth = 0, i = 0;
  bool dummy;
  if (!found)
    found = &dummy;
  *found = false;
  p->h = UINT64_C(14695981039346656037);
  for (;;) {
    /* A value. */
    skip_ws(s, n, &i);
    if (i >= n)
      return false;
    char c = s[i];
    if (c == '{' || c == '[') {
      if (depth >= JSON_MAX_DEPTH)
        return false;
      bool obj = c == '{';
      fold(p, (unsigned char)c);
      if (obj)
        is_obj[depth / 8] |= (unsigned char)(1u << (depth % 8));
      else
        is_obj[depth / 8] &= (unsigned char)~(1u << (depth % 8));
      depth++;
      i++;
      skip_ws(s, n, &i);
      if (i < n && s[i] == (obj ? '}' : ']')) {
        fold(p, (unsigned char)s[i]);
        i++;
        depth--;
      } else {
        if (obj && !scan_key(s, n, &i, p, depth == 1 ? top_key : NULL, found))
          return false;
        continue;
      }
    } else if (c == '"') {
      if (!scan_string(s, n, &i, 's', p))
        return false;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      if (!scan_number(s, n, &i, p))
        return false;
    } else if (n - i >= 4 && !memcmp(s + i, "true", 4)) {
      fold(p, 't');
      i += 4;
    } else if (n - i >= 5 && !memcmp(s + i, "false", 5)) {
      fold(p, 'f');
      i += 5;
    } else if (n - i >= 4 && !memcmp(s + i, "null", 4)) {
      fold(p, 'n');
      i += 4;
    } else {
      return false;
    }
    /* After a value: close containers, or go on to the next element. */
    for (;;) {
      skip_ws(s, n, &i);
      if (depth == 0)
        return i == n;
      bool obj = is_obj[(depth - 1) / 8] & (1u << ((depth - 1) % 8));
      if (i >= n)
        return false;
      if (s[i] == (obj ? '}' : ']')) {
        fold(p, (unsigned char)s[i]);
        i++;
        depth--;
        continue;
      }
      if (s[i] != ',')
        return false;
      i++;
      if (obj && !scan_key(s, n, &i, p, depth == 1 ? top_key : NULL, found))
        return false;
      break;
    }
  }
}

static bool json_scan(const char *s, size_t n, print_t *p) {
  return json_scan_key(s, n, p, NULL, NULL);
}

bool tern__tools_json_valid(const char *text, size_t len, const char *top_key) {
  print_t p;
  bool found;
  if (!json_scan_key(text, len, &p, top_key, &found))
    return false;
  return !top_key || found;
}

static void fold_string(print_t *p, unsigned char tag, const char *s, size_t n) {
  fold(p, tag);
  fold_bytes(p, s, n);
  fold(p, END_OF_STRING);
}

static void fold_tree(const json_t *j, print_t *p) {
  switch (json_typeof(j)) {
  case JSON_OBJECT: {
    fold(p, '{');
    const char *k;
    const json_t *x;
    json_object_foreach((json_t *)j, k, x) {
      fold_string(p, 'k', k, strlen(k));
      fold_tree(x, p);
    }
    fold(p, '}');
    break;
  }
  case JSON_ARRAY: {
    fold(p, '[');
    size_t i;
    const json_t *x;
    json_array_foreach(j, i, x) fold_tree(x, p);
    fold(p, ']');
    break;
  }
  case JSON_STRING:
    fold_string(p, 's', json_string_value(j), json_string_length(j));
    break;
  case JSON_INTEGER: {
    long long v = json_integer_value(j);
    fold(p, 'i');
    fold_bytes(p, &v, sizeof v);
    break;
  }
  case JSON_REAL: {
    double d = json_real_value(j);
    fold(p, 'r');
    fold_bytes(p, &d, sizeof d);
    break;
  }
  case JSON_TRUE:
    fold(p, 't');
    break;
  case JSON_FALSE:
    fold(p, 'f');
    break;
  default:
    fold(p, 'n');
    break;
  }
}

static uint64_t tree_print(const json_t *j) {
  print_t p = {UINT64_C(14695981039346656037)};
  fold_tree(j, &p);
  return p.h;
}

int tern__tools_json_load(const char *text, size_t len, size_t flags, json_t **out,
                          json_error_t *jerr) {
  print_t want;
  /* Duplicate keys are refused: a tree that collapsed them would not match
   * its text, and no tool wants them anyway. */
  *out = json_loadb(text, len, flags | JSON_REJECT_DUPLICATES, jerr);
  if (*out) {
    if (json_scan(text, len, &want) && want.h != tree_print(*out)) {
      json_decref(*out);
      *out = NULL;
      return TERN_ENOMEM;
    }
    return 0;
  }
  enum json_error_code code = json_error_code(jerr);
  if (jerr->text[0] == '\0' || code == json_error_out_of_memory)
    return TERN_ENOMEM;
  bool syntax = code == json_error_invalid_syntax || code == json_error_premature_end_of_input ||
                code == json_error_end_of_input_expected || code == json_error_unknown;
  if (syntax && json_scan(text, len, &want)) {
    /* A JSON scalar read without JSON_DECODE_ANY stays a format error. */
    size_t i = 0;
    skip_ws(text, len, &i);
    if ((flags & JSON_DECODE_ANY) || text[i] == '{' || text[i] == '[')
      return TERN_ENOMEM;
  }
  return TERN_EFORMAT;
}

char *tern__tools_json_dump(const json_t *j) {
  char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
  if (!s)
    return NULL;
  print_t got;
  if (!json_scan(s, strlen(s), &got) || got.h != tree_print(j)) {
    tern_free(s);
    return NULL;
  }
  return s;
}

/* ---- paths and descriptions -------------------------------------------- */

typedef struct path {
  char s[PATH_MAX_LEN];
  size_t len;
} path_t;

static size_t path_push_key(path_t *p, const char *key) {
  size_t old = p->len;
  int w = snprintf(p->s + p->len, sizeof p->s - p->len, "%s%s", p->len ? "." : "", key);
  if (w > 0)
    p->len = p->len + (size_t)w < sizeof p->s ? p->len + (size_t)w : sizeof p->s - 1;
  return old;
}

static size_t path_push_index(path_t *p, size_t i) {
  size_t old = p->len;
  int w = snprintf(p->s + p->len, sizeof p->s - p->len, "[%zu]", i);
  if (w > 0)
    p->len = p->len + (size_t)w < sizeof p->s ? p->len + (size_t)w : sizeof p->s - 1;
  return old;
}

static void path_pop(path_t *p, size_t old) {
  p->len = old;
  p->s[old] = '\0';
}

/* "argument 'city'", or "arguments" for the whole object. */
static const char *subject(const path_t *p, char *buf, size_t n) {
  if (p->len == 0)
    return "arguments";
  snprintf(buf, n, "argument '%s'", p->s);
  return buf;
}

static const char *got(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "an array";
  case JSON_STRING:
    return "a string";
  case JSON_INTEGER:
    return "a number";
  case JSON_REAL:
    return "a number";
  case JSON_TRUE:
  case JSON_FALSE:
    return "a boolean";
  default:
    return "null";
  }
}

static const char *const type_names[] = {"object",  "array",   "string", "number",
                                         "integer", "boolean", "null"};
static const char *const type_articles[] = {"an object",  "an array",  "a string", "a number",
                                            "an integer", "a boolean", "null"};
#define N_TYPES (sizeof type_names / sizeof *type_names)

static int type_index(const char *name) {
  for (size_t i = 0; i < N_TYPES; i++)
    if (!strcmp(name, type_names[i]))
      return (int)i;
  return -1;
}

static bool is_integral(const json_t *v) {
  if (json_is_integer(v))
    return true;
  if (!json_is_real(v))
    return false;
  double d = json_real_value(v);
  return isfinite(d) && floor(d) == d;
}

static bool has_type(const json_t *v, int t) {
  switch (t) {
  case 0:
    return json_is_object(v);
  case 1:
    return json_is_array(v);
  case 2:
    return json_is_string(v);
  case 3:
    return json_is_number(v);
  case 4:
    return is_integral(v);
  case 5:
    return json_is_boolean(v);
  case 6:
    return json_is_null(v);
  default:
    return true; /* an unknown type name constrains nothing */
  }
}

/* Short text of a scalar for messages ("celsius", "3", "true"). */
static void scalar_text(const json_t *v, char *buf, size_t n) {
  if (json_is_string(v))
    snprintf(buf, n, "%s", json_string_value(v));
  else if (json_is_integer(v))
    snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
  else if (json_is_real(v))
    snprintf(buf, n, "%.15g", json_real_value(v));
  else if (json_is_true(v))
    snprintf(buf, n, "true");
  else if (json_is_false(v))
    snprintf(buf, n, "false");
  else if (json_is_null(v))
    snprintf(buf, n, "null");
  else
    snprintf(buf, n, "%s", json_is_array(v) ? "[...]" : "{...}");
}

/* ---- validation -------------------------------------------------------- */

static int check(const json_t *schema, const json_t *v, path_t *p, int depth, char *err,
                 size_t errsz);

static int check_type(const json_t *schema, const json_t *v, const path_t *p, char *err,
                      size_t errsz) {
  const json_t *type = json_object_get(schema, "type");
  char sb[PATH_MAX_LEN + 16];
  if (json_is_string(type)) {
    int t = type_index(json_string_value(type));
    if (t < 0 || has_type(v, t))
      return 0;
    if (t == 4 && json_is_number(v))
      return fail(err, errsz, "%s must be an integer, got a number with a fraction",
                  subject(p, sb, sizeof sb));
    return fail(err, errsz, "%s must be %s, got %s", subject(p, sb, sizeof sb), type_articles[t],
                got(v));
  }
  if (!json_is_array(type) || json_array_size(type) == 0)
    return 0;
  size_t i;
  const json_t *t;
  json_array_foreach(type, i, t) {
    int k = json_is_string(t) ? type_index(json_string_value(t)) : -1;
    if (k < 0 || has_type(v, k))
      return 0;
  }
  char list[256];
  size_t len = 0;
  list[0] = '\0';
  json_array_foreach(type, i, t) {
    int k = type_index(json_string_value(t));
    int w = snprintf(list + len, sizeof list - len, "%s%s", i ? " or " : "", type_articles[k]);
    if (w < 0 || (size_t)w >= sizeof list - len)
      break;
    len += (size_t)w;
  }
  return fail(err, errsz, "%s must be %s, got %s", subject(p, sb, sizeof sb), list, got(v));
}

static int check_enum(const json_t *schema, const json_t *v, const path_t *p, char *err,
                      size_t errsz) {
  const json_t *e = json_object_get(schema, "enum");
  if (!json_is_array(e) || json_array_size(e) == 0)
    return 0;
  size_t i;
  const json_t *x;
  json_array_foreach(e, i, x) {
    if (json_equal((json_t *)x, (json_t *)v))
      return 0;
  }
  char list[512];
  size_t len = 0;
  list[0] = '\0';
  json_array_foreach(e, i, x) {
    char one[128];
    scalar_text(x, one, sizeof one);
    int w = snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", one);
    if (w < 0 || (size_t)w >= sizeof list - len) {
      memcpy(list + sizeof list - 4, "...", 4); /* the list is cut; say so */
      break;
    }
    len += (size_t)w;
  }
  char sb[PATH_MAX_LEN + 16];
  return fail(err, errsz, "%s must be one of: %s", subject(p, sb, sizeof sb), list);
}

/* A non-negative integer keyword, or -1 when absent or malformed. */
static long long count_kw(const json_t *schema, const char *kw) {
  const json_t *x = json_object_get(schema, kw);
  if (!is_integral(x) || json_number_value(x) < 0)
    return -1;
  return (long long)json_number_value(x);
}

static int check_bounds(const json_t *schema, const json_t *v, const path_t *p, char *err,
                        size_t errsz) {
  char sb[PATH_MAX_LEN + 16];
  char num[64];
  if (json_is_number(v)) {
    double d = json_number_value(v);
    const json_t *lo = json_object_get(schema, "minimum");
    const json_t *hi = json_object_get(schema, "maximum");
    if (json_is_number(lo) && d < json_number_value(lo)) {
      scalar_text(lo, num, sizeof num);
      return fail(err, errsz, "%s must be at least %s", subject(p, sb, sizeof sb), num);
    }
    if (json_is_number(hi) && d > json_number_value(hi)) {
      scalar_text(hi, num, sizeof num);
      return fail(err, errsz, "%s must be at most %s", subject(p, sb, sizeof sb), num);
    }
  } else if (json_is_string(v)) {
    size_t n = utf8_chars(json_string_value(v), json_string_length(v));
    long long lo = count_kw(schema, "minLength"), hi = count_kw(schema, "maxLength");
    if (lo >= 0 && (long long)n < lo)
      return fail(err, errsz, "%s must be at least %lld character%s long",
                  subject(p, sb, sizeof sb), lo, lo == 1 ? "" : "s");
    if (hi >= 0 && (long long)n > hi)
      return fail(err, errsz, "%s must be at most %lld character%s long", subject(p, sb, sizeof sb),
                  hi, hi == 1 ? "" : "s");
  } else if (json_is_array(v)) {
    size_t n = json_array_size(v);
    long long lo = count_kw(schema, "minItems"), hi = count_kw(schema, "maxItems");
    if (lo >= 0 && (long long)n < lo)
      return fail(err, errsz, "%s must have at least %lld item%s", subject(p, sb, sizeof sb), lo,
                  lo == 1 ? "" : "s");
    if (hi >= 0 && (long long)n > hi)
      return fail(err, errsz, "%s must have at most %lld item%s", subject(p, sb, sizeof sb), hi,
                  hi == 1 ? "" : "s");
  }
  return 0;
}

static int check_object(const json_t *schema, const json_t *v, path_t *p, int depth, char *err,
                        size_t errsz) {
  const json_t *props = json_object_get(schema, "properties");
  const json_t *req = json_object_get(schema, "required");
  if (json_is_array(req)) {
    size_t i;
    const json_t *r;
    json_array_foreach(req, i, r) {
      if (json_is_string(r) && !json_object_get(v, json_string_value(r))) {
        size_t old = path_push_key(p, json_string_value(r));
        fail(err, errsz, "missing required argument '%s'", p->s);
        path_pop(p, old);
        return TERN_EINVAL;
      }
    }
  }
  const json_t *extra = json_object_get(schema, "additionalProperties");
  const char *key;
  const json_t *val;
  json_object_foreach((json_t *)v, key, val) {
    const json_t *sub = json_is_object(props) ? json_object_get(props, key) : NULL;
    size_t old = path_push_key(p, key);
    int rc = 0;
    if (json_is_object(sub))
      rc = check(sub, val, p, depth + 1, err, errsz);
    else if (!sub && json_is_false(extra))
      rc = fail(err, errsz, "unexpected argument '%s'", p->s);
    else if (!sub && json_is_object(extra))
      rc = check(extra, val, p, depth + 1, err, errsz);
    path_pop(p, old);
    if (rc)
      return rc;
  }
  return 0;
}

static int check(const json_t *schema, const json_t *v, path_t *p, int depth, char *err,
                 size_t errsz) {
  if (depth > MAX_DEPTH)
    return fail(err, errsz, "arguments are nested too deeply");
  int rc = check_type(schema, v, p, err, errsz);
  if (!rc)
    rc = check_enum(schema, v, p, err, errsz);
  if (!rc)
    rc = check_bounds(schema, v, p, err, errsz);
  if (!rc && json_is_object(v))
    rc = check_object(schema, v, p, depth, err, errsz);
  if (!rc && json_is_array(v) && json_is_object(json_object_get(schema, "items"))) {
    const json_t *items = json_object_get(schema, "items");
    size_t i;
    const json_t *x;
    json_array_foreach(v, i, x) {
      size_t old = path_push_index(p, i);
      rc = check(items, x, p, depth + 1, err, errsz);
      path_pop(p, old);
      if (rc)
        break;
    }
  }
  return rc;
}

int tern_schema_validate(const json_t *schema, const json_t *args, char *err, size_t errsz) {
  if (err && errsz)
    err[0] = '\0';
  if (!json_is_object(schema) || !args)
    return fail(err, errsz, "no schema or no arguments to validate");
  path_t p = {.len = 0};
  p.s[0] = '\0';
  return check(schema, args, &p, 0, err, errsz);
}

/* ---- checking a schema itself ------------------------------------------ */

static int sfail(const path_t *p, char *err, size_t errsz, const char *what) {
  return fail(err, errsz, "schema%s%s: %s", p->len ? " at " : "", p->s, what);
}

static bool type_ok(const json_t *t) {
  return json_is_string(t) && type_index(json_string_value(t)) >= 0;
}

static int scheck(const json_t *s, path_t *p, int depth, char *err, size_t errsz) {
  if (depth > MAX_DEPTH)
    return sfail(p, err, errsz, "nested too deeply");
  if (!json_is_object(s))
    return sfail(p, err, errsz, "must be a JSON object");
  const json_t *type = json_object_get(s, "type");
  if (type && !type_ok(type)) {
    if (!json_is_array(type) || json_array_size(type) == 0)
      return sfail(p, err, errsz,
                   "'type' must be one of object, array, string, number, integer, boolean, null");
    size_t i;
    const json_t *t;
    json_array_foreach(type, i, t) {
      if (!type_ok(t))
        return sfail(p, err, errsz, "'type' lists an unknown type");
    }
  }
  const json_t *props = json_object_get(s, "properties");
  if (props && !json_is_object(props))
    return sfail(p, err, errsz, "'properties' must be an object");
  const json_t *req = json_object_get(s, "required");
  if (req) {
    if (!json_is_array(req))
      return sfail(p, err, errsz, "'required' must be an array of property names");
    size_t i;
    const json_t *r;
    json_array_foreach(req, i, r) {
      if (!json_is_string(r))
        return sfail(p, err, errsz, "'required' must be an array of property names");
      if (!json_object_get(props, json_string_value(r))) {
        char msg[160];
        snprintf(msg, sizeof msg, "'required' names '%.64s', which is not in 'properties'",
                 json_string_value(r));
        return sfail(p, err, errsz, msg);
      }
    }
  }
  const json_t *e = json_object_get(s, "enum");
  if (e && (!json_is_array(e) || json_array_size(e) == 0))
    return sfail(p, err, errsz, "'enum' must be a non-empty array");
  static const char *const nums[] = {"minimum", "maximum"};
  for (size_t i = 0; i < 2; i++) {
    const json_t *x = json_object_get(s, nums[i]);
    if (x && !json_is_number(x)) {
      char msg[64];
      snprintf(msg, sizeof msg, "'%s' must be a number", nums[i]);
      return sfail(p, err, errsz, msg);
    }
  }
  static const char *const counts[] = {"minLength", "maxLength", "minItems", "maxItems"};
  for (size_t i = 0; i < 4; i++) {
    const json_t *x = json_object_get(s, counts[i]);
    if (x && count_kw(s, counts[i]) < 0) {
      char msg[64];
      snprintf(msg, sizeof msg, "'%s' must be a non-negative integer", counts[i]);
      return sfail(p, err, errsz, msg);
    }
  }
  const char *key;
  const json_t *sub;
  json_object_foreach((json_t *)props, key, sub) {
    size_t old = path_push_key(p, key);
    int rc = scheck(sub, p, depth + 1, err, errsz);
    path_pop(p, old);
    if (rc)
      return rc;
  }
  const json_t *items = json_object_get(s, "items");
  if (items) {
    size_t old = path_push_key(p, "items");
    int rc = scheck(items, p, depth + 1, err, errsz);
    path_pop(p, old);
    if (rc)
      return rc;
  }
  const json_t *extra = json_object_get(s, "additionalProperties");
  if (extra && !json_is_boolean(extra)) {
    size_t old = path_push_key(p, "additionalProperties");
    int rc = scheck(extra, p, depth + 1, err, errsz);
    path_pop(p, old);
    if (rc)
      return rc;
  }
  return 0;
}

int tern__tools_schema_check(const json_t *schema, char *err, size_t errsz) {
  path_t p = {.len = 0};
  p.s[0] = '\0';
  return scheck(schema, &p, 0, err, errsz);
}
