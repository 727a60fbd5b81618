/* Bulkhead: at most `max_concurrent` calls in flight to a provider, plus a
 * bounded FIFO of waiters, shared by every session of a process.
 *
 * tern never blocks a loop, so a waiter is a ticket, not a sleeping thread:
 * try_enter either admits the caller, queues it (the caller keeps its
 * ticket and suspends its own work), or rejects it. Each leave admits the
 * oldest queued ticket and says which one, so the leaving side can post a
 * resume to the loop that owns it. Waiting too long is the caller's policy;
 * tern_bulkhead_expire() helps by removing every ticket queued for at least
 * a given time.
 *
 * Thread-safe (one mutex). No allocation after create: the queue is a
 * fixed ring of `queue_capacity` entries.
 */
#ifndef TERN_BULKHEAD_H
#define TERN_BULKHEAD_H

#include <stdint.h>

#include "tern/clock.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_bulkhead tern_bulkhead_t;
/* Never 0: 0 means "no ticket". Unique for the bulkhead's lifetime. */
typedef uint64_t tern_bulkhead_ticket_t;

typedef struct tern_bulkhead_config {
  uint32_t max_concurrent; /* >= 1 */
  uint32_t queue_capacity; /* 0: no queue, reject when full */
} tern_bulkhead_config_t;

typedef struct tern_bulkhead_stats {
  uint32_t active, queued;
  uint64_t admitted; /* straight in or from the queue */
  uint64_t enqueued, rejected, cancelled, expired;
} tern_bulkhead_stats_t;

/* Called once per expired ticket, outside the bulkhead's lock. */
typedef void (*tern_bulkhead_expire_fn)(void *ud, tern_bulkhead_ticket_t ticket);

int tern_bulkhead_config_validate(const tern_bulkhead_config_t *cfg, const char **reason);
int tern_bulkhead_create(const tern_bulkhead_config_t *cfg, tern_bulkhead_t **out /* OUT */);
void tern_bulkhead_destroy(tern_bulkhead_t *b);

/* 0: admitted (*ticket = 0; call leave when done). TERN_EAGAIN: queued with
 * *ticket; wait until a leave names it. TERN_EBUSY: queue full, rejected.
 * A newcomer never jumps a non-empty queue. */
int tern_bulkhead_try_enter(tern_bulkhead_t *b, tern_usec_t now,
                            tern_bulkhead_ticket_t *ticket /* OUT */);
/* A call finished. If a ticket was waiting, it now holds the freed slot and
 * is reported in *admitted (else 0). TERN_ESTATE if nothing was active. */
int tern_bulkhead_leave(tern_bulkhead_t *b,
                        tern_bulkhead_ticket_t *admitted /* OUT, may be NULL */);
/* Withdraw a queued ticket: 0, or TERN_ENOENT when it is not queued (it may
 * have just been admitted by a leave: then it holds a slot and must leave). */
int tern_bulkhead_cancel(tern_bulkhead_t *b, tern_bulkhead_ticket_t ticket);
/* Remove every ticket queued for at least max_wait at `now`, oldest first,
 * calling cb (may be NULL) for each; *count (may be NULL) gets how many. */
int tern_bulkhead_expire(tern_bulkhead_t *b, tern_usec_t now, tern_usec_t max_wait,
                         tern_bulkhead_expire_fn cb, void *ud, uint32_t *count /* OUT */);
int tern_bulkhead_stats(tern_bulkhead_t *b, tern_bulkhead_stats_t *out /* OUT */);

#ifdef __cplusplus
}
#endif
#endif
