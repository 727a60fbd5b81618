/* Deepgram live transcription over a WebSocket (see tern/deepgram.h).
 *
 * One stream object serves both modes. Its life: connect (audio queued in
 * the WebSocket layer until open) -> audio frames -> Finalize + CloseStream
 * ("control sent") -> the answer to the Finalize -> Metadata / close ->
 * on_done. Invariants:
 *  - on_done runs exactly once unless the stream was cancelled, from a
 *    WebSocket or timer callback, never from a start, push or finish call;
 *  - success needs proof that Deepgram flushed the utterance: the answer
 *    to our Finalize (from_finalize) or the Metadata that ends a stream; a
 *    close without either is a failure, so a truncated stream is never
 *    mistaken for a complete transcript;
 *  - the user may cancel from inside any callback: `depth` counts user
 *    callbacks on the stack and the memory goes when the outermost returns;
 *  - after finish the wait is bounded twice: the WebSocket idle timeout
 *    (stall) and finish_timeout (no answer at all).
 */
#include "tern/deepgram.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "provider/provider_util.h"
#include "tern/alloc.h"
#include "tern/buf.h"
#include "tern/config.h"
#include "tern/error.h"
#include "tern/log.h"
#include "tern/loop.h"
#include "tern/ws.h"

#define DG_FRAME_MS 40                     /* utterance mode: audio per message */
#define DG_PUMP_BUDGET ((size_t)128 << 10) /* bytes queued per loop turn */
#define DG_MAX_QUEUE ((size_t)512 << 10)
#define DG_MAX_PUSH_SAMPLES 16000   /* live mode: longer pushes are split */
#define DG_FINAL_GRACE TERN_MS(300) /* wait for the close after the last answer */

typedef struct dg {
  tern_provider_t base;
  char *url; /* ws(s)://host[:port][/prefix], no trailing '/' */
  char *key; /* NULL: none (custom base URL) */
  char *model;
  char *language; /* NULL: the request's, else "en" */
  int endpointing_ms;
  bool interim, punctuate;
  tern_usec_t keepalive, finish_timeout, connect_timeout;
} dg_t;

typedef struct dgs {
  tern_stt_stream_t s; /* first: s.op is the caller's handle */
  dg_t *p;
  tern_loop_t *loop;
  tern_stt_sink_t sink;
  tern_ws_t *ws;
  tern_loop_timer_t *work; /* utterance: pump; live: keepalive */
  tern_loop_timer_t *end;  /* the bound after control was sent */
  bool utterance;
  const int16_t *pcm; /* utterance mode, borrowed */
  size_t n, sent, frame;
  bool finish_requested, control_sent, answered, metadata;
  tern_usec_t last_audio;
  tern_buf_t seg;  /* final segments of the current utterance */
  tern_buf_t line; /* scratch for interim text */
  double conf_sum;
  int conf_n;
  int depth;
  bool cancelled, done;
} dgs_t;

/* ---- message parsing ------------------------------------------------------- */

