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
#include "tern/json.h"
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
    size_t n = tern_utf8_chars(json_string_value(v), json_string_length(v));
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
