/* WebRTC VAD and the best-available VAD with its energy fallback: speech in
 * a real recording is heard at every supported rate, silence and low noise
 * are not, and when WebRTC cannot start or fails mid-stream an energy VAD
 * with an adapted noise floor takes over and says so once. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/log.h"
#include "tern/rand.h"
#include "tern/resample.h"
#include "tern/vad.h"
#include "tern/wav.h"

#define RATE 16000
#define FS 320 /* 20 ms */

static tern_wav_t g_sample; /* examples/audio/sample.wav, 16 kHz mono */

static int load_sample(void **state) {
  (void)state;
  tern_wav_opts_t o = {1, 0};
  char err[128];
  return tern_wav_read_file(tu_src_path("examples/audio/sample.wav"), &o, &g_sample, err,
                            sizeof err);
}

static int free_sample(void **state) {
  (void)state;
  tern_wav_free(&g_sample);
  return 0;
}

/* White noise at `dbfs` RMS, deterministic. */
static int16_t *noise(size_t n, double dbfs, uint64_t seed) {
  int16_t *p = malloc(n * sizeof *p);
  tern_rand_t r;
  tern_rand_seed(&r, seed);
  double amp = 32768.0 * pow(10.0, dbfs / 20.0) * sqrt(3.0);
  for (size_t i = 0; i < n; i++)
    p[i] = (int16_t)((tern_rand_double(&r) * 2 - 1) * amp);
  return p;
}

/* Speech frames (prob >= 0.5) in pcm, in 20 ms frames. */
static int speech_frames(tern_vad_t *v, const int16_t *pcm, size_t n, uint32_t rate) {
  size_t fs = tern_audio_samples_per_20ms(rate);
  int count = 0;
  for (size_t off = 0; off + fs <= n; off += fs) {
    tern_frame_t f = {(int16_t *)pcm + off, fs, rate, 1};
    float p = -1;
    assert_int_equal(tern_vad_process(v, &f, &p), 0);
    assert_true(p >= 0.0f && p <= 1.0f);
    count += p >= 0.5f;
  }
  return count;
}

/* Speech in sample.wav starts ~0.22 s in (the level jumps from -65 to
 * -46 dBFS there) and runs to the end of the file, 3.58 s. */
static void assert_hears_sample(tern_vad_t *v, const int16_t *pcm, size_t n, uint32_t rate) {
  tern_vad_segment_t *segs = NULL;
  size_t count = 0;
  assert_int_equal(tern_vad_segments(v, NULL, pcm, n, rate, &segs, &count), 0);
  assert_true(count >= 1);
  uint64_t total = 0;
  for (size_t i = 0; i < count; i++)
    total += segs[i].end - segs[i].start;
  double start_s = (double)segs[0].start / rate;
  if (start_s < 0.12 || start_s > 0.45)
    fail_msg("speech starts at %.3f s", start_s);
  if ((double)total / rate < 2.5)
    fail_msg("only %.2f s of speech", (double)total / rate);
  tern_free(segs);
}

static void test_webrtc_hears_speech(void **state) {
  (void)state;
  tern_vad_t *v = NULL;
  assert_int_equal(tern_vad_webrtc_create(RATE, TERN_VAD_WEBRTC_AGGRESSIVENESS, &v), 0);
  assert_string_equal(v->vt->name, "webrtc");
  assert_hears_sample(v, g_sample.samples, g_sample.frames, RATE);
  tern_vad_close(v);
}

static void test_webrtc_every_rate(void **state) {
  (void)state;
  static const uint32_t rates[] = {8000, 32000, 48000};
  for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
    int16_t *pcm = NULL;
    size_t n = 0;
    assert_int_equal(
        tern_resample_buffer(g_sample.samples, g_sample.frames, RATE, rates[i], -1, &pcm, &n), 0);
    for (int a = 0; a <= 3; a++) {
      tern_vad_t *v = NULL;
      assert_int_equal(tern_vad_webrtc_create(rates[i], a, &v), 0);
      assert_hears_sample(v, pcm, n, rates[i]);
      tern_vad_close(v);
    }
    tern_free(pcm);
  }
}

