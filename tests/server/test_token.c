/* Access tokens: what `tern token` mints, `tern serve` accepts, and every
 * way a token can be wrong, each named in the refusal. Time is an argument:
 * no clock. */
#include "testutil.h"

#include <jansson.h>
#include <jwt.h>
#include <stdlib.h>

#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/token.h"

#define NOW 1700000000LL

static const tern_token_keys_t k_keys = {"APIkey1", "a-long-enough-secret-for-hs256"};

static char *mint(const char *identity, const char *room, int64_t ttl, int64_t now) {
  tern_token_grant_t g = {identity, "Bob", room, ttl};
  char *t = NULL;
  assert_int_equal(tern_token_mint(&k_keys, &g, now, &t), 0);
  return t;
}

/* A token built by hand with libjwt, for claims tern_token_mint would
 * never write. */
static char *raw(const char *secret, const char *claims_json) {
  jwt_t *j;
  assert_int_equal(jwt_new(&j), 0);
  assert_int_equal(jwt_add_grants_json(j, claims_json), 0);
  assert_int_equal(
      jwt_set_alg(j, JWT_ALG_HS256, (const unsigned char *)secret, (int)strlen(secret)), 0);
  char *s = jwt_encode_str(j);
  jwt_free(j);
  char *t = tern_strdup(s);
  free(s);
  return t;
}

static tern_token_status_t check(const char *tok, int64_t now, char *err, size_t errsz) {
  tern_token_status_t st = TERN_TOKEN_VALID;
  int rc = tern_token_verify(&k_keys, tok, now, -1, NULL, &st, err, errsz);
  assert_true(rc == 0 || rc == TERN_EINVAL);
  assert_int_equal(rc == 0, st == TERN_TOKEN_VALID);
  return st;
}

static void test_minted_token_verifies_with_its_claims(void **state) {
  (void)state;
  char *t = mint("alice", "room-7", 3600, NOW);
  tern_token_claims_t c;
  tern_token_status_t st;
  char err[200];
  assert_int_equal(tern_token_verify(&k_keys, t, NOW + 10, -1, &c, &st, err, sizeof err), 0);
  assert_int_equal(st, TERN_TOKEN_VALID);
  assert_string_equal(c.identity, "alice");
  assert_string_equal(c.name, "Bob");
  assert_string_equal(c.room, "room-7");
  assert_int_equal(c.exp, NOW + 3600);
  assert_int_equal(c.nbf, NOW);
  /* Default ttl is 6 h. */
  tern_free(t);
  t = mint("alice", "r", 0, NOW);
  assert_int_equal(check(t, NOW + 6 * 3600 - 31, NULL, 0), TERN_TOKEN_VALID);
  assert_int_equal(check(t, NOW + 6 * 3600 + 31, NULL, 0), TERN_TOKEN_EXPIRED);
  tern_free(t);
}

typedef struct tcase {
  const char *name;
  const char *secret;  /* NULL: a token from tern_token_mint */
  const char *claims;  /* for raw tokens */
  const char *literal; /* a literal token instead */
  int64_t at;          /* verify at NOW + at */
  tern_token_status_t want;
  const char *word; /* the refusal names this */
} tcase_t;