static const char *jstr(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

int tern_deepgram_msg_parse(const char *data, size_t len, tern_deepgram_msg_t *out) {
  if (!out)
    return TERN_EINVAL;
  memset(out, 0, sizeof *out);
  if (!data)
    return TERN_EFORMAT;
  json_error_t je;
  json_t *root = json_loadb(data, len, 0, &je);
  if (!root)
    return json_error_code(&je) == json_error_out_of_memory ? TERN_ENOMEM : TERN_EFORMAT;
  int rc = 0;
  const char *type = jstr(root, "type");
  if (!json_is_object(root)) {
    rc = TERN_EFORMAT;
  } else if ((type && !strcmp(type, "Results")) || (!type && json_object_get(root, "channel"))) {
    json_t *alts = json_object_get(json_object_get(root, "channel"), "alternatives");
    json_t *alt = json_array_get(alts, 0);
    const char *t = jstr(alt, "transcript");
    if (!t) {
      rc = TERN_EFORMAT;
    } else {
      out->type = TERN_DG_MSG_RESULTS;
      out->is_final = json_is_true(json_object_get(root, "is_final"));
      out->speech_final = json_is_true(json_object_get(root, "speech_final"));
      out->from_finalize = json_is_true(json_object_get(root, "from_finalize"));
      json_t *c = json_object_get(alt, "confidence");
      out->confidence = json_is_number(c) ? json_number_value(c) : 0.0;
      if (!(out->text = tern_strdup(t)))
        rc = TERN_ENOMEM;
    }
  } else if (type && !strcmp(type, "UtteranceEnd")) {
    out->type = TERN_DG_MSG_UTTERANCE_END;
  } else if ((type && !strcasecmp(type, "Error")) || json_object_get(root, "err_code")) {
    out->type = TERN_DG_MSG_ERROR;
  } else {
    out->type = TERN_DG_MSG_OTHER;
    out->is_metadata = type && !strcmp(type, "Metadata");
  }
  json_decref(root);
  if (rc)
    tern_deepgram_msg_free(out);
  return rc;
}

void tern_deepgram_msg_free(tern_deepgram_msg_t *m) {
  if (!m)
    return;
  tern_free(m->text);
  m->text = NULL;
}

void tern_deepgram_close_error(tern_error_t *err, const char *provider, int code,
                               const char *reason, size_t reason_len) {
  char r[128];
  size_t rl = reason ? reason_len : 0;
  if (rl >= sizeof r)
    rl = sizeof r - 1;
  if (rl)
    memcpy(r, reason, rl);
  r[rl] = '\0';
  tern_kind_t kind = TERN_KIND_CONNECTION;
  if (strstr(r, "DATA-"))
    kind = TERN_KIND_INVALID_REQUEST; /* audio Deepgram cannot decode: ours to fix */
  else if (strstr(r, "NET-0001"))
    kind = TERN_KIND_TIMEOUT; /* it heard no audio in time */
  else if (strstr(r, "NET-0000"))
    kind = TERN_KIND_SERVER;
  else if (code == 1008)
    kind = TERN_KIND_INVALID_REQUEST;
  else if (code == 1013)
    kind = TERN_KIND_OVERLOADED;
  tern_error_init(err, TERN_COMP_STT, kind, provider);
  tern_error_set_message(err, "the provider closed the stream (code %d%s%s)", code, rl ? ": " : "",
                         r);
}

/* ---- the stream -------------------------------------------------------------- */

static void stream_free(dgs_t *s) {
  tern_ws_free(s->ws);
  tern_loop_timer_destroy(s->work);
  tern_loop_timer_destroy(s->end);
  tern_buf_free(&s->seg);
  tern_buf_free(&s->line);
  tern_free(s);
}

static void stop_io(dgs_t *s) {
  tern_ws_free(s->ws);
  s->ws = NULL;
  tern_loop_timer_stop(s->work);
  tern_loop_timer_stop(s->end);
}

/* Hand a transcript to the caller. false: the stream was cancelled inside
 * and must not be touched any more. */
static bool emit(dgs_t *s, const char *text, bool is_final, double conf) {
  s->depth++;
  s->sink.on_transcript(s->sink.ud, text, is_final, conf);
  if (--s->depth == 0 && s->cancelled) {
    stream_free(s);
    return false;
  }
  return !s->cancelled;
}

static double seg_confidence(const dgs_t *s) { return s->conf_n ? s->conf_sum / s->conf_n : 0.0; }

static void seg_reset(dgs_t *s) {
  tern_buf_reset(&s->seg);
  s->conf_sum = 0;
  s->conf_n = 0;
}

static void complete(dgs_t *s, const tern_error_t *err_in) {
  if (s->done || s->cancelled)
    return;
  tern_error_t err;
  if (err_in)
    err = *err_in; /* it may live in the connection we are about to drop */
  stop_io(s);
  if (!err_in) {
    /* The utterance call always ends with its one final, even an empty
     * one; a live stream flushes what it still holds. */
    if (s->utterance || s->seg.len) {
      if (!emit(s, tern_buf_str(&s->seg), true, seg_confidence(s)))
        return;
      seg_reset(s);
    }
  }
  s->done = true;
  s->depth++;
  s->sink.on_done(s->sink.ud, err_in ? &err : NULL);
  s->depth--;
  stream_free(s); /* the handle is gone after on_done */
}

static void fail(dgs_t *s, tern_kind_t kind, const char *msg) {
  tern_error_t err;
  tern_error_init(&err, TERN_COMP_STT, kind, s->p->base.name);
  tern_error_set_message(&err, "%s", msg);
  complete(s, &err);
}

static int send_text(dgs_t *s, const char *json) {
  return tern_ws_send(s->ws, json, strlen(json), false);
}

/* Audio goes up as little-endian PCM16 whatever the host. */
static int send_pcm(dgs_t *s, const int16_t *pcm, size_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  uint8_t *b = tern_malloc(n * 2);
  if (!b)
    return TERN_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    b[2 * i] = (uint8_t)((uint16_t)pcm[i] & 0xff);
    b[2 * i + 1] = (uint8_t)((uint16_t)pcm[i] >> 8);
  }
  int rc = tern_ws_send(s->ws, b, n * 2, true);
  tern_free(b);
  return rc;
#else
  return tern_ws_send(s->ws, pcm, n * 2, true);
#endif
}

