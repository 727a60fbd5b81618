/* Error taxonomy: turning HTTP statuses, libcurl codes, provider error
 * bodies and Retry-After headers into tern_error_t values.
 *
 * Invariants: every function here is pure (no I/O, no clock reads; "now"
 * comes in as an argument). Every message stored in a tern_error_t has been
 * cleaned (no control characters, valid UTF-8) and passed through
 * tern_redact() over its whole length before it was cut to fit, so a cut
 * can never leave the visible half of a secret. A provider's body is never
 * copied whole: only the provider's own message string, cut to about 200
 * bytes; a body that is not JSON is not quoted at all.
 */
#include "tern/taxonomy.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h> /* only for the CURLcode values: this library does not link curl */

#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/log.h"

/* How much of a provider's own message an error may quote. */
#define SUMMARY_MAX 200
/* Error bodies are small; anything bigger is not worth parsing. */
#define BODY_PARSE_MAX (64 * 1024)

/* ---- names ------------------------------------------------------------ */

static const char *const comp_names[TERN_COMP__COUNT] = {
    "stt", "llm", "tts", "vad", "tool", "transport", "config",
};

static const char *const kind_names[TERN_KIND__COUNT] = {
    "timeout",   "stalled",    "connection",      "rate_limited",   "quota",
    "server",    "auth",       "invalid_request", "context_length", "bad_response",
    "cancelled", "overloaded", "unavailable",
};

/* The words a person reads when nothing more specific is known. */
static const char *const kind_text[TERN_KIND__COUNT] = {
    "the provider did not answer in time",
    "the provider stopped sending data",
    "could not reach the provider",
    "the provider is rate limiting requests",
    "the provider account is out of quota or credit",
    "the provider had a server error",
    "the provider rejected the credentials",
    "the provider rejected the request as invalid",
    "the conversation is too long for the model",
    "the provider sent a response that could not be understood",
    "the request was cancelled",
    "the provider is overloaded",
    "the provider is not being used right now (circuit open or at capacity)",
};

const char *tern_component_name(tern_component_t c) {
  return (unsigned)c < TERN_COMP__COUNT ? comp_names[c] : "unknown";
}

const char *tern_kind_name(tern_kind_t k) {
  return (unsigned)k < TERN_KIND__COUNT ? kind_names[k] : "unknown";
}

int tern_component_parse(const char *name, tern_component_t *out) {
  if (!name || !out)
    return TERN_EINVAL;
  for (int i = 0; i < TERN_COMP__COUNT; i++) {
    if (strcmp(name, comp_names[i]) == 0) {
      *out = (tern_component_t)i;
      return 0;
    }
  }
  return TERN_EINVAL;
}

int tern_kind_parse(const char *name, tern_kind_t *out) {
  if (!name || !out)
    return TERN_EINVAL;
  for (int i = 0; i < TERN_KIND__COUNT; i++) {
    if (strcmp(name, kind_names[i]) == 0) {
      *out = (tern_kind_t)i;
      return 0;
    }
  }
  return TERN_EINVAL;
}

bool tern_kind_retryable(tern_kind_t k) {
  switch (k) {
  case TERN_KIND_TIMEOUT:
  case TERN_KIND_STALLED:
  case TERN_KIND_CONNECTION:
  case TERN_KIND_RATE_LIMITED:
  case TERN_KIND_SERVER:
  case TERN_KIND_OVERLOADED:
    return true;
  default:
    return false;
  }
}

bool tern_kind_recoverable(tern_kind_t k) { return k != TERN_KIND_AUTH && k != TERN_KIND_QUOTA; }

/* ---- safe text -------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    len = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0)
      lo = 0xA0; /* overlong */
    if (c == 0xED)
      hi = 0x9F; /* surrogates */
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0)
      lo = 0x90;
    if (c == 0xF4)
      hi = 0x8F;
  } else
    return 0;
  if (n < len || s[1] < lo || s[1] > hi)
    return 0;
  for (size_t i = 2; i < len; i++)
    if (s[i] < 0x80 || s[i] > 0xBF)
      return 0;
  return len;
}

/* In place: control characters (C0, DEL, C1) become spaces, invalid UTF-8
 * bytes become '?', runs of spaces collapse and the ends are trimmed. Done
 * before redaction so the redactor sees exactly the text that is kept. */
