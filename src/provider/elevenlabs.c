/* ElevenLabs streaming text-to-speech (see tern/elevenlabs.h).
 *
 * One HTTP request per call. The body is raw PCM16 little-endian at the
 * output format's rate; network chunks may split a sample, so one byte can
 * be carried to the next chunk. Conversion goes through a fixed scratch
 * buffer (and the resampler's, when the rates differ), so a long answer
 * costs no allocation per chunk. Invariants:
 *  - on_done runs exactly once unless cancelled, always from a loop
 *    callback (the HTTP layer's, or a timer for text with nothing to say);
 *  - the caller may cancel inside on_audio: `depth` defers the free until
 *    the callback has returned, and nothing touches the call after that;
 *  - a reply that is not audio is refused before any of it is played.
 */
#include "tern/elevenlabs.h"

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
#include "tern/http.h"
#include "tern/log.h"
#include "tern/loop.h"
#include "tern/resample.h"

#define EL_SCRATCH 2048 /* samples converted per step */
/* No speech of n characters is longer than this; more is a broken reply. */
#define EL_MAX_SECONDS(chars) (10.0 + 0.5 * (double)(chars))

typedef struct el {
  tern_provider_t base;
  char *url; /* without a trailing '/' */
  char *key; /* NULL: none (custom base URL) */
  char *voice, *model, *language;
  double stability, similarity, style, speed; /* < 0: not sent */
  tern_usec_t connect_timeout;
} el_t;

typedef struct elop {
  tern_op_t op; /* first: the caller's handle */
  el_t *p;
  tern_tts_sink_t sink;
  tern_http_t *h;
  tern_loop_timer_t *timer; /* only for text with nothing to say */
  tern_resampler_t *rs;     /* NULL when the rates match */
  int16_t *in;              /* EL_SCRATCH samples */
  int16_t *out;             /* resampler output */
  size_t out_cap;
  uint8_t carry;
  bool has_carry;
  tern_error_t own_err; /* our verdict on a reply the HTTP layer accepted */
  bool have_own_err;
  int depth;
  bool cancelled, done;
} elop_t;

/* ---- text ------------------------------------------------------------------ */

/* Length of the UTF-8 sequence at s and its code point, or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, uint32_t *cp) {
  if (s[0] < 0x80) {
    *cp = s[0];
    return 1;
  }
  size_t n;
  uint32_t c, min;
  if ((s[0] & 0xe0) == 0xc0)
    n = 2, c = s[0] & 0x1f, min = 0x80;
  else if ((s[0] & 0xf0) == 0xe0)
    n = 3, c = s[0] & 0x0f, min = 0x800;
  else if ((s[0] & 0xf8) == 0xf0)
    n = 4, c = s[0] & 0x07, min = 0x10000;
  else
    return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    c = (c << 6) | (s[i] & 0x3f);
  }
  if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
    return 0;
  *cp = c;
  return n;
}

/* Copy text without control characters (tabs and line breaks become
 * spaces, invalid UTF-8 becomes '?'); counts code points and whether any
 * is not white space. */
static int clean_text(const char *text, char **out, size_t *chars, bool *has_words) {
  size_t len = strlen(text);
  char *o = tern_malloc(len + 1);
  if (!o)
    return TERN_ENOMEM;
  size_t w = 0, n = 0;
  bool words = false;
  const unsigned char *s = (const unsigned char *)text;
  for (size_t i = 0; i < len;) {
    uint32_t cp;
    size_t k = utf8_seq(s + i, &cp);
    if (k == 0) {
      o[w++] = '?';
      words = true;
      n++;
      i++;
      continue;
    }
    if (cp == '\t' || cp == '\n' || cp == '\r' || cp == 0x0b || cp == 0x0c) {
      o[w++] = ' ';
      n++;
    } else if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
      /* dropped */
    } else {
      memcpy(o + w, s + i, k);
      w += k;
      n++;
      words = words || cp != ' ';
    }
    i += k;
  }
  o[w] = '\0';
  *out = o;
  *chars = n;
  *has_words = words;
  return 0;
}

