/* The ElevenLabs provider against the fault-injecting fake server: the
 * audio a caller hears (length, rate, intact samples), the text that is
 * sent, how every failure is classified, what the fallback runner does
 * with them (retry, failover, speaking only the unspoken rest), cancel,
 * configuration, and that the key never leaks. Behaviour is asserted,
 * never durations. */
#include "testutil.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fakeprov.h"
#include "tern/alloc.h"
#include "tern/buf.h"
#include "tern/config.h"
#include "tern/elevenlabs.h"
#include "tern/error.h"
#include "tern/events.h"
#include "tern/fake.h"
#include "tern/fallback.h"
#include "tern/log.h"
#include "tern/loop.h"

static fakeprov_t g_fp;
static bool g_have;

#define KEY "el-test-key-6f1d2c9a77"
#define NEED_FAKE()                                                                       \
  do {                                                                                    \
    if (!g_have)                                                                          \
      skip();                                                                             \
  } while (0)

/* ---- fixtures ------------------------------------------------------------ */

static tern_provider_t *make_el(const char *name, const char *extra) {
  tern_config_t *cfg;
  assert_int_equal(tern_config_new(&cfg), 0);
  char ini[1024];
  snprintf(ini, sizeof ini,
           "[tts.%s]\nbase_url = %s\napi_key = " KEY "\n%s\n", name,
           fakeprov_url(&g_fp, ""), extra ? extra : "");
  char err[256];
  assert_int_equal(tern_config_load_string(cfg, ini, strlen(ini), "test.ini", err, sizeof err), 0);
  tern_provider_t *p = NULL;
  int rc = tern_elevenlabs_provider_create(TERN_COMP_TTS, name, cfg, &p, err, sizeof err);
  if (rc)
    fail_msg("create: %s", err);
  tern_config_free(cfg);
  return p;
}

typedef struct {
  tern_loop_t *loop;
  int16_t *pcm;
  size_t samples, cap;
  int chunks;
  bool done, failed;
  tern_error_t err;
  tern_op_t *op;
  int cancel_after_chunks; /* > 0: cancel inside on_audio */
} res_t;

