/* bench_serve: a load client for `tern serve` (scripts/bench-serve.sh and
 * scripts/soak.sh start the server and run it).
 *
 * It opens N WebSocket sessions to a local server and plays a caller on
 * each: 20 ms PCM16 frames at 16 kHz, sent on a real-time schedule (a
 * speech burst of a loud buzz, then silence, again and again), and
 * receives the agent's audio. Per turn it measures the latency from the
 * end of the caller's burst to the first agent audio frame received; per
 * agent frame, the inter-arrival gap (jitter against 20 ms) and how late
 * the frame is against its utterance's real-time timeline. It counts the
 * session events the server streams (every user_speech_committed needs an
 * agent_speech_committed after it) and unexpected closes.
 *
 * Raw sockets and epoll on one thread, so the client's own cost stays
 * small and visible (its CPU time is reported): a WebSocket client needs
 * only the upgrade, masked frames out and plain frames in.
 *
 * Sessions start spread over --ramp seconds and their turns are spread
 * over the cycle, so the server sees a steady mix rather than lockstep.
 * After --warmup seconds the measurement window of --duration seconds
 * opens; only turns that end inside it count. With --turns K a session
 * ends itself ({"type":"end"}) after K turns and a fresh one replaces it
 * (the soak's way of turning sessions over).
 *
 * Output: a human-readable summary and one line `RESULT {json}`; with
 * --progress S a line every S seconds. With --server-pid, the server's CPU
 * (from /proc/<pid>/stat over the window) and RSS (/proc/<pid>/status).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RATE 16000
#define FRAME 320 /* samples per 20 ms */
#define FRAME_S 0.020
#define RUN_GAP_S 0.200 /* a longer gap between agent frames starts a new utterance */
#define RUN_MAX 4096
#define RX_CAP (1 << 18)

typedef struct vec {
  double *v;
  size_t n, cap;
} vec_t;

static void vpush(vec_t *a, double x) {
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 1024;
    double *p = realloc(a->v, cap * sizeof *p);
    if (!p)
      return;
    a->v = p;
    a->cap = cap;
  }
  a->v[a->n++] = x;
}

