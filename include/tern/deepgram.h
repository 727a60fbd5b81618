/* Deepgram live transcription (speech-to-text over a WebSocket).
 *
 * One connection per call to wss://api.deepgram.com/v1/listen with raw
 * PCM16 (encoding=linear16) going up as binary frames and JSON messages
 * coming down. Two ways to use it, both through the provider vtable:
 *
 *  - stt_stream (live): audio is pushed as it arrives (queued while the
 *    connection opens); interim transcripts carry the utterance heard so
 *    far; the final of an utterance (when Deepgram marks speech_final, when
 *    a Finalize is answered, or when the stream ends) is the concatenation
 *    of Deepgram's is_final segments. A KeepAlive goes out whenever no
 *    audio was pushed for keepalive_ms. finish() sends Finalize and
 *    CloseStream; on_done follows when the server closes, or shortly after
 *    the answer to the Finalize, and never later than finish_timeout_ms.
 *  - stt_start (one utterance): the same connection, the whole utterance
 *    sent in 40 ms frames (paced so the send queue stays bounded), then
 *    Finalize and CloseStream; one final transcript (every final segment
 *    joined, possibly empty) and on_done.
 *
 * Failures, classified (component stt, the provider's name): the upgrade
 * refused with a status (401 auth, 402 quota, 429 rate_limited with
 * Retry-After, 5xx server/overloaded), a connection that drops or that
 * the server closes before we finished (connection), a close with a
 * Deepgram reason code (see tern_deepgram_close_error), an {"type":"Error"} message (by its code), a message
 * that is not JSON (bad_response), no message for idle_timeout_ms while
 * results are awaited (stalled). The guard does the retrying.
 *
 * Settings, from [stt.<name>] (env TERN_STT_<NAME>_<KEY> overrides):
 *   base_url          wss://api.deepgram.com (or $DEEPGRAM_BASE_URL);
 *                     http(s):// is turned into ws(s)://
 *   api_key           the key itself; else $<api_key_env>
 *   api_key_env       DEEPGRAM_API_KEY
 *   model             nova-2
 *   language          the request's language, else en
 *   endpointing_ms    300 (0 turns Deepgram's endpointing off)
 *   interim_results   true
 *   punctuate         true
 *   keepalive_ms      4000
 *   finish_timeout_ms 3000
 *   connect_timeout_ms, first_byte_timeout_ms (5000), idle_timeout_ms (2000)
 * A key is required for the default cloud URL (a config error naming the
 * environment variable otherwise); with a custom base URL it is optional.
 * The key is registered with tern_secret_register() and never appears in a
 * log line, an event or an error message.
 */
#ifndef TERN_DEEPGRAM_H
#define TERN_DEEPGRAM_H

#include <stdbool.h>
#include <stddef.h>

#include "tern/provider.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_DEEPGRAM_DEFAULT_URL "wss://api.deepgram.com"
#define TERN_DEEPGRAM_DEFAULT_MODEL "nova-2"
#define TERN_DEEPGRAM_KEY_ENV "DEEPGRAM_API_KEY"
#define TERN_DEEPGRAM_URL_ENV "DEEPGRAM_BASE_URL"

/* comp must be TERN_COMP_STT. Returns 0, TERN_EINVAL, TERN_ECONFIG (with a
 * sentence in err naming the setting) or TERN_ENOMEM. */
int tern_deepgram_provider_create(tern_component_t comp, const char *name,
                                  const tern_config_t *cfg, tern_provider_t **out, char *err,
                                  size_t errsz);

/* ---- the message parser (exposed for tests and the fuzz target) -------- */

typedef enum tern_deepgram_msg_type {
  TERN_DG_MSG_OTHER = 0, /* Metadata, SpeechStarted, unknown types: ignored */
  TERN_DG_MSG_RESULTS,
  TERN_DG_MSG_UTTERANCE_END,
  TERN_DG_MSG_ERROR
} tern_deepgram_msg_type_t;

typedef struct tern_deepgram_msg {
  tern_deepgram_msg_type_t type;
  bool is_metadata;
  /* RESULTS: the first alternative; transcript points into `text`. */
  bool is_final, speech_final, from_finalize;
  double confidence;
  char *text; /* tern_malloc'd, "" when empty; freed by tern_deepgram_msg_free */
} tern_deepgram_msg_t;

/* Parse one text message. Returns 0, TERN_EFORMAT (not a JSON object, or a
 * Results message without a string transcript) or TERN_ENOMEM (jansson
 * reports some of its own allocation failures as syntax errors, so those
 * come back as TERN_EFORMAT). An ERROR
 * message leaves text NULL: classify it with tern_error_from_response(...,
 * 0, data, len). */
int tern_deepgram_msg_parse(const char *data, size_t len, tern_deepgram_msg_t *out /* OUT */);
void tern_deepgram_msg_free(tern_deepgram_msg_t *m);

/* Classify a close frame that came before the stream was finished: a
 * Deepgram reason code decides (DATA-xxxx invalid_request, NET-0001
 * timeout, NET-0000 server), then the close code (1008 invalid_request,
 * 1013 overloaded); anything else means the stream was cut under us
 * (connection, retryable: a new connection is the remedy).
 * The reason is quoted, cleaned and redacted. */
void tern_deepgram_close_error(tern_error_t *err /* OUT */, const char *provider, int code,
                               const char *reason, size_t reason_len);

#ifdef __cplusplus
}
#endif
#endif
