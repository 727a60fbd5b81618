/* Fake providers set up from configuration ([llm.<name>] kind = fake, as
 * the load benchmark and the soak run them inside `tern serve`): their
 * latency and reply, seeded random faults, refusal of impossible rates,
 * and calls from two threads at once on one shared fake. Virtual time,
 * except the threaded test, which counts and never times. */
#include "testutil.h"

#include <pthread.h>
#include <string.h>

#include "tern/buf.h"
#include "tern/chat.h"
#include "tern/config.h"
#include "tern/error.h"
#include "tern/fake.h"
#include "tern/loop.h"
#include "tern/stack.h"

typedef struct call {
  tern_loop_t *loop;
  tern_buf_t text;
  tern_usec_t start, first, last;
  int outputs;
  bool done, failed;
} call_t;

static void on_text(void *ud, const char *t, size_t n) {
  call_t *c = ud;
  tern_usec_t now = tern_loop_now(c->loop);
  if (!c->outputs++)
    c->first = now - c->start;
  c->last = now - c->start;
  tern_buf_append(&c->text, t, n);
}

static void on_tool(void *ud, const tern_tool_call_t *call) { (void)ud, (void)call; }

static void on_done(void *ud, const tern_error_t *err) {
  call_t *c = ud;
  c->done = true;
  c->failed = err != NULL;
}

static bool is_done(void *ud) { return ((call_t *)ud)->done; }

static tern_config_t *conf(const char *text) {
  tern_config_t *cfg;
  char err[256];
  assert_int_equal(tern_config_new(&cfg), 0);
  assert_int_equal(tern_config_load_string(cfg, text, strlen(text), "test", err, sizeof err), 0);
  return cfg;
}

static int make(const char *text, tern_provider_t **p, char *err, size_t errsz) {
  tern_config_t *cfg = conf(text);
  int rc = tern_provider_create_kind(TERN_COMP_LLM, "fake", "f", cfg, p, err, errsz);
  tern_config_free(cfg);
  return rc;
}

/* One LLM call on loop; returns the op (NULL once done) after running up to
 * max_wait. */
static void run_call(tern_provider_t *p, tern_loop_t *loop, tern_chat_t *chat, call_t *c,
                     tern_usec_t max_wait) {
  memset(c, 0, sizeof *c);
  c->loop = loop;
  c->start = tern_loop_now(loop);
  tern_llm_request_t req = {.chat = chat, .temperature = -1};
  tern_llm_sink_t sink = {on_text, on_tool, on_done, c};
  tern_op_t *op = NULL;
  assert_int_equal(p->vt->llm_start(p, loop, &req, &sink, &op), 0);
  tern_loop_run_until(loop, is_done, c, max_wait);
  if (!c->done)
    tern_op_cancel(op);
}

static void test_latency_and_reply(void **state) {
  (void)state;
  tern_provider_t *p;
  char err[256] = "";
  assert_int_equal(make("[llm.f]\nkind = fake\nfirst_delay_ms = 300\ninterval_ms = 20\n"
                        "reply = Sure, I can help.\n",
                        &p, err, sizeof err),
                   0);
  tern_fake_clock_t fc;
  tern_fake_clock_init(&fc, TERN_SEC(1000));
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create_virtual(&fc, &loop), 0);
  tern_chat_t *chat;
  assert_int_equal(tern_chat_create(&chat), 0);
  call_t c;
  run_call(p, loop, chat, &c, TERN_SEC(10));
  assert_true(c.done);
  assert_false(c.failed);
  assert_string_equal(tern_buf_str(&c.text), "Sure, I can help.");
  assert_int_equal(c.outputs, 4);
  assert_int_equal(c.first, TERN_MS(300));
  assert_int_equal(c.last, TERN_MS(360)); /* three more words, 20 ms apart */
  tern_buf_free(&c.text);
  tern_chat_destroy(chat);
  tern_loop_destroy(loop);
  tern_provider_destroy(p);
}

/* Outcome of n calls as a string: 'o' ok, 'f' failed, 's' stalled. */
static void outcomes(const char *cfgtext, int n, char *out) {
  tern_provider_t *p;
  char err[256] = "";
  assert_int_equal(make(cfgtext, &p, err, sizeof err), 0);
  tern_fake_clock_t fc;
  tern_fake_clock_init(&fc, TERN_SEC(1000));
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create_virtual(&fc, &loop), 0);
  tern_chat_t *chat;
  assert_int_equal(tern_chat_create(&chat), 0);
  for (int i = 0; i < n; i++) {
    call_t c;
    run_call(p, loop, chat, &c, TERN_SEC(5));
    out[i] = !c.done ? 's' : c.failed ? 'f' : 'o';
    tern_buf_free(&c.text);
  }
  out[n] = '\0';
  tern_fake_stats_t st;
  tern_fake_stats(p, &st);
  assert_int_equal(st.calls, (unsigned)n);
  tern_chat_destroy(chat);
  tern_loop_destroy(loop);
  tern_provider_destroy(p);
}

