/* The operator dashboard: its page and the /stats fields it draws.
 *
 * Two levels. The metrics that feed the charts (history, breaker time in
 * state) are driven directly with a fake clock, so every number is exact.
 * Then a real server on loopback: a caller's turn against an LLM chain
 * whose first model always fails, and the page and the JSON it polls read
 * back over HTTP, as the browser does. */
#include "testutil.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>

#include "server/server_internal.h"
#include "tern/alloc.h"
#include "tern/breaker.h"
#include "tern/config.h"
#include "tern/error.h"
#include "tern/guard.h"
#include "tern/server.h"
#include "wsclient.h"

/* See test_server.c: Debian's lws/OpenSSL leave library-internal blocks. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
  return "leak:libcrypto.so\nleak:libssl.so\nleak:libwebsockets.so\n";
}

#define WAIT_MS 15000

/* ---- metrics with a fake clock ---------------------------------------------- */

static void event(tern__metrics_t *m, const char *type, const tern_log_field_t *f, size_t n) {
  char line[256];
  int len = snprintf(line, sizeof line, "{\"type\":\"%s\"}", type);
  tern__metrics_event(m, type, line, (size_t)len, f, n);
}

static void error_in(tern__metrics_t *m, const char *comp) {
  tern_log_field_t f[] = {TERN_LF_STR("component", comp), TERN_LF_STR("kind", "server"),
                          TERN_LF_STR("provider", "p1")};
  event(m, "error", f, 3);
}

static json_t *stats_json(tern__metrics_t *m, tern_usec_t now, uint64_t active) {
  tern_buf_t b = TERN_BUF_INIT;
  assert_int_equal(tern_buf_appends(&b, "{\"x\":0"), 0);
  assert_int_equal(tern__metrics_stats(m, now, 0, active, &b), 0);
  assert_int_equal(tern_buf_appends(&b, "}"), 0);
  json_error_t jerr;
  json_t *j = json_loads(tern_buf_str(&b), 0, &jerr);
  if (!j)
    fail_msg("not JSON (%s): %s", jerr.text, tern_buf_str(&b));
  tern_buf_free(&b);
  return j;
}

static void assert_series(json_t *h, const char *path, const json_int_t *want, size_t n) {
  json_t *a = json_object_get(h, path);
  if (!a) { /* errors.<comp> */
    a = json_object_get(json_object_get(h, "errors"), path);
  }
  assert_non_null(a);
  assert_int_equal(json_array_size(a), n);
  for (size_t i = 0; i < n; i++)
    if (json_integer_value(json_array_get(a, i)) != want[i])
      fail_msg("%s[%zu] = %lld, want %lld", path, i,
               (long long)json_integer_value(json_array_get(a, i)), (long long)want[i]);
}

