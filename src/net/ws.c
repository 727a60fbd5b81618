/* WebSocket client on the loop: libwebsockets (4.1, libuv event lib) with
 * the tern loop passed to lws as a foreign loop, one lws context per loop,
 * made on first use.
 *
 * Invariants:
 *  - a connection reports exactly one terminal callback (on_close or
 *    on_error) unless its owner freed it first; `ended` marks it, and no
 *    user callback runs after it.
 *  - lws is never asked to destroy a connection from inside another lws
 *    callback: kills requested by user calls are deferred to the
 *    connection's timer and done at the top of the loop (LWS_TO_KILL_SYNC);
 *    inside the connection's own callback we return -1 instead.
 *  - the tern_ws_t memory goes only when the owner freed it, lws has
 *    destroyed the wsi (LWS_CALLBACK_WSI_DESTROY clears `wsi`), the DNS
 *    request has come back, and no entry point of it is on the stack
 *    (`busy`); the timer's close callback frees it.
 */
#include "tern/ws.h"

#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include <libwebsockets.h>

#include "net_internal.h"
#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/log.h"

enum { WS_NEW, WS_RESOLVING, WS_CONNECTING, WS_OPEN, WS_ENDED };

#define CLOSE_REASON_MAX 123 /* a close frame's payload is at most 125 bytes */
#define LWS_FD_LIMIT 4096
/* lws's own (private) opcode number for a close frame; the public enum
 * keeps the slot free for it. */
#define TERN_LWS_WRITE_CLOSE ((enum lws_write_protocol)4)
#define CLOSE_WAIT_MS 1000 /* how long we wait for the peer to answer our close */

struct ws_msg {
  struct ws_msg *next;
  size_t len;
  bool binary;
  unsigned char buf[]; /* LWS_PRE bytes of headroom, then the payload */
};

struct ws_hdr {
  struct ws_hdr *next;
  char *name; /* with the trailing ':' lws wants */
  char *value;
};

struct tern_ws {
  tern_loop_t *loop;
  struct tern_ws *next, *prev;
  tern_ws_opts_t cb;
  tern_component_t component;
  char provider[TERN_ERROR_PROVIDER_MAX];
  char *host, *host_header, *path, *subprotocol;
  int port;
  bool tls;
  struct ws_hdr *hdrs, *hdr_tail;

  uv_timer_t timer;
  uv_getaddrinfo_t gai;
  bool gai_pending;
  struct lws *wsi;
  bool wsi_killed;

  int state;
  bool freed, released, ended, kill_pending, close_requested, close_pending;
  bool peer_closed, close_sent;
  uint64_t close_sent_ms;
  int busy;
  uint64_t connect_ms, idle_ms, t0_ms, last_rx_ms;
  size_t max_message, max_queue;
  tern_usec_t t_start, connect_time;

  struct ws_msg *q_head, *q_tail;
  size_t q_bytes;
  unsigned char *rx;
  size_t rx_len, rx_cap;
  bool rx_active, rx_binary;

  int close_code;
  char close_reason[CLOSE_REASON_MAX + 1];
  size_t close_reason_len;
};

/* ---- release and termination ------------------------------------------ */

static void ws_free_cb(uv_handle_t *h) { tern_free(h->data); }

static void maybe_release(struct tern_ws *ws) {
  if (ws->released || !ws->freed || ws->wsi || ws->gai_pending || ws->busy)
    return;
  ws->released = true;
  tern_loop_t *l = ws->loop;
  if (ws->prev)
    ws->prev->next = ws->next;
  else
    l->wss = ws->next;
  if (ws->next)
    ws->next->prev = ws->prev;
  while (ws->q_head) {
    struct ws_msg *m = ws->q_head;
    ws->q_head = m->next;
    tern_free(m);
  }
  while (ws->hdrs) {
    struct ws_hdr *h = ws->hdrs;
    ws->hdrs = h->next;
    if (h->value)
      memset(h->value, 0, strlen(h->value)); /* may be a key */
    tern_free(h->name);
    tern_free(h->value);
    tern_free(h);
  }
  tern_free(ws->rx);
  tern_free(ws->host);
  tern_free(ws->host_header);
  tern_free(ws->path);
  tern_free(ws->subprotocol);
  uv_timer_stop(&ws->timer);
  uv_close((uv_handle_t *)&ws->timer, ws_free_cb);
}

