/* Degradation levels: the full health -> level/modes table and level-change
 * detection. */
#include "testutil.h"

#include "tern/degrade.h"
#include "tern/error.h"

#define H TERN_HEALTH_HEALTHY
#define D TERN_HEALTH_DEGRADED
#define X TERN_HEALTH_DOWN
#define FULL TERN_DEGRADE_FULL
#define RED TERN_DEGRADE_REDUCED
#define MIN TERN_DEGRADE_MINIMAL
#define EMR TERN_DEGRADE_EMERGENCY
#define V TERN_DEGRADE_MODE_VOICE
#define T TERN_DEGRADE_MODE_TEXT
#define S TERN_DEGRADE_MODE_STATIC

/* Every combination, written out: stt, llm, tts -> level, modes. */
static const struct {
  tern_health_t stt, llm, tts;
  tern_degrade_level_t level;
  unsigned modes;
} TABLE[] = {
    {H, H, H, FULL, V | T | S}, {H, H, D, RED, V | T | S}, {H, H, X, MIN, T | S},
    {H, D, H, RED, V | T | S},  {H, D, D, RED, V | T | S}, {H, D, X, MIN, T | S},
    {H, X, H, MIN, S},          {H, X, D, MIN, S},         {H, X, X, EMR, S},
    {D, H, H, RED, V | T | S},  {D, H, D, RED, V | T | S}, {D, H, X, MIN, T | S},
    {D, D, H, RED, V | T | S},  {D, D, D, RED, V | T | S}, {D, D, X, MIN, T | S},
    {D, X, H, MIN, S},          {D, X, D, MIN, S},         {D, X, X, EMR, S},
    {X, H, H, EMR, S},          {X, H, D, EMR, S},         {X, H, X, EMR, S},
    {X, D, H, EMR, S},          {X, D, D, EMR, S},         {X, D, X, EMR, S},
    {X, X, H, EMR, S},          {X, X, D, EMR, S},         {X, X, X, EMR, S},
};

static void test_every_health_combination(void **state) {
  (void)state;
  size_t n = sizeof TABLE / sizeof TABLE[0];
  assert_int_equal(n, 27);
  unsigned seen = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned key = TABLE[i].stt * 9u + TABLE[i].llm * 3u + TABLE[i].tts;
    assert_false(seen & (1u << key)); /* each combination once */
    seen |= 1u << key;
    tern_degrade_level_t l = tern_degrade_level_of(TABLE[i].stt, TABLE[i].llm, TABLE[i].tts);
    unsigned m = tern_degrade_modes_of(TABLE[i].stt, TABLE[i].llm, TABLE[i].tts);
    if (l != TABLE[i].level || m != TABLE[i].modes)
      fail_msg("row %zu (%s,%s,%s): %s/0x%x, expected %s/0x%x", i, tern_health_name(TABLE[i].stt),
               tern_health_name(TABLE[i].llm), tern_health_name(TABLE[i].tts),
               tern_degrade_level_name(l), m, tern_degrade_level_name(TABLE[i].level),
               TABLE[i].modes);
    /* a level never allows less than its healths do */
    assert_int_equal(m & ~tern_degrade_level_modes(l), 0);
    /* the tracker agrees with the pure function */
    tern_degrade_t d;
    tern_degrade_init(&d);
    assert_int_equal(tern_degrade_set(&d, TERN_COMP_STT, TABLE[i].stt, NULL), 0);
    assert_int_equal(tern_degrade_set(&d, TERN_COMP_LLM, TABLE[i].llm, NULL), 0);
    assert_int_equal(tern_degrade_set(&d, TERN_COMP_TTS, TABLE[i].tts, NULL), 0);
    assert_int_equal(d.level, TABLE[i].level);
    assert_int_equal(tern_degrade_modes(&d), TABLE[i].modes);
  }
  assert_int_equal(seen, (1u << 27) - 1);
}

