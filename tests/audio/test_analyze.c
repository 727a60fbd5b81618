/* Quality analysis: each figure on a signal whose answer is known, and a
 * score that orders clean > noisy > clipped > silent. */
#include "testutil.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/analyze.h"
#include "tern/error.h"
#include "tern/rand.h"

#define RATE 16000
#define N (RATE * 4)

static int16_t sig[N];

static int16_t clip16(double v) {
  return (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : lrint(v));
}

/* Four seconds: 0.5 s of noise, 1 s of tone, 0.5 s noise, 1 s tone, 1 s noise
 * (speech-like: signal with pauses). amp is the tone's peak, noise_amp the
 * uniform noise's peak; square makes the tone a square wave. */
static void make(double amp, double noise_amp, int square) {
  tern_rand_t r;
  tern_rand_seed(&r, 7);
  for (size_t i = 0; i < N; i++) {
    double t = (double)i / RATE;
    int on = (t >= 0.5 && t < 1.5) || (t >= 2.0 && t < 3.0);
    double s = sin(2 * M_PI * 300 * t);
    if (square)
      s = s >= 0 ? 1 : -1;
    double noise = noise_amp * (2 * tern_rand_double(&r) - 1);
    sig[i] = clip16((on ? amp * s : 0) + noise);
  }
}

static tern_analysis_t run(void) {
  tern_analysis_t a;
  assert_int_equal(tern_analyze_pcm(sig, N, RATE, NULL, &a), 0);
  return a;
}

static void test_silence(void **state) {
  (void)state;
  memset(sig, 0, sizeof sig);
  tern_analysis_t a = run();
  assert_true(a.silence_pct == 100.0);
  assert_true(a.rms_dbfs == TERN_ANALYZE_FLOOR_DB);
  assert_true(a.peak_dbfs == TERN_ANALYZE_FLOOR_DB);
  assert_true(a.snr_db == 0);
  assert_true(a.score < 0.05);
  assert_true(fabs(a.duration_s - 4.0) < 1e-9);
  assert_int_equal(a.frames, 200);

  /* an empty buffer is analysable and scores nothing */
  assert_int_equal(tern_analyze_pcm(NULL, 0, RATE, NULL, &a), 0);
  assert_true(a.duration_s == 0 && a.score == 0 && a.silence_pct == 100.0);
}

static void test_levels_of_known_signals(void **state) {
  (void)state;
  for (size_t i = 0; i < N; i++)
    sig[i] = clip16(32767 * sin(2 * M_PI * 1000 * (double)i / RATE));
  tern_analysis_t a = run();
  assert_true(fabs(a.rms_dbfs - -3.01) < 0.05);
  assert_true(fabs(a.peak_dbfs) < 0.01);
  assert_true(a.silence_pct == 0);
  assert_true(fabs(a.dc_offset) < 1e-4);

  /* -20 dBFS square, offset by +10 % of full scale */
  for (size_t i = 0; i < N; i++)
    sig[i] = (int16_t)(3277 + (i % 32 < 16 ? 3277 : -3277));
  a = run();
  assert_true(fabs(a.dc_offset - 0.1) < 0.001);
  assert_true(a.clipping_pct == 0);
}

static void test_clean_tone_has_high_snr_and_score(void **state) {
  (void)state;
  make(8000, 10, 0); /* tone at about -12 dBFS, noise floor about -75 dBFS */
  tern_analysis_t a = run();
  assert_true(a.snr_db > 50);
  assert_true(a.clipping_pct == 0);
  assert_true(a.silence_pct > 40 && a.silence_pct < 60);
  assert_true(a.score > 0.9);
}

static void test_noisy_tone_has_middling_snr(void **state) {
  (void)state;
  make(8000, 2000, 0); /* noise about 12 dB under the tone */
  tern_analysis_t a = run();
  assert_true(a.snr_db > 8 && a.snr_db < 20);
  assert_true(a.score > 0.1 && a.score < 0.7);
}

static void test_clipped_square_is_flagged(void **state) {
  (void)state;
  make(40000, 10, 1); /* a square driven past full scale */
  tern_analysis_t a = run();
  assert_true(a.clipping_pct > 40);
  assert_true(a.score < 0.05);
}

static void test_score_order(void **state) {
  (void)state;
  make(8000, 10, 0);
  double clean = run().score;
  make(8000, 2000, 0);
  double noisy = run().score;
  make(40000, 10, 1);
  double clipped = run().score;
  memset(sig, 0, sizeof sig);
  double silent = run().score;
  assert_true(clean > noisy);
  assert_true(noisy > clipped);
  assert_true(clipped >= silent);
  /* quiet speech scores lower than the same speech at a healthy level */
  make(250, 0.5, 0);
  double quiet = run().score;
  assert_true(quiet < clean);
}

static void test_json(void **state) {
  (void)state;
  make(8000, 10, 0);
  tern_analysis_t a = run();
  json_t *o;
  assert_int_equal(tern_analysis_json(&a, &o), 0);
  const char *keys[] = {"duration_s",  "rms_dbfs", "peak_dbfs", "clipping_pct",
                        "silence_pct", "snr_db",   "dc_offset", "score"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    assert_true(json_is_real(json_object_get(o, keys[i])));
  assert_true(json_real_value(json_object_get(o, "duration_s")) == 4.0);
  assert_true(fabs(json_real_value(json_object_get(o, "score")) - a.score) < 0.001);
  json_decref(o);
  assert_int_equal(tern_analysis_json(NULL, &o), TERN_EINVAL);
}

static int sweep(void *ctx) {
  (void)ctx;
  tern_analysis_t a;
  int rc = tern_analyze_pcm(sig, 3200, RATE, NULL, &a);
  if (rc)
    return rc;
  json_t *o;
  rc = tern_analysis_json(&a, &o);
  json_decref(o);
  return rc;
}

static void test_alloc_sweep(void **state) {
  (void)state;
  make(8000, 10, 0);
  assert_true(tu_alloc_sweep(sweep, NULL) >= 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_silence),
      cmocka_unit_test(test_levels_of_known_signals),
      cmocka_unit_test(test_clean_tone_has_high_snr_and_score),
      cmocka_unit_test(test_noisy_tone_has_middling_snr),
      cmocka_unit_test(test_clipped_square_is_flagged),
      cmocka_unit_test(test_score_order),
      cmocka_unit_test(test_json),
      cmocka_unit_test(test_alloc_sweep),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
