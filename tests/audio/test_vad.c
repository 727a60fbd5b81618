/* VAD: the segmenter as a table of steps, and the energy detector on
 * synthetic audio whose speech boundaries are known to the sample. */
#include "testutil.h"

#include <math.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/rand.h"
#include "tern/vad.h"
#include "tern/wav.h"

#define RATE 16000
#define FS 320 /* 20 ms */

/* ---- segmenter, table-driven ----
 * Defaults at 16 kHz: min speech 100 ms = 1600 samples (5 frames), min
 * silence 550 ms = 8800 samples (27.5 frames, so the 28th ends it). */
typedef struct {
  float prob;
  int frames;  /* this many frames of `prob` */
  int ev;      /* event expected on the last of them (none on the others) */
  long sample; /* its sample, in frames */
} step_t;

static void run_steps(const step_t *steps, size_t n, int finish_ev, long finish_sample) {
  tern_vad_seg_t s;
  assert_int_equal(tern_vad_seg_init(&s, NULL, RATE), 0);
  long frame = 0;
  for (size_t i = 0; i < n; i++) {
    for (int k = 0; k < steps[i].frames; k++, frame++) {
      tern_vad_event_t ev;
      assert_int_equal(tern_vad_seg_push(&s, steps[i].prob, FS, &ev), 0);
      int want = k == steps[i].frames - 1 ? steps[i].ev : TERN_VAD_NONE;
      if ((int)ev.type != want)
        fail_msg("step %zu frame %ld: event %d, want %d", i, frame, ev.type, want);
      if (want != TERN_VAD_NONE) {
        assert_int_equal(ev.sample, steps[i].sample * FS);
        assert_int_equal(ev.decided_at, (frame + 1) * FS);
      }
    }
  }
  tern_vad_event_t ev;
  assert_int_equal(tern_vad_seg_finish(&s, &ev), 0);
  assert_int_equal(ev.type, finish_ev);
  if (finish_ev)
    assert_int_equal(ev.sample, finish_sample * FS);
}

static void test_segmenter_steps(void **state) {
  (void)state;
  const step_t a[] = {
      {0.0f, 3, TERN_VAD_NONE, 0},
      {0.9f, 4, TERN_VAD_NONE, 0},         /* 80 ms: too short to start */
      {0.1f, 1, TERN_VAD_NONE, 0},         /* breaks the run */
      {0.5f, 5, TERN_VAD_SPEECH_START, 8}, /* 100 ms at the threshold: starts, backdated */
      {0.2f, 27, TERN_VAD_NONE, 0},        /* 540 ms pause: still the same segment */
      {0.8f, 2, TERN_VAD_NONE, 0},
      {0.0f, 28, TERN_VAD_SPEECH_END, 42}, /* 560 ms: ends where the silence began */
      {0.0f, 10, TERN_VAD_NONE, 0},
      {1.0f, 5, TERN_VAD_SPEECH_START, 80},
      {1.0f, 3, TERN_VAD_NONE, 0},
  };
  run_steps(a, sizeof a / sizeof a[0], TERN_VAD_SPEECH_END, 88); /* open at the end */

  const step_t b[] = {
      {1.0f, 5, TERN_VAD_SPEECH_START, 0},
      {1.0f, 1, TERN_VAD_NONE, 0},
      {0.0f, 4, TERN_VAD_NONE, 0},
  };
  run_steps(b, 3, TERN_VAD_SPEECH_END, 6); /* ends where its trailing silence began */

  const step_t c[] = {{0.49f, 100, TERN_VAD_NONE, 0}};
  run_steps(c, 1, TERN_VAD_NONE, 0);
}

