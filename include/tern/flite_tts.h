/* Offline text-to-speech with flite (CMU's small synthesiser).
 *
 * The synchronous core: it blocks while it synthesises, so the provider
 * runs it on the loop's thread pool. Voices "kal16" (the default, a male
 * diphone voice that pocketsphinx recognises well) and "slt" (a female
 * unit-selection voice) are built in; both speak at 16 kHz natively and
 * the audio is resampled to the rate asked for.
 *
 * Thread safety: any thread may call tern_flite_synth. flite keeps
 * process-wide state (its error jump buffer, the voices' shared feature
 * sets), so synthesis is serialised by one process-wide lock, taken one
 * phrase at a time; flite runs far faster than real time, so sessions
 * interleave phrase by phrase rather than waiting for whole answers.
 */
#ifndef TERN_FLITE_TTS_H
#define TERN_FLITE_TTS_H

#include <stddef.h>
#include <stdint.h>

#include "tern/provider.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Receives each chunk of synthesised audio (mono, at the requested rate).
 * Return 0 to go on, nonzero to stop the synthesis. (The same typedef is
 * in espeak_tts.h; C11 allows the repetition.) */
typedef int (*tern_pcm_chunk_fn)(void *ud, const int16_t *pcm, size_t n_samples);

#define TERN_FLITE_DEFAULT_VOICE "kal16"
/* Longest text accepted, in bytes. */
#define TERN_FLITE_TEXT_MAX 4096

/* 0 when `voice` ("kal16", "slt"; NULL means the default) is available,
 * else TERN_ENOENT. Loads the voice on first use. */
int tern_flite_voice_check(const char *voice);

/* Speaks `text` into chunks at `sample_rate` Hz (8000..48000), calling
 * `fn` as audio is produced: the first chunk comes after the first phrase,
 * not after the whole text. Control characters are removed first.
 * Returns 0; TERN_ETOOBIG when the text exceeds TERN_FLITE_TEXT_MAX;
 * TERN_EINVAL for a bad rate or NULL text; TERN_ENOENT for an unknown
 * voice; TERN_ECANCELED when fn asked to stop; TERN_EPROVIDER when flite
 * failed; TERN_ENOMEM. */
int tern_flite_synth(const char *text, const char *voice, int sample_rate, tern_pcm_chunk_fn fn,
                     void *ud);

/* The asynchronous TTS provider (kind "flite") over this core: each
 * request is synthesised on the loop's thread pool and its chunks are
 * delivered on the loop as they are produced. `voice` is the default for
 * requests that name none (NULL: kal16). TERN_ENOENT for an unknown voice.
 * Text over the limit or an unknown voice in a request end the request
 * with an invalid_request error. */
int tern_flite_provider_create(const char *voice, tern_provider_t **out /* OUT */);

#ifdef __cplusplus
}
#endif
#endif
