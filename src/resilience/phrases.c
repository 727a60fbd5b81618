/* The phrase book: spoken fallback words, built-in and caller-supplied.
 * Lookup order, slot names and ids are described in recovery.h.
 *
 * Storage: one slot per (component or any) x (kind or any), plus holding
 * and goodbye. A slot either points at its static built-in variants or owns
 * an array of entries; an owned entry that came from the caller owns one
 * block holding its id and text, while a built-in entry copied into an owned
 * array (by tern_phrases_add) still points at static strings.
 *
 * Invariants: a slot's `last` is -1 or < n and names the variant the slot
 * gave last; it is reset whenever the variants are replaced, so "never the
 * same twice" compares like with like.
 */
#include "tern/recovery.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/error.h"

typedef struct entry {
  const char *id;
  const char *text;
  char *block; /* owned storage of id and text, or NULL for built-ins */
} entry_t;

typedef struct builtin_set {
  tern_phrase_slot_t slot;
  const entry_t *v;
  size_t n;
} builtin_set_t;

#define E(c, k)                                                                                    \
  { TERN_PHRASE_ERROR, (c), (k) }
#define ANY TERN_PHRASE_ANY
#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* The words. Short, calm, spoken; no talk of servers, errors or models. */
static const entry_t p_stt[] = {
    {"stt.1", "Sorry, I didn't quite catch that. Could you say it again?", NULL},
    {"stt.2", "I missed that, I'm afraid. Would you mind repeating it?", NULL},
    {"stt.3", "Sorry, that didn't come through clearly. One more time?", NULL},
};
static const entry_t p_llm_timeout[] = {
    {"llm.timeout.1", "Bear with me a moment, I'm still working on that.", NULL},
    {"llm.timeout.2", "Just a second, I'm nearly there.", NULL},
    {"llm.timeout.3", "Hang on, let me think about that a little longer.", NULL},
};
static const entry_t p_llm[] = {
    {"llm.1", "Sorry, I lost my train of thought there. Could you ask me again?", NULL},
    {"llm.2",
     "Apologies, I couldn't put an answer together just now. Could you say that once more?", NULL},
    {"llm.3", "Sorry about that, my answer got lost on the way. Let's try again.", NULL},
};
static const entry_t p_tts[] = {
    {"tts.1", "I'm having a little trouble with my voice, so I'll reply in text for now.", NULL},
    {"tts.2", "Sorry, my voice isn't working properly right now. I'll write my answers instead.",
     NULL},
    {"tts.3", "My voice is playing up, so I'll carry on in text for a bit.", NULL},
};
static const entry_t p_tool[] = {
    {"tool.1", "I couldn't get that information just now. Let's try another way.", NULL},
    {"tool.2", "Sorry, I wasn't able to look that up at the moment.", NULL},
    {"tool.3", "That didn't go through on my side, I'm afraid. Shall I try again?", NULL},
};
static const entry_t p_rate_limited[] = {
    {"rate_limited.1", "There's a lot going on right now. Give me just a moment.", NULL},
    {"rate_limited.2", "Things are a little busy at the moment. Thanks for bearing with me.", NULL},
    {"rate_limited.3", "It's busy on my end right now. I'll be with you in a second.", NULL},
};
static const entry_t p_overloaded[] = {
    {"overloaded.1", "I'm a bit swamped right now. One moment, please.", NULL},
    {"overloaded.2", "Lots happening at once here. Thanks for your patience.", NULL},
    {"overloaded.3", "Just a moment, it's very busy on my side.", NULL},
};
static const entry_t p_generic[] = {
    {"generic.1", "Sorry, something went wrong on my end. Let's try that again.", NULL},
    {"generic.2", "Apologies, I hit a snag there. Could you repeat that?", NULL},
    {"generic.3", "Sorry about that. Could we give it another go?", NULL},
};
static const entry_t p_holding[] = {
    {"holding.1", "One moment.", NULL},       {"holding.2", "Just a second.", NULL},
    {"holding.3", "Give me a moment.", NULL}, {"holding.4", "Bear with me.", NULL},
    {"holding.5", "Let me see.", NULL},
};
static const entry_t p_goodbye[] = {
    {"goodbye.1",
     "I'm sorry, something isn't working properly on my side, so I'll have to stop here. "
     "Please try again a little later. Goodbye.",
     NULL},
    {"goodbye.2",
     "Sorry, I can't carry on our conversation right now. Please try again in a little while. "
     "Goodbye.",
     NULL},
    {"goodbye.3",
     "I'm really sorry, I'm having trouble on my end and need to end our call. Please try again "
     "soon. Bye for now.",
     NULL},
};

