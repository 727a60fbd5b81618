/* Error taxonomy: HTTP statuses, curl codes, provider bodies, safe
 * messages and Retry-After parsing. */
#include "testutil.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/log.h"
#include "tern/taxonomy.h"

#define SECRET "s3cr3t-registered-value-42"

/* A message a person or a log may see: short, one line, valid UTF-8. */
static void assert_safe_message(const char *m) {
  size_t n = strlen(m);
  assert_true(n > 0);
  assert_true(n < TERN_ERROR_MESSAGE_MAX);
  const unsigned char *s = (const unsigned char *)m;
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    assert_false(c < 0x20 || c == 0x7F);
    size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    assert_true(c < 0x80 || c >= 0xC2);
    assert_true(i + len <= n);
    for (size_t k = 1; k < len; k++)
      assert_true((s[i + k] & 0xC0) == 0x80);
    i += len;
  }
  assert_null(strstr(m, "s3cr3t"));
  assert_null(strstr(m, "<html"));
  assert_null(strstr(m, "<HTML"));
}

static void test_names_round_trip(void **state) {
  (void)state;
  for (int c = 0; c < TERN_COMP__COUNT; c++) {
    tern_component_t out;
    assert_int_equal(tern_component_parse(tern_component_name((tern_component_t)c), &out), 0);
    assert_int_equal(out, c);
  }
  for (int k = 0; k < TERN_KIND__COUNT; k++) {
    tern_kind_t out;
    assert_int_equal(tern_kind_parse(tern_kind_name((tern_kind_t)k), &out), 0);
    assert_int_equal(out, k);
  }
  assert_string_equal(tern_kind_name(TERN_KIND_RATE_LIMITED), "rate_limited");
  assert_string_equal(tern_component_name(TERN_COMP_TTS), "tts");
  tern_kind_t k;
  assert_int_equal(tern_kind_parse("ratelimited", &k), TERN_EINVAL);
  assert_int_equal(tern_kind_parse(NULL, &k), TERN_EINVAL);
}

static void test_kind_defaults(void **state) {
  (void)state;
  static const struct {
    tern_kind_t k;
    bool retryable, recoverable;
  } t[] = {
      {TERN_KIND_TIMEOUT, true, true},         {TERN_KIND_STALLED, true, true},
      {TERN_KIND_CONNECTION, true, true},      {TERN_KIND_RATE_LIMITED, true, true},
      {TERN_KIND_QUOTA, false, false},         {TERN_KIND_SERVER, true, true},
      {TERN_KIND_AUTH, false, false},          {TERN_KIND_INVALID_REQUEST, false, true},
      {TERN_KIND_CONTEXT_LENGTH, false, true}, {TERN_KIND_BAD_RESPONSE, false, true},
      {TERN_KIND_CANCELLED, false, true},      {TERN_KIND_OVERLOADED, true, true},
      {TERN_KIND_UNAVAILABLE, false, true},
  };
  assert_int_equal(sizeof t / sizeof t[0], TERN_KIND__COUNT);
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    assert_int_equal(tern_kind_retryable(t[i].k), t[i].retryable);
    assert_int_equal(tern_kind_recoverable(t[i].k), t[i].recoverable);
  }
}

static void test_error_init(void **state) {
  (void)state;
  tern_error_t e;
  tern_error_init(&e, TERN_COMP_LLM, TERN_KIND_TIMEOUT, "openai");
  assert_int_equal(e.component, TERN_COMP_LLM);
  assert_int_equal(e.kind, TERN_KIND_TIMEOUT);
  assert_int_equal(e.http_status, 0);
  assert_int_equal(e.retry_after, -1);
  assert_true(e.retryable);
  assert_true(e.recoverable);
  assert_string_equal(e.provider, "openai");
  assert_safe_message(e.message);

  tern_error_init(&e, TERN_COMP_TTS, TERN_KIND_SERVER, NULL);
  assert_string_equal(e.provider, "unknown");
  tern_error_init(&e, TERN_COMP_TTS, TERN_KIND_SERVER,
                  "a-provider-name-that-is-much-longer-than-thirty-two-bytes");
  assert_int_equal(strlen(e.provider), TERN_ERROR_PROVIDER_MAX - 1);
  /* A configuration error cannot fix itself, whatever its kind. */
  tern_error_init(&e, TERN_COMP_CONFIG, TERN_KIND_INVALID_REQUEST, "cfg");
  assert_false(e.recoverable);
}