static int count(const char *s, char ch) {
  int n = 0;
  for (; *s; s++)
    n += *s == ch;
  return n;
}

static void test_seeded_faults(void **state) {
  (void)state;
  enum { N = 400 };
  static char a[N + 1], b[N + 1], c[N + 1], none[N + 1];
  const char *cfg = "[llm.f]\nkind = fake\nfail_rate = 0.2\nstall_rate = 0.1\nseed = 42\n";
  outcomes(cfg, N, a);
  outcomes(cfg, N, b);
  assert_string_equal(a, b); /* a seed repeats its run */
  /* About the configured share of each, from a fixed seed (not a flaky
   * statistical test: the same draws every time). */
  assert_in_range(count(a, 'f'), 50, 110);
  assert_in_range(count(a, 's'), 20, 60);
  outcomes("[llm.f]\nkind = fake\nfail_rate = 0.2\nstall_rate = 0.1\nseed = 43\n", N, c);
  assert_string_not_equal(a, c);
  outcomes("[llm.f]\nkind = fake\n", N, none);
  assert_int_equal(count(none, 'o'), N);
}

static void test_bad_rates_refused(void **state) {
  (void)state;
  tern_provider_t *p = (tern_provider_t *)1;
  char err[256] = "";
  assert_int_equal(make("[llm.f]\nkind = fake\nfail_rate = 1.5\n", &p, err, sizeof err),
                   TERN_ECONFIG);
  assert_non_null(strstr(err, "fail_rate"));
  assert_null(p);
  err[0] = '\0';
  assert_int_equal(
      make("[llm.f]\nkind = fake\nfail_rate = 0.6\nstall_rate = 0.6\n", &p, err, sizeof err),
      TERN_ECONFIG);
  assert_non_null(strstr(err, "stall_rate"));
  err[0] = '\0';
  assert_int_equal(make("[llm.f]\nkind = fake\nfirst_delay_ms = soon\n", &p, err, sizeof err),
                   TERN_ECONFIG);
  assert_non_null(strstr(err, "first_delay_ms"));
}

/* ---- one fake, two threads (a server's workers share their providers) --- */

enum { THREAD_CALLS = 3000 };

typedef struct worker {
  tern_provider_t *p;
  int ok;
} worker_t;

static void *worker_main(void *arg) {
  worker_t *w = arg;
  tern_loop_t *loop;
  if (tern_loop_create(NULL, &loop))
    return NULL;
  tern_chat_t *chat;
  if (tern_chat_create(&chat)) {
    tern_loop_destroy(loop);
    return NULL;
  }
  for (int i = 0; i < THREAD_CALLS; i++) {
    call_t c = {0};
    c.loop = loop;
    tern_llm_request_t req = {.chat = chat, .temperature = -1};
    tern_llm_sink_t sink = {on_text, on_tool, on_done, &c};
    tern_op_t *op = NULL;
    if (w->p->vt->llm_start(w->p, loop, &req, &sink, &op))
      break;
    if (i % 3 == 2) { /* some are cancelled: the other counter */
      tern_op_cancel(op);
      w->ok++;
      continue;
    }
    tern_loop_run_until(loop, is_done, &c, TERN_SEC(10));
    tern_buf_free(&c.text);
    w->ok += c.done;
  }
  tern_chat_destroy(chat);
  tern_loop_destroy(loop);
  return NULL;
}

static void test_shared_between_threads(void **state) {
  (void)state;
  tern_provider_t *p;
  char err[256] = "";
  assert_int_equal(
      make("[llm.f]\nkind = fake\ninterval_ms = 0\nfail_rate = 0.3\nreply = a b\n", &p, err,
           sizeof err),
      0);
  worker_t w[2] = {{p, 0}, {p, 0}};
  pthread_t th[2];
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
  for (int i = 0; i < 2; i++)
    pthread_join(th[i], NULL);
  assert_int_equal(w[0].ok + w[1].ok, 2 * THREAD_CALLS);
  tern_fake_stats_t st;
  tern_fake_stats(p, &st);
  assert_int_equal(st.calls, 2 * THREAD_CALLS); /* no count lost to a race */
  assert_int_equal(st.cancelled, 2 * (THREAD_CALLS / 3));
  tern_provider_destroy(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_latency_and_reply),
      cmocka_unit_test(test_seeded_faults),
      cmocka_unit_test(test_bad_rates_refused),
      cmocka_unit_test(test_shared_between_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
