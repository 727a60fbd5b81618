/* Recovery manager (counts, tolerance) and phrase book (lookup order,
 * custom variants, no immediate repeats, built-in list). */
#include "testutil.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/rand.h"
#include "tern/recovery.h"

#define ANY TERN_PHRASE_ANY
#define CONT TERN_RECOVERY_CONTINUE
#define END TERN_RECOVERY_END_SESSION

static tern_error_t mkerr(tern_component_t c, tern_kind_t k, bool recoverable) {
  tern_error_t e;
  memset(&e, 0, sizeof e);
  e.component = c;
  e.kind = k;
  e.recoverable = recoverable;
  e.retry_after = -1;
  snprintf(e.provider, sizeof e.provider, "p%d", (int)c);
  snprintf(e.message, sizeof e.message, "%d/%d", (int)c, (int)k);
  return e;
}

/* ---- recovery manager ---------------------------------------------------- */

typedef enum { ERR_RECOVERABLE, ERR_FATAL, OK } rop_t;

typedef struct rstep {
  rop_t op;
  tern_component_t comp;
  tern_recovery_action_t action; /* expected after an error */
  uint32_t strikes;              /* expected strikes of comp afterwards */
} rstep_t;

static void run_recovery(uint32_t tolerance, const rstep_t *steps, size_t n) {
  tern_recovery_config_t cfg = {tolerance};
  tern_recovery_t *r;
  assert_int_equal(tern_recovery_create(&cfg, &r), 0);
  for (size_t i = 0; i < n; i++) {
    const rstep_t *s = &steps[i];
    if (s->op == OK) {
      assert_int_equal(tern_recovery_on_success(r, s->comp), 0);
    } else {
      tern_error_t e = mkerr(s->comp, TERN_KIND_SERVER, s->op == ERR_RECOVERABLE);
      tern_recovery_action_t a = 99;
      assert_int_equal(tern_recovery_on_error(r, &e, &a), 0);
      if (a != s->action)
        fail_msg("step %zu: %s, expected %s", i, tern_recovery_action_name(a),
                 tern_recovery_action_name(s->action));
    }
    tern_recovery_stats_t st;
    assert_int_equal(tern_recovery_stats(r, &st), 0);
    if (st.strikes[s->comp] != s->strikes)
      fail_msg("step %zu: %u strikes, expected %u", i, st.strikes[s->comp], s->strikes);
  }
  tern_recovery_destroy(r);
}

static void test_tolerance_ends_session(void **state) {
  (void)state;
  static const rstep_t steps[] = {
      {ERR_FATAL, TERN_COMP_LLM, CONT, 1},
      {ERR_FATAL, TERN_COMP_LLM, CONT, 2},
      {ERR_FATAL, TERN_COMP_LLM, END, 3},
  };
  run_recovery(3, steps, 3);
}

static void test_success_resets_and_recoverable_do_not_count(void **state) {
  (void)state;
  static const rstep_t steps[] = {
      {ERR_FATAL, TERN_COMP_TTS, CONT, 1},
      {ERR_FATAL, TERN_COMP_TTS, CONT, 2},
      {OK, TERN_COMP_TTS, CONT, 0},
      {ERR_FATAL, TERN_COMP_TTS, CONT, 1},
      {ERR_FATAL, TERN_COMP_TTS, CONT, 2},
      /* recoverable errors, however many, add nothing */
      {ERR_RECOVERABLE, TERN_COMP_TTS, CONT, 2},
      {ERR_RECOVERABLE, TERN_COMP_TTS, CONT, 2},
      {ERR_RECOVERABLE, TERN_COMP_TTS, CONT, 2},
      /* strikes are per component, and so are resets */
      {ERR_FATAL, TERN_COMP_STT, CONT, 1},
      {ERR_FATAL, TERN_COMP_STT, CONT, 2},
      {OK, TERN_COMP_LLM, CONT, 0},
      {OK, TERN_COMP_STT, CONT, 0},
      {ERR_FATAL, TERN_COMP_TTS, END, 3},
      /* once ending, every error answers END, even a recoverable one */
      {ERR_RECOVERABLE, TERN_COMP_STT, END, 0},
      {OK, TERN_COMP_TTS, CONT, 0},
      {ERR_RECOVERABLE, TERN_COMP_TTS, END, 0},
  };
  run_recovery(3, steps, sizeof steps / sizeof steps[0]);
}

