/* Bulkhead: admission up to the limit, a bounded FIFO queue, rejection
 * beyond it, hand-over on leave, cancel, expiry, ring wrap-around against a
 * model, threads, config validation and allocation failure. */
#include "testutil.h"

#include <pthread.h>
#include <string.h>

#include "tern/bulkhead.h"
#include "tern/error.h"

enum op { END = 0, ENTER, LEAVE, CANCEL, EXPIRE, COUNTS };

/* ENTER: rc and the ticket it must hand out. LEAVE: rc and the ticket it
 * must admit (0: none). CANCEL: ticket and rc. EXPIRE: at t_ms with max_ms,
 * the tickets expected in order. COUNTS: active and queued. */
typedef struct step {
  enum op op;
  int64_t t_ms;
  int rc;
  uint64_t ticket;
  int64_t max_ms;
  uint64_t expired[4];
  uint32_t active, queued;
} step_t;

#define EN(t, rc_, tk)                                                                             \
  { .op = ENTER, .t_ms = (t), .rc = (rc_), .ticket = (tk) }
#define LV(rc_, tk)                                                                                \
  { .op = LEAVE, .rc = (rc_), .ticket = (tk) }
#define CA(tk, rc_)                                                                                \
  { .op = CANCEL, .ticket = (tk), .rc = (rc_) }
#define EX(t, max, ...)                                                                            \
  {                                                                                                \
    .op = EXPIRE, .t_ms = (t), .max_ms = (max), .expired = { __VA_ARGS__ }                         \
  }
#define CT(a, q)                                                                                   \
  { .op = COUNTS, .active = (a), .queued = (q) }

typedef struct script {
  const char *name;
  tern_bulkhead_config_t cfg;
  step_t steps[32];
} script_t;

static const script_t scripts[] = {
    {"admit, queue, reject; leave admits oldest first",
     {2, 2},
     {EN(0, 0, 0), EN(0, 0, 0), EN(1, TERN_EAGAIN, 1), EN(2, TERN_EAGAIN, 2), EN(3, TERN_EBUSY, 0),
      CT(2, 2), LV(0, 1), CT(2, 1), LV(0, 2), CT(2, 0), LV(0, 0), CT(1, 0), LV(0, 0), CT(0, 0),
      LV(TERN_ESTATE, 0), EN(4, 0, 0), CT(1, 0)}},
    {"slots pass to waiters in order; newcomers queue behind",
     {1, 4},
     {EN(0, 0, 0), EN(0, TERN_EAGAIN, 1), CA(1, 0), CT(1, 0), EN(0, TERN_EAGAIN, 2),
      EN(0, TERN_EAGAIN, 3), LV(0, 2), CT(1, 1), EN(0, TERN_EAGAIN, 4), LV(0, 3), LV(0, 4),
      LV(0, 0), CT(0, 0)}},
    {"cancel removes a waiter and keeps the order",
     {1, 3},
     {EN(0, 0, 0), EN(0, TERN_EAGAIN, 1), EN(0, TERN_EAGAIN, 2), EN(0, TERN_EAGAIN, 3), CA(2, 0),
      CA(2, TERN_ENOENT), CT(1, 2), EN(0, TERN_EAGAIN, 4), EN(0, TERN_EBUSY, 0), LV(0, 1),
      CA(1, TERN_ENOENT), /* already admitted: it holds the slot now */
      LV(0, 3), LV(0, 4), LV(0, 0), CA(0, TERN_EINVAL)}},
    {"expire removes waiters queued for at least max_wait",
     {1, 4},
     {EN(0, 0, 0), EN(0, TERN_EAGAIN, 1), EN(10, TERN_EAGAIN, 2), EN(20, TERN_EAGAIN, 3),
      EX(19, 10, 1), CT(1, 2), EX(20, 10, 2), EX(29, 10, 0), CT(1, 1), EX(30, 10, 3), CT(1, 0),
      LV(0, 0)}},
    {"no queue: reject when full",
     {1, 0},
     {EN(0, 0, 0), EN(0, TERN_EBUSY, 0), LV(0, 0), EN(0, 0, 0), EX(100, 0, 0), CT(1, 0)}},
};

