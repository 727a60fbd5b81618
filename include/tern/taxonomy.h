/* The error taxonomy: every failure of every provider becomes one of these.
 *
 * A tern_error_t names the component that failed, the kind of failure, the
 * provider, the HTTP status and Retry-After if any, whether a retry may
 * help (retryable) and whether the session can carry on (recoverable), and
 * a message that is safe to show a person or write to a log: short, never a
 * raw body, never a secret. It is a plain value (no pointers), so it can be
 * copied, queued and posted across threads freely.
 */
#ifndef TERN_TAXONOMY_H
#define TERN_TAXONOMY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/clock.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tern_component {
  TERN_COMP_STT = 0,
  TERN_COMP_LLM,
  TERN_COMP_TTS,
  TERN_COMP_VAD,
  TERN_COMP_TOOL,
  TERN_COMP_TRANSPORT,
  TERN_COMP_CONFIG,
  TERN_COMP__COUNT
} tern_component_t;

typedef enum tern_kind {
  TERN_KIND_TIMEOUT = 0,
  TERN_KIND_STALLED,
  TERN_KIND_CONNECTION,
  TERN_KIND_RATE_LIMITED,
  TERN_KIND_QUOTA,
  TERN_KIND_SERVER,
  TERN_KIND_AUTH,
  TERN_KIND_INVALID_REQUEST,
  TERN_KIND_CONTEXT_LENGTH,
  TERN_KIND_BAD_RESPONSE,
  TERN_KIND_CANCELLED,
  TERN_KIND_OVERLOADED,
  TERN_KIND_UNAVAILABLE, /* breaker open / bulkhead full: not tried at all */
  TERN_KIND__COUNT
} tern_kind_t;

#define TERN_ERROR_PROVIDER_MAX 32
#define TERN_ERROR_MESSAGE_MAX 256

typedef struct tern_error {
  tern_component_t component;
  tern_kind_t kind;
  int http_status;          /* 0 when there was no HTTP response */
  tern_usec_t retry_after;  /* -1 when the provider gave none */
  bool retryable;
  bool recoverable;
  char provider[TERN_ERROR_PROVIDER_MAX];
  char message[TERN_ERROR_MESSAGE_MAX];
} tern_error_t;

/* "stt", "llm", ... and "timeout", "rate_limited", ... as in events. */
const char *tern_component_name(tern_component_t c);
const char *tern_kind_name(tern_kind_t k);
/* Parse the names back; return 0 or TERN_EINVAL. */
int tern_component_parse(const char *name, tern_component_t *out);
int tern_kind_parse(const char *name, tern_kind_t *out);

/* Default retryability of a kind: timeout, stalled, connection,
 * rate_limited, server and overloaded are retryable. */
bool tern_kind_retryable(tern_kind_t k);

/* What `recoverable` means in tern: the failure is transient or belongs to
 * this one request, so the session can carry on with the same setup (after
 * a retry, a fallback provider, or a spoken apology and the next turn).
 * false means the provider will keep failing until a person changes
 * something (credentials, billing, configuration, a certificate): the chain
 * should not count on it coming back by itself, and the recovery manager
 * counts the error toward a graceful close. Default: auth and quota are
 * not recoverable, every other kind is; any error of the config component
 * is not recoverable either (see tern_error_init). */
bool tern_kind_recoverable(tern_kind_t k);

/* Reset *err to an error of this component, kind and provider (NULL or
 * "" gives "unknown"; a long name is truncated): no HTTP status, no
 * Retry-After, retryable and recoverable from the kind's defaults, and the
 * kind's generic message. */
void tern_error_init(tern_error_t *err, tern_component_t component, tern_kind_t kind,
                     const char *provider);

/* Format the message printf-style. The result is made safe before it is
 * stored: control characters become spaces, invalid UTF-8 becomes '?',
 * credentials and registered secrets are replaced through tern_redact(),
 * and it is cut to fit on a UTF-8 boundary (redaction sees the whole text
 * first, so a cut never leaves half a secret behind). Returns 0, TERN_EINVAL
 * (bad arguments or format), or TERN_ENOMEM when a long message needed a
 * buffer that could not be had: the message is then the kind's generic one. */
