/* Random sources. Policy code takes a draw (a double in [0,1)) as an
 * argument; the code that calls policy owns a tern_rand_t. A seeded source
 * (xoshiro256**, seeded through splitmix64) makes tests reproducible; the
 * system source seeds itself from getrandom(). Not thread-safe: one source
 * per thread or per session. */
#ifndef TERN_RAND_H
#define TERN_RAND_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_rand {
  uint64_t s[4];
} tern_rand_t;

void tern_rand_seed(tern_rand_t *r, uint64_t seed);
/* Seed from the operating system's entropy; falls back to time and address. */
void tern_rand_seed_system(tern_rand_t *r);
uint64_t tern_rand_u64(tern_rand_t *r);
/* Uniform in [0, 1), 53 bits. */
double tern_rand_double(tern_rand_t *r);
/* Uniform integer in [0, n); n > 0. Unbiased (Lemire's method). */
uint64_t tern_rand_below(tern_rand_t *r, uint64_t n);

#ifdef __cplusplus
}
#endif
#endif
