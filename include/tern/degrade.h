/* Degradation levels: how much of the conversation still works.
 *
 * Each of the three pipeline components (stt, llm, tts) is HEALTHY (its
 * chain serves from the primary), DEGRADED (it serves from a fallback) or
 * DOWN (its whole chain failed). The level follows from the three, first
 * matching row wins:
 *
 *   stt down                      -> emergency  (the caller cannot be heard)
 *   llm down and tts down         -> emergency  (only pre-rendered clips)
 *   llm down, or tts down         -> minimal    (static replies, or text only)
 *   any component degraded        -> reduced    (full service on fallbacks)
 *   otherwise                     -> full
 *
 * The response modes say what the agent may answer with:
 *   VOICE  generated replies spoken by TTS      needs stt, llm and tts up
 *   TEXT   generated replies as text events     needs stt and llm up
 *   STATIC canned phrases: spoken by TTS when it is up, else pre-rendered
 *          clips; always allowed (it is how goodbyes are said)
 * ("up" = not DOWN.) tern_degrade_level_modes() gives the most a level can
 * allow; the modes of a given health set are never more than that.
 *
 * tern_degrade_t tracks the three healths of one session and reports level
 * changes (for degradation_changed events). A plain value: no allocation.
 */
#ifndef TERN_DEGRADE_H
#define TERN_DEGRADE_H

#include <stdbool.h>

#include "tern/taxonomy.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tern_health {
  TERN_HEALTH_HEALTHY = 0,
  TERN_HEALTH_DEGRADED,
  TERN_HEALTH_DOWN,
  TERN_HEALTH__COUNT
} tern_health_t;

typedef enum tern_degrade_level {
  TERN_DEGRADE_FULL = 0,
  TERN_DEGRADE_REDUCED,
  TERN_DEGRADE_MINIMAL,
  TERN_DEGRADE_EMERGENCY,
  TERN_DEGRADE__COUNT
} tern_degrade_level_t;

#define TERN_DEGRADE_MODE_VOICE 1u
#define TERN_DEGRADE_MODE_TEXT 2u
#define TERN_DEGRADE_MODE_STATIC 4u

typedef struct tern_degrade {
  tern_health_t stt, llm, tts;
  tern_degrade_level_t level;
} tern_degrade_t;

typedef struct tern_degrade_change {
  bool changed;
  tern_degrade_level_t from, to;
} tern_degrade_change_t;

/* "healthy", "degraded", "down" / "full", "reduced", "minimal", "emergency". */
const char *tern_health_name(tern_health_t h);
const char *tern_degrade_level_name(tern_degrade_level_t l);
int tern_degrade_level_parse(const char *name, tern_degrade_level_t *out);

/* The health a chain's current link means: 0 (primary) healthy, a later
 * link degraded, TERN_CHAIN_NONE (or any negative) down. */
tern_health_t tern_health_from_link(int current_link);

tern_degrade_level_t tern_degrade_level_of(tern_health_t stt, tern_health_t llm, tern_health_t tts);
unsigned tern_degrade_modes_of(tern_health_t stt, tern_health_t llm, tern_health_t tts);
unsigned tern_degrade_level_modes(tern_degrade_level_t l);

/* Start with everything healthy (level full). */
void tern_degrade_init(tern_degrade_t *d);
/* Set one component's health (stt, llm or tts; TERN_EINVAL otherwise) and
 * report whether the level moved. out may be NULL. */
int tern_degrade_set(tern_degrade_t *d, tern_component_t comp, tern_health_t h,
                     tern_degrade_change_t *out);
/* The modes the tracked healths allow. */
unsigned tern_degrade_modes(const tern_degrade_t *d);

#ifdef __cplusplus
}
#endif
#endif
