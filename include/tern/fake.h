/* Fake providers: scripted latency and faults, for tests, simulations and
 * for trying an agent without any model.
 *
 * A fake STT, LLM or TTS runs on the loop's timers only (no threads, no
 * sockets), so on a virtual-time loop a whole conversation with slow,
 * failing and stalling providers runs in microseconds of real time and
 * gives the same result every time. Each call consumes the next scripted
 * step (then the default step): how long before the first output, the gap
 * between outputs, and whether the call fails, stalls or ends early.
 *
 * Output: the LLM streams the reply a word at a time (or makes a tool
 * call); a continuation request gets only the part of the reply after the
 * continuation text. The TTS produces `samples_per_letter` samples per
 * non-space letter, in 20 ms chunks. The STT gives one interim transcript
 * per word, then the final one.
 *
 * From configuration (kind = fake in [<component>.<name>], read by the
 * provider stack): first_delay_ms, interval_ms, reply (the LLM's answer or
 * the STT's transcript), samples_per_letter (TTS), and random faults:
 * fail_rate, stall_rate (probabilities per call, 0 to 1) drawn from a
 * generator seeded with `seed` (1), so a run repeats.
 *
 * Threads: one fake may be called from several loops at once (a server
 * shares its providers); every function here is thread-safe, and each call
 * runs on the loop it was started on.
 */
#ifndef TERN_FAKE_H
#define TERN_FAKE_H

#include "tern/provider.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_fake_step {
  tern_usec_t first_delay; /* before the first output (or the failure) */
  tern_usec_t interval;    /* between outputs */
  int fail_after;          /* -1: never; N: fail after N outputs */
  tern_kind_t kind;        /* the failure's kind */
  int status;              /* its HTTP status, 0 if none */
  tern_usec_t retry_after; /* -1 if none */
  int stall_after;         /* -1: never; N: go silent after N outputs */
  const char *text;        /* the reply / transcript; NULL: the fake's default */
  const char *tool;        /* LLM: make this tool call instead of replying */
  const char *tool_args;   /* its JSON arguments */
} tern_fake_step_t;

/* A step that answers at once, completely. */
#define TERN_FAKE_OK                                                                      \
  ((tern_fake_step_t){.first_delay = 0, .interval = 0, .fail_after = -1,                  \
                      .kind = TERN_KIND_SERVER, .retry_after = -1, .stall_after = -1})

int tern_fake_create(tern_component_t component, const char *name, tern_provider_t **out);
/* Queue steps, consumed one per call in order. Strings are copied. */
int tern_fake_push(tern_provider_t *p, const tern_fake_step_t *step);
int tern_fake_set_default(tern_provider_t *p, const tern_fake_step_t *step);
void tern_fake_set_samples_per_letter(tern_provider_t *p, double spl);
/* Random faults on every call whose step has none scripted: with
 * probability fail_rate the call fails (server, HTTP 503, retryable), else
 * with probability stall_rate it goes silent; either after 0, 1 or 2
 * outputs (drawn too). Rates 0 turn it off. Returns 0 or TERN_EINVAL (a
 * rate outside [0, 1]). */
int tern_fake_set_faults(tern_provider_t *p, double fail_rate, double stall_rate, uint64_t seed);

typedef struct tern_fake_stats {
  unsigned calls;     /* calls started */
  unsigned cancelled; /* calls cancelled by the caller */
  char last_input[512]; /* LLM: last user message; TTS: the text; STT: "<n> samples" */
  char last_continuation[512]; /* LLM: the continuation asked for */
} tern_fake_stats_t;
void tern_fake_stats(const tern_provider_t *p, tern_fake_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif
