/* pocketsphinx pool: it hears flite's speech (the offline loopback), at
 * 16 kHz and resampled from 8 kHz, in one call or fed frame by frame,
 * with decoders reused; it never hands out more than its maximum, and
 * borrowers wait or get TERN_EBUSY as asked. */
#include "testutil.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/chat.h"
#include "tern/flite_tts.h"
#include "tern/scripted.h"
#include "tern/sphinx.h"

typedef struct pcm {
  int16_t *s;
  size_t n, cap;
} pcm_t;

static int on_chunk(void *ud, const int16_t *p, size_t n) {
  pcm_t *b = ud;
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2;
    b->s = realloc(b->s, b->cap * sizeof *b->s);
    assert_non_null(b->s);
  }
  memcpy(b->s + b->n, p, n * sizeof *p);
  b->n += n;
  return 0;
}

/* flite speech with half a second of silence either side, as a VAD would cut it. */
static pcm_t speak(const char *text, int rate) {
  pcm_t b = {0};
  int16_t silence[24000] = {0};
  on_chunk(&b, silence, (size_t)rate / 2);
  assert_int_equal(tern_flite_synth(text, NULL, rate, on_chunk, &b), 0);
  on_chunk(&b, silence, (size_t)rate / 2);
  return b;
}

static int has_word(const char *hyp, const char *word) {
  size_t n = strlen(word);
  for (const char *p = hyp; (p = strstr(p, word)); p += n)
    if ((p == hyp || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ' || p[n] == '('))
      return 1;
  return 0;
}

static tern_sphinx_pool_t *g_pool; /* max 2 decoders, shared by the tests */

static int setup(void **state) {
  (void)state;
  char err[256];
  tern_sphinx_config_t cfg = {.max_decoders = 2};
  int rc = tern_sphinx_pool_create(&cfg, &g_pool, err, sizeof err);
  if (rc)
    fail_msg("pool: %s (%s)", err, tern_err_name(rc));
  return 0;
}

static int teardown(void **state) {
  (void)state;
  tern_sphinx_pool_destroy(g_pool);
  return 0;
}

typedef struct phrase {
  const char *said;
  const char *must_hear[3];
} phrase_t;

static const phrase_t PHRASES[] = {
    {"hello world", {"hello", "world"}},
    {"what is the weather", {"weather"}},
    {"what time is it", {"time"}},
    {"goodbye", {"goodbye"}},
};

static void check_heard(const phrase_t *ph, const tern_sphinx_result_t *r) {
  for (int k = 0; k < 3 && ph->must_hear[k]; k++)
    if (!has_word(r->text, ph->must_hear[k]))
      fail_msg("said '%s', heard '%s' (no '%s')", ph->said, r->text, ph->must_hear[k]);
  assert_true(r->confidence >= 0.0 && r->confidence <= 1.0);
}

static void test_hears_flite_at_16k(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof PHRASES / sizeof PHRASES[0]; i++) {
    pcm_t a = speak(PHRASES[i].said, 16000);
    tern_sphinx_result_t r;
    assert_int_equal(tern_sphinx_decode(g_pool, a.s, a.n, 16000, &r), 0);
    print_message("said '%s' -> heard '%s' (confidence %.2f)\n", PHRASES[i].said, r.text,
                  r.confidence);
    check_heard(&PHRASES[i], &r);
    tern_sphinx_result_free(&r);
    free(a.s);
  }
}

static void test_hears_8k_audio_streamed(void **state) {
  (void)state;
  tern_sphinx_decoder_t *d = NULL;
  assert_int_equal(tern_sphinx_acquire(g_pool, &d), 0);
  /* Two utterances on the same decoder: it is reusable. */
  for (int round = 0; round < 2; round++) {
    const phrase_t *ph = &PHRASES[round];
    pcm_t a = speak(ph->said, 8000);
    assert_int_equal(tern_sphinx_begin(d, 8000), 0);
    assert_int_equal(tern_sphinx_begin(d, 8000), TERN_ESTATE);
    for (size_t off = 0; off < a.n; off += 160) /* 20 ms frames */
      assert_int_equal(tern_sphinx_feed(d, a.s + off, a.n - off < 160 ? a.n - off : 160), 0);
    char *partial = NULL;
    assert_int_equal(tern_sphinx_partial(d, &partial), 0);
    tern_free(partial);
    tern_sphinx_result_t r;
    assert_int_equal(tern_sphinx_end(d, &r), 0);
    print_message("8 kHz streamed '%s' -> '%s'\n", ph->said, r.text);
    check_heard(ph, &r);
    tern_sphinx_result_free(&r);
    free(a.s);
  }
  assert_int_equal(tern_sphinx_end(d, &(tern_sphinx_result_t){0}), TERN_ESTATE);
  tern_sphinx_release(d);
}

static void test_silence_gives_empty_text(void **state) {
  (void)state;
  int16_t *z = calloc(16000, sizeof *z);
  tern_sphinx_result_t r;
  assert_int_equal(tern_sphinx_decode(g_pool, z, 16000, 16000, &r), 0);
  assert_non_null(r.text);
  assert_int_equal(r.text[0], '\0');
  assert_true(r.confidence == 0.0);
  tern_sphinx_result_free(&r);
  free(z);
  assert_int_equal(tern_sphinx_decode(g_pool, NULL, 0, 16000, &r), 0);
  tern_sphinx_result_free(&r);
  assert_int_equal(tern_sphinx_decode(g_pool, NULL, 0, 100, &r), TERN_EINVAL);
}

/* ---- the pool's bound ---------------------------------------------------- */

typedef struct waiter {
  tern_sphinx_decoder_t *got;
  atomic_int done;
  int rc;
} waiter_t;

static void *wait_for_decoder(void *arg) {
  waiter_t *w = arg;
  w->rc = tern_sphinx_acquire(g_pool, &w->got);
  atomic_store(&w->done, 1);
  return NULL;
}

static void test_pool_bound_busy_and_wait(void **state) {
  (void)state;
  tern_sphinx_decoder_t *a = NULL, *b = NULL, *c = NULL;
  assert_int_equal(tern_sphinx_try_acquire(g_pool, &a), 0);
  assert_int_equal(tern_sphinx_try_acquire(g_pool, &b), 0);
  assert_ptr_not_equal(a, b);
  /* All two are out: the non-blocking borrow says so at once. */
  assert_int_equal(tern_sphinx_try_acquire(g_pool, &c), TERN_EBUSY);
  assert_null(c);
  int created, borrowed, waiting;
  tern_sphinx_pool_stats(g_pool, &created, &borrowed, &waiting);
  assert_int_equal(created, 2);
  assert_int_equal(borrowed, 2);

  /* A blocking borrower waits until one comes back. */
  waiter_t w = {0};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, wait_for_decoder, &w), 0);
  do {
    sched_yield();
    tern_sphinx_pool_stats(g_pool, NULL, NULL, &waiting);
  } while (waiting == 0);
  assert_int_equal(atomic_load(&w.done), 0);
  tern_sphinx_release(b);
  pthread_join(th, NULL);
  assert_int_equal(w.rc, 0);
  assert_ptr_equal(w.got, b); /* the one just returned, no third decoder */
  tern_sphinx_pool_stats(g_pool, &created, &borrowed, &waiting);
  assert_int_equal(created, 2);
  assert_int_equal(borrowed, 2);
  assert_int_equal(waiting, 0);
  tern_sphinx_release(w.got);
  tern_sphinx_release(a);
  tern_sphinx_pool_stats(g_pool, NULL, &borrowed, NULL);
  assert_int_equal(borrowed, 0);
}

