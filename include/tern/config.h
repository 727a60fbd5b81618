/* Configuration: an INI file, every key overridable from the environment.
 *
 *   [llm]                         TERN_LLM_CHAIN=openai,scripted
 *   chain = openai, scripted
 *   [llm.openai]                  TERN_LLM_OPENAI_MODEL=gpt-4o-mini
 *   model = "gpt-4o-mini"  # inline comments need whitespace before '#'
 *
 * The environment variable for [section] key is TERN_<SECTION>_<KEY>, with
 * dots and dashes turned into underscores and everything upper-cased; it
 * wins over the file. Section and key names are case-insensitive (stored
 * lower-case) and limited to letters, digits, '_', '-' (and '.' in
 * sections). Values are trimmed; a "quoted" value keeps its spaces and
 * understands \" \\ \n \t \r. Comments start with '#' or ';' at the start
 * of a line, or with " #" after a value. Files over 1 MiB or lines over
 * 4 KiB are refused.
 *
 * Errors come back as a TERN_E* code plus a message written into the
 * caller's buffer (err, errsz; either may be NULL/0), naming the key, where
 * the value came from (file:line or the environment variable), the bad
 * value (redacted when the key looks secret) and what is allowed:
 *   [llm] first_byte_timeout_ms = "abc" (from TERN_LLM_FIRST_BYTE_TIMEOUT_MS):
 *   expected a duration such as 3000 or 3s, between 100ms and 60s
 *
 * Every value of a secret-looking key (tern_key_is_secret) is registered
 * with tern_secret_register() when it is loaded or read from the
 * environment, so it never reaches a log line.
 *
 * Threads: loading mutates the config; after loading, the getters take a
 * const config and may be called from any number of threads at once.
 */
#ifndef TERN_CONFIG_H
#define TERN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_CONFIG_MAX_FILE (1024 * 1024)
#define TERN_CONFIG_MAX_LINE 4096

typedef struct tern_config tern_config_t;

/* Environment lookup: returns the value of `name` or NULL. The returned
 * string need only stay valid until the next call. */
typedef const char *(*tern_config_getenv_fn)(const char *name, void *ud);

/* An empty configuration (valid: every getter returns its default unless
 * the environment overrides it). Reads the process environment. */
int tern_config_new(tern_config_t **out);
void tern_config_free(tern_config_t *cfg);
/* Replace the environment lookup (NULL restores getenv). Tests inject a
 * table here so they never touch the real environment. */
void tern_config_set_env(tern_config_t *cfg, tern_config_getenv_fn fn, void *ud);

/* Parse a file or a string and merge it in (a key already present is
 * replaced: later sources win). On any error nothing is merged.
 * `name` labels the text in messages ("tern.ini"); NULL gives "<string>".
 * Errors: TERN_ECONFIG (syntax, "tern.ini:12: expected 'key = value', got
 * 'x'"), TERN_ETOOBIG, TERN_ENOENT / TERN_EIO (file), TERN_ENOMEM. */
int tern_config_load_file(tern_config_t *cfg, const char *path, char *err, size_t errsz);
int tern_config_load_string(tern_config_t *cfg, const char *text, size_t len, const char *name,
                            char *err, size_t errsz);

/* Raw lookup, environment first. *value and *origin ("tern.ini:12" or
 * "TERN_LLM_OPENAI_MODEL") live as long as cfg; origin may be NULL.
 * Returns 0, TERN_ENOENT when absent, TERN_ENOMEM. */
int tern_config_lookup(const tern_config_t *cfg, const char *section, const char *key,
                       const char **value, const char **origin);
/* "TERN_LLM_OPENAI_MODEL" for ("llm.openai", "model"). Returns the length
 * needed; writes at most outsz bytes, always NUL-terminated. */
size_t tern_config_env_name(const char *section, const char *key, char *out, size_t outsz);

/* ---- typed getters ------------------------------------------------------
 * Each returns `def` through *out when the key is absent, 0 on success and
 * TERN_ECONFIG with a message in err when the value is present but bad.
 * min/max are inclusive; min == max == 0 means unbounded. */

/* *out lives as long as cfg (or is def). */
int tern_config_get_str(const tern_config_t *cfg, const char *section, const char *key,
                        const char *def, const char **out, char *err, size_t errsz);
int tern_config_get_int(const tern_config_t *cfg, const char *section, const char *key, int64_t def,
                        int64_t min, int64_t max, int64_t *out, char *err, size_t errsz);
