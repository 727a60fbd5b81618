/* Streaming HTTP over the loop's curl multi handle.
 *
 * curl is driven with the socket-action API: curl tells us which sockets to
 * watch (uv_poll per socket) and when to wake it (one uv_timer per loop).
 * Each request has one more uv_timer that enforces our own phase deadlines
 * (connect, first byte, idle, total) and carries deferred completion.
 *
 * Invariants:
 *  - curl is never re-entered: user code runs inside curl callbacks, so
 *    anything it asks for (cancel, free, start) that would call into the
 *    multi handle is deferred to the request's timer, which runs at the
 *    top of the loop. After a stop was decided, curl callbacks of that
 *    request return "abort" and call no user code.
 *  - on_done runs exactly once per started request, from complete() only,
 *    never from inside a public function; the first recorded failure wins.
 *  - the request memory goes only in its timer's close callback, after it
 *    left the multi handle and no callback of it is on the stack.
 *  - idle deadlines are lazy: a chunk only stamps the time; the timer
 *    re-arms itself when it fires early, so a chunk costs no timer work.
 */
#include "tern/http.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "net_internal.h"
#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/log.h"

enum { ST_NEW, ST_RUNNING, ST_FINISHING, ST_DONE };
enum { PH_CONNECT, PH_FIRST_BYTE, PH_BODY };

struct tern__sock {
  uv_poll_t poll;
  curl_socket_t fd;
  tern_loop_t *loop;
  struct tern__sock *next, *prev;
};

struct tern_http {
  tern_loop_t *loop;
  struct tern_http *next, *prev;
  CURL *easy;
  struct curl_slist *headers;
  curl_mime *mime;
  char *method;
  void *body_copy;
  bool has_body;
  tern_component_t component;
  char provider[TERN_ERROR_PROVIDER_MAX];
  uv_timer_t timer;

  uint64_t connect_ms, first_byte_ms, idle_ms, total_ms; /* 0: none */
  size_t max_response, max_error_body;
  tern_http_opts_t cb;

  int state, phase;
  bool in_multi, add_pending, freed, cancelled_early, error_mode, responded;
  int in_cb;
  int status;
  uint64_t t0_ms, phase_ms, last_ms;
  curl_off_t ul_last;
  size_t received;
  char *errbody;
  size_t errlen;
  bool failed;
  tern_error_t err;
  tern_http_timing_t timing;
  char errbuf[CURL_ERROR_SIZE];
};

/* ---- classification ---------------------------------------------------- */

static void fail_kind(struct tern_http *h, tern_kind_t kind, const char *fmt, uint64_t n) {
  if (h->failed)
    return;
  h->failed = true;
  tern_error_init(&h->err, h->component, kind, h->provider);
  if (fmt)
    tern_error_set_message(&h->err, fmt, n);
}

static void fail_curl(struct tern_http *h, CURLcode rc) {
  if (h->failed)
    return;
  h->failed = true;
  tern_error_from_curl(&h->err, h->component, h->provider, (int)rc);
  if (h->errbuf[0]) {
    char base[TERN_ERROR_MESSAGE_MAX];
    snprintf(base, sizeof base, "%s", h->err.message);
    tern_error_set_message(&h->err, "%s: %s", base, h->errbuf);
  }
}

static void fail_status(struct tern_http *h) {
  if (h->failed)
    return;
  h->failed = true;
  tern_error_from_response(&h->err, h->component, h->provider, h->status, h->errbody, h->errlen);
  tern_usec_t wait;
  if (tern_retry_after_from_headers(tern_http_header(h, "retry-after-ms"),
                                    tern_http_header(h, "retry-after"), tern_wall_ms(), &wait) == 0)
    h->err.retry_after = wait;
}

/* ---- request lifecycle ------------------------------------------------- */

static void on_req_timer(uv_timer_t *t);

static void req_free_cb(uv_handle_t *hd) { tern_free(hd->data); }

static void destroy(struct tern_http *h) {
  tern_loop_t *l = h->loop;
  if (h->prev)
    h->prev->next = h->next;
  else
    l->reqs = h->next;
  if (h->next)
    h->next->prev = h->prev;
  if (h->in_multi)
    curl_multi_remove_handle(l->multi, h->easy);
  if (h->easy)
    curl_easy_cleanup(h->easy);
  curl_mime_free(h->mime);
  curl_slist_free_all(h->headers);
  tern_free(h->method);
  tern_free(h->body_copy);
  tern_free(h->errbody);
  uv_timer_stop(&h->timer);
  uv_close((uv_handle_t *)&h->timer, req_free_cb);
}

