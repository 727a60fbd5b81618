/* Backoff with jitter (see include/tern/backoff.h).
 *
 * Invariants: every delay returned lies in [0, cap] (decorrelated: in
 * [base, cap]); arithmetic is done in double and clamped before it is
 * turned back into an integer, so huge attempt numbers or a huge prev
 * saturate at cap instead of overflowing.
 */
#include "tern/backoff.h"

#include <math.h>
#include <string.h>

#include "tern/error.h"

static const char *const jitter_names[TERN_JITTER__COUNT] = {"none", "full", "equal",
                                                             "decorrelated"};

void tern_backoff_init_constant(tern_backoff_t *b, tern_usec_t delay) {
  tern_backoff_init_exponential(b, delay, 1.0, delay, TERN_JITTER_NONE);
}

void tern_backoff_init_exponential(tern_backoff_t *b, tern_usec_t base, double multiplier,
                                   tern_usec_t cap, tern_jitter_t jitter) {
  b->base = base;
  b->multiplier = multiplier;
  b->cap = cap;
  b->jitter = jitter;
}

int tern_backoff_validate(const tern_backoff_t *b) {
  if (!b || b->base < 0 || b->cap < b->base || !isfinite(b->multiplier) || b->multiplier < 1.0 ||
      (unsigned)b->jitter >= TERN_JITTER__COUNT)
    return TERN_EINVAL;
  return 0;
}

/* Clamp a double into [lo, hi] and convert; NaN gives hi (the safe side:
 * waiting the cap is never shorter than intended). */
static tern_usec_t clamp_usec(double v, tern_usec_t lo, tern_usec_t hi) {
  if (!(v < (double)hi))
    return hi;
  if (v < (double)lo)
    return lo;
  tern_usec_t r = (tern_usec_t)v;
  return r < lo ? lo : r > hi ? hi : r;
}

tern_usec_t tern_backoff_envelope(const tern_backoff_t *b, unsigned attempt) {
  if (tern_backoff_validate(b) != 0)
    return 0;
  /* pow() overflows to +inf for large attempts, which clamps to cap. */
  return clamp_usec((double)b->base * pow(b->multiplier, (double)attempt), 0, b->cap);
}

int tern_backoff_next(const tern_backoff_t *b, unsigned attempt, tern_usec_t prev, double draw,
                      tern_usec_t *out) {
  if (!out || tern_backoff_validate(b) != 0 || !(draw >= 0.0 && draw < 1.0))
    return TERN_EINVAL;
  double env = (double)tern_backoff_envelope(b, attempt);
  switch (b->jitter) {
  case TERN_JITTER_NONE:
    *out = (tern_usec_t)env;
    break;
  case TERN_JITTER_FULL:
    *out = clamp_usec(env * draw, 0, b->cap);
    break;
  case TERN_JITTER_EQUAL:
    *out = clamp_usec(env / 2.0 + env / 2.0 * draw, 0, b->cap);
    break;
  case TERN_JITTER_DECORRELATED: {
    double p = prev < b->base ? (double)b->base : (double)prev;
    double hi = p * 3.0;
    *out = clamp_usec((double)b->base + (hi - (double)b->base) * draw, b->base, b->cap);
    break;
  }
  default:
    return TERN_EINVAL;
  }
  return 0;
}

const char *tern_jitter_name(tern_jitter_t j) {
  return (unsigned)j < TERN_JITTER__COUNT ? jitter_names[j] : "unknown";
}

int tern_jitter_parse(const char *name, tern_jitter_t *out) {
  if (!name || !out)
    return TERN_EINVAL;
  for (int i = 0; i < TERN_JITTER__COUNT; i++) {
    if (strcmp(name, jitter_names[i]) == 0) {
      *out = (tern_jitter_t)i;
      return 0;
    }
  }
  return TERN_EINVAL;
}
