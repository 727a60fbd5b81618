/* Access tokens: HS256 JSON Web Tokens in the style LiveKit users know.
 *
 *   {"iss":"<api key>","sub":"<identity>","iat":..,"nbf":..,"exp":..,
 *    "name":"<display name>","video":{"room":"<room>","roomJoin":true}}
 *
 * A token is signed with the API secret; the API key travels as `iss` so a
 * deployment can tell its key pairs apart. Verification checks, in this
 * order, that the token is well formed (three base64url parts, an HS256
 * header, a JSON payload with a numeric `exp` and a non-empty `sub`), that
 * the signature is right (before any claim is believed), that `iss` is our
 * key, that now is within [nbf - leeway, exp + leeway], and that the grant
 * allows joining a named room. Refusals say what was wrong, never the token itself.
 *
 * Time is an argument (unix seconds), so tests need no clock. Minting is
 * libjwt's (Debian's 1.10, which has no allocator hook: its few short-lived
 * allocations bypass tern_malloc); verification parses with tern's JSON
 * loader and checks the HMAC with libcrypto, so out of memory is told apart
 * from a bad token.
 */
#ifndef TERN_TOKEN_H
#define TERN_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_TOKEN_MAX_LEN 4096      /* longer tokens are malformed */
#define TERN_TOKEN_DEFAULT_TTL 21600 /* 6 h */
#define TERN_TOKEN_DEFAULT_LEEWAY 30 /* seconds of clock skew forgiven */
#define TERN_TOKEN_FIELD_MAX 128     /* identity, name and room, bytes */

typedef struct tern_token_keys {
  const char *api_key;    /* the issuer */
  const char *api_secret; /* the HMAC key */
} tern_token_keys_t;

typedef struct tern_token_grant {
  const char *identity; /* sub; required */
  const char *name;     /* display name; NULL: none */
  const char *room;     /* required */
  int64_t ttl;          /* seconds; 0: TERN_TOKEN_DEFAULT_TTL */
} tern_token_grant_t;

/* Why a token was refused. */
typedef enum tern_token_status {
  TERN_TOKEN_VALID = 0,
  TERN_TOKEN_MISSING,       /* no token at all */
  TERN_TOKEN_MALFORMED,     /* not a JWT we accept (structure, algorithm, JSON) */
  TERN_TOKEN_BAD_SIGNATURE, /* not signed with our secret */
  TERN_TOKEN_WRONG_ISSUER,  /* iss is not our API key */
  TERN_TOKEN_EXPIRED,
  TERN_TOKEN_NOT_YET_VALID,
  TERN_TOKEN_MISSING_GRANT /* no video grant, roomJoin not true, or an empty room */
} tern_token_status_t;

/* What a valid token says. */
typedef struct tern_token_claims {
  char identity[TERN_TOKEN_FIELD_MAX];
  char name[TERN_TOKEN_FIELD_MAX];
  char room[TERN_TOKEN_FIELD_MAX];
  int64_t exp, nbf;
} tern_token_claims_t;

/* "expired", "bad_signature", ... (for logs and metrics labels). */
const char *tern_token_status_name(tern_token_status_t st);

/* Mint a token valid from `now` (unix seconds) for grant->ttl. *out is a
 * NUL-terminated string to tern_free. Returns 0, TERN_EINVAL (missing
 * key, secret, identity or room, a field over TERN_TOKEN_FIELD_MAX, or a
 * ttl not in 1 s .. 366 days), TERN_ENOMEM or TERN_EIO (libjwt failed). */
int tern_token_mint(const tern_token_keys_t *keys, const tern_token_grant_t *grant, int64_t now,
                    char **out);

/* Verify `token` at `now` (unix seconds), forgiving `leeway` seconds of
 * skew (< 0: TERN_TOKEN_DEFAULT_LEEWAY). Returns 0 with *status VALID and
 * the claims in *out (may be NULL); TERN_EINVAL when refused, with
 * *status and a sentence in err; TERN_ENOMEM. */
int tern_token_verify(const tern_token_keys_t *keys, const char *token, int64_t now, int64_t leeway,
                      tern_token_claims_t *out, tern_token_status_t *status, char *err,
                      size_t errsz);

#ifdef __cplusplus
}
#endif
#endif