static void test_custom_tolerance(void **state) {
  (void)state;
  static const rstep_t one[] = {
      {ERR_RECOVERABLE, TERN_COMP_TOOL, CONT, 0},
      {ERR_FATAL, TERN_COMP_TOOL, END, 1},
  };
  run_recovery(1, one, 2);
  static const rstep_t five[] = {
      {ERR_FATAL, TERN_COMP_LLM, CONT, 1}, {ERR_FATAL, TERN_COMP_LLM, CONT, 2},
      {ERR_FATAL, TERN_COMP_LLM, CONT, 3}, {ERR_FATAL, TERN_COMP_LLM, CONT, 4},
      {ERR_FATAL, TERN_COMP_LLM, END, 5},
  };
  run_recovery(5, five, 5);
  tern_recovery_config_t cfg = {0};
  tern_recovery_t *r = (tern_recovery_t *)1;
  assert_int_equal(tern_recovery_create(&cfg, &r), TERN_EINVAL);
  assert_null(r);
  tern_recovery_config_default(&cfg);
  assert_int_equal(cfg.tolerance, 3);
}

static void test_counts_and_last_error(void **state) {
  (void)state;
  tern_recovery_t *r;
  assert_int_equal(tern_recovery_create(NULL, &r), 0);
  static const struct {
    tern_component_t c;
    tern_kind_t k;
    bool rec;
  } errs[] = {
      {TERN_COMP_LLM, TERN_KIND_TIMEOUT, true}, {TERN_COMP_LLM, TERN_KIND_SERVER, true},
      {TERN_COMP_STT, TERN_KIND_TIMEOUT, true}, {TERN_COMP_TTS, TERN_KIND_AUTH, false},
      {TERN_COMP_LLM, TERN_KIND_QUOTA, false},  {TERN_COMP_TOOL, TERN_KIND_TIMEOUT, true},
  };
  tern_error_t e;
  assert_int_equal(tern_recovery_last_error(r, TERN_COMP_LLM, &e), TERN_ENOENT);
  for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
    tern_error_t x = mkerr(errs[i].c, errs[i].k, errs[i].rec);
    tern_recovery_action_t a;
    assert_int_equal(tern_recovery_on_error(r, &x, &a), 0);
    assert_int_equal(a, CONT);
  }
  assert_int_equal(tern_recovery_on_success(r, TERN_COMP_LLM), 0);
  assert_int_equal(tern_recovery_on_success(r, TERN_COMP_LLM), 0);
  assert_int_equal(tern_recovery_on_success(r, TERN_COMP_TTS), 0);

  tern_recovery_stats_t st;
  assert_int_equal(tern_recovery_stats(r, &st), 0);
  assert_int_equal(st.errors_total, 6);
  assert_int_equal(st.unrecoverable_total, 2);
  assert_int_equal(st.successes_total, 3);
  assert_int_equal(st.errors_by_component[TERN_COMP_LLM], 3);
  assert_int_equal(st.errors_by_component[TERN_COMP_STT], 1);
  assert_int_equal(st.errors_by_component[TERN_COMP_VAD], 0);
  assert_int_equal(st.errors_by_kind[TERN_KIND_TIMEOUT], 3);
  assert_int_equal(st.errors_by_kind[TERN_KIND_QUOTA], 1);
  assert_int_equal(st.successes_by_component[TERN_COMP_LLM], 2);
  assert_false(st.ending);
  assert_int_equal(st.ending_component, -1);

  /* the last error is a copy: the reporter may reuse its struct */
  assert_int_equal(tern_recovery_last_error(r, TERN_COMP_LLM, &e), 0);
  assert_int_equal(e.kind, TERN_KIND_QUOTA);
  assert_string_equal(e.message, "1/4");
  assert_int_equal(tern_recovery_last_error(r, TERN_COMP_VAD, &e), TERN_ENOENT);

  tern_error_t bad = mkerr(TERN_COMP_LLM, TERN_KIND_SERVER, false);
  bad.component = TERN_COMP__COUNT;
  tern_recovery_action_t a;
  assert_int_equal(tern_recovery_on_error(r, &bad, &a), TERN_EINVAL);
  assert_int_equal(tern_recovery_on_success(r, TERN_COMP__COUNT), TERN_EINVAL);

  /* ending names the component */
  for (int i = 0; i < 3; i++) {
    tern_error_t x = mkerr(TERN_COMP_STT, TERN_KIND_AUTH, false);
    assert_int_equal(tern_recovery_on_error(r, &x, &a), 0);
  }
  assert_int_equal(a, END);
  assert_int_equal(tern_recovery_stats(r, &st), 0);
  assert_true(st.ending);
  assert_int_equal(st.ending_component, TERN_COMP_STT);
  assert_string_equal(tern_recovery_action_name(END), "end_session");
  tern_recovery_destroy(r);
  tern_recovery_destroy(NULL);
}

