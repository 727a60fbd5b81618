/* The tool registry and the life of one tool call.
 *
 * A call is checked in invoke (unknown tool, oversized or malformed
 * arguments, schema), so a handler only ever sees arguments that match its
 * schema. Every outcome reaches `done` through a zero-delay timer: never
 * inside invoke, never inside the handler's own completion, so callers and
 * handlers need not be re-entrant.
 *
 * Lifetime of a call context: it is freed only when BOTH the handler is
 * not running (never started, or completed) AND the call is over (done
 * delivered, or cancelled). A handler that finishes after a timeout or a
 * cancel therefore still holds a valid ctx, and its completion is dropped
 * quietly. Contexts whose handler never completes stay on the registry's
 * list and are freed when the registry is destroyed.
 *
 * Every result the model reads is built with jansson, bounded to
 * TERN_TOOL_MAX_RESULT bytes and cleaned to valid UTF-8 first.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agent/tools_internal.h"
#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/json.h"
#include "tern/loop.h"
#include "tern/tools.h"

#define NAME_MAX_LEN 64
/* When even building an error result runs out of memory, the model still
 * gets a well-formed answer. */
#define OOM_RESULT "{\"error\":\"the tool could not run: out of memory\"}"

typedef struct tool {
  char *name, *description, *params;
  json_t *schema;
  tern_tool_fn fn;
  void *ud;
  tern_usec_t timeout;
} tool_t;

typedef struct cleanup {
  void (*fn)(void *ud);
  void *ud;
  struct cleanup *next;
} cleanup_t;

struct tern_tools {
  tool_t **tools;
  tern_tool_def_t *defs;
  size_t n, cap;
  tern_tool_ctx_t *calls; /* every live context */
  cleanup_t *cleanups;
};

enum { PH_RUN, PH_WAIT, PH_DELIVER };

struct tern_tool_ctx {
  tern_op_t op; /* first: the handle given to the caller */
  tern_tools_t *tools;
  const tool_t *tool;
  tern_loop_t *loop;
  tern_loop_timer_t *timer; /* NULL once the call is over */
  tern_tool_call_t call;
  json_t *args;
  json_t *state;
  tern_tool_done_fn done;
  void *ud;
  int phase;
  bool handler_running;
  bool call_over;
  bool result_ok;
  char *result; /* NULL with result_ok false: OOM_RESULT */
  tern_tool_ctx_t *next, *prev;
};

static void seterr(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errsz, const char *fmt, ...) {
  if (!err || !errsz)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errsz, fmt, ap);
  va_end(ap);
}

/* ---- results ----------------------------------------------------------- */

/* {key: text} with text cut so that the whole answer fits the bound. */
static int wrap_text(const char *key, const char *text, size_t len, char **out) {
  size_t budget = TERN_TOOL_MAX_RESULT - 96; /* room for the key and the note */
  for (;;) {
    int cut = 0;
    char *clean = tern_utf8_clean(text, len, budget, &cut);
    if (!clean)
      return TERN_ENOMEM;
    json_t *o = json_object();
    int bad = !o || json_object_set_new(o, key, json_string(clean)) != 0;
    if (!bad && cut)
      bad = json_object_set_new(o, "truncated", json_true()) != 0 ||
            json_object_set_new(o, "note", json_string("the result was too long and was cut")) != 0;
    tern_free(clean);
    char *s = bad ? NULL : tern_json_dump(o);
    json_decref(o);
    if (!s)
      return TERN_ENOMEM;
    /* Escaping can grow text up to six-fold; cut harder until it fits. */
    if (strlen(s) <= TERN_TOOL_MAX_RESULT || budget < 64) {
      *out = s;
      return 0;
    }
    tern_free(s);
    budget /= 2;
  }
}

static int error_result(const char *msg, char **out) {
  return wrap_text("error", msg, strlen(msg), out);
}

/* The answer the model reads for a handler's completion. */
static int normalize(bool ok, const char *text, char **out) {
  if (!text) {
    if (ok) {
      *out = tern_strdup("{}");
      return *out ? 0 : TERN_ENOMEM;
    }
    return error_result("the tool failed without saying why", out);
  }
  size_t len = strlen(text);
  /* Checked without building a tree: cheaper, and it cannot fail. */
  if (len <= TERN_TOOL_MAX_RESULT && tern_json_valid(text, len, ok ? NULL : "error")) {
    *out = tern_strdup(text);
    return *out ? 0 : TERN_ENOMEM;
  }
  return wrap_text(ok ? "result" : "error", text, len, out);
}

/* ---- registry ---------------------------------------------------------- */

int tern_tools_create(tern_tools_t **out) {
  if (!out)
    return TERN_EINVAL;
  *out = tern_calloc(1, sizeof **out);
  return *out ? 0 : TERN_ENOMEM;
}

