/* The WebSocket session transport (docs/protocol.md) on one loop: an lws
 * vhost added to the loop's lws context, one agent session per connection.
 *
 * Invariants:
 *  - a conn exists from LWS_CALLBACK_ESTABLISHED until the wsi's CLOSED
 *    callback or tern_transport_shutdown, whichever comes first; the lws
 *    per-session slot points at it and is cleared when it goes, so later
 *    lws callbacks for that wsi find nothing.
 *  - lws is never asked to destroy a wsi from our own timers synchronously:
 *    kills are LWS_TO_KILL_ASYNC, so a conn never disappears under a tick.
 *  - one lws_write per WRITEABLE callback; text before audio, the close
 *    frame last. The close frame is written by hand (Debian's lws 4.1.6
 *    closes a -1/lws_close_reason connection twice on libuv, the second
 *    time without the frame; see src/net/ws.c) and the peer's answer ends
 *    the connection, or a kill after CLOSE_WAIT.
 *  - agent audio is pulled on a real-time schedule (frames due since the
 *    session started), whatever the socket does: a slow socket loses the
 *    oldest queued frames, never delays the agent's timeline.
 *  - the tick is re-armed after each run for just after the next frame is
 *    due on that schedule (t0 + k * 20 ms), not left to repeat every 20 ms:
 *    a repeating libuv timer drifts against the schedule (it re-arms from
 *    the loop's cached millisecond time), so now and then one tick would
 *    find two frames due and the next none, and the caller would get a
 *    frame up to 20 ms late (bench_serve at 50 sessions: 0.5-0.9 % of
 *    frames over 20 ms late with a repeating timer, none with this).
 */
#include "tern/transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <libwebsockets.h>
#include <uv.h>

#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/json.h"
#include "tern/log.h"
#include "tern/ws.h"
#include "transport/ws_msg.h"

#define FRAME_USEC TERN_MS(20)
#define MAX_CATCHUP 50 /* frames (1 s): a loop stalled longer skips ahead */
#define TICK_SLACK TERN_MS(1) /* fire this long after a frame is due: the timer is in ms */
#define CLOSE_WAIT TERN_SEC(1)
#define CLOSE_REASON_MAX 123
#define TERN_LWS_WRITE_CLOSE ((enum lws_write_protocol)4) /* lws's private close opcode */
#define HDR_MAX 4096

struct tmsg {
  struct tmsg *next;
  size_t len;
  unsigned char buf[]; /* LWS_PRE headroom, then the payload */
};

typedef struct conn {
  tern_transport_t *t;
  struct conn *next, *prev;
  struct lws *wsi;
  struct conn **slot; /* lws's per-session slot */
  tern_transport_session_t ts;
  bool has_session;
  int rate;
  size_t frame; /* samples per 20 ms */
  tern_loop_timer_t *tick;
  tern_usec_t t0;
  uint64_t pulled;
  int last_state;
  unsigned last_holds;

  unsigned char *rx;
  size_t rx_len, rx_cap;
  bool rx_active, rx_binary, rx_over;
  unsigned protocol_errors;

  struct tmsg *tq_head, *tq_tail;
  size_t tq_bytes;
  unsigned char *aq; /* audio slots, each LWS_PRE + frame bytes */
  size_t aq_slots, aq_head, aq_len, aq_stride;
  uint64_t audio_dropped;

  bool closing, close_sent, killed;
  int close_code;
  char close_reason[CLOSE_REASON_MAX + 1];
  tern_usec_t close_sent_at;
} conn_t;

struct tern_transport {
  tern_loop_t *loop;
  struct lws_vhost *vh;
  int lfd; /* our listening socket; accepted sockets are adopted by the vhost */
  uv_poll_t poll;
  bool polling;
  struct lws_protocols protocols[2];
  tern_transport_opts_t o;
  char *iface;
  char *web_root;
  int port;
  conn_t *conns;
  size_t count;
  bool shut, orphan;
};

/* ---- outgoing ------------------------------------------------------------ */

static void want_write(conn_t *c) {
  if (c->wsi && !c->killed)
    lws_callback_on_writable(c->wsi);
}

