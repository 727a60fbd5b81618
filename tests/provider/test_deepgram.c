/* The Deepgram live provider against the fault-injecting fake server:
 * what a caller gets from a WAV (interim and final transcripts), the live
 * stream (push, endpointing, finish, keep-alives), what goes over the wire,
 * how each failure of the WebSocket is classified, what the fallback runner
 * does with them, cancel mid-utterance, configuration, and that the key
 * never leaks. Plus the message parser and close-frame classification on
 * their own. Behaviour is asserted, never durations. */
#include "testutil.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fakeprov.h"
#include "tern/alloc.h"
#include "tern/buf.h"
#include "tern/config.h"
#include "tern/deepgram.h"
#include "tern/error.h"
#include "tern/events.h"
#include "tern/fake.h"
#include "tern/fallback.h"
#include "tern/log.h"
#include "tern/loop.h"
#include "tern/wav.h"

static fakeprov_t g_fp;
static bool g_have;
static tern_wav_t g_wav; /* examples/audio/sample.wav: one utterance */

#define KEY "dg-test-key-3e8b5a0f41"
#define ROUTE "deepgram.listen"
#define NEED_FAKE()                                                                       \
  do {                                                                                    \
    if (!g_have)                                                                          \
      skip();                                                                             \
  } while (0)

/* ---- fixtures ------------------------------------------------------------ */

static tern_provider_t *make_dg(const char *name, const char *extra) {
  tern_config_t *cfg;
  assert_int_equal(tern_config_new(&cfg), 0);
  char ini[1024];
  /* endpointing 500 ms: the sample's longest pause (280 ms) stays inside
   * one utterance */
  snprintf(ini, sizeof ini, "[stt.%s]\nbase_url = %s\napi_key = " KEY "\n%s\n", name,
           fakeprov_ws_url(&g_fp, ""), extra ? extra : "endpointing_ms = 500");
  char err[256];
  assert_int_equal(tern_config_load_string(cfg, ini, strlen(ini), "test.ini", err, sizeof err), 0);
  tern_provider_t *p = NULL;
  if (tern_deepgram_provider_create(TERN_COMP_STT, name, cfg, &p, err, sizeof err))
    fail_msg("create: %s", err);
  tern_config_free(cfg);
  return p;
}

typedef struct {
  tern_loop_t *loop;
  char finals[8][256];
  int n_finals;
  char interims[128][256];
  int n_interims;
  bool done, failed;
  tern_error_t err;
  tern_op_t *op;
  int cancel_on_interim; /* > 0: cancel inside that interim */
} res_t;

static void r_transcript(void *ud, const char *text, bool is_final, double conf) {
  res_t *r = ud;
  assert_false(r->done);
  assert_true(conf >= 0.0 && conf <= 1.0);
  if (is_final) {
    assert_true(r->n_finals < 8);
    snprintf(r->finals[r->n_finals++], 256, "%s", text);
    return;
  }
  if (r->n_interims < 128)
    snprintf(r->interims[r->n_interims], 256, "%s", text);
  r->n_interims++;
  if (r->n_interims == r->cancel_on_interim) {
    tern_op_cancel(r->op);
    r->done = true;
  }
}

static void r_done(void *ud, const tern_error_t *err) {
  res_t *r = ud;
  assert_false(r->done); /* exactly once */
  r->done = true;
  if (err) {
    r->failed = true;
    r->err = *err;
  }
}

static bool r_is_done(void *ud) { return ((res_t *)ud)->done; }

static void res_init(res_t *r) {
  memset(r, 0, sizeof *r);
  assert_int_equal(tern_loop_create(NULL, &r->loop), 0);
}

static void res_free(res_t *r) { tern_loop_destroy(r->loop); }

static void run(res_t *r) {
  assert_int_equal(tern_loop_run_until(r->loop, r_is_done, r, TERN_SEC(20)), 0);
}

static void transcribe(tern_provider_t *p, res_t *r, const int16_t *pcm, size_t n) {
  tern_stt_request_t req = {.pcm = pcm, .n_samples = n, .sample_rate = 16000};
  tern_stt_sink_t sink = {r_transcript, r_done, r};
  assert_int_equal(p->vt->stt_start(p, r->loop, &req, &sink, &r->op), 0);
  assert_false(r->done); /* never called back inside the start call */
  run(r);
}

