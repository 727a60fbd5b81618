/* SSE parser: a table of streams and the events they must give. Every
 * input is also fed split at every byte boundary, and byte by byte, and
 * must give exactly the same events and the same final result. */
#include <stdio.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/sse.h"
#include "testutil.h"

typedef struct {
  char out[4096];
  size_t n;
  int stop_after; /* callback returns 99 after this many events (0: never) */
  int count;
} sink_t;

static int on_event(const tern_sse_event_t *ev, void *ud) {
  sink_t *s = ud;
  assert_int_equal(ev->data[ev->len], 0); /* always NUL-terminated */
  s->n += (size_t)snprintf(s->out + s->n, sizeof s->out - s->n, "[%s|%s|%s|%d]", ev->type, ev->data,
                           ev->id, ev->done);
  s->count++;
  return s->stop_after && s->count >= s->stop_after ? 99 : 0;
}

typedef struct {
  const char *name;
  const char *in;
  size_t len; /* 0: strlen(in) */
  const char *events;
  int feed_rc;   /* expected final feed result */
  int finish_rc; /* expected tern_sse_finish result */
  size_t max;    /* 0: default */
  int64_t retry;
} sse_case_t;

static const sse_case_t CASES[] = {
    {"lf", "data: hello\n\n", 0, "[message|hello||0]", 0, 0, 0, -1},
    {"crlf", "data: hello\r\n\r\n", 0, "[message|hello||0]", 0, 0, 0, -1},
    {"cr", "data: hello\r\rdata: b\r\r", 0, "[message|hello||0][message|b||0]", 0, 0, 0, -1},
    {"mixed endings", "data: a\r\ndata: b\rdata: c\n\r\n", 0, "[message|a\nb\nc||0]", 0, 0, 0, -1},
    {"multi-line data", "data: one\ndata: two\ndata:three\n\n", 0, "[message|one\ntwo\nthree||0]",
     0, 0, 0, -1},
    {"comments", ": keep-alive\n:\ndata: x\n: mid\n\n", 0, "[message|x||0]", 0, 0, 0, -1},
    {"event type", "event: delta\ndata: {\"a\":1}\n\ndata: plain\n\n", 0,
     "[delta|{\"a\":1}||0][message|plain||0]", 0, 0, 0, -1},
    {"id persists", "id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n", 0,
     "[message|a|7|0][message|b|7|0][message|c||0]", 0, 0, 0, -1},
    {"retry", "retry: 1500\nretry: x1\ndata: r\n\n", 0, "[message|r||0]", 0, 0, 0, 1500},
    {"field without colon", "data\n\ndata\ndata\n\n", 0, "[message|||0][message|\n||0]", 0, 0, 0,
     -1},
    {"one space stripped", "data:  two spaces\ndata:none\n\n", 0, "[message| two spaces\nnone||0]",
     0, 0, 0, -1},
    {"colon in value", "data: a: b: c\n\n", 0, "[message|a: b: c||0]", 0, 0, 0, -1},
    {"unknown field ignored", "foo: bar\ndata: y\n\n", 0, "[message|y||0]", 0, 0, 0, -1},
    {"event without data is dropped", "event: ping\n\ndata: z\n\n", 0, "[message|z||0]", 0, 0, 0,
     -1},
    {"done sentinel", "data: {\"x\":1}\n\ndata: [DONE]\n\n", 0,
     "[message|{\"x\":1}||0][message|[DONE]||1]", 0, 0, 0, -1},
    {"not quite done", "data: [DONE] \n\n", 0, "[message|[DONE] ||0]", 0, 0, 0, -1},
    {"bom",
     "\xEF\xBB\xBF"
     "data: b\n\n",
     0, "[message|b||0]", 0, 0, 0, -1},
    {"bom only once",
     "\xEF\xBB\xBF\xEF\xBB\xBF"
     "data: b\n\n",
     0, "", 0, 0, 0, -1},
    {"almost a bom",
     "\xEF\xBB"
     "data: b\n\ndata: c\n\n",
     0, "[message|c||0]", 0, 0, 0, -1},
    {"blank lines only", "\n\n\r\n\r\r", 0, "", 0, 0, 0, -1},
    {"truncated event", "data: a\n\ndata: partial\n", 0, "[message|a||0]", 0, TERN_ETRUNCATED, 0,
     -1},
    {"truncated line", "data: a\n\ndata: parti", 0, "[message|a||0]", 0, TERN_ETRUNCATED, 0, -1},
    {"nul in data", "data: a\0b\n\n", 11, "[message|a||0]", 0, 0, 0, -1}, /* printed up to NUL */
    {"line over bound", "data: 0123456789abcdef\n\n", 0, "", TERN_ETOOBIG, TERN_ETOOBIG, 16, -1},
    {"event over bound", "data: 0123456789\ndata: 0123456789\n\ndata: ok\n\n", 0, "", TERN_ETOOBIG,
     TERN_ETOOBIG, 16, -1},
    {"at the bound", "data:0123456789abcdef\n\n", 0, "", TERN_ETOOBIG, TERN_ETOOBIG, 20, -1},
    {"just fits", "data:0123456789abcd\n\n", 0, "[message|0123456789abcd||0]", 0, 0, 20, -1},
    {"event name over bound",
     "event: "
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\ndata: x\n\n",
     0, "", TERN_ETOOBIG, TERN_ETOOBIG, 0, -1},
};