static const builtin_set_t builtins[] = {
    {E(TERN_COMP_STT, ANY), p_stt, COUNT_OF(p_stt)},
    {E(TERN_COMP_LLM, TERN_KIND_TIMEOUT), p_llm_timeout, COUNT_OF(p_llm_timeout)},
    {E(TERN_COMP_LLM, ANY), p_llm, COUNT_OF(p_llm)},
    {E(TERN_COMP_TTS, ANY), p_tts, COUNT_OF(p_tts)},
    {E(TERN_COMP_TOOL, ANY), p_tool, COUNT_OF(p_tool)},
    {E(ANY, TERN_KIND_RATE_LIMITED), p_rate_limited, COUNT_OF(p_rate_limited)},
    {E(ANY, TERN_KIND_OVERLOADED), p_overloaded, COUNT_OF(p_overloaded)},
    {E(ANY, ANY), p_generic, COUNT_OF(p_generic)},
    {{TERN_PHRASE_HOLDING, ANY, ANY}, p_holding, COUNT_OF(p_holding)},
    {{TERN_PHRASE_GOODBYE, ANY, ANY}, p_goodbye, COUNT_OF(p_goodbye)},
};

/* Slot indices: error slots first, then holding and goodbye. */
#define N_ERROR_SLOTS ((TERN_COMP__COUNT + 1) * (TERN_KIND__COUNT + 1))
#define SLOT_HOLDING N_ERROR_SLOTS
#define SLOT_GOODBYE (N_ERROR_SLOTS + 1)
#define N_SLOTS (N_ERROR_SLOTS + 2)

typedef struct slot {
  const entry_t *v; /* built-in array or `own` */
  entry_t *own;     /* NULL while the slot shows its built-ins */
  size_t n;
  int last;
} slot_t;

struct tern_phrases {
  slot_t slots[N_SLOTS];
};

tern_phrase_slot_t tern_phrase_slot_error(int component, int kind) {
  tern_phrase_slot_t s = {TERN_PHRASE_ERROR, component, kind};
  return s;
}

tern_phrase_slot_t tern_phrase_slot_holding(void) {
  tern_phrase_slot_t s = {TERN_PHRASE_HOLDING, ANY, ANY};
  return s;
}

tern_phrase_slot_t tern_phrase_slot_goodbye(void) {
  tern_phrase_slot_t s = {TERN_PHRASE_GOODBYE, ANY, ANY};
  return s;
}

/* The index of a slot, or -1 when it is malformed. */
static int slot_index(tern_phrase_slot_t s) {
  switch (s.purpose) {
  case TERN_PHRASE_HOLDING:
    return SLOT_HOLDING;
  case TERN_PHRASE_GOODBYE:
    return SLOT_GOODBYE;
  case TERN_PHRASE_ERROR:
    if (s.component < ANY || s.component >= TERN_COMP__COUNT || s.kind < ANY ||
        s.kind >= TERN_KIND__COUNT)
      return -1;
    return (s.component + 1) * (TERN_KIND__COUNT + 1) + (s.kind + 1);
  }
  return -1;
}

static tern_phrase_slot_t slot_at(int idx) {
  if (idx == SLOT_HOLDING)
    return tern_phrase_slot_holding();
  if (idx == SLOT_GOODBYE)
    return tern_phrase_slot_goodbye();
  return tern_phrase_slot_error(idx / (TERN_KIND__COUNT + 1) - 1, idx % (TERN_KIND__COUNT + 1) - 1);
}

int tern_phrase_slot_name(tern_phrase_slot_t slot, char *buf, size_t len) {
  if (!buf || slot_index(slot) < 0)
    return TERN_EINVAL;
  int w;
  if (slot.purpose == TERN_PHRASE_HOLDING)
    w = snprintf(buf, len, "holding");
  else if (slot.purpose == TERN_PHRASE_GOODBYE)
    w = snprintf(buf, len, "goodbye");
  else if (slot.component == ANY && slot.kind == ANY)
    w = snprintf(buf, len, "generic");
  else if (slot.kind == ANY)
    w = snprintf(buf, len, "%s", tern_component_name((tern_component_t)slot.component));
  else if (slot.component == ANY)
    w = snprintf(buf, len, "%s", tern_kind_name((tern_kind_t)slot.kind));
  else
    w = snprintf(buf, len, "%s.%s", tern_component_name((tern_component_t)slot.component),
                 tern_kind_name((tern_kind_t)slot.kind));
  if (w < 0 || (size_t)w >= len)
    return TERN_ETOOBIG;
  return 0;
}