static int create_recovery(void *ctx) {
  (void)ctx;
  tern_recovery_t *r = NULL;
  int rc = tern_recovery_create(NULL, &r);
  tern_recovery_destroy(r);
  return rc;
}

/* ---- phrase book: lookup ------------------------------------------------- */

static void slot_name_of(tern_phrase_slot_t s, char *buf) {
  assert_int_equal(tern_phrase_slot_name(s, buf, TERN_PHRASE_SLOT_NAME_MAX), 0);
}

static void test_builtin_lookup_order(void **state) {
  (void)state;
  static const struct {
    int c, k;
    const char *from;
  } cases[] = {
      {TERN_COMP_LLM, TERN_KIND_TIMEOUT, "llm.timeout"},
      {TERN_COMP_LLM, TERN_KIND_RATE_LIMITED, "rate_limited"},
      {TERN_COMP_LLM, TERN_KIND_OVERLOADED, "overloaded"},
      {TERN_COMP_LLM, TERN_KIND_SERVER, "llm"},
      {TERN_COMP_LLM, TERN_KIND_STALLED, "llm"},
      {TERN_COMP_STT, TERN_KIND_AUTH, "stt"},
      {TERN_COMP_STT, TERN_KIND_RATE_LIMITED, "rate_limited"},
      {TERN_COMP_TTS, TERN_KIND_CONNECTION, "tts"},
      {TERN_COMP_TOOL, TERN_KIND_QUOTA, "tool"},
      {TERN_COMP_VAD, TERN_KIND_TIMEOUT, "generic"},
      {TERN_COMP_TRANSPORT, TERN_KIND_CONNECTION, "generic"},
      {TERN_COMP_CONFIG, TERN_KIND_OVERLOADED, "overloaded"},
      {ANY, ANY, "generic"},
      {ANY, TERN_KIND_RATE_LIMITED, "rate_limited"},
      {TERN_COMP_LLM, ANY, "llm"},
  };
  tern_phrases_t *p;
  assert_int_equal(tern_phrases_create(&p), 0);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    tern_phrase_t ph;
    assert_int_equal(tern_phrases_pick(p, tern_phrase_slot_error(cases[i].c, cases[i].k), 0.5, &ph),
                     0);
    char name[TERN_PHRASE_SLOT_NAME_MAX];
    slot_name_of(ph.slot, name);
    if (strcmp(name, cases[i].from) != 0)
      fail_msg("case %zu: from %s, expected %s", i, name, cases[i].from);
    assert_int_equal(strncmp(ph.id, name, strlen(name)), 0);
  }
  tern_error_t e = mkerr(TERN_COMP_STT, TERN_KIND_TIMEOUT, true);
  tern_phrase_t ph;
  assert_int_equal(tern_phrases_pick_for(p, &e, 0.1, &ph), 0);
  assert_string_equal(ph.id, "stt.1");
  tern_phrase_slot_t bad = tern_phrase_slot_error(TERN_COMP__COUNT, ANY);
  assert_int_equal(tern_phrases_pick(p, bad, 0.1, &ph), TERN_EINVAL);
  bad = tern_phrase_slot_error(ANY, -2);
  assert_int_equal(tern_phrases_pick(p, bad, 0.1, &ph), TERN_EINVAL);
  tern_phrases_destroy(p);
}

