/* Provider registry and stack: config -> providers + guards -> chains. */
#include "tern/stack.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/anthropic.h"
#include "tern/deepgram.h"
#include "tern/elevenlabs.h"
#include "tern/error.h"
#include "tern/espeak_tts.h"
#include "tern/fake.h"
#include "tern/flite_tts.h"
#include "tern/openai.h"
#include "tern/scripted.h"
#include "tern/sphinx.h"

typedef struct link {
  char name[TERN_PROVIDER_NAME_MAX];
  tern_provider_t *p;
  tern_guard_t *g;
} link_t;

struct tern_stack {
  link_t links[3][TERN_CHAIN_MAX_LINKS];
  size_t n[3];
  char chain[3][256];
  tern_fallback_config_t fcfg;
};

static int comp_index(tern_component_t c) {
  return c == TERN_COMP_STT ? 0 : c == TERN_COMP_LLM ? 1 : c == TERN_COMP_TTS ? 2 : -1;
}

static const char *cfg_str(const tern_config_t *cfg, const char *sec, const char *key,
                           const char *def) {
  const char *v = def;
  if (cfg)
    tern_config_get_str(cfg, sec, key, def, &v, NULL, 0);
  return v;
}

static int create_sphinx(const tern_config_t *cfg, const char *sec, tern_provider_t **out,
                         char *err, size_t errsz) {
  tern_sphinx_config_t sc = {0};
  sc.hmm = cfg_str(cfg, sec, "hmm", NULL);
  sc.dict = cfg_str(cfg, sec, "dict", NULL);
  sc.lm = cfg_str(cfg, sec, "lm", NULL);
  sc.jsgf = cfg_str(cfg, sec, "jsgf", NULL);
  sc.keyphrase = cfg_str(cfg, sec, "keyphrase", NULL);
  int64_t n = 2;
  if (cfg) {
    int rc = tern_config_get_int(cfg, sec, "max_decoders", 2, 1, 64, &n, err, errsz);
    if (rc)
      return rc;
  }
  sc.max_decoders = (int)n;
  return tern_sphinx_provider_create(&sc, out, err, errsz);
}

/* [<component>.<name>] settings of a fake (tern/fake.h): the default step's
 * latency and text, and random faults. */
static int configure_fake(tern_provider_t *p, const tern_config_t *cfg, const char *sec,
                          char *err, size_t errsz) {
  if (!cfg)
    return 0;
  tern_fake_step_t st = TERN_FAKE_OK;
  int64_t first, interval, seed;
  double fail, stall, spl;
  int rc = tern_config_get_duration_ms(cfg, sec, "first_delay_ms", 0, 0, 600000, &first, err,
                                       errsz);
  if (!rc)
    rc = tern_config_get_duration_ms(cfg, sec, "interval_ms", 1, 0, 600000, &interval, err, errsz);
  if (!rc)
    rc = tern_config_get_double(cfg, sec, "fail_rate", 0, 0, 1, &fail, err, errsz);
  if (!rc)
    rc = tern_config_get_double(cfg, sec, "stall_rate", 0, 0, 1, &stall, err, errsz);
  if (!rc)
    rc = tern_config_get_int(cfg, sec, "seed", 1, 0, INT64_MAX, &seed, err, errsz);
  if (!rc)
    rc = tern_config_get_double(cfg, sec, "samples_per_letter", 0, 0, 48000, &spl, err, errsz);
  if (rc)
    return rc;
  if (fail + stall > 1) {
    snprintf(err, errsz, "%s: fail_rate + stall_rate must be at most 1", sec);
    return TERN_ECONFIG;
  }
  st.first_delay = TERN_MS(first);
  st.interval = TERN_MS(interval);
  st.text = cfg_str(cfg, sec, "reply", NULL);
  if ((rc = tern_fake_set_default(p, &st)))
    return rc;
  if (spl > 0)
    tern_fake_set_samples_per_letter(p, spl);
  return tern_fake_set_faults(p, fail, stall, (uint64_t)seed);
}

