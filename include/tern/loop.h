/* The event loop of one worker thread.
 *
 * A tern_loop_t is one libuv loop plus the I/O machinery that lives on it:
 * the curl multi handle that drives every HTTP request of the loop
 * (tern/http.h) and, created on first use, the libwebsockets context of its
 * WebSocket connections (tern/ws.h). A session lives on one loop for its
 * whole life, so nothing in a loop is locked except the post queue.
 *
 * Threading: every function here must be called on the loop's thread (the
 * one running it), except tern_loop_post() and tern_loop_stop(), which any
 * thread may call while the loop exists. Callbacks always run on the loop's
 * thread.
 *
 * Time: the loop carries a tern_clock_t (the monotonic clock unless another
 * is given) that code on the loop reads through tern_loop_now(); request
 * timings come from it. Timers and network timeouts run on libuv's own
 * monotonic time, since they have to wake the thread up.
 */
#ifndef TERN_LOOP_H
#define TERN_LOOP_H

#include <stdbool.h>
#include <stddef.h>

#include "tern/clock.h"

#ifdef __cplusplus
extern "C" {
#endif

struct uv_loop_s;

typedef struct tern_loop tern_loop_t;
typedef void (*tern_loop_fn)(tern_loop_t *loop, void *ud);

/* Create a loop. clock NULL means tern_clock_monotonic(); a clock given
 * must outlive the loop. Returns 0, TERN_ENOMEM or TERN_EIO. */
int tern_loop_create(tern_clock_t *clock, tern_loop_t **out);

/* Close everything the loop still holds and free it: HTTP requests and
 * WebSocket connections not yet freed by their owners are torn down without
 * any further callback (their pointers become invalid), functions still in
 * the post queue are run once, loop timers are closed, and the loop runs
 * until every close callback has fired. Call it on the loop's thread, when
 * the loop is not running and no other thread will post to it any more.
 * NULL is ignored. */
void tern_loop_destroy(tern_loop_t *loop);

/* The underlying libuv loop, for handles of one's own (close them before
 * tern_loop_destroy, which closes any left over without their callbacks). */
/* A loop on virtual time: its timers run on `clock` (a fake clock), and
 * tern_loop_run_until advances the clock straight to the next timer
 * instead of waiting. Real work (thread-pool jobs, HTTP requests) still
 * runs for real and holds virtual time still while it is in flight, so it
 * costs no virtual time. A whole conversation with scripted latencies then
 * runs in a blink and the same way every time. max_wait in run_until is
 * virtual time. tern_loop_run / run_once are not for virtual loops. */
int tern_loop_create_virtual(tern_fake_clock_t *clock, tern_loop_t **out);
bool tern_loop_is_virtual(const tern_loop_t *loop);

struct uv_loop_s *tern_loop_uv(tern_loop_t *loop);
tern_clock_t *tern_loop_clock(tern_loop_t *loop);
/* tern_clock_now(tern_loop_clock(loop)). */
tern_usec_t tern_loop_now(tern_loop_t *loop);

/* Run the loop on the calling thread until tern_loop_stop() is called (a
 * stop requested before the call makes it return at once). Functions posted
 * before the stop have run when it returns. Returns 0, or TERN_ESTATE when
 * the loop is already being run. */
int tern_loop_run(tern_loop_t *loop);
/* Ask a running loop to return from tern_loop_run(). Thread-safe. */
void tern_loop_stop(tern_loop_t *loop);

/* One loop iteration: wait for at least one event when `wait`, otherwise
 * only handle what is ready. For tests and embedders that drive the loop
 * themselves. Returns 0 or TERN_ESTATE (already running). */
int tern_loop_run_once(tern_loop_t *loop, bool wait);

/* Drive the loop until done(ud) returns true, checked after every
 * iteration (and before the first). max_wait (microseconds of real time)
 * bounds the wait as a safety net. Returns 0, TERN_ETIMEDOUT when the bound
 * passed first, or TERN_ESTATE when the loop is already being run. */
int tern_loop_run_until(tern_loop_t *loop, bool (*done)(void *ud), void *ud, tern_usec_t max_wait);

/* Queue fn(loop, ud) to run on the loop's thread, in posting order.
 * Thread-safe. Returns 0, TERN_ENOMEM, or TERN_ECLOSED once
 * tern_loop_destroy has begun (fn will then never run: free ud yourself). */
int tern_loop_post(tern_loop_t *loop, tern_loop_fn fn, void *ud);

/* Timers. A timer belongs to its loop; its callback runs on the loop. */
typedef struct tern_loop_timer tern_loop_timer_t;
typedef void (*tern_loop_timer_fn)(tern_loop_timer_t *timer, void *ud);

/* Returns 0, TERN_ENOMEM or TERN_EINVAL. */
int tern_loop_timer_create(tern_loop_t *loop, tern_loop_timer_fn fn, void *ud,
                           tern_loop_timer_t **out);
/* (Re)start: first call after `delay`, then every `repeat` (0: once).
 * Microseconds, rounded up to libuv's millisecond. Returns 0 or
 * TERN_EINVAL (negative time). */
int tern_loop_timer_start(tern_loop_timer_t *timer, tern_usec_t delay, tern_usec_t repeat);
void tern_loop_timer_stop(tern_loop_timer_t *timer);
bool tern_loop_timer_active(const tern_loop_timer_t *timer);
/* Stop and free. Safe inside the timer's own callback. NULL is ignored. */
void tern_loop_timer_destroy(tern_loop_timer_t *timer);

#ifdef __cplusplus
}
#endif
#endif
