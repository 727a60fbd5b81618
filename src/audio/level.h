/* Internal to the audio layer: levels in dBFS, shared by analysis and VADs. */
#ifndef TERN_AUDIO_LEVEL_H
#define TERN_AUDIO_LEVEL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/analyze.h"

/* Sum of squares of n samples. */
static inline double tern__sumsq(const int16_t *s, size_t n) {
  double acc = 0;
  for (size_t i = 0; i < n; i++)
    acc += (double)s[i] * s[i];
  return acc;
}

/* Mean power (sum of squares / n) as dBFS against a full-scale square,
 * floored at TERN_ANALYZE_FLOOR_DB so silence stays a finite number. */
static inline double tern__power_dbfs(double mean_power) {
  double ref = 32768.0 * 32768.0;
  if (!(mean_power > ref * 1e-12))
    return TERN_ANALYZE_FLOOR_DB;
  double db = 10.0 * log10(mean_power / ref);
  return db < TERN_ANALYZE_FLOOR_DB ? TERN_ANALYZE_FLOOR_DB : db;
}

#endif