static void clean_text(char *s) {
  unsigned char *r = (unsigned char *)s, *w = (unsigned char *)s;
  size_t n = strlen(s);
  const unsigned char *end = r + n;
  bool space = true; /* drops leading spaces */
  while (r < end) {
    size_t len = utf8_seq(r, (size_t)(end - r));
    bool ctl = (len == 1 && (*r < 0x20 || *r == 0x7F)) || (len == 2 && r[0] == 0xC2 && r[1] < 0xA0);
    if (ctl || (len == 1 && *r == ' ')) {
      if (!space)
        *w++ = ' ';
      space = true;
      r += len;
    } else if (len == 0) {
      *w++ = '?';
      space = false;
      r++;
    } else {
      memmove(w, r, len);
      w += len;
      r += len;
      space = false;
    }
  }
  if (w > (unsigned char *)s && w[-1] == ' ')
    w--;
  *w = '\0';
}

/* Drop a multi-byte character that a cut left incomplete at the end. */
static void trim_utf8_tail(char *s) {
  size_t n = strlen(s);
  size_t i = n;
  while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80 && n - i < 3)
    i--;
  if (i == 0)
    return;
  unsigned char lead = (unsigned char)s[i - 1];
  if (lead < 0x80)
    return; /* ASCII last: any continuation bytes after it were stray */
  size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  if (n - (i - 1) < want)
    s[i - 1] = '\0';
}

/* Clean `text` (mutable, NUL-terminated), redact it whole, then cut it into
 * dst on a character boundary. */
static void store_safe(char *dst, size_t dstsz, char *text) {
  clean_text(text);
  tern_redact(text, dst, dstsz);
  dst[dstsz - 1] = '\0';
  trim_utf8_tail(dst);
}

static void set_generic(tern_error_t *err) {
  const char *t = (unsigned)err->kind < TERN_KIND__COUNT ? kind_text[err->kind] : "error";
  snprintf(err->message, sizeof err->message, "%s", t);
}

int tern_error_set_message(tern_error_t *err, const char *fmt, ...) {
  if (!err)
    return TERN_EINVAL;
  if (!fmt) {
    set_generic(err);
    return TERN_EINVAL;
  }
  char stack[512];
  char *buf = stack;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(stack, sizeof stack, fmt, ap);
  va_end(ap);
  if (n < 0) {
    set_generic(err);
    return TERN_EINVAL;
  }
  if ((size_t)n >= sizeof stack) {
    /* Format the whole text: redaction must see a secret whole before the
     * cut, or the cut could leave its first half readable. */
    buf = tern_malloc((size_t)n + 1);
    if (!buf) {
      set_generic(err);
      return TERN_ENOMEM;
    }
    va_start(ap, fmt);
    vsnprintf(buf, (size_t)n + 1, fmt, ap);
    va_end(ap);
  }
  store_safe(err->message, sizeof err->message, buf);
  if (buf != stack)
    tern_free(buf);
  return 0;
}

void tern_error_init(tern_error_t *err, tern_component_t component, tern_kind_t kind,
                     const char *provider) {
  if (!err)
    return;
  memset(err, 0, sizeof *err);
  err->component = component;
  err->kind = kind;
  err->http_status = 0;
  err->retry_after = -1;
  err->retryable = tern_kind_retryable(kind);
  err->recoverable = tern_kind_recoverable(kind) && component != TERN_COMP_CONFIG;
  if (!provider || !*provider)
    provider = "unknown";
  /* Provider names come from configuration, not from the network, but
   * they are cleaned the same way: they end up in events. */
  size_t i = 0;
  for (; provider[i] && i + 1 < sizeof err->provider; i++) {
    unsigned char c = (unsigned char)provider[i];
    err->provider[i] = (c < 0x20 || c == 0x7F || c >= 0x80) ? '?' : (char)c;
  }
  err->provider[i] = '\0';
  set_generic(err);
}

static void set_kind(tern_error_t *err, tern_kind_t kind) {
  err->kind = kind;
  err->retryable = tern_kind_retryable(kind);
  err->recoverable = tern_kind_recoverable(kind) && err->component != TERN_COMP_CONFIG;
}

