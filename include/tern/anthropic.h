/* Anthropic's Messages API: a streamed language model with tools.
 *
 *   POST {base}/v1/messages, stream:true, headers x-api-key and
 *   anthropic-version 2023-06-01. The system prompt goes top-level;
 *   messages alternate roles (consecutive messages of one role are merged,
 *   tool results travel as tool_result blocks of a user message, the
 *   assistant's tool calls as tool_use blocks); tools as
 *   {name, description, input_schema}.
 *
 * Events: text_delta goes to on_text as it arrives; input_json_delta pieces
 * are collected per content block and the tool call is delivered when its
 * block stops; an `error` event (overloaded_error, ...) is classified from
 * its body; a stream that ends before message_stop is a connection error
 * (retryable); a malformed event, one over 256 KiB or a wrong content type
 * is bad_response.
 *
 * Settings, from [llm.<name>]:
 *   base_url     default $ANTHROPIC_BASE_URL, else https://api.anthropic.com
 *   api_key, api_key_env (default ANTHROPIC_API_KEY when base_url is not
 *                set in the section)
 *   model        default claude-3-5-haiku-latest
 *   max_tokens   default 1024 (the API requires one); temperature
 * A missing key is a configuration error for an https endpoint off
 * loopback. The key is registered as a secret. Timeouts are the guard's;
 * the HTTP request's own timers follow the provider object's timeout
 * fields when set, else a 30 s safety net (as in tern/openai.h).
 *
 * Continuation: the partial answer is sent as an assistant prefill (its
 * trailing whitespace trimmed, which the API requires) and only the new
 * text is delivered.
 */
#ifndef TERN_ANTHROPIC_H
#define TERN_ANTHROPIC_H

#include <stddef.h>

#include "tern/provider.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_ANTHROPIC_BASE_URL "https://api.anthropic.com"
#define TERN_ANTHROPIC_VERSION "2023-06-01"

/* component must be TERN_COMP_LLM. cfg may be NULL. Returns 0,
 * TERN_ECONFIG (message in err), TERN_EINVAL or TERN_ENOMEM. */
int tern_anthropic_provider_create(tern_component_t component, const char *name,
                                   const tern_config_t *cfg, tern_provider_t **out, char *err,
                                   size_t errsz);

#ifdef __cplusplus
}
#endif
#endif