/* Feed `in` in the pieces given by the cut points; returns the sink. */
static void run_split(const sse_case_t *c, size_t len, const size_t *cuts, size_t ncuts, sink_t *s,
                      int *feed_rc, int *finish_rc, int64_t *retry) {
  tern_sse_t *p;
  memset(s, 0, sizeof *s);
  assert_int_equal(tern_sse_create(c->max, on_event, s, &p), 0);
  size_t at = 0;
  int rc = 0;
  for (size_t k = 0; k <= ncuts; k++) {
    size_t end = k < ncuts ? cuts[k] : len;
    int r = tern_sse_feed(p, c->in + at, end - at);
    if (r)
      rc = r;
    at = end;
  }
  *feed_rc = rc;
  *finish_rc = tern_sse_finish(p);
  *retry = tern_sse_retry(p);
  tern_sse_destroy(p);
}

static void check(const sse_case_t *c, const sink_t *s, int feed_rc, int finish_rc, int64_t retry,
                  const char *how) {
  if (strcmp(s->out, c->events) != 0 || feed_rc != c->feed_rc || finish_rc != c->finish_rc ||
      retry != c->retry)
    fail_msg("case '%s' (%s): events '%s' want '%s'; feed %d want %d; finish %d want %d; retry "
             "%lld want %lld",
             c->name, how, s->out, c->events, feed_rc, c->feed_rc, finish_rc, c->finish_rc,
             (long long)retry, (long long)c->retry);
}

static void test_table_every_split(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
    const sse_case_t *c = &CASES[i];
    size_t len = c->len ? c->len : strlen(c->in);
    sink_t s;
    int frc, xrc;
    int64_t retry;
    run_split(c, len, NULL, 0, &s, &frc, &xrc, &retry);
    check(c, &s, frc, xrc, retry, "whole");
    for (size_t cut = 0; cut <= len; cut++) {
      run_split(c, len, &cut, 1, &s, &frc, &xrc, &retry);
      char how[32];
      snprintf(how, sizeof how, "split at %zu", cut);
      check(c, &s, frc, xrc, retry, how);
    }
    for (size_t a = 1; a < len; a++)
      for (size_t b = a; b < len; b++) {
        size_t cuts[2] = {a, b};
        run_split(c, len, cuts, 2, &s, &frc, &xrc, &retry);
        check(c, &s, frc, xrc, retry, "two cuts");
      }
    size_t cuts[4096];
    for (size_t k = 0; k + 1 < len && k < 4096; k++)
      cuts[k] = k + 1;
    run_split(c, len, cuts, len ? len - 1 : 0, &s, &frc, &xrc, &retry);
    check(c, &s, frc, xrc, retry, "byte by byte");
  }
}