int tern_phrase_slot_parse(const char *name, tern_phrase_slot_t *out) {
  if (!name || !out)
    return TERN_EINVAL;
  if (strcmp(name, "holding") == 0) {
    *out = tern_phrase_slot_holding();
    return 0;
  }
  if (strcmp(name, "goodbye") == 0) {
    *out = tern_phrase_slot_goodbye();
    return 0;
  }
  if (strcmp(name, "generic") == 0) {
    *out = tern_phrase_slot_error(ANY, ANY);
    return 0;
  }
  tern_component_t c;
  tern_kind_t k;
  const char *dot = strchr(name, '.');
  if (!dot) {
    if (tern_component_parse(name, &c) == 0) {
      *out = tern_phrase_slot_error((int)c, ANY);
      return 0;
    }
    if (tern_kind_parse(name, &k) == 0) {
      *out = tern_phrase_slot_error(ANY, (int)k);
      return 0;
    }
    return TERN_EINVAL;
  }
  char comp[TERN_PHRASE_SLOT_NAME_MAX];
  size_t clen = (size_t)(dot - name);
  if (clen == 0 || clen >= sizeof comp)
    return TERN_EINVAL;
  memcpy(comp, name, clen);
  comp[clen] = '\0';
  if (tern_component_parse(comp, &c) != 0 || tern_kind_parse(dot + 1, &k) != 0)
    return TERN_EINVAL;
  *out = tern_phrase_slot_error((int)c, (int)k);
  return 0;
}

size_t tern_phrases_builtin_count(void) {
  size_t n = 0;
  for (size_t i = 0; i < COUNT_OF(builtins); i++)
    n += builtins[i].n;
  return n;
}

int tern_phrases_builtin_at(size_t i, tern_phrase_t *out) {
  if (!out)
    return TERN_EINVAL;
  for (size_t s = 0; s < COUNT_OF(builtins); s++) {
    if (i < builtins[s].n) {
      out->id = builtins[s].v[i].id;
      out->text = builtins[s].v[i].text;
      out->slot = builtins[s].slot;
      return 0;
    }
    i -= builtins[s].n;
  }
  return TERN_ERANGE;
}

static void slot_release(slot_t *s) {
  if (s->own) {
    for (size_t i = 0; i < s->n; i++)
      tern_free(s->own[i].block);
    tern_free(s->own);
  }
  s->own = NULL;
  s->v = NULL;
  s->n = 0;
  s->last = -1;
}

static void load_builtins(tern_phrases_t *p) {
  for (int i = 0; i < N_SLOTS; i++)
    slot_release(&p->slots[i]);
  for (size_t b = 0; b < COUNT_OF(builtins); b++) {
    slot_t *s = &p->slots[slot_index(builtins[b].slot)];
    s->v = builtins[b].v;
    s->n = builtins[b].n;
  }
}

int tern_phrases_create(tern_phrases_t **out) {
  if (!out)
    return TERN_EINVAL;
  *out = NULL;
  tern_phrases_t *p = tern_calloc(1, sizeof *p);
  if (!p)
    return TERN_ENOMEM;
  load_builtins(p);
  *out = p;
  return 0;
}

void tern_phrases_destroy(tern_phrases_t *p) {
  if (!p)
    return;
  for (int i = 0; i < N_SLOTS; i++)
    slot_release(&p->slots[i]);
  tern_free(p);
}

void tern_phrases_reset(tern_phrases_t *p) { load_builtins(p); }

/* A caller-supplied entry "<slot>.c<number>" + text in one block. */
static int make_custom(tern_phrase_slot_t slot, unsigned number, const char *text, entry_t *out) {
  char name[TERN_PHRASE_SLOT_NAME_MAX];
  int rc = tern_phrase_slot_name(slot, name, sizeof name);
  if (rc != 0)
    return rc;
  char id[TERN_PHRASE_ID_MAX];
  int w = snprintf(id, sizeof id, "%s.c%u", name, number);
  if (w < 0 || (size_t)w >= sizeof id)
    return TERN_ETOOBIG;
  size_t idlen = (size_t)w, tlen = strlen(text);
  char *block = tern_malloc(idlen + 1 + tlen + 1);
  if (!block)
    return TERN_ENOMEM;
  memcpy(block, id, idlen + 1);
  memcpy(block + idlen + 1, text, tlen + 1);
  out->id = block;
  out->text = block + idlen + 1;
  out->block = block;
  return 0;
}

static void free_entries(entry_t *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    tern_free(v[i].block);
  tern_free(v);
}

