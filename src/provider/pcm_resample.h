/* Internal to the provider layer: the offline engines produce or consume
 * audio through callbacks (flite's streaming hook, espeak-ng's synth
 * callback, pocketsphinx's process calls), so this wraps the audio
 * layer's tern_resampler (tern/resample.h) in a push-with-callback form.
 * When the rates are equal the samples pass straight through. */
#ifndef TERN_PROVIDER_PCM_RESAMPLE_H
#define TERN_PROVIDER_PCM_RESAMPLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct tern__rs tern__rs_t;

/* Called with each converted block; returns nonzero to stop. */
typedef int (*tern__rs_out_fn)(void *ud, const int16_t *pcm, size_t n);

int tern__rs_create(int in_rate, int out_rate, tern__rs_t **out);
void tern__rs_destroy(tern__rs_t *rs);
/* Converts n samples and hands the output to fn. Returns 0, TERN_ENOMEM,
 * or TERN_ECANCELED when fn asked to stop. */
int tern__rs_push(tern__rs_t *rs, const int16_t *pcm, size_t n, tern__rs_out_fn fn, void *ud);
/* Drains the filter's tail (the stream can then start again). */
int tern__rs_finish(tern__rs_t *rs, tern__rs_out_fn fn, void *ud);

#endif
