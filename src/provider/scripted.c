/* The scripted dialogue engine (see tern/scripted.h and docs/scripted.md).
 *
 * Loading parses the whole file, compiles every regular expression and
 * checks every template (capture names exist, braces close, the tool
 * arguments render to a JSON object), so a script that loads never fails
 * at reply time for a reason its author could have been told about.
 * After loading the script is read-only; glibc's regexec is thread-safe on
 * a shared pattern, so replies need no lock.
 */
#include "tern/scripted.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/json.h"

#define MAX_PATTERNS 32  /* match lines per rule */
#define MAX_CAPTURES 16  /* named captures per rule */
#define MAX_GROUPS 9     /* $1..$9 */
#define MAX_PATTERN 1024 /* bytes of one regular expression */
#define MAX_NAME 64      /* rule, capture and tool names */
#define MAX_INPUT 4096   /* bytes of a user message considered */

enum { SEC_RULE, SEC_START, SEC_FALLBACK };

typedef struct capture {
  char *name;
  regex_t re;
  int group; /* the group whose text is the value; -1: group 1 if any, else the match */
} capture_t;

typedef struct rule {
  int kind;
  char *name;
  int line; /* of the section header */
  regex_t match[MAX_PATTERNS];
  size_t n_match;
  size_t max_groups; /* the most groups any match pattern has */
  capture_t caps[MAX_CAPTURES];
  size_t n_caps;
  unsigned required; /* bit i: caps[i] must have matched */
  char *require_names;
  int require_line;
  char *say, *tool, *args, *after, *error;
  int say_line, tool_line, args_line, after_line, error_line;
} rule_t;

struct tern_script {
  rule_t **rules;
  size_t n_rules, cap_rules;
  rule_t *start;
  rule_t *fallback; /* always set once loaded */
};

static const char DEFAULT_FALLBACK[] =
    "Sorry, I can't help with that. I only know a few scripted answers.";

/* ---- small helpers ----------------------------------------------------- */

static void rule_free(rule_t *r) {
  if (!r)
    return;
  for (size_t i = 0; i < r->n_match; i++)
    regfree(&r->match[i]);
  for (size_t i = 0; i < r->n_caps; i++) {
    regfree(&r->caps[i].re);
    tern_free(r->caps[i].name);
  }
  tern_free(r->name);
  tern_free(r->require_names);
  tern_free(r->say);
  tern_free(r->tool);
  tern_free(r->args);
  tern_free(r->after);
  tern_free(r->error);
  tern_free(r);
}

void tern_script_free(tern_script_t *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->n_rules; i++)
    rule_free(s->rules[i]);
  tern_free(s->rules);
  rule_free(s->start);
  rule_free(s->fallback);
  tern_free(s);
}

size_t tern_script_rule_count(const tern_script_t *s) { return s ? s->n_rules : 0; }

static int valid_name(const char *s, int allow_dot) {
  size_t n = strlen(s);
  if (n == 0 || n > MAX_NAME || isdigit((unsigned char)s[0]))
    return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!isalnum(c) && c != '_' && c != '-' && !(allow_dot && c == '.'))
      return 0;
  }
  return 1;
}

size_t tern_script_normalize(const char *text, char *out, size_t outsz) {
  size_t j = 0;
  int space = 0;
  for (const unsigned char *p = (const unsigned char *)(text ? text : ""); *p; p++) {
    unsigned char c = *p;
    if (c == '\'')
      continue;
    if (isalnum(c) || c >= 0x80) {
      if (space && j > 0) {
        if (j + 1 < outsz)
          out[j] = ' ';
        j++;
      }
      space = 0;
      if (j + 1 < outsz)
        out[j] = (char)tolower(c);
      j++;
    } else {
      space = 1;
    }
  }
  if (outsz)
    out[j < outsz ? j : outsz - 1] = '\0';
  return j;
}

/* ---- output buffer ----------------------------------------------------- */

typedef struct buf {
  char *p;
  size_t n, cap;
  int rc;
} buf_t;

static void buf_add(buf_t *b, const char *s, size_t n) {
  if (b->rc)
    return;
  if (b->n + n > TERN_SCRIPT_MAX_REPLY) {
    b->rc = TERN_ETOOBIG;
    return;
  }
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + n + 1)
      cap *= 2;
    char *p = tern_realloc(b->p, cap);
    if (!p) {
      b->rc = TERN_ENOMEM;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

static void buf_add_json(buf_t *b, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      buf_add(b, e, 2);
    } else if (c < 0x20) {
      char e[8];
      snprintf(e, sizeof e, "\\u%04x", c);
      buf_add(b, e, 6);
    } else {
      buf_add(b, s + i, 1);
    }
  }
}

