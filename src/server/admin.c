/* The admin HTTP listener: a deliberately small HTTP/1.1 server on a
 * libuv loop, for probes, Prometheus and operators, not for the public.
 *
 * One request per connection (`Connection: close`): read the head (at most
 * REQ_MAX bytes, within READ_TIMEOUT_MS), answer, close. GET and HEAD only;
 * bodies are never read. At most MAX_CONNS connections at once; more are
 * closed on accept. When a token is set, every path except /health and
 * /ready needs `Authorization: Bearer <token>` (compared in constant time).
 * /dashboard also takes it as ?token=: a browser opening the page cannot
 * send a header; the page then sends the header itself for its data, so
 * no data endpoint accepts a token in the URL (where logs and proxies
 * would keep it).
 *
 * Lifetime: a connection holds two handles (TCP and its timer) and is freed
 * when both close callbacks have run.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <uv.h>

#include "server/server_internal.h"
#include "tern/alloc.h"
#include "tern/error.h"

#define REQ_MAX 8192
#define MAX_CONNS 64
#define READ_TIMEOUT_MS 5000

typedef struct aconn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t wr;
  struct tern__admin *a;
  struct aconn *next, *prev;
  char req[REQ_MAX + 1];
  size_t len;
  char *resp;
  int handles;
  bool answered, closing;
} aconn_t;

struct tern__admin {
  tern_loop_t *loop;
  uv_tcp_t listener;
  bool listening, closed;
  int port;
  char *token;
  tern__admin_fn fn;
  void *ud;
  aconn_t *conns;
  int nconns;
  bool listener_open;
};

bool tern__is_loopback(const char *addr) {
  if (!addr || !*addr)
    return false;
  return !strncmp(addr, "127.", 4) || !strcmp(addr, "::1") || !strcasecmp(addr, "localhost");
}

bool tern__secret_equal(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  unsigned char d = (unsigned char)(la != lb);
  for (size_t i = 0; i < la; i++)
    d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
  return d == 0 && lb > 0;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

bool tern__query_param(const char *query, const char *name, char *out, size_t outsz) {
  size_t nl = strlen(name);
  for (const char *p = query; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
    if (strncmp(p, name, nl) || p[nl] != '=')
      continue;
    size_t n = 0;
    for (const char *v = p + nl + 1; *v && *v != '&'; v++) {
      char c = *v;
      if (c == '+') {
        c = ' ';
      } else if (c == '%' && hexval(v[1]) >= 0 && hexval(v[2]) >= 0) {
        c = (char)(hexval(v[1]) * 16 + hexval(v[2]));
        v += 2;
      }
      if (n + 1 >= outsz)
        return false;
      out[n++] = c;
    }
    out[n] = '\0';
    return true;
  }
  return false;
}

static void maybe_free_admin(struct tern__admin *a) {
  if (a->closed && !a->listener_open && !a->conns) {
    tern_free(a->token);
    tern_free(a);
  }
}

static void conn_handle_closed(uv_handle_t *h) {
  aconn_t *c = h->data;
  if (--c->handles > 0)
    return;
  struct tern__admin *a = c->a;
  if (c->prev)
    c->prev->next = c->next;
  else
    a->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  a->nconns--;
  tern_free(c->resp);
  tern_free(c);
  maybe_free_admin(a);
}

static void conn_close(aconn_t *c) {
  if (c->closing)
    return;
  c->closing = true;
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
  uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
}

static void on_written(uv_write_t *w, int status) {
  (void)status;
  conn_close(w->data);
}

static const char *reason_phrase(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 503:
    return "Service Unavailable";
  }
  return "Status";
}

static void respond(aconn_t *c, int status, const char *ctype, const char *body, size_t blen,
                    const char *extra, bool head_only) {
  if (c->answered || c->closing)
    return;
  c->answered = true;
  uv_read_stop((uv_stream_t *)&c->tcp);
  uv_timer_stop(&c->timer);
  tern_buf_t b = TERN_BUF_INIT;
  int rc = tern_buf_printf(&b,
                           "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                           "Cache-Control: no-store\r\nConnection: close\r\n%s%s\r\n",
                           status, reason_phrase(status), ctype, blen, extra ? extra : "",
                           extra ? "\r\n" : "");
  if (!rc && !head_only && blen)
    rc = tern_buf_append(&b, body, blen);
  if (rc) {
    tern_buf_free(&b);
    conn_close(c);
    return;
  }
  size_t n = b.len;
  c->resp = tern_buf_take(&b);
  uv_buf_t ub = uv_buf_init(c->resp, (unsigned)n);
  c->wr.data = c;
  if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &ub, 1, on_written))
    conn_close(c);
}

static void simple(aconn_t *c, int status, const char *text, const char *extra) {
  respond(c, status, "text/plain; charset=utf-8", text, strlen(text), extra, false);
}

/* The value of header `name` in the request head, copied into out. */
static bool header(const char *req, const char *name, char *out, size_t outsz) {
  size_t nl = strlen(name);
  const char *p = strstr(req, "\r\n");
  while (p && p[2] && !(p[2] == '\r' && p[3] == '\n')) {
    const char *line = p + 2;
    const char *eol = strstr(line, "\r\n");
    if (!eol)
      break;
    if ((size_t)(eol - line) > nl && !strncasecmp(line, name, nl) && line[nl] == ':') {
      const char *v = line + nl + 1;
      while (*v == ' ' || *v == '\t')
        v++;
      size_t vl = (size_t)(eol - v);
      while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
      if (vl >= outsz)
        return false;
      memcpy(out, v, vl);
      out[vl] = '\0';
      return true;
    }
    p = eol;
  }
  return false;
}