static void test_set_message_formats_and_redacts(void **state) {
  (void)state;
  tern_error_t e;
  tern_error_init(&e, TERN_COMP_STT, TERN_KIND_SERVER, "deepgram");
  assert_int_equal(tern_error_set_message(&e, "code %d from %s", 42, "upstream"), 0);
  assert_string_equal(e.message, "code 42 from upstream");

  assert_int_equal(tern_secret_register(SECRET), 0);
  tern_error_set_message(&e, "key was %s, oops", SECRET);
  assert_safe_message(e.message);
  assert_non_null(strstr(e.message, "[REDACTED]"));
  tern_error_set_message(&e, "Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123");
  assert_null(strstr(e.message, "abcdefghijklmnop"));
  tern_error_set_message(&e, "bad key sk-proj-AbCdEfGhIjKlMnOpQrStUvWx given");
  assert_null(strstr(e.message, "AbCdEfGhIjKlMnOp"));

  /* A secret straddling the cut must not leave its first half. */
  char pad[1024];
  for (size_t off = 200; off < 270; off++) {
    memset(pad, 'x', off);
    pad[off] = '\0';
    tern_error_set_message(&e, "%s %s tail", pad, SECRET);
    assert_safe_message(e.message);
  }
  /* Long text goes through a heap buffer (> 512 bytes) and is cut. */
  memset(pad, 'y', 1000);
  pad[1000] = '\0';
  assert_int_equal(tern_error_set_message(&e, "%s%s", pad, SECRET), 0);
  assert_int_equal(strlen(e.message), TERN_ERROR_MESSAGE_MAX - 1);
  tern_secret_clear();

  /* Control characters and broken UTF-8 never reach the message. */
  tern_error_set_message(&e, "line1\nline2\r\t\x07 bell \xff\xfe end \xc3");
  assert_safe_message(e.message);
  assert_string_equal(e.message, "line1 line2 bell ?? end ?");

  /* A multi-byte character cut by the limit is dropped whole. */
  char utf[600];
  size_t n = 0;
  while (n + 2 < sizeof utf - 1) {
    utf[n++] = '\xc3';
    utf[n++] = '\xa9'; /* é */
  }
  utf[n] = '\0';
  tern_error_set_message(&e, "%s", utf);
  assert_safe_message(e.message);
  assert_int_equal(strlen(e.message), TERN_ERROR_MESSAGE_MAX - 2);

  /* Out of memory for a long text: the generic message, never a crash. */
  tern_alloc_fail_after(0, 1);
  int rc = tern_error_set_message(&e, "%s", pad);
  tern_alloc_fail_after(-1, 0);
  assert_int_equal(rc, TERN_ENOMEM);
  assert_string_equal(e.message, "the provider had a server error");
  assert_int_equal(tern_error_set_message(&e, NULL), TERN_EINVAL);
  assert_int_equal(tern_error_set_message(NULL, "x"), TERN_EINVAL);
}

static void test_http_status_table(void **state) {
  (void)state;
  static const struct {
    int status;
    tern_kind_t kind;
    bool retryable;
    bool recoverable;
  } t[] = {
      {400, TERN_KIND_INVALID_REQUEST, false, true}, {404, TERN_KIND_INVALID_REQUEST, false, true},
      {405, TERN_KIND_INVALID_REQUEST, false, true}, {413, TERN_KIND_INVALID_REQUEST, false, true},
      {418, TERN_KIND_INVALID_REQUEST, false, true}, {422, TERN_KIND_INVALID_REQUEST, false, true},
      {401, TERN_KIND_AUTH, false, false},           {403, TERN_KIND_AUTH, false, false},
      {407, TERN_KIND_AUTH, false, false},           {402, TERN_KIND_QUOTA, false, false},
      {408, TERN_KIND_TIMEOUT, true, true},          {409, TERN_KIND_SERVER, true, true},
      {425, TERN_KIND_SERVER, true, true},           {429, TERN_KIND_RATE_LIMITED, true, true},
      {499, TERN_KIND_CANCELLED, false, true},       {500, TERN_KIND_SERVER, true, true},
      {501, TERN_KIND_INVALID_REQUEST, false, true}, {502, TERN_KIND_SERVER, true, true},
      {503, TERN_KIND_OVERLOADED, true, true},       {504, TERN_KIND_TIMEOUT, true, true},
      {529, TERN_KIND_OVERLOADED, true, true},       {599, TERN_KIND_SERVER, true, true},
      {200, TERN_KIND_BAD_RESPONSE, false, true},    {302, TERN_KIND_BAD_RESPONSE, false, true},
      {0, TERN_KIND_BAD_RESPONSE, false, true},      {-1, TERN_KIND_BAD_RESPONSE, false, true},
      {1000, TERN_KIND_BAD_RESPONSE, false, true},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    tern_error_t e;
    assert_int_equal(tern_error_from_http(&e, TERN_COMP_LLM, "p", t[i].status), 0);
    if (e.kind != t[i].kind)
      fail_msg("HTTP %d gave %s", t[i].status, tern_kind_name(e.kind));
    assert_int_equal(e.retryable, t[i].retryable);
    assert_int_equal(e.recoverable, t[i].recoverable);
    assert_int_equal(e.retry_after, -1);
    assert_safe_message(e.message);
    if (t[i].status >= 100 && t[i].status <= 599) {
      char want[32];
      snprintf(want, sizeof want, "(HTTP %d)", t[i].status);
      assert_non_null(strstr(e.message, want));
      assert_int_equal(e.http_status, t[i].status);
    }
  }
  tern_error_t e;
  tern_error_from_http(&e, TERN_COMP_LLM, "p", 429);
  assert_string_equal(e.message, "the provider is rate limiting requests (HTTP 429)");
  assert_int_equal(tern_error_from_http(NULL, TERN_COMP_LLM, "p", 429), TERN_EINVAL);
}

