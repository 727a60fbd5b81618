/* Shared fixture of the cloud provider tests (test_openai.c,
 * test_anthropic.c): a fake provider server for the whole process, a loop,
 * two provider instances ("openai"/"anthropic" and "backup") pointing at the
 * same fake, their guards and a fallback runner, sinks that record what a
 * caller sees, and the events a user would see. Behaviour is asserted,
 * never durations: the short guard timeouts only make stalls quick to
 * notice. */
#ifndef TERN_TESTS_CLOUDFX_H
#define TERN_TESTS_CLOUDFX_H

#include "testutil.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fakeprov.h"
#include "tern/buf.h"
#include "tern/config.h"
#include "tern/error.h"
#include "tern/events.h"
#include "tern/fallback.h"
#include "tern/guard.h"
#include "tern/log.h"
#include "tern/loop.h"

#define FX_UNUSED __attribute__((unused))

#define FX_KEY "sk-test-SECRET123456"
#define FX_SECRET "SECRET123456"

typedef int (*fx_create_fn)(tern_component_t comp, const char *name, const tern_config_t *cfg,
                            tern_provider_t **out, char *err, size_t errsz);

static fakeprov_t g_fp;
static int g_started;

#define REQUIRE_SERVER()                                                                           \
  do {                                                                                             \
    if (!g_started) {                                                                              \
      fprintf(stderr, "skipped: the fake provider server needs python3\n");                        \
      skip();                                                                                      \
    }                                                                                              \
  } while (0)

typedef struct fx {
  tern_loop_t *loop;
  tern_config_t *cfg;
  tern_component_t comp;
  tern_provider_t *p[2];
  tern_guard_t *g[2];
  tern_fallback_t *f;
  tern_events_t *ev;
  json_t *events;   /* every event, parsed */
  tern_buf_t lines; /* every event line, raw */
  /* what the caller saw */
  tern_buf_t text;
  int n_text;
  json_t *tools; /* [{id,name,arguments}] */
  int16_t *pcm;
  size_t samples, pcm_cap;
  int n_audio;
  tern_buf_t transcript;
  int finals;
  bool done, failed;
  tern_error_t err;
  tern_op_t *op;
  int cancel_at_text; /* cancel inside the n-th on_text (0: never) */
  bool cancel_on_tool;
  int late_callbacks; /* callbacks after a cancel: must stay 0 */
  bool cancelled;
} fx_t;

static FX_UNUSED int fx_group_setup(void **state) {
  (void)state;
  int rc = fakeprov_start(&g_fp);
  if (rc == TERN_EUNSUPPORTED)
    return 0; /* every test skips, with the reason on stderr */
  if (rc != 0)
    return -1;
  g_started = 1;
  return 0;
}

static FX_UNUSED int fx_group_teardown(void **state) {
  (void)state;
  if (g_started)
    fakeprov_stop(&g_fp);
  tern_secret_clear();
  return 0;
}

static FX_UNUSED void fx_on_event(void *ud, const char *type, const char *line, size_t len,
                                  const tern_log_field_t *fields, size_t nfields) {
  (void)type, (void)fields, (void)nfields;
  fx_t *x = ud;
  json_t *o = json_loadb(line, len, 0, NULL);
  assert_non_null(o);
  json_array_append_new(x->events, o);
  tern_buf_append(&x->lines, line, len);
  tern_buf_append(&x->lines, "\n", 1);
}

/* Events of a type, optionally with key == val. */
static FX_UNUSED int fx_count_events(fx_t *x, const char *type, const char *key, const char *val) {
  int n = 0;
  size_t i;
  json_t *o;
  json_array_foreach(x->events, i, o) {
    if (strcmp(json_string_value(json_object_get(o, "type")), type))
      continue;
    const char *v = key ? json_string_value(json_object_get(o, key)) : NULL;
    if (key && (!v || strcmp(v, val)))
      continue;
    n++;
  }
  return n;
}

static FX_UNUSED void fx_fast_guard(tern_component_t comp, tern_guard_config_t *gc) {
  tern_guard_config_default(comp, gc);
  gc->first_output_timeout = TERN_MS(300);
  gc->idle_timeout = TERN_MS(300);
  gc->retry.backoff.base = TERN_MS(1);
  gc->retry.backoff.cap = TERN_MS(2);
  gc->retry.deadline = TERN_SEC(10);
}