static void end_error(struct tern_ws *ws, const tern_error_t *err) {
  if (ws->ended)
    return;
  ws->ended = true;
  ws->state = WS_ENDED;
  uv_timer_stop(&ws->timer);
  if (!ws->freed && ws->cb.on_error) {
    ws->busy++;
    ws->cb.on_error(ws, err, ws->cb.ud);
    ws->busy--;
  }
}

/* fmt takes at most one uint64_t argument. */
static void end_kind(struct tern_ws *ws, tern_kind_t kind, const char *fmt, uint64_t n) {
  if (ws->ended)
    return;
  tern_error_t err;
  tern_error_init(&err, ws->component, kind, ws->provider);
  tern_error_set_message(&err, fmt, n);
  end_error(ws, &err);
}

static void end_close(struct tern_ws *ws, int code, const char *reason, size_t len) {
  if (ws->ended)
    return;
  ws->ended = true;
  ws->state = WS_ENDED;
  uv_timer_stop(&ws->timer);
  if (!ws->freed && ws->cb.on_close) {
    ws->busy++;
    ws->cb.on_close(ws, code, reason, len, ws->cb.ud);
    ws->busy--;
  }
}

/* Top of the loop only (not inside any lws callback). */
static void kill_now(struct tern_ws *ws) {
  if (ws->wsi && !ws->wsi_killed) {
    ws->wsi_killed = true;
    lws_set_timeout(ws->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
  }
}

static void on_ws_timer(uv_timer_t *t);

static void kill_soon(struct tern_ws *ws) {
  ws->kill_pending = true;
  if (!ws->released)
    uv_timer_start(&ws->timer, on_ws_timer, 0, 0);
}

static void arm(struct tern_ws *ws) {
  uint64_t due = 0;
  if ((ws->state == WS_RESOLVING || ws->state == WS_CONNECTING) && ws->connect_ms)
    due = ws->t0_ms + ws->connect_ms;
  else if (ws->state == WS_OPEN && ws->close_sent)
    due = ws->close_sent_ms + CLOSE_WAIT_MS;
  else if (ws->state == WS_OPEN && ws->idle_ms)
    due = ws->last_rx_ms + ws->idle_ms;
  if (!due) {
    uv_timer_stop(&ws->timer);
    return;
  }
  uint64_t now = uv_now(&ws->loop->uv);
  uv_timer_start(&ws->timer, on_ws_timer, due > now ? due - now : 0, 0);
}

static void on_ws_timer(uv_timer_t *t) {
  struct tern_ws *ws = t->data;
  ws->busy++;
  if (ws->kill_pending) {
    ws->kill_pending = false;
    if (ws->close_pending) {
      ws->close_pending = false;
      end_close(ws, ws->close_code, ws->close_reason, ws->close_reason_len);
    }
    kill_now(ws);
  } else if (!ws->ended) {
    uint64_t now = uv_now(&ws->loop->uv);
    bool connecting = ws->state == WS_RESOLVING || ws->state == WS_CONNECTING;
    if (connecting && ws->connect_ms && now >= ws->t0_ms + ws->connect_ms) {
      end_kind(ws, TERN_KIND_TIMEOUT, "websocket not open within %" PRIu64 " ms", ws->connect_ms);
      if (ws->gai_pending)
        uv_cancel((uv_req_t *)&ws->gai);
      kill_now(ws);
    } else if (ws->state == WS_OPEN && ws->close_sent) {
      if (now >= ws->close_sent_ms + CLOSE_WAIT_MS) {
        end_close(ws, ws->close_code, ws->close_reason, ws->close_reason_len);
        kill_now(ws);
      } else {
        arm(ws);
      }
    } else if (ws->state == WS_OPEN && ws->idle_ms && now >= ws->last_rx_ms + ws->idle_ms) {
      end_kind(ws, TERN_KIND_STALLED, "websocket silent for %" PRIu64 " ms", ws->idle_ms);
      kill_now(ws);
    } else {
      arm(ws);
    }
  }
  ws->busy--;
  maybe_release(ws);
}

/* ---- the lws protocol callback ------------------------------------------ */

static int on_receive(struct tern_ws *ws, struct lws *wsi, const void *in, size_t len) {
  ws->last_rx_ms = uv_now(&ws->loop->uv);
  if (!ws->rx_active) {
    ws->rx_active = true;
    ws->rx_binary = lws_frame_is_binary(wsi) != 0;
    ws->rx_len = 0;
  }
  bool final = lws_is_final_fragment(wsi) != 0;
  const void *msg = in;
  size_t mlen = len;
  if (len > ws->max_message - ws->rx_len) {
    end_kind(ws, TERN_KIND_BAD_RESPONSE, "websocket message larger than %" PRIu64 " bytes",
             (uint64_t)ws->max_message);
    return -1;
  }
  if (!final || ws->rx_len) {
    if (ws->rx_len + len > ws->rx_cap) {
      size_t cap = ws->rx_cap ? ws->rx_cap : 4096;
      while (cap < ws->rx_len + len)
        cap *= 2;
      if (cap > ws->max_message)
        cap = ws->max_message;
      unsigned char *b = tern_realloc(ws->rx, cap);
      if (!b) {
        end_kind(ws, TERN_KIND_BAD_RESPONSE, "out of memory reassembling a message", 0);
        return -1;
      }
      ws->rx = b;
      ws->rx_cap = cap;
    }
    memcpy(ws->rx + ws->rx_len, in, len);
    ws->rx_len += len;
    msg = ws->rx;
    mlen = ws->rx_len;
  }
  if (!final)
    return 0;
  ws->rx_active = false;
  ws->rx_len = 0;
  if (ws->cb.on_message && !ws->freed)
    ws->cb.on_message(ws, msg, mlen, ws->rx_binary, ws->cb.ud);
  return 0;
}

static int on_writeable(struct tern_ws *ws, struct lws *wsi) {
  struct ws_msg *m = ws->q_head;
  if (m) {
    ws->q_head = m->next;
    if (!ws->q_head)
      ws->q_tail = NULL;
    ws->q_bytes -= m->len;
    int n = lws_write(wsi, m->buf + LWS_PRE, m->len, m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
    bool ok = n >= 0 && (size_t)n >= m->len;
    tern_free(m);
    if (!ok) {
      end_kind(ws, TERN_KIND_CONNECTION, "websocket write failed", 0);
      return -1;
    }
    if (ws->q_head || ws->close_requested)
      lws_callback_on_writable(wsi);
    return 0;
  }
  if (ws->close_requested && !ws->close_sent) {
    /* The close frame is written here rather than through lws_close_reason
     * and a -1 return: Debian's lws 4.1.6 is a _DEBUG build whose libuv
     * path closes such a connection twice ("uv repeat test"), the second
     * time without sending the frame. We wait for the peer's answer
     * ourselves (CLOSE_WAIT_MS). */
    unsigned char b[LWS_PRE + 2 + CLOSE_REASON_MAX];
    b[LWS_PRE] = (unsigned char)(ws->close_code >> 8);
    b[LWS_PRE + 1] = (unsigned char)(ws->close_code & 0xff);
    memcpy(b + LWS_PRE + 2, ws->close_reason, ws->close_reason_len);
    size_t n = 2 + ws->close_reason_len;
    ws->close_sent = true;
    ws->close_sent_ms = uv_now(&ws->loop->uv);
    arm(ws);
    if (lws_write(wsi, b + LWS_PRE, n, TERN_LWS_WRITE_CLOSE) < (int)n) {
      end_close(ws, ws->close_code, ws->close_reason, ws->close_reason_len);
      return -1;
    }
  }
  return 0;
}

static void on_connect_error(struct tern_ws *ws, struct lws *wsi, const char *in, size_t len) {
  if (ws->ended)
    return;
  tern_error_t err;
  unsigned int status = lws_http_client_http_response(wsi);
  if (status >= 200 && status != 101) {
    tern_error_from_http(&err, ws->component, ws->provider, (int)status);
    char ra[64];
    tern_usec_t wait;
    if (lws_hdr_copy(wsi, ra, sizeof ra, WSI_TOKEN_HTTP_RETRY_AFTER) > 0 &&
        tern_retry_after_parse(ra, tern_wall_ms(), &wait) == 0)
      err.retry_after = wait;
  } else {
    tern_error_init(&err, ws->component, TERN_KIND_CONNECTION, ws->provider);
    tern_error_set_message(&err, "websocket connection failed: %.*s", in ? (int)len : 7,
                           in ? in : "unknown");
  }
  end_error(ws, &err);
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len) {
  (void)user;
  struct tern_ws *ws = wsi ? lws_get_opaque_user_data(wsi) : NULL;
  if (!ws)
    return 0;
  int ret = 0;
  ws->busy++;
  bool dead = ws->freed || ws->ended;
  switch (reason) {
  case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
    unsigned char **p = (unsigned char **)in, *end = *p + len;
    if (dead) {
      ret = -1;
      break;
    }
    for (struct ws_hdr *h = ws->hdrs; h; h = h->next)
      if (lws_add_http_header_by_name(wsi, (const unsigned char *)h->name,
                                      (const unsigned char *)h->value, (int)strlen(h->value), p,
                                      end)) {
        ret = -1;
        break;
      }
    break;
  }
  case LWS_CALLBACK_CLIENT_ESTABLISHED:
    if (dead) {
      ret = -1;
      break;
    }
    ws->state = WS_OPEN;
    ws->connect_time = tern_loop_now(ws->loop) - ws->t_start;
    ws->last_rx_ms = uv_now(&ws->loop->uv);
    arm(ws);
    if (ws->cb.on_open)
      ws->cb.on_open(ws, ws->cb.ud);
    if (!ws->freed && !ws->ended && (ws->q_head || ws->close_requested))
      lws_callback_on_writable(wsi);
    break;
  case LWS_CALLBACK_CLIENT_RECEIVE:
    ret = dead ? -1 : on_receive(ws, wsi, in, len);
    break;
  case LWS_CALLBACK_CLIENT_WRITEABLE:
    ret = dead ? -1 : on_writeable(ws, wsi);
    break;
  case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
    const unsigned char *b = in;
    if (ws->close_sent) {
      /* The answer to our close: done, no echo needed. */
      end_close(ws, ws->close_code, ws->close_reason, ws->close_reason_len);
      ret = -1;
      break;
    }
    ws->peer_closed = true;
    ws->close_code = len >= 2 ? (b[0] << 8) | b[1] : 1005;
    size_t rl = len > 2 ? len - 2 : 0;
    if (rl > CLOSE_REASON_MAX)
      rl = CLOSE_REASON_MAX;
    if (rl)
      memcpy(ws->close_reason, b + 2, rl);
    ws->close_reason[rl] = '\0';
    ws->close_reason_len = rl;
    break;
  }
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    on_connect_error(ws, wsi, in, len);
    break;
  case LWS_CALLBACK_CLIENT_CLOSED:
    if (ws->peer_closed || ws->close_sent)
      end_close(ws, ws->close_code, ws->close_reason, ws->close_reason_len);
    else
      end_kind(ws, TERN_KIND_CONNECTION, "websocket closed without a close frame", 0);
    break;
  case LWS_CALLBACK_WSI_DESTROY:
    if (ws->wsi == wsi)
      ws->wsi = NULL;
    end_kind(ws, TERN_KIND_CONNECTION, "websocket connection lost", 0);
    break;
  default:
    break;
  }
  /* Whatever the user did in a callback, a dead connection is closed from
   * here, the only place lws lets us do it synchronously. */
  if (reason == LWS_CALLBACK_CLIENT_RECEIVE || reason == LWS_CALLBACK_CLIENT_WRITEABLE ||
      reason == LWS_CALLBACK_CLIENT_ESTABLISHED) {
    if (ws->freed || ws->ended)
      ret = -1;
  }
  if (ret && ws->wsi == wsi)
    ws->wsi_killed = true;
  ws->busy--;
  maybe_release(ws);
  return ret;
}

