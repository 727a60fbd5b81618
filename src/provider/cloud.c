/* Shared machinery of the HTTP cloud providers (see cloud.h).
 *
 * The call object's invariants: every user callback runs with depth > 0
 * (inside one of the HTTP callbacks below); a cancel inside one only marks
 * the call and stops the request, and the memory goes when the outermost
 * HTTP callback returns. A stream-level failure is recorded first and the
 * request cancelled, so the one on_done comes from the HTTP layer's own
 * completion at the top of the loop, carrying our classification. */
#include "provider/cloud.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tern/alloc.h"
#include "tern/config.h"
#include "tern/error.h"
#include "tern/json.h"
#include "tern/log.h"

const char tern__continue_prompt[] =
    "Your previous answer was cut off. Continue it from exactly where it stopped: do not repeat "
    "anything already said, do not start over and do not comment on the interruption. Begin "
    "with the next character (a leading space if the next word starts a new word).";

/* ---- settings ----------------------------------------------------------- */

static bool host_is_loopback(const char *url) {
  const char *h = strstr(url, "://");
  h = h ? h + 3 : url;
  const char *at = strpbrk(h, "@/");
  if (at && *at == '@')
    h = at + 1;
  size_t n = strcspn(h, ":/?#");
  if (h[0] == '[') /* [::1]:8080 */
    return !strncmp(h, "[::1]", 5);
  if (n == 9 && !strncasecmp(h, "localhost", 9))
    return true;
  return n >= 4 && !strncmp(h, "127.", 4);
}

static int get_str(const tern_config_t *cfg, const char *sec, const char *key, const char *def,
                   char **out, char *err, size_t errsz) {
  const char *v = def;
  *out = NULL;
  if (cfg) {
    int rc = tern_config_get_str(cfg, sec, key, def, &v, err, errsz);
    if (rc)
      return rc;
  }
  if (!v || !*v)
    return 0;
  return (*out = tern_strdup(v)) ? 0 : TERN_ENOMEM;
}

static bool configured(const tern_config_t *cfg, const char *sec, const char *key) {
  const char *v;
  return cfg && tern_config_lookup(cfg, sec, key, &v, NULL) == 0 && v && *v;
}