static void begin_close(conn_t *c, int code, const char *reason);

static void send_text(conn_t *c, const char *s, size_t len) {
  if (c->closing || !c->wsi)
    return;
  if (len > c->t->o.max_text_queue - c->tq_bytes) {
    /* The caller stopped reading; holding more would only grow memory. */
    begin_close(c, 1008, "client not reading");
    return;
  }
  struct tmsg *m = tern_malloc(sizeof *m + LWS_PRE + len);
  if (!m)
    return; /* an event lost to memory pressure; the session goes on */
  m->next = NULL;
  m->len = len;
  memcpy(m->buf + LWS_PRE, s, len);
  if (c->tq_tail)
    c->tq_tail->next = m;
  else
    c->tq_head = m;
  c->tq_tail = m;
  c->tq_bytes += len;
  want_write(c);
}

static void send_json(conn_t *c, json_t *j) {
  if (!j)
    return;
  char *s = tern_json_dump(j);
  json_decref(j);
  if (s) {
    send_text(c, s, strlen(s));
    tern_free(s);
  }
}

static void protocol_error(conn_t *c, const char *msg) {
  c->protocol_errors++;
  send_json(c, json_pack("{s:s,s:s}", "type", "protocol_error", "message", msg));
  if (c->protocol_errors > c->t->o.max_protocol_errors)
    begin_close(c, 1008, "too many protocol errors");
}

static void queue_audio(conn_t *c, const int16_t *pcm) {
  if (!c->aq || c->closing)
    return;
  if (c->aq_len == c->aq_slots) { /* backed up: the oldest frame goes */
    c->aq_head = (c->aq_head + 1) % c->aq_slots;
    c->aq_len--;
    c->audio_dropped++;
  }
  size_t i = (c->aq_head + c->aq_len) % c->aq_slots;
  memcpy(c->aq + i * c->aq_stride + LWS_PRE, pcm, c->frame * sizeof *pcm); /* LE host */
  c->aq_len++;
  want_write(c);
}

static void begin_close(conn_t *c, int code, const char *reason) {
  if (c->closing)
    return;
  c->closing = true;
  c->close_code = code;
  snprintf(c->close_reason, sizeof c->close_reason, "%s", reason ? reason : "");
  want_write(c);
}

static int on_writeable(conn_t *c, struct lws *wsi) {
  if (c->close_sent)
    return 0;
  struct tmsg *m = c->tq_head;
  if (m) {
    c->tq_head = m->next;
    if (!c->tq_head)
      c->tq_tail = NULL;
    c->tq_bytes -= m->len;
    int n = lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT);
    bool ok = n >= 0 && (size_t)n >= m->len;
    tern_free(m);
    if (!ok)
      return -1;
  } else if (c->aq_len) {
    unsigned char *p = c->aq + c->aq_head * c->aq_stride + LWS_PRE;
    size_t len = c->frame * sizeof(int16_t);
    c->aq_head = (c->aq_head + 1) % c->aq_slots;
    c->aq_len--;
    int n = lws_write(wsi, p, len, LWS_WRITE_BINARY);
    if (n < 0 || (size_t)n < len)
      return -1;
  } else if (c->closing) {
    unsigned char b[LWS_PRE + 2 + CLOSE_REASON_MAX];
    size_t rl = strlen(c->close_reason);
    b[LWS_PRE] = (unsigned char)(c->close_code >> 8);
    b[LWS_PRE + 1] = (unsigned char)(c->close_code & 0xff);
    memcpy(b + LWS_PRE + 2, c->close_reason, rl);
    c->close_sent = true;
    c->close_sent_at = tern_loop_now(c->t->loop);
    if (lws_write(wsi, b + LWS_PRE, 2 + rl, TERN_LWS_WRITE_CLOSE) < (int)(2 + rl))
      return -1;
    return 0;
  }
  if (c->tq_head || c->aq_len || c->closing)
    lws_callback_on_writable(wsi);
  return 0;
}

/* ---- session events out ------------------------------------------------- */

