/* Events: the public contract, one JSON object per line.
 *
 *   {"ts":1732240000123,"session":"s-1","type":"provider_switched","component":"llm","from":"openai","to":"scripted"}
 *
 * Names follow the conventions voice-agent users know (ARCHITECTURE.md
 * lists them). An emitter has a session id and up to a handful of
 * listeners (a JSON-lines file, a WebSocket client, the admin ring buffer,
 * metrics). Fields reuse the logger's typed fields, and string values are
 * scrubbed of secrets exactly as log lines are. Not thread-safe: an emitter
 * belongs to one session on one loop.
 */
#ifndef TERN_EVENTS_H
#define TERN_EVENTS_H

#include <stdio.h>

#include "tern/log.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_EVENTS_MAX_LISTENERS 8

/* A listener gets the finished line (no trailing newline), the event type
 * and the fields, so it can act on the type without parsing JSON. */
typedef void (*tern_event_fn)(void *ud, const char *type, const char *line, size_t len,
                              const tern_log_field_t *fields, size_t nfields);

typedef struct tern_events tern_events_t;

int tern_events_create(const char *session_id, tern_events_t **out);
void tern_events_destroy(tern_events_t *ev);
const char *tern_events_session(const tern_events_t *ev);
int tern_events_listen(tern_events_t *ev, tern_event_fn fn, void *ud);
void tern_events_unlisten(tern_events_t *ev, tern_event_fn fn, void *ud);
/* A listener that appends each line plus '\n' to a FILE and flushes it. */
void tern_events_file_listener(void *file, const char *type, const char *line, size_t len,
                               const tern_log_field_t *fields, size_t nfields);

/* Emit one event; a NULL emitter is a no-op so optional wiring stays simple.
 * If the line cannot be built (out of memory) the event is dropped and
 * counted in tern_events_dropped(). */
void tern_events_emit(tern_events_t *ev, const char *type, const tern_log_field_t *fields,
                      size_t nfields);
unsigned long tern_events_dropped(const tern_events_t *ev);

#define TERN_EVENT(ev, type, ...)                                                         \
  do {                                                                                    \
    const tern_log_field_t tern__ef[] = {{0}, __VA_ARGS__};                               \
    tern_events_emit((ev), (type), tern__ef + 1, sizeof tern__ef / sizeof tern__ef[0] - 1); \
  } while (0)

#ifdef __cplusplus
}
#endif
#endif