static void test_history_counts_each_interval(void **state) {
  (void)state;
  tern__metrics_t *m;
  assert_int_equal(tern__metrics_create(8, &m), 0);
  /* t=0 baseline; a turn, t=1 s; two llm errors and an stt one, t=2 s; a
   * turn and a tts error after it, read at 2.5 s. */
  tern__metrics_sample(m, 0, 0);
  event(m, "user_speech_committed", NULL, 0);
  tern__metrics_sample(m, TERN_SEC(1), 1);
  error_in(m, "llm");
  error_in(m, "llm");
  error_in(m, "stt");
  tern__metrics_sample(m, TERN_SEC(2), 2);
  event(m, "user_speech_committed", NULL, 0);
  error_in(m, "tts");
  error_in(m, "vad");
  json_t *j = stats_json(m, TERN_MS(2500), 1);
  json_t *h = json_object_get(j, "history");
  assert_int_equal(json_array_size(json_object_get(h, "ago_s")), 3);
  assert_true(json_real_value(json_array_get(json_object_get(h, "ago_s"), 0)) == 1.5);
  assert_true(json_real_value(json_array_get(json_object_get(h, "ago_s"), 2)) == 0.0);
  assert_series(h, "active", (json_int_t[]){1, 2, 1}, 3);
  assert_series(h, "turns", (json_int_t[]){1, 0, 1}, 3);
  assert_series(h, "llm", (json_int_t[]){0, 2, 0}, 3);
  assert_series(h, "stt", (json_int_t[]){0, 1, 0}, 3);
  assert_series(h, "tts", (json_int_t[]){0, 0, 1}, 3);
  assert_series(h, "other", (json_int_t[]){0, 0, 1}, 3);
  /* The labelled table behind the errors panel. */
  json_t *errs = json_object_get(j, "errors");
  assert_int_equal(json_array_size(errs), 4);
  json_t *e0 = json_array_get(errs, 0);
  assert_string_equal(json_string_value(json_object_get(e0, "component")), "llm");
  assert_string_equal(json_string_value(json_object_get(e0, "provider")), "p1");
  assert_int_equal(json_integer_value(json_object_get(e0, "count")), 2);
  json_decref(j);

  /* Five minutes is the window: older samples fall out. */
  for (int s = 3; s < 1000; s++)
    tern__metrics_sample(m, TERN_SEC(s), 0);
  j = stats_json(m, TERN_SEC(1000), 0);
  h = json_object_get(j, "history");
  assert_int_equal(json_array_size(json_object_get(h, "turns")), 301); /* 300 + now */
  assert_true(json_real_value(json_array_get(json_object_get(h, "ago_s"), 0)) == 300.0);
  json_decref(j);
  tern__metrics_destroy(m);
}

static void test_latency_buckets_and_event_limit(void **state) {
  (void)state;
  tern__metrics_t *m;
  assert_int_equal(tern__metrics_create(8, &m), 0);
  const double e2e[] = {40, 450, 900, 7000}; /* ms: first, fifth, seventh, overflow bucket */
  for (size_t i = 0; i < 4; i++) {
    tern_log_field_t f[] = {TERN_LF_DBL("e2e_ms", e2e[i]), TERN_LF_DBL("stt_ms", 10)};
    event(m, "metrics", f, 2);
  }
  json_t *j = stats_json(m, 0, 0);
  json_t *lat = json_object_get(j, "latency");
  assert_int_equal(json_array_size(json_object_get(lat, "le")), 11);
  json_t *b = json_object_get(json_object_get(lat, "e2e"), "buckets");
  assert_int_equal(json_array_size(b), 12);
  const json_int_t want[12] = {1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1};
  for (size_t i = 0; i < 12; i++)
    assert_int_equal(json_integer_value(json_array_get(b, i)), want[i]);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(lat, "e2e"), "count")), 4);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(lat, "stt"), "count")), 4);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(lat, "tts_ttfb"), "count")),
                   0);
  json_decref(j);
  /* /debug/events?limit=N: the newest N, oldest first. */
  tern_buf_t out = TERN_BUF_INIT;
  assert_int_equal(tern__metrics_events(m, 2, &out), 0);
  assert_string_equal(tern_buf_str(&out), "{\"type\":\"metrics\"}\n{\"type\":\"metrics\"}\n");
  tern_buf_free(&out);
  tern__metrics_destroy(m);
}

/* Time in state, step by step: (action, now, expected state, seconds in it). */
typedef enum { A_LOOK, A_FORCE_OPEN, A_RELEASE, A_FAIL3 } action_t;

static double breaker_in_state(json_t *j, const char *name, const char **st) {
  json_t *arr = json_object_get(j, "breakers");
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *b = json_array_get(arr, i);
    if (!strcmp(json_string_value(json_object_get(b, "provider")), name)) {
      *st = json_string_value(json_object_get(b, "state"));
      return json_real_value(json_object_get(b, "in_state_s"));
    }
  }
  fail_msg("no breaker %s in /stats", name);
  return -1;
}

