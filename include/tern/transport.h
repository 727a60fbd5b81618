/* The WebSocket session transport: callers reach agent sessions over
 * WebSocket, speaking the protocol of docs/protocol.md.
 *
 * A tern_transport_t is one listening endpoint (an lws vhost) on one loop:
 * a server runs one per worker thread, all on the same port. Each accepted
 * connection is one session on that loop, made by the owner's `open` hook
 * and given back through `release` once the connection is gone.
 *
 * Per connection:
 *  - before the upgrade, `admit` sees the request (path, token, origin,
 *    host) and may refuse it with an HTTP status (401, 403, 404, 503); the
 *    refusal is an ordinary HTTP response, so no audio ever flows;
 *  - binary frames in are caller PCM16 (even length, at most 1 s) pushed
 *    into the session; text frames are JSON control messages (say,
 *    interrupt, end, ping); anything else gets a protocol_error and is
 *    dropped, and more than max_protocol_errors of them close with 1008;
 *  - agent audio goes out in 20 ms binary frames, pulled from the session
 *    by a real-time 20 ms timer. At most max_audio_queue of audio waits in
 *    front of the socket; when the caller's side is slower than real time
 *    the oldest queued frame is dropped (drop-oldest), so the agent's
 *    timeline, and what counts as "heard" for interruptions, stays real;
 *  - every session event goes out as a text frame, exactly the JSON line,
 *    plus {"type":"state"} when the turn state changes;
 *  - when the session closes, the close frame (1000) follows the last
 *    queued message.
 *
 * Memory per connection is bounded: the receive buffer by the larger of
 * the text limit and 1 s of audio, the audio queue by max_audio_queue, the
 * text queue by max_text_queue (a caller that stops reading past it is
 * closed with 1008).
 *
 * Threads: everything on the loop's thread; create it there too.
 */
#ifndef TERN_TRANSPORT_H
#define TERN_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "tern/events.h"
#include "tern/loop.h"
#include "tern/session.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_TRANSPORT_MAX_TEXT 16384          /* bytes of one text message */
#define TERN_TRANSPORT_MAX_PROTOCOL_ERRORS 100 /* then close 1008 */
#define TERN_TRANSPORT_TEXT_QUEUE (256 * 1024) /* bytes of text waiting to go out */
#define TERN_TRANSPORT_AUDIO_QUEUE TERN_MS(100)
#define TERN_TRANSPORT_PROTOCOL 1

typedef struct tern_transport tern_transport_t;

/* What the caller asked for, for admission and for making the session.
 * Strings are valid during the hook only; absent ones are "". */
typedef struct tern_transport_request {
  const char *path;         /* "/session" (no query) */
  const char *access_token; /* from ?access_token= or Authorization: Bearer */
  const char *origin;       /* Origin header */
  const char *host;         /* Host header */
  const char *peer;         /* the peer's address */
  int sample_rate;          /* ?sample_rate=, 16000 if absent; 0 if invalid */
} tern_transport_request_t;

/* A session made for a connection. */
typedef struct tern_transport_session {
  tern_session_t *session; /* created, not started: the transport starts it */
  tern_events_t *events;   /* the session's emitter; its id names the session */
  void *ud;                /* the owner's, handed back to release */
} tern_transport_session_t;

typedef struct tern_transport_opts {
  const char *iface;            /* address to listen on; NULL: every interface */
  int port;                     /* 0: an ephemeral port (see tern_transport_port) */
  bool listen_share;            /* SO_REUSEPORT: several transports (threads) on one port */
  size_t max_text;              /* 0: TERN_TRANSPORT_MAX_TEXT */
  unsigned max_protocol_errors; /* 0: TERN_TRANSPORT_MAX_PROTOCOL_ERRORS */
  size_t max_text_queue;        /* 0: TERN_TRANSPORT_TEXT_QUEUE */
  tern_usec_t max_audio_queue;  /* 0: TERN_TRANSPORT_AUDIO_QUEUE */
  /* The browser client's files (index.html, app.js, worklet.js, style.css)
   * served on plain GETs of the session port; NULL: nothing is served. */
  const char *web_root;

  /* Before the upgrade. Return 0 to accept, or an HTTP status to refuse
   * with, writing a short human-readable reason (no secrets) into msg. */
  int (*admit)(void *ud, const tern_transport_request_t *req, char *msg, size_t msgsz);
  /* After the upgrade: make the session (on `loop`). A nonzero return
   * closes the connection: TERN_EBUSY with 1013 (try again later),
   * anything else with 1011. */
  int (*open)(void *ud, tern_loop_t *loop, const tern_transport_request_t *req,
              tern_transport_session_t *out);
  /* The connection is gone: destroy the session and what it used. The
   * session is closed already. */
  void (*release)(void *ud, tern_transport_session_t *ts);
  void *ud;
} tern_transport_opts_t;

/* Listen. Returns 0, TERN_EINVAL, TERN_ENOMEM or TERN_EIO (the port could
 * not be bound, or lws has no context for the loop). */
int tern_transport_create(tern_loop_t *loop, const tern_transport_opts_t *opts,
                          tern_transport_t **out);
/* The port actually listened on. */
int tern_transport_port(const tern_transport_t *t);
/* Open connections with a session. */
size_t tern_transport_count(const tern_transport_t *t);

/* Graceful end of every session: the agent says `goodbye` (NULL: the
 * built-in phrase), then each closes with `reason` and code 1000. */
void tern_transport_end_all(tern_transport_t *t, const char *goodbye, const char *reason);
/* Close every session now (code 1000, `reason`). */
void tern_transport_close_all(tern_transport_t *t, const char *reason);

/* Teardown, in this order, on the loop's thread:
 *   tern_transport_shutdown(t);  every session released, connections
 *                                detached, new requests refused
 *   tern_loop_destroy(loop);     the lws context goes, with the vhost
 *   tern_transport_free(t);
 * The vhost belongs to the loop's lws context, so the transport's memory
 * must outlive it. */
void tern_transport_shutdown(tern_transport_t *t);
void tern_transport_free(tern_transport_t *t);

#ifdef __cplusplus
}
#endif
#endif
