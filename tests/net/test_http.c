/* Streaming HTTP against scripted loopback servers: every way a provider
 * call can end (streamed success, refused, connect / first-byte / idle
 * timeouts, reset, error statuses, oversized body, cancel at any moment)
 * must end in exactly one on_done with the right classification, and every
 * test ends with the loop closed cleanly (run under ASan and valgrind). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

#include "loopback.h"
#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/http.h"
#include "tern/log.h"
#include "tern/loop.h"

#define BOUND TERN_SEC(20) /* safety net only: tests end by condition */

typedef struct {
  tern_http_t *h;
  int responses, dones, chunks;
  int status;
  char ctype[64];
  char data[8192];
  size_t len;
  bool failed;
  tern_error_t err;
  char done_retry_after[32];
  int cancel_at_chunk; /* cancel inside on_data at this chunk */
  int free_at_chunk;   /* free inside on_data at this chunk */
  int cancel_in_response;
  bool data_after_done;
  bool freed;
  tern_http_t *cancel_other; /* cancel this other request at the first chunk */
} rq_t;

static void on_response(tern_http_t *h, int status, void *ud) {
  rq_t *r = ud;
  r->responses++;
  r->status = status;
  const char *ct = tern_http_header(h, "content-type");
  snprintf(r->ctype, sizeof r->ctype, "%s", ct ? ct : "");
  if (r->cancel_in_response)
    tern_http_cancel(h);
}

static void on_data(tern_http_t *h, const char *d, size_t n, void *ud) {
  rq_t *r = ud;
  if (r->dones)
    r->data_after_done = true;
  r->chunks++;
  assert_true(r->len + n < sizeof r->data);
  memcpy(r->data + r->len, d, n);
  r->len += n;
  if (r->cancel_at_chunk && r->chunks == r->cancel_at_chunk) {
    tern_http_cancel(h);
    tern_http_cancel(h); /* twice is harmless */
  }
  if (r->cancel_other && r->chunks == 1)
    tern_http_cancel(r->cancel_other);
  if (r->free_at_chunk && r->chunks == r->free_at_chunk) {
    tern_http_free(h);
    r->freed = true;
  }
}

static void on_done(tern_http_t *h, const tern_error_t *err, void *ud) {
  rq_t *r = ud;
  r->dones++;
  r->failed = err != NULL;
  if (err)
    r->err = *err;
  const char *ra = tern_http_header(h, "retry-after");
  snprintf(r->done_retry_after, sizeof r->done_retry_after, "%s", ra ? ra : "");
}

static bool is_done(void *ud) { return ((rq_t *)ud)->dones > 0; }
static bool has_chunk(void *ud) { return ((rq_t *)ud)->chunks > 0; }
static bool is_freed(void *ud) { return ((rq_t *)ud)->freed; }
static bool srv_idle(void *ud) { return ((lb_server_t *)ud)->conns == NULL; }
static bool srv_got_request(void *ud) { return ((lb_server_t *)ud)->req_done; }

static tern_http_opts_t opts_for(rq_t *r) {
  return (tern_http_opts_t){
      .component = TERN_COMP_LLM,
      .provider = "fake",
      .on_response = on_response,
      .on_data = on_data,
      .on_done = on_done,
      .ud = r,
  };
}

static void url_for(char *buf, size_t n, int port) {
  snprintf(buf, n, "http://127.0.0.1:%d/v1/stream", port);
}

/* Start a request against `script`, run to on_done, leave the rest to the
 * caller. */
static void run_request(tern_loop_t *loop, lb_server_t *srv, const lb_step_t *script,
                        tern_http_opts_t *o, rq_t *r) {
  lb_start(srv, loop, script);
  char url[128];
  url_for(url, sizeof url, srv->port);
  o->url = url;
  assert_int_equal(tern_http_create(loop, o, &r->h), 0);
  assert_int_equal(tern_http_start(r->h), 0);
  assert_int_equal(tern_loop_run_until(loop, is_done, r, BOUND), 0);
}

/* After on_done: a few more iterations must not call anything again. */
static void settle(tern_loop_t *loop, rq_t *r) {
  for (int i = 0; i < 5; i++)
    tern_loop_run_once(loop, false);
  assert_int_equal(r->dones, 1);
  assert_false(r->data_after_done);
}

