/* Anthropic Messages provider (see tern/anthropic.h).
 *
 * The chat context is translated into the Messages shape: one top-level
 * system string, then strictly alternating user/assistant messages whose
 * content is a list of blocks (consecutive messages of one role are merged
 * into one, tool results become tool_result blocks of a user message). The
 * stream is a sequence of typed events; a tool_use block's input arrives
 * as JSON text in pieces, held per block index until the block stops.
 * The call succeeds only after message_stop.
 */
#include "tern/anthropic.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "provider/cloud.h"
#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/sse.h"

#define LLM_MAX_RESPONSE ((size_t)16 << 20)

typedef struct anth {
  tern_provider_t base;
  tern__cloud_settings_t s;
} anth_t;

/* ---- the stream --------------------------------------------------------- */

typedef struct llm_op {
  tern__cop_t base;
  tern_llm_sink_t sink;
  tern_sse_t *sse;
  tern__tool_acc_t tools; /* by content block index; only tool_use blocks used */
  tern__contin_t contin;
  bool saw_stop;
} llm_op_t;

static void emit(void *ud, const char *text, size_t len) {
  llm_op_t *o = ud;
  if (tern__cop_alive(&o->base))
    o->sink.on_text(o->sink.ud, text, len);
}

static size_t block_index(json_t *j) {
  json_t *i = json_object_get(j, "index");
  return json_is_integer(i) && json_integer_value(i) >= 0 ? (size_t)json_integer_value(i)
                                                          : (size_t)-1;
}

static void deliver_block(llm_op_t *o, size_t idx) {
  if (idx >= o->tools.n)
    return;
  struct tern__tool_slot *t = &o->tools.slots[idx];
  if (!t->used || t->delivered)
    return;
  t->delivered = true;
  if (!t->name.len) {
    tern__cop_failf(&o->base, TERN_KIND_BAD_RESPONSE, "the model sent a tool call without a name");
    return;
  }
  char idbuf[32];
  snprintf(idbuf, sizeof idbuf, "toolu_tern_%zu", idx);
  tern_tool_call_t call = {
      .id = t->id.len ? t->id.data : idbuf,
      .name = t->name.data,
      .arguments = t->args.len ? t->args.data : (char *)"{}",
  };
  if (o->sink.on_tool_call)
    o->sink.on_tool_call(o->sink.ud, &call);
}

/* One event; returns 0 or a TERN_E* code (memory, a bad index). */
static int handle(llm_op_t *o, const char *type, json_t *j) {
  if (!strcmp(type, "content_block_start")) {
    json_t *cb = json_object_get(j, "content_block");
    const char *bt = json_string_value(json_object_get(cb, "type"));
    if (bt && !strcmp(bt, "tool_use")) {
      struct tern__tool_slot *t = tern__tool_acc_at(&o->tools, block_index(j));
      if (!t)
        return TERN_ERANGE;
      const char *id = json_string_value(json_object_get(cb, "id"));
      const char *name = json_string_value(json_object_get(cb, "name"));
      if ((id && tern_buf_appends(&t->id, id)) || (name && tern_buf_appends(&t->name, name)))
        return TERN_ENOMEM;
    } else if (bt && !strcmp(bt, "text")) {
      json_t *text = json_object_get(cb, "text");
      if (json_is_string(text) && json_string_length(text))
        return tern__contin_feed(&o->contin, json_string_value(text), json_string_length(text),
                                 emit, o);
    }
    return 0;
  }
  if (!strcmp(type, "content_block_delta")) {
    json_t *d = json_object_get(j, "delta");
    const char *dt = json_string_value(json_object_get(d, "type"));
    if (!dt)
      return 0;
    if (!strcmp(dt, "text_delta")) {
      json_t *text = json_object_get(d, "text");
      if (json_is_string(text) && json_string_length(text))
        return tern__contin_feed(&o->contin, json_string_value(text), json_string_length(text),
                                 emit, o);
    } else if (!strcmp(dt, "input_json_delta")) {
      size_t idx = block_index(j);
      if (idx >= o->tools.n || !o->tools.slots[idx].used)
        return TERN_ERANGE; /* a piece of a block that never started */
      const char *pj = json_string_value(json_object_get(d, "partial_json"));
      if (pj && tern_buf_appends(&o->tools.slots[idx].args, pj))
        return TERN_ENOMEM;
    }
    return 0; /* thinking and signature deltas are not for the caller */
  }
  if (!strcmp(type, "content_block_stop")) {
    deliver_block(o, block_index(j));
    return 0;
  }
  if (!strcmp(type, "message_stop")) {
    o->saw_stop = true;
    for (size_t i = 0; i < o->tools.n && tern__cop_alive(&o->base); i++)
      deliver_block(o, i); /* blocks a server forgot to stop */
    return 0;
  }
  /* message_start, message_delta, ping and event types added later. */
  return 0;
}