int tern__cloud_settings_load(tern_component_t comp, const char *name, const tern_config_t *cfg,
                              const tern__cloud_defaults_t *d, tern__cloud_settings_t *s, char *err,
                              size_t errsz) {
  memset(s, 0, sizeof *s);
  s->temperature = -1;
  if (err && errsz)
    err[0] = '\0';
  snprintf(s->section, sizeof s->section, "%s.%s", tern_component_name(comp), name);
  const char *sec = s->section;
  int rc;
  char *key_env = NULL;

  /* The base URL: the section, else the kind's environment variable, else
   * the public API. */
  const char *env_base = getenv(d->base_env);
  bool own_base = configured(cfg, sec, "base_url");
  if ((rc = get_str(cfg, sec, "base_url", env_base && *env_base ? env_base : d->base_url,
                    &s->base_url, err, errsz)))
    goto fail;
  if (!s->base_url ||
      (strncasecmp(s->base_url, "http://", 7) && strncasecmp(s->base_url, "https://", 8))) {
    snprintf(err, errsz, "[%s] base_url = '%s': expected an http:// or https:// URL", sec,
             s->base_url ? s->base_url : "");
    rc = TERN_ECONFIG;
    goto fail;
  }
  size_t bl = strlen(s->base_url);
  while (bl > 0 && s->base_url[bl - 1] == '/')
    s->base_url[--bl] = '\0';

  /* The key: api_key, else the variable api_key_env names. The kind's
   * conventional variable is the default only for the kind's own endpoint,
   * so an OpenAI key is never sent to another server by accident. */
  if ((rc = get_str(cfg, sec, "api_key", NULL, &s->api_key, err, errsz)))
    goto fail;
  if (!s->api_key) {
    if ((rc = get_str(cfg, sec, "api_key_env", own_base ? NULL : d->key_env, &key_env, err, errsz)))
      goto fail;
    const char *v = key_env ? getenv(key_env) : NULL;
    if (v && *v && !(s->api_key = tern_strdup(v))) {
      rc = TERN_ENOMEM;
      goto fail;
    }
  }
  if (s->api_key) {
    rc = tern_secret_register(s->api_key);
    if (rc == TERN_ENOMEM)
      goto fail;
    rc = 0; /* a very short key is refused by the registry: still usable */
  } else if (!strncasecmp(s->base_url, "https://", 8) && !host_is_loopback(s->base_url)) {
    /* A local server (llama.cpp, Ollama, vLLM over plain http or loopback)
     * needs no key; a cloud endpoint does, and failing here beats a 401 on
     * the first call. */
    if (own_base)
      snprintf(err, errsz,
               "%s: no API key for %s: set [%s] api_key_env (the environment variable that "
               "holds it) or [%s] api_key",
               sec, s->base_url, sec, sec);
    else
      snprintf(err, errsz, "%s: no API key: set %s or [%s] api_key", sec,
               key_env ? key_env : d->key_env, sec);
    rc = TERN_ECONFIG;
    goto fail;
  }

  if ((rc = get_str(cfg, sec, "model", d->model, &s->model, err, errsz)))
    goto fail;
  if (d->voice && (rc = get_str(cfg, sec, "voice", d->voice, &s->voice, err, errsz)))
    goto fail;
  if ((rc = get_str(cfg, sec, "response_format", NULL, &s->response_format, err, errsz)))
    goto fail;
  if (cfg) {
    int64_t mt;
    if ((rc = tern_config_get_double(cfg, sec, "temperature", -1, -1, 2, &s->temperature, err,
                                     errsz)) ||
        (rc = tern_config_get_int(cfg, sec, "max_tokens", d->max_tokens, 0, 1000000, &mt, err,
                                  errsz)))
      goto fail;
    s->max_tokens = (int)mt;
  } else {
    s->max_tokens = d->max_tokens;
  }
  if (!s->model) {
    snprintf(err, errsz, "[%s] model is empty", sec);
    rc = TERN_ECONFIG;
    goto fail;
  }
  tern_free(key_env);
  return 0;
fail:
  tern_free(key_env);
  tern__cloud_settings_free(s);
  return rc;
}

void tern__cloud_settings_free(tern__cloud_settings_t *s) {
  tern_free(s->base_url);
  tern_free(s->api_key);
  tern_free(s->model);
  tern_free(s->voice);
  tern_free(s->response_format);
  s->base_url = s->api_key = s->model = s->voice = s->response_format = NULL;
}

char *tern__cloud_url(const char *base, const char *path) {
  size_t a = strlen(base), b = strlen(path);
  char *u = tern_malloc(a + b + 1);
  if (!u)
    return NULL;
  memcpy(u, base, a);
  memcpy(u + a, path, b + 1);
  return u;
}

/* ---- the call object ---------------------------------------------------- */

#define SAFETY_NET TERN_SEC(30)

static void cop_free(tern__cop_t *o) {
  if (o->vt->release)
    o->vt->release(o);
  tern_http_free(o->http); /* deferred by the HTTP layer inside its callbacks */
  tern_free(o);
}

static void leave(tern__cop_t *o) {
  if (--o->depth == 0 && o->cancelled)
    cop_free(o);
}

static void cop_cancel(tern_op_t *op) {
  tern__cop_t *o = (tern__cop_t *)op;
  if (o->cancelled || o->finished)
    return;
  o->cancelled = true;
  tern_http_free(o->http); /* no on_done from it any more */
  o->http = NULL;
  if (o->depth == 0)
    cop_free(o);
}

static void h_response(tern_http_t *h, int status, void *ud) {
  (void)h;
  tern__cop_t *o = ud;
  o->depth++;
  if (tern__cop_alive(o) && o->vt->response)
    o->vt->response(o, status);
  leave(o);
}

