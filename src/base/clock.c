#include "tern/clock.h"

#include <time.h>

static tern_usec_t mono_now(tern_clock_t *self) {
  (void)self;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (tern_usec_t)ts.tv_sec * TERN_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static tern_clock_t g_mono = {mono_now};

tern_clock_t *tern_clock_monotonic(void) { return &g_mono; }

static tern_usec_t fake_now(tern_clock_t *self) { return ((tern_fake_clock_t *)self)->t; }

void tern_fake_clock_init(tern_fake_clock_t *fc, tern_usec_t start) {
  fc->clock.now = fake_now;
  fc->t = start;
}

void tern_fake_clock_advance(tern_fake_clock_t *fc, tern_usec_t delta) { fc->t += delta; }
void tern_fake_clock_set(tern_fake_clock_t *fc, tern_usec_t t) { fc->t = t; }

int64_t tern_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
