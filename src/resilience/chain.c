/* Fallback chain with recovery probes and switch-back.
 *
 * Invariants: `current` always equals the index of the first AVAILABLE link
 * (or TERN_CHAIN_NONE) as of the last mutating call, and the switch callback
 * has been told about every change of it. A COOLING link has a
 * next_probe_at >= its hold_until. Intervals only grow while a link stays
 * out of service and are reset when it comes back.
 */
#include "tern/chain.h"

#include <math.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/error.h"

#define NO_HOLD INT64_MIN

typedef struct link {
  char *name;
  tern_link_state_t state;
  tern_usec_t next_probe_at;
  tern_usec_t interval;
  tern_usec_t hold_until;
  uint32_t failed_probes;
  uint64_t failures;
} link_t;

struct tern_chain {
  link_t links[TERN_CHAIN_MAX_LINKS];
  size_t n;
  tern_chain_config_t cfg;
  int current;
  tern_chain_switch_fn on_switch;
  void *ud;
};

void tern_chain_config_default(tern_chain_config_t *cfg) {
  cfg->probe_initial = TERN_SEC(5);
  cfg->probe_max = TERN_SEC(60);
  cfg->probe_multiplier = 2.0;
}

const char *tern_link_state_name(tern_link_state_t s) {
  switch (s) {
  case TERN_LINK_AVAILABLE:
    return "available";
  case TERN_LINK_COOLING:
    return "cooling";
  case TERN_LINK_PROBING:
    return "probing";
  }
  return "?";
}

const char *tern_switch_reason_name(tern_switch_reason_t r) {
  switch (r) {
  case TERN_SWITCH_FAILOVER:
    return "failover";
  case TERN_SWITCH_BACK:
    return "switch_back";
  }
  return "?";
}

/* Times near INT64_MAX must not wrap into the past. */
static tern_usec_t sat_add(tern_usec_t a, tern_usec_t b) {
  if (b > 0 && a > INT64_MAX - b)
    return INT64_MAX;
  return a + b;
}

static tern_usec_t max_t(tern_usec_t a, tern_usec_t b) { return a > b ? a : b; }

static int config_valid(const tern_chain_config_t *cfg) {
  return cfg->probe_initial > 0 && cfg->probe_max >= cfg->probe_initial &&
         isfinite(cfg->probe_multiplier) && cfg->probe_multiplier >= 1.0;
}

int tern_chain_create(const char *const *names, size_t n, const tern_chain_config_t *cfg,
                      tern_chain_t **out) {
  if (!out)
    return TERN_EINVAL;
  *out = NULL;
  if (!names || n == 0 || n > TERN_CHAIN_MAX_LINKS)
    return TERN_EINVAL;
  tern_chain_config_t conf;
  if (cfg)
    conf = *cfg;
  else
    tern_chain_config_default(&conf);
  if (!config_valid(&conf))
    return TERN_EINVAL;
  for (size_t i = 0; i < n; i++) {
    if (!names[i] || !names[i][0])
      return TERN_EINVAL;
    for (size_t j = 0; j < i; j++)
      if (strcmp(names[i], names[j]) == 0)
        return TERN_EINVAL;
  }

  tern_chain_t *c = tern_calloc(1, sizeof *c);
  if (!c)
    return TERN_ENOMEM;
  c->n = n;
  c->cfg = conf;
  c->current = 0;
  for (size_t i = 0; i < n; i++) {
    link_t *l = &c->links[i];
    l->name = tern_strdup(names[i]);
    if (!l->name) {
      tern_chain_destroy(c);
      return TERN_ENOMEM;
    }
    l->state = TERN_LINK_AVAILABLE;
    l->interval = conf.probe_initial;
    l->hold_until = NO_HOLD;
  }
  *out = c;
  return 0;
}

void tern_chain_destroy(tern_chain_t *c) {
  if (!c)
    return;
  for (size_t i = 0; i < c->n; i++)
    tern_free(c->links[i].name);
  tern_free(c);
}

void tern_chain_on_switch(tern_chain_t *c, tern_chain_switch_fn fn, void *ud) {
  c->on_switch = fn;
  c->ud = ud;
}

size_t tern_chain_size(const tern_chain_t *c) { return c->n; }

static int valid_link(const tern_chain_t *c, int link) { return link >= 0 && (size_t)link < c->n; }

const char *tern_chain_name(const tern_chain_t *c, int link) {
  return valid_link(c, link) ? c->links[link].name : NULL;
}

int tern_chain_link_info(const tern_chain_t *c, int link, tern_chain_link_info_t *out) {
  if (!c || !out || !valid_link(c, link))
    return TERN_EINVAL;
  const link_t *l = &c->links[link];
  out->name = l->name;
  out->state = l->state;
  out->next_probe_at = l->next_probe_at;
  out->interval = l->interval;
  out->hold_until = l->hold_until;
  out->failed_probes = l->failed_probes;
  out->failures = l->failures;
  return 0;
}

static int first_available(const tern_chain_t *c, int from) {
  for (size_t i = (size_t)from; i < c->n; i++)
    if (c->links[i].state == TERN_LINK_AVAILABLE)
      return (int)i;
  return TERN_CHAIN_NONE;
}

int tern_chain_current(const tern_chain_t *c, int *out_link) {
  if (!c || !out_link)
    return TERN_EINVAL;
  *out_link = c->current;
  return c->current == TERN_CHAIN_NONE ? TERN_EEXHAUSTED : 0;
}