/* Hands over the buffer (an empty string when nothing was written). */
static int buf_take(buf_t *b, char **out) {
  *out = NULL;
  if (!b->rc && !b->p) {
    b->p = tern_strdup("");
    if (!b->p)
      b->rc = TERN_ENOMEM;
  }
  if (b->rc) {
    tern_free(b->p);
    b->p = NULL;
    return b->rc;
  }
  *out = b->p;
  b->p = NULL;
  return 0;
}

/* ---- templates --------------------------------------------------------- */

#define R_JSON 1   /* captures are escaped for a JSON string */
#define R_FIELDS 2 /* {field} takes values from the tool result */

typedef struct span {
  regoff_t so, eo;
} span_t;

typedef struct ctx {
  const char *text; /* the normalised user message */
  span_t pos[MAX_GROUPS + 1];
  span_t named[MAX_CAPTURES];
  json_t *result;         /* NULL when the result is not JSON */
  const char *raw_result; /* the tool result's text */
} ctx_t;

static void ctx_clear(ctx_t *c) {
  memset(c, 0, sizeof *c);
  c->text = "";
  for (size_t i = 0; i <= MAX_GROUPS; i++)
    c->pos[i].so = c->pos[i].eo = -1;
  for (size_t i = 0; i < MAX_CAPTURES; i++)
    c->named[i].so = c->named[i].eo = -1;
}

static void add_value(buf_t *b, const char *s, size_t n, int flags) {
  if (flags & R_JSON)
    buf_add_json(b, s, n);
  else
    buf_add(b, s, n);
}

static void add_json_scalar(buf_t *b, json_t *v, int flags) {
  char num[64];
  if (json_is_string(v)) {
    add_value(b, json_string_value(v), json_string_length(v), flags);
  } else if (json_is_integer(v)) {
    snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    buf_add(b, num, strlen(num));
  } else if (json_is_real(v)) {
    snprintf(num, sizeof num, "%.10g", json_real_value(v));
    buf_add(b, num, strlen(num));
  } else if (json_is_true(v)) {
    buf_add(b, "yes", 3);
  } else if (json_is_false(v)) {
    buf_add(b, "no", 2);
  }
}

/* Appends a result field; returns 0 when it is missing or empty (so the
 * default is used instead). Arrays are read as lists: "a, b and c". */
static int add_field(buf_t *b, const ctx_t *c, const char *path, size_t plen, int flags) {
  if (plen == 1 && path[0] == '.') {
    if (!c->raw_result || !c->raw_result[0])
      return 0;
    add_value(b, c->raw_result, strlen(c->raw_result), flags);
    return 1;
  }
  json_t *v = c->result;
  const char *p = path, *end = path + plen;
  while (v && p < end) {
    const char *dot = memchr(p, '.', (size_t)(end - p));
    size_t klen = dot ? (size_t)(dot - p) : (size_t)(end - p);
    char key[MAX_NAME + 1];
    if (klen > MAX_NAME || !json_is_object(v))
      return 0;
    memcpy(key, p, klen);
    key[klen] = '\0';
    v = json_object_get(v, key);
    p = dot ? dot + 1 : end;
  }
  if (!v || json_is_null(v) || json_is_object(v))
    return 0;
  if (json_is_string(v) && json_string_length(v) == 0)
    return 0;
  if (json_is_array(v)) {
    size_t n = json_array_size(v);
    if (n == 0)
      return 0;
    for (size_t i = 0; i < n; i++) {
      if (i > 0)
        buf_add(b, i + 1 == n ? " and " : ", ", i + 1 == n ? 5 : 2);
      add_json_scalar(b, json_array_get(v, i), flags);
    }
    return 1;
  }
  add_json_scalar(b, v, flags);
  return 1;
}

static int find_capture(const rule_t *r, const char *name, size_t n) {
  for (size_t i = 0; i < r->n_caps; i++)
    if (strlen(r->caps[i].name) == n && !memcmp(r->caps[i].name, name, n))
      return (int)i;
  return -1;
}

/* Renders tpl into b. With c == NULL it only checks the template (every
 * substitution takes its default) and explains a problem in why. */
