/* Incremental Server-Sent Events parser (the WHATWG event-stream format).
 *
 * Pure: feed it bytes as they arrive, in pieces of any size split at any
 * byte, and it calls back once per complete event. Handles LF, CRLF and CR
 * line ends (a CRLF split across two feeds too), comment lines (":..."),
 * the fields event / data / id / retry, a field without a colon (empty
 * value), one leading space stripped from a value, several data lines
 * joined with "\n", a UTF-8 byte-order mark at the start of the stream, and
 * flags the "[DONE]" sentinel OpenAI-style streams end with.
 *
 * Bounded: a line or an event's data longer than max_event bytes is an
 * error (TERN_ETOOBIG), never unbounded growth. Buffers are reused between
 * events, so steady state allocates nothing.
 */
#ifndef TERN_SSE_H
#define TERN_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_SSE_MAX_EVENT ((size_t)1 << 20)

typedef struct tern_sse_event {
  const char *type; /* the "event" field, or "message"; NUL-terminated */
  const char *data; /* data lines joined by "\n"; NUL-terminated */
  size_t len;       /* bytes of data */
  const char *id;   /* last event id seen in the stream ("" if none) */
  bool done;        /* data is exactly "[DONE]" */
} tern_sse_event_t;

/* Return 0 to go on; anything else stops tern_sse_feed, which returns it
 * (the parser then refuses further input until tern_sse_reset). The event
 * and its strings are valid only during the call. */
typedef int (*tern_sse_event_fn)(const tern_sse_event_t *ev, void *ud);

typedef struct tern_sse tern_sse_t;

/* max_event 0 means TERN_SSE_MAX_EVENT. Returns 0, TERN_EINVAL or
 * TERN_ENOMEM. */
int tern_sse_create(size_t max_event, tern_sse_event_fn fn, void *ud, tern_sse_t **out);
void tern_sse_destroy(tern_sse_t *p);

/* Parse the next bytes. Returns 0, TERN_ETOOBIG (a line or an event over
 * the bound), TERN_ENOMEM, or the callback's non-zero value. An error is
 * sticky: later feeds return it again until tern_sse_reset. */
int tern_sse_feed(tern_sse_t *p, const char *data, size_t len);

/* End of stream. An event not yet ended by a blank line is discarded, as
 * the standard says; returns TERN_ETRUNCATED when that happened (useful to
 * tell a cut-off stream from a clean end), else 0 or the sticky error. */
int tern_sse_finish(tern_sse_t *p);

/* Back to the start of a fresh stream (new connection), keeping buffers. */
void tern_sse_reset(tern_sse_t *p);

/* The last "retry" field in milliseconds, or -1 if none was seen. */
int64_t tern_sse_retry(const tern_sse_t *p);

#ifdef __cplusplus
}
#endif
#endif