int tern_provider_create_kind(tern_component_t comp, const char *kind, const char *name,
                              const tern_config_t *cfg, tern_provider_t **out, char *err,
                              size_t errsz) {
  char sec[96];
  snprintf(sec, sizeof sec, "%s.%s", tern_component_name(comp), name);
  int rc = TERN_EUNSUPPORTED;
  bool stt = comp == TERN_COMP_STT, llm = comp == TERN_COMP_LLM, tts = comp == TERN_COMP_TTS;
  *out = NULL;
  if (!strcmp(kind, "openai")) {
    rc = tern_openai_provider_create(comp, name, cfg, out, err, errsz);
  } else if (!strcmp(kind, "anthropic") && llm) {
    rc = tern_anthropic_provider_create(comp, name, cfg, out, err, errsz);
  } else if (!strcmp(kind, "deepgram") && stt) {
    rc = tern_deepgram_provider_create(comp, name, cfg, out, err, errsz);
  } else if (!strcmp(kind, "elevenlabs") && tts) {
    rc = tern_elevenlabs_provider_create(comp, name, cfg, out, err, errsz);
  } else if ((!strcmp(kind, "pocketsphinx") || !strcmp(kind, "sphinx")) && stt) {
    rc = create_sphinx(cfg, sec, out, err, errsz);
  } else if (!strcmp(kind, "flite") && tts) {
    rc = tern_flite_provider_create(cfg_str(cfg, sec, "voice", NULL), out);
  } else if ((!strcmp(kind, "espeak") || !strcmp(kind, "espeak-ng")) && tts) {
    rc = tern_espeak_provider_create(cfg_str(cfg, sec, "voice", NULL), out);
  } else if (!strcmp(kind, "scripted") && llm) {
    rc = tern_scripted_provider_create(cfg_str(cfg, sec, "rules", NULL), out, err, errsz);
  } else if (!strcmp(kind, "fake")) {
    if (!(rc = tern_fake_create(comp, name, out)) && (rc = configure_fake(*out, cfg, sec, err, errsz))) {
      tern_provider_destroy(*out);
      *out = NULL;
    }
  } else {
    snprintf(err, errsz,
             "%s: unknown provider kind '%s' for %s (known: %s)", sec, kind,
             tern_component_name(comp),
             stt   ? "deepgram, openai, pocketsphinx, fake"
             : llm ? "openai, anthropic, scripted, fake"
                   : "elevenlabs, openai, flite, espeak, fake");
    return TERN_ECONFIG;
  }
  if (rc) {
    if (err && errsz && !err[0])
      snprintf(err, errsz, "%s: could not start the %s provider: %s", sec, kind,
               tern_strerror(rc));
    return rc;
  }
  snprintf((*out)->name, sizeof (*out)->name, "%s", name);
  return 0;
}

const char *tern_stack_default_chain(tern_component_t comp) {
  static char buf[3][128];
  int i = comp_index(comp);
  if (i < 0)
    return "";
  const char *oa = getenv("OPENAI_API_KEY"), *ob = getenv("OPENAI_BASE_URL");
  const char *an = getenv("ANTHROPIC_API_KEY"), *dg = getenv("DEEPGRAM_API_KEY");
  const char *el = getenv("ELEVENLABS_API_KEY");
#define SET(x) (x && *x)
  buf[i][0] = '\0';
  if (comp == TERN_COMP_STT) {
    snprintf(buf[i], sizeof buf[i], "%s%spocketsphinx", SET(dg) ? "deepgram," : "",
             SET(oa) ? "openai," : "");
  } else if (comp == TERN_COMP_LLM) {
    snprintf(buf[i], sizeof buf[i], "%s%sscripted", SET(oa) || SET(ob) ? "openai," : "",
             SET(an) ? "anthropic," : "");
  } else {
    snprintf(buf[i], sizeof buf[i], "%s%sflite", SET(el) ? "elevenlabs," : "",
             SET(oa) ? "openai," : "");
  }
#undef SET
  return buf[i];
}

static int build_chain(tern_stack_t *st, tern_component_t comp, const tern_config_t *cfg,
                       const char *override, char *err, size_t errsz) {
  int ci = comp_index(comp);
  const char *cname = tern_component_name(comp);
  tern_config_list_t list = {0};
  int rc;
  if (override) {
    tern_config_t *tmp;
    if ((rc = tern_config_new(&tmp)))
      return rc;
    char text[512];
    snprintf(text, sizeof text, "[%s]\nchain = %s\n", cname, override);
    rc = tern_config_load_string(tmp, text, strlen(text), "--chain", err, errsz);
    if (!rc)
      rc = tern_config_get_list(tmp, cname, "chain", NULL, &list, err, errsz);
    tern_config_free(tmp);
  } else {
    rc = cfg ? tern_config_get_list(cfg, cname, "chain", tern_stack_default_chain(comp), &list,
                                    err, errsz)
             : TERN_EINVAL;
  }
  if (rc)
    return rc;
  if (list.count == 0 || list.count > TERN_CHAIN_MAX_LINKS) {
    snprintf(err, errsz, "[%s] chain: expected 1 to %d provider names, got %zu", cname,
             TERN_CHAIN_MAX_LINKS, list.count);
    tern_config_list_free(&list);
    return TERN_ECONFIG;
  }
  st->chain[ci][0] = '\0';
  for (size_t i = 0; i < list.count && !rc; i++) {
    const char *name = list.items[i];
    link_t *l = &st->links[ci][i];
    for (size_t k = 0; k < i; k++)
      if (!strcmp(st->links[ci][k].name, name)) {
        snprintf(err, errsz, "[%s] chain: '%s' appears twice", cname, name);
        rc = TERN_ECONFIG;
      }
    if (rc)
      break;
    snprintf(l->name, sizeof l->name, "%s", name);
    char sec[96];
    snprintf(sec, sizeof sec, "%s.%s", cname, name);
    const char *kind = cfg_str(cfg, sec, "kind", name);
    if ((rc = tern_provider_create_kind(comp, kind, name, cfg, &l->p, err, errsz)))
      break;
    tern_guard_config_t gc;
    tern_guard_config_default(comp, &gc);
    if (cfg && (rc = tern_guard_config_load(&gc, cfg, comp, name, err, errsz)))
      break;
    l->p->first_byte_timeout = gc.first_output_timeout;
    l->p->idle_timeout = gc.idle_timeout;
    if ((rc = tern_guards_get(comp, name, &gc, &l->g))) {
      snprintf(err, errsz, "%s: guard settings refused: %s", sec, tern_strerror(rc));
      break;
    }
    st->n[ci] = i + 1;
    size_t len = strlen(st->chain[ci]);
    snprintf(st->chain[ci] + len, sizeof st->chain[ci] - len, "%s%s", i ? "," : "", name);
  }
  tern_config_list_free(&list);
  return rc;
}

