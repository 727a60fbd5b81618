#include "tern/segment.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

void tern_segmenter_init(tern_segmenter_t *s) {
  memset(s, 0, sizeof *s);
  s->min_chars = 8;
  s->clause_chars = 120;
}

void tern_segmenter_reset(tern_segmenter_t *s) { s->len = 0; }

static const char *const k_abbrev[] = {"mr", "mrs", "ms", "dr", "st", "vs", "etc", "e.g", "i.e",
                                       "prof", "sr", "jr", "no", "approx", "min", "max"};

/* Is the '.' at buf[i] the end of an abbreviation such as "Dr." or "e.g."? */
static int is_abbrev(const char *buf, size_t i) {
  size_t start = i;
  while (start > 0 && (isalpha((unsigned char)buf[start - 1]) || buf[start - 1] == '.'))
    start--;
  size_t n = i - start;
  if (n == 1 && isupper((unsigned char)buf[start]))
    return 1; /* an initial: "J. Smith" */
  for (size_t k = 0; k < sizeof k_abbrev / sizeof *k_abbrev; k++)
    if (strlen(k_abbrev[k]) == n && !strncasecmp(buf + start, k_abbrev[k], n))
      return 1;
  return 0;
}

static void emit(tern_segmenter_t *s, size_t cut, tern_segment_fn fn, void *ud) {
  size_t a = 0, b = cut;
  while (a < b && isspace((unsigned char)s->buf[a]))
    a++;
  while (b > a && isspace((unsigned char)s->buf[b - 1]))
    b--;
  if (b > a) {
    char save = s->buf[b];
    s->buf[b] = '\0';
    fn(ud, s->buf + a, b - a);
    s->buf[b] = save;
  }
  memmove(s->buf, s->buf + cut, s->len - cut);
  s->len -= cut;
}

/* Find the end of the first complete piece in buf, or 0. A terminator only
 * counts once the character after it is known to be white space. */
static size_t find_cut(const tern_segmenter_t *s) {
  const char *b = s->buf;
  size_t last_clause = 0;
  for (size_t i = 0; i + 1 < s->len; i++) {
    char c = b[i], next = b[i + 1];
    if (!isspace((unsigned char)next))
      continue;
    if (c == '!' || c == '?' || c == '\n') {
      if (i + 1 >= s->min_chars)
        return i + 1;
    } else if (c == '.') {
      if (i > 0 && b[i - 1] == '.')
        continue; /* ellipsis: the thought goes on */
      if (is_abbrev(b, i))
        continue;
      if (i + 1 >= s->min_chars)
        return i + 1;
    } else if (c == ',' || c == ';' || c == ':') {
      last_clause = i + 1;
    }
  }
  if (last_clause && last_clause >= s->clause_chars)
    return last_clause;
  return 0;
}

/* A hard cut of buf[0, len): len, or the start of a UTF-8 sequence that
 * the end of buf leaves incomplete, so neither half reaches the voice as
 * invalid text. */
static size_t utf8_cut(const char *buf, size_t len) {
  size_t lead = len;
  while (lead > 0 && len - lead < 3 && ((unsigned char)buf[lead - 1] & 0xc0) == 0x80)
    lead--;
  if (lead == 0)
    return len;
  unsigned char c = (unsigned char)buf[lead - 1];
  size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
  return need > len - (lead - 1) && lead > 1 ? lead - 1 : len;
}

void tern_segmenter_feed(tern_segmenter_t *s, const char *text, size_t len, tern_segment_fn fn,
                         void *ud) {
  while (len > 0) {
    size_t room = TERN_SEGMENT_MAX - s->len;
    size_t take = len < room ? len : room;
    memcpy(s->buf + s->len, text, take);
    s->len += take;
    text += take;
    len -= take;
    size_t cut;
    while ((cut = find_cut(s)) > 0)
      emit(s, cut, fn, ud);
    if (s->len == TERN_SEGMENT_MAX) {
      /* A run-on piece: cut at the last space, or hard if there is none. */
      size_t sp = s->len;
      while (sp > 0 && !isspace((unsigned char)s->buf[sp - 1]))
        sp--;
      if (sp == 0)
        sp = utf8_cut(s->buf, s->len);
      emit(s, sp, fn, ud);
    }
  }
}

void tern_segmenter_flush(tern_segmenter_t *s, tern_segment_fn fn, void *ud) {
  size_t cut;
  while (s->len && (cut = find_cut(s)) > 0)
    emit(s, cut, fn, ud);
  if (s->len)
    emit(s, s->len, fn, ud);
}

size_t tern_text_resume_offset(const char *text, double heard_fraction) {
  size_t n = strlen(text), letters = 0;
  for (size_t i = 0; i < n; i++)
    letters += !isspace((unsigned char)text[i]);
  if (heard_fraction <= 0.0 || letters == 0)
    return 0;
  if (heard_fraction >= 1.0)
    return n;
  double heard = heard_fraction * (double)letters, seen = 0;
  size_t i = 0;
  while (i < n) {
    while (i < n && isspace((unsigned char)text[i]))
      i++;
    size_t w = i;
    while (i < n && !isspace((unsigned char)text[i]))
      i++;
    if (i == w)
      break;
    seen += (double)(i - w);
    if (seen > heard + 1e-9)
      return w; /* this word was not fully heard: say it again */
  }
  return n;
}
