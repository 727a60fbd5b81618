/* Sample ring and time arithmetic. */
#include "testutil.h"

#include <string.h>

#include "tern/alloc.h"
#include "tern/audio.h"
#include "tern/error.h"

static void test_time_helpers(void **state) {
  (void)state;
  assert_int_equal(tern_audio_samples_per_20ms(16000), 320);
  assert_int_equal(tern_audio_samples_per_20ms(8000), 160);
  assert_int_equal(tern_audio_samples_per_20ms(48000), 960);
  assert_int_equal(tern_audio_samples_per_20ms(44100), 882);
  assert_int_equal(tern_audio_usec(320, 16000), 20000);
  assert_int_equal(tern_audio_usec(1, 44100), 22);
  assert_int_equal(tern_audio_usec(16000ull * 3600 * 24 * 365, 16000), TERN_SEC(3600ll * 24 * 365));
  assert_int_equal(tern_audio_usec(5, 0), 0);
  assert_int_equal(tern_audio_samples(TERN_MS(20), 16000), 320);
  assert_int_equal(tern_audio_samples(TERN_SEC(10) + 500, 16000), 160008);
  assert_int_equal(tern_audio_samples(-5, 16000), 0);
}

static void test_fifo_order_across_wrap(void **state) {
  (void)state;
  tern_ring_t r;
  assert_int_equal(tern_ring_init(&r, 5), 0);
  int16_t in[4] = {1, 2, 3, 4}, out[8];
  size_t n;
  assert_int_equal(tern_ring_write(&r, in, 3, &n), 0);
  assert_int_equal(tern_ring_read(&r, out, 2, &n), 0);
  assert_int_equal(n, 2);
  assert_int_equal(out[0], 1);
  assert_int_equal(out[1], 2);
  /* head is at 2: the next four wrap around the end */
  assert_int_equal(tern_ring_write(&r, in, 4, &n), 0);
  assert_int_equal(tern_ring_len(&r), 5);
  assert_int_equal(tern_ring_space(&r), 0);
  assert_int_equal(tern_ring_write(&r, in, 1, &n), TERN_EBUSY);
  assert_int_equal(n, 0);
  assert_int_equal(tern_ring_peek(&r, out, 8, &n), 0);
  assert_int_equal(n, 5);
  const int16_t want[] = {3, 1, 2, 3, 4};
  assert_memory_equal(out, want, sizeof want);
  assert_int_equal(tern_ring_read(&r, NULL, 2, &n), 0); /* discard */
  assert_int_equal(tern_ring_read(&r, out, 8, &n), 0);
  assert_int_equal(n, 3);
  assert_memory_equal(out, want + 2, 3 * sizeof *out);
  assert_int_equal(tern_ring_len(&r), 0);
  tern_ring_free(&r);
}

static void test_partial_write_and_overwrite(void **state) {
  (void)state;
  int16_t store[4];
  tern_ring_t r;
  assert_int_equal(tern_ring_init_with(&r, store, 4), 0);
  int16_t in[6] = {10, 11, 12, 13, 14, 15}, out[6];
  size_t n, dropped;
  assert_int_equal(tern_ring_write(&r, in, 6, &n), TERN_EBUSY);
  assert_int_equal(n, 4);
  assert_int_equal(tern_ring_write_overwrite(&r, in + 4, 2, &dropped), 0);
  assert_int_equal(dropped, 2);
  tern_ring_read(&r, out, 6, &n);
  const int16_t want[] = {12, 13, 14, 15};
  assert_int_equal(n, 4);
  assert_memory_equal(out, want, sizeof want);
  /* more than the capacity at once keeps the newest samples */
  tern_ring_write(&r, in, 1, NULL);
  assert_int_equal(tern_ring_write_overwrite(&r, in, 6, &dropped), 0);
  assert_int_equal(dropped, 3);
  tern_ring_read(&r, out, 6, &n);
  assert_memory_equal(out, want, sizeof want);
  tern_ring_clear(&r);
  assert_int_equal(tern_ring_len(&r), 0);
  tern_ring_free(&r); /* borrowed storage is left alone */
  assert_int_equal(tern_ring_init(&r, 0), TERN_EINVAL);
}

static void test_steady_state_does_not_allocate(void **state) {
  (void)state;
  tern_ring_t r;
  assert_int_equal(tern_ring_init(&r, 960 * 3), 0);
  int16_t frame[320] = {0}, out[320];
  long before = tern_alloc_count();
  for (int i = 0; i < 1000; i++) {
    size_t n;
    tern_ring_write_overwrite(&r, frame, 320, NULL);
    tern_ring_read(&r, out, 160, &n);
  }
  assert_int_equal(tern_alloc_count(), before);
  tern_ring_free(&r);
}

static int sweep(void *ctx) {
  (void)ctx;
  tern_ring_t r;
  int rc = tern_ring_init(&r, 100);
  if (rc)
    return rc;
  tern_ring_free(&r);
  return 0;
}

static void test_alloc_sweep(void **state) {
  (void)state;
  assert_int_equal(tu_alloc_sweep(sweep, NULL), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_time_helpers),
      cmocka_unit_test(test_fifo_order_across_wrap),
      cmocka_unit_test(test_partial_write_and_overwrite),
      cmocka_unit_test(test_steady_state_does_not_allocate),
      cmocka_unit_test(test_alloc_sweep),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