static void script(const char *json) { assert_int_equal(fakeprov_script(&g_fp, ROUTE, json), 0); }

static void reply_texts(const char *json_array) {
  char body[512];
  snprintf(body, sizeof body, "{\"route\":\"" ROUTE "\",\"texts\":%s}", json_array);
  assert_int_equal(fakeprov_control(&g_fp, "POST", "/_control/reply", body, NULL), 0);
}

static char *last(const char *field) { return fakeprov_last(&g_fp, ROUTE, field); }

static void assert_last(const char *field, const char *want) {
  char *v = last(field);
  if (!v)
    fail_msg("the fake has no '%s'", field);
  if (strcmp(v, want))
    fail_msg("fake's %s is '%s', want '%s'", field, v, want);
  free(v);
}

/* True when `s` is the first words of `of`. */
static bool word_prefix(const char *s, const char *of) {
  size_t n = strlen(s);
  return n > 0 && !strncmp(s, of, n) && (of[n] == '\0' || of[n] == ' ');
}

/* Speech as the fake hears it: a loud tone burst between silences. */
static int16_t *burst(size_t lead_ms, size_t tone_ms, size_t tail_ms, size_t *n) {
  size_t a = lead_ms * 16, b = tone_ms * 16, c = tail_ms * 16;
  int16_t *pcm = calloc(a + b + c, sizeof *pcm);
  for (size_t i = 0; i < b; i++)
    pcm[a + i] = (int16_t)(3000 * sin(2 * M_PI * 300 * (double)i / 16000));
  *n = a + b + c;
  return pcm;
}

/* ---- one utterance --------------------------------------------------------- */

static void test_wav_gives_interims_and_the_final(void **state) {
  (void)state;
  NEED_FAKE();
  const char *said = "good morning to you all";
  assert_int_equal(fakeprov_reply(&g_fp, ROUTE, said), 0);
  tern_provider_t *p = make_dg("deepgram", NULL);
  res_t r;
  res_init(&r);
  transcribe(p, &r, g_wav.samples, g_wav.frames);
  assert_false(r.failed);
  assert_int_equal(r.n_finals, 1);
  assert_string_equal(r.finals[0], said);
  assert_true(r.n_interims >= 2);
  for (int i = 0; i < r.n_interims && i < 128; i++)
    if (!word_prefix(r.interims[i], said))
      fail_msg("interim '%s' is not the start of '%s'", r.interims[i], said);
  /* what went over the wire */
  assert_last("query.encoding", "linear16");
  assert_last("query.sample_rate", "16000");
  assert_last("query.channels", "1");
  assert_last("query.model", "nova-2");
  assert_last("query.interim_results", "true");
  assert_last("query.punctuate", "true");
  assert_last("query.endpointing", "500");
  assert_last("headers.authorization", "Token " KEY);
  assert_last("finalizes", "1");
  assert_last("close_stream", "true");
  char want[32];
  snprintf(want, sizeof want, "%zu", g_wav.frames * 2);
  assert_last("audio_bytes", want);
  res_free(&r);
  tern_provider_destroy(p);
}

static void test_utterance_transcript_joins_every_final(void **state) {
  (void)state;
  NEED_FAKE();
  reply_texts("[\"hello there\", \"general kenobi\"]");
  tern_provider_t *p = make_dg("deepgram", "endpointing_ms = 300");
  /* two bursts with a long pause: Deepgram sends two finals */
  size_t n1, n2;
  int16_t *a = burst(100, 800, 600, &n1), *b = burst(0, 800, 200, &n2);
  int16_t *pcm = malloc((n1 + n2) * sizeof *pcm);
  memcpy(pcm, a, n1 * sizeof *pcm);
  memcpy(pcm + n1, b, n2 * sizeof *pcm);
  res_t r;
  res_init(&r);
  transcribe(p, &r, pcm, n1 + n2);
  assert_false(r.failed);
  assert_int_equal(r.n_finals, 1); /* one utterance asked, one final given */
  assert_string_equal(r.finals[0], "hello there general kenobi");
  res_free(&r);
  free(a);
  free(b);
  free(pcm);
  tern_provider_destroy(p);
}

