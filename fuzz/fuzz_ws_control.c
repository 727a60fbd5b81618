/* libFuzzer target for the session protocol's client control messages
 * (tern__ws_msg_parse: the text frames say / interrupt / end / ping and
 * whatever else a client sends).
 *
 * Checked: 0 comes with a known type, a say with non-empty text, an end
 * with a non-empty NUL-terminated reason of at most 63 bytes; TERN_EFORMAT
 * with a non-empty sentence for the client and nothing to release;
 * TERN_ENOMEM only when memory ran out (never here). Nothing crashes or
 * leaks. The input is copied into a buffer of exactly size + 1 bytes with
 * the NUL the parser's contract asks for (the transport keeps one after
 * every text message), so a read past it trips ASan. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tern/error.h"
#include "transport/ws_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = malloc(size + 1);
  if (!buf)
    return 0;
  memcpy(buf, data, size);
  buf[size] = '\0';
  tern__ws_msg_t m;
  char err[96];
  memset(err, 'x', sizeof err);
  int rc = tern__ws_msg_parse(buf, size, &m, err, sizeof err);
  if (rc == 0) {
    switch (m.type) {
    case TERN__WS_MSG_PING:
    case TERN__WS_MSG_INTERRUPT:
      break;
    case TERN__WS_MSG_SAY:
      if (!m.text || !m.text[0] || !m.root)
        abort();
      break;
    case TERN__WS_MSG_END:
      if (!memchr(m.reason, '\0', sizeof m.reason) || !m.reason[0])
        abort();
      break;
    default:
      abort();
    }
    tern__ws_msg_clear(&m);
  } else if (rc == TERN_EFORMAT) {
    if (!memchr(err, '\0', sizeof err) || !err[0] || m.root)
      abort();
  } else {
    abort();
  }
  free(buf);
  return 0;
}
