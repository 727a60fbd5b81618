/* espeak-ng synthesis core: audio of a plausible length at the requested
 * rate, streamed, cancellable, input bounded, unknown voices refused. */
#include "testutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tern/error.h"
#include "tern/espeak_tts.h"

typedef struct collect {
  size_t n;
  int chunks;
  int stop_after;
  int loud; /* any sample above a whisper */
} collect_t;

static int on_chunk(void *ud, const int16_t *pcm, size_t n) {
  collect_t *c = ud;
  c->chunks++;
  c->n += n;
  for (size_t i = 0; i < n; i++)
    if (pcm[i] > 1000 || pcm[i] < -1000)
      c->loud = 1;
  return c->stop_after && c->chunks >= c->stop_after;
}

static void test_speaks_at_requested_rate(void **state) {
  (void)state;
  assert_int_equal(tern_espeak_init(), 0);
  collect_t native = {0}, c16 = {0};
  assert_int_equal(tern_espeak_synth("Hello world.", NULL, 22050, on_chunk, &native), 0);
  assert_int_equal(tern_espeak_synth("Hello world.", NULL, 16000, on_chunk, &c16), 0);
  double secs = (double)c16.n / 16000;
  if (secs < 0.4 || secs > 3.0)
    fail_msg("'Hello world.' lasted %.2f s", secs);
  assert_true(c16.loud);
  /* The same duration at both rates. espeak-ng varies a few samples from
   * run to run, so within 1 %. */
  double expect = (double)native.n * 16000 / 22050;
  assert_true(c16.n > expect * 0.99 && c16.n < expect * 1.01);
}

static void test_streams_and_cancels(void **state) {
  (void)state;
  const char *text = "This is a longer sentence for espeak. It has two parts, and a pause.";
  collect_t all = {0};
  assert_int_equal(tern_espeak_synth(text, "en", 8000, on_chunk, &all), 0);
  assert_true(all.chunks > 3);
  collect_t part = {.stop_after = 1};
  assert_int_equal(tern_espeak_synth(text, NULL, 8000, on_chunk, &part), TERN_ECANCELED);
  assert_int_equal(part.chunks, 1);
  assert_true(part.n < all.n / 2);
  /* Cancelling leaves espeak usable. */
  collect_t again = {0};
  assert_int_equal(tern_espeak_synth(text, "en", 8000, on_chunk, &again), 0);
  assert_true(again.n > all.n * 0.99 && again.n < all.n * 1.01);
}

static void test_refusals(void **state) {
  (void)state;
  collect_t c = {0};
  char *big = malloc(TERN_ESPEAK_TEXT_MAX + 2);
  memset(big, 'b', TERN_ESPEAK_TEXT_MAX + 1);
  big[TERN_ESPEAK_TEXT_MAX + 1] = '\0';
  assert_int_equal(tern_espeak_synth(big, NULL, 16000, on_chunk, &c), TERN_ETOOBIG);
  free(big);
  assert_int_equal(tern_espeak_synth("hi", "no-such-voice-xx", 16000, on_chunk, &c), TERN_ENOENT);
  assert_int_equal(tern_espeak_synth("hi", NULL, 96000, on_chunk, &c), TERN_EINVAL);
  assert_int_equal(c.chunks, 0);
  /* The default voice still works after a refused one. */
  assert_int_equal(tern_espeak_synth("hi", NULL, 16000, on_chunk, &c), 0);
  assert_true(c.n > 0);
}

typedef struct job {
  collect_t out;
  int rc;
} job_t;

static void *synth_thread(void *arg) {
  job_t *j = arg;
  j->rc = tern_espeak_synth("Several threads speaking at once.", NULL, 16000, on_chunk, &j->out);
  return NULL;
}

static void test_threads_are_serialised_safely(void **state) {
  (void)state;
  job_t jobs[3] = {0};
  pthread_t th[3];
  for (int i = 0; i < 3; i++)
    assert_int_equal(pthread_create(&th[i], NULL, synth_thread, &jobs[i]), 0);
  for (int i = 0; i < 3; i++)
    pthread_join(th[i], NULL);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(jobs[i].rc, 0);
    assert_true(jobs[i].out.n > jobs[0].out.n * 0.99 && jobs[i].out.n < jobs[0].out.n * 1.01);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_speaks_at_requested_rate),
      cmocka_unit_test(test_streams_and_cancels),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_threads_are_serialised_safely),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
