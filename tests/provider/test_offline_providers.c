/* The offline providers on a real loop: flite and espeak-ng stream audio,
 * pocketsphinx transcribes, the scripted engine streams words and tool
 * calls; errors arrive classified through on_done; no callback runs inside
 * a start call; a cancel (even from inside a callback, even while the
 * thread pool is busy with the work) silences the operation and frees it. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "provider/job.h"
#include "tern/alloc.h"
#include "tern/chat.h"
#include "tern/error.h"
#include "tern/espeak_tts.h"
#include "tern/flite_tts.h"
#include "tern/loop.h"
#include "tern/provider.h"
#include "tern/scripted.h"
#include "tern/sphinx.h"

#define WAIT TERN_SEC(60) /* a safety net only: tests wait for events */

typedef struct rec {
  bool in_start; /* a callback seeing this set ran inside start */
  bool done;
  bool err_set;
  tern_error_t err;
  int calls_after_done;
  /* tts */
  size_t samples;
  int chunks;
  int cancel_at_chunk; /* cancel from inside on_audio at this chunk (0: never) */
  /* stt */
  char text[256];
  int transcripts;
  double confidence;
  /* llm */
  char said[1024];
  int pieces;
  int cancel_at_piece;
  char tool[64], args[256], call_id[64];
  int tool_calls;
  tern_op_t *op;
} rec_t;

static void check_not_in_start(rec_t *r) {
  if (r->in_start)
    fail_msg("a callback ran inside the start call");
  if (r->done)
    r->calls_after_done++;
}

static void on_done(void *ud, const tern_error_t *err) {
  rec_t *r = ud;
  check_not_in_start(r);
  r->done = true;
  if (err) {
    r->err_set = true;
    r->err = *err;
  }
}

static bool is_done(void *ud) { return ((rec_t *)ud)->done; }
static bool no_jobs(void *ud) {
  (void)ud;
  return tern__job_live() == 0;
}

static tern_loop_t *g_loop;
static tern_provider_t *g_flite, *g_espeak, *g_sphinx, *g_script;

static int setup(void **state) {
  (void)state;
  char err[256];
  assert_int_equal(tern_loop_create(NULL, &g_loop), 0);
  assert_int_equal(tern_flite_provider_create(NULL, &g_flite), 0);
  assert_int_equal(tern_espeak_provider_create(NULL, &g_espeak), 0);
  tern_sphinx_config_t cfg = {.max_decoders = 1};
  int rc = tern_sphinx_provider_create(&cfg, &g_sphinx, err, sizeof err);
  if (rc)
    fail_msg("sphinx: %s", err);
  rc = tern_scripted_provider_create(NULL, &g_script, err, sizeof err);
  if (rc)
    fail_msg("scripted: %s", err);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  tern_provider_destroy(g_flite);
  tern_provider_destroy(g_espeak);
  tern_provider_destroy(g_sphinx);
  tern_provider_destroy(g_script);
  tern_loop_destroy(g_loop);
  return 0;
}

/* ---- tts ------------------------------------------------------------------ */

static void on_audio(void *ud, const int16_t *pcm, size_t n) {
  rec_t *r = ud;
  (void)pcm;
  check_not_in_start(r);
  r->chunks++;
  r->samples += n;
  if (r->cancel_at_chunk && r->chunks == r->cancel_at_chunk)
    tern_op_cancel(r->op);
}

static int speak(tern_provider_t *p, const char *text, const char *voice, int rate, rec_t *r) {
  tern_tts_request_t req = {.text = text, .sample_rate = rate, .voice = voice};
  tern_tts_sink_t sink = {.on_audio = on_audio, .on_done = on_done, .ud = r};
  r->in_start = true;
  int rc = p->vt->tts_start(p, g_loop, &req, &sink, &r->op);
  r->in_start = false;
  return rc;
}

static const char LONG_TEXT[] = "Your meeting is booked for ten o'clock tomorrow. I will send a "
                                "reminder an hour before. Is there anything else I can do?";

static void test_tts_streams_audio(void **state) {
  (void)state;
  tern_provider_t *ps[2] = {g_flite, g_espeak};
  for (int i = 0; i < 2; i++) {
    rec_t r = {0};
    assert_int_equal(speak(ps[i], LONG_TEXT, NULL, 24000, &r), 0);
    assert_non_null(r.op);
    assert_int_equal(r.chunks, 0);
    assert_int_equal(tern_loop_run_until(g_loop, is_done, &r, WAIT), 0);
    assert_false(r.err_set);
    assert_true(r.chunks > 2);
    double secs = (double)r.samples / 24000;
    if (secs < 3 || secs > 20)
      fail_msg("%s spoke the long text in %.1f s", ps[i]->name, secs);
    assert_int_equal(tern_loop_run_until(g_loop, no_jobs, NULL, WAIT), 0);
    assert_int_equal(r.calls_after_done, 0);
  }
  assert_string_equal(g_flite->vt->kind, "flite");
  assert_int_equal(g_flite->component, TERN_COMP_TTS);
}

