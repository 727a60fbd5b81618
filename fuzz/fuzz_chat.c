/* libFuzzer target for the chat context and its truncation
 * (tern/chat.h): the input is a program of operations (add user,
 * assistant, interrupted and tool-call messages, their results, truncate
 * to a random size, clone, set the system prompt). The program only builds
 * contexts a session can build (tool results right after their calls),
 * then checks after every step: at most `keep` messages remain after a
 * truncation, the context never starts with a tool result, every tool
 * result's call is still in the context before it, a clone is equal, and
 * the size estimate matches a count made here. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/chat.h"

typedef struct {
  const uint8_t *d;
  size_t n, i;
} rd_t;

static unsigned next(rd_t *r) { return r->i < r->n ? r->d[r->i++] : 0; }

static void take_text(rd_t *r, char *buf, size_t cap) {
  size_t k = next(r) % cap, w = 0;
  for (size_t j = 0; j < k && r->i < r->n; j++) {
    char c = (char)r->d[r->i++];
    if (c)
      buf[w++] = c;
  }
  buf[w] = '\0';
}

static size_t chars(const tern_chat_t *c) {
  size_t t = tern_chat_system(c) ? strlen(tern_chat_system(c)) : 0;
  for (size_t i = 0; i < tern_chat_count(c); i++) {
    const tern_chat_msg_t *m = tern_chat_at(c, i);
    t += m->content ? strlen(m->content) : 0;
    for (size_t k = 0; k < m->n_tool_calls; k++)
      t += strlen(m->tool_calls[k].arguments) + strlen(m->tool_calls[k].name);
  }
  return t;
}

static void check(const tern_chat_t *c) {
  size_t n = tern_chat_count(c);
  for (size_t i = 0; i < n; i++) {
    const tern_chat_msg_t *m = tern_chat_at(c, i);
    if (m->role != TERN_ROLE_TOOL)
      continue;
    if (i == 0 || !m->tool_call_id)
      abort();
    int found = 0;
    for (size_t j = 0; j < i && !found; j++) {
      const tern_chat_msg_t *a = tern_chat_at(c, j);
      for (size_t k = 0; k < a->n_tool_calls; k++)
        found |= a->role == TERN_ROLE_ASSISTANT && !strcmp(a->tool_calls[k].id, m->tool_call_id);
    }
    if (!found)
      abort();
  }
  if (tern_chat_chars(c) != chars(c))
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tern_chat_t *c;
  if (tern_chat_create(&c))
    return 0;
  rd_t r = {data, size, 0};
  char text[64], ids[4][16];
  int pending = 0, next_result = 0; /* calls of the newest tool-call message not yet answered */
  unsigned serial = 0;
  while (r.i < r.n) {
    unsigned op = next(&r) % 8;
    if (pending > next_result)
      op = 3; /* a session answers every call before anything else */
    switch (op) {
    case 0:
      take_text(&r, text, sizeof text);
      tern_chat_add(c, TERN_ROLE_USER, text);
      break;
    case 1:
      take_text(&r, text, sizeof text);
      tern_chat_add(c, TERN_ROLE_ASSISTANT, text);
      break;
    case 2: {
      int k = 1 + (int)(next(&r) % 3);
      tern_tool_call_t calls[3];
      char args[3][32];
      for (int j = 0; j < k; j++) {
        snprintf(ids[j], sizeof ids[j], "call_%u", serial++);
        snprintf(args[j], sizeof args[j], "{\"n\":%u}", next(&r));
        calls[j] = (tern_tool_call_t){ids[j], "tool", args[j]};
      }
      take_text(&r, text, sizeof text);
      if (tern_chat_add_tool_calls(c, (next(&r) & 1) ? text : NULL, calls, (size_t)k) == 0) {
        pending = k;
        next_result = 0;
      }
      break;
    }
    case 3:
      if (pending > next_result) {
        take_text(&r, text, sizeof text);
        if (tern_chat_add_tool_result(c, ids[next_result], "tool", text) == 0)
          next_result++;
      }
      break;
    case 4:
      take_text(&r, text, sizeof text);
      tern_chat_add_interrupted(c, text);
      break;
    case 5: {
      size_t keep = next(&r) % 12, dropped = 99;
      size_t before = tern_chat_count(c);
      if (tern_chat_truncate(c, keep, &dropped) != 0)
        abort();
      size_t after = tern_chat_count(c);
      if (after > keep && after > 0 && tern_chat_at(c, 0)->role == TERN_ROLE_TOOL)
        abort();
      if (after > keep || before - dropped != after)
        abort();
      if (after && tern_chat_at(c, 0)->role == TERN_ROLE_TOOL)
        abort();
      break;
    }
    case 6: {
      tern_chat_t *k;
      if (tern_chat_clone(c, &k) == 0) {
        if (tern_chat_count(k) != tern_chat_count(c) || tern_chat_chars(k) != tern_chat_chars(c))
          abort();
        tern_chat_destroy(k);
      }
      break;
    }
    case 7:
      take_text(&r, text, sizeof text);
      tern_chat_set_system(c, text);
      break;
    }
    check(c);
  }
  tern_chat_destroy(c);
  return 0;
}
