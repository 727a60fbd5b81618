/* Streaming HTTP on a tern loop (libcurl multi, socket-action API).
 *
 * Life of a request: tern_http_create() -> headers, body or form ->
 * tern_http_start() -> on_response (a 2xx status and its headers) ->
 * on_data (bytes as they arrive, never copied) -> on_done, exactly once
 * for every started request, then tern_http_free(). All callbacks run on
 * the loop thread; none runs inside tern_http_start(), tern_http_cancel()
 * or tern_http_free().
 *
 * on_done gets NULL on success, or a classified tern_error_t (component and
 * provider from the options):
 *   - our timers: connect and first byte -> timeout, idle -> stalled,
 *     total -> timeout;
 *   - a status that is not 2xx -> tern_error_from_response() on the status
 *     and the first max_error_body bytes of the body, with Retry-After /
 *     retry-after-ms parsed into retry_after; on_response and on_data are
 *     not called for such a response (the body is in tern_http_error_body);
 *   - transport failures -> tern_error_from_curl() (connection refused or
 *     reset -> connection, ...);
 *   - a body over max_response -> bad_response;
 *   - tern_http_cancel() -> cancelled.
 *
 * Timeouts (0 in the options means the default, a negative value none):
 *   connect (2 s): start until the connection is ready to carry the request
 *     (DNS, TCP and TLS included; a reused connection is ready at once);
 *   first byte (3 s): from then until the first byte of the response, the
 *     status line counts. Progress of a request body being uploaded restarts
 *     it, so a large upload is not cut off while it moves;
 *   idle (2 s): longest silence between two pieces of the response once it
 *     began (a stall);
 *   total (none): start until done.
 *
 * Secrets: a header whose name looks secret (tern_key_is_secret:
 * Authorization, x-api-key, ...) has its value registered with
 * tern_secret_register(), and error messages pass through the redactor, so
 * a key never reaches a log line or an error. curl never logs.
 *
 * Memory: per request, the curl handle, the copied strings, an optional
 * copy of the body, and the error body (bounded by max_error_body). Data
 * is handed over in curl's own buffer.
 */
#ifndef TERN_HTTP_H
#define TERN_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "tern/clock.h"
#include "tern/loop.h"
#include "tern/taxonomy.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_HTTP_CONNECT_TIMEOUT TERN_SEC(2)
#define TERN_HTTP_FIRST_BYTE_TIMEOUT TERN_SEC(3)
#define TERN_HTTP_IDLE_TIMEOUT TERN_SEC(2)
#define TERN_HTTP_MAX_RESPONSE ((size_t)64 << 20)
#define TERN_HTTP_MAX_ERROR_BODY ((size_t)8 << 10)

typedef struct tern_http tern_http_t;

typedef struct tern_http_opts {
  const char *method; /* NULL: GET, or POST when a body or form is set */
  const char *url;    /* http:// or https:// */
  tern_component_t component;
  const char *provider; /* for errors; may be NULL */
  tern_usec_t connect_timeout;
  tern_usec_t first_byte_timeout;
  tern_usec_t idle_timeout;
  tern_usec_t total_timeout;
  size_t max_response;   /* body bytes; 0: TERN_HTTP_MAX_RESPONSE */
  size_t max_error_body; /* 0: TERN_HTTP_MAX_ERROR_BODY */

  /* A 2xx final status arrived with its headers (tern_http_header). */
  void (*on_response)(tern_http_t *h, int status, void *ud);
  /* Body bytes of a 2xx response, in order, as they arrive. */
  void (*on_data)(tern_http_t *h, const char *data, size_t len, void *ud);
  /* Exactly once per started request: err NULL on success. err and the
   * accessors stay valid until the callback returns. */
  void (*on_done)(tern_http_t *h, const tern_error_t *err, void *ud);
  void *ud;
} tern_http_opts_t;

typedef struct tern_http_timing {
  tern_usec_t start;      /* loop clock at tern_http_start */
  tern_usec_t connect;    /* start -> connection ready; -1 if never */
  tern_usec_t first_byte; /* start -> first response byte; -1 if never */
  tern_usec_t total;      /* start -> done; -1 while running */
} tern_http_timing_t;

/* Returns 0, TERN_EINVAL (no URL, bad option) or TERN_ENOMEM. */
int tern_http_create(tern_loop_t *loop, const tern_http_opts_t *opts, tern_http_t **out);

/* Add "name: value" (copied). Before start only. 0, TERN_EINVAL,
 * TERN_ESTATE or TERN_ENOMEM. */
int tern_http_add_header(tern_http_t *h, const char *name, const char *value);
/* The request body. copy false borrows `data`, which must then stay
 * unchanged until on_done. Not together with a form. */
int tern_http_set_body(tern_http_t *h, const void *data, size_t len, bool copy);
/* multipart/form-data: a text field, or a file part (audio upload).
 * filename and content_type may be NULL. copy false borrows data as above. */
int tern_http_add_form_field(tern_http_t *h, const char *name, const char *value);
int tern_http_add_form_file(tern_http_t *h, const char *name, const char *filename,
                            const char *content_type, const void *data, size_t len, bool copy);

/* Start. Returns 0 (on_done will follow), TERN_ESTATE (started before),
 * TERN_ECLOSED (loop shutting down) or TERN_ENOMEM / TERN_EIO (then on_done
 * is not called). */
int tern_http_start(tern_http_t *h);

/* Stop the request: on_done follows once, with kind cancelled, unless the
 * request already finished (then nothing changes). Safe anywhere on the
 * loop thread, inside this or another request's callbacks included. Before
 * start it marks the request so start fails with TERN_ECANCELED. */
void tern_http_cancel(tern_http_t *h);

/* Release the request. A running request is stopped and on_done is NOT
 * called. Safe inside its own callbacks (the memory goes once the callback
 * returns). NULL is ignored. */
void tern_http_free(tern_http_t *h);

/* A response header (case-insensitive name; last value if repeated), or
 * NULL. Valid inside on_response, on_data and on_done until the callback
 * returns. */
const char *tern_http_header(tern_http_t *h, const char *name);
/* The final HTTP status, 0 before one arrived. */
int tern_http_status(const tern_http_t *h);
/* The bounded error body of a non-2xx response (NUL-terminated), or NULL. */
const char *tern_http_error_body(const tern_http_t *h, size_t *len);
void tern_http_timing(const tern_http_t *h, tern_http_timing_t *out);

#ifdef __cplusplus
}
#endif
#endif