static void test_silence_gives_an_empty_final(void **state) {
  (void)state;
  NEED_FAKE();
  tern_provider_t *p = make_dg("deepgram", NULL);
  int16_t *pcm = calloc(8000, sizeof *pcm);
  res_t r;
  res_init(&r);
  transcribe(p, &r, pcm, 8000);
  assert_false(r.failed);
  assert_int_equal(r.n_finals, 1);
  assert_string_equal(r.finals[0], "");
  assert_int_equal(r.n_interims, 0);
  res_free(&r);
  free(pcm);
  tern_provider_destroy(p);
}

/* ---- the live stream -------------------------------------------------------- */

typedef struct {
  res_t *r;
  int want_finals;
} until_t;

static bool has_finals(void *ud) {
  until_t *u = ud;
  return u->r->done || u->r->n_finals >= u->want_finals;
}

static void push_frames(tern_stt_stream_t *st, const int16_t *pcm, size_t n) {
  for (size_t i = 0; i < n; i += 320) /* 20 ms frames, as a transport gives them */
    assert_int_equal(st->push(st, pcm + i, n - i < 320 ? n - i : 320), 0);
}

static void test_live_stream_endpointing_and_finish(void **state) {
  (void)state;
  NEED_FAKE();
  reply_texts("[\"first thing said\", \"and the second\"]");
  tern_provider_t *p = make_dg("deepgram", "endpointing_ms = 300");
  res_t r;
  res_init(&r);
  tern_stt_sink_t sink = {r_transcript, r_done, &r};
  tern_stt_stream_t *st;
  assert_int_equal(p->vt->stt_stream(p, r.loop, 16000, &sink, &st), 0);
  r.op = &st->op;
  size_t n1, n2;
  int16_t *a = burst(100, 900, 600, &n1), *b = burst(0, 700, 0, &n2);
  push_frames(st, a, n1); /* before the connection is open: queued */
  until_t u = {&r, 1};
  assert_int_equal(tern_loop_run_until(r.loop, has_finals, &u, TERN_SEC(20)), 0);
  assert_false(r.done);
  /* the pause ended the first utterance without any finish */
  assert_int_equal(r.n_finals, 1);
  assert_string_equal(r.finals[0], "first thing said");
  push_frames(st, b, n2);
  assert_int_equal(st->finish(st), 0);
  assert_int_equal(st->push(st, b, 320), TERN_ESTATE); /* no audio after finish */
  assert_int_equal(st->finish(st), TERN_ESTATE);
  run(&r);
  assert_false(r.failed);
  assert_int_equal(r.n_finals, 2); /* the Finalize flushed the second */
  assert_string_equal(r.finals[1], "and the second");
  for (int i = 0; i < r.n_interims && i < 128; i++)
    assert_true(word_prefix(r.interims[i], "first thing said") ||
                word_prefix(r.interims[i], "and the second"));
  assert_last("finalizes", "1");
  assert_last("close_stream", "true");
  free(a);
  free(b);
  res_free(&r);
  tern_provider_destroy(p);
}

typedef struct {
  res_t *r;
  int want;
} ka_t;

static bool keepalives_seen(void *ud) {
  ka_t *k = ud;
  char *v = fakeprov_last(&g_fp, ROUTE, "keepalives");
  int n = v ? atoi(v) : 0;
  free(v);
  return k->r->done || n >= k->want;
}

static void test_live_stream_keeps_an_idle_connection_alive(void **state) {
  (void)state;
  NEED_FAKE();
  tern_provider_t *p = make_dg("deepgram", "keepalive_ms = 50");
  res_t r;
  res_init(&r);
  tern_stt_sink_t sink = {r_transcript, r_done, &r};
  tern_stt_stream_t *st;
  assert_int_equal(p->vt->stt_stream(p, r.loop, 16000, &sink, &st), 0);
  r.op = &st->op;
  ka_t k = {&r, 2};
  assert_int_equal(tern_loop_run_until(r.loop, keepalives_seen, &k, TERN_SEC(20)), 0);
  assert_false(r.done); /* a quiet caller is not an error */
  assert_int_equal(st->finish(st), 0);
  run(&r);
  assert_false(r.failed);
  assert_int_equal(r.n_finals, 0); /* nothing was said: no empty final */
  res_free(&r);
  tern_provider_destroy(p);
}