static void test_fallback_order_when_slots_empty(void **state) {
  (void)state;
  tern_phrases_t *p;
  assert_int_equal(tern_phrases_create(&p), 0);
  const char *exact[] = {"exact"}, *kind[] = {"kind"}, *comp[] = {"comp"}, *gen[] = {"gen"};
  tern_phrase_slot_t s_exact = tern_phrase_slot_error(TERN_COMP_LLM, TERN_KIND_SERVER);
  tern_phrase_slot_t s_kind = tern_phrase_slot_error(ANY, TERN_KIND_SERVER);
  tern_phrase_slot_t s_comp = tern_phrase_slot_error(TERN_COMP_LLM, ANY);
  tern_phrase_slot_t s_gen = tern_phrase_slot_error(ANY, ANY);
  assert_int_equal(tern_phrases_set(p, s_exact, exact, 1), 0);
  assert_int_equal(tern_phrases_set(p, s_kind, kind, 1), 0);
  assert_int_equal(tern_phrases_set(p, s_comp, comp, 1), 0);
  assert_int_equal(tern_phrases_set(p, s_gen, gen, 1), 0);
  static const char *const order[] = {"exact", "kind", "comp", "gen"};
  const tern_phrase_slot_t slots[] = {s_exact, s_kind, s_comp, s_gen};
  for (int i = 0; i < 4; i++) {
    tern_phrase_t ph;
    assert_int_equal(tern_phrases_pick(p, s_exact, 0.3, &ph), 0);
    assert_string_equal(ph.text, order[i]);
    assert_int_equal(tern_phrases_set(p, slots[i], NULL, 0), 0); /* empty it */
  }
  tern_phrase_t ph;
  assert_int_equal(tern_phrases_pick(p, s_exact, 0.3, &ph), TERN_ENOENT);
  /* holding and goodbye never fall back to generic */
  assert_int_equal(tern_phrases_set(p, s_gen, gen, 1), 0);
  assert_int_equal(tern_phrases_set(p, tern_phrase_slot_holding(), NULL, 0), 0);
  assert_int_equal(tern_phrases_pick(p, tern_phrase_slot_holding(), 0.3, &ph), TERN_ENOENT);
  assert_int_equal(tern_phrases_pick(p, tern_phrase_slot_goodbye(), 0.3, &ph), 0);
  assert_int_equal(strncmp(ph.id, "goodbye.", 8), 0);
  /* reset brings every built-in back */
  tern_phrases_reset(p);
  assert_int_equal(tern_phrases_count(p), tern_phrases_builtin_count());
  assert_int_equal(tern_phrases_pick(p, tern_phrase_slot_holding(), 0.3, &ph), 0);
  assert_int_equal(strncmp(ph.id, "holding.", 8), 0);
  tern_phrases_destroy(p);
}

