/* OpenAI-compatible provider: streamed chat completions with tools,
 * transcription, speech (see tern/openai.h).
 *
 * Each call is one tern__cop_t (cloud.h) plus the state of its wire
 * format. The provider object holds only settings and is never written
 * after creation, so any number of sessions and threads may share it.
 *
 * Stream invariants (llm): text is delivered as it arrives, through the
 * continuation filter; tool calls are held until the answer ends
 * (finish_reason or [DONE]) and delivered once each; the call succeeds
 * only when the stream reached one of those ends. Speech: bytes become
 * samples across chunk boundaries (an odd byte waits for its partner), and
 * the resampler's tail is flushed at the end, so the caller gets exactly
 * ceil(n * rate / 24000) samples for n sent.
 */
#include "tern/openai.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "provider/cloud.h"
#include "provider/tts_text.h"
#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/log.h"
#include "tern/resample.h"
#include "tern/sse.h"
#include "tern/wav.h"

#define LLM_MAX_RESPONSE ((size_t)16 << 20)
#define STT_MAX_RESPONSE ((size_t)1 << 20)
#define PCM_BLOCK 2048 /* samples converted per step */

typedef struct oai {
  tern_provider_t base;
  tern__cloud_settings_t s;
} oai_t;

static int add_auth(tern__cop_t *o, const oai_t *p) {
  if (!p->s.api_key)
    return 0;
  size_t n = strlen(p->s.api_key) + 8;
  char *v = tern_malloc(n);
  if (!v)
    return TERN_ENOMEM;
  snprintf(v, n, "Bearer %s", p->s.api_key);
  int rc = tern_http_add_header(o->http, "Authorization", v);
  memset(v, 0, n);
  tern_free(v);
  return rc;
}

/* ---- chat completions --------------------------------------------------- */

typedef struct llm_op {
  tern__cop_t base;
  tern_llm_sink_t sink;
  tern_sse_t *sse;
  tern__tool_acc_t tools;
  tern__contin_t contin;
  bool saw_done, saw_finish;
} llm_op_t;

static void llm_emit(void *ud, const char *text, size_t len) {
  llm_op_t *o = ud;
  if (tern__cop_alive(&o->base))
    o->sink.on_text(o->sink.ud, text, len);
}

/* Deliver every assembled tool call not yet delivered. */
static void deliver_tools(llm_op_t *o) {
  for (size_t i = 0; i < o->tools.n && tern__cop_alive(&o->base); i++) {
    struct tern__tool_slot *t = &o->tools.slots[i];
    if (!t->used || t->delivered)
      continue;
    t->delivered = true;
    if (!t->name.len) {
      tern__cop_failf(&o->base, TERN_KIND_BAD_RESPONSE,
                      "the model sent a tool call without a name");
      return;
    }
    char idbuf[32];
    snprintf(idbuf, sizeof idbuf, "call_tern_%zu", i);
    tern_tool_call_t call = {
        .id = t->id.len ? t->id.data : idbuf,
        .name = t->name.data,
        .arguments = t->args.len ? t->args.data : (char *)"{}",
    };
    if (o->sink.on_tool_call)
      o->sink.on_tool_call(o->sink.ud, &call);
  }
}

static int tool_delta(llm_op_t *o, json_t *tc, size_t pos) {
  json_t *jidx = json_object_get(tc, "index");
  size_t idx = json_is_integer(jidx) && json_integer_value(jidx) >= 0
                   ? (size_t)json_integer_value(jidx)
                   : pos;
  struct tern__tool_slot *t = tern__tool_acc_at(&o->tools, idx);
  if (!t)
    return idx >= 64 ? TERN_ERANGE : TERN_ENOMEM;
  const char *id = json_string_value(json_object_get(tc, "id"));
  json_t *fn = json_object_get(tc, "function");
  const char *name = json_string_value(json_object_get(fn, "name"));
  const char *args = json_string_value(json_object_get(fn, "arguments"));
  /* Some servers repeat the id and name on every piece: keep the first. */
  if (id && *id && !t->id.len && tern_buf_appends(&t->id, id))
    return TERN_ENOMEM;
  if (name && *name && !t->name.len && tern_buf_appends(&t->name, name))
    return TERN_ENOMEM;
  if (args && tern_buf_appends(&t->args, args))
    return TERN_ENOMEM;
  return 0;
}

