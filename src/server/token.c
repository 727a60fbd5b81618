/* Access tokens (HS256 JWT, LiveKit-style grant): minting and verification.
 *
 * The structure, header and payload are parsed here with jansson so every
 * refusal can say precisely what was wrong; libjwt does the HMAC (signing,
 * and the constant-time signature check in jwt_decode). The signature is
 * checked before any claim is looked at, so a forged token is reported as
 * forged, never as "expired". Messages never contain the token.
 */
#include "tern/token.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/json.h"

#define MAX_TTL (366LL * 24 * 3600)

const char *tern_token_status_name(tern_token_status_t st) {
  switch (st) {
  case TERN_TOKEN_VALID:
    return "valid";
  case TERN_TOKEN_MISSING:
    return "missing";
  case TERN_TOKEN_MALFORMED:
    return "malformed";
  case TERN_TOKEN_BAD_SIGNATURE:
    return "bad_signature";
  case TERN_TOKEN_WRONG_ISSUER:
    return "wrong_issuer";
  case TERN_TOKEN_EXPIRED:
    return "expired";
  case TERN_TOKEN_NOT_YET_VALID:
    return "not_yet_valid";
  case TERN_TOKEN_MISSING_GRANT:
    return "missing_grant";
  }
  return "?";
}

static bool field_ok(const char *s) { return s && *s && strlen(s) < TERN_TOKEN_FIELD_MAX; }

int tern_token_mint(const tern_token_keys_t *keys, const tern_token_grant_t *g, int64_t now,
                    char **out) {
  if (!out)
    return TERN_EINVAL;
  *out = NULL;
  if (!keys || !g || !keys->api_key || !*keys->api_key || !keys->api_secret || !*keys->api_secret ||
      !field_ok(g->identity) || !field_ok(g->room) || (g->name && !field_ok(g->name)))
    return TERN_EINVAL;
  int64_t ttl = g->ttl ? g->ttl : TERN_TOKEN_DEFAULT_TTL;
  if (ttl < 1 || ttl > MAX_TTL || now < 0)
    return TERN_EINVAL;
  /* The grant goes in as JSON built by jansson, so any characters in the
   * room name are escaped correctly. */
  json_t *grant = json_pack("{s:{s:s,s:b}}", "video", "room", g->room, "roomJoin", 1);
  char *grant_s = grant ? tern_json_dump(grant) : NULL;
  json_decref(grant);
  if (!grant_s)
    return TERN_ENOMEM;
  jwt_t *j = NULL;
  int rc = TERN_EIO;
  char *tok = NULL;
  if (jwt_new(&j) != 0) {
    rc = TERN_ENOMEM;
    goto done;
  }
  if (jwt_add_grant(j, "iss", keys->api_key) || jwt_add_grant(j, "sub", g->identity) ||
      (g->name && jwt_add_grant(j, "name", g->name)) || jwt_add_grant_int(j, "iat", (long)now) ||
      jwt_add_grant_int(j, "nbf", (long)now) || jwt_add_grant_int(j, "exp", (long)(now + ttl)) ||
      jwt_add_grants_json(j, grant_s) ||
      jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)keys->api_secret,
                  (int)strlen(keys->api_secret)))
    goto done;
  tok = jwt_encode_str(j);
  if (!tok)
    goto done;
  rc = (*out = tern_strdup(tok)) ? 0 : TERN_ENOMEM;
done:
  if (tok) {
    free(tok); /* libjwt's allocation */
  }
  jwt_free(j);
  tern_free(grant_s);
  return rc;
}

/* ---- verification ------------------------------------------------------- */

static int b64url_val(unsigned char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '-')
    return 62;
  if (c == '_')
    return 63;
  return -1;
}

/* Decode unpadded base64url into a fresh NUL-terminated buffer. */
static int b64url_decode(const char *s, size_t n, char **out, size_t *outlen) {
  if (n % 4 == 1)
    return TERN_EFORMAT;
  char *b = tern_malloc(n * 3 / 4 + 3);
  if (!b)
    return TERN_ENOMEM;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64url_val((unsigned char)s[i]);
    if (v < 0) {
      tern_free(b);
      return TERN_EFORMAT;
    }
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      b[o++] = (char)((acc >> bits) & 0xff);
    }
  }
  b[o] = '\0';
  *out = b;
  *outlen = o;
  return 0;
}

