/* WebSocket client against a libwebsockets echo server started by the test
 * on the same loop (a second lws context on the same foreign libuv loop),
 * and against the raw loopback server for refused upgrades. Every test ends
 * with the loop destroyed cleanly (run under ASan and valgrind). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "testutil.h"

#include "loopback.h"
#include "tern/error.h"
#include "tern/log.h"
#include "tern/loop.h"
#include "tern/ws.h"

#define BOUND TERN_SEC(20)

/* ---- the echo server ------------------------------------------------------ */

typedef struct {
  unsigned char buf[LWS_PRE + 256 * 1024];
  size_t len;
  bool binary, pending, close_me;
  int frag_step; /* > 0: sending a three-fragment message */
} pss_t;

static char g_auth_seen[128];
static int g_server_closed;
static int g_server_saw_code; /* close code of the client's close frame */

static int echo_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len) {
  pss_t *s = user;
  switch (reason) {
  case LWS_CALLBACK_ESTABLISHED:
    memset(g_auth_seen, 0, sizeof g_auth_seen);
    lws_hdr_copy(wsi, g_auth_seen, sizeof g_auth_seen, WSI_TOKEN_HTTP_AUTHORIZATION);
    s->len = 0;
    s->pending = s->close_me = false;
    s->frag_step = 0;
    break;
  case LWS_CALLBACK_RECEIVE:
    if (s->len + len > sizeof s->buf - LWS_PRE)
      return -1;
    memcpy(s->buf + LWS_PRE + s->len, in, len);
    s->len += len;
    s->binary = lws_frame_is_binary(wsi);
    if (!lws_is_final_fragment(wsi))
      break;
    if (!s->binary && s->len == 8 && !memcmp(s->buf + LWS_PRE, "close-me", 8))
      s->close_me = true;
    else if (!s->binary && s->len == 5 && !memcmp(s->buf + LWS_PRE, "quiet", 5))
      s->len = 0;
    else if (!s->binary && s->len == 4 && !memcmp(s->buf + LWS_PRE, "frag", 4))
      s->frag_step = 1;
    else
      s->pending = true;
    lws_callback_on_writable(wsi);
    break;
  case LWS_CALLBACK_SERVER_WRITEABLE:
    if (s->close_me) {
      /* Written by hand: this lws build drops the frame on the usual
       * lws_close_reason + return -1 path (see src/net/ws.c). */
      unsigned char b[LWS_PRE + 5] = {0};
      memcpy(b + LWS_PRE,
             "\x0f\xa1"
             "bye",
             5); /* 4001 */
      lws_write(wsi, b + LWS_PRE, 5, (enum lws_write_protocol)4 /* close */);
      s->close_me = false;
      break;
    }
    if (s->frag_step) {
      static const char *parts[] = {"abc", "def", "ghi"};
      int flags = s->frag_step == 1 ? LWS_WRITE_TEXT : LWS_WRITE_CONTINUATION;
      if (s->frag_step < 3)
        flags |= LWS_WRITE_NO_FIN;
      unsigned char b[LWS_PRE + 3];
      memcpy(b + LWS_PRE, parts[s->frag_step - 1], 3);
      lws_write(wsi, b + LWS_PRE, 3, (enum lws_write_protocol)flags);
      s->frag_step = s->frag_step == 3 ? 0 : s->frag_step + 1;
      if (s->frag_step)
        lws_callback_on_writable(wsi);
      break;
    }
    if (s->pending) {
      lws_write(wsi, s->buf + LWS_PRE, s->len, s->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
      s->pending = false;
      s->len = 0;
    }
    break;
  case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
    g_server_saw_code = len >= 2 ? (((unsigned char *)in)[0] << 8) | ((unsigned char *)in)[1] : 0;
    break;
  case LWS_CALLBACK_CLOSED:
    g_server_closed++;
    break;
  default:
    break;
  }
  return 0;
}

static const struct lws_protocols g_echo[] = {
    {.name = "echo", .callback = echo_cb, .per_session_data_size = sizeof(pss_t)},
    {.name = NULL},
};

/* The echo server is a vhost on the loop's own lws context, so the loop
 * tears it down with everything else. */
static int echo_start(tern_loop_t *loop) {
  struct lws_context *ctx = tern_ws_lws_context(loop);
  assert_non_null(ctx);
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.vhost_name = "echo";
  info.port = 0;
  info.iface = "127.0.0.1";
  info.protocols = g_echo;
  info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
  struct lws_vhost *vh = lws_create_vhost(ctx, &info);
  assert_non_null(vh);
  int port = lws_get_vhost_listen_port(vh);
  assert_true(port > 0);
  return port;
}

/* ---- the client side ------------------------------------------------------- */

typedef struct {
  tern_ws_t *ws;
  int opens, closes, errors, messages;
  int close_code;
  char close_reason[128];
  tern_error_t err;
  char msgs[8][64];
  bool bin[8];
  size_t lens[8];
  unsigned char big[200 * 1024];
  size_t big_len;
  bool send_on_open;
  bool free_on_message;
  bool after_end;
} wc_t;

static void on_open(tern_ws_t *ws, void *ud) {
  wc_t *c = ud;
  c->opens++;
  if (c->send_on_open) {
    assert_int_equal(tern_ws_send(ws, "hello", 5, false), 0);
    static const unsigned char b[] = {0, 1, 2, 255};
    assert_int_equal(tern_ws_send(ws, b, sizeof b, true), 0);
  }
}

static void on_message(tern_ws_t *ws, const void *d, size_t n, bool binary, void *ud) {
  wc_t *c = ud;
  if (c->closes || c->errors)
    c->after_end = true;
  if (n > 64) {
    memcpy(c->big, d, n);
    c->big_len = n;
  } else if (c->messages < 8) {
    memcpy(c->msgs[c->messages], d, n);
    c->lens[c->messages] = n;
    c->bin[c->messages] = binary;
  }
  c->messages++;
  if (c->free_on_message) {
    tern_ws_free(ws);
    c->ws = NULL;
  }
}

static void on_close(tern_ws_t *ws, int code, const char *reason, size_t len, void *ud) {
  (void)ws;
  wc_t *c = ud;
  if (c->closes || c->errors)
    c->after_end = true;
  c->closes++;
  c->close_code = code;
  snprintf(c->close_reason, sizeof c->close_reason, "%.*s", (int)len, reason);
}

static void on_error(tern_ws_t *ws, const tern_error_t *err, void *ud) {
  (void)ws;
  wc_t *c = ud;
  if (c->closes || c->errors)
    c->after_end = true;
  c->errors++;
  c->err = *err;
}

static bool ended(void *ud) {
  wc_t *c = ud;
  return c->closes + c->errors > 0;
}
static bool opened(void *ud) { return ((wc_t *)ud)->opens > 0; }
static bool two_messages(void *ud) { return ((wc_t *)ud)->messages >= 2; }
static bool one_message(void *ud) { return ((wc_t *)ud)->messages >= 1; }
static bool server_closed(void *ud) {
  (void)ud;
  return g_server_closed > 0;
}

static tern_ws_opts_t wopts(wc_t *c, const char *url) {
  return (tern_ws_opts_t){
      .url = url,
      .component = TERN_COMP_STT,
      .provider = "fakews",
      .on_open = on_open,
      .on_message = on_message,
      .on_close = on_close,
      .on_error = on_error,
      .ud = c,
  };
}

static void settle(tern_loop_t *loop, wc_t *c) {
  for (int i = 0; i < 5; i++)
    tern_loop_run_once(loop, false);
  assert_int_equal(c->closes + c->errors, 1);
  assert_false(c->after_end);
}

static void test_echo_text_and_binary_then_close(void **state) {
  (void)state;
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  int port = echo_start(loop);
  char url[128];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/v1/listen?encoding=linear16", port);
  wc_t *c = calloc(1, sizeof *c);
  c->send_on_open = true;
  tern_ws_opts_t o = wopts(c, url);
  assert_int_equal(tern_ws_create(loop, &o, &c->ws), 0);
  assert_int_equal(tern_ws_add_header(c->ws, "Authorization", "Token ws-secret-4242abcd"), 0);
  assert_int_equal(tern_ws_send(c->ws, "x", 1, false), TERN_ESTATE); /* not connecting yet */
  assert_int_equal(tern_ws_connect(c->ws), 0);
  assert_int_equal(tern_ws_connect(c->ws), TERN_ESTATE);
  assert_int_equal(tern_loop_run_until(loop, two_messages, c, BOUND), 0);
  assert_int_equal(c->opens, 1);
  assert_true(tern_ws_is_open(c->ws));
  assert_true(tern_ws_connect_time(c->ws) >= 0);
  assert_string_equal(g_auth_seen, "Token ws-secret-4242abcd");
  assert_int_equal(c->lens[0], 5);
  assert_memory_equal(c->msgs[0], "hello", 5);
  assert_false(c->bin[0]);
  assert_int_equal(c->lens[1], 4);
  assert_memory_equal(c->msgs[1], "\x00\x01\x02\xff", 4);
  assert_true(c->bin[1]);
  g_server_saw_code = 0;
  assert_int_equal(tern_ws_close(c->ws, 1000, "done"), 0);
  assert_int_equal(tern_ws_close(c->ws, 1000, "again"), TERN_ESTATE);
  assert_int_equal(tern_ws_send(c->ws, "late", 4, false), TERN_ESTATE);
  assert_int_equal(tern_loop_run_until(loop, ended, c, BOUND), 0);
  assert_int_equal(c->closes, 1);
  assert_int_equal(c->close_code, 1000);
  assert_string_equal(c->close_reason, "done");
  assert_int_equal(g_server_saw_code, 1000); /* a real close frame went out */
  assert_false(tern_ws_is_open(c->ws));
  settle(loop, c);
  tern_ws_free(c->ws);
  tern_loop_destroy(loop);
  free(c);
  tern_secret_clear();
}

static void test_large_and_fragmented_messages(void **state) {
  (void)state;
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  int port = echo_start(loop);
  char url[128];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
  wc_t *c = calloc(1, sizeof *c);
  tern_ws_opts_t o = wopts(c, url);
  assert_int_equal(tern_ws_create(loop, &o, &c->ws), 0);
  assert_int_equal(tern_ws_connect(c->ws), 0);
  /* Queued while connecting, sent once open. */
  static unsigned char big[150 * 1024];
  for (size_t i = 0; i < sizeof big; i++)
    big[i] = (unsigned char)(i * 7 + 3);
  assert_int_equal(tern_ws_send(c->ws, big, sizeof big, true), 0);
  assert_int_equal(tern_ws_send(c->ws, "frag", 4, false), 0);
  assert_int_equal(tern_loop_run_until(loop, two_messages, c, BOUND), 0);
  assert_int_equal(c->big_len, sizeof big);
  assert_memory_equal(c->big, big, sizeof big);
  /* The server's three fragments arrive as one message. */
  assert_int_equal(c->lens[1], 9); /* message 0 was the big one */
  assert_memory_equal(c->msgs[1], "abcdefghi", 9);
  assert_false(c->bin[1]);
  tern_ws_free(c->ws);
  tern_loop_destroy(loop);
  assert_int_equal(c->closes + c->errors, 0); /* freed: no callback */
  free(c);
}

static void test_message_over_bound_is_bad_response(void **state) {
  (void)state;
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  int port = echo_start(loop);
  char url[128];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
  wc_t *c = calloc(1, sizeof *c);
  tern_ws_opts_t o = wopts(c, url);
  o.max_message = 1000;
  o.max_queue = 20000 + 3000;
  assert_int_equal(tern_ws_create(loop, &o, &c->ws), 0);
  assert_int_equal(tern_ws_connect(c->ws), 0);
  /* 3000 bytes: over the bound yet small enough to come in one piece. */
  static unsigned char big[16 * 1024];
  assert_int_equal(tern_ws_send(c->ws, big, 3000, true), 0);
  assert_int_equal(tern_ws_send(c->ws, big, sizeof big, true), 0);
  assert_int_equal(tern_ws_send(c->ws, big, sizeof big, true), TERN_EBUSY); /* queue bound */
  assert_int_equal(tern_loop_run_until(loop, ended, c, BOUND), 0);
  assert_int_equal(c->errors, 1);
  assert_int_equal(c->err.kind, TERN_KIND_BAD_RESPONSE);
  assert_int_equal(c->messages, 0); /* nothing over the bound was handed over */
  assert_int_equal(c->err.component, TERN_COMP_STT);
  assert_string_equal(c->err.provider, "fakews");
  settle(loop, c);
  tern_ws_free(c->ws);
  tern_loop_destroy(loop);
  free(c);
}

static void test_server_initiated_close(void **state) {
  (void)state;
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  int port = echo_start(loop);
  char url[128];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
  wc_t *c = calloc(1, sizeof *c);
  tern_ws_opts_t o = wopts(c, url);
  assert_int_equal(tern_ws_create(loop, &o, &c->ws), 0);
  assert_int_equal(tern_ws_connect(c->ws), 0);
  assert_int_equal(tern_ws_send(c->ws, "close-me", 8, false), 0);
  assert_int_equal(tern_loop_run_until(loop, ended, c, BOUND), 0);
  if (c->errors)
    print_message("error: %s\n", c->err.message);
  assert_int_equal(c->closes, 1);
  assert_int_equal(c->close_code, 4001);
  assert_string_equal(c->close_reason, "bye");
  settle(loop, c);
  tern_ws_free(c->ws);
  tern_loop_destroy(loop);
  free(c);
}

static void test_idle_stall(void **state) {
  (void)state;
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  int port = echo_start(loop);
  char url[128];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
  wc_t *c = calloc(1, sizeof *c);
  tern_ws_opts_t o = wopts(c, url);
  o.idle_timeout = TERN_MS(150);
  assert_int_equal(tern_ws_create(loop, &o, &c->ws), 0);
  assert_int_equal(tern_ws_connect(c->ws), 0);
  assert_int_equal(tern_ws_send(c->ws, "quiet", 5, false), 0); /* server answers nothing */
  assert_int_equal(tern_loop_run_until(loop, ended, c, BOUND), 0);
  assert_int_equal(c->opens, 1);
  assert_int_equal(c->errors, 1);
  assert_int_equal(c->err.kind, TERN_KIND_STALLED);
  assert_true(c->err.retryable);
  /* We dropped the connection: the server sees it go. */
  g_server_closed = 0;
  assert_int_equal(tern_loop_run_until(loop, server_closed, NULL, BOUND), 0);
  settle(loop, c);
  tern_ws_free(c->ws);
  tern_loop_destroy(loop);
  free(c);
}

static void test_connection_refused(void **state) {
  (void)state;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t al = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &al);
  close(fd);
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  char url[128];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/", ntohs(a.sin_port));
  wc_t *c = calloc(1, sizeof *c);
  tern_ws_opts_t o = wopts(c, url);
  assert_int_equal(tern_ws_create(loop, &o, &c->ws), 0);
  assert_int_equal(tern_ws_connect(c->ws), 0);
  assert_int_equal(tern_loop_run_until(loop, ended, c, BOUND), 0);
  assert_int_equal(c->errors, 1);
  assert_int_equal(c->opens, 0);
  assert_int_equal(c->err.kind, TERN_KIND_CONNECTION);
  assert_true(c->err.retryable);
  settle(loop, c);
  tern_ws_free(c->ws);
  tern_loop_destroy(loop);
  free(c);
}