static void test_cancel_mid_utterance(void **state) {
  (void)state;
  NEED_FAKE();
  tern_provider_t *p = make_dg("deepgram", NULL);
  /* live: cancelled inside the first interim */
  res_t r;
  res_init(&r);
  r.cancel_on_interim = 1;
  tern_stt_sink_t sink = {r_transcript, r_done, &r};
  tern_stt_stream_t *st;
  assert_int_equal(p->vt->stt_stream(p, r.loop, 16000, &sink, &st), 0);
  r.op = &st->op;
  push_frames(st, g_wav.samples, g_wav.frames);
  run(&r);
  r.done = false;
  tern_loop_run_until(r.loop, r_is_done, &r, TERN_MS(200));
  assert_false(r.done); /* nothing after the cancel */
  assert_int_equal(r.n_interims, 1);
  assert_int_equal(r.n_finals, 0);
  res_free(&r);
  /* utterance mode: cancelled while connecting, and while sending */
  for (int when = 0; when < 2; when++) {
    res_init(&r);
    tern_stt_request_t req = {.pcm = g_wav.samples, .n_samples = g_wav.frames,
                              .sample_rate = 16000};
    assert_int_equal(p->vt->stt_start(p, r.loop, &req, &sink, &r.op), 0);
    if (when)
      tern_loop_run_once(r.loop, false);
    tern_op_cancel(r.op);
    tern_loop_run_until(r.loop, r_is_done, &r, TERN_MS(100));
    assert_false(r.done);
    res_free(&r);
  }
  tern_provider_destroy(p);
}

/* ---- failures ------------------------------------------------------------ */

typedef struct {
  const char *fault;
  tern_kind_t kind;
  bool retryable;
  int status;
  tern_usec_t retry_after;
} fault_case_t;

static void check_cases(tern_provider_t *p, const fault_case_t *cases, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char js[256];
    snprintf(js, sizeof js, "[%s]", cases[i].fault);
    script(js);
    res_t r;
    res_init(&r);
    transcribe(p, &r, g_wav.samples, g_wav.frames);
    if (!r.failed)
      fail_msg("case %zu (%s): succeeded", i, cases[i].fault);
    if (r.err.kind != cases[i].kind)
      fail_msg("case %zu (%s): kind %s, want %s (%s)", i, cases[i].fault,
               tern_kind_name(r.err.kind), tern_kind_name(cases[i].kind), r.err.message);
    assert_int_equal(r.err.component, TERN_COMP_STT);
    assert_string_equal(r.err.provider, "deepgram");
    assert_int_equal(r.err.retryable, cases[i].retryable);
    if (cases[i].status)
      assert_int_equal(r.err.http_status, cases[i].status);
    if (cases[i].retry_after >= 0)
      assert_int_equal(r.err.retry_after, cases[i].retry_after);
    assert_int_equal(r.n_finals, 0); /* a failed utterance never claims a final */
    assert_null(strstr(r.err.message, KEY));
    res_free(&r);
    assert_int_equal(fakeprov_reset(&g_fp), 0);
  }
}

static void test_refused_upgrades_are_classified(void **state) {
  (void)state;
  NEED_FAKE();
  static const fault_case_t cases[] = {
      {"{\"status\":401}", TERN_KIND_AUTH, false, 401, -1},
      {"{\"status\":402}", TERN_KIND_QUOTA, false, 402, -1},
      {"{\"status\":429,\"retry_after\":1}", TERN_KIND_RATE_LIMITED, true, 429, TERN_SEC(1)},
      {"{\"status\":500}", TERN_KIND_SERVER, true, 500, -1},
      {"{\"status\":503}", TERN_KIND_OVERLOADED, true, 503, -1},
      {"{\"close_before_response\":\"reset\"}", TERN_KIND_CONNECTION, true, 0, -1},
  };
  tern_provider_t *p = make_dg("deepgram", NULL);
  check_cases(p, cases, sizeof cases / sizeof cases[0]);
  tern_provider_destroy(p);
}

