/* Helpers shared by provider constructors (not a public interface). */
#ifndef TERN_PROVIDER_UTIL_H
#define TERN_PROVIDER_UTIL_H

#include "tern/config.h"
#include "tern/provider.h"

/* Reads its settings from section `sec` into the provider just made. */
typedef int (*tern__configure_fn)(tern_provider_t *p, const tern_config_t *cfg, const char *sec,
                                  char *err, size_t errsz);

/* The common frame of a provider constructor: refuses the wrong component
 * (with `wrong_component`, a sentence, in err), treats a NULL config as an
 * empty one, allocates `size` zeroed bytes whose first member is a
 * tern_provider_t, fills in vt/component/name (default `defname`), runs
 * `configure` on [<component>.<name>], and on failure destroys what it
 * made through vt->destroy. */
int tern__provider_new(tern_component_t comp, tern_component_t only, const char *name,
                       const char *defname, const char *wrong_component, size_t size,
                       const tern_provider_vt_t *vt, const tern_config_t *cfg,
                       tern__configure_fn configure, tern_provider_t **out, char *err,
                       size_t errsz);

/* A duration setting in milliseconds, stored as microseconds. */
int tern__cfg_ms(const tern_config_t *cfg, const char *sec, const char *key, int64_t def_ms,
                 int64_t lo_ms, int64_t hi_ms, tern_usec_t *out, char *err, size_t errsz);

#endif