static void test_breaker_time_in_state(void **state) {
  (void)state;
  tern__metrics_t *m;
  assert_int_equal(tern__metrics_create(8, &m), 0);
  tern_guard_config_t cfg;
  tern_guard_config_default(TERN_COMP_LLM, &cfg);
  tern_guard_t *g;
  assert_int_equal(tern_guards_get(TERN_COMP_LLM, "dash-test", &cfg, &g), 0);
  const struct {
    action_t a;
    int now_s;
    const char *state;
    double in_state;
  } steps[] = {
      // clang-format off
      {A_LOOK, 10, "closed", 10},    /* never changed: since the start */
      {A_FORCE_OPEN, 20, NULL, 0},   /* forced: no deadline to work from */
      {A_LOOK, 25, "open", 0},       /* ... so counted from the first look */
      {A_LOOK, 31, "open", 6},
      {A_RELEASE, 40, NULL, 0},
      {A_LOOK, 45, "closed", 0},
      {A_LOOK, 50, "closed", 5},
      {A_FAIL3, 100, NULL, 0},       /* tripped at 100 s ... */
      {A_LOOK, 112, "open", 12},     /* ... known exactly from its deadline */
      {A_LOOK, 120, "open", 20},
      // clang-format on
  };
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
    tern_usec_t now = TERN_SEC(steps[i].now_s);
    switch (steps[i].a) {
    case A_FORCE_OPEN:
      assert_int_equal(tern_breaker_force_open(g->breaker, now), 0);
      break;
    case A_RELEASE:
      assert_int_equal(tern_breaker_release(g->breaker, now), 0);
      break;
    case A_FAIL3:
      for (int k = 0; k < 3; k++) {
        tern_breaker_permit_t p;
        assert_int_equal(tern_breaker_acquire(g->breaker, now, &p), 0);
        tern_breaker_record(g->breaker, p, TERN_BREAKER_FAILURE, 1000, now);
      }
      break;
    case A_LOOK: {
      json_t *j = stats_json(m, now, 0);
      const char *st = NULL;
      double in = breaker_in_state(j, "dash-test", &st);
      if (strcmp(st, steps[i].state) || in != steps[i].in_state)
        fail_msg("step %zu: %s for %.3f s, want %s for %.3f s", i, st, in, steps[i].state,
                 steps[i].in_state);
      json_decref(j);
      break;
    }
    }
  }
  tern_guards_put(g);
  tern__metrics_destroy(m);
}

static int stats_once(void *ctx) {
  tern__metrics_t *m = ctx;
  tern_buf_t b = TERN_BUF_INIT;
  int rc = tern__metrics_stats(m, TERN_SEC(3), 0, 1, &b);
  tern_buf_free(&b);
  return rc;
}

static void test_stats_out_of_memory_is_an_error(void **state) {
  (void)state;
  tern__metrics_t *m;
  assert_int_equal(tern__metrics_create(8, &m), 0);
  tern__metrics_sample(m, 0, 0);
  error_in(m, "llm");
  tern_log_field_t sw[] = {TERN_LF_STR("component", "llm"), TERN_LF_STR("from", "a"),
                           TERN_LF_STR("to", "b"), TERN_LF_STR("reason", "failover")};
  event(m, "provider_switched", sw, 4);
  tern__metrics_sample(m, TERN_SEC(1), 1);
  assert_true(tu_alloc_sweep(stats_once, m) > 0);
  tern__metrics_destroy(m);
}

static void test_query_param(void **state) {
  (void)state;
  char v[16];
  assert_true(tern__query_param("a=1&token=x%2Fy+z&b=2", "token", v, sizeof v));
  assert_string_equal(v, "x/y z");
  assert_true(tern__query_param("token=", "token", v, sizeof v));
  assert_string_equal(v, "");
  assert_false(tern__query_param("tokens=1&xtoken=2", "token", v, sizeof v));
  assert_false(tern__query_param("", "token", v, sizeof v));
  assert_false(tern__query_param("token=0123456789abcdefXYZ", "token", v, sizeof v)); /* too long */
}

