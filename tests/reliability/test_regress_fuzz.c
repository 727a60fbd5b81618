/* What the fuzz targets found, replayed as plain tests (fuzz/corpus/ keeps
 * the inputs too, replayed by every fuzz run), and the replay entry points
 * the provider fuzz targets use, checked against the stored seed inputs so
 * a target that silently stopped reaching its parser would be noticed.
 *
 * Found so far:
 *   - fuzz_chat: truncating an empty chat context computed NULL + 0
 *     (undefined behaviour; UBSan stops the sanitizer build here);
 *   - fuzz_segment: a run-on answer with no space was hard-cut inside a
 *     UTF-8 character, so both halves reached the voice as invalid text;
 *   - fuzz_errors: a registered key glued to a header-like word leaked
 *     through the redactor (the regression is in test_secrets.c). */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "provider/cloud.h"
#include "tern/buf.h"
#include "tern/chat.h"
#include "tern/error.h"
#include "tern/segment.h"

/* ---- found by the fuzzers ---------------------------------------------- */

static void test_truncating_an_empty_context(void **state) {
  (void)state;
  tern_chat_t *c;
  assert_int_equal(tern_chat_create(&c), 0);
  size_t dropped = 99;
  assert_int_equal(tern_chat_truncate(c, 0, &dropped), 0);
  assert_int_equal(dropped, 0);
  assert_int_equal(tern_chat_truncate(c, 4, NULL), 0);
  assert_int_equal(tern_chat_add(c, TERN_ROLE_USER, "hi"), 0);
  assert_int_equal(tern_chat_truncate(c, 0, &dropped), 0);
  assert_int_equal(dropped, 1);
  assert_int_equal(tern_chat_count(c), 0);
  tern_chat_destroy(c);
}

static bool utf8_ok(const unsigned char *s, size_t len) {
  for (size_t i = 0; i < len;) {
    size_t n = s[i] < 0x80 ? 1 : (s[i] & 0xe0) == 0xc0 ? 2 : (s[i] & 0xf0) == 0xe0 ? 3
                                                       : (s[i] & 0xf8) == 0xf0 ? 4 : 0;
    if (!n || i + n > len)
      return false;
    for (size_t k = 1; k < n; k++)
      if ((s[i + k] & 0xc0) != 0x80)
        return false;
    i += n;
  }
  return true;
}

typedef struct {
  int pieces, bad;
  tern_buf_t all;
} pieces_t;

static void on_piece(void *ud, const char *p, size_t len) {
  pieces_t *x = ud;
  x->pieces++;
  x->bad += !utf8_ok((const unsigned char *)p, len);
  tern_buf_append(&x->all, p, len);
}

static void test_run_on_text_is_never_cut_inside_a_character(void **state) {
  (void)state;
  /* 'é' (2 bytes), '€' (3) and '😀' (4), each with an odd ASCII lead-in
   * so the 1024-byte bound falls inside a character. */
  const char *chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
  for (int c = 0; c < 3; c++) {
    for (int lead = 0; lead < 4; lead++) {
      tern_buf_t text = {0};
      for (int i = 0; i < lead; i++)
        tern_buf_append(&text, "x", 1);
      while (text.len < 3000)
        tern_buf_appends(&text, chars[c]);
      pieces_t x = {0};
      tern_segmenter_t seg;
      tern_segmenter_init(&seg);
      /* byte by byte, as a stream can deliver it, and in one go */
      for (size_t i = 0; i < text.len; i++)
        tern_segmenter_feed(&seg, text.data + i, 1, on_piece, &x);
      tern_segmenter_flush(&seg, on_piece, &x);
      tern_segmenter_feed(&seg, text.data, text.len, on_piece, &x);
      tern_segmenter_flush(&seg, on_piece, &x);
      assert_true(x.pieces >= 4);
      assert_int_equal(x.bad, 0);
      assert_int_equal(x.all.len, 2 * text.len); /* nothing lost */
      tern_buf_free(&x.all);
      tern_buf_free(&text);
    }
  }
}

/* ---- the replay entry points, on the stored seeds ------------------------- */

typedef struct seen {
  tern_buf_t text;
  int tools, done, finals;
  char tool_name[64], tool_args[128];
  bool failed;
  tern_error_t err;
  size_t samples;
} seen_t;

