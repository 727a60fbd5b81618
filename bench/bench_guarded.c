/* The cost of a guarded LLM call against a bare HTTP request.
 *
 * A tiny HTTP/1.1 server runs on its own thread (its own libuv loop) on
 * 127.0.0.1 and answers every POST with the same canned OpenAI chat stream
 * (N token events, a finish_reason event, [DONE]), one socket write per
 * event, with no delay: every microsecond measured is client overhead plus
 * the same loopback round trip for every variant. No Python, no network.
 *
 * Four clients fetch that stream, interleaved in blocks so that load on
 * the machine hits all of them alike:
 *   curl easy      a reused libcurl easy handle, curl_easy_perform, bytes
 *                  counted and dropped: the floor;
 *   tern_http      tern's HTTP layer on a tern loop (curl multi + libuv),
 *                  one request object per call, bytes dropped;
 *   openai         the OpenAI-compatible provider (request JSON built from
 *                  a chat, SSE parsed, every chunk's JSON decoded, text
 *                  delivered), no guard;
 *   guarded        the fallback runner with a guard (breaker, retry policy,
 *                  budget, first-output and stall watchdogs) around that
 *                  provider: what a session does for every LLM call.
 * Per call: wall latency from start to done (p50 / p99) and CPU time of
 * the client thread (CLOCK_THREAD_CPUTIME_ID; the server's thread is not
 * counted). Usage: bench_guarded [calls-per-variant] [tokens]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <uv.h>

#include "tern/alloc.h"
#include "tern/config.h"
#include "tern/error.h"
#include "tern/events.h"
#include "tern/fallback.h"
#include "tern/guard.h"
#include "tern/http.h"
#include "tern/loop.h"
#include "tern/openai.h"

#define MAX_PIECES 1024
#define BLOCK 50

/* ---- the canned stream -------------------------------------------------- */

static char *g_head;                 /* status line and headers */
static char *g_pieces[MAX_PIECES];   /* one SSE event each */
static size_t g_npieces, g_body_len; /* body = all pieces */
static size_t g_reply_len;           /* characters of assistant text */

static char *xstrdup(const char *s) {
  char *d = tern_strdup(s);
  if (!d) {
    fprintf(stderr, "bench_guarded: out of memory\n");
    exit(1);
  }
  return d;
}

static void make_stream(size_t tokens) {
  static const char *const words[] = {" Sure", ",",      " the", " weather", " in",    " Paris",
                                      " is",   " sunny", " and", " mild",    " today", "."};
  char buf[512];
  for (size_t i = 0; i < tokens && g_npieces < MAX_PIECES - 2; i++) {
    const char *w = words[i % (sizeof words / sizeof words[0])];
    snprintf(buf, sizeof buf,
             "data: {\"id\":\"chatcmpl-AbC123xYz456\",\"object\":\"chat.completion.chunk\","
             "\"created\":1732240000,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,"
             "\"delta\":{\"content\":\"%s\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
             w);
    g_pieces[g_npieces++] = xstrdup(buf);
    g_reply_len += strlen(w);
  }
  g_pieces[g_npieces++] =
      xstrdup("data: {\"id\":\"chatcmpl-AbC123xYz456\",\"object\":\"chat.completion.chunk\","
              "\"created\":1732240000,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,"
              "\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n");
  g_pieces[g_npieces++] = xstrdup("data: [DONE]\n\n");
  for (size_t i = 0; i < g_npieces; i++)
    g_body_len += strlen(g_pieces[i]);
  snprintf(buf, sizeof buf,
           "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
           "Content-Length: %zu\r\n\r\n",
           g_body_len);
  g_head = xstrdup(buf);
}

/* ---- the server thread -------------------------------------------------- */

typedef struct conn {
  uv_tcp_t tcp;
  char *buf;
  size_t len, cap;
  int queued;     /* writes still queued: later pieces must queue behind them */
  bool continued; /* "100 Continue" sent for the request being read */
} conn_t;

