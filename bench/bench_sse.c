/* SSE parsing throughput: tern's event-stream parser against the floor.
 *
 * The input is a realistic OpenAI chat-completions stream: one
 * `data: {"id":...,"choices":[{"delta":{"content":" word"}}]}` event per
 * token (about 230 bytes each), ended by `data: [DONE]`. It is fed to
 * tern_sse_feed in chunks of 1 byte (the worst case: a network that hands
 * over one byte at a time), 64 bytes (a small TCP segment) and 4 KiB (what
 * curl usually hands over), and side by side the same chunks are scanned
 * with memchr for the "\n\n" that ends an event, which is the least any
 * event-stream reader must do: the floor.
 *
 * Each variant runs R rounds over the whole buffer; the table shows the
 * median round (and the best) in MB/s (10^6 bytes) and events/s.
 * Usage: bench_sse [events] [rounds]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tern/alloc.h"
#include "tern/sse.h"

static const char *const k_words[] = {" The", " caller", " asked", " about", " the", " weather",
                                      " in",  " Paris",  ",",      " and",   " I",   " said",
                                      " it",  " is",     " sunny", "."};

typedef struct {
  size_t events, bytes, done;
} counts_t;

static int on_event(const tern_sse_event_t *ev, void *ud) {
  counts_t *c = ud;
  c->events++;
  c->bytes += ev->len;
  c->done += ev->done;
  return 0;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Builds n token events and the [DONE] sentinel; returns the buffer. */
static char *make_stream(size_t n, size_t *len) {
  size_t cap = n * 300 + 64, off = 0;
  char *b = tern_malloc(cap);
  if (!b)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    const char *w = k_words[i % (sizeof k_words / sizeof k_words[0])];
    off += (size_t)snprintf(
        b + off, cap - off,
        "data: {\"id\":\"chatcmpl-AbC123xYz456DeF789gHi\",\"object\":\"chat.completion.chunk\","
        "\"created\":1732240000,\"model\":\"gpt-4o-mini-2024-07-18\","
        "\"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":[{\"index\":0,\"delta\":"
        "{\"content\":\"%s\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
        w);
  }
  off += (size_t)snprintf(b + off, cap - off, "data: [DONE]\n\n");
  *len = off;
  return b;
}

static double run_parser(tern_sse_t *p, counts_t *c, const char *buf, size_t len, size_t chunk) {
  memset(c, 0, sizeof *c);
  tern_sse_reset(p);
  double t0 = now_s();
  for (size_t off = 0; off < len; off += chunk) {
    size_t n = len - off < chunk ? len - off : chunk;
    if (tern_sse_feed(p, buf + off, n) != 0) {
      fprintf(stderr, "bench_sse: parser failed\n");
      exit(1);
    }
  }
  tern_sse_finish(p);
  return now_s() - t0;
}

/* Counts event ends ("\n\n") chunk by chunk, remembering a '\n' that ended
 * the previous chunk, as a streaming reader must. */
static double run_floor(const char *buf, size_t len, size_t chunk, size_t *events) {
  size_t ends = 0;
  int prev_nl = 0;
  double t0 = now_s();
  for (size_t off = 0; off < len; off += chunk) {
    size_t n = len - off < chunk ? len - off : chunk;
    const char *s = buf + off, *end = s + n;
    if (prev_nl && *s == '\n')
      ends++, s++;
    prev_nl = 0;
    while (s < end) {
      const char *nl = memchr(s, '\n', (size_t)(end - s));
      if (!nl)
        break;
      if (nl + 1 == end) {
        prev_nl = 1;
        break;
      }
      if (nl[1] == '\n') {
        ends++;
        s = nl + 2;
      } else {
        s = nl + 1;
      }
    }
  }
  *events = ends;
  return now_s() - t0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  size_t nev = argc > 1 ? (size_t)atol(argv[1]) : 20000;
  int rounds = argc > 2 ? atoi(argv[2]) : 7;
  if (rounds < 1 || rounds > 101 || nev < 1) {
    fprintf(stderr, "usage: bench_sse [events] [rounds<=101]\n");
    return 2;
  }
  size_t len;
  char *buf = make_stream(nev, &len);
  counts_t c;
  tern_sse_t *p;
  if (!buf || tern_sse_create(0, on_event, &c, &p) != 0) {
    fprintf(stderr, "bench_sse: setup failed\n");
    return 1;
  }
  size_t total_events = nev + 1;
  printf("# SSE parsing: OpenAI chat stream, %zu events (%.0f B each), %.2f MB, median of %d "
         "rounds (best in brackets)\n",
         total_events, (double)len / (double)total_events, (double)len / 1e6, rounds);
  printf("%-8s %-16s %22s %22s %10s\n", "chunk", "reader", "MB/s", "events/s", "vs floor");
  const size_t chunks[] = {1, 64, 4096};
  for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
    double tp[101], tf[101];
    for (int r = 0; r < rounds; r++) {
      size_t fe;
      tp[r] = run_parser(p, &c, buf, len, chunks[k]);
      tf[r] = run_floor(buf, len, chunks[k], &fe);
      if (c.events != total_events || c.done != 1 || fe != total_events) {
        fprintf(stderr, "bench_sse: miscounted (%zu parsed, %zu scanned, want %zu)\n", c.events, fe,
                total_events);
        return 1;
      }
    }
    qsort(tp, (size_t)rounds, sizeof tp[0], cmp_double);
    qsort(tf, (size_t)rounds, sizeof tf[0], cmp_double);
    double mp = tp[rounds / 2], mf = tf[rounds / 2];
    char a[64], b[64];
    snprintf(a, sizeof a, "%.0f (%.0f)", (double)len / mp / 1e6, (double)len / tp[0] / 1e6);
    snprintf(b, sizeof b, "%.2fM (%.2fM)", total_events / mp / 1e6, total_events / tp[0] / 1e6);
    printf("%-8zu %-16s %22s %22s %9.1fx\n", chunks[k], "tern_sse_feed", a, b, mp / mf);
    snprintf(a, sizeof a, "%.0f (%.0f)", (double)len / mf / 1e6, (double)len / tf[0] / 1e6);
    snprintf(b, sizeof b, "%.2fM (%.2fM)", total_events / mf / 1e6, total_events / tf[0] / 1e6);
    printf("%-8zu %-16s %22s %22s %10s\n", chunks[k], "memchr \\n\\n", a, b, "1.0x");
  }
  printf("vs floor: tern time / memchr time for the same chunks "
         "(median rounds)\n");
  tern_sse_destroy(p);
  tern_free(buf);
  return 0;
}