static void handle(aconn_t *c) {
  struct tern__admin *a = c->a;
  char method[8], target[1024];
  if (sscanf(c->req, "%7s %1023s HTTP/1.%*c", method, target) != 2 || target[0] != '/') {
    simple(c, 400, "bad request\n", NULL);
    return;
  }
  bool head_only = !strcmp(method, "HEAD");
  if (strcmp(method, "GET") && !head_only) {
    simple(c, 405, "only GET and HEAD\n", "Allow: GET, HEAD");
    return;
  }
  char *q = strchr(target, '?');
  const char *query = "";
  if (q) {
    *q = '\0';
    query = q + 1;
  }
  bool open_path = !strcmp(target, "/health") || !strcmp(target, "/ready");
  bool page = !strcmp(target, "/dashboard");
  if (a->token && !open_path) {
    char auth[512];
    const char *tok = NULL;
    if (header(c->req, "Authorization", auth, sizeof auth) && !strncasecmp(auth, "Bearer ", 7))
      tok = auth + 7;
    else if (page && tern__query_param(query, "token", auth, sizeof auth))
      tok = auth;
    if (!tok || !tern__secret_equal(tok, a->token)) {
      simple(c, 401,
             page ? "unauthorized: open /dashboard?token=<[admin] token>\n"
                  : "unauthorized: send Authorization: Bearer <[admin] token>\n",
             "WWW-Authenticate: Bearer realm=\"tern-admin\"");
      return;
    }
  }
  tern__admin_response_t res = {404, "text/plain; charset=utf-8", TERN_BUF_INIT, NULL};
  a->fn(a->ud, target, query, &res);
  if (res.status == 404 && !res.body.len)
    tern_buf_appends(&res.body, "not found\n");
  respond(c, res.status, res.content_type, tern_buf_str(&res.body), res.body.len, res.extra_header,
          head_only);
  tern_buf_free(&res.body);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  aconn_t *c = h->data;
  buf->base = c->req + c->len;
  buf->len = REQ_MAX - c->len;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  (void)buf;
  aconn_t *c = s->data;
  if (nread < 0) {
    conn_close(c);
    return;
  }
  c->len += (size_t)nread;
  c->req[c->len] = '\0';
  if (strstr(c->req, "\r\n\r\n"))
    handle(c);
  else if (c->len >= REQ_MAX)
    simple(c, 431, "request head too large\n", NULL);
}

