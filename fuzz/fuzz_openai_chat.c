/* libFuzzer target for the OpenAI chat-completions stream: SSE chunks with
 * text deltas, tool-call deltas, finish reasons, [DONE] and error objects,
 * replayed through the provider's own callbacks (tern__openai_replay, no
 * network). The first input byte picks the split point of the body and
 * whether a continuation is being filtered; the rest is the body.
 *
 * Checked: on_done runs exactly once; a failure is classified with a
 * NUL-terminated message; every tool call has a non-empty name, an id and
 * arguments; and the outcome (text, tool calls, success or the kind of
 * failure) does not depend on where the network split the body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "provider/cloud.h"
#include "tern/error.h"

typedef struct {
  uint64_t hash;
  int done;
  bool ok;
  tern_kind_t kind;
} seen_t;

static void mix(seen_t *s, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    s->hash = (s->hash ^ (unsigned char)p[i]) * 0x100000001b3u;
}

static void on_text(void *ud, const char *text, size_t len) {
  seen_t *s = ud;
  if (s->done || !text || !len)
    abort();
  mix(s, text, len);
}

static void on_tool_call(void *ud, const tern_tool_call_t *c) {
  seen_t *s = ud;
  if (s->done || !c->id || !c->name || !*c->name || !c->arguments)
    abort();
  mix(s, "\x01", 1);
  mix(s, c->id, strlen(c->id) + 1);
  mix(s, c->name, strlen(c->name) + 1);
  mix(s, c->arguments, strlen(c->arguments) + 1);
}

static void on_done(void *ud, const tern_error_t *err) {
  seen_t *s = ud;
  if (s->done++)
    abort();
  s->ok = !err;
  if (err) {
    if (!memchr(err->message, '\0', sizeof err->message) || !err->message[0] ||
        err->component != TERN_COMP_LLM || err->kind >= TERN_KIND__COUNT)
      abort();
    s->kind = err->kind;
  }
}

static void run(const uint8_t *d, size_t n, size_t cut, const char *contin, seen_t *s) {
  memset(s, 0, sizeof *s);
  tern_llm_sink_t sink = {on_text, on_tool_call, on_done, s};
  tern__replay_t r = {.body = (const char *)d, .len = n, .cut = cut, .continuation = contin,
                      .llm = &sink};
  int rc = tern__openai_replay(TERN_COMP_LLM, &r);
  if (rc != 0 || s->done != 1)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  const char *contin = (data[0] & 0x80) ? "Hello there, how" : NULL;
  const uint8_t *d = data + 1;
  size_t n = size - 1;
  size_t cut = n ? (size_t)(data[0] & 0x7f) * 13 % (n + 1) : 0;
  seen_t a, b;
  run(d, n, n, contin, &a);
  run(d, n, cut, contin, &b);
  if (a.ok != b.ok || a.hash != b.hash || (!a.ok && a.kind != b.kind))
    abort();
  return 0;
}