static int llm_event(const tern_sse_event_t *ev, void *ud) {
  llm_op_t *o = ud;
  if (ev->done) {
    o->saw_done = true;
    deliver_tools(o);
    return tern__cop_alive(&o->base) ? 0 : 1;
  }
  if (ev->len == 0)
    return 0;
  json_t *j;
  int jrc = tern__json_load(ev->data, ev->len, &j);
  if (jrc || !json_is_object(j)) {
    if (jrc == TERN_ENOMEM)
      tern__cop_fail_nomem(&o->base);
    else
      tern__cop_failf(&o->base, TERN_KIND_BAD_RESPONSE,
                      "the provider sent a malformed stream chunk");
    json_decref(j);
    return 1;
  }
  if (json_object_get(j, "error")) {
    tern_error_t err;
    tern_error_from_response(&err, o->base.comp, o->base.provider, 0, ev->data, ev->len);
    tern__cop_fail(&o->base, &err);
    json_decref(j);
    return 1;
  }
  json_t *choices = json_object_get(j, "choices");
  json_t *ch = NULL;
  size_t i;
  json_t *c;
  json_array_foreach(choices, i, c) {
    json_t *idx = json_object_get(c, "index");
    if (!idx || (json_is_integer(idx) && json_integer_value(idx) == 0)) {
      ch = c;
      break;
    }
  }
  int rc = 0;
  if (ch) {
    json_t *delta = json_object_get(ch, "delta");
    json_t *content = json_object_get(delta, "content");
    if (json_is_string(content) && json_string_length(content) > 0)
      rc = tern__contin_feed(&o->contin, json_string_value(content), json_string_length(content),
                             llm_emit, o);
    json_t *tcs = json_object_get(delta, "tool_calls");
    json_t *tc;
    json_array_foreach(tcs, i, tc) {
      if (rc || !tern__cop_alive(&o->base))
        break;
      rc = tool_delta(o, tc, i);
    }
    if (!rc && tern__cop_alive(&o->base) && json_is_string(json_object_get(ch, "finish_reason"))) {
      o->saw_finish = true;
      deliver_tools(o);
    }
  }
  json_decref(j);
  if (rc == TERN_ERANGE)
    tern__cop_failf(&o->base, TERN_KIND_BAD_RESPONSE, "the model sent too many tool calls");
  else if (rc)
    tern__cop_fail_nomem(&o->base);
  return tern__cop_alive(&o->base) ? 0 : 1;
}

static void llm_response(tern__cop_t *b, int status) {
  (void)status;
  tern__cop_expect_sse(b);
}

static void llm_data(tern__cop_t *b, const char *data, size_t len) {
  tern__cop_sse_feed(b, ((llm_op_t *)b)->sse, data, len);
}

static void llm_end(tern__cop_t *b) {
  llm_op_t *o = (llm_op_t *)b;
  if (!tern__cop_sse_finish(b, o->sse))
    return;
  if (!o->saw_done && !o->saw_finish) {
    tern__cop_failf(b, TERN_KIND_CONNECTION, "the stream ended before the answer was complete");
    return;
  }
  deliver_tools(o);
}

static void llm_done(tern__cop_t *b, const tern_error_t *err) {
  llm_op_t *o = (llm_op_t *)b;
  o->sink.on_done(o->sink.ud, err);
}

static void llm_release(tern__cop_t *b) {
  llm_op_t *o = (llm_op_t *)b;
  tern_sse_destroy(o->sse);
  tern__tool_acc_free(&o->tools);
  tern__contin_free(&o->contin);
}

static const tern__cop_vt_t llm_vt = {llm_response, llm_data, llm_end, llm_done, llm_release};

static json_t *msg(const char *role, const char *content) {
  json_t *m = json_object();
  if (m && (!tern__jset(m, "role", json_string(role)) ||
            !tern__jset(m, "content", content ? tern__jstr(content) : json_null()))) {
    json_decref(m);
    return NULL;
  }
  return m;
}

/* An empty object already owned by parent under key (so one decref of
 * the parent releases everything on any later failure). */
static json_t *child(json_t *parent, const char *key) {
  json_t *c = json_object();
  return c && json_object_set_new(parent, key, c) == 0 ? c : NULL;
}

