/* Self-test of the fake provider server (tests/fakeprov/server.py) and its
 * C helper: the wire formats clients rely on, and that each scripted fault
 * shows up on the client side the way the real failure would. Provider
 * tests build on these guarantees. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "fakeprov.h"
#include "tern/error.h"
#include "testutil.h"

static fakeprov_t g_fp;
static int g_started;

typedef struct {
  CURLcode rc;
  long status;
  char *body;
  size_t len;
  char headers[4096];
} resp_t;

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  resp_t *r = ud;
  size_t add = size * n;
  char *d = realloc(r->body, r->len + add + 1);
  if (!d)
    return 0;
  memcpy(d + r->len, p, add);
  r->body = d;
  r->len += add;
  r->body[r->len] = '\0';
  return add;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  resp_t *r = ud;
  size_t have = strlen(r->headers), add = size * n;
  if (have + add < sizeof r->headers) {
    memcpy(r->headers + have, p, add);
    r->headers[have + add] = '\0';
  }
  return add;
}

/* POSTs body (JSON) to the fake with extra headers (NULL-terminated). */
static void post(const char *path, const char *body, const char *const *headers, long timeout_ms, resp_t *r) {
  memset(r, 0, sizeof *r);
  CURL *c = curl_easy_init();
  assert_non_null(c);
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
  for (int i = 0; headers && headers[i]; i++)
    h = curl_slist_append(h, headers[i]);
  curl_easy_setopt(c, CURLOPT_URL, fakeprov_url(&g_fp, path));
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
  r->rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
}

static void resp_free(resp_t *r) {
  free(r->body);
  r->body = NULL;
}

/* Value of a response header (case-insensitive name), in a static buffer. */
static const char *header(const resp_t *r, const char *name) {
  static char val[512];
  size_t n = strlen(name);
  for (const char *line = r->headers; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
      const char *v = line + n + 1;
      while (*v == ' ')
        v++;
      size_t len = strcspn(v, "\r\n");
      snprintf(val, sizeof val, "%.*s", (int)len, v);
      return val;
    }
  }
  return NULL;
}

static const char *const CHAT = "{\"model\":\"m\",\"stream\":true,\"messages\":"
                                "[{\"role\":\"system\",\"content\":\"be brief\"},"
                                "{\"role\":\"user\",\"content\":\"hello there\"}]}";

/* Walks an SSE body line by line; calls fn for each "data:" line with the
 * name from the "event:" line before it ("" when none). Returns the number
 * of data lines. Good enough for the fake's one-line data fields. */
static int sse_each(const char *body, void (*fn)(const char *ev, const char *data, void *ud), void *ud) {
  char ev[64] = "", line[8192];
  int n = 0;
  for (const char *p = body; p && *p;) {
    size_t len = strcspn(p, "\n");
    snprintf(line, sizeof line, "%.*s", (int)len, p);
    if (strncmp(line, "event: ", 7) == 0) {
      size_t m = strlen(line + 7) < sizeof ev - 1 ? strlen(line + 7) : sizeof ev - 1;
      memcpy(ev, line + 7, m);
      ev[m] = '\0';
    } else if (strncmp(line, "data: ", 6) == 0) {
      fn(ev, line + 6, ud);
      ev[0] = '\0';
      n++;
    }
    p = p[len] ? p + len + 1 : NULL;
  }
  return n;
}

typedef struct {
  char text[256];
  int done;
  int after_done;
  int chunks;
} openai_acc_t;

static void openai_event(const char *ev, const char *data, void *ud) {
  (void)ev;
  openai_acc_t *a = ud;
  if (a->done)
    a->after_done++;
  if (strcmp(data, "[DONE]") == 0) {
    a->done = 1;
    return;
  }
  json_t *v = json_loads(data, 0, NULL);
  assert_non_null(v);
  assert_string_equal(json_string_value(json_object_get(v, "object")), "chat.completion.chunk");
  json_t *delta = json_object_get(json_array_get(json_object_get(v, "choices"), 0), "delta");
  const char *piece = json_string_value(json_object_get(delta, "content"));
  if (piece)
    strncat(a->text, piece, sizeof a->text - strlen(a->text) - 1);
  a->chunks++;
  json_decref(v);
}

static int setup_each(void **state) {
  (void)state;
  if (g_started)
    assert_int_equal(fakeprov_reset(&g_fp), 0);
  return 0;
}

#define REQUIRE_SERVER()                                                                           \
  do {                                                                                             \
    if (!g_started) {                                                                              \
      fprintf(stderr, "skipped: the fake provider server needs python3\n");                        \
      skip();                                                                                      \
    }                                                                                              \
  } while (0)