static void test_stream_failures_are_classified(void **state) {
  (void)state;
  NEED_FAKE();
  static const fault_case_t cases[] = {
      {"{\"close_after_messages\":1}", TERN_KIND_CONNECTION, true, 0, -1},
      {"{\"close_after_messages\":1,\"close_code\":1008,\"close_reason\":\"DATA-0000\"}",
       TERN_KIND_INVALID_REQUEST, false, 0, -1},
      {"{\"close_after_messages\":0,\"close_code\":1011,\"close_reason\":\"NET-0001\"}",
       TERN_KIND_TIMEOUT, true, 0, -1},
      {"{\"truncate_after_chunks\":1}", TERN_KIND_CONNECTION, true, 0, -1},
      {"{\"reset_after_chunks\":1}", TERN_KIND_CONNECTION, true, 0, -1},
      {"{\"malformed_json\":true}", TERN_KIND_BAD_RESPONSE, false, 0, -1},
      {"{\"malformed_json\":true,\"malformed_at\":2}", TERN_KIND_BAD_RESPONSE, false, 0, -1},
      {"{\"stall_after_chunks\":1,\"stall_ms\":5000}", TERN_KIND_STALLED, true, 0, -1},
  };
  tern_provider_t *p = make_dg("deepgram", "endpointing_ms = 500\nidle_timeout_ms = 300");
  check_cases(p, cases, sizeof cases / sizeof cases[0]);
  tern_provider_destroy(p);
}

static void test_close_frames_are_classified(void **state) {
  (void)state;
  static const struct {
    int code;
    const char *reason;
    tern_kind_t kind;
  } table[] = {
      {1008, "DATA-0000: The payload cannot be decoded as audio.", TERN_KIND_INVALID_REQUEST},
      {1011, "NET-0001: no audio received", TERN_KIND_TIMEOUT},
      {1011, "NET-0000: The service has not transmitted a Text frame", TERN_KIND_SERVER},
      {1008, "", TERN_KIND_INVALID_REQUEST},
      {1013, "", TERN_KIND_OVERLOADED},
      {1011, "something odd", TERN_KIND_CONNECTION},
      {1000, "", TERN_KIND_CONNECTION},
      {1006, NULL, TERN_KIND_CONNECTION},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    tern_error_t e;
    const char *r = table[i].reason;
    tern_deepgram_close_error(&e, "dg", table[i].code, r, r ? strlen(r) : 0);
    if (e.kind != table[i].kind)
      fail_msg("close %d '%s': %s", table[i].code, r ? r : "", tern_kind_name(e.kind));
    assert_int_equal(e.component, TERN_COMP_STT);
    assert_string_equal(e.provider, "dg");
    assert_true(e.retryable == tern_kind_retryable(e.kind));
  }
}

static void test_message_parser(void **state) {
  (void)state;
  tern_deepgram_msg_t m;
  const char *res = "{\"type\":\"Results\",\"is_final\":true,\"speech_final\":false,"
                    "\"from_finalize\":true,\"channel\":{\"alternatives\":[{\"transcript\":"
                    "\"hi there\",\"confidence\":0.75}]}}";
  assert_int_equal(tern_deepgram_msg_parse(res, strlen(res), &m), 0);
  assert_int_equal(m.type, TERN_DG_MSG_RESULTS);
  assert_true(m.is_final);
  assert_false(m.speech_final);
  assert_true(m.from_finalize);
  assert_string_equal(m.text, "hi there");
  assert_true(fabs(m.confidence - 0.75) < 1e-9);
  tern_deepgram_msg_free(&m);
  static const struct {
    const char *json;
    int rc;
    tern_deepgram_msg_type_t type;
    bool metadata;
  } table[] = {
      {"{\"type\":\"Metadata\",\"request_id\":\"x\"}", 0, TERN_DG_MSG_OTHER, true},
      {"{\"type\":\"SpeechStarted\"}", 0, TERN_DG_MSG_OTHER, false},
      {"{\"type\":\"UtteranceEnd\",\"last_word_end\":1.2}", 0, TERN_DG_MSG_UTTERANCE_END, false},
      {"{\"type\":\"Error\",\"description\":\"bad\",\"variant\":\"x\"}", 0, TERN_DG_MSG_ERROR,
       false},
      {"{\"err_code\":\"INVALID_AUTH\",\"err_msg\":\"no\"}", 0, TERN_DG_MSG_ERROR, false},
      {"{\"type\":\"Results\",\"channel\":{\"alternatives\":[]}}", TERN_EFORMAT, 0, false},
      {"{\"type\":\"Results\",\"channel\":{\"alternatives\":[{\"transcript\":3}]}}", TERN_EFORMAT,
       0, false},
      {"{\"type\":\"Results\",\"channel\":{\"alternatives\":[{\"transcript\":\"oo", TERN_EFORMAT,
       0, false},
      {"[1,2]", TERN_EFORMAT, 0, false},
      {"", TERN_EFORMAT, 0, false},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    int rc = tern_deepgram_msg_parse(table[i].json, strlen(table[i].json), &m);
    if (rc != table[i].rc)
      fail_msg("'%s': rc %d", table[i].json, rc);
    if (!rc) {
      assert_int_equal(m.type, table[i].type);
      assert_int_equal(m.is_metadata, table[i].metadata);
    }
    tern_deepgram_msg_free(&m);
  }
}