static json_t *tool_calls_json(const tern_chat_msg_t *m) {
  json_t *arr = json_array();
  for (size_t k = 0; arr && k < m->n_tool_calls; k++) {
    const tern_tool_call_t *tc = &m->tool_calls[k];
    json_t *call = json_object();
    if (!tern__jpush(arr, call)) {
      json_decref(arr);
      return NULL;
    }
    json_t *fn = child(call, "function");
    if (!fn || !tern__jset(fn, "name", tern__jstr(tc->name)) ||
        !tern__jset(fn, "arguments", tern__jstr(tc->arguments ? tc->arguments : "{}")) ||
        !tern__jset(call, "id", tern__jstr(tc->id)) ||
        !tern__jset(call, "type", json_string("function"))) {
      json_decref(arr);
      return NULL;
    }
  }
  return arr;
}

static int build_messages(const tern_llm_request_t *req, json_t *arr) {
  const char *sys = tern_chat_system(req->chat);
  if (sys && !tern__jpush(arr, msg("system", sys)))
    return TERN_ENOMEM;
  size_t n = tern_chat_count(req->chat);
  for (size_t i = 0; i < n; i++) {
    const tern_chat_msg_t *m = tern_chat_at(req->chat, i);
    json_t *o = NULL;
    switch (m->role) {
    case TERN_ROLE_SYSTEM:
      o = msg("system", m->content ? m->content : "");
      break;
    case TERN_ROLE_USER:
      o = msg("user", m->content ? m->content : "");
      break;
    case TERN_ROLE_ASSISTANT:
      if (m->n_tool_calls) {
        o = msg("assistant", m->content && *m->content ? m->content : NULL);
        if (o && !tern__jset(o, "tool_calls", tool_calls_json(m))) {
          json_decref(o);
          o = NULL;
        }
      } else {
        o = msg("assistant", m->content ? m->content : "");
      }
      break;
    case TERN_ROLE_TOOL:
      o = msg("tool", m->content ? m->content : "");
      if (o && !tern__jset(o, "tool_call_id", tern__jstr(m->tool_call_id ? m->tool_call_id : ""))) {
        json_decref(o);
        o = NULL;
      }
      break;
    }
    if (!tern__jpush(arr, o))
      return TERN_ENOMEM;
  }
  if (req->continuation && *req->continuation) {
    if (!tern__jpush(arr, msg("assistant", req->continuation)) ||
        !tern__jpush(arr, msg("user", tern__continue_prompt)))
      return TERN_ENOMEM;
  }
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
    json_t *fn = child(tool, "function");
    if (!fn || !tern__jset(fn, "parameters", params)) {
      if (!fn)
        json_decref(params);
      return TERN_ENOMEM;
    }
    if (!tern__jset(tool, "type", json_string("function")) ||
        !tern__jset(fn, "name", tern__jstr(t->name)) ||
        (t->description && !tern__jset(fn, "description", tern__jstr(t->description))))
      return TERN_ENOMEM;
  }
  return 0;
}

static int build_chat_body(const oai_t *p, const tern_llm_request_t *req, json_t **out) {
  *out = NULL;
  json_t *body = json_object(), *msgs = json_array();
  int rc = TERN_ENOMEM;
  if (!body || !msgs) {
    json_decref(body);
    json_decref(msgs);
    return TERN_ENOMEM;
  }
  if (json_object_set_new(body, "messages", msgs))
    goto fail;
  if (!tern__jset(body, "model", tern__jstr(p->s.model)) ||
      !tern__jset(body, "stream", json_true()))
    goto fail;
  if ((rc = build_messages(req, msgs)))
    goto fail;
  rc = TERN_ENOMEM;
  int max_tokens = req->max_tokens > 0 ? req->max_tokens : p->s.max_tokens;
  if (max_tokens > 0 && !tern__jset(body, "max_tokens", json_integer(max_tokens)))
    goto fail;
  double temp = req->temperature >= 0 ? req->temperature : p->s.temperature;
  if (temp >= 0 && !tern__jset(body, "temperature", json_real(temp)))
    goto fail;
  if (req->n_tools && (rc = build_tools(req, body)))
    goto fail;
  *out = body;
  return 0;
fail:
  json_decref(body);
  return rc;
}

