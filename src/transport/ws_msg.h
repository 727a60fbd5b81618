/* The client's control messages of the session protocol (docs/protocol.md,
 * "Client to server"): one JSON object per text frame, parsed into a
 * tagged struct with no side effects, so the WebSocket transport acts on
 * it and a fuzzer and unit tests reach every branch without a socket.
 * Not a public header: the transport's and its tests' only. */
#ifndef TERN_TRANSPORT_WS_MSG_H
#define TERN_TRANSPORT_WS_MSG_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define TERN__WS_REASON_MAX 64 /* "end" reason, NUL included */

typedef enum tern__ws_msg_type {
  TERN__WS_MSG_PING = 1,
  TERN__WS_MSG_SAY,
  TERN__WS_MSG_INTERRUPT,
  TERN__WS_MSG_END
} tern__ws_msg_type_t;

typedef struct tern__ws_msg {
  tern__ws_msg_type_t type;
  const char *text;          /* SAY: non-empty, points into the parsed message */
  bool allow_interruptions;  /* SAY: true unless the client said false */
  char reason[TERN__WS_REASON_MAX]; /* END: the client's reason cut to 63 bytes,
                                     * "caller_ended" when none was given */
  json_t *root;              /* owns `text`; released by tern__ws_msg_clear */
} tern__ws_msg_t;

/* Parse one text message of len bytes; buf[len] must be '\0' (the JSON
 * loader's contract: a number at the very end is read with strtoll). Returns 0 with *out
 * filled (release it with tern__ws_msg_clear); TERN_EFORMAT when the client
 * sent something malformed, with the sentence the client is told in err;
 * TERN_ENOMEM when memory ran out (the message is dropped, nobody is at
 * fault). On an error *out holds nothing to release. */
int tern__ws_msg_parse(const char *buf, size_t len, tern__ws_msg_t *out, char *err, size_t errsz);
void tern__ws_msg_clear(tern__ws_msg_t *m);

#endif