static void h_data(tern_http_t *h, const char *data, size_t len, void *ud) {
  (void)h;
  tern__cop_t *o = ud;
  o->depth++;
  if (tern__cop_alive(o))
    o->vt->data(o, data, len);
  leave(o);
}

static void h_done(tern_http_t *h, const tern_error_t *err, void *ud) {
  (void)h;
  tern__cop_t *o = ud;
  o->depth++;
  if (!o->failed && err) {
    o->failed = true;
    o->err = *err;
  } else if (!o->failed && o->vt->end) {
    o->vt->end(o);
  }
  if (!o->cancelled) {
    o->finished = true;
    o->vt->done(o, o->failed ? &o->err : NULL);
  }
  /* The call is over whichever way it went: free it (the HTTP request
   * itself goes once this callback returns). */
  o->depth--;
  cop_free(o);
}

int tern__cop_init(tern__cop_t *o, const tern__cop_vt_t *vt, const tern_provider_t *p,
                   tern_loop_t *loop, const char *url, size_t max_response) {
  o->op.cancel = cop_cancel;
  o->vt = vt;
  o->loop = loop;
  o->comp = p->component;
  snprintf(o->provider, sizeof o->provider, "%s", p->name);
  tern_http_opts_t ho = {
      .url = url,
      .component = p->component,
      .provider = p->name,
      /* The guard owns the timing policy (first output, stalls, retries)
       * and its limits are configurable; the request's own timers are only
       * a safety net behind it unless the provider object sets them, so a
       * slow local model allowed 8 s by the guard is not cut at 3 s here. */
      .first_byte_timeout = p->first_byte_timeout > 0 ? p->first_byte_timeout : SAFETY_NET,
      .idle_timeout = p->idle_timeout > 0 ? p->idle_timeout : SAFETY_NET,
      .total_timeout = p->total_timeout,
      .max_response = max_response,
      .max_error_body = 4096,
      .on_response = h_response,
      .on_data = h_data,
      .on_done = h_done,
      .ud = o,
  };
  return tern_http_create(loop, &ho, &o->http);
}

void tern__cop_discard(tern__cop_t *o) {
  if (o)
    cop_free(o);
}

int tern__cop_start(tern__cop_t *o) {
  int rc = tern_http_start(o->http);
  if (rc)
    cop_free(o);
  return rc;
}

void tern__cop_fail(tern__cop_t *o, const tern_error_t *err) {
  if (!o->failed) {
    o->failed = true;
    o->err = *err;
    if (!o->err.provider[0])
      snprintf(o->err.provider, sizeof o->err.provider, "%s", o->provider);
  }
  if (o->http)
    tern_http_cancel(o->http);
}

void tern__cop_failf(tern__cop_t *o, tern_kind_t kind, const char *fmt, ...) {
  tern_error_t e;
  tern_error_init(&e, o->comp, kind, o->provider);
  char msg[TERN_ERROR_MESSAGE_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  tern_error_set_message(&e, "%s", msg);
  tern__cop_fail(o, &e);
}

int tern__cop_replay(tern__cop_t *o, const tern__cop_vt_t *vt, tern_component_t comp,
                     const char *provider, const tern__replay_t *r) {
  o->op.cancel = cop_cancel;
  o->vt = vt;
  o->comp = comp;
  snprintf(o->provider, sizeof o->provider, "%s", provider);
  size_t cut = r->cut < r->len ? r->cut : r->len;
  /* As h_data / h_done do, minus the HTTP request (o->http stays NULL, so
   * a failure only records itself). curl never hands over empty pieces. */
  o->depth++;
  if (cut && tern__cop_alive(o))
    vt->data(o, r->body, cut);
  if (r->len > cut && tern__cop_alive(o))
    vt->data(o, r->body + cut, r->len - cut);
  if (!o->failed && vt->end)
    vt->end(o);
  o->finished = true;
  vt->done(o, o->failed ? &o->err : NULL);
  o->depth--;
  cop_free(o);
  return 0;
}

/* Compact JSON text of v. Our own writer rather than json_dumps, which
 * quietly carries on when one of its internal allocations fails. Strings
 * in v are valid UTF-8 (jansson checked them), so only escaping is left. */
static int write_str(tern_buf_t *b, const char *s, size_t n) {
  size_t run = 0;
  if (tern_buf_append(b, "\"", 1))
    return TERN_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    char esc[8];
    if (c == '"' || c == '\\')
      snprintf(esc, sizeof esc, "\\%c", c);
    else if (c == '\n')
      snprintf(esc, sizeof esc, "\\n");
    else
      snprintf(esc, sizeof esc, "\\u%04x", c);
    if (tern_buf_append(b, s + run, i - run) || tern_buf_appends(b, esc))
      return TERN_ENOMEM;
    run = i + 1;
  }
  return tern_buf_append(b, s + run, n - run) || tern_buf_append(b, "\"", 1) ? TERN_ENOMEM : 0;
}