int tern_error_set_message(tern_error_t *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Classify an HTTP error status: 400/404/405/413/415/422 and other 4xx
 * invalid_request, 401/403/407 auth, 402 quota, 408 timeout, 409/425
 * server (transient conflict, retryable), 429 rate_limited, 499 cancelled,
 * 500/502 and other 5xx server, 501 invalid_request, 503 overloaded, 504
 * timeout, 529 overloaded (Anthropic). Anything that is not an HTTP error
 * status (1xx-3xx, out of range) is bad_response. Fills every field and a
 * plain message such as "the provider is rate limiting requests (HTTP 429)";
 * retry_after stays -1 (see tern_retry_after_*). Returns 0 or TERN_EINVAL
 * for a NULL err. */
int tern_error_from_http(tern_error_t *err, tern_component_t component, const char *provider,
                         int status);

/* Classify a libcurl result code (a CURLcode passed as int so that this
 * header needs no curl): timeouts, connection failures, TLS failures
 * (a certificate problem is neither retryable nor recoverable), callbacks
 * that aborted (cancelled: the caller stopped the transfer on purpose; a
 * caller that aborts because the data was bad must classify that itself as
 * bad_response), redirects and odd replies (bad_response). Returns 0, or
 * TERN_EINVAL for CURLE_OK or a NULL err. */
int tern_error_from_curl(tern_error_t *err, tern_component_t component, const char *provider,
                         int curl_code);

/* Classify an HTTP error response from its status and body. The status
 * gives the first answer (as tern_error_from_http); a recognised provider
 * error body refines it: OpenAI and compatible servers ({"error":{...}} or
 * {"error":"..."}), Anthropic ({"type":"error","error":{"type":...}}),
 * Deepgram ({"err_code","err_msg"} and {"category","message"}) and
 * ElevenLabs ({"detail":{"status","message"}} or {"detail":"..."}).
 * status 0 means there was no HTTP response (an error message that came
 * down a WebSocket): the body alone decides, and an unrecognised one is a
 * server error. The message may quote the provider's own message, cleaned
 * and redacted and cut to about 200 bytes; a body that is not JSON (an HTML
 * error page) is never quoted. body may be NULL. Returns 0 or TERN_EINVAL. */
int tern_error_from_response(tern_error_t *err, tern_component_t component, const char *provider,
                             int status, const char *body, size_t len);

/* Retry-After: delta-seconds ("120", and the fractional "1.5" some
 * providers send) or an HTTP-date in any of its three forms (IMF-fixdate
 * "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT",
 * asctime "Sun Nov  6 08:49:37 1994"), the date taken relative to
 * now_unix_ms. *out is the wait in microseconds: a date in the past gives 0,
 * a huge value saturates at TERN_RETRY_AFTER_MAX. Returns 0 or TERN_EINVAL
 * for anything else (nothing is written to *out then). */
#define TERN_RETRY_AFTER_MAX ((tern_usec_t)INT32_MAX * 1000000)
int tern_retry_after_parse(const char *value, int64_t now_unix_ms, tern_usec_t *out);
/* OpenAI's "retry-after-ms": milliseconds, possibly fractional. */
int tern_retry_after_ms_parse(const char *value, tern_usec_t *out);
/* Go-style durations as in "x-ratelimit-reset-requests": "1s", "6m0s",
 * "20ms", "1h2m3.5s", "250us". */
int tern_duration_parse(const char *value, tern_usec_t *out);
/* The wait a response asks for: retry-after-ms when present and valid,
 * else Retry-After. Either may be NULL. Returns 0, or TERN_ENOENT when
 * neither gave a usable value. */
int tern_retry_after_from_headers(const char *retry_after_ms, const char *retry_after,
                                  int64_t now_unix_ms, tern_usec_t *out);

#ifdef __cplusplus
}
#endif
#endif
