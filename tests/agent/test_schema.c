/* The argument validator: each row is a schema, arguments, and the message
 * the model would read (or NULL when the arguments are valid). */
#include "testutil.h"

#include <jansson.h>

#include "agent/tools_internal.h"
#include "tern/json.h"
#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/tools.h"

typedef struct {
  const char *schema;
  const char *args;
  const char *want; /* substring of the message; NULL: valid */
} row_t;

#define WEATHER                                                                                    \
  "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"},"                           \
  "\"unit\":{\"type\":\"string\",\"enum\":[\"celsius\",\"fahrenheit\"]}},"                         \
  "\"required\":[\"city\"]}"
#define MEETING                                                                                    \
  "{\"type\":\"object\",\"properties\":{\"day\":{\"type\":\"string\"},\"time\":{\"type\":"         \
  "\"string\"}},\"required\":[\"day\",\"time\"],\"additionalProperties\":false}"
#define NUMS                                                                                       \
  "{\"type\":\"object\",\"properties\":{\"people\":{\"type\":\"integer\",\"minimum\":1,"           \
  "\"maximum\":12},\"ratio\":{\"type\":\"number\"},\"ok\":{\"type\":\"boolean\"},"                 \
  "\"name\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":5},"                                \
  "\"note\":{\"type\":[\"string\",\"null\"]}}}"
#define NESTED                                                                                     \
  "{\"type\":\"object\",\"properties\":{\"tags\":{\"type\":\"array\",\"maxItems\":3,"              \
  "\"items\":{\"type\":\"string\"}},\"address\":{\"type\":\"object\",\"properties\":{\"street\":"  \
  "{\"type\":\"string\"},\"zip\":{\"type\":\"integer\"}},\"required\":[\"street\"],"               \
  "\"additionalProperties\":false}}}"

static const row_t rows[] = {
    {WEATHER, "{\"city\":\"Paris\"}", NULL},
    {WEATHER, "{\"city\":\"Paris\",\"unit\":\"celsius\",\"extra\":1}", NULL}, /* extras allowed */
    {WEATHER, "{\"city\":3}", "argument 'city' must be a string, got a number"},
    {WEATHER, "{\"city\":null}", "argument 'city' must be a string, got null"},
    {WEATHER, "{\"city\":[\"Paris\"]}", "argument 'city' must be a string, got an array"},
    {WEATHER, "{}", "missing required argument 'city'"},
    {WEATHER, "{\"city\":\"Oslo\",\"unit\":\"kelvin\"}",
     "argument 'unit' must be one of: celsius, fahrenheit"},
    {WEATHER, "[]", "arguments must be an object, got an array"},
    {MEETING, "{\"day\":\"monday\",\"time\":\"ten\"}", NULL},
    {MEETING, "{\"time\":\"ten\"}", "missing required argument 'day'"},
    {MEETING, "{\"day\":\"monday\",\"time\":\"ten\",\"foo\":1}", "unexpected argument 'foo'"},
    {NUMS, "{\"people\":4,\"ratio\":0.5,\"ok\":true,\"name\":\"abc\",\"note\":null}", NULL},
    {NUMS, "{\"people\":4.0}", NULL}, /* an integral number is an integer */
    {NUMS, "{\"people\":2.5}", "argument 'people' must be an integer"},
    {NUMS, "{\"people\":\"4\"}", "argument 'people' must be an integer, got a string"},
    {NUMS, "{\"people\":0}", "argument 'people' must be at least 1"},
    {NUMS, "{\"people\":13}", "argument 'people' must be at most 12"},
    {NUMS, "{\"ratio\":\"half\"}", "argument 'ratio' must be a number, got a string"},
    {NUMS, "{\"ok\":\"yes\"}", "argument 'ok' must be a boolean, got a string"},
    {NUMS, "{\"name\":\"a\"}", "argument 'name' must be at least 2 characters long"},
    {NUMS, "{\"name\":\"abcdef\"}", "argument 'name' must be at most 5 characters long"},
    {NUMS, "{\"name\":\"\xc3\xa9\xc3\xa9\xc3\xa9\"}", NULL}, /* counted in characters */
    {NUMS, "{\"note\":5}", "argument 'note' must be a string or null, got a number"},
    {NESTED, "{\"tags\":[\"a\",\"b\"],\"address\":{\"street\":\"Mill Lane\",\"zip\":12}}", NULL},
    {NESTED, "{\"tags\":[\"a\",2]}", "argument 'tags[1]' must be a string, got a number"},
    {NESTED, "{\"tags\":[\"a\",\"b\",\"c\",\"d\"]}", "argument 'tags' must have at most 3 items"},
    {NESTED, "{\"address\":{}}", "missing required argument 'address.street'"},
    {NESTED, "{\"address\":{\"street\":\"x\",\"zip\":\"x\"}}",
     "argument 'address.zip' must be an integer, got a string"},
    {NESTED, "{\"address\":{\"street\":\"x\",\"floor\":2}}", "unexpected argument 'address.floor'"},
    /* Unknown keywords constrain nothing. */
    {"{\"type\":\"object\",\"pattern\":\"x\",\"properties\":{\"a\":{\"format\":\"email\"}}}",
     "{\"a\":\"not an email\"}", NULL},
};