typedef struct got {
  uint64_t t[8];
  int n;
} got_t;

static void on_expire(void *ud, tern_bulkhead_ticket_t t) {
  got_t *g = ud;
  if (g->n < 8)
    g->t[g->n++] = t;
}

static void test_scripts(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof scripts / sizeof scripts[0]; i++) {
    const script_t *s = &scripts[i];
    tern_bulkhead_t *b;
    assert_int_equal(tern_bulkhead_create(&s->cfg, &b), 0);
    for (int k = 0; k < 32 && s->steps[k].op != END; k++) {
      const step_t *st = &s->steps[k];
      tern_bulkhead_ticket_t t = 99;
      int rc = 0;
      switch (st->op) {
      case ENTER:
        rc = tern_bulkhead_try_enter(b, TERN_MS(st->t_ms), &t);
        break;
      case LEAVE:
        rc = tern_bulkhead_leave(b, &t);
        break;
      case CANCEL:
        rc = tern_bulkhead_cancel(b, st->ticket);
        t = st->ticket;
        break;
      case EXPIRE: {
        got_t g = {.n = 0};
        uint32_t count = 99;
        assert_int_equal(
            tern_bulkhead_expire(b, TERN_MS(st->t_ms), TERN_MS(st->max_ms), on_expire, &g, &count),
            0);
        int want = 0;
        while (want < 4 && st->expired[want])
          want++;
        if (g.n != want || (int)count != want)
          fail_msg("%s, step %d: %d expired, want %d", s->name, k, g.n, want);
        for (int j = 0; j < want; j++)
          if (g.t[j] != st->expired[j])
            fail_msg("%s, step %d: expired #%d is %llu, want %llu", s->name, k, j,
                     (unsigned long long)g.t[j], (unsigned long long)st->expired[j]);
        continue;
      }
      case COUNTS: {
        tern_bulkhead_stats_t bs;
        assert_int_equal(tern_bulkhead_stats(b, &bs), 0);
        if (bs.active != st->active || bs.queued != st->queued)
          fail_msg("%s, step %d: active %u queued %u, want %u %u", s->name, k, bs.active, bs.queued,
                   st->active, st->queued);
        continue;
      }
      case END:
        break;
      }
      if (rc != st->rc || t != st->ticket)
        fail_msg("%s, step %d: rc %s ticket %llu, want %s ticket %llu", s->name, k,
                 tern_err_name(rc), (unsigned long long)t, tern_err_name(st->rc),
                 (unsigned long long)st->ticket);
    }
    tern_bulkhead_destroy(b);
  }
}

/* Many enqueue / cancel / leave rounds wrap the ring many times; a plain
 * array model says which ticket each leave must admit. */
static void test_ring_wraps_against_model(void **state) {
  (void)state;
  tern_bulkhead_config_t c = {3, 5};
  tern_bulkhead_t *b;
  assert_int_equal(tern_bulkhead_create(&c, &b), 0);
  uint64_t model[5];
  int mq = 0, active = 0;
  unsigned x = 12345;
  for (int i = 0; i < 20000; i++) {
    x = x * 1103515245u + 12345u;
    int r = (x >> 16) % 10;
    if (r < 5) {
      tern_bulkhead_ticket_t t;
      int rc = tern_bulkhead_try_enter(b, i, &t);
      if (active < 3 && mq == 0) {
        assert_int_equal(rc, 0);
        active++;
      } else if (mq < 5) {
        assert_int_equal(rc, TERN_EAGAIN);
        model[mq++] = t;
      } else {
        assert_int_equal(rc, TERN_EBUSY);
      }
    } else if (r < 8) {
      tern_bulkhead_ticket_t t;
      int rc = tern_bulkhead_leave(b, &t);
      if (active == 0) {
        assert_int_equal(rc, TERN_ESTATE);
      } else if (mq > 0) {
        assert_int_equal(t, model[0]);
        memmove(model, model + 1, (size_t)--mq * sizeof model[0]);
      } else {
        assert_int_equal(t, 0);
        active--;
      }
    } else if (mq > 0) {
      int j = (int)((x >> 8) % (unsigned)mq);
      assert_int_equal(tern_bulkhead_cancel(b, model[j]), 0);
      memmove(model + j, model + j + 1, (size_t)(mq - j - 1) * sizeof model[0]);
      mq--;
    }
  }
  tern_bulkhead_stats_t st;
  assert_int_equal(tern_bulkhead_stats(b, &st), 0);
  assert_int_equal(st.active, active);
  assert_int_equal(st.queued, mq);
  tern_bulkhead_destroy(b);
}

