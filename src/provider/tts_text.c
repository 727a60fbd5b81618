/* Text preparation for the offline synthesisers: control characters out,
 * a size bound, and phrase splitting that never cuts a UTF-8 character. */
#include "provider/tts_text.h"

#include <ctype.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/error.h"

#define PHRASE_SOFT 160 /* past this a comma or clause break ends a phrase */
#define PHRASE_HARD 320 /* past this any space does; failing that, any char */

int tern__tts_clean(const char *text, size_t max, char **out) {
  *out = NULL;
  if (!text)
    return TERN_EINVAL;
  size_t n = strlen(text);
  if (n > max)
    return TERN_ETOOBIG;
  char *d = tern_malloc(n + 1);
  if (!d)
    return TERN_ENOMEM;
  size_t j = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)text[i];
    if (c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
      d[j++] = ' ';
    } else if (c < 0x20 || c == 0x7f) {
      continue;
    } else if (c == 0xc2 && i + 1 < n && (unsigned char)text[i + 1] >= 0x80 &&
               (unsigned char)text[i + 1] <= 0x9f) {
      i++; /* U+0080..U+009F */
    } else {
      d[j++] = (char)c;
    }
  }
  d[j] = '\0';
  *out = d;
  return 0;
}

static int is_sentence_end(const char *s, size_t i) {
  char c = s[i];
  if (c != '.' && c != '!' && c != '?' && c != ';')
    return 0;
  return s[i + 1] == '\0' || s[i + 1] == ' ' || s[i + 1] == '"' || s[i + 1] == '\'' ||
         s[i + 1] == ')';
}

size_t tern__tts_phrase_len(const char *s) {
  size_t last_space = 0, last_clause = 0, i = 0;
  for (; s[i]; i++) {
    if (i >= PHRASE_HARD) {
      if (last_clause)
        return last_clause;
      if (last_space)
        return last_space;
      while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80)
        i--; /* back to the start of a UTF-8 character */
      return i > 0 ? i : PHRASE_HARD;
    }
    if (is_sentence_end(s, i)) {
      size_t e = i + 1;
      while (s[e] == '"' || s[e] == '\'' || s[e] == ')')
        e++;
      return e;
    }
    if ((s[i] == ',' || s[i] == ':') && s[i + 1] == ' ') {
      if (i + 1 >= PHRASE_SOFT)
        return i + 1;
      last_clause = i + 1;
    }
    if (s[i] == ' ' && i > 0)
      last_space = i;
  }
  return i;
}

int tern__tts_has_words(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (isalnum((unsigned char)s[i]) || (unsigned char)s[i] >= 0x80)
      return 1;
  return 0;
}