static void test_custom_variants_replace_and_add(void **state) {
  (void)state;
  tern_phrases_t *p;
  assert_int_equal(tern_phrases_create(&p), 0);
  tern_phrase_slot_t s = tern_phrase_slot_error(TERN_COMP_LLM, TERN_KIND_TIMEOUT);
  char a[] = "Still on it.";
  const char *texts[] = {a, "Almost done."};
  assert_int_equal(tern_phrases_set(p, s, texts, 2), 0);
  a[0] = 'X'; /* copied */
  tern_rand_t rng;
  tern_rand_seed(&rng, 7);
  int seen[2] = {0, 0};
  for (int i = 0; i < 200; i++) {
    tern_phrase_t ph;
    assert_int_equal(tern_phrases_pick(p, s, tern_rand_double(&rng), &ph), 0);
    if (strcmp(ph.text, "Still on it.") == 0) {
      assert_string_equal(ph.id, "llm.timeout.c1");
      seen[0]++;
    } else {
      assert_string_equal(ph.text, "Almost done.");
      assert_string_equal(ph.id, "llm.timeout.c2");
      seen[1]++;
    }
  }
  assert_int_equal(seen[0], 100); /* two variants, never twice: they alternate */
  assert_int_equal(seen[1], 100);

  /* adding a variant does not let the last one repeat straight away */
  tern_phrase_t before, after;
  assert_int_equal(tern_phrases_set(p, s, texts, 2), 0); /* fresh: no last pick */
  assert_int_equal(tern_phrases_pick(p, s, 0.0, &before), 0);
  assert_string_equal(before.id, "llm.timeout.c1");
  assert_int_equal(tern_phrases_add(p, s, "Nearly there now."), 0);
  assert_int_equal(tern_phrases_pick(p, s, 0.0, &after), 0);
  assert_string_not_equal(before.id, after.id);
  int got_new = 0;
  for (int i = 0; i < 100; i++) {
    tern_phrase_t ph;
    assert_int_equal(tern_phrases_pick(p, s, tern_rand_double(&rng), &ph), 0);
    if (strcmp(ph.id, "llm.timeout.c3") == 0) {
      assert_string_equal(ph.text, "Nearly there now.");
      got_new++;
    }
  }
  assert_true(got_new > 10);

  /* adding to a built-in slot keeps the built-ins and their ids */
  tern_phrase_slot_t st = tern_phrase_slot_error(TERN_COMP_STT, ANY);
  assert_int_equal(tern_phrases_add(p, st, "Say again?"), 0);
  size_t n = tern_phrases_count(p);
  int builtins_in_stt = 0, custom_in_stt = 0;
  for (size_t i = 0; i < n; i++) {
    tern_phrase_t ph;
    assert_int_equal(tern_phrases_at(p, i, &ph), 0);
    if (strncmp(ph.id, "stt.", 4) == 0) {
      if (strcmp(ph.id, "stt.c1") == 0) {
        assert_string_equal(ph.text, "Say again?");
        custom_in_stt++;
      } else {
        builtins_in_stt++;
      }
    }
  }
  assert_int_equal(builtins_in_stt, 3);
  assert_int_equal(custom_in_stt, 1);
  tern_phrase_t ph;
  assert_int_equal(tern_phrases_at(p, n, &ph), TERN_ERANGE);
  /* 3 built-in llm.timeout replaced by 3 custom, 1 added to stt */
  assert_int_equal(n, tern_phrases_builtin_count() + 1);

  assert_int_equal(tern_phrases_add(p, st, ""), TERN_EINVAL);
  const char *with_null[] = {"ok", NULL};
  assert_int_equal(tern_phrases_set(p, st, with_null, 2), TERN_EINVAL);
  tern_phrases_destroy(p);
}

/* ---- phrase book: choice ------------------------------------------------- */

