/* One libuv loop per worker thread, with its curl multi handle and its
 * (lazily made) libwebsockets context.
 *
 * Invariants: every handle the loop owns is closed before the loop memory
 * is freed, and destroy runs the loop until all close callbacks have fired
 * (valgrind-clean teardown, as libuv's own tests do). The post queue is the
 * only state touched from other threads; it is guarded by `mu` and woken
 * through one uv_async_t, which coalesces wake-ups, so the callback drains
 * the whole queue each time.
 */
#include "net_internal.h"

#include <stdint.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/error.h"

struct tern__post {
  tern_loop_fn fn;
  void *ud;
  struct tern__post *next;
};

struct tern_loop_timer {
  uv_timer_t uv;
  tern_loop_t *loop;
  tern_loop_timer_fn fn;
  void *ud;
  struct tern_loop_timer *next, *prev;
  /* virtual time only */
  bool vactive;
  tern_usec_t due, repeat;
  uint64_t seq;
};

static struct tern__post *take_posts(tern_loop_t *l) {
  pthread_mutex_lock(&l->mu);
  struct tern__post *p = l->post_head;
  l->post_head = l->post_tail = NULL;
  pthread_mutex_unlock(&l->mu);
  return p;
}

static void run_posts(tern_loop_t *l) {
  /* Posts made by a posted function land in a fresh list and wake the
   * async again, so one batch never runs forever. */
  struct tern__post *p = take_posts(l);
  while (p) {
    struct tern__post *next = p->next;
    tern_loop_fn fn = p->fn;
    void *ud = p->ud;
    tern_free(p);
    fn(l, ud);
    p = next;
  }
}

static void on_async(uv_async_t *a) {
  tern_loop_t *l = a->data;
  /* Read the flag first: whatever was posted before the stop is then
   * already in the queue we drain. */
  bool stop = atomic_load(&l->stop);
  run_posts(l);
  if (stop)
    uv_stop(&l->uv);
}

static void on_guard(uv_timer_t *t) { (void)t; /* only wakes uv_run up */ }

static void on_until(uv_prepare_t *p) {
  tern_loop_t *l = p->data;
  if (l->until_done && l->until_done(l->until_ud))
    uv_stop(&l->uv); /* the poll that follows does not block */
}

int tern_loop_create(tern_clock_t *clock, tern_loop_t **out) {
  if (!out)
    return TERN_EINVAL;
  *out = NULL;
  tern_loop_t *l = tern_calloc(1, sizeof *l);
  if (!l)
    return TERN_ENOMEM;
  l->clock = clock ? clock : tern_clock_monotonic();
  atomic_init(&l->stop, false);
  if (uv_loop_init(&l->uv) != 0) {
    tern_free(l);
    return TERN_EIO;
  }
  if (pthread_mutex_init(&l->mu, NULL) != 0) {
    uv_loop_close(&l->uv);
    tern_free(l);
    return TERN_EIO;
  }
  /* These three cannot fail on Linux once the loop exists. */
  uv_async_init(&l->uv, &l->async, on_async);
  l->async.data = l;
  uv_timer_init(&l->uv, &l->guard);
  l->guard.data = l;
  uv_unref((uv_handle_t *)&l->guard);
  uv_prepare_init(&l->uv, &l->until);
  l->until.data = l;
  uv_unref((uv_handle_t *)&l->until);
  int rc = tern__http_loop_init(l);
  if (rc != 0) {
    tern_loop_destroy(l);
    return rc;
  }
  *out = l;
  return 0;
}

int tern_loop_create_virtual(tern_fake_clock_t *clock, tern_loop_t **out) {
  if (!clock)
    return TERN_EINVAL;
  int rc = tern_loop_create(&clock->clock, out);
  if (rc == 0)
    (*out)->virt = clock;
  return rc;
}

bool tern_loop_is_virtual(const tern_loop_t *l) { return l->virt != NULL; }

static void timer_free_cb(uv_handle_t *h) { tern_free(h->data); }

