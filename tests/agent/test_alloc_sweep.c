/* Allocation-failure sweeps over a whole session, as SQLite and curl do:
 * every allocation of session setup, and every allocation of a full turn
 * (the caller speaks, STT, a tool call, the model's answer, speech), is
 * made to fail in turn.
 *
 * What a user relies on: a constructor that runs out of memory returns
 * TERN_ENOMEM and leaves nothing behind; out of memory in the middle of a
 * turn costs at most that turn's work (the session may drop it with a log
 * line) but never crashes, never leaks, and the session still answers the
 * next turn. Leaks are caught by LeakSanitizer in the sanitizer build, the
 * rest by the assertions here.
 *
 * The world is built by hand rather than with tests/util/sim.c, because
 * the simulator asserts on its own allocations (jansson) and so cannot run
 * while failures are being injected; the event listener here counts
 * events without allocating. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/fake.h"
#include "tern/guard.h"
#include "tern/log.h"
#include "tern/loop.h"
#include "tern/session.h"
#include "tern/tools.h"

#define RATE 16000
#define TICK (RATE / 50)

typedef struct world {
  tern_fake_clock_t clock;
  tern_loop_t *loop;
  tern_events_t *ev;
  tern_provider_t *p[3];
  tern_guard_t *g[3];
  tern_fallback_t *f[3];
  tern_tools_t *tools;
  tern_session_t *s;
  tern_loop_timer_t *tick;
  long now_ms;
  long speech[4][2];
  int nspeech;
  long audible_after; /* first audio at or after this ms ... */
  long first_audio;   /* ... is recorded here (-1: none yet) */
  int n_committed, n_closed, n_agent;
} world_t;

static void on_event(void *ud, const char *type, const char *line, size_t len,
                     const tern_log_field_t *fields, size_t nfields) {
  (void)line, (void)len, (void)fields, (void)nfields;
  world_t *w = ud;
  if (!strcmp(type, "user_speech_committed"))
    w->n_committed++;
  else if (!strcmp(type, "agent_speech_committed"))
    w->n_agent++;
  else if (!strcmp(type, "session_closed"))
    w->n_closed++;
}

static void weather(tern_tool_ctx_t *ctx, const json_t *args, void *ud) {
  (void)args, (void)ud;
  tern_tool_complete(ctx, true, "{\"sky\":\"sunny\"}");
}

static void on_tick(tern_loop_timer_t *t, void *ud) {
  (void)t;
  world_t *w = ud;
  int16_t in[TICK], out[TICK];
  int loud = 0;
  for (int i = 0; i < w->nspeech; i++)
    loud |= w->now_ms >= w->speech[i][0] && w->now_ms < w->speech[i][1];
  for (int i = 0; i < TICK; i++) {
    long n = w->now_ms * (RATE / 1000) + i;
    in[i] = loud ? (int16_t)(((n / 32) % 2) ? 8000 : -8000) : (int16_t)((n * 7919) % 61 - 30);
  }
  if (!tern_session_closed(w->s)) {
    tern_session_push_audio(w->s, in, TICK);
    if (tern_session_pull_audio(w->s, out, TICK) > 0 && w->first_audio < 0 &&
        w->now_ms >= w->audible_after)
      w->first_audio = w->now_ms;
  }
  w->now_ms += 20;
}

static bool never(void *ud) {
  (void)ud;
  return false;
}

static void run_until(world_t *w, long ms) {
  if (ms > w->now_ms)
    tern_loop_run_until(w->loop, never, w, TERN_MS(ms - w->now_ms) - 1);
}

static void world_free(world_t *w) {
  tern_loop_timer_destroy(w->tick);
  tern_session_destroy(w->s);
  for (int c = 0; c < 3; c++)
    tern_fallback_destroy(w->f[c]);
  for (int c = 0; c < 3; c++) {
    tern_provider_destroy(w->p[c]);
    tern_guard_destroy(w->g[c]);
  }
  tern_tools_destroy(w->tools);
  tern_events_destroy(w->ev);
  tern_loop_destroy(w->loop);
  memset(w, 0, sizeof *w);
}

