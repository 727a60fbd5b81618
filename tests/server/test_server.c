/* tern serve, in process: a real server (worker threads, WebSocket
 * transport, admin HTTP) on ephemeral loopback ports with fake providers,
 * driven by a raw WebSocket client and plain HTTP, exactly as a browser
 * and Prometheus would reach it. Waits are bounded polls, never sleeps used
 * as synchronisation. */
#include "testutil.h"

#include <curl/curl.h>
#include <jansson.h>
#include <jwt.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "tern/alloc.h"
#include "tern/clock.h"
#include "tern/config.h"
#include "tern/error.h"
#include "tern/server.h"
#include "tern/token.h"
#include "wsclient.h"

/* Two lws contexts alive on two threads at once (two workers) make Debian's
 * lws 4.1.6 / OpenSSL 3 leave one client SSL_CTX behind now and then
 * (reproduced with bare tern loops, no server code involved). Those
 * library-internal blocks are not ours to free. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
  return "leak:libcrypto.so\nleak:libssl.so\nleak:libwebsockets.so\n";
}

#define KEY "test-key"
#define SECRET "test-secret-that-is-long-enough"
#define WAIT_MS 15000

typedef struct fx {
  tern_config_t *cfg;
  tern_server_t *srv;
  int port, admin;
} fx_t;

static const char *no_env(const char *name, void *ud) {
  (void)name, (void)ud;
  return NULL;
}

static void fx_start(fx_t *f, const char *extra) {
  char ini[4096];
  snprintf(ini, sizeof ini,
           "[stt]\nchain = fake\n[llm]\nchain = fake\n[tts]\nchain = fake\n"
           "[auth]\napi_key = %s\napi_secret = %s\n"
           "[server]\nport = 0\nworkers = 1\n[admin]\nport = 0\n%s",
           KEY, SECRET, extra ? extra : "");
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
  assert_true(f->port > 0 && f->admin > 0 && f->port != f->admin);
}

static void fx_stop(fx_t *f) {
  tern_server_stop(f->srv);
  tern_server_wait(f->srv);
  tern_server_destroy(f->srv);
  tern_config_free(f->cfg);
}

static int64_t now_s(void) { return tern_wall_ms() / 1000; }

static char *token_at(int64_t now, int64_t ttl, const char *secret) {
  tern_token_keys_t k = {KEY, secret};
  tern_token_grant_t g = {"caller", NULL, "room-1", ttl};
  char *t = NULL;
  assert_int_equal(tern_token_mint(&k, &g, now, &t), 0);
  return t;
}

static char *good_token(void) { return token_at(now_s(), 600, SECRET); }

/* ---- HTTP ------------------------------------------------------------- */

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