static void test_curl_table(void **state) {
  (void)state;
  static const struct {
    CURLcode code;
    tern_kind_t kind;
    bool retryable;
    bool recoverable;
  } t[] = {
      {CURLE_OPERATION_TIMEDOUT, TERN_KIND_TIMEOUT, true, true},
      {CURLE_COULDNT_CONNECT, TERN_KIND_CONNECTION, true, true},
      {CURLE_COULDNT_RESOLVE_HOST, TERN_KIND_CONNECTION, true, true},
      {CURLE_COULDNT_RESOLVE_PROXY, TERN_KIND_CONNECTION, true, true},
      {CURLE_SEND_ERROR, TERN_KIND_CONNECTION, true, true},
      {CURLE_RECV_ERROR, TERN_KIND_CONNECTION, true, true},
      {CURLE_GOT_NOTHING, TERN_KIND_CONNECTION, true, true},
      {CURLE_PARTIAL_FILE, TERN_KIND_CONNECTION, true, true},
      {CURLE_HTTP2_STREAM, TERN_KIND_CONNECTION, true, true},
      {CURLE_SSL_CONNECT_ERROR, TERN_KIND_CONNECTION, true, true},
      {CURLE_PEER_FAILED_VERIFICATION, TERN_KIND_CONNECTION, false, false},
      {CURLE_SSL_CACERT_BADFILE, TERN_KIND_CONNECTION, false, false},
      {CURLE_SSL_CERTPROBLEM, TERN_KIND_CONNECTION, false, false},
      {CURLE_SSL_PINNEDPUBKEYNOTMATCH, TERN_KIND_CONNECTION, false, false},
      {CURLE_ABORTED_BY_CALLBACK, TERN_KIND_CANCELLED, false, true},
      {CURLE_WRITE_ERROR, TERN_KIND_CANCELLED, false, true},
      {CURLE_READ_ERROR, TERN_KIND_CANCELLED, false, true},
      {CURLE_TOO_MANY_REDIRECTS, TERN_KIND_BAD_RESPONSE, false, true},
      {CURLE_WEIRD_SERVER_REPLY, TERN_KIND_BAD_RESPONSE, false, true},
      {CURLE_BAD_CONTENT_ENCODING, TERN_KIND_BAD_RESPONSE, false, true},
      {CURLE_LOGIN_DENIED, TERN_KIND_AUTH, false, false},
      {CURLE_URL_MALFORMAT, TERN_KIND_INVALID_REQUEST, false, false},
      {CURLE_UNSUPPORTED_PROTOCOL, TERN_KIND_INVALID_REQUEST, false, false},
      {CURLE_AGAIN, TERN_KIND_CONNECTION, true, true},
      {(CURLcode)9999, TERN_KIND_CONNECTION, true, true}, /* unknown: assume the link */
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    tern_error_t e;
    assert_int_equal(tern_error_from_curl(&e, TERN_COMP_TTS, "eleven", (int)t[i].code), 0);
    if (e.kind != t[i].kind)
      fail_msg("curl %d gave %s", (int)t[i].code, tern_kind_name(e.kind));
    assert_int_equal(e.retryable, t[i].retryable);
    assert_int_equal(e.recoverable, t[i].recoverable);
    assert_int_equal(e.http_status, 0);
    assert_string_equal(e.provider, "eleven");
    assert_safe_message(e.message);
    assert_null(strstr(e.message, "CURL"));
  }
  tern_error_t e;
  tern_error_from_curl(&e, TERN_COMP_TTS, "x", CURLE_COULDNT_CONNECT);
  assert_string_equal(e.message, "could not connect to the provider");
  assert_int_equal(tern_error_from_curl(&e, TERN_COMP_TTS, "x", CURLE_OK), TERN_EINVAL);
}