static void finish(tern_loop_t *loop, lb_server_t *srv, rq_t *r) {
  tern_http_free(r->h);
  lb_stop(srv);
  tern_loop_destroy(loop);
}

#define HDR_CHUNKED                                                                                \
  "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"

static void test_streamed_chunks_arrive_in_order(void **state) {
  (void)state;
  static const lb_step_t script[] = {
      LB_S(HDR_CHUNKED),       LB_D(20), LB_S("5\r\nhello\r\n"),      LB_D(20),
      LB_S("6\r\n world\r\n"), LB_D(20), LB_S("1\r\n!\r\n0\r\n\r\n"), LB_STALL_,
  };
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  lb_server_t srv;
  rq_t r = {0};
  tern_http_opts_t o = opts_for(&r);
  run_request(loop, &srv, script, &o, &r);
  assert_false(r.failed);
  assert_int_equal(r.responses, 1);
  assert_int_equal(r.status, 200);
  assert_int_equal(tern_http_status(r.h), 200);
  assert_string_equal(r.ctype, "text/event-stream");
  assert_int_equal(r.len, 12);
  assert_memory_equal(r.data, "hello world!", 12);
  assert_true(r.chunks >= 3);
  tern_http_timing_t t;
  tern_http_timing(r.h, &t);
  assert_true(t.connect >= 0);
  assert_true(t.first_byte >= t.connect);
  assert_true(t.total >= t.first_byte);
  assert_true(strstr(srv.req, "GET /v1/stream HTTP/1.1\r\n") == srv.req);
  settle(loop, &r);
  finish(loop, &srv, &r);
}

static void test_connection_refused(void **state) {
  (void)state;
  /* A port that was just free: bind, read the port, close. */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t al = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &al);
  close(fd);
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  rq_t r = {0};
  tern_http_opts_t o = opts_for(&r);
  char url[128];
  url_for(url, sizeof url, ntohs(a.sin_port));
  o.url = url;
  assert_int_equal(tern_http_create(loop, &o, &r.h), 0);
  assert_int_equal(tern_http_add_header(r.h, "Authorization", "Bearer zz-refused-key-98765"), 0);
  assert_int_equal(tern_http_start(r.h), 0);
  assert_int_equal(tern_loop_run_until(loop, is_done, &r, BOUND), 0);
  assert_true(r.failed);
  assert_int_equal(r.err.kind, TERN_KIND_CONNECTION);
  assert_int_equal(r.err.component, TERN_COMP_LLM);
  assert_string_equal(r.err.provider, "fake");
  assert_true(r.err.retryable);
  assert_int_equal(r.err.http_status, 0);
  assert_null(strstr(r.err.message, "zz-refused-key-98765"));
  assert_int_equal(r.responses, 0);
  settle(loop, &r);
  tern_http_free(r.h);
  tern_loop_destroy(loop);
  tern_secret_clear();
}

static void test_connect_timeout(void **state) {
  (void)state;
  /* A listener with backlog 0 that never accepts, its queue filled by two
   * connections: the kernel drops further SYNs, so our connect hangs. */
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t al = sizeof a;
  getsockname(lfd, (struct sockaddr *)&a, &al);
  assert_int_equal(listen(lfd, 0), 0);
  int fill[3];
  for (int i = 0; i < 3; i++) {
    fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(fill[i], (struct sockaddr *)&a, sizeof a);
  }
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  rq_t r = {0};
  tern_http_opts_t o = opts_for(&r);
  o.connect_timeout = TERN_MS(200);
  char url[128];
  url_for(url, sizeof url, ntohs(a.sin_port));
  o.url = url;
  assert_int_equal(tern_http_create(loop, &o, &r.h), 0);
  assert_int_equal(tern_http_start(r.h), 0);
  assert_int_equal(tern_loop_run_until(loop, is_done, &r, BOUND), 0);
  assert_true(r.failed);
  assert_int_equal(r.err.kind, TERN_KIND_TIMEOUT);
  assert_non_null(strstr(r.err.message, "connection"));
  tern_http_timing_t t;
  tern_http_timing(r.h, &t);
  assert_int_equal(t.connect, -1);
  settle(loop, &r);
  tern_http_free(r.h);
  tern_loop_destroy(loop);
  for (int i = 0; i < 3; i++)
    close(fill[i]);
  close(lfd);
}

