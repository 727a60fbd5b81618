/* A scripted loopback TCP server for the net tests (a test tool, not an
 * HTTP implementation): it accepts on 127.0.0.1, reads the request (headers
 * and Content-Length bytes of body), then plays a script of raw writes,
 * delays (uv timers), stalls, resets and closes. Everything runs on the
 * test's tern loop, so the tests drive one loop and need no threads.
 * Header-only: each test file includes it once. */
#ifndef TERN_TEST_LOOPBACK_H
#define TERN_TEST_LOOPBACK_H

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uv.h>

#include "tern/loop.h"

enum { LB_SEND = 1, LB_DELAY, LB_STALL, LB_RESET, LB_CLOSE, LB_END = 0 };

typedef struct lb_step {
  int op;
  const char *data; /* LB_SEND; static */
  size_t len;       /* 0: strlen(data) */
  uint64_t ms;      /* LB_DELAY */
} lb_step_t;

#define LB_S(str)                                                                                  \
  { LB_SEND, (str), 0, 0 }
#define LB_D(msec)                                                                                 \
  { LB_DELAY, NULL, 0, (msec) }
#define LB_STALL_                                                                                  \
  { LB_STALL, NULL, 0, 0 }
#define LB_RESET_                                                                                  \
  { LB_RESET, NULL, 0, 0 }
#define LB_CLOSE_                                                                                  \
  { LB_CLOSE, NULL, 0, 0 }
#define LB_END_                                                                                    \
  { LB_END, NULL, 0, 0 }

typedef struct lb_server lb_server_t;

typedef struct lb_conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  lb_server_t *srv;
  struct lb_conn *next;
  int step;
  int open_handles;
  bool started, closing;
} lb_conn_t;

struct lb_server {
  uv_tcp_t listener;
  int port;
  const lb_step_t *script;
  bool answer; /* false: accept and read, never play the script */
  lb_conn_t *conns;
  int accepted;
  char req[65536];
  size_t req_len;
  bool req_done;
};

static void lb_play(lb_conn_t *c);

static void lb_conn_closed(uv_handle_t *h) {
  lb_conn_t *c = h->data;
  if (--c->open_handles == 0) {
    lb_server_t *s = c->srv;
    for (lb_conn_t **pp = &s->conns; *pp; pp = &(*pp)->next)
      if (*pp == c) {
        *pp = c->next;
        break;
      }
    free(c);
  }
}

static void lb_conn_close(lb_conn_t *c, bool reset) {
  if (c->closing)
    return;
  c->closing = true;
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, lb_conn_closed);
  if (reset)
    uv_tcp_close_reset(&c->tcp, lb_conn_closed);
  else
    uv_close((uv_handle_t *)&c->tcp, lb_conn_closed);
}

static void lb_write_done(uv_write_t *w, int status) {
  lb_conn_t *c = w->data;
  free(w);
  if (status == 0 && !c->closing)
    lb_play(c);
}

static void lb_delay_done(uv_timer_t *t) { lb_play(t->data); }

static void lb_shutdown_done(uv_shutdown_t *r, int status) {
  (void)status;
  lb_conn_t *c = r->data;
  free(r);
  lb_conn_close(c, false);
}

static void lb_play(lb_conn_t *c) {
  if (c->closing)
    return;
  const lb_step_t *st = &c->srv->script[c->step++];
  switch (st->op) {
  case LB_SEND: {
    uv_write_t *w = malloc(sizeof *w);
    w->data = c;
    uv_buf_t b = uv_buf_init((char *)st->data, (unsigned)(st->len ? st->len : strlen(st->data)));
    uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, lb_write_done);
    break;
  }
  case LB_DELAY:
    uv_timer_start(&c->timer, lb_delay_done, st->ms, 0);
    break;
  case LB_STALL:
    c->step--; /* stay here */
    break;
  case LB_RESET:
    lb_conn_close(c, true);
    break;
  case LB_CLOSE:
  case LB_END: {
    uv_shutdown_t *r = malloc(sizeof *r);
    r->data = c;
    if (uv_shutdown(r, (uv_stream_t *)&c->tcp, lb_shutdown_done) != 0) {
      free(r);
      lb_conn_close(c, false);
    }
    if (st->op == LB_END)
      c->step--;
    break;
  }
  }
}

static void lb_alloc(uv_handle_t *h, size_t n, uv_buf_t *b) {
  lb_conn_t *c = h->data;
  lb_server_t *s = c->srv;
  (void)n;
  static char scratch[65536];
  if (s->req_len < sizeof s->req - 1)
    *b = uv_buf_init(s->req + s->req_len, (unsigned)(sizeof s->req - 1 - s->req_len));
  else
    *b = uv_buf_init(scratch, sizeof scratch);
}

/* True once headers and Content-Length bytes of body have arrived. */
static bool lb_request_complete(lb_server_t *s) {
  s->req[s->req_len] = '\0';
  char *end = strstr(s->req, "\r\n\r\n");
  if (!end)
    return false;
  size_t body = 0;
  for (char *p = s->req; p < end;) {
    char *eol = strstr(p, "\r\n");
    if (!strncasecmp(p, "content-length:", 15))
      body = (size_t)strtoul(p + 15, NULL, 10);
    p = eol + 2;
  }
  return s->req_len >= (size_t)(end + 4 - s->req) + body;
}

static void lb_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  lb_conn_t *c = st->data;
  lb_server_t *s = c->srv;
  if (n < 0) {
    lb_conn_close(c, false);
    return;
  }
  if (b->base == s->req + s->req_len)
    s->req_len += (size_t)n;
  if (!c->started && lb_request_complete(s)) {
    c->started = true;
    s->req_done = true;
    if (s->answer)
      lb_play(c);
  }
}

static void lb_on_conn(uv_stream_t *l, int status) {
  lb_server_t *s = l->data;
  if (status < 0)
    return;
  lb_conn_t *c = calloc(1, sizeof *c);
  c->srv = s;
  uv_tcp_init(l->loop, &c->tcp);
  uv_timer_init(l->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->open_handles = 2;
  c->next = s->conns;
  s->conns = c;
  s->accepted++;
  s->req_len = 0;
  s->req_done = false;
  if (uv_accept(l, (uv_stream_t *)&c->tcp) == 0)
    uv_read_start((uv_stream_t *)&c->tcp, lb_alloc, lb_read);
  else
    lb_conn_close(c, false);
}

static void lb_start(lb_server_t *s, tern_loop_t *loop, const lb_step_t *script) {
  memset(s, 0, sizeof *s);
  s->script = script;
  s->answer = true;
  uv_loop_t *uv = tern_loop_uv(loop);
  uv_tcp_init(uv, &s->listener);
  s->listener.data = s;
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  assert_int_equal(uv_tcp_bind(&s->listener, (const struct sockaddr *)&a, 0), 0);
  assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 16, lb_on_conn), 0);
  struct sockaddr_storage ss;
  int len = sizeof ss;
  uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
  s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void lb_stop(lb_server_t *s) {
  for (lb_conn_t *c = s->conns; c; c = c->next)
    lb_conn_close(c, false);
  uv_close((uv_handle_t *)&s->listener, NULL);
}

#endif
