/* libFuzzer target for tool-call arguments: the input is the arguments
 * text of a call. The allocation-free JSON scan must agree with jansson
 * (no memory failure is injected here, so tern_json_load may never claim
 * one), validation against a schema with every supported keyword must
 * terminate with a NUL-terminated message, and a call through a registry
 * on a virtual loop must answer exactly once with valid JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/tools_internal.h"
#include "tern/json.h"
#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/loop.h"
#include "tern/tools.h"

static const char schema_text[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"city\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":20},"
    "\"unit\":{\"enum\":[\"celsius\",\"fahrenheit\",3,null]},"
    "\"n\":{\"type\":\"integer\",\"minimum\":-5,\"maximum\":5},"
    "\"x\":{\"type\":[\"number\",\"null\"]},"
    "\"tags\":{\"type\":\"array\",\"maxItems\":4,\"items\":{\"type\":\"string\"}},"
    "\"o\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"boolean\"}},"
    "\"required\":[\"a\"],\"additionalProperties\":false}},"
    "\"required\":[\"city\"]}";

typedef struct {
  int n;
  bool valid;
} seen_t;

static void handler(tern_tool_ctx_t *ctx, const json_t *args, void *ud) {
  (void)ud;
  char *s = tern_json_dump(args);
  tern_tool_complete(ctx, true, s ? s : "{}");
  tern_free(s);
}

static void on_done(void *ud, const tern_tool_call_t *call, bool ok, const char *result) {
  (void)call;
  (void)ok;
  seen_t *s = ud;
  s->n++;
  s->valid = tern_json_valid(result, strlen(result), NULL);
  if (strlen(result) > TERN_TOOL_MAX_RESULT)
    abort();
}

static bool done(void *ud) { return ((seen_t *)ud)->n > 0; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > TERN_TOOL_MAX_ARGS + 16)
    return 0;
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  size = strlen(text); /* arguments are C strings (and jansson skips NUL bytes) */

  json_t *j = NULL;
  json_error_t je;
  int rc = tern_json_load(text, size, JSON_DECODE_ANY, &j, &je);
  if (rc == TERN_ENOMEM)
    abort(); /* the scan and jansson disagree */
  if (rc == 0) {
    if (!tern_json_valid(text, size, NULL))
      abort();
    json_t *schema = json_loads(schema_text, 0, NULL);
    char err[128];
    memset(err, 'x', sizeof err);
    if (tern_schema_validate(schema, j, err, sizeof err) != 0 && !memchr(err, '\0', sizeof err))
      abort();
    json_decref(schema);
    json_decref(j);
  }

  tern_fake_clock_t fc;
  tern_fake_clock_init(&fc, 0);
  tern_loop_t *loop;
  tern_tools_t *tools = NULL;
  if (tern_loop_create_virtual(&fc, &loop) == 0) {
    if (tern_tools_create(&tools) == 0 &&
        tern_tools_add(tools, "t", NULL, schema_text, handler, NULL, 0, NULL, 0) == 0) {
      tern_tool_call_t call = {.id = "1", .name = "t", .arguments = text};
      seen_t s = {0};
      tern_op_t *op;
      if (tern_tools_invoke(tools, loop, &call, NULL, on_done, &s, &op) == 0) {
        tern_loop_run_until(loop, done, &s, TERN_SEC(10));
        if (s.n != 1 || !s.valid)
          abort();
      }
    }
    tern_tools_destroy(tools);
    tern_loop_destroy(loop);
  }
  free(text);
  return 0;
}
