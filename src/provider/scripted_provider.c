/* The scripted dialogue engine as an asynchronous LLM provider.
 *
 * A script answers in microseconds, so the reply is worked out inside
 * llm_start on the loop thread (no thread pool, and no copy of the chat
 * to keep); what is asynchronous is the delivery: one posted step per
 * callback (a few words of text, then the tool call, then on_done), so
 * the caller sees a stream like a real model's and never gets a callback
 * inside its start call.
 *
 * Lifetime: exactly one step is pending whenever the operation is alive
 * and not inside a step, and that step frees the operation once it is
 * done or cancelled. Cancel therefore only sets a flag, which makes it
 * safe anywhere on the loop thread, inside the callbacks too. */
#include <stdio.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/loop.h"
#include "tern/scripted.h"

#ifndef TERN_DEFAULT_SCRIPT
#define TERN_DEFAULT_SCRIPT "examples/scripted/default.rules"
#endif

#define WORDS_PER_CHUNK 4

typedef struct scripted_provider {
  tern_provider_t base;
  tern_script_t *script;
} scripted_provider_t;

typedef struct llm_op {
  tern_op_t op;
  tern_loop_t *loop;
  tern_llm_sink_t sink;
  const char *name; /* the provider's, for errors */
  int rc;           /* a failure to report instead of a reply */
  tern_script_reply_t reply;
  size_t pos, len; /* text still to deliver: reply.text[pos..len) */
  tern_tool_call_t call;
  bool call_pending;
  bool cancelled;
} llm_op_t;

static void op_free(llm_op_t *o) {
  tern_script_reply_free(&o->reply);
  tern_tool_call_free(&o->call);
  tern_free(o);
}

static void op_cancel(tern_op_t *op) { ((llm_op_t *)op)->cancelled = true; }

/* Length of the next piece of text from s: up to WORDS_PER_CHUNK words
 * with the spaces before them, so the pieces put back together are the
 * reply exactly. */
static size_t next_piece(const char *s, size_t n) {
  size_t i = 0;
  for (int w = 0; w < WORDS_PER_CHUNK && i < n; w++) {
    while (i < n && s[i] == ' ')
      i++;
    while (i < n && s[i] != ' ')
      i++;
  }
  return i;
}

static void done_with_error(llm_op_t *o, int rc) {
  tern_error_t err;
  tern_error_init(&err, TERN_COMP_LLM, TERN_KIND_SERVER, o->name);
  if (rc == TERN_ETOOBIG)
    tern_error_set_message(&err, "the script's reply is longer than %d bytes",
                           TERN_SCRIPT_MAX_REPLY);
  else
    tern_error_set_message(&err, "the scripted engine failed (%s)", tern_err_name(rc));
  o->sink.on_done(o->sink.ud, &err);
}

static void step(tern_loop_t *loop, void *ud) {
  llm_op_t *o = ud;
  if (o->cancelled) {
    op_free(o);
    return;
  }
  bool last = false;
  if (o->rc) {
    done_with_error(o, o->rc);
    last = true;
  } else if (o->pos < o->len) {
    size_t n = next_piece(o->reply.text + o->pos, o->len - o->pos);
    const char *piece = o->reply.text + o->pos;
    o->pos += n;
    o->sink.on_text(o->sink.ud, piece, n);
  } else if (o->call_pending) {
    o->call_pending = false;
    o->sink.on_tool_call(o->sink.ud, &o->call); /* present: checked at start */
  } else {
    o->sink.on_done(o->sink.ud, NULL);
    last = true;
  }
  if (last || o->cancelled) {
    op_free(o);
    return;
  }
  if (tern_loop_post(loop, step, o) != 0) {
    done_with_error(o, TERN_ENOMEM);
    op_free(o);
  }
}

static bool tool_offered(const tern_llm_request_t *req, const char *name) {
  for (size_t i = 0; i < req->n_tools; i++)
    if (req->tools[i].name && !strcmp(req->tools[i].name, name))
      return true;
  return false;
}

/* Skips what was already said: the reply must begin with it (leading
 * spaces aside), else the whole reply is said. */
static size_t continuation_skip(const char *text, const char *cont) {
  if (!cont || !cont[0] || !text)
    return 0;
  const char *t = text, *c = cont;
  while (*t == ' ')
    t++;
  while (*c == ' ')
    c++;
  size_t n = strlen(c);
  if (strncmp(t, c, n) != 0)
    return 0;
  return (size_t)(t - text) + n;
}

static int llm_start(tern_provider_t *p, tern_loop_t *loop, const tern_llm_request_t *req,
                     const tern_llm_sink_t *sink, tern_op_t **op) {
  if (op)
    *op = NULL;
  if (!p || !loop || !req || !req->chat || !sink || !sink->on_text || !sink->on_done || !op)
    return TERN_EINVAL;
  scripted_provider_t *sp = (scripted_provider_t *)p;
  llm_op_t *o = tern_calloc(1, sizeof *o);
  if (!o)
    return TERN_ENOMEM;
  o->op.cancel = op_cancel;
  o->loop = loop;
  o->sink = *sink;
  o->name = p->name;
  int rc = tern_script_respond(sp->script, req->chat, &o->reply);
  if (rc == 0 && o->reply.tool_name &&
      (!sink->on_tool_call || !tool_offered(req, o->reply.tool_name))) {
    /* The session cannot run this tool: say honestly what we can do. */
    tern_script_reply_free(&o->reply);
    rc = tern_script_fallback(sp->script, &o->reply);
  }
  if (rc == 0 && o->reply.tool_name) {
    char id[48];
    snprintf(id, sizeof id, "call_scripted_%zu", tern_chat_count(req->chat));
    tern_tool_call_t c = {.id = id, .name = o->reply.tool_name, .arguments = o->reply.arguments};
    rc = tern_tool_call_copy(&o->call, &c);
    o->call_pending = rc == 0;
  }
  if (rc == TERN_ENOMEM || rc == TERN_EINVAL) {
    op_free(o);
    return rc;
  }
  o->rc = rc;
  if (o->reply.text) {
    o->len = strlen(o->reply.text);
    o->pos = continuation_skip(o->reply.text, req->continuation);
  }
  rc = tern_loop_post(loop, step, o);
  if (rc) {
    op_free(o);
    return rc;
  }
  *op = &o->op;
  return 0;
}

static void scripted_destroy(tern_provider_t *p) {
  scripted_provider_t *sp = (scripted_provider_t *)p;
  tern_script_free(sp->script);
  tern_free(sp);
}

static const tern_provider_vt_t SCRIPTED_VT = {.kind = "scripted", .llm_start = llm_start,
                                                .destroy = scripted_destroy};

int tern_scripted_provider_create(const char *path, tern_provider_t **out, char *err,
                                  size_t errsz) {
  if (!out)
    return TERN_EINVAL;
  *out = NULL;
  scripted_provider_t *p = tern_calloc(1, sizeof *p);
  if (!p)
    return TERN_ENOMEM;
  int rc = tern_script_load_file(path ? path : TERN_DEFAULT_SCRIPT, &p->script, err, errsz);
  if (rc) {
    tern_free(p);
    return rc;
  }
  p->base.vt = &SCRIPTED_VT;
  p->base.component = TERN_COMP_LLM;
  snprintf(p->base.name, sizeof p->base.name, "scripted");
  p->base.first_byte_timeout = TERN_SEC(1);
  p->base.idle_timeout = TERN_SEC(1);
  p->base.total_timeout = TERN_SEC(5);
  *out = &p->base;
  return 0;
}