/* A fixture for one component. cfg_text is loaded as the configuration;
 * names[0..n) are created with create(); links > 0 builds a runner over
 * the first `links` providers. */
static FX_UNUSED fx_t *fx_new(tern_component_t comp, fx_create_fn create, const char *cfg_text,
                              const char *const *names, int n, int links) {
  fx_t *x = calloc(1, sizeof *x);
  assert_non_null(x);
  x->comp = comp;
  assert_int_equal(fakeprov_reset(&g_fp), 0);
  assert_int_equal(tern_loop_create(NULL, &x->loop), 0);
  assert_int_equal(tern_config_new(&x->cfg), 0);
  char err[256] = "";
  assert_int_equal(
      tern_config_load_string(x->cfg, cfg_text, strlen(cfg_text), "test.ini", err, sizeof err), 0);
  x->events = json_array();
  x->tools = json_array();
  assert_int_equal(tern_events_create("test", &x->ev), 0);
  assert_int_equal(tern_events_listen(x->ev, fx_on_event, x), 0);
  for (int i = 0; i < n; i++) {
    int rc = create(comp, names[i], x->cfg, &x->p[i], err, sizeof err);
    if (rc)
      fail_msg("create %s: %s", names[i], err);
  }
  if (links > 0) {
    tern_fallback_link_t l[2];
    for (int i = 0; i < links; i++) {
      tern_guard_config_t gc;
      fx_fast_guard(comp, &gc);
      assert_int_equal(tern_guard_create(comp, names[i], &gc, &x->g[i]), 0);
      l[i] = (tern_fallback_link_t){x->p[i], x->g[i]};
    }
    tern_fallback_config_t fc;
    tern_fallback_config_default(&fc);
    fc.chain.probe_initial = TERN_MS(100);
    fc.chain.probe_max = TERN_MS(200);
    assert_int_equal(tern_fallback_create(x->loop, comp, l, (size_t)links, &fc, x->ev, 11, &x->f),
                     0);
  }
  return x;
}

static FX_UNUSED void fx_free(fx_t *x) {
  /* No key in any event line, ever. */
  if (x->lines.len && strstr(tern_buf_str(&x->lines), FX_SECRET))
    fail_msg("a secret reached an event line");
  tern_fallback_destroy(x->f);
  for (int i = 0; i < 2; i++) {
    tern_provider_destroy(x->p[i]);
    tern_guard_destroy(x->g[i]);
  }
  tern_events_destroy(x->ev);
  json_decref(x->events);
  json_decref(x->tools);
  tern_buf_free(&x->lines);
  tern_buf_free(&x->text);
  tern_buf_free(&x->transcript);
  free(x->pcm);
  tern_loop_destroy(x->loop);
  tern_config_free(x->cfg);
  fakeprov_reset(&g_fp); /* releases connections held by stalls */
  free(x);
}

static FX_UNUSED void fx_reset_call(fx_t *x) {
  x->done = x->failed = x->cancelled = false;
  x->n_text = x->n_audio = x->finals = 0;
  x->samples = 0;
  x->late_callbacks = 0;
  memset(&x->err, 0, sizeof x->err);
  tern_buf_reset(&x->text);
  tern_buf_reset(&x->transcript);
  json_array_clear(x->tools);
  x->op = NULL;
}

static FX_UNUSED bool fx_is_done(void *ud) { return ((fx_t *)ud)->done; }

static FX_UNUSED void fx_run(fx_t *x) {
  assert_int_equal(tern_loop_run_until(x->loop, fx_is_done, x, TERN_SEC(30)), 0);
  if (x->failed && strstr(x->err.message, FX_SECRET))
    fail_msg("a secret reached an error message");
}

/* Run the loop a little longer to see that nothing else arrives. */
static FX_UNUSED void fx_settle(fx_t *x, tern_usec_t t) {
  tern_loop_run_until(x->loop, fx_is_done, x, t);
}

/* ---- sinks ---- */

static FX_UNUSED void fx_cancel(fx_t *x) {
  tern_op_cancel(x->op);
  x->cancelled = true;
  x->done = true;
}