/* Finalize flushes what Deepgram holds; CloseStream ends the stream after
 * it. From here on an answer is awaited: a stall counts, and so does time. */
static int send_control(dgs_t *s) {
  int rc = send_text(s, "{\"type\":\"Finalize\"}");
  if (!rc)
    rc = send_text(s, "{\"type\":\"CloseStream\"}");
  if (rc)
    return rc;
  s->control_sent = true;
  tern_loop_timer_stop(s->work);
  tern_ws_set_idle_timeout(s->ws, s->p->base.idle_timeout);
  tern_loop_timer_start(s->end, s->p->finish_timeout, 0);
  return 0;
}

/* Utterance mode: queue the audio a bounded amount per loop turn, so a
 * long utterance neither blocks the loop nor overflows the send queue. */
static void pump(dgs_t *s) {
  size_t queued = 0;
  while (s->sent < s->n && queued < DG_PUMP_BUDGET) {
    size_t k = s->n - s->sent < s->frame ? s->n - s->sent : s->frame;
    int rc = send_pcm(s, s->pcm + s->sent, k);
    if (rc == TERN_EBUSY) {
      tern_loop_timer_start(s->work, TERN_MS(20), 0); /* let the queue drain */
      return;
    }
    if (rc == TERN_ESTATE)
      return; /* the connection ended: its callback reports why */
    if (rc) {
      fail(s, TERN_KIND_CONNECTION, "out of memory queueing audio");
      return;
    }
    s->sent += k;
    queued += k * 2;
  }
  if (s->sent < s->n) {
    tern_loop_timer_start(s->work, TERN_MS(1), 0);
    return;
  }
  s->finish_requested = true;
  int rc = send_control(s);
  if (rc && rc != TERN_ESTATE)
    fail(s, TERN_KIND_CONNECTION, "could not queue the end of the audio");
}

/* Live mode: Deepgram closes a stream that hears nothing for about 10 s. */
static void keepalive(dgs_t *s) {
  tern_usec_t now = tern_loop_now(s->loop);
  tern_usec_t due = s->last_audio + s->p->keepalive;
  if (now >= due) {
    send_text(s, "{\"type\":\"KeepAlive\"}"); /* best effort: a full queue is not idle */
    s->last_audio = now;
    due = now + s->p->keepalive;
  }
  tern_loop_timer_start(s->work, due - now, 0);
}

static void on_work(tern_loop_timer_t *t, void *ud) {
  (void)t;
  dgs_t *s = ud;
  if (s->done || s->cancelled || s->control_sent)
    return;
  if (s->utterance)
    pump(s);
  else
    keepalive(s);
}

static void on_end(tern_loop_timer_t *t, void *ud) {
  (void)t;
  dgs_t *s = ud;
  if (s->answered) {
    complete(s, NULL); /* the answer came and the close did not: done anyway */
    return;
  }
  char msg[96];
  snprintf(msg, sizeof msg, "no final transcript within %lld ms of the end of the audio",
           (long long)(s->p->finish_timeout / 1000));
  fail(s, TERN_KIND_TIMEOUT, msg);
}