static void test_never_the_same_twice(void **state) {
  (void)state;
  tern_phrases_t *p;
  assert_int_equal(tern_phrases_create(&p), 0);
  const char *two[] = {"one", "two"};
  tern_phrase_slot_t s_two = tern_phrase_slot_error(TERN_COMP_TOOL, TERN_KIND_TIMEOUT);
  assert_int_equal(tern_phrases_set(p, s_two, two, 2), 0);
  const tern_phrase_slot_t slots[] = {
      tern_phrase_slot_holding(),                               /* 5 variants */
      tern_phrase_slot_error(TERN_COMP_LLM, TERN_KIND_TIMEOUT), /* 3 */
      tern_phrase_slot_goodbye(),                               /* 3 */
      s_two,                                                    /* 2 */
  };
  static const uint64_t seeds[] = {1, 2, 42, 0xdeadbeef, 123456789};
  for (size_t si = 0; si < sizeof seeds / sizeof seeds[0]; si++) {
    for (size_t k = 0; k < sizeof slots / sizeof slots[0]; k++) {
      tern_rand_t rng;
      tern_rand_seed(&rng, seeds[si]);
      const char *prev = NULL;
      int hist[8] = {0};
      for (int i = 0; i < 10000; i++) {
        tern_phrase_t ph;
        assert_int_equal(tern_phrases_pick(p, slots[k], tern_rand_double(&rng), &ph), 0);
        if (prev && strcmp(prev, ph.id) == 0)
          fail_msg("seed %zu slot %zu draw %d: %s twice in a row", si, k, i, ph.id);
        prev = ph.id;
        const char *num = strrchr(ph.id, '.') + 1;
        if (*num == 'c')
          num++;
        int idx = atoi(num);
        assert_true(idx >= 1 && idx < 8);
        hist[idx]++;
      }
      /* every variant is used, and none starves */
      int nvar = 0;
      for (int v = 1; v < 8; v++)
        if (hist[v]) {
          nvar++;
          assert_true(hist[v] > 10000 / 8);
        }
      assert_int_equal(nvar, k == 0 ? 5 : k == 3 ? 2 : 3);
    }
  }
  /* two kinds that share the "llm" slot do not repeat each other either */
  tern_rand_t rng;
  tern_rand_seed(&rng, 99);
  const char *prev = NULL;
  for (int i = 0; i < 10000; i++) {
    tern_kind_t kind = (i % 3) ? TERN_KIND_SERVER : TERN_KIND_AUTH;
    tern_phrase_t ph;
    assert_int_equal(tern_phrases_pick(p, tern_phrase_slot_error(TERN_COMP_LLM, (int)kind),
                                       tern_rand_double(&rng), &ph),
                     0);
    assert_true(prev == NULL || strcmp(prev, ph.id) != 0);
    prev = ph.id;
  }
  tern_phrases_destroy(p);
}

static void test_single_variant_and_odd_draws(void **state) {
  (void)state;
  tern_phrases_t *p;
  assert_int_equal(tern_phrases_create(&p), 0);
  const char *one[] = {"Only this."};
  tern_phrase_slot_t s = tern_phrase_slot_holding();
  assert_int_equal(tern_phrases_set(p, s, one, 1), 0);
  const double draws[] = {0.0, 0.5, 0.999999999, 1.0, -3.0, NAN, 0.25};
  for (int rep = 0; rep < 3; rep++)
    for (size_t i = 0; i < sizeof draws / sizeof draws[0]; i++) {
      tern_phrase_t ph;
      assert_int_equal(tern_phrases_pick(p, s, draws[i], &ph), 0);
      assert_string_equal(ph.text, "Only this.");
      assert_string_equal(ph.id, "holding.c1");
    }
  /* out-of-range draws on a many-variant slot stay in range and still alternate */
  tern_phrase_slot_t g = tern_phrase_slot_goodbye();
  const char *prev = NULL;
  for (int rep = 0; rep < 20; rep++)
    for (size_t i = 0; i < sizeof draws / sizeof draws[0]; i++) {
      tern_phrase_t ph;
      assert_int_equal(tern_phrases_pick(p, g, draws[i], &ph), 0);
      assert_non_null(ph.text);
      assert_true(prev == NULL || strcmp(prev, ph.id) != 0);
      prev = ph.id;
    }
  tern_phrases_destroy(p);
}

