/* The tern command as a user runs it: the offline conversation of the
 * README, the provider commands, and clear errors for bad input. */
#include "testutil.h"

#include <stdlib.h>
#include <sys/wait.h>

#include "fakeprov.h"
#include "tern/error.h"

static char g_out[1 << 16];

/* Run a shell command in the source tree; capture stdout+stderr. */
static int sh(const char *fmt, ...) {
  char cmd[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = snprintf(cmd, sizeof cmd, "cd '%s' && ", getenv("TERN_SOURCE_DIR"));
  vsnprintf(cmd + n, sizeof cmd - (size_t)n, fmt, ap);
  va_end(ap);
  strncat(cmd, " 2>&1", sizeof cmd - strlen(cmd) - 1);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  size_t len = fread(g_out, 1, sizeof g_out - 1, p);
  g_out[len] = '\0';
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define TERN "'%s/tern'"
#define BIN getenv("TERN_BINARY_DIR")

static void test_offline_conversation_from_the_shipped_caller(void **state) {
  (void)state;
  const char *clips = tu_tmp_path("clips");
  assert_int_equal(sh(TERN " render-fallbacks -o '%s'", BIN, clips), 0);
  const char *ev = tu_tmp_path("run.jsonl");
  int rc = sh(TERN " run --fast --config examples/demo.ini --clips '%s' --in examples/audio/caller.wav "
              "--out '%s' --events '%s'", BIN, clips, tu_tmp_path("conv.wav"), ev);
  if (rc != 0)
    fail_msg("tern run failed (%d):\n%s", rc, g_out);
  /* The conversation was printed as it happened... */
  assert_non_null(strstr(g_out, "caller: hello there"));
  assert_non_null(strstr(g_out, "caller: what is the weather in london"));
  assert_non_null(strstr(g_out, "tool: get_weather"));
  assert_non_null(strstr(g_out, "In London it's"));
  assert_non_null(strstr(g_out, "tool: schedule_meeting"));
  assert_non_null(strstr(g_out, "Goodbye"));
  /* ...every turn was answered, with no provider trouble... */
  assert_non_null(strstr(g_out, "5 turns, 5 replies"));
  /* ...and the event stream holds the turns. */
  size_t len;
  char *events = tu_read_file(ev, &len);
  assert_non_null(events);
  int users = 0, agents = 0;
  for (char *p = events; (p = strstr(p, "\"type\":\"user_speech_committed\"")); p++)
    users++;
  for (char *p = events; (p = strstr(p, "\"type\":\"agent_speech_committed\"")); p++)
    agents++;
  assert_int_equal(users, 5);
  assert_int_equal(agents, 6); /* the greeting and five answers */
  free(events);
  /* The recording holds both sides, time-aligned. */
  assert_int_equal(sh(TERN " analyze '%s'", BIN, tu_tmp_path("conv.wav")), 0);
  assert_non_null(strstr(g_out, "\"channels\": 2"));
}

static void test_say_then_transcribe_offline(void **state) {
  (void)state;
  const char *wav = tu_tmp_path("hello.wav");
  assert_int_equal(sh(TERN " say 'hello there' -o '%s'", BIN, wav), 0);
  assert_int_equal(sh(TERN " transcribe '%s'", BIN, wav), 0);
  assert_non_null(strstr(g_out, "hello there"));
}

static void test_chat_runs_tools_offline(void **state) {
  (void)state;
  assert_int_equal(sh(TERN " chat 'what is the weather in paris'", BIN), 0);
  assert_non_null(strstr(g_out, "[tool get_weather"));
  assert_non_null(strstr(g_out, "Paris"));
}

static void test_bad_input_gets_a_clear_error(void **state) {
  (void)state;
  const char *bad = tu_tmp_path("bad.wav");
  tu_write_file(bad, "RIFF\x04\0\0\0WAVEjunk", 16);
  assert_int_equal(sh(TERN " run --fast --in '%s'", BIN, bad), 1);
  assert_non_null(strstr(g_out, "bad.wav"));
  assert_int_equal(sh(TERN " transcribe /nonexistent.wav", BIN), 1);
  const char *ini = tu_tmp_path("bad.ini");
  const char *t = "[session]\ndead_air_ms = soon\n";
  tu_write_file(ini, t, strlen(t));
  assert_int_equal(sh(TERN " run --fast --config '%s' --in examples/audio/sample.wav", BIN, ini), 1);
  assert_non_null(strstr(g_out, "dead_air_ms"));
  assert_non_null(strstr(g_out, "soon"));
  assert_int_equal(sh(TERN " chat hi --llm nosuchthing", BIN), 1);
  assert_non_null(strstr(g_out, "nosuchthing"));
  assert_int_equal(sh(TERN " frobnicate", BIN), 2);
  assert_int_equal(sh(TERN " run --help", BIN), 0);
  assert_non_null(strstr(g_out, "--fast"));
}

static void test_doctor_names_each_problem_with_a_fix(void **state) {
  (void)state;
  const char *good = tu_tmp_path("good.ini");
  const char *g = "[server]\nport = 0\n[admin]\nport = 0\n";
  tu_write_file(good, g, strlen(g));
  assert_int_equal(sh("env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY -u DEEPGRAM_API_KEY "
                      "-u ELEVENLABS_API_KEY -u OPENAI_BASE_URL " TERN " doctor --config '%s'",
                      BIN, good), 0);
  assert_non_null(strstr(g_out, "0 need fixing"));
  const char *badf = tu_tmp_path("doctor.ini");
  /* an endpoint on loopback where nothing listens, a typo, a missing key */
  const char *b = "[server]\nport = 0\n[admin]\nport = 0\n"
                  "[llm]\nchain = local, scripted\n"
                  "[llm.local]\nkind = openai\nbase_url = http://127.0.0.1:9/v1\nmodle = x\n"
                  "[tts]\nchain = elevenlabs, flite\n";
  tu_write_file(badf, b, strlen(b));
  assert_int_equal(sh("env -u ELEVENLABS_API_KEY " TERN " doctor --timeout-ms 500 --config '%s'",
                      BIN, badf), 1);
  assert_non_null(strstr(g_out, "did you mean 'model'"));
  assert_non_null(strstr(g_out, "http://127.0.0.1:9/v1 does not answer"));
  assert_non_null(strstr(g_out, "ELEVENLABS_API_KEY"));
  assert_non_null(strstr(g_out, "fix:"));
}

/* The acceptance check: `tern chat` against an OpenAI-compatible
 * server that stalls mid-answer falls over to the next link, says so in
 * the events, and prints the whole answer once. */
static void test_chat_survives_a_stall_mid_answer(void **state) {
  (void)state;
  fakeprov_t fp;
  int rc = fakeprov_start(&fp);
  if (rc == TERN_EUNSUPPORTED)
    skip();
  assert_int_equal(rc, 0);
  const char *answer = "The weather in Paris is sunny with a light breeze all afternoon.";
  assert_int_equal(fakeprov_reply(&fp, "openai.chat", answer), 0);
  assert_int_equal(fakeprov_script(&fp, "openai.chat", "[{\"stall_after_chunks\": 3}]"), 0);
  const char *ini = tu_tmp_path("stall.ini");
  char cfg[1024];
  snprintf(cfg, sizeof cfg,
           "[llm]\nchain = primary, backup\nfirst_byte_timeout_ms = 2000\nidle_timeout_ms = 500\n"
           "[llm.primary]\nkind = openai\nbase_url = %s\n"
           "[llm.backup]\nkind = openai\nbase_url = %s\n",
           fakeprov_url(&fp, "/v1"), fakeprov_url(&fp, "/v1"));
  tu_write_file(ini, cfg, strlen(cfg));
  const char *ev = tu_tmp_path("stall.jsonl");
  rc = sh(TERN " chat 'what is the weather in paris' --config '%s' --events '%s'", BIN, ini, ev);
  fakeprov_stop(&fp);
  if (rc != 0)
    fail_msg("tern chat failed (%d):\n%s", rc, g_out);
  assert_non_null(strstr(g_out, answer)); /* whole, once */
  char *twice = strstr(g_out, answer);
  assert_null(strstr(twice + 1, answer));
  char *events = tu_read_file(ev, NULL);
  assert_non_null(events);
  assert_non_null(strstr(events, "\"type\":\"error\""));
  assert_non_null(strstr(events, "\"kind\":\"stalled\""));
  assert_non_null(strstr(events, "\"type\":\"provider_switched\""));
  assert_non_null(strstr(events, "\"to\":\"backup\""));
  free(events);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_offline_conversation_from_the_shipped_caller),
      cmocka_unit_test(test_say_then_transcribe_offline),
      cmocka_unit_test(test_chat_runs_tools_offline),
      cmocka_unit_test(test_bad_input_gets_a_clear_error),
      cmocka_unit_test(test_doctor_names_each_problem_with_a_fix),
      cmocka_unit_test(test_chat_survives_a_stall_mid_answer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
