/* libFuzzer target for the JSON-schema validator of tool arguments
 * (tern_schema_validate) and the schema check done at registration
 * (tern__tools_schema_check), with the schema itself fuzzed as well as the
 * arguments (fuzz_tools covers arguments against one fixed schema).
 *
 * Input: schema text, a NUL byte, arguments text. Any JSON object is
 * accepted as a schema by the validator (a tool's schema passes the check
 * first, but the validator is public and must not trust that). Checked:
 * both return 0 or TERN_EINVAL, a refusal always comes with a
 * NUL-terminated, non-empty message, and a tiny message buffer is never
 * overrun. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/tools_internal.h"
#include "tern/error.h"
#include "tern/tools.h"

static void check_msg(int rc, const char *err, size_t errsz) {
  if (rc != 0 && rc != TERN_EINVAL)
    abort();
  if (!memchr(err, '\0', errsz))
    abort();
  if (rc != 0 && errsz > 1 && !err[0])
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 65536)
    return 0;
  const char *text = (const char *)data;
  const char *nul = memchr(text, '\0', size);
  size_t slen = nul ? (size_t)(nul - text) : size;
  const char *args_text = nul ? nul + 1 : "{}";
  size_t alen = nul ? size - slen - 1 : 2;

  json_t *schema = json_loadb(text, slen, JSON_DECODE_ANY, NULL);
  json_t *args = json_loadb(args_text, alen, JSON_DECODE_ANY, NULL);
  if (schema && args) {
    char err[200], tiny[8];
    memset(err, 'x', sizeof err);
    int rc = tern__tools_schema_check(schema, err, sizeof err);
    if (rc != 0) /* the check writes a message only when it refuses */
      check_msg(rc, err, sizeof err);
    memset(err, 'x', sizeof err);
    rc = tern_schema_validate(schema, args, err, sizeof err);
    check_msg(rc, err, sizeof err);
    memset(tiny, 'x', sizeof tiny);
    int rc2 = tern_schema_validate(schema, args, tiny, sizeof tiny);
    check_msg(rc2, tiny, sizeof tiny);
    if (rc != rc2) /* the verdict never depends on room for the message */
      abort();
    if (tern_schema_validate(schema, args, NULL, 0) != rc)
      abort();
  }
  json_decref(schema);
  json_decref(args);
  return 0;
}