static atomic_int g_in_use, g_max_in_use;

static void *churn(void *arg) {
  (void)arg;
  for (int i = 0; i < 200; i++) {
    tern_sphinx_decoder_t *d = NULL;
    if (tern_sphinx_acquire(g_pool, &d))
      return (void *)1;
    int now = atomic_fetch_add(&g_in_use, 1) + 1;
    int m = atomic_load(&g_max_in_use);
    while (now > m && !atomic_compare_exchange_weak(&g_max_in_use, &m, now))
      ;
    sched_yield();
    atomic_fetch_sub(&g_in_use, 1);
    tern_sphinx_release(d);
  }
  return NULL;
}

static void test_pool_never_exceeds_max(void **state) {
  (void)state;
  pthread_t th[6];
  for (int i = 0; i < 6; i++)
    assert_int_equal(pthread_create(&th[i], NULL, churn, NULL), 0);
  for (int i = 0; i < 6; i++) {
    void *ret = NULL;
    pthread_join(th[i], &ret);
    assert_null(ret);
  }
  assert_true(atomic_load(&g_max_in_use) <= 2);
  int created;
  tern_sphinx_pool_stats(g_pool, &created, NULL, NULL);
  assert_int_equal(created, 2);
}

/* ---- configuration ------------------------------------------------------- */