static int on_event(const tern_sse_event_t *ev, void *ud) {
  llm_op_t *o = ud;
  if (ev->len == 0)
    return 0;
  json_t *j;
  int jrc = tern__json_load(ev->data, ev->len, &j);
  if (jrc || !json_is_object(j)) {
    if (jrc == TERN_ENOMEM)
      tern__cop_fail_nomem(&o->base);
    else
      tern__cop_failf(&o->base, TERN_KIND_BAD_RESPONSE, "the provider sent a malformed event");
    json_decref(j);
    return 1;
  }
  const char *type = json_string_value(json_object_get(j, "type"));
  if (!type)
    type = ev->type;
  if (!strcmp(type, "error") || !strcmp(ev->type, "error")) {
    tern_error_t err;
    tern_error_from_response(&err, o->base.comp, o->base.provider, 0, ev->data, ev->len);
    tern__cop_fail(&o->base, &err);
    json_decref(j);
    return 1;
  }
  int rc = handle(o, type, j);
  json_decref(j);
  if (rc == TERN_ERANGE)
    tern__cop_failf(&o->base, TERN_KIND_BAD_RESPONSE, "the provider sent an event for a bad block");
  else if (rc)
    tern__cop_fail_nomem(&o->base);
  return tern__cop_alive(&o->base) ? 0 : 1;
}

static void op_response(tern__cop_t *b, int status) {
  (void)status;
  tern__cop_expect_sse(b);
}

static void op_data(tern__cop_t *b, const char *data, size_t len) {
  tern__cop_sse_feed(b, ((llm_op_t *)b)->sse, data, len);
}

static void op_end(tern__cop_t *b) {
  llm_op_t *o = (llm_op_t *)b;
  if (tern__cop_sse_finish(b, o->sse) && !o->saw_stop)
    tern__cop_failf(b, TERN_KIND_CONNECTION, "the stream ended before the answer was complete");
}

static void op_done(tern__cop_t *b, const tern_error_t *err) {
  llm_op_t *o = (llm_op_t *)b;
  o->sink.on_done(o->sink.ud, err);
}

static void op_release(tern__cop_t *b) {
  llm_op_t *o = (llm_op_t *)b;
  tern_sse_destroy(o->sse);
  tern__tool_acc_free(&o->tools);
  tern__contin_free(&o->contin);
}

static const tern__cop_vt_t op_vt = {op_response, op_data, op_end, op_done, op_release};

/* ---- replay (cloud.h) --------------------------------------------------- */

int tern__anthropic_replay(const tern__replay_t *r) {
  if (!r || (!r->body && r->len) || !r->llm || !r->llm->on_text || !r->llm->on_done)
    return TERN_EINVAL;
  llm_op_t *o = tern_calloc(1, sizeof *o);
  if (!o)
    return TERN_ENOMEM;
  o->sink = *r->llm;
  tern__contin_init(&o->contin, r->continuation, true);
  int rc = tern_sse_create(TERN__SSE_MAX_EVENT, on_event, o, &o->sse);
  if (rc) {
    tern_free(o);
    return rc;
  }
  return tern__cop_replay(&o->base, &op_vt, TERN_COMP_LLM, "anthropic", r);
}

/* ---- the request -------------------------------------------------------- */

typedef struct builder {
  json_t *msgs;
  json_t *last_content; /* the block list of the newest message */
  const char *last_role;
} builder_t;

/* The block list to append to for a message of `role`: the newest
 * message's when the role repeats (the API wants strict alternation). */
static json_t *blocks_for(builder_t *b, const char *role) {
  if (b->last_role && !strcmp(b->last_role, role))
    return b->last_content;
  if (!b->last_role && strcmp(role, "user")) {
    /* The conversation must open with the user; an agent that greets
     * first has its greeting answered to an implicit start. */
    json_t *c = blocks_for(b, "user");
    if (!c || !tern__jpush(c, json_pack("{s:s,s:s}", "type", "text", "text", "(call connected)")))
      return NULL;
  }
  json_t *m = json_object(), *content = json_array();
  if (!tern__jpush(b->msgs, m) || !tern__jset(m, "role", json_string(role)) ||
      !tern__jset(m, "content", content))
    return NULL;
  b->last_content = content;
  b->last_role = role; /* string literals only */
  return content;
}

static bool push_text(builder_t *b, const char *role, const char *text) {
  if (!text || !*text)
    return true; /* the API refuses empty text blocks */
  json_t *c = blocks_for(b, role);
  json_t *blk = c ? json_object() : NULL;
  return tern__jpush(c, blk) && tern__jset(blk, "type", json_string("text")) &&
         tern__jset(blk, "text", tern__jstr(text));
}

