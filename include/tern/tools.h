/* Tools the language model can call.
 *
 * A registry of named tools with JSON-schema parameters. A call from the
 * model is checked before the handler runs: unknown tool, arguments that
 * are not a JSON object, a missing required field, a field of the wrong
 * type or outside its enum all come back to the model as a clear error
 * result (so it can correct itself) instead of reaching the handler. Each
 * tool has a timeout; a handler that does not finish in time produces an
 * error result, and its late completion is ignored. Handlers run on the
 * session's loop and may finish at once or later (asynchronously).
 */
#ifndef TERN_TOOLS_H
#define TERN_TOOLS_H

#include <jansson.h>
#include <stdbool.h>

#include "tern/chat.h"
#include "tern/clock.h"
#include "tern/provider.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_TOOL_DEFAULT_TIMEOUT TERN_SEC(5)
#define TERN_TOOL_MAX_ARGS 16384 /* bytes of argument JSON accepted */
/* Bytes of result text handed to the model; a longer handler result is cut
 * (at a UTF-8 boundary) and marked {"truncated": true}. */
#define TERN_TOOL_MAX_RESULT 16384

typedef struct tern_tools tern_tools_t;
typedef struct tern_tool_ctx tern_tool_ctx_t;

/* Runs on the loop. Must call tern_tool_complete(ctx, ...) exactly once,
 * now or later. `args` is the validated argument object (borrowed until
 * completion). */
typedef void (*tern_tool_fn)(tern_tool_ctx_t *ctx, const json_t *args, void *ud);

int tern_tools_create(tern_tools_t **out);
/* Calls still in flight are dropped without a callback and their contexts
 * freed: destroy the registry while its loop still exists (done may do
 * it), and make sure no handler completes afterwards. */
void tern_tools_destroy(tern_tools_t *tools);

/* Register a tool. The schema must be a JSON object schema ({"type":
 * "object", "properties": {...}, "required": [...]}); a bad schema is
 * refused with a message in err. timeout 0 = TERN_TOOL_DEFAULT_TIMEOUT. */
int tern_tools_add(tern_tools_t *tools, const char *name, const char *description,
                   const char *parameters_schema, tern_tool_fn fn, void *ud, tern_usec_t timeout,
                   char *err, size_t errsz);
/* Run fn(ud) when the registry is destroyed (after its calls are dropped,
 * in reverse order of registration): how a tool's `ud` is released. On
 * TERN_ENOMEM nothing was registered and the caller still owns ud. */
int tern_tools_at_destroy(tern_tools_t *tools, void (*fn)(void *ud), void *ud);
/* The definitions to send to the model (valid while the registry lives). */
const tern_tool_def_t *tern_tools_defs(const tern_tools_t *tools, size_t *n);

/* The outcome of one call: ok, and the result (JSON text, or plain text
 * wrapped as {"result": ...}); for failures a JSON object {"error": "..."}
 * whose message the model can read (a handler's own JSON object with an
 * "error" member is passed as it is). Results are at most
 * TERN_TOOL_MAX_RESULT bytes. `call` and `result` are valid during done. */
typedef void (*tern_tool_done_fn)(void *ud, const tern_tool_call_t *call, bool ok,
                                  const char *result_json);

/* Validate and run one call; done runs exactly once, on the loop, never
 * inside this function, unless the returned op is cancelled first.
 * Arguments "" (or NULL) count as {}. The handler too runs from the loop,
 * never inside this function, and its timeout starts when it does.
 * Returns 0, TERN_EINVAL or TERN_ENOMEM (then nothing ever runs).
 * `state` is the session's state object handed to the handler
 * (tern_tool_state); the caller snapshots and restores it around calls. */
int tern_tools_invoke(tern_tools_t *tools, tern_loop_t *loop, const tern_tool_call_t *call,
                      json_t *state, tern_tool_done_fn done, void *ud, tern_op_t **op);

/* For handlers. The first completion wins; one after the call timed out
 * or was cancelled is dropped (the ctx stays valid until then). `result`
 * is copied. */
void tern_tool_complete(tern_tool_ctx_t *ctx, bool ok, const char *result);
tern_loop_t *tern_tool_loop(tern_tool_ctx_t *ctx);
/* NULL once the call is over (timed out or cancelled): the caller may
 * have restored its state by then. */
json_t *tern_tool_state(tern_tool_ctx_t *ctx);
const char *tern_tool_name(const tern_tool_ctx_t *ctx);

/* Validate `args` (a JSON value) against a schema object; on failure write
 * a message naming the field and what was expected. Supports type (object,
 * string, number, integer, boolean, array), properties, required, enum,
 * minimum/maximum, minLength/maxLength (characters), minItems/maxItems,
 * items, additionalProperties (false or a schema); other keywords are
 * ignored. Returns 0 or TERN_EINVAL. */
int tern_schema_validate(const json_t *schema, const json_t *args, char *err, size_t errsz);

/* The demo tools of the offline agent: get_weather (made-up demo data),
 * get_time (wall clock), schedule_meeting (bookings kept in the call's
 * state object under "meetings"; a double booking is refused) and
 * search_knowledge (best paragraph of a local text/markdown file; NULL:
 * the tool is not registered). On failure some tools may already be
 * registered. Returns 0, TERN_ENOMEM, TERN_EIO or TERN_ETOOBIG (file over
 * 1 MiB), with a message in err. */
int tern_demo_tools_register(tern_tools_t *tools, const char *knowledge_path, char *err,
                             size_t errsz);

#ifdef __cplusplus
}
#endif
#endif
