/* Token-bucket rate limiter, one per provider, shared by every session.
 *
 * The bucket holds at most `burst` tokens and gains `tokens` tokens every
 * `period` microseconds, continuously (a rate of 10/s is {10, TERN_SEC(1)};
 * one a minute is {1, TERN_SEC(60)}). It starts full. Arithmetic is exact
 * integer: the level is kept in units of 1/period token, so any idle gap,
 * however long, refills to exactly `burst` with no drift or overflow, and the
 * wait reported for a refused request is the exact time until it would be
 * granted (rounded up to the microsecond), assuming no one else takes tokens.
 *
 * Time is an argument. A `now` earlier than one already seen (another
 * thread's clock read raced ahead) adds nothing and moves nothing back.
 * Thread-safe: one short mutex per call.
 */
#ifndef TERN_LIMITER_H
#define TERN_LIMITER_H

#include <stdint.h>

#include "tern/clock.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_limiter tern_limiter_t;

typedef struct tern_limiter_config {
  uint32_t tokens;    /* gained per period; >= 1 */
  tern_usec_t period; /* >= 1 µs */
  uint32_t burst;     /* capacity; >= 1 */
} tern_limiter_config_t;

/* 0, or TERN_EINVAL with *reason (may be NULL) set to a static sentence. */
int tern_limiter_config_validate(const tern_limiter_config_t *cfg, const char **reason);
int tern_limiter_create(const tern_limiter_config_t *cfg, tern_limiter_t **out /* OUT */);
void tern_limiter_destroy(tern_limiter_t *l);

/* Take n tokens: 0 (and *wait_us = 0), or TERN_EAGAIN with *wait_us the
 * time until n tokens will be there; TERN_EINVAL if n > burst (never
 * possible). n = 0 succeeds and takes nothing. wait_us may be NULL. */
int tern_limiter_try_acquire(tern_limiter_t *l, uint32_t n, tern_usec_t now,
                             tern_usec_t *wait_us /* OUT */);
/* Whole tokens available at `now` (after refill). */
int tern_limiter_available(tern_limiter_t *l, tern_usec_t now, uint32_t *tokens /* OUT */);

#ifdef __cplusplus
}
#endif
#endif
