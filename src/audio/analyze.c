/* Quality figures of a PCM16 buffer, for `tern analyze` and for checking
 * what a caller's microphone or a TTS voice actually delivers.
 *
 * The SNR is estimated without knowing which frames are speech: speech
 * audio always has pauses, so the quiet end of the frame-level distribution
 * (10th percentile) is the noise floor and the loud end (90th percentile) is
 * the speech. Audio with no pauses at all (a continuous tone, music) reads as
 * a low SNR; that is the estimator's known blind spot.
 *
 * Score, in 0..1, is a product of factors, so any single defect pulls it
 * down (a recording is as usable as its worst property):
 *   0 when there is no audio or every frame is silent; otherwise
 *   snr      clamp((snr_db - 3) / 27)           3 dB -> 0, 30 dB and above -> 1
 *   clipping clamp(1 - clipping_pct / 2)        2 % of samples clipped -> 0
 *   level    clamp((active_rms_dbfs + 50) / 20) speech at -30 dBFS or louder -> 1
 *   dc       1 - 0.5 * clamp((|dc| - 0.01) / 0.09)  an offset of 10 % halves it
 *   silence  1 - 0.5 * clamp((silence_pct - 80) / 20)  mostly-silent audio loses up to half
 * where clamp limits to 0..1.
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "audio/level.h"
#include "tern/alloc.h"
#include "tern/analyze.h"
#include "tern/audio.h"
#include "tern/error.h"

static double clamp01(double x) { return x < 0 ? 0 : x > 1 ? 1 : x; }

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double amp_dbfs(double amp) { return tern__power_dbfs(amp * amp); }

/* Nearest-rank percentile of a sorted array. */
static double pctile(const double *sorted, size_t n, double p) {
  return sorted[(size_t)floor(p * (double)(n - 1) + 0.5)];
}

int tern_analyze_pcm(const int16_t *pcm, size_t n, uint32_t rate, const tern_analyze_opts_t *opts,
                     tern_analysis_t *out) {
  if (!out || (!pcm && n) || rate == 0)
    return TERN_EINVAL;
  tern_analyze_opts_t o = TERN_ANALYZE_OPTS_DEFAULT;
  if (opts)
    o = *opts;
  memset(out, 0, sizeof *out);
  out->sample_rate = rate;
  out->samples = n;
  out->duration_s = (double)n / rate;
  out->rms_dbfs = out->peak_dbfs = out->active_rms_dbfs = TERN_ANALYZE_FLOOR_DB;
  out->silence_pct = 100.0;
  if (n == 0)
    return 0;

  size_t fs = tern_audio_samples_per_20ms(rate);
  if (fs == 0)
    fs = 1;
  size_t nf = (n + fs - 1) / fs;
  double *lv = tern_malloc(nf * sizeof *lv);
  if (!lv)
    return TERN_ENOMEM;

  double total_sq = 0, sum = 0, active_sq = 0;
  size_t active_n = 0, silent = 0, clipped = 0;
  int peak = 0;
  for (size_t f = 0; f < nf; f++) {
    const int16_t *s = pcm + f * fs;
    size_t k = f == nf - 1 ? n - f * fs : fs;
    double sq = tern__sumsq(s, k);
    for (size_t i = 0; i < k; i++) {
      int a = abs((int)s[i]);
      sum += s[i];
      if (a > peak)
        peak = a;
      if (a >= o.clip_level)
        clipped++;
    }
    total_sq += sq;
    lv[f] = tern__power_dbfs(sq / (double)k);
    if (lv[f] < o.silence_dbfs) {
      silent++;
    } else {
      active_sq += sq;
      active_n += k;
    }
  }
  out->frames = nf;
  out->rms_dbfs = tern__power_dbfs(total_sq / (double)n);
  out->peak_dbfs = amp_dbfs(peak);
  out->active_rms_dbfs =
      active_n ? tern__power_dbfs(active_sq / (double)active_n) : TERN_ANALYZE_FLOOR_DB;
  out->clipping_pct = 100.0 * (double)clipped / (double)n;
  out->silence_pct = 100.0 * (double)silent / (double)nf;
  out->dc_offset = sum / (double)n / 32768.0;

  qsort(lv, nf, sizeof *lv, cmp_double);
  double p10 = pctile(lv, nf, 0.10), p90 = pctile(lv, nf, 0.90);
  tern_free(lv);
  double snr = p90 < o.silence_dbfs ? 0.0 : p90 - p10;
  out->snr_db = snr < 0 ? 0 : snr > 100 ? 100 : snr;

  if (active_n == 0) {
    out->score = 0;
    return 0;
  }
  double snr_f = clamp01((out->snr_db - 3.0) / 27.0);
  double clip_f = clamp01(1.0 - out->clipping_pct / 2.0);
  double level_f = clamp01((out->active_rms_dbfs + 50.0) / 20.0);
  double dc_f = 1.0 - 0.5 * clamp01((fabs(out->dc_offset) - 0.01) / 0.09);
  double sil_f = 1.0 - 0.5 * clamp01((out->silence_pct - 80.0) / 20.0);
  out->score = snr_f * clip_f * level_f * dc_f * sil_f;
  return 0;
}

static double round_to(double x, double unit) { return round(x / unit) * unit; }

int tern_analysis_json(const tern_analysis_t *a, json_t **out) {
  if (!out)
    return TERN_EINVAL;
  *out = NULL;
  if (!a)
    return TERN_EINVAL;
  json_t *o = json_object();
  if (!o)
    return TERN_ENOMEM;
  struct {
    const char *k;
    double v, unit;
  } f[] = {
      {"duration_s", a->duration_s, 0.001},  {"rms_dbfs", a->rms_dbfs, 0.01},
      {"peak_dbfs", a->peak_dbfs, 0.01},     {"clipping_pct", a->clipping_pct, 0.001},
      {"silence_pct", a->silence_pct, 0.01}, {"snr_db", a->snr_db, 0.01},
      {"dc_offset", a->dc_offset, 0.000001}, {"score", a->score, 0.001},
  };
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
    double v = round_to(f[i].v, f[i].unit);
    if (v == 0)
      v = 0; /* no "-0.0" */
    if (json_object_set_new(o, f[i].k, json_real(v)) != 0) {
      json_decref(o);
      return TERN_ENOMEM;
    }
  }
  *out = o;
  return 0;
}
