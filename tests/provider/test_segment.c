/* Sentence segmentation of a streamed answer, and where to resume speech. */
#include "testutil.h"

#include <string.h>

#include "tern/segment.h"

typedef struct {
  char out[16][256];
  int n;
} sink_t;

static void collect(void *ud, const char *s, size_t len) {
  sink_t *k = ud;
  assert_true(k->n < 16);
  assert_int_equal(strlen(s), len);
  snprintf(k->out[k->n++], 256, "%s", s);
}

/* Feed `text` in pieces of `step` bytes, then flush. */
static void run(const char *text, size_t step, sink_t *k) {
  tern_segmenter_t s;
  tern_segmenter_init(&s);
  memset(k, 0, sizeof *k);
  for (size_t i = 0; i < strlen(text); i += step) {
    size_t n = strlen(text + i) < step ? strlen(text + i) : step;
    tern_segmenter_feed(&s, text + i, n, collect, k);
  }
  tern_segmenter_flush(&s, collect, k);
}

static void test_cuts_sentences_whatever_the_chunking(void **state) {
  (void)state;
  const char *text = "Sure! Dr. Lee said it costs 3.5 dollars, e.g. cheap. Is that ok? Wait... yes";
  const char *want[] = {"Sure! Dr. Lee said it costs 3.5 dollars, e.g. cheap.", "Is that ok?",
                        "Wait... yes"};
  for (size_t step = 1; step <= strlen(text); step++) {
    sink_t k;
    run(text, step, &k);
    assert_int_equal(k.n, 3);
    for (int i = 0; i < 3; i++)
      assert_string_equal(k.out[i], want[i]);
  }
}

static void test_first_sentence_comes_before_the_answer_ends(void **state) {
  (void)state;
  tern_segmenter_t s;
  sink_t k = {0};
  tern_segmenter_init(&s);
  tern_segmenter_feed(&s, "It is sunny in London today. It wi", 34, collect, &k);
  assert_int_equal(k.n, 1);
  assert_string_equal(k.out[0], "It is sunny in London today.");
  tern_segmenter_flush(&s, collect, &k);
  assert_string_equal(k.out[1], "It wi");
}

static void test_long_clause_is_cut_at_a_comma(void **state) {
  (void)state;
  char text[400];
  snprintf(text, sizeof text, "%s, and then some more words follow", 
           "This opening clause runs on and on without any full stop for a long while because "
           "the model likes to talk at great length");
  sink_t k;
  run(text, 7, &k);
  assert_int_equal(k.n, 2);
  assert_true(k.out[0][strlen(k.out[0]) - 1] == ',');
}

static void test_run_on_text_is_bounded(void **state) {
  (void)state;
  static char text[3000];
  for (size_t i = 0; i < sizeof text - 1; i++)
    text[i] = (i % 6 == 5) ? ' ' : 'a';
  sink_t k;
  run(text, 100, &k);
  assert_true(k.n >= 3);
  for (int i = 0; i < k.n; i++)
    assert_true(strlen(k.out[i]) <= TERN_SEGMENT_MAX);
}

static void test_resume_offset(void **state) {
  (void)state;
  const char *t = "one two three four";
  assert_int_equal(tern_text_resume_offset(t, 0.0), 0);
  assert_int_equal(tern_text_resume_offset(t, 1.0), strlen(t));
  /* 15 letters; "one" and "two" are 6 of them = 0.4 */
  assert_int_equal(tern_text_resume_offset(t, 0.40), 8); /* resume at "three" */
  assert_int_equal(tern_text_resume_offset(t, 0.35), 4); /* "two" not fully heard */
  assert_int_equal(tern_text_resume_offset("", 0.5), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cuts_sentences_whatever_the_chunking),
      cmocka_unit_test(test_first_sentence_comes_before_the_answer_ends),
      cmocka_unit_test(test_long_clause_is_cut_at_a_comma),
      cmocka_unit_test(test_run_on_text_is_bounded),
      cmocka_unit_test(test_resume_offset),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
