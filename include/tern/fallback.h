/* The fallback runner: one component's chain of guarded providers, applied
 * to every call of one session.
 *
 *   call -> link 0: breaker, limiter, bulkhead, attempt, watchdog, retry
 *        -> link 1: ...                     (on give-up: fail over)
 *        -> on_done(err): every link failed; the session answers in words
 *
 * Every attempt is watched: no first output within the first-output
 * timeout is a timeout, a gap between outputs longer than the idle timeout
 * is a stall; both cancel the attempt and count as failures. Retries happen
 * only while nothing of the attempt was delivered. After partial output a
 * failover continues from where the output stopped: the next LLM is asked
 * to continue the delivered text, the next TTS speaks only the unspoken
 * rest of the text, the next STT gets the same audio.
 *
 * Failed providers are probed in the background on the chain's schedule
 * with a minimal request, and the runner switches back when a probe
 * succeeds. Events: error (each failed attempt), provider_switched,
 * breaker_state_changed. Single-threaded: one runner belongs to one
 * session on one loop; the guards it uses are shared process-wide.
 */
#ifndef TERN_FALLBACK_H
#define TERN_FALLBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/chain.h"
#include "tern/events.h"
#include "tern/guard.h"
#include "tern/provider.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_fallback tern_fallback_t;

typedef struct tern_fallback_link {
  tern_provider_t *provider; /* borrowed; outlives the runner */
  tern_guard_t *guard;       /* borrowed; outlives the runner */
} tern_fallback_link_t;

typedef struct tern_fallback_observer {
  /* Each failed attempt. `final` is true when the call gave up entirely
   * (every link failed, or the error is one no other provider can fix). */
  void (*on_error)(void *ud, const tern_error_t *err, bool final);
  /* The preferred provider changed (failover or switch back). */
  void (*on_switch)(void *ud, const tern_chain_switch_t *sw);
  void *ud;
} tern_fallback_observer_t;

typedef struct tern_fallback_config {
  tern_chain_config_t chain;
  bool probes; /* probe failed providers in the background (default true) */
} tern_fallback_config_t;

void tern_fallback_config_default(tern_fallback_config_t *cfg);

int tern_fallback_create(tern_loop_t *loop, tern_component_t component,
                         const tern_fallback_link_t *links, size_t n,
                         const tern_fallback_config_t *cfg, tern_events_t *events, uint64_t seed,
                         tern_fallback_t **out);
/* Cancels every call and probe still running (no callbacks). */
void tern_fallback_destroy(tern_fallback_t *f);
void tern_fallback_set_observer(tern_fallback_t *f, const tern_fallback_observer_t *obs);

/* The provider contract of provider.h holds for these too: on_done exactly
 * once unless cancelled, never from inside the start call. */
int tern_fallback_llm(tern_fallback_t *f, const tern_llm_request_t *req,
                      const tern_llm_sink_t *sink, tern_op_t **op);
int tern_fallback_stt(tern_fallback_t *f, const tern_stt_request_t *req,
                      const tern_stt_sink_t *sink, tern_op_t **op);
int tern_fallback_tts(tern_fallback_t *f, const tern_tts_request_t *req,
                      const tern_tts_sink_t *sink, tern_op_t **op);

/* Name of the provider the next call will try first. */
const char *tern_fallback_current(const tern_fallback_t *f);
tern_chain_t *tern_fallback_chain(tern_fallback_t *f);
size_t tern_fallback_size(const tern_fallback_t *f);
tern_provider_t *tern_fallback_provider(const tern_fallback_t *f, size_t i);

/* Counters for tests, metrics and the session summary. */
typedef struct tern_fallback_stats {
  uint64_t calls, succeeded, failed; /* calls that ended, by outcome */
  uint64_t attempts, retries, failovers, probes, probe_successes;
  uint64_t timeouts, stalls; /* attempts cut by the watchdog */
} tern_fallback_stats_t;
void tern_fallback_stats(const tern_fallback_t *f, tern_fallback_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
