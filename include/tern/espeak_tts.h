/* Offline text-to-speech with espeak-ng.
 *
 * The synchronous core: it blocks while it synthesises, so the provider
 * runs it on the loop's thread pool. espeak-ng speaks at 22050 Hz; the
 * audio is resampled to the rate asked for. espeak-ng is a process-wide
 * singleton and not thread-safe, so every call is serialised by one lock
 * (held one phrase at a time, so concurrent sessions interleave).
 * pocketsphinx recognises espeak-ng's default voice poorly: loopback tests
 * use flite.
 */
#ifndef TERN_ESPEAK_TTS_H
#define TERN_ESPEAK_TTS_H

#include <stddef.h>
#include <stdint.h>

#include "tern/provider.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Same typedef as in flite_tts.h (C11 allows the repetition). */
typedef int (*tern_pcm_chunk_fn)(void *ud, const int16_t *pcm, size_t n_samples);

#define TERN_ESPEAK_DEFAULT_VOICE "en-us"
#define TERN_ESPEAK_TEXT_MAX 4096

/* Initialises espeak-ng once; 0, or TERN_EPROVIDER when its data files
 * are missing (the result is remembered). */
int tern_espeak_init(void);

/* Speaks `text` with `voice` (an espeak-ng voice name such as "en-us" or
 * "en-gb"; NULL: the default) at `sample_rate` Hz (8000..48000), calling
 * fn with each chunk as it is produced. Control characters are removed.
 * Returns 0; TERN_ETOOBIG when text exceeds TERN_ESPEAK_TEXT_MAX;
 * TERN_EINVAL; TERN_ENOENT for an unknown voice; TERN_ECANCELED when fn
 * asked to stop; TERN_EPROVIDER; TERN_ENOMEM. */
int tern_espeak_synth(const char *text, const char *voice, int sample_rate, tern_pcm_chunk_fn fn,
                      void *ud);

/* The asynchronous TTS provider (kind "espeak") over this core, as
 * tern_flite_provider_create: `voice` is the default (NULL: en-us).
 * TERN_EPROVIDER when espeak-ng cannot start (its data files missing). */
int tern_espeak_provider_create(const char *voice, tern_provider_t **out /* OUT */);

#ifdef __cplusplus
}
#endif
#endif