static FX_UNUSED void fx_text(void *ud, const char *t, size_t n) {
  fx_t *x = ud;
  if (x->cancelled) {
    x->late_callbacks++;
    return;
  }
  tern_buf_append(&x->text, t, n);
  x->n_text++;
  if (x->cancel_at_text && x->n_text == x->cancel_at_text)
    fx_cancel(x);
}

static FX_UNUSED void fx_tool(void *ud, const tern_tool_call_t *c) {
  fx_t *x = ud;
  if (x->cancelled) {
    x->late_callbacks++;
    return;
  }
  json_array_append_new(x->tools, json_pack("{s:s,s:s,s:s}", "id", c->id, "name", c->name,
                                            "arguments", c->arguments));
  if (x->cancel_on_tool)
    fx_cancel(x);
}

static FX_UNUSED void fx_done(void *ud, const tern_error_t *err) {
  fx_t *x = ud;
  if (x->cancelled) {
    x->late_callbacks++;
    return;
  }
  assert_false(x->done); /* exactly once */
  x->done = true;
  if (err) {
    x->failed = true;
    x->err = *err;
  }
}

static FX_UNUSED void fx_audio(void *ud, const int16_t *pcm, size_t n) {
  fx_t *x = ud;
  if (x->cancelled) {
    x->late_callbacks++;
    return;
  }
  if (x->samples + n > x->pcm_cap) {
    x->pcm_cap = (x->samples + n) * 2;
    x->pcm = realloc(x->pcm, x->pcm_cap * sizeof *x->pcm);
    assert_non_null(x->pcm);
  }
  memcpy(x->pcm + x->samples, pcm, n * sizeof *pcm);
  x->samples += n;
  x->n_audio++;
}

static FX_UNUSED void fx_transcript(void *ud, const char *t, bool fin, double conf) {
  (void)conf;
  fx_t *x = ud;
  if (x->cancelled) {
    x->late_callbacks++;
    return;
  }
  if (fin) {
    x->finals++;
    tern_buf_reset(&x->transcript);
    tern_buf_appends(&x->transcript, t);
  }
}

/* ---- calls ---- */

static FX_UNUSED tern_chat_t *fx_chat(const char *user) {
  tern_chat_t *chat;
  assert_int_equal(tern_chat_create(&chat), 0);
  assert_int_equal(tern_chat_set_system(chat, "You are a terse assistant."), 0);
  assert_int_equal(tern_chat_add(chat, TERN_ROLE_USER, user), 0);
  return chat;
}

/* Start an LLM call on provider i (or on the runner when i < 0). */
static FX_UNUSED int fx_llm_start(fx_t *x, int i, const tern_llm_request_t *req) {
  fx_reset_call(x);
  tern_llm_sink_t sink = {fx_text, fx_tool, fx_done, x};
  int rc = i < 0 ? tern_fallback_llm(x->f, req, &sink, &x->op)
                 : x->p[i]->vt->llm_start(x->p[i], x->loop, req, &sink, &x->op);
  if (rc == 0)
    assert_false(x->done); /* never called back inside the start call */
  return rc;
}

static FX_UNUSED void fx_ask(fx_t *x, int i, const char *user) {
  tern_chat_t *chat = fx_chat(user);
  tern_llm_request_t req = {.chat = chat, .temperature = -1};
  assert_int_equal(fx_llm_start(x, i, &req), 0);
  fx_run(x);
  tern_chat_destroy(chat);
}

/* A field of the route's last request (caller frees), or NULL. */
static FX_UNUSED char *fx_last(const char *route, const char *field) {
  return fakeprov_last(&g_fp, route, field);
}

static FX_UNUSED void fx_assert_last_str(const char *route, const char *field, const char *want) {
  char *v = fx_last(route, field);
  if (!v || strcmp(v, want))
    fail_msg("last %s %s: got '%s', want '%s'", route, field, v ? v : "(none)", want);
  free(v);
}

/* The messages of the route's last request, parsed. */
static FX_UNUSED json_t *fx_last_json(const char *route, const char *field) {
  char *v = fx_last(route, field);
  assert_non_null(v);
  json_t *j = json_loads(v, JSON_DECODE_ANY, NULL);
  free(v);
  assert_non_null(j);
  return j;
}

static FX_UNUSED void fx_script(const char *route, const char *json) {
  assert_int_equal(fakeprov_script(&g_fp, route, json), 0);
}

#endif