static int oai_llm_start(tern_provider_t *pp, tern_loop_t *loop, const tern_llm_request_t *req,
                         const tern_llm_sink_t *sink, tern_op_t **op) {
  oai_t *p = (oai_t *)pp;
  if (op)
    *op = NULL;
  if (!loop || !req || !req->chat || !sink || !sink->on_text || !sink->on_done || !op ||
      (req->n_tools && !req->tools))
    return TERN_EINVAL;
  if (pp->component != TERN_COMP_LLM)
    return TERN_EUNSUPPORTED;
  json_t *body;
  int rc = build_chat_body(p, req, &body);
  if (rc)
    return rc;
  char *url = tern__cloud_url(p->s.base_url, "/chat/completions");
  llm_op_t *o = url ? tern_calloc(1, sizeof *o) : NULL;
  if (!o) {
    tern_free(url);
    json_decref(body);
    return TERN_ENOMEM;
  }
  o->sink = *sink;
  tern__contin_init(&o->contin, req->continuation, false);
  rc = tern__cop_init_sse(&o->base, &llm_vt, pp, loop, url, LLM_MAX_RESPONSE, body, llm_event, o,
                          &o->sse);
  tern_free(url);
  json_decref(body);
  if (!rc)
    rc = add_auth(&o->base, p);
  if (rc) {
    tern__cop_discard(&o->base);
    return rc;
  }
  if ((rc = tern__cop_start(&o->base)))
    return rc;
  *op = &o->base.op;
  return 0;
}

/* ---- transcription ------------------------------------------------------ */

typedef struct stt_op {
  tern__cop_t base;
  tern_stt_sink_t sink;
  tern_buf_t body;
  uint8_t *wav;
} stt_op_t;

static void stt_response(tern__cop_t *b, int status) {
  (void)status;
  if (!tern__cop_content_type_is(b, "application/json")) {
    const char *ct = tern_http_header(b->http, "content-type");
    tern__cop_failf(b, TERN_KIND_BAD_RESPONSE, "expected JSON, got content type '%.60s'",
                    ct ? ct : "none");
  }
}

static void stt_data(tern__cop_t *b, const char *data, size_t len) {
  stt_op_t *o = (stt_op_t *)b;
  if (tern_buf_append(&o->body, data, len))
    tern__cop_fail_nomem(b);
}

static void stt_end(tern__cop_t *b) {
  stt_op_t *o = (stt_op_t *)b;
  json_t *j;
  int jrc = tern__json_load(tern_buf_str(&o->body), o->body.len, &j);
  json_t *text = json_object_get(j, "text");
  if (!json_is_string(text)) {
    if (jrc == TERN_ENOMEM)
      tern__cop_fail_nomem(b);
    else if (j && json_object_get(j, "error")) {
      tern_error_t err;
      tern_error_from_response(&err, b->comp, b->provider, 0, o->body.data, o->body.len);
      tern__cop_fail(b, &err);
    } else
      tern__cop_failf(b, TERN_KIND_BAD_RESPONSE,
                      "the transcription reply is not the expected JSON");
    json_decref(j);
    return;
  }
  /* The API reports no confidence: a final transcript is all it gives. */
  o->sink.on_transcript(o->sink.ud, json_string_value(text), true, 1.0);
  json_decref(j);
}

static void stt_done(tern__cop_t *b, const tern_error_t *err) {
  stt_op_t *o = (stt_op_t *)b;
  o->sink.on_done(o->sink.ud, err);
}

static void stt_release(tern__cop_t *b) {
  stt_op_t *o = (stt_op_t *)b;
  tern_buf_free(&o->body);
  tern_free(o->wav);
}

static const tern__cop_vt_t stt_vt = {stt_response, stt_data, stt_end, stt_done, stt_release};

