/* Virtual-time loops: timers fire in due order with the clock set to their
 * due time, and real work on the thread pool holds virtual time still. */
#include "testutil.h"

#include <uv.h>

#include "tern/error.h"
#include "tern/loop.h"

typedef struct {
  tern_fake_clock_t *clock;
  tern_usec_t fired_at[8];
  int order[8];
  int n;
  bool work_done;
  tern_usec_t work_seen_at;
} rec_t;

typedef struct {
  rec_t *r;
  int id;
} tctx_t;

static void on_t(tern_loop_timer_t *t, void *ud) {
  (void)t;
  tctx_t *c = ud;
  c->r->order[c->r->n] = c->id;
  c->r->fired_at[c->r->n++] = c->r->clock->t;
}

static bool five(void *ud) { return ((rec_t *)ud)->n >= 5; }

static void test_timers_fire_in_due_order_at_their_time(void **state) {
  (void)state;
  tern_fake_clock_t fc;
  tern_fake_clock_init(&fc, 0);
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create_virtual(&fc, &loop), 0);
  assert_true(tern_loop_is_virtual(loop));
  rec_t r = {.clock = &fc};
  tctx_t c[4] = {{&r, 0}, {&r, 1}, {&r, 2}, {&r, 3}};
  tern_loop_timer_t *t[4];
  for (int i = 0; i < 4; i++)
    assert_int_equal(tern_loop_timer_create(loop, on_t, &c[i], &t[i]), 0);
  tern_loop_timer_start(t[0], TERN_SEC(30), 0);
  tern_loop_timer_start(t[1], TERN_MS(20), TERN_MS(20)); /* repeating */
  tern_loop_timer_start(t[2], TERN_MS(40), 0);           /* due with t1.s second firing */
  tern_loop_timer_start(t[3], TERN_SEC(60), 0);
  tern_loop_timer_stop(t[3]);
  assert_int_equal(tern_loop_run_until(loop, five, &r, TERN_SEC(100)), 0);
  int want_order[] = {1, 2, 1, 1, 1}; /* t2 was started before t1 re-armed: it goes first, as in libuv */
  tern_usec_t want_at[] = {TERN_MS(20), TERN_MS(40), TERN_MS(40), TERN_MS(60), TERN_MS(80)};
  for (int i = 0; i < 5; i++) {
    assert_int_equal(r.order[i], want_order[i]);
    assert_int_equal(r.fired_at[i], want_at[i]);
  }
  tern_loop_timer_stop(t[1]);
  /* Nothing left but t0 at 30 s; the bound of 10 s comes first. */
  assert_int_equal(tern_loop_run_until(loop, five, &r, TERN_SEC(10)), 0); /* already done */
  r.n = 0;
  assert_int_equal(tern_loop_run_until(loop, five, &r, TERN_SEC(10)), TERN_ETIMEDOUT);
  assert_int_equal(fc.t, TERN_MS(80) + TERN_SEC(10));
  assert_int_equal(r.n, 0);
  for (int i = 0; i < 4; i++)
    tern_loop_timer_destroy(t[i]);
  tern_loop_destroy(loop);
}

static void work_cb(uv_work_t *w) {
  /* Real time passes here; virtual time must not. */
  volatile unsigned long x = 0;
  for (unsigned long i = 0; i < 20000000UL; i++)
    x += i;
  (void)w;
}

static void after_cb(uv_work_t *w, int status) {
  (void)status;
  rec_t *r = w->data;
  r->work_done = true;
  r->work_seen_at = r->clock->t;
}

static bool work_done(void *ud) { return ((rec_t *)ud)->work_done; }

static void test_real_work_takes_no_virtual_time(void **state) {
  (void)state;
  tern_fake_clock_t fc;
  tern_fake_clock_init(&fc, TERN_SEC(5));
  tern_loop_t *loop;
  assert_int_equal(tern_loop_create_virtual(&fc, &loop), 0);
  rec_t r = {.clock = &fc};
  tctx_t c = {&r, 9};
  tern_loop_timer_t *t;
  assert_int_equal(tern_loop_timer_create(loop, on_t, &c, &t), 0);
  tern_loop_timer_start(t, TERN_MS(1), 0); /* would fire at once if time moved */
  uv_work_t w = {.data = &r};
  assert_int_equal(uv_queue_work(tern_loop_uv(loop), &w, work_cb, after_cb), 0);
  assert_int_equal(tern_loop_run_until(loop, work_done, &r, TERN_SEC(1)), 0);
  assert_int_equal(r.work_seen_at, TERN_SEC(5)); /* the work took no virtual time */
  assert_int_equal(r.n, 0);                      /* and the timer did not fire early */
  tern_loop_timer_destroy(t);
  tern_loop_destroy(loop);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_timers_fire_in_due_order_at_their_time),
      cmocka_unit_test(test_real_work_takes_no_virtual_time),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