/* Every allocation failing in turn: an error, never a crash or a leak (the
 * sanitizer build checks the leaks). jansson reports some of its own
 * allocation failures as syntax errors, so TERN_EFORMAT is accepted for
 * those. */
static void test_parser_survives_allocation_failures(void **state) {
  (void)state;
  const char *res = "{\"type\":\"Results\",\"is_final\":true,\"channel\":{\"alternatives\":"
                    "[{\"transcript\":\"hello\",\"confidence\":0.9}]}}";
  for (long k = 0;; k++) {
    tern_deepgram_msg_t m;
    tern_alloc_fail_after(k, 0);
    int rc = tern_deepgram_msg_parse(res, strlen(res), &m);
    long failures = tern_alloc_failures();
    tern_alloc_fail_after(-1, 0);
    if (!failures) {
      assert_int_equal(rc, 0);
      assert_string_equal(m.text, "hello");
      tern_deepgram_msg_free(&m);
      break;
    }
    if (rc == 0)
      tern_deepgram_msg_free(&m); /* a failure jansson recovered from */
    else
      assert_true(rc == TERN_ENOMEM || rc == TERN_EFORMAT);
    assert_true(k < 1000);
  }
}

/* ---- through the fallback runner ----------------------------------------- */

typedef struct {
  res_t r;
  tern_provider_t *p[2];
  tern_guard_t *g[2];
  tern_fallback_t *f;
  tern_events_t *ev;
  tern_buf_t lines;
} chain_t;

static void on_event(void *ud, const char *type, const char *line, size_t len,
                     const tern_log_field_t *fields, size_t nfields) {
  (void)type, (void)fields, (void)nfields;
  chain_t *c = ud;
  tern_buf_append(&c->lines, line, len);
  tern_buf_append(&c->lines, "\n", 1);
}

static void chain_setup(chain_t *c) {
  memset(c, 0, sizeof *c);
  res_init(&c->r);
  c->p[0] = make_dg("deepgram", NULL);
  assert_int_equal(tern_fake_create(TERN_COMP_STT, "backup", &c->p[1]), 0);
  assert_int_equal(tern_events_create("test", &c->ev), 0);
  assert_int_equal(tern_events_listen(c->ev, on_event, c), 0);
  tern_fallback_link_t links[2];
  for (int i = 0; i < 2; i++) {
    tern_guard_config_t gc;
    tern_guard_config_default(TERN_COMP_STT, &gc);
    gc.first_output_timeout = TERN_MS(300);
    gc.idle_timeout = TERN_MS(300);
    gc.retry.backoff.base = TERN_MS(1);
    gc.retry.backoff.cap = TERN_MS(2);
    gc.retry.deadline = TERN_SEC(10);
    assert_int_equal(tern_guard_create(TERN_COMP_STT, c->p[i]->name, &gc, &c->g[i]), 0);
    links[i] = (tern_fallback_link_t){c->p[i], c->g[i]};
  }
  tern_fallback_config_t fc;
  tern_fallback_config_default(&fc);
  fc.probes = false;
  assert_int_equal(tern_fallback_create(c->r.loop, TERN_COMP_STT, links, 2, &fc, c->ev, 5, &c->f),
                   0);
}

static void chain_transcribe(chain_t *c) {
  tern_stt_request_t req = {.pcm = g_wav.samples, .n_samples = g_wav.frames, .sample_rate = 16000};
  tern_stt_sink_t sink = {r_transcript, r_done, &c->r};
  assert_int_equal(tern_fallback_stt(c->f, &req, &sink, &c->r.op), 0);
  run(&c->r);
}

