/* flite synthesis core: audio of a plausible length at every session rate,
 * streamed in several chunks, cancellable, input cleaned and bounded, and
 * safe to call from several threads at once. */
#include "testutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "provider/tts_text.h"
#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/flite_tts.h"

typedef struct collect {
  int16_t *pcm;
  size_t n, cap;
  int chunks;
  size_t first_chunk;
  int stop_after; /* stop once this many chunks came (0: never) */
} collect_t;

static int on_chunk(void *ud, const int16_t *pcm, size_t n) {
  collect_t *c = ud;
  if (c->chunks == 0)
    c->first_chunk = n;
  c->chunks++;
  if (c->n + n > c->cap) {
    c->cap = (c->n + n) * 2;
    c->pcm = realloc(c->pcm, c->cap * sizeof *c->pcm);
    assert_non_null(c->pcm);
  }
  memcpy(c->pcm + c->n, pcm, n * sizeof *pcm);
  c->n += n;
  return c->stop_after && c->chunks >= c->stop_after;
}

static double peak(const collect_t *c) {
  int m = 0;
  for (size_t i = 0; i < c->n; i++)
    if (abs(c->pcm[i]) > m)
      m = abs(c->pcm[i]);
  return m / 32768.0;
}

static void test_rates_and_length(void **state) {
  (void)state;
  static const int rates[] = {8000, 16000, 24000, 48000};
  size_t n16 = 0;
  for (size_t i = 0; i < 4; i++) {
    collect_t c = {0};
    assert_int_equal(tern_flite_synth("Hello world.", NULL, rates[i], on_chunk, &c), 0);
    double secs = (double)c.n / rates[i];
    if (secs < 0.5 || secs > 3.0)
      fail_msg("'Hello world.' at %d Hz lasted %.2f s", rates[i], secs);
    assert_true(peak(&c) > 0.05); /* not silence */
    if (rates[i] == 16000)
      n16 = c.n;
    free(c.pcm);
  }
  /* The same speech at 48 kHz is exactly three times the samples. */
  collect_t c48 = {0};
  assert_int_equal(tern_flite_synth("Hello world.", NULL, 48000, on_chunk, &c48), 0);
  assert_true(c48.n >= 3 * n16 - 3 && c48.n <= 3 * n16 + 3);
  free(c48.pcm);
}

static const char LONG_TEXT[] =
    "The weather in London is sunny today. Tomorrow it will rain in the afternoon, "
    "so take an umbrella. Your meeting is booked for ten o'clock.";

static void test_streams_in_chunks_and_cancels(void **state) {
  (void)state;
  collect_t c = {0};
  assert_int_equal(tern_flite_synth(LONG_TEXT, "kal16", 16000, on_chunk, &c), 0);
  assert_true(c.chunks > 3);
  /* The first chunk is a small part of the answer: audio starts early. */
  assert_true(c.first_chunk * 10 < c.n);
  size_t full = c.n;
  free(c.pcm);

  collect_t s = {.stop_after = 2};
  assert_int_equal(tern_flite_synth(LONG_TEXT, NULL, 16000, on_chunk, &s), TERN_ECANCELED);
  assert_int_equal(s.chunks, 2);
  assert_true(s.n < full / 2);
  free(s.pcm);
}

static void test_voices(void **state) {
  (void)state;
  assert_int_equal(tern_flite_voice_check(NULL), 0);
  assert_int_equal(tern_flite_voice_check("slt"), 0);
  assert_int_equal(tern_flite_voice_check("darth"), TERN_ENOENT);
  collect_t c = {0};
  assert_int_equal(tern_flite_synth("Good morning.", "slt", 16000, on_chunk, &c), 0);
  assert_true(c.n > 16000 / 4);
  free(c.pcm);
  collect_t d = {0};
  assert_int_equal(tern_flite_synth("Good morning.", "darth", 16000, on_chunk, &d), TERN_ENOENT);
  assert_int_equal(d.chunks, 0);
}

