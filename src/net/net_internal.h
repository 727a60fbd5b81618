/* What the net layer's files share about a loop. Not a public header: only
 * the net layer sources include it. */
#ifndef TERN_NET_INTERNAL_H
#define TERN_NET_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <curl/curl.h>
#include <uv.h>

#include "tern/loop.h"

struct lws_context;
struct tern__post;
struct tern__sock;
struct tern_http;
struct tern_ws;

struct tern_loop {
  uv_loop_t uv;
  tern_clock_t *clock;
  bool running; /* inside uv_run: libuv loops are not re-entrant */

  /* Cross-thread post queue; `closed` refuses posts once destroy began. */
  uv_async_t async;
  pthread_mutex_t mu;
  struct tern__post *post_head, *post_tail;
  bool closed;
  atomic_bool stop;

  uv_timer_t guard; /* wakes tern_loop_run_until at its bound */
  /* Checked before each poll, so run_until returns as soon as its
   * condition holds instead of blocking until the next event. */
  uv_prepare_t until;
  bool (*until_done)(void *ud);
  void *until_ud;
  struct tern_loop_timer *timers;

  /* Virtual time (tern_loop_create_virtual): timers are due on the fake
   * clock and fire in order as the run functions advance it; real work
   * (thread-pool jobs, HTTP requests) holds virtual time still until it
   * completes, so it takes no virtual time at all. */
  tern_fake_clock_t *virt;
  uint64_t vseq; /* start order, to fire timers due at the same time in order */

  /* HTTP (http.c). */
  CURLM *multi;
  uv_timer_t curl_timer;
  int curl_busy; /* > 0 while a curl_multi call is on the stack */
  struct tern__sock *socks;
  struct tern_http *reqs;

  /* WebSocket (ws.c), created on first use. */
  struct lws_context *lws;
  struct lws_context *lws_dying; /* between the two phases of its destroy */
  struct tern_ws *wss;
};

/* http.c */
int tern__http_loop_init(tern_loop_t *loop);
/* Tear down every request and socket; no user callbacks. */
void tern__http_loop_close(tern_loop_t *loop);

/* ws.c */
/* Tear down every connection and start destroying the lws context; the
 * caller then runs the loop so lws can finish its handle closes, and calls
 * tern__ws_loop_finish once no handle is left. */
void tern__ws_loop_close(tern_loop_t *loop);
void tern__ws_loop_finish(tern_loop_t *loop);

/* microseconds -> libuv milliseconds, rounded up, never negative. */
static inline uint64_t tern__usec_to_ms(tern_usec_t us) {
  if (us <= 0)
    return 0;
  return (uint64_t)((us + 999) / 1000);
}

#endif