static uv_loop_t g_sloop;
static uv_tcp_t g_listener;
static uv_async_t g_stop;
static atomic_int g_port;

static void on_conn_closed(uv_handle_t *h) {
  conn_t *c = h->data;
  tern_free(c->buf);
  tern_free(c);
}

static void on_write(uv_write_t *w, int status) {
  conn_t *c = w->data;
  (void)status;
  c->queued--;
  tern_free(w);
}

/* Sends static bytes: straight to the socket while nothing is queued
 * (one send per piece, so the client gets the stream in pieces), the rest
 * queued in order. */
static void send_static(conn_t *c, const char *data, size_t len) {
  if (!c->queued) {
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == (int)len)
      return;
    if (n > 0)
      data += n, len -= (size_t)n;
  }
  uv_write_t *w = tern_malloc(sizeof *w);
  if (!w)
    return;
  w->data = c;
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  if (uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, on_write) == 0)
    c->queued++;
  else
    tern_free(w);
}

static const char *find_header(const char *head, size_t hlen, const char *name) {
  size_t nl = strlen(name);
  for (const char *p = head; p + nl < head + hlen; p++)
    if ((p == head || p[-1] == '\n') && strncasecmp(p, name, nl) == 0 && p[nl] == ':')
      return p + nl + 1;
  return NULL;
}

static void serve(conn_t *c) {
  for (;;) {
    char *end = c->len >= 4 ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
    if (!end)
      return;
    size_t hlen = (size_t)(end - c->buf) + 4;
    const char *cl = find_header(c->buf, hlen, "content-length");
    size_t blen = cl ? (size_t)strtoul(cl, NULL, 10) : 0;
    const char *ex = find_header(c->buf, hlen, "expect");
    if (ex && !c->continued && c->len < hlen + blen) {
      /* curl waits a second for "100 Continue" before sending a body. */
      static const char k100[] = "HTTP/1.1 100 Continue\r\n\r\n";
      send_static(c, k100, sizeof k100 - 1);
      c->continued = true;
    }
    if (c->len < hlen + blen)
      return;
    c->continued = false;
    send_static(c, g_head, strlen(g_head));
    for (size_t i = 0; i < g_npieces; i++)
      send_static(c, g_pieces[i], strlen(g_pieces[i]));
    memmove(c->buf, c->buf + hlen + blen, c->len - hlen - blen);
    c->len -= hlen + blen;
  }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  conn_t *c = h->data;
  (void)hint;
  if (c->cap - c->len < 16384) {
    size_t cap = c->cap ? c->cap * 2 : 65536;
    char *nb = tern_realloc(c->buf, cap);
    if (!nb) {
      *b = uv_buf_init(NULL, 0);
      return;
    }
    c->buf = nb, c->cap = cap;
  }
  *b = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  conn_t *c = s->data;
  (void)b;
  if (n < 0) {
    uv_close((uv_handle_t *)s, on_conn_closed);
    return;
  }
  c->len += (size_t)n;
  serve(c);
}

static void on_connection(uv_stream_t *srv, int status) {
  if (status < 0)
    return;
  conn_t *c = tern_calloc(1, sizeof *c);
  if (!c)
    return;
  uv_tcp_init(&g_sloop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(srv, (uv_stream_t *)&c->tcp) == 0) {
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  } else {
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
  }
}

static void close_any(uv_handle_t *h, void *ud) {
  (void)ud;
  if (!uv_is_closing(h))
    uv_close(h, h->type == UV_TCP && h != (uv_handle_t *)&g_listener ? on_conn_closed : NULL);
}

static void on_stop(uv_async_t *a) { uv_walk(a->loop, close_any, NULL); }