/* ---- messages ------------------------------------------------------------------ */

static int seg_add(dgs_t *s, const char *text, double conf) {
  if (!*text)
    return 0;
  int rc = 0;
  if (s->seg.len)
    rc = tern_buf_append(&s->seg, " ", 1);
  if (!rc)
    rc = tern_buf_appends(&s->seg, text);
  s->conf_sum += conf;
  s->conf_n++;
  return rc;
}

/* The utterance so far: its final segments, then the interim tail. */
static void emit_progress(dgs_t *s, const char *tail, double conf) {
  tern_buf_reset(&s->line);
  int rc = tern_buf_appends(&s->line, tern_buf_str(&s->seg));
  if (!rc && *tail && s->seg.len)
    rc = tern_buf_append(&s->line, " ", 1);
  if (!rc)
    rc = tern_buf_appends(&s->line, tail);
  if (rc) {
    fail(s, TERN_KIND_BAD_RESPONSE, "out of memory holding the transcript");
    return;
  }
  if (s->line.len)
    emit(s, tern_buf_str(&s->line), false, conf);
}

static void on_results(dgs_t *s, const tern_deepgram_msg_t *m) {
  if (s->control_sent && m->from_finalize) {
    s->answered = true;
    /* Only the close is left to come; do not wait for it long. */
    tern_loop_timer_start(s->end, DG_FINAL_GRACE, 0);
  }
  if (!m->is_final) {
    emit_progress(s, m->text, m->confidence);
    return;
  }
  if (seg_add(s, m->text, m->confidence)) {
    fail(s, TERN_KIND_BAD_RESPONSE, "out of memory holding the transcript");
    return;
  }
  if (!s->utterance && (m->speech_final || m->from_finalize)) {
    if (s->seg.len && emit(s, tern_buf_str(&s->seg), true, seg_confidence(s)))
      seg_reset(s);
    return;
  }
  if (*m->text)
    emit_progress(s, "", m->confidence);
}

static void ws_message(tern_ws_t *ws, const void *data, size_t len, bool binary, void *ud) {
  (void)ws;
  dgs_t *s = ud;
  if (binary || s->done || s->cancelled)
    return; /* Deepgram sends no binary messages */
  tern_deepgram_msg_t m;
  int rc = tern_deepgram_msg_parse(data, len, &m);
  if (rc) {
    fail(s, TERN_KIND_BAD_RESPONSE,
         rc == TERN_ENOMEM ? "out of memory reading a message"
                           : "the provider sent a message that is not a valid transcript");
    return;
  }
  switch (m.type) {
  case TERN_DG_MSG_RESULTS:
    on_results(s, &m);
    break;
  case TERN_DG_MSG_UTTERANCE_END:
    if (!s->utterance && s->seg.len && emit(s, tern_buf_str(&s->seg), true, seg_confidence(s)))
      seg_reset(s);
    break;
  case TERN_DG_MSG_ERROR: {
    tern_error_t err;
    tern_error_from_response(&err, TERN_COMP_STT, s->p->base.name, 0, data, len);
    complete(s, &err);
    break;
  }
  default:
    if (m.is_metadata && s->control_sent) {
      s->metadata = true;
      complete(s, NULL); /* Metadata is the last message of a stream */
    }
    break;
  }
  tern_deepgram_msg_free(&m);
}

static void ws_close(tern_ws_t *ws, int code, const char *reason, size_t len, void *ud) {
  (void)ws;
  dgs_t *s = ud;
  if (s->control_sent && (s->answered || s->metadata)) {
    complete(s, NULL);
    return;
  }
  tern_error_t err;
  tern_deepgram_close_error(&err, s->p->base.name, code, reason, len);
  if (code == 1000 && s->control_sent)
    tern_error_set_message(&err, "the provider closed the stream before the final transcript");
  complete(s, &err);
}

static void ws_error(tern_ws_t *ws, const tern_error_t *err, void *ud) {
  (void)ws;
  dgs_t *s = ud;
  if (s->control_sent && s->answered)
    complete(s, NULL); /* everything was said before the line dropped */
  else
    complete(s, err);
}

/* ---- the caller's side ---------------------------------------------------------- */