static void test_webrtc_silence_and_low_noise(void **state) {
  (void)state;
  size_t n = RATE * 3;
  int16_t *zero = calloc(n, sizeof *zero);
  int16_t *hiss = noise(n, -60, 1);
  int16_t *low = noise(n, -50, 2);
  for (int a = 0; a <= 3; a++) {
    tern_vad_t *v = NULL;
    assert_int_equal(tern_vad_webrtc_create(RATE, a, &v), 0);
    assert_int_equal(speech_frames(v, zero, n, RATE), 0);
    tern_vad_reset(v);
    /* The first frames after a reset are where the unadapted detector
     * would call hiss speech: reset before each signal to cover them. */
    assert_int_equal(speech_frames(v, hiss, n, RATE), 0);
    tern_vad_reset(v);
    assert_int_equal(speech_frames(v, low, n, RATE), 0);
    tern_vad_close(v);
  }
  free(zero);
  free(hiss);
  free(low);
}

/* A frame that is not a whole number of 10 ms blocks: the rest waits for
 * the next frame, so every block is judged once, in order. The probability
 * of a call is the share of voiced blocks it completed (the last decision
 * when it completed none). */
static void test_webrtc_odd_frame_lengths(void **state) {
  (void)state;
  const size_t blk = RATE / 100;
  size_t nblocks = g_sample.frames / blk;
  float *d = malloc(nblocks * sizeof *d);
  tern_vad_t *v = NULL;
  assert_int_equal(tern_vad_webrtc_create(RATE, 1, &v), 0);
  int voiced = 0;
  for (size_t b = 0; b < nblocks; b++) {
    tern_frame_t f = {g_sample.samples + b * blk, blk, RATE, 1};
    assert_int_equal(tern_vad_process(v, &f, &d[b]), 0);
    assert_true(d[b] == 0.0f || d[b] == 1.0f);
    voiced += d[b] == 1.0f;
  }
  assert_true(voiced > (int)nblocks / 2);

  tern_vad_reset(v);
  const size_t chunk = 112; /* 7 ms */
  size_t done = 0;          /* blocks completed so far */
  float last = 0;
  for (size_t off = 0; off + chunk <= nblocks * blk; off += chunk) {
    tern_frame_t f = {g_sample.samples + off, chunk, RATE, 1};
    float p = -1;
    assert_int_equal(tern_vad_process(v, &f, &p), 0);
    size_t now_done = (off + chunk) / blk;
    if (now_done > done) {
      float sum = 0;
      for (size_t b = done; b < now_done; b++)
        sum += d[b];
      last = sum / (float)(now_done - done);
      done = now_done;
    }
    assert_float_equal(p, last, 1e-6);
  }
  tern_vad_close(v);
  free(d);
}

static void test_webrtc_refuses(void **state) {
  (void)state;
  tern_vad_t *v = (tern_vad_t *)&v;
  assert_int_equal(tern_vad_webrtc_create(11025, 2, &v), TERN_EUNSUPPORTED);
  assert_null(v);
  assert_int_equal(tern_vad_webrtc_create(24000, 2, &v), TERN_EUNSUPPORTED);
  assert_int_equal(tern_vad_webrtc_create(RATE, 4, &v), TERN_EINVAL);
  assert_int_equal(tern_vad_webrtc_create(RATE, -1, &v), TERN_EINVAL);
  assert_int_equal(tern_vad_webrtc_create(RATE, 2, NULL), TERN_EINVAL);
  assert_int_equal(tern_vad_auto_create(RATE, 9, &v), TERN_EINVAL);

  /* A frame the detector was not started for is an error, not a guess. */
  assert_int_equal(tern_vad_webrtc_create(RATE, 2, &v), 0);
  int16_t pcm[160] = {0};
  tern_frame_t f8 = {pcm, 80, 8000, 1};
  tern_frame_t st = {pcm, 80, RATE, 2};
  float p = 1;
  assert_int_equal(tern_vad_process(v, &f8, &p), TERN_EUNSUPPORTED);
  assert_float_equal(p, 0, 0);
  assert_int_equal(tern_vad_process(v, &st, &p), TERN_EUNSUPPORTED);
  assert_int_equal(tern_vad_process(v, &f8, NULL), TERN_EINVAL);
  tern_vad_close(v);
}