int tern_stack_create(const tern_config_t *cfg, const tern_stack_overrides_t *ov,
                      tern_stack_t **out, char *err, size_t errsz) {
  tern_stack_t *st = tern_calloc(1, sizeof *st);
  if (!st)
    return TERN_ENOMEM;
  if (err && errsz)
    err[0] = '\0';
  tern_fallback_config_default(&st->fcfg);
  int rc = 0;
  if (cfg) {
    int64_t ms;
    if (!(rc = tern_config_get_duration_ms(cfg, "fallback", "probe_initial_ms", 5000, 100,
                                           3600000, &ms, err, errsz)))
      st->fcfg.chain.probe_initial = TERN_MS(ms);
    if (!rc && !(rc = tern_config_get_duration_ms(cfg, "fallback", "probe_max_ms", 60000, 100,
                                                  3600000, &ms, err, errsz)))
      st->fcfg.chain.probe_max = TERN_MS(ms);
    if (!rc)
      rc = tern_config_get_bool(cfg, "fallback", "probes", true, &st->fcfg.probes, err, errsz);
  }
  tern_component_t comps[3] = {TERN_COMP_STT, TERN_COMP_LLM, TERN_COMP_TTS};
  const char *ovs[3] = {ov ? ov->stt : NULL, ov ? ov->llm : NULL, ov ? ov->tts : NULL};
  for (int i = 0; i < 3 && !rc; i++)
    if (!ov || !ov->only || (ov->only & (1u << comps[i])))
      rc = build_chain(st, comps[i], cfg, ovs[i], err, errsz);
  if (rc) {
    tern_stack_destroy(st);
    return rc;
  }
  *out = st;
  return 0;
}

void tern_stack_destroy(tern_stack_t *st) {
  if (!st)
    return;
  for (int c = 0; c < 3; c++)
    for (size_t i = 0; i < TERN_CHAIN_MAX_LINKS; i++) {
      tern_provider_destroy(st->links[c][i].p);
      tern_guards_put(st->links[c][i].g);
    }
  tern_free(st);
}

int tern_stack_runner(tern_stack_t *st, tern_component_t comp, tern_loop_t *loop,
                      tern_events_t *events, uint64_t seed, tern_fallback_t **out) {
  int ci = comp_index(comp);
  if (ci < 0 || st->n[ci] == 0)
    return TERN_EINVAL;
  tern_fallback_link_t l[TERN_CHAIN_MAX_LINKS];
  for (size_t i = 0; i < st->n[ci]; i++)
    l[i] = (tern_fallback_link_t){st->links[ci][i].p, st->links[ci][i].g};
  return tern_fallback_create(loop, comp, l, st->n[ci], &st->fcfg, events, seed, out);
}

const char *tern_stack_chain(const tern_stack_t *st, tern_component_t comp) {
  int ci = comp_index(comp);
  return ci < 0 ? "" : st->chain[ci];
}

size_t tern_stack_size(const tern_stack_t *st, tern_component_t comp) {
  int ci = comp_index(comp);
  return ci < 0 ? 0 : st->n[ci];
}

tern_provider_t *tern_stack_provider(const tern_stack_t *st, tern_component_t comp, size_t i) {
  int ci = comp_index(comp);
  return ci < 0 || i >= st->n[ci] ? NULL : st->links[ci][i].p;
}

tern_guard_t *tern_stack_guard(const tern_stack_t *st, tern_component_t comp, size_t i) {
  int ci = comp_index(comp);
  return ci < 0 || i >= st->n[ci] ? NULL : st->links[ci][i].g;
}
