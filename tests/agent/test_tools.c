/* The tool registry and calls, on a virtual-time loop: what the model gets
 * back for good and bad calls, when `done` runs, timeouts, cancels, and the
 * demo tools of the offline agent. */
#include "testutil.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>

#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/loop.h"
#include "tern/tools.h"

#define CITY_SCHEMA                                                                                \
  "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}"
#define EMPTY_SCHEMA "{\"type\":\"object\",\"properties\":{}}"

/* ---- fixtures ---------------------------------------------------------- */

typedef struct {
  int n;
  bool ok;
  char *result; /* libc copy */
  char id[64];
  tern_usec_t at;
  tern_fake_clock_t *fc;
} done_t;

enum { H_SYNC, H_KEEP, H_TWICE };

typedef struct {
  int mode;
  int calls;
  bool reply_ok;
  const char *reply;
  tern_tool_ctx_t *ctx;
  char args[256];
  json_t *state_seen;
  tern_loop_t *loop_seen;
} handler_t;

typedef struct {
  tern_fake_clock_t fc;
  tern_loop_t *loop;
  tern_tools_t *tools;
  done_t d;
  tern_op_t *op;
} env_t;

static void on_done(void *ud, const tern_tool_call_t *call, bool ok, const char *result) {
  done_t *d = ud;
  d->n++;
  d->ok = ok;
  free(d->result);
  d->result = strdup(result);
  snprintf(d->id, sizeof d->id, "%s", call->id);
  d->at = d->fc->t;
}

static bool got_done(void *ud) { return ((done_t *)ud)->n > 0; }
static bool never(void *ud) {
  (void)ud;
  return false;
}

static void handler(tern_tool_ctx_t *ctx, const json_t *args, void *ud) {
  handler_t *h = ud;
  h->calls++;
  h->ctx = ctx;
  h->state_seen = tern_tool_state(ctx);
  h->loop_seen = tern_tool_loop(ctx);
  char *s = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);
  snprintf(h->args, sizeof h->args, "%s", s ? s : "");
  tern_free(s);
  if (h->mode == H_SYNC || h->mode == H_TWICE)
    tern_tool_complete(ctx, h->reply_ok, h->reply);
  if (h->mode == H_TWICE)
    tern_tool_complete(ctx, true, "{\"second\":true}");
}

static void env_init(env_t *e) {
  memset(e, 0, sizeof *e);
  tern_fake_clock_init(&e->fc, TERN_SEC(100));
  e->d.fc = &e->fc;
  assert_int_equal(tern_loop_create_virtual(&e->fc, &e->loop), 0);
  assert_int_equal(tern_tools_create(&e->tools), 0);
}

static void env_fini(env_t *e) {
  tern_tools_destroy(e->tools);
  tern_loop_destroy(e->loop);
  free(e->d.result);
}

static void add(env_t *e, const char *name, const char *schema, handler_t *h, tern_usec_t timeout) {
  char err[256];
  int rc =
      tern_tools_add(e->tools, name, "a test tool", schema, handler, h, timeout, err, sizeof err);
  if (rc)
    fail_msg("add %s: %s", name, err);
}

static void invoke(env_t *e, const char *name, const char *args, json_t *state) {
  tern_tool_call_t call = {.id = "call_1", .name = (char *)name, .arguments = (char *)args};
  e->d.n = 0;
  assert_int_equal(tern_tools_invoke(e->tools, e->loop, &call, state, on_done, &e->d, &e->op), 0);
  assert_non_null(e->op);
  assert_int_equal(e->d.n, 0); /* never inside invoke */
}

static void run(env_t *e) {
  assert_int_equal(tern_loop_run_until(e->loop, got_done, &e->d, TERN_SEC(60)), 0);
  assert_int_equal(e->d.n, 1);
}

/* Run on for a while and make sure nothing more arrives. */
static void run_quiet(env_t *e, tern_usec_t t) {
  int before = e->d.n;
  assert_int_equal(tern_loop_run_until(e->loop, never, NULL, t), TERN_ETIMEDOUT);
  assert_int_equal(e->d.n, before);
}

static json_t *result_json(const env_t *e) {
  json_error_t je;
  json_t *j = json_loads(e->d.result, JSON_DECODE_ANY, &je);
  if (!j)
    fail_msg("result is not JSON: %s", e->d.result);
  return j;
}

static const char *field(json_t *j, const char *key) {
  const char *s = json_string_value(json_object_get(j, key));
  return s ? s : "";
}

static void assert_error_has(const env_t *e, const char *want) {
  assert_int_equal(e->d.n, 1);
  assert_false(e->d.ok);
  json_t *j = result_json(e);
  const char *msg = field(j, "error");
  if (!strstr(msg, want))
    fail_msg("expected \"%s\" in error \"%s\"", want, msg);
  json_decref(j);
}

/* ---- registry ---------------------------------------------------------- */