static void tool_free(tool_t *t) {
  if (!t)
    return;
  tern_free(t->name);
  tern_free(t->description);
  tern_free(t->params);
  json_decref(t->schema);
  tern_free(t);
}

static void unlink_ctx(tern_tool_ctx_t *c) {
  if (c->prev)
    c->prev->next = c->next;
  else
    c->tools->calls = c->next;
  if (c->next)
    c->next->prev = c->prev;
  c->next = c->prev = NULL;
}

static void ctx_free(tern_tool_ctx_t *c) {
  unlink_ctx(c);
  tern_loop_timer_destroy(c->timer);
  tern_tool_call_free(&c->call);
  json_decref(c->args);
  tern_free(c->result);
  tern_free(c);
}

void tern_tools_destroy(tern_tools_t *tools) {
  if (!tools)
    return;
  while (tools->calls)
    ctx_free(tools->calls);
  while (tools->cleanups) {
    cleanup_t *c = tools->cleanups;
    tools->cleanups = c->next;
    c->fn(c->ud);
    tern_free(c);
  }
  for (size_t i = 0; i < tools->n; i++)
    tool_free(tools->tools[i]);
  tern_free(tools->tools);
  tern_free(tools->defs);
  tern_free(tools);
}

int tern_tools_at_destroy(tern_tools_t *tools, void (*fn)(void *ud), void *ud) {
  if (!tools || !fn)
    return TERN_EINVAL;
  cleanup_t *c = tern_malloc(sizeof *c);
  if (!c)
    return TERN_ENOMEM;
  c->fn = fn;
  c->ud = ud;
  c->next = tools->cleanups;
  tools->cleanups = c;
  return 0;
}

static const tool_t *find(const tern_tools_t *tools, const char *name) {
  for (size_t i = 0; name && i < tools->n; i++)
    if (!strcmp(tools->tools[i]->name, name))
      return tools->tools[i];
  return NULL;
}

/* OpenAI's rule for function names, which the other APIs accept too. */
static bool name_ok(const char *name) {
  size_t n = 0;
  for (const char *p = name; *p; p++, n++) {
    char c = *p;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-'))
      return false;
  }
  return n >= 1 && n <= NAME_MAX_LEN;
}

int tern_tools_add(tern_tools_t *tools, const char *name, const char *description,
                   const char *parameters_schema, tern_tool_fn fn, void *ud, tern_usec_t timeout,
                   char *err, size_t errsz) {
  seterr(err, errsz, "%s", "");
  if (!tools || !name || !parameters_schema || !fn || timeout < 0) {
    seterr(err, errsz, "tern_tools_add: missing name, schema or handler, or negative timeout");
    return TERN_EINVAL;
  }
  if (!name_ok(name)) {
    seterr(err, errsz, "tool name '%.80s' is not allowed: use 1 to 64 letters, digits, '_' or '-'",
           name);
    return TERN_EINVAL;
  }
  if (find(tools, name)) {
    seterr(err, errsz, "a tool named '%s' is already registered", name);
    return TERN_EINVAL;
  }
  json_error_t jerr;
  json_t *schema;
  int lrc = tern_json_load(parameters_schema, strlen(parameters_schema), 0, &schema, &jerr);
  if (lrc == TERN_ENOMEM)
    return TERN_ENOMEM;
  if (lrc) {
    seterr(err, errsz, "tool '%s': the parameters schema is not valid JSON: %s (line %d)", name,
           jerr.text, jerr.line);
    return TERN_EINVAL;
  }
  const json_t *type = json_object_get(schema, "type");
  char why[256];
  int rc = 0;
  if (!json_is_object(schema) || !json_is_string(type) ||
      strcmp(json_string_value(type), "object") != 0) {
    seterr(err, errsz, "tool '%s': the parameters schema must be {\"type\": \"object\", ...}",
           name);
    rc = TERN_EINVAL;
  } else if (tern__tools_schema_check(schema, why, sizeof why) != 0) {
    seterr(err, errsz, "tool '%s': %s", name, why);
    rc = TERN_EINVAL;
  }
  if (rc) {
    json_decref(schema);
    return rc;
  }

  if (tools->n == tools->cap) {
    size_t cap = tools->cap ? tools->cap * 2 : 8;
    tool_t **nt = tern_realloc(tools->tools, cap * sizeof *nt);
    if (!nt)
      goto nomem;
    tools->tools = nt;
    /* The defs array may lag behind: cap only moves once both have grown. */
    tern_tool_def_t *nd = tern_realloc(tools->defs, cap * sizeof *nd);
    if (!nd)
      goto nomem;
    tools->defs = nd;
    tools->cap = cap;
  }
  tool_t *t = tern_calloc(1, sizeof *t);
  if (!t)
    goto nomem;
  t->name = tern_strdup(name);
  t->description = tern_strdup(description ? description : "");
  t->params = tern_strdup(parameters_schema);
  if (!t->name || !t->description || !t->params) {
    tool_free(t);
    goto nomem;
  }
  t->schema = schema;
  t->fn = fn;
  t->ud = ud;
  t->timeout = timeout ? timeout : TERN_TOOL_DEFAULT_TIMEOUT;
  tools->tools[tools->n] = t;
  tools->defs[tools->n] = (tern_tool_def_t){
      .name = t->name, .description = t->description, .parameters_json = t->params};
  tools->n++;
  return 0;
nomem:
  json_decref(schema);
  return TERN_ENOMEM;
}

