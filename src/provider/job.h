/* Internal to the provider layer: an operation whose work runs on the
 * loop's libuv thread pool (the offline engines block while they work)
 * and whose results come back to the loop thread as posted messages.
 *
 * Lifetime: the job holds one reference for its thread-pool work
 * (dropped in libuv's after-work callback) and one per message in flight;
 * the last one frees it. Cancel only marks the job finished and asks
 * the thread pool to skip it if it has not started: work already running
 * finishes, its messages are dropped on arrival, and the memory goes when
 * the last of them and the after-work callback have run. So cancel is
 * safe at any moment on the loop thread, inside the job's own callbacks
 * too, and never waits.
 *
 * Messages are posted in order (tern_loop_post is FIFO), so a job's final
 * message, which calls on_done, always comes after its chunks. */
#ifndef TERN_PROVIDER_JOB_H
#define TERN_PROVIDER_JOB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <uv.h>

#include "tern/loop.h"
#include "tern/provider.h"

typedef struct tern__job tern__job_t;

struct tern__job {
  tern_op_t op; /* first: the handle callers see; cancel is tern__job_cancel */
  uv_work_t req;
  tern_loop_t *loop;
  atomic_int refs;
  atomic_bool cancelled; /* read by the worker to stop early */
  bool finished;         /* loop thread: on_done ran or the job was cancelled */
  bool end_posted;       /* worker: its final message is on the way */
  /* Runs on the thread pool. */
  void (*work)(tern__job_t *job);
  /* Loop thread: the worker could not post its final message (out of
   * memory, loop closing): deliver on_done with this error code. */
  void (*fail)(tern__job_t *job, int code);
  /* Frees the whole object (the job is embedded in it). */
  void (*destroy)(tern__job_t *job);
};

/* Loop thread. Fills the job's bookkeeping and queues its work; on
 * failure (TERN_EIO) nothing was queued and the caller frees the job. */
int tern__job_start(tern__job_t *job, tern_loop_t *loop);

/* Worker thread: posts fn(job, payload) to the loop thread. fn runs only
 * while the job is not finished; payload (one tern_malloc block or NULL)
 * is freed after fn either way. `last` marks the final message, whose fn
 * must call tern__job_finish and on_done. Returns 0, or an error (payload
 * freed, fn never runs). */
typedef void (*tern__job_msg_fn)(tern__job_t *job, void *payload);
int tern__job_post(tern__job_t *job, tern__job_msg_fn fn, void *payload, bool last);

/* Worker thread: true once the caller cancelled. */
static inline bool tern__job_cancelled(tern__job_t *job) {
  return atomic_load_explicit(&job->cancelled, memory_order_relaxed);
}

/* Loop thread, just before on_done: no message of this job runs after. */
static inline void tern__job_finish(tern__job_t *job) { job->finished = true; }

/* The op->cancel of every job. */
void tern__job_cancel(tern_op_t *op);

/* Jobs alive in the process (tests wait for this to reach 0 after a
 * cancel, to check nothing leaks). */
long tern__job_live(void);

#endif