static void test_kind_names(void **state) {
  (void)state;
  tern_vad_kind_t k;
  assert_int_equal(tern_vad_kind_parse("auto", &k), 0);
  assert_int_equal(k, TERN_VAD_KIND_AUTO);
  assert_int_equal(tern_vad_kind_parse("webrtc", &k), 0);
  assert_int_equal(k, TERN_VAD_KIND_WEBRTC);
  assert_int_equal(tern_vad_kind_parse("energy", &k), 0);
  assert_int_equal(k, TERN_VAD_KIND_ENERGY);
  assert_int_equal(tern_vad_kind_parse("silero", &k), TERN_EINVAL);
  assert_int_equal(tern_vad_kind_parse(NULL, &k), TERN_EINVAL);
  assert_string_equal(tern_vad_kind_name(TERN_VAD_KIND_WEBRTC), "webrtc");

  tern_vad_t *v = NULL;
  assert_int_equal(tern_vad_create(TERN_VAD_KIND_AUTO, RATE, 2, &v), 0);
  assert_string_equal(tern_vad_active_name(v), "webrtc");
  tern_vad_close(v);
  assert_int_equal(tern_vad_create(TERN_VAD_KIND_WEBRTC, RATE, 2, &v), 0);
  assert_string_equal(tern_vad_active_name(v), "webrtc");
  tern_vad_close(v);
  assert_int_equal(tern_vad_create(TERN_VAD_KIND_ENERGY, RATE, 2, &v), 0);
  assert_string_equal(tern_vad_active_name(v), "energy");
  assert_hears_sample(v, g_sample.samples, g_sample.frames, RATE);
  tern_vad_close(v);
  assert_int_equal(tern_vad_create(TERN_VAD_KIND_WEBRTC, 22050, 2, &v), TERN_EUNSUPPORTED);
  assert_null(v);
}

/* ---- the fallback ---- */

/* Captures log records. */
static int g_warnings, g_infos;
static void sink(const char *line, size_t len, void *ud) {
  (void)ud;
  /* A line is not NUL-terminated. */
  if (memmem(line, len, "\"vad_fallback\"", 14))
    g_warnings++;
  if (memmem(line, len, "\"vad_webrtc_unavailable\"", 24))
    g_infos++;
}

static void capture_logs(void) {
  g_warnings = g_infos = 0;
  tern_log_set_level(TERN_LOG_DEBUG);
  tern_log_set_sink(sink, NULL);
}

static void release_logs(void) {
  tern_log_set_sink(NULL, NULL);
  tern_log_set_level(TERN_LOG_INFO);
}

static void test_auto_falls_back_at_unsupported_rate(void **state) {
  (void)state;
  int16_t *pcm = NULL;
  size_t n = 0;
  assert_int_equal(
      tern_resample_buffer(g_sample.samples, g_sample.frames, RATE, 11025, -1, &pcm, &n), 0);
  capture_logs();
  tern_vad_t *v = NULL;
  assert_int_equal(tern_vad_auto_create(11025, 2, &v), 0);
  release_logs();
  assert_int_equal(g_infos, 1);
  assert_string_equal(tern_vad_active_name(v), "energy");
  assert_hears_sample(v, pcm, n, 11025);
  tern_vad_reset(v);
  int16_t *zero = calloc(11025, sizeof *zero);
  assert_int_equal(speech_frames(v, zero, 11025, 11025), 0);
  free(zero);
  tern_vad_close(v);
  tern_free(pcm);
}

/* A detector that answers 0.25 for `ok_frames` frames, then fails. */
typedef struct flaky {
  tern_vad_t base;
  int ok_frames, calls, resets;
  int *closed;
} flaky_t;

static int flaky_process(tern_vad_t *b, const tern_frame_t *f, float *p) {
  (void)f;
  flaky_t *v = (flaky_t *)b;
  if (v->calls++ >= v->ok_frames)
    return TERN_EPROVIDER;
  *p = 0.25f;
  return 0;
}
static void flaky_reset(tern_vad_t *b) { ((flaky_t *)b)->resets++; }
static void flaky_close(tern_vad_t *b) {
  flaky_t *v = (flaky_t *)b;
  (*v->closed)++;
  free(v);
}
static const tern_vad_vtable_t flaky_vt = {"flaky", flaky_process, flaky_reset, flaky_close};