static void test_refusals_name_what_was_wrong(void **state) {
  (void)state;
  char good[512], nogrant[512], nojoin[512], emptyroom[512], wrongiss[512], future[512], noexp[512];
  snprintf(good, sizeof good,
           "{\"iss\":\"APIkey1\",\"sub\":\"a\",\"exp\":%lld,\"video\":{\"room\":\"r\",\"roomJoin\":"
           "true}}",
           NOW + 60);
  snprintf(nogrant, sizeof nogrant, "{\"iss\":\"APIkey1\",\"sub\":\"a\",\"exp\":%lld}", NOW + 60);
  snprintf(nojoin, sizeof nojoin,
           "{\"iss\":\"APIkey1\",\"sub\":\"a\",\"exp\":%lld,\"video\":{\"room\":\"r\",\"roomJoin\":"
           "false}}",
           NOW + 60);
  snprintf(emptyroom, sizeof emptyroom,
           "{\"iss\":\"APIkey1\",\"sub\":\"a\",\"exp\":%lld,\"video\":{\"room\":\"\",\"roomJoin\":"
           "true}}",
           NOW + 60);
  snprintf(
      wrongiss, sizeof wrongiss,
      "{\"iss\":\"other\",\"sub\":\"a\",\"exp\":%lld,\"video\":{\"room\":\"r\",\"roomJoin\":true}}",
      NOW + 60);
  snprintf(future, sizeof future,
           "{\"iss\":\"APIkey1\",\"sub\":\"a\",\"nbf\":%lld,\"exp\":%lld,\"video\":{\"room\":\"r\","
           "\"roomJoin\":true}}",
           NOW + 600, NOW + 6000);
  char nosub[512];
  snprintf(nosub, sizeof nosub,
           "{\"iss\":\"APIkey1\",\"exp\":%lld,\"video\":{\"room\":\"r\",\"roomJoin\":true}}",
           NOW + 60);
  snprintf(noexp, sizeof noexp,
           "{\"iss\":\"APIkey1\",\"sub\":\"a\",\"video\":{\"room\":\"r\",\"roomJoin\":true}}");
  const char *sec = k_keys.api_secret;
  const tcase_t cases[] = {
      {"valid raw", sec, good, NULL, 0, TERN_TOKEN_VALID, NULL},
      {"within leeway after exp", sec, good, NULL, 60 + 29, TERN_TOKEN_VALID, NULL},
      {"expired", sec, good, NULL, 60 + 30, TERN_TOKEN_EXPIRED, "expired"},
      {"forged", "some-other-secret-entirely", good, NULL, 0, TERN_TOKEN_BAD_SIGNATURE,
       "signature"},
      /* A forged token that is also expired is reported as forged. */
      {"forged and expired", "some-other-secret-entirely", good, NULL, 9999,
       TERN_TOKEN_BAD_SIGNATURE, "signature"},
      {"no grant", sec, nogrant, NULL, 0, TERN_TOKEN_MISSING_GRANT, "grant"},
      {"roomJoin false", sec, nojoin, NULL, 0, TERN_TOKEN_MISSING_GRANT, "grant"},
      {"empty room", sec, emptyroom, NULL, 0, TERN_TOKEN_MISSING_GRANT, "grant"},
      {"wrong issuer", sec, wrongiss, NULL, 0, TERN_TOKEN_WRONG_ISSUER, "issuer"},
      {"not yet valid", sec, future, NULL, 0, TERN_TOKEN_NOT_YET_VALID, "not yet valid"},
      {"nbf within leeway", sec, future, NULL, 600 - 29, TERN_TOKEN_VALID, NULL},
      {"no exp", sec, noexp, NULL, 0, TERN_TOKEN_MALFORMED, "exp"},
      {"no identity", sec, nosub, NULL, 0, TERN_TOKEN_MALFORMED, "sub"},
      {"empty", NULL, NULL, "", 0, TERN_TOKEN_MISSING, "no access token"},
      {"garbage", NULL, NULL, "not-a-token", 0, TERN_TOKEN_MALFORMED, "malformed"},
      {"two parts", NULL, NULL, "eyJhbGciOiJIUzI1NiJ9.eyJ9", 0, TERN_TOKEN_MALFORMED, "malformed"},
      {"four parts", NULL, NULL, "a.b.c.d", 0, TERN_TOKEN_MALFORMED, "malformed"},
      {"alg none", NULL, NULL,
       "eyJhbGciOiJub25lIn0.eyJpc3MiOiJBUElrZXkxIiwiZXhwIjo5OTk5OTk5OTk5fQ.x", 0,
       TERN_TOKEN_MALFORMED, "HS256"},
      {"bad base64", NULL, NULL, "eyJhbGciOiJIUzI1NiJ9.e$$$.abc", 0, TERN_TOKEN_MALFORMED,
       "malformed"},
      {"payload not json", NULL, NULL, "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.abc", 0,
       TERN_TOKEN_MALFORMED, "malformed"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const tcase_t *c = &cases[i];
    char *tok = c->literal ? tern_strdup(c->literal) : raw(c->secret, c->claims);
    char err[256] = "";
    tern_token_status_t st = check(tok, NOW + c->at, err, sizeof err);
    if (st != c->want)
      fail_msg("%s: got %s (%s), want %s", c->name, tern_token_status_name(st), err,
               tern_token_status_name(c->want));
    if (c->word && !strstr(err, c->word))
      fail_msg("%s: message '%s' does not say '%s'", c->name, err, c->word);
    /* Never echo the token. */
    if (strlen(tok) > 8 && strstr(err, tok))
      fail_msg("%s: the message repeats the token", c->name);
    tern_free(tok);
  }
}

static void test_mint_refuses_bad_grants(void **state) {
  (void)state;
  char *t = NULL;
  tern_token_grant_t g = {"id", NULL, "room", 60};
  tern_token_keys_t nokey = {"", "secret"};
  assert_int_equal(tern_token_mint(&nokey, &g, NOW, &t), TERN_EINVAL);
  tern_token_grant_t noroom = {"id", NULL, "", 60};
  assert_int_equal(tern_token_mint(&k_keys, &noroom, NOW, &t), TERN_EINVAL);
  tern_token_grant_t noid = {NULL, NULL, "room", 60};
  assert_int_equal(tern_token_mint(&k_keys, &noid, NOW, &t), TERN_EINVAL);
  tern_token_grant_t neg = {"id", NULL, "room", -5};
  assert_int_equal(tern_token_mint(&k_keys, &neg, NOW, &t), TERN_EINVAL);
  assert_null(t);
  /* Room names with quotes survive the JSON round trip. */
  tern_token_grant_t q = {"id", NULL, "a \"quoted\" room", 60};
  assert_int_equal(tern_token_mint(&k_keys, &q, NOW, &t), 0);
  tern_token_claims_t c;
  assert_int_equal(tern_token_verify(&k_keys, t, NOW, 0, &c, NULL, NULL, 0), 0);
  assert_string_equal(c.room, "a \"quoted\" room");
  tern_free(t);
}

static char *g_sweep_tok;
static int verify_once(void *ctx) {
  (void)ctx;
  tern_token_claims_t c;
  tern_token_status_t st;
  return tern_token_verify(&k_keys, g_sweep_tok, NOW, 0, &c, &st, NULL, 0);
}

static void test_verify_survives_allocation_failures(void **state) {
  (void)state;
  g_sweep_tok = mint("alice", "room", 60, NOW);
  long n = tu_alloc_sweep(verify_once, NULL);
  assert_true(n > 0);
  tern_free(g_sweep_tok);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_minted_token_verifies_with_its_claims),
      cmocka_unit_test(test_refusals_name_what_was_wrong),
      cmocka_unit_test(test_mint_refuses_bad_grants),
      cmocka_unit_test(test_verify_survives_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