static void test_tts_errors_are_classified(void **state) {
  (void)state;
  char *big = malloc(5000);
  memset(big, 'a', 4999);
  big[4999] = '\0';
  rec_t r = {0};
  assert_int_equal(speak(g_flite, big, NULL, 16000, &r), 0);
  free(big); /* inputs may go once the start call returned: the job copied it */
  assert_int_equal(tern_loop_run_until(g_loop, is_done, &r, WAIT), 0);
  assert_true(r.err_set);
  assert_int_equal(r.err.component, TERN_COMP_TTS);
  assert_int_equal(r.err.kind, TERN_KIND_INVALID_REQUEST);
  assert_false(r.err.retryable);
  assert_string_equal(r.err.provider, "flite");
  assert_non_null(strstr(r.err.message, "too long"));
  assert_int_equal(r.chunks, 0);

  rec_t v = {0};
  assert_int_equal(speak(g_espeak, "hello", "no-such-voice", 16000, &v), 0);
  assert_int_equal(tern_loop_run_until(g_loop, is_done, &v, WAIT), 0);
  assert_true(v.err_set);
  assert_int_equal(v.err.kind, TERN_KIND_INVALID_REQUEST);
  assert_non_null(strstr(v.err.message, "no-such-voice"));

  /* Misuse fails the start itself, and then nothing ever runs. */
  rec_t m = {0};
  assert_int_equal(speak(g_flite, NULL, NULL, 16000, &m), TERN_EINVAL);
  assert_null(m.op);
  assert_int_equal(tern_loop_run_until(g_loop, no_jobs, NULL, WAIT), 0);
}

static void test_tts_cancel_inside_callback_and_at_once(void **state) {
  (void)state;
  rec_t r = {.cancel_at_chunk = 1};
  assert_int_equal(speak(g_flite, LONG_TEXT, NULL, 16000, &r), 0);
  assert_int_equal(tern_loop_run_until(g_loop, no_jobs, NULL, WAIT), 0);
  assert_int_equal(r.chunks, 1); /* nothing after the cancel, not even on_done */
  assert_false(r.done);

  rec_t s = {0};
  assert_int_equal(speak(g_espeak, LONG_TEXT, NULL, 16000, &s), 0);
  tern_op_cancel(s.op);
  assert_int_equal(tern_loop_run_until(g_loop, no_jobs, NULL, WAIT), 0);
  assert_int_equal(s.chunks, 0);
  assert_false(s.done);
}

/* ---- stt ------------------------------------------------------------------ */

static void on_transcript(void *ud, const char *text, bool is_final, double conf) {
  rec_t *r = ud;
  check_not_in_start(r);
  assert_true(is_final);
  snprintf(r->text, sizeof r->text, "%s", text);
  r->confidence = conf;
  r->transcripts++;
}

typedef struct pcm {
  int16_t *s;
  size_t n;
} pcm_t;

static int grow(void *ud, const int16_t *p, size_t n) {
  pcm_t *b = ud;
  b->s = realloc(b->s, (b->n + n) * sizeof *p);
  memcpy(b->s + b->n, p, n * sizeof *p);
  b->n += n;
  return 0;
}

static pcm_t utterance(const char *text, int rate) {
  pcm_t b = {0};
  int16_t quiet[8000] = {0};
  grow(&b, quiet, (size_t)rate / 4);
  assert_int_equal(tern_flite_synth(text, NULL, rate, grow, &b), 0);
  grow(&b, quiet, (size_t)rate / 4);
  return b;
}

static int hear(const pcm_t *a, int rate, const char *lang, rec_t *r) {
  tern_stt_request_t req = {.pcm = a->s, .n_samples = a->n, .sample_rate = rate,
                            .language = lang};
  tern_stt_sink_t sink = {.on_transcript = on_transcript, .on_done = on_done, .ud = r};
  r->in_start = true;
  int rc = g_sphinx->vt->stt_start(g_sphinx, g_loop, &req, &sink, &r->op);
  r->in_start = false;
  return rc;
}