int tern_config_get_double(const tern_config_t *cfg, const char *section, const char *key,
                           double def, double min, double max, double *out, char *err,
                           size_t errsz);
/* true/false, yes/no, on/off, 1/0 (any case). */
int tern_config_get_bool(const tern_config_t *cfg, const char *section, const char *key, bool def,
                         bool *out, char *err, size_t errsz);
/* "1500" and "1500ms" are milliseconds; "1.5s", "2s" seconds; "1m" a
 * minute. Rounded to the nearest millisecond. */
int tern_config_get_duration_ms(const tern_config_t *cfg, const char *section, const char *key,
                                int64_t def_ms, int64_t min_ms, int64_t max_ms, int64_t *out_ms,
                                char *err, size_t errsz);

/* A comma-separated list, items trimmed, empty items dropped. */
typedef struct tern_config_list {
  char **items; /* count strings, then a NULL */
  size_t count;
} tern_config_list_t;
/* `def` is parsed the same way ("openai,scripted"; NULL = empty list).
 * Free with tern_config_list_free even when empty. */
int tern_config_get_list(const tern_config_t *cfg, const char *section, const char *key,
                         const char *def, tern_config_list_t *out, char *err, size_t errsz);
void tern_config_list_free(tern_config_list_t *list);

/* One of `allowed` (NULL-terminated, matched ignoring case); *out_index is
 * its position. `def` must be one of `allowed` (else TERN_EINVAL). */
int tern_config_get_enum(const tern_config_t *cfg, const char *section, const char *key,
                         const char *const *allowed, const char *def, int *out_index, char *err,
                         size_t errsz);

/* ---- schema and validation ---------------------------------------------- */

typedef enum tern_config_type {
  TERN_CFG_STR = 1,
  TERN_CFG_INT,
  TERN_CFG_DOUBLE,
  TERN_CFG_BOOL,
  TERN_CFG_DURATION, /* milliseconds; min/max in ms */
  TERN_CFG_LIST,
  TERN_CFG_ENUM
} tern_config_type_t;

/* One known key. A static table of these ends with an entry whose section
 * is NULL. `section` may end in ".*" to match every subsection
 * ("llm.*" matches [llm.openai] and [llm.groq], not [llm]). */
typedef struct tern_config_key {
  const char *section;
  const char *key;
  tern_config_type_t type;
  const char *def;     /* the default as text (documentation, doctor) */
  double min, max;     /* INT, DOUBLE, DURATION; both 0 = unbounded */
  const char *allowed; /* ENUM: "a|b|c"; LIST: allowed items or NULL for any */
  const char *help;    /* one line */
} tern_config_key_t;

/* Called once per problem with a complete sentence. */
typedef void (*tern_config_problem_fn)(const char *message, void *ud);

/* Checks every key in the loaded files and every environment override of a
 * schema key (for wildcard sections: of the subsections the files name):
 * values must parse as their type within bounds; unknown sections and
 * unknown keys in known sections are reported with a suggestion ("unknown
 * key 'modle' in [llm.openai]; did you mean 'model'?"). Reports every
 * problem, not only the first. Returns 0 when clean, TERN_ECONFIG when
 * anything was reported (count in *nproblems if not NULL), TERN_ENOMEM. */
int tern_config_validate(const tern_config_t *cfg, const tern_config_key_t *schema,
                         tern_config_problem_fn fn, void *ud, size_t *nproblems);

/* The schema entry for section/key (wildcards honoured), or NULL. */
const tern_config_key_t *tern_config_schema_find(const tern_config_key_t *schema,
                                                 const char *section, const char *key);

/* ---- enumeration (tern doctor) ------------------------------------------ */

typedef struct tern_config_entry {
  const char *section;
  const char *key;
  const char *value;  /* as loaded from the file; see tern_config_lookup for env */
  const char *origin; /* "tern.ini:12" */
  bool secret;        /* tern_key_is_secret(key): print "[REDACTED]" */
} tern_config_entry_t;

/* Entries from files in load order (a replaced key keeps its first place). */
size_t tern_config_count(const tern_config_t *cfg);
int tern_config_entry(const tern_config_t *cfg, size_t i, tern_config_entry_t *out);
/* Sections named in the files, including empty ones, in order of first
 * appearance. */
size_t tern_config_section_count(const tern_config_t *cfg);
const char *tern_config_section(const tern_config_t *cfg, size_t i);
bool tern_config_has_section(const tern_config_t *cfg, const char *section);

#ifdef __cplusplus
}
#endif
#endif