static void r_audio(void *ud, const int16_t *pcm, size_t n) {
  res_t *r = ud;
  assert_false(r->done);
  if (r->samples + n > r->cap) {
    r->cap = (r->samples + n) * 2;
    r->pcm = realloc(r->pcm, r->cap * sizeof *r->pcm);
  }
  memcpy(r->pcm + r->samples, pcm, n * sizeof *pcm);
  r->samples += n;
  if (++r->chunks == r->cancel_after_chunks) {
    tern_op_cancel(r->op);
    r->done = true; /* ends the wait; on_done must not follow */
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

static void res_free(res_t *r) {
  tern_loop_destroy(r->loop);
  free(r->pcm);
}

/* Speak directly through the provider. */
static void speak(tern_provider_t *p, res_t *r, const char *text, int rate) {
  tern_tts_request_t req = {.text = text, .sample_rate = rate};
  tern_tts_sink_t sink = {r_audio, r_done, r};
  assert_int_equal(p->vt->tts_start(p, r->loop, &req, &sink, &r->op), 0);
  assert_false(r->done); /* never called back inside the start call */
  assert_int_equal(tern_loop_run_until(r->loop, r_is_done, r, TERN_SEC(20)), 0);
}

static size_t fake_samples(const char *text, int rate) {
  /* the fake speaks 50 ms per character (code point) */
  size_t chars = 0;
  for (const unsigned char *c = (const unsigned char *)text; *c; c++)
    chars += (*c & 0xc0) != 0x80;
  return chars * (size_t)rate * 50 / 1000;
}

static char *last(const char *field) { return fakeprov_last(&g_fp, "elevenlabs.tts", field); }

static void assert_last(const char *field, const char *want) {
  char *v = last(field);
  assert_non_null(v);
  assert_string_equal(v, want);
  free(v);
}

static void script(const char *json) {
  assert_int_equal(fakeprov_script(&g_fp, "elevenlabs.tts", json), 0);
}

/* ---- plain speech -------------------------------------------------------- */

static const char *k_text = "Hello there, how are you?";

static void test_speaks_the_text_at_16k(void **state) {
  (void)state;
  NEED_FAKE();
  tern_provider_t *p = make_el("elevenlabs", NULL);
  res_t r;
  res_init(&r);
  speak(p, &r, k_text, 16000);
  assert_false(r.failed);
  assert_int_equal(r.samples, fake_samples(k_text, 16000));
  assert_last("text", k_text);
  assert_last("output_format", "pcm_16000");
  assert_last("voice_id", TERN_ELEVENLABS_DEFAULT_VOICE);
  assert_last("model_id", TERN_ELEVENLABS_DEFAULT_MODEL);
  assert_last("headers.xi-api-key", KEY);
  res_free(&r);
  tern_provider_destroy(p);
}

static void test_speaks_at_24k_natively(void **state) {
  (void)state;
  NEED_FAKE();
  tern_provider_t *p = make_el("elevenlabs", "voice = myvoice\nmodel_id = eleven_turbo_v2");
  res_t r;
  res_init(&r);
  speak(p, &r, k_text, 24000);
  assert_false(r.failed);
  assert_int_equal(r.samples, fake_samples(k_text, 24000));
  assert_last("output_format", "pcm_24000");
  assert_last("voice_id", "myvoice");
  assert_last("model_id", "eleven_turbo_v2");
  res_free(&r);
  tern_provider_destroy(p);
}

static void test_resamples_to_a_rate_elevenlabs_lacks(void **state) {
  (void)state;
  NEED_FAKE();
  tern_provider_t *p = make_el("elevenlabs", NULL);
  res_t r;
  res_init(&r);
  speak(p, &r, k_text, 48000);
  assert_false(r.failed);
  assert_last("output_format", "pcm_44100");
  /* time-aligned resampling: exactly the same duration at 48 kHz */
  size_t n44 = fake_samples(k_text, 44100);
  assert_int_equal(r.samples, (n44 * 48000 + 44099) / 44100);
  res_free(&r);
  tern_provider_destroy(p);
}

static void test_output_rate_choice(void **state) {
  (void)state;
  static const int table[][2] = {{8000, 8000},   {11025, 16000}, {16000, 16000},
                                 {22050, 22050}, {24000, 24000}, {32000, 44100},
                                 {44100, 44100}, {48000, 44100}, {96000, 44100}};
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    assert_int_equal(tern_elevenlabs_output_rate(table[i][0]), table[i][1]);
}

/* The expected sample of the fake's 440 Hz tone. */
static int tone_at(size_t i, int rate) {
  return (int)(6000 * sin(2 * M_PI * 440 * (double)(i % (size_t)rate) / rate));
}

static void test_samples_split_across_chunks_stay_intact(void **state) {
  (void)state;
  NEED_FAKE();
  tern_provider_t *p = make_el("elevenlabs", NULL);
  /* odd-sized network chunks, arriving apart: every sample boundary moves */
  script("[{\"piece_bytes\": 1001, \"drip_ms\": 1}]");
  res_t r;
  res_init(&r);
  speak(p, &r, k_text, 16000);
  assert_false(r.failed);
  assert_int_equal(r.samples, fake_samples(k_text, 16000));
  for (size_t i = 0; i < r.samples; i++)
    if (abs(r.pcm[i] - tone_at(i, 16000)) > 1)
      fail_msg("sample %zu is %d, want %d: byte framing lost", i, r.pcm[i], tone_at(i, 16000));
  res_free(&r);
  tern_provider_destroy(p);
}

static void test_stray_last_byte_is_dropped(void **state) {
  (void)state;
  NEED_FAKE();
  tern_provider_t *p = make_el("elevenlabs", NULL);
  script("[{\"malformed_json\": true}]"); /* audio: one extra byte at the end */
  res_t r;
  res_init(&r);
  speak(p, &r, k_text, 16000);
  assert_false(r.failed);
  assert_int_equal(r.samples, fake_samples(k_text, 16000));
  res_free(&r);
  tern_provider_destroy(p);
}

static void test_control_characters_are_stripped(void **state) {
  (void)state;
  NEED_FAKE();
  tern_provider_t *p = make_el("elevenlabs", NULL);
  res_t r;
  res_init(&r);
  speak(p, &r, "Hi\x01 there\n\tfriend\x7f\x1b.", 16000);
  assert_false(r.failed);
  assert_last("text", "Hi there  friend.");
  assert_int_equal(r.samples, fake_samples("Hi there  friend.", 16000));
  res_free(&r);
  tern_provider_destroy(p);
}

static void test_text_with_nothing_to_say_completes_without_a_request(void **state) {
  (void)state;
  NEED_FAKE();
  tern_provider_t *p = make_el("elevenlabs", NULL);
  res_t r;
  res_init(&r);
  speak(p, &r, " \n\t ", 16000);
  assert_false(r.failed);
  assert_int_equal(r.samples, 0);
  assert_int_equal(fakeprov_count(&g_fp, "elevenlabs.tts"), 0);
  res_free(&r);
  tern_provider_destroy(p);
}

static void test_text_over_the_limit_is_refused_at_start(void **state) {
  (void)state;
  NEED_FAKE();
  tern_provider_t *p = make_el("elevenlabs", NULL);
  res_t r;
  res_init(&r);
  tern_tts_sink_t sink = {r_audio, r_done, &r};
  /* 5001 characters: refused */
  char *big = malloc(TERN_ELEVENLABS_MAX_CHARS + 2);
  memset(big, 'a', TERN_ELEVENLABS_MAX_CHARS + 1);
  big[TERN_ELEVENLABS_MAX_CHARS + 1] = '\0';
  tern_tts_request_t req = {.text = big, .sample_rate = 16000};
  tern_op_t *op = (tern_op_t *)&r;
  assert_int_equal(p->vt->tts_start(p, r.loop, &req, &sink, &op), TERN_ETOOBIG);
  assert_null(op);
  /* 5000 two-byte characters (10000 bytes) are within the limit: the limit
   * counts characters, not bytes. Cancelled at once: no callback. */
  char *wide = malloc(2 * TERN_ELEVENLABS_MAX_CHARS + 1);
  for (int i = 0; i < TERN_ELEVENLABS_MAX_CHARS; i++)
    memcpy(wide + 2 * i, "\xc3\xa9", 2);
  wide[2 * TERN_ELEVENLABS_MAX_CHARS] = '\0';
  req.text = wide;
  assert_int_equal(p->vt->tts_start(p, r.loop, &req, &sink, &op), 0);
  tern_op_cancel(op);
  tern_loop_run_until(r.loop, r_is_done, &r, TERN_MS(50));
  assert_false(r.done);
  assert_int_equal(r.samples, 0);
  free(big);
  free(wide);
  res_free(&r);
  tern_provider_destroy(p);
}

static void test_cancel_inside_on_audio_stops_everything(void **state) {
  (void)state;
  NEED_FAKE();
  tern_provider_t *p = make_el("elevenlabs", NULL);
  res_t r;
  res_init(&r);
  r.cancel_after_chunks = 1;
  speak(p, &r, k_text, 22050 + 1); /* resampled path: the resampler is freed too */
  r.done = false;
  tern_loop_run_until(r.loop, r_is_done, &r, TERN_MS(100));
  assert_false(r.done); /* no on_done after a cancel */
  assert_int_equal(r.chunks, 1);
  res_free(&r);
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

static void test_failures_are_classified(void **state) {
  (void)state;
  NEED_FAKE();
  static const fault_case_t cases[] = {
      {"{\"status\":401}", TERN_KIND_AUTH, false, 401, -1},
      {"{\"status\":401,\"error_type\":\"quota_exceeded\"}", TERN_KIND_QUOTA, false, 401, -1},
      {"{\"status\":429,\"retry_after\":2}", TERN_KIND_RATE_LIMITED, true, 429, TERN_SEC(2)},
      {"{\"status\":500}", TERN_KIND_SERVER, true, 500, -1},
      {"{\"status\":503}", TERN_KIND_OVERLOADED, true, 503, -1},
      {"{\"status\":422}", TERN_KIND_INVALID_REQUEST, false, 422, -1},
      {"{\"wrong_content_type\":true}", TERN_KIND_BAD_RESPONSE, false, 0, -1},
      {"{\"oversized_body_bytes\":4000000}", TERN_KIND_BAD_RESPONSE, false, 0, -1},
      {"{\"reset_after_chunks\":2}", TERN_KIND_CONNECTION, true, 0, -1},
      {"{\"close_before_response\":\"reset\"}", TERN_KIND_CONNECTION, true, 0, -1},
  };
  tern_provider_t *p = make_el("elevenlabs", NULL);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char js[256];
    snprintf(js, sizeof js, "[%s]", cases[i].fault);
    script(js);
    res_t r;
    res_init(&r);
    speak(p, &r, k_text, 16000);
    if (!r.failed)
      fail_msg("case %zu (%s): succeeded", i, cases[i].fault);
    if (r.err.kind != cases[i].kind)
      fail_msg("case %zu (%s): kind %s, want %s (%s)", i, cases[i].fault,
               tern_kind_name(r.err.kind), tern_kind_name(cases[i].kind), r.err.message);
    assert_int_equal(r.err.component, TERN_COMP_TTS);
    assert_string_equal(r.err.provider, "elevenlabs");
    assert_int_equal(r.err.retryable, cases[i].retryable);
    if (cases[i].status)
      assert_int_equal(r.err.http_status, cases[i].status);
    if (cases[i].retry_after >= 0)
      assert_int_equal(r.err.retry_after, cases[i].retry_after);
    assert_null(strstr(r.err.message, KEY));
    /* a reply that is not audio is never played */
    if (i == 6)
      assert_int_equal(r.samples, 0);
    res_free(&r);
  }
  assert_int_equal(fakeprov_count(&g_fp, "elevenlabs.tts"), (long)(sizeof cases / sizeof cases[0]));
  tern_provider_destroy(p);
}

static void test_idle_stream_is_a_stall(void **state) {
  (void)state;
  NEED_FAKE();
  tern_provider_t *p = make_el("elevenlabs", "idle_timeout_ms = 300");
  script("[{\"stall_after_chunks\": 2, \"stall_ms\": 5000}]");
  res_t r;
  res_init(&r);
  speak(p, &r, k_text, 16000);
  assert_true(r.failed);
  assert_int_equal(r.err.kind, TERN_KIND_STALLED);
  assert_true(r.samples > 0); /* two chunks were heard before the stall */
  res_free(&r);
  tern_provider_destroy(p);
}

/* ---- through the fallback runner ----------------------------------------- */

typedef struct {
  res_t r;
  tern_provider_t *p[2];
  tern_guard_t *g[2];
  tern_fallback_t *f;
  tern_events_t *ev;
  tern_buf_t lines; /* every event line */
} chain_t;

static void on_event(void *ud, const char *type, const char *line, size_t len,
                     const tern_log_field_t *fields, size_t nfields) {
  (void)type, (void)fields, (void)nfields;
  chain_t *c = ud;
  tern_buf_append(&c->lines, line, len);
  tern_buf_append(&c->lines, "\n", 1);
}

static void fast_guard(tern_guard_config_t *gc) {
  tern_guard_config_default(TERN_COMP_TTS, gc);
  gc->first_output_timeout = TERN_MS(300);
  gc->idle_timeout = TERN_MS(300);
  gc->retry.backoff.base = TERN_MS(1);
  gc->retry.backoff.cap = TERN_MS(2);
  gc->retry.retry_after_cap = TERN_MS(100);
  gc->retry.deadline = TERN_SEC(10);
}

/* second: NULL for an in-process fake provider as the second link. */
static void chain_setup(chain_t *c, const char *second) {
  memset(c, 0, sizeof *c);
  res_init(&c->r);
  c->p[0] = make_el("elevenlabs", NULL);
  if (second)
    c->p[1] = make_el(second, NULL);
  else
    assert_int_equal(tern_fake_create(TERN_COMP_TTS, "backup", &c->p[1]), 0);
  assert_int_equal(tern_events_create("test", &c->ev), 0);
  assert_int_equal(tern_events_listen(c->ev, on_event, c), 0);
  tern_fallback_link_t links[2];
  for (int i = 0; i < 2; i++) {
    tern_guard_config_t gc;
    fast_guard(&gc);
    assert_int_equal(tern_guard_create(TERN_COMP_TTS, c->p[i]->name, &gc, &c->g[i]), 0);
    links[i] = (tern_fallback_link_t){c->p[i], c->g[i]};
  }
  tern_fallback_config_t fc;
  tern_fallback_config_default(&fc);
  fc.probes = false;
  assert_int_equal(
      tern_fallback_create(c->r.loop, TERN_COMP_TTS, links, 2, &fc, c->ev, 11, &c->f), 0);
}

static void chain_speak(chain_t *c, const char *text) {
  tern_tts_request_t req = {.text = text, .sample_rate = 16000};
  tern_tts_sink_t sink = {r_audio, r_done, &c->r};
  assert_int_equal(tern_fallback_tts(c->f, &req, &sink, &c->r.op), 0);
  assert_int_equal(tern_loop_run_until(c->r.loop, r_is_done, &c->r, TERN_SEC(20)), 0);
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

static unsigned fake_calls(tern_provider_t *p) {
  tern_fake_stats_t s;
  tern_fake_stats(p, &s);
  return s.calls;
}

static void test_runner_retries_an_overloaded_provider(void **state) {
  (void)state;
  NEED_FAKE();
  chain_t c;
  chain_setup(&c, NULL);
  script("[{\"status\":503}]");
  chain_speak(&c, k_text);
  assert_false(c.r.failed);
  assert_int_equal(c.r.samples, fake_samples(k_text, 16000));
  assert_int_equal(fakeprov_count(&g_fp, "elevenlabs.tts"), 2); /* retried once */
  assert_int_equal(fake_calls(c.p[1]), 0);
  assert_non_null(strstr(tern_buf_str(&c.lines), "\"kind\":\"overloaded\""));
  chain_teardown(&c);
}

static void test_runner_fails_over_on_auth_without_retrying(void **state) {
  (void)state;
  NEED_FAKE();
  chain_t c;
  chain_setup(&c, NULL);
  script("[{\"status\":401}]");
  chain_speak(&c, k_text);
  assert_false(c.r.failed);
  assert_int_equal(fakeprov_count(&g_fp, "elevenlabs.tts"), 1);
  assert_int_equal(fake_calls(c.p[1]), 1);
  assert_non_null(strstr(tern_buf_str(&c.lines), "\"kind\":\"auth\""));
  assert_non_null(strstr(tern_buf_str(&c.lines), "provider_switched"));
  chain_teardown(&c);
}

static void test_runner_fails_over_when_retry_after_is_too_long(void **state) {
  (void)state;
  NEED_FAKE();
  chain_t c;
  chain_setup(&c, NULL);
  script("[{\"status\":429,\"retry_after\":5}]");
  chain_speak(&c, k_text);
  assert_false(c.r.failed);
  /* waiting 5 s is dead air: the next provider speaks instead */
  assert_int_equal(fakeprov_count(&g_fp, "elevenlabs.tts"), 1);
  assert_int_equal(fake_calls(c.p[1]), 1);
  chain_teardown(&c);
}

static bool is_proper_suffix(const char *s, const char *of) {
  size_t a = strlen(s), b = strlen(of);
  return a > 0 && a < b && strcmp(of + (b - a), s) == 0;
}

static void test_runner_reset_mid_stream_speaks_only_the_rest(void **state) {
  (void)state;
  NEED_FAKE();
  chain_t c;
  chain_setup(&c, "eleven_b");
  const char *text = "The quick brown fox jumps over the lazy dog and keeps on running away.";
  /* a second of audio, then RST; dripped so the client has read it first
   * (a reset discards what the kernel still holds unread) */
  script("[{\"reset_after_chunks\": 10, \"drip_ms\": 10}]");
  chain_speak(&c, text);
  assert_false(c.r.failed);
  assert_int_equal(fakeprov_count(&g_fp, "elevenlabs.tts"), 2);
  char *rest = last("text");
  assert_non_null(rest);
  if (!is_proper_suffix(rest, text))
    fail_msg("the fallback spoke '%s', not the unspoken rest of '%s'", rest, text);
  /* nothing was spoken twice in full: less than the whole text plus one second */
  assert_true(c.r.samples < fake_samples(text, 16000) + 16000);
  assert_true(c.r.samples >= fake_samples(rest, 16000));
  assert_non_null(strstr(tern_buf_str(&c.lines), "\"kind\":\"connection\""));
  free(rest);
  chain_teardown(&c);
}

static void test_runner_stall_fails_over(void **state) {
  (void)state;
  NEED_FAKE();
  chain_t c;
  chain_setup(&c, NULL);
  script("{\"faults\":[], \"default\": {\"stall_after_chunks\": 10, \"stall_ms\": 5000}}");
  chain_speak(&c, "One two three four five six seven eight nine ten eleven twelve.");
  assert_false(c.r.failed);
  assert_int_equal(fake_calls(c.p[1]), 1);
  tern_fake_stats_t s;
  tern_fake_stats(c.p[1], &s);
  /* output was delivered: the backup continues rather than starting over */
  assert_true(is_proper_suffix(s.last_input,
                               "One two three four five six seven eight nine ten eleven twelve."));
  assert_non_null(strstr(tern_buf_str(&c.lines), "\"kind\":\"stalled\""));
  assert_int_equal(fakeprov_count(&g_fp, "elevenlabs.tts"), 1); /* no retry after output */
  chain_teardown(&c);
}

/* ---- configuration and secrets ------------------------------------------- */

static void test_configuration(void **state) {
  (void)state;
  unsetenv("ELEVENLABS_API_KEY");
  unsetenv("ELEVENLABS_BASE_URL");
  unsetenv("TERN_TTS_ELEVENLABS_API_KEY");
  unsetenv("TERN_TTS_ELEVENLABS_BASE_URL");
  tern_config_t *cfg;
  assert_int_equal(tern_config_new(&cfg), 0);
  char err[256];
  tern_provider_t *p = NULL;
  /* the cloud without a key: a config error naming the variable */
  assert_int_equal(tern_elevenlabs_provider_create(TERN_COMP_TTS, "elevenlabs", cfg, &p, err,
                                                   sizeof err),
                   TERN_ECONFIG);
  assert_null(p);
  assert_non_null(strstr(err, "ELEVENLABS_API_KEY"));
  /* ElevenLabs does not hear */
  assert_int_equal(
      tern_elevenlabs_provider_create(TERN_COMP_STT, "elevenlabs", cfg, &p, err, sizeof err),
      TERN_EINVAL);
  /* a custom server may need no key */
  const char *ini = "[tts.local]\nbase_url = http://127.0.0.1:9/\n"
                    "[tts.bad]\nbase_url = ftp://x\n";
  assert_int_equal(tern_config_load_string(cfg, ini, strlen(ini), "t.ini", err, sizeof err), 0);
  assert_int_equal(
      tern_elevenlabs_provider_create(TERN_COMP_TTS, "local", cfg, &p, err, sizeof err), 0);
  assert_string_equal(p->name, "local");
  assert_int_equal(p->component, TERN_COMP_TTS);
  tern_provider_destroy(p);
  assert_int_equal(tern_elevenlabs_provider_create(TERN_COMP_TTS, "bad", cfg, &p, err, sizeof err),
                   TERN_ECONFIG);
  assert_non_null(strstr(err, "base_url"));
  /* the key from the variable api_key_env names */
  setenv("MY_ELEVEN_KEY", "env-key-0123456789", 1);
  const char *ini2 = "[tts.envkey]\napi_key_env = MY_ELEVEN_KEY\n";
  assert_int_equal(tern_config_load_string(cfg, ini2, strlen(ini2), "t.ini", err, sizeof err), 0);
  assert_int_equal(
      tern_elevenlabs_provider_create(TERN_COMP_TTS, "envkey", cfg, &p, err, sizeof err), 0);
  tern_provider_destroy(p);
  unsetenv("MY_ELEVEN_KEY");
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
  assert_int_equal(fakeprov_key(&g_fp, "elevenlabs", "a-different-key-000"), 0);
  chain_t c;
  chain_setup(&c, NULL);
  chain_speak(&c, k_text);
  assert_false(c.r.failed); /* the backup spoke */
  assert_last("headers.xi-api-key", KEY); /* the key was sent... */
  assert_non_null(strstr(tern_buf_str(&c.lines), "\"kind\":\"auth\""));
  /* ...and appears nowhere a person could read it */
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
  int rc = fakeprov_start(&g_fp);
  if (rc == TERN_EUNSUPPORTED) {
    fprintf(stderr, "fakeprov unavailable: skipping the ElevenLabs server tests\n");
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
      cmocka_unit_test_setup(test_speaks_the_text_at_16k, each_setup),
      cmocka_unit_test_setup(test_speaks_at_24k_natively, each_setup),
      cmocka_unit_test_setup(test_resamples_to_a_rate_elevenlabs_lacks, each_setup),
      cmocka_unit_test(test_output_rate_choice),
      cmocka_unit_test_setup(test_samples_split_across_chunks_stay_intact, each_setup),
      cmocka_unit_test_setup(test_stray_last_byte_is_dropped, each_setup),
      cmocka_unit_test_setup(test_control_characters_are_stripped, each_setup),
      cmocka_unit_test_setup(test_text_with_nothing_to_say_completes_without_a_request, each_setup),
      cmocka_unit_test_setup(test_text_over_the_limit_is_refused_at_start, each_setup),
      cmocka_unit_test_setup(test_cancel_inside_on_audio_stops_everything, each_setup),
      cmocka_unit_test_setup(test_failures_are_classified, each_setup),
      cmocka_unit_test_setup(test_idle_stream_is_a_stall, each_setup),
      cmocka_unit_test_setup(test_runner_retries_an_overloaded_provider, each_setup),
      cmocka_unit_test_setup(test_runner_fails_over_on_auth_without_retrying, each_setup),
      cmocka_unit_test_setup(test_runner_fails_over_when_retry_after_is_too_long, each_setup),
      cmocka_unit_test_setup(test_runner_reset_mid_stream_speaks_only_the_rest, each_setup),
      cmocka_unit_test_setup(test_runner_stall_fails_over, each_setup),
      cmocka_unit_test(test_configuration),
      cmocka_unit_test_setup(test_key_never_leaks, each_setup),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