int tern_chain_next(const tern_chain_t *c, int after, int *out_link) {
  if (!c || !out_link || after < TERN_CHAIN_NONE || after >= (int)c->n)
    return TERN_EINVAL;
  *out_link = first_available(c, after + 1);
  return *out_link == TERN_CHAIN_NONE ? TERN_EEXHAUSTED : 0;
}

/* Recompute the preferred link and tell the callback when it moved. */
static void update_current(tern_chain_t *c) {
  int now_cur = first_available(c, 0);
  if (now_cur == c->current)
    return;
  tern_chain_switch_t sw;
  sw.from = c->current;
  sw.to = now_cur;
  sw.from_name = tern_chain_name(c, sw.from);
  sw.to_name = tern_chain_name(c, sw.to);
  /* Lower index = higher priority; leaving "none" is always a way back. */
  if (now_cur == TERN_CHAIN_NONE || (sw.from != TERN_CHAIN_NONE && now_cur > sw.from))
    sw.reason = TERN_SWITCH_FAILOVER;
  else
    sw.reason = TERN_SWITCH_BACK;
  c->current = now_cur;
  if (c->on_switch)
    c->on_switch(&sw, c->ud);
}

static void start_cooling(tern_chain_t *c, link_t *l, tern_usec_t now) {
  l->state = TERN_LINK_COOLING;
  l->interval = c->cfg.probe_initial;
  l->failed_probes = 0;
  l->next_probe_at = max_t(sat_add(now, l->interval), l->hold_until);
}

static void hold(link_t *l, tern_usec_t until) {
  l->hold_until = max_t(l->hold_until, until);
  if (l->state == TERN_LINK_COOLING)
    l->next_probe_at = max_t(l->next_probe_at, l->hold_until);
}

int tern_chain_report_failure(tern_chain_t *c, int link, const tern_error_t *err, tern_usec_t now) {
  if (!c || !valid_link(c, link))
    return TERN_EINVAL;
  if (err && err->kind == TERN_KIND_CANCELLED)
    return 0;
  link_t *l = &c->links[link];
  l->failures++;
  if (err && err->retry_after > 0)
    hold(l, sat_add(now, err->retry_after));
  if (l->state == TERN_LINK_AVAILABLE) {
    start_cooling(c, l, now);
    update_current(c);
  }
  return 0;
}

static void make_available(tern_chain_t *c, link_t *l) {
  l->state = TERN_LINK_AVAILABLE;
  l->interval = c->cfg.probe_initial;
  l->failed_probes = 0;
  l->hold_until = NO_HOLD;
  l->next_probe_at = 0;
}

int tern_chain_report_success(tern_chain_t *c, int link, tern_usec_t now) {
  (void)now;
  if (!c || !valid_link(c, link))
    return TERN_EINVAL;
  link_t *l = &c->links[link];
  if (l->state != TERN_LINK_AVAILABLE) {
    make_available(c, l);
    update_current(c);
  }
  return 0;
}

int tern_chain_mark_unavailable(tern_chain_t *c, int link, tern_usec_t until, tern_usec_t now) {
  if (!c || !valid_link(c, link))
    return TERN_EINVAL;
  link_t *l = &c->links[link];
  hold(l, until);
  if (l->state == TERN_LINK_AVAILABLE) {
    start_cooling(c, l, now);
    update_current(c);
  }
  return 0;
}

int tern_chain_due_probes(tern_chain_t *c, tern_usec_t now, int *out_links, size_t cap,
                          size_t *out_n) {
  if (!c || !out_n || (cap > 0 && !out_links))
    return TERN_EINVAL;
  size_t k = 0;
  for (size_t i = 0; i < c->n && k < cap; i++) {
    link_t *l = &c->links[i];
    if (l->state == TERN_LINK_COOLING && l->next_probe_at <= now) {
      l->state = TERN_LINK_PROBING;
      out_links[k++] = (int)i;
    }
  }
  *out_n = k;
  return 0;
}

int tern_chain_probe_result(tern_chain_t *c, int link, bool ok, tern_usec_t now) {
  if (!c || !valid_link(c, link))
    return TERN_EINVAL;
  link_t *l = &c->links[link];
  if (l->state != TERN_LINK_PROBING)
    return TERN_ESTATE;
  if (ok) {
    make_available(c, l);
    update_current(c);
    return 0;
  }
  double grown = (double)l->interval * c->cfg.probe_multiplier;
  l->interval = grown >= (double)c->cfg.probe_max ? c->cfg.probe_max : (tern_usec_t)grown;
  l->failed_probes++;
  l->state = TERN_LINK_COOLING;
  l->next_probe_at = max_t(sat_add(now, l->interval), l->hold_until);
  return 0;
}

int tern_chain_next_probe_at(const tern_chain_t *c, tern_usec_t *out) {
  if (!c || !out)
    return TERN_EINVAL;
  int found = 0;
  tern_usec_t best = INT64_MAX;
  for (size_t i = 0; i < c->n; i++) {
    const link_t *l = &c->links[i];
    if (l->state == TERN_LINK_COOLING && (!found || l->next_probe_at < best)) {
      best = l->next_probe_at;
      found = 1;
    }
  }
  if (!found)
    return TERN_ENOENT;
  *out = best;
  return 0;
}
