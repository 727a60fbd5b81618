/* Chat context: the conversation an LLM sees.
 *
 * A system prompt, then user, assistant (text and/or tool calls) and tool
 * result messages in order. The context owns copies of every string.
 * Truncation keeps the system prompt and the newest turns and never
 * separates an assistant tool call from its results, so the context a
 * provider sees is always well-formed.
 */
#ifndef TERN_CHAT_H
#define TERN_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tern_role {
  TERN_ROLE_SYSTEM = 0,
  TERN_ROLE_USER,
  TERN_ROLE_ASSISTANT,
  TERN_ROLE_TOOL
} tern_role_t;

typedef struct tern_tool_call {
  char *id;        /* the provider's call id; tern makes one when absent */
  char *name;      /* the tool's name */
  char *arguments; /* a JSON object, as text */
} tern_tool_call_t;

typedef struct tern_chat_msg {
  tern_role_t role;
  char *content;                /* NULL for an assistant turn with only tool calls */
  tern_tool_call_t *tool_calls; /* assistant only */
  size_t n_tool_calls;
  char *tool_call_id; /* tool results: the call answered */
  char *name;         /* tool results: the tool's name */
  bool interrupted;   /* assistant: the user cut in; content is what was spoken */
} tern_chat_msg_t;

/* A tool as the model sees it: name, description, JSON-schema parameters. */
typedef struct tern_tool_def {
  const char *name;
  const char *description;
  const char *parameters_json;
} tern_tool_def_t;

typedef struct tern_chat tern_chat_t;

int tern_chat_create(tern_chat_t **out);
void tern_chat_destroy(tern_chat_t *chat);
/* A deep copy (a snapshot to restore after a failed tool). */
int tern_chat_clone(const tern_chat_t *chat, tern_chat_t **out);

int tern_chat_set_system(tern_chat_t *chat, const char *text);
const char *tern_chat_system(const tern_chat_t *chat); /* NULL when unset */
int tern_chat_add(tern_chat_t *chat, tern_role_t role, const char *content);
/* An assistant message that was cut off by the user: `spoken` is what the
 * caller actually heard. */
int tern_chat_add_interrupted(tern_chat_t *chat, const char *spoken);
int tern_chat_add_tool_calls(tern_chat_t *chat, const char *content, const tern_tool_call_t *calls,
                             size_t n);
int tern_chat_add_tool_result(tern_chat_t *chat, const char *call_id, const char *name,
                              const char *result);

/* Messages after the system prompt. */
size_t tern_chat_count(const tern_chat_t *chat);
const tern_chat_msg_t *tern_chat_at(const tern_chat_t *chat, size_t i);
/* The text of the newest user message, or NULL. */
const char *tern_chat_last_user(const tern_chat_t *chat);

/* Drop the oldest messages so that at most `keep` remain (system prompt not
 * counted), moving the cut forward so that it never starts on a tool result
 * or between a tool call and its results. Returns the number dropped in
 * *dropped (may be NULL). */
int tern_chat_truncate(tern_chat_t *chat, size_t keep, size_t *dropped);

/* Total characters of all content (a cheap size estimate). */
size_t tern_chat_chars(const tern_chat_t *chat);

void tern_tool_call_free(tern_tool_call_t *call); /* frees the strings, not the struct */
int tern_tool_call_copy(tern_tool_call_t *dst, const tern_tool_call_t *src);

const char *tern_role_name(tern_role_t role); /* "system", "user", ... */

#ifdef __cplusplus
}
#endif
#endif