static int render(const rule_t *r, const char *tpl, int flags, const ctx_t *c, buf_t *b,
                  char *why, size_t whysz) {
  ctx_t empty;
  if (!c) {
    ctx_clear(&empty);
    c = &empty;
  }
  const char *p = tpl;
  while (*p && !b->rc) {
    if (p[0] == '$' && p[1] == '$') {
      buf_add(b, "$", 1);
      p += 2;
    } else if (p[0] == '$' && isdigit((unsigned char)p[1])) {
      size_t g = (size_t)(p[1] - '0');
      if (g == 0 || g > r->max_groups) {
        snprintf(why, whysz, "$%zu refers to a group the match patterns do not have", g);
        return TERN_EFORMAT;
      }
      if (c->pos[g].so >= 0)
        add_value(b, c->text + c->pos[g].so, (size_t)(c->pos[g].eo - c->pos[g].so), flags);
      p += 2;
    } else if (p[0] == '$' && p[1] == '{') {
      const char *close = strchr(p + 2, '}');
      if (!close) {
        snprintf(why, whysz, "'${' without a closing '}'");
        return TERN_EFORMAT;
      }
      const char *name = p + 2;
      const char *bar = memchr(name, '|', (size_t)(close - name));
      size_t nlen = (size_t)((bar ? bar : close) - name);
      span_t sp = {-1, -1};
      if (nlen == 1 && isdigit((unsigned char)name[0])) {
        size_t g = (size_t)(name[0] - '0');
        if (g == 0 || g > r->max_groups) {
          snprintf(why, whysz, "${%zu} refers to a group the match patterns do not have", g);
          return TERN_EFORMAT;
        }
        sp = c->pos[g];
      } else {
        int i = find_capture(r, name, nlen);
        if (i < 0) {
          snprintf(why, whysz, "'${%.*s}' names no capture of this rule", (int)(nlen > 40 ? 40 : nlen),
                   name);
          return TERN_EFORMAT;
        }
        sp = c->named[i];
      }
      if (sp.so >= 0 && sp.eo > sp.so)
        add_value(b, c->text + sp.so, (size_t)(sp.eo - sp.so), flags);
      else if (bar)
        add_value(b, bar + 1, (size_t)(close - bar - 1), flags);
      p = close + 1;
    } else if ((flags & R_FIELDS) && p[0] == '{' && p[1] == '{') {
      buf_add(b, "{", 1);
      p += 2;
    } else if ((flags & R_FIELDS) && p[0] == '}' && p[1] == '}') {
      buf_add(b, "}", 1);
      p += 2;
    } else if ((flags & R_FIELDS) && p[0] == '{') {
      const char *close = strchr(p + 1, '}');
      if (!close) {
        snprintf(why, whysz, "'{' without a closing '}' (write '{{' for a brace)");
        return TERN_EFORMAT;
      }
      const char *path = p + 1;
      const char *bar = memchr(path, '|', (size_t)(close - path));
      size_t plen = (size_t)((bar ? bar : close) - path);
      if (plen == 0) {
        snprintf(why, whysz, "'{}' names no field");
        return TERN_EFORMAT;
      }
      if (!add_field(b, c, path, plen, flags) && bar)
        add_value(b, bar + 1, (size_t)(close - bar - 1), flags);
      p = close + 1;
    } else {
      size_t run = strcspn(p + 1, (flags & R_FIELDS) ? "${}" : "$") + 1;
      buf_add(b, p, run);
      p += run;
    }
  }
  return b->rc;
}

/* ---- JSON syntax ------------------------------------------------------- */

/* 1 when text is valid JSON; `object` asks that it be an object. Checked
 * without allocating (tern_json_valid), so out of memory is never taken
 * for bad JSON. */
static int json_valid(const char *text, int object) {
  const char *p = text;
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
    p++;
  if (object && *p != '{')
    return 0;
  return tern_json_valid(text, strlen(text), NULL);
}

/* ---- parsing ----------------------------------------------------------- */

typedef struct parser {
  tern_script_t *s;
  const char *name;
  char *err;
  size_t errsz;
  rule_t *cur; /* the section being read */
} parser_t;

static int fail(parser_t *ps, int line, const char *fmt, ...) {
  if (ps->err && ps->errsz) {
    int n = snprintf(ps->err, ps->errsz, "%s:%d: ", ps->name, line);
    if (n >= 0 && (size_t)n < ps->errsz) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(ps->err + n, ps->errsz - (size_t)n, fmt, ap);
      va_end(ap);
    }
  }
  return TERN_EFORMAT;
}

static const char *sec_label(const rule_t *r) {
  return r->kind == SEC_START ? "[start]" : r->kind == SEC_FALLBACK ? "[fallback]" : "rule";
}

static int check_template(parser_t *ps, const rule_t *r, const char *tpl, int line, int flags,
                          const char *key) {
  if (!tpl)
    return 0;
  char why[160];
  buf_t b = {0};
  int rc = render(r, tpl, flags, NULL, &b, why, sizeof why);
  if (rc == TERN_EFORMAT)
    rc = fail(ps, line, "in '%s': %s", key, why);
  else if (!rc && (flags & R_JSON) && !json_valid(b.p ? b.p : "", 1))
    rc = fail(ps, line, "'args' is not a JSON object once filled in with defaults: %.60s",
              b.p ? b.p : "");
  tern_free(b.p);
  return rc;
}

