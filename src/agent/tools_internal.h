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

#endif