/* ---- a real server ------------------------------------------------------------ */

typedef struct fx {
  tern_config_t *cfg;
  tern_server_t *srv;
  int port, admin;
} fx_t;

static const char *no_env(const char *name, void *ud) {
  (void)name, (void)ud;
  return NULL;
}

static void fx_start(fx_t *f, const char *web_root, const char *admin_extra) {
  char ini[4096];
  snprintf(ini, sizeof ini,
           "[stt]\nchain = fake\n[tts]\nchain = fake\n"
           "[llm]\nchain = flaky, backup\n"
           "[llm.flaky]\nkind = fake\nfail_rate = 1\n"
           "[llm.backup]\nkind = fake\n"
           "[auth]\ndisabled = true\n"
           "[server]\nport = 0\nworkers = 1\nweb_root = %s\n[admin]\nport = 0\n%s",
           web_root ? web_root : tu_src_path("web"), admin_extra ? admin_extra : "");
  assert_int_equal(tern_config_new(&f->cfg), 0);
  tern_config_set_env(f->cfg, no_env, NULL);
  char err[512] = "";
  if (tern_config_load_string(f->cfg, ini, strlen(ini), "test.ini", err, sizeof err))
    fail_msg("config: %s", err);
  tern_server_opts_t o = {.config = f->cfg};
  if (tern_server_create(&o, &f->srv, err, sizeof err))
    fail_msg("create: %s", err);
  if (tern_server_start(f->srv, err, sizeof err))
    fail_msg("start: %s", err);
  f->port = tern_server_port(f->srv);
  f->admin = tern_server_admin_port(f->srv);
}

static void fx_stop(fx_t *f) {
  tern_server_stop(f->srv);
  tern_server_wait(f->srv);
  tern_server_destroy(f->srv);
  tern_config_free(f->cfg);
}

typedef struct body {
  char *p;
  size_t n;
} body_t;

static size_t on_body(char *d, size_t sz, size_t nm, void *ud) {
  body_t *b = ud;
  b->p = realloc(b->p, b->n + sz * nm + 1);
  memcpy(b->p + b->n, d, sz * nm);
  b->n += sz * nm;
  b->p[b->n] = '\0';
  return sz * nm;
}

/* GET; the status, the body in *out (free()) and the Content-Type in ctype. */
static long http_get(int port, const char *path, const char *bearer, char **out, char *ctype,
                     size_t ctsz) {
  CURL *c = curl_easy_init();
  char url[512], auth[256];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
  body_t b = {calloc(1, 1), 0};
  struct curl_slist *h = NULL;
  if (bearer) {
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
    h = curl_slist_append(h, auth);
  }
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
  long status = -1;
  if (curl_easy_perform(c) == CURLE_OK) {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (ctype)
      snprintf(ctype, ctsz, "%s", ct ? ct : "");
  }
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  if (out)
    *out = b.p;
  else
    free(b.p);
  return status;
}

/* 20 ms of caller audio: a loud square wave, or near silence. */
static void send_frame(wsc_t *c, bool loud, long k) {
  int16_t pcm[320];
  for (int i = 0; i < 320; i++) {
    long n = k * 320 + i;
    pcm[i] = loud ? (int16_t)(((n / 32) % 2) ? 8000 : -8000) : (int16_t)((n * 7919) % 61 - 30);
  }
  assert_int_equal(wsc_send(c, 2, pcm, sizeof pcm), 0);
}

/* Open a session, speak for a second, and wait (bounded, paced like a
 * microphone) until the agent's answer is committed. */
