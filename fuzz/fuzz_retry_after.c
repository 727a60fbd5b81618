/* libFuzzer target for Retry-After parsing: delta-seconds (also
 * fractional), the three HTTP-date forms, OpenAI's retry-after-ms, Go-style
 * durations, and the header pair together.
 *
 * The input is split at the first NUL into two header values (the rest of
 * the first byte's bits pick "now"). Checked: a parse either fails without
 * writing the output or gives a wait in [0, TERN_RETRY_AFTER_MAX]; the
 * pair gives retry-after-ms's value when that one parses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tern/error.h"
#include "tern/taxonomy.h"

#define POISON ((tern_usec_t)0x5a5a5a5a5a5a)

static void check(int rc, tern_usec_t v) {
  if (rc == 0 && (v < 0 || v > TERN_RETRY_AFTER_MAX))
    abort();
  if (rc != 0 && (rc != TERN_EINVAL || v != POISON))
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 4096)
    return 0;
  /* now: around the epoch, today, or far in the future */
  static const int64_t nows[] = {0, 784111777000, 1732240000123, INT64_MAX / 2, -1000};
  int64_t now = nows[data[0] % 5];
  char *buf = malloc(size + 1);
  if (!buf)
    return 0;
  memcpy(buf, data + 1, size - 1);
  buf[size - 1] = '\0';
  const char *a = buf;
  size_t alen = strlen(a);
  const char *b = alen + 1 < size ? buf + alen + 1 : "";

  tern_usec_t v = POISON;
  check(tern_retry_after_parse(a, now, &v), v);
  v = POISON;
  int ms_rc = tern_retry_after_ms_parse(a, &v);
  check(ms_rc, v);
  tern_usec_t ms_v = v;
  v = POISON;
  check(tern_duration_parse(a, &v), v);
  v = POISON;
  int rc = tern_retry_after_from_headers(a, b, now, &v);
  if (rc == 0 && (v < 0 || v > TERN_RETRY_AFTER_MAX))
    abort();
  if (rc != 0 && rc != TERN_ENOENT)
    abort();
  if (ms_rc == 0 && (rc != 0 || v != ms_v))
    abort();
  v = POISON;
  rc = tern_retry_after_from_headers(NULL, b, now, &v);
  if (rc != 0 && rc != TERN_ENOENT)
    abort();
  free(buf);
  return 0;
}