/* Checks a finished section and files it in the script. */
static int end_section(parser_t *ps) {
  rule_t *r = ps->cur;
  if (!r)
    return 0;
  int rc = 0;
  if (r->kind == SEC_RULE) {
    if (r->n_match == 0)
      rc = fail(ps, r->line, "rule '%s' has no 'match' pattern", r->name);
    else if (!r->say && !r->tool)
      rc = fail(ps, r->line, "rule '%s' has neither 'say' nor 'tool'", r->name);
    else if (r->tool && !r->after)
      rc = fail(ps, r->line, "rule '%s' calls a tool but has no 'after' reply for its result",
                r->name);
    else if (!r->tool && (r->args || r->after || r->error))
      rc = fail(ps, r->args ? r->args_line : r->after ? r->after_line : r->error_line,
                "'%s' needs a 'tool' in rule '%s'", r->args ? "args" : r->after ? "after" : "error",
                r->name);
  } else if (!r->say) {
    rc = fail(ps, r->line, "%s needs a 'say' reply", sec_label(r));
  }
  if (!rc && r->require_names) {
    /* Resolved here because captures may be declared after 'require'. */
    char *save = NULL;
    for (char *t = strtok_r(r->require_names, ", ", &save); t && !rc;
         t = strtok_r(NULL, ", ", &save)) {
      int i = find_capture(r, t, strlen(t));
      if (i < 0)
        rc = fail(ps, r->require_line, "'require' names '%s', which is no capture of rule '%s'", t,
                  r->name);
      else
        r->required |= 1u << i;
    }
  }
  if (!rc)
    rc = check_template(ps, r, r->say, r->say_line, 0, "say");
  if (!rc)
    rc = check_template(ps, r, r->args, r->args_line, R_JSON, "args");
  if (!rc)
    rc = check_template(ps, r, r->after, r->after_line, R_FIELDS, "after");
  if (!rc)
    rc = check_template(ps, r, r->error, r->error_line, R_FIELDS, "error");
  if (!rc && r->tool && !r->args) {
    r->args = tern_strdup("{}");
    if (!r->args)
      rc = TERN_ENOMEM;
  }
  if (rc)
    return rc; /* ps->cur still owns r */
  tern_script_t *s = ps->s;
  if (r->kind == SEC_START) {
    s->start = r;
  } else if (r->kind == SEC_FALLBACK) {
    s->fallback = r;
  } else {
    if (s->n_rules == s->cap_rules) {
      size_t cap = s->cap_rules ? s->cap_rules * 2 : 8;
      rule_t **nr = tern_realloc(s->rules, cap * sizeof *nr);
      if (!nr)
        return TERN_ENOMEM;
      s->rules = nr;
      s->cap_rules = cap;
    }
    s->rules[s->n_rules++] = r;
  }
  ps->cur = NULL;
  return 0;
}

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
    s[--n] = '\0';
  return s;
}

static int rule_named(const tern_script_t *s, const char *name) {
  for (size_t i = 0; i < s->n_rules; i++)
    if (!strcmp(s->rules[i]->name, name))
      return 1;
  return 0;
}

static int begin_section(parser_t *ps, char *hdr, int line) {
  int rc = end_section(ps);
  if (rc)
    return rc;
  hdr = trim(hdr);
  int kind;
  const char *name;
  if (!strcmp(hdr, "start")) {
    kind = SEC_START;
    name = "start";
    if (ps->s->start)
      return fail(ps, line, "a second [start] section");
  } else if (!strcmp(hdr, "fallback")) {
    kind = SEC_FALLBACK;
    name = "fallback";
    if (ps->s->fallback)
      return fail(ps, line, "a second [fallback] section");
  } else if (!strncmp(hdr, "rule", 4) && (hdr[4] == ' ' || hdr[4] == '\t')) {
    kind = SEC_RULE;
    name = trim(hdr + 4);
    if (!valid_name(name, 0))
      return fail(ps, line, "bad rule name '%.40s' (letters, digits, '_' and '-', at most %d)",
                  name, MAX_NAME);
    if (rule_named(ps->s, name) || !strcmp(name, "start") || !strcmp(name, "fallback"))
      return fail(ps, line, "a second rule named '%s'", name);
  } else {
    return fail(ps, line, "unknown section '[%.40s]' (expected [rule NAME], [start] or [fallback])",
                hdr);
  }
  rule_t *r = tern_calloc(1, sizeof *r);
  if (!r)
    return TERN_ENOMEM;
  r->kind = kind;
  r->line = line;
  r->name = tern_strdup(name);
  if (!r->name) {
    tern_free(r);
    return TERN_ENOMEM;
  }
  ps->cur = r;
  return 0;
}

/* glibc compiles a repetition by copying the repeated part ('x+' is
 * 'xx*', 'x{3}' is 'xxx'), so stacked or nested repetitions grow the
 * compiled pattern exponentially ('x++++...' exhausts memory). Scripts
 * are configuration, not attacker input, but a typo must not take the
 * process down: stacked operators and backreferences are refused and the
 * product of all copy factors is bounded. */
#define MAX_COPY_FACTOR 256

/* Reads "n}", "n,}" or "n,m}" after a '{'; returns the bytes read (0 if
 * it is no interval) and the largest count in *most (saturating). */
