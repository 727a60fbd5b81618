/* WebSocket client on a tern loop (libwebsockets with its libuv event lib,
 * the loop given to lws as a foreign loop).
 *
 * Life of a connection: tern_ws_create() -> tern_ws_add_header() ->
 * tern_ws_connect() -> on_open -> on_message ... -> exactly one terminal
 * callback, on_close or on_error -> tern_ws_free(). No callback runs inside
 * a tern_ws_* call; all run on the loop thread.
 *
 * Terminal callbacks:
 *   on_close(code, reason): the close handshake happened, started by
 *     either side (code 1005 when the peer's close frame had no code);
 *     tern_ws_close() before the connection opened also ends here;
 *   on_error(err): anything else, classified with the options' component
 *     and provider: connect failure or a drop without a close frame ->
 *     connection; the upgrade refused with an HTTP status -> that status's
 *     classification (Retry-After parsed); connect timeout -> timeout; no
 *     message within the idle timeout -> stalled; a message over
 *     max_message, or a failed write -> bad_response / connection.
 * tern_ws_free() at any time (inside callbacks too) drops the connection
 * without any further callback.
 *
 * The host name is resolved on libuv's thread pool first, so connecting
 * never blocks the loop on DNS; TLS still checks the certificate against
 * the host name. Header values whose name looks secret are registered with
 * tern_secret_register().
 *
 * Memory: outgoing messages are copied once into a queue bounded by
 * max_queue bytes; an incoming message that arrives in one piece is handed
 * over in lws's buffer, a fragmented one is reassembled in a buffer bounded
 * by max_message and reused.
 */
#ifndef TERN_WS_H
#define TERN_WS_H

#include <stdbool.h>
#include <stddef.h>

#include "tern/clock.h"
#include "tern/loop.h"
#include "tern/taxonomy.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_WS_CONNECT_TIMEOUT TERN_SEC(2)
#define TERN_WS_MAX_MESSAGE ((size_t)1 << 20)
#define TERN_WS_MAX_QUEUE ((size_t)4 << 20)

typedef struct tern_ws tern_ws_t;

typedef struct tern_ws_opts {
  const char *url;         /* ws://host[:port]/path or wss://... */
  const char *subprotocol; /* Sec-WebSocket-Protocol, or NULL */
  tern_component_t component;
  const char *provider;
  tern_usec_t connect_timeout; /* 0: TERN_WS_CONNECT_TIMEOUT; < 0: none */
  tern_usec_t idle_timeout;    /* 0 or < 0: off (see tern_ws_set_idle_timeout) */
  size_t max_message;          /* 0: TERN_WS_MAX_MESSAGE */
  size_t max_queue;            /* 0: TERN_WS_MAX_QUEUE */

  void (*on_open)(tern_ws_t *ws, void *ud);
  /* One whole message; data valid during the call. */
  void (*on_message)(tern_ws_t *ws, const void *data, size_t len, bool binary, void *ud);
  void (*on_close)(tern_ws_t *ws, int code, const char *reason, size_t reason_len, void *ud);
  void (*on_error)(tern_ws_t *ws, const tern_error_t *err, void *ud);
  void *ud;
} tern_ws_opts_t;

/* Returns 0, TERN_EINVAL (bad URL or option) or TERN_ENOMEM. */
int tern_ws_create(tern_loop_t *loop, const tern_ws_opts_t *opts, tern_ws_t **out);
/* A handshake header, before connect. 0, TERN_EINVAL, TERN_ESTATE, TERN_ENOMEM. */
int tern_ws_add_header(tern_ws_t *ws, const char *name, const char *value);
/* Start connecting. 0 (a terminal callback will follow), TERN_ESTATE,
 * TERN_ECLOSED (loop shutting down), TERN_ENOMEM or TERN_EIO (the lws
 * context could not be made). */
int tern_ws_connect(tern_ws_t *ws);

/* Queue a message (copied); allowed while connecting, sent once open.
 * 0, TERN_ESTATE (closing or ended), TERN_EBUSY (queue over max_queue) or
 * TERN_ENOMEM. */
int tern_ws_send(tern_ws_t *ws, const void *data, size_t len, bool binary);
/* Close with a code (1000 normal) and an optional short reason (cut to
 * 123 bytes) after the queued messages went out. 0 or TERN_ESTATE. */
int tern_ws_close(tern_ws_t *ws, int code, const char *reason);
/* Change the idle (stall) timeout, counted from now: a terminal stalled
 * error when no message arrives for that long while open. <= 0 turns it
 * off. */
void tern_ws_set_idle_timeout(tern_ws_t *ws, tern_usec_t idle);
bool tern_ws_is_open(const tern_ws_t *ws);
/* Loop-clock time from tern_ws_connect to open, or -1. */
tern_usec_t tern_ws_connect_time(const tern_ws_t *ws);
/* Drop the connection silently and release it. NULL is ignored. */
void tern_ws_free(tern_ws_t *ws);

/* The loop's libwebsockets context (made on first use, NULL if it cannot
 * be), for code that runs its own lws vhosts on the same loop, such as a
 * WebSocket server (lws_create_vhost with a listening port). The loop owns
 * it: tern_loop_destroy destroys it with everything on it. */
struct lws_context;
struct lws_context *tern_ws_lws_context(tern_loop_t *loop);

#ifdef __cplusplus
}
#endif
#endif