static const struct lws_protocols g_protocols[] = {
    {.name = "tern-ws", .callback = ws_callback},
    {.name = NULL},
};

static void lws_emit(int level, const char *line) {
  (void)level;
  TERN_LOG(TERN_LOG_WARN, "lws_error", TERN_LF_STR("message", line));
}

static pthread_once_t g_lws_once = PTHREAD_ONCE_INIT;
static void lws_global(void) { lws_set_log_level(LLL_ERR, lws_emit); }

static int ensure_lws(tern_loop_t *l) {
  if (l->lws)
    return 0;
  if (l->closed)
    return TERN_ECLOSED;
  pthread_once(&g_lws_once, lws_global);
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  void *loops[1] = {&l->uv};
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = g_protocols;
  info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  info.foreign_loops = loops;
  info.user = l;
  info.gid = -1;
  info.uid = -1;
  /* Bound lws's fd tables: by default it sizes them by the process fd
   * limit, per loop. */
  info.fd_limit_per_thread = LWS_FD_LIMIT;
  l->lws = lws_create_context(&info);
  return l->lws ? 0 : TERN_EIO;
}

void tern__ws_loop_close(tern_loop_t *l) {
  struct tern_ws *ws = l->wss;
  while (ws) {
    struct tern_ws *next = ws->next;
    ws->freed = true;
    ws->ended = true;
    if (ws->gai_pending)
      uv_cancel((uv_req_t *)&ws->gai);
    maybe_release(ws);
    ws = next;
  }
  if (l->lws) {
    l->lws_dying = l->lws;
    l->lws = NULL;
    /* With a foreign loop this only closes the connections and lws's uv
     * handles; lws 4.1 frees the context on a second call, once the loop
     * has run those closes to the end (tern__ws_loop_finish). */
    lws_context_destroy(l->lws_dying);
  }
}