typedef struct body_case {
  const char *name;
  int status;
  const char *body;
  tern_kind_t kind;
  const char *quote; /* must appear in the message; NULL: the generic text only */
} body_case_t;

static const body_case_t bodies[] = {
    {"openai context", 400,
     "{\"error\":{\"message\":\"This model's maximum context length is 128000 tokens.\","
     "\"type\":\"invalid_request_error\",\"param\":\"messages\",\"code\":\"context_length_"
     "exceeded\"}}",
     TERN_KIND_CONTEXT_LENGTH, "maximum context length is 128000"},
    {"openai rate", 429,
     "{\"error\":{\"message\":\"Rate limit reached for gpt-4o\",\"type\":\"requests\","
     "\"code\":\"rate_limit_exceeded\"}}",
     TERN_KIND_RATE_LIMITED, "Rate limit reached"},
    {"openai quota on 429", 429,
     "{\"error\":{\"message\":\"You exceeded your current quota.\",\"type\":"
     "\"insufficient_quota\",\"code\":\"insufficient_quota\"}}",
     TERN_KIND_QUOTA, "exceeded your current quota"},
    {"openai bad key", 401,
     "{\"error\":{\"message\":\"Incorrect API key provided: sk-proj-AbCdEfGhIjKlMnOpQrSt.\","
     "\"type\":\"invalid_request_error\",\"code\":\"invalid_api_key\"}}",
     TERN_KIND_AUTH, "Incorrect API key provided"},
    {"openai invalid type only", 400,
     "{\"error\":{\"message\":\"Invalid value for 'temperature'\",\"type\":"
     "\"invalid_request_error\",\"code\":null}}",
     TERN_KIND_INVALID_REQUEST, "Invalid value for 'temperature'"},
    {"openai weak type keeps status", 401,
     "{\"error\":{\"message\":\"nope\",\"type\":\"invalid_request_error\"}}", TERN_KIND_AUTH,
     "nope"},
    {"openai server", 500,
     "{\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}",
     TERN_KIND_SERVER, "The server had an error"},
    {"openai numeric code", 400,
     "{\"error\":{\"message\":\"bad\",\"type\":\"invalid_request_error\",\"code\":400}}",
     TERN_KIND_INVALID_REQUEST, "bad"},
    {"anthropic overloaded", 529,
     "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}",
     TERN_KIND_OVERLOADED, "Overloaded"},
    {"anthropic overloaded on 500", 500,
     "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}",
     TERN_KIND_OVERLOADED, "Overloaded"},
    {"anthropic rate", 429,
     "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"Number of "
     "request tokens has exceeded your per-minute rate limit\"}}",
     TERN_KIND_RATE_LIMITED, "per-minute rate limit"},
    {"anthropic auth", 401,
     "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":\"invalid "
     "x-api-key\"}}",
     TERN_KIND_AUTH, "x-api-key"},
    {"anthropic permission", 403,
     "{\"type\":\"error\",\"error\":{\"type\":\"permission_error\",\"message\":\"no access\"}}",
     TERN_KIND_AUTH, "no access"},
    {"anthropic prompt too long", 400,
     "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"prompt is "
     "too long: 210000 tokens > 200000 maximum\"}}",
     TERN_KIND_CONTEXT_LENGTH, "prompt is too long"},
    {"anthropic credit", 400,
     "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"Your "
     "credit balance is too low to access the Anthropic API.\"}}",
     TERN_KIND_QUOTA, "credit balance"},
    {"anthropic api error", 500,
     "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"Internal server "
     "error\"}}",
     TERN_KIND_SERVER, "Internal server error"},
    {"anthropic not found", 404,
     "{\"type\":\"error\",\"error\":{\"type\":\"not_found_error\",\"message\":\"model: "
     "claude-9\"}}",
     TERN_KIND_INVALID_REQUEST, "claude-9"},
    {"anthropic too large", 413,
     "{\"type\":\"error\",\"error\":{\"type\":\"request_too_large\",\"message\":\"Request "
     "exceeds the maximum allowed number of bytes.\"}}",
     TERN_KIND_INVALID_REQUEST, "maximum allowed number of bytes"},
    {"anthropic top-level message", 529,
     "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"},\"message\":\"busy now\"}",
     TERN_KIND_OVERLOADED, "busy now"},
    {"deepgram auth", 401,
     "{\"err_code\":\"INVALID_AUTH\",\"err_msg\":\"Invalid credentials.\",\"request_id\":\"r\"}",
     TERN_KIND_AUTH, "Invalid credentials."},
    {"deepgram payment", 402,
     "{\"err_code\":\"ASR_PAYMENT_REQUIRED\",\"err_msg\":\"Project does not have enough "
     "credits\"}",
     TERN_KIND_QUOTA, "enough credits"},
    {"deepgram category", 400,
     "{\"category\":\"INVALID_QUERY_PARAMETER\",\"message\":\"Invalid query string.\","
     "\"details\":\"model\"}",
     TERN_KIND_INVALID_REQUEST, "Invalid query string."},
    {"deepgram category auth on 400", 400,
     "{\"category\":\"INSUFFICIENT_PERMISSIONS\",\"message\":\"Key lacks scope\"}", TERN_KIND_AUTH,
     "Key lacks scope"},
    {"deepgram websocket rate", 0,
     "{\"err_code\":\"TOO_MANY_REQUESTS\",\"err_msg\":\"Too many requests\"}",
     TERN_KIND_RATE_LIMITED, "Too many requests"},
    {"deepgram websocket no audio", 0,
     "{\"type\":\"Error\",\"err_code\":\"NET-0001\",\"err_msg\":\"no audio received\"}",
     TERN_KIND_TIMEOUT, "no audio received"},
    {"elevenlabs quota on 401", 401,
     "{\"detail\":{\"status\":\"quota_exceeded\",\"message\":\"This request exceeds your "
     "quota. You have 3 credits remaining.\"}}",
     TERN_KIND_QUOTA, "exceeds your quota"},
    {"elevenlabs bad key", 401,
     "{\"detail\":{\"status\":\"invalid_api_key\",\"message\":\"Invalid API key\"}}",
     TERN_KIND_AUTH, "Invalid API key"},
    {"elevenlabs concurrency", 429,
     "{\"detail\":{\"status\":\"too_many_concurrent_requests\",\"message\":\"Too many "
     "concurrent requests\"}}",
     TERN_KIND_RATE_LIMITED, "concurrent requests"},
    {"elevenlabs busy", 429,
     "{\"detail\":{\"status\":\"system_busy\",\"message\":\"We are experiencing heavy "
     "traffic\"}}",
     TERN_KIND_OVERLOADED, "heavy traffic"},
    {"elevenlabs plain detail", 400, "{\"detail\":\"Voice not ready\"}", TERN_KIND_INVALID_REQUEST,
     "Voice not ready"},
    {"fastapi validation", 422,
     "{\"detail\":[{\"loc\":[\"body\",\"text\"],\"msg\":\"field required\",\"type\":\"value_"
     "error.missing\"}]}",
     TERN_KIND_INVALID_REQUEST, "field required"},
    {"ollama string error", 404, "{\"error\":\"model 'llama9' not found\"}",
     TERN_KIND_INVALID_REQUEST, "model 'llama9' not found"},
    {"vllm context", 400,
     "{\"object\":\"error\",\"message\":\"This model's maximum context length is 4096 "
     "tokens.\",\"type\":\"BadRequestError\",\"param\":null,\"code\":400}",
     TERN_KIND_CONTEXT_LENGTH, "4096 tokens"},
    {"websocket unknown", 0, "{\"message\":\"something odd\"}", TERN_KIND_SERVER, "something odd"},
    {"websocket weak code decides", 0,
     "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"bad "
     "voice\"}}",
     TERN_KIND_INVALID_REQUEST, "bad voice"},
    {"strong code on 200", 200,
     "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}",
     TERN_KIND_OVERLOADED, "Overloaded"},
    {"malformed json", 500, "{\"error\": {\"message\": \"oops", TERN_KIND_SERVER, NULL},
    {"html page", 502,
     "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad "
     "Gateway</h1></center><hr><center>nginx</center></body></html>",
     TERN_KIND_SERVER, NULL},
    {"json array", 503, "[1,2,3]", TERN_KIND_OVERLOADED, NULL},
    {"json string", 429, "\"slow down\"", TERN_KIND_RATE_LIMITED, NULL},
    {"empty body", 504, "", TERN_KIND_TIMEOUT, NULL},
    {"unknown shape", 400, "{\"foo\":{\"bar\":1}}", TERN_KIND_INVALID_REQUEST, NULL},
};

