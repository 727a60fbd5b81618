/* Resampler: a tone survives a round trip, chunked streaming equals one
 * shot, and the output length is exact. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/resample.h"

static void tone(int16_t *s, size_t n, double hz, uint32_t rate, double amp) {
  for (size_t i = 0; i < n; i++)
    s[i] = (int16_t)lrint(amp * sin(2 * M_PI * hz * (double)i / rate));
}

static double rms(const int16_t *s, size_t n) {
  double acc = 0;
  for (size_t i = 0; i < n; i++)
    acc += (double)s[i] * s[i];
  return sqrt(acc / (double)n);
}

/* Rising zero crossings per second over s[0..n). */
static double freq(const int16_t *s, size_t n, uint32_t rate) {
  size_t first = 0, last = 0, count = 0;
  for (size_t i = 1; i < n; i++)
    if (s[i - 1] < 0 && s[i] >= 0) {
      if (!count)
        first = i;
      last = i;
      count++;
    }
  return count > 1 ? (double)(count - 1) * rate / (double)(last - first) : 0;
}

static void test_tone_round_trip(void **state) {
  (void)state;
  enum { N = 16000 };
  static int16_t in[N];
  tone(in, N, 440, 16000, 10000);
  int16_t *down, *up;
  size_t nd, nu;
  assert_int_equal(tern_resample_buffer(in, N, 16000, 8000, -1, &down, &nd), 0);
  assert_int_equal(nd, 8000);
  assert_int_equal(tern_resample_buffer(down, nd, 8000, 16000, -1, &up, &nu), 0);
  assert_int_equal(nu, 16000);
  /* away from the edges, where the filter sees silence beyond the buffer */
  double f8 = freq(down + 400, 7200, 8000), f16 = freq(up + 800, 14400, 16000);
  assert_true(fabs(f8 - 440) < 1.0);
  assert_true(fabs(f16 - 440) < 1.0);
  double r0 = rms(in + 800, 14400), r1 = rms(up + 800, 14400);
  assert_true(fabs(20 * log10(r1 / r0)) < 0.5);
  /* time alignment: the round trip is the original, not a delayed copy */
  double diff = 0;
  for (size_t i = 800; i < 15200; i++)
    diff += fabs((double)up[i] - in[i]);
  assert_true(diff / 14400 < 300); /* mean error under 3 % of the amplitude */
  tern_free(down);
  tern_free(up);
}

static void test_removes_content_above_nyquist(void **state) {
  (void)state;
  /* a 6 kHz tone cannot exist at 8 kHz: it must be filtered, not aliased */
  enum { N = 16000 };
  static int16_t in[N];
  tone(in, N, 6000, 16000, 10000);
  int16_t *down;
  size_t nd;
  assert_int_equal(tern_resample_buffer(in, N, 16000, 8000, 4, &down, &nd), 0);
  assert_true(rms(down + 400, 7200) < 10000 / sqrt(2) * 0.05); /* at least 26 dB down */
  tern_free(down);
}