static void test_callback_stop_is_sticky(void **state) {
  (void)state;
  sink_t s = {.stop_after = 1};
  tern_sse_t *p;
  assert_int_equal(tern_sse_create(0, on_event, &s, &p), 0);
  const char *in = "data: a\n\ndata: b\n\n";
  assert_int_equal(tern_sse_feed(p, in, strlen(in)), 99);
  assert_string_equal(s.out, "[message|a||0]");
  assert_int_equal(tern_sse_feed(p, "data: c\n\n", 9), 99);
  tern_sse_reset(p);
  s.stop_after = 0;
  assert_int_equal(tern_sse_feed(p, "data: c\n\n", 9), 0);
  assert_string_equal(s.out, "[message|a||0][message|c||0]");
  tern_sse_destroy(p);
}

static void test_reset_starts_a_fresh_stream(void **state) {
  (void)state;
  sink_t s = {0};
  tern_sse_t *p;
  assert_int_equal(tern_sse_create(0, on_event, &s, &p), 0);
  assert_int_equal(tern_sse_feed(p, "id: 1\nevent: x\ndata: half", 26), 0);
  tern_sse_reset(p);
  assert_int_equal(tern_sse_feed(p,
                                 "\xEF\xBB\xBF"
                                 "data: new\n\n",
                                 14),
                   0);
  assert_string_equal(s.out, "[message|new||0]");
  tern_sse_destroy(p);
}

static size_t g_big_len;
static int g_big_count;
static int big_cb(const tern_sse_event_t *ev, void *ud) {
  (void)ud;
  g_big_len = ev->len;
  g_big_count++;
  return 0;
}

static void test_large_event_steady_state(void **state) {
  (void)state;
  size_t n = 256 * 1024;
  char *buf = tern_malloc(n + 16);
  assert_non_null(buf);
  memcpy(buf, "data: ", 6);
  memset(buf + 6, 'x', n);
  memcpy(buf + 6 + n, "\n\n", 2);
  size_t total = n + 8;
  tern_sse_t *p;
  assert_int_equal(tern_sse_create(0, big_cb, NULL, &p), 0);
  g_big_count = 0;
  for (size_t at = 0; at < total; at += 1000)
    assert_int_equal(tern_sse_feed(p, buf + at, total - at < 1000 ? total - at : 1000), 0);
  assert_int_equal(g_big_count, 1);
  assert_int_equal(g_big_len, n);
  long before = tern_alloc_count();
  for (size_t at = 0; at < total; at += 1000)
    assert_int_equal(tern_sse_feed(p, buf + at, total - at < 1000 ? total - at : 1000), 0);
  assert_int_equal(g_big_count, 2);
  assert_int_equal(tern_alloc_count(), before);
  tern_sse_destroy(p);
  tern_free(buf);
}

static int sweep_fn(void *ctx) {
  (void)ctx;
  sink_t s = {0};
  tern_sse_t *p;
  int rc = tern_sse_create(0, on_event, &s, &p);
  if (rc)
    return rc;
  const char *in = "event: e\ndata: partial line that is cut";
  rc = tern_sse_feed(p, in, strlen(in));
  if (rc == 0)
    rc = tern_sse_feed(p, "\n\n", 2);
  tern_sse_destroy(p);
  if (rc == 0 && strcmp(s.out, "[e|partial line that is cut||0]") != 0)
    return TERN_EIO;
  return rc;
}

static void test_out_of_memory(void **state) {
  (void)state;
  tu_alloc_sweep(sweep_fn, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table_every_split),
      cmocka_unit_test(test_callback_stop_is_sticky),
      cmocka_unit_test(test_reset_starts_a_fresh_stream),
      cmocka_unit_test(test_large_event_steady_state),
      cmocka_unit_test(test_out_of_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