void tern__ws_loop_finish(tern_loop_t *l) {
  if (l->lws_dying) {
    lws_context_destroy(l->lws_dying);
    l->lws_dying = NULL;
  }
}

struct lws_context *tern_ws_lws_context(tern_loop_t *l) {
  return l && ensure_lws(l) == 0 ? l->lws : NULL;
}

/* ---- connecting ---------------------------------------------------------- */

static int start_lws(struct tern_ws *ws, const char *ip) {
  tern_loop_t *l = ws->loop;
  int rc = ensure_lws(l);
  if (rc)
    return rc;
  struct lws_client_connect_info ci;
  memset(&ci, 0, sizeof ci);
  ci.context = l->lws;
  ci.address = ip;
  ci.port = ws->port;
  ci.ssl_connection = ws->tls ? LCCSCF_USE_SSL : 0;
  ci.path = ws->path;
  ci.host = ws->host_header;
  ci.protocol = ws->subprotocol;
  ci.ietf_version_or_minus_one = -1;
  ci.local_protocol_name = g_protocols[0].name;
  ci.opaque_user_data = ws;
  ci.pwsi = &ws->wsi;
  ws->state = WS_CONNECTING;
  if (!lws_client_connect_via_info(&ci))
    return TERN_EIO; /* if lws kept a wsi, WSI_DESTROY will still come */
  return 0;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  struct tern_ws *ws = req->data;
  ws->gai_pending = false;
  ws->busy++;
  if (!ws->freed && !ws->ended) {
    const struct addrinfo *pick = NULL;
    for (const struct addrinfo *a = status == 0 ? res : NULL; a; a = a->ai_next) {
      if (a->ai_family == AF_INET) {
        pick = a;
        break;
      }
      if (a->ai_family == AF_INET6 && !pick)
        pick = a;
    }
    char ip[INET6_ADDRSTRLEN] = "";
    if (pick && pick->ai_family == AF_INET)
      uv_ip4_name((const struct sockaddr_in *)pick->ai_addr, ip, sizeof ip);
    else if (pick)
      uv_ip6_name((const struct sockaddr_in6 *)pick->ai_addr, ip, sizeof ip);
    if (!ip[0])
      end_kind(ws, TERN_KIND_CONNECTION, "could not resolve the websocket host", 0);
    else if (start_lws(ws, ip) != 0)
      end_kind(ws, TERN_KIND_CONNECTION, "could not start the websocket connection", 0);
  }
  uv_freeaddrinfo(res);
  ws->busy--;
  maybe_release(ws);
}

