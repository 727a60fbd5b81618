/* The session protocol's client control messages (docs/protocol.md): what
 * each well-formed message asks for, and the exact sentence a client gets
 * back for each malformed one, since clients show and match on it. */
#include "testutil.h"

#include <stdbool.h>

#include "tern/error.h"
#include "transport/ws_msg.h"

typedef struct row {
  const char *in;
  int rc;
  tern__ws_msg_type_t type; /* when rc == 0 */
  const char *text;         /* say */
  bool ai;                  /* say */
  const char *reason;       /* end */
  const char *err;          /* when rc == TERN_EFORMAT */
} row_t;

#define OK(in, type) {in, 0, type, NULL, false, NULL, NULL}
#define SAY(in, text, ai) {in, 0, TERN__WS_MSG_SAY, text, ai, NULL, NULL}
#define END(in, reason) {in, 0, TERN__WS_MSG_END, NULL, false, reason, NULL}
#define BAD(in, err) {in, TERN_EFORMAT, 0, NULL, false, NULL, err}

static const char k_not_object[] = "malformed message: expected one JSON object";
static const char k_no_type[] = "malformed message: no \"type\"";
static const char k_say_text[] = "say: \"text\" must be a non-empty string";
static const char k_say_ai[] = "say: \"allow_interruptions\" must be true or false";
static const char k_unknown[] = "unknown message type";

static const row_t k_rows[] = {
    OK("{\"type\":\"ping\"}", TERN__WS_MSG_PING),
    OK("  {\"type\" : \"ping\", \"extra\": [1,2]}  ", TERN__WS_MSG_PING),
    OK("{\"type\":\"interrupt\"}", TERN__WS_MSG_INTERRUPT),
    SAY("{\"type\":\"say\",\"text\":\"Hello there.\"}", "Hello there.", true),
    SAY("{\"type\":\"say\",\"text\":\"Hi\",\"allow_interruptions\":false}", "Hi", false),
    SAY("{\"type\":\"say\",\"text\":\"Hi\",\"allow_interruptions\":true}", "Hi", true),
    SAY("{\"type\":\"say\",\"text\":\"caf\\u00e9\"}", "caf\xc3\xa9", true),
    END("{\"type\":\"end\"}", "caller_ended"),
    END("{\"type\":\"end\",\"reason\":\"\"}", "caller_ended"),
    END("{\"type\":\"end\",\"reason\":7}", "caller_ended"),
    END("{\"type\":\"end\",\"reason\":\"done_here\"}", "done_here"),
    /* 70 bytes: cut to the 63 that fit in session_closed's reason */
    END("{\"type\":\"end\",\"reason\":\"0123456789012345678901234567890123456789012345678901234567890123456789\"}",
        "012345678901234567890123456789012345678901234567890123456789012"),
    BAD("", k_not_object),
    BAD("not json", k_not_object),
    BAD("[\"type\",\"ping\"]", k_not_object),
    BAD("\"ping\"", k_not_object),
    BAD("42", k_not_object),
    BAD("{\"type\":\"ping\"", k_not_object),
    BAD("{\"type\":\"ping\"} {\"type\":\"ping\"}", k_not_object),
    BAD("{\"type\":\"ping\",\"type\":\"say\"}", k_not_object), /* duplicate keys */
    BAD("{}", k_no_type),
    BAD("{\"type\":null}", k_no_type),
    BAD("{\"type\":1}", k_no_type),
    BAD("{\"Type\":\"ping\"}", k_no_type),
    BAD("{\"type\":\"PING\"}", k_unknown),
    BAD("{\"type\":\"\"}", k_unknown),
    BAD("{\"type\":\"pong\"}", k_unknown),
    BAD("{\"type\":\"say\"}", k_say_text),
    BAD("{\"type\":\"say\",\"text\":\"\"}", k_say_text),
    BAD("{\"type\":\"say\",\"text\":5}", k_say_text),
    BAD("{\"type\":\"say\",\"text\":\"x\",\"allow_interruptions\":\"no\"}", k_say_ai),
    BAD("{\"type\":\"say\",\"text\":\"x\",\"allow_interruptions\":0}", k_say_ai),
    /* the text check comes first when both are wrong */
    BAD("{\"type\":\"say\",\"allow_interruptions\":1}", k_say_text),
};

static void test_table(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof k_rows / sizeof k_rows[0]; i++) {
    const row_t *r = &k_rows[i];
    tern__ws_msg_t m;
    char err[96] = "unset";
    int rc = tern__ws_msg_parse(r->in, strlen(r->in), &m, err, sizeof err);
    if (rc != r->rc)
      fail_msg("row %zu (%s): rc %d, expected %d", i, r->in, rc, r->rc);
    if (rc) {
      assert_string_equal(err, r->err);
      assert_null(m.root);
      continue;
    }
    assert_int_equal(m.type, r->type);
    if (r->type == TERN__WS_MSG_SAY) {
      assert_string_equal(m.text, r->text);
      assert_int_equal(m.allow_interruptions, r->ai);
    }
    if (r->type == TERN__WS_MSG_END)
      assert_string_equal(m.reason, r->reason);
    tern__ws_msg_clear(&m);
    assert_null(m.root);
  }
}

/* An embedded NUL ends nothing: the frame's length counts, and a NUL
 * inside is malformed rather than a cut-off message that parses. */
static void test_embedded_nul(void **state) {
  (void)state;
  tern__ws_msg_t m;
  char err[96];
  const char nul[] = "{\"type\":\"ping\"}\0garbage";
  assert_int_equal(tern__ws_msg_parse(nul, sizeof nul - 1, &m, err, sizeof err), TERN_EFORMAT);
  assert_string_equal(err, k_not_object);
  const char num[] = "[1,2"; /* a number last: read up to the NUL only */
  assert_int_equal(tern__ws_msg_parse(num, sizeof num - 1, &m, err, sizeof err), TERN_EFORMAT);
}

/* A small err buffer still gets a terminated prefix of the sentence. */
static void test_short_err_buffer(void **state) {
  (void)state;
  tern__ws_msg_t m;
  char err[8];
  assert_int_equal(tern__ws_msg_parse("{}", 2, &m, err, sizeof err), TERN_EFORMAT);
  assert_string_equal(err, "malform");
  assert_int_equal(tern__ws_msg_parse("{}", 2, &m, NULL, 0), TERN_EFORMAT);
}

static int parse_say(void *ctx) {
  (void)ctx;
  const char *in = "{\"type\":\"say\",\"text\":\"Hello there, how are you?\","
                   "\"allow_interruptions\":false}";
  tern__ws_msg_t m;
  char err[96];
  int rc = tern__ws_msg_parse(in, strlen(in), &m, err, sizeof err);
  if (rc)
    return rc;
  if (m.type != TERN__WS_MSG_SAY || strcmp(m.text, "Hello there, how are you?"))
    rc = TERN_EINVAL;
  tern__ws_msg_clear(&m);
  return rc;
}

/* Out of memory is never blamed on the client (TERN_ENOMEM, not a protocol
 * error) and leaks nothing. */
static void test_out_of_memory(void **state) {
  (void)state;
  assert_true(tu_alloc_sweep(parse_say, NULL) > 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_embedded_nul),
      cmocka_unit_test(test_short_err_buffer),
      cmocka_unit_test(test_out_of_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