/* ---- HTTP status ------------------------------------------------------ */

static tern_kind_t kind_of_status(int status) {
  switch (status) {
  case 401:
  case 403:
  case 407:
    return TERN_KIND_AUTH;
  case 402:
    return TERN_KIND_QUOTA;
  case 408:
  case 504:
    return TERN_KIND_TIMEOUT;
  case 409: /* a conflicting concurrent change on the provider's side */
  case 425: /* "too early": the same request later will do */
    return TERN_KIND_SERVER;
  case 429:
    return TERN_KIND_RATE_LIMITED;
  case 499:
    return TERN_KIND_CANCELLED;
  case 501: /* the provider does not do this at all: retrying is pointless */
    return TERN_KIND_INVALID_REQUEST;
  case 503:
  case 529:
    return TERN_KIND_OVERLOADED;
  }
  if (status >= 400 && status < 500)
    return TERN_KIND_INVALID_REQUEST;
  if (status >= 500 && status < 600)
    return TERN_KIND_SERVER;
  return TERN_KIND_BAD_RESPONSE; /* not an error status: nothing we can use */
}

static void http_message(tern_error_t *err, const char *summary) {
  if (err->http_status > 0 && summary && *summary)
    tern_error_set_message(err, "%s (HTTP %d): %s", kind_text[err->kind], err->http_status,
                           summary);
  else if (err->http_status > 0)
    tern_error_set_message(err, "%s (HTTP %d)", kind_text[err->kind], err->http_status);
  else if (summary && *summary)
    tern_error_set_message(err, "%s: %s", kind_text[err->kind], summary);
  else
    set_generic(err);
}

int tern_error_from_http(tern_error_t *err, tern_component_t component, const char *provider,
                         int status) {
  if (!err)
    return TERN_EINVAL;
  tern_error_init(err, component, kind_of_status(status), provider);
  err->http_status = status > 0 && status < 1000 ? status : 0;
  if (status < 100 || status > 599) {
    set_generic(err);
    return 0;
  }
  http_message(err, NULL);
  return 0;
}

/* ---- libcurl ---------------------------------------------------------- */