static void check_state(conn_t *c) {
  if (!c->has_session || c->closing)
    return;
  int st = (int)tern_session_state(c->ts.session);
  if (st == c->last_state)
    return;
  c->last_state = st;
  send_json(c, json_pack("{s:s,s:s}", "type", "state", "state",
                         tern_turn_state_name((tern_turn_state_t)st)));
}

static void forward_event(void *ud, const char *type, const char *line, size_t len,
                          const tern_log_field_t *f, size_t n) {
  (void)f, (void)n;
  conn_t *c = ud;
  send_text(c, line, len);
  if (!strcmp(type, "session_closed"))
    begin_close(c, 1000, "session closed");
  else
    check_state(c);
}

/* ---- the real-time audio clock ----------------------------------------- */

static void tick(conn_t *c, tern_usec_t now) {
  if (c->close_sent) {
    if (now - c->close_sent_at >= CLOSE_WAIT && c->wsi && !c->killed) {
      c->killed = true; /* the peer never answered our close */
      lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
    return;
  }
  if (!c->has_session || c->closing)
    return;
  if (tern_session_closed(c->ts.session)) {
    begin_close(c, 1000, "session closed");
    return;
  }
  uint64_t due = (uint64_t)((now - c->t0) / FRAME_USEC);
  if (due > c->pulled + MAX_CATCHUP)
    c->pulled = due - 1;
  int16_t pcm[960];
  while (c->pulled < due && !c->closing) {
    c->pulled++;
    size_t agent = tern_session_pull_audio(c->ts.session, pcm, c->frame);
    if (agent)
      queue_audio(c, pcm);
    if (tern_session_closed(c->ts.session))
      break;
  }
  check_state(c);
}

/* Nothing in tick() frees the conn (closes are asynchronous), so the timer
 * is still ours to re-arm afterwards. */
static void on_tick(tern_loop_timer_t *tm, void *ud) {
  conn_t *c = ud;
  tern_usec_t now = tern_loop_now(c->t->loop);
  tick(c, now);
  tern_usec_t delay = FRAME_USEC;
  if (c->has_session && !c->closing) {
    now = tern_loop_now(c->t->loop);
    delay = c->t0 + (tern_usec_t)(c->pulled + 1) * FRAME_USEC - now + TICK_SLACK;
    if (delay < TICK_SLACK)
      delay = TICK_SLACK;
  }
  tern_loop_timer_start(tm, delay, FRAME_USEC);
}

/* ---- incoming -------------------------------------------------------------- */

static void handle_text(conn_t *c, const char *buf, size_t len) {
  tern__ws_msg_t m;
  char err[96];
  int rc = tern__ws_msg_parse(buf, len, &m, err, sizeof err);
  if (rc == TERN_ENOMEM) {
    TERN_LOG(TERN_LOG_WARN, "ws_message_dropped", TERN_LF_STR("reason", "out of memory"));
    return;
  }
  if (rc) {
    protocol_error(c, err);
    return;
  }
  tern_session_t *s = c->ts.session;
  switch (m.type) {
  case TERN__WS_MSG_PING:
    send_json(c, json_pack("{s:s}", "type", "pong"));
    break;
  case TERN__WS_MSG_SAY:
    if (tern_session_say(s, m.text, m.allow_interruptions) == TERN_ENOMEM)
      protocol_error(c, "say: out of memory");
    break;
  case TERN__WS_MSG_INTERRUPT:
    tern_session_interrupt(s);
    break;
  case TERN__WS_MSG_END:
    tern_session_end(s, NULL, m.reason);
    break;
  }
  tern__ws_msg_clear(&m);
}

static int on_receive(conn_t *c, struct lws *wsi, const void *in, size_t len) {
  if (!c->rx_active) {
    c->rx_active = true;
    c->rx_binary = lws_frame_is_binary(wsi) != 0;
    c->rx_len = 0;
    c->rx_over = false;
  }
  size_t limit = c->rx_binary ? (size_t)c->rate * sizeof(int16_t) : c->t->o.max_text;
  if (!c->rx_over && len > limit - c->rx_len)
    c->rx_over = true; /* keep reading to the end of the message, keep nothing */
  if (!c->rx_over && len) {
    if (c->rx_len + len > c->rx_cap) {
      size_t cap = c->rx_cap ? c->rx_cap : 4096;
      while (cap < c->rx_len + len)
        cap *= 2;
      if (cap > limit)
        cap = limit;
      unsigned char *b = tern_realloc(c->rx, cap + 1); /* + the NUL the JSON loader wants */
      if (!b) {
        c->rx_over = true;
      } else {
        c->rx = b;
        c->rx_cap = cap;
      }
    }
    if (!c->rx_over) {
      memcpy(c->rx + c->rx_len, in, len);
      c->rx_len += len;
    }
  }
  if (!lws_is_final_fragment(wsi))
    return 0;
  c->rx_active = false;
  if (c->closing || !c->has_session)
    return 0;
  if (c->rx_over) {
    protocol_error(c, c->rx_binary ? "binary frame over 1 s of audio"
                                   : "text message over the size limit");
  } else if (c->rx_binary) {
    if (c->rx_len % 2)
      protocol_error(c, "binary frame of odd length: expected PCM16 samples");
    else if (c->rx_len)
      tern_session_push_audio(c->ts.session, (const int16_t *)(const void *)c->rx, c->rx_len / 2);
    check_state(c);
  } else if (c->rx_len) {
    c->rx[c->rx_len] = '\0';
    handle_text(c, (const char *)c->rx, c->rx_len);
  } else {
    protocol_error(c, "malformed message: empty");
  }
  return 0;
}

/* ---- the request ------------------------------------------------------------ */

typedef struct reqbuf {
  char path[256], token[HDR_MAX];
  char origin[512], host[256], peer[64], arg[HDR_MAX + 32];
  tern_transport_request_t r;
} reqbuf_t;

static void hdr(struct lws *wsi, enum lws_token_indexes h, char *dst, size_t n) {
  dst[0] = '\0';
  if (lws_hdr_total_length(wsi, h) >= (int)n || lws_hdr_copy(wsi, dst, (int)n, h) < 0)
    dst[0] = '\0';
}

static void read_request(struct lws *wsi, reqbuf_t *b) {
  hdr(wsi, WSI_TOKEN_GET_URI, b->path, sizeof b->path);
  hdr(wsi, WSI_TOKEN_ORIGIN, b->origin, sizeof b->origin);
  hdr(wsi, WSI_TOKEN_HOST, b->host, sizeof b->host);
  b->peer[0] = '\0';
  lws_get_peer_simple(wsi, b->peer, sizeof b->peer);
  b->token[0] = '\0';
  const char *v = lws_get_urlarg_by_name(wsi, "access_token=", b->arg, (int)sizeof b->arg);
  if (v) {
    snprintf(b->token, sizeof b->token, "%s", v);
  } else {
    char auth[HDR_MAX];
    hdr(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, auth, sizeof auth);
    if (!strncasecmp(auth, "Bearer ", 7)) {
      const char *p = auth + 7;
      while (*p == ' ')
        p++;
      snprintf(b->token, sizeof b->token, "%s", p);
    }
  }
  b->r.sample_rate = 16000;
  v = lws_get_urlarg_by_name(wsi, "sample_rate=", b->arg, (int)sizeof b->arg);
  if (v) {
    char *end;
    long r = strtol(v, &end, 10);
    b->r.sample_rate =
        (!*end && (r == 8000 || r == 16000 || r == 24000 || r == 48000)) ? (int)r : 0;
  }
  b->r.path = b->path;
  b->r.access_token = b->token;
  b->r.origin = b->origin;
  b->r.host = b->host;
  b->r.peer = b->peer;
}

static int refuse_http(struct lws *wsi, int status, const char *msg) {
  char body[256];
  snprintf(body, sizeof body, "%s\n", msg && *msg ? msg : "refused");
  /* Plain text, so the reason reads well from curl or a browser's network
   * tab; the connection closes after it. */
  unsigned char buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf;
  size_t blen = strlen(body);
  if (lws_add_http_common_headers(wsi, (unsigned int)status, "text/plain", (lws_filepos_t)blen, &p,
                                  end))
    return -1;
  if (status == 503 && lws_add_http_header_by_name(wsi, (const unsigned char *)"retry-after:",
                                                   (const unsigned char *)"5", 1, &p, end))
    return -1;
  if (lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5, &p,
                                   end))
    return -1;
  if (lws_finalize_http_header(wsi, &p, end))
    return -1;
  memcpy(p, body, blen);
  p += blen;
  if (lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_FINAL) != (int)(p - start))
    return -1;
  return 1;
}