static void test_stt_transcribes(void **state) {
  (void)state;
  pcm_t a = utterance("what is the weather in london", 8000);
  rec_t r = {0};
  assert_int_equal(hear(&a, 8000, "en-US", &r), 0);
  memset(a.s, 0, a.n * sizeof *a.s); /* the provider copied the audio */
  assert_int_equal(tern_loop_run_until(g_loop, is_done, &r, WAIT), 0);
  free(a.s);
  assert_false(r.err_set);
  assert_int_equal(r.transcripts, 1);
  print_message("heard '%s' (%.2f)\n", r.text, r.confidence);
  assert_non_null(strstr(r.text, "weather"));
  assert_non_null(strstr(r.text, "london"));
  assert_int_equal(tern_loop_run_until(g_loop, no_jobs, NULL, WAIT), 0);
  assert_null(g_sphinx->vt->stt_stream);
}

static void test_stt_errors_busy_and_cancel(void **state) {
  (void)state;
  pcm_t a = utterance("goodbye", 16000);
  rec_t fr = {0};
  assert_int_equal(hear(&a, 16000, "fr", &fr), 0);
  assert_int_equal(tern_loop_run_until(g_loop, is_done, &fr, WAIT), 0);
  assert_true(fr.err_set);
  assert_int_equal(fr.err.component, TERN_COMP_STT);
  assert_int_equal(fr.err.kind, TERN_KIND_INVALID_REQUEST);
  assert_int_equal(fr.transcripts, 0);

  /* One decoder, four requests at once: each is either heard or refused
   * as overloaded (retryable), never stuck and never half-answered. */
  rec_t many[4] = {{0}};
  for (int i = 0; i < 4; i++)
    assert_int_equal(hear(&a, 16000, NULL, &many[i]), 0);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(tern_loop_run_until(g_loop, is_done, &many[i], WAIT), 0);
    if (many[i].err_set) {
      assert_int_equal(many[i].err.kind, TERN_KIND_OVERLOADED);
      assert_true(many[i].err.retryable);
      assert_int_equal(many[i].transcripts, 0);
    } else {
      assert_int_equal(many[i].transcripts, 1);
      assert_non_null(strstr(many[i].text, "goodbye"));
    }
  }

  /* Cancelled while the thread pool decodes: silent, and freed. */
  rec_t c = {0};
  assert_int_equal(hear(&a, 16000, NULL, &c), 0);
  tern_op_cancel(c.op);
  free(a.s);
  assert_int_equal(tern_loop_run_until(g_loop, no_jobs, NULL, WAIT), 0);
  assert_int_equal(c.transcripts, 0);
  assert_false(c.done);
}

/* ---- llm ------------------------------------------------------------------ */

static void on_text(void *ud, const char *text, size_t len) {
  rec_t *r = ud;
  check_not_in_start(r);
  r->pieces++;
  size_t have = strlen(r->said);
  assert_true(have + len < sizeof r->said);
  memcpy(r->said + have, text, len);
  r->said[have + len] = '\0';
  if (r->cancel_at_piece && r->pieces == r->cancel_at_piece)
    tern_op_cancel(r->op);
}

static void on_tool_call(void *ud, const tern_tool_call_t *call) {
  rec_t *r = ud;
  check_not_in_start(r);
  r->tool_calls++;
  snprintf(r->tool, sizeof r->tool, "%s", call->name);
  snprintf(r->args, sizeof r->args, "%s", call->arguments);
  snprintf(r->call_id, sizeof r->call_id, "%s", call->id);
}

static const tern_tool_def_t TOOLS[] = {
    {"get_weather", "The weather in a city", "{\"type\":\"object\"}"},
    {"get_time", "The time now", "{\"type\":\"object\"}"},
};

static int ask(tern_chat_t *chat, const char *continuation, size_t n_tools, rec_t *r) {
  tern_llm_request_t req = {.chat = chat, .tools = TOOLS, .n_tools = n_tools,
                            .continuation = continuation, .temperature = -1};
  tern_llm_sink_t sink = {.on_text = on_text, .on_tool_call = on_tool_call, .on_done = on_done,
                          .ud = r};
  r->in_start = true;
  int rc = g_script->vt->llm_start(g_script, g_loop, &req, &sink, &r->op);
  r->in_start = false;
  return rc;
}

static tern_chat_t *chat_with(const char *user) {
  tern_chat_t *c = NULL;
  assert_int_equal(tern_chat_create(&c), 0);
  assert_int_equal(tern_chat_add(c, TERN_ROLE_USER, user), 0);
  return c;
}