static void complete(struct tern_http *h) {
  if (h->state != ST_RUNNING && h->state != ST_FINISHING)
    return;
  uv_timer_stop(&h->timer);
  if (h->in_multi) {
    curl_multi_remove_handle(h->loop->multi, h->easy);
    h->in_multi = false;
  }
  h->state = ST_DONE;
  h->timing.total = tern_loop_now(h->loop) - h->timing.start;
  if (!h->freed && h->cb.on_done) {
    h->in_cb++;
    h->cb.on_done(h, h->failed ? &h->err : NULL, h->cb.ud);
    h->in_cb--;
  }
  if (h->freed && h->in_cb == 0)
    destroy(h);
}

/* Stop at the top of the loop: never calls curl or user code here. */
static void finish_soon(struct tern_http *h) {
  if (h->state != ST_RUNNING)
    return;
  h->state = ST_FINISHING;
  uv_timer_start(&h->timer, on_req_timer, 0, 0);
}

static uint64_t phase_due(const struct tern_http *h) {
  switch (h->phase) {
  case PH_CONNECT:
    return h->connect_ms ? h->t0_ms + h->connect_ms : 0;
  case PH_FIRST_BYTE:
    return h->first_byte_ms ? h->phase_ms + h->first_byte_ms : 0;
  default:
    return h->idle_ms ? h->last_ms + h->idle_ms : 0;
  }
}

static void arm(struct tern_http *h) {
  uint64_t due = phase_due(h);
  if (h->total_ms && (!due || h->t0_ms + h->total_ms < due))
    due = h->t0_ms + h->total_ms;
  if (!due) {
    uv_timer_stop(&h->timer);
    return;
  }
  uint64_t now = uv_now(&h->loop->uv);
  uv_timer_start(&h->timer, on_req_timer, due > now ? due - now : 0, 0);
}

static void on_req_timer(uv_timer_t *t) {
  struct tern_http *h = t->data;
  if (h->state == ST_FINISHING) {
    complete(h);
    return;
  }
  if (h->state != ST_RUNNING)
    return;
  if (h->add_pending) {
    h->add_pending = false;
    if (curl_multi_add_handle(h->loop->multi, h->easy) != CURLM_OK) {
      fail_kind(h, TERN_KIND_CONNECTION, "could not start the request", 0);
      complete(h);
      return;
    }
    h->in_multi = true;
    arm(h);
    return;
  }
  uint64_t now = uv_now(&h->loop->uv);
  if (h->total_ms && now >= h->t0_ms + h->total_ms) {
    fail_kind(h, TERN_KIND_TIMEOUT, "no complete response within %" PRIu64 " ms", h->total_ms);
    complete(h);
    return;
  }
  uint64_t due = phase_due(h);
  if (due && now >= due) {
    if (h->phase == PH_CONNECT)
      fail_kind(h, TERN_KIND_TIMEOUT, "no connection within %" PRIu64 " ms", h->connect_ms);
    else if (h->phase == PH_FIRST_BYTE)
      fail_kind(h, TERN_KIND_TIMEOUT, "no response within %" PRIu64 " ms", h->first_byte_ms);
    else
      fail_kind(h, TERN_KIND_STALLED, "response stalled for %" PRIu64 " ms", h->idle_ms);
    complete(h);
    return;
  }
  arm(h);
}

/* ---- curl callbacks (user code runs here; curl must not be re-entered) - */

static size_t abort_ret(size_t len) { return len ? 0 : CURL_WRITEFUNC_ERROR; }

static void enter_body_phase(struct tern_http *h) {
  if (h->phase == PH_BODY)
    return;
  h->phase = PH_BODY;
  h->timing.first_byte = tern_loop_now(h->loop) - h->timing.start;
  h->last_ms = uv_now(&h->loop->uv);
  arm(h);
}

static int on_prereq(void *ud, char *ip, char *lip, int port, int lport) {
  (void)ip, (void)lip, (void)port, (void)lport;
  struct tern_http *h = ud;
  if (h->state != ST_RUNNING)
    return CURL_PREREQFUNC_ABORT;
  if (h->phase == PH_CONNECT) {
    h->phase = PH_FIRST_BYTE;
    h->phase_ms = uv_now(&h->loop->uv);
    h->timing.connect = tern_loop_now(h->loop) - h->timing.start;
    arm(h);
  }
  return CURL_PREREQFUNC_OK;
}

