/* Chat context. A growable array of messages after an optional system
 * prompt; every string is owned. Invariant kept by truncation: the first
 * kept message is never a tool result, so a provider never sees a result
 * without the call that asked for it. */
#include "tern/chat.h"

#include <string.h>

#include "tern/alloc.h"
#include "tern/error.h"

struct tern_chat {
  char *system;
  tern_chat_msg_t *msgs;
  size_t n, cap;
};

const char *tern_role_name(tern_role_t role) {
  switch (role) {
  case TERN_ROLE_SYSTEM:
    return "system";
  case TERN_ROLE_USER:
    return "user";
  case TERN_ROLE_ASSISTANT:
    return "assistant";
  case TERN_ROLE_TOOL:
    return "tool";
  }
  return "user";
}

int tern_chat_create(tern_chat_t **out) {
  *out = tern_calloc(1, sizeof **out);
  return *out ? 0 : TERN_ENOMEM;
}

void tern_tool_call_free(tern_tool_call_t *call) {
  if (!call)
    return;
  tern_free(call->id);
  tern_free(call->name);
  tern_free(call->arguments);
  memset(call, 0, sizeof *call);
}

int tern_tool_call_copy(tern_tool_call_t *dst, const tern_tool_call_t *src) {
  memset(dst, 0, sizeof *dst);
  dst->id = tern_strdup(src->id ? src->id : "");
  dst->name = tern_strdup(src->name ? src->name : "");
  dst->arguments = tern_strdup(src->arguments ? src->arguments : "{}");
  if (!dst->id || !dst->name || !dst->arguments) {
    tern_tool_call_free(dst);
    return TERN_ENOMEM;
  }
  return 0;
}

static void msg_free(tern_chat_msg_t *m) {
  tern_free(m->content);
  for (size_t i = 0; i < m->n_tool_calls; i++)
    tern_tool_call_free(&m->tool_calls[i]);
  tern_free(m->tool_calls);
  tern_free(m->tool_call_id);
  tern_free(m->name);
  memset(m, 0, sizeof *m);
}

void tern_chat_destroy(tern_chat_t *chat) {
  if (!chat)
    return;
  for (size_t i = 0; i < chat->n; i++)
    msg_free(&chat->msgs[i]);
  tern_free(chat->msgs);
  tern_free(chat->system);
  tern_free(chat);
}

static int dup_opt(char **dst, const char *src) {
  *dst = NULL;
  if (!src)
    return 0;
  *dst = tern_strdup(src);
  return *dst ? 0 : TERN_ENOMEM;
}

/* Build a message fully, then append it: a failure leaves the chat as it was. */
static int msg_fill(tern_chat_msg_t *m, tern_role_t role, const char *content,
                    const tern_tool_call_t *calls, size_t ncalls, const char *call_id,
                    const char *name) {
  memset(m, 0, sizeof *m);
  m->role = role;
  if (dup_opt(&m->content, content) || dup_opt(&m->tool_call_id, call_id) ||
      dup_opt(&m->name, name))
    goto nomem;
  if (ncalls) {
    m->tool_calls = tern_calloc(ncalls, sizeof *m->tool_calls);
    if (!m->tool_calls)
      goto nomem;
    for (size_t i = 0; i < ncalls; i++) {
      if (tern_tool_call_copy(&m->tool_calls[i], &calls[i]))
        goto nomem;
      m->n_tool_calls = i + 1;
    }
  }
  return 0;
nomem:
  msg_free(m);
  return TERN_ENOMEM;
}

static int push(tern_chat_t *chat, tern_chat_msg_t *m) {
  if (chat->n == chat->cap) {
    size_t ncap = chat->cap ? chat->cap * 2 : 16;
    tern_chat_msg_t *nm = tern_realloc(chat->msgs, ncap * sizeof *nm);
    if (!nm) {
      msg_free(m);
      return TERN_ENOMEM;
    }
    chat->msgs = nm;
    chat->cap = ncap;
  }
  chat->msgs[chat->n++] = *m;
  return 0;
}