static void *server_main(void *arg) {
  (void)arg;
  struct sockaddr_in addr;
  uv_loop_init(&g_sloop);
  uv_async_init(&g_sloop, &g_stop, on_stop);
  uv_tcp_init(&g_sloop, &g_listener);
  uv_ip4_addr("127.0.0.1", 0, &addr);
  if (uv_tcp_bind(&g_listener, (const struct sockaddr *)&addr, 0) ||
      uv_listen((uv_stream_t *)&g_listener, 64, on_connection)) {
    atomic_store(&g_port, -1);
    return NULL;
  }
  struct sockaddr_in got;
  int len = sizeof got;
  uv_tcp_getsockname(&g_listener, (struct sockaddr *)&got, &len);
  atomic_store(&g_port, ntohs(got.sin_port));
  uv_run(&g_sloop, UV_RUN_DEFAULT);
  uv_loop_close(&g_sloop);
  return NULL;
}

/* ---- measurement -------------------------------------------------------- */

static double mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static double cpu_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

typedef struct variant {
  const char *name;
  double *lat, *cpu;
  size_t n;
} variant_t;

static void record(variant_t *v, double t0, double c0) {
  v->lat[v->n] = mono_us() - t0;
  v->cpu[v->n] = cpu_us() - c0;
  v->n++;
}

static void fail(const char *what) {
  fprintf(stderr, "bench_guarded: %s\n", what);
  exit(1);
}

/* ---- client 1: curl easy ------------------------------------------------ */

static char g_url[128];
static const char k_body[] =
    "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"messages\":[{\"role\":\"system\",\"content\":"
    "\"You are a helpful voice agent. Answer in one short sentence.\"},{\"role\":\"user\","
    "\"content\":\"What is the weather in Paris today?\"}]}";

static size_t easy_write(char *p, size_t sz, size_t n, void *ud) {
  (void)p;
  *(size_t *)ud += sz * n;
  return sz * n;
}

static void call_easy(CURL *e) {
  size_t got = 0;
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &got);
  if (curl_easy_perform(e) != CURLE_OK || got != g_body_len)
    fail("curl easy call failed");
}

/* ---- client 2: tern_http ------------------------------------------------ */

typedef struct {
  size_t bytes;
  bool done, ok;
} http_res_t;

static void h_data(tern_http_t *h, const char *d, size_t len, void *ud) {
  (void)h, (void)d;
  ((http_res_t *)ud)->bytes += len;
}

static void h_done(tern_http_t *h, const tern_error_t *err, void *ud) {
  (void)h;
  http_res_t *r = ud;
  r->done = true;
  r->ok = err == NULL;
}

static bool flag_set(void *ud) { return *(bool *)ud; }

/* tern_loop_run_until checks its condition only between libuv iterations,
 * and an iteration whose timers phase completes the call still blocks in
 * poll until the next timer (the run_until bound itself): about one call
 * in a thousand waited the full bound. A prepare handle (it runs just
 * before poll) stops the iteration once the call is done, so that wait
 * never enters the measurement. Reported to the net layer's owner. */
static uv_prepare_t g_prep;
static bool *g_watch;

static void on_prepare(uv_prepare_t *p) {
  if (g_watch && *g_watch)
    uv_stop(p->loop);
}

static void run_until_set(tern_loop_t *loop, bool *flag) {
  g_watch = flag;
  tern_loop_run_until(loop, flag_set, flag, TERN_SEC(10));
  g_watch = NULL;
}

static void call_http(tern_loop_t *loop) {
  http_res_t r = {0};
  tern_http_opts_t o = {.url = g_url,
                        .component = TERN_COMP_LLM,
                        .provider = "bench",
                        .on_data = h_data,
                        .on_done = h_done,
                        .ud = &r};
  tern_http_t *h;
  if (tern_http_create(loop, &o, &h) ||
      tern_http_add_header(h, "Content-Type", "application/json") ||
      tern_http_add_header(h, "Accept", "text/event-stream") ||
      tern_http_set_body(h, k_body, sizeof k_body - 1, false) || tern_http_start(h))
    fail("tern_http setup failed");
  run_until_set(loop, &r.done);
  tern_http_free(h);
  if (!r.ok || r.bytes != g_body_len)
    fail("tern_http call failed");
}

/* ---- clients 3 and 4: provider, bare and guarded ------------------------ */

typedef struct {
  size_t text;
  bool done, ok;
} llm_res_t;