static int on_progress(void *ud, curl_off_t dlt, curl_off_t dln, curl_off_t ult, curl_off_t uln) {
  (void)dlt, (void)dln, (void)ult;
  struct tern_http *h = ud;
  if (h->state != ST_RUNNING)
    return 1;
  if (h->phase == PH_FIRST_BYTE && uln > h->ul_last) {
    h->ul_last = uln;
    h->phase_ms = uv_now(&h->loop->uv);
  }
  return 0;
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud) {
  struct tern_http *h = ud;
  size_t len = size * n;
  if (h->state != ST_RUNNING)
    return abort_ret(len);
  enter_body_phase(h);
  h->last_ms = uv_now(&h->loop->uv);
  if (h->responded || len > 2 || len == 0 || (buf[0] != '\r' && buf[0] != '\n'))
    return len;
  /* A blank line ends a header block; 1xx blocks are interim. */
  long code = 0;
  curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &code);
  if (code >= 100 && code < 200)
    return len;
  h->responded = true;
  h->status = (int)code;
  if (code < 200 || code >= 300) {
    h->error_mode = true;
    return len;
  }
  if (h->cb.on_response) {
    h->in_cb++;
    h->cb.on_response(h, h->status, h->cb.ud);
    h->in_cb--;
  }
  return h->state == ST_RUNNING ? len : abort_ret(len);
}

static size_t on_write(char *data, size_t size, size_t n, void *ud) {
  struct tern_http *h = ud;
  size_t len = size * n;
  if (h->state != ST_RUNNING)
    return abort_ret(len);
  h->last_ms = uv_now(&h->loop->uv);
  if (h->error_mode) {
    if (!h->errbody) {
      h->errbody = tern_malloc(h->max_error_body + 1);
      if (!h->errbody)
        return abort_ret(len); /* classify on the status alone */
    }
    size_t room = h->max_error_body - h->errlen;
    size_t take = len < room ? len : room;
    memcpy(h->errbody + h->errlen, data, take);
    h->errlen += take;
    h->errbody[h->errlen] = '\0';
    /* Enough to classify: no need to drain a huge error page. */
    return h->errlen < h->max_error_body ? len : abort_ret(len);
  }
  if (len > h->max_response - h->received) {
    fail_kind(h, TERN_KIND_BAD_RESPONSE, "response larger than %" PRIu64 " bytes",
              (uint64_t)h->max_response);
    finish_soon(h);
    return abort_ret(len);
  }
  h->received += len;
  if (len && h->cb.on_data) {
    h->in_cb++;
    h->cb.on_data(h, data, len, h->cb.ud);
    h->in_cb--;
  }
  return h->state == ST_RUNNING ? len : abort_ret(len);
}

/* ---- the multi handle on the loop -------------------------------------- */

static void process_done(tern_loop_t *l) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(l->multi, &left))) {
    if (msg->msg != CURLMSG_DONE)
      continue;
    struct tern_http *h = NULL;
    CURLcode rc = msg->data.result;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&h);
    if (!h)
      continue;
    if (h->error_mode)
      fail_status(h);
    else if (rc != CURLE_OK)
      fail_curl(h, rc);
    complete(h);
  }
}

static void socket_action(tern_loop_t *l, curl_socket_t fd, int flags) {
  int running;
  l->curl_busy++;
  curl_multi_socket_action(l->multi, fd, flags, &running);
  l->curl_busy--;
  process_done(l);
}

static void on_poll(uv_poll_t *p, int status, int events) {
  struct tern__sock *s = p->data;
  int flags = 0;
  if (status < 0)
    flags = CURL_CSELECT_ERR;
  else {
    if (events & UV_READABLE)
      flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
      flags |= CURL_CSELECT_OUT;
  }
  socket_action(s->loop, s->fd, flags);
}

static void sock_free_cb(uv_handle_t *hd) { tern_free(hd->data); }

static void sock_close(tern_loop_t *l, struct tern__sock *s) {
  if (s->prev)
    s->prev->next = s->next;
  else
    l->socks = s->next;
  if (s->next)
    s->next->prev = s->prev;
  /* Stop before curl closes the fd: libuv must not poll a dead fd. */
  uv_poll_stop(&s->poll);
  uv_close((uv_handle_t *)&s->poll, sock_free_cb);
}