/* ws[s]://host[:port][/path][?query] */
static int parse_url(struct tern_ws *ws, const char *url) {
  const char *p;
  if (!strncmp(url, "ws://", 5)) {
    p = url + 5;
    ws->port = 80;
  } else if (!strncmp(url, "wss://", 6)) {
    p = url + 6;
    ws->tls = true;
    ws->port = 443;
  } else {
    return TERN_EINVAL;
  }
  const char *h = p, *he;
  if (*p == '[') {
    h = p + 1;
    he = strchr(h, ']');
    if (!he)
      return TERN_EINVAL;
    p = he + 1;
  } else {
    he = p + strcspn(p, ":/?#");
    p = he;
  }
  if (he == h)
    return TERN_EINVAL;
  bool explicit_port = false;
  if (*p == ':') {
    long port = 0;
    p++;
    if (*p < '0' || *p > '9')
      return TERN_EINVAL;
    while (*p >= '0' && *p <= '9' && port <= 65535)
      port = port * 10 + (*p++ - '0');
    if (port < 1 || port > 65535)
      return TERN_EINVAL;
    ws->port = (int)port;
    explicit_port = true;
  }
  if (*p && *p != '/' && *p != '?')
    return TERN_EINVAL;
  if (!(ws->host = tern_strndup(h, (size_t)(he - h))))
    return TERN_ENOMEM;
  size_t plen = strcspn(p, "#");
  size_t n = plen + 2;
  if (!(ws->path = tern_malloc(n)))
    return TERN_ENOMEM;
  snprintf(ws->path, n, "%s%.*s", *p == '/' ? "" : "/", (int)plen, p);
  /* Host header: with the port when it is not the scheme's; lws also uses
   * it for TLS SNI and the certificate check, which want the bare name. */
  n = strlen(ws->host) + 16;
  if (!(ws->host_header = tern_malloc(n)))
    return TERN_ENOMEM;
  if (explicit_port && !ws->tls)
    snprintf(ws->host_header, n, "%s:%d", ws->host, ws->port);
  else
    snprintf(ws->host_header, n, "%s", ws->host);
  return 0;
}

