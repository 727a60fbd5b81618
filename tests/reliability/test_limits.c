/* Size limits on everything that comes in from outside, each refused with
 * a clear error while the session carries on:
 *
 *   - caller audio: one push over the frame bound -> TERN_ETOOBIG;
 *   - a caller who never stops talking: the utterance is cut into a turn
 *     at max_utterance, and no more than that is sent to speech-to-text;
 *   - text to speak: control characters stripped, text over a
 *     synthesiser's limit refused (flite, OpenAI, ElevenLabs), and a
 *     model's run-on answer never reaches a voice in one over-long piece;
 *   - tool arguments over TERN_TOOL_MAX_ARGS: an error result the model
 *     can read, and the turn still gets an answer.
 *
 * Session cases run in virtual time (tests/util/sim.h); provider cases run
 * against the fake provider server when python3 is there. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "fakeprov.h"
#include "sim.h"
#include "tern/config.h"
#include "tern/elevenlabs.h"
#include "tern/error.h"
#include "tern/flite_tts.h"
#include "tern/loop.h"
#include "tern/openai.h"
#include "tern/segment.h"
#include "tern/tools.h"

static fakeprov_t g_fp;
static bool g_have;

static tern_fake_step_t reply(const char *text) {
  tern_fake_step_t s = TERN_FAKE_OK;
  s.interval = TERN_MS(5);
  s.text = text;
  return s;
}

static sim_t *sim_with_replies(const char *heard, const char *answer) {
  sim_t *x = sim_new(1);
  tern_fake_step_t st = reply(heard);
  tern_fake_set_default(x->stt[0], &st);
  tern_fake_step_t ll = reply(answer);
  tern_fake_set_default(x->llm[0], &ll);
  return x;
}

/* ---- caller audio ------------------------------------------------------- */

static void test_oversized_push_is_refused_and_the_session_goes_on(void **state) {
  (void)state;
  sim_t *x = sim_with_replies("what is the weather", "It is sunny.");
  sim_session(x, NULL);
  sim_run_until(x, 500);
  size_t n = (size_t)48000 * 10 + 1; /* more than 10 s at the highest rate in one push */
  int16_t *big = calloc(n, sizeof *big);
  assert_int_equal(tern_session_push_audio(x->s, big, n), TERN_ETOOBIG);
  assert_int_equal(tern_session_push_audio(x->s, NULL, 5), TERN_EINVAL);
  free(big);
  assert_false(tern_session_closed(x->s));
  sim_speak(x, 1000, 2000);
  sim_run_until(x, 6000);
  assert_int_equal(sim_count(x, "user_speech_committed"), 1);
  assert_int_equal(sim_count(x, "agent_speech_committed"), 1);
  assert_true(sim_first_audio_after(x, 2000) > 0);
  sim_free(x);
}

static void test_endless_speech_is_cut_at_max_utterance(void **state) {
  (void)state;
  sim_t *x = sim_with_replies("a long story", "I see.");
  x->cfg.max_utterance = TERN_SEC(2);
  sim_session(x, NULL);
  sim_speak(x, 1000, 9000);
  sim_run_until(x, 12000);
  /* A turn was committed while the caller was still talking... */
  json_t *u = sim_event(x, "user_speech_committed", 0);
  assert_non_null(u);
  assert_true(json_integer_value(json_object_get(u, "t_ms")) < 9000);
  /* ...and speech-to-text never got more than max_utterance of it. */
  tern_fake_stats_t st;
  tern_fake_stats(x->stt[0], &st);
  long samples = atol(st.last_input);
  assert_true(samples > 0);
  assert_true(samples <= 2 * 16000);
  assert_false(tern_session_closed(x->s));
  assert_true(sim_count(x, "agent_speech_committed") >= 1);
  sim_free(x);
}

/* ---- text to speech ------------------------------------------------------- */

typedef struct tts_out {
  bool done, failed;
  tern_error_t err;
  size_t samples;
} tts_out_t;

static void on_audio(void *ud, const int16_t *pcm, size_t n) {
  (void)pcm;
  ((tts_out_t *)ud)->samples += n;
}
static void on_done(void *ud, const tern_error_t *err) {
  tts_out_t *o = ud;
  o->done = true;
  if (err) {
    o->failed = true;
    o->err = *err;
  }
}
static bool tts_done(void *ud) { return ((tts_out_t *)ud)->done; }

static char *long_text(size_t n) {
  char *t = malloc(n + 1);
  for (size_t i = 0; i < n; i++)
    t[i] = i % 6 == 5 ? ' ' : 'a';
  t[n] = '\0';
  return t;
}

/* Start one TTS call on p; returns the start code (the outcome in *o). */
static int speak(tern_provider_t *p, tern_loop_t *loop, const char *text, tts_out_t *o) {
  memset(o, 0, sizeof *o);
  tern_tts_request_t req = {.text = text, .sample_rate = 16000};
  tern_tts_sink_t sink = {on_audio, on_done, o};
  tern_op_t *op;
  int rc = p->vt->tts_start(p, loop, &req, &sink, &op);
  if (rc == 0)
    assert_int_equal(tern_loop_run_until(loop, tts_done, o, TERN_SEC(30)), 0);
  return rc;
}