static void test_upgrade_refused_with_429(void **state) {
  (void)state;
  static const lb_step_t script[] = {
      LB_S("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nContent-Length: 0\r\n\r\n"),
      LB_STALL_};
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  lb_server_t srv;
  lb_start(&srv, loop, script);
  char url[128];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/x", srv.port);
  wc_t *c = calloc(1, sizeof *c);
  tern_ws_opts_t o = wopts(c, url);
  assert_int_equal(tern_ws_create(loop, &o, &c->ws), 0);
  assert_int_equal(tern_ws_connect(c->ws), 0);
  assert_int_equal(tern_loop_run_until(loop, ended, c, BOUND), 0);
  assert_int_equal(c->errors, 1);
  assert_int_equal(c->err.kind, TERN_KIND_RATE_LIMITED);
  assert_int_equal(c->err.http_status, 429);
  assert_int_equal(c->err.retry_after, TERN_SEC(3));
  assert_non_null(strstr(srv.req, "GET /x HTTP/1.1\r\n"));
  assert_non_null(strstr(srv.req, "Upgrade: websocket"));
  settle(loop, c);
  tern_ws_free(c->ws);
  lb_stop(&srv);
  tern_loop_destroy(loop);
  free(c);
}

static void test_upgrade_refused_with_401(void **state) {
  (void)state;
  static const lb_step_t script[] = {LB_S("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"),
                                     LB_STALL_};
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  lb_server_t srv;
  lb_start(&srv, loop, script);
  char url[128];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/x", srv.port);
  wc_t *c = calloc(1, sizeof *c);
  tern_ws_opts_t o = wopts(c, url);
  assert_int_equal(tern_ws_create(loop, &o, &c->ws), 0);
  assert_int_equal(tern_ws_connect(c->ws), 0);
  assert_int_equal(tern_loop_run_until(loop, ended, c, BOUND), 0);
  assert_int_equal(c->err.kind, TERN_KIND_AUTH);
  assert_int_equal(c->err.http_status, 401);
  assert_false(c->err.recoverable);
  settle(loop, c);
  tern_ws_free(c->ws);
  lb_stop(&srv);
  tern_loop_destroy(loop);
  free(c);
}