static void test_segmenter_options(void **state) {
  (void)state;
  tern_vad_seg_t s;
  tern_vad_seg_opts_t o = {0.7f, 0, 40};
  assert_int_equal(tern_vad_seg_init(&s, &o, 8000), 0); /* 160-sample frames */
  tern_vad_event_t ev;
  tern_vad_seg_push(&s, 0.69f, 160, &ev);
  assert_int_equal(ev.type, TERN_VAD_NONE);
  tern_vad_seg_push(&s, 0.7f, 160, &ev); /* no minimum: the first frame starts */
  assert_int_equal(ev.type, TERN_VAD_SPEECH_START);
  assert_int_equal(ev.sample, 160);
  tern_vad_seg_push(&s, 0.0f, 160, &ev);
  assert_int_equal(ev.type, TERN_VAD_NONE);
  tern_vad_seg_push(&s, 0.0f, 160, &ev); /* 40 ms = 320 samples */
  assert_int_equal(ev.type, TERN_VAD_SPEECH_END);
  assert_int_equal(ev.sample, 320);
  o.threshold = 0;
  assert_int_equal(tern_vad_seg_init(&s, &o, 8000), TERN_EINVAL);
  assert_int_equal(tern_vad_seg_init(&s, NULL, 0), TERN_EINVAL);
}

/* ---- energy VAD on synthetic audio ---- */
static int16_t sig[RATE * 20];

static void noise(int16_t *s, size_t n, double amp, tern_rand_t *r) {
  for (size_t i = 0; i < n; i++)
    s[i] = (int16_t)lrint(amp * (2 * tern_rand_double(r) - 1));
}

static void add_tone(int16_t *s, size_t from, size_t to, double amp) {
  for (size_t i = from; i < to; i++) {
    double v = s[i] + amp * sin(2 * M_PI * 220 * (double)i / RATE);
    s[i] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : lrint(v));
  }
}

static void segments(size_t n, tern_vad_segment_t **segs, size_t *count) {
  tern_vad_energy_t v;
  assert_int_equal(tern_vad_energy_init(&v, NULL), 0);
  assert_int_equal(tern_vad_segments(&v.base, NULL, sig, n, RATE, segs, count), 0);
}

static void near(uint64_t got, uint64_t want, uint64_t tol) {
  if ((got > want ? got - want : want - got) > tol)
    fail_msg("got sample %llu, want %llu +- %llu", (unsigned long long)got,
             (unsigned long long)want, (unsigned long long)tol);
}

static void test_tone_burst_is_one_segment(void **state) {
  (void)state;
  tern_rand_t r;
  tern_rand_seed(&r, 1);
  const size_t n = 3 * RATE;
  const double noise_amps[] = {0.0, 10.0, 300.0}; /* digital silence, -70 and -40 dBFS noise */
  for (size_t k = 0; k < 3; k++) {
    noise(sig, n, noise_amps[k], &r);
    add_tone(sig, 16100, 32050, 8000); /* not on frame boundaries */
    tern_vad_segment_t *segs;
    size_t count;
    segments(n, &segs, &count);
    if (count != 1)
      fail_msg("noise %g: %zu segments", noise_amps[k], count);
    near(segs[0].start, 16100, 2 * FS);
    near(segs[0].end, 32050, 2 * FS);
    tern_free(segs);
  }
}

static void test_short_click_is_not_speech(void **state) {
  (void)state;
  tern_rand_t r;
  tern_rand_seed(&r, 2);
  const size_t n = 2 * RATE;
  noise(sig, n, 10, &r);
  add_tone(sig, 8000, 8000 + 40 * RATE / 1000, 20000); /* 40 ms, loud */
  tern_vad_segment_t *segs;
  size_t count;
  segments(n, &segs, &count);
  assert_int_equal(count, 0);
  assert_null(segs);
}

static void test_pauses_shorter_than_min_silence_are_bridged(void **state) {
  (void)state;
  tern_rand_t r;
  tern_rand_seed(&r, 3);
  const size_t n = 4 * RATE;
  noise(sig, n, 10, &r);
  add_tone(sig, RATE / 2, RATE, 6000);                /* word */
  add_tone(sig, RATE + RATE / 4, 2 * RATE, 6000);     /* 250 ms pause, word */
  add_tone(sig, 3 * RATE, 3 * RATE + RATE / 2, 6000); /* 1 s pause: a new segment */
  tern_vad_segment_t *segs;
  size_t count;
  segments(n, &segs, &count);
  assert_int_equal(count, 2);
  near(segs[0].start, RATE / 2, 2 * FS);
  near(segs[0].end, 2 * RATE, 2 * FS);
  near(segs[1].start, 3 * RATE, 2 * FS);
  near(segs[1].end, 3 * RATE + RATE / 2, 2 * FS);
  tern_free(segs);
}