/* ---- connections ---------------------------------------------------------- */

static void conn_free(conn_t *c) {
  tern_transport_t *t = c->t;
  if (c->slot)
    *c->slot = NULL;
  if (c->has_session) {
    c->has_session = false;
    if (!tern_session_closed(c->ts.session))
      tern_session_close(c->ts.session, c->close_sent ? "server_closed" : "caller_hung_up");
    tern_events_unlisten(c->ts.events, forward_event, c);
    if (t->o.release)
      t->o.release(t->o.ud, &c->ts);
    t->count--;
  }
  tern_loop_timer_destroy(c->tick);
  if (c->prev)
    c->prev->next = c->next;
  else
    t->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  while (c->tq_head) {
    struct tmsg *m = c->tq_head;
    c->tq_head = m->next;
    tern_free(m);
  }
  tern_free(c->aq);
  tern_free(c->rx);
  tern_free(c);
}

static int on_established(tern_transport_t *t, struct lws *wsi, conn_t **slot) {
  reqbuf_t *b = tern_malloc(sizeof *b);
  conn_t *c = tern_calloc(1, sizeof *c);
  if (!b || !c) {
    tern_free(b);
    tern_free(c);
    return -1;
  }
  read_request(wsi, b);
  c->t = t;
  c->wsi = wsi;
  c->slot = slot;
  *slot = c;
  c->next = t->conns;
  if (t->conns)
    t->conns->prev = c;
  t->conns = c;
  c->rate = b->r.sample_rate ? b->r.sample_rate : 16000;
  c->frame = (size_t)c->rate / 50;
  c->last_state = -1;
  c->aq_slots = (size_t)(t->o.max_audio_queue / FRAME_USEC);
  if (c->aq_slots < 1)
    c->aq_slots = 1;
  c->aq_stride = LWS_PRE + c->frame * sizeof(int16_t);
  c->aq_stride = (c->aq_stride + 15) & ~(size_t)15;
  int rc = tern_loop_timer_create(t->loop, on_tick, c, &c->tick);
  if (!rc && !(c->aq = tern_malloc(c->aq_slots * c->aq_stride)))
    rc = TERN_ENOMEM;
  if (!rc)
    rc = t->o.open ? t->o.open(t->o.ud, t->loop, &b->r, &c->ts) : TERN_EINVAL;
  tern_free(b);
  if (rc) {
    TERN_LOG(TERN_LOG_WARN, "session_refused", TERN_LF_STR("reason", tern_strerror(rc)));
    begin_close(c, rc == TERN_EBUSY ? 1013 : 1011,
                rc == TERN_EBUSY ? "server full" : "could not start a session");
    if (c->tick)
      tern_loop_timer_start(c->tick, FRAME_USEC, FRAME_USEC);
    return c->tick ? 0 : -1;
  }
  c->has_session = true;
  t->count++;
  tern_events_listen(c->ts.events, forward_event, c);
  send_json(c, json_pack("{s:s,s:s,s:i,s:i}", "type", "ready", "session",
                         tern_events_session(c->ts.events), "sample_rate", c->rate, "protocol",
                         TERN_TRANSPORT_PROTOCOL));
  tern_session_start(c->ts.session);
  check_state(c);
  c->t0 = tern_loop_now(t->loop);
  tern_loop_timer_start(c->tick, FRAME_USEC, FRAME_USEC);
  return 0;
}