static void test_flite_refuses_long_text_and_strips_control_characters(void **state) {
  (void)state;
  tern_loop_t *loop;
  tern_provider_t *p;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  assert_int_equal(tern_flite_provider_create(NULL, &p), 0);
  tts_out_t o;
  char *t = long_text(TERN_FLITE_TEXT_MAX + 1);
  assert_int_equal(speak(p, loop, t, &o), 0);
  free(t);
  assert_true(o.failed);
  assert_int_equal(o.err.kind, TERN_KIND_INVALID_REQUEST);
  assert_false(o.err.retryable);
  assert_non_null(strstr(o.err.message, "too long"));
  /* Control characters are not spoken, and do not stop the rest. */
  assert_int_equal(speak(p, loop, "\x01Hello\x07 there\x1b.", &o), 0);
  assert_false(o.failed);
  assert_true(o.samples > 1600);
  tern_provider_destroy(p);
  tern_loop_destroy(loop);
}

static void test_openai_speech_limits(void **state) {
  (void)state;
  if (!g_have)
    skip();
  char ini[256], err[256];
  snprintf(ini, sizeof ini, "[tts.openai]\nbase_url = %s\n", fakeprov_url(&g_fp, "/v1"));
  tern_config_t *cfg;
  assert_int_equal(tern_config_new(&cfg), 0);
  assert_int_equal(tern_config_load_string(cfg, ini, strlen(ini), "t.ini", err, sizeof err), 0);
  tern_provider_t *p;
  assert_int_equal(tern_openai_provider_create(TERN_COMP_TTS, "openai", cfg, &p, err, sizeof err),
                   0);
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  tts_out_t o;
  char *t = long_text(4097);
  assert_int_equal(speak(p, loop, t, &o), TERN_ETOOBIG);
  free(t);
  assert_int_equal(fakeprov_count(&g_fp, "openai.tts"), 0); /* refused before any request */
  assert_int_equal(speak(p, loop, "Hello\x01 there,\tfriend\x7f.", &o), 0);
  assert_false(o.failed);
  char *input = fakeprov_last(&g_fp, "openai.tts", "input");
  assert_non_null(input);
  assert_string_equal(input, "Hello there, friend.");
  free(input);
  tern_provider_destroy(p);
  tern_loop_destroy(loop);
  tern_config_free(cfg);
}

static void test_elevenlabs_refuses_long_text(void **state) {
  (void)state;
  char ini[] = "[tts.eleven]\nbase_url = http://127.0.0.1:1\n", err[256];
  tern_config_t *cfg;
  assert_int_equal(tern_config_new(&cfg), 0);
  assert_int_equal(tern_config_load_string(cfg, ini, strlen(ini), "t.ini", err, sizeof err), 0);
  tern_provider_t *p;
  assert_int_equal(
      tern_elevenlabs_provider_create(TERN_COMP_TTS, "eleven", cfg, &p, err, sizeof err), 0);
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  tts_out_t o;
  char *t = long_text(TERN_ELEVENLABS_MAX_CHARS + 1);
  assert_int_equal(speak(p, loop, t, &o), TERN_ETOOBIG);
  free(t);
  tern_provider_destroy(p);
  tern_loop_destroy(loop);
  tern_config_free(cfg);
}

static void on_tts_piece(void *ud, const char *s, size_t len) {
  (void)s;
  size_t *max = ud;
  if (len > *max)
    *max = len;
}

/* A model that never ends a sentence: the session still speaks, in pieces
 * no voice refuses. */
static void test_run_on_answer_is_spoken_in_bounded_pieces(void **state) {
  (void)state;
  char *t = long_text(9000);
  sim_t *x = sim_with_replies("tell me everything", t);
  tern_fake_set_samples_per_letter(x->tts[0], 1); /* keep the audio short */
  sim_session(x, NULL);
  sim_speak(x, 1000, 2000);
  sim_run_until(x, 20000);
  assert_true(sim_first_audio_after(x, 2000) > 0);
  json_t *ev;
  size_t i;
  json_array_foreach(x->events, i, ev) {
    if (!strcmp(sim_str(ev, "type"), "error") && !strcmp(sim_str(ev, "component"), "tts"))
      fail_msg("the voice refused a piece: %s", sim_str(ev, "message"));
  }
  /* and the segmenter's own bound, which is what guarantees it */
  tern_segmenter_t seg;
  tern_segmenter_init(&seg);
  size_t max = 0;
  tern_segmenter_feed(&seg, t, strlen(t), on_tts_piece, &max);
  tern_segmenter_flush(&seg, on_tts_piece, &max);
  assert_true(max > 0 && max <= TERN_SEGMENT_MAX);
  assert_true(TERN_SEGMENT_MAX <= TERN_FLITE_TEXT_MAX);
  free(t);
  sim_free(x);
}

/* ---- tool arguments ------------------------------------------------------- */