static void one_turn(fx_t *f, wsc_t *c) {
  assert_int_equal(wsc_open(c, f->port, "/session", NULL, WAIT_MS), 101);
  long t0 = wsc_now_ms(), k = 0;
  bool answered = false;
  while (!answered && wsc_now_ms() < t0 + WAIT_MS) {
    while ((k + 1) * 20 <= wsc_now_ms() - t0) {
      send_frame(c, k * 20 < 1000, k);
      k++;
    }
    int op = wsc_recv(c, 10);
    if (op < 0 || op == 8)
      break;
    if (op == 1 && strstr((const char *)c->msg, "\"type\":\"agent_speech_committed\""))
      answered = true;
  }
  if (!answered)
    fail_msg("no answer within %d ms", WAIT_MS);
}

static json_t *get(json_t *j, const char *a, const char *b) {
  json_t *v = json_object_get(j, a);
  if (v && b)
    v = json_object_get(v, b);
  if (!v)
    fail_msg("/stats lacks %s%s%s", a, b ? "." : "", b ? b : "");
  return v;
}

static json_t *find(json_t *arr, const char *k1, const char *v1, const char *k2, const char *v2) {
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *o = json_array_get(arr, i);
    if (!strcmp(json_string_value(json_object_get(o, k1)), v1) &&
        !strcmp(json_string_value(json_object_get(o, k2)), v2))
      return o;
  }
  return NULL;
}

static json_int_t sum(json_t *arr) {
  json_int_t s = 0;
  for (size_t i = 0; i < json_array_size(arr); i++)
    s += json_integer_value(json_array_get(arr, i));
  return s;
}

static void test_page_and_its_data_after_a_turn_and_an_error(void **state) {
  (void)state;
  fx_t f;
  fx_start(&f, NULL, NULL);
  char *b = NULL, ct[128] = "";
  assert_int_equal(http_get(f.admin, "/dashboard", NULL, &b, ct, sizeof ct), 200);
  assert_non_null(strstr(ct, "text/html"));
  assert_non_null(strstr(b, "<canvas"));
  assert_non_null(strstr(b, "/stats"));
  free(b);

  wsc_t c;
  one_turn(&f, &c);
  assert_int_equal(http_get(f.admin, "/stats", NULL, &b, ct, sizeof ct), 200);
  assert_string_equal(ct, "application/json");
  json_error_t jerr;
  json_t *j = json_loads(b, 0, &jerr);
  if (!j)
    fail_msg("/stats is not JSON (%s): %s", jerr.text, b);
  free(b);
  /* The tiles. */
  assert_int_equal(json_integer_value(get(j, "sessions_active", NULL)), 1);
  json_int_t turns = json_integer_value(get(j, "turns_total", NULL));
  json_int_t errors = json_integer_value(get(j, "errors_total", NULL));
  assert_true(turns >= 1);
  assert_true(errors >= 1);
  assert_true(json_integer_value(get(j, "failovers_total", NULL)) >= 1);
  assert_true(json_is_integer(get(j, "dead_air_events_total", NULL)));
  assert_true(json_is_integer(get(j, "fallback_phrases_total", NULL)));
  assert_true(json_is_integer(get(j, "refused", "auth")));
  /* The errors table and the failovers list. */
  json_t *e = find(get(j, "errors", NULL), "component", "llm", "provider", "flaky");
  assert_non_null(e);
  assert_true(json_integer_value(json_object_get(e, "count")) >= 1);
  assert_non_null(find(get(j, "switches", NULL), "from", "flaky", "to", "backup"));
  /* Breaker chips for every provider of the chain. */
  for (int i = 0; i < 2; i++) {
    json_t *br =
        find(get(j, "breakers", NULL), "component", "llm", "provider", i ? "backup" : "flaky");
    assert_non_null(br);
    const char *st = json_string_value(json_object_get(br, "state"));
    assert_true(!strcmp(st, "closed") || !strcmp(st, "open") || !strcmp(st, "half_open"));
    assert_true(json_real_value(json_object_get(br, "in_state_s")) >= 0);
  }
  /* Histograms: the turn is in every stage, in the buckets as in the count. */
  const char *stages[] = {"eou", "stt", "llm_ttft", "tts_ttfb", "e2e"};
  assert_int_equal(json_array_size(get(j, "latency", "le")), 11);
  for (size_t i = 0; i < 5; i++) {
    json_t *h = get(j, "latency", stages[i]);
    json_t *buckets = json_object_get(h, "buckets");
    assert_int_equal(json_array_size(buckets), 12);
    assert_true(json_integer_value(json_object_get(h, "count")) >= 1);
    assert_int_equal(sum(buckets), json_integer_value(json_object_get(h, "count")));
  }
  /* History since the start: the intervals add up to the totals. */
  json_t *h = get(j, "history", NULL);
  size_t n = json_array_size(json_object_get(h, "ago_s"));
  assert_true(n >= 1);
  assert_int_equal(json_array_size(json_object_get(h, "active")), n);
  assert_int_equal(sum(json_object_get(h, "turns")), turns);
  json_int_t errs = 0;
  const char *comps[] = {"stt", "llm", "tts", "other"};
  for (size_t i = 0; i < 4; i++) {
    json_t *a = get(h, "errors", comps[i]);
    assert_int_equal(json_array_size(a), n);
    errs += sum(a);
  }
  assert_int_equal(errs, errors);
  json_decref(j);

  /* The recent events the page lists, newest ones only. */
  assert_int_equal(http_get(f.admin, "/debug/events?limit=3", NULL, &b, NULL, 0), 200);
  int lines = 0;
  for (char *p = b; (p = strchr(p, '\n')); p++)
    lines++;
  assert_int_equal(lines, 3);
  free(b);
  wsc_free(&c);
  fx_stop(&f);
}