static void test_provider_bodies(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
    const body_case_t *c = &bodies[i];
    tern_error_t e;
    assert_int_equal(
        tern_error_from_response(&e, TERN_COMP_LLM, "prov", c->status, c->body, strlen(c->body)),
        0);
    if (e.kind != c->kind)
      fail_msg("%s: kind %s", c->name, tern_kind_name(e.kind));
    assert_int_equal(e.retryable, tern_kind_retryable(c->kind));
    assert_int_equal(e.recoverable, tern_kind_recoverable(c->kind));
    assert_safe_message(e.message);
    if (c->quote && !strstr(e.message, c->quote))
      fail_msg("%s: message \"%s\" lacks \"%s\"", c->name, e.message, c->quote);
    if (!c->quote) {
      char want[TERN_ERROR_MESSAGE_MAX];
      tern_error_t h;
      tern_error_from_http(&h, TERN_COMP_LLM, "prov", c->status);
      snprintf(want, sizeof want, "%s", h.message);
      assert_string_equal(e.message, want);
    }
    assert_null(strstr(e.message, "Bad Gateway"));
    assert_null(strstr(e.message, "AbCdEfGhIjKlMnOp")); /* the sk- key in "openai bad key" */
  }
  tern_error_t e;
  assert_int_equal(tern_error_from_response(&e, TERN_COMP_LLM, "p", 500, NULL, 0), 0);
  assert_int_equal(e.kind, TERN_KIND_SERVER);
  assert_int_equal(tern_error_from_response(NULL, TERN_COMP_LLM, "p", 500, "{}", 2), TERN_EINVAL);
}