static void s_text(void *ud, const char *t, size_t n) { tern_buf_append(&((seen_t *)ud)->text, t, n); }
static void s_tool(void *ud, const tern_tool_call_t *c) {
  seen_t *s = ud;
  if (s->tools++ == 0) {
    snprintf(s->tool_name, sizeof s->tool_name, "%s", c->name);
    snprintf(s->tool_args, sizeof s->tool_args, "%s", c->arguments);
  }
}
static void s_done(void *ud, const tern_error_t *err) {
  seen_t *s = ud;
  s->done++;
  if (err) {
    s->failed = true;
    s->err = *err;
  }
}
static void s_transcript(void *ud, const char *t, bool fin, double conf) {
  (void)conf;
  seen_t *s = ud;
  s->finals += fin;
  tern_buf_appends(&s->text, t);
}
static void s_audio(void *ud, const int16_t *p, size_t n) {
  (void)p;
  ((seen_t *)ud)->samples += n;
}

/* The seed's body (its first byte is the target's control byte). */
static char *seed(const char *target, const char *name, size_t *len) {
  char rel[256];
  snprintf(rel, sizeof rel, "fuzz/corpus/%s/%s", target, name);
  size_t n;
  char *d = tu_read_file(tu_src_path(rel), &n);
  if (!d)
    fail_msg("missing seed %s", rel);
  *len = n - 1;
  return d;
}

static void replay(const char *target, const char *name, seen_t *s) {
  memset(s, 0, sizeof *s);
  size_t len;
  char *d = seed(target, name, &len);
  tern_llm_sink_t llm = {s_text, s_tool, s_done, s};
  tern_stt_sink_t stt = {s_transcript, s_done, s};
  tern_tts_sink_t tts = {s_audio, s_done, s};
  tern__replay_t r = {.body = d + 1, .len = len, .cut = len / 2, .sample_rate = 16000,
                      .llm = &llm, .stt = &stt, .tts = &tts};
  int rc;
  if (!strcmp(target, "anthropic"))
    rc = tern__anthropic_replay(&r);
  else if (!strcmp(target, "openai_chat"))
    rc = tern__openai_replay(TERN_COMP_LLM, &r);
  else
    rc = tern__openai_replay((unsigned char)d[0] & 0x80 ? TERN_COMP_TTS : TERN_COMP_STT, &r);
  assert_int_equal(rc, 0);
  assert_int_equal(s->done, 1);
  free(d);
}

static void test_openai_chat_replay(void **state) {
  (void)state;
  seen_t s;
  replay("openai_chat", "text", &s);
  assert_false(s.failed);
  assert_string_equal(tern_buf_str(&s.text), "Hello there. It is sunny.");
  tern_buf_free(&s.text);
  replay("openai_chat", "tool_call", &s);
  assert_false(s.failed);
  assert_int_equal(s.tools, 2);
  assert_string_equal(s.tool_name, "get_weather");
  assert_string_equal(s.tool_args, "{\"city\":\"Paris\"}");
  tern_buf_free(&s.text);
  replay("openai_chat", "error", &s);
  assert_true(s.failed);
  assert_int_equal(s.err.kind, TERN_KIND_RATE_LIMITED);
  tern_buf_free(&s.text);
  replay("openai_chat", "cut_off", &s);
  assert_true(s.failed);
  assert_int_equal(s.err.kind, TERN_KIND_CONNECTION); /* retryable: the answer was cut */
  tern_buf_free(&s.text);
}

static void test_anthropic_replay(void **state) {
  (void)state;
  seen_t s;
  replay("anthropic", "full", &s);
  assert_false(s.failed);
  assert_string_equal(tern_buf_str(&s.text), "Hello world.");
  assert_int_equal(s.tools, 1);
  assert_string_equal(s.tool_args, "{\"city\":\"Paris\"}");
  tern_buf_free(&s.text);
  replay("anthropic", "error", &s);
  assert_true(s.failed);
  assert_int_equal(s.err.kind, TERN_KIND_OVERLOADED);
  tern_buf_free(&s.text);
}

static void test_openai_audio_replay(void **state) {
  (void)state;
  seen_t s;
  replay("openai_audio", "stt_ok", &s);
  assert_false(s.failed);
  assert_int_equal(s.finals, 1);
  assert_string_equal(tern_buf_str(&s.text), "what is the weather in paris");
  tern_buf_free(&s.text);
  replay("openai_audio", "stt_bad", &s);
  assert_true(s.failed);
  assert_int_equal(s.err.kind, TERN_KIND_BAD_RESPONSE);
  tern_buf_free(&s.text);
  /* 601 samples at 24 kHz asked for at 16 kHz: ceil(601 * 2 / 3) */
  replay("openai_audio", "tts_84", &s);
  assert_false(s.failed);
  assert_int_equal(s.samples, 401);
  tern_buf_free(&s.text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_truncating_an_empty_context),
      cmocka_unit_test(test_run_on_text_is_never_cut_inside_a_character),
      cmocka_unit_test(test_openai_chat_replay),
      cmocka_unit_test(test_anthropic_replay),
      cmocka_unit_test(test_openai_audio_replay),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