static int write_json(const json_t *v, tern_buf_t *b, int depth) {
  if (depth > 64)
    return TERN_EINVAL;
  switch (json_typeof(v)) {
  case JSON_OBJECT: {
    const char *k;
    json_t *e;
    bool first = true;
    if (tern_buf_append(b, "{", 1))
      return TERN_ENOMEM;
    json_object_foreach((json_t *)v, k, e) {
      int rc = 0;
      if (!first && tern_buf_append(b, ",", 1))
        rc = TERN_ENOMEM;
      if (!rc)
        rc = write_str(b, k, strlen(k));
      if (!rc && tern_buf_append(b, ":", 1))
        rc = TERN_ENOMEM;
      if (!rc)
        rc = write_json(e, b, depth + 1);
      if (rc)
        return rc;
      first = false;
    }
    return tern_buf_append(b, "}", 1) ? TERN_ENOMEM : 0;
  }
  case JSON_ARRAY: {
    size_t i;
    json_t *e;
    if (tern_buf_append(b, "[", 1))
      return TERN_ENOMEM;
    json_array_foreach((json_t *)v, i, e) {
      if (i && tern_buf_append(b, ",", 1))
        return TERN_ENOMEM;
      int rc = write_json(e, b, depth + 1);
      if (rc)
        return rc;
    }
    return tern_buf_append(b, "]", 1) ? TERN_ENOMEM : 0;
  }
  case JSON_STRING:
    return write_str(b, json_string_value(v), json_string_length(v));
  case JSON_INTEGER:
    return tern_buf_printf(b, "%lld", (long long)json_integer_value(v)) ? TERN_ENOMEM : 0;
  case JSON_REAL: {
    char num[40];
    snprintf(num, sizeof num, "%.15g", json_real_value(v));
    if (!strpbrk(num, ".eEn")) /* keep it a real: 1 -> 1.0 */
      strcat(num, ".0");
    return tern_buf_appends(b, num) ? TERN_ENOMEM : 0;
  }
  case JSON_TRUE:
    return tern_buf_appends(b, "true") ? TERN_ENOMEM : 0;
  case JSON_FALSE:
    return tern_buf_appends(b, "false") ? TERN_ENOMEM : 0;
  default:
    return tern_buf_appends(b, "null") ? TERN_ENOMEM : 0;
  }
}

int tern__cop_json_body(tern__cop_t *o, json_t *body) {
  tern_buf_t b = TERN_BUF_INIT;
  int rc = write_json(body, &b, 0);
  if (!rc)
    rc = tern_http_set_body(o->http, b.data, b.len, true);
  tern_buf_free(&b);
  if (!rc)
    rc = tern_http_add_header(o->http, "Content-Type", "application/json");
  return rc;
}

bool tern__cop_content_type_is(tern__cop_t *o, const char *types) {
  const char *ct = o->http ? tern_http_header(o->http, "content-type") : NULL;
  if (!ct)
    return false;
  while (*ct == ' ')
    ct++;
  size_t ctl = strcspn(ct, "; \t");
  for (const char *t = types; *t;) {
    size_t n = strcspn(t, "|");
    if (n == ctl && !strncasecmp(t, ct, n))
      return true;
    t += n;
    if (*t == '|')
      t++;
  }
  return false;
}