/* ---- public API ----------------------------------------------------------- */

int tern_ws_create(tern_loop_t *l, const tern_ws_opts_t *o, tern_ws_t **out) {
  if (!out)
    return TERN_EINVAL;
  *out = NULL;
  if (!l || !o || !o->url || (unsigned)o->component >= TERN_COMP__COUNT)
    return TERN_EINVAL;
  struct tern_ws *ws = tern_calloc(1, sizeof *ws);
  if (!ws)
    return TERN_ENOMEM;
  ws->loop = l;
  ws->cb = *o;
  ws->cb.url = ws->cb.subprotocol = ws->cb.provider = NULL;
  ws->component = o->component;
  snprintf(ws->provider, sizeof ws->provider, "%s", o->provider ? o->provider : "");
  ws->connect_ms =
      o->connect_timeout < 0
          ? 0
          : tern__usec_to_ms(o->connect_timeout ? o->connect_timeout : TERN_WS_CONNECT_TIMEOUT);
  ws->idle_ms = o->idle_timeout > 0 ? tern__usec_to_ms(o->idle_timeout) : 0;
  ws->max_message = o->max_message ? o->max_message : TERN_WS_MAX_MESSAGE;
  ws->max_queue = o->max_queue ? o->max_queue : TERN_WS_MAX_QUEUE;
  ws->connect_time = -1;
  ws->state = WS_NEW;
  uv_timer_init(&l->uv, &ws->timer);
  ws->timer.data = ws;
  ws->gai.data = ws;
  ws->next = l->wss;
  if (l->wss)
    l->wss->prev = ws;
  l->wss = ws;
  int rc = parse_url(ws, o->url);
  if (rc == 0 && o->subprotocol && !(ws->subprotocol = tern_strdup(o->subprotocol)))
    rc = TERN_ENOMEM;
  if (rc) {
    ws->freed = ws->ended = true;
    maybe_release(ws);
    return rc;
  }
  *out = ws;
  return 0;
}

int tern_ws_add_header(tern_ws_t *ws, const char *name, const char *value) {
  if (!ws || !name || !*name || !value || strpbrk(name, ":\r\n") || strpbrk(value, "\r\n"))
    return TERN_EINVAL;
  if (ws->state != WS_NEW || ws->freed)
    return TERN_ESTATE;
  if (tern_key_is_secret(name)) {
    if (tern_secret_register(value) == TERN_ENOMEM)
      return TERN_ENOMEM;
    const char *sp = strchr(value, ' ');
    if (sp && tern_secret_register(sp + 1) == TERN_ENOMEM)
      return TERN_ENOMEM;
  }
  struct ws_hdr *h = tern_calloc(1, sizeof *h);
  size_t n = strlen(name) + 2;
  if (!h || !(h->name = tern_malloc(n)) || !(h->value = tern_strdup(value))) {
    if (h) {
      tern_free(h->name);
      tern_free(h);
    }
    return TERN_ENOMEM;
  }
  snprintf(h->name, n, "%s:", name);
  if (ws->hdr_tail)
    ws->hdr_tail->next = h;
  else
    ws->hdrs = h;
  ws->hdr_tail = h;
  return 0;
}

