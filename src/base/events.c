/* Event emitter. Each event is built once as a compact JSON object with
 * jansson and handed to every listener; strings are redacted before they
 * are written, so no listener can leak a secret. */
#include "tern/events.h"

#include <jansson.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/clock.h"
#include "tern/error.h"

struct tern_events {
  char session[64];
  struct {
    tern_event_fn fn;
    void *ud;
  } l[TERN_EVENTS_MAX_LISTENERS];
  int n;
  unsigned long dropped;
};

int tern_events_create(const char *session_id, tern_events_t **out) {
  tern_events_t *ev = tern_calloc(1, sizeof *ev);
  if (!ev)
    return TERN_ENOMEM;
  snprintf(ev->session, sizeof ev->session, "%s", session_id ? session_id : "");
  *out = ev;
  return 0;
}

void tern_events_destroy(tern_events_t *ev) { tern_free(ev); }

const char *tern_events_session(const tern_events_t *ev) { return ev->session; }

int tern_events_listen(tern_events_t *ev, tern_event_fn fn, void *ud) {
  if (ev->n == TERN_EVENTS_MAX_LISTENERS)
    return TERN_EBUSY;
  ev->l[ev->n].fn = fn;
  ev->l[ev->n].ud = ud;
  ev->n++;
  return 0;
}

void tern_events_unlisten(tern_events_t *ev, tern_event_fn fn, void *ud) {
  for (int i = 0; i < ev->n; i++)
    if (ev->l[i].fn == fn && ev->l[i].ud == ud) {
      memmove(&ev->l[i], &ev->l[i + 1], (size_t)(ev->n - i - 1) * sizeof ev->l[0]);
      ev->n--;
      return;
    }
}

void tern_events_file_listener(void *file, const char *type, const char *line, size_t len,
                               const tern_log_field_t *fields, size_t nfields) {
  (void)type, (void)fields, (void)nfields;
  FILE *f = file;
  fwrite(line, 1, len, f);
  fputc('\n', f);
  fflush(f);
}

static json_t *field_value(const tern_log_field_t *f) {
  switch (f->type) {
  case TERN_LOG_T_STR: {
    if (!f->v.s)
      return json_null();
    char buf[2048];
    tern_redact(f->v.s, buf, sizeof buf);
    return json_string(buf);
  }
  case TERN_LOG_T_INT:
    return json_integer(f->v.i);
  case TERN_LOG_T_DOUBLE:
    return json_real(f->v.d);
  case TERN_LOG_T_BOOL:
    return json_boolean(f->v.b);
  }
  return json_null();
}

void tern_events_emit(tern_events_t *ev, const char *type, const tern_log_field_t *fields,
                      size_t nfields) {
  if (!ev || ev->n == 0)
    return;
  json_t *o = json_object();
  int bad = !o || json_object_set_new(o, "ts", json_integer(tern_wall_ms())) ||
            json_object_set_new(o, "session", json_string(ev->session)) ||
            json_object_set_new(o, "type", json_string(type));
  for (size_t i = 0; !bad && i < nfields; i++) {
    json_t *v = tern_key_is_secret(fields[i].key) ? json_string("[REDACTED]")
                                                   : field_value(&fields[i]);
    bad = !v || json_object_set_new(o, fields[i].key, v);
  }
  char *line = bad ? NULL : json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
  json_decref(o);
  if (!line) {
    ev->dropped++;
    return;
  }
  size_t len = strlen(line);
  for (int i = 0; i < ev->n; i++)
    ev->l[i].fn(ev->l[i].ud, type, line, len, fields, nfields);
  tern_free(line); /* jansson allocates through tern's hook (alloc.c) */
}

unsigned long tern_events_dropped(const tern_events_t *ev) { return ev->dropped; }
