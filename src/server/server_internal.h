/* What the server's files share. Not a public header. */
#ifndef TERN_SERVER_INTERNAL_H
#define TERN_SERVER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/buf.h"
#include "tern/clock.h"
#include "tern/log.h"
#include "tern/loop.h"

/* ---- metrics.c: counters, histograms and the recent-events ring --------
 * Every function is thread-safe: counters are atomics, the labelled tables
 * and the ring take a mutex (they change a few times per turn, not per
 * audio frame). */
typedef struct tern__metrics tern__metrics_t;

int tern__metrics_create(size_t ring_size, tern__metrics_t **out);
void tern__metrics_destroy(tern__metrics_t *m);
/* One session event (the events listener calls this). */
void tern__metrics_event(tern__metrics_t *m, const char *type, const char *line, size_t len,
                         const tern_log_field_t *f, size_t n);
void tern__metrics_holds(tern__metrics_t *m, unsigned n);
/* Turns where no agent audio started within the dead-air bound (+100 ms):
 * the promise broken, as the sessions' stats count it. */
void tern__metrics_dead_air(tern__metrics_t *m, unsigned n);
/* A session refused before the upgrade: "auth", "origin", "full", "draining". */
void tern__metrics_refused(tern__metrics_t *m, const char *reason);

typedef struct tern__gauges {
  uint64_t active, max_sessions, workers;
  bool draining;
  double uptime_s;
} tern__gauges_t;

typedef struct tern__counts {
  uint64_t sessions, turns, errors, failovers, holds, fallbacks, dead_air_violations;
} tern__counts_t;
void tern__metrics_counts(tern__metrics_t *m, tern__counts_t *out);

/* Prometheus text exposition format 0.0.4. */
int tern__metrics_render(tern__metrics_t *m, const tern__gauges_t *g, tern_buf_t *out);
/* The recent events, oldest first, one JSON object per line; at most the
 * last `limit` (0: all the ring holds). */
int tern__metrics_events(tern__metrics_t *m, size_t limit, tern_buf_t *out);

/* One point of the dashboard's history (the control loop calls this once a
 * second; now on the monotonic clock). */
void tern__metrics_sample(tern__metrics_t *m, tern_usec_t now, uint64_t active);
/* The dashboard's fields of /stats, appended to out as `,"key":value`
 * pairs (the caller opens and closes the object): "refused",
 * "dead_air_events_total", "latency" (per stage: non-cumulative bucket
 * counts, the last over the largest bound, count, sum_s; "le" the bounds),
 * "errors" and "switches" (labelled counts), "history" (per sample: ago_s,
 * active, and turns and errors by component in the interval ending there,
 * oldest first, the last one running up to now), "breakers" (state,
 * seconds in it, counts). now and started: monotonic. */
int tern__metrics_stats(tern__metrics_t *m, tern_usec_t now, tern_usec_t started, uint64_t active,
                        tern_buf_t *out);

/* ---- admin.c: the admin HTTP listener on the control loop ---------------- */
typedef struct tern__admin tern__admin_t;

typedef struct tern__admin_response {
  int status;
  const char *content_type;
  tern_buf_t body;
  const char *extra_header; /* one "Name: value" line without CRLF, or NULL */
} tern__admin_response_t;

/* Called for each request (GET/HEAD) that passed the token check. query:
 * what followed '?' in the target ("" if nothing), still URL-encoded. */
typedef void (*tern__admin_fn)(void *ud, const char *path, const char *query,
                               tern__admin_response_t *res);

/* Bind and listen. token: required for every path but /health and /ready,
 * as `Authorization: Bearer <token>`, or for /dashboard only (a browser
 * cannot add the header when it opens a page) as ?token=<token>; NULL: no
 * check. Returns 0, TERN_EIO (with err), TERN_ENOMEM. */
int tern__admin_create(tern_loop_t *loop, const char *bind, int port, const char *token,
                       tern__admin_fn fn, void *ud, tern__admin_t **out, char *err, size_t errsz);
int tern__admin_port(const tern__admin_t *a);
/* Close the listener and every connection; the memory goes once libuv has
 * closed the handles (run the loop afterwards, e.g. tern_loop_destroy). */
void tern__admin_close(tern__admin_t *a);

/* Whether an address is loopback ("127.0.0.1", "::1", "localhost"). */
bool tern__is_loopback(const char *addr);
/* The value of `name` in a URL query ("a=1&b=2"), percent-decoded ('+' as
 * a space, as browsers encode forms) into out. False if absent or too long. */
bool tern__query_param(const char *query, const char *name, char *out, size_t outsz);
/* Compare secrets without an early exit. */
bool tern__secret_equal(const char *a, const char *b);

#endif