static void test_first_byte_timeout(void **state) {
  (void)state;
  static const lb_step_t script[] = {LB_STALL_};
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  lb_server_t srv;
  rq_t r = {0};
  tern_http_opts_t o = opts_for(&r);
  o.first_byte_timeout = TERN_MS(200);
  run_request(loop, &srv, script, &o, &r);
  assert_true(srv.req_done); /* the request did go out */
  assert_true(r.failed);
  assert_int_equal(r.err.kind, TERN_KIND_TIMEOUT);
  assert_non_null(strstr(r.err.message, "response"));
  tern_http_timing_t t;
  tern_http_timing(r.h, &t);
  assert_true(t.connect >= 0);
  assert_int_equal(t.first_byte, -1);
  settle(loop, &r);
  finish(loop, &srv, &r);
}

static void test_stall_after_chunks(void **state) {
  (void)state;
  static const lb_step_t script[] = {LB_S(HDR_CHUNKED), LB_S("5\r\nhello\r\n"),
                                     LB_S("3\r\nabc\r\n"), LB_STALL_};
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  lb_server_t srv;
  rq_t r = {0};
  tern_http_opts_t o = opts_for(&r);
  o.idle_timeout = TERN_MS(200);
  run_request(loop, &srv, script, &o, &r);
  assert_true(r.failed);
  assert_int_equal(r.err.kind, TERN_KIND_STALLED);
  assert_true(r.err.retryable);
  assert_int_equal(r.responses, 1);
  assert_int_equal(r.len, 8);
  assert_memory_equal(r.data, "helloabc", 8);
  settle(loop, &r);
  finish(loop, &srv, &r);
}

static void test_headers_then_silence_is_a_stall(void **state) {
  (void)state;
  /* The LiveKit case: headers arrive, then nothing. */
  static const lb_step_t script[] = {LB_S(HDR_CHUNKED), LB_STALL_};
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  lb_server_t srv;
  rq_t r = {0};
  tern_http_opts_t o = opts_for(&r);
  o.idle_timeout = TERN_MS(150);
  run_request(loop, &srv, script, &o, &r);
  assert_int_equal(r.err.kind, TERN_KIND_STALLED);
  assert_int_equal(r.responses, 1);
  assert_int_equal(r.len, 0);
  settle(loop, &r);
  finish(loop, &srv, &r);
}

static void test_reset_mid_stream(void **state) {
  (void)state;
  static const lb_step_t script[] = {LB_S(HDR_CHUNKED), LB_S("5\r\nhello\r\n"), LB_D(50),
                                     LB_RESET_};
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  lb_server_t srv;
  rq_t r = {0};
  tern_http_opts_t o = opts_for(&r);
  run_request(loop, &srv, script, &o, &r);
  assert_true(r.failed);
  assert_int_equal(r.err.kind, TERN_KIND_CONNECTION);
  assert_true(r.len <= 5);
  assert_memory_equal(r.data, "hello", r.len);
  settle(loop, &r);
  finish(loop, &srv, &r);
}

static void test_close_before_end_of_body(void **state) {
  (void)state;
  static const lb_step_t script[] = {
      LB_S("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part"), LB_CLOSE_};
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  lb_server_t srv;
  rq_t r = {0};
  tern_http_opts_t o = opts_for(&r);
  run_request(loop, &srv, script, &o, &r);
  assert_true(r.failed);
  assert_true(r.err.retryable);
  assert_int_not_equal(r.err.kind, TERN_KIND_CANCELLED);
  settle(loop, &r);
  finish(loop, &srv, &r);
}

