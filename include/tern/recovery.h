/* Per-session recovery: error bookkeeping, the unrecoverable-error
 * tolerance, and the words the agent says when something fails.
 *
 * The recovery manager (tern_recovery_t) counts every error and success a
 * session reports and decides whether the session can carry on:
 *
 *   - every error counts in the statistics (per component, per kind, total)
 *     and becomes its component's last error;
 *   - an error with recoverable == false adds a strike to its component;
 *     a success of that component clears the component's strikes;
 *   - when a component's strikes reach the tolerance (default 3), the answer
 *     is END_SESSION: the agent says a goodbye phrase and closes. From then
 *     on every error answers END_SESSION (the session is already closing);
 *   - otherwise the answer is CONTINUE: the agent may speak a fallback
 *     phrase (or nothing, when a failover already hid the error).
 * Recoverable errors never count toward the tolerance.
 *
 * The phrase book (tern_phrases_t) holds the spoken fallbacks. A slot is
 * one of: an error slot (component or any, kind or any), the holding slot
 * (for the dead-air watchdog) or the goodbye slot. Looking up an error
 * (component c, kind k) tries, in order:
 *
 *   (c, k)  ->  (any, k)  ->  (c, any)  ->  (any, any) "generic"
 *
 * and uses the first non-empty slot. The kind-wide slot comes before the
 * component-wide one because a kind such as rate_limited says why the
 * caller waits ("it's busy"), whatever component it hit. Slot names, used
 * for configuration and in phrase ids: "llm.timeout", "rate_limited",
 * "llm", "generic", "holding", "goodbye". Built-in phrase ids are the slot
 * name and a number from 1 ("llm.timeout.1"); caller-supplied ones use
 * "c" and a number ("llm.timeout.c1"), so a pre-rendered clip of a built-in
 * is never mistaken for a custom text.
 *
 * A pick takes a random draw in [0,1) and never returns the variant the
 * same slot returned last time, when the slot has more than one; the
 * memory is per slot that holds the words, so (llm, server) and (llm, auth)
 * both drawing from "llm" do not repeat each other either.
 *
 * Both objects belong to one session and are single-threaded. Pure policy:
 * no I/O, no clock, no random source of their own.
 */
#ifndef TERN_RECOVERY_H
#define TERN_RECOVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/taxonomy.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the recovery manager ---------------------------------------------- */

#define TERN_RECOVERY_DEFAULT_TOLERANCE 3

typedef struct tern_recovery tern_recovery_t;

typedef enum tern_recovery_action {
  TERN_RECOVERY_CONTINUE = 0,
  TERN_RECOVERY_END_SESSION
} tern_recovery_action_t;

typedef struct tern_recovery_config {
  uint32_t tolerance; /* unrecoverable errors per component before ending; >= 1 */
} tern_recovery_config_t;

typedef struct tern_recovery_stats {
  uint64_t errors_total;
  uint64_t successes_total;
  uint64_t unrecoverable_total;
  uint64_t errors_by_component[TERN_COMP__COUNT];
  uint64_t errors_by_kind[TERN_KIND__COUNT];
  uint64_t successes_by_component[TERN_COMP__COUNT];
  uint32_t strikes[TERN_COMP__COUNT]; /* unrecoverable since the last success */
  bool ending;                        /* END_SESSION has been answered */
  int ending_component;               /* whose strikes ended it; -1 if none */
} tern_recovery_stats_t;

const char *tern_recovery_action_name(tern_recovery_action_t a); /* "continue", "end_session" */

void tern_recovery_config_default(tern_recovery_config_t *cfg);
/* cfg NULL = defaults. */
int tern_recovery_create(const tern_recovery_config_t *cfg, tern_recovery_t **out);
void tern_recovery_destroy(tern_recovery_t *r);

/* Record an error and say what the session should do (rules above). */
int tern_recovery_on_error(tern_recovery_t *r, const tern_error_t *err,
                           tern_recovery_action_t *out_action);
