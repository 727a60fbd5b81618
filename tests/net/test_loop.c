/* The loop: posts from other threads run on the loop in order, run/stop
 * across threads, timers, the run_until bound, and a clean destroy. */
#include <pthread.h>
#include <string.h>

#include <uv.h>

#include "testutil.h"

#include "tern/error.h"
#include "tern/loop.h"

#define BOUND TERN_SEC(20)

typedef struct {
  tern_loop_t *loop;
  int seen[1000];
  int n;
  pthread_t loop_thread;
  bool wrong_thread;
} posts_t;

typedef struct {
  posts_t *p;
  int v;
} item_t;

static void on_post(tern_loop_t *loop, void *ud) {
  int *v = ud;
  posts_t *p = uv_loop_get_data(tern_loop_uv(loop));
  if (!pthread_equal(pthread_self(), p->loop_thread))
    p->wrong_thread = true;
  p->seen[p->n++] = *v;
}

static int g_values[1000];

static void *poster(void *arg) {
  posts_t *p = arg;
  for (int i = 0; i < 1000; i++)
    if (tern_loop_post(p->loop, on_post, &g_values[i]) != 0)
      p->wrong_thread = true; /* reported by the main thread */
  return NULL;
}

static bool all_seen(void *ud) { return ((posts_t *)ud)->n == 1000; }

static void test_posts_from_another_thread_run_in_order(void **state) {
  (void)state;
  posts_t p = {0};
  for (int i = 0; i < 1000; i++)
    g_values[i] = i;
  assert_int_equal(tern_loop_create(NULL, &p.loop), 0);
  uv_loop_set_data(tern_loop_uv(p.loop), &p);
  p.loop_thread = pthread_self();
  pthread_t t;
  pthread_create(&t, NULL, poster, &p);
  assert_int_equal(tern_loop_run_until(p.loop, all_seen, &p, BOUND), 0);
  pthread_join(t, NULL);
  assert_false(p.wrong_thread);
  for (int i = 0; i < 1000; i++)
    assert_int_equal(p.seen[i], i);
  tern_loop_destroy(p.loop);
}

static void *stopper(void *arg) {
  tern_loop_t *loop = arg;
  static int v = 7;
  tern_loop_post(loop, on_post, &v);
  tern_loop_stop(loop);
  return NULL;
}

static void test_run_until_stop_from_another_thread(void **state) {
  (void)state;
  posts_t p = {0};
  assert_int_equal(tern_loop_create(NULL, &p.loop), 0);
  uv_loop_set_data(tern_loop_uv(p.loop), &p);
  p.loop_thread = pthread_self();
  pthread_t t;
  pthread_create(&t, NULL, stopper, p.loop);
  assert_int_equal(tern_loop_run(p.loop), 0); /* returns once stopped */
  pthread_join(t, NULL);
  assert_int_equal(p.n, 1);
  assert_int_equal(p.seen[0], 7);
  /* A stop asked for before run makes run return at once. */
  tern_loop_stop(p.loop);
  assert_int_equal(tern_loop_run(p.loop), 0);
  tern_loop_destroy(p.loop);
}

typedef struct {
  int fired;
  tern_loop_timer_t *t;
} tick_t;

static void on_tick(tern_loop_timer_t *t, void *ud) {
  tick_t *k = ud;
  assert_ptr_equal(t, k->t);
  if (++k->fired == 3) {
    tern_loop_timer_destroy(t); /* inside its own callback */
    k->t = NULL;
  }
}

static bool three_ticks(void *ud) { return ((tick_t *)ud)->fired == 3; }

static void test_repeating_timer_destroyed_in_callback(void **state) {
  (void)state;
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  tick_t k = {0};
  assert_int_equal(tern_loop_timer_create(loop, on_tick, &k, &k.t), 0);
  assert_false(tern_loop_timer_active(k.t));
  assert_int_equal(tern_loop_timer_start(k.t, TERN_MS(1), TERN_MS(1)), 0);
  assert_true(tern_loop_timer_active(k.t));
  assert_int_equal(tern_loop_timer_start(k.t, -1, 0), TERN_EINVAL);
  assert_int_equal(tern_loop_run_until(loop, three_ticks, &k, BOUND), 0);
  assert_null(k.t);
  tern_loop_destroy(loop);
}