static tern_vad_t *flaky_new(int ok_frames, int *closed) {
  flaky_t *v = calloc(1, sizeof *v);
  v->base.vt = &flaky_vt;
  v->ok_frames = ok_frames;
  v->closed = closed;
  return &v->base;
}

static void test_fallback_switches_once_mid_stream(void **state) {
  (void)state;
  /* Background noise loud enough that a cold energy VAD calls its first
   * frames speech (the floor starts at -50 dBFS and climbs 20 dB/s). */
  size_t n = RATE * 4;
  int16_t *bg = noise(n, -38, 7);
  tern_vad_energy_t cold;
  tern_vad_energy_init(&cold, NULL);
  assert_true(speech_frames(&cold.base, bg, FS * 5, RATE) > 0);

  int closed = 0;
  tern_vad_t *v = NULL;
  assert_int_equal(tern_vad_fallback_create(flaky_new(100, &closed), false, &v), 0);
  assert_string_equal(tern_vad_active_name(v), "flaky");
  capture_logs();
  /* 2 s of background through the working primary: its answers pass. */
  for (int i = 0; i < 100; i++) {
    tern_frame_t f = {bg + (size_t)i * FS, FS, RATE, 1};
    float p = 0;
    assert_int_equal(tern_vad_process(v, &f, &p), 0);
    assert_float_equal(p, 0.25f, 0);
  }
  assert_int_equal(g_warnings, 0);
  /* A caller's mistake is no reason to give up on the primary. */
  tern_frame_t bad = {NULL, FS, RATE, 1};
  float p = 0;
  assert_int_equal(tern_vad_process(v, &bad, &p), TERN_EINVAL);
  assert_int_equal(tern_vad_process(v, &bad, NULL), TERN_EINVAL);
  assert_string_equal(tern_vad_active_name(v), "flaky");
  /* The primary fails: the same background is still not speech, because
   * the energy VAD has been following it all along. */
  assert_int_equal(speech_frames(v, bg + 100 * FS, n - 100 * FS, RATE), 0);
  assert_string_equal(tern_vad_active_name(v), "energy");
  assert_int_equal(closed, 1);
  assert_int_equal(g_warnings, 1);
  /* For the rest of its life, reset included. */
  tern_vad_reset(v);
  assert_hears_sample(v, g_sample.samples, g_sample.frames, RATE);
  assert_string_equal(tern_vad_active_name(v), "energy");
  release_logs();
  assert_int_equal(g_warnings, 1);
  tern_vad_close(v);
  assert_int_equal(closed, 1);
  free(bg);
}

/* The real library failing mid-stream (here: a frame at a rate it was not
 * started for) leaves the auto VAD working on the energy VAD. */
static void test_auto_survives_webrtc_error(void **state) {
  (void)state;
  tern_vad_t *v = NULL;
  assert_int_equal(tern_vad_auto_create(RATE, 2, &v), 0);
  assert_string_equal(tern_vad_active_name(v), "webrtc");
  capture_logs();
  assert_true(speech_frames(v, g_sample.samples, g_sample.frames, RATE) > 50);
  int16_t pcm[FS] = {0};
  tern_frame_t odd = {pcm, FS, 8000, 1};
  float p = 1;
  assert_int_equal(tern_vad_process(v, &odd, &p), 0);
  assert_string_equal(tern_vad_active_name(v), "energy");
  assert_int_equal(g_warnings, 1);
  release_logs();
  assert_hears_sample(v, g_sample.samples, g_sample.frames, RATE);
  tern_vad_close(v);
}

/* A 1 s burst of a voiced buzz (a 250 Hz square at -12 dBFS) on faint
 * hiss, as the session simulator's caller speaks. */
static int16_t *buzz(size_t n, size_t from, size_t to) {
  int16_t *p = malloc(n * sizeof *p);
  for (size_t i = 0; i < n; i++)
    p[i] = i >= from && i < to ? (int16_t)((i / 32) % 2 ? 8000 : -8000)
                               : (int16_t)((long)(i * 7919) % 61 - 30);
  return p;
}