/* ---- tool calls --------------------------------------------------------- */

#define MAX_TOOL_SLOTS 64

struct tern__tool_slot *tern__tool_acc_at(tern__tool_acc_t *a, size_t index) {
  if (index >= MAX_TOOL_SLOTS)
    return NULL;
  if (index >= a->n) {
    struct tern__tool_slot *ns = tern_realloc(a->slots, (index + 1) * sizeof *ns);
    if (!ns)
      return NULL;
    memset(ns + a->n, 0, (index + 1 - a->n) * sizeof *ns);
    a->slots = ns;
    a->n = index + 1;
  }
  a->slots[index].used = true;
  return &a->slots[index];
}

void tern__tool_acc_free(tern__tool_acc_t *a) {
  for (size_t i = 0; i < a->n; i++) {
    tern_buf_free(&a->slots[i].id);
    tern_buf_free(&a->slots[i].name);
    tern_buf_free(&a->slots[i].args);
  }
  tern_free(a->slots);
  a->slots = NULL;
  a->n = 0;
}

/* ---- continuation ------------------------------------------------------- */

static size_t skip_space(const char *s, size_t n) {
  size_t i = 0;
  while (i < n && isspace((unsigned char)s[i]))
    i++;
  return i;
}

void tern__contin_init(tern__contin_t *c, const char *prev, bool only_trim_space) {
  memset(c, 0, sizeof *c);
  if (!prev) {
    c->passing = true;
    return;
  }
  c->prev = prev;
  c->prev_len = strlen(prev);
  c->only_trim_space = only_trim_space;
  if (only_trim_space) {
    /* The prefill lost its trailing whitespace; only then can the model's
     * own leading space double it. */
    c->passing = c->prev_len == 0 || !isspace((unsigned char)prev[c->prev_len - 1]);
  } else {
    c->passing = skip_space(prev, c->prev_len) == c->prev_len;
  }
}

int tern__contin_feed(tern__contin_t *c, const char *text, size_t len, tern__emit_fn emit,
                      void *ud) {
  if (c->passing) {
    if (len)
      emit(ud, text, len);
    return 0;
  }
  if (c->only_trim_space) {
    size_t sp = skip_space(text, len);
    if (sp < len) {
      c->passing = true;
      emit(ud, text + sp, len - sp);
    }
    return 0;
  }
  if (tern_buf_append(&c->hold, text, len))
    return TERN_ENOMEM;
  const char *h = c->hold.data;
  size_t hl = c->hold.len, hs = skip_space(h, hl);
  size_t ps = skip_space(c->prev, c->prev_len);
  const char *p = c->prev + ps;
  size_t pl = c->prev_len - ps;
  size_t m = hl - hs < pl ? hl - hs : pl;
  if (memcmp(h + hs, p, m) != 0) { /* a real continuation: let it all through */
    c->passing = true;
    emit(ud, h, hl);
    tern_buf_reset(&c->hold);
    return 0;
  }
  if (hl - hs < pl)
    return 0;        /* could still be a repeat: wait for more */
  c->passing = true; /* the model said prev again: drop that much */
  if (hl - hs > pl)
    emit(ud, h + hs + pl, hl - hs - pl);
  tern_buf_reset(&c->hold);
  return 0;
}

void tern__contin_free(tern__contin_t *c) { tern_buf_free(&c->hold); }

/* ---- JSON --------------------------------------------------------------- */