static size_t read_interval(const char *q, unsigned long *most) {
  size_t i = 0;
  unsigned long lo = 0, hi = 0;
  int have_lo = 0, have_hi = 0, comma = 0;
  for (; isdigit((unsigned char)q[i]); i++, have_lo = 1)
    lo = lo < 100000 ? lo * 10 + (unsigned long)(q[i] - '0') : lo;
  if (q[i] == ',') {
    comma = 1;
    for (i++; isdigit((unsigned char)q[i]); i++, have_hi = 1)
      hi = hi < 100000 ? hi * 10 + (unsigned long)(q[i] - '0') : hi;
  }
  if (!have_lo || q[i] != '}')
    return 0;
  *most = comma ? (have_hi ? (hi > lo ? hi : lo) : lo + 1) : lo;
  return i + 1;
}

static const char *pattern_problem(const char *p) {
  unsigned long factor = 1;
  int prev_rep = 0;
  for (size_t i = 0; p[i];) {
    char c = p[i];
    if (c == '\\') {
      if (p[i + 1] >= '1' && p[i + 1] <= '9')
        return "backreferences (\\1..\\9) are not supported";
      i += p[i + 1] ? 2 : 1;
      prev_rep = 0;
      continue;
    }
    if (c == '[') { /* a bracket expression: skip to its end */
      size_t j = i + 1;
      if (p[j] == '^')
        j++;
      if (p[j] == ']')
        j++;
      while (p[j] && p[j] != ']') {
        if (p[j] == '[' && (p[j + 1] == ':' || p[j + 1] == '.' || p[j + 1] == '=')) {
          const char *end = strchr(p + j + 2, p[j + 1]);
          j = end && end[1] == ']' ? (size_t)(end - p) + 2 : j + 1;
        } else {
          j++;
        }
      }
      i = p[j] ? j + 1 : j;
      prev_rep = 0;
      continue;
    }
    unsigned long copies = 0;
    size_t len = 1;
    if (c == '*' || c == '?')
      copies = 1;
    else if (c == '+')
      copies = 2;
    else if (c == '{' && (len = read_interval(p + i + 1, &copies)) > 0)
      len += 1, copies += 1;
    else
      len = 1, copies = 0;
    if (copies) {
      if (prev_rep)
        return "stacked repetition operators (like 'a++' or 'a*{2}')";
      factor *= copies;
      if (factor > MAX_COPY_FACTOR)
        return "too many or too large repetitions ('+' and '{n,m}' multiply the pattern)";
      prev_rep = 1;
    } else {
      prev_rep = 0;
    }
    i += len;
  }
  return NULL;
}

static int compile(parser_t *ps, regex_t *re, const char *pattern, int line) {
  if (strlen(pattern) > MAX_PATTERN)
    return fail(ps, line, "pattern longer than %d bytes", MAX_PATTERN);
  const char *problem = pattern_problem(pattern);
  if (problem)
    return fail(ps, line, "bad regular expression: %s", problem);
  int e = regcomp(re, pattern, REG_EXTENDED | REG_ICASE);
  if (e) {
    char msg[128];
    regerror(e, re, msg, sizeof msg);
    if (e == REG_ESPACE)
      return TERN_ENOMEM;
    return fail(ps, line, "bad regular expression: %s", msg);
  }
  return 0;
}

static int set_text(parser_t *ps, char **slot, int *slot_line, const char *key, const char *val,
                    int line) {
  if (*slot)
    return fail(ps, line, "'%s' given twice in %s '%s'", key, sec_label(ps->cur), ps->cur->name);
  *slot = tern_strdup(val);
  if (!*slot)
    return TERN_ENOMEM;
  *slot_line = line;
  return 0;
}