static void test_connect_timeout_when_upgrade_never_answered(void **state) {
  (void)state;
  static const lb_step_t script[] = {LB_STALL_};
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  lb_server_t srv;
  lb_start(&srv, loop, script);
  char url[128];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/x", srv.port);
  wc_t *c = calloc(1, sizeof *c);
  tern_ws_opts_t o = wopts(c, url);
  o.connect_timeout = TERN_MS(200);
  assert_int_equal(tern_ws_create(loop, &o, &c->ws), 0);
  assert_int_equal(tern_ws_connect(c->ws), 0);
  assert_int_equal(tern_loop_run_until(loop, ended, c, BOUND), 0);
  assert_int_equal(c->err.kind, TERN_KIND_TIMEOUT);
  assert_int_equal(c->opens, 0);
  settle(loop, c);
  tern_ws_free(c->ws);
  lb_stop(&srv);
  tern_loop_destroy(loop);
  free(c);
}

static void test_free_inside_on_message(void **state) {
  (void)state;
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  int port = echo_start(loop);
  char url[128];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
  wc_t *c = calloc(1, sizeof *c);
  c->free_on_message = true;
  tern_ws_opts_t o = wopts(c, url);
  assert_int_equal(tern_ws_create(loop, &o, &c->ws), 0);
  assert_int_equal(tern_ws_connect(c->ws), 0);
  assert_int_equal(tern_ws_send(c->ws, "one", 3, false), 0);
  assert_int_equal(tern_ws_send(c->ws, "two", 3, false), 0);
  g_server_closed = 0;
  assert_int_equal(tern_loop_run_until(loop, one_message, c, BOUND), 0);
  assert_int_equal(tern_loop_run_until(loop, server_closed, NULL, BOUND), 0);
  assert_int_equal(c->messages, 1);
  assert_int_equal(c->closes + c->errors, 0);
  tern_loop_destroy(loop);
  free(c);
}