static void test_input_cleaned_and_bounded(void **state) {
  (void)state;
  collect_t a = {0}, b = {0};
  assert_int_equal(tern_flite_synth("hello world", NULL, 16000, on_chunk, &a), 0);
  assert_int_equal(tern_flite_synth("hel\x01lo\x1b wor\x7fld\xc2\x85", NULL, 16000, on_chunk, &b),
                   0);
  /* Control characters are not spoken: the same words, the same audio. */
  assert_int_equal(a.n, b.n);
  assert_memory_equal(a.pcm, b.pcm, a.n * sizeof *a.pcm);
  free(a.pcm);
  free(b.pcm);

  char *big = malloc(TERN_FLITE_TEXT_MAX + 2);
  memset(big, 'a', TERN_FLITE_TEXT_MAX + 1);
  big[TERN_FLITE_TEXT_MAX + 1] = '\0';
  collect_t c = {0};
  assert_int_equal(tern_flite_synth(big, NULL, 16000, on_chunk, &c), TERN_ETOOBIG);
  assert_int_equal(c.chunks, 0);
  free(big);

  assert_int_equal(tern_flite_synth("hi", NULL, 4000, on_chunk, &c), TERN_EINVAL);
  assert_int_equal(tern_flite_synth(NULL, NULL, 16000, on_chunk, &c), TERN_EINVAL);
  /* Nothing to say is not an error, and gives no audio. */
  assert_int_equal(tern_flite_synth(" ... \n", NULL, 16000, on_chunk, &c), 0);
  assert_int_equal(c.n, 0);
}

static void test_text_helpers(void **state) {
  (void)state;
  char *out = NULL;
  assert_int_equal(tern__tts_clean("a\tb\nc\x02" "d", 100, &out), 0);
  assert_string_equal(out, "a b cd");
  tern_free(out);
  assert_int_equal(tern__tts_clean("abcdef", 5, &out), TERN_ETOOBIG);
  assert_null(out);

  const char *s = "Hello there. How are you? Fine, thanks";
  size_t n = tern__tts_phrase_len(s);
  assert_int_equal(n, strlen("Hello there."));
  n += tern__tts_phrase_len(s + n);
  assert_int_equal(n, strlen("Hello there. How are you?"));
  assert_int_equal(tern__tts_phrase_len("It costs 3.5 pounds."), strlen("It costs 3.5 pounds."));

  /* A run with no break is cut at a character boundary, never inside one. */
  char word[1000];
  size_t k = 0;
  while (k + 2 < sizeof word - 1) {
    word[k++] = (char)0xc3;
    word[k++] = (char)0xa9;
  }
  word[k] = '\0';
  size_t cut = tern__tts_phrase_len(word);
  assert_true(cut > 0 && cut < k);
  assert_int_equal(cut % 2, 0);

  assert_false(tern__tts_has_words(" .,! ", 5));
  assert_true(tern__tts_has_words(" a ", 3));
}

typedef struct job {
  const char *text;
  collect_t out;
  int rc;
} job_t;

static void *synth_thread(void *arg) {
  job_t *j = arg;
  j->rc = tern_flite_synth(j->text, NULL, 24000, on_chunk, &j->out);
  return NULL;
}

static void test_concurrent_synthesis_matches_sequential(void **state) {
  (void)state;
  job_t jobs[4] = {{.text = LONG_TEXT}, {.text = "What time is it?"}, {.text = LONG_TEXT},
                   {.text = "Goodbye."}};
  pthread_t th[4];
  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&th[i], NULL, synth_thread, &jobs[i]), 0);
  for (int i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(jobs[i].rc, 0);
    collect_t ref = {0};
    assert_int_equal(tern_flite_synth(jobs[i].text, NULL, 24000, on_chunk, &ref), 0);
    assert_int_equal(ref.n, jobs[i].out.n);
    assert_memory_equal(ref.pcm, jobs[i].out.pcm, ref.n * sizeof *ref.pcm);
    free(ref.pcm);
    free(jobs[i].out.pcm);
  }
}

static int g_sweep_chunks;
static int count_chunk(void *ud, const int16_t *pcm, size_t n) {
  (void)ud;
  (void)pcm;
  (void)n;
  g_sweep_chunks++;
  return 0;
}

static int sweep_synth(void *ctx) {
  (void)ctx;
  return tern_flite_synth("Hi there. Bye.", NULL, 8000, count_chunk, NULL);
}

static void test_alloc_sweep(void **state) {
  (void)state;
  tern_flite_voice_check(NULL); /* load the voice outside the sweep */
  assert_true(tu_alloc_sweep(sweep_synth, NULL) > 0);
  assert_true(g_sweep_chunks > 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rates_and_length),
      cmocka_unit_test(test_streams_in_chunks_and_cancels),
      cmocka_unit_test(test_voices),
      cmocka_unit_test(test_input_cleaned_and_bounded),
      cmocka_unit_test(test_text_helpers),
      cmocka_unit_test(test_concurrent_synthesis_matches_sequential),
      cmocka_unit_test(test_alloc_sweep),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