static int oai_stt_start(tern_provider_t *pp, tern_loop_t *loop, const tern_stt_request_t *req,
                         const tern_stt_sink_t *sink, tern_op_t **op) {
  oai_t *p = (oai_t *)pp;
  if (op)
    *op = NULL;
  if (!loop || !req || (!req->pcm && req->n_samples) || !sink || !sink->on_transcript ||
      !sink->on_done || !op || req->sample_rate < 8000 || req->sample_rate > 192000)
    return TERN_EINVAL;
  if (pp->component != TERN_COMP_STT)
    return TERN_EUNSUPPORTED;
  char *url = tern__cloud_url(p->s.base_url, "/audio/transcriptions");
  stt_op_t *o = url ? tern_calloc(1, sizeof *o) : NULL;
  if (!o) {
    tern_free(url);
    return TERN_ENOMEM;
  }
  o->sink = *sink;
  o->body.max = STT_MAX_RESPONSE;
  size_t wav_len = 0;
  int rc = tern__cop_init(&o->base, &stt_vt, pp, loop, url, STT_MAX_RESPONSE);
  tern_free(url);
  if (!rc)
    rc = tern_wav_write_mem(req->pcm, req->n_samples, (uint32_t)req->sample_rate, 1, &o->wav,
                            &wav_len);
  if (!rc)
    rc = tern_http_add_form_file(o->base.http, "file", "audio.wav", "audio/wav", o->wav, wav_len,
                                 false);
  if (!rc)
    rc = tern_http_add_form_field(o->base.http, "model", p->s.model);
  if (!rc)
    rc = tern_http_add_form_field(o->base.http, "language", req->language ? req->language : "en");
  if (!rc)
    rc = tern_http_add_form_field(o->base.http, "response_format", "json");
  if (!rc)
    rc = add_auth(&o->base, p);
  if (rc) {
    tern__cop_discard(&o->base);
    return rc;
  }
  if ((rc = tern__cop_start(&o->base)))
    return rc;
  *op = &o->base.op;
  return 0;
}

/* ---- speech ------------------------------------------------------------- */

typedef struct tts_op {
  tern__cop_t base;
  tern_tts_sink_t sink;
  tern_resampler_t *rs; /* NULL when the session runs at 24 kHz */
  int16_t in[PCM_BLOCK];
  int16_t *out;
  size_t out_cap;
  uint8_t carry; /* the first byte of a sample split across two chunks */
  bool has_carry;
} tts_op_t;

static void tts_push(tts_op_t *o, const int16_t *pcm, size_t n) {
  if (!o->rs) {
    o->sink.on_audio(o->sink.ud, pcm, n);
    return;
  }
  size_t used = 0, made = 0;
  if (tern_resampler_process(o->rs, pcm, n, &used, o->out, o->out_cap, &made)) {
    tern__cop_fail_nomem(&o->base);
    return;
  }
  if (made)
    o->sink.on_audio(o->sink.ud, o->out, made);
}

static void tts_response(tern__cop_t *b, int status) {
  (void)status;
  /* Raw PCM comes as audio (any subtype) or octet-stream; text or JSON on a 200 is a
   * proxy page or an error in disguise, never speech. */
  const char *ct = tern_http_header(b->http, "content-type");
  if (ct && (!strncasecmp(ct, "text/", 5) || tern__cop_content_type_is(b, "application/json")))
    tern__cop_failf(b, TERN_KIND_BAD_RESPONSE, "expected audio, got content type '%.60s'", ct);
}

static void tts_data(tern__cop_t *b, const char *data, size_t len) {
  tts_op_t *o = (tts_op_t *)b;
  const uint8_t *d = (const uint8_t *)data;
  while (len > 0 && tern__cop_alive(b)) {
    size_t n = 0;
    if (o->has_carry) {
      o->in[n++] = (int16_t)(uint16_t)(o->carry | (uint16_t)d[0] << 8);
      d++;
      len--;
      o->has_carry = false;
    }
    size_t take = len / 2;
    if (take > PCM_BLOCK - n)
      take = PCM_BLOCK - n;
    for (size_t i = 0; i < take; i++)
      o->in[n++] = (int16_t)(uint16_t)(d[2 * i] | (uint16_t)d[2 * i + 1] << 8);
    d += 2 * take;
    len -= 2 * take;
    if (len == 1) {
      o->carry = d[0];
      o->has_carry = true;
      len = 0;
    }
    if (n)
      tts_push(o, o->in, n);
  }
}

static void tts_end(tern__cop_t *b) {
  tts_op_t *o = (tts_op_t *)b;
  /* A stray last byte is half a sample: nothing to play, and the audio
   * before it was good, so the answer stands. */
  if (o->has_carry)
    TERN_LOG(TERN_LOG_DEBUG, "tts_odd_byte", TERN_LF_STR("provider", b->provider));
  if (!o->rs)
    return;
  for (int guard = 0; guard < 64 && tern__cop_alive(b); guard++) {
    size_t made = 0;
    int rc = tern_resampler_flush(o->rs, o->out, o->out_cap, &made);
    if (made)
      o->sink.on_audio(o->sink.ud, o->out, made);
    if (rc != TERN_EBUSY)
      return;
  }
}