/* Everything up to a created (not started) session. 0 or the first error,
 * with everything made so far released. */
static int world_build(world_t *w) {
  memset(w, 0, sizeof *w);
  w->first_audio = -1;
  tern_fake_clock_init(&w->clock, 0);
  int rc = tern_loop_create_virtual(&w->clock, &w->loop);
  if (!rc)
    rc = tern_events_create("sweep", &w->ev);
  if (!rc)
    rc = tern_events_listen(w->ev, on_event, w);
  const tern_component_t comps[3] = {TERN_COMP_STT, TERN_COMP_LLM, TERN_COMP_TTS};
  for (int c = 0; c < 3 && !rc; c++) {
    tern_guard_config_t gc;
    tern_guard_config_default(comps[c], &gc);
    gc.first_output_timeout = TERN_MS(400);
    gc.idle_timeout = TERN_MS(400);
    rc = tern_fake_create(comps[c], "primary", &w->p[c]);
    if (!rc)
      rc = tern_guard_create(comps[c], "primary", &gc, &w->g[c]);
    if (!rc) {
      tern_fallback_link_t l = {w->p[c], w->g[c]};
      tern_fallback_config_t fc;
      tern_fallback_config_default(&fc);
      fc.probes = false;
      rc = tern_fallback_create(w->loop, comps[c], &l, 1, &fc, w->ev, 7, &w->f[c]);
    }
  }
  /* The turn: "what is the weather" -> get_weather -> a spoken answer. */
  tern_fake_step_t st = TERN_FAKE_OK;
  st.interval = TERN_MS(5);
  st.text = "what is the weather";
  tern_fake_step_t call = TERN_FAKE_OK;
  call.tool = "get_weather";
  call.tool_args = "{\"city\":\"Paris\"}";
  tern_fake_step_t ans = TERN_FAKE_OK;
  ans.interval = TERN_MS(5);
  ans.text = "It is sunny in Paris. Take a hat.";
  if (!rc)
    rc = tern_fake_set_default(w->p[0], &st);
  if (!rc)
    rc = tern_fake_push(w->p[1], &call);
  if (!rc)
    rc = tern_fake_set_default(w->p[1], &ans);
  if (!rc)
    rc = tern_tools_create(&w->tools);
  if (!rc)
    rc = tern_tools_add(w->tools, "get_weather", "The weather in a city",
                        "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},"
                        "\"required\":[\"city\"]}",
                        weather, NULL, 0, NULL, 0);
  if (!rc) {
    tern_session_config_t cfg;
    tern_session_config_default(&cfg);
    cfg.greeting = "Hello, how can I help?";
    cfg.system_prompt = "You are a helpful agent.";
    tern_session_deps_t d = {.loop = w->loop, .stt = w->f[0], .llm = w->f[1], .tts = w->f[2],
                             .tools = w->tools, .events = w->ev};
    rc = tern_session_create(&cfg, &d, &w->s);
  }
  if (!rc)
    rc = tern_loop_timer_create(w->loop, on_tick, w, &w->tick);
  if (rc)
    world_free(w);
  return rc;
}

/* ---- setup ------------------------------------------------------------- */

static int setup_once(void *ctx) {
  (void)ctx;
  world_t w;
  int rc = world_build(&w);
  if (rc)
    return rc;
  /* Built without a word of complaint: then no allocation may have failed.
   * Teardown is not under test here (it may drop its session_closed event
   * when memory is short, which is allowed), so it runs with memory back;
   * that also ends the sweep once k is past the last allocation of setup. */
  long failed = tern_alloc_failures();
  tern_alloc_fail_after(-1, 0);
  world_free(&w);
  if (failed)
    fail_msg("setup reported success although an allocation failed");
  return 0;
}

static void test_setup_sweep(void **state) {
  (void)state;
  long n = tu_alloc_sweep(setup_once, NULL);
  assert_true(n > 20); /* the sweep really went through the whole setup */
}

