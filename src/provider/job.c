/* Thread-pool jobs with posted results; see job.h for the lifetime rules. */
#include "provider/job.h"

#include <stddef.h>

#include "tern/alloc.h"
#include "tern/error.h"

static atomic_long g_live;

typedef struct msg {
  tern__job_t *job;
  tern__job_msg_fn fn;
  void *payload;
} msg_t;

static void job_unref(tern__job_t *job) {
  if (atomic_fetch_sub(&job->refs, 1) == 1) {
    atomic_fetch_sub(&g_live, 1);
    job->destroy(job);
  }
}

static void run_work(uv_work_t *req) {
  tern__job_t *job = req->data;
  if (!tern__job_cancelled(job))
    job->work(job);
}

static void after_work(uv_work_t *req, int status) {
  (void)status; /* UV_ECANCELED: skipped after a cancel, nothing was posted */
  tern__job_t *job = req->data;
  if (!job->finished && !job->end_posted)
    job->fail(job, TERN_ENOMEM);
  job_unref(job);
}

int tern__job_start(tern__job_t *job, tern_loop_t *loop) {
  job->op.cancel = tern__job_cancel;
  job->loop = loop;
  job->req.data = job;
  job->finished = false;
  job->end_posted = false;
  atomic_init(&job->refs, 1);
  atomic_init(&job->cancelled, false);
  if (uv_queue_work(tern_loop_uv(loop), &job->req, run_work, after_work) != 0)
    return TERN_EIO;
  atomic_fetch_add(&g_live, 1);
  return 0;
}

static void on_msg(tern_loop_t *loop, void *ud) {
  (void)loop;
  msg_t *m = ud;
  tern__job_t *job = m->job;
  if (!job->finished)
    m->fn(job, m->payload);
  tern_free(m->payload);
  tern_free(m);
  job_unref(job);
}

int tern__job_post(tern__job_t *job, tern__job_msg_fn fn, void *payload, bool last) {
  msg_t *m = tern_malloc(sizeof *m);
  if (!m) {
    tern_free(payload);
    return TERN_ENOMEM;
  }
  m->job = job;
  m->fn = fn;
  m->payload = payload;
  /* The work's own reference is held until after_work, so the count
   * cannot reach zero between this increment and the post. */
  atomic_fetch_add(&job->refs, 1);
  int rc = tern_loop_post(job->loop, on_msg, m);
  if (rc) {
    atomic_fetch_sub(&job->refs, 1);
    tern_free(payload);
    tern_free(m);
    return rc;
  }
  if (last)
    job->end_posted = true;
  return 0;
}

void tern__job_cancel(tern_op_t *op) {
  tern__job_t *job = (tern__job_t *)op;
  if (job->finished)
    return;
  job->finished = true;
  atomic_store(&job->cancelled, true);
  uv_cancel((uv_req_t *)&job->req); /* fails harmlessly once the work started */
}

long tern__job_live(void) { return atomic_load(&g_live); }