static bool push_tool_use(builder_t *b, const tern_tool_call_t *tc) {
  json_t *c = blocks_for(b, "assistant");
  json_t *blk = c ? json_object() : NULL;
  if (!tern__jpush(c, blk))
    return false;
  json_t *input = NULL;
  if (tc->arguments && tern__json_load(tc->arguments, strlen(tc->arguments), &input) == TERN_ENOMEM)
    return false;
  if (input && !json_is_object(input)) {
    json_decref(input);
    input = NULL;
  }
  if (!input && !(input = json_object())) /* arguments that were not JSON: none */
    return false;
  return tern__jset(blk, "input", input) && tern__jset(blk, "type", json_string("tool_use")) &&
         tern__jset(blk, "id", tern__jstr(tc->id)) && tern__jset(blk, "name", tern__jstr(tc->name));
}

static bool push_tool_result(builder_t *b, const tern_chat_msg_t *m) {
  json_t *c = blocks_for(b, "user");
  json_t *blk = c ? json_object() : NULL;
  return tern__jpush(c, blk) && tern__jset(blk, "type", json_string("tool_result")) &&
         tern__jset(blk, "tool_use_id", tern__jstr(m->tool_call_id)) &&
         tern__jset(blk, "content", tern__jstr(m->content ? m->content : ""));
}

static int build_system(const tern_llm_request_t *req, json_t *body) {
  tern_buf_t sys = TERN_BUF_INIT;
  int rc = 0;
  const char *s = tern_chat_system(req->chat);
  if (s && *s)
    rc = tern_buf_appends(&sys, s);
  size_t n = tern_chat_count(req->chat);
  for (size_t i = 0; i < n && !rc; i++) {
    const tern_chat_msg_t *m = tern_chat_at(req->chat, i);
    if (m->role != TERN_ROLE_SYSTEM || !m->content || !*m->content)
      continue;
    if (sys.len)
      rc = tern_buf_appends(&sys, "\n\n");
    if (!rc)
      rc = tern_buf_appends(&sys, m->content);
  }
  if (!rc && sys.len && !tern__jset(body, "system", tern__jstr(sys.data)))
    rc = TERN_ENOMEM;
  tern_buf_free(&sys);
  return rc ? TERN_ENOMEM : 0;
}

static int build_messages(const tern_llm_request_t *req, json_t *msgs) {
  builder_t b = {msgs, NULL, NULL};
  size_t n = tern_chat_count(req->chat);
  for (size_t i = 0; i < n; i++) {
    const tern_chat_msg_t *m = tern_chat_at(req->chat, i);
    bool ok = true;
    switch (m->role) {
    case TERN_ROLE_SYSTEM:
      break; /* joined into the top-level system prompt */
    case TERN_ROLE_USER:
      ok = push_text(&b, "user", m->content);
      break;
    case TERN_ROLE_ASSISTANT:
      ok = push_text(&b, "assistant", m->content);
      for (size_t k = 0; ok && k < m->n_tool_calls; k++)
        ok = push_tool_use(&b, &m->tool_calls[k]);
      break;
    case TERN_ROLE_TOOL:
      ok = push_tool_result(&b, m);
      break;
    }
    if (!ok)
      return TERN_ENOMEM;
  }
  if (req->continuation && *req->continuation) {
    /* The API refuses a final assistant turn that ends in whitespace. */
    size_t len = strlen(req->continuation);
    while (len > 0 && isspace((unsigned char)req->continuation[len - 1]))
      len--;
    if (len) {
      char *prefill = tern_strndup(req->continuation, len);
      bool ok = prefill && push_text(&b, "assistant", prefill);
      tern_free(prefill);
      if (!ok)
        return TERN_ENOMEM;
    }
  }
  if (!b.last_role && !push_text(&b, "user", "(call connected)"))
    return TERN_ENOMEM; /* an empty context still needs one message */
  return 0;
}

static int build_tools(const tern_llm_request_t *req, json_t *body) {
  json_t *arr = json_array();
  if (!arr || json_object_set_new(body, "tools", arr))
    return TERN_ENOMEM;
  for (size_t i = 0; i < req->n_tools; i++) {
    const tern_tool_def_t *t = &req->tools[i];
    if (!t->name || !*t->name)
      return TERN_EINVAL;
    json_t *params;
    int rc = tern__tool_params(t, &params);
    if (rc)
      return rc;
    json_t *tool = json_object();
    if (!tern__jpush(arr, tool)) {
      json_decref(params);
      return TERN_ENOMEM;
    }
    if (!tern__jset(tool, "input_schema", params) ||
        !tern__jset(tool, "name", tern__jstr(t->name)) ||
        (t->description && !tern__jset(tool, "description", tern__jstr(t->description))))
      return TERN_ENOMEM;
  }
  return 0;
}

