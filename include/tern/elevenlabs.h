/* ElevenLabs streaming text-to-speech.
 *
 * One HTTP request per call: POST {base}/v1/text-to-speech/{voice}/stream
 * ?output_format=pcm_R with the xi-api-key header and a JSON body {text,
 * model_id, voice_settings}. Raw PCM16 little-endian comes back as it is
 * synthesised and is handed to on_audio chunk by chunk, resampled on the
 * fly when R (the supported rate nearest the request's, preferring one at
 * or above it) is not the rate asked for. A sample split across two
 * network chunks is put back together; a stray last byte is dropped.
 *
 * Text: control characters are removed (tabs and line breaks become
 * spaces); more than TERN_ELEVENLABS_MAX_CHARS characters is refused by the
 * start function with TERN_ETOOBIG; text with nothing to say completes at
 * once with no audio.
 *
 * Failures, classified (component tts, the provider's name): HTTP errors by
 * status and ElevenLabs' {"detail":{"status","message"}} body
 * (quota_exceeded quota, too_many_concurrent_requests rate_limited,
 * system_busy overloaded, ...) with Retry-After; a reply that is not audio
 * (an HTML proxy page) or larger than any speech of this text could be
 * (bad_response); resets (connection); the net layer's first-byte and idle
 * timeouts (timeout / stalled).
 *
 * Settings, from [tts.<name>] (env TERN_TTS_<NAME>_<KEY> overrides):
 *   base_url       https://api.elevenlabs.io (or $ELEVENLABS_BASE_URL)
 *   api_key        the key itself; else $<api_key_env>
 *   api_key_env    ELEVENLABS_API_KEY
 *   voice          21m00Tcm4TlvDq8ikWAM (a request's voice wins)
 *   model_id       eleven_flash_v2_5
 *   language       optional language_code (ISO 639-1)
 *   stability, similarity_boost, style (0..1), speed (0.7..1.2): sent as
 *                  voice_settings only when one is set
 *   connect_timeout_ms, first_byte_timeout_ms (3000), idle_timeout_ms (2000)
 * A key is required for the default cloud URL (a config error naming the
 * environment variable otherwise); with a custom base URL it is optional.
 * The key is registered with tern_secret_register().
 */
#ifndef TERN_ELEVENLABS_H
#define TERN_ELEVENLABS_H

#include <stddef.h>

#include "tern/provider.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_ELEVENLABS_DEFAULT_URL "https://api.elevenlabs.io"
#define TERN_ELEVENLABS_DEFAULT_VOICE "21m00Tcm4TlvDq8ikWAM"
#define TERN_ELEVENLABS_DEFAULT_MODEL "eleven_flash_v2_5"
#define TERN_ELEVENLABS_KEY_ENV "ELEVENLABS_API_KEY"
#define TERN_ELEVENLABS_URL_ENV "ELEVENLABS_BASE_URL"
/* Characters (Unicode code points) one request may carry. */
#define TERN_ELEVENLABS_MAX_CHARS 5000

/* comp must be TERN_COMP_TTS. Returns 0, TERN_EINVAL, TERN_ECONFIG (with a
 * sentence in err naming the setting) or TERN_ENOMEM. */
int tern_elevenlabs_provider_create(tern_component_t comp, const char *name,
                                    const tern_config_t *cfg, tern_provider_t **out, char *err,
                                    size_t errsz);

/* The output rate asked of ElevenLabs for a session rate: the rate itself
 * when ElevenLabs offers it (8000, 16000, 22050, 24000, 44100), else the
 * smallest offered rate above it, else the largest. */
int tern_elevenlabs_output_rate(int sample_rate);

#ifdef __cplusplus
}
#endif
#endif