static void chain_teardown(chain_t *c) {
  tern_fallback_destroy(c->f);
  for (int i = 0; i < 2; i++) {
    tern_provider_destroy(c->p[i]);
    tern_guard_destroy(c->g[i]);
  }
  tern_events_destroy(c->ev);
  tern_buf_free(&c->lines);
  res_free(&c->r);
}

static unsigned backup_calls(chain_t *c) {
  tern_fake_stats_t s;
  tern_fake_stats(c->p[1], &s);
  return s.calls;
}

static const char *last_final(const res_t *r) {
  return r->n_finals ? r->finals[r->n_finals - 1] : "";
}

static void test_runner_fails_over_on_auth_without_retrying(void **state) {
  (void)state;
  NEED_FAKE();
  chain_t c;
  chain_setup(&c);
  script("[{\"status\":401}]");
  chain_transcribe(&c);
  assert_false(c.r.failed);
  assert_int_equal(fakeprov_count(&g_fp, ROUTE), 1);
  assert_int_equal(backup_calls(&c), 1);
  assert_string_equal(last_final(&c.r), "hello there"); /* the backup heard it */
  assert_non_null(strstr(tern_buf_str(&c.lines), "\"kind\":\"auth\""));
  chain_teardown(&c);
}

static void test_runner_retries_an_overloaded_provider(void **state) {
  (void)state;
  NEED_FAKE();
  assert_int_equal(fakeprov_reply(&g_fp, ROUTE, "from deepgram itself"), 0);
  chain_t c;
  chain_setup(&c);
  script("[{\"status\":503}]");
  chain_transcribe(&c);
  assert_false(c.r.failed);
  assert_int_equal(fakeprov_count(&g_fp, ROUTE), 2); /* refused once, then served */
  assert_int_equal(backup_calls(&c), 0);
  assert_string_equal(last_final(&c.r), "from deepgram itself");
  assert_non_null(strstr(tern_buf_str(&c.lines), "\"kind\":\"overloaded\""));
  chain_teardown(&c);
}

static void test_runner_stall_fails_over(void **state) {
  (void)state;
  NEED_FAKE();
  chain_t c;
  chain_setup(&c);
  script("{\"faults\":[],\"default\":{\"stall_after_chunks\":1,\"stall_ms\":5000}}");
  chain_transcribe(&c);
  assert_false(c.r.failed);
  assert_int_equal(backup_calls(&c), 1);
  tern_fake_stats_t s;
  tern_fake_stats(c.p[1], &s);
  char want[64];
  snprintf(want, sizeof want, "%zu samples", g_wav.frames);
  assert_string_equal(s.last_input, want); /* the backup got the same audio */
  assert_string_equal(last_final(&c.r), "hello there");
  const char *lines = tern_buf_str(&c.lines);
  assert_true(strstr(lines, "\"kind\":\"stalled\"") || strstr(lines, "\"kind\":\"timeout\""));
  chain_teardown(&c);
}

/* ---- configuration and secrets ------------------------------------------- */

static void test_configuration(void **state) {
  (void)state;
  unsetenv("DEEPGRAM_API_KEY");
  unsetenv("DEEPGRAM_BASE_URL");
  unsetenv("TERN_STT_DEEPGRAM_API_KEY");
  unsetenv("TERN_STT_DEEPGRAM_BASE_URL");
  tern_config_t *cfg;
  assert_int_equal(tern_config_new(&cfg), 0);
  char err[256];
  tern_provider_t *p = NULL;
  assert_int_equal(
      tern_deepgram_provider_create(TERN_COMP_STT, "deepgram", cfg, &p, err, sizeof err),
      TERN_ECONFIG);
  assert_null(p);
  assert_non_null(strstr(err, "DEEPGRAM_API_KEY"));
  assert_int_equal(
      tern_deepgram_provider_create(TERN_COMP_TTS, "deepgram", cfg, &p, err, sizeof err),
      TERN_EINVAL);
  const char *ini = "[stt.local]\nbase_url = http://127.0.0.1:9/\n"
                    "[stt.bad]\nbase_url = 127.0.0.1:9\n"
                    "[stt.badbool]\nbase_url = ws://x\ninterim_results = maybe\n";
  assert_int_equal(tern_config_load_string(cfg, ini, strlen(ini), "t.ini", err, sizeof err), 0);
  assert_int_equal(tern_deepgram_provider_create(TERN_COMP_STT, "local", cfg, &p, err, sizeof err),
                   0);
  assert_string_equal(p->name, "local");
  assert_non_null(p->vt->stt_stream);
  tern_provider_destroy(p);
  assert_int_equal(tern_deepgram_provider_create(TERN_COMP_STT, "bad", cfg, &p, err, sizeof err),
                   TERN_ECONFIG);
  assert_non_null(strstr(err, "base_url"));
  assert_int_equal(
      tern_deepgram_provider_create(TERN_COMP_STT, "badbool", cfg, &p, err, sizeof err),
      TERN_ECONFIG);
  assert_non_null(strstr(err, "interim_results"));
  tern_config_free(cfg);
}

