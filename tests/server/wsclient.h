/* A minimal blocking WebSocket client over a raw loopback socket, for the
 * server tests (a test tool: it speaks just enough RFC 6455 to drive a
 * session). Being raw, it also shows exactly what the server put on the
 * wire: the HTTP status of a refusal, each frame, the close code.
 * Header-only: each test file includes it once. */
#ifndef TERN_TEST_WSCLIENT_H
#define TERN_TEST_WSCLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WSC_BUF (1 << 20)

typedef struct wsc {
  int fd;
  int status;        /* HTTP status of the handshake answer */
  char head[8192];   /* the answer's head */
  char body[1024];   /* a refusal's body (what arrived of it) */
  unsigned char *in; /* raw bytes received, not yet parsed */
  size_t inlen;
  unsigned char *msg; /* the last message */
  size_t msglen;
  int close_code; /* from the server's close frame, or -1 */
  bool eof;
} wsc_t;

static inline long wsc_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Read what is there, waiting at most timeout_ms for something. 1: got
 * bytes, 0: timeout, -1: EOF/error. */
static inline int wsc_fill(wsc_t *c, int timeout_ms) {
  struct pollfd p = {c->fd, POLLIN, 0};
  int r = poll(&p, 1, timeout_ms < 0 ? 0 : timeout_ms);
  if (r <= 0)
    return 0;
  if (c->inlen == WSC_BUF)
    return -1;
  ssize_t n = recv(c->fd, c->in + c->inlen, WSC_BUF - c->inlen, 0);
  if (n <= 0) {
    c->eof = true;
    return -1;
  }
  c->inlen += (size_t)n;
  return 1;
}

static inline void wsc_free(wsc_t *c) {
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  free(c->in);
  free(c->msg);
  c->in = c->msg = NULL;
}

/* Connect and upgrade. `target` is path and query; `headers` extra header
 * lines, each ending in \r\n (or NULL). Returns the HTTP status (101 when
 * upgraded), or -1 when no answer came within timeout_ms. */
static inline int wsc_open(wsc_t *c, int port, const char *target, const char *headers,
                           int timeout_ms) {
  memset(c, 0, sizeof *c);
  c->close_code = -1;
  c->in = malloc(WSC_BUF + 1);
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(c->fd, (struct sockaddr *)&a, sizeof a))
    return -1;
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char req[8192];
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\n%s\r\n",
                   target, port, headers ? headers : "");
  if (send(c->fd, req, (size_t)n, MSG_NOSIGNAL) != n)
    return -1;
  long until = wsc_now_ms() + timeout_ms;
  char *end = NULL;
  while (!end) {
    if (wsc_fill(c, (int)(until - wsc_now_ms())) <= 0 && (c->eof || wsc_now_ms() >= until))
      break;
    c->in[c->inlen] = '\0';
    end = strstr((char *)c->in, "\r\n\r\n");
  }
  if (!end)
    return -1;
  size_t hl = (size_t)(end + 4 - (char *)c->in);
  snprintf(c->head, sizeof c->head, "%.*s", (int)hl, (char *)c->in);
  memmove(c->in, c->in + hl, c->inlen - hl);
  c->inlen -= hl;
  if (sscanf(c->head, "HTTP/1.%*c %d", &c->status) != 1)
    return -1;
  if (c->status != 101) {
    /* A refusal: read its body until the server closes. */
    while (!c->eof && wsc_now_ms() < until && wsc_fill(c, (int)(until - wsc_now_ms())) >= 0)
      ;
    snprintf(c->body, sizeof c->body, "%.*s", (int)c->inlen, (char *)c->in);
  }
  return c->status;
}

static inline int wsc_send(wsc_t *c, int opcode, const void *data, size_t len) {
  unsigned char *f = malloc(len + 14);
  size_t h = 0;
  f[h++] = (unsigned char)(0x80 | opcode);
  if (len < 126) {
    f[h++] = (unsigned char)(0x80 | len);
  } else if (len < 65536) {
    f[h++] = 0x80 | 126;
    f[h++] = (unsigned char)(len >> 8);
    f[h++] = (unsigned char)len;
  } else {
    f[h++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--)
      f[h++] = (unsigned char)((uint64_t)len >> (8 * i));
  }
  static const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
  memcpy(f + h, mask, 4);
  h += 4;
  for (size_t i = 0; i < len; i++)
    f[h + i] = ((const unsigned char *)data)[i] ^ mask[i % 4];
  size_t total = h + len, off = 0;
  while (off < total) {
    ssize_t n = send(c->fd, f + off, total - off, MSG_NOSIGNAL);
    if (n <= 0) {
      free(f);
      return -1;
    }
    off += (size_t)n;
  }
  free(f);
  return 0;
}

static inline int wsc_text(wsc_t *c, const char *s) { return wsc_send(c, 1, s, strlen(s)); }

/* One whole message: returns its opcode (1 text, 2 binary, 8 close; the
 * close code lands in close_code), 0 on timeout, -1 on EOF. The payload is
 * in c->msg (NUL-terminated), c->msglen. */
static inline int wsc_recv(wsc_t *c, int timeout_ms) {
  long until = wsc_now_ms() + timeout_ms;
  size_t acc = 0;
  int acc_op = 0;
  free(c->msg);
  c->msg = NULL;
  c->msglen = 0;
  for (;;) {
    /* Parse a frame from what we have. */
    while (c->inlen >= 2) {
      unsigned char b0 = c->in[0], b1 = c->in[1];
      size_t h = 2;
      uint64_t len = b1 & 0x7f;
      if (len == 126) {
        if (c->inlen < 4)
          break;
        len = ((uint64_t)c->in[2] << 8) | c->in[3];
        h = 4;
      } else if (len == 127) {
        if (c->inlen < 10)
          break;
        len = 0;
        for (int i = 0; i < 8; i++)
          len = (len << 8) | c->in[2 + i];
        h = 10;
      }
      if (b1 & 0x80)
        h += 4; /* a server never masks, but be exact */
      if (c->inlen < h + len)
        break;
      int op = b0 & 0x0f;
      bool fin = b0 & 0x80;
      unsigned char *p = c->in + h;
      if (op == 9 || op == 10) { /* ping / pong: not ours to report */
      } else {
        if (op != 0)
          acc_op = op;
        c->msg = realloc(c->msg, acc + len + 1);
        memcpy(c->msg + acc, p, len);
        acc += len;
        c->msg[acc] = '\0';
      }
      memmove(c->in, c->in + h + len, c->inlen - h - len);
      c->inlen -= h + len;
      if ((op != 9 && op != 10) && fin) {
        c->msglen = acc;
        if (acc_op == 8)
          c->close_code = acc >= 2 ? (c->msg[0] << 8) | c->msg[1] : 1005;
        return acc_op;
      }
    }
    long left = until - wsc_now_ms();
    if (left <= 0)
      return 0;
    if (wsc_fill(c, (int)left) < 0)
      return -1;
  }
}

#endif