static int on_curl_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp) {
  (void)e;
  tern_loop_t *l = userp;
  struct tern__sock *s = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (s) {
      curl_multi_assign(l->multi, fd, NULL);
      sock_close(l, s);
    }
    return 0;
  }
  if (!s) {
    s = tern_calloc(1, sizeof *s);
    if (!s)
      return -1;
    if (uv_poll_init_socket(&l->uv, &s->poll, fd) != 0) {
      tern_free(s);
      return -1;
    }
    s->poll.data = s;
    s->fd = fd;
    s->loop = l;
    s->next = l->socks;
    if (l->socks)
      l->socks->prev = s;
    l->socks = s;
    curl_multi_assign(l->multi, fd, s);
  }
  int events = 0;
  if (what & CURL_POLL_IN)
    events |= UV_READABLE;
  if (what & CURL_POLL_OUT)
    events |= UV_WRITABLE;
  uv_poll_start(&s->poll, events, on_poll);
  return 0;
}

static void on_curl_timer(uv_timer_t *t) { socket_action(t->data, CURL_SOCKET_TIMEOUT, 0); }

static int on_curl_timeout(CURLM *m, long timeout_ms, void *userp) {
  (void)m;
  tern_loop_t *l = userp;
  if (timeout_ms < 0)
    uv_timer_stop(&l->curl_timer);
  else
    uv_timer_start(&l->curl_timer, on_curl_timer, (uint64_t)timeout_ms, 0);
  return 0;
}

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init_rc;
static void curl_global(void) { g_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

int tern__http_loop_init(tern_loop_t *l) {
  uv_timer_init(&l->uv, &l->curl_timer);
  l->curl_timer.data = l;
  pthread_once(&g_curl_once, curl_global);
  if (g_curl_init_rc != CURLE_OK)
    return TERN_EIO;
  l->multi = curl_multi_init();
  if (!l->multi)
    return TERN_ENOMEM;
  curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
  curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
  curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, on_curl_timeout);
  curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l);
  return 0;
}

void tern__http_loop_close(tern_loop_t *l) {
  while (l->reqs) {
    struct tern_http *h = l->reqs;
    h->freed = true;
    h->state = ST_DONE;
    destroy(h);
  }
  if (l->multi) {
    curl_multi_cleanup(l->multi);
    l->multi = NULL;
  }
  while (l->socks)
    sock_close(l, l->socks);
  uv_timer_stop(&l->curl_timer);
  if (!uv_is_closing((uv_handle_t *)&l->curl_timer))
    uv_close((uv_handle_t *)&l->curl_timer, NULL);
}

/* ---- public API -------------------------------------------------------- */

static uint64_t timeout_ms(tern_usec_t v, tern_usec_t dflt) {
  if (v < 0)
    return 0;
  return tern__usec_to_ms(v ? v : dflt);
}

int tern_http_create(tern_loop_t *l, const tern_http_opts_t *o, tern_http_t **out) {
  if (!out)
    return TERN_EINVAL;
  *out = NULL;
  if (!l || !o || !o->url || (unsigned)o->component >= TERN_COMP__COUNT)
    return TERN_EINVAL;
  if (strncasecmp(o->url, "http://", 7) && strncasecmp(o->url, "https://", 8))
    return TERN_EINVAL;
  struct tern_http *h = tern_calloc(1, sizeof *h);
  if (!h)
    return TERN_ENOMEM;
  h->loop = l;
  h->cb = *o;
  h->cb.method = h->cb.url = h->cb.provider = NULL; /* not kept: may dangle */
  h->component = o->component;
  snprintf(h->provider, sizeof h->provider, "%s", o->provider ? o->provider : "");
  h->connect_ms = timeout_ms(o->connect_timeout, TERN_HTTP_CONNECT_TIMEOUT);
  h->first_byte_ms = timeout_ms(o->first_byte_timeout, TERN_HTTP_FIRST_BYTE_TIMEOUT);
  h->idle_ms = timeout_ms(o->idle_timeout, TERN_HTTP_IDLE_TIMEOUT);
  h->total_ms = o->total_timeout > 0 ? tern__usec_to_ms(o->total_timeout) : 0;
  h->max_response = o->max_response ? o->max_response : TERN_HTTP_MAX_RESPONSE;
  h->max_error_body = o->max_error_body ? o->max_error_body : TERN_HTTP_MAX_ERROR_BODY;
  h->timing = (tern_http_timing_t){.start = -1, .connect = -1, .first_byte = -1, .total = -1};
  uv_timer_init(&l->uv, &h->timer);
  h->timer.data = h;
  h->next = l->reqs;
  if (l->reqs)
    l->reqs->prev = h;
  l->reqs = h;
  h->state = ST_NEW;

  int rc = TERN_ENOMEM;
  if (o->method && !(h->method = tern_strdup(o->method)))
    goto fail;
  if (!(h->easy = curl_easy_init()))
    goto fail;
  CURL *e = h->easy;
  CURLcode c = curl_easy_setopt(e, CURLOPT_URL, o->url);
  if (c != CURLE_OK) {
    rc = c == CURLE_OUT_OF_MEMORY ? TERN_ENOMEM : TERN_EINVAL;
    goto fail;
  }
  if (curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK)
    goto fail;
  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)h);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
  curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
  curl_easy_setopt(e, CURLOPT_PREREQDATA, h);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  *out = h;
  return 0;