static void tts_done(tern__cop_t *b, const tern_error_t *err) {
  tts_op_t *o = (tts_op_t *)b;
  o->sink.on_done(o->sink.ud, err);
}

static void tts_release(tern__cop_t *b) {
  tts_op_t *o = (tts_op_t *)b;
  tern_resampler_free(o->rs);
  tern_free(o->out);
}

static const tern__cop_vt_t tts_vt = {tts_response, tts_data, tts_end, tts_done, tts_release};

/* The resampler from the API's 24 kHz to the rate asked for, if another. */
static int tts_set_rate(tts_op_t *o, int sample_rate) {
  if (sample_rate == TERN_OPENAI_TTS_RATE)
    return 0;
  int rc = tern_resampler_new(TERN_OPENAI_TTS_RATE, (uint32_t)sample_rate, -1, &o->rs);
  if (rc)
    return rc;
  size_t a = tern_resampler_out_max(o->rs, PCM_BLOCK);
  size_t f = tern_resampler_pending(o->rs) + 64;
  o->out_cap = a > f ? a : f;
  if (!(o->out = tern_malloc(o->out_cap * sizeof *o->out)))
    return TERN_ENOMEM;
  return 0;
}

static int oai_tts_start(tern_provider_t *pp, tern_loop_t *loop, const tern_tts_request_t *req,
                         const tern_tts_sink_t *sink, tern_op_t **op) {
  oai_t *p = (oai_t *)pp;
  if (op)
    *op = NULL;
  if (!loop || !req || !req->text || !*req->text || !sink || !sink->on_audio || !sink->on_done ||
      !op || req->sample_rate < 8000 || req->sample_rate > 192000)
    return TERN_EINVAL;
  if (pp->component != TERN_COMP_TTS)
    return TERN_EUNSUPPORTED;
  size_t chars = strlen(req->text);
  if (chars > 4096)
    return TERN_ETOOBIG; /* the API's own limit on input */
  /* Control characters are nothing a voice can say (as for every other
   * synthesiser: tts_text.h); tabs and line breaks become spaces. */
  char *text;
  int crc = tern__tts_clean(req->text, 4096, &text);
  if (crc)
    return crc;
  json_t *body = json_object();
  if (!body || !tern__jset(body, "model", tern__jstr(p->s.model)) ||
      !tern__jset(body, "input", tern__jstr(text)) ||
      !tern__jset(body, "voice", tern__jstr(req->voice ? req->voice : p->s.voice)) ||
      !tern__jset(body, "response_format", json_string("pcm"))) {
    tern_free(text);
    json_decref(body);
    return TERN_ENOMEM;
  }
  tern_free(text);
  char *url = tern__cloud_url(p->s.base_url, "/audio/speech");
  tts_op_t *o = url ? tern_calloc(1, sizeof *o) : NULL;
  if (!o) {
    tern_free(url);
    json_decref(body);
    return TERN_ENOMEM;
  }
  o->sink = *sink;
  /* Bound the body by what the text could possibly take to say (half a
   * second a character, plus ten seconds), so a runaway stream ends. */
  size_t max_bytes = (size_t)TERN_OPENAI_TTS_RATE * 2 * (chars / 2 + 10);
  int rc = tern__cop_init(&o->base, &tts_vt, pp, loop, url, max_bytes);
  tern_free(url);
  if (!rc)
    rc = tts_set_rate(o, req->sample_rate);
  if (!rc)
    rc = tern__cop_json_body(&o->base, body);
  json_decref(body);
  if (!rc)
    rc = add_auth(&o->base, p);
  if (rc) {
    tern__cop_discard(&o->base);
    return rc;
  }
  if ((rc = tern__cop_start(&o->base)))
    return rc;
  *op = &o->base.op;
  return 0;
}

/* ---- replay (cloud.h) --------------------------------------------------- */