static void test_floor_follows_background(void **state) {
  (void)state;
  tern_rand_t r;
  tern_rand_seed(&r, 4);
  tern_vad_energy_t v;
  assert_int_equal(tern_vad_energy_init(&v, NULL), 0);
  assert_string_equal(v.base.vt->name, "energy");
  const size_t n = 20 * RATE;
  noise(sig, 2 * RATE, 10, &r);                  /* about -75 dBFS */
  noise(sig + 2 * RATE, n - 2 * RATE, 1000, &r); /* a fan starts: about -35 dBFS */
  float p = 0;
  double last_speech_s = 0;
  for (size_t off = 0; off + FS <= n; off += FS) {
    tern_frame_t f = {sig + off, FS, RATE, 1};
    assert_int_equal(tern_vad_process(&v.base, &f, &p), 0);
    if (p >= 0.5f)
      last_speech_s = (double)off / RATE;
    if (off == 2 * RATE - FS)
      assert_true(tern_vad_energy_floor(&v) < -70);
  }
  /* the step reads as speech at first, then becomes the new floor */
  assert_true(last_speech_s > 2.0 && last_speech_s < 10.0);
  assert_true(fabs(tern_vad_energy_floor(&v) - -35.2) < 3);
  assert_true(p < 0.5f);

  tern_vad_reset(&v.base);
  assert_true(tern_vad_energy_floor(&v) == -50.0);
  tern_vad_close(&v.base); /* no resources: a no-op */

  tern_vad_energy_opts_t bad = TERN_VAD_ENERGY_OPTS_DEFAULT;
  bad.stop_margin_db = 20;
  assert_int_equal(tern_vad_energy_init(&v, &bad), TERN_EINVAL);
  tern_frame_t f = {sig, FS, 0, 1};
  assert_int_equal(tern_vad_energy_init(&v, NULL), 0);
  assert_int_equal(tern_vad_process(&v.base, &f, &p), TERN_EINVAL);
}

static void test_shipped_sample_has_speech(void **state) {
  (void)state;
  tern_wav_t w;
  char err[256];
  int rc = tern_wav_read_file(tu_src_path("examples/audio/sample.wav"), NULL, &w, err, sizeof err);
  if (rc)
    fail_msg("sample.wav: %s", err);
  tern_vad_energy_t v;
  tern_vad_energy_init(&v, NULL);
  tern_vad_segment_t *segs;
  size_t count;
  assert_int_equal(
      tern_vad_segments(&v.base, NULL, w.samples, w.frames, w.sample_rate, &segs, &count), 0);
  assert_true(count >= 1 && count <= 3);
  uint64_t speech = 0;
  for (size_t i = 0; i < count; i++) {
    assert_true(segs[i].start < segs[i].end && segs[i].end <= w.frames);
    speech += segs[i].end - segs[i].start;
  }
  assert_true(speech > w.frames / 2); /* a sentence, mostly voiced */
  tern_free(segs);
  tern_wav_free(&w);
}

static int sweep(void *ctx) {
  (void)ctx;
  tern_vad_energy_t v;
  tern_vad_energy_init(&v, NULL);
  tern_vad_segment_t *segs;
  size_t count;
  int rc = tern_vad_segments(&v.base, NULL, sig, 4 * RATE, RATE, &segs, &count);
  tern_free(segs);
  return rc;
}

static void test_alloc_sweep(void **state) {
  (void)state;
  tern_rand_t r;
  tern_rand_seed(&r, 5);
  noise(sig, 4 * RATE, 10, &r);
  add_tone(sig, 2000, 10000, 5000);
  add_tone(sig, 30000, 40000, 5000);
  assert_true(tu_alloc_sweep(sweep, NULL) >= 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_segmenter_steps),
      cmocka_unit_test(test_segmenter_options),
      cmocka_unit_test(test_tone_burst_is_one_segment),
      cmocka_unit_test(test_short_click_is_not_speech),
      cmocka_unit_test(test_pauses_shorter_than_min_silence_are_bridged),
      cmocka_unit_test(test_floor_follows_background),
      cmocka_unit_test(test_shipped_sample_has_speech),
      cmocka_unit_test(test_alloc_sweep),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
