/* libFuzzer target for the sentence segmenter of streamed answers and the
 * resume point of interrupted speech (tern/segment.h).
 *
 * The first byte picks the segmenter's thresholds and the size of the
 * pieces the text arrives in; the rest is the answer text (NUL bytes
 * dropped: model text is a C string). Checked: every emitted piece is
 * non-empty, NUL-terminated at its length, trimmed, at most
 * TERN_SEGMENT_MAX bytes, and valid UTF-8 when the answer was; the pieces
 * together hold exactly the answer's non-space bytes in order (nothing
 * lost, nothing said twice). The resume offset lies in the text, at the
 * start of a word, and never moves back as more was heard. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tern/segment.h"

typedef struct {
  char *dense; /* non-space bytes of every piece, in order */
  size_t n;
  int check_utf8;
} sink_t;

static int utf8_ok(const unsigned char *s, size_t len) {
  for (size_t i = 0; i < len;) {
    size_t n = s[i] < 0x80 ? 1 : (s[i] & 0xe0) == 0xc0 ? 2 : (s[i] & 0xf0) == 0xe0 ? 3
                                                       : (s[i] & 0xf8) == 0xf0 ? 4 : 0;
    if (!n || i + n > len)
      return 0;
    for (size_t k = 1; k < n; k++)
      if ((s[i + k] & 0xc0) != 0x80)
        return 0;
    i += n;
  }
  return 1;
}

static void on_piece(void *ud, const char *p, size_t len) {
  sink_t *s = ud;
  if (!p || len == 0 || len > TERN_SEGMENT_MAX || p[len] != '\0' || strlen(p) != len)
    abort();
  if (isspace((unsigned char)p[0]) || isspace((unsigned char)p[len - 1]))
    abort();
  if (s->check_utf8 && !utf8_ok((const unsigned char *)p, len))
    abort();
  for (size_t i = 0; i < len; i++)
    if (!isspace((unsigned char)p[i]))
      s->dense[s->n++] = p[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 20000)
    return 0;
  char *text = malloc(size), *dense_in = malloc(size), *dense_out = malloc(size);
  size_t n = 0, dn = 0;
  for (size_t i = 1; i < size; i++) {
    if (!data[i])
      continue;
    text[n++] = (char)data[i];
    if (!isspace(data[i]))
      dense_in[dn++] = (char)data[i];
  }
  text[n] = '\0';

  tern_segmenter_t seg;
  tern_segmenter_init(&seg);
  if (data[0] & 1)
    seg.min_chars = 0;
  if (data[0] & 2)
    seg.clause_chars = 4;
  size_t piece = 1 + (size_t)(data[0] >> 2) * 5;
  sink_t s = {dense_out, 0, utf8_ok((const unsigned char *)text, n)};
  for (size_t off = 0; off < n; off += piece)
    tern_segmenter_feed(&seg, text + off, n - off < piece ? n - off : piece, on_piece, &s);
  tern_segmenter_flush(&seg, on_piece, &s);
  if (seg.len != 0 || s.n != dn || memcmp(dense_in, dense_out, dn))
    abort();

  size_t prev = 0;
  for (int k = 0; k <= 8; k++) {
    size_t off = tern_text_resume_offset(text, k / 8.0);
    if (off > n || off < prev)
      abort();
    if (off > 0 && off < n && !isspace((unsigned char)text[off - 1]))
      abort();
    prev = off;
  }
  free(text);
  free(dense_in);
  free(dense_out);
  return 0;
}