fail:
  h->freed = true;
  destroy(h);
  return rc;
}

int tern_http_add_header(tern_http_t *h, const char *name, const char *value) {
  if (!h || !name || !*name || !value || strpbrk(name, ":\r\n") || strpbrk(value, "\r\n"))
    return TERN_EINVAL;
  if (h->state != ST_NEW)
    return TERN_ESTATE;
  if (tern_key_is_secret(name)) {
    /* Register the whole value and the token after a scheme word. */
    if (tern_secret_register(value) == TERN_ENOMEM)
      return TERN_ENOMEM;
    const char *sp = strchr(value, ' ');
    if (sp && tern_secret_register(sp + 1) == TERN_ENOMEM)
      return TERN_ENOMEM;
  }
  size_t n = strlen(name) + strlen(value) + 3;
  char *line = tern_malloc(n);
  if (!line)
    return TERN_ENOMEM;
  snprintf(line, n, "%s: %s", name, value);
  struct curl_slist *nl = curl_slist_append(h->headers, line);
  /* curl copies the line; wipe ours, it may hold a key. */
  memset(line, 0, n);
  tern_free(line);
  if (!nl)
    return TERN_ENOMEM;
  h->headers = nl;
  return 0;
}

int tern_http_set_body(tern_http_t *h, const void *data, size_t len, bool copy) {
  if (!h || (!data && len))
    return TERN_EINVAL;
  if (h->state != ST_NEW || h->mime || h->has_body)
    return TERN_ESTATE;
  const void *p = data ? data : "";
  if (copy && len) {
    void *c = tern_malloc(len);
    if (!c)
      return TERN_ENOMEM;
    memcpy(c, data, len);
    h->body_copy = c;
    p = c;
  }
  curl_easy_setopt(h->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  curl_easy_setopt(h->easy, CURLOPT_POSTFIELDS, p);
  h->has_body = true;
  return 0;
}

struct part_src {
  const char *data;
  size_t len, pos;
};

static size_t part_read(char *buf, size_t size, size_t n, void *arg) {
  struct part_src *s = arg;
  size_t want = size * n, left = s->len - s->pos;
  if (want > left)
    want = left;
  memcpy(buf, s->data + s->pos, want);
  s->pos += want;
  return want;
}

static int part_seek(void *arg, curl_off_t off, int origin) {
  struct part_src *s = arg;
  curl_off_t base = origin == SEEK_SET   ? 0
                    : origin == SEEK_CUR ? (curl_off_t)s->pos
                                         : (curl_off_t)s->len;
  if (base + off < 0 || base + off > (curl_off_t)s->len)
    return CURL_SEEKFUNC_FAIL;
  s->pos = (size_t)(base + off);
  return CURL_SEEKFUNC_OK;
}

static void part_free(void *arg) { tern_free(arg); }

static int new_part(tern_http_t *h, const char *name, curl_mimepart **out) {
  if (h->state != ST_NEW || h->has_body)
    return TERN_ESTATE;
  if (!h->mime && !(h->mime = curl_mime_init(h->easy)))
    return TERN_ENOMEM;
  curl_mimepart *p = curl_mime_addpart(h->mime);
  if (!p || curl_mime_name(p, name) != CURLE_OK)
    return TERN_ENOMEM; /* an unnamed part left behind is freed with the form */
  *out = p;
  return 0;
}

int tern_http_add_form_field(tern_http_t *h, const char *name, const char *value) {
  if (!h || !name || !value)
    return TERN_EINVAL;
  curl_mimepart *p;
  int rc = new_part(h, name, &p);
  if (rc)
    return rc;
  return curl_mime_data(p, value, CURL_ZERO_TERMINATED) == CURLE_OK ? 0 : TERN_ENOMEM;
}

int tern_http_add_form_file(tern_http_t *h, const char *name, const char *filename,
                            const char *content_type, const void *data, size_t len, bool copy) {
  if (!h || !name || (!data && len))
    return TERN_EINVAL;
  curl_mimepart *p;
  int rc = new_part(h, name, &p);
  if (rc)
    return rc;
  if ((filename && curl_mime_filename(p, filename) != CURLE_OK) ||
      (content_type && curl_mime_type(p, content_type) != CURLE_OK))
    return TERN_ENOMEM;
  if (copy || !len)
    return curl_mime_data(p, data ? data : "", len) == CURLE_OK ? 0 : TERN_ENOMEM;
  struct part_src *s = tern_malloc(sizeof *s);
  if (!s)
    return TERN_ENOMEM;
  *s = (struct part_src){.data = data, .len = len};
  curl_mime_data_cb(p, (curl_off_t)len, part_read, part_seek, part_free, s);
  return 0;
}

static int prepare(struct tern_http *h) {
  CURL *e = h->easy;
  bool upload = h->has_body || h->mime;
  const char *m = h->method ? h->method : upload ? "POST" : "GET";
  if (h->mime)
    curl_easy_setopt(e, CURLOPT_MIMEPOST, h->mime);
  if (!strcmp(m, "GET") && !upload) {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  } else if (!strcmp(m, "HEAD")) {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else {
    if (!upload) {
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
    }
    if (strcmp(m, "POST") && curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m) != CURLE_OK)
      return TERN_ENOMEM;
  }
  if (upload) {
    /* No "Expect: 100-continue" round trip on uploads: voice cannot wait. */
    struct curl_slist *nl = curl_slist_append(h->headers, "Expect:");
    if (!nl)
      return TERN_ENOMEM;
    h->headers = nl;
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, h);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->headers);
  return 0;
}