int tern_error_from_curl(tern_error_t *err, tern_component_t component, const char *provider,
                         int curl_code) {
  if (!err)
    return TERN_EINVAL;
  tern_kind_t kind = TERN_KIND_CONNECTION;
  const char *msg = "the connection to the provider failed";
  bool fixable_only_by_a_person = false;
  switch ((CURLcode)curl_code) {
  case CURLE_OK:
    tern_error_init(err, component, TERN_KIND_BAD_RESPONSE, provider);
    return TERN_EINVAL;
  case CURLE_OPERATION_TIMEDOUT:
    kind = TERN_KIND_TIMEOUT;
    msg = "the provider did not answer in time";
    break;
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
    msg = "could not look up the provider's address";
    break;
  case CURLE_COULDNT_CONNECT:
  case CURLE_NO_CONNECTION_AVAILABLE:
  case CURLE_PROXY:
  case CURLE_INTERFACE_FAILED:
    msg = "could not connect to the provider";
    break;
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_HTTP3:
  case CURLE_QUIC_CONNECT_ERROR:
  case CURLE_AGAIN:
  case CURLE_SEND_FAIL_REWIND:
  case CURLE_SSL_SHUTDOWN_FAILED:
    msg = "the connection to the provider broke";
    break;
  case CURLE_SSL_CONNECT_ERROR:
    /* A failed handshake is often a reset mid-handshake: worth one more try. */
    msg = "the secure connection to the provider could not be set up";
    break;
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_SSL_CLIENTCERT:
  case CURLE_USE_SSL_FAILED:
    /* The same certificate will fail the same way until someone fixes it. */
    msg = "the provider's certificate could not be verified";
    fixable_only_by_a_person = true;
    break;
  case CURLE_ABORTED_BY_CALLBACK:
  case CURLE_WRITE_ERROR:
  case CURLE_READ_ERROR:
    /* Our own callback stopped the transfer. In a voice agent that is a
     * barge-in or a closed session far more often than bad data, and
     * calling a cancel a provider failure would trip the breaker for
     * nothing; a parser that gives up on bad data classifies it itself. */
    kind = TERN_KIND_CANCELLED;
    msg = "the request was cancelled";
    break;
  case CURLE_TOO_MANY_REDIRECTS:
    kind = TERN_KIND_BAD_RESPONSE;
    msg = "the provider redirected too many times";
    break;
  case CURLE_WEIRD_SERVER_REPLY:
  case CURLE_BAD_CONTENT_ENCODING:
  case CURLE_RANGE_ERROR:
  case CURLE_FILESIZE_EXCEEDED:
  case CURLE_CHUNK_FAILED:
    kind = TERN_KIND_BAD_RESPONSE;
    msg = "the provider sent a reply that could not be understood";
    break;
  case CURLE_LOGIN_DENIED:
  case CURLE_AUTH_ERROR:
  case CURLE_REMOTE_ACCESS_DENIED:
    kind = TERN_KIND_AUTH;
    msg = "the provider refused the login";
    break;
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_URL_MALFORMAT:
  case CURLE_NOT_BUILT_IN:
  case CURLE_BAD_FUNCTION_ARGUMENT:
  case CURLE_UNKNOWN_OPTION:
  case CURLE_SETOPT_OPTION_SYNTAX:
  case CURLE_FAILED_INIT:
    kind = TERN_KIND_INVALID_REQUEST;
    msg = "the request to the provider is set up wrongly (check its address and options)";
    fixable_only_by_a_person = true;
    break;
  case CURLE_HTTP_RETURNED_ERROR:
    /* Only with CURLOPT_FAILONERROR; the caller should classify the status. */
    kind = TERN_KIND_SERVER;
    msg = "the provider answered with an error";
    break;
  case CURLE_OUT_OF_MEMORY:
    kind = TERN_KIND_SERVER;
    msg = "ran out of memory while talking to the provider";
    break;
  default:
    break;
  }
  tern_error_init(err, component, kind, provider);
  if (fixable_only_by_a_person) {
    err->retryable = false;
    err->recoverable = false;
  }
  snprintf(err->message, sizeof err->message, "%s", msg);
  return 0;
}

/* ---- provider error bodies -------------------------------------------- */

typedef struct code_map {
  const char *name; /* matched case-insensitively */
  tern_kind_t kind;
  /* A strong code names the failure precisely and overrides the status
   * (OpenAI's 429 "insufficient_quota" is quota, not a rate limit); a weak
   * one only restates the status and decides only when there was none. */
  bool strong;
} code_map_t;