static void stream_cancel(tern_op_t *op) {
  dgs_t *s = (dgs_t *)op;
  if (s->done || s->cancelled)
    return;
  s->cancelled = true;
  stop_io(s);
  if (s->depth == 0)
    stream_free(s);
}

static int stream_push(tern_stt_stream_t *st, const int16_t *pcm, size_t n) {
  dgs_t *s = (dgs_t *)st;
  if (!s || (!pcm && n))
    return TERN_EINVAL;
  if (s->utterance || s->done || s->cancelled || s->finish_requested || !s->ws)
    return TERN_ESTATE;
  while (n) {
    size_t k = n < DG_MAX_PUSH_SAMPLES ? n : DG_MAX_PUSH_SAMPLES;
    int rc = send_pcm(s, pcm, k);
    if (rc)
      return rc;
    pcm += k;
    n -= k;
  }
  s->last_audio = tern_loop_now(s->loop);
  return 0;
}

static int stream_finish(tern_stt_stream_t *st) {
  dgs_t *s = (dgs_t *)st;
  if (!s)
    return TERN_EINVAL;
  if (s->utterance || s->done || s->cancelled || s->finish_requested || !s->ws)
    return TERN_ESTATE;
  s->finish_requested = true;
  return send_control(s);
}

static int url_param(tern_buf_t *b, const char *name, const char *value) {
  int rc = tern_buf_printf(b, "&%s=", name);
  for (const unsigned char *c = (const unsigned char *)value; !rc && *c; c++) {
    if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
        *c == '-' || *c == '_' || *c == '.' || *c == '~')
      rc = tern_buf_append(b, c, 1);
    else
      rc = tern_buf_printf(b, "%%%02X", *c);
  }
  return rc;
}

static int listen_url(const dg_t *p, int rate, const char *language, char **out) {
  tern_buf_t b = TERN_BUF_INIT;
  char ep[16];
  if (p->endpointing_ms > 0)
    snprintf(ep, sizeof ep, "%d", p->endpointing_ms);
  else
    snprintf(ep, sizeof ep, "false");
  int rc =
      tern_buf_printf(&b, "%s/v1/listen?encoding=linear16&sample_rate=%d&channels=1", p->url, rate);
  if (!rc)
    rc = url_param(&b, "model", p->model);
  if (!rc)
    rc = url_param(&b, "language", language);
  if (!rc)
    rc = tern_buf_printf(&b, "&interim_results=%s&punctuate=%s&endpointing=%s",
                         p->interim ? "true" : "false", p->punctuate ? "true" : "false", ep);
  if (rc) {
    tern_buf_free(&b);
    return TERN_ENOMEM;
  }
  *out = tern_buf_take(&b);
  return *out ? 0 : TERN_ENOMEM;
}

static int stream_open(dg_t *p, tern_loop_t *loop, int rate, const char *language,
                       const tern_stt_sink_t *sink, bool utterance, dgs_t **out) {
  if (!p || !loop || !sink || !sink->on_transcript || !sink->on_done || rate < 8000 || rate > 48000)
    return TERN_EINVAL;
  dgs_t *s = tern_calloc(1, sizeof *s);
  if (!s)
    return TERN_ENOMEM;
  s->s.op.cancel = stream_cancel;
  s->s.push = stream_push;
  s->s.finish = stream_finish;
  s->p = p;
  s->loop = loop;
  s->sink = *sink;
  s->utterance = utterance;
  s->frame = (size_t)rate * DG_FRAME_MS / 1000;
  char *url = NULL;
  const char *lang = p->language ? p->language : language && *language ? language : "en";
  int rc = listen_url(p, rate, lang, &url);
  if (!rc)
    rc = tern_loop_timer_create(loop, on_work, s, &s->work);
  if (!rc)
    rc = tern_loop_timer_create(loop, on_end, s, &s->end);
  if (!rc) {
    tern_ws_opts_t o = {
        .url = url,
        .component = TERN_COMP_STT,
        .provider = p->base.name,
        .connect_timeout = p->connect_timeout,
        /* A live stream may be quiet for as long as the caller says
         * nothing; silence only counts once an answer is awaited. */
        .idle_timeout = utterance ? p->base.idle_timeout : 0,
        .max_queue = DG_MAX_QUEUE,
        .on_message = ws_message,
        .on_close = ws_close,
        .on_error = ws_error,
        .ud = s,
    };
    rc = tern_ws_create(loop, &o, &s->ws);
  }
  tern_free(url);
  if (!rc && p->key) {
    size_t n = strlen(p->key) + 7;
    char *h = tern_malloc(n);
    if (!h) {
      rc = TERN_ENOMEM;
    } else {
      snprintf(h, n, "Token %s", p->key);
      rc = tern_ws_add_header(s->ws, "Authorization", h);
      memset(h, 0, n);
      tern_free(h);
    }
  }
  if (!rc)
    rc = tern_ws_connect(s->ws);
  if (!rc)
    rc = tern_loop_timer_start(s->work, utterance ? 0 : p->keepalive, 0);
  if (rc) {
    stream_free(s);
    return rc;
  }
  s->last_audio = tern_loop_now(loop);
  *out = s;
  return 0;
}