static void test_429_rate_limited_with_retry_after(void **state) {
  (void)state;
  static const lb_step_t script[] = {
      LB_S("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nContent-Type: "
           "application/json\r\nConnection: close\r\n\r\n"),
      LB_S("{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"requests\"}}"), LB_CLOSE_};
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  lb_server_t srv;
  rq_t r = {0};
  tern_http_opts_t o = opts_for(&r);
  run_request(loop, &srv, script, &o, &r);
  assert_true(r.failed);
  assert_int_equal(r.err.kind, TERN_KIND_RATE_LIMITED);
  assert_int_equal(r.err.http_status, 429);
  assert_int_equal(r.err.retry_after, TERN_SEC(2));
  assert_true(r.err.retryable);
  assert_string_equal(r.done_retry_after, "2");
  /* An error response is not a stream: no on_response, no on_data. */
  assert_int_equal(r.responses, 0);
  assert_int_equal(r.chunks, 0);
  size_t n;
  const char *body = tern_http_error_body(r.h, &n);
  assert_non_null(body);
  assert_non_null(strstr(body, "Rate limit reached"));
  settle(loop, &r);
  finish(loop, &srv, &r);
}

static void test_retry_after_ms_wins(void **state) {
  (void)state;
  static const lb_step_t script[] = {
      LB_S("HTTP/1.1 429 Too Many Requests\r\nretry-after-ms: 250\r\nRetry-After: "
           "9\r\nContent-Length: 0\r\n\r\n"),
      LB_STALL_};
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  lb_server_t srv;
  rq_t r = {0};
  tern_http_opts_t o = opts_for(&r);
  run_request(loop, &srv, script, &o, &r);
  assert_int_equal(r.err.kind, TERN_KIND_RATE_LIMITED);
  assert_int_equal(r.err.retry_after, TERN_MS(250));
  settle(loop, &r);
  finish(loop, &srv, &r);
}

static void test_500_is_server(void **state) {
  (void)state;
  static const lb_step_t script[] = {
      LB_S("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\noops!"), LB_STALL_};
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  lb_server_t srv;
  rq_t r = {0};
  tern_http_opts_t o = opts_for(&r);
  run_request(loop, &srv, script, &o, &r);
  assert_int_equal(r.err.kind, TERN_KIND_SERVER);
  assert_int_equal(r.err.http_status, 500);
  assert_int_equal(r.err.retry_after, -1);
  assert_true(r.err.retryable);
  settle(loop, &r);
  finish(loop, &srv, &r);
}

static void test_401_is_auth_and_error_body_is_bounded(void **state) {
  (void)state;
  static const lb_step_t script[] = {LB_S("HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n"),
                                     LB_S("0123456789012345678901234567890123456789"), LB_STALL_};
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  lb_server_t srv;
  rq_t r = {0};
  tern_http_opts_t o = opts_for(&r);
  o.max_error_body = 16; /* stop reading once we have enough to classify */
  run_request(loop, &srv, script, &o, &r);
  assert_int_equal(r.err.kind, TERN_KIND_AUTH);
  assert_false(r.err.recoverable);
  size_t n;
  const char *body = tern_http_error_body(r.h, &n);
  assert_int_equal(n, 16);
  assert_string_equal(body, "0123456789012345");
  settle(loop, &r);
  finish(loop, &srv, &r);
}

static void test_oversized_body_is_bad_response(void **state) {
  (void)state;
  static const lb_step_t script[] = {
      LB_S("HTTP/1.1 200 OK\r\nContent-Length: 32\r\n\r\n0123456789abcdef0123456789abcdef"),
      LB_STALL_};
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  lb_server_t srv;
  rq_t r = {0};
  tern_http_opts_t o = opts_for(&r);
  o.max_response = 10;
  run_request(loop, &srv, script, &o, &r);
  assert_int_equal(r.err.kind, TERN_KIND_BAD_RESPONSE);
  assert_true(r.len <= 10);
  settle(loop, &r);
  finish(loop, &srv, &r);
}

static void test_cancel_in_the_middle(void **state) {
  (void)state;
  static const lb_step_t script[] = {LB_S(HDR_CHUNKED), LB_S("5\r\nhello\r\n"), LB_STALL_};
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  lb_server_t srv;
  lb_start(&srv, loop, script);
  rq_t r = {0};
  tern_http_opts_t o = opts_for(&r);
  char url[128];
  url_for(url, sizeof url, srv.port);
  o.url = url;
  assert_int_equal(tern_http_create(loop, &o, &r.h), 0);
  assert_int_equal(tern_http_start(r.h), 0);
  assert_int_equal(tern_loop_run_until(loop, has_chunk, &r, BOUND), 0);
  tern_http_cancel(r.h);
  assert_int_equal(r.dones, 0); /* never from inside cancel */
  assert_int_equal(tern_loop_run_until(loop, is_done, &r, BOUND), 0);
  assert_int_equal(r.err.kind, TERN_KIND_CANCELLED);
  assert_false(r.err.retryable);
  tern_http_cancel(r.h); /* after done: nothing */
  settle(loop, &r);
  finish(loop, &srv, &r);
}