static const code_map_t codes[] = {
    /* OpenAI and compatible servers: error.code and error.type */
    {"context_length_exceeded", TERN_KIND_CONTEXT_LENGTH, true},
    {"rate_limit_exceeded", TERN_KIND_RATE_LIMITED, true},
    {"insufficient_quota", TERN_KIND_QUOTA, true},
    {"billing_hard_limit_reached", TERN_KIND_QUOTA, true},
    {"invalid_api_key", TERN_KIND_AUTH, true},
    {"model_not_found", TERN_KIND_INVALID_REQUEST, true},
    {"string_above_max_length", TERN_KIND_INVALID_REQUEST, true},
    {"invalid_request_error", TERN_KIND_INVALID_REQUEST, false},
    {"server_error", TERN_KIND_SERVER, false},
    {"BadRequestError", TERN_KIND_INVALID_REQUEST, false}, /* vLLM */
    /* Anthropic: error.type (some names are shared with OpenAI) */
    {"overloaded_error", TERN_KIND_OVERLOADED, true},
    {"rate_limit_error", TERN_KIND_RATE_LIMITED, true},
    {"authentication_error", TERN_KIND_AUTH, true},
    {"permission_error", TERN_KIND_AUTH, true},
    {"billing_error", TERN_KIND_QUOTA, true},
    {"timeout_error", TERN_KIND_TIMEOUT, true},
    {"request_too_large", TERN_KIND_INVALID_REQUEST, true},
    {"not_found_error", TERN_KIND_INVALID_REQUEST, false},
    {"api_error", TERN_KIND_SERVER, false},
    /* Deepgram: err_code and category */
    {"INVALID_AUTH", TERN_KIND_AUTH, true},
    {"INSUFFICIENT_PERMISSIONS", TERN_KIND_AUTH, true},
    {"ASR_PAYMENT_REQUIRED", TERN_KIND_QUOTA, true},
    {"PAYMENT_REQUIRED", TERN_KIND_QUOTA, true},
    {"INSUFFICIENT_CREDITS", TERN_KIND_QUOTA, true},
    {"TOO_MANY_REQUESTS", TERN_KIND_RATE_LIMITED, true},
    {"NET-0001", TERN_KIND_TIMEOUT, true}, /* no audio arrived in time */
    {"Bad Request", TERN_KIND_INVALID_REQUEST, false},
    {"INVALID_QUERY_PARAMETER", TERN_KIND_INVALID_REQUEST, false},
    {"PROJECT_NOT_FOUND", TERN_KIND_INVALID_REQUEST, false},
    {"REQUESTED_FEATURE_NOT_AVAILABLE", TERN_KIND_INVALID_REQUEST, false},
    {"INTERNAL_SERVER_ERROR", TERN_KIND_SERVER, false},
    /* ElevenLabs: detail.status */
    {"quota_exceeded", TERN_KIND_QUOTA, true},
    {"needs_authorization", TERN_KIND_AUTH, true},
    {"unauthorized", TERN_KIND_AUTH, true},
    {"missing_permissions", TERN_KIND_AUTH, true},
    {"too_many_concurrent_requests", TERN_KIND_RATE_LIMITED, true},
    {"system_busy", TERN_KIND_OVERLOADED, true},
    {"input_timeout_exceeded", TERN_KIND_TIMEOUT, true},
    {"voice_not_found", TERN_KIND_INVALID_REQUEST, false},
    {"max_character_limit_exceeded", TERN_KIND_INVALID_REQUEST, false},
};

typedef struct verdict {
  bool found;
  bool strong;
  tern_kind_t kind;
} verdict_t;

static void consider_code(verdict_t *v, const char *name) {
  if (!name || v->strong)
    return;
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    if (strcasecmp(name, codes[i].name) == 0) {
      if (!v->found || codes[i].strong) {
        v->found = true;
        v->strong = codes[i].strong;
        v->kind = codes[i].kind;
      }
      return;
    }
  }
}

static bool contains_ci(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay; hay++)
    if (strncasecmp(hay, needle, n) == 0)
      return true;
  return false;
}

/* Some providers say what matters only in prose (Anthropic's "prompt is
 * too long" arrives as a plain invalid_request_error). */
static void consider_text(verdict_t *v, const char *msg) {
  static const struct {
    const char *phrase;
    tern_kind_t kind;
  } phrases[] = {
      {"prompt is too long", TERN_KIND_CONTEXT_LENGTH},
      {"maximum context length", TERN_KIND_CONTEXT_LENGTH},
      {"context length exceeded", TERN_KIND_CONTEXT_LENGTH},
      {"context window", TERN_KIND_CONTEXT_LENGTH},
      {"credit balance is too low", TERN_KIND_QUOTA},
      {"exceeded your current quota", TERN_KIND_QUOTA},
  };
  if (!msg || (v->strong && v->kind != TERN_KIND_INVALID_REQUEST))
    return;
  for (size_t i = 0; i < sizeof phrases / sizeof phrases[0]; i++) {
    if (contains_ci(msg, phrases[i].phrase)) {
      v->found = v->strong = true;
      v->kind = phrases[i].kind;
      return;
    }
  }
}

static const char *str_of(json_t *obj, const char *key) {
  json_t *x = json_object_get(obj, key);
  return json_is_string(x) ? json_string_value(x) : NULL;
}

/* Read a parsed body: the provider's message (borrowed from root) and what
 * its codes say. */
