/* Fallback chain: an ordered list of providers for one component, with
 * background recovery probes and automatic switch-back.
 *
 * Links are numbered 0..n-1 in priority order (0 is the primary). Each link
 * is AVAILABLE, COOLING (failed; a probe is scheduled) or PROBING (a probe
 * was handed out and its result is awaited). The "current" link is the
 * highest-priority available one; whenever it changes the chain calls its
 * switch callback, so the agent can emit provider_switched.
 *
 * A failed link is never put back into service by a real request: it comes
 * back only through a background probe (or a success reported for it), so
 * a caller never pays the latency of trying a provider known to be down.
 * Probes are spaced by an interval that starts at probe_initial and grows by
 * probe_multiplier after each failed probe, up to probe_max; a hold time
 * (breaker open, Retry-After) delays the next probe further.
 *
 * A chain belongs to one session and is single-threaded: no locking. The
 * process-wide protection (breakers, limiters) lives in the guard; the
 * chain is told about an open breaker through tern_chain_mark_unavailable.
 * Pure policy: time comes in as `now` (microseconds).
 */
#ifndef TERN_CHAIN_H
#define TERN_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/clock.h"
#include "tern/taxonomy.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_CHAIN_MAX_LINKS 8
/* "No link": the chain is exhausted (as a `to`) or was exhausted (a `from`). */
#define TERN_CHAIN_NONE (-1)

typedef struct tern_chain tern_chain_t;

typedef enum tern_link_state {
  TERN_LINK_AVAILABLE = 0,
  TERN_LINK_COOLING, /* failed; waiting for its next probe */
  TERN_LINK_PROBING  /* a probe was handed out; awaiting its result */
} tern_link_state_t;

typedef enum tern_switch_reason {
  TERN_SWITCH_FAILOVER = 0, /* moved to a lower-priority link, or to none */
  TERN_SWITCH_BACK          /* moved to a higher-priority link (or from none) */
} tern_switch_reason_t;

typedef struct tern_chain_switch {
  int from;              /* link index or TERN_CHAIN_NONE */
  int to;                /* link index or TERN_CHAIN_NONE (exhausted) */
  const char *from_name; /* NULL for TERN_CHAIN_NONE */
  const char *to_name;   /* NULL for TERN_CHAIN_NONE */
  tern_switch_reason_t reason;
} tern_chain_switch_t;

/* Called synchronously from the call that changed the current link. It may
 * read the chain but must not change it. */
typedef void (*tern_chain_switch_fn)(const tern_chain_switch_t *sw, void *ud);

typedef struct tern_chain_config {
  tern_usec_t probe_initial; /* first probe this long after a failure (5 s) */
  tern_usec_t probe_max;     /* interval cap (60 s) */
  double probe_multiplier;   /* growth after each failed probe (2.0, >= 1) */
} tern_chain_config_t;

typedef struct tern_chain_link_info {
  const char *name;
  tern_link_state_t state;
  tern_usec_t next_probe_at; /* COOLING: when the probe is due */
  tern_usec_t interval;      /* the wait the current schedule used */
  tern_usec_t hold_until;    /* no probe before this; INT64_MIN if none */
  uint32_t failed_probes;    /* consecutive failed probes */
  uint64_t failures;         /* failures reported over the chain's life */
} tern_chain_link_info_t;

void tern_chain_config_default(tern_chain_config_t *cfg);
const char *tern_link_state_name(tern_link_state_t s);       /* "available", ... */
const char *tern_switch_reason_name(tern_switch_reason_t r); /* "failover", "switch_back" */

/* names[0..n-1] in priority order, 1 <= n <= TERN_CHAIN_MAX_LINKS, each
 * non-empty and distinct (copied). cfg NULL = defaults. All links start
 * available; the current link is 0 (no event for that). */
int tern_chain_create(const char *const *names, size_t n, const tern_chain_config_t *cfg,
                      tern_chain_t **out);
void tern_chain_destroy(tern_chain_t *c);
void tern_chain_on_switch(tern_chain_t *c, tern_chain_switch_fn fn, void *ud);

size_t tern_chain_size(const tern_chain_t *c);
/* The link's name, or NULL for an index out of range. */
const char *tern_chain_name(const tern_chain_t *c, int link);
int tern_chain_link_info(const tern_chain_t *c, int link, tern_chain_link_info_t *out);

/* The highest-priority available link; TERN_EEXHAUSTED when none is (the
 * caller then uses its last resort). */
int tern_chain_current(const tern_chain_t *c, int *out_link);
/* The first available link after `after` (for failover within one request;
 * after may be TERN_CHAIN_NONE to start from the top); TERN_EEXHAUSTED when
 * none is left. */
int tern_chain_next(const tern_chain_t *c, int after, int *out_link);

/* A request on `link` failed in a way that should move the chain (a
 * non-retryable error, exhausted retries, an open breaker). An AVAILABLE
 * link starts cooling: first probe at now + probe_initial, or later if the
 * error carries a Retry-After. A link already out of service keeps its
 * schedule (only a longer Retry-After pushes it out). err may be NULL;
 * errors of kind cancelled are not failures of the provider and change
 * nothing. */
int tern_chain_report_failure(tern_chain_t *c, int link, const tern_error_t *err, tern_usec_t now);
/* A request on `link` succeeded: the link is available again whatever its
 * state (an in-flight probe's later result is then refused with
 * TERN_ESTATE). */
int tern_chain_report_success(tern_chain_t *c, int link, tern_usec_t now);
/* Take `link` out of service until `until` (e.g. its breaker is open): its
 * first probe is due no earlier than `until`. */
int tern_chain_mark_unavailable(tern_chain_t *c, int link, tern_usec_t until, tern_usec_t now);

/* Hand out the cooling links whose probe is due at `now`, in priority
 * order, at most `cap` of them; they become PROBING and are not handed out
 * again until their result is reported. *out_n = how many were written. */
int tern_chain_due_probes(tern_chain_t *c, tern_usec_t now, int *out_links, size_t cap,
                          size_t *out_n);
/* The result of a probe handed out by tern_chain_due_probes. ok: the link
 * is available again (switch_back when it outranks the current link). Not
 * ok: it cools again for the grown interval. TERN_ESTATE if the link had no
 * probe out. */
int tern_chain_probe_result(tern_chain_t *c, int link, bool ok, tern_usec_t now);
/* When the earliest scheduled probe is due (to arm a timer); TERN_ENOENT
 * when no link is cooling. */
int tern_chain_next_probe_at(const tern_chain_t *c, tern_usec_t *out);

#ifdef __cplusplus
}
#endif
#endif