/* Length of a valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len;
  unsigned min;
  unsigned cp;
  if (c < 0x80)
    return c ? 1 : 0;
  if (c >= 0xC2 && c <= 0xDF)
    len = 2, cp = c & 0x1F, min = 0x80;
  else if (c >= 0xE0 && c <= 0xEF)
    len = 3, cp = c & 0x0F, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4)
    len = 4, cp = c & 0x07, min = 0x10000;
  else
    return 0;
  if (len > n)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

json_t *tern__jstrn(const char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    size_t l = utf8_len((const unsigned char *)s + i, n - i);
    if (!l)
      break;
    i += l;
  }
  if (i == n) /* valid: a NULL from jansson now can only mean no memory */
    return json_stringn(s, n);
  /* Invalid UTF-8 or a NUL inside: send a cleaned copy rather than fail. */
  char *c = tern_malloc(n + 1);
  if (!c)
    return NULL;
  size_t o = 0;
  for (i = 0; i < n;) {
    size_t l = utf8_len((const unsigned char *)s + i, n - i);
    if (l == 0) {
      c[o++] = '?';
      i++;
    } else {
      memcpy(c + o, s + i, l);
      o += l;
      i += l;
    }
  }
  json_t *j = json_stringn(c, o);
  tern_free(c);
  return j;
}

json_t *tern__jstr(const char *s) { return tern__jstrn(s ? s : "", s ? strlen(s) : 0); }

bool tern__jset(json_t *obj, const char *key, json_t *v) {
  return v && json_object_set_new(obj, key, v) == 0;
}

bool tern__jpush(json_t *arr, json_t *v) { return v && json_array_append_new(arr, v) == 0; }

int tern__json_load(const char *text, size_t len, json_t **out) {
  return tern_json_load(text, len, 0, out, NULL);
}

int tern__tool_params(const tern_tool_def_t *t, json_t **out) {
  *out = NULL;
  if (!t->parameters_json || !*t->parameters_json) {
    json_t *o = json_pack("{s:s,s:{}}", "type", "object", "properties");
    if (!o)
      return TERN_ENOMEM;
    *out = o;
    return 0;
  }
  json_t *o;
  int rc = tern__json_load(t->parameters_json, strlen(t->parameters_json), &o);
  if (rc)
    return rc == TERN_ENOMEM ? TERN_ENOMEM : TERN_EINVAL;
  if (!json_is_object(o)) {
    json_decref(o);
    return TERN_EINVAL;
  }
  *out = o;
  return 0;
}

void tern__cop_fail_nomem(tern__cop_t *o) {
  tern__cop_failf(o, TERN_KIND_BAD_RESPONSE, "out of memory while reading the answer");
}

void tern__cop_expect_sse(tern__cop_t *o) {
  if (!tern__cop_content_type_is(o, "text/event-stream")) {
    const char *ct = tern_http_header(o->http, "content-type");
    tern__cop_failf(o, TERN_KIND_BAD_RESPONSE, "expected an event stream, got content type '%.60s'",
                    ct ? ct : "none");
  }
}

static bool sse_rc(tern__cop_t *o, int rc) {
  if (rc == TERN_ETOOBIG)
    tern__cop_failf(o, TERN_KIND_BAD_RESPONSE, "a stream event was larger than %zu bytes",
                    TERN__SSE_MAX_EVENT);
  else if (rc == TERN_ENOMEM)
    tern__cop_fail_nomem(o);
  else
    return true;
  return false;
}

void tern__cop_sse_feed(tern__cop_t *o, tern_sse_t *sse, const char *data, size_t len) {
  sse_rc(o, tern_sse_feed(sse, data, len));
}

bool tern__cop_sse_finish(tern__cop_t *o, tern_sse_t *sse) {
  return sse_rc(o, tern_sse_finish(sse));
}

int tern__cop_init_sse(tern__cop_t *o, const tern__cop_vt_t *vt, const tern_provider_t *p,
                       tern_loop_t *loop, const char *url, size_t max_response, json_t *body,
                       tern_sse_event_fn on_event, void *ud, tern_sse_t **sse) {
  int rc = tern__cop_init(o, vt, p, loop, url, max_response);
  if (!rc)
    rc = tern_sse_create(TERN__SSE_MAX_EVENT, on_event, ud, sse);
  if (!rc)
    rc = tern__cop_json_body(o, body);
  if (!rc)
    rc = tern_http_add_header(o->http, "Accept", "text/event-stream");
  return rc;
}
