/* The scripted dialogue engine: deterministic replies from a rules file.
 *
 * It is not a language model. It exists so tern can hold a whole
 * conversation offline (and in tests, where every answer must be known in
 * advance), and as the last link of an LLM fallback chain. A script is a
 * list of rules in priority order; each has case-insensitive POSIX
 * extended regular expressions matched against the newest user message
 * after normalisation (lower case, punctuation removed: the shape of a
 * pocketsphinx transcript), and either a reply or a tool call whose result
 * is turned into words by a template once it comes back. Anything no rule
 * matches gets the fallback, an honest reply saying what the script can
 * do. The format is described in docs/scripted.md.
 *
 * A loaded script is immutable: any thread may call tern_script_respond
 * on it concurrently.
 */
#ifndef TERN_SCRIPTED_H
#define TERN_SCRIPTED_H

#include <stddef.h>

#include "tern/chat.h"
#include "tern/provider.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest script accepted, in bytes. */
#define TERN_SCRIPT_MAX_BYTES (1024 * 1024)
/* Longest reply or argument text a rule may render, in bytes. */
#define TERN_SCRIPT_MAX_REPLY 8192

typedef struct tern_script tern_script_t;

typedef struct tern_script_reply {
  char *text;       /* words to say (before the tool call when there is one); may be NULL */
  char *tool_name;  /* NULL unless the reply is a tool call */
  char *arguments;  /* the call's JSON object, as text; NULL unless a tool call */
  const char *rule; /* the rule that answered ("fallback", "start", ...); owned by the script */
} tern_script_reply_t;

/* Parse a script. `name` is used in error messages ("<string>" if NULL).
 * On failure err (may be NULL) holds "name:line: what is wrong" and the
 * result is TERN_EFORMAT (a malformed script), TERN_ETOOBIG or
 * TERN_ENOMEM. */
int tern_script_load_string(const char *text, const char *name, tern_script_t **out,
                            char *err, size_t errsz);
/* The same from a file: TERN_ENOENT / TERN_EIO when it cannot be read. */
int tern_script_load_file(const char *path, tern_script_t **out, char *err, size_t errsz);
void tern_script_free(tern_script_t *script);

/* Number of rules, not counting start and fallback. */
size_t tern_script_rule_count(const tern_script_t *script);

/* The reply to the conversation so far. When the newest message is a tool
 * result, the rule that asked for that tool renders the result into words
 * (its `after` template, or `error` when the tool failed); otherwise the
 * newest user message picks the first matching rule, or the fallback.
 * With no user message yet, the `start` block (or the fallback) answers.
 * Returns 0, TERN_ETOOBIG (a rendered text over TERN_SCRIPT_MAX_REPLY),
 * TERN_EINVAL or TERN_ENOMEM. */
int tern_script_respond(const tern_script_t *script, const tern_chat_t *chat,
                        tern_script_reply_t *out /* OUT */);
void tern_script_reply_free(tern_script_reply_t *reply);
/* The fallback reply alone (for a caller that cannot honour a tool call). */
int tern_script_fallback(const tern_script_t *script, tern_script_reply_t *out /* OUT */);

/* Normalises a transcript the way rules see it: ASCII letters lowered,
 * apostrophes dropped ("what's" -> "whats"), anything else that is not a
 * letter, digit or non-ASCII byte becomes a space, spaces collapsed and
 * trimmed. Writes at most outsz bytes including the NUL; returns the
 * length it needed. */
size_t tern_script_normalize(const char *text, char *out, size_t outsz);

/* The asynchronous LLM provider (kind "scripted") over a script loaded
 * from `path` (NULL: the default script, examples/scripted/default.rules
 * of the source tree). Replies are worked out at once (a script answers in
 * microseconds) and delivered on later loop iterations, a few words per
 * on_text, then the tool call if any, then on_done. A tool call is only
 * made for a tool the request offers; otherwise the fallback answers.
 * With a `continuation`, only the part of the reply after it is delivered
 * (when the reply starts with it). On failure err says what is wrong with
 * the script (file:line). */
int tern_scripted_provider_create(const char *path, tern_provider_t **out /* OUT */, char *err,
                                  size_t errsz);

#ifdef __cplusplus
}
#endif
#endif