static const char *read_body(json_t *root, verdict_t *v) {
  const char *msg = NULL;
  json_t *e = json_object_get(root, "error");
  json_t *detail = json_object_get(root, "detail");
  if (json_is_object(e)) {
    /* OpenAI {"error":{message,type,code}}; Anthropic {"type":"error",
     * "error":{type,message}}. Codes before types: codes are the precise
     * ones. OpenAI's code is sometimes a number; only strings count. */
    msg = str_of(e, "message");
    consider_code(v, str_of(e, "code"));
    consider_code(v, str_of(e, "type"));
    consider_code(v, str_of(e, "status")); /* Google-style OpenAI-compatibles */
    if (!msg)
      msg = str_of(root, "message");
  } else if (json_is_string(e)) {
    msg = json_string_value(e); /* Ollama, llama.cpp: {"error":"..."} */
  } else if (str_of(root, "err_code") || str_of(root, "err_msg")) {
    msg = str_of(root, "err_msg"); /* Deepgram */
    consider_code(v, str_of(root, "err_code"));
  } else if (str_of(root, "category")) {
    msg = str_of(root, "message"); /* Deepgram, newer form */
    consider_code(v, str_of(root, "category"));
  } else if (json_is_object(detail)) {
    msg = str_of(detail, "message"); /* ElevenLabs */
    consider_code(v, str_of(detail, "status"));
  } else if (json_is_string(detail)) {
    msg = json_string_value(detail);
  } else if (json_is_array(detail)) {
    msg = str_of(json_array_get(detail, 0), "msg"); /* FastAPI validation */
    if (!v->found)
      consider_code(v, "invalid_request_error");
  } else {
    msg = str_of(root, "message"); /* vLLM {"object":"error",...} and the rest */
    consider_code(v, str_of(root, "code"));
    consider_code(v, str_of(root, "type"));
  }
  consider_text(v, msg);
  return msg;
}

/* The provider's message, cleaned, redacted and cut, into out. */
static bool summarise(const char *msg, size_t len, char out[SUMMARY_MAX + 1]) {
  out[0] = '\0';
  if (!msg || !len)
    return false;
  /* Copy whole: redaction must see all of it before anything is cut. */
  char *copy = tern_strndup(msg, len);
  if (!copy)
    return false;
  store_safe(out, SUMMARY_MAX + 1, copy);
  tern_free(copy);
  return out[0] != '\0';
}

int tern_error_from_response(tern_error_t *err, tern_component_t component, const char *provider,
                             int status, const char *body, size_t len) {
  if (!err)
    return TERN_EINVAL;
  if (status != 0) {
    tern_error_from_http(err, component, provider, status);
    if (status < 100 || status > 599)
      return 0;
  } else {
    tern_error_init(err, component, TERN_KIND_SERVER, provider);
  }
  char summary[SUMMARY_MAX + 1] = "";
  if (body && len > 0 && len <= BODY_PARSE_MAX) {
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr); /* NULL also on OOM: treated as not JSON */
    if (json_is_object(root)) {
      verdict_t v = {0};
      const char *msg = read_body(root, &v);
      if (v.found && (v.strong || status == 0))
        set_kind(err, v.kind);
      if (msg)
        summarise(msg, strlen(msg), summary);
    }
    json_decref(root);
  }
  http_message(err, summary);
  return 0;
}

/* ---- Retry-After and friends ------------------------------------------ */