static int add(tern_chat_t *chat, tern_role_t role, const char *content,
               const tern_tool_call_t *calls, size_t ncalls, const char *call_id,
               const char *name, bool interrupted) {
  tern_chat_msg_t m;
  int rc = msg_fill(&m, role, content, calls, ncalls, call_id, name);
  if (rc)
    return rc;
  m.interrupted = interrupted;
  return push(chat, &m);
}

int tern_chat_set_system(tern_chat_t *chat, const char *text) {
  char *s = NULL;
  if (text && !(s = tern_strdup(text)))
    return TERN_ENOMEM;
  tern_free(chat->system);
  chat->system = s;
  return 0;
}

const char *tern_chat_system(const tern_chat_t *chat) { return chat->system; }

int tern_chat_add(tern_chat_t *chat, tern_role_t role, const char *content) {
  if (role == TERN_ROLE_SYSTEM)
    return tern_chat_set_system(chat, content);
  if (role == TERN_ROLE_TOOL || !content)
    return TERN_EINVAL; /* tool results need a call id: tern_chat_add_tool_result */
  return add(chat, role, content, NULL, 0, NULL, NULL, false);
}

int tern_chat_add_interrupted(tern_chat_t *chat, const char *spoken) {
  return add(chat, TERN_ROLE_ASSISTANT, spoken ? spoken : "", NULL, 0, NULL, NULL, true);
}

int tern_chat_add_tool_calls(tern_chat_t *chat, const char *content, const tern_tool_call_t *calls,
                             size_t n) {
  if (!n || !calls)
    return TERN_EINVAL;
  return add(chat, TERN_ROLE_ASSISTANT, content, calls, n, NULL, NULL, false);
}

int tern_chat_add_tool_result(tern_chat_t *chat, const char *call_id, const char *name,
                              const char *result) {
  if (!call_id || !result)
    return TERN_EINVAL;
  return add(chat, TERN_ROLE_TOOL, result, NULL, 0, call_id, name, false);
}

size_t tern_chat_count(const tern_chat_t *chat) { return chat->n; }

const tern_chat_msg_t *tern_chat_at(const tern_chat_t *chat, size_t i) {
  return i < chat->n ? &chat->msgs[i] : NULL;
}

const char *tern_chat_last_user(const tern_chat_t *chat) {
  for (size_t i = chat->n; i-- > 0;)
    if (chat->msgs[i].role == TERN_ROLE_USER)
      return chat->msgs[i].content;
  return NULL;
}

int tern_chat_truncate(tern_chat_t *chat, size_t keep, size_t *dropped) {
  size_t cut = chat->n > keep ? chat->n - keep : 0;
  /* Never start on a tool result: its call would be gone. Move forward. */
  while (cut < chat->n && chat->msgs[cut].role == TERN_ROLE_TOOL)
    cut++;
  for (size_t i = 0; i < cut; i++)
    msg_free(&chat->msgs[i]);
  if (cut) /* msgs is NULL in an empty context, and NULL + 0 is undefined */
    memmove(chat->msgs, chat->msgs + cut, (chat->n - cut) * sizeof *chat->msgs);
  chat->n -= cut;
  if (dropped)
    *dropped = cut;
  return 0;
}

size_t tern_chat_chars(const tern_chat_t *chat) {
  size_t total = chat->system ? strlen(chat->system) : 0;
  for (size_t i = 0; i < chat->n; i++) {
    const tern_chat_msg_t *m = &chat->msgs[i];
    total += m->content ? strlen(m->content) : 0;
    for (size_t k = 0; k < m->n_tool_calls; k++)
      total += strlen(m->tool_calls[k].arguments) + strlen(m->tool_calls[k].name);
  }
  return total;
}

int tern_chat_clone(const tern_chat_t *chat, tern_chat_t **out) {
  tern_chat_t *c;
  int rc = tern_chat_create(&c);
  if (rc)
    return rc;
  if ((rc = tern_chat_set_system(c, chat->system)))
    goto fail;
  for (size_t i = 0; i < chat->n; i++) {
    const tern_chat_msg_t *m = &chat->msgs[i];
    if ((rc = add(c, m->role, m->content, m->tool_calls, m->n_tool_calls, m->tool_call_id, m->name,
                  m->interrupted)))
      goto fail;
  }
  *out = c;
  return 0;
fail:
  tern_chat_destroy(c);
  return rc;
}