static int key_value(parser_t *ps, char *line_text, int line) {
  rule_t *r = ps->cur;
  char *eq = strchr(line_text, '=');
  if (!eq)
    return fail(ps, line, "expected 'key = value' or a [section]");
  *eq = '\0';
  char *key = trim(line_text), *val = trim(eq + 1);
  if (!r)
    return fail(ps, line, "'%.40s' outside any section (start one with [rule NAME])", key);
  int rule_only = strcmp(key, "say") != 0;
  if (rule_only && r->kind != SEC_RULE) {
    if (!strcmp(key, "match") || !strcmp(key, "tool") || !strcmp(key, "args") ||
        !strcmp(key, "after") || !strcmp(key, "error") || !strcmp(key, "require") ||
        !strncmp(key, "capture", 7))
      return fail(ps, line, "'%.40s' is not allowed in %s (only 'say')", key, sec_label(r));
  }
  if (!val[0])
    return fail(ps, line, "'%.40s' has no value", key);
  if (!strcmp(key, "match")) {
    if (r->n_match == MAX_PATTERNS)
      return fail(ps, line, "more than %d 'match' patterns in rule '%s'", MAX_PATTERNS, r->name);
    int rc = compile(ps, &r->match[r->n_match], val, line);
    if (rc)
      return rc;
    size_t groups = r->match[r->n_match].re_nsub;
    r->n_match++;
    if (groups > r->max_groups)
      r->max_groups = groups > MAX_GROUPS ? MAX_GROUPS : groups;
    return 0;
  }
  if (!strncmp(key, "capture", 7) && (key[7] == ' ' || key[7] == '\t')) {
    char *cname = trim(key + 7);
    int group = -1;
    char *sp = strpbrk(cname, " \t");
    if (sp) { /* "capture NAME N": the value is group N */
      *sp = '\0';
      char *num = trim(sp + 1);
      if (!isdigit((unsigned char)num[0]) || num[1])
        return fail(ps, line, "expected 'capture NAME' or 'capture NAME N' with N a digit");
      group = num[0] - '0';
    }
    if (!valid_name(cname, 0) || strchr(cname, '-'))
      return fail(ps, line, "bad capture name '%.40s' (letters, digits and '_', not first a digit)",
                  cname);
    if (find_capture(r, cname, strlen(cname)) >= 0)
      return fail(ps, line, "a second capture named '%s'", cname);
    if (r->n_caps == MAX_CAPTURES)
      return fail(ps, line, "more than %d captures in rule '%s'", MAX_CAPTURES, r->name);
    capture_t *c = &r->caps[r->n_caps];
    c->name = tern_strdup(cname);
    if (!c->name)
      return TERN_ENOMEM;
    int rc = compile(ps, &c->re, val, line);
    if (rc) {
      tern_free(c->name);
      c->name = NULL;
      return rc;
    }
    c->group = group;
    r->n_caps++;
    if (group > (int)c->re.re_nsub)
      return fail(ps, line, "capture '%s' takes group %d but its pattern has %zu", cname, group,
                  (size_t)c->re.re_nsub);
    return 0;
  }
  if (!strcmp(key, "require"))
    return set_text(ps, &r->require_names, &r->require_line, key, val, line);
  if (!strcmp(key, "say"))
    return set_text(ps, &r->say, &r->say_line, key, val, line);
  if (!strcmp(key, "tool")) {
    if (!valid_name(val, 1))
      return fail(ps, line, "bad tool name '%.40s'", val);
    return set_text(ps, &r->tool, &r->tool_line, key, val, line);
  }
  if (!strcmp(key, "args"))
    return set_text(ps, &r->args, &r->args_line, key, val, line);
  if (!strcmp(key, "after"))
    return set_text(ps, &r->after, &r->after_line, key, val, line);
  if (!strcmp(key, "error"))
    return set_text(ps, &r->error, &r->error_line, key, val, line);
  return fail(ps, line,
              "unknown key '%.40s' (expected match, capture NAME, require, say, tool, args, after "
              "or error)",
              key);
}

static int parse(parser_t *ps, char *text) {
  int line = 0;
  char *save = NULL;
  for (char *p = text; p; p = save) {
    line++;
    char *nl = strchr(p, '\n');
    save = nl ? nl + 1 : NULL;
    if (nl)
      *nl = '\0';
    size_t n = strlen(p);
    if (n > 0 && p[n - 1] == '\r')
      p[--n] = '\0';
    char *t = trim(p);
    if (!t[0] || t[0] == '#' || t[0] == ';')
      continue;
    int rc;
    if (t[0] == '[') {
      size_t len = strlen(t);
      if (t[len - 1] != ']')
        return fail(ps, line, "section header without a closing ']'");
      t[len - 1] = '\0';
      rc = begin_section(ps, t + 1, line);
    } else {
      rc = key_value(ps, t, line);
    }
    if (rc)
      return rc;
  }
  return end_section(ps);
}

int tern_script_load_string(const char *text, const char *name, tern_script_t **out, char *err,
                            size_t errsz) {
  if (err && errsz)
    err[0] = '\0';
  if (!out)
    return TERN_EINVAL;
  *out = NULL;
  if (!text)
    return TERN_EINVAL;
  parser_t ps = {.name = name ? name : "<string>", .err = err, .errsz = errsz};
  size_t n = strlen(text);
  if (n > TERN_SCRIPT_MAX_BYTES) {
    if (err && errsz)
      snprintf(err, errsz, "%s: larger than %d bytes", ps.name, TERN_SCRIPT_MAX_BYTES);
    return TERN_ETOOBIG;
  }
  char *copy = tern_strndup(text, n);
  if (!copy)
    return TERN_ENOMEM;
  ps.s = tern_calloc(1, sizeof *ps.s);
  int rc = ps.s ? parse(&ps, copy) : TERN_ENOMEM;
  tern_free(copy);
  rule_free(ps.cur);
  if (!rc && !ps.s->fallback) {
    rule_t *fb = tern_calloc(1, sizeof *fb);
    if (fb) {
      fb->kind = SEC_FALLBACK;
      fb->name = tern_strdup("fallback");
      fb->say = tern_strdup(DEFAULT_FALLBACK);
    }
    if (!fb || !fb->name || !fb->say) {
      rule_free(fb);
      rc = TERN_ENOMEM;
    } else {
      ps.s->fallback = fb;
    }
  }
  if (rc) {
    if (rc == TERN_ENOMEM && err && errsz)
      snprintf(err, errsz, "%s: out of memory", ps.name);
    tern_script_free(ps.s);
    return rc;
  }
  *out = ps.s;
  return 0;
}

