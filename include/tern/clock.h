/* Clocks. Time in tern is int64 microseconds (tern_usec_t).
 *
 * Policy code never reads a clock: it takes `now` as an argument. Code that
 * does need the time (loops, sessions) holds a tern_clock_t, which is either
 * the monotonic system clock or a fake clock that tests advance by hand.
 */
#ifndef TERN_CLOCK_H
#define TERN_CLOCK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int64_t tern_usec_t;

#define TERN_USEC_PER_MS INT64_C(1000)
#define TERN_USEC_PER_SEC INT64_C(1000000)
#define TERN_MS(x) ((tern_usec_t)(x) * TERN_USEC_PER_MS)
#define TERN_SEC(x) ((tern_usec_t)(x) * TERN_USEC_PER_SEC)

typedef struct tern_clock tern_clock_t;
struct tern_clock {
  tern_usec_t (*now)(tern_clock_t *self);
};

static inline tern_usec_t tern_clock_now(tern_clock_t *c) { return c->now(c); }

/* The process-wide monotonic clock (CLOCK_MONOTONIC). */
tern_clock_t *tern_clock_monotonic(void);

/* A clock that moves only when told to. Embed or declare on the stack. */
typedef struct tern_fake_clock {
  tern_clock_t clock; /* first member: &fc->clock is a tern_clock_t * */
  tern_usec_t t;
} tern_fake_clock_t;

void tern_fake_clock_init(tern_fake_clock_t *fc, tern_usec_t start);
void tern_fake_clock_advance(tern_fake_clock_t *fc, tern_usec_t delta);
void tern_fake_clock_set(tern_fake_clock_t *fc, tern_usec_t t);

/* Wall-clock time in unix milliseconds, for event timestamps only. */
int64_t tern_wall_ms(void);

#ifdef __cplusplus
}
#endif
#endif