static int dg_stt_start(tern_provider_t *pp, tern_loop_t *loop, const tern_stt_request_t *req,
                        const tern_stt_sink_t *sink, tern_op_t **op) {
  if (op)
    *op = NULL;
  if (!req || !op || (!req->pcm && req->n_samples))
    return TERN_EINVAL;
  dgs_t *s;
  int rc = stream_open((dg_t *)pp, loop, req->sample_rate, req->language, sink, true, &s);
  if (rc)
    return rc;
  s->pcm = req->pcm;
  s->n = req->n_samples;
  *op = &s->s.op;
  return 0;
}

static int dg_stt_stream(tern_provider_t *pp, tern_loop_t *loop, int sample_rate,
                         const tern_stt_sink_t *sink, tern_stt_stream_t **out) {
  if (!out)
    return TERN_EINVAL;
  *out = NULL;
  dgs_t *s;
  int rc = stream_open((dg_t *)pp, loop, sample_rate, NULL, sink, false, &s);
  if (rc)
    return rc;
  *out = &s->s;
  return 0;
}

/* ---- the provider ---------------------------------------------------------------- */

static void dg_destroy(tern_provider_t *pp) {
  dg_t *p = (dg_t *)pp;
  if (!p)
    return;
  tern_free(p->url);
  if (p->key) {
    memset(p->key, 0, strlen(p->key));
    tern_free(p->key);
  }
  tern_free(p->model);
  tern_free(p->language);
  tern_free(p);
}

static const tern_provider_vt_t k_dg_vt = {
    .kind = "deepgram",
    .stt_start = dg_stt_start,
    .stt_stream = dg_stt_stream,
    .destroy = dg_destroy,
};

static int dup_opt(const char *v, char **out) {
  *out = NULL;
  if (!v || !*v)
    return 0;
  return (*out = tern_strdup(v)) ? 0 : TERN_ENOMEM;
}

/* ws(s)://... as given, http(s)://... turned into ws(s)://..., no trailing
 * slash. */
static int normalise_url(const char *in, char **out) {
  static const struct {
    const char *in, *out;
  } schemes[] = {
      {"wss://", "wss://"}, {"ws://", "ws://"}, {"https://", "wss://"}, {"http://", "ws://"}};
  for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
    size_t sl = strlen(schemes[i].in);
    if (strncasecmp(in, schemes[i].in, sl))
      continue;
    const char *rest = in + sl;
    size_t n = strlen(rest);
    while (n && rest[n - 1] == '/')
      n--;
    if (!n)
      return TERN_EINVAL;
    size_t sz = strlen(schemes[i].out) + n + 1;
    if (!(*out = tern_malloc(sz)))
      return TERN_ENOMEM;
    snprintf(*out, sz, "%s%.*s", schemes[i].out, (int)n, rest);
    return 0;
  }
  return TERN_EINVAL;
}