static void test_validation_table(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
    json_error_t je;
    json_t *schema = json_loads(rows[i].schema, 0, &je);
    json_t *args = json_loads(rows[i].args, JSON_DECODE_ANY, &je);
    assert_non_null(schema);
    assert_non_null(args);
    char err[256] = "untouched";
    int rc = tern_schema_validate(schema, args, err, sizeof err);
    if (!rows[i].want) {
      if (rc != 0)
        fail_msg("row %zu: expected valid, got \"%s\"", i, err);
    } else {
      if (rc != TERN_EINVAL)
        fail_msg("row %zu: expected \"%s\", got rc %d", i, rows[i].want, rc);
      if (!strstr(err, rows[i].want))
        fail_msg("row %zu: expected \"%s\" in \"%s\"", i, rows[i].want, err);
    }
    json_decref(schema);
    json_decref(args);
  }
}

static void test_small_error_buffer_is_safe(void **state) {
  (void)state;
  json_t *schema = json_loads(WEATHER, 0, NULL);
  json_t *args = json_loads("{\"city\":1}", 0, NULL);
  char err[8];
  assert_int_equal(tern_schema_validate(schema, args, err, sizeof err), TERN_EINVAL);
  assert_int_equal(strlen(err), sizeof err - 1);
  assert_int_equal(tern_schema_validate(schema, args, NULL, 0), TERN_EINVAL);
  json_decref(schema);
  json_decref(args);
}

static void test_json_load_classifies_failures(void **state) {
  (void)state;
  static const struct {
    const char *text;
    size_t flags;
    int want;
  } rows[] = {
      {"{\"a\": [1, 2.5, -0, 1e3, true, false, null, \"x\\n\\u00e9\\ud83d\\ude00\"]}", 0, 0},
      {"  {}  ", 0, 0},
      {"\"scalar\"", JSON_DECODE_ANY, 0},
      {"\"scalar\"", 0, TERN_EFORMAT},
      {"{\"a\":1,\"a\":2}", 0, TERN_EFORMAT}, /* duplicate keys */
      {"{\"a\":}", 0, TERN_EFORMAT},
      {"{\"a\":1} x", 0, TERN_EFORMAT},
      {"[01]", 0, TERN_EFORMAT},
      {"[\"\\ud800\"]", 0, TERN_EFORMAT}, /* a lone surrogate */
      {"[\"\xff\"]", 0, TERN_EFORMAT},    /* not UTF-8 */
      {"[99999999999999999999999]", 0, TERN_EFORMAT},
      {"", 0, TERN_EFORMAT},
  };
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
    json_t *j = NULL;
    json_error_t je;
    int rc = tern_json_load(rows[i].text, strlen(rows[i].text), rows[i].flags, &j, &je);
    if (rc != rows[i].want)
      fail_msg("row %zu (%s): rc %d, wanted %d", i, rows[i].text, rc, rows[i].want);
    assert_true((rc == 0) == (j != NULL));
    json_decref(j);
  }
  assert_true(tern_json_valid("{\"error\":\"x\"}", 13, "error"));
  assert_false(tern_json_valid("{\"errors\":\"x\"}", 14, "error"));
  assert_false(tern_json_valid("{\"a\":{\"error\":1}}", 17, "error")); /* only at the top */
  assert_false(tern_json_valid("{\"a\":1", 6, NULL));
  assert_true(tern_json_valid("42", 2, NULL));
}

/* Long tokens make jansson grow its token buffer; a failure there used to
 * drop a byte silently. Whatever fails, the tree is exact or refused. */
#define LONG_TEXT                                                                                  \
  "{\"a_rather_long_key_to_make_the_buffer_grow\":\"and a value that is longer than sixteen "      \
  "bytes, and longer still, so that the buffer grows more than once\",\"n\":123456789012345678}"

static json_t *reference;
static char *reference_text;

static int sweep_load(void *ud) {
  (void)ud;
  json_t *j;
  json_error_t je;
  int rc = tern_json_load(LONG_TEXT, strlen(LONG_TEXT), 0, &j, &je);
  if (rc == 0) {
    if (!json_equal(j, reference)) {
      char *d = json_dumps(j, 0);
      fail_msg("tree differs: %s", d);
    }
    json_decref(j);
  }
  return rc;
}

static int sweep_dump(void *ud) {
  (void)ud;
  char *s = tern_json_dump(reference);
  if (!s)
    return TERN_ENOMEM;
  assert_string_equal(s, reference_text); /* compared without allocating */
  tern_free(s);
  return 0;
}

static void test_json_load_and_dump_under_allocation_failure(void **state) {
  (void)state;
  reference = json_loads(LONG_TEXT, 0, NULL);
  assert_non_null(reference);
  reference_text = json_dumps(reference, JSON_COMPACT);
  assert_true(tu_alloc_sweep(sweep_load, NULL) > 0);
  assert_true(tu_alloc_sweep(sweep_dump, NULL) > 0);
  json_decref(reference);
  tern_free(reference_text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_validation_table),
      cmocka_unit_test(test_small_error_buffer_is_safe),
      cmocka_unit_test(test_json_load_classifies_failures),
      cmocka_unit_test(test_json_load_and_dump_under_allocation_failure),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
