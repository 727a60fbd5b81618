/* Backoff delays between retries, with jitter.
 *
 * The envelope for retry n (n = 0 before the first retry) is
 * min(cap, base * multiplier^n); multiplier 1 gives a constant delay. The
 * jitter mode spreads the delay inside that envelope so that many callers
 * failing together do not come back together:
 *   NONE          the envelope itself
 *   FULL          uniform in [0, envelope)                 (AWS "full jitter")
 *   EQUAL         envelope/2 + uniform in [0, envelope/2)  (never shorter than half)
 *   DECORRELATED  min(cap, uniform in [base, 3 * prev)), prev the previous delay
 *                 (base before the first): ignores n, stays in [base, cap]
 * Pure: the random draw (a double in [0,1)) is an argument. Any attempt
 * number is safe: the envelope saturates at cap instead of overflowing.
 */
#ifndef TERN_BACKOFF_H
#define TERN_BACKOFF_H

#include "tern/clock.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tern_jitter {
  TERN_JITTER_NONE = 0,
  TERN_JITTER_FULL,
  TERN_JITTER_EQUAL,
  TERN_JITTER_DECORRELATED,
  TERN_JITTER__COUNT
} tern_jitter_t;

typedef struct tern_backoff {
  tern_usec_t base;  /* first envelope, >= 0 */
  double multiplier; /* growth per retry, finite and >= 1 */
  tern_usec_t cap;   /* no delay is longer, >= base */
  tern_jitter_t jitter;
} tern_backoff_t;

/* The same delay every time (jitter none). */
void tern_backoff_init_constant(tern_backoff_t *b, tern_usec_t delay);
void tern_backoff_init_exponential(tern_backoff_t *b, tern_usec_t base, double multiplier,
                                   tern_usec_t cap, tern_jitter_t jitter);
/* 0, or TERN_EINVAL when a field is out of its range. */
int tern_backoff_validate(const tern_backoff_t *b);

/* min(cap, base * multiplier^attempt), saturating. */
tern_usec_t tern_backoff_envelope(const tern_backoff_t *b, unsigned attempt);

/* The delay before retry `attempt` (0-based). prev: the delay returned for
 * the previous retry (decorrelated jitter only; 0 on the first). draw in
 * [0,1). Returns 0, or TERN_EINVAL for a bad backoff, draw or NULL out. */
int tern_backoff_next(const tern_backoff_t *b, unsigned attempt, tern_usec_t prev, double draw,
                      tern_usec_t *out);

/* "none", "full", "equal", "decorrelated"; parse returns 0 or TERN_EINVAL. */
const char *tern_jitter_name(tern_jitter_t j);
int tern_jitter_parse(const char *name, tern_jitter_t *out);

#ifdef __cplusplus
}
#endif
#endif