int tern_elevenlabs_output_rate(int rate) {
  static const int offered[] = {8000, 16000, 22050, 24000, 44100};
  size_t n = sizeof offered / sizeof offered[0];
  for (size_t i = 0; i < n; i++)
    if (offered[i] >= rate)
      return offered[i];
  return offered[n - 1];
}

/* ---- the call ---------------------------------------------------------------- */

static void op_free(elop_t *o) {
  tern_http_free(o->h);
  tern_loop_timer_destroy(o->timer);
  tern_resampler_free(o->rs);
  tern_free(o->in);
  tern_free(o->out);
  tern_free(o);
}

static void complete(elop_t *o, const tern_error_t *err) {
  if (o->done || o->cancelled)
    return;
  o->done = true;
  o->depth++;
  o->sink.on_done(o->sink.ud, err);
  o->depth--;
  op_free(o); /* the handle is gone after on_done */
}

/* Hand audio to the caller. false: cancelled inside, do not touch o. */
static bool emit(elop_t *o, const int16_t *pcm, size_t n) {
  if (!n)
    return true;
  o->depth++;
  o->sink.on_audio(o->sink.ud, pcm, n);
  if (--o->depth == 0 && o->cancelled) {
    op_free(o);
    return false;
  }
  return !o->cancelled;
}

static bool deliver(elop_t *o, const int16_t *pcm, size_t n) {
  if (!o->rs)
    return emit(o, pcm, n);
  while (n) {
    size_t used = 0, got = 0;
    if (tern_resampler_process(o->rs, pcm, n, &used, o->out, o->out_cap, &got))
      return true; /* cannot happen with valid buffers; drop rather than loop */
    if (!emit(o, o->out, got))
      return false;
    if (!used && !got)
      return true;
    pcm += used;
    n -= used;
  }
  return true;
}

static void on_response(tern_http_t *h, int status, void *ud) {
  (void)status;
  elop_t *o = ud;
  const char *ct = tern_http_header(h, "Content-Type");
  if (!ct || !strncasecmp(ct, "audio/", 6) || !strncasecmp(ct, "application/octet-stream", 24))
    return;
  /* An HTML page from a proxy, or JSON: nothing here is speech. */
  tern_error_init(&o->own_err, TERN_COMP_TTS, TERN_KIND_BAD_RESPONSE, o->p->base.name);
  tern_error_set_message(&o->own_err, "the provider answered with %.60s instead of audio", ct);
  o->have_own_err = true;
  tern_http_cancel(h);
}

static void on_data(tern_http_t *h, const char *data, size_t len, void *ud) {
  (void)h;
  elop_t *o = ud;
  if (o->have_own_err)
    return;
  const unsigned char *d = (const unsigned char *)data;
  size_t i = 0;
  if (o->has_carry && len) {
    /* a sample split across two chunks */
    int16_t one = (int16_t)(uint16_t)(o->carry | (uint16_t)d[0] << 8);
    o->has_carry = false;
    i = 1;
    if (!deliver(o, &one, 1))
      return;
  }
  while (len - i >= 2) {
    size_t k = (len - i) / 2;
    if (k > EL_SCRATCH)
      k = EL_SCRATCH;
    for (size_t j = 0; j < k; j++)
      o->in[j] = (int16_t)(uint16_t)(d[i + 2 * j] | (uint16_t)d[i + 2 * j + 1] << 8);
    i += 2 * k;
    if (!deliver(o, o->in, k))
      return;
  }
  if (i < len) {
    o->carry = d[i];
    o->has_carry = true;
  }
}

