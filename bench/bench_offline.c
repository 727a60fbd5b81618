/* The offline engines' speed and memory: pocketsphinx hears, flite and
 * espeak-ng speak.
 *
 * pocketsphinx: real-time factor (decode time / audio duration, lower is
 * faster) of examples/audio/sample.wav decoded whole, and of the
 * utterances of examples/audio/caller.wav (cut by tern's energy VAD, with
 * 200 ms of context either side, as a session hands them over), plus the
 * time to load the model and the process's resident memory with it loaded
 * (VmRSS growth and VmHWM from /proc/self/status).
 * flite (kal16, slt) and espeak-ng (en-us): five typical agent replies at
 * 16 kHz: seconds of audio produced per second of CPU ("x real time") and
 * the time from the call to the first chunk of audio.
 * And the VADs that run on every caller frame: CPU per 20 ms frame.
 *
 * Timings are medians of R rounds after one warm-up (model and voices
 * loaded). Run from the repository root, or give the audio directory.
 * Usage: bench_offline [rounds] [audio-dir]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tern/alloc.h"
#include "tern/audio.h"
#include "tern/error.h"
#include "tern/espeak_tts.h"
#include "tern/flite_tts.h"
#include "tern/sphinx.h"
#include "tern/vad.h"
#include "tern/wav.h"

#define RATE 16000
#define MAX_ROUNDS 51

static double mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A field of /proc/self/status in KiB ("VmRSS", "VmHWM"), -1 if absent. */
static long status_kib(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f)
    return -1;
  char line[256];
  long v = -1;
  size_t n = strlen(field);
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, field, n) && line[n] == ':') {
      v = atol(line + n + 1);
      break;
    }
  fclose(f);
  return v;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof v[0], cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what, int rc, const char *detail) {
  fprintf(stderr, "bench_offline: %s: %s%s%s\n", what, tern_strerror(rc), detail ? ": " : "",
          detail ? detail : "");
  exit(1);
}

static void load_wav(const char *dir, const char *name, tern_wav_t *w) {
  char path[1024], err[256] = "";
  snprintf(path, sizeof path, "%s/%s", dir, name);
  tern_wav_opts_t o = {.downmix = 1};
  int rc = tern_wav_read_file(path, &o, w, err, sizeof err);
  if (rc)
    die(path, rc, err);
  if (w->sample_rate != RATE)
    die(path, TERN_EINVAL, "expected 16 kHz audio");
}

/* ---- pocketsphinx -------------------------------------------------------- */

/* Wall seconds of one decode; its CPU seconds are added to *cpu. */
static double decode_s(tern_sphinx_pool_t *pool, const int16_t *pcm, size_t n, char **text,
                       double *cpu) {
  tern_sphinx_result_t r;
  double c0 = cpu_s(), t0 = mono_s();
  int rc = tern_sphinx_decode(pool, pcm, n, RATE, &r);
  double t = mono_s() - t0;
  *cpu += cpu_s() - c0;
  if (rc)
    die("decode", rc, NULL);
  if (text) {
    tern_free(*text);
    *text = tern_strdup(r.text);
  }
  tern_sphinx_result_free(&r);
  return t;
}

