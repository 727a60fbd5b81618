#include "provider/provider_util.h"

#include <stdio.h>

#include "tern/alloc.h"
#include "tern/error.h"

int tern__provider_new(tern_component_t comp, tern_component_t only, const char *name,
                       const char *defname, const char *wrong_component, size_t size,
                       const tern_provider_vt_t *vt, const tern_config_t *cfg,
                       tern__configure_fn configure, tern_provider_t **out, char *err,
                       size_t errsz) {
  if (err && errsz)
    err[0] = '\0';
  if (!out)
    return TERN_EINVAL;
  *out = NULL;
  if (!name || !*name)
    name = defname;
  if (comp != only) {
    if (err && errsz)
      snprintf(err, errsz, "[%s.%s]: %s", tern_component_name(comp), name, wrong_component);
    return TERN_EINVAL;
  }
  tern_config_t *own = NULL;
  int rc = 0;
  if (!cfg) {
    if ((rc = tern_config_new(&own)))
      return rc;
    cfg = own;
  }
  char sec[64];
  snprintf(sec, sizeof sec, "%s.%s", tern_component_name(comp), name);
  tern_provider_t *p = tern_calloc(1, size);
  if (!p) {
    rc = TERN_ENOMEM;
  } else {
    p->vt = vt;
    p->component = comp;
    snprintf(p->name, sizeof p->name, "%s", name);
    rc = configure(p, cfg, sec, err, errsz);
  }
  tern_config_free(own);
  if (rc) {
    if (rc == TERN_ENOMEM && err && errsz)
      snprintf(err, errsz, "[%s]: out of memory", sec);
    if (p)
      vt->destroy(p);
    return rc;
  }
  *out = p;
  return 0;
}

int tern__cfg_ms(const tern_config_t *cfg, const char *sec, const char *key, int64_t def_ms,
                 int64_t lo_ms, int64_t hi_ms, tern_usec_t *out, char *err, size_t errsz) {
  int64_t ms;
  int rc = tern_config_get_duration_ms(cfg, sec, key, def_ms, lo_ms, hi_ms, &ms, err, errsz);
  if (!rc)
    *out = TERN_MS(ms);
  return rc;
}