static int build_body(const anth_t *p, const tern_llm_request_t *req, json_t **out) {
  *out = NULL;
  json_t *body = json_object(), *msgs = json_array();
  if (!body || !msgs) {
    json_decref(body);
    json_decref(msgs);
    return TERN_ENOMEM;
  }
  int rc = TERN_ENOMEM;
  if (json_object_set_new(body, "messages", msgs))
    goto fail;
  int max_tokens = req->max_tokens > 0 ? req->max_tokens : p->s.max_tokens;
  double temp = req->temperature >= 0 ? req->temperature : p->s.temperature;
  if (!tern__jset(body, "model", tern__jstr(p->s.model)) ||
      !tern__jset(body, "max_tokens", json_integer(max_tokens > 0 ? max_tokens : 1024)) ||
      !tern__jset(body, "stream", json_true()) ||
      (temp >= 0 && !tern__jset(body, "temperature", json_real(temp > 1 ? 1 : temp))))
    goto fail;
  if ((rc = build_system(req, body)) || (rc = build_messages(req, msgs)))
    goto fail;
  if (req->n_tools && (rc = build_tools(req, body)))
    goto fail;
  *out = body;
  return 0;
fail:
  json_decref(body);
  return rc;
}

static int anth_llm_start(tern_provider_t *pp, tern_loop_t *loop, const tern_llm_request_t *req,
                          const tern_llm_sink_t *sink, tern_op_t **op) {
  anth_t *p = (anth_t *)pp;
  if (op)
    *op = NULL;
  if (!loop || !req || !req->chat || !sink || !sink->on_text || !sink->on_done || !op ||
      (req->n_tools && !req->tools))
    return TERN_EINVAL;
  json_t *body;
  int rc = build_body(p, req, &body);
  if (rc)
    return rc;
  char *url = tern__cloud_url(p->s.base_url, "/v1/messages");
  llm_op_t *o = url ? tern_calloc(1, sizeof *o) : NULL;
  if (!o) {
    tern_free(url);
    json_decref(body);
    return TERN_ENOMEM;
  }
  o->sink = *sink;
  tern__contin_init(&o->contin, req->continuation, true);
  rc = tern__cop_init_sse(&o->base, &op_vt, pp, loop, url, LLM_MAX_RESPONSE, body, on_event, o,
                          &o->sse);
  tern_free(url);
  json_decref(body);
  if (!rc)
    rc = tern_http_add_header(o->base.http, "anthropic-version", TERN_ANTHROPIC_VERSION);
  if (!rc && p->s.api_key)
    rc = tern_http_add_header(o->base.http, "x-api-key", p->s.api_key);
  if (rc) {
    tern__cop_discard(&o->base);
    return rc;
  }
  if ((rc = tern__cop_start(&o->base)))
    return rc;
  *op = &o->base.op;
  return 0;
}

/* ---- the provider ------------------------------------------------------- */

static void anth_destroy(tern_provider_t *pp) {
  anth_t *p = (anth_t *)pp;
  tern__cloud_settings_free(&p->s);
  tern_free(p);
}

static const tern_provider_vt_t anth_vt = {
    .kind = "anthropic",
    .llm_start = anth_llm_start,
    .destroy = anth_destroy,
};

int tern_anthropic_provider_create(tern_component_t comp, const char *name,
                                   const tern_config_t *cfg, tern_provider_t **out, char *err,
                                   size_t errsz) {
  if (out)
    *out = NULL;
  if (!out || !name || !*name || strlen(name) >= TERN_PROVIDER_NAME_MAX) {
    if (err && errsz)
      snprintf(err, errsz, "anthropic: a provider needs a name of 1 to %d characters",
               TERN_PROVIDER_NAME_MAX - 1);
    return TERN_EINVAL;
  }
  if (comp != TERN_COMP_LLM) {
    if (err && errsz)
      snprintf(err, errsz, "%s.%s: the anthropic provider offers llm only",
               tern_component_name(comp), name);
    return TERN_ECONFIG;
  }
  static const tern__cloud_defaults_t d = {
      .kind = "anthropic",
      .base_env = "ANTHROPIC_BASE_URL",
      .base_url = TERN_ANTHROPIC_BASE_URL,
      .key_env = "ANTHROPIC_API_KEY",
      .model = "claude-3-5-haiku-latest",
      .max_tokens = 1024,
  };
  anth_t *p = tern_calloc(1, sizeof *p);
  if (!p)
    return TERN_ENOMEM;
  int rc = tern__cloud_settings_load(comp, name, cfg, &d, &p->s, err, errsz);
  if (rc) {
    tern_free(p);
    return rc;
  }
  p->base.vt = &anth_vt;
  p->base.component = comp;
  snprintf(p->base.name, sizeof p->base.name, "%s", name);
  *out = &p->base;
  return 0;
}