static void close_stray(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

void tern_loop_destroy(tern_loop_t *l) {
  if (!l)
    return;
  pthread_mutex_lock(&l->mu);
  l->closed = true;
  pthread_mutex_unlock(&l->mu);
  run_posts(l);

  tern__http_loop_close(l);
  tern__ws_loop_close(l);

  while (l->timers) {
    struct tern_loop_timer *t = l->timers;
    l->timers = t->next;
    uv_timer_stop(&t->uv);
    uv_close((uv_handle_t *)&t->uv, timer_free_cb);
  }
  uv_close((uv_handle_t *)&l->guard, NULL);
  uv_close((uv_handle_t *)&l->until, NULL);
  uv_close((uv_handle_t *)&l->async, NULL);

  /* lws and curl finish their closes through the loop. Anything still
   * open after that belongs to an embedder who forgot it: close it rather
   * than leak the loop. */
  uv_run(&l->uv, UV_RUN_DEFAULT);
  tern__ws_loop_finish(l);
  if (uv_loop_close(&l->uv) == UV_EBUSY) {
    uv_walk(&l->uv, close_stray, NULL);
    uv_run(&l->uv, UV_RUN_DEFAULT);
    uv_loop_close(&l->uv);
  }
  pthread_mutex_destroy(&l->mu);
  tern_free(l);
}

struct uv_loop_s *tern_loop_uv(tern_loop_t *l) {
  return &l->uv;
}
tern_clock_t *tern_loop_clock(tern_loop_t *l) { return l->clock; }
tern_usec_t tern_loop_now(tern_loop_t *l) { return tern_clock_now(l->clock); }

int tern_loop_run(tern_loop_t *l) {
  if (l->running)
    return TERN_ESTATE;
  l->running = true;
  while (!atomic_exchange(&l->stop, false))
    uv_run(&l->uv, UV_RUN_DEFAULT);
  run_posts(l); /* posts made before the stop, when it came before the run */
  l->running = false;
  return 0;
}

void tern_loop_stop(tern_loop_t *l) {
  atomic_store(&l->stop, true);
  uv_async_send(&l->async);
}

int tern_loop_run_once(tern_loop_t *l, bool wait) {
  if (l->running)
    return TERN_ESTATE;
  l->running = true;
  uv_run(&l->uv, wait ? UV_RUN_ONCE : UV_RUN_NOWAIT);
  l->running = false;
  return 0;
}

/* Real work in flight that virtual time must wait for. */
static bool virt_busy(tern_loop_t *l) { return l->uv.active_reqs.count > 0 || l->reqs != NULL; }

static struct tern_loop_timer *virt_next(tern_loop_t *l) {
  struct tern_loop_timer *best = NULL;
  for (struct tern_loop_timer *t = l->timers; t; t = t->next)
    if (t->vactive && (!best || t->due < best->due || (t->due == best->due && t->seq < best->seq)))
      best = t;
  return best;
}

static int virt_run_until(tern_loop_t *l, bool (*done)(void *ud), void *ud, tern_usec_t max_wait) {
  tern_usec_t limit = l->virt->t + max_wait;
  for (;;) {
    uv_run(&l->uv, UV_RUN_NOWAIT);
    if (done(ud))
      return 0;
    if (virt_busy(l)) {
      uv_run(&l->uv, UV_RUN_ONCE); /* block until the real work moves */
      continue;
    }
    struct tern_loop_timer *t = virt_next(l);
    if (!t || t->due > limit) {
      tern_fake_clock_set(l->virt, limit);
      return TERN_ETIMEDOUT;
    }
    if (t->due > l->virt->t)
      tern_fake_clock_set(l->virt, t->due);
    if (t->repeat > 0) {
      t->due += t->repeat;
      t->seq = ++l->vseq;
    } else {
      t->vactive = false;
    }
    t->fn(t, t->ud);
  }
}

int tern_loop_run_until(tern_loop_t *l, bool (*done)(void *ud), void *ud, tern_usec_t max_wait) {
  if (!done || max_wait < 0)
    return TERN_EINVAL;
  if (l->running)
    return TERN_ESTATE;
  if (l->virt) {
    l->running = true;
    int rc = virt_run_until(l, done, ud, max_wait);
    l->running = false;
    return rc;
  }
  l->running = true;
  uv_update_time(&l->uv);
  uint64_t ms = tern__usec_to_ms(max_wait);
  uint64_t deadline = uv_now(&l->uv) + ms;
  /* The guard is ref'd only while we wait, so that a loop with nothing
   * else alive still wakes up at the bound instead of returning at once. */
  uv_ref((uv_handle_t *)&l->guard);
  uv_timer_start(&l->guard, on_guard, ms, 0);
  l->until_done = done;
  l->until_ud = ud;
  uv_prepare_start(&l->until, on_until);
  int rc = 0;
  while (!done(ud)) {
    uv_update_time(&l->uv);
    if (uv_now(&l->uv) >= deadline) {
      rc = TERN_ETIMEDOUT;
      break;
    }
    uv_run(&l->uv, UV_RUN_ONCE);
  }
  uv_prepare_stop(&l->until);
  l->until_done = NULL;
  uv_timer_stop(&l->guard);
  uv_unref((uv_handle_t *)&l->guard);
  l->running = false;
  return rc;
}

int tern_loop_post(tern_loop_t *l, tern_loop_fn fn, void *ud) {
  if (!l || !fn)
    return TERN_EINVAL;
  struct tern__post *p = tern_malloc(sizeof *p);
  if (!p)
    return TERN_ENOMEM;
  p->fn = fn;
  p->ud = ud;
  p->next = NULL;
  pthread_mutex_lock(&l->mu);
  if (l->closed) {
    pthread_mutex_unlock(&l->mu);
    tern_free(p);
    return TERN_ECLOSED;
  }
  if (l->post_tail)
    l->post_tail->next = p;
  else
    l->post_head = p;
  l->post_tail = p;
  /* Sent under the lock so destroy cannot close the handle in between. */
  uv_async_send(&l->async);
  pthread_mutex_unlock(&l->mu);
  return 0;
}

static void on_timer(uv_timer_t *h) {
  struct tern_loop_timer *t = h->data;
  t->fn(t, t->ud);
}

int tern_loop_timer_create(tern_loop_t *l, tern_loop_timer_fn fn, void *ud,
                           tern_loop_timer_t **out) {
  if (!l || !fn || !out)
    return TERN_EINVAL;
  *out = NULL;
  struct tern_loop_timer *t = tern_calloc(1, sizeof *t);
  if (!t)
    return TERN_ENOMEM;
  uv_timer_init(&l->uv, &t->uv);
  t->uv.data = t;
  t->loop = l;
  t->fn = fn;
  t->ud = ud;
  t->next = l->timers;
  if (l->timers)
    l->timers->prev = t;
  l->timers = t;
  *out = t;
  return 0;
}

int tern_loop_timer_start(tern_loop_timer_t *t, tern_usec_t delay, tern_usec_t repeat) {
  if (!t || delay < 0 || repeat < 0)
    return TERN_EINVAL;
  if (t->loop->virt) {
    t->vactive = true;
    t->due = t->loop->virt->t + delay;
    t->repeat = repeat;
    t->seq = ++t->loop->vseq;
    return 0;
  }
  uv_timer_start(&t->uv, on_timer, tern__usec_to_ms(delay), tern__usec_to_ms(repeat));
  return 0;
}

void tern_loop_timer_stop(tern_loop_timer_t *t) {
  if (t) {
    t->vactive = false;
    uv_timer_stop(&t->uv);
  }
}

bool tern_loop_timer_active(const tern_loop_timer_t *t) {
  return t && (t->vactive || uv_is_active((const uv_handle_t *)&t->uv));
}

void tern_loop_timer_destroy(tern_loop_timer_t *t) {
  if (!t)
    return;
  tern_loop_t *l = t->loop;
  if (t->prev)
    t->prev->next = t->next;
  else
    l->timers = t->next;
  if (t->next)
    t->next->prev = t->prev;
  uv_timer_stop(&t->uv);
  uv_close((uv_handle_t *)&t->uv, timer_free_cb);
}