/* The file of the browser client a GET path names, or NULL. Only plain
 * file names directly under web_root are served: no dots at the start,
 * no slashes, so nothing outside the folder can be reached. */
static const char *web_type(const char *name) {
  const char *dot = strrchr(name, '.');
  if (!dot)
    return NULL;
  if (!strcmp(dot, ".html"))
    return "text/html; charset=utf-8";
  if (!strcmp(dot, ".js") || !strcmp(dot, ".mjs"))
    return "text/javascript; charset=utf-8";
  if (!strcmp(dot, ".css"))
    return "text/css; charset=utf-8";
  if (!strcmp(dot, ".png"))
    return "image/png";
  if (!strcmp(dot, ".svg"))
    return "image/svg+xml";
  return NULL;
}

static bool web_path(const tern_transport_t *t, const char *uri, char *path, size_t pathsz,
                     const char **type) {
  if (!t || !t->o.web_root || !uri || uri[0] != '/')
    return false;
  const char *name = uri[1] ? uri + 1 : "index.html";
  if (name[0] == '.' || strlen(name) > 64)
    return false;
  for (const char *p = name; *p; p++)
    if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == '_'))
      return false;
  if (!(*type = web_type(name)))
    return false;
  snprintf(path, pathsz, "%s/%s", t->o.web_root, name);
  return access(path, R_OK) == 0;
}

