/* libFuzzer target for the SSE parser. The first input byte picks a small
 * event bound and a split point; the rest is the stream. Parsing it whole
 * and parsing it in two pieces must give the same events and the same
 * result, every event must be NUL-terminated within the bound, and nothing
 * may crash or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tern/sse.h"

typedef struct {
  uint64_t hash;
  size_t count, max;
} sink_t;

static int on_event(const tern_sse_event_t *ev, void *ud) {
  sink_t *s = ud;
  if (ev->len > s->max || ev->data[ev->len] != '\0' || !ev->type || !ev->id)
    abort();
  uint64_t h = s->hash ^ (ev->done ? 0x9e37u : 0);
  for (size_t i = 0; i < ev->len; i++)
    h = (h ^ (unsigned char)ev->data[i]) * 0x100000001b3u;
  for (const char *t = ev->type; *t; t++)
    h = (h ^ (unsigned char)*t) * 0x100000001b3u;
  s->hash = h * 31 + 7;
  s->count++;
  return 0;
}

static int parse(const uint8_t *d, size_t n, size_t cut, size_t max, sink_t *s) {
  tern_sse_t *p;
  memset(s, 0, sizeof *s);
  s->max = max;
  if (tern_sse_create(max, on_event, s, &p) != 0)
    return -1000;
  int rc = tern_sse_feed(p, (const char *)d, cut);
  int rc2 = tern_sse_feed(p, (const char *)d + cut, n - cut);
  if (!rc)
    rc = rc2;
  int fin = tern_sse_finish(p);
  tern_sse_destroy(p);
  return rc * 100 + fin;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  size_t max = 8 + (data[0] & 0x3f) * 4;
  const uint8_t *d = data + 1;
  size_t n = size - 1;
  size_t cut = n ? (size_t)data[0] * 7 % (n + 1) : 0;
  sink_t a, b;
  int ra = parse(d, n, 0, max, &a);
  int rb = parse(d, n, cut, max, &b);
  if (ra != rb || a.hash != b.hash || a.count != b.count)
    abort();
  return 0;
}