/* ---- built-in list and slot names ---------------------------------------- */

static int contains_word_ci(const char *text, const char *word) {
  size_t wl = strlen(word);
  for (const char *t = text; *t; t++) {
    if (strncasecmp(t, word, wl) == 0 && (t == text || !isalpha((unsigned char)t[-1])) &&
        !isalpha((unsigned char)t[wl]))
      return 1;
  }
  return 0;
}

static void test_builtin_list(void **state) {
  (void)state;
  size_t n = tern_phrases_builtin_count();
  assert_true(n >= 3 * 9);
  static const char *const jargon[] = {"error", "server", "api",     "model",   "llm",      "tts",
                                       "stt",   "http",   "timeout", "network", "provider", "bug"};
  static const char *const must[] = {"stt",     "llm.timeout",  "llm",        "tts",
                                     "tool",    "rate_limited", "overloaded", "generic",
                                     "holding", "goodbye"};
  int per_slot[sizeof must / sizeof must[0]] = {0};
  for (size_t i = 0; i < n; i++) {
    tern_phrase_t ph;
    assert_int_equal(tern_phrases_builtin_at(i, &ph), 0);
    assert_true(strlen(ph.text) > 3 && strlen(ph.text) < 160);
    for (size_t j = 0; j < sizeof jargon / sizeof jargon[0]; j++)
      if (contains_word_ci(ph.text, jargon[j]))
        fail_msg("%s says \"%s\"", ph.id, jargon[j]);
    /* id = slot name + "." + position in the slot from 1, unique */
    char name[TERN_PHRASE_SLOT_NAME_MAX], want[TERN_PHRASE_ID_MAX];
    slot_name_of(ph.slot, name);
    size_t m;
    for (m = 0; m < sizeof must / sizeof must[0]; m++)
      if (strcmp(must[m], name) == 0)
        break;
    assert_true(m < sizeof must / sizeof must[0]);
    per_slot[m]++;
    snprintf(want, sizeof want, "%s.%d", name, per_slot[m]);
    assert_string_equal(ph.id, want);
    for (size_t j = 0; j < i; j++) {
      tern_phrase_t other;
      assert_int_equal(tern_phrases_builtin_at(j, &other), 0);
      assert_string_not_equal(other.id, ph.id);
      assert_string_not_equal(other.text, ph.text);
    }
  }
  for (size_t m = 0; m < sizeof must / sizeof must[0]; m++)
    if (per_slot[m] < 3)
      fail_msg("slot %s has %d built-in variants", must[m], per_slot[m]);
  tern_phrase_t ph;
  assert_int_equal(tern_phrases_builtin_at(n, &ph), TERN_ERANGE);
  /* a fresh book holds exactly the built-ins */
  tern_phrases_t *p;
  assert_int_equal(tern_phrases_create(&p), 0);
  assert_int_equal(tern_phrases_count(p), n);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(tern_phrases_at(p, i, &ph), 0);
    int found = 0;
    for (size_t j = 0; j < n && !found; j++) {
      tern_phrase_t b;
      assert_int_equal(tern_phrases_builtin_at(j, &b), 0);
      found = strcmp(b.id, ph.id) == 0 && strcmp(b.text, ph.text) == 0;
    }
    assert_true(found);
  }
  tern_phrases_destroy(p);
}