static void test_cancel_inside_on_data(void **state) {
  (void)state;
  static const lb_step_t script[] = {LB_S(HDR_CHUNKED), LB_S("5\r\nhello\r\n"), LB_D(30),
                                     LB_S("5\r\nworld\r\n"), LB_STALL_};
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  lb_server_t srv;
  rq_t r = {.cancel_at_chunk = 1};
  tern_http_opts_t o = opts_for(&r);
  run_request(loop, &srv, script, &o, &r);
  assert_int_equal(r.err.kind, TERN_KIND_CANCELLED);
  assert_int_equal(r.chunks, 1);
  assert_memory_equal(r.data, "hello", 5);
  settle(loop, &r);
  finish(loop, &srv, &r);
}

static void test_cancel_inside_on_response(void **state) {
  (void)state;
  static const lb_step_t script[] = {LB_S(HDR_CHUNKED "5\r\nhello\r\n"), LB_STALL_};
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  lb_server_t srv;
  rq_t r = {.cancel_in_response = 1};
  tern_http_opts_t o = opts_for(&r);
  run_request(loop, &srv, script, &o, &r);
  assert_int_equal(r.err.kind, TERN_KIND_CANCELLED);
  assert_int_equal(r.chunks, 0);
  settle(loop, &r);
  finish(loop, &srv, &r);
}

static bool both_done(void *ud) {
  rq_t *r = ud;
  return r[0].dones && r[1].dones;
}

static void test_cancel_another_request_from_a_callback(void **state) {
  (void)state;
  static const lb_step_t script[] = {LB_S(HDR_CHUNKED), LB_S("5\r\nhello\r\n"), LB_D(50),
                                     LB_S("0\r\n\r\n"), LB_STALL_};
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  lb_server_t srv;
  lb_start(&srv, loop, script);
  char url[128];
  url_for(url, sizeof url, srv.port);
  rq_t r[2] = {{0}, {0}};
  for (int i = 0; i < 2; i++) {
    tern_http_opts_t o = opts_for(&r[i]);
    o.url = url;
    assert_int_equal(tern_http_create(loop, &o, &r[i].h), 0);
  }
  r[0].cancel_other = r[1].h;
  for (int i = 0; i < 2; i++)
    assert_int_equal(tern_http_start(r[i].h), 0);
  assert_int_equal(tern_loop_run_until(loop, both_done, r, BOUND), 0);
  assert_false(r[0].failed);
  assert_memory_equal(r[0].data, "hello", 5);
  assert_true(r[1].failed);
  assert_int_equal(r[1].err.kind, TERN_KIND_CANCELLED);
  settle(loop, &r[0]);
  settle(loop, &r[1]);
  tern_http_free(r[0].h);
  tern_http_free(r[1].h);
  lb_stop(&srv);
  tern_loop_destroy(loop);
}

static void test_free_inside_on_data(void **state) {
  (void)state;
  static const lb_step_t script[] = {LB_S(HDR_CHUNKED), LB_S("5\r\nhello\r\n"), LB_D(30),
                                     LB_S("5\r\nworld\r\n"), LB_STALL_};
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  lb_server_t srv;
  lb_start(&srv, loop, script);
  rq_t r = {.free_at_chunk = 1};
  tern_http_opts_t o = opts_for(&r);
  char url[128];
  url_for(url, sizeof url, srv.port);
  o.url = url;
  assert_int_equal(tern_http_create(loop, &o, &r.h), 0);
  assert_int_equal(tern_http_start(r.h), 0);
  assert_int_equal(tern_loop_run_until(loop, is_freed, &r, BOUND), 0);
  /* curl drops the connection of the aborted transfer: the server sees it. */
  assert_int_equal(tern_loop_run_until(loop, srv_idle, &srv, BOUND), 0);
  assert_int_equal(r.dones, 0);
  assert_int_equal(r.chunks, 1);
  lb_stop(&srv);
  tern_loop_destroy(loop);
}