static void test_grammar_and_config_errors(void **state) {
  (void)state;
  const char *gram = tu_tmp_path("cmd.gram");
  const char *g = "#JSGF V1.0;\ngrammar cmd;\npublic <cmd> = hello world | what is the weather "
                  "| what time is it | goodbye;\n";
  assert_int_equal(tu_write_file(gram, g, strlen(g)), 0);
  char err[256];
  tern_sphinx_pool_t *p = NULL;
  tern_sphinx_config_t cfg = {.jsgf = gram, .max_decoders = 1};
  assert_int_equal(tern_sphinx_pool_create(&cfg, &p, err, sizeof err), 0);
  pcm_t a = speak("what is the weather", 16000);
  tern_sphinx_result_t r;
  assert_int_equal(tern_sphinx_decode(p, a.s, a.n, 16000, &r), 0);
  assert_string_equal(r.text, "what is the weather");
  tern_sphinx_result_free(&r);
  free(a.s);
  tern_sphinx_pool_destroy(p);

  tern_sphinx_config_t missing = {.hmm = "/nonexistent/model"};
  assert_int_equal(tern_sphinx_pool_create(&missing, &p, err, sizeof err), TERN_ENOENT);
  assert_null(p);
  assert_non_null(strstr(err, "/nonexistent/model"));

  tern_sphinx_config_t both = {.jsgf = gram, .keyphrase = "hello"};
  assert_int_equal(tern_sphinx_pool_create(&both, &p, err, sizeof err), TERN_EINVAL);
  tern_sphinx_config_t many = {.max_decoders = 1000};
  assert_int_equal(tern_sphinx_pool_create(&many, &p, err, sizeof err), TERN_EINVAL);

  const char *bad = tu_tmp_path("bad.gram");
  assert_int_equal(tu_write_file(bad, "this is not jsgf", 16), 0);
  tern_sphinx_config_t badg = {.jsgf = bad};
  assert_int_equal(tern_sphinx_pool_create(&badg, &p, err, sizeof err), TERN_ECONFIG);
  assert_null(p);
  assert_non_null(strstr(err, "JSGF"));
}

/* The offline demo's loop: flite speaks the caller's lines, pocketsphinx
 * hears them, and the default script picks the right rule. */
static void test_loopback_reaches_the_right_rule(void **state) {
  (void)state;
  static const struct {
    const char *said, *rule, *arg;
  } lines[] = {
      {"hello there", "greeting", NULL},
      {"what is the weather in london", "weather", "london"},
      {"what time is it", "time", NULL},
      {"book a meeting for tomorrow at ten", "meeting", "tomorrow"},
      {"goodbye", "goodbye", NULL},
  };
  char err[256];
  tern_script_t *script = NULL;
  assert_int_equal(tern_script_load_file(tu_src_path("examples/scripted/default.rules"), &script,
                                         err, sizeof err),
                   0);
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
    pcm_t a = speak(lines[i].said, 16000);
    tern_sphinx_result_t r;
    assert_int_equal(tern_sphinx_decode(g_pool, a.s, a.n, 16000, &r), 0);
    tern_chat_t *chat = NULL;
    assert_int_equal(tern_chat_create(&chat), 0);
    assert_int_equal(tern_chat_add(chat, TERN_ROLE_USER, r.text), 0);
    tern_script_reply_t reply;
    assert_int_equal(tern_script_respond(script, chat, &reply), 0);
    print_message("said '%s' -> heard '%s' -> rule %s %s\n", lines[i].said, r.text, reply.rule,
                  reply.arguments ? reply.arguments : "");
    if (strcmp(reply.rule, lines[i].rule))
      fail_msg("said '%s', heard '%s', answered by '%s'", lines[i].said, r.text, reply.rule);
    if (lines[i].arg)
      assert_non_null(strstr(reply.arguments, lines[i].arg));
    tern_script_reply_free(&reply);
    tern_chat_destroy(chat);
    tern_sphinx_result_free(&r);
    free(a.s);
  }
  tern_script_free(script);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hears_flite_at_16k),
      cmocka_unit_test(test_hears_8k_audio_streamed),
      cmocka_unit_test(test_silence_gives_empty_text),
      cmocka_unit_test(test_pool_bound_busy_and_wait),
      cmocka_unit_test(test_pool_never_exceeds_max),
      cmocka_unit_test(test_grammar_and_config_errors),
      cmocka_unit_test(test_loopback_reaches_the_right_rule),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