#define THREADS 4
#define ITERS 50000
typedef struct targ {
  tern_bulkhead_t *b;
  long entered, rejected, bad;
} targ_t;

static void *churn(void *arg) {
  targ_t *a = arg;
  for (int i = 0; i < ITERS; i++) {
    tern_bulkhead_ticket_t t;
    int rc = tern_bulkhead_try_enter(a->b, i, &t);
    if (rc == 0) {
      a->entered++;
      tern_bulkhead_stats_t st;
      tern_bulkhead_stats(a->b, &st);
      if (st.active > 3)
        a->bad++;
      if (tern_bulkhead_leave(a->b, NULL) != 0)
        a->bad++;
    } else {
      a->rejected++;
    }
  }
  return NULL;
}

static void test_threads_never_exceed_limit(void **state) {
  (void)state;
  tern_bulkhead_config_t c = {3, 0};
  tern_bulkhead_t *b;
  assert_int_equal(tern_bulkhead_create(&c, &b), 0);
  pthread_t th[THREADS];
  targ_t a[THREADS];
  for (int i = 0; i < THREADS; i++) {
    a[i] = (targ_t){.b = b};
    assert_int_equal(pthread_create(&th[i], NULL, churn, &a[i]), 0);
  }
  long entered = 0, rejected = 0;
  for (int i = 0; i < THREADS; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(a[i].bad, 0);
    entered += a[i].entered;
    rejected += a[i].rejected;
  }
  tern_bulkhead_stats_t st;
  assert_int_equal(tern_bulkhead_stats(b, &st), 0);
  assert_int_equal(entered + rejected, THREADS * ITERS);
  assert_int_equal(st.admitted, entered);
  assert_int_equal(st.rejected, rejected);
  assert_int_equal(st.active, 0);
  tern_bulkhead_destroy(b);
}

static void test_config_validation(void **state) {
  (void)state;
  tern_bulkhead_config_t bad[] = {{0, 4}, {1, UINT32_MAX}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char *why = NULL;
    assert_int_equal(tern_bulkhead_config_validate(&bad[i], &why), TERN_EINVAL);
    assert_non_null(why);
    tern_bulkhead_t *b = (tern_bulkhead_t *)1;
    assert_int_equal(tern_bulkhead_create(&bad[i], &b), TERN_EINVAL);
    assert_null(b);
  }
  assert_int_equal(tern_bulkhead_config_validate(NULL, NULL), TERN_EINVAL);
  tern_bulkhead_config_t ok = {1, 0};
  tern_bulkhead_t *b;
  assert_int_equal(tern_bulkhead_create(&ok, &b), 0);
  assert_int_equal(tern_bulkhead_expire(b, 0, -1, NULL, NULL, NULL), TERN_EINVAL);
  tern_bulkhead_destroy(b);
  tern_bulkhead_destroy(NULL);
}

static int create_one(void *ctx) {
  (void)ctx;
  tern_bulkhead_config_t c = {2, 8};
  tern_bulkhead_t *b = NULL;
  int rc = tern_bulkhead_create(&c, &b);
  if (rc) {
    assert_null(b);
    return rc;
  }
  tern_bulkhead_ticket_t t;
  assert_int_equal(tern_bulkhead_try_enter(b, 0, &t), 0);
  tern_bulkhead_destroy(b);
  return 0;
}

static void test_alloc_sweep(void **state) {
  (void)state;
  assert_true(tu_alloc_sweep(create_one, NULL) >= 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scripts),
      cmocka_unit_test(test_ring_wraps_against_model),
      cmocka_unit_test(test_threads_never_exceed_limit),
      cmocka_unit_test(test_config_validation),
      cmocka_unit_test(test_alloc_sweep),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