/* -1 error, 0 sending, 1 sent, 2 not one of the client's files. */
static int serve_web(const tern_transport_t *t, struct lws *wsi, const char *uri) {
  char path[1024];
  const char *type;
  if (!web_path(t, uri, path, sizeof path, &type))
    return 2;
  static const char hdr[] = "cache-control: no-cache\x0d\x0a";
  int rc = lws_serve_http_file(wsi, path, type, hdr, (int)sizeof hdr - 1);
  return rc < 0 ? -1 : rc > 0 ? 1 : 0;
}

static int session_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len) {
  struct lws_vhost *vh = lws_get_vhost(wsi);
  tern_transport_t *t = vh ? lws_vhost_user(vh) : NULL;
  conn_t **slot = user;
  conn_t *c = slot ? *slot : NULL;
  switch (reason) {
  case LWS_CALLBACK_HTTP_FILE_COMPLETION:
    /* A file of the web client went out: ready for the next request on
     * this connection (browsers reuse it for the stylesheet and scripts). */
    return lws_http_transaction_completed(wsi) ? -1 : 0;
  case LWS_CALLBACK_HTTP: {
    /* A plain request on the session port: the browser client's files,
     * else a pointer to where sessions live. */
    int served = serve_web(t, wsi, in);
    if (served < 0)
      return -1;
    if (served == 0)
      return 0; /* the file is on its way */
    if (served == 1)
      return lws_http_transaction_completed(wsi) ? -1 : 0;
    return refuse_http(wsi, 404, "not found: sessions are WebSocket upgrades at /session") > 0
               ? (lws_http_transaction_completed(wsi) ? -1 : 0)
               : -1;
  }
  case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
    if (!t || t->shut)
      return -1;
    reqbuf_t *b = tern_malloc(sizeof *b);
    if (!b)
      return -1;
    read_request(wsi, b);
    char msg[200] = "";
    int status = 0;
    if (strcmp(b->path, "/session")) {
      status = 404;
      snprintf(msg, sizeof msg, "not found: connect to /session");
    } else if (!b->r.sample_rate) {
      status = 400;
      snprintf(msg, sizeof msg, "sample_rate must be 8000, 16000, 24000 or 48000");
    } else if (t->o.admit) {
      status = t->o.admit(t->o.ud, &b->r, msg, sizeof msg);
    }
    tern_free(b);
    if (!status)
      return 0;
    return refuse_http(wsi, status, msg);
  }
  case LWS_CALLBACK_ESTABLISHED:
    if (!t || t->shut || !slot)
      return -1;
    return on_established(t, wsi, slot);
  case LWS_CALLBACK_RECEIVE:
    return c && !c->close_sent ? on_receive(c, wsi, in, len) : 0;
  case LWS_CALLBACK_SERVER_WRITEABLE:
    return c ? on_writeable(c, wsi) : 0;
  case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
    if (c && c->close_sent)
      return -1; /* the answer to our close: done */
    if (c && c->has_session && !tern_session_closed(c->ts.session))
      tern_session_close(c->ts.session, "caller_hung_up");
    return 0;
  case LWS_CALLBACK_CLOSED:
    if (c) {
      c->wsi = NULL;
      conn_free(c);
    }
    return 0;
  default:
    break;
  }
  return 0;
}