static void test_body_messages_are_cut_cleaned_and_redacted(void **state) {
  (void)state;
  assert_int_equal(tern_secret_register(SECRET), 0);
  tern_error_t e;
  char *body = malloc(300000);
  assert_non_null(body);

  /* A long provider message is quoted only in part: about 200 bytes. */
  int n = snprintf(body, 300000, "{\"error\":{\"message\":\"");
  for (int i = 0; i < 10000; i++)
    body[n++] = (char)('a' + i % 26);
  n += snprintf(body + n, 300000 - (size_t)n, "\",\"type\":\"server_error\"}}");
  assert_int_equal(tern_error_from_response(&e, TERN_COMP_LLM, "p", 500, body, (size_t)n), 0);
  assert_safe_message(e.message);
  const char *q = strstr(e.message, "abcdefghij");
  assert_non_null(q);
  assert_true(strlen(q) <= 200);

  /* A registered secret anywhere in the provider message, even where the
   * cut falls, never shows, not even in part. */
  char pad[256];
  for (int off = 150; off < 230; off += 7) {
    memset(pad, 'w', (size_t)off);
    pad[off] = '\0';
    n = snprintf(body, 300000, "{\"error\":{\"message\":\"%s%s and more\"}}", pad, SECRET);
    tern_error_from_response(&e, TERN_COMP_LLM, "p", 400, body, (size_t)n);
    assert_safe_message(e.message);
  }

  /* Escaped control characters (C0 and C1) in the JSON. */
  n = snprintf(body, 300000,
               "{\"error\":{\"message\":\"first\\nsecond\\u0001\\u001b[31mred\\u0085 "
               "\\u00e9t\\u00e9\"}}");
  tern_error_from_response(&e, TERN_COMP_LLM, "p", 400, body, (size_t)n);
  assert_safe_message(e.message);
  assert_non_null(strstr(e.message, "first second"));
  assert_non_null(strstr(e.message, "\xc3\xa9t\xc3\xa9"));

  /* A huge HTML page: never parsed, never quoted. */
  n = snprintf(body, 300000, "<html><body>");
  while (n < 250000)
    n += snprintf(body + n, 300000 - (size_t)n, "<p>error %s</p>", SECRET);
  tern_error_from_response(&e, TERN_COMP_TTS, "p", 503, body, (size_t)n);
  assert_string_equal(e.message, "the provider is overloaded (HTTP 503)");

  /* A huge JSON body is not parsed either: the status decides. */
  n = snprintf(body, 300000, "{\"error\":{\"message\":\"");
  while (n < 200000)
    body[n++] = 'z';
  n += snprintf(body + n, 300000 - (size_t)n, "\",\"code\":\"insufficient_quota\"}}");
  tern_error_from_response(&e, TERN_COMP_LLM, "p", 429, body, (size_t)n);
  assert_int_equal(e.kind, TERN_KIND_RATE_LIMITED);
  assert_null(strstr(e.message, "zzz"));

  /* Out of memory at any allocation (jansson allocates through the same
   * hook): never an error or a crash, always a safe message; the status
   * decides when the body could not be parsed, the body when it could. */
  n = snprintf(body, 300000,
               "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":"
               "\"Overloaded\"}}");
  for (long k = 0;; k++) {
    tern_alloc_fail_after(k, 1);
    int rc = tern_error_from_response(&e, TERN_COMP_LLM, "p", 500, body, (size_t)n);
    long failed = tern_alloc_failures();
    tern_alloc_fail_after(-1, 0);
    assert_int_equal(rc, 0);
    assert_safe_message(e.message);
    assert_true(e.kind == TERN_KIND_OVERLOADED || e.kind == TERN_KIND_SERVER);
    if (failed == 0) {
      assert_int_equal(e.kind, TERN_KIND_OVERLOADED);
      assert_string_equal(e.message, "the provider is overloaded (HTTP 500): Overloaded");
      break;
    }
    assert_null(strstr(e.message, "Overloaded"));
    assert_true(k < 1000);
  }

  free(body);
  tern_secret_clear();
}