int tern_script_load_file(const char *path, tern_script_t **out, char *err, size_t errsz) {
  if (err && errsz)
    err[0] = '\0';
  if (!out || !path)
    return TERN_EINVAL;
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    if (err && errsz)
      snprintf(err, errsz, "%s: cannot open: %s", path, strerror(e));
    return e == ENOENT ? TERN_ENOENT : TERN_EIO;
  }
  char *buf = tern_malloc(TERN_SCRIPT_MAX_BYTES + 2);
  if (!buf) {
    fclose(f);
    return TERN_ENOMEM;
  }
  size_t n = fread(buf, 1, TERN_SCRIPT_MAX_BYTES + 1, f);
  int bad = ferror(f);
  fclose(f);
  int rc;
  if (bad) {
    if (err && errsz)
      snprintf(err, errsz, "%s: read error", path);
    rc = TERN_EIO;
  } else if (n > TERN_SCRIPT_MAX_BYTES) {
    if (err && errsz)
      snprintf(err, errsz, "%s: larger than %d bytes", path, TERN_SCRIPT_MAX_BYTES);
    rc = TERN_ETOOBIG;
  } else if (memchr(buf, '\0', n)) {
    if (err && errsz)
      snprintf(err, errsz, "%s: contains a NUL byte (not a text file?)", path);
    rc = TERN_EFORMAT;
  } else {
    buf[n] = '\0';
    rc = tern_script_load_string(buf, path, out, err, errsz);
  }
  tern_free(buf);
  return rc;
}

/* ---- replying ---------------------------------------------------------- */

static void trim_span(const char *text, span_t *sp) {
  while (sp->so < sp->eo && text[sp->so] == ' ')
    sp->so++;
  while (sp->eo > sp->so && text[sp->eo - 1] == ' ')
    sp->eo--;
}

/* Does rule r take this message? Fills the captures into c. */
static int rule_matches(const rule_t *r, const char *text, ctx_t *c) {
  regmatch_t pm[MAX_GROUPS + 1];
  for (size_t i = 0; i < r->n_match; i++) {
    if (regexec(&r->match[i], text, MAX_GROUPS + 1, pm, 0) != 0)
      continue;
    ctx_clear(c);
    c->text = text;
    for (size_t g = 0; g <= MAX_GROUPS; g++) {
      c->pos[g].so = pm[g].rm_so;
      c->pos[g].eo = pm[g].rm_eo;
      if (c->pos[g].so >= 0)
        trim_span(text, &c->pos[g]);
    }
    for (size_t k = 0; k < r->n_caps; k++) {
      regmatch_t cm[MAX_GROUPS + 1];
      if (regexec(&r->caps[k].re, text, MAX_GROUPS + 1, cm, 0) != 0)
        continue;
      int g = r->caps[k].group;
      if (g < 0)
        g = r->caps[k].re.re_nsub >= 1 && cm[1].rm_so >= 0 ? 1 : 0;
      regmatch_t *use = &cm[g];
      if (use->rm_so < 0)
        continue;
      c->named[k].so = use->rm_so;
      c->named[k].eo = use->rm_eo;
      trim_span(text, &c->named[k]);
      if (c->named[k].eo <= c->named[k].so)
        c->named[k].so = c->named[k].eo = -1;
    }
    for (size_t k = 0; k < r->n_caps; k++)
      if ((r->required & (1u << k)) && c->named[k].so < 0)
        return 0;
    return 1;
  }
  return 0;
}

static int render_to(const rule_t *r, const char *tpl, int flags, const ctx_t *c, char **out) {
  char why[160];
  buf_t b = {0};
  int rc = render(r, tpl, flags, c, &b, why, sizeof why);
  if (rc) {
    tern_free(b.p);
    *out = NULL;
    return rc == TERN_EFORMAT ? TERN_EINVAL : rc; /* loading checked every template */
  }
  return buf_take(&b, out);
}

static int say(const rule_t *r, const ctx_t *c, tern_script_reply_t *out) {
  out->rule = r->name;
  return render_to(r, r->say, 0, c, &out->text);
}