static void test_slot_names_round_trip(void **state) {
  (void)state;
  int count = 0;
  for (int c = ANY; c < TERN_COMP__COUNT; c++)
    for (int k = ANY; k < TERN_KIND__COUNT; k++) {
      tern_phrase_slot_t s = tern_phrase_slot_error(c, k), back;
      char name[TERN_PHRASE_SLOT_NAME_MAX];
      slot_name_of(s, name);
      assert_int_equal(tern_phrase_slot_parse(name, &back), 0);
      assert_int_equal(back.purpose, TERN_PHRASE_ERROR);
      assert_int_equal(back.component, c);
      assert_int_equal(back.kind, k);
      count++;
    }
  assert_int_equal(count, (TERN_COMP__COUNT + 1) * (TERN_KIND__COUNT + 1));
  tern_phrase_slot_t s;
  assert_int_equal(tern_phrase_slot_parse("llm.timeout", &s), 0);
  assert_int_equal(s.component, TERN_COMP_LLM);
  assert_int_equal(s.kind, TERN_KIND_TIMEOUT);
  assert_int_equal(tern_phrase_slot_parse("holding", &s), 0);
  assert_int_equal(s.purpose, TERN_PHRASE_HOLDING);
  assert_int_equal(tern_phrase_slot_parse("goodbye", &s), 0);
  assert_int_equal(s.purpose, TERN_PHRASE_GOODBYE);
  static const char *const bad[] = {"",     "llm.",        ".timeout",     "llm.nope",
                                    "nope", "timeout.llm", "llm.timeout.1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (tern_phrase_slot_parse(bad[i], &s) != TERN_EINVAL)
      fail_msg("\"%s\" parsed", bad[i]);
  char tiny[4];
  assert_int_equal(tern_phrase_slot_name(tern_phrase_slot_goodbye(), tiny, sizeof tiny),
                   TERN_ETOOBIG);
}

/* ---- allocation failures ------------------------------------------------- */

static int create_phrases(void *ctx) {
  (void)ctx;
  tern_phrases_t *p = NULL;
  int rc = tern_phrases_create(&p);
  tern_phrases_destroy(p);
  return rc;
}

/* set and add leave the slot as it was when they fail */
static int set_and_add(void *ctx) {
  tern_phrases_t *p = ctx;
  tern_phrase_slot_t s = tern_phrase_slot_error(TERN_COMP_TTS, TERN_KIND_TIMEOUT);
  size_t before = tern_phrases_count(p);
  const char *texts[] = {"a", "b", "c"};
  int rc = tern_phrases_set(p, s, texts, 3);
  if (rc != 0) {
    assert_int_equal(tern_phrases_count(p), before);
    return rc;
  }
  rc = tern_phrases_add(p, s, "d");
  if (rc != 0) {
    assert_int_equal(tern_phrases_count(p), before + 3);
    tern_phrases_reset(p);
    return rc;
  }
  rc = tern_phrases_add(p, tern_phrase_slot_goodbye(), "bye");
  if (rc != 0) {
    assert_int_equal(tern_phrases_count(p), before + 4);
    tern_phrases_reset(p);
    return rc;
  }
  assert_int_equal(tern_phrases_count(p), before + 5);
  tern_phrases_reset(p);
  return 0;
}

static void test_allocation_failure_sweeps(void **state) {
  (void)state;
  assert_int_equal(tu_alloc_sweep(create_recovery, NULL), 1);
  assert_int_equal(tu_alloc_sweep(create_phrases, NULL), 1);
  tern_phrases_t *p;
  assert_int_equal(tern_phrases_create(&p), 0);
  assert_int_equal(tu_alloc_sweep(set_and_add, p), 4 + 2 + 2);
  tern_phrases_destroy(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tolerance_ends_session),
      cmocka_unit_test(test_success_resets_and_recoverable_do_not_count),
      cmocka_unit_test(test_custom_tolerance),
      cmocka_unit_test(test_counts_and_last_error),
      cmocka_unit_test(test_builtin_lookup_order),
      cmocka_unit_test(test_fallback_order_when_slots_empty),
      cmocka_unit_test(test_custom_variants_replace_and_add),
      cmocka_unit_test(test_never_the_same_twice),
      cmocka_unit_test(test_single_variant_and_odd_draws),
      cmocka_unit_test(test_builtin_list),
      cmocka_unit_test(test_slot_names_round_trip),
      cmocka_unit_test(test_allocation_failure_sweeps),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