int tern_http_start(tern_http_t *h) {
  if (!h || h->freed)
    return TERN_EINVAL;
  if (h->state != ST_NEW)
    return TERN_ESTATE;
  if (h->cancelled_early)
    return TERN_ECANCELED;
  tern_loop_t *l = h->loop;
  if (l->closed || !l->multi)
    return TERN_ECLOSED;
  int rc = prepare(h);
  if (rc)
    return rc;
  uv_update_time(&l->uv);
  h->t0_ms = h->phase_ms = h->last_ms = uv_now(&l->uv);
  h->timing.start = tern_loop_now(l);
  h->phase = PH_CONNECT;
  if (l->curl_busy) {
    h->add_pending = true;
    h->state = ST_RUNNING;
    uv_timer_start(&h->timer, on_req_timer, 0, 0);
    return 0;
  }
  h->state = ST_RUNNING;
  if (curl_multi_add_handle(l->multi, h->easy) != CURLM_OK) {
    h->state = ST_NEW;
    return TERN_EIO;
  }
  h->in_multi = true;
  arm(h);
  return 0;
}

void tern_http_cancel(tern_http_t *h) {
  if (!h || h->freed)
    return;
  if (h->state == ST_NEW) {
    h->cancelled_early = true;
    return;
  }
  if (h->state != ST_RUNNING)
    return;
  fail_kind(h, TERN_KIND_CANCELLED, "request cancelled", 0);
  finish_soon(h);
}

void tern_http_free(tern_http_t *h) {
  if (!h || h->freed)
    return;
  h->freed = true;
  if (h->state == ST_RUNNING) {
    fail_kind(h, TERN_KIND_CANCELLED, NULL, 0);
    finish_soon(h);
    return;
  }
  if (h->state == ST_FINISHING || h->in_cb)
    return; /* complete() frees it */
  destroy(h);
}

const char *tern_http_header(tern_http_t *h, const char *name) {
  if (!h || !name || !h->easy || h->state == ST_NEW)
    return NULL;
  struct curl_header *hh;
  if (curl_easy_header(h->easy, name, 0, CURLH_HEADER, -1, &hh) != CURLHE_OK)
    return NULL;
  if (hh->amount > 1 &&
      curl_easy_header(h->easy, name, hh->amount - 1, CURLH_HEADER, -1, &hh) != CURLHE_OK)
    return NULL;
  return hh->value;
}

int tern_http_status(const tern_http_t *h) { return h ? h->status : 0; }

const char *tern_http_error_body(const tern_http_t *h, size_t *len) {
  if (len)
    *len = h && h->errbody ? h->errlen : 0;
  return h ? h->errbody : NULL;
}

void tern_http_timing(const tern_http_t *h, tern_http_timing_t *out) {
  if (h && out)
    *out = h->timing;
}