static void test_close_before_open(void **state) {
  (void)state;
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  int port = echo_start(loop);
  char url[128];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
  wc_t *c = calloc(1, sizeof *c);
  tern_ws_opts_t o = wopts(c, url);
  assert_int_equal(tern_ws_create(loop, &o, &c->ws), 0);
  assert_int_equal(tern_ws_close(c->ws, 1000, NULL), TERN_ESTATE); /* not connecting */
  assert_int_equal(tern_ws_connect(c->ws), 0);
  assert_int_equal(tern_ws_close(c->ws, 1001, "going away"), 0);
  assert_int_equal(c->closes, 0); /* never from inside the call */
  assert_int_equal(tern_loop_run_until(loop, ended, c, BOUND), 0);
  assert_int_equal(c->closes, 1);
  assert_int_equal(c->close_code, 1001);
  assert_int_equal(c->opens, 0);
  settle(loop, c);
  tern_ws_free(c->ws);
  tern_loop_destroy(loop);
  free(c);
}

static void test_loop_destroy_with_open_connection(void **state) {
  (void)state;
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  int port = echo_start(loop);
  char url[128];
  snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
  wc_t *c = calloc(1, sizeof *c);
  tern_ws_opts_t o = wopts(c, url);
  assert_int_equal(tern_ws_create(loop, &o, &c->ws), 0);
  assert_int_equal(tern_ws_connect(c->ws), 0);
  assert_int_equal(tern_loop_run_until(loop, opened, c, BOUND), 0);
  tern_loop_destroy(loop); /* frees the connection; no callback */
  assert_int_equal(c->closes + c->errors, 0);
  free(c);
}