/* GET; returns the status, the body in *out (free()) if out. */
static long http_get(int port, const char *path, const char *bearer, char **out) {
  CURL *c = curl_easy_init();
  char url[256], auth[256];
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
  if (curl_easy_perform(c) == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  if (out)
    *out = b.p;
  else
    free(b.p);
  return status;
}

/* Poll until GET path answers `want` (bounded). */
static bool http_wait_status(int port, const char *path, long want) {
  long until = wsc_now_ms() + WAIT_MS;
  while (wsc_now_ms() < until) {
    if (http_get(port, path, NULL, NULL) == want)
      return true;
    struct pollfd none;
    poll(&none, 0, 20); /* a polling interval, not a synchronisation */
  }
  return false;
}

/* ---- the session client ------------------------------------------------------ */

typedef struct seen {
  int ready, protocol_errors, pongs, binary, bad_binary;
  int committed, agent_committed, goodbye, closed_event;
  unsigned states; /* bit per state name seen */
  bool close, eof;
  int close_code;
} seen_t;

static const char *k_states[] = {"listening", "user_speaking", "end_of_turn", "thinking",
                                 "speaking"};

static bool has(const wsc_t *c, const char *needle) {
  return strstr((const char *)c->msg, needle) != NULL;
}

/* Receive one message (waiting at most ms) and account for it. Returns the
 * opcode, 0 on timeout, -1 on EOF. */
static int pump(wsc_t *c, seen_t *s, int ms) {
  int op = wsc_recv(c, ms);
  if (op == 1) {
    json_t *j = json_loads((const char *)c->msg, 0, NULL);
    if (!j)
      fail_msg("server sent a text frame that is not JSON: %s", c->msg);
    const char *type = json_string_value(json_object_get(j, "type"));
    assert_non_null(type);
    if (!strcmp(type, "ready"))
      s->ready++;
    else if (!strcmp(type, "protocol_error"))
      s->protocol_errors++;
    else if (!strcmp(type, "pong"))
      s->pongs++;
    else if (!strcmp(type, "user_speech_committed"))
      s->committed++;
    else if (!strcmp(type, "agent_speech_committed")) {
      s->agent_committed++;
      if (has(c, "\"source\":\"goodbye\""))
        s->goodbye++;
    } else if (!strcmp(type, "session_closed"))
      s->closed_event++;
    else if (!strcmp(type, "state")) {
      const char *st = json_string_value(json_object_get(j, "state"));
      for (unsigned i = 0; i < 5; i++)
        if (st && !strcmp(st, k_states[i]))
          s->states |= 1u << i;
    }
    json_decref(j);
  } else if (op == 2) {
    s->binary++;
    if (c->msglen != 640) /* 20 ms at 16 kHz */
      s->bad_binary++;
  } else if (op == 8) {
    s->close = true;
    s->close_code = c->close_code;
    unsigned char echo[2] = {(unsigned char)(c->close_code >> 8), (unsigned char)c->close_code};
    wsc_send(c, 8, echo, 2); /* answer the close, as a browser does */
  } else if (op < 0) {
    s->eof = true;
  }
  return op;
}

/* Pump until cond(s) holds (bounded). */
#define PUMP_UNTIL(c, s, cond)                                                                     \
  do {                                                                                             \
    long until_ = wsc_now_ms() + WAIT_MS;                                                          \
    while (!(cond) && wsc_now_ms() < until_ && !(s)->eof && !(s)->close)                           \
      pump((c), (s), 100);                                                                         \
    if (!(cond))                                                                                   \
      fail_msg("timed out waiting for: %s", #cond);                                                \
  } while (0)

static void open_session(fx_t *f, wsc_t *c, seen_t *s) {
  char *tok = good_token();
  char target[2048];
  snprintf(target, sizeof target, "/session?access_token=%s", tok);
  tern_free(tok);
  memset(s, 0, sizeof *s);
  int st = wsc_open(c, f->port, target, NULL, WAIT_MS);
  if (st != 101)
    fail_msg("upgrade answered %d: %s", st, c->body);
  PUMP_UNTIL(c, s, s->ready == 1);
}

/* 20 ms of caller audio: a 250 Hz square at -12 dBFS, or near silence. */
static void send_frame(wsc_t *c, bool loud, long k) {
  int16_t pcm[320];
  for (int i = 0; i < 320; i++) {
    long n = k * 320 + i;
    pcm[i] = loud ? (int16_t)(((n / 32) % 2) ? 8000 : -8000) : (int16_t)((n * 7919) % 61 - 30);
  }
  assert_int_equal(wsc_send(c, 2, pcm, sizeof pcm), 0);
}

/* Speak for speech_ms, then stay quiet, paced in real time like a
 * microphone, until cond holds. */
#define TALK_UNTIL(c, s, speech_ms, cond)                                                          \
  do {                                                                                             \
    long t0_ = wsc_now_ms(), k_ = 0, until_ = t0_ + WAIT_MS;                                       \
    while (!(cond) && wsc_now_ms() < until_ && !(s)->eof && !(s)->close) {                         \
      while ((k_ + 1) * 20 <= wsc_now_ms() - t0_) {                                                \
        send_frame((c), k_ * 20 < (speech_ms), k_);                                                \
        k_++;                                                                                      \
      }                                                                                            \
      pump((c), (s), 10);                                                                          \
    }                                                                                              \
    if (!(cond))                                                                                   \
      fail_msg("timed out waiting for: %s", #cond);                                                \
  } while (0)

/* ---- tests -------------------------------------------------------------------- */

static void test_bad_tokens_are_refused_before_the_upgrade(void **state) {
  (void)state;
  fx_t f;
  fx_start(&f, NULL);
  char *expired = token_at(now_s() - 7200, 60, SECRET);
  char *forged = token_at(now_s(), 600, "not-the-server-secret-at-all");
  /* A well-signed token without the room-join grant. */
  jwt_t *j;
  jwt_new(&j);
  jwt_add_grant(j, "iss", KEY);
  jwt_add_grant(j, "sub", "x");
  jwt_add_grant_int(j, "exp", (long)(now_s() + 600));
  jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)SECRET, (int)strlen(SECRET));
  char *nogrant = jwt_encode_str(j);
  jwt_free(j);
  struct {
    const char *name, *tok, *word;
  } cases[] = {{"missing", NULL, "no access token"},
               {"expired", expired, "expired"},
               {"forged", forged, "signature"},
               {"no grant", nogrant, "grant"}};
  for (size_t i = 0; i < 4; i++) {
    char target[2048];
    snprintf(target, sizeof target, "/session%s%s", cases[i].tok ? "?access_token=" : "",
             cases[i].tok ? cases[i].tok : "");
    wsc_t c;
    int st = wsc_open(&c, f.port, target, NULL, WAIT_MS);
    if (st != 401)
      fail_msg("%s: status %d, want 401", cases[i].name, st);
    if (!strstr(c.body, cases[i].word))
      fail_msg("%s: body '%s' does not say '%s'", cases[i].name, c.body, cases[i].word);
    /* Nothing but the refusal: no WebSocket, no audio. */
    assert_false(strstr(c.head, "Upgrade") || strstr(c.head, "upgrade: websocket"));
    wsc_free(&c);
  }
  /* The same works through the Authorization header. */
  wsc_t c;
  char hdr[1024];
  snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", forged);
  assert_int_equal(wsc_open(&c, f.port, "/session", hdr, WAIT_MS), 401);
  wsc_free(&c);
  char *good = good_token();
  snprintf(hdr, sizeof hdr, "Authorization: Bearer %s\r\n", good);
  assert_int_equal(wsc_open(&c, f.port, "/session", hdr, WAIT_MS), 101);
  wsc_free(&c);
  /* Unknown paths and plain HTTP get 404. */
  assert_int_equal(wsc_open(&c, f.port, "/other", hdr, WAIT_MS), 404);
  wsc_free(&c);
  char *m = NULL;
  assert_int_equal(http_get(f.admin, "/metrics", NULL, &m), 200);
  assert_non_null(strstr(m, "tern_sessions_refused_total{reason=\"auth\"} 5"));
  /* Never a secret in the metrics. */
  assert_null(strstr(m, SECRET));
  free(m);
  tern_free(expired);
  tern_free(forged);
  tern_free(good);
  free(nogrant);
  fx_stop(&f);
}

static void test_a_whole_turn_over_the_websocket(void **state) {
  (void)state;
  fx_t f;
  fx_start(&f, NULL);
  wsc_t c;
  seen_t s;
  open_session(&f, &c, &s);
  assert_non_null(strstr((const char *)c.msg, "\"sample_rate\":16000"));
  /* The caller speaks for a second; the fake STT hears "hello there", the
   * fake model answers, and its speech comes back as 20 ms frames. */
  TALK_UNTIL(&c, &s, 1000, s.committed >= 1 && s.binary >= 25);
  assert_int_equal(s.bad_binary, 0);
  assert_int_equal(s.protocol_errors, 0);
  assert_true(s.states & (1u << 1)); /* user_speaking */
  assert_true(s.states & (1u << 4)); /* speaking */
  PUMP_UNTIL(&c, &s, s.agent_committed >= 1);
  /* Metrics saw the turn. */
  char *m = NULL;
  assert_int_equal(http_get(f.admin, "/metrics", NULL, &m), 200);
  assert_non_null(strstr(m, "tern_turns_total 1"));
  assert_non_null(strstr(m, "tern_sessions_active 1"));
  assert_non_null(strstr(m, "tern_e2e_seconds_count 1"));
  free(m);
  char *ev = NULL;
  assert_int_equal(http_get(f.admin, "/debug/events", NULL, &ev), 200);
  assert_non_null(strstr(ev, "\"type\":\"user_speech_committed\",\"text\":\"hello there\""));
  free(ev);
  /* The caller hangs up: the session goes. */
  unsigned char bye[2] = {0x03, 0xe8};
  wsc_send(&c, 8, bye, 2);
  wsc_free(&c);
  long until = wsc_now_ms() + WAIT_MS;
  while (tern_server_sessions(f.srv) && wsc_now_ms() < until)
    poll(NULL, 0, 10);
  assert_int_equal(tern_server_sessions(f.srv), 0);
  fx_stop(&f);
}

static void expect_protocol_error(wsc_t *c, seen_t *s) {
  int before = s->protocol_errors;
  PUMP_UNTIL(c, s, s->protocol_errors == before + 1);
}

static void test_malformed_messages_get_protocol_errors_and_the_session_goes_on(void **state) {
  (void)state;
  fx_t f;
  fx_start(&f, NULL);
  wsc_t c, c2;
  seen_t s, s2;
  open_session(&f, &c, &s);
  open_session(&f, &c2, &s2);
  wsc_text(&c, "this is not json");
  expect_protocol_error(&c, &s);
  wsc_text(&c, "[1,2,3]");
  expect_protocol_error(&c, &s);
  wsc_text(&c, "{\"type\":\"dance\"}");
  expect_protocol_error(&c, &s);
  wsc_text(&c, "{\"type\":\"say\",\"text\":42}");
  expect_protocol_error(&c, &s);
  char *big = malloc(17 * 1024 + 1);
  memset(big, ' ', 17 * 1024);
  memcpy(big, "{\"type\":\"ping\",\"pad\":\"", 22);
  big[17 * 1024 - 2] = '"';
  big[17 * 1024 - 1] = '}';
  big[17 * 1024] = '\0';
  wsc_text(&c, big); /* well-formed, but over 16 KiB */
  expect_protocol_error(&c, &s);
  free(big);
  unsigned char odd[3] = {1, 2, 3};
  wsc_send(&c, 2, odd, sizeof odd);
  expect_protocol_error(&c, &s);
  size_t over = 16000 * 2 + 2; /* more than 1 s of audio in one frame */
  unsigned char *pcm = calloc(1, over);
  wsc_send(&c, 2, pcm, over);
  expect_protocol_error(&c, &s);
  free(pcm);
  /* Still alive: ping works, and so does a spoken turn. */
  wsc_text(&c, "{\"type\":\"ping\"}");
  PUMP_UNTIL(&c, &s, s.pongs == 1);
  wsc_text(&c, "{\"type\":\"say\",\"text\":\"Still here.\"}");
  PUMP_UNTIL(&c, &s, s.binary >= 5);
  /* The other session saw none of it. */
  wsc_text(&c2, "{\"type\":\"ping\"}");
  PUMP_UNTIL(&c2, &s2, s2.pongs == 1);
  assert_int_equal(s2.protocol_errors, 0);
  /* Past 100 protocol errors the session is closed with 1008. */
  for (int i = 0; i < 100; i++)
    wsc_text(&c, "nope");
  PUMP_UNTIL(&c, &s, s.close);
  assert_int_equal(s.close_code, 1008);
  wsc_text(&c2, "{\"type\":\"ping\"}");
  PUMP_UNTIL(&c2, &s2, s2.pongs == 2);
  wsc_free(&c);
  wsc_free(&c2);
  fx_stop(&f);
}

static void test_interrupt_and_end_from_the_caller(void **state) {
  (void)state;
  fx_t f;
  fx_start(&f, NULL);
  wsc_t c;
  seen_t s;
  open_session(&f, &c, &s);
  /* A long announcement, cut short push-to-talk style. */
  wsc_text(&c, "{\"type\":\"say\",\"text\":\"This is a rather long announcement that nobody "
               "wants to hear to the very end, believe me.\"}");
  PUMP_UNTIL(&c, &s, s.binary >= 75 && (s.states & (1u << 4)));
  wsc_text(&c, "{\"type\":\"interrupt\"}");
  PUMP_UNTIL(&c, &s, s.agent_committed == 1);
  assert_non_null(strstr((const char *)c.msg, "\"interrupted\":true"));
  /* The agent went quiet: back to listening, and no more audio after it. */
  s.states = 0;
  PUMP_UNTIL(&c, &s, s.states & 1u);
  int frames = s.binary;
  wsc_text(&c, "{\"type\":\"ping\"}");
  PUMP_UNTIL(&c, &s, s.pongs == 1);
  assert_true(s.binary - frames <= 5); /* at most what was already queued (100 ms) */
  /* The caller ends the call: goodbye, session_closed, close 1000. */
  wsc_text(&c, "{\"type\":\"end\",\"reason\":\"caller_done\"}");
  PUMP_UNTIL(&c, &s, s.close);
  assert_int_equal(s.goodbye, 1);
  assert_int_equal(s.closed_event, 1);
  assert_int_equal(s.close_code, 1000);
  wsc_free(&c);
  fx_stop(&f);
}

static void test_a_full_server_answers_503(void **state) {
  (void)state;
  fx_t f;
  fx_start(&f, "[server]\nmax_sessions = 1\n");
  wsc_t c, c2;
  seen_t s;
  open_session(&f, &c, &s);
  char *tok = good_token();
  char target[2048];
  snprintf(target, sizeof target, "/session?access_token=%s", tok);
  assert_int_equal(wsc_open(&c2, f.port, target, NULL, WAIT_MS), 503);
  assert_non_null(strstr(c2.body, "full"));
  wsc_free(&c2);
  char *body = NULL;
  assert_int_equal(http_get(f.admin, "/ready", NULL, &body), 503);
  assert_string_equal(body, "full\n");
  free(body);
  /* A slot frees when the caller leaves. */
  unsigned char bye[2] = {0x03, 0xe8};
  wsc_send(&c, 8, bye, 2);
  wsc_free(&c);
  assert_true(http_wait_status(f.admin, "/ready", 200));
  assert_int_equal(wsc_open(&c2, f.port, target, NULL, WAIT_MS), 101);
  wsc_free(&c2);
  tern_free(tok);
  fx_stop(&f);
}

static void test_admin_endpoints(void **state) {
  (void)state;
  fx_t f;
  fx_start(&f, NULL);
  char *b = NULL;
  assert_int_equal(http_get(f.admin, "/health", NULL, &b), 200);
  assert_string_equal(b, "ok\n");
  free(b);
  assert_int_equal(http_get(f.admin, "/ready", NULL, NULL), 200);
  assert_int_equal(http_get(f.admin, "/nope", NULL, NULL), 404);
  assert_int_equal(http_get(f.admin, "/stats", NULL, &b), 200);
  json_t *j = json_loads(b, 0, NULL);
  assert_non_null(j);
  assert_int_equal(json_integer_value(json_object_get(j, "sessions_active")), 0);
  assert_string_equal(json_string_value(json_object_get(json_object_get(j, "chains"), "llm")),
                      "fake");
  json_decref(j);
  free(b);
  /* One session so the metrics have something in them. */
  wsc_t c;
  seen_t s;
  open_session(&f, &c, &s);
  assert_int_equal(http_get(f.admin, "/metrics", NULL, &b), 200);
  const char *names[] = {"tern_sessions_active 1",
                         "tern_sessions_total 1",
                         "tern_turns_total",
                         "tern_errors_total",
                         "tern_breaker_state{provider=\"fake\",component=\"llm\"} 0",
                         "tern_provider_switches_total",
                         "tern_failovers_total",
                         "tern_dead_air_events_total",
                         "tern_fallback_phrases_total",
                         "tern_eou_seconds_bucket{le=\"0.05\"}",
                         "tern_stt_seconds_sum",
                         "tern_llm_ttft_seconds_count",
                         "tern_tts_ttfb_seconds_bucket{le=\"+Inf\"}",
                         "tern_e2e_seconds_bucket{le=\"5\"}"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!strstr(b, names[i]))
      fail_msg("/metrics lacks %s", names[i]);
  /* The exposition format, checked by Prometheus's own tool when present. */
  if (system("command -v promtool >/dev/null 2>&1") == 0) {
    const char *path = tu_tmp_path("metrics.txt");
    assert_int_equal(tu_write_file(path, b, strlen(b)), 0);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    char out[4096] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    if (rc != 0)
      fail_msg("promtool check metrics failed:\n%s", out);
  } else {
    print_message("promtool not installed (Debian package prometheus): format not checked\n");
  }
  free(b);
  assert_int_equal(http_get(f.admin, "/debug/events", NULL, &b), 200);
  assert_non_null(strstr(b, "\"type\":\"session_started\""));
  free(b);
  wsc_free(&c);
  fx_stop(&f);

  /* With a token, everything but the probes needs it. */
  fx_start(&f, "token = admintoken123\n"); /* lands in [admin] */
  assert_int_equal(http_get(f.admin, "/health", NULL, NULL), 200);
  assert_int_equal(http_get(f.admin, "/ready", NULL, NULL), 200);
  assert_int_equal(http_get(f.admin, "/metrics", NULL, NULL), 401);
  assert_int_equal(http_get(f.admin, "/metrics", "wrong", NULL), 401);
  assert_int_equal(http_get(f.admin, "/metrics", "admintoken123", NULL), 200);
  assert_int_equal(http_get(f.admin, "/stats", NULL, NULL), 401);
  fx_stop(&f);
}

static void test_origin_is_checked(void **state) {
  (void)state;
  fx_t f;
  fx_start(&f, NULL);
  char *tok = good_token();
  char target[2048], hdr[256];
  snprintf(target, sizeof target, "/session?access_token=%s", tok);
  wsc_t c;
  assert_int_equal(wsc_open(&c, f.port, target, "Origin: http://evil.example\r\n", WAIT_MS), 403);
  wsc_free(&c);
  snprintf(hdr, sizeof hdr, "Origin: http://127.0.0.1:%d\r\n", f.port);
  assert_int_equal(wsc_open(&c, f.port, target, hdr, WAIT_MS), 101);
  wsc_free(&c);
  fx_stop(&f);
  fx_start(&f, "[server]\nallowed_origins = https://app.example.com, https://other.example\n");
  assert_int_equal(wsc_open(&c, f.port, target, "Origin: https://app.example.com\r\n", WAIT_MS),
                   101);
  wsc_free(&c);
  snprintf(hdr, sizeof hdr, "Origin: http://127.0.0.1:%d\r\n", f.port);
  assert_int_equal(wsc_open(&c, f.port, target, hdr, WAIT_MS), 403);
  wsc_free(&c);
  tern_free(tok);
  fx_stop(&f);
}

static void test_drain_says_goodbye_and_stops(void **state) {
  (void)state;
  fx_t f;
  fx_start(&f, "[server]\ndrain_timeout_ms = 200\ndrain_grace_ms = 20000\n"
               "drain_goodbye = Goodbye now.\n");
  wsc_t c;
  seen_t s;
  open_session(&f, &c, &s);
  tern_server_drain(f.srv);
  assert_true(tern_server_draining(f.srv));
  /* Not ready any more; new callers are turned away. */
  assert_true(http_wait_status(f.admin, "/ready", 503));
  assert_int_equal(http_get(f.admin, "/health", NULL, NULL), 200);
  char *tok = good_token();
  char target[2048];
  snprintf(target, sizeof target, "/session?access_token=%s", tok);
  wsc_t c2;
  assert_int_equal(wsc_open(&c2, f.port, target, NULL, WAIT_MS), 503);
  assert_non_null(strstr(c2.body, "draining"));
  wsc_free(&c2);
  tern_free(tok);
  /* The live caller hears the goodbye, then the line closes normally. */
  PUMP_UNTIL(&c, &s, s.close);
  assert_int_equal(s.goodbye, 1);
  assert_true(s.binary > 0);
  assert_int_equal(s.closed_event, 1);
  assert_int_equal(s.close_code, 1000);
  wsc_free(&c);
  /* And the server stops by itself. */
  tern_server_wait(f.srv);
  assert_int_equal(tern_server_sessions(f.srv), 0);
  tern_server_destroy(f.srv);
  tern_config_free(f.cfg);
}

static void test_two_workers_share_the_port(void **state) {
  (void)state;
  fx_t f;
  fx_start(&f, "[server]\nworkers = 2\n");
  assert_int_equal(tern_server_workers(f.srv), 2);
  wsc_t c[4];
  seen_t s[4];
  for (int i = 0; i < 4; i++)
    open_session(&f, &c[i], &s[i]);
  for (int i = 0; i < 4; i++) {
    wsc_text(&c[i], "{\"type\":\"ping\"}");
    PUMP_UNTIL(&c[i], &s[i], s[i].pongs == 1);
  }
  char *b = NULL;
  assert_int_equal(http_get(f.admin, "/stats", NULL, &b), 200);
  json_t *j = json_loads(b, 0, NULL);
  json_t *per = json_object_get(j, "sessions_per_worker");
  assert_int_equal(json_array_size(per), 2);
  assert_int_equal(
      json_integer_value(json_array_get(per, 0)) + json_integer_value(json_array_get(per, 1)), 4);
  json_decref(j);
  free(b);
  for (int i = 0; i < 4; i++)
    wsc_free(&c[i]);
  fx_stop(&f);
}

static void test_config_refuses_to_run_open_by_accident(void **state) {
  (void)state;
  tern_config_t *cfg;
  assert_int_equal(tern_config_new(&cfg), 0);
  tern_config_set_env(cfg, no_env, NULL);
  tern_server_config_t sc;
  tern_server_config_default(&sc);
  char err[512] = "";
  assert_int_equal(tern_server_config_load(&sc, cfg, err, sizeof err), TERN_ECONFIG);
  assert_non_null(strstr(err, "[auth] disabled = true"));
  const char *dev = "[auth]\ndisabled = true\n";
  assert_int_equal(tern_config_load_string(cfg, dev, strlen(dev), "t", err, sizeof err), 0);
  tern_server_config_default(&sc);
  assert_int_equal(tern_server_config_load(&sc, cfg, err, sizeof err), 0);
  assert_int_equal(sc.port, 8080);
  assert_int_equal(sc.admin_port, 8081);
  assert_int_equal(sc.max_sessions, 200);
  /* An admin listener off loopback needs a token. */
  const char *pub = "[admin]\nbind = 0.0.0.0\n";
  assert_int_equal(tern_config_load_string(cfg, pub, strlen(pub), "t", err, sizeof err), 0);
  tern_server_config_default(&sc);
  assert_int_equal(tern_server_config_load(&sc, cfg, err, sizeof err), TERN_ECONFIG);
  assert_non_null(strstr(err, "[admin] token"));
  tern_config_free(cfg);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config_refuses_to_run_open_by_accident),
      cmocka_unit_test(test_bad_tokens_are_refused_before_the_upgrade),
      cmocka_unit_test(test_a_whole_turn_over_the_websocket),
      cmocka_unit_test(test_malformed_messages_get_protocol_errors_and_the_session_goes_on),
      cmocka_unit_test(test_interrupt_and_end_from_the_caller),
      cmocka_unit_test(test_a_full_server_answers_503),
      cmocka_unit_test(test_admin_endpoints),
      cmocka_unit_test(test_origin_is_checked),
      cmocka_unit_test(test_drain_says_goodbye_and_stops),
      cmocka_unit_test(test_two_workers_share_the_port),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