int tern__openai_replay(tern_component_t comp, const tern__replay_t *r) {
  if (!r || (!r->body && r->len))
    return TERN_EINVAL;
  int rc;
  switch (comp) {
  case TERN_COMP_LLM: {
    if (!r->llm || !r->llm->on_text || !r->llm->on_done)
      return TERN_EINVAL;
    llm_op_t *o = tern_calloc(1, sizeof *o);
    if (!o)
      return TERN_ENOMEM;
    o->sink = *r->llm;
    tern__contin_init(&o->contin, r->continuation, false);
    if ((rc = tern_sse_create(TERN__SSE_MAX_EVENT, llm_event, o, &o->sse))) {
      tern_free(o);
      return rc;
    }
    return tern__cop_replay(&o->base, &llm_vt, comp, "openai", r);
  }
  case TERN_COMP_STT: {
    if (!r->stt || !r->stt->on_transcript || !r->stt->on_done)
      return TERN_EINVAL;
    stt_op_t *o = tern_calloc(1, sizeof *o);
    if (!o)
      return TERN_ENOMEM;
    o->sink = *r->stt;
    o->body.max = STT_MAX_RESPONSE;
    return tern__cop_replay(&o->base, &stt_vt, comp, "openai", r);
  }
  case TERN_COMP_TTS: {
    if (!r->tts || !r->tts->on_audio || !r->tts->on_done || r->sample_rate < 8000 ||
        r->sample_rate > 192000)
      return TERN_EINVAL;
    tts_op_t *o = tern_calloc(1, sizeof *o);
    if (!o)
      return TERN_ENOMEM;
    o->sink = *r->tts;
    if ((rc = tts_set_rate(o, r->sample_rate))) {
      tts_release(&o->base);
      tern_free(o);
      return rc;
    }
    return tern__cop_replay(&o->base, &tts_vt, comp, "openai", r);
  }
  default:
    return TERN_EINVAL;
  }
}

/* ---- the provider ------------------------------------------------------- */

static void oai_destroy(tern_provider_t *pp) {
  oai_t *p = (oai_t *)pp;
  tern__cloud_settings_free(&p->s);
  tern_free(p);
}

static const tern_provider_vt_t oai_vt = {
    .kind = "openai",
    .llm_start = oai_llm_start,
    .stt_start = oai_stt_start,
    .stt_stream = NULL,
    .tts_start = oai_tts_start,
    .destroy = oai_destroy,
};

int tern_openai_provider_create(tern_component_t comp, const char *name, const tern_config_t *cfg,
                                tern_provider_t **out, char *err, size_t errsz) {
  if (out)
    *out = NULL;
  if (!out || !name || !*name || strlen(name) >= TERN_PROVIDER_NAME_MAX) {
    if (err && errsz)
      snprintf(err, errsz, "openai: a provider needs a name of 1 to %d characters",
               TERN_PROVIDER_NAME_MAX - 1);
    return TERN_EINVAL;
  }
  tern__cloud_defaults_t d = {
      .kind = "openai",
      .base_env = "OPENAI_BASE_URL",
      .base_url = TERN_OPENAI_BASE_URL,
      .key_env = "OPENAI_API_KEY",
  };
  switch (comp) {
  case TERN_COMP_LLM:
    d.model = "gpt-4o-mini";
    break;
  case TERN_COMP_STT:
    d.model = "whisper-1";
    break;
  case TERN_COMP_TTS:
    d.model = "tts-1";
    d.voice = "alloy";
    break;
  default:
    if (err && errsz)
      snprintf(err, errsz, "%s.%s: the openai provider offers llm, stt and tts, not %s",
               tern_component_name(comp), name, tern_component_name(comp));
    return TERN_ECONFIG;
  }
  oai_t *p = tern_calloc(1, sizeof *p);
  if (!p)
    return TERN_ENOMEM;
  int rc = tern__cloud_settings_load(comp, name, cfg, &d, &p->s, err, errsz);
  if (rc) {
    tern_free(p);
    return rc;
  }
  if (comp == TERN_COMP_TTS && p->s.response_format && strcasecmp(p->s.response_format, "pcm")) {
    if (err && errsz)
      snprintf(err, errsz, "[%s] response_format = '%s': only pcm is supported", p->s.section,
               p->s.response_format);
    oai_destroy(&p->base);
    return TERN_ECONFIG;
  }
  p->base.vt = &oai_vt;
  p->base.component = comp;
  snprintf(p->base.name, sizeof p->base.name, "%s", name);
  *out = &p->base;
  return 0;
}
