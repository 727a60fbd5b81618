/* Shared between the files of the tools module (not a public interface). */
#ifndef TERN_AGENT_TOOLS_INTERNAL_H
#define TERN_AGENT_TOOLS_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Check that `schema` is a schema tern_schema_validate understands: known
 * type names, properties an object of schemas, required an array of
 * property names, enum a non-empty array, numeric bounds numbers. Returns
 * 0 or TERN_EINVAL with a message naming the schema path. */
int tern__tools_schema_check(const json_t *schema, char *err, size_t errsz);

/* A copy of at most `max` bytes of s[0..len), cut at a character boundary,
 * with every byte that is not part of valid UTF-8 replaced by '?', so that
 * json_string() never refuses it. *cut says whether bytes were dropped.
 * NULL only when out of memory. */
char *tern__tools_utf8_clean(const char *s, size_t len, size_t max, int *cut);

/* json_loadb that tells running out of memory from bad input. jansson's
 * loader reports some allocation failures as syntax errors (or with no
 * error at all), so a failure on text that an allocation-free syntax check
 * accepts is taken for what it is; and a tree that does not match its text
 * (jansson can drop a byte silently when short of memory) is refused.
 * Duplicate keys are always refused. text[len] must be '\0'. Returns 0 (*out set), TERN_ENOMEM, or
 * TERN_EFORMAT with jerr describing the input's problem. */
int tern__tools_json_load(const char *text, size_t len, size_t flags, json_t **out,
                          json_error_t *jerr);

/* Whether text is well-formed JSON (any value), checked without
 * allocating; with top_key, also an object with that key at the top. */
bool tern__tools_json_valid(const char *text, size_t len, const char *top_key);

/* json_dumps (compact) that returns NULL, never a damaged text, when short
 * of memory (jansson can drop an object key silently). tern_free it. */
char *tern__tools_json_dump(const json_t *j);

#endif