static void test_llm_streams_words_then_tool_call(void **state) {
  (void)state;
  tern_chat_t *chat = chat_with("What's the weather in London?");
  rec_t r = {0};
  assert_int_equal(ask(chat, NULL, 2, &r), 0);
  assert_int_equal(tern_loop_run_until(g_loop, is_done, &r, WAIT), 0);
  assert_false(r.err_set);
  assert_string_equal(r.said, "Let me check the weather.");
  assert_true(r.pieces >= 2); /* streamed, not one block */
  assert_int_equal(r.tool_calls, 1);
  assert_string_equal(r.tool, "get_weather");
  assert_string_equal(r.args, "{\"city\": \"london\"}");
  assert_string_equal(r.call_id, "call_scripted_1");

  /* The result comes back: the reply is rendered from it. */
  tern_tool_call_t call = {.id = r.call_id, .name = r.tool, .arguments = r.args};
  assert_int_equal(tern_chat_add_tool_calls(chat, r.said, &call, 1), 0);
  assert_int_equal(tern_chat_add_tool_result(chat, r.call_id, r.tool,
                                             "{\"city\":\"London\",\"summary\":\"cloudy\","
                                             "\"temp_c\":14}"),
                   0);
  rec_t a = {0};
  assert_int_equal(ask(chat, NULL, 2, &a), 0);
  assert_int_equal(tern_loop_run_until(g_loop, is_done, &a, WAIT), 0);
  assert_string_equal(a.said, "In London it's cloudy and 14 degrees.");
  assert_int_equal(a.tool_calls, 0);
  tern_chat_destroy(chat);

  /* A tool the session does not offer is never called. */
  chat = chat_with("book a meeting for friday at two");
  rec_t f = {0};
  assert_int_equal(ask(chat, NULL, 2, &f), 0);
  assert_int_equal(tern_loop_run_until(g_loop, is_done, &f, WAIT), 0);
  assert_int_equal(f.tool_calls, 0);
  assert_non_null(strstr(f.said, "I can tell you the weather"));
  tern_chat_destroy(chat);
}

static void test_llm_continuation(void **state) {
  (void)state;
  tern_chat_t *chat = chat_with("hello there");
  rec_t full = {0};
  assert_int_equal(ask(chat, NULL, 0, &full), 0);
  assert_int_equal(tern_loop_run_until(g_loop, is_done, &full, WAIT), 0);
  assert_true(strlen(full.said) > 20);

  /* Another model spoke the first words and failed: only the rest comes. */
  char spoken[32];
  snprintf(spoken, sizeof spoken, "%.12s", full.said);
  rec_t rest = {0};
  assert_int_equal(ask(chat, spoken, 0, &rest), 0);
  assert_int_equal(tern_loop_run_until(g_loop, is_done, &rest, WAIT), 0);
  char joined[1100];
  snprintf(joined, sizeof joined, "%s%s", spoken, rest.said);
  assert_string_equal(joined, full.said);

  /* A continuation the reply does not start with: the whole reply. */
  rec_t other = {0};
  assert_int_equal(ask(chat, "Something else entirely", 0, &other), 0);
  assert_int_equal(tern_loop_run_until(g_loop, is_done, &other, WAIT), 0);
  assert_string_equal(other.said, full.said);
  tern_chat_destroy(chat);
}

static bool flag_set(void *ud) { return *(bool *)ud; }
static void set_flag(tern_loop_t *loop, void *ud) {
  (void)loop;
  *(bool *)ud = true;
}

static void test_llm_cancel(void **state) {
  (void)state;
  tern_chat_t *chat = chat_with("what can you do");
  rec_t r = {.cancel_at_piece = 1};
  assert_int_equal(ask(chat, NULL, 0, &r), 0);
  /* Posts run in order: once this marker ran, the operation's next step
   * (had it survived the cancel) would have run before it. */
  bool marker = false;
  assert_int_equal(tern_loop_post(g_loop, set_flag, &marker), 0);
  assert_int_equal(tern_loop_run_until(g_loop, flag_set, &marker, WAIT), 0);
  assert_int_equal(r.pieces, 1);
  assert_false(r.done);

  rec_t s = {0};
  assert_int_equal(ask(chat, NULL, 0, &s), 0);
  tern_op_cancel(s.op);
  marker = false;
  assert_int_equal(tern_loop_post(g_loop, set_flag, &marker), 0);
  assert_int_equal(tern_loop_run_until(g_loop, flag_set, &marker, WAIT), 0);
  assert_int_equal(s.pieces, 0);
  assert_false(s.done);
  tern_chat_destroy(chat);

  char err[256];
  tern_provider_t *p = NULL;
  assert_int_equal(tern_scripted_provider_create(tu_tmp_path("none.rules"), &p, err, sizeof err),
                   TERN_ENOENT);
  assert_null(p);
  assert_non_null(strstr(err, "none.rules"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tts_streams_audio),
      cmocka_unit_test(test_tts_errors_are_classified),
      cmocka_unit_test(test_tts_cancel_inside_callback_and_at_once),
      cmocka_unit_test(test_stt_transcribes),
      cmocka_unit_test(test_stt_errors_busy_and_cancel),
      cmocka_unit_test(test_llm_streams_words_then_tool_call),
      cmocka_unit_test(test_llm_continuation),
      cmocka_unit_test(test_llm_cancel),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
