/* Quality analysis of a mono PCM16 buffer.
 *
 * Levels are in dBFS relative to a full-scale square wave (RMS 32768), so a
 * full-scale sine reads -3.01 dBFS RMS and 0 dBFS peak. Digital silence has
 * no finite level; it reads TERN_ANALYZE_FLOOR_DB. Frame figures use 20 ms
 * frames (a trailing partial frame counts as a frame).
 */
#ifndef TERN_ANALYZE_H
#define TERN_ANALYZE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct json_t; /* jansson */

#define TERN_ANALYZE_FLOOR_DB (-120.0)

typedef struct tern_analyze_opts {
  double silence_dbfs; /* a frame quieter than this is silent; default -50 */
  int clip_level;      /* |sample| >= this counts as clipped; default 32580 (-0.05 dBFS) */
} tern_analyze_opts_t;

#define TERN_ANALYZE_OPTS_DEFAULT                                                                  \
  { -50.0, 32580 }

typedef struct tern_analysis {
  uint32_t sample_rate;
  size_t samples;
  size_t frames; /* 20 ms frames analysed */
  double duration_s;
  double rms_dbfs;        /* whole buffer */
  double peak_dbfs;       /* largest |sample| */
  double active_rms_dbfs; /* over non-silent frames only (the speech level) */
  double clipping_pct;    /* % of samples at or near full scale */
  double silence_pct;     /* % of frames below silence_dbfs */
  double snr_db;          /* 90th minus 10th percentile of frame levels */
  double dc_offset;       /* mean sample, as a fraction of full scale (-1..1) */
  double score;           /* 0 (unusable) .. 1 (clean); see analyze.c */
} tern_analysis_t;

/* Analyses n mono samples at `rate` Hz (n may be 0). opts may be NULL.
 * Allocates a scratch array of frame levels; TERN_ENOMEM if that fails. */
int tern_analyze_pcm(const int16_t *pcm, size_t n, uint32_t rate, const tern_analyze_opts_t *opts,
                     tern_analysis_t *out /* OUT */);

/* A new JSON object with the figures (rounded for display): duration_s,
 * rms_dbfs, peak_dbfs, clipping_pct, silence_pct, snr_db, dc_offset, score.
 * The caller owns *out (json_decref). */
int tern_analysis_json(const tern_analysis_t *a, struct json_t **out /* OUT */);

#ifdef __cplusplus
}
#endif
#endif