/* ---- Retry-After ---- */

static int64_t unix_of(int y, int mo, int d, int h, int mi, int s) {
  struct tm tm = {0};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return (int64_t)timegm(&tm);
}

static void test_retry_after_table(void **state) {
  (void)state;
  /* 1994-11-06 08:49:37 GMT was a Sunday. */
  const int64_t t94 = unix_of(1994, 11, 6, 8, 49, 37);
  const int64_t now25 = unix_of(2025, 3, 1, 12, 0, 0) * 1000;
  static const int INVAL = 1;
  struct {
    const char *v;
    int64_t now_ms;
    int rc; /* 0 or INVAL */
    tern_usec_t want;
  } t[] = {
      {"120", 0, 0, TERN_SEC(120)},
      {"  120\t", 0, 0, TERN_SEC(120)},
      {"0", 0, 0, 0},
      {"1.5", 0, 0, TERN_MS(1500)},
      {"0.25", 0, 0, TERN_MS(250)},
      {"2.", 0, 0, TERN_SEC(2)},
      {".5", 0, 0, TERN_MS(500)},
      {"0.0000001", 0, 0, 0},
      {"-3", 0, 0, 0},
      {"99999999999999999999999", 0, 0, TERN_RETRY_AFTER_MAX},
      {"Sun, 06 Nov 1994 08:49:37 GMT", (t94 - 30) * 1000, 0, TERN_SEC(30)},
      {"Sun, 06 Nov 1994 08:49:37 GMT", t94 * 1000 - 250, 0, TERN_MS(250)},
      {"Sun, 06 Nov 1994 08:49:37 GMT", t94 * 1000 + 1, 0, 0},
      {"Sun, 06 Nov 1994 08:49:37 GMT", now25, 0, 0},
      {"Sunday, 06-Nov-94 08:49:37 GMT", (t94 - 90) * 1000, 0, TERN_SEC(90)},
      {"Sun Nov  6 08:49:37 1994", (t94 - 5) * 1000, 0, TERN_SEC(5)},
      {"Sun Nov 16 08:49:37 1994", (t94 - 5) * 1000, 0, TERN_SEC(5 + 10 * 86400)},
      {"Sat, 01 Mar 2025 12:00:02 GMT", now25, 0, TERN_SEC(2)},
      /* two-digit years: 27 is 2027 seen from 2025, 94 is 1994 (past) */
      {"Monday, 01-Mar-27 12:00:00 GMT", now25, 0,
       TERN_SEC(unix_of(2027, 3, 1, 12, 0, 0) - now25 / 1000)},
      {"Sunday, 06-Nov-94 08:49:37 GMT", now25, 0, 0},
      {"Sat, 29 Feb 2028 00:00:00 GMT", now25, 0,
       TERN_SEC(unix_of(2028, 2, 29, 0, 0, 0) - now25 / 1000)},
      {"", 0, INVAL, 0},
      {"   ", 0, INVAL, 0},
      {"soon", 0, INVAL, 0},
      {"12abc", 0, INVAL, 0},
      {"1.2.3", 0, INVAL, 0},
      {"1 2", 0, INVAL, 0},
      {".", 0, INVAL, 0},
      {"-", 0, INVAL, 0},
      {"Sun, 06 Nov 1994 08:49:37", 0, INVAL, 0},
      {"Sun, 06 Nov 1994 08:49:37 GMT junk", 0, INVAL, 0},
      {"Sun, 31 Feb 1994 08:49:37 GMT", 0, INVAL, 0},
      {"Sat, 29 Feb 2025 00:00:00 GMT", 0, INVAL, 0},
      {"Sun, 06 Nov 1994 24:00:00 GMT", 0, INVAL, 0},
      {"Sun, 06 Xyz 1994 08:49:37 GMT", 0, INVAL, 0},
      {"Sun, 06 Nov 94 08:49:37 GMT", 0, INVAL, 0},
      {"Funday, 06-Nov-94 08:49:37 GMT", 0, INVAL, 0},
      {"Sun Nov  6 08:49:37", 0, INVAL, 0},
      {"Sun Nov  6 8:49:37 1994", 0, INVAL, 0},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    tern_usec_t out = -42;
    int rc = tern_retry_after_parse(t[i].v, t[i].now_ms, &out);
    if (t[i].rc == INVAL) {
      if (rc != TERN_EINVAL)
        fail_msg("\"%s\" accepted as %lld", t[i].v, (long long)out);
      assert_int_equal(out, -42);
    } else {
      if (rc != 0 || out != t[i].want)
        fail_msg("\"%s\": rc %d out %lld want %lld", t[i].v, rc, (long long)out,
                 (long long)t[i].want);
    }
  }
  tern_usec_t out;
  assert_int_equal(tern_retry_after_parse(NULL, 0, &out), TERN_EINVAL);
}