static void test_openai_stream_is_sse_ending_with_done(void **state) {
  (void)state;
  REQUIRE_SERVER();
  resp_t r;
  post("/v1/chat/completions", CHAT, NULL, 10000, &r);
  assert_int_equal(r.rc, CURLE_OK);
  assert_int_equal(r.status, 200);
  assert_string_equal(header(&r, "Content-Type"), "text/event-stream");
  openai_acc_t acc = {0};
  sse_each(r.body, openai_event, &acc);
  assert_true(acc.done);
  assert_int_equal(acc.after_done, 0);
  assert_true(acc.chunks >= 4); /* the reply arrives in several tokens */
  assert_string_equal(acc.text, "You said: hello there");
  resp_free(&r);

  assert_int_equal(fakeprov_count(&g_fp, "openai.chat"), 1);
  char *last = fakeprov_last(&g_fp, "openai.chat", "last_user");
  assert_non_null(last);
  assert_string_equal(last, "hello there");
  free(last);
  last = fakeprov_last(&g_fp, "openai.chat", "messages.0.content");
  assert_non_null(last);
  assert_string_equal(last, "be brief");
  free(last);
  assert_null(fakeprov_last(&g_fp, "openai.stt", "model"));
}

static void test_scripted_429_comes_once_then_normal(void **state) {
  (void)state;
  REQUIRE_SERVER();
  assert_int_equal(fakeprov_script(&g_fp, "openai.chat", "[{\"status\":429,\"retry_after\":2}]"), 0);
  resp_t r;
  post("/v1/chat/completions", CHAT, NULL, 10000, &r);
  assert_int_equal(r.rc, CURLE_OK);
  assert_int_equal(r.status, 429);
  assert_non_null(header(&r, "Retry-After"));
  assert_string_equal(header(&r, "Retry-After"), "2");
  json_t *v = json_loads(r.body, 0, NULL);
  assert_non_null(v);
  assert_string_equal(json_string_value(json_object_get(json_object_get(v, "error"), "code")),
                      "rate_limit_exceeded");
  json_decref(v);
  resp_free(&r);

  post("/v1/chat/completions", CHAT, NULL, 10000, &r);
  assert_int_equal(r.rc, CURLE_OK);
  assert_int_equal(r.status, 200);
  assert_null(header(&r, "Retry-After"));
  resp_free(&r);
  assert_int_equal(fakeprov_count(&g_fp, "openai.chat"), 2);

  /* typos in a script fail loudly instead of silently doing nothing */
  assert_int_equal(fakeprov_script(&g_fp, "openai.chat", "[{\"stal_after_chunks\":1}]"), TERN_EINVAL);
  assert_int_equal(fakeprov_script(&g_fp, "openai.nope", "[]"), TERN_EINVAL);
}

static void test_reset_mid_stream_is_a_receive_error(void **state) {
  (void)state;
  REQUIRE_SERVER();
  assert_int_equal(fakeprov_script(&g_fp, "openai.chat", "[{\"reset_after_chunks\":2}]"), 0);
  resp_t r;
  post("/v1/chat/completions", CHAT, NULL, 10000, &r);
  assert_true(r.rc == CURLE_RECV_ERROR || r.rc == CURLE_PARTIAL_FILE);
  assert_int_equal(r.status, 200);
  assert_non_null(r.body);
  assert_null(strstr(r.body, "[DONE]"));
  resp_free(&r);
}

static void test_truncate_ends_cleanly_without_done(void **state) {
  (void)state;
  REQUIRE_SERVER();
  assert_int_equal(fakeprov_script(&g_fp, "openai.chat", "[{\"truncate_after_chunks\":3}]"), 0);
  resp_t r;
  post("/v1/chat/completions", CHAT, NULL, 10000, &r);
  assert_int_equal(r.rc, CURLE_OK);
  openai_acc_t acc = {0};
  assert_int_equal(sse_each(r.body, openai_event, &acc), 3);
  assert_false(acc.done);
  resp_free(&r);
}

static void test_stall_holds_the_stream_open(void **state) {
  (void)state;
  REQUIRE_SERVER();
  /* 1 s client timeout against a 30 s stall: a wide margin either way */
  assert_int_equal(fakeprov_script(&g_fp, "openai.chat", "[{\"stall_after_chunks\":1,\"stall_ms\":30000}]"), 0);
  resp_t r;
  post("/v1/chat/completions", CHAT, NULL, 1000, &r);
  assert_int_equal(r.rc, CURLE_OPERATION_TIMEDOUT);
  assert_int_equal(r.status, 200);
  assert_non_null(r.body); /* the first chunk did arrive */
  assert_null(strstr(r.body, "[DONE]"));
  resp_free(&r);
}