/* ---- listening --------------------------------------------------------------
 * lws 4.1 sets SO_REUSEPORT on its own listeners only for multi-threaded
 * contexts, and each of our loops has its own single-threaded context; so
 * the transport listens itself (SO_REUSEPORT when shared: the kernel then
 * spreads connections over the workers' sockets) and hands each accepted
 * socket to its vhost, which serves it exactly as if lws had accepted it. */

static void on_poll_closed(uv_handle_t *h) {
  tern_transport_t *t = h->data;
  if (t->lfd >= 0)
    close(t->lfd);
  t->lfd = -1;
  if (t->orphan) {
    tern_free(t->iface);
    tern_free(t->web_root);
    tern_free(t);
  }
}

static void on_listen_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  tern_transport_t *t = h->data;
  if (status < 0 || t->shut)
    return;
  for (int i = 0; i < 64; i++) { /* a burst, then let other work run */
    int fd = accept4(t->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      return; /* EAGAIN, or out of descriptors: try again on the next wakeup */
    }
    /* Agent audio goes out as one small frame every 20 ms: with Nagle on,
     * a frame waits for the ACK of the one before, which the peer delays
     * until it sends something itself, and the caller hears frames bunched
     * to its own send rhythm (bench_serve at 50 sessions: 17 % of frames
     * over 20 ms late, and 20 ms more to the first). lws leaves a socket it
     * adopts as it is. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!lws_adopt_socket_vhost(t->vh, fd))
      TERN_LOG(TERN_LOG_WARN, "ws_adopt_failed"); /* lws closed fd */
  }
}

static int listen_socket(tern_transport_t *t, int port, bool share) {
  struct sockaddr_storage ss;
  socklen_t sl;
  memset(&ss, 0, sizeof ss);
  const char *host = t->iface;
  if (host && !strcmp(host, "localhost"))
    host = "127.0.0.1";
  int fam = host && strchr(host, ':') ? AF_INET6 : AF_INET;
  bool any = !host || !*host;
  for (int attempt = 0; attempt < 2; attempt++) {
    if (any)
      fam = attempt == 0 ? AF_INET6 : AF_INET; /* dual stack where IPv6 exists */
    if (fam == AF_INET6) {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
      a->sin6_family = AF_INET6;
      a->sin6_port = htons((uint16_t)port);
      a->sin6_addr = in6addr_any;
      if (!any && inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
        return TERN_EINVAL;
      sl = sizeof *a;
    } else {
      struct sockaddr_in *a = (struct sockaddr_in *)&ss;
      a->sin_family = AF_INET;
      a->sin_port = htons((uint16_t)port);
      a->sin_addr.s_addr = htonl(INADDR_ANY);
      if (!any && inet_pton(AF_INET, host, &a->sin_addr) != 1)
        return TERN_EINVAL;
      sl = sizeof *a;
    }
    int fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      if (any && attempt == 0)
        continue;
      return TERN_EIO;
    }
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (share)
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (fam == AF_INET6 && any)
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 511)) {
      int e = errno;
      close(fd);
      if (any && attempt == 0 && e != EADDRINUSE)
        continue;
      return TERN_EIO;
    }
    struct sockaddr_storage got;
    socklen_t gl = sizeof got;
    if (getsockname(fd, (struct sockaddr *)&got, &gl) == 0)
      t->port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                                : ((struct sockaddr_in *)&got)->sin_port);
    t->lfd = fd;
    return 0;
  }
  return TERN_EIO;
}

/* ---- public ----------------------------------------------------------------- */

