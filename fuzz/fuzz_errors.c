/* libFuzzer target for the provider error-body classifier
 * (tern_error_from_response): OpenAI, Anthropic, Deepgram and ElevenLabs
 * error bodies, HTML pages and garbage, with any status.
 *
 * The first two bytes pick the HTTP status (0, no response, included) and
 * the component; the rest is the body. A body may quote the API key: every
 * "@K" in it is replaced by a registered secret, so the fuzzer reaches
 * echoed keys easily. Checked: the call succeeds and fills a kind and a
 * message that is NUL-terminated, non-empty, valid UTF-8 without control
 * characters, never holds the secret, and never quotes more than a few
 * hundred bytes; retryable matches the kind's default except where the
 * documented classification says otherwise (it only ever may for a
 * certificate problem, which no body can express). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tern/error.h"
#include "tern/log.h"
#include "tern/taxonomy.h"

#define SECRET "zq9XfUzzSecretValue77"

static int utf8_ok(const unsigned char *s) {
  while (*s) {
    size_t n = *s < 0x80 ? 1 : (*s & 0xe0) == 0xc0 ? 2 : (*s & 0xf0) == 0xe0 ? 3
                                                   : (*s & 0xf8) == 0xf0 ? 4 : 0;
    if (!n)
      return 0;
    for (size_t i = 1; i < n; i++)
      if ((s[i] & 0xc0) != 0x80)
        return 0;
    s += n;
  }
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int init;
  if (!init) {
    tern_secret_register(SECRET);
    init = 1;
  }
  if (size < 2)
    return 0;
  static const int statuses[] = {0, 400, 401, 402, 403, 404, 408, 409, 413, 422, 429,
                                 499, 500, 502, 503, 504, 529, 200, 302, 100, 600, -1};
  int status = data[0] < 200 ? statuses[data[0] % (sizeof statuses / sizeof *statuses)]
                             : (int)data[0] * 3 - 200;
  tern_component_t comp = (tern_component_t)(data[1] % TERN_COMP__COUNT);
  const char *in = (const char *)data + 2;
  size_t n = size - 2;

  /* the body, with "@K" standing for the key */
  char *body = malloc(n * (sizeof SECRET) + 1);
  if (!body)
    return 0;
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    if (in[i] == '@' && i + 1 < n && in[i + 1] == 'K') {
      memcpy(body + len, SECRET, sizeof SECRET - 1);
      len += sizeof SECRET - 1;
      i++;
    } else {
      body[len++] = in[i];
    }
  }
  body[len] = '\0';

  tern_error_t e;
  memset(&e, 0xa5, sizeof e);
  if (tern_error_from_response(&e, comp, "fuzzprov", status, n ? body : NULL, len) != 0)
    abort();
  if (e.component != comp || e.kind >= TERN_KIND__COUNT)
    abort();
  if (!memchr(e.message, '\0', sizeof e.message) || !e.message[0] ||
      !memchr(e.provider, '\0', sizeof e.provider))
    abort();
  if (!utf8_ok((const unsigned char *)e.message))
    abort();
  for (const unsigned char *p = (const unsigned char *)e.message; *p; p++)
    if (*p < 0x20 || *p == 0x7f)
      abort();
  /* nor a piece of it left by a cut (unless the body spelled it out) */
  if (strstr(e.message, SECRET) ||
      (strstr(e.message, "zq9XfUzzSe") && !memmem(in, n, "zq9XfUzzSe", 10)))
    abort();
  if (e.retry_after != -1 && e.retry_after < 0)
    abort();
  if (e.retryable != tern_kind_retryable(e.kind))
    abort();
  free(body);
  return 0;
}
