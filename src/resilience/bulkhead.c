/* Bulkhead (see include/tern/bulkhead.h).
 *
 * Invariants: active <= max_concurrent; the ring holds `queued` entries from
 * `head`, oldest first, in enqueue order; a non-empty queue implies the
 * bulkhead is full (a leave hands its slot straight to the oldest waiter),
 * so FIFO fairness holds and newcomers cannot overtake.
 */
#include "tern/bulkhead.h"

#include <pthread.h>
#include <stdbool.h>

#include "tern/alloc.h"
#include "tern/error.h"

typedef struct waiter {
  tern_bulkhead_ticket_t ticket;
  tern_usec_t since;
} waiter_t;

struct tern_bulkhead {
  pthread_mutex_t mu;
  uint32_t max, cap;
  uint32_t active, queued, head; /* guarded by mu, as is everything below */
  tern_bulkhead_ticket_t next_ticket;
  uint64_t admitted, enqueued, rejected, cancelled, expired;
  waiter_t ring[]; /* cap entries */
};

#define BULKHEAD_MAX_QUEUE (1u << 24)

int tern_bulkhead_config_validate(const tern_bulkhead_config_t *cfg, const char **reason) {
  const char *why = NULL;
  if (!cfg)
    why = "no configuration";
  else if (cfg->max_concurrent < 1)
    why = "max_concurrent must be at least 1";
  else if (cfg->queue_capacity > BULKHEAD_MAX_QUEUE)
    why = "queue_capacity is too large";
  if (reason)
    *reason = why;
  return why ? TERN_EINVAL : 0;
}

int tern_bulkhead_create(const tern_bulkhead_config_t *cfg, tern_bulkhead_t **out) {
  if (!out)
    return TERN_EINVAL;
  *out = NULL;
  int rc = tern_bulkhead_config_validate(cfg, NULL);
  if (rc)
    return rc;
  tern_bulkhead_t *b = tern_calloc(1, sizeof *b + (size_t)cfg->queue_capacity * sizeof(waiter_t));
  if (!b)
    return TERN_ENOMEM;
  if (pthread_mutex_init(&b->mu, NULL) != 0) {
    tern_free(b);
    return TERN_ENOMEM;
  }
  b->max = cfg->max_concurrent;
  b->cap = cfg->queue_capacity;
  b->next_ticket = 1;
  *out = b;
  return 0;
}

void tern_bulkhead_destroy(tern_bulkhead_t *b) {
  if (!b)
    return;
  pthread_mutex_destroy(&b->mu);
  tern_free(b);
}

static waiter_t *at(tern_bulkhead_t *b, uint32_t i) { return &b->ring[(b->head + i) % b->cap]; }

/* Remove the i-th queued entry (0 = oldest), keeping the order of the rest. */
static void remove_at(tern_bulkhead_t *b, uint32_t i) {
  for (uint32_t k = i; k + 1 < b->queued; k++)
    *at(b, k) = *at(b, k + 1);
  b->queued--;
}

int tern_bulkhead_try_enter(tern_bulkhead_t *b, tern_usec_t now, tern_bulkhead_ticket_t *ticket) {
  if (!b || !ticket)
    return TERN_EINVAL;
  *ticket = 0;
  int rc;
  pthread_mutex_lock(&b->mu);
  if (b->active < b->max && b->queued == 0) {
    b->active++;
    b->admitted++;
    rc = 0;
  } else if (b->queued < b->cap) {
    waiter_t *w = at(b, b->queued);
    w->ticket = b->next_ticket++;
    w->since = now;
    b->queued++;
    b->enqueued++;
    *ticket = w->ticket;
    rc = TERN_EAGAIN;
  } else {
    b->rejected++;
    rc = TERN_EBUSY;
  }
  pthread_mutex_unlock(&b->mu);
  return rc;
}

int tern_bulkhead_leave(tern_bulkhead_t *b, tern_bulkhead_ticket_t *admitted) {
  if (admitted)
    *admitted = 0;
  if (!b)
    return TERN_EINVAL;
  int rc = 0;
  pthread_mutex_lock(&b->mu);
  if (b->active == 0) {
    rc = TERN_ESTATE;
  } else if (b->queued > 0) {
    /* The slot passes straight to the oldest waiter: active is unchanged. */
    tern_bulkhead_ticket_t t = at(b, 0)->ticket;
    b->head = (b->head + 1) % b->cap;
    b->queued--;
    b->admitted++;
    if (admitted)
      *admitted = t;
  } else {
    b->active--;
  }
  pthread_mutex_unlock(&b->mu);
  return rc;
}

int tern_bulkhead_cancel(tern_bulkhead_t *b, tern_bulkhead_ticket_t ticket) {
  if (!b || ticket == 0)
    return TERN_EINVAL;
  int rc = TERN_ENOENT;
  pthread_mutex_lock(&b->mu);
  for (uint32_t i = 0; i < b->queued; i++) {
    if (at(b, i)->ticket == ticket) {
      remove_at(b, i);
      b->cancelled++;
      rc = 0;
      break;
    }
  }
  pthread_mutex_unlock(&b->mu);
  return rc;
}

int tern_bulkhead_expire(tern_bulkhead_t *b, tern_usec_t now, tern_usec_t max_wait,
                         tern_bulkhead_expire_fn cb, void *ud, uint32_t *count) {
  if (count)
    *count = 0;
  if (!b || max_wait < 0)
    return TERN_EINVAL;
  uint32_t n = 0;
  /* One ticket per pass so the callback runs without the lock (it may well
   * call back in, e.g. to try_enter elsewhere). Queues are short. */
  for (;;) {
    tern_bulkhead_ticket_t t = 0;
    pthread_mutex_lock(&b->mu);
    for (uint32_t i = 0; i < b->queued; i++) {
      waiter_t *w = at(b, i);
      if (now - w->since >= max_wait) {
        t = w->ticket;
        remove_at(b, i);
        b->expired++;
        break;
      }
    }
    pthread_mutex_unlock(&b->mu);
    if (t == 0)
      break;
    n++;
    if (cb)
      cb(ud, t);
  }
  if (count)
    *count = n;
  return 0;
}

int tern_bulkhead_stats(tern_bulkhead_t *b, tern_bulkhead_stats_t *out) {
  if (!b || !out)
    return TERN_EINVAL;
  pthread_mutex_lock(&b->mu);
  *out = (tern_bulkhead_stats_t){
      .active = b->active,
      .queued = b->queued,
      .admitted = b->admitted,
      .enqueued = b->enqueued,
      .rejected = b->rejected,
      .cancelled = b->cancelled,
      .expired = b->expired,
  };
  pthread_mutex_unlock(&b->mu);
  return 0;
}