static void test_cancel_before_start(void **state) {
  (void)state;
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  rq_t r = {0};
  tern_http_opts_t o = opts_for(&r);
  o.url = "http://127.0.0.1:9/";
  assert_int_equal(tern_http_create(loop, &o, &r.h), 0);
  tern_http_cancel(r.h);
  assert_int_equal(tern_http_start(r.h), TERN_ECANCELED);
  tern_http_free(r.h);
  assert_int_equal(r.dones, 0);
  tern_loop_destroy(loop);
}

static void test_loop_destroy_with_live_request(void **state) {
  (void)state;
  static const lb_step_t script[] = {LB_S(HDR_CHUNKED), LB_STALL_};
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  lb_server_t srv;
  lb_start(&srv, loop, script);
  rq_t r = {0};
  tern_http_opts_t o = opts_for(&r);
  char url[128];
  url_for(url, sizeof url, srv.port);
  o.url = url;
  assert_int_equal(tern_http_create(loop, &o, &r.h), 0);
  assert_int_equal(tern_http_start(r.h), 0);
  assert_int_equal(tern_loop_run_until(loop, srv_got_request, &srv, BOUND), 0);
  lb_stop(&srv);
  tern_loop_destroy(loop); /* frees the request; no callback */
  assert_int_equal(r.dones, 0);
}

static void test_post_body_and_multipart(void **state) {
  (void)state;
  /* Connection: close, so the second request gets a fresh connection and
   * srv.req holds only its own request. */
  static const lb_step_t script[] = {
      LB_S("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"), LB_CLOSE_};
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  lb_server_t srv;
  lb_start(&srv, loop, script);
  char url[128];
  url_for(url, sizeof url, srv.port);

  rq_t r = {0};
  tern_http_opts_t o = opts_for(&r);
  o.url = url;
  const char *json = "{\"model\":\"m\",\"stream\":true}";
  assert_int_equal(tern_http_create(loop, &o, &r.h), 0);
  assert_int_equal(tern_http_add_header(r.h, "Content-Type", "application/json"), 0);
  assert_int_equal(tern_http_add_header(r.h, "Bad:Name", "x"), TERN_EINVAL);
  assert_int_equal(tern_http_add_header(r.h, "X-Inject", "a\r\nb: c"), TERN_EINVAL);
  assert_int_equal(tern_http_set_body(r.h, json, strlen(json), false), 0);
  assert_int_equal(tern_http_add_form_field(r.h, "x", "y"), TERN_ESTATE);
  assert_int_equal(tern_http_start(r.h), 0);
  assert_int_equal(tern_http_add_header(r.h, "Late", "x"), TERN_ESTATE);
  assert_int_equal(tern_http_start(r.h), TERN_ESTATE);
  assert_int_equal(tern_loop_run_until(loop, is_done, &r, BOUND), 0);
  assert_false(r.failed);
  assert_memory_equal(r.data, "ok", 2);
  assert_true(strstr(srv.req, "POST /v1/stream HTTP/1.1\r\n") == srv.req);
  assert_non_null(strstr(srv.req, "Content-Type: application/json\r\n"));
  assert_null(strstr(srv.req, "Expect:"));
  assert_non_null(strstr(srv.req, json));
  tern_http_free(r.h);

  /* multipart upload of "audio" bytes, borrowed, with a NUL inside */
  static const char audio[] = "RIFF\0\0\0\0WAVEfmt data-bytes";
  rq_t r2 = {0};
  tern_http_opts_t o2 = opts_for(&r2);
  o2.url = url;
  assert_int_equal(tern_http_create(loop, &o2, &r2.h), 0);
  assert_int_equal(tern_http_add_form_field(r2.h, "model", "whisper-1"), 0);
  assert_int_equal(
      tern_http_add_form_file(r2.h, "file", "a.wav", "audio/wav", audio, sizeof audio - 1, false),
      0);
  assert_int_equal(tern_http_set_body(r2.h, "x", 1, true), TERN_ESTATE);
  assert_int_equal(tern_http_start(r2.h), 0);
  assert_int_equal(tern_loop_run_until(loop, is_done, &r2, BOUND), 0);
  assert_false(r2.failed);
  assert_non_null(strstr(srv.req, "multipart/form-data"));
  assert_non_null(strstr(srv.req, "name=\"model\"\r\n\r\nwhisper-1"));
  assert_non_null(strstr(srv.req, "filename=\"a.wav\""));
  assert_non_null(memmem(srv.req, srv.req_len, audio, sizeof audio - 1));
  tern_http_free(r2.h);
  lb_stop(&srv);
  tern_loop_destroy(loop);
}

