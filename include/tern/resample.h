/* Sample-rate conversion of mono PCM16, through speexdsp's resampler.
 *
 * A tern_resampler_t is a stream: it keeps filter state between calls, so
 * audio can be fed frame by frame. Its output is time-aligned with its input
 * (the filter's start-up delay is skipped), which means feeding a buffer in
 * chunks and then calling tern_resampler_flush gives exactly the samples the
 * one-shot tern_resample_buffer gives: ceil(n * out_rate / in_rate) of them.
 *
 * Note: speexdsp allocates its filter tables with its own allocator, not
 * through tern_alloc; only tern's own state goes through the hook.
 */
#ifndef TERN_RESAMPLE_H
#define TERN_RESAMPLE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* speexdsp quality, 0 (fastest) .. 10 (best). 4 is ample for speech. */
#define TERN_RESAMPLE_QUALITY_DEFAULT 4
#define TERN_RESAMPLE_MIN_RATE 1000
#define TERN_RESAMPLE_MAX_RATE 384000

typedef struct tern_resampler tern_resampler_t;

/* quality < 0 picks TERN_RESAMPLE_QUALITY_DEFAULT; rates outside
 * TERN_RESAMPLE_MIN_RATE..MAX_RATE or quality > 10 give TERN_EINVAL. */
int tern_resampler_new(uint32_t in_rate, uint32_t out_rate, int quality,
                       tern_resampler_t **out /* OUT */);
void tern_resampler_free(tern_resampler_t *r);

/* An upper bound on the samples tern_resampler_process can produce from
 * in_len input samples; size output buffers with it. */
size_t tern_resampler_out_max(const tern_resampler_t *r, size_t in_len);

/* Consumes up to in_len samples and writes up to out_cap. *in_used and
 * *out_len say how many; all input is consumed when out_cap is at least
 * tern_resampler_out_max(r, in_len). */
int tern_resampler_process(tern_resampler_t *r, const int16_t *in, size_t in_len,
                           size_t *in_used /* OUT */, int16_t *out, size_t out_cap,
                           size_t *out_len /* OUT */);

/* Ends the stream: writes the tern_resampler_pending(r) samples still inside
 * the filter and resets the resampler for a new stream. If out_cap is too
 * small it writes what fits and returns TERN_EBUSY; call again to go on. */
int tern_resampler_flush(tern_resampler_t *r, int16_t *out, size_t out_cap,
                         size_t *out_len /* OUT */);

/* Forgets all state and starts a new stream at the same rates. */
void tern_resampler_reset(tern_resampler_t *r);

/* Samples still to come from tern_resampler_flush. */
size_t tern_resampler_pending(const tern_resampler_t *r);

/* One shot: resamples a whole buffer into a new tern_malloc'd buffer of
 * ceil(n * out_rate / in_rate) samples (*out is NULL when that is 0). */
int tern_resample_buffer(const int16_t *in, size_t n, uint32_t in_rate, uint32_t out_rate,
                         int quality, int16_t **out /* OUT */, size_t *out_len /* OUT */);

#ifdef __cplusplus
}
#endif
#endif