int tern_phrases_set(tern_phrases_t *p, tern_phrase_slot_t slot, const char *const *texts,
                     size_t n) {
  int idx = slot_index(slot);
  if (!p || idx < 0 || (n > 0 && !texts))
    return TERN_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!texts[i] || !texts[i][0])
      return TERN_EINVAL;
  entry_t *v = NULL;
  if (n > 0) {
    v = tern_calloc(n, sizeof *v);
    if (!v)
      return TERN_ENOMEM;
    for (size_t i = 0; i < n; i++) {
      int rc = make_custom(slot, (unsigned)(i + 1), texts[i], &v[i]);
      if (rc != 0) {
        free_entries(v, i);
        return rc;
      }
    }
  }
  slot_t *s = &p->slots[idx];
  slot_release(s);
  s->own = v;
  s->v = v;
  s->n = n;
  return 0;
}

int tern_phrases_add(tern_phrases_t *p, tern_phrase_slot_t slot, const char *text) {
  int idx = slot_index(slot);
  if (!p || idx < 0 || !text || !text[0])
    return TERN_EINVAL;
  slot_t *s = &p->slots[idx];
  unsigned customs = 1;
  for (size_t i = 0; i < s->n; i++)
    if (s->v[i].block)
      customs++;
  entry_t e;
  int rc = make_custom(slot, customs, text, &e);
  if (rc != 0)
    return rc;
  /* A fresh array even when the slot already owns one keeps the slot intact
   * if the allocation fails. */
  entry_t *v = tern_calloc(s->n + 1, sizeof *v);
  if (!v) {
    tern_free(e.block);
    return TERN_ENOMEM;
  }
  if (s->n > 0)
    memcpy(v, s->v, s->n * sizeof *v);
  v[s->n] = e;
  tern_free(s->own); /* its blocks now belong to v */
  s->own = v;
  s->v = v;
  s->n++; /* `last` still names the same variant: appending keeps order */
  return 0;
}

/* Uniform over the variants other than the last one chosen. */
static size_t choose(slot_t *s, double draw) {
  if (!(draw >= 0.0)) /* also catches NaN */
    draw = 0.0;
  if (draw >= 1.0)
    draw = nextafter(1.0, 0.0);
  if (s->n == 1)
    return 0;
  size_t k;
  if (s->last < 0) {
    k = (size_t)(draw * (double)s->n);
    if (k >= s->n)
      k = s->n - 1;
  } else {
    k = (size_t)(draw * (double)(s->n - 1));
    if (k >= s->n - 1)
      k = s->n - 2;
    if (k >= (size_t)s->last)
      k++;
  }
  s->last = (int)k;
  return k;
}

int tern_phrases_pick(tern_phrases_t *p, tern_phrase_slot_t slot, double draw, tern_phrase_t *out) {
  int idx = slot_index(slot);
  if (!p || !out || idx < 0)
    return TERN_EINVAL;
  int cand[4];
  int nc = 0;
  cand[nc++] = idx;
  if (slot.purpose == TERN_PHRASE_ERROR) {
    if (slot.component != ANY && slot.kind != ANY)
      cand[nc++] = slot_index(tern_phrase_slot_error(ANY, slot.kind));
    if (slot.kind != ANY)
      cand[nc++] = slot_index(tern_phrase_slot_error(slot.component, ANY));
    if (slot.component != ANY || slot.kind != ANY)
      cand[nc++] = slot_index(tern_phrase_slot_error(ANY, ANY));
  }
  for (int i = 0; i < nc; i++) {
    slot_t *s = &p->slots[cand[i]];
    if (s->n == 0)
      continue;
    size_t k = choose(s, draw);
    out->id = s->v[k].id;
    out->text = s->v[k].text;
    out->slot = slot_at(cand[i]);
    return 0;
  }
  return TERN_ENOENT;
}

int tern_phrases_pick_for(tern_phrases_t *p, const tern_error_t *err, double draw,
                          tern_phrase_t *out) {
  if (!err)
    return TERN_EINVAL;
  return tern_phrases_pick(p, tern_phrase_slot_error((int)err->component, (int)err->kind), draw,
                           out);
}

size_t tern_phrases_count(const tern_phrases_t *p) {
  size_t n = 0;
  for (int i = 0; i < N_SLOTS; i++)
    n += p->slots[i].n;
  return n;
}

int tern_phrases_at(const tern_phrases_t *p, size_t i, tern_phrase_t *out) {
  if (!p || !out)
    return TERN_EINVAL;
  for (int s = 0; s < N_SLOTS; s++) {
    const slot_t *sl = &p->slots[s];
    if (i < sl->n) {
      out->id = sl->v[i].id;
      out->text = sl->v[i].text;
      out->slot = slot_at(s);
      return 0;
    }
    i -= sl->n;
  }
  return TERN_ERANGE;
}