static void test_add_refuses_bad_tools(void **state) {
  (void)state;
  tern_tools_t *t;
  assert_int_equal(tern_tools_create(&t), 0);
  handler_t h = {0};
  char err[256];
  assert_int_equal(
      tern_tools_add(t, "get_weather", "d", CITY_SCHEMA, handler, &h, 0, err, sizeof err), 0);
  static const struct {
    const char *name, *schema, *want;
  } bad[] = {
      {"get_weather", CITY_SCHEMA, "already registered"},
      {"", CITY_SCHEMA, "not allowed"},
      {"get weather", CITY_SCHEMA, "not allowed"},
      {"get.weather", CITY_SCHEMA, "not allowed"},
      {"m\xc3\xa9t\xc3\xa9o", CITY_SCHEMA, "not allowed"},
      {"t1", "{\"type\":\"object\",", "not valid JSON"},
      {"t2", "[]", "must be {\"type\": \"object\""},
      {"t3", "{\"type\":\"string\"}", "must be {\"type\": \"object\""},
      {"t4", "{\"properties\":{}}", "must be {\"type\": \"object\""},
      {"t5", "{\"type\":\"object\",\"properties\":[]}", "'properties' must be an object"},
      {"t6", "{\"type\":\"object\",\"properties\":{\"a\":{}},\"required\":\"a\"}",
       "'required' must be an array"},
      {"t7", "{\"type\":\"object\",\"properties\":{\"a\":{}},\"required\":[1]}",
       "'required' must be an array"},
      {"t8", "{\"type\":\"object\",\"properties\":{\"a\":{}},\"required\":[\"b\"]}",
       "'required' names 'b'"},
      {"t9", "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"strin\"}}}", "'type'"},
      {"t10", "{\"type\":\"object\",\"properties\":{\"a\":{\"enum\":[]}}}", "'enum'"},
      {"t11", "{\"type\":\"object\",\"properties\":{\"a\":7}}", "must be a JSON object"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    err[0] = '\0';
    int rc = tern_tools_add(t, bad[i].name, "d", bad[i].schema, handler, &h, 0, err, sizeof err);
    if (rc != TERN_EINVAL || !strstr(err, bad[i].want))
      fail_msg("case %zu (%s): rc %d, err \"%s\", wanted \"%s\"", i, bad[i].name, rc, err,
               bad[i].want);
  }
  /* 64 characters is the limit. */
  char longname[66];
  memset(longname, 'a', 65);
  longname[65] = '\0';
  assert_int_equal(tern_tools_add(t, longname, NULL, EMPTY_SCHEMA, handler, &h, 0, err, sizeof err),
                   TERN_EINVAL);
  assert_non_null(strstr(err, "not allowed"));
  longname[64] = '\0';
  assert_int_equal(tern_tools_add(t, longname, NULL, EMPTY_SCHEMA, handler, &h, 0, err, sizeof err),
                   0);
  assert_int_equal(tern_tools_add(t, "x", "d", EMPTY_SCHEMA, NULL, &h, 0, err, sizeof err),
                   TERN_EINVAL);
  size_t n;
  const tern_tool_def_t *defs = tern_tools_defs(t, &n);
  assert_int_equal(n, 2); /* nothing refused was kept */
  assert_string_equal(defs[0].name, "get_weather");
  assert_string_equal(defs[0].description, "d");
  assert_string_equal(defs[0].parameters_json, CITY_SCHEMA);
  assert_string_equal(defs[1].description, "");
  tern_tools_destroy(t);
}

static void test_defs_grow_and_stay_valid(void **state) {
  (void)state;
  tern_tools_t *t;
  assert_int_equal(tern_tools_create(&t), 0);
  size_t n = 99;
  assert_null(tern_tools_defs(t, &n));
  assert_int_equal(n, 0);
  handler_t h = {0};
  for (int i = 0; i < 20; i++) {
    char name[16];
    snprintf(name, sizeof name, "tool_%d", i);
    assert_int_equal(tern_tools_add(t, name, name, EMPTY_SCHEMA, handler, &h, 0, NULL, 0), 0);
  }
  const tern_tool_def_t *defs = tern_tools_defs(t, &n);
  assert_int_equal(n, 20);
  assert_string_equal(defs[0].name, "tool_0");
  assert_string_equal(defs[19].description, "tool_19");
  tern_tools_destroy(t);
}

/* ---- calls ------------------------------------------------------------- */

static void test_valid_call_returns_handler_result(void **state) {
  (void)state;
  env_t e;
  env_init(&e);
  handler_t h = {
      .mode = H_SYNC, .reply_ok = true, .reply = "{\"temp_c\": 12, \"summary\": \"rain\"}"};
  add(&e, "get_weather", CITY_SCHEMA, &h, 0);
  json_t *st = json_object();
  invoke(&e, "get_weather", "{\"city\": \"London\"}", st);
  assert_int_equal(h.calls, 0); /* not inside invoke either */
  run(&e);
  assert_int_equal(h.calls, 1);
  assert_string_equal(h.args, "{\"city\":\"London\"}");
  assert_ptr_equal(h.state_seen, st);
  assert_ptr_equal(h.loop_seen, e.loop);
  assert_true(e.d.ok);
  assert_string_equal(e.d.result, "{\"temp_c\": 12, \"summary\": \"rain\"}"); /* as-is */
  assert_string_equal(e.d.id, "call_1");
  assert_int_equal(e.d.at, TERN_SEC(100)); /* no time passes */
  run_quiet(&e, TERN_SEC(30));             /* the timeout timer is gone */
  json_decref(st);
  env_fini(&e);
}

static void test_results_are_wrapped_and_bounded(void **state) {
  (void)state;
  env_t e;
  env_init(&e);
  handler_t h = {.mode = H_SYNC, .reply_ok = true, .reply = "it is \"sunny\"\n"};
  add(&e, "t", EMPTY_SCHEMA, &h, 0);

  invoke(&e, "t", "{}", NULL);
  run(&e);
  assert_true(e.d.ok);
  json_t *j = result_json(&e);
  assert_string_equal(field(j, "result"), "it is \"sunny\"\n");
  json_decref(j);

  h.reply_ok = false;
  h.reply = "the weather service is down";
  invoke(&e, "t", "{}", NULL);
  run(&e);
  assert_error_has(&e, "the weather service is down");

  h.reply = "{\"error\":\"no such city\",\"city\":\"Atlantis\"}";
  invoke(&e, "t", "{}", NULL);
  run(&e);
  assert_false(e.d.ok);
  assert_string_equal(e.d.result, h.reply); /* a structured error as-is */

  h.reply_ok = true;
  h.reply = "bad \xff\xfe bytes \xe2\x82";
  invoke(&e, "t", "{}", NULL);
  run(&e);
  j = result_json(&e); /* valid JSON even so */
  assert_string_equal(field(j, "result"), "bad ?? bytes ??");
  json_decref(j);

  size_t big = 3 * TERN_TOOL_MAX_RESULT;
  char *text = malloc(big + 1);
  memset(text, '"', big); /* every byte doubles when escaped */
  text[big] = '\0';
  h.reply = text;
  invoke(&e, "t", "{}", NULL);
  run(&e);
  assert_true(e.d.ok);
  assert_true(strlen(e.d.result) <= TERN_TOOL_MAX_RESULT);
  j = result_json(&e);
  assert_true(json_is_true(json_object_get(j, "truncated")));
  assert_true(strlen(field(j, "result")) > 1000);
  json_decref(j);
  free(text);

  h.reply = NULL;
  invoke(&e, "t", "{}", NULL);
  run(&e);
  assert_true(e.d.ok);
  assert_string_equal(e.d.result, "{}");
  env_fini(&e);
}

static void test_unknown_tool_lists_available_ones(void **state) {
  (void)state;
  env_t e;
  env_init(&e);
  handler_t h = {.mode = H_SYNC, .reply_ok = true, .reply = "{}"};
  add(&e, "get_weather", CITY_SCHEMA, &h, 0);
  add(&e, "get_time", EMPTY_SCHEMA, &h, 0);
  invoke(&e, "get_wether", "{}", NULL);
  run(&e);
  assert_error_has(&e, "unknown tool 'get_wether'");
  assert_error_has(&e, "get_weather, get_time");
  json_t *j = result_json(&e);
  assert_int_equal(json_array_size(json_object_get(j, "available_tools")), 2);
  json_decref(j);
  assert_int_equal(h.calls, 0);
  env_fini(&e);
}

static void test_bad_arguments_never_reach_the_handler(void **state) {
  (void)state;
  env_t e;
  env_init(&e);
  handler_t h = {.mode = H_SYNC, .reply_ok = true, .reply = "{}"};
  add(&e, "get_weather", CITY_SCHEMA, &h, 0);
  static const struct {
    const char *args, *want;
  } rows[] = {
      {"{\"city\": ", "not valid JSON"},
      {"city=London", "not valid JSON"},
      {"{\"city\":\"a\",\"city\":\"b\"}", "not valid JSON"}, /* duplicate key */
      {"[\"London\"]", "must be a JSON object, got an array"},
      {"\"London\"", "must be a JSON object, got a string"},
      {"{\"city\": 3}", "argument 'city' must be a string, got a number"},
      {"{}", "missing required argument 'city'"},
      {"", "missing required argument 'city'"}, /* "" is {} */
      {NULL, "missing required argument 'city'"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
    invoke(&e, "get_weather", rows[i].args, NULL);
    run(&e);
    assert_error_has(&e, rows[i].want);
    assert_error_has(&e, "get_weather");
  }
  char *big = malloc(TERN_TOOL_MAX_ARGS + 64);
  memset(big, ' ', TERN_TOOL_MAX_ARGS + 63);
  memcpy(big, "{\"city\":\"x\"}", 12);
  big[TERN_TOOL_MAX_ARGS + 63] = '\0';
  invoke(&e, "get_weather", big, NULL);
  run(&e);
  assert_error_has(&e, "too long");
  free(big);
  assert_int_equal(h.calls, 0);
  env_fini(&e);
}

static void test_empty_arguments_are_an_empty_object(void **state) {
  (void)state;
  env_t e;
  env_init(&e);
  handler_t h = {.mode = H_SYNC, .reply_ok = true, .reply = "{\"time\":\"10:42\"}"};
  add(&e, "get_time", EMPTY_SCHEMA, &h, 0);
  invoke(&e, "get_time", "", NULL);
  run(&e);
  assert_true(e.d.ok);
  assert_string_equal(h.args, "{}");
  invoke(&e, "get_time", " \n", NULL);
  run(&e);
  assert_true(e.d.ok);
  assert_int_equal(h.calls, 2);
  env_fini(&e);
}

static void complete_later(tern_loop_timer_t *t, void *ud) {
  (void)t;
  handler_t *h = ud;
  tern_tool_complete(h->ctx, true, "{\"late\":false}");
}

static void test_async_handler_completes_later(void **state) {
  (void)state;
  env_t e;
  env_init(&e);
  handler_t h = {.mode = H_KEEP};
  add(&e, "slow", EMPTY_SCHEMA, &h, TERN_SEC(3));
  invoke(&e, "slow", "{}", NULL);
  tern_loop_timer_t *timer;
  assert_int_equal(tern_loop_timer_create(e.loop, complete_later, &h, &timer), 0);
  assert_int_equal(tern_loop_timer_start(timer, TERN_MS(2500), 0), 0);
  run(&e);
  assert_true(e.d.ok);
  assert_string_equal(e.d.result, "{\"late\":false}");
  assert_int_equal(e.d.at, TERN_SEC(100) + TERN_MS(2500));
  run_quiet(&e, TERN_SEC(10)); /* no timeout after the answer */
  tern_loop_timer_destroy(timer);
  env_fini(&e);
}

static void test_timeout_at_the_tools_timeout_and_late_completion_ignored(void **state) {
  (void)state;
  env_t e;
  env_init(&e);
  handler_t h = {.mode = H_KEEP};
  add(&e, "stuck", EMPTY_SCHEMA, &h, TERN_SEC(2));
  add(&e, "default", EMPTY_SCHEMA, &h, 0);
  json_t *st = json_object();
  invoke(&e, "stuck", "{}", st);
  run(&e);
  assert_int_equal(e.d.at, TERN_SEC(102));
  assert_error_has(&e, "'stuck' did not answer within 2 s");
  /* The late handler may no longer touch the caller's state. */
  assert_null(tern_tool_state(h.ctx));
  assert_string_equal(tern_tool_name(h.ctx), "stuck");
  tern_tool_complete(h.ctx, true, "{\"too\":\"late\"}"); /* frees the ctx; no second done */
  run_quiet(&e, TERN_SEC(10));
  assert_int_equal(e.d.n, 1);

  tern_usec_t t0 = e.fc.t;
  invoke(&e, "default", "{}", NULL);
  run(&e);
  assert_int_equal(e.d.at - t0, TERN_TOOL_DEFAULT_TIMEOUT);
  /* This handler never completes: destroying the registry frees it. */
  json_decref(st);
  env_fini(&e);
}

static void test_first_completion_wins(void **state) {
  (void)state;
  env_t e;
  env_init(&e);
  handler_t h = {.mode = H_TWICE, .reply_ok = true, .reply = "{\"first\":true}"};
  add(&e, "t", EMPTY_SCHEMA, &h, 0);
  invoke(&e, "t", "{}", NULL);
  run(&e);
  assert_string_equal(e.d.result, "{\"first\":true}");
  run_quiet(&e, TERN_SEC(10));
  env_fini(&e);
}

static void test_cancel_means_no_callback(void **state) {
  (void)state;
  env_t e;
  env_init(&e);
  handler_t h = {.mode = H_KEEP};
  add(&e, "t", EMPTY_SCHEMA, &h, TERN_SEC(1));
  /* Before the handler started: it never does. */
  invoke(&e, "t", "{}", NULL);
  tern_op_cancel(e.op);
  run_quiet(&e, TERN_SEC(5));
  assert_int_equal(h.calls, 0);
  /* A validation error waiting to be delivered. */
  invoke(&e, "nope", "{}", NULL);
  tern_op_cancel(e.op);
  run_quiet(&e, TERN_SEC(5));
  /* While the handler runs: its later completion is dropped. */
  invoke(&e, "t", "{}", NULL);
  assert_int_equal(tern_loop_run_until(e.loop, never, NULL, TERN_MS(100)), TERN_ETIMEDOUT);
  assert_int_equal(h.calls, 1);
  tern_op_cancel(e.op);
  run_quiet(&e, TERN_SEC(5)); /* and no timeout either */
  tern_tool_complete(h.ctx, true, "{}");
  run_quiet(&e, TERN_SEC(1));
  assert_int_equal(e.d.n, 0);
  env_fini(&e);
}

static void test_destroy_with_calls_in_flight_leaks_nothing(void **state) {
  (void)state;
  env_t e;
  env_init(&e);
  handler_t h = {.mode = H_KEEP};
  add(&e, "t", EMPTY_SCHEMA, &h, TERN_SEC(1));
  invoke(&e, "t", "{}", NULL); /* handler running, call open */
  assert_int_equal(tern_loop_run_until(e.loop, never, NULL, TERN_MS(10)), TERN_ETIMEDOUT);
  assert_int_equal(h.calls, 1);
  invoke(&e, "t", "{}", NULL); /* not yet started */
  invoke(&e, "t", "[", NULL);  /* an error not yet delivered */
  env_fini(&e);                /* the sanitizer build checks for leaks */
}

static void destroy_in_done(void *ud, const tern_tool_call_t *call, bool ok, const char *result) {
  env_t *e = ud;
  on_done(&e->d, call, ok, result);
  tern_tools_destroy(e->tools);
  e->tools = NULL;
}

static void test_done_may_destroy_the_registry(void **state) {
  (void)state;
  env_t e;
  env_init(&e);
  handler_t h = {.mode = H_KEEP};
  add(&e, "t", EMPTY_SCHEMA, &h, TERN_SEC(1));
  tern_tool_call_t call = {.id = "c", .name = "t", .arguments = "{}"};
  assert_int_equal(tern_tools_invoke(e.tools, e.loop, &call, NULL, destroy_in_done, &e, &e.op), 0);
  run(&e); /* times out with the handler still running */
  assert_null(e.tools);
  assert_error_has(&e, "did not answer");
  env_fini(&e);
}

static void test_invoke_argument_errors(void **state) {
  (void)state;
  env_t e;
  env_init(&e);
  tern_tool_call_t call = {.id = "c", .name = "t", .arguments = "{}"};
  tern_op_t *op = (tern_op_t *)1;
  assert_int_equal(tern_tools_invoke(NULL, e.loop, &call, NULL, on_done, &e.d, &op), TERN_EINVAL);
  assert_null(op);
  assert_int_equal(tern_tools_invoke(e.tools, e.loop, NULL, NULL, on_done, &e.d, &op), TERN_EINVAL);
  assert_int_equal(tern_tools_invoke(e.tools, e.loop, &call, NULL, NULL, &e.d, &op), TERN_EINVAL);
  env_fini(&e);
}

/* ---- at_destroy ---------------------------------------------------------- */

static int freed_order[4], n_freed;
static void note_free(void *ud) { freed_order[n_freed++] = *(int *)ud; }

static void test_at_destroy_runs_in_reverse(void **state) {
  (void)state;
  tern_tools_t *t;
  assert_int_equal(tern_tools_create(&t), 0);
  static int one = 1, two = 2;
  n_freed = 0;
  assert_int_equal(tern_tools_at_destroy(t, note_free, &one), 0);
  assert_int_equal(tern_tools_at_destroy(t, note_free, &two), 0);
  tern_tools_destroy(t);
  assert_int_equal(n_freed, 2);
  assert_int_equal(freed_order[0], 2);
  assert_int_equal(freed_order[1], 1);
}

/* ---- demo tools -------------------------------------------------------- */

static void demo_env(env_t *e, bool knowledge) {
  env_init(e);
  char err[256] = "";
  int rc = tern_demo_tools_register(
      e->tools, knowledge ? tu_src_path("examples/knowledge.md") : NULL, err, sizeof err);
  if (rc)
    fail_msg("register: %s", err);
}

static json_t *demo_call(env_t *e, const char *name, const char *args, json_t *state) {
  invoke(e, name, args, state);
  run(e);
  return result_json(e);
}

static void test_demo_weather(void **state) {
  (void)state;
  env_t e;
  demo_env(&e, false);
  size_t n;
  tern_tools_defs(e.tools, &n);
  assert_int_equal(n, 3); /* no knowledge file: no search tool */

  json_t *j = demo_call(&e, "get_weather", "{\"city\":\"london\"}", NULL);
  assert_true(e.d.ok);
  /* The fields examples/scripted/default.rules reads: city, summary, temp_c. */
  assert_string_equal(field(j, "city"), "London");
  assert_string_equal(field(j, "summary"), "light rain");
  assert_int_equal(json_integer_value(json_object_get(j, "temp_c")), 12);
  assert_int_equal(json_integer_value(json_object_get(j, "temp_f")), 54);
  json_decref(j);

  j = demo_call(&e, "get_weather", "{\"city\":\"  New   YORK \",\"unit\":\"fahrenheit\"}", NULL);
  assert_string_equal(field(j, "city"), "New York");
  assert_string_equal(field(j, "unit"), "fahrenheit");
  assert_int_equal(json_integer_value(json_object_get(j, "temperature")), 59);
  json_decref(j);

  /* Any other city: made up, but the same every time. */
  j = demo_call(&e, "get_weather", "{\"city\":\"springfield\"}", NULL);
  assert_true(e.d.ok);
  char *first = strdup(e.d.result);
  assert_string_equal(field(j, "city"), "Springfield");
  json_int_t c = json_integer_value(json_object_get(j, "temp_c"));
  assert_true(c >= -5 && c <= 25);
  assert_true(strlen(field(j, "summary")) > 0);
  json_decref(j);
  json_decref(demo_call(&e, "get_weather", "{\"city\":\"Springfield\"}", NULL));
  assert_string_equal(e.d.result, first);
  free(first);

  /* 80 characters of two bytes each: longer than the name buffer, cut
   * between characters. */
  char args[256] = "{\"city\":\"";
  for (int i = 0; i < 80; i++)
    strcat(args, "\xc3\xa9");
  strcat(args, "\"}");
  j = demo_call(&e, "get_weather", args, NULL);
  assert_true(e.d.ok);
  assert_true(strlen(field(j, "city")) > 40);
  json_decref(j);

  invoke(&e, "get_weather", "{\"city\":\"Oslo\",\"unit\":\"kelvin\"}", NULL);
  run(&e);
  assert_error_has(&e, "argument 'unit' must be one of: celsius, fahrenheit");
  invoke(&e, "get_weather", "{\"city\":\"\"}", NULL);
  run(&e);
  assert_error_has(&e, "argument 'city' must be at least 1 character long");
  env_fini(&e);
}

static bool is_hhmm(const char *s) {
  return strlen(s) == 5 && s[2] == ':' && s[0] >= '0' && s[0] <= '2' && s[1] >= '0' &&
         s[1] <= '9' && s[3] >= '0' && s[3] <= '5' && s[4] >= '0' && s[4] <= '9';
}

static void test_demo_time(void **state) {
  (void)state;
  env_t e;
  demo_env(&e, false);
  json_t *j = demo_call(&e, "get_time", "", NULL);
  assert_true(e.d.ok);
  assert_true(is_hhmm(field(j, "time")));
  assert_true(strstr(field(j, "spoken"), "morning") || strstr(field(j, "spoken"), "afternoon") ||
              strstr(field(j, "spoken"), "evening") || !strcmp(field(j, "spoken"), "noon") ||
              !strcmp(field(j, "spoken"), "midnight"));
  assert_int_equal(strlen(field(j, "date")), 10);
  json_decref(j);
  j = demo_call(&e, "get_time", "{\"timezone\":\"UTC+05:30\"}", NULL);
  assert_string_equal(field(j, "timezone"), "UTC+05:30");
  json_decref(j);
  j = demo_call(&e, "get_time", "{\"timezone\":\"utc\"}", NULL);
  assert_string_equal(field(j, "timezone"), "UTC");
  json_decref(j);
  invoke(&e, "get_time", "{\"timezone\":\"Mars/Olympus\"}", NULL);
  run(&e);
  assert_error_has(&e, "unknown timezone 'Mars/Olympus'");
  env_fini(&e);
}

static void test_demo_schedule_meeting(void **state) {
  (void)state;
  env_t e;
  demo_env(&e, false);
  json_t *st = json_object();
  json_t *j =
      demo_call(&e, "schedule_meeting", "{\"day\":\"tomorrow\",\"time\":\"ten thirty\"}", st);
  assert_true(e.d.ok);
  assert_string_equal(field(j, "day"), "tomorrow");
  assert_string_equal(field(j, "time"), "ten thirty");
  assert_true(strlen(field(j, "confirmation")) > 0);
  json_decref(j);
  json_t *m = json_object_get(st, "meetings");
  assert_int_equal(json_array_size(m), 1);
  assert_string_equal(field(json_array_get(m, 0), "day"), "tomorrow");
  assert_string_equal(field(json_array_get(m, 0), "time"), "ten thirty");

  /* The same slot, spelled differently: refused, the state untouched. */
  invoke(&e, "schedule_meeting", "{\"day\":\"Tomorrow\",\"time\":\"ten  thirty\",\"title\":\"x\"}",
         st);
  run(&e);
  assert_error_has(&e, "already a meeting booked for Tomorrow at ten  thirty");
  assert_int_equal(json_array_size(json_object_get(st, "meetings")), 1);

  j = demo_call(&e, "schedule_meeting",
                "{\"day\":\"tomorrow\",\"time\":\"eleven\",\"title\":\"Dentist\"}", st);
  assert_true(e.d.ok);
  assert_string_equal(field(j, "title"), "Dentist");
  json_decref(j);
  assert_int_equal(json_array_size(json_object_get(st, "meetings")), 2);

  invoke(&e, "schedule_meeting", "{\"day\":\"friday\"}", st);
  run(&e);
  assert_error_has(&e, "missing required argument 'time'");
  invoke(&e, "schedule_meeting", "{\"day\":\"friday\",\"time\":\"9\"}", NULL);
  run(&e);
  assert_error_has(&e, "calendar is not available");
  json_decref(st);
  env_fini(&e);
}

static void test_demo_search_knowledge(void **state) {
  (void)state;
  env_t e;
  demo_env(&e, true);
  static const struct {
    const char *query, *want;
  } rows[] = {
      {"what time do you open on saturday", "10 am to 4 pm"},
      {"opening hours", "Monday to Friday"},
      {"where is your address", "14 Millrace Lane"},
      {"how much does a full service cost", "95 euros"},
      {"prices", "45 euros"},
      {"support phone number", "0100 555 0142"},
      {"can I return accessories", "within 30 days"},
      {"warranty", "two-year warranty"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
    char args[256];
    snprintf(args, sizeof args, "{\"query\":\"%s\"}", rows[i].query);
    json_t *j = demo_call(&e, "search_knowledge", args, NULL);
    assert_true(e.d.ok);
    if (!json_is_true(json_object_get(j, "found")) || !strstr(field(j, "text"), rows[i].want))
      fail_msg("query \"%s\": wanted \"%s\", got %s", rows[i].query, rows[i].want, e.d.result);
    assert_null(strstr(field(j, "text"), "##")); /* heading marks dropped */
    json_decref(j);
  }
  json_t *j = demo_call(&e, "search_knowledge", "{\"query\":\"quantum teleportation\"}", NULL);
  assert_true(e.d.ok);
  assert_true(json_is_false(json_object_get(j, "found")));
  json_decref(j);
  j = demo_call(&e, "search_knowledge", "{\"query\":\"what is the\"}", NULL); /* only stop words */
  assert_true(json_is_false(json_object_get(j, "found")));
  json_decref(j);
  env_fini(&e);
}

static void test_demo_knowledge_file_problems(void **state) {
  (void)state;
  tern_tools_t *t;
  assert_int_equal(tern_tools_create(&t), 0);
  char err[256] = "";
  assert_int_equal(tern_demo_tools_register(t, "/nonexistent/kb.md", err, sizeof err), TERN_EIO);
  assert_non_null(strstr(err, "/nonexistent/kb.md"));
  tern_tools_destroy(t);

  /* Headings only, blank lines, no trailing newline: still searchable. */
  const char *path = tu_tmp_path("kb.md");
  const char *kb = "# Title\n\n\n\n## Parking\nPark behind the mill.\n\n\nLast line about bikes";
  assert_int_equal(tu_write_file(path, kb, strlen(kb)), 0);
  env_t e;
  env_init(&e);
  assert_int_equal(tern_demo_tools_register(e.tools, path, err, sizeof err), 0);
  json_t *j = demo_call(&e, "search_knowledge", "{\"query\":\"parking\"}", NULL);
  assert_string_equal(field(j, "text"), "Title\n\n\n\nParking\nPark behind the mill.");
  json_decref(j);
  j = demo_call(&e, "search_knowledge", "{\"query\":\"bike\"}", NULL);
  assert_string_equal(field(j, "text"), "Last line about bikes");
  json_decref(j);
  env_fini(&e);
}

/* ---- allocation failure ------------------------------------------------ */

static int sweep_add(void *ud) {
  (void)ud;
  tern_tools_t *t;
  int rc = tern_tools_create(&t);
  if (rc)
    return rc;
  handler_t h = {0};
  for (int i = 0; i < 10 && !rc; i++) { /* crosses a growth of the arrays */
    char name[16];
    snprintf(name, sizeof name, "tool_%d", i);
    rc = tern_tools_add(t, name, "d", CITY_SCHEMA, handler, &h, 0, NULL, 0);
  }
  static int mark = 7;
  if (!rc)
    rc = tern_tools_at_destroy(t, note_free, &mark);
  if (!rc) {
    size_t n;
    tern_tools_defs(t, &n);
    assert_int_equal(n, 10);
  }
  n_freed = 0;
  tern_tools_destroy(t);
  if (!rc)
    assert_int_equal(n_freed, 1);
  return rc;
}

static void test_alloc_sweep_add(void **state) {
  (void)state;
  assert_true(tu_alloc_sweep(sweep_add, NULL) > 0);
}

typedef struct {
  const char *name, *args, *reply;
  const char *want; /* the expected result */
  bool want_ok;
} sweep_case_t;

static void sweep_handler(tern_tool_ctx_t *ctx, const json_t *args, void *ud) {
  (void)args;
  const sweep_case_t *c = ud;
  tern_tool_complete(ctx, true, c->reply);
}

static int sweep_invoke(void *ud) {
  const sweep_case_t *c = ud;
  tern_fake_clock_t fc;
  tern_fake_clock_init(&fc, 0);
  tern_loop_t *loop = NULL;
  tern_tools_t *tools = NULL;
  done_t d = {.fc = &fc};
  int rc = tern_loop_create_virtual(&fc, &loop);
  if (!rc)
    rc = tern_tools_create(&tools);
  if (!rc)
    rc = tern_tools_add(tools, "get_weather", "d", CITY_SCHEMA, sweep_handler, (void *)c, 0, NULL,
                        0);
  tern_op_t *op = NULL;
  if (!rc) {
    tern_tool_call_t call = {.id = "id", .name = (char *)c->name, .arguments = (char *)c->args};
    rc = tern_tools_invoke(tools, loop, &call, NULL, on_done, &d, &op);
  }
  if (!rc) {
    assert_int_equal(tern_loop_run_until(loop, got_done, &d, TERN_SEC(60)), 0);
    assert_int_equal(d.n, 1);
    /* A failure after invoke returned can only show in the answer: it
     * must then be a well-formed error, never a crash or a wrong success. */
    if (d.ok != c->want_ok || strcmp(d.result, c->want) != 0) {
      assert_false(d.ok);
      json_t *j = json_loads(d.result, 0, NULL);
      assert_non_null(json_object_get(j, "error"));
      json_decref(j);
      rc = TERN_ENOMEM;
    }
  }
  tern_tools_destroy(tools);
  tern_loop_destroy(loop);
  free(d.result);
  return rc;
}

static void test_alloc_sweep_invoke(void **state) {
  (void)state;
  static const sweep_case_t cases[] = {
      {"get_weather", "{\"city\":\"Oslo\"}", "{\"temp_c\":3}", "{\"temp_c\":3}", true},
      {"get_weather", "{\"city\":\"Oslo\"}", "plain", "{\"result\":\"plain\"}", true},
      {"get_weather", "{\"city\":4}", "x",
       "{\"error\":\"invalid arguments for 'get_weather': argument 'city' must be a string, got a "
       "number\"}",
       false},
      {"nope", "{}", "x",
       "{\"error\":\"unknown tool 'nope'. Available tools: get_weather\",\"available_tools\":"
       "[\"get_weather\"]}",
       false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    assert_true(tu_alloc_sweep(sweep_invoke, (void *)&cases[i]) > 0);
}

static int sweep_demo(void *ud) {
  (void)ud;
  tern_fake_clock_t fc;
  tern_fake_clock_init(&fc, 0);
  tern_loop_t *loop = NULL;
  tern_tools_t *tools = NULL;
  done_t d = {.fc = &fc};
  json_t *st = NULL;
  int rc = tern_loop_create_virtual(&fc, &loop);
  if (!rc)
    rc = tern_tools_create(&tools);
  if (!rc)
    rc = tern_demo_tools_register(tools, tu_src_path("examples/knowledge.md"), NULL, 0);
  if (!rc) {
    st = json_object();
    rc = st ? 0 : TERN_ENOMEM;
  }
  static const char *const calls[][2] = {
      {"schedule_meeting", "{\"day\":\"monday\",\"time\":\"ten\"}"},
      {"search_knowledge", "{\"query\":\"opening hours\"}"},
      {"get_weather", "{\"city\":\"Paris\"}"},
  };
  for (size_t i = 0; !rc && i < 3; i++) {
    tern_op_t *op;
    tern_tool_call_t call = {
        .id = "id", .name = (char *)calls[i][0], .arguments = (char *)calls[i][1]};
    d.n = 0;
    rc = tern_tools_invoke(tools, loop, &call, st, on_done, &d, &op);
    if (!rc) {
      assert_int_equal(tern_loop_run_until(loop, got_done, &d, TERN_SEC(60)), 0);
      if (!d.ok)
        rc = TERN_ENOMEM; /* must be an out-of-memory answer */
    }
  }
  if (!rc)
    assert_int_equal(json_array_size(json_object_get(st, "meetings")), 1);
  json_decref(st);
  tern_tools_destroy(tools);
  tern_loop_destroy(loop);
  free(d.result);
  return rc;
}

static void test_alloc_sweep_demo_tools(void **state) {
  (void)state;
  assert_true(tu_alloc_sweep(sweep_demo, NULL) > 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_add_refuses_bad_tools),
      cmocka_unit_test(test_defs_grow_and_stay_valid),
      cmocka_unit_test(test_valid_call_returns_handler_result),
      cmocka_unit_test(test_results_are_wrapped_and_bounded),
      cmocka_unit_test(test_unknown_tool_lists_available_ones),
      cmocka_unit_test(test_bad_arguments_never_reach_the_handler),
      cmocka_unit_test(test_empty_arguments_are_an_empty_object),
      cmocka_unit_test(test_async_handler_completes_later),
      cmocka_unit_test(test_timeout_at_the_tools_timeout_and_late_completion_ignored),
      cmocka_unit_test(test_first_completion_wins),
      cmocka_unit_test(test_cancel_means_no_callback),
      cmocka_unit_test(test_destroy_with_calls_in_flight_leaks_nothing),
      cmocka_unit_test(test_done_may_destroy_the_registry),
      cmocka_unit_test(test_invoke_argument_errors),
      cmocka_unit_test(test_at_destroy_runs_in_reverse),
      cmocka_unit_test(test_demo_weather),
      cmocka_unit_test(test_demo_time),
      cmocka_unit_test(test_demo_schedule_meeting),
      cmocka_unit_test(test_demo_search_knowledge),
      cmocka_unit_test(test_demo_knowledge_file_problems),
      cmocka_unit_test(test_alloc_sweep_add),
      cmocka_unit_test(test_alloc_sweep_invoke),
      cmocka_unit_test(test_alloc_sweep_demo_tools),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