static int g_handler_runs;
static void echo_tool(tern_tool_ctx_t *ctx, const json_t *args, void *ud) {
  (void)args, (void)ud;
  g_handler_runs++;
  tern_tool_complete(ctx, true, "{\"ok\":true}");
}

typedef struct tool_out {
  int n;
  bool ok;
  char result[512];
} tool_out_t;

static void on_tool_done(void *ud, const tern_tool_call_t *call, bool ok, const char *result) {
  (void)call;
  tool_out_t *o = ud;
  o->n++;
  o->ok = ok;
  snprintf(o->result, sizeof o->result, "%s", result);
}
static bool tool_done(void *ud) { return ((tool_out_t *)ud)->n > 0; }

static char *big_args(size_t n) {
  char *a = malloc(n + 1);
  size_t pre = strlen("{\"q\":\""), post = strlen("\"}");
  memcpy(a, "{\"q\":\"", pre);
  memset(a + pre, 'x', n - pre - post);
  memcpy(a + n - post, "\"}", post + 1);
  return a;
}

static void test_oversized_tool_arguments_are_refused(void **state) {
  (void)state;
  tern_fake_clock_t fc;
  tern_fake_clock_init(&fc, 0);
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create_virtual(&fc, &loop), 0);
  tern_tools_t *tools;
  assert_int_equal(tern_tools_create(&tools), 0);
  assert_int_equal(tern_tools_add(tools, "lookup", NULL,
                                  "{\"type\":\"object\",\"properties\":{\"q\":{\"type\":\"string\"}}}",
                                  echo_tool, NULL, 0, NULL, 0),
                   0);
  g_handler_runs = 0;
  char *args = big_args(TERN_TOOL_MAX_ARGS + 1);
  tern_tool_call_t call = {"c1", "lookup", args};
  tool_out_t o = {0};
  tern_op_t *op;
  assert_int_equal(tern_tools_invoke(tools, loop, &call, NULL, on_tool_done, &o, &op), 0);
  tern_loop_run_until(loop, tool_done, &o, TERN_SEC(1));
  assert_int_equal(o.n, 1);
  assert_false(o.ok);
  assert_non_null(strstr(o.result, "too long"));
  assert_int_equal(g_handler_runs, 0);
  /* Exactly at the limit is fine, and the registry is unharmed. */
  free(args);
  args = big_args(TERN_TOOL_MAX_ARGS);
  call.arguments = args;
  memset(&o, 0, sizeof o);
  assert_int_equal(tern_tools_invoke(tools, loop, &call, NULL, on_tool_done, &o, &op), 0);
  tern_loop_run_until(loop, tool_done, &o, TERN_SEC(1));
  assert_true(o.ok);
  assert_int_equal(g_handler_runs, 1);
  free(args);
  tern_tools_destroy(tools);
  tern_loop_destroy(loop);
}

static void test_session_survives_oversized_tool_arguments(void **state) {
  (void)state;
  sim_t *x = sim_with_replies("look it up", "I could not look that up, sorry.");
  assert_int_equal(tern_tools_create(&x->tools), 0);
  assert_int_equal(tern_tools_add(x->tools, "lookup", NULL,
                                  "{\"type\":\"object\",\"properties\":{\"q\":{\"type\":\"string\"}}}",
                                  echo_tool, NULL, 0, NULL, 0),
                   0);
  g_handler_runs = 0;
  char *args = big_args(TERN_TOOL_MAX_ARGS * 2);
  tern_fake_step_t call = TERN_FAKE_OK;
  call.tool = "lookup";
  call.tool_args = args;
  tern_fake_push(x->llm[0], &call);
  free(args);
  sim_session(x, NULL);
  sim_speak(x, 1000, 2000);
  sim_run_until(x, 9000);
  json_t *f = sim_event(x, "function_calls_finished", 0);
  assert_non_null(f);
  assert_true(json_is_false(json_object_get(f, "ok")));
  assert_int_equal(g_handler_runs, 0);
  json_t *a = sim_event(x, "agent_speech_committed", 0);
  assert_non_null(a);
  assert_string_equal(sim_str(a, "text"), "I could not look that up, sorry.");
  assert_false(tern_session_closed(x->s));
  sim_free(x);
}

static int group_setup(void **state) {
  (void)state;
  int rc = fakeprov_start(&g_fp);
  if (rc == TERN_EUNSUPPORTED)
    return 0;
  if (rc)
    return -1;
  g_have = true;
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  if (g_have)
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
      cmocka_unit_test(test_oversized_push_is_refused_and_the_session_goes_on),
      cmocka_unit_test(test_endless_speech_is_cut_at_max_utterance),
      cmocka_unit_test(test_flite_refuses_long_text_and_strips_control_characters),
      cmocka_unit_test_setup(test_openai_speech_limits, each_setup),
      cmocka_unit_test(test_elevenlabs_refuses_long_text),
      cmocka_unit_test(test_run_on_answer_is_spoken_in_bounded_pieces),
      cmocka_unit_test(test_oversized_tool_arguments_are_refused),
      cmocka_unit_test(test_session_survives_oversized_tool_arguments),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