static void on_timeout(uv_timer_t *t) {
  aconn_t *c = t->data;
  simple(c, 408, "request timeout\n", NULL);
}

static void on_connection(uv_stream_t *server, int status) {
  struct tern__admin *a = server->data;
  if (status < 0 || a->closed)
    return;
  aconn_t *c = a->nconns < MAX_CONNS ? tern_calloc(1, sizeof *c) : NULL;
  if (!c) {
    /* Accept and drop, so the backlog does not fill with one we refuse. */
    uv_tcp_t *tmp = tern_malloc(sizeof *tmp);
    if (tmp && uv_tcp_init(server->loop, tmp) == 0) {
      uv_accept(server, (uv_stream_t *)tmp);
      uv_close((uv_handle_t *)tmp, (uv_close_cb)tern_free);
    } else {
      tern_free(tmp);
    }
    return;
  }
  c->a = a;
  uv_tcp_init(server->loop, &c->tcp);
  uv_timer_init(server->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->handles = 2;
  c->next = a->conns;
  if (a->conns)
    a->conns->prev = c;
  a->conns = c;
  a->nconns++;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) ||
      uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) {
    conn_close(c);
    return;
  }
  uv_timer_start(&c->timer, on_timeout, READ_TIMEOUT_MS, 0);
}

static void listener_closed(uv_handle_t *h) {
  struct tern__admin *a = h->data;
  a->listener_open = false;
  maybe_free_admin(a);
}

int tern__admin_create(tern_loop_t *loop, const char *bind, int port, const char *token,
                       tern__admin_fn fn, void *ud, tern__admin_t **out, char *err, size_t errsz) {
  *out = NULL;
  struct tern__admin *a = tern_calloc(1, sizeof *a);
  if (!a)
    return TERN_ENOMEM;
  a->loop = loop;
  a->fn = fn;
  a->ud = ud;
  if (token && *token && !(a->token = tern_strdup(token))) {
    tern_free(a);
    return TERN_ENOMEM;
  }
  const char *host = !bind || !*bind || !strcasecmp(bind, "localhost") ? "127.0.0.1" : bind;
  struct sockaddr_storage ss;
  int rc = strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss)
                             : uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
  if (rc) {
    snprintf(err, errsz, "[admin] bind = %s: not an IP address", host);
    tern_free(a->token);
    tern_free(a);
    return TERN_ECONFIG;
  }
  uv_loop_t *uv = tern_loop_uv(loop);
  uv_tcp_init(uv, &a->listener);
  a->listener.data = a;
  a->listener_open = true;
  rc = uv_tcp_bind(&a->listener, (const struct sockaddr *)&ss, 0);
  if (!rc)
    rc = uv_listen((uv_stream_t *)&a->listener, 128, on_connection);
  if (rc) {
    snprintf(err, errsz, "admin listener on %s:%d: %s", host, port, uv_strerror(rc));
    a->closed = true;
    uv_close((uv_handle_t *)&a->listener, listener_closed);
    return TERN_EIO;
  }
  struct sockaddr_storage got;
  int len = sizeof got;
  if (uv_tcp_getsockname(&a->listener, (struct sockaddr *)&got, &len) == 0)
    a->port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                              : ((struct sockaddr_in *)&got)->sin_port);
  a->listening = true;
  *out = a;
  return 0;
}

int tern__admin_port(const tern__admin_t *a) { return a ? a->port : -1; }

void tern__admin_close(tern__admin_t *a) {
  if (!a || a->closed)
    return;
  a->closed = true;
  for (aconn_t *c = a->conns; c; c = c->next)
    conn_close(c);
  uv_close((uv_handle_t *)&a->listener, listener_closed);
}
