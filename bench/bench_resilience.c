/* Cost of the protected-call decision path, side by side with a bare call.
 *
 * bare:       the provider call alone (an opaque function through a pointer)
 * protected:  breaker acquire + limiter acquire + the call + breaker record
 * failing:    the same, where the call fails and the retry policy decides
 *             (retryable error, nothing delivered, with a retry budget)
 * +clock:     the protected path reading the monotonic clock once per call,
 *             as the guard does (time is an argument to the policy code)
 *
 * Each variant runs N calls; the best of R rounds is reported in ns/call.
 * Usage: bench_resilience [N] [R]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tern/breaker.h"
#include "tern/clock.h"
#include "tern/limiter.h"
#include "tern/retry.h"
#include "tern/taxonomy.h"

static volatile unsigned g_sink; /* unsigned: the sum may wrap, which is defined */
static int (*volatile g_call)(int);

__attribute__((noinline)) static int provider_call(int x) {
  g_sink += (unsigned)x;
  return x & 1;
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

typedef struct {
  tern_breaker_t *br;
  tern_limiter_t *lim;
  tern_retry_policy_t pol;
  tern_retry_budget_t budget;
  tern_error_t err;
} ctx_t;

static double run_bare(long n) {
  double t0 = now_ns();
  for (long i = 0; i < n; i++)
    g_call((int)i);
  return (now_ns() - t0) / n;
}

static double run_protected(ctx_t *c, long n, int read_clock) {
  tern_usec_t now = TERN_SEC(1);
  tern_clock_t *mono = tern_clock_monotonic();
  double t0 = now_ns();
  for (long i = 0; i < n; i++) {
    if (read_clock)
      now = tern_clock_now(mono);
    else
      now += 1;
    tern_breaker_permit_t permit;
    tern_usec_t wait;
    if (tern_breaker_acquire(c->br, now, &permit) != 0)
      continue;
    if (tern_limiter_try_acquire(c->lim, 1, now, &wait) != 0) {
      tern_breaker_record(c->br, permit, TERN_BREAKER_IGNORED, 0, now);
      continue;
    }
    g_call((int)i * 2); /* succeeds */
    tern_breaker_record(c->br, permit, TERN_BREAKER_SUCCESS, 1000, now);
  }
  return (now_ns() - t0) / n;
}

static double run_failing(ctx_t *c, long n) {
  tern_usec_t now = TERN_SEC(1);
  double t0 = now_ns();
  for (long i = 0; i < n; i++) {
    now += 1;
    tern_breaker_permit_t permit;
    tern_usec_t wait;
    if (tern_breaker_acquire(c->br, now, &permit) != 0)
      continue;
    if (tern_limiter_try_acquire(c->lim, 1, now, &wait) != 0) {
      tern_breaker_record(c->br, permit, TERN_BREAKER_IGNORED, 0, now);
      continue;
    }
    tern_retry_state_t st;
    tern_retry_state_init(&st, &c->pol, now);
    if (g_call((int)i * 2 + 1)) {
      /* Count the failure as ignored so the breaker stays closed and every
       * iteration measures the same (full) path. */
      tern_breaker_record(c->br, permit, TERN_BREAKER_IGNORED, 1000, now);
      tern_retry_decision_t d;
      tern_retry_decide(&c->pol, &st, &c->err, false, now, 0.5, &d);
      g_sink += (unsigned)d.action;
    }
  }
  return (now_ns() - t0) / n;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 5000000;
  int rounds = argc > 2 ? atoi(argv[2]) : 5;
  g_call = provider_call;

  ctx_t c;
  tern_breaker_config_t bc;
  tern_breaker_config_default(&bc);
  tern_limiter_config_t lc = {.tokens = 1000000000, .period = TERN_SEC(1), .burst = 1000000000};
  if (tern_breaker_create(&bc, "bench", &c.br) || tern_limiter_create(&lc, &c.lim)) {
    fprintf(stderr, "bench_resilience: setup failed\n");
    return 1;
  }
  tern_retry_budget_config_t rbc;
  tern_retry_budget_config_default(&rbc);
  rbc.budget_percent = 100;
  tern_retry_budget_init(&c.budget, &rbc);
  tern_retry_policy_default(&c.pol);
  c.pol.budget = &c.budget;
  tern_error_init(&c.err, TERN_COMP_LLM, TERN_KIND_SERVER, "bench");

  double best[4] = {1e18, 1e18, 1e18, 1e18};
  for (int r = 0; r < rounds; r++) {
    double v[4] = {run_bare(n), run_protected(&c, n, 0), run_failing(&c, n),
                   run_protected(&c, n, 1)};
    for (int k = 0; k < 4; k++)
      if (v[k] < best[k])
        best[k] = v[k];
  }
  printf("# protected-call decision path, %ld calls x %d rounds, best round\n", n, rounds);
  printf("%-34s %10s %10s\n", "variant", "ns/call", "vs bare");
  const char *names[4] = {"bare call", "protected (breaker+limiter)",
                          "failing (+retry decision)", "protected + clock read"};
  for (int k = 0; k < 4; k++)
    printf("%-34s %10.1f %9.1fx\n", names[k], best[k], best[k] / best[0]);
  printf("decision overhead (protected - bare): %.1f ns; failing path: %.1f ns\n",
         best[1] - best[0], best[2] - best[0]);
  tern_breaker_destroy(c.br);
  tern_limiter_destroy(c.lim);
  tern_retry_budget_destroy(&c.budget);
  return 0;
}