static int decode_json(const char *s, size_t n, json_t **out) {
  char *raw;
  size_t len;
  int rc = b64url_decode(s, n, &raw, &len);
  if (rc)
    return rc;
  rc = tern_json_load(raw, len, 0, out, NULL);
  tern_free(raw);
  if (rc)
    return rc;
  if (!json_is_object(*out)) {
    json_decref(*out);
    *out = NULL;
    return TERN_EFORMAT;
  }
  return 0;
}

/* HMAC-SHA256 over "header.payload", compared in constant time. Done with
 * libcrypto directly rather than jwt_decode: libjwt parses with jansson,
 * whose allocations are tern's, and reports their failure as EINVAL, which
 * would turn "out of memory" into "bad signature". */
static int check_signature(const char *secret, const char *token, const char *dot2, bool *ok) {
  *ok = false;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int maclen = 0;
  if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)token,
            (size_t)(dot2 - token), mac, &maclen))
    return TERN_ENOMEM;
  char *sig;
  size_t siglen;
  int rc = b64url_decode(dot2 + 1, strlen(dot2 + 1), &sig, &siglen);
  if (rc == TERN_ENOMEM)
    return rc;
  if (rc)
    return 0; /* not base64url: not our signature */
  *ok = siglen == maclen && CRYPTO_memcmp(sig, mac, maclen) == 0;
  tern_free(sig);
  return 0;
}

static int refuse(tern_token_status_t *status, tern_token_status_t st, char *err, size_t errsz,
                  const char *msg) {
  *status = st;
  if (err && errsz)
    snprintf(err, errsz, "%s", msg);
  return TERN_EINVAL;
}

/* A time claim in seconds. Anything outside [0, 2^40] (tens of thousands
 * of years) is refused as malformed, so arithmetic on it cannot overflow
 * and a huge or non-finite real cannot reach an integer conversion. */
#define CLAIM_MAX ((int64_t)1 << 40)

static bool num_claim(json_t *payload, const char *key, int64_t *out) {
  json_t *v = json_object_get(payload, key);
  if (json_is_integer(v)) {
    json_int_t i = json_integer_value(v);
    if (i < 0 || i > CLAIM_MAX)
      return false;
    *out = (int64_t)i;
    return true;
  }
  if (json_is_real(v)) {
    double d = json_real_value(v);
    if (!(d >= 0.0 && d <= (double)CLAIM_MAX))
      return false;
    *out = (int64_t)d;
    return true;
  }
  return false;
}

static void copy_claim(char *dst, json_t *v) {
  const char *s = json_is_string(v) ? json_string_value(v) : "";
  snprintf(dst, TERN_TOKEN_FIELD_MAX, "%s", s);
}