const tern_tool_def_t *tern_tools_defs(const tern_tools_t *tools, size_t *n) {
  if (n)
    *n = tools ? tools->n : 0;
  return tools && tools->n ? tools->defs : NULL;
}

/* ---- one call ---------------------------------------------------------- */

static void deliver(tern_tool_ctx_t *c) {
  /* Everything done needs moves to the stack first: the ctx may be freed
   * here, and done may even destroy the registry. */
  tern_tool_call_t call = c->call;
  memset(&c->call, 0, sizeof c->call);
  char *result = c->result;
  c->result = NULL;
  bool ok = result && c->result_ok;
  tern_tool_done_fn done = c->done;
  void *ud = c->ud;
  tern_loop_timer_destroy(c->timer);
  c->timer = NULL;
  c->call_over = true;
  if (!c->handler_running)
    ctx_free(c);
  done(ud, &call, ok, result ? result : OOM_RESULT);
  tern_tool_call_free(&call);
  tern_free(result);
}

static void on_timer(tern_loop_timer_t *timer, void *ud) {
  (void)timer;
  tern_tool_ctx_t *c = ud;
  switch (c->phase) {
  case PH_RUN:
    c->phase = PH_WAIT;
    tern_loop_timer_start(c->timer, c->tool->timeout, 0);
    c->handler_running = true;
    /* The handler may complete, or be cancelled, in there: c may be gone
     * when it returns. */
    c->tool->fn(c, c->args, c->tool->ud);
    return;
  case PH_WAIT: {
    char msg[160];
    tern_usec_t t = c->tool->timeout;
    if (t % TERN_USEC_PER_SEC == 0)
      snprintf(msg, sizeof msg, "the tool '%s' did not answer within %lld s; it may be unavailable",
               c->tool->name, (long long)(t / TERN_USEC_PER_SEC));
    else
      snprintf(msg, sizeof msg,
               "the tool '%s' did not answer within %lld ms; it may be unavailable", c->tool->name,
               (long long)(t / TERN_USEC_PER_MS));
    c->result_ok = false;
    if (error_result(msg, &c->result) != 0)
      c->result = NULL;
    deliver(c);
    return;
  }
  default:
    deliver(c);
    return;
  }
}

static void cancel(tern_op_t *op) {
  tern_tool_ctx_t *c = (tern_tool_ctx_t *)op;
  if (c->call_over)
    return;
  c->call_over = true;
  tern_loop_timer_destroy(c->timer);
  c->timer = NULL;
  if (!c->handler_running)
    ctx_free(c);
}

void tern_tool_complete(tern_tool_ctx_t *ctx, bool ok, const char *result) {
  if (!ctx || !ctx->handler_running)
    return; /* a second completion: the first one won */
  ctx->handler_running = false;
  if (ctx->call_over) {
    ctx_free(ctx); /* too late: timed out or cancelled */
    return;
  }
  ctx->result_ok = ok;
  if (normalize(ok, result, &ctx->result) != 0) {
    ctx->result = NULL;
    ctx->result_ok = false;
  }
  ctx->phase = PH_DELIVER;
  tern_loop_timer_start(ctx->timer, 0, 0);
}

tern_loop_t *tern_tool_loop(tern_tool_ctx_t *ctx) { return ctx ? ctx->loop : NULL; }

json_t *tern_tool_state(tern_tool_ctx_t *ctx) {
  /* After a timeout or cancel the caller may already have restored or
   * freed its state: a late handler must not write into it. */
  return ctx && !ctx->call_over ? ctx->state : NULL;
}

const char *tern_tool_name(const tern_tool_ctx_t *ctx) {
  return ctx && ctx->tool ? ctx->tool->name : "";
}