static void test_level_modes(void **state) {
  (void)state;
  assert_int_equal(tern_degrade_level_modes(FULL), V | T | S);
  assert_int_equal(tern_degrade_level_modes(RED), V | T | S);
  assert_int_equal(tern_degrade_level_modes(MIN), T | S);
  assert_int_equal(tern_degrade_level_modes(EMR), S);
}

static void test_level_changes_are_reported(void **state) {
  (void)state;
  static const struct {
    tern_component_t comp;
    tern_health_t h;
    int rc;
    bool changed;
    tern_degrade_level_t from, to;
  } steps[] = {
      {TERN_COMP_LLM, D, 0, true, FULL, RED}, {TERN_COMP_STT, D, 0, false, RED, RED},
      {TERN_COMP_LLM, H, 0, false, RED, RED}, /* stt still on its fallback */
      {TERN_COMP_STT, H, 0, true, RED, FULL}, {TERN_COMP_TTS, X, 0, true, FULL, MIN},
      {TERN_COMP_LLM, X, 0, true, MIN, EMR},  {TERN_COMP_TTS, H, 0, true, EMR, MIN},
      {TERN_COMP_LLM, D, 0, true, MIN, RED},  {TERN_COMP_LLM, H, 0, true, RED, FULL},
      {TERN_COMP_STT, X, 0, true, FULL, EMR}, {TERN_COMP_STT, X, 0, false, EMR, EMR},
      {TERN_COMP_STT, H, 0, true, EMR, FULL},
  };
  tern_degrade_t d;
  tern_degrade_init(&d);
  assert_int_equal(d.level, FULL);
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
    tern_degrade_change_t ch;
    assert_int_equal(tern_degrade_set(&d, steps[i].comp, steps[i].h, &ch), steps[i].rc);
    if (ch.changed != steps[i].changed || ch.from != steps[i].from || ch.to != steps[i].to)
      fail_msg("step %zu: changed=%d %s -> %s", i, ch.changed, tern_degrade_level_name(ch.from),
               tern_degrade_level_name(ch.to));
  }
  /* only the pipeline components have a health; nothing moves otherwise */
  tern_degrade_change_t ch = {true, EMR, EMR};
  assert_int_equal(tern_degrade_set(&d, TERN_COMP_VAD, X, &ch), TERN_EINVAL);
  assert_int_equal(tern_degrade_set(&d, TERN_COMP_TTS, (tern_health_t)3, &ch), TERN_EINVAL);
  assert_int_equal(d.level, FULL);
  assert_int_equal(d.tts, H);
}

static void test_names_and_links(void **state) {
  (void)state;
  static const char *const names[] = {"full", "reduced", "minimal", "emergency"};
  for (int i = 0; i < 4; i++) {
    assert_string_equal(tern_degrade_level_name((tern_degrade_level_t)i), names[i]);
    tern_degrade_level_t l;
    assert_int_equal(tern_degrade_level_parse(names[i], &l), 0);
    assert_int_equal(l, i);
  }
  tern_degrade_level_t l;
  assert_int_equal(tern_degrade_level_parse("Full", &l), TERN_EINVAL);
  assert_int_equal(tern_degrade_level_parse("", &l), TERN_EINVAL);
  assert_string_equal(tern_degrade_level_name((tern_degrade_level_t)9), "?");
  assert_string_equal(tern_health_name(H), "healthy");
  assert_string_equal(tern_health_name(D), "degraded");
  assert_string_equal(tern_health_name(X), "down");
  assert_int_equal(tern_health_from_link(0), H);
  assert_int_equal(tern_health_from_link(1), D);
  assert_int_equal(tern_health_from_link(7), D);
  assert_int_equal(tern_health_from_link(-1), X);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_health_combination),
      cmocka_unit_test(test_level_modes),
      cmocka_unit_test(test_level_changes_are_reported),
      cmocka_unit_test(test_names_and_links),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