static void on_done(tern_http_t *h, const tern_error_t *err_in, void *ud) {
  elop_t *o = ud;
  tern_error_t err;
  const tern_error_t *e = NULL;
  if (o->have_own_err) {
    err = o->own_err;
    e = &err;
  } else if (err_in) {
    err = *err_in;
    e = &err;
  }
  tern_http_free(h); /* the memory goes when this callback returns */
  o->h = NULL;
  if (!e && o->rs) {
    for (;;) { /* the filter's tail */
      size_t got = 0;
      int rc = tern_resampler_flush(o->rs, o->out, o->out_cap, &got);
      if (!emit(o, o->out, got))
        return;
      if (rc != TERN_EBUSY)
        break;
    }
  }
  /* A stray last byte (has_carry) is half a sample: nothing to play. */
  complete(o, e);
}

static void on_nothing_to_say(tern_loop_timer_t *t, void *ud) {
  (void)t;
  complete(ud, NULL);
}

static void op_cancel(tern_op_t *op) {
  elop_t *o = (elop_t *)op;
  if (o->done || o->cancelled)
    return;
  o->cancelled = true;
  tern_http_free(o->h);
  o->h = NULL;
  tern_loop_timer_stop(o->timer);
  if (o->depth == 0)
    op_free(o);
}

/* ---- the request ---------------------------------------------------------------- */

static int path_escape(tern_buf_t *b, const char *s) {
  int rc = 0;
  for (const unsigned char *c = (const unsigned char *)s; !rc && *c; c++) {
    if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
        *c == '-' || *c == '_' || *c == '.' || *c == '~')
      rc = tern_buf_append(b, c, 1);
    else
      rc = tern_buf_printf(b, "%%%02X", *c);
  }
  return rc;
}

static int set_num(json_t *o, const char *k, double v) {
  return v < 0 ? 0 : json_object_set_new(o, k, json_real(v));
}

static char *request_body(const el_t *p, const char *text) {
  json_t *root = json_object();
  int bad = !root || json_object_set_new(root, "text", json_string(text)) ||
            json_object_set_new(root, "model_id", json_string(p->model));
  if (!bad && p->language)
    bad = json_object_set_new(root, "language_code", json_string(p->language));
  if (!bad && (p->stability >= 0 || p->similarity >= 0 || p->style >= 0 || p->speed >= 0)) {
    json_t *vs = json_object();
    bad = !vs || set_num(vs, "stability", p->stability) ||
          set_num(vs, "similarity_boost", p->similarity) || set_num(vs, "style", p->style) ||
          set_num(vs, "speed", p->speed) || json_object_set_new(root, "voice_settings", vs);
  }
  char *s = bad ? NULL : json_dumps(root, JSON_COMPACT);
  json_decref(root);
  return s;
}

static int start_request(elop_t *o, tern_loop_t *loop, const char *text, size_t chars,
                         const char *voice, int rate_out) {
  el_t *p = o->p;
  tern_buf_t url = TERN_BUF_INIT;
  int rc = tern_buf_printf(&url, "%s/v1/text-to-speech/", p->url);
  if (!rc)
    rc = path_escape(&url, voice);
  if (!rc)
    rc = tern_buf_printf(&url, "/stream?output_format=pcm_%d", rate_out);
  if (rc) {
    tern_buf_free(&url);
    return TERN_ENOMEM;
  }
  double max_bytes = EL_MAX_SECONDS(chars) * rate_out * 2;
  tern_http_opts_t ho = {
      .method = "POST",
      .url = tern_buf_str(&url),
      .component = TERN_COMP_TTS,
      .provider = p->base.name,
      .connect_timeout = p->connect_timeout,
      .first_byte_timeout = p->base.first_byte_timeout,
      .idle_timeout = p->base.idle_timeout,
      .max_response =
          max_bytes < (double)TERN_HTTP_MAX_RESPONSE ? (size_t)max_bytes : TERN_HTTP_MAX_RESPONSE,
      .on_response = on_response,
      .on_data = on_data,
      .on_done = on_done,
      .ud = o,
  };
  rc = tern_http_create(loop, &ho, &o->h);
  tern_buf_free(&url);
  if (rc)
    return rc;
  char *body = request_body(p, text);
  if (!body)
    return TERN_ENOMEM;
  rc = tern_http_set_body(o->h, body, strlen(body), true);
  tern_free(body);
  if (!rc)
    rc = tern_http_add_header(o->h, "Content-Type", "application/json");
  if (!rc)
    rc = tern_http_add_header(o->h, "Accept", "audio/pcm, application/octet-stream");
  if (!rc && p->key)
    rc = tern_http_add_header(o->h, "xi-api-key", p->key);
  if (!rc)
    rc = tern_http_start(o->h);
  return rc;
}

