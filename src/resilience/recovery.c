/* Per-session recovery manager: counts errors and decides, from the
 * unrecoverable-error tolerance, whether the session goes on. The rules are
 * in recovery.h.
 *
 * Invariants: strikes[c] < tolerance for every component until `ending` is
 * set, and `ending` never clears (a goodbye, once started, is finished).
 */
#include "tern/recovery.h"

#include <string.h>

#include "tern/alloc.h"
#include "tern/error.h"

struct tern_recovery {
  tern_recovery_config_t cfg;
  tern_recovery_stats_t stats;
  tern_error_t last[TERN_COMP__COUNT];
  bool has_last[TERN_COMP__COUNT];
};

const char *tern_recovery_action_name(tern_recovery_action_t a) {
  switch (a) {
  case TERN_RECOVERY_CONTINUE:
    return "continue";
  case TERN_RECOVERY_END_SESSION:
    return "end_session";
  }
  return "?";
}

void tern_recovery_config_default(tern_recovery_config_t *cfg) {
  cfg->tolerance = TERN_RECOVERY_DEFAULT_TOLERANCE;
}

int tern_recovery_create(const tern_recovery_config_t *cfg, tern_recovery_t **out) {
  if (!out)
    return TERN_EINVAL;
  *out = NULL;
  tern_recovery_config_t conf;
  if (cfg)
    conf = *cfg;
  else
    tern_recovery_config_default(&conf);
  if (conf.tolerance < 1)
    return TERN_EINVAL;
  tern_recovery_t *r = tern_calloc(1, sizeof *r);
  if (!r)
    return TERN_ENOMEM;
  r->cfg = conf;
  r->stats.ending_component = -1;
  *out = r;
  return 0;
}

void tern_recovery_destroy(tern_recovery_t *r) { tern_free(r); }

static int valid_comp(int c) { return c >= 0 && c < TERN_COMP__COUNT; }

int tern_recovery_on_error(tern_recovery_t *r, const tern_error_t *err,
                           tern_recovery_action_t *out_action) {
  if (!r || !err || !out_action || !valid_comp((int)err->component) ||
      (unsigned)err->kind >= TERN_KIND__COUNT)
    return TERN_EINVAL;
  tern_recovery_stats_t *s = &r->stats;
  s->errors_total++;
  s->errors_by_component[err->component]++;
  s->errors_by_kind[err->kind]++;
  r->last[err->component] = *err;
  /* A message must stay a C string even if the reporter filled it badly. */
  r->last[err->component].message[TERN_ERROR_MESSAGE_MAX - 1] = '\0';
  r->last[err->component].provider[TERN_ERROR_PROVIDER_MAX - 1] = '\0';
  r->has_last[err->component] = true;

  if (!err->recoverable) {
    s->unrecoverable_total++;
    if (!s->ending && ++s->strikes[err->component] >= r->cfg.tolerance) {
      s->ending = true;
      s->ending_component = (int)err->component;
    }
  }
  *out_action = s->ending ? TERN_RECOVERY_END_SESSION : TERN_RECOVERY_CONTINUE;
  return 0;
}

int tern_recovery_on_success(tern_recovery_t *r, tern_component_t comp) {
  if (!r || !valid_comp((int)comp))
    return TERN_EINVAL;
  r->stats.successes_total++;
  r->stats.successes_by_component[comp]++;
  r->stats.strikes[comp] = 0;
  return 0;
}

int tern_recovery_last_error(const tern_recovery_t *r, tern_component_t comp, tern_error_t *out) {
  if (!r || !out || !valid_comp((int)comp))
    return TERN_EINVAL;
  if (!r->has_last[comp])
    return TERN_ENOENT;
  *out = r->last[comp];
  return 0;
}

int tern_recovery_stats(const tern_recovery_t *r, tern_recovery_stats_t *out) {
  if (!r || !out)
    return TERN_EINVAL;
  *out = r->stats;
  return 0;
}