static int cmpd(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(vec_t *a, double p) {
  if (!a->n)
    return NAN;
  qsort(a->v, a->n, sizeof *a->v, cmpd);
  size_t i = (size_t)ceil(p / 100.0 * (double)a->n);
  return a->v[i ? i - 1 : 0];
}

enum { S_IDLE, S_CONNECTING, S_HANDSHAKE, S_OPEN, S_CLOSED };

typedef struct sess {
  int idx, fd, st;
  unsigned char *rx;
  size_t rxlen;
  unsigned char *tx;
  size_t txlen, txcap;
  bool want_out;
  double reconnect_at;
  /* caller schedule */
  double next_due;
  uint64_t frame_no;
  uint64_t phase; /* frame offset into the cycle */
  double speech_end; /* send time of the last loud frame of a turn awaiting its answer */
  unsigned turns;    /* bursts finished in this session */
  bool ending;
  /* agent audio */
  double last_agent;
  double run[RUN_MAX];
  size_t runlen;
  bool run_counts;
  /* transcript pairing */
  unsigned user_pending;
  /* fragmented message */
  unsigned char *msg;
  size_t msglen, msgcap;
  int msgop;
} sess_t;

static struct {
  int port, n, turns_per_session;
  double burst_s, silence_s, ramp_s, warmup_s, duration_s, nominal_s, progress_s;
  int server_pid;
  FILE *gaps; /* --gaps FILE: every in-window inter-arrival gap, ms */
  sess_t *s;
  int ep;
  double t_start, t_win0, t_win1;
  /* measurements inside the window */
  vec_t lat, gap, lateness;
  uint64_t frames, late_frames, turns_measured, turns_unanswered;
  /* whole-run counters */
  uint64_t connects, connect_fail, refused, closes_unexpected, closes_clean, ends_sent;
  uint64_t user_commits, agent_commits, lost_lines, protocol_errors, errors, holds, fallbacks;
  uint64_t frames_total, bytes_in, bytes_out;
  int held_max;
} g;

static volatile sig_atomic_t g_stop;
static void on_sig(int sig) {
  (void)sig;
  g_stop = 1;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool in_window(double t) { return t >= g.t_win0 && t < g.t_win1; }

/* ---- output ------------------------------------------------------------- */

static void flush_out(sess_t *s) {
  while (s->txlen) {
    ssize_t n = send(s->fd, s->tx, s->txlen, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        break;
      return; /* the read side sees the error */
    }
    g.bytes_out += (uint64_t)n;
    memmove(s->tx, s->tx + n, s->txlen - (size_t)n);
    s->txlen -= (size_t)n;
  }
  bool want = s->txlen > 0;
  if (want != s->want_out) {
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.u32 = (uint32_t)s->idx};
    epoll_ctl(g.ep, EPOLL_CTL_MOD, s->fd, &ev);
    s->want_out = want;
  }
}

static void queue_bytes(sess_t *s, const void *p, size_t n) {
  if (s->txlen + n > s->txcap) {
    size_t cap = s->txcap ? s->txcap : 4096;
    while (cap < s->txlen + n)
      cap *= 2;
    if (cap > (1u << 22))
      return; /* the server stopped reading: drop rather than grow */
    unsigned char *t = realloc(s->tx, cap);
    if (!t)
      return;
    s->tx = t;
    s->txcap = cap;
  }
  memcpy(s->tx + s->txlen, p, n);
  s->txlen += n;
}

static void send_frame(sess_t *s, int op, const void *payload, size_t len) {
  unsigned char h[14];
  size_t hl = 0;
  h[hl++] = (unsigned char)(0x80 | op);
  if (len < 126) {
    h[hl++] = (unsigned char)(0x80 | len);
  } else if (len < 65536) {
    h[hl++] = 0x80 | 126;
    h[hl++] = (unsigned char)(len >> 8);
    h[hl++] = (unsigned char)len;
  } else {
    h[hl++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--)
      h[hl++] = (unsigned char)((uint64_t)len >> (8 * i));
  }
  uint32_t key = (uint32_t)rand() | 1u;
  unsigned char k[4] = {(unsigned char)key, (unsigned char)(key >> 8), (unsigned char)(key >> 16),
                        (unsigned char)(key >> 24)};
  memcpy(h + hl, k, 4);
  hl += 4;
  queue_bytes(s, h, hl);
  unsigned char buf[2048];
  const unsigned char *p = payload;
  for (size_t off = 0; off < len; off += sizeof buf) {
    size_t n = len - off < sizeof buf ? len - off : sizeof buf;
    for (size_t i = 0; i < n; i++)
      buf[i] = p[off + i] ^ k[(off + i) & 3];
    queue_bytes(s, buf, n);
  }
}

static void send_text(sess_t *s, const char *t) { send_frame(s, 1, t, strlen(t)); }

/* ---- the caller ---------------------------------------------------------- */

static int16_t g_buzz[FRAME * 50]; /* one second of speech-like buzz */
static int16_t g_quiet[FRAME];

static void make_audio(void) {
  /* A 140 Hz sawtooth-ish buzz with a slow loudness wobble: harmonic-rich
   * like a voice, loud enough for any VAD. */
  for (size_t i = 0; i < sizeof g_buzz / sizeof g_buzz[0]; i++) {
    double t = (double)i / RATE;
    double v = 0;
    for (int h = 1; h <= 12; h++)
      v += sin(2 * M_PI * 140.0 * h * t) / h;
    v *= 0.75 + 0.25 * sin(2 * M_PI * 3.0 * t);
    g_buzz[i] = (int16_t)(v * 6000);
  }
  for (size_t i = 0; i < FRAME; i++) /* a faint hiss, not digital zero */
    g_quiet[i] = (int16_t)((rand() % 41) - 20);
}

static uint64_t cycle_frames(void) {
  return (uint64_t)llround((g.burst_s + g.silence_s) / FRAME_S);
}

static uint64_t burst_frames(void) { return (uint64_t)llround(g.burst_s / FRAME_S); }

static void caller_tick(sess_t *s, double now) {
  while (s->st == S_OPEN && s->next_due <= now) {
    uint64_t c = (s->frame_no + s->phase) % cycle_frames();
    bool loud = c < burst_frames() && !s->ending;
    /* a session joins mid-cycle: its first, partial burst is not a turn */
    bool whole = s->frame_no + s->phase >= cycle_frames() || s->phase == 0;
    const int16_t *pcm = loud ? g_buzz + (c % 50) * FRAME : g_quiet;
    send_frame(s, 2, pcm, FRAME * sizeof(int16_t));
    if (loud && c == burst_frames() - 1 && whole) {
      if (s->speech_end > 0 && in_window(s->speech_end))
        g.turns_unanswered++; /* the last turn got no audio before this one ended */
      s->speech_end = now;
      s->turns++;
    }
    s->frame_no++;
    s->next_due += FRAME_S;
  }
  if (s->st == S_OPEN) {
    if (g.turns_per_session > 0 && !s->ending && s->turns >= (unsigned)g.turns_per_session &&
        (s->speech_end == 0 || now - s->speech_end > 8.0) && now - s->last_agent > 1.0) {
      s->ending = true;
      g.ends_sent++;
      send_text(s, "{\"type\":\"end\",\"reason\":\"bench_done\"}");
    }
    flush_out(s);
  }
}

/* ---- agent audio ----------------------------------------------------------- */

static void end_run(sess_t *s) {
  if (!s->runlen)
    return;
  if (s->run_counts) {
    /* Anchor the utterance's timeline at its earliest frame: frame k is
     * due at anchor + k * 20 ms; lateness is how far after that it came. */
    double anchor = s->run[0];
    for (size_t k = 1; k < s->runlen; k++)
      if (s->run[k] - (double)k * FRAME_S < anchor)
        anchor = s->run[k] - (double)k * FRAME_S;
    for (size_t k = 0; k < s->runlen; k++) {
      double late = s->run[k] - (double)k * FRAME_S - anchor;
      vpush(&g.lateness, late * 1000);
      if (late > FRAME_S)
        g.late_frames++;
    }
    g.frames += s->runlen;
  }
  s->runlen = 0;
}

static void on_agent_frame(sess_t *s, double now) {
  g.frames_total++;
  if (s->speech_end > 0) {
    if (in_window(s->speech_end)) {
      vpush(&g.lat, (now - s->speech_end) * 1000);
      g.turns_measured++;
    }
    s->speech_end = 0;
  }
  if (s->runlen && now - s->last_agent > RUN_GAP_S)
    end_run(s);
  if (s->runlen && in_window(now)) {
    vpush(&g.gap, (now - s->last_agent) * 1000);
    if (g.gaps)
      fprintf(g.gaps, "%d %.3f %.3f\n", s->idx, now - g.t_start, (now - s->last_agent) * 1000);
  }
  if (!s->runlen)
    s->run_counts = in_window(now);
  if (s->runlen < RUN_MAX)
    s->run[s->runlen++] = now;
  s->last_agent = now;
}

/* ---- events ----------------------------------------------------------------- */

static void on_text(sess_t *s, const char *t, size_t n) {
  const char *p = memmem(t, n, "\"type\":\"", 8);
  if (!p)
    return;
  p += 8;
  size_t rest = n - (size_t)(p - t);
  const char *q = memchr(p, '"', rest);
  if (!q)
    return;
  size_t tl = (size_t)(q - p);
#define IS(lit) (tl == sizeof(lit) - 1 && !memcmp(p, lit, tl))
  if (IS("user_speech_committed")) {
    g.user_commits++;
    if (s->user_pending)
      g.lost_lines++; /* a second user turn with no agent line between */
    s->user_pending = 1;
  } else if (IS("agent_speech_committed")) {
    g.agent_commits++;
    s->user_pending = 0;
  } else if (IS("protocol_error")) {
    g.protocol_errors++;
  } else if (IS("error")) {
    g.errors++;
  } else if (IS("fallback_spoken")) {
    g.fallbacks++;
  }
#undef IS
}

/* ---- input ------------------------------------------------------------------- */

static void sess_close(sess_t *s, bool clean);

static void on_message(sess_t *s, int op, const unsigned char *p, size_t n, double now) {
  if (op == 2) {
    on_agent_frame(s, now);
  } else if (op == 1) {
    on_text(s, (const char *)p, n);
  } else if (op == 9) {
    send_frame(s, 10, p, n);
  } else if (op == 8) {
    int code = n >= 2 ? p[0] << 8 | p[1] : 1005;
    if (!s->ending)
      fprintf(stderr, "session %d: server closed with %d (%.*s)\n", s->idx, code,
              (int)(n > 2 ? n - 2 : 0), (const char *)p + 2);
    send_frame(s, 8, p, n >= 2 ? 2 : 0);
    flush_out(s);
    sess_close(s, s->ending && code == 1000);
  }
}

static void parse_frames(sess_t *s, double now) {
  size_t off = 0;
  while (s->st == S_OPEN && s->rxlen - off >= 2) {
    unsigned char *b = s->rx + off;
    bool fin = b[0] & 0x80;
    int op = b[0] & 0x0f;
    size_t len = b[1] & 0x7f, hl = 2;
    if (len == 126) {
      if (s->rxlen - off < 4)
        break;
      len = (size_t)b[2] << 8 | b[3];
      hl = 4;
    } else if (len == 127) {
      if (s->rxlen - off < 10)
        break;
      len = 0;
      for (int i = 0; i < 8; i++)
        len = len << 8 | b[2 + i];
      hl = 10;
    }
    if (s->rxlen - off < hl + len)
      break;
    const unsigned char *p = b + hl;
    if (op == 0 || (!fin && op < 8)) { /* a fragment: gather it */
      if (op)
        s->msgop = op, s->msglen = 0;
      if (s->msglen + len > s->msgcap) {
        size_t cap = (s->msglen + len) * 2;
        unsigned char *m = realloc(s->msg, cap);
        if (m)
          s->msg = m, s->msgcap = cap;
      }
      if (s->msglen + len <= s->msgcap) {
        memcpy(s->msg + s->msglen, p, len);
        s->msglen += len;
      }
      if (fin)
        on_message(s, s->msgop, s->msg, s->msglen, now);
    } else {
      on_message(s, op, p, len, now);
    }
    off += hl + len;
  }
  if (s->st == S_OPEN || s->st == S_CLOSED) {
    if (off && s->rx) {
      memmove(s->rx, s->rx + off, s->rxlen - off);
      s->rxlen -= off;
    }
  }
}

static void on_readable(sess_t *s, double now) {
  for (;;) {
    if (s->rxlen == RX_CAP) {
      fprintf(stderr, "session %d: receive buffer full\n", s->idx);
      sess_close(s, false);
      return;
    }
    ssize_t n = recv(s->fd, s->rx + s->rxlen, RX_CAP - s->rxlen, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      if (s->st == S_HANDSHAKE)
        g.connect_fail++;
      sess_close(s, s->ending);
      return;
    }
    if (n < 0)
      return;
    g.bytes_in += (uint64_t)n;
    s->rxlen += (size_t)n;
    if (s->st == S_HANDSHAKE) {
      unsigned char *e = memmem(s->rx, s->rxlen, "\r\n\r\n", 4);
      if (!e)
        continue;
      if (s->rxlen < 12 || memcmp(s->rx + 9, "101", 3)) {
        g.refused++;
        fprintf(stderr, "session %d: upgrade refused: %.*s\n", s->idx, 12, (char *)s->rx);
        sess_close(s, true);
        return;
      }
      size_t head = (size_t)(e + 4 - s->rx);
      memmove(s->rx, s->rx + head, s->rxlen - head);
      s->rxlen -= head;
      s->st = S_OPEN;
      g.connects++;
      s->next_due = now;
      s->frame_no = 0;
      s->turns = 0;
      s->speech_end = 0;
      s->ending = false;
      s->user_pending = 0;
      s->last_agent = now;
    }
    parse_frames(s, now);
    if (s->st != S_OPEN)
      return;
  }
}

/* ---- connections --------------------------------------------------------------- */

static void sess_connect(sess_t *s) {
  s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->fd < 0) {
    g.connect_fail++;
    s->st = S_CLOSED;
    s->reconnect_at = now_s() + 1;
    return;
  }
  int one = 1;
  setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g.port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s->fd, (struct sockaddr *)&a, sizeof a) && errno != EINPROGRESS) {
    close(s->fd);
    s->fd = -1;
    g.connect_fail++;
    s->st = S_CLOSED;
    s->reconnect_at = now_s() + 1;
    return;
  }
  if (!s->rx)
    s->rx = malloc(RX_CAP);
  s->rxlen = 0;
  s->txlen = 0;
  s->runlen = 0;
  s->st = S_CONNECTING;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)s->idx};
  s->want_out = true;
  epoll_ctl(g.ep, EPOLL_CTL_ADD, s->fd, &ev);
}