static void l_text(void *ud, const char *t, size_t len) {
  (void)t;
  ((llm_res_t *)ud)->text += len;
}

static void l_done(void *ud, const tern_error_t *err) {
  llm_res_t *r = ud;
  r->done = true;
  r->ok = err == NULL;
  if (err)
    fprintf(stderr, "bench_guarded: llm error: %s\n", err->message);
}

static void call_llm(tern_loop_t *loop, tern_provider_t *p, tern_fallback_t *f,
                     const tern_chat_t *chat) {
  llm_res_t r = {0};
  tern_llm_request_t req = {.chat = chat, .temperature = -1};
  tern_llm_sink_t sink = {.on_text = l_text, .on_done = l_done, .ud = &r};
  tern_op_t *op;
  int rc = f ? tern_fallback_llm(f, &req, &sink, &op) : p->vt->llm_start(p, loop, &req, &sink, &op);
  if (rc)
    fail("llm start failed");
  run_until_set(loop, &r.done);
  if (!r.ok || r.text != g_reply_len)
    fail("llm call failed or text incomplete");
}

/* ---- report ------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double pct(double *v, size_t n, double p) {
  size_t i = (size_t)(p * (double)(n - 1) + 0.5);
  return v[i];
}

static double mean(const double *v, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++)
    s += v[i];
  return s / (double)n;
}

int main(int argc, char **argv) {
  size_t calls = argc > 1 ? (size_t)atol(argv[1]) : 1000;
  size_t tokens = argc > 2 ? (size_t)atol(argv[2]) : 40;
  if (calls < BLOCK)
    calls = BLOCK;
  calls -= calls % BLOCK;
  make_stream(tokens);

  pthread_t srv;
  if (pthread_create(&srv, NULL, server_main, NULL))
    fail("cannot start the server thread");
  while (atomic_load(&g_port) == 0)
    sched_yield();
  if (atomic_load(&g_port) < 0)
    fail("cannot listen on 127.0.0.1");
  int port = atomic_load(&g_port);
  snprintf(g_url, sizeof g_url, "http://127.0.0.1:%d/v1/chat/completions", port);

  /* client 1 */
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL *easy = curl_easy_init();
  struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
  hdrs = curl_slist_append(hdrs, "Accept: text/event-stream");
  curl_easy_setopt(easy, CURLOPT_URL, g_url);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, k_body);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, easy_write);
  curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);

  /* clients 2-4 share one real-time loop */
  tern_loop_t *loop;
  tern_config_t *conf;
  tern_provider_t *prov;
  tern_guard_t *guard;
  tern_fallback_t *fb;
  tern_events_t *ev;
  tern_chat_t *chat;
  char ini[256], err[256] = "";
  snprintf(ini, sizeof ini, "[llm.bench]\nbase_url = http://127.0.0.1:%d/v1\n", port);
  tern_guard_config_t gc;
  tern_guard_config_default(TERN_COMP_LLM, &gc);
  tern_fallback_config_t fc;
  tern_fallback_config_default(&fc);
  fc.probes = false;
  if (tern_loop_create(NULL, &loop) || tern_config_new(&conf) ||
      tern_config_load_string(conf, ini, strlen(ini), "bench", err, sizeof err) ||
      tern_openai_provider_create(TERN_COMP_LLM, "bench", conf, &prov, err, sizeof err) ||
      tern_guard_create(TERN_COMP_LLM, "bench", &gc, &guard) || tern_events_create("bench", &ev))
    fail(err[0] ? err : "setup failed");
  uv_prepare_init(tern_loop_uv(loop), &g_prep);
  uv_prepare_start(&g_prep, on_prepare);
  uv_unref((uv_handle_t *)&g_prep);
  tern_fallback_link_t link = {prov, guard};
  if (tern_fallback_create(loop, TERN_COMP_LLM, &link, 1, &fc, ev, 1, &fb) ||
      tern_chat_create(&chat) ||
      tern_chat_set_system(chat, "You are a helpful voice agent. Answer in one short sentence.") ||
      tern_chat_add(chat, TERN_ROLE_USER, "What is the weather in Paris today?"))
    fail("setup failed");

  variant_t v[4] = {{.name = "curl easy (floor)"},
                    {.name = "tern_http on loop"},
                    {.name = "openai provider"},
                    {.name = "guarded (fallback+guard)"}};
  for (int k = 0; k < 4; k++) {
    v[k].lat = tern_calloc(calls, sizeof(double));
    v[k].cpu = tern_calloc(calls, sizeof(double));
    if (!v[k].lat || !v[k].cpu)
      fail("out of memory");
  }
  /* warm up: connections open, caches hot */
  for (int i = 0; i < 20; i++) {
    call_easy(easy);
    call_http(loop);
    call_llm(loop, prov, NULL, chat);
    call_llm(loop, prov, fb, chat);
  }
  for (size_t done = 0; done < calls; done += BLOCK) {
    for (int k = 0; k < 4; k++) {
      for (int i = 0; i < BLOCK; i++) {
        double t0 = mono_us(), c0 = cpu_us();
        switch (k) {
        case 0:
          call_easy(easy);
          break;
        case 1:
          call_http(loop);
          break;
        case 2:
          call_llm(loop, prov, NULL, chat);
          break;
        default:
          call_llm(loop, prov, fb, chat);
          break;
        }
        record(&v[k], t0, c0);
      }
    }
  }

  printf("# one streamed chat completion from a local server: %zu token events + finish + "
         "[DONE], %zu body bytes; %zu calls per client, interleaved in blocks of %d\n",
         tokens, g_body_len, calls, BLOCK);
  printf("%-26s %9s %9s %9s %11s %11s %9s\n", "client", "p50 us", "p99 us", "mean us", "cpu p50 us",
         "cpu mean us", "cpu vs floor");
  double base_cpu = 0, base_p50 = 0;
  for (int k = 0; k < 4; k++) {
    double mlat = mean(v[k].lat, v[k].n), mcpu = mean(v[k].cpu, v[k].n);
    qsort(v[k].lat, v[k].n, sizeof(double), cmp_double);
    qsort(v[k].cpu, v[k].n, sizeof(double), cmp_double);
    double p50 = pct(v[k].lat, v[k].n, 0.5), p99 = pct(v[k].lat, v[k].n, 0.99);
    double c50 = pct(v[k].cpu, v[k].n, 0.5);
    if (k == 0)
      base_cpu = mcpu, base_p50 = p50;
    printf("%-26s %9.1f %9.1f %9.1f %11.1f %11.1f %8.2fx\n", v[k].name, p50, p99, mlat, c50, mcpu,
           mcpu / base_cpu);
  }
  double g50 = pct(v[3].lat, v[3].n, 0.5), gcpu = mean(v[3].cpu, v[3].n);
  double o50 = pct(v[2].lat, v[2].n, 0.5), ocpu = mean(v[2].cpu, v[2].n);
  printf("guarded - floor: %+.1f us latency (p50), %+.1f us CPU per call (mean); "
         "latency ratio %.2fx\n",
         g50 - base_p50, gcpu - base_cpu, g50 / base_p50);
  printf("guard + fallback runner alone (guarded - openai provider): %+.1f us p50, %+.1f us "
         "CPU\n",
         g50 - o50, gcpu - ocpu);

  for (int k = 0; k < 4; k++) {
    tern_free(v[k].lat);
    tern_free(v[k].cpu);
  }
  tern_chat_destroy(chat);
  tern_fallback_destroy(fb);
  tern_guard_destroy(guard);
  tern_provider_destroy(prov);
  tern_events_destroy(ev);
  tern_config_free(conf);
  uv_close((uv_handle_t *)&g_prep, NULL);
  tern_loop_destroy(loop);
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(easy);
  uv_async_send(&g_stop);
  pthread_join(srv, NULL);
  for (size_t i = 0; i < g_npieces; i++)
    tern_free(g_pieces[i]);
  tern_free(g_head);
  return 0;
}
