/* JSON through jansson, safe when memory runs short: out of memory is
 * told apart from bad input, and damaged data is never passed on (see
 * src/base/json.c for why jansson needs this). */
#ifndef TERN_JSON_H
#define TERN_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* json_loadb with duplicate keys refused. text[len] must be '\0'. Returns
 * 0 (*out set), TERN_ENOMEM, or TERN_EFORMAT with jerr (may be NULL)
 * describing the input's problem. */
int tern_json_load(const char *text, size_t len, size_t flags, json_t **out, json_error_t *jerr);
/* Whether text is well-formed JSON (any value), checked without
 * allocating; with top_key, also an object with that key at the top. */
bool tern_json_valid(const char *text, size_t len, const char *top_key);
/* Compact json_dumps that returns NULL, never damaged text, when short of
 * memory. Release with tern_free. */
char *tern_json_dump(const json_t *j);
/* A copy of at most `max` bytes of s[0..len), cut at a character boundary,
 * invalid UTF-8 bytes replaced by '?', so json_string() never refuses it.
 * *cut (may be NULL) says whether bytes were dropped. NULL when out of
 * memory. Release with tern_free. */
char *tern_utf8_clean(const char *s, size_t len, size_t max, int *cut);
/* Characters (code points) in s[0..len), counting invalid bytes as one. */
size_t tern_utf8_chars(const char *s, size_t len);

#ifdef __cplusplus
}
#endif
#endif