/* Record a success of `comp`; clears its strikes. */
int tern_recovery_on_success(tern_recovery_t *r, tern_component_t comp);
/* A copy of the component's most recent error; TERN_ENOENT if it had none. */
int tern_recovery_last_error(const tern_recovery_t *r, tern_component_t comp, tern_error_t *out);
int tern_recovery_stats(const tern_recovery_t *r, tern_recovery_stats_t *out);

/* ---- the phrase book --------------------------------------------------- */

#define TERN_PHRASE_ANY (-1)
#define TERN_PHRASE_SLOT_NAME_MAX 48
#define TERN_PHRASE_ID_MAX 64

typedef struct tern_phrases tern_phrases_t;

typedef enum tern_phrase_purpose {
  TERN_PHRASE_ERROR = 0, /* something failed: (component, kind) */
  TERN_PHRASE_HOLDING,   /* the reply is late: "one moment" */
  TERN_PHRASE_GOODBYE    /* the session ends because of failures */
} tern_phrase_purpose_t;

typedef struct tern_phrase_slot {
  tern_phrase_purpose_t purpose;
  int component; /* tern_component_t or TERN_PHRASE_ANY (ERROR only) */
  int kind;      /* tern_kind_t or TERN_PHRASE_ANY (ERROR only) */
} tern_phrase_slot_t;

typedef struct tern_phrase {
  const char *id; /* "llm.timeout.2"; stable for built-ins */
  const char *text;
  tern_phrase_slot_t slot; /* the slot the words came from */
} tern_phrase_t;

tern_phrase_slot_t tern_phrase_slot_error(int component, int kind);
tern_phrase_slot_t tern_phrase_slot_holding(void);
tern_phrase_slot_t tern_phrase_slot_goodbye(void);
/* "llm.timeout", "rate_limited", "llm", "generic", "holding", "goodbye".
 * TERN_EINVAL for a malformed slot or name, TERN_ETOOBIG for a short buffer. */
int tern_phrase_slot_name(tern_phrase_slot_t slot, char *buf, size_t len);
int tern_phrase_slot_parse(const char *name, tern_phrase_slot_t *out);

/* The built-in phrases in a fixed order, for pre-rendering every one of
 * them (`tern render-fallbacks`). TERN_ERANGE past the end. */
size_t tern_phrases_builtin_count(void);
int tern_phrases_builtin_at(size_t i, tern_phrase_t *out);

/* A book filled with the built-ins. */
int tern_phrases_create(tern_phrases_t **out);
void tern_phrases_destroy(tern_phrases_t *p);

/* Replace the slot's variants with texts[0..n-1] (copied). n = 0 empties
 * the slot, so lookups fall through to the next one. To replace a whole
 * component set its (c, any) slot and empty its kind slots (the built-in
 * kind slots are "llm.timeout"). On failure the slot is unchanged. */
int tern_phrases_set(tern_phrases_t *p, tern_phrase_slot_t slot, const char *const *texts,
                     size_t n);
/* Add one variant to the slot (copied). */
int tern_phrases_add(tern_phrases_t *p, tern_phrase_slot_t slot, const char *text);
/* Put the built-in variants back into every slot. */
void tern_phrases_reset(tern_phrases_t *p);

/* Choose a phrase for the slot (with the error fallback order above;
 * holding and goodbye slots have no fallback). draw in [0,1).
 * TERN_ENOENT if every candidate slot is empty. out's strings stay valid
 * until that slot is changed or the book destroyed. */
int tern_phrases_pick(tern_phrases_t *p, tern_phrase_slot_t slot, double draw, tern_phrase_t *out);
/* Shorthand for an error: the slot (err->component, err->kind). */
int tern_phrases_pick_for(tern_phrases_t *p, const tern_error_t *err, double draw,
                          tern_phrase_t *out);

/* Every phrase the book holds now (built-in and custom), for rendering. */
size_t tern_phrases_count(const tern_phrases_t *p);
int tern_phrases_at(const tern_phrases_t *p, size_t i, tern_phrase_t *out);

#ifdef __cplusplus
}
#endif
#endif
