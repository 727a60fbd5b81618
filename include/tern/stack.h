/* The provider stack: every configured provider of a process, each with
 * its guard, arranged into one fallback chain per component.
 *
 * Chains come from [stt] chain, [llm] chain, [tts] chain (or an override
 * such as `--llm openai,scripted`); each link names a provider whose
 * settings live in [<component>.<name>] and whose kind is `kind = ...` there
 * or the name itself (openai, anthropic, deepgram, elevenlabs,
 * pocketsphinx, flite, espeak, scripted, fake). With nothing configured the
 * chains follow the keys in the environment and always end offline:
 *   stt: deepgram (DEEPGRAM_API_KEY), openai (OPENAI_API_KEY), pocketsphinx
 *   llm: openai (OPENAI_API_KEY or OPENAI_BASE_URL), anthropic
 *        (ANTHROPIC_API_KEY), scripted
 *   tts: elevenlabs (ELEVENLABS_API_KEY), openai (OPENAI_API_KEY), flite
 * Providers and guards are shared by every session; each session gets its
 * own fallback runners on its own loop (tern_stack_runner).
 */
#ifndef TERN_STACK_H
#define TERN_STACK_H

#include "tern/config.h"
#include "tern/fallback.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_stack tern_stack_t;

typedef struct tern_stack_overrides {
  const char *stt, *llm, *tts; /* comma-separated chains; NULL: from config */
  unsigned only; /* bit (1 << component): build only these chains; 0: all three */
} tern_stack_overrides_t;

int tern_stack_create(const tern_config_t *cfg, const tern_stack_overrides_t *ov,
                      tern_stack_t **out, char *err, size_t errsz);
void tern_stack_destroy(tern_stack_t *st);

/* A fallback runner for one component on a loop (one per session). */
int tern_stack_runner(tern_stack_t *st, tern_component_t comp, tern_loop_t *loop,
                      tern_events_t *events, uint64_t seed, tern_fallback_t **out);

/* The chain of a component as text ("openai,scripted"). */
const char *tern_stack_chain(const tern_stack_t *st, tern_component_t comp);
size_t tern_stack_size(const tern_stack_t *st, tern_component_t comp);
tern_provider_t *tern_stack_provider(const tern_stack_t *st, tern_component_t comp, size_t i);
tern_guard_t *tern_stack_guard(const tern_stack_t *st, tern_component_t comp, size_t i);

/* Create one provider by kind for a link named `name` (settings from
 * [<component>.<name>]); the provider's name is set to `name`. */
int tern_provider_create_kind(tern_component_t comp, const char *kind, const char *name,
                              const tern_config_t *cfg, tern_provider_t **out, char *err,
                              size_t errsz);

/* The default chain for a component given the environment (getenv). */
const char *tern_stack_default_chain(tern_component_t comp);

#ifdef __cplusplus
}
#endif
#endif
