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

#ifdef __cplusplus
}
#endif
#endif
