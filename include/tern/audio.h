/* PCM16 frames, sample/time arithmetic, and a fixed-capacity sample ring.
 *
 * Audio inside tern is signed 16-bit PCM, interleaved when there is more
 * than one channel (almost always mono). Time is derived from sample counts,
 * never from a clock, so everything here is pure and testable.
 *
 * The ring buffer is for per-session audio: it allocates (or borrows) its
 * storage once at init and never again, so pushing and popping frames in a
 * session's steady state does no allocation.
 */
#ifndef TERN_AUDIO_H
#define TERN_AUDIO_H

#include <stddef.h>
#include <stdint.h>

#include "tern/clock.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The frame length tern's real-time paths use (VADs, transports). */
#define TERN_FRAME_MS 20

/* A view of PCM16 audio; it never owns `samples`. */
typedef struct tern_frame {
  int16_t *samples;     /* count * channels values, interleaved */
  size_t count;         /* samples per channel */
  uint32_t sample_rate; /* Hz */
  uint16_t channels;    /* 1 for mono */
} tern_frame_t;

/* Duration of n samples (per channel) at `rate` Hz, rounded down; 0 if rate is 0. */
static inline tern_usec_t tern_audio_usec(uint64_t n, uint32_t rate) {
  if (rate == 0)
    return 0;
  return (tern_usec_t)((n / rate) * 1000000u + (n % rate) * 1000000u / rate);
}

/* Samples (per channel) in `usec` at `rate` Hz, rounded down; 0 for negative times. */
static inline uint64_t tern_audio_samples(tern_usec_t usec, uint32_t rate) {
  if (usec <= 0)
    return 0;
  uint64_t u = (uint64_t)usec;
  return (u / 1000000u) * rate + (u % 1000000u) * rate / 1000000u;
}

/* Samples (per channel) in one `ms`-millisecond frame at `rate` Hz. */
static inline size_t tern_audio_frame_samples(uint32_t rate, uint32_t ms) {
  return (size_t)((uint64_t)rate * ms / 1000u);
}

/* Samples in one 20 ms frame: 320 at 16 kHz, 160 at 8 kHz, 960 at 48 kHz. */
static inline size_t tern_audio_samples_per_20ms(uint32_t rate) {
  return tern_audio_frame_samples(rate, TERN_FRAME_MS);
}

/* A FIFO of int16 samples with a fixed capacity. */
typedef struct tern_ring {
  int16_t *buf;
  size_t cap;  /* samples */
  size_t head; /* index of the oldest sample */
  size_t len;  /* samples held */
  int owned;   /* buf came from tern_malloc */
} tern_ring_t;

/* Allocates room for `capacity` samples (> 0). The only allocation a ring makes. */
int tern_ring_init(tern_ring_t *r, size_t capacity);
/* Uses caller storage (for instance a session arena); never allocates. */
int tern_ring_init_with(tern_ring_t *r, int16_t *storage, size_t capacity);
/* Releases owned storage; the ring must be initialised again before reuse. */
void tern_ring_free(tern_ring_t *r);

static inline size_t tern_ring_len(const tern_ring_t *r) { return r->len; }
static inline size_t tern_ring_space(const tern_ring_t *r) { return r->cap - r->len; }
static inline void tern_ring_clear(tern_ring_t *r) { r->head = r->len = 0; }

/* Appends up to n samples; *written (may be NULL) says how many fit.
 * Returns 0 when all fit, TERN_EBUSY when the ring filled first. */
int tern_ring_write(tern_ring_t *r, const int16_t *src, size_t n, size_t *written /* OUT */);
/* Appends all n samples, dropping the oldest ones to make room (a late
 * reader loses old audio, never new). If n exceeds the capacity only the
 * newest `cap` samples are kept. *dropped (may be NULL) counts lost samples. */
int tern_ring_write_overwrite(tern_ring_t *r, const int16_t *src, size_t n,
                              size_t *dropped /* OUT */);
/* Removes up to n samples into dst (dst may be NULL to discard them). */
int tern_ring_read(tern_ring_t *r, int16_t *dst, size_t n, size_t *nread /* OUT */);
/* Copies up to n of the oldest samples without removing them. */
int tern_ring_peek(const tern_ring_t *r, int16_t *dst, size_t n, size_t *npeeked /* OUT */);

#ifdef __cplusplus
}
#endif
#endif