static void bench_sphinx(const char *dir, int rounds) {
  long rss0 = status_kib("VmRSS");
  tern_sphinx_config_t cfg = {.max_decoders = 1};
  tern_sphinx_pool_t *pool;
  char err[256] = "";
  double t0 = mono_s();
  int rc = tern_sphinx_pool_create(&cfg, &pool, err, sizeof err);
  double load = mono_s() - t0;
  if (rc)
    die("pocketsphinx", rc, err);
  long rss1 = status_kib("VmRSS");

  tern_wav_t sample, caller;
  load_wav(dir, "sample.wav", &sample);
  load_wav(dir, "caller.wav", &caller);

  /* caller.wav's utterances, as the energy VAD cuts them */
  tern_vad_energy_t vad;
  tern_vad_energy_init(&vad, NULL);
  tern_vad_segment_t *segs;
  size_t nseg;
  rc = tern_vad_segments(&vad.base, NULL, caller.samples, caller.frames, RATE, &segs, &nseg);
  if (rc || nseg == 0)
    die("segmenting caller.wav", rc ? rc : TERN_EINVAL, "no utterances");
  const uint64_t pad = RATE / 5;
  double utt_audio = 0;
  for (size_t i = 0; i < nseg; i++) {
    segs[i].start = segs[i].start > pad ? segs[i].start - pad : 0;
    segs[i].end = segs[i].end + pad < caller.frames ? segs[i].end + pad : caller.frames;
    utt_audio += (double)(segs[i].end - segs[i].start) / RATE;
  }

  char *hyp = NULL;
  double ignore = 0;
  decode_s(pool, sample.samples, sample.frames, NULL, &ignore); /* warm-up */
  double ts[MAX_ROUNDS], tc[MAX_ROUNDS], cs[MAX_ROUNDS], cc[MAX_ROUNDS], worst = 0;
  for (int r = 0; r < rounds; r++) {
    cs[r] = cc[r] = 0;
    ts[r] = decode_s(pool, sample.samples, sample.frames, &hyp, &cs[r]);
    tc[r] = 0;
    for (size_t i = 0; i < nseg; i++) {
      size_t n = (size_t)(segs[i].end - segs[i].start);
      double t = decode_s(pool, caller.samples + segs[i].start, n, NULL, &cc[r]);
      double rtf = t / ((double)n / RATE);
      if (rtf > worst)
        worst = rtf;
      tc[r] += t;
    }
  }
  double sample_dur = (double)sample.frames / RATE;
  double ms = median(ts, rounds), mc = median(tc, rounds);
  double mcs = median(cs, rounds), mcc = median(cc, rounds);
  long rss2 = status_kib("VmRSS"), hwm = status_kib("VmHWM");

  printf("## pocketsphinx (en-us, full dictionary, one decoder), median of %d rounds\n", rounds);
  printf("%-36s %8s %9s %9s %8s %8s\n", "audio", "audio s", "decode s", "cpu s", "RTF", "RTF cpu");
  printf("%-36s %8.2f %9.3f %9.3f %8.3f %8.3f\n", "sample.wav, whole", sample_dur, ms, mcs,
         ms / sample_dur, mcs / sample_dur);
  char label[64];
  snprintf(label, sizeof label, "caller.wav, %zu utterances (sum)", nseg);
  printf("%-36s %8.2f %9.3f %9.3f %8.3f %8.3f\n", label, utt_audio, mc, mcc, mc / utt_audio,
         mcc / utt_audio);
  printf("RTF = wall decode time / audio time; RTF cpu = the decoding thread's CPU time / audio "
         "time\nslowest single utterance RTF (wall, any round): %.3f;  ANCHORS: 0.07-0.15\n",
         worst);
  printf("sample.wav heard as: \"%s\"\n", hyp ? hyp : "");
  printf("model load %.2f s; RSS %.1f MiB before, %.1f MiB loaded (+%.1f), %.1f MiB after "
         "decoding; peak (VmHWM) %.1f MiB;  ANCHORS: ~104 MB\n\n",
         load, rss0 / 1024.0, rss1 / 1024.0, (rss1 - rss0) / 1024.0, rss2 / 1024.0, hwm / 1024.0);
  tern_free(hyp);
  tern_free(segs);
  tern_wav_free(&sample);
  tern_wav_free(&caller);
  tern_sphinx_pool_destroy(pool);
}

/* ---- text-to-speech ------------------------------------------------------ */

static const char *const k_replies[] = {
    "Hello! Thanks for calling. How can I help you today?",
    "Sure, I can help with that. Your order shipped yesterday and should arrive on Thursday.",
    "I'm sorry, I didn't catch that. Could you say it again?",
    "The weather in Paris is sunny and mild today, with a high of twenty one degrees.",
    "One moment while I look that up for you.",
};
#define N_REPLIES (sizeof k_replies / sizeof k_replies[0])

typedef struct {
  double t0, first;
  size_t samples;
} synth_t;

static int on_chunk(void *ud, const int16_t *pcm, size_t n) {
  synth_t *s = ud;
  (void)pcm;
  if (!s->samples)
    s->first = mono_s() - s->t0;
  s->samples += n;
  return 0;
}

typedef int (*synth_fn)(const char *text, const char *voice, int rate, tern_pcm_chunk_fn fn,
                        void *ud);

