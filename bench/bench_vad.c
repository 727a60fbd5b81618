/* Cost of one 20 ms frame through each VAD, on speech-like audio.
 *
 * energy:  the energy VAD alone
 * webrtc:  the WebRTC shim (two 10 ms blocks through the audio processing
 *          module's voice detector)
 * auto:    WebRTC inside the fallback VAD, with the energy VAD shadowing it
 *
 * The signal is 4 s of a 150 Hz pulse train with noise, long enough that
 * the detectors are past their warm-up. The best of R rounds of N frames
 * is reported in microseconds per frame. Usage: bench_vad [N] [R]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tern/error.h"
#include "tern/rand.h"
#include "tern/vad.h"

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static volatile float g_sink;

static double run(tern_vad_t *v, const int16_t *pcm, size_t frames, size_t fs, uint32_t rate,
                  long n, int rounds) {
  double best = 1e300;
  for (int r = 0; r < rounds; r++) {
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
      tern_frame_t f = {(int16_t *)pcm + (size_t)i % frames * fs, fs, rate, 1};
      float p = 0;
      tern_vad_process(v, &f, &p);
      g_sink += p;
    }
    double us = (now_ns() - t0) / 1000.0 / (double)n;
    if (us < best)
      best = us;
  }
  return best;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 50000;
  int rounds = argc > 2 ? atoi(argv[2]) : 5;
  static const uint32_t rates[] = {8000, 16000, 48000};
  printf("%-8s %8s %10s\n", "vad", "rate", "us/frame");
  for (size_t k = 0; k < sizeof rates / sizeof rates[0]; k++) {
    uint32_t rate = rates[k];
    size_t fs = rate / 50, frames = 200, len = fs * frames;
    int16_t *pcm = malloc(len * sizeof *pcm);
    tern_rand_t rng;
    tern_rand_seed(&rng, 1);
    for (size_t i = 0; i < len; i++) {
      double t = (double)i / rate;
      double pulse = fmod(t * 150.0, 1.0) < 0.1 ? 6000 : 0;
      double env = 0.5 + 0.5 * sin(2 * M_PI * 3 * t); /* syllable-rate envelope */
      pcm[i] = (int16_t)(pulse * env + (tern_rand_double(&rng) - 0.5) * 400);
    }
    static const tern_vad_kind_t kinds[] = {TERN_VAD_KIND_ENERGY, TERN_VAD_KIND_WEBRTC,
                                            TERN_VAD_KIND_AUTO};
    for (size_t j = 0; j < 3; j++) {
      tern_vad_t *v = NULL;
      int rc = tern_vad_create(kinds[j], rate, TERN_VAD_WEBRTC_AGGRESSIVENESS, &v);
      if (rc) {
        printf("%-8s %8u %10s (%s)\n", tern_vad_kind_name(kinds[j]), rate, "-", tern_err_name(rc));
        continue;
      }
      double us = run(v, pcm, frames, fs, rate, n, rounds);
      printf("%-8s %8u %10.2f\n", tern_vad_kind_name(kinds[j]), rate, us);
      tern_vad_close(v);
    }
    free(pcm);
  }
  return 0;
}
