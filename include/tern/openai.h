/* OpenAI and OpenAI-compatible servers (Groq, vLLM, llama.cpp's server,
 * Ollama, ...): chat completions (streamed, with tools), transcription and
 * speech.
 *
 *   llm: POST {base}/chat/completions, stream:true, server-sent events;
 *        text deltas go to on_text as they arrive, tool calls are assembled
 *        from their pieces and delivered whole when the answer ends.
 *   stt: POST {base}/audio/transcriptions, multipart (a WAV of the
 *        utterance), one final transcript.
 *   tts: POST {base}/audio/speech with response_format "pcm" (24 kHz s16le
 *        mono), resampled as it streams to the request's rate.
 *
 * Settings, from [<component>.<name>] (name is the chain link's name, so a
 * second compatible server is just another section, e.g. [llm.groq]):
 *   base_url     default $OPENAI_BASE_URL, else https://api.openai.com/v1
 *   api_key      the key itself (prefer api_key_env)
 *   api_key_env  the environment variable holding the key; defaults to
 *                OPENAI_API_KEY, but only when base_url is not set in the
 *                section: a key is never sent to another server unasked
 *   model        llm gpt-4o-mini, stt whisper-1, tts tts-1
 *   temperature, max_tokens (llm); voice (tts, default alloy);
 *   response_format (tts: only "pcm")
 * A missing key is a configuration error for an https endpoint that is not
 * on loopback; a local server (plain http, or loopback) may have none, and
 * then no Authorization header is sent. The key is registered with
 * tern_secret_register() so it never reaches a log, an event or an error.
 * Timeouts are the guard's ([llm] first_byte_timeout_ms, ...). The HTTP
 * request itself uses the provider object's first_byte_timeout /
 * idle_timeout / total_timeout when they are set (> 0), else a 30 s safety
 * net for first byte and idle, so the guard's configurable limits decide.
 *
 * Failures: HTTP and transport errors are classified by the HTTP layer; in
 * the stream, an error object is classified from its body, a malformed
 * chunk, an event over 256 KiB or a wrong content type is bad_response, and
 * a stream that ends before [DONE] or a finish_reason is connection
 * (retryable: the answer was cut off).
 *
 * Continuation (tern_llm_request_t.continuation): the partial answer is
 * sent as an assistant message followed by a request to go on from exactly
 * there; if the model starts over anyway, the repeated text is dropped.
 */
#ifndef TERN_OPENAI_H
#define TERN_OPENAI_H

#include <stddef.h>

#include "tern/provider.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_OPENAI_BASE_URL "https://api.openai.com/v1"
#define TERN_OPENAI_TTS_RATE 24000

/* component: TERN_COMP_LLM, TERN_COMP_STT or TERN_COMP_TTS. cfg may be
 * NULL (defaults and environment only). Returns 0, TERN_ECONFIG (message
 * in err naming the section and what to set), TERN_EINVAL or TERN_ENOMEM. */
int tern_openai_provider_create(tern_component_t component, const char *name,
                                const tern_config_t *cfg, tern_provider_t **out, char *err,
                                size_t errsz);

#ifdef __cplusplus
}
#endif
#endif
