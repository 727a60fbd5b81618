/* libFuzzer target for the Deepgram live message parser and close-frame
 * classifier: any bytes from the WebSocket must give a result or a clean
 * error, a Results message always carries a NUL-terminated transcript and
 * a confidence that is a number, and nothing may crash or leak. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tern/deepgram.h"
#include "tern/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
  tern_deepgram_msg_t m;
  int rc = tern_deepgram_msg_parse((const char *)d, n, &m);
  if (rc == 0) {
    if (m.type == TERN_DG_MSG_RESULTS && (!m.text || isnan(m.confidence)))
      abort();
    if (m.text && strlen(m.text) > n)
      abort();
    tern_deepgram_msg_free(&m);
  } else if (rc != TERN_EFORMAT && rc != TERN_ENOMEM) {
    abort();
  }
  /* the same bytes as a close frame's reason */
  tern_error_t err;
  int code = n >= 2 ? (d[0] << 8 | d[1]) : 1005;
  tern_deepgram_close_error(&err, "deepgram", code, n >= 2 ? (const char *)d + 2 : NULL,
                            n >= 2 ? n - 2 : 0);
  if (err.message[sizeof err.message - 1] != '\0' && strlen(err.message) >= sizeof err.message)
    abort();
  return 0;
}
