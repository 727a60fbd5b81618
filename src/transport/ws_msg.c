/* Session protocol control messages: text -> tern__ws_msg_t. Pure: no I/O,
 * no session; the only allocation is the JSON tree, owned by the result. */
#include "transport/ws_msg.h"

#include <stdio.h>
#include <string.h>

#include "tern/error.h"
#include "tern/json.h"

static const char *jstr(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

static int refuse(json_t *m, char *err, size_t errsz, const char *msg) {
  json_decref(m);
  if (err && errsz)
    snprintf(err, errsz, "%s", msg);
  return TERN_EFORMAT;
}

int tern__ws_msg_parse(const char *buf, size_t len, tern__ws_msg_t *out, char *err,
                       size_t errsz) {
  memset(out, 0, sizeof *out);
  if (err && errsz)
    err[0] = '\0';
  json_t *m = NULL;
  int rc = tern_json_load(buf, len, 0, &m, NULL);
  if (rc == TERN_ENOMEM)
    return TERN_ENOMEM;
  if (rc || !json_is_object(m))
    return refuse(m, err, errsz, "malformed message: expected one JSON object");
  const char *type = jstr(m, "type");
  if (!type)
    return refuse(m, err, errsz, "malformed message: no \"type\"");
  if (!strcmp(type, "ping")) {
    out->type = TERN__WS_MSG_PING;
  } else if (!strcmp(type, "say")) {
    const char *text = jstr(m, "text");
    json_t *ai = json_object_get(m, "allow_interruptions");
    if (!text || !*text)
      return refuse(m, err, errsz, "say: \"text\" must be a non-empty string");
    if (ai && !json_is_boolean(ai))
      return refuse(m, err, errsz, "say: \"allow_interruptions\" must be true or false");
    out->type = TERN__WS_MSG_SAY;
    out->text = text;
    out->allow_interruptions = ai ? json_is_true(ai) : true;
  } else if (!strcmp(type, "interrupt")) {
    out->type = TERN__WS_MSG_INTERRUPT;
  } else if (!strcmp(type, "end")) {
    const char *reason = jstr(m, "reason");
    out->type = TERN__WS_MSG_END;
    snprintf(out->reason, sizeof out->reason, "%s",
             reason && *reason ? reason : "caller_ended");
  } else {
    return refuse(m, err, errsz, "unknown message type");
  }
  out->root = m;
  return 0;
}

void tern__ws_msg_clear(tern__ws_msg_t *m) {
  if (!m)
    return;
  json_decref(m->root);
  memset(m, 0, sizeof *m);
}