int tern_token_verify(const tern_token_keys_t *keys, const char *token, int64_t now, int64_t leeway,
                      tern_token_claims_t *out, tern_token_status_t *status, char *err,
                      size_t errsz) {
  tern_token_status_t st_local;
  if (!status)
    status = &st_local;
  *status = TERN_TOKEN_MALFORMED;
  if (err && errsz)
    err[0] = '\0';
  /* Keep the time arithmetic below in range whatever the caller passes:
   * claims are bounded to [0, 2^40], so are now and the leeway (a day). */
  if (now < 0)
    now = 0;
  if (now > CLAIM_MAX)
    now = CLAIM_MAX;
  if (leeway < 0)
    leeway = TERN_TOKEN_DEFAULT_LEEWAY;
  if (leeway > 86400)
    leeway = 86400;
  if (!keys || !keys->api_key || !keys->api_secret || !*keys->api_secret)
    return TERN_EINVAL;
  if (!token || !*token)
    return refuse(status, TERN_TOKEN_MISSING, err, errsz, "no access token");
  size_t len = strnlen(token, TERN_TOKEN_MAX_LEN + 1);
  if (len > TERN_TOKEN_MAX_LEN)
    return refuse(status, TERN_TOKEN_MALFORMED, err, errsz, "malformed token: too long");
  const char *d1 = strchr(token, '.');
  const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
  if (!d1 || !d2 || strchr(d2 + 1, '.') || d2[1] == '\0')
    return refuse(status, TERN_TOKEN_MALFORMED, err, errsz,
                  "malformed token: expected three dot-separated parts");
  json_t *hdr = NULL, *payload = NULL;
  int rc = decode_json(token, (size_t)(d1 - token), &hdr);
  if (rc == TERN_ENOMEM)
    return rc;
  if (rc)
    return refuse(status, TERN_TOKEN_MALFORMED, err, errsz,
                  "malformed token: the header is not base64url JSON");
  json_t *alg = json_object_get(hdr, "alg");
  bool hs256 = json_is_string(alg) && !strcmp(json_string_value(alg), "HS256");
  json_decref(hdr);
  if (!hs256)
    return refuse(status, TERN_TOKEN_MALFORMED, err, errsz,
                  "malformed token: only the HS256 algorithm is accepted");
  rc = decode_json(d1 + 1, (size_t)(d2 - d1 - 1), &payload);
  if (rc == TERN_ENOMEM)
    return rc;
  if (rc)
    return refuse(status, TERN_TOKEN_MALFORMED, err, errsz,
                  "malformed token: the payload is not base64url JSON");
  if (strlen(d2 + 1) > 86) { /* a SHA-256 MAC is 43 characters */
    json_decref(payload);
    return refuse(status, TERN_TOKEN_MALFORMED, err, errsz,
                  "malformed token: the signature is too long");
  }
  int64_t exp = 0, nbf = INT64_MIN;
  if (!num_claim(payload, "exp", &exp)) {
    json_decref(payload);
    return refuse(status, TERN_TOKEN_MALFORMED, err, errsz,
                  "malformed token: no numeric exp claim");
  }
  json_t *sub = json_object_get(payload, "sub");
  if (!json_is_string(sub) || !*json_string_value(sub)) {
    json_decref(payload);
    return refuse(status, TERN_TOKEN_MALFORMED, err, errsz,
                  "malformed token: no sub (identity) claim");
  }
  if (json_object_get(payload, "nbf") && !num_claim(payload, "nbf", &nbf)) {
    json_decref(payload);
    return refuse(status, TERN_TOKEN_MALFORMED, err, errsz, "malformed token: nbf is not a number");
  }

  /* Only now, with a well-formed token, does the signature decide. */
  bool sig_ok = false;
  rc = check_signature(keys->api_secret, token, d2, &sig_ok);
  if (rc) {
    json_decref(payload);
    return rc;
  }
  if (!sig_ok) {
    json_decref(payload);
    return refuse(status, TERN_TOKEN_BAD_SIGNATURE, err, errsz,
                  "bad signature: the token was not signed with this server's API secret");
  }

  json_t *iss = json_object_get(payload, "iss");
  if (!json_is_string(iss) || strcmp(json_string_value(iss), keys->api_key)) {
    json_decref(payload);
    return refuse(status, TERN_TOKEN_WRONG_ISSUER, err, errsz,
                  "wrong issuer: iss is not this server's API key");
  }
  if (now >= exp + leeway) {
    json_decref(payload);
    *status = TERN_TOKEN_EXPIRED;
    if (err && errsz)
      snprintf(err, errsz, "token expired %lld s ago", (long long)(now - exp));
    return TERN_EINVAL;
  }
  if (nbf != INT64_MIN && now + leeway < nbf) {
    json_decref(payload);
    *status = TERN_TOKEN_NOT_YET_VALID;
    if (err && errsz)
      snprintf(err, errsz, "token not yet valid (valid in %lld s)", (long long)(nbf - now));
    return TERN_EINVAL;
  }
  json_t *video = json_object_get(payload, "video");
  json_t *room = json_object_get(video, "room");
  json_t *join = json_object_get(video, "roomJoin");
  if (!json_is_object(video) || !json_is_true(join) || !json_is_string(room) ||
      !*json_string_value(room) || strlen(json_string_value(room)) >= TERN_TOKEN_FIELD_MAX) {
    json_decref(payload);
    return refuse(status, TERN_TOKEN_MISSING_GRANT, err, errsz,
                  "missing grant: the token has no video grant with roomJoin and a room");
  }
  if (out) {
    memset(out, 0, sizeof *out);
    copy_claim(out->identity, json_object_get(payload, "sub"));
    copy_claim(out->name, json_object_get(payload, "name"));
    copy_claim(out->room, room);
    out->exp = exp;
    out->nbf = nbf == INT64_MIN ? 0 : nbf;
  }
  json_decref(payload);
  *status = TERN_TOKEN_VALID;
  return 0;
}