static void on_connected(sess_t *s) {
  int err = 0;
  socklen_t el = sizeof err;
  getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
  if (err) {
    g.connect_fail++;
    sess_close(s, false);
    return;
  }
  char req[512];
  int n = snprintf(req, sizeof req,
                   "GET /session?sample_rate=16000 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Protocol: tern-session\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n",
                   g.port);
  queue_bytes(s, req, (size_t)n);
  s->st = S_HANDSHAKE;
  flush_out(s);
}

static void sess_close(sess_t *s, bool clean) {
  if (s->fd < 0)
    return;
  end_run(s);
  if (s->st == S_OPEN || s->st == S_HANDSHAKE) {
    if (clean)
      g.closes_clean++;
    else if (!g_stop)
      g.closes_unexpected++;
  }
  epoll_ctl(g.ep, EPOLL_CTL_DEL, s->fd, NULL);
  close(s->fd);
  s->fd = -1;
  s->st = S_CLOSED;
  s->want_out = false;
  /* a replacement comes when sessions turn over (soak), or after a fault */
  s->reconnect_at = now_s() + (clean ? 0.05 : 1.0);
}

/* ---- the server's CPU and memory ---------------------------------------------- */

static double proc_cpu_s(int pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return NAN;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')'); /* comm may hold spaces */
  if (!p)
    return NAN;
  unsigned long ut = 0, st = 0;
  /* fields after ")": state(3) ... utime(14) stime(15) */
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
    return NAN;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long proc_rss_kib(int pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  long kib = -1;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "VmRSS:", 6))
      kib = strtol(line + 6, NULL, 10);
  fclose(f);
  return kib;
}

