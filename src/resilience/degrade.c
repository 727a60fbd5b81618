/* Degradation levels from component health; the table is in degrade.h.
 *
 * Invariant: a tern_degrade_t's level always equals
 * tern_degrade_level_of(stt, llm, tts) of its healths.
 */
#include "tern/degrade.h"

#include <string.h>

#include "tern/error.h"

static const char *const level_names[TERN_DEGRADE__COUNT] = {"full", "reduced", "minimal",
                                                             "emergency"};

const char *tern_health_name(tern_health_t h) {
  switch (h) {
  case TERN_HEALTH_HEALTHY:
    return "healthy";
  case TERN_HEALTH_DEGRADED:
    return "degraded";
  case TERN_HEALTH_DOWN:
    return "down";
  case TERN_HEALTH__COUNT:
    break;
  }
  return "?";
}

const char *tern_degrade_level_name(tern_degrade_level_t l) {
  if ((unsigned)l < TERN_DEGRADE__COUNT)
    return level_names[l];
  return "?";
}

int tern_degrade_level_parse(const char *name, tern_degrade_level_t *out) {
  if (!name || !out)
    return TERN_EINVAL;
  for (int i = 0; i < TERN_DEGRADE__COUNT; i++) {
    if (strcmp(name, level_names[i]) == 0) {
      *out = (tern_degrade_level_t)i;
      return 0;
    }
  }
  return TERN_EINVAL;
}

tern_health_t tern_health_from_link(int current_link) {
  if (current_link < 0)
    return TERN_HEALTH_DOWN;
  return current_link == 0 ? TERN_HEALTH_HEALTHY : TERN_HEALTH_DEGRADED;
}

tern_degrade_level_t tern_degrade_level_of(tern_health_t stt, tern_health_t llm,
                                           tern_health_t tts) {
  if (stt == TERN_HEALTH_DOWN)
    return TERN_DEGRADE_EMERGENCY;
  if (llm == TERN_HEALTH_DOWN && tts == TERN_HEALTH_DOWN)
    return TERN_DEGRADE_EMERGENCY;
  if (llm == TERN_HEALTH_DOWN || tts == TERN_HEALTH_DOWN)
    return TERN_DEGRADE_MINIMAL;
  if (stt != TERN_HEALTH_HEALTHY || llm != TERN_HEALTH_HEALTHY || tts != TERN_HEALTH_HEALTHY)
    return TERN_DEGRADE_REDUCED;
  return TERN_DEGRADE_FULL;
}

unsigned tern_degrade_modes_of(tern_health_t stt, tern_health_t llm, tern_health_t tts) {
  unsigned m = TERN_DEGRADE_MODE_STATIC;
  /* Without ears there is nothing to generate a reply to. */
  if (stt == TERN_HEALTH_DOWN || llm == TERN_HEALTH_DOWN)
    return m;
  m |= TERN_DEGRADE_MODE_TEXT;
  if (tts != TERN_HEALTH_DOWN)
    m |= TERN_DEGRADE_MODE_VOICE;
  return m;
}

unsigned tern_degrade_level_modes(tern_degrade_level_t l) {
  switch (l) {
  case TERN_DEGRADE_FULL:
  case TERN_DEGRADE_REDUCED:
    return TERN_DEGRADE_MODE_VOICE | TERN_DEGRADE_MODE_TEXT | TERN_DEGRADE_MODE_STATIC;
  case TERN_DEGRADE_MINIMAL:
    return TERN_DEGRADE_MODE_TEXT | TERN_DEGRADE_MODE_STATIC;
  case TERN_DEGRADE_EMERGENCY:
  case TERN_DEGRADE__COUNT:
    break;
  }
  return TERN_DEGRADE_MODE_STATIC;
}

void tern_degrade_init(tern_degrade_t *d) {
  d->stt = d->llm = d->tts = TERN_HEALTH_HEALTHY;
  d->level = TERN_DEGRADE_FULL;
}

int tern_degrade_set(tern_degrade_t *d, tern_component_t comp, tern_health_t h,
                     tern_degrade_change_t *out) {
  if (!d || (unsigned)h >= TERN_HEALTH__COUNT)
    return TERN_EINVAL;
  switch (comp) {
  case TERN_COMP_STT:
    d->stt = h;
    break;
  case TERN_COMP_LLM:
    d->llm = h;
    break;
  case TERN_COMP_TTS:
    d->tts = h;
    break;
  default:
    return TERN_EINVAL;
  }
  tern_degrade_level_t from = d->level;
  d->level = tern_degrade_level_of(d->stt, d->llm, d->tts);
  if (out) {
    out->changed = d->level != from;
    out->from = from;
    out->to = d->level;
  }
  return 0;
}

unsigned tern_degrade_modes(const tern_degrade_t *d) {
  return tern_degrade_modes_of(d->stt, d->llm, d->tts);
}