/* ---- a full turn ---------------------------------------------------------- */

/* One conversation: start (greeting), the caller asks, the agent answers
 * through a tool call. With failure k injected during start and the turn
 * (k < 0: none). Then, with memory back, a second question must still be
 * answered: the session is alive. Returns the allocations the turn made. */
typedef struct turn_result {
  long made, failures;
  bool checked_alive; /* the session survived and the second turn was checked */
  int committed, agent;
  unsigned tool_calls;
} turn_result_t;

static void turn_once(long k, bool sticky, turn_result_t *res) {
  world_t w;
  assert_int_equal(world_build(&w), 0);
  long before = tern_alloc_count();
  if (k >= 0)
    tern_alloc_fail_after(k, sticky);
  int rc = tern_session_start(w.s);
  assert_true(rc == 0 || rc == TERN_ENOMEM);
  if (rc == 0 || !tern_session_closed(w.s)) {
    tern_loop_timer_start(w.tick, TERN_MS(20), TERN_MS(20));
    w.speech[w.nspeech][0] = 3000;
    w.speech[w.nspeech++][1] = 4000;
    run_until(&w, 9000);
  }
  memset(res, 0, sizeof *res);
  res->made = tern_alloc_count() - before;
  res->failures = tern_alloc_failures();
  tern_alloc_fail_after(-1, 0);

  if (rc == 0 && !tern_session_closed(w.s)) {
    /* Memory is back: the next question is heard and answered. */
    int committed = w.n_committed, agent = w.n_agent;
    w.speech[w.nspeech][0] = 10000;
    w.speech[w.nspeech++][1] = 11000;
    w.audible_after = 11000;
    w.first_audio = -1;
    run_until(&w, 16000);
    if (w.n_committed <= committed || w.n_agent <= agent || w.first_audio < 0)
      fail_msg("allocation %ld%s: the session no longer answers (committed %d->%d, "
               "agent %d->%d, audio %ld)",
               k, sticky ? " onwards" : "", committed, w.n_committed, agent, w.n_agent,
               w.first_audio);
    res->checked_alive = true;
  }
  tern_session_stats_t st;
  tern_session_stats(w.s, &st);
  res->tool_calls = st.tool_calls;
  res->committed = w.n_committed;
  res->agent = w.n_agent;
  world_free(&w);
}

static void test_turn_sweep(void **state) {
  (void)state;
  turn_result_t r;
  turn_once(-1, false, &r);
  /* The turn under test is a real one: two questions heard, the greeting
   * and two answers spoken, the tool called. */
  assert_int_equal(r.failures, 0);
  assert_true(r.checked_alive);
  assert_int_equal(r.committed, 2);
  assert_true(r.agent >= 3);
  assert_true(r.tool_calls >= 1);
  long total = r.made, alive = 0;
  assert_true(total > 100);
  for (long k = 0; k < total; k++) {
    turn_once(k, false, &r);
    assert_int_equal(r.failures, 1);
    alive += r.checked_alive;
  }
  /* One failed allocation costs at most a turn: nearly every run must
   * have gone on to answer the next question. */
  print_message("turn sweep: %ld allocations, session alive after %ld\n", total, alive);
  assert_true(alive >= total * 9 / 10);
}

/* Memory that stays gone for a while (every allocation from k on fails
 * until the turn is over) is harsher than one failure: a sample of k. */
static void test_turn_sweep_sticky(void **state) {
  (void)state;
  turn_result_t r;
  turn_once(-1, false, &r);
  long step = r.made / 40 > 0 ? r.made / 40 : 1;
  for (long k = 0; k < r.made; k += step)
    turn_once(k, true, &r);
}

int main(void) {
  /* Out-of-memory lines from the session would drown the output. */
  tern_log_set_level(TERN_LOG_OFF);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_setup_sweep),
      cmocka_unit_test(test_turn_sweep),
      cmocka_unit_test(test_turn_sweep_sticky),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