static void stream_equals_one_shot(uint32_t from, uint32_t to, int quality) {
  enum { N = 9000 };
  static int16_t in[N];
  for (size_t i = 0; i < N; i++)
    in[i] = (int16_t)lrint(8000 * sin(i * 0.05) + 3000 * sin(i * 0.31));
  int16_t *ref;
  size_t nref;
  assert_int_equal(tern_resample_buffer(in, N, from, to, quality, &ref, &nref), 0);
  assert_int_equal(nref, ((uint64_t)N * to + from - 1) / from);

  tern_resampler_t *r;
  assert_int_equal(tern_resampler_new(from, to, quality, &r), 0);
  static int16_t out[3 * N];
  size_t total = 0;
  const size_t chunks[] = {160, 7, 333, 1, 1000, 320};
  size_t off = 0;
  for (int c = 0; off < N; c++) {
    size_t k = chunks[c % 6];
    if (k > N - off)
      k = N - off;
    size_t used, made;
    size_t cap = tern_resampler_out_max(r, k);
    assert_int_equal(tern_resampler_process(r, in + off, k, &used, out + total, cap, &made), 0);
    assert_int_equal(used, k); /* out_max is enough to take every sample */
    off += used;
    total += made;
  }
  size_t tail;
  assert_int_equal(tern_resampler_pending(r) + total, nref);
  assert_int_equal(tern_resampler_flush(r, out + total, sizeof out / 2 - total, &tail), 0);
  total += tail;
  assert_int_equal(total, nref);
  assert_memory_equal(out, ref, nref * sizeof *ref);

  /* flush reset the stream: the same input again gives the same output */
  size_t used, made;
  assert_int_equal(tern_resampler_process(r, in, N, &used, out, sizeof out / 2, &made), 0);
  assert_int_equal(tern_resampler_flush(r, out + made, sizeof out / 2 - made, &tail), 0);
  assert_int_equal(made + tail, nref);
  assert_memory_equal(out, ref, nref * sizeof *ref);
  tern_resampler_free(r);
  tern_free(ref);
}

static void test_streaming_equals_one_shot(void **state) {
  (void)state;
  stream_equals_one_shot(16000, 8000, -1);
  stream_equals_one_shot(8000, 16000, 3);
  stream_equals_one_shot(48000, 16000, 5);
  stream_equals_one_shot(22050, 16000, 4);
  stream_equals_one_shot(16000, 16000, 4);
}

static void test_flush_into_small_buffer(void **state) {
  (void)state;
  int16_t in[800], out[3000];
  tone(in, 800, 300, 16000, 5000);
  tern_resampler_t *r;
  assert_int_equal(tern_resampler_new(16000, 48000, 4, &r), 0);
  size_t used, made, tail, more;
  assert_int_equal(tern_resampler_process(r, in, 800, &used, out, 3000, &made), 0);
  assert_int_equal(used, 800);
  size_t pending = tern_resampler_pending(r);
  assert_true(pending > 2);
  assert_int_equal(tern_resampler_flush(r, out + made, 2, &tail), TERN_EBUSY);
  assert_int_equal(tail, 2);
  assert_int_equal(tern_resampler_flush(r, out + made + 2, 3000 - made - 2, &more), 0);
  assert_int_equal(made + tail + more, 2400);
  tern_resampler_free(r);
}

static void test_rejects_bad_arguments(void **state) {
  (void)state;
  tern_resampler_t *r = (tern_resampler_t *)1;
  assert_int_equal(tern_resampler_new(0, 16000, 4, &r), TERN_EINVAL);
  assert_null(r);
  assert_int_equal(tern_resampler_new(16000, 1000000, 4, &r), TERN_EINVAL);
  assert_int_equal(tern_resampler_new(16000, 8000, 11, &r), TERN_EINVAL);
  int16_t *out;
  size_t n;
  assert_int_equal(tern_resample_buffer(NULL, 0, 16000, 8000, 4, &out, &n), 0);
  assert_null(out);
  assert_int_equal(n, 0);
}

static int sweep_one_shot(void *ctx) {
  (void)ctx;
  int16_t in[320];
  tone(in, 320, 440, 16000, 1000);
  int16_t *out;
  size_t n;
  int rc = tern_resample_buffer(in, 320, 16000, 8000, 4, &out, &n);
  if (rc)
    return rc;
  tern_free(out);
  return n == 160 ? 0 : TERN_EFORMAT;
}

static void test_alloc_sweep(void **state) {
  (void)state;
  assert_int_equal(tu_alloc_sweep(sweep_one_shot, NULL), 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tone_round_trip),
      cmocka_unit_test(test_removes_content_above_nyquist),
      cmocka_unit_test(test_streaming_equals_one_shot),
      cmocka_unit_test(test_flush_into_small_buffer),
      cmocka_unit_test(test_rejects_bad_arguments),
      cmocka_unit_test(test_alloc_sweep),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