static int el_tts_start(tern_provider_t *pp, tern_loop_t *loop, const tern_tts_request_t *req,
                        const tern_tts_sink_t *sink, tern_op_t **op) {
  if (op)
    *op = NULL;
  el_t *p = (el_t *)pp;
  if (!p || !loop || !req || !req->text || !sink || !sink->on_audio || !sink->on_done || !op ||
      req->sample_rate < TERN_RESAMPLE_MIN_RATE || req->sample_rate > 192000)
    return TERN_EINVAL;
  char *text = NULL;
  size_t chars = 0;
  bool words = false;
  int rc = clean_text(req->text, &text, &chars, &words);
  if (rc)
    return rc;
  if (chars > TERN_ELEVENLABS_MAX_CHARS) {
    tern_free(text);
    return TERN_ETOOBIG;
  }
  elop_t *o = tern_calloc(1, sizeof *o);
  if (!o) {
    tern_free(text);
    return TERN_ENOMEM;
  }
  o->op.cancel = op_cancel;
  o->p = p;
  o->sink = *sink;
  if (!words) {
    /* Nothing to say: done at once, but never inside this call. */
    rc = tern_loop_timer_create(loop, on_nothing_to_say, o, &o->timer);
    if (!rc)
      rc = tern_loop_timer_start(o->timer, 0, 0);
  } else {
    int rate_out = tern_elevenlabs_output_rate(req->sample_rate);
    o->in = tern_malloc(EL_SCRATCH * sizeof *o->in);
    rc = o->in ? 0 : TERN_ENOMEM;
    if (!rc && rate_out != req->sample_rate) {
      rc = tern_resampler_new((uint32_t)rate_out, (uint32_t)req->sample_rate, -1, &o->rs);
      if (!rc) {
        o->out_cap = tern_resampler_out_max(o->rs, EL_SCRATCH) + 64;
        if (!(o->out = tern_malloc(o->out_cap * sizeof *o->out)))
          rc = TERN_ENOMEM;
      }
    }
    const char *voice = req->voice && *req->voice ? req->voice : p->voice;
    if (!rc)
      rc = start_request(o, loop, text, chars, voice, rate_out);
  }
  tern_free(text);
  if (rc) {
    op_free(o);
    return rc;
  }
  *op = &o->op;
  return 0;
}

/* ---- the provider ---------------------------------------------------------------- */

static void el_destroy(tern_provider_t *pp) {
  el_t *p = (el_t *)pp;
  if (!p)
    return;
  if (p->key) {
    memset(p->key, 0, strlen(p->key));
    tern_free(p->key);
  }
  tern_free(p->url);
  tern_free(p->voice);
  tern_free(p->model);
  tern_free(p->language);
  tern_free(p);
}

static const tern_provider_vt_t k_el_vt = {
    .kind = "elevenlabs",
    .tts_start = el_tts_start,
    .destroy = el_destroy,
};

static int dup_opt(const char *v, char **out) {
  *out = NULL;
  if (!v || !*v)
    return 0;
  return (*out = tern_strdup(v)) ? 0 : TERN_ENOMEM;
}