static void bench_tts(const char *name, synth_fn fn, const char *voice, int rounds) {
  synth_t s;
  for (size_t i = 0; i < N_REPLIES; i++) { /* warm-up: voice loaded */
    memset(&s, 0, sizeof s);
    int rc = fn(k_replies[i], voice, RATE, on_chunk, &s);
    if (rc)
      die(name, rc, NULL);
  }
  double xrt[MAX_ROUNDS], ttfc[MAX_ROUNDS];
  double audio = 0;
  for (int r = 0; r < rounds; r++) {
    double cpu = 0, first = 0;
    audio = 0;
    for (size_t i = 0; i < N_REPLIES; i++) {
      memset(&s, 0, sizeof s);
      double c0 = cpu_s();
      s.t0 = mono_s();
      fn(k_replies[i], voice, RATE, on_chunk, &s);
      cpu += cpu_s() - c0;
      first += s.first;
      audio += (double)s.samples / RATE;
    }
    xrt[r] = audio / cpu;
    ttfc[r] = first / N_REPLIES;
  }
  printf("%-16s %10.1f %14.0fx %16.2f\n", name, audio, median(xrt, rounds),
         median(ttfc, rounds) * 1e3);
}

/* ---- VAD per frame -------------------------------------------------------- */

static void bench_vad(const char *name, tern_vad_t *v, const char *dir) {
  tern_wav_t w;
  load_wav(dir, "caller.wav", &w);
  size_t fs = RATE / 50, frames = w.frames / fs;
  float prob;
  double best = 1e9;
  for (int r = 0; r < 5; r++) {
    tern_vad_reset(v);
    double c0 = cpu_s();
    for (size_t i = 0; i < frames; i++) {
      tern_frame_t f = {
          .samples = w.samples + i * fs, .count = fs, .sample_rate = RATE, .channels = 1};
      tern_vad_process(v, &f, &prob);
    }
    double per = (cpu_s() - c0) / (double)frames * 1e6;
    if (per < best)
      best = per;
  }
  printf("%-16s %12.2f\n", name, best);
  tern_wav_free(&w);
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 5;
  const char *dir = argc > 2 ? argv[2] : "examples/audio";
  if (rounds < 1 || rounds > MAX_ROUNDS) {
    fprintf(stderr, "usage: bench_offline [rounds<=%d] [audio-dir]\n", MAX_ROUNDS);
    return 2;
  }
  bench_sphinx(dir, rounds);

  printf("## text-to-speech: %zu agent replies at 16 kHz, median of %d rounds\n", N_REPLIES,
         rounds);
  printf("%-16s %10s %15s %16s\n", "engine", "audio s", "audio/CPU", "first chunk ms");
  bench_tts("flite kal16", tern_flite_synth, "kal16", rounds);
  bench_tts("flite slt", tern_flite_synth, "slt", rounds);
  if (tern_espeak_init() == 0)
    bench_tts("espeak-ng en-us", tern_espeak_synth, "en-us", rounds);
  else
    printf("%-16s (espeak-ng data missing: skipped)\n", "espeak-ng en-us");
  printf("ANCHORS: flite kal16 ~2,400x real time\n\n");

  printf("## VAD: CPU per 20 ms frame over caller.wav, best of 5\n");
  printf("%-16s %12s\n", "detector", "us/frame");
  tern_vad_energy_t ev;
  tern_vad_energy_init(&ev, NULL);
  bench_vad("energy", &ev.base, dir);
  tern_vad_t *wv;
  if (tern_vad_webrtc_create(RATE, TERN_VAD_WEBRTC_AGGRESSIVENESS, &wv) == 0) {
    bench_vad("webrtc", wv, dir);
    tern_vad_close(wv);
  }
  tern_vad_t *av;
  if (tern_vad_auto_create(RATE, TERN_VAD_WEBRTC_AGGRESSIVENESS, &av) == 0) {
    bench_vad("auto (webrtc+energy)", av, dir);
    tern_vad_close(av);
  }
  printf("ANCHORS: WebRTC VAD ~1.5 us per 20 ms frame\n");
  printf("\npeak RSS of the whole run (VmHWM): %.1f MiB\n", status_kib("VmHWM") / 1024.0);
  return 0;
}
