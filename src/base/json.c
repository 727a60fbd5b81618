/* JSON through jansson, made safe when memory runs short.
 *
 * jansson reports some allocation failures inside its parser as syntax
 * errors (or with no error at all), can silently drop a byte of a long
 * token, and its writer can silently drop an object key. tern must tell
 * "out of memory" from "bad input" (one is retried, the other refused) and
 * must never pass on damaged data. So a load that fails on text which an
 * allocation-free syntax check accepts is out of memory, and a tree whose
 * fingerprint differs from its text's is refused as out of memory too; a
 * dump is checked the same way. The scanner allocates nothing.
 */
#include "tern/json.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/error.h"

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

char *tern_utf8_clean(const char *s, size_t len, size_t max, int *cut) {
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

size_t tern_utf8_chars(const char *s, size_t len) {
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
 * is NUL-terminated (tern_json_load's contract), so strtoll and strtod
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

bool tern_json_valid(const char *text, size_t len, const char *top_key) {
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

int tern_json_load(const char *text, size_t len, size_t flags, json_t **out,
                          json_error_t *jerr) {
  json_error_t local;
  if (!jerr)
    jerr = &local;
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

char *tern_json_dump(const json_t *j) {
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