/* WebRTC keeps saying "voice" for ~100 ms after the voice stops; every
 * turn would end that much later. The auto VAD's energy gate ends the
 * speech where the signal fell back to the background. */
static void test_auto_ends_speech_without_webrtc_hangover(void **state) {
  (void)state;
  size_t n = RATE * 3, from = RATE, to = RATE * 2;
  int16_t *pcm = buzz(n, from, to);
  tern_vad_seg_opts_t so = TERN_VAD_SEG_OPTS_DEFAULT;
  tern_vad_segment_t *segs = NULL;
  size_t count = 0;
  tern_vad_t *w = NULL, *a = NULL;
  assert_int_equal(tern_vad_webrtc_create(RATE, TERN_VAD_WEBRTC_AGGRESSIVENESS, &w), 0);
  assert_int_equal(tern_vad_segments(w, &so, pcm, n, RATE, &segs, &count), 0);
  assert_int_equal(count, 1);
  assert_true(segs[0].end >= to + RATE * 60 / 1000); /* the hangover, measured */
  tern_free(segs);
  assert_int_equal(tern_vad_auto_create(RATE, TERN_VAD_WEBRTC_AGGRESSIVENESS, &a), 0);
  assert_int_equal(tern_vad_segments(a, &so, pcm, n, RATE, &segs, &count), 0);
  assert_int_equal(count, 1);
  assert_true(segs[0].start >= from && segs[0].start <= from + FS);
  assert_true(segs[0].end >= to && segs[0].end <= to + FS);
  tern_free(segs);
  tern_vad_close(w);
  tern_vad_close(a);
  free(pcm);
}

static void test_fallback_create_owns_primary(void **state) {
  (void)state;
  int closed = 0;
  assert_int_equal(tern_vad_fallback_create(flaky_new(1, &closed), false, NULL), TERN_EINVAL);
  assert_int_equal(closed, 1);
  tern_vad_t *v = NULL;
  assert_int_equal(tern_vad_fallback_create(NULL, false, &v), TERN_EINVAL);
  assert_null(v);
  tern_alloc_fail_after(0, 0);
  assert_int_equal(tern_vad_fallback_create(flaky_new(1, &closed), false, &v), TERN_ENOMEM);
  tern_alloc_fail_after(-1, 0);
  assert_int_equal(closed, 2);
  assert_null(v);
}

/* ---- out of memory ---- */

static int make_and_use(void *ctx) {
  tern_vad_kind_t kind = *(tern_vad_kind_t *)ctx;
  tern_vad_t *v = NULL;
  int rc = tern_vad_create(kind, RATE, 2, &v);
  if (rc)
    return rc;
  int16_t pcm[FS * 3] = {0};
  for (int i = 0; i < 3 && !rc; i++) {
    tern_frame_t f = {pcm + i * FS, FS, RATE, 1};
    float p;
    rc = tern_vad_process(v, &f, &p);
  }
  tern_vad_close(v);
  return rc;
}

static void test_alloc_sweep(void **state) {
  (void)state;
  tern_vad_kind_t kinds[] = {TERN_VAD_KIND_AUTO, TERN_VAD_KIND_WEBRTC, TERN_VAD_KIND_ENERGY};
  for (size_t i = 0; i < 3; i++)
    assert_true(tu_alloc_sweep(make_and_use, &kinds[i]) >= 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_webrtc_hears_speech),
      cmocka_unit_test(test_webrtc_every_rate),
      cmocka_unit_test(test_webrtc_silence_and_low_noise),
      cmocka_unit_test(test_webrtc_odd_frame_lengths),
      cmocka_unit_test(test_webrtc_refuses),
      cmocka_unit_test(test_kind_names),
      cmocka_unit_test(test_auto_falls_back_at_unsupported_rate),
      cmocka_unit_test(test_fallback_switches_once_mid_stream),
      cmocka_unit_test(test_auto_survives_webrtc_error),
      cmocka_unit_test(test_auto_ends_speech_without_webrtc_hangover),
      cmocka_unit_test(test_fallback_create_owns_primary),
      cmocka_unit_test(test_alloc_sweep),
  };
  return cmocka_run_group_tests(tests, load_sample, free_sample);
}