static double self_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int held(void) {
  int n = 0;
  for (int i = 0; i < g.n; i++)
    n += g.s[i].st == S_OPEN;
  return n;
}

/* ---- main ------------------------------------------------------------------------ */

static void usage(void) {
  fprintf(stderr,
          "usage: bench_serve --port P [--sessions N] [--duration S] [--warmup S] [--ramp S]\n"
          "                   [--burst S] [--silence S] [--nominal-ms MS] [--turns K]\n"
          "                   [--server-pid PID] [--progress S]\n");
}

int main(int argc, char **argv) {
  g.n = 50;
  g.duration_s = 30;
  g.warmup_s = 8;
  g.ramp_s = 3;
  g.burst_s = 1.0;
  g.silence_s = 4.0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) {
      usage();
      return 2;
    }
    i++;
    if (!strcmp(a, "--port"))
      g.port = atoi(v);
    else if (!strcmp(a, "--sessions"))
      g.n = atoi(v);
    else if (!strcmp(a, "--duration"))
      g.duration_s = atof(v);
    else if (!strcmp(a, "--warmup"))
      g.warmup_s = atof(v);
    else if (!strcmp(a, "--ramp"))
      g.ramp_s = atof(v);
    else if (!strcmp(a, "--burst"))
      g.burst_s = atof(v);
    else if (!strcmp(a, "--silence"))
      g.silence_s = atof(v);
    else if (!strcmp(a, "--nominal-ms"))
      g.nominal_s = atof(v) / 1000;
    else if (!strcmp(a, "--turns"))
      g.turns_per_session = atoi(v);
    else if (!strcmp(a, "--server-pid"))
      g.server_pid = atoi(v);
    else if (!strcmp(a, "--progress"))
      g.progress_s = atof(v);
    else if (!strcmp(a, "--gaps"))
      g.gaps = fopen(v, "w");
    else {
      usage();
      return 2;
    }
  }
  if (argc == 1) { /* scripts/bench.sh runs every bench_* bare: say how to run this one */
    printf("bench_serve is a load client for a running `tern serve`; "
           "run scripts/bench-serve.sh (or scripts/soak.sh).\n");
    return 0;
  }
  if (g.port <= 0 || g.n <= 0) {
    usage();
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, on_sig);
  signal(SIGTERM, on_sig);
  srand(12345);
  make_audio();
  g.s = calloc((size_t)g.n, sizeof *g.s);
  g.ep = epoll_create1(EPOLL_CLOEXEC);
  if (!g.s || g.ep < 0)
    return 1;
  g.t_start = now_s();
  g.t_win0 = g.t_start + g.ramp_s + g.warmup_s;
  g.t_win1 = g.t_win0 + g.duration_s;
  uint64_t cyc = cycle_frames();
  for (int i = 0; i < g.n; i++) {
    sess_t *s = &g.s[i];
    s->idx = i;
    s->fd = -1;
    s->st = S_IDLE;
    s->reconnect_at = g.t_start + g.ramp_s * i / g.n;
    s->phase = (uint64_t)i * cyc / (uint64_t)g.n; /* turns spread over the cycle */
  }
  double cpu0 = NAN, srv0 = NAN, self0 = 0, next_progress = g.t_start + g.progress_s;
  bool win_open = false;
  struct epoll_event evs[256];
  while (!g_stop) {
    double now = now_s();
    if (!win_open && now >= g.t_win0) {
      win_open = true;
      self0 = self_cpu_s();
      srv0 = g.server_pid ? proc_cpu_s(g.server_pid) : NAN;
      cpu0 = now;
    }
    if (now >= g.t_win1)
      break;
    for (int i = 0; i < g.n; i++) {
      sess_t *s = &g.s[i];
      if ((s->st == S_IDLE || s->st == S_CLOSED) && s->fd < 0 && now >= s->reconnect_at) {
        if (s->st == S_CLOSED && g.turns_per_session <= 0 && s->ending)
          continue;
        sess_connect(s);
      }
      caller_tick(s, now);
    }
    int h = held();
    if (h > g.held_max)
      g.held_max = h;
    if (g.progress_s > 0 && now >= next_progress) {
      next_progress += g.progress_s;
      fprintf(stdout,
              "PROGRESS t=%.0f held=%d connects=%lu unexpected_closes=%lu user_commits=%lu "
              "agent_commits=%lu lost=%lu late_frames=%lu errors=%lu rss_kib=%ld\n",
              now - g.t_start, h, (unsigned long)g.connects, (unsigned long)g.closes_unexpected,
              (unsigned long)g.user_commits, (unsigned long)g.agent_commits,
              (unsigned long)g.lost_lines, (unsigned long)g.late_frames,
              (unsigned long)g.errors, g.server_pid ? proc_rss_kib(g.server_pid) : -1L);
      fflush(stdout);
    }
    int n = epoll_wait(g.ep, evs, 256, 1);
    now = now_s();
    for (int k = 0; k < n; k++) {
      sess_t *s = &g.s[evs[k].data.u32];
      if (s->fd < 0)
        continue;
      if (s->st == S_CONNECTING && (evs[k].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        on_connected(s);
        continue;
      }
      if (evs[k].events & EPOLLOUT)
        flush_out(s);
      if (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        on_readable(s, now);
    }
  }
  double t_end = now_s();
  double wall = win_open ? t_end - cpu0 : 0;
  double self_cpu = win_open ? (self_cpu_s() - self0) / wall * 100 : NAN;
  double srv_cpu = g.server_pid && win_open ? (proc_cpu_s(g.server_pid) - srv0) / wall * 100 : NAN;
  long rss = g.server_pid ? proc_rss_kib(g.server_pid) : -1;
  int held_end = held();
  for (int i = 0; i < g.n; i++)
    end_run(&g.s[i]);
  double l50 = pct(&g.lat, 50), l99 = pct(&g.lat, 99), lmax = pct(&g.lat, 100);
  vec_t jit = {0};
  for (size_t i = 0; i < g.gap.n; i++)
    vpush(&jit, fabs(g.gap.v[i] - 20.0));
  double j99 = pct(&jit, 99), jmax = pct(&jit, 100);
  double late99 = pct(&g.lateness, 99), latemax = pct(&g.lateness, 100);
  double nom = g.nominal_s * 1000;
  printf("sessions %d (held at end %d, most %d), window %.0f s\n", g.n, held_end, g.held_max, wall);
  printf("turn latency (burst end -> first agent frame): p50 %.1f ms, p99 %.1f ms, max %.1f ms "
         "over %lu turns (%lu unanswered)\n",
         l50, l99, lmax, (unsigned long)g.turns_measured, (unsigned long)g.turns_unanswered);
  printf("added over the nominal %.0f ms: p50 %.1f ms, p99 %.1f ms\n", nom, l50 - nom, l99 - nom);
  printf("agent frames %lu: jitter |gap-20ms| p99 %.2f ms (max %.1f); lateness p99 %.2f ms "
         "(max %.1f); late > 20 ms: %lu\n",
         (unsigned long)g.frames, j99, jmax, late99, latemax, (unsigned long)g.late_frames);
  printf("server cpu %.1f %%, rss %ld KiB; client cpu %.1f %%\n", srv_cpu, rss, self_cpu);
  printf("connects %lu, failed %lu, refused %lu, closes unexpected %lu, clean %lu; user lines %lu, "
         "agent lines %lu, lost %lu; errors %lu, protocol errors %lu\n",
         (unsigned long)g.connects, (unsigned long)g.connect_fail, (unsigned long)g.refused,
         (unsigned long)g.closes_unexpected, (unsigned long)g.closes_clean,
         (unsigned long)g.user_commits, (unsigned long)g.agent_commits,
         (unsigned long)g.lost_lines, (unsigned long)g.errors, (unsigned long)g.protocol_errors);
  printf("RESULT {\"sessions\":%d,\"held\":%d,\"held_max\":%d,\"window_s\":%.1f,\"turns\":%lu,"
         "\"unanswered\":%lu,\"lat_p50_ms\":%.1f,\"lat_p99_ms\":%.1f,\"lat_max_ms\":%.1f,"
         "\"nominal_ms\":%.0f,\"added_p50_ms\":%.1f,\"added_p99_ms\":%.1f,\"frames\":%lu,"
         "\"jitter_p99_ms\":%.2f,\"jitter_max_ms\":%.1f,\"lateness_p99_ms\":%.2f,"
         "\"lateness_max_ms\":%.1f,\"late_frames\":%lu,\"server_cpu_pct\":%.1f,"
         "\"server_rss_kib\":%ld,\"client_cpu_pct\":%.1f,\"connects\":%lu,\"connect_fail\":%lu,"
         "\"refused\":%lu,\"closes_unexpected\":%lu,\"user_lines\":%lu,\"agent_lines\":%lu,"
         "\"lost_lines\":%lu,\"errors\":%lu,\"protocol_errors\":%lu}\n",
         g.n, held_end, g.held_max, wall, (unsigned long)g.turns_measured,
         (unsigned long)g.turns_unanswered, l50, l99, lmax, nom, l50 - nom, l99 - nom,
         (unsigned long)g.frames, j99, jmax, late99, latemax, (unsigned long)g.late_frames,
         srv_cpu, rss, self_cpu, (unsigned long)g.connects, (unsigned long)g.connect_fail,
         (unsigned long)g.refused, (unsigned long)g.closes_unexpected,
         (unsigned long)g.user_commits, (unsigned long)g.agent_commits,
         (unsigned long)g.lost_lines, (unsigned long)g.errors, (unsigned long)g.protocol_errors);
  for (int i = 0; i < g.n; i++) {
    if (g.s[i].fd >= 0)
      close(g.s[i].fd);
    free(g.s[i].rx);
    free(g.s[i].tx);
    free(g.s[i].msg);
  }
  free(g.s);
  free(g.lat.v);
  free(g.gap.v);
  free(g.lateness.v);
  free(jit.v);
  close(g.ep);
  if (g.gaps)
    fclose(g.gaps);
  return 0;
}