/* The "unknown tool" answer lists what exists, so the model can pick. */
static int unknown_result(const tern_tools_t *tools, const char *name, char **out) {
  char msg[1024];
  int cut = 0;
  char *clean = tern_utf8_clean(name, strlen(name), NAME_MAX_LEN, &cut);
  if (!clean)
    return TERN_ENOMEM;
  size_t len;
  if (!*name)
    len = (size_t)snprintf(msg, sizeof msg, "the tool call has no tool name. Available tools:");
  else
    len = (size_t)snprintf(msg, sizeof msg, "unknown tool '%s%s'. Available tools:", clean,
                           cut ? "..." : "");
  tern_free(clean);
  for (size_t i = 0; i < tools->n && len < sizeof msg; i++)
    len += (size_t)snprintf(msg + len, sizeof msg - len, "%s%s", i ? ", " : " ",
                            tools->tools[i]->name);
  if (tools->n == 0 && len < sizeof msg)
    snprintf(msg + len, sizeof msg - len, " none");
  json_t *o = json_object();
  json_t *list = json_array();
  int bad = !o || !list;
  for (size_t i = 0; !bad && i < tools->n; i++)
    bad = json_array_append_new(list, json_string(tools->tools[i]->name)) != 0;
  if (!bad)
    bad = json_object_set_new(o, "error", json_string(msg)) != 0;
  if (!bad) {
    bad = json_object_set_new(o, "available_tools", list) != 0;
    list = NULL;
  }
  *out = bad ? NULL : tern_json_dump(o);
  json_decref(list);
  json_decref(o);
  return *out ? 0 : TERN_ENOMEM;
}

/* Runs every check of a call. Returns 0 with either c->args set (run the
 * handler) or c->result set (answer at once), or TERN_ENOMEM. */
static int check_call(tern_tool_ctx_t *c) {
  const char *name = c->call.name;
  c->tool = find(c->tools, name);
  if (!c->tool)
    return unknown_result(c->tools, name, &c->result);
  const char *text = c->call.arguments;
  size_t len = strlen(text);
  char msg[512];
  if (len > TERN_TOOL_MAX_ARGS) {
    snprintf(msg, sizeof msg, "the arguments for '%s' are too long (%zu bytes; the limit is %d)",
             name, len, TERN_TOOL_MAX_ARGS);
    return error_result(msg, &c->result);
  }
  size_t i = 0;
  while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
    i++;
  json_t *args;
  if (i == len) {
    /* Models send "" for a tool without parameters. */
    args = json_object();
    if (!args)
      return TERN_ENOMEM;
  } else {
    json_error_t jerr;
    int lrc =
        tern_json_load(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &args, &jerr);
    if (lrc == TERN_ENOMEM)
      return TERN_ENOMEM;
    if (lrc) {
      snprintf(msg, sizeof msg, "the arguments for '%s' are not valid JSON: %s (at byte %d)", name,
               jerr.text, jerr.position);
      return error_result(msg, &c->result);
    }
  }
  if (!json_is_object(args)) {
    const char *what = json_is_array(args)    ? "an array"
                       : json_is_string(args) ? "a string"
                       : json_is_number(args) ? "a number"
                       : json_is_null(args)   ? "null"
                                              : "a boolean";
    json_decref(args);
    snprintf(msg, sizeof msg, "the arguments for '%s' must be a JSON object, got %s", name, what);
    return error_result(msg, &c->result);
  }
  char why[400];
  if (tern_schema_validate(c->tool->schema, args, why, sizeof why) != 0) {
    json_decref(args);
    snprintf(msg, sizeof msg, "invalid arguments for '%s': %s", name, why);
    return error_result(msg, &c->result);
  }
  c->args = args;
  return 0;
}

int tern_tools_invoke(tern_tools_t *tools, tern_loop_t *loop, const tern_tool_call_t *call,
                      json_t *state, tern_tool_done_fn done, void *ud, tern_op_t **op) {
  if (op)
    *op = NULL;
  if (!tools || !loop || !call || !done || !op)
    return TERN_EINVAL;
  tern_tool_ctx_t *c = tern_calloc(1, sizeof *c);
  if (!c)
    return TERN_ENOMEM;
  c->op.cancel = cancel;
  c->tools = tools;
  c->loop = loop;
  c->state = state;
  c->done = done;
  c->ud = ud;
  c->next = tools->calls;
  if (tools->calls)
    tools->calls->prev = c;
  tools->calls = c;
  tern_tool_call_t in = *call;
  if (!in.arguments)
    in.arguments = ""; /* absent arguments: the same as none */
  int rc = tern_tool_call_copy(&c->call, &in);
  if (rc == 0)
    rc = tern_loop_timer_create(loop, on_timer, c, &c->timer);
  if (rc == 0)
    rc = check_call(c);
  if (rc != 0) {
    ctx_free(c);
    return rc;
  }
  c->phase = c->args ? PH_RUN : PH_DELIVER;
  c->result_ok = false;
  tern_loop_timer_start(c->timer, 0, 0);
  *op = &c->op;
  return 0;
}