static int configure(tern_provider_t *pp, const tern_config_t *cfg, const char *sec, char *err,
                     size_t errsz) {
  dg_t *p = (dg_t *)pp;
  const char *v;
  bool cloud = false;
  /* base URL: the setting, else $DEEPGRAM_BASE_URL, else the cloud */
  int rc = tern_config_get_str(cfg, sec, "base_url", NULL, &v, err, errsz);
  if (rc)
    return rc;
  if (!v || !*v)
    v = getenv(TERN_DEEPGRAM_URL_ENV);
  if (!v || !*v) {
    v = TERN_DEEPGRAM_DEFAULT_URL;
    cloud = true;
  }
  rc = normalise_url(v, &p->url);
  if (rc == TERN_EINVAL) {
    if (err && errsz)
      snprintf(err, errsz,
               "[%s] base_url: expected a ws://, wss://, http:// or https:// URL, got '%s'", sec,
               v);
    return TERN_ECONFIG;
  }
  if (rc)
    return rc;
  /* the key: api_key, else the variable that api_key_env names */
  const char *key_env;
  if ((rc = tern_config_get_str(cfg, sec, "api_key_env", TERN_DEEPGRAM_KEY_ENV, &key_env, err,
                                errsz)) ||
      (rc = tern_config_get_str(cfg, sec, "api_key", NULL, &v, err, errsz)))
    return rc;
  if (!key_env || !*key_env)
    key_env = TERN_DEEPGRAM_KEY_ENV;
  if (!v || !*v)
    v = getenv(key_env);
  if (v && *v) {
    /* A value under 6 bytes is refused by the registry: too short to be a
     * real key, and too likely to match ordinary words to redact. */
    if (tern_secret_register(v) == TERN_ENOMEM || !(p->key = tern_strdup(v)))
      return TERN_ENOMEM;
  } else if (cloud) {
    if (err && errsz)
      snprintf(err, errsz,
               "[%s] needs a Deepgram API key: set %s (or api_key / api_key_env in [%s])", sec,
               key_env, sec);
    return TERN_ECONFIG;
  }
  if ((rc = tern_config_get_str(cfg, sec, "model", TERN_DEEPGRAM_DEFAULT_MODEL, &v, err, errsz)) ||
      (rc = dup_opt(v && *v ? v : TERN_DEEPGRAM_DEFAULT_MODEL, &p->model)) ||
      (rc = tern_config_get_str(cfg, sec, "language", NULL, &v, err, errsz)) ||
      (rc = dup_opt(v, &p->language)))
    return rc;
  int64_t ep;
  bool b;
  if ((rc =
           tern_config_get_duration_ms(cfg, sec, "endpointing_ms", 300, 0, 60000, &ep, err, errsz)))
    return rc;
  p->endpointing_ms = (int)ep;
  if ((rc = tern_config_get_bool(cfg, sec, "interim_results", true, &b, err, errsz)))
    return rc;
  p->interim = b;
  if ((rc = tern_config_get_bool(cfg, sec, "punctuate", true, &b, err, errsz)))
    return rc;
  p->punctuate = b;
  if ((rc = tern__cfg_ms(cfg, sec, "keepalive_ms", 4000, 50, 60000, &p->keepalive, err, errsz)) ||
      (rc = tern__cfg_ms(cfg, sec, "finish_timeout_ms", 3000, 50, 120000, &p->finish_timeout, err,
                         errsz)) ||
      (rc = tern__cfg_ms(cfg, sec, "connect_timeout_ms", 2000, 50, 120000, &p->connect_timeout, err,
                         errsz)) ||
      (rc = tern__cfg_ms(cfg, sec, "first_byte_timeout_ms", 5000, 50, 120000,
                         &p->base.first_byte_timeout, err, errsz)) ||
      (rc = tern__cfg_ms(cfg, sec, "idle_timeout_ms", 2000, 50, 120000, &p->base.idle_timeout, err,
                         errsz)))
    return rc;
  return 0;
}

int tern_deepgram_provider_create(tern_component_t comp, const char *name, const tern_config_t *cfg,
                                  tern_provider_t **out, char *err, size_t errsz) {
  return tern__provider_new(comp, TERN_COMP_STT, name, "deepgram",
                            "Deepgram only transcribes speech; configure it under [stt]",
                            sizeof(dg_t), &k_dg_vt, cfg, configure, out, err, errsz);
}