int tern_ws_connect(tern_ws_t *ws) {
  if (!ws || ws->freed)
    return TERN_EINVAL;
  if (ws->state != WS_NEW)
    return TERN_ESTATE;
  tern_loop_t *l = ws->loop;
  int rc = ensure_lws(l);
  if (rc)
    return rc;
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (uv_getaddrinfo(&l->uv, &ws->gai, on_resolved, ws->host, NULL, &hints) != 0)
    return TERN_ENOMEM;
  ws->gai_pending = true;
  uv_update_time(&l->uv);
  ws->t0_ms = uv_now(&l->uv);
  ws->t_start = tern_loop_now(l);
  ws->state = WS_RESOLVING;
  arm(ws);
  return 0;
}

int tern_ws_send(tern_ws_t *ws, const void *data, size_t len, bool binary) {
  if (!ws || (!data && len))
    return TERN_EINVAL;
  if (ws->freed || ws->ended || ws->close_requested || ws->state == WS_NEW)
    return TERN_ESTATE;
  if (len > ws->max_queue - ws->q_bytes)
    return TERN_EBUSY;
  struct ws_msg *m = tern_malloc(sizeof *m + LWS_PRE + len);
  if (!m)
    return TERN_ENOMEM;
  m->next = NULL;
  m->len = len;
  m->binary = binary;
  if (len)
    memcpy(m->buf + LWS_PRE, data, len);
  if (ws->q_tail)
    ws->q_tail->next = m;
  else
    ws->q_head = m;
  ws->q_tail = m;
  ws->q_bytes += len;
  if (ws->state == WS_OPEN && ws->wsi && !ws->wsi_killed)
    lws_callback_on_writable(ws->wsi);
  return 0;
}

int tern_ws_close(tern_ws_t *ws, int code, const char *reason) {
  if (!ws || code < 1000 || code > 4999)
    return TERN_EINVAL;
  if (ws->freed || ws->ended || ws->close_requested || ws->state == WS_NEW)
    return TERN_ESTATE;
  ws->close_requested = true;
  ws->close_code = code;
  size_t rl = reason ? strlen(reason) : 0;
  if (rl > CLOSE_REASON_MAX)
    rl = CLOSE_REASON_MAX;
  if (rl)
    memcpy(ws->close_reason, reason, rl);
  ws->close_reason[rl] = '\0';
  ws->close_reason_len = rl;
  if (ws->state == WS_OPEN) {
    if (ws->wsi && !ws->wsi_killed)
      lws_callback_on_writable(ws->wsi);
    return 0;
  }
  /* Not open yet: abandon the attempt and report the close from the loop. */
  if (ws->gai_pending)
    uv_cancel((uv_req_t *)&ws->gai);
  ws->close_pending = true;
  kill_soon(ws);
  return 0;
}

void tern_ws_set_idle_timeout(tern_ws_t *ws, tern_usec_t idle) {
  if (!ws || ws->ended || ws->freed)
    return;
  ws->idle_ms = idle > 0 ? tern__usec_to_ms(idle) : 0;
  uv_update_time(&ws->loop->uv);
  ws->last_rx_ms = uv_now(&ws->loop->uv);
  if (!ws->kill_pending)
    arm(ws);
}

bool tern_ws_is_open(const tern_ws_t *ws) { return ws && ws->state == WS_OPEN; }

tern_usec_t tern_ws_connect_time(const tern_ws_t *ws) { return ws ? ws->connect_time : -1; }

void tern_ws_free(tern_ws_t *ws) {
  if (!ws || ws->freed)
    return;
  ws->freed = true;
  if (ws->gai_pending)
    uv_cancel((uv_req_t *)&ws->gai);
  if (ws->wsi && !ws->wsi_killed)
    kill_soon(ws);
  maybe_release(ws);
}
