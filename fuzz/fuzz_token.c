/* libFuzzer target for access-token verification (tern_token_verify).
 *
 * The first byte picks the mode. Raw: the rest is the token text, as it
 * arrives in ?access_token= or an Authorization header. Signed: the rest is
 * a claims object, signed here with the right secret (libjwt), so the
 * fuzzer gets past the signature check to the claim checks (issuer, times,
 * the room grant), which a forged token never reaches.
 *
 * Checked: verification returns 0 with status VALID, NUL-terminated
 * claims and a non-empty room (a signed token without `sub` is accepted
 * with an empty identity: reported to the lead, not asserted here); or
 * TERN_EINVAL with another status and a NUL-terminated, non-empty sentence
 * that never quotes the token's signature. Nothing crashes or leaks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jwt.h>

#include "tern/error.h"
#include "tern/token.h"

#define SECRET "fuzz-secret-0123456789abcdef"

static void check(const char *token, int64_t now, int64_t leeway) {
  tern_token_keys_t keys = {"APIfuzzkey", SECRET};
  tern_token_claims_t cl;
  tern_token_status_t st = (tern_token_status_t)99;
  char err[160];
  memset(err, 'x', sizeof err);
  memset(&cl, 'y', sizeof cl);
  int rc = tern_token_verify(&keys, token, now, leeway, &cl, &st, err, sizeof err);
  if (rc == 0) {
    if (st != TERN_TOKEN_VALID || !memchr(cl.identity, '\0', sizeof cl.identity) ||
        !memchr(cl.room, '\0', sizeof cl.room) || !memchr(cl.name, '\0', sizeof cl.name) ||
        !cl.room[0])
      abort();
    return;
  }
  if (rc != TERN_EINVAL || st == TERN_TOKEN_VALID || st > TERN_TOKEN_MISSING_GRANT)
    abort();
  if (!memchr(err, '\0', sizeof err) || !err[0])
    abort();
  const char *sig = token ? strrchr(token, '.') : NULL;
  if (sig && strlen(sig + 1) >= 16 && strstr(err, sig + 1))
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 8192)
    return 0;
  char *text = malloc(size);
  memcpy(text, data + 1, size - 1);
  text[size - 1] = '\0';
  static const int64_t nows[] = {1732240000, 0, -5, INT64_MAX, INT64_MIN};
  int64_t now = nows[(data[0] >> 1) % 5];
  int64_t leeway = (data[0] & 0x20) ? -1 : (int64_t)(data[0] >> 6) * 1000000000LL;
  if (!(data[0] & 1)) {
    check(text, now, leeway);
  } else {
    jwt_t *j = NULL;
    if (jwt_new(&j) == 0 && jwt_add_grants_json(j, text) == 0 &&
        jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)SECRET, sizeof SECRET - 1) == 0) {
      char *tok = jwt_encode_str(j);
      if (tok) {
        check(tok, now, leeway);
        free(tok);
      }
    }
    jwt_free(j);
  }
  if (data[0] == 0xff)
    check(NULL, now, leeway);
  free(text);
  return 0;
}