static tern_buf_t g_log;
static void log_sink(const char *line, size_t len, void *ud) {
  (void)ud;
  tern_buf_append(&g_log, line, len);
}

static void test_key_never_leaks(void **state) {
  (void)state;
  NEED_FAKE();
  tern_log_set_level(TERN_LOG_DEBUG);
  tern_log_set_sink(log_sink, NULL);
  assert_int_equal(fakeprov_key(&g_fp, "deepgram", "another-key-0000"), 0);
  chain_t c;
  chain_setup(&c);
  chain_transcribe(&c);
  assert_false(c.r.failed); /* the backup heard it */
  assert_last("headers.authorization", "Token " KEY); /* the key was sent... */
  assert_non_null(strstr(tern_buf_str(&c.lines), "\"kind\":\"auth\""));
  /* ...and is nowhere a person could read it */
  assert_null(strstr(tern_buf_str(&c.lines), KEY));
  assert_null(strstr(tern_buf_str(&g_log), KEY));
  tern_log_set_sink(NULL, NULL);
  tern_log_set_level(TERN_LOG_INFO);
  tern_buf_free(&g_log);
  chain_teardown(&c);
}

/* ---- harness -------------------------------------------------------------- */

static int group_setup(void **state) {
  (void)state;
  char err[256];
  if (tern_wav_read_file(tu_src_path("examples/audio/sample.wav"), NULL, &g_wav, err, sizeof err))
    return -1;
  if (g_wav.sample_rate != 16000 || g_wav.channels != 1)
    return -1;
  int rc = fakeprov_start(&g_fp);
  if (rc == TERN_EUNSUPPORTED) {
    fprintf(stderr, "fakeprov unavailable: skipping the Deepgram server tests\n");
    return 0;
  }
  if (rc)
    return -1;
  g_have = true;
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  fakeprov_stop(&g_fp);
  tern_wav_free(&g_wav);
  return 0;
}

static int each_setup(void **state) {
  (void)state;
  if (g_have)
    assert_int_equal(fakeprov_reset(&g_fp), 0);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_wav_gives_interims_and_the_final, each_setup),
      cmocka_unit_test_setup(test_utterance_transcript_joins_every_final, each_setup),
      cmocka_unit_test_setup(test_silence_gives_an_empty_final, each_setup),
      cmocka_unit_test_setup(test_live_stream_endpointing_and_finish, each_setup),
      cmocka_unit_test_setup(test_live_stream_keeps_an_idle_connection_alive, each_setup),
      cmocka_unit_test_setup(test_cancel_mid_utterance, each_setup),
      cmocka_unit_test_setup(test_refused_upgrades_are_classified, each_setup),
      cmocka_unit_test_setup(test_stream_failures_are_classified, each_setup),
      cmocka_unit_test(test_close_frames_are_classified),
      cmocka_unit_test(test_message_parser),
      cmocka_unit_test(test_parser_survives_allocation_failures),
      cmocka_unit_test_setup(test_runner_fails_over_on_auth_without_retrying, each_setup),
      cmocka_unit_test_setup(test_runner_retries_an_overloaded_provider, each_setup),
      cmocka_unit_test_setup(test_runner_stall_fails_over, each_setup),
      cmocka_unit_test(test_configuration),
      cmocka_unit_test_setup(test_key_never_leaks, each_setup),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