static void test_retry_after_ms_and_durations(void **state) {
  (void)state;
  tern_usec_t out;
  assert_int_equal(tern_retry_after_ms_parse("1500", &out), 0);
  assert_int_equal(out, TERN_MS(1500));
  assert_int_equal(tern_retry_after_ms_parse("20.5", &out), 0);
  assert_int_equal(out, 20500);
  assert_int_equal(tern_retry_after_ms_parse("x", &out), TERN_EINVAL);
  assert_int_equal(tern_retry_after_ms_parse("10ms", &out), TERN_EINVAL);

  static const struct {
    const char *v;
    int rc;
    tern_usec_t want;
  } d[] = {
      {"1s", 0, TERN_SEC(1)},
      {"6m0s", 0, TERN_SEC(360)},
      {"20ms", 0, TERN_MS(20)},
      {"1h2m3.5s", 0, TERN_SEC(3723) + TERN_MS(500)},
      {"250us", 0, 250},
      {"250\xc2\xb5s", 0, 250},
      {"1500ns", 0, 1},
      {"0.5m", 0, TERN_SEC(30)},
      {"0", 0, 0},
      {" 2s ", 0, TERN_SEC(2)},
      {"", TERN_EINVAL, 0},
      {"5", TERN_EINVAL, 0},
      {"1x", TERN_EINVAL, 0},
      {"1s2", TERN_EINVAL, 0},
      {"s", TERN_EINVAL, 0},
      {"1s 2s", TERN_EINVAL, 0},
      {"-1s", TERN_EINVAL, 0},
  };
  for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
    out = -42;
    int rc = tern_duration_parse(d[i].v, &out);
    if (rc != d[i].rc || (rc == 0 && out != d[i].want))
      fail_msg("duration \"%s\": rc %d out %lld", d[i].v, rc, (long long)out);
  }

  assert_int_equal(tern_retry_after_from_headers("300", "5", 0, &out), 0);
  assert_int_equal(out, TERN_MS(300)); /* the precise header wins */
  assert_int_equal(tern_retry_after_from_headers("bogus", "5", 0, &out), 0);
  assert_int_equal(out, TERN_SEC(5));
  assert_int_equal(tern_retry_after_from_headers(NULL, "2", 0, &out), 0);
  assert_int_equal(out, TERN_SEC(2));
  assert_int_equal(tern_retry_after_from_headers(NULL, "later", 0, &out), TERN_ENOENT);
  assert_int_equal(tern_retry_after_from_headers(NULL, NULL, 0, &out), TERN_ENOENT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names_round_trip),
      cmocka_unit_test(test_kind_defaults),
      cmocka_unit_test(test_error_init),
      cmocka_unit_test(test_set_message_formats_and_redacts),
      cmocka_unit_test(test_http_status_table),
      cmocka_unit_test(test_curl_table),
      cmocka_unit_test(test_provider_bodies),
      cmocka_unit_test(test_body_messages_are_cut_cleaned_and_redacted),
      cmocka_unit_test(test_retry_after_table),
      cmocka_unit_test(test_retry_after_ms_and_durations),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