static const char *skip_ws(const char *p) {
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

#define NS_PER_SEC UINT64_C(1000000000)

/* digits [ '.' digits ]: at least one digit in all. The integer part
 * saturates (anything that large saturates the result anyway); the fraction
 * keeps nanosecond precision. */
static bool parse_decimal(const char **pp, uint64_t *ip, uint64_t *frac_ns) {
  const char *p = *pp;
  uint64_t v = 0, f = 0, scale = NS_PER_SEC;
  int digits = 0;
  for (; isdigit((unsigned char)*p); p++, digits++)
    v = v > UINT64_C(1000000000000) ? v : v * 10 + (uint64_t)(*p - '0');
  if (*p == '.') {
    p++;
    for (; isdigit((unsigned char)*p); p++, digits++) {
      scale /= 10;
      f += (uint64_t)(*p - '0') * scale; /* digits past nanoseconds add 0 */
    }
  }
  if (!digits)
    return false;
  *pp = p;
  *ip = v;
  *frac_ns = f;
  return true;
}

/* value (ip + frac) times unit_ns nanoseconds, in microseconds, saturated. */
static uint64_t scaled_ns(uint64_t ip, uint64_t frac_ns, uint64_t unit_ns) {
  const uint64_t limit = (uint64_t)TERN_RETRY_AFTER_MAX * 1000;
  if (ip > limit / unit_ns)
    return limit;
  uint64_t ns = ip * unit_ns;
  ns += unit_ns >= NS_PER_SEC ? frac_ns * (unit_ns / NS_PER_SEC) : frac_ns * unit_ns / NS_PER_SEC;
  return ns > limit ? limit : ns;
}

static int parse_scaled(const char *value, uint64_t unit_ns, tern_usec_t *out) {
  if (!value || !out)
    return TERN_EINVAL;
  const char *p = skip_ws(value);
  bool neg = false;
  if (*p == '-' || *p == '+') {
    neg = *p == '-';
    p++;
  }
  uint64_t ip, f;
  if (!parse_decimal(&p, &ip, &f))
    return TERN_EINVAL;
  if (*skip_ws(p))
    return TERN_EINVAL;
  *out = neg ? 0 : (tern_usec_t)(scaled_ns(ip, f, unit_ns) / 1000);
  return 0;
}

int tern_retry_after_ms_parse(const char *value, tern_usec_t *out) {
  return parse_scaled(value, UINT64_C(1000000), out);
}

int tern_duration_parse(const char *value, tern_usec_t *out) {
  static const struct {
    const char *unit;
    uint64_t ns;
  } units[] = {
      /* Longer spellings first so "ms" is not read as "m" then garbage. */
      {"ns", 1},       {"us", 1000},      {"\xC2\xB5s", 1000},    {"\xCE\xBCs", 1000},
      {"ms", 1000000}, {"s", NS_PER_SEC}, {"m", 60 * NS_PER_SEC}, {"h", 3600 * NS_PER_SEC},
  };
  if (!value || !out)
    return TERN_EINVAL;
  const char *p = skip_ws(value);
  const uint64_t limit = (uint64_t)TERN_RETRY_AFTER_MAX * 1000;
  uint64_t total = 0;
  int parts = 0;
  while (*p && *p != ' ' && *p != '\t') {
    uint64_t ip, f;
    if (!parse_decimal(&p, &ip, &f))
      return TERN_EINVAL;
    size_t u = 0, nu = sizeof units / sizeof units[0];
    for (; u < nu; u++) {
      size_t l = strlen(units[u].unit);
      if (strncmp(p, units[u].unit, l) == 0) {
        p += l;
        break;
      }
    }
    if (u == nu) {
      /* Go writes a bare zero without a unit. */
      if (ip == 0 && f == 0 && parts == 0 && !*skip_ws(p))
        break;
      return TERN_EINVAL;
    }
    uint64_t ns = scaled_ns(ip, f, units[u].ns);
    total = total > limit - ns ? limit : total + ns;
    parts++;
  }
  if (*skip_ws(p) || (parts == 0 && !isdigit((unsigned char)*skip_ws(value))))
    return TERN_EINVAL;
  *out = (tern_usec_t)(total / 1000);
  return 0;
}

static int match_name(const char **pp, const char *const *names, int n, size_t len) {
  for (int i = 0; i < n; i++) {
    size_t l = len ? len : strlen(names[i]);
    if (strncmp(*pp, names[i], l) == 0) {
      *pp += l;
      return i;
    }
  }
  return -1;
}

static bool read_int(const char **pp, int min_digits, int max_digits, int *out) {
  const char *p = *pp;
  int v = 0, d = 0;
  while (d < max_digits && isdigit((unsigned char)*p)) {
    v = v * 10 + (*p++ - '0');
    d++;
  }
  if (d < min_digits || isdigit((unsigned char)*p))
    return false;
  *pp = p;
  *out = v;
  return true;
}

static bool read_char(const char **pp, char c) {
  if (**pp != c)
    return false;
  (*pp)++;
  return true;
}

static bool read_time(const char **pp, struct tm *tm) {
  return read_int(pp, 2, 2, &tm->tm_hour) && read_char(pp, ':') &&
         read_int(pp, 2, 2, &tm->tm_min) && read_char(pp, ':') && read_int(pp, 2, 2, &tm->tm_sec) &&
         tm->tm_hour < 24 && tm->tm_min < 60 && tm->tm_sec <= 60;
}

static bool read_gmt(const char **pp) {
  if (strncmp(*pp, "GMT", 3) == 0 || strncmp(*pp, "UTC", 3) == 0) {
    *pp += 3;
    return true;
  }
  return false;
}

static int days_in_month(int year, int mon) {
  static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return mon == 1 && leap ? 29 : d[mon];
}

/* HTTP-date (RFC 9110 section 5.6.7) into unix seconds. */
static bool parse_http_date(const char *p, int64_t now_unix_ms, int64_t *out_sec) {
  static const char *const wk_long[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                         "Thursday", "Friday", "Saturday"};
  static const char *const wk_short[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  int year = 0;
  if (match_name(&p, wk_long, 7, 0) < 0 && match_name(&p, wk_short, 7, 3) < 0)
    return false;
  if (read_char(&p, ',')) {
    if (!read_char(&p, ' ') || !read_int(&p, 1, 2, &tm.tm_mday))
      return false;
    if (read_char(&p, '-')) {
      /* RFC 850: 06-Nov-94; a two-digit year more than 50 years ahead of
       * now belongs to the century before (RFC 9110). */
      int yy;
      if ((tm.tm_mon = match_name(&p, months, 12, 3)) < 0 || !read_char(&p, '-') ||
          !read_int(&p, 2, 2, &yy))
        return false;
      time_t now_s = (time_t)(now_unix_ms / 1000);
      struct tm now_tm;
      if (!gmtime_r(&now_s, &now_tm))
        return false;
      int cur = now_tm.tm_year + 1900;
      year = cur / 100 * 100 + yy;
      if (year > cur + 50)
        year -= 100;
    } else {
      /* IMF-fixdate: 06 Nov 1994 */
      if (!read_char(&p, ' ') || (tm.tm_mon = match_name(&p, months, 12, 3)) < 0 ||
          !read_char(&p, ' ') || !read_int(&p, 4, 4, &year))
        return false;
    }
    if (!read_char(&p, ' ') || !read_time(&p, &tm) || !read_char(&p, ' ') || !read_gmt(&p))
      return false;
  } else {
    /* asctime: "Sun Nov  6 08:49:37 1994" (day padded with a space) */
    if (!read_char(&p, ' ') || (tm.tm_mon = match_name(&p, months, 12, 3)) < 0 ||
        !read_char(&p, ' '))
      return false;
    read_char(&p, ' ');
    if (!read_int(&p, 1, 2, &tm.tm_mday) || !read_char(&p, ' ') || !read_time(&p, &tm) ||
        !read_char(&p, ' ') || !read_int(&p, 4, 4, &year))
      return false;
  }
  if (*skip_ws(p))
    return false;
  if (tm.tm_mday < 1 || tm.tm_mday > days_in_month(year, tm.tm_mon))
    return false;
  tm.tm_year = year - 1900;
  *out_sec = (int64_t)timegm(&tm);
  return true;
}

int tern_retry_after_parse(const char *value, int64_t now_unix_ms, tern_usec_t *out) {
  if (!value || !out)
    return TERN_EINVAL;
  const char *p = skip_ws(value);
  if (isdigit((unsigned char)*p) || *p == '.' || *p == '-' || *p == '+')
    return parse_scaled(p, NS_PER_SEC, out);
  int64_t when;
  if (!parse_http_date(p, now_unix_ms, &when))
    return TERN_EINVAL;
  const int64_t max_s = TERN_RETRY_AFTER_MAX / TERN_USEC_PER_SEC;
  int64_t now_s = now_unix_ms / 1000;
  if (when - now_s > max_s) {
    *out = TERN_RETRY_AFTER_MAX;
    return 0;
  }
  int64_t delta_ms = when * 1000 - now_unix_ms;
  *out = delta_ms > 0 ? delta_ms * TERN_USEC_PER_MS : 0;
  return 0;
}

int tern_retry_after_from_headers(const char *retry_after_ms, const char *retry_after,
                                  int64_t now_unix_ms, tern_usec_t *out) {
  if (!out)
    return TERN_EINVAL;
  if (retry_after_ms && tern_retry_after_ms_parse(retry_after_ms, out) == 0)
    return 0;
  if (retry_after && tern_retry_after_parse(retry_after, now_unix_ms, out) == 0)
    return 0;
  return TERN_ENOENT;
}