static void test_tts_length_is_proportional_to_text(void **state) {
  (void)state;
  REQUIRE_SERVER();
  const char *texts[] = {"Hi.", "Hello there, how are you?"};
  for (int i = 0; i < 2; i++) {
    char body[256];
    snprintf(body, sizeof body, "{\"model\":\"tts-1\",\"voice\":\"alloy\",\"input\":\"%s\",\"response_format\":\"pcm\"}",
             texts[i]);
    resp_t r;
    post("/v1/audio/speech", body, (const char *const[]){"Authorization: Bearer k", NULL}, 10000, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    /* 50 ms of 24 kHz PCM16 per character */
    assert_int_equal(r.len, strlen(texts[i]) * 1200 * 2);
    assert_string_equal(header(&r, "X-Fake-Text"), texts[i]);
    resp_free(&r);
    char *input = fakeprov_last(&g_fp, "openai.tts", "input");
    assert_non_null(input);
    assert_string_equal(input, texts[i]);
    free(input);
  }

  /* a required key turns a wrong one into the provider's 401 */
  assert_int_equal(fakeprov_key(&g_fp, "elevenlabs", "secret"), 0);
  resp_t r;
  const char *el = "{\"text\":\"Hi there\",\"model_id\":\"eleven_flash_v2_5\"}";
  post("/v1/text-to-speech/v1/stream?output_format=pcm_16000", el, (const char *const[]){"xi-api-key: wrong", NULL},
       10000, &r);
  assert_int_equal(r.status, 401);
  assert_non_null(strstr(r.body, "invalid_api_key"));
  resp_free(&r);
  post("/v1/text-to-speech/v1/stream?output_format=pcm_16000", el, (const char *const[]){"xi-api-key: secret", NULL},
       10000, &r);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.len, strlen("Hi there") * 800 * 2);
  resp_free(&r);
}

typedef struct {
  char seq[32][32];
  int n;
  char text[128];
} anth_acc_t;

static void anthropic_event(const char *ev, const char *data, void *ud) {
  anth_acc_t *a = ud;
  json_t *v = json_loads(data, 0, NULL);
  assert_non_null(v);
  assert_string_equal(json_string_value(json_object_get(v, "type")), ev); /* event name == data type */
  if (a->n < 32)
    snprintf(a->seq[a->n++], sizeof a->seq[0], "%s", ev);
  const char *t = json_string_value(json_object_get(json_object_get(v, "delta"), "text"));
  if (t)
    strncat(a->text, t, sizeof a->text - strlen(a->text) - 1);
  json_decref(v);
}

static void test_anthropic_stream_event_sequence(void **state) {
  (void)state;
  REQUIRE_SERVER();
  assert_int_equal(fakeprov_reply(&g_fp, "anthropic.messages", "Sure thing."), 0);
  const char *body = "{\"model\":\"claude\",\"max_tokens\":64,\"stream\":true,"
                     "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  const char *const hdrs[] = {"x-api-key: k", "anthropic-version: 2023-06-01", NULL};
  resp_t r;
  post("/v1/messages", body, hdrs, 10000, &r);
  assert_int_equal(r.rc, CURLE_OK);
  assert_int_equal(r.status, 200);
  anth_acc_t acc = {0};
  sse_each(r.body, anthropic_event, &acc);
  resp_free(&r);
  const char *want[] = {"message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta",
                        "content_block_stop", "message_delta", "message_stop"};
  assert_int_equal(acc.n, 8);
  for (int i = 0; i < 8; i++)
    assert_string_equal(acc.seq[i], want[i]);
  assert_string_equal(acc.text, "Sure thing.");

  /* no key header: Anthropic's error shape */
  post("/v1/messages", body, (const char *const[]){"anthropic-version: 2023-06-01", NULL}, 10000, &r);
  assert_int_equal(r.status, 401);
  json_t *v = json_loads(r.body, 0, NULL);
  assert_non_null(v);
  assert_string_equal(json_string_value(json_object_get(v, "type")), "error");
  assert_string_equal(json_string_value(json_object_get(json_object_get(v, "error"), "type")),
                      "authentication_error");
  json_decref(v);
  resp_free(&r);
}

/* ---- a minimal WebSocket client, enough to drive Deepgram's live API */

static int ws_send(int fd, int op, const void *data, size_t n) {
  unsigned char head[14];
  size_t h = 0;
  head[h++] = (unsigned char)(0x80 | op);
  if (n < 126) {
    head[h++] = (unsigned char)(0x80 | n);
  } else {
    head[h++] = 0x80 | 126;
    head[h++] = (unsigned char)(n >> 8);
    head[h++] = (unsigned char)n;
  }
  const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
  memcpy(head + h, mask, 4);
  h += 4;
  unsigned char *frame = malloc(h + n);
  if (!frame)
    return -1;
  memcpy(frame, head, h);
  for (size_t i = 0; i < n; i++)
    frame[h + i] = ((const unsigned char *)data)[i] ^ mask[i & 3];
  ssize_t w = send(fd, frame, h + n, MSG_NOSIGNAL);
  free(frame);
  return w == (ssize_t)(h + n) ? 0 : -1;
}