static void test_secret_headers_are_registered(void **state) {
  (void)state;
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  rq_t r = {0};
  tern_http_opts_t o = opts_for(&r);
  o.url = "http://127.0.0.1:9/";
  assert_int_equal(tern_http_create(loop, &o, &r.h), 0);
  assert_int_equal(tern_http_add_header(r.h, "x-api-key", "plainvalue-7f3a9c2e"), 0);
  assert_int_equal(tern_http_add_header(r.h, "Authorization", "Token qq7f3a9c2e11"), 0);
  char out[256];
  tern_redact("saw plainvalue-7f3a9c2e and qq7f3a9c2e11 here", out, sizeof out);
  assert_null(strstr(out, "plainvalue-7f3a9c2e"));
  assert_null(strstr(out, "qq7f3a9c2e11"));
  tern_http_free(r.h);
  tern_loop_destroy(loop);
  tern_secret_clear();
}

static void test_bad_arguments(void **state) {
  (void)state;
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  tern_http_t *h = (tern_http_t *)1;
  tern_http_opts_t o = {0};
  assert_int_equal(tern_http_create(loop, &o, &h), TERN_EINVAL);
  assert_null(h);
  o.url = "ftp://127.0.0.1/x";
  assert_int_equal(tern_http_create(loop, &o, &h), TERN_EINVAL);
  o.url = "http://127.0.0.1/x";
  o.component = TERN_COMP__COUNT;
  assert_int_equal(tern_http_create(loop, &o, &h), TERN_EINVAL);
  tern_loop_destroy(loop);
}

static int sweep_fn(void *ctx) {
  (void)ctx;
  tern_loop_t *loop;
  int rc = tern_loop_create(NULL, &loop);
  if (rc)
    return rc;
  tern_http_opts_t o = {.url = "http://127.0.0.1:9/", .component = TERN_COMP_TTS};
  tern_http_t *h = NULL;
  rc = tern_http_create(loop, &o, &h);
  if (rc == 0)
    rc = tern_http_add_header(h, "Content-Type", "application/json");
  if (rc == 0)
    rc = tern_http_set_body(h, "{}", 2, true);
  tern_http_free(h);
  tern_loop_destroy(loop);
  return rc;
}

static void test_out_of_memory(void **state) {
  (void)state;
  tu_alloc_sweep(sweep_fn, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_streamed_chunks_arrive_in_order),
      cmocka_unit_test(test_connection_refused),
      cmocka_unit_test(test_connect_timeout),
      cmocka_unit_test(test_first_byte_timeout),
      cmocka_unit_test(test_stall_after_chunks),
      cmocka_unit_test(test_headers_then_silence_is_a_stall),
      cmocka_unit_test(test_reset_mid_stream),
      cmocka_unit_test(test_close_before_end_of_body),
      cmocka_unit_test(test_429_rate_limited_with_retry_after),
      cmocka_unit_test(test_retry_after_ms_wins),
      cmocka_unit_test(test_500_is_server),
      cmocka_unit_test(test_401_is_auth_and_error_body_is_bounded),
      cmocka_unit_test(test_oversized_body_is_bad_response),
      cmocka_unit_test(test_cancel_in_the_middle),
      cmocka_unit_test(test_cancel_inside_on_data),
      cmocka_unit_test(test_cancel_inside_on_response),
      cmocka_unit_test(test_cancel_another_request_from_a_callback),
      cmocka_unit_test(test_free_inside_on_data),
      cmocka_unit_test(test_cancel_before_start),
      cmocka_unit_test(test_loop_destroy_with_live_request),
      cmocka_unit_test(test_post_body_and_multipart),
      cmocka_unit_test(test_secret_headers_are_registered),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_out_of_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