static int configure(tern_provider_t *pp, const tern_config_t *cfg, const char *sec, char *err,
                     size_t errsz) {
  el_t *p = (el_t *)pp;
  const char *v;
  bool cloud = false;
  int rc = tern_config_get_str(cfg, sec, "base_url", NULL, &v, err, errsz);
  if (rc)
    return rc;
  if (!v || !*v)
    v = getenv(TERN_ELEVENLABS_URL_ENV);
  if (!v || !*v) {
    v = TERN_ELEVENLABS_DEFAULT_URL;
    cloud = true;
  }
  if (strncasecmp(v, "http://", 7) && strncasecmp(v, "https://", 8)) {
    if (err && errsz)
      snprintf(err, errsz, "[%s] base_url: expected an http:// or https:// URL, got '%s'", sec, v);
    return TERN_ECONFIG;
  }
  size_t n = strlen(v);
  while (n && v[n - 1] == '/')
    n--;
  if (!(p->url = tern_strndup(v, n)))
    return TERN_ENOMEM;

  const char *key_env;
  if ((rc = tern_config_get_str(cfg, sec, "api_key_env", TERN_ELEVENLABS_KEY_ENV, &key_env, err,
                                errsz)) ||
      (rc = tern_config_get_str(cfg, sec, "api_key", NULL, &v, err, errsz)))
    return rc;
  if (!key_env || !*key_env)
    key_env = TERN_ELEVENLABS_KEY_ENV;
  if (!v || !*v)
    v = getenv(key_env);
  if (v && *v) {
    if (tern_secret_register(v) == TERN_ENOMEM || !(p->key = tern_strdup(v)))
      return TERN_ENOMEM;
  } else if (cloud) {
    if (err && errsz)
      snprintf(err, errsz,
               "[%s] needs an ElevenLabs API key: set %s (or api_key / api_key_env in [%s])", sec,
               key_env, sec);
    return TERN_ECONFIG;
  }

  if ((rc =
           tern_config_get_str(cfg, sec, "voice", TERN_ELEVENLABS_DEFAULT_VOICE, &v, err, errsz)) ||
      (rc = dup_opt(v && *v ? v : TERN_ELEVENLABS_DEFAULT_VOICE, &p->voice)) ||
      (rc = tern_config_get_str(cfg, sec, "model_id", TERN_ELEVENLABS_DEFAULT_MODEL, &v, err,
                                errsz)) ||
      (rc = dup_opt(v && *v ? v : TERN_ELEVENLABS_DEFAULT_MODEL, &p->model)) ||
      (rc = tern_config_get_str(cfg, sec, "language", NULL, &v, err, errsz)) ||
      (rc = dup_opt(v, &p->language)))
    return rc;
  if ((rc = tern_config_get_double(cfg, sec, "stability", -1, -1, 1, &p->stability, err, errsz)) ||
      (rc = tern_config_get_double(cfg, sec, "similarity_boost", -1, -1, 1, &p->similarity, err,
                                   errsz)) ||
      (rc = tern_config_get_double(cfg, sec, "style", -1, -1, 1, &p->style, err, errsz)) ||
      (rc = tern_config_get_double(cfg, sec, "speed", -1, -1, 1.2, &p->speed, err, errsz)))
    return rc;
  if ((rc = tern__cfg_ms(cfg, sec, "connect_timeout_ms", 2000, 50, 120000, &p->connect_timeout, err,
                         errsz)) ||
      (rc = tern__cfg_ms(cfg, sec, "first_byte_timeout_ms", 3000, 50, 120000,
                         &p->base.first_byte_timeout, err, errsz)) ||
      (rc = tern__cfg_ms(cfg, sec, "idle_timeout_ms", 2000, 50, 120000, &p->base.idle_timeout, err,
                         errsz)))
    return rc;
  return 0;
}

int tern_elevenlabs_provider_create(tern_component_t comp, const char *name,
                                    const tern_config_t *cfg, tern_provider_t **out, char *err,
                                    size_t errsz) {
  return tern__provider_new(comp, TERN_COMP_TTS, name, "elevenlabs",
                            "ElevenLabs only speaks; configure it under [tts]", sizeof(el_t),
                            &k_el_vt, cfg, configure, out, err, errsz);
}