static void test_bad_urls(void **state) {
  (void)state;
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  wc_t c = {0};
  static const char *bad[] = {"http://x/",     "ws://",      "ws://:80/",  "ws://h:0/",
                              "ws://h:99999/", "ws://h:8x/", "wss://[::1/"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tern_ws_opts_t o = wopts(&c, bad[i]);
    tern_ws_t *ws = (tern_ws_t *)1;
    assert_int_equal(tern_ws_create(loop, &o, &ws), TERN_EINVAL);
    assert_null(ws);
  }
  tern_ws_opts_t o = wopts(&c, "wss://[::1]:8443/a?b=c");
  tern_ws_t *ws;
  assert_int_equal(tern_ws_create(loop, &o, &ws), 0);
  tern_ws_free(ws);
  tern_loop_destroy(loop);
}

int main(void) {
  lws_set_log_level(getenv("LWSLOG") ? atoi(getenv("LWSLOG")) : LLL_ERR, NULL);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_echo_text_and_binary_then_close),
      cmocka_unit_test(test_large_and_fragmented_messages),
      cmocka_unit_test(test_message_over_bound_is_bad_response),
      cmocka_unit_test(test_server_initiated_close),
      cmocka_unit_test(test_idle_stall),
      cmocka_unit_test(test_connection_refused),
      cmocka_unit_test(test_upgrade_refused_with_429),
      cmocka_unit_test(test_upgrade_refused_with_401),
      cmocka_unit_test(test_connect_timeout_when_upgrade_never_answered),
      cmocka_unit_test(test_free_inside_on_message),
      cmocka_unit_test(test_close_before_open),
      cmocka_unit_test(test_loop_destroy_with_open_connection),
      cmocka_unit_test(test_bad_urls),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