static void test_token_rules_for_the_page(void **state) {
  (void)state;
  fx_t f;
  fx_start(&f, NULL, "token = s3cret/+x\n");
  char *b = NULL, ct[128];
  assert_int_equal(http_get(f.admin, "/dashboard", NULL, &b, ct, sizeof ct), 401);
  assert_non_null(strstr(b, "?token="));
  free(b);
  assert_int_equal(http_get(f.admin, "/dashboard?token=wrong", NULL, NULL, NULL, 0), 401);
  assert_int_equal(http_get(f.admin, "/dashboard?token=s3cret/+x", NULL, NULL, NULL, 0), 401);
  assert_int_equal(http_get(f.admin, "/dashboard?token=s3cret%2F%2Bx", NULL, NULL, NULL, 0), 200);
  assert_int_equal(http_get(f.admin, "/dashboard", "s3cret/+x", NULL, NULL, 0), 200);
  /* The data takes the header only: a token in a URL ends up in logs. */
  assert_int_equal(http_get(f.admin, "/stats?token=s3cret%2F%2Bx", NULL, NULL, NULL, 0), 401);
  assert_int_equal(http_get(f.admin, "/debug/events?token=s3cret%2F%2Bx", NULL, NULL, NULL, 0),
                   401);
  assert_int_equal(http_get(f.admin, "/stats", "s3cret/+x", NULL, NULL, 0), 200);
  fx_stop(&f);
}

static void test_a_missing_page_says_where_it_looked(void **state) {
  (void)state;
  fx_t f;
  fx_start(&f, "/nonexistent/tern-web", NULL);
  char *b = NULL;
  assert_int_equal(http_get(f.admin, "/dashboard", NULL, &b, NULL, 0), 404);
  assert_non_null(strstr(b, "/nonexistent/tern-web/dashboard/index.html"));
  assert_non_null(strstr(b, "web_root"));
  free(b);
  fx_stop(&f);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_history_counts_each_interval),
      cmocka_unit_test(test_latency_buckets_and_event_limit),
      cmocka_unit_test(test_breaker_time_in_state),
      cmocka_unit_test(test_stats_out_of_memory_is_an_error),
      cmocka_unit_test(test_query_param),
      cmocka_unit_test(test_page_and_its_data_after_a_turn_and_an_error),
      cmocka_unit_test(test_token_rules_for_the_page),
      cmocka_unit_test(test_a_missing_page_says_where_it_looked),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