int tern_transport_create(tern_loop_t *loop, const tern_transport_opts_t *o,
                          tern_transport_t **out) {
  if (!out)
    return TERN_EINVAL;
  *out = NULL;
  if (!loop || !o || o->port < 0 || o->port > 65535 || !o->open)
    return TERN_EINVAL;
  struct lws_context *ctx = tern_ws_lws_context(loop);
  if (!ctx)
    return TERN_EIO;
  tern_transport_t *t = tern_calloc(1, sizeof *t);
  if (!t)
    return TERN_ENOMEM;
  t->lfd = -1;
  t->loop = loop;
  t->o = *o;
  if (!t->o.max_text)
    t->o.max_text = TERN_TRANSPORT_MAX_TEXT;
  if (!t->o.max_protocol_errors)
    t->o.max_protocol_errors = TERN_TRANSPORT_MAX_PROTOCOL_ERRORS;
  if (!t->o.max_text_queue)
    t->o.max_text_queue = TERN_TRANSPORT_TEXT_QUEUE;
  if (t->o.max_audio_queue <= 0)
    t->o.max_audio_queue = TERN_TRANSPORT_AUDIO_QUEUE;
  if (o->iface && *o->iface && !(t->iface = tern_strdup(o->iface))) {
    tern_free(t);
    return TERN_ENOMEM;
  }
  t->o.iface = NULL;
  if (o->web_root && !(t->web_root = tern_strdup(o->web_root))) {
    tern_free(t->iface);
    tern_free(t->web_root);
    tern_free(t);
    return TERN_ENOMEM;
  }
  t->o.web_root = t->web_root;
  t->protocols[0].name = "tern-session";
  t->protocols[0].callback = session_cb;
  t->protocols[0].per_session_data_size = sizeof(conn_t *);
  t->protocols[0].rx_buffer_size = 8192;
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.vhost_name = "tern-session";
  info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
  info.protocols = t->protocols;
  info.user = t;
  info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8;
  /* Room for a long URL with a token in it. */
  info.max_http_header_data = 8192;
  info.timeout_secs = 10;
  /* The socket first: until the vhost exists, a failure can free t at
   * once; afterwards the vhost (and its protocols array, inside t) belongs
   * to the context, so t must live as long as the loop. */
  int rc = listen_socket(t, o->port, o->listen_share);
  if (rc) {
    tern_free(t->iface);
    tern_free(t->web_root);
    tern_free(t);
    return rc;
  }
  t->poll.data = t;
  if (uv_poll_init(tern_loop_uv(loop), &t->poll, t->lfd) ||
      uv_poll_start(&t->poll, UV_READABLE, on_listen_readable)) {
    close(t->lfd);
    tern_free(t->iface);
    tern_free(t->web_root);
    tern_free(t);
    return TERN_EIO;
  }
  t->polling = true;
  t->vh = lws_create_vhost(ctx, &info);
  if (!t->vh) {
    t->shut = true;
    t->polling = false;
    t->orphan = true; /* on_poll_closed closes the socket and frees t */
    uv_close((uv_handle_t *)&t->poll, on_poll_closed);
    return TERN_EIO;
  }
  *out = t;
  return 0;
}

int tern_transport_port(const tern_transport_t *t) { return t ? t->port : -1; }
size_t tern_transport_count(const tern_transport_t *t) { return t ? t->count : 0; }

void tern_transport_end_all(tern_transport_t *t, const char *goodbye, const char *reason) {
  if (!t)
    return;
  for (conn_t *c = t->conns; c; c = c->next)
    if (c->has_session && !c->closing && !tern_session_closed(c->ts.session))
      tern_session_end(c->ts.session, goodbye, reason);
}

void tern_transport_close_all(tern_transport_t *t, const char *reason) {
  if (!t)
    return;
  for (conn_t *c = t->conns; c; c = c->next) {
    if (c->has_session && !tern_session_closed(c->ts.session))
      tern_session_close(c->ts.session, reason); /* session_closed -> close 1000 */
    begin_close(c, 1000, reason);
  }
}

void tern_transport_shutdown(tern_transport_t *t) {
  if (!t || t->shut)
    return;
  t->shut = true;
  if (t->polling) {
    t->polling = false;
    uv_close((uv_handle_t *)&t->poll, on_poll_closed);
  }
  while (t->conns) {
    conn_t *c = t->conns;
    if (c->wsi && !c->killed) {
      c->killed = true;
      lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
    c->wsi = NULL;
    conn_free(c);
  }
}

void tern_transport_free(tern_transport_t *t) {
  if (!t)
    return;
  tern_transport_shutdown(t);
  tern_free(t->iface);
  tern_free(t->web_root);
  tern_free(t);
}