static int read_exact(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = recv(fd, (char *)buf + got, n - got, 0);
    if (r <= 0)
      return -1;
    got += (size_t)r;
  }
  return 0;
}

/* Reads one frame; returns its opcode (payload NUL-terminated in buf) or -1. */
static int ws_recv(int fd, char *buf, size_t cap) {
  unsigned char h[2];
  if (read_exact(fd, h, 2) != 0)
    return -1;
  size_t n = h[1] & 0x7F;
  if (n == 126) {
    unsigned char ext[2];
    if (read_exact(fd, ext, 2) != 0)
      return -1;
    n = ((size_t)ext[0] << 8) | ext[1];
  } else if (n == 127) {
    return -1;
  }
  if (n >= cap || read_exact(fd, buf, n) != 0)
    return -1;
  buf[n] = '\0';
  return h[0] & 0x0F;
}

static void test_deepgram_live_gives_final_transcript(void **state) {
  (void)state;
  REQUIRE_SERVER();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct timeval tv = {10, 0}; /* only a guard against hanging on a bug */
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_fp.ws_port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  const char *req = "GET /v1/listen?encoding=linear16&sample_rate=16000&channels=1&interim_results=true HTTP/1.1\r\n"
                    "Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                    "Authorization: Token k\r\n\r\n";
  assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
  char head[1024];
  size_t hl = 0;
  while (hl < sizeof head - 1 && (hl < 4 || memcmp(head + hl - 4, "\r\n\r\n", 4) != 0))
    assert_int_equal(read_exact(fd, head + hl++, 1), 0);
  head[hl] = '\0';
  assert_non_null(strstr(head, " 101 "));
  assert_non_null(strstr(head, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));

  /* 0.6 s of loud square wave, then 0.6 s of silence, in 20 ms frames */
  int16_t frame[320];
  for (int f = 0; f < 60; f++) {
    for (int i = 0; i < 320; i++)
      frame[i] = (int16_t)(f < 30 ? ((i / 20) % 2 ? 8000 : -8000) : 0);
    assert_int_equal(ws_send(fd, 2, frame, sizeof frame), 0);
  }
  const char *close_stream = "{\"type\":\"CloseStream\"}";
  assert_int_equal(ws_send(fd, 1, close_stream, strlen(close_stream)), 0);

  static char msg[65536];
  int finals = 0, interims = 0, metadata = 0, closed = 0, op;
  while ((op = ws_recv(fd, msg, sizeof msg)) >= 0) {
    if (op == 8) {
      closed = 1;
      ws_send(fd, 8, msg, 2);
      break;
    }
    json_t *v = json_loads(msg, 0, NULL);
    assert_non_null(v);
    const char *type = json_string_value(json_object_get(v, "type"));
    if (strcmp(type, "Metadata") == 0)
      metadata++;
    if (strcmp(type, "Results") == 0) {
      json_t *alt = json_array_get(json_object_get(json_object_get(v, "channel"), "alternatives"), 0);
      if (json_is_true(json_object_get(v, "is_final"))) {
        finals++;
        assert_true(json_is_true(json_object_get(v, "speech_final")));
        assert_string_equal(json_string_value(json_object_get(alt, "transcript")), "hello there");
      } else {
        interims++;
      }
    }
    json_decref(v);
  }
  close(fd);
  assert_true(closed);
  assert_int_equal(finals, 1);
  assert_true(interims >= 1);
  assert_int_equal(metadata, 1);
  char *bytes = fakeprov_last(&g_fp, "deepgram.listen", "audio_bytes");
  assert_non_null(bytes);
  assert_string_equal(bytes, "38400");
  free(bytes);
}

static int group_setup(void **state) {
  (void)state;
  int rc = fakeprov_start(&g_fp);
  if (rc == TERN_EUNSUPPORTED)
    return 0; /* every test skips, with the reason on stderr */
  if (rc != 0)
    return -1;
  g_started = 1;
  return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  if (g_started) {
    curl_global_cleanup();
    fakeprov_stop(&g_fp);
  }
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_openai_stream_is_sse_ending_with_done, setup_each),
      cmocka_unit_test_setup(test_scripted_429_comes_once_then_normal, setup_each),
      cmocka_unit_test_setup(test_reset_mid_stream_is_a_receive_error, setup_each),
      cmocka_unit_test_setup(test_truncate_ends_cleanly_without_done, setup_each),
      cmocka_unit_test_setup(test_stall_holds_the_stream_open, setup_each),
      cmocka_unit_test_setup(test_tts_length_is_proportional_to_text, setup_each),
      cmocka_unit_test_setup(test_anthropic_stream_event_sequence, setup_each),
      cmocka_unit_test_setup(test_deepgram_live_gives_final_transcript, setup_each),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