static int call_tool(const tern_script_t *s, const rule_t *r, const ctx_t *c,
                     tern_script_reply_t *out) {
  out->rule = r->name;
  int rc = render_to(r, r->args, R_JSON, c, &out->arguments);
  if (!rc && !json_valid(out->arguments, 1)) {
    /* A capture outside quotes made bad JSON: no call rather than a
     * broken one, and an honest reply instead. */
    tern_script_reply_free(out);
    return say(s->fallback, NULL, out);
  }
  if (!rc && r->say)
    rc = render_to(r, r->say, 0, c, &out->text);
  if (!rc) {
    out->tool_name = tern_strdup(r->tool);
    if (!out->tool_name)
      rc = TERN_ENOMEM;
  }
  return rc;
}

/* The tool a result answers: its own name, or the call it names. */
static const char *result_tool(const tern_chat_t *chat, size_t idx) {
  const tern_chat_msg_t *m = tern_chat_at(chat, idx);
  if (m->name && m->name[0])
    return m->name;
  if (!m->tool_call_id)
    return NULL;
  for (size_t i = idx; i-- > 0;) {
    const tern_chat_msg_t *a = tern_chat_at(chat, i);
    if (a->role != TERN_ROLE_ASSISTANT)
      continue;
    for (size_t k = 0; k < a->n_tool_calls; k++)
      if (a->tool_calls[k].id && !strcmp(a->tool_calls[k].id, m->tool_call_id))
        return a->tool_calls[k].name;
  }
  return NULL;
}

static int is_error_result(json_t *j) {
  if (!json_is_object(j))
    return 0;
  json_t *e = json_object_get(j, "error");
  if (e && !json_is_null(e) && !json_is_false(e))
    return 1;
  json_t *ok = json_object_get(j, "ok");
  return ok && json_is_false(ok);
}

static int after_tool(const tern_script_t *s, const tern_chat_t *chat, size_t idx,
                      const char *text, tern_script_reply_t *out) {
  const char *tool = result_tool(chat, idx);
  const rule_t *r = NULL;
  ctx_t c;
  ctx_clear(&c);
  for (size_t i = 0; tool && i < s->n_rules && !r; i++)
    if (s->rules[i]->tool && !strcmp(s->rules[i]->tool, tool) && rule_matches(s->rules[i], text, &c))
      r = s->rules[i];
  if (!r) {
    ctx_clear(&c);
    for (size_t i = 0; tool && i < s->n_rules && !r; i++)
      if (s->rules[i]->tool && !strcmp(s->rules[i]->tool, tool))
        r = s->rules[i];
  }
  if (!r) /* a result for a tool this script never calls */
    return say(s->fallback, NULL, out);
  const tern_chat_msg_t *m = tern_chat_at(chat, idx);
  c.raw_result = m->content ? m->content : "";
  json_error_t jerr;
  c.result = json_loads(c.raw_result, JSON_DECODE_ANY, &jerr);
  if (!c.result && json_valid(c.raw_result, 0))
    return TERN_ENOMEM; /* jansson allocates through tern_alloc too */
  const char *tpl = (is_error_result(c.result) && r->error) ? r->error : r->after;
  out->rule = r->name;
  int rc = render_to(r, tpl, R_FIELDS, &c, &out->text);
  json_decref(c.result);
  return rc;
}

int tern_script_fallback(const tern_script_t *s, tern_script_reply_t *out) {
  if (!out)
    return TERN_EINVAL;
  memset(out, 0, sizeof *out);
  if (!s)
    return TERN_EINVAL;
  int rc = say(s->fallback, NULL, out);
  if (rc)
    tern_script_reply_free(out);
  return rc;
}

void tern_script_reply_free(tern_script_reply_t *r) {
  if (!r)
    return;
  tern_free(r->text);
  tern_free(r->tool_name);
  tern_free(r->arguments);
  memset(r, 0, sizeof *r);
}

int tern_script_respond(const tern_script_t *s, const tern_chat_t *chat, tern_script_reply_t *out) {
  if (!out)
    return TERN_EINVAL;
  memset(out, 0, sizeof *out);
  if (!s || !chat)
    return TERN_EINVAL;
  size_t n = tern_chat_count(chat);
  const char *user = tern_chat_last_user(chat);
  char text[MAX_INPUT + 1];
  tern_script_normalize(user ? user : "", text, sizeof text);
  int rc;
  const tern_chat_msg_t *last = n ? tern_chat_at(chat, n - 1) : NULL;
  if (last && last->role == TERN_ROLE_TOOL) {
    rc = after_tool(s, chat, n - 1, text, out);
  } else if (!user) {
    rc = say(s->start ? s->start : s->fallback, NULL, out);
  } else {
    const rule_t *hit = NULL;
    ctx_t c;
    for (size_t i = 0; i < s->n_rules && !hit; i++)
      if (rule_matches(s->rules[i], text, &c))
        hit = s->rules[i];
    if (!hit)
      rc = say(s->fallback, NULL, out);
    else if (hit->tool)
      rc = call_tool(s, hit, &c, out);
    else
      rc = say(hit, &c, out);
  }
  if (rc)
    tern_script_reply_free(out);
  return rc;
}