static bool never(void *ud) {
  (void)ud;
  return false;
}

static void test_run_until_bound_and_reentry(void **state) {
  (void)state;
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  /* Nothing else alive on the loop: the bound still wakes it. */
  assert_int_equal(tern_loop_run_until(loop, never, NULL, TERN_MS(20)), TERN_ETIMEDOUT);
  assert_int_equal(tern_loop_run_until(loop, NULL, NULL, TERN_MS(20)), TERN_EINVAL);
  tern_loop_destroy(loop);
}

static void reenter(tern_loop_t *loop, void *ud) {
  int *rc = ud;
  *rc = tern_loop_run_until(loop, never, NULL, TERN_MS(1));
}

static bool set(void *ud) { return *(int *)ud != 1; }

static void test_loop_is_not_reentrant(void **state) {
  (void)state;
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  int rc = 1;
  assert_int_equal(tern_loop_post(loop, reenter, &rc), 0);
  assert_int_equal(tern_loop_run_until(loop, set, &rc, BOUND), 0);
  assert_int_equal(rc, TERN_ESTATE);
  tern_loop_destroy(loop);
}

static int g_ran;
static int g_late_rc;
static void late(tern_loop_t *loop, void *ud) {
  (void)ud;
  g_ran++;
  g_late_rc = tern_loop_post(loop, late, NULL); /* during destroy: refused */
}

static void test_destroy_runs_queued_posts_and_refuses_new(void **state) {
  (void)state;
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  tern_loop_timer_t *forgotten;
  tick_t k = {0};
  assert_int_equal(tern_loop_timer_create(loop, on_tick, &k, &forgotten), 0);
  assert_int_equal(tern_loop_timer_start(forgotten, TERN_SEC(60), 0), 0);
  g_ran = 0;
  assert_int_equal(tern_loop_post(loop, late, NULL), 0);
  tern_loop_destroy(loop); /* also closes the forgotten timer */
  assert_int_equal(g_ran, 1);
  assert_int_equal(g_late_rc, TERN_ECLOSED);
}

static void test_clock(void **state) {
  (void)state;
  tern_fake_clock_t fc;
  tern_fake_clock_init(&fc, TERN_SEC(5));
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create(&fc.clock, &loop), 0);
  assert_ptr_equal(tern_loop_clock(loop), &fc.clock);
  assert_int_equal(tern_loop_now(loop), TERN_SEC(5));
  tern_loop_destroy(loop);
  assert_int_equal(tern_loop_create(NULL, &loop), 0);
  assert_ptr_equal(tern_loop_clock(loop), tern_clock_monotonic());
  tern_loop_destroy(loop);
}

static int sweep_fn(void *ctx) {
  (void)ctx;
  tern_loop_t *loop;
  int rc = tern_loop_create(NULL, &loop);
  if (rc)
    return rc;
  tern_loop_timer_t *t = NULL;
  static int v;
  rc = tern_loop_timer_create(loop, on_tick, NULL, &t);
  if (rc == 0)
    rc = tern_loop_post(loop, on_post, &v) == TERN_ENOMEM ? TERN_ENOMEM : 0;
  posts_t p = {0};
  p.loop_thread = pthread_self();
  uv_loop_set_data(tern_loop_uv(loop), &p);
  tern_loop_timer_destroy(t);
  tern_loop_destroy(loop);
  return rc;
}

static void test_out_of_memory(void **state) {
  (void)state;
  tu_alloc_sweep(sweep_fn, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_posts_from_another_thread_run_in_order),
      cmocka_unit_test(test_run_until_stop_from_another_thread),
      cmocka_unit_test(test_repeating_timer_destroyed_in_callback),
      cmocka_unit_test(test_run_until_bound_and_reentry),
      cmocka_unit_test(test_loop_is_not_reentrant),
      cmocka_unit_test(test_destroy_runs_queued_posts_and_refuses_new),
      cmocka_unit_test(test_clock),
      cmocka_unit_test(test_out_of_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
