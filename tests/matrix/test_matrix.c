/* The fault matrix: the end-to-end proof of tern's promise that a caller
 * never sits in dead air.
 *
 * One cell = one component (stt, llm, tts) x one fault of its primary
 * provider x a fallback provider configured or not. Each cell is a real
 * three-turn conversation: a real loop in real time, the provider stack
 * built from configuration exactly as `tern run` builds it, real HTTP and
 * WebSocket providers talking to the fault-injecting fake server
 * (tests/fakeprov). The primary of the cell's component fails on every
 * request during turns 1 and 2; then the fault is lifted (recovery) and
 * turn 3 must be served by the primary again.
 *
 *   primary (fault)      openai: /audio/transcriptions, /chat/completions,
 *                        /audio/speech
 *   fallback, if any     stt deepgram (live WebSocket), llm anthropic,
 *                        tts elevenlabs, on the same fake server
 *   last resort          pre-rendered clips for every built-in phrase and
 *                        the generic "fallback" clip (as `tern
 *                        render-fallbacks` makes them)
 *
 * What a cell asserts: the session stays up; every turn is answered in
 * sound (a reply from either provider, or a spoken fallback phrase); the
 * first agent audio of every turn starts within the dead-air bound; the
 * error events name the right component, kind, retryable and recoverable;
 * failover, breaker transitions and the switch back happen; the transcript
 * holds every committed utterance; and (sanitizer build) nothing leaks.
 *
 * Clock and measurement. The caller is a 20 ms tick paced by the monotonic
 * clock, like a sound card: tick n happens at t0 + 20n ms, pushes the
 * caller's frame just recorded, [20n - 20, 20n), and pulls the agent's
 * frame that plays from 20n. If the loop falls behind, the missed ticks
 * run back to back, so stream time never drifts from the wall clock. A
 * turn's speech is 1 s of a loud square wave (the VAD hears it as speech)
 * ending at E; the caller's turn ends at E + min_endpoint, the moment the
 * agent may take the floor. The dead-air time of a turn is the stream
 * time at which the first agent audio (holding phrase, fallback phrase or
 * answer) starts playing minus that turn end, measured on the caller's
 * side and never taken from the session's own bookkeeping; the bound is
 * the session's dead_air_bound (1.5 s) plus one 20 ms tick. Once an
 * answer has begun, a silence inside it (a stall, a failover mid-reply)
 * is held to the same bound.
 *
 * Cells run in parallel child processes (this executable re-run with
 * --cell), each with its own fake server and its own process-wide guards,
 * so no breaker state leaks between cells. The matrix is printed and
 * written as markdown to $TERN_MATRIX_OUT (default: RELIABILITY.md in the
 * build directory). TERN_MATRIX_ONLY=llm/500 runs the cells whose name
 * contains the text; TERN_MATRIX_JOBS sets the parallelism.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "fakeprov.h"
#include "tern/alloc.h"
#include "tern/config.h"
#include "tern/error.h"
#include "tern/events.h"
#include "tern/loop.h"
#include "tern/recovery.h"
#include "tern/session.h"
#include "tern/stack.h"

#define RATE 16000
#define TICK_MS 20
#define TICK_SAMPLES (RATE / 1000 * TICK_MS)
#define SPEECH_MS 1000
#define MIN_ENDPOINT_MS 400
#define DEAD_AIR_MS 1500
#define BOUND_MS (DEAD_AIR_MS + TICK_MS)
#define QUIET_MS 600        /* agent silent this long: the caller takes the next turn */
#define TURN_GAP_MS 300     /* caller's pause before speaking again */
#define ANSWER_CAP_MS 15000 /* a turn with no answer by then has failed */
#define RECOVER_CAP_MS 6000 /* switch back expected within this after the fault is lifted */
#define CELL_CAP_MS 90000
#define TURNS 3
#define FAULT_TURNS 2 /* turns 1 and 2 run under the fault */
#define NO_AUDIO                                                                                   \
  (-100000L) /* a turn's latency when no agent audio came (latencies may be                        \
              * slightly negative: see "Clock and measurement") */

enum { C_STT, C_LLM, C_TTS, C_N };

static const char *const k_comp[C_N] = {"stt", "llm", "tts"};
static const char *const k_comp_title[C_N] = {"Speech-to-text (STT)", "Language model (LLM)",
                                              "Text-to-speech (TTS)"};
static const char *const k_primary_route[C_N] = {"openai.stt", "openai.chat", "openai.tts"};
static const char *const k_backup[C_N] = {"deepgram", "anthropic", "elevenlabs"};
static const char *const k_backup_route[C_N] = {"deepgram.listen", "anthropic.messages",
                                                "elevenlabs.tts"};

#define PRIMARY "openai"
#define PRIMARY_HEARD "primary heard you"
#define BACKUP_HEARD "backup heard you"
/* Two sentences, so a mid-stream fault hits between spoken sentences. */
#define PRIMARY_SAYS "Primary here. How can I help?"
#define BACKUP_SAYS "Backup here. How can I help?"

typedef struct fault {
  const char *id;
  const char *title;
  /* The primary's scripted reply per component (a fakeprov fault entry);
   * NULL: nothing listens on the primary's port. */
  const char *script[C_N];
  const char *kind; /* expected error kind */
  bool retryable, recoverable;
} fault_t;

/* Chunks (tests/fakeprov/README.md): STT replies are JSON sent in two
 * halves; a chat reply streams role, one event per word, finish, [DONE];
 * speech comes in 100 ms pieces. "Mid-stream" cuts after the first sentence
 * of the chat reply, 200 ms into the speech. A malformed speech reply is an
 * HTML proxy page where audio should be (an odd byte count is not a fault:
 * the provider drops the half sample). */
static const fault_t k_faults[] = {
    {"timeout",
     "timeout before headers",
     {"{\"delay_headers_ms\":5000}", "{\"delay_headers_ms\":5000}", "{\"delay_headers_ms\":5000}"},
     "timeout",
     true,
     true},
    {"429",
     "429 with Retry-After",
     {"{\"status\":429,\"retry_after\":1}", "{\"status\":429,\"retry_after\":1}",
      "{\"status\":429,\"retry_after\":1}"},
     "rate_limited",
     true,
     true},
    {"500",
     "500 server error",
     {"{\"status\":500}", "{\"status\":500}", "{\"status\":500}"},
     "server",
     true,
     true},
    {"503",
     "503 unavailable",
     {"{\"status\":503}", "{\"status\":503}", "{\"status\":503}"},
     "overloaded",
     true,
     true},
    {"refused", "connection refused", {NULL, NULL, NULL}, "connection", true, true},
    {"reset",
     "reset mid-stream",
     {"{\"reset_after_chunks\":1}", "{\"reset_after_chunks\":3,\"drip_ms\":30}",
      "{\"reset_after_chunks\":2,\"drip_ms\":30}"},
     "connection",
     true,
     true},
    {"stall",
     "stall mid-stream",
     {"{\"stall_after_chunks\":1}", "{\"stall_after_chunks\":3}", "{\"stall_after_chunks\":2}"},
     "stalled",
     true,
     true},
    {"malformed",
     "malformed reply",
     {"{\"malformed_json\":true}", "{\"malformed_json\":true,\"malformed_at\":2}",
      "{\"wrong_content_type\":true}"},
     "bad_response",
     false,
     true},
    {"401",
     "401 unauthorized",
     {"{\"status\":401}", "{\"status\":401}", "{\"status\":401}"},
     "auth",
     false,
     false},
};
#define NFAULTS (sizeof k_faults / sizeof k_faults[0])

typedef struct cell {
  int comp;
  int fault;
  bool fb;
} cell_t;

static void cell_name(const cell_t *c, char *buf, size_t n) {
  snprintf(buf, n, "%s/%s/%s", k_comp[c->comp], k_faults[c->fault].id, c->fb ? "fallback" : "none");
}

static long mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ======================================================================
 * One cell (child process)
 * ====================================================================== */

enum { P_SPEAK, P_WAIT, P_RECOVER, P_DONE };

typedef struct run {
  cell_t cell;
  const fault_t *fault;
  fakeprov_t fp;
  pid_t revived; /* refused: the server started on the dead port at recovery */
  char revived_port_file[512];
  fakeprov_t fp2; /* control of the revived server, once it listens */
  bool revived_ready;
  int dead_port;
  tern_config_t *cfg;
  tern_stack_t *st;
  tern_loop_t *loop;
  tern_events_t *ev;
  tern_fallback_t *f[C_N];
  tern_clips_t *clips;
  tern_session_t *s;
  tern_loop_timer_t *tick;
  json_t *events;
  tern_usec_t t0;
  long ms; /* stream time of the next tick */
  long max_lag_ms;
  /* the caller */
  int phase, turn;
  long speak_from, speak_to, phase_since, last_audio;
  long turn_end[TURNS], first_audio[TURNS];
  long gap[TURNS];              /* longest silence between agent audio within the turn's answer */
  long turn_last_audio;         /* end of the turn's latest agent audio; -1 before the first */
  int answers[TURNS];           /* replies and fallback phrases committed, spoken */
  char by[TURNS][32];           /* who answered the turn: backup, primary, phrase, hold */
  long backup_count[TURNS + 1]; /* backup requests seen at each turn's start, and at the end */
  bool recovering, switched_back;
  bool done;
  /* findings */
  char fail[600];
  int nfail;
} run_t;

static void failf(run_t *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failf(run_t *x, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "CHECK FAILED: %s\n", msg);
  if (x->nfail++ == 0)
    snprintf(x->fail, sizeof x->fail, "%s", msg);
}

static const char *jstr(json_t *o, const char *key) {
  const char *s = o ? json_string_value(json_object_get(o, key)) : NULL;
  return s ? s : "";
}

static bool jbool(json_t *o, const char *key) { return json_is_true(json_object_get(o, key)); }

static bool is(json_t *o, const char *key, const char *val) { return !strcmp(jstr(o, key), val); }

static void on_event(void *ud, const char *type, const char *line, size_t len,
                     const tern_log_field_t *fields, size_t nfields) {
  (void)fields, (void)nfields;
  run_t *x = ud;
  fprintf(stderr, "[%6ld ms] %.*s\n", x->ms, (int)len, line);
  json_t *o = json_loadb(line, len, 0, NULL);
  if (!o)
    return;
  json_object_set_new(o, "t_ms", json_integer(x->ms));
  json_object_set_new(o, "turn_no", json_integer(x->turn));
  json_array_append_new(x->events, o);
  if (!strcmp(type, "agent_speech_committed") && jbool(o, "spoken") &&
      (is(o, "source", "reply") || is(o, "source", "fallback")) && x->turn < TURNS)
    x->answers[x->turn]++;
  if (!strcmp(type, "provider_switched") && x->recovering &&
      is(o, "component", k_comp[x->cell.comp]) && is(o, "reason", "switch_back") &&
      is(o, "to", PRIMARY))
    x->switched_back = true;
}

/* ---- the caller -------------------------------------------------------- */

/* The control calls to the fake server (here and in recover) block the
 * loop for a moment; they happen only between turns, before the caller
 * speaks again, and the missed ticks catch up, so nothing measured moves. */
static void start_turn(run_t *x, long at) {
  x->turn++;
  x->speak_from = at;
  x->speak_to = at + SPEECH_MS;
  x->phase = P_SPEAK;
  x->phase_since = at;
  x->first_audio[x->turn] = -1;
  x->gap[x->turn] = 0;
  x->turn_last_audio = -1;
  x->backup_count[x->turn] = fakeprov_count(&x->fp, k_backup_route[x->cell.comp]);
}

/* Bring the primary back: clear its fault, or start a server on the port
 * where nothing listened (without waiting for it: probes find it when it
 * is up, as they would find a restarted provider). */
static void recover(run_t *x) {
  x->recovering = true;
  x->phase = P_RECOVER;
  x->phase_since = x->ms;
  const char *route = k_primary_route[x->cell.comp];
  if (x->fault->script[x->cell.comp]) {
    if (fakeprov_script(&x->fp, route, "{\"faults\":[],\"default\":null}"))
      failf(x, "could not lift the fault");
    return;
  }
  snprintf(x->revived_port_file, sizeof x->revived_port_file, "%s", tu_tmp_path("revived.port"));
  char port[16], parent[16];
  snprintf(port, sizeof port, "%d", x->dead_port);
  snprintf(parent, sizeof parent, "%ld", (long)getpid());
  const char *py = getenv("TERN_PYTHON");
  if (!py || !*py)
    py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
  const char *script = tu_src_path("tests/fakeprov/server.py");
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    char *argv[] = {(char *)py,    (char *)script,       "--port",       port,   "--ws-port", "0",
                    "--port-file", x->revived_port_file, "--parent-pid", parent, NULL};
    execvp(py, argv);
    _exit(127);
  }
  if (pid < 0)
    failf(x, "could not start the revived server");
  x->revived = pid > 0 ? pid : 0;
}

static void caller_step(run_t *x) {
  long ms = x->ms + TICK_MS; /* the end of the agent audio just pulled */
  switch (x->phase) {
  case P_SPEAK:
    if (x->ms >= x->speak_to) { /* the last frame of speech is in */
      x->phase = P_WAIT;
      x->phase_since = ms;
      x->turn_end[x->turn] = x->speak_to + MIN_ENDPOINT_MS;
    }
    break;
  case P_WAIT: {
    bool quiet = ms - (x->last_audio > x->speak_to ? x->last_audio : x->speak_to) >= QUIET_MS;
    if (x->answers[x->turn] > 0 && quiet && x->s &&
        tern_session_state(x->s) == TERN_TURN_LISTENING) {
      if (x->turn == FAULT_TURNS - 1)
        recover(x);
      else if (x->turn == TURNS - 1)
        x->phase = P_DONE;
      else
        start_turn(x, ms + TURN_GAP_MS);
    } else if (ms > x->turn_end[x->turn] + ANSWER_CAP_MS) {
      failf(x, "turn %d: no spoken answer within %d s", x->turn + 1, ANSWER_CAP_MS / 1000);
      x->phase = P_DONE;
    }
    break;
  }
  case P_RECOVER:
    if (x->revived > 0 && !x->revived_ready) {
      /* The revived server says what the primary said before it died. */
      FILE *pf = fopen(x->revived_port_file, "r");
      if (pf) {
        if (fscanf(pf, "%d %d", &x->fp2.http_port, &x->fp2.ws_port) == 2) {
          x->fp2.pid = x->revived;
          x->revived_ready = !fakeprov_reply(&x->fp2, "openai.stt", PRIMARY_HEARD) &&
                             !fakeprov_reply(&x->fp2, "openai.chat", PRIMARY_SAYS);
        }
        fclose(pf);
      }
    }
    if (x->switched_back && (x->revived <= 0 || x->revived_ready)) {
      start_turn(x, ms + TURN_GAP_MS);
    } else if (ms > x->phase_since + RECOVER_CAP_MS) {
      failf(x, "no switch back to %s within %d s of recovery", PRIMARY, RECOVER_CAP_MS / 1000);
      start_turn(x, ms + TURN_GAP_MS);
    }
    break;
  default:
    break;
  }
  if (x->phase == P_DONE)
    x->done = true;
}

static void one_tick(run_t *x) {
  /* Like a sound card: at tick time T the caller's frame [T - 20, T) has
   * just been recorded, and the agent's frame pulled now plays from T. */
  int16_t in[TICK_SAMPLES], out[TICK_SAMPLES];
  long rec = x->ms - TICK_MS;
  bool loud = x->phase == P_SPEAK && rec >= x->speak_from && rec < x->speak_to;
  for (int i = 0; i < TICK_SAMPLES; i++) {
    /* speech: a 250 Hz square at -12 dBFS; silence: a faint hiss */
    long n = rec * (RATE / 1000) + i;
    in[i] = loud ? (int16_t)(((n / 32) % 2) ? 8000 : -8000) : (int16_t)((n * 7919) % 61 - 30);
  }
  size_t got = 0;
  if (!tern_session_closed(x->s)) {
    tern_session_push_audio(x->s, in, TICK_SAMPLES);
    got = tern_session_pull_audio(x->s, out, TICK_SAMPLES);
  }
  if (got > 0) {
    x->last_audio = x->ms + TICK_MS;
    if (x->turn >= 0 && x->turn < TURNS && x->ms >= x->speak_to) {
      if (x->first_audio[x->turn] < 0)
        x->first_audio[x->turn] = x->ms;
      /* Silence inside an answer (a stall, a failover mid-reply) is dead
       * air too: the session's clock runs again whenever audio drains
       * while a reply is pending. */
      if (x->turn_last_audio >= 0 && x->ms - x->turn_last_audio > x->gap[x->turn])
        x->gap[x->turn] = x->ms - x->turn_last_audio;
      x->turn_last_audio = x->ms + TICK_MS;
    }
  }
  caller_step(x);
  x->ms += TICK_MS;
}

static void on_tick(tern_loop_timer_t *t, void *ud) {
  (void)t;
  run_t *x = ud;
  tern_usec_t now = tern_loop_now(x->loop);
  long lag = (long)((now - x->t0) / 1000) - x->ms;
  if (lag > x->max_lag_ms)
    x->max_lag_ms = lag;
  if (lag > 50)
    fprintf(stderr, "[%6ld ms] the caller's tick is %ld ms late\n", x->ms, lag);
  while (!x->done && x->t0 + TERN_MS(x->ms) <= now)
    one_tick(x);
}

static bool run_done(void *ud) { return ((run_t *)ud)->done; }

/* ---- set-up ------------------------------------------------------------ */

static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int port = -1;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0)
    close(fd);
  return port;
}

static int build_config(run_t *x, char *err, size_t errsz) {
  const char *url = fakeprov_url(&x->fp, "/v1");
  char dead[128];
  snprintf(dead, sizeof dead, "http://127.0.0.1:%d/v1", x->dead_port);
  int c = x->cell.comp;
  const char *purl[C_N] = {url, url, url};
  if (!x->fault->script[c])
    purl[c] = dead;
  /* Short guard limits, so a cell is quick, but the same mechanism as the
   * defaults: 600 ms to first output, 400 ms of silence is a stall, one
   * retry, Retry-After honoured up to 1 s, 1.2 s for all attempts, probes
   * from 200 ms, a breaker that opens after 3 failures for 1 s. */
  const char *guard = "first_byte_timeout_ms = 600\nidle_timeout_ms = 400\nmax_retries = 1\n"
                      "retry_base_ms = 50\nretry_cap_ms = 200\nretry_after_cap_ms = 1000\n"
                      "deadline_ms = 1200\nbreaker_failures = 3\nbreaker_open_ms = 1000\n";
  char text[4096];
  int n = snprintf(text, sizeof text,
                   "[session]\nmin_endpoint_ms = %d\ndead_air_ms = %d\n"
                   "[fallback]\nprobe_initial_ms = 200\nprobe_max_ms = 800\n"
                   "[stt]\nchain = openai%s\n%s"
                   "[llm]\nchain = openai%s\n%s"
                   "[tts]\nchain = openai%s\n%s"
                   "[stt.openai]\nbase_url = %s\n"
                   "[llm.openai]\nbase_url = %s\n"
                   "[tts.openai]\nbase_url = %s\n"
                   "[stt.deepgram]\nbase_url = %s\n"
                   "[llm.anthropic]\nbase_url = %s\napi_key = sk-ant-matrix\n"
                   "[tts.elevenlabs]\nbase_url = %s\n",
                   MIN_ENDPOINT_MS, DEAD_AIR_MS, x->cell.fb && c == C_STT ? ",deepgram" : "", guard,
                   x->cell.fb && c == C_LLM ? ",anthropic" : "", guard,
                   x->cell.fb && c == C_TTS ? ",elevenlabs" : "", guard, purl[C_STT], purl[C_LLM],
                   purl[C_TTS], fakeprov_ws_url(&x->fp, ""), fakeprov_url(&x->fp, NULL),
                   fakeprov_url(&x->fp, NULL));
  if (n < 0 || (size_t)n >= sizeof text)
    return TERN_ETOOBIG;
  int rc = tern_config_new(&x->cfg);
  if (!rc)
    rc = tern_config_load_string(x->cfg, text, strlen(text), "matrix.ini", err, errsz);
  return rc;
}

/* A short tone for every built-in phrase and the generic clip, as `tern
 * render-fallbacks` would make them with a voice. */
static int make_clips(run_t *x) {
  int rc = tern_clips_create(RATE, &x->clips);
  int16_t pcm[RATE * 3 / 10];
  for (size_t i = 0; i < sizeof pcm / sizeof pcm[0]; i++)
    pcm[i] = (int16_t)(((i / 20) % 2) ? 6000 : -6000);
  tern_phrase_t ph;
  for (size_t i = 0; !rc && tern_phrases_builtin_at(i, &ph) == 0; i++)
    rc = tern_clips_add(x->clips, ph.id, pcm, sizeof pcm / sizeof pcm[0]);
  if (!rc)
    rc = tern_clips_add(x->clips, "fallback", pcm, sizeof pcm / sizeof pcm[0]);
  return rc;
}

static int setup(run_t *x) {
  char err[512] = "";
  int c = x->cell.comp;
  int rc = fakeprov_start(&x->fp);
  if (rc)
    return rc;
  x->dead_port = free_port();
  if ((rc = fakeprov_reply(&x->fp, "openai.stt", PRIMARY_HEARD)) ||
      (rc = fakeprov_reply(&x->fp, "deepgram.listen", BACKUP_HEARD)) ||
      (rc = fakeprov_reply(&x->fp, "openai.chat", PRIMARY_SAYS)) ||
      (rc = fakeprov_reply(&x->fp, "anthropic.messages", BACKUP_SAYS)))
    return rc;
  if (x->fault->script[c]) {
    char js[512];
    snprintf(js, sizeof js, "{\"faults\":[],\"default\":%s}", x->fault->script[c]);
    if ((rc = fakeprov_script(&x->fp, k_primary_route[c], js)))
      return rc;
  }
  if ((rc = build_config(x, err, sizeof err)) ||
      (rc = tern_stack_create(x->cfg, NULL, &x->st, err, sizeof err))) {
    fprintf(stderr, "config: %s\n", err);
    return rc;
  }
  if ((rc = tern_loop_create(NULL, &x->loop)) || (rc = tern_events_create("matrix", &x->ev)) ||
      (rc = tern_events_listen(x->ev, on_event, x)))
    return rc;
  tern_component_t comps[C_N] = {TERN_COMP_STT, TERN_COMP_LLM, TERN_COMP_TTS};
  for (int i = 0; i < C_N; i++)
    if ((rc = tern_stack_runner(x->st, comps[i], x->loop, x->ev, 7 + (uint64_t)i, &x->f[i])))
      return rc;
  if ((rc = make_clips(x)))
    return rc;
  tern_session_config_t scfg;
  tern_session_config_default(&scfg);
  if ((rc = tern_session_config_load(&scfg, x->cfg, err, sizeof err))) {
    fprintf(stderr, "session config: %s\n", err);
    return rc;
  }
  scfg.greeting = NULL;
  tern_session_deps_t d = {.loop = x->loop,
                           .stt = x->f[C_STT],
                           .llm = x->f[C_LLM],
                           .tts = x->f[C_TTS],
                           .events = x->ev,
                           .clips = x->clips};
  if ((rc = tern_session_create(&scfg, &d, &x->s)) || (rc = tern_session_start(x->s)))
    return rc;
  return tern_loop_timer_create(x->loop, on_tick, x, &x->tick);
}

static void teardown(run_t *x) {
  tern_loop_timer_destroy(x->tick);
  tern_session_destroy(x->s);
  for (int i = 0; i < C_N; i++)
    tern_fallback_destroy(x->f[i]);
  tern_stack_destroy(x->st);
  tern_clips_destroy(x->clips);
  tern_events_destroy(x->ev);
  tern_loop_destroy(x->loop);
  tern_config_free(x->cfg);
  json_decref(x->events);
  if (x->revived > 0) {
    kill(x->revived, SIGTERM);
    waitpid(x->revived, NULL, 0);
    unlink(x->revived_port_file);
  }
  fakeprov_stop(&x->fp);
}

/* ---- the verdict ------------------------------------------------------- */

static void check_errors(run_t *x) {
  const char *comp = k_comp[x->cell.comp];
  const fault_t *f = x->fault;
  size_t i;
  json_t *o, *first = NULL;
  json_array_foreach(x->events, i, o) {
    if (!is(o, "type", "error"))
      continue;
    if (!first)
      first = o;
    if (!is(o, "component", comp)) {
      failf(x, "an error of another component: %s/%s from %s", jstr(o, "component"),
            jstr(o, "kind"), jstr(o, "provider"));
      continue;
    }
    if (!is(o, "provider", PRIMARY)) {
      failf(x, "the %s fallback failed: %s", jstr(o, "provider"), jstr(o, "kind"));
      continue;
    }
    /* An open breaker answers for the provider without calling it. */
    if (is(o, "kind", "unavailable"))
      continue;
    if (!is(o, "kind", f->kind) || jbool(o, "retryable") != f->retryable ||
        jbool(o, "recoverable") != f->recoverable) {
      failf(x, "error at %lld ms%s: %s retryable=%d recoverable=%d (expected %s %d %d): %s",
            (long long)json_integer_value(json_object_get(o, "t_ms")),
            jbool(o, "probe") ? " (probe)" : "", jstr(o, "kind"), jbool(o, "retryable"),
            jbool(o, "recoverable"), f->kind, f->retryable, f->recoverable, jstr(o, "message"));
    }
  }
  if (!first)
    failf(x, "no error event at all");
  else if (is(first, "kind", "unavailable"))
    failf(x, "the first error is unavailable, not %s", f->kind);
}

/* The first event of a type with the key=val pairs given (NULL key: none). */
static json_t *find(run_t *x, const char *type, const char *k1, const char *v1, const char *k2,
                    const char *v2, const char *k3, const char *v3) {
  size_t i;
  json_t *o;
  json_array_foreach(x->events, i, o) {
    if (!is(o, "type", type))
      continue;
    if ((k1 && !is(o, k1, v1)) || (k2 && !is(o, k2, v2)) || (k3 && !is(o, k3, v3)))
      continue;
    return o;
  }
  return NULL;
}

static long t_of(json_t *o) {
  return o ? (long)json_integer_value(json_object_get(o, "t_ms")) : -1;
}

static void check_switching(run_t *x) {
  const char *comp = k_comp[x->cell.comp];
  const char *backup = x->cell.fb ? k_backup[x->cell.comp] : "none";
  json_t *over = find(x, "provider_switched", "component", comp, "from", PRIMARY, "to", backup);
  json_t *back = find(x, "provider_switched", "component", comp, "from", backup, "to", PRIMARY);
  if (!over || !is(over, "reason", "failover"))
    failf(x, "no provider_switched %s -> %s (failover)", PRIMARY, backup);
  if (!back || !is(back, "reason", "switch_back") || t_of(back) < t_of(over))
    failf(x, "no provider_switched %s -> %s (switch_back) after the failover", backup, PRIMARY);
  if (x->cell.fb) {
    json_t *open = find(x, "breaker_state_changed", "provider", PRIMARY, "to", "open", NULL, NULL);
    json_t *closed = NULL;
    size_t i;
    json_t *o;
    json_array_foreach(x->events, i, o) {
      if (is(o, "type", "breaker_state_changed") && is(o, "provider", PRIMARY) &&
          is(o, "to", "closed") && t_of(o) >= t_of(open))
        closed = o;
    }
    if (!open)
      failf(x, "the %s breaker never opened", PRIMARY);
    else if (!closed)
      failf(x, "the %s breaker did not close again after recovery", PRIMARY);
  }
}

/* Who answered each turn, and whether it is who should have. */
static void check_answers(run_t *x) {
  int c = x->cell.comp;
  for (int k = 0; k < TURNS; k++) {
    size_t i;
    json_t *o, *reply = NULL, *phrase = NULL, *user = NULL, *hold = NULL;
    json_array_foreach(x->events, i, o) {
      if (json_integer_value(json_object_get(o, "turn_no")) != k)
        continue;
      if (is(o, "type", "agent_speech_committed") && is(o, "source", "reply") && !reply)
        reply = o;
      if (is(o, "type", "agent_speech_committed") && is(o, "source", "holding") && !hold)
        hold = o;
      if (is(o, "type", "fallback_spoken") && !phrase)
        phrase = o;
      if (is(o, "type", "user_speech_committed") && !user)
        user = o;
    }
    long backup_used = x->backup_count[k + 1] - x->backup_count[k];
    bool fault_turn = k < FAULT_TURNS;
    /* A label for the report: who spoke, and what else the caller heard. */
    char by[32] = "";
    if (reply && jbool(reply, "spoken"))
      snprintf(by, sizeof by, "%s",
               (c == C_LLM ? strstr(jstr(reply, "text"), "Backup") != NULL : backup_used > 0)
                   ? "backup"
                   : "primary");
    if (phrase)
      snprintf(by + strlen(by), sizeof by - strlen(by), "%sphrase", *by ? "+" : "");
    if (hold)
      snprintf(by + strlen(by), sizeof by - strlen(by), "%shold", *by ? "+" : "");
    if (!*by)
      snprintf(by, sizeof by, "%s", reply ? "text-only" : "nothing");
    snprintf(x->by[k], sizeof x->by[k], "%s", by);
    if (x->answers[k] == 0)
      failf(x, "turn %d: nothing was said in answer", k + 1);
    if (!fault_turn || !x->cell.fb) {
      if (backup_used > 0)
        failf(x, "turn %d: the backup was used", k + 1);
    }
    if (!fault_turn) { /* recovered: the primary serves the whole turn again */
      if (!reply || !jbool(reply, "spoken") || (c == C_LLM && !is(reply, "text", PRIMARY_SAYS)))
        failf(x, "turn %d: not answered by the recovered %s", k + 1, PRIMARY);
      if (c == C_STT && (!user || !is(user, "provider", PRIMARY)))
        failf(x, "turn %d: not transcribed by the recovered %s", k + 1, PRIMARY);
    } else if (x->cell.fb) { /* a fallback exists: the caller gets a real answer */
      if (!reply || !jbool(reply, "spoken"))
        failf(x, "turn %d: no spoken reply despite the fallback", k + 1);
      if (backup_used <= 0)
        failf(x, "turn %d: the fallback %s was never asked", k + 1, k_backup[c]);
      if (c == C_STT && (!user || !is(user, "provider", k_backup[c])))
        failf(x, "turn %d: not transcribed by %s", k + 1, k_backup[c]);
    } else { /* no fallback: the caller hears the failure in words */
      if (!phrase || !is(phrase, "component", k_comp[c]))
        failf(x, "turn %d: no spoken fallback phrase for %s", k + 1, k_comp[c]);
    }
  }
}

/* The transcript holds every committed utterance, in the order the events
 * announced them. */
static void check_transcript(run_t *x) {
  size_t n = tern_session_transcript_count(x->s), li = 0;
  size_t i;
  json_t *o;
  int users = 0;
  json_array_foreach(x->events, i, o) {
    bool user = is(o, "type", "user_speech_committed");
    bool agent = is(o, "type", "agent_speech_committed") && *jstr(o, "text");
    if (!user && !agent)
      continue;
    users += user;
    tern_transcript_line_t l;
    if (li >= n || tern_session_transcript_at(x->s, li, &l) != 0) {
      failf(x, "transcript: line %zu missing (%s \"%s\")", li, jstr(o, "type"), jstr(o, "text"));
      return;
    }
    if (strcmp(l.role, user ? "user" : "agent") || strcmp(l.text, jstr(o, "text"))) {
      failf(x, "transcript line %zu is %s \"%s\", the event said \"%s\"", li, l.role, l.text,
            jstr(o, "text"));
      return;
    }
    li++;
  }
  if (li != n)
    failf(x, "transcript: %zu lines, events committed %zu", n, li);
  /* STT down with no fallback: turns 1 and 2 have no words to commit. */
  int expect = x->cell.comp == C_STT && !x->cell.fb ? TURNS - FAULT_TURNS : TURNS;
  if (users != expect)
    failf(x, "transcript: %d user turns committed, expected %d", users, expect);
  tern_session_stats_t ss;
  tern_session_stats(x->s, &ss);
  if (ss.turns != TURNS)
    failf(x, "the session counted %u turns, the caller took %d", ss.turns, TURNS);
  if (ss.dead_air_violations)
    failf(x, "the session itself counted %u dead-air violations", ss.dead_air_violations);
}

static int run_cell(const cell_t *cell, const char *result_path) {
  run_t *x = calloc(1, sizeof *x);
  x->cell = *cell;
  x->fault = &k_faults[cell->fault];
  x->events = json_array();
  x->turn = -1;
  for (int k = 0; k < TURNS; k++)
    x->first_audio[k] = x->turn_end[k] = -1;
  FILE *out = fopen(result_path, "w");
  if (!out)
    return 2;
  int rc = setup(x);
  if (rc == TERN_EUNSUPPORTED) {
    fprintf(out, "SKIP\n");
    fclose(out);
    teardown(x);
    free(x);
    return 0;
  }
  if (rc) {
    fprintf(stderr, "set-up failed: %s\n", tern_strerror(rc));
    fprintf(out, "0\t%ld\t%ld\t%ld\t0\t0\t0\t0\t-\tset-up failed: %s\n", NO_AUDIO, NO_AUDIO,
            NO_AUDIO, tern_strerror(rc));
    fclose(out);
    teardown(x);
    free(x);
    return 0;
  }
  x->t0 = tern_loop_now(x->loop);
  start_turn(x, 500);
  tern_loop_timer_start(x->tick, TERN_MS(1), TERN_MS(TICK_MS));
  if (tern_loop_run_until(x->loop, run_done, x, TERN_MS(CELL_CAP_MS)) != 0)
    failf(x, "the conversation did not finish within %d s", CELL_CAP_MS / 1000);
  tern_loop_timer_stop(x->tick);
  x->backup_count[TURNS] = fakeprov_count(&x->fp, k_backup_route[cell->comp]);

  /* The verdict. */
  if (tern_session_closed(x->s) || find(x, "session_closed", NULL, NULL, NULL, NULL, NULL, NULL))
    failf(x, "the session closed");
  long lat[TURNS];
  for (int k = 0; k < TURNS; k++) {
    lat[k] = x->first_audio[k] >= 0 ? x->first_audio[k] - x->turn_end[k] : NO_AUDIO;
    if (x->turn_end[k] < 0)
      continue; /* never reached: reported already */
    if (lat[k] == NO_AUDIO)
      failf(x, "turn %d: no agent audio at all", k + 1);
    else if (lat[k] > BOUND_MS)
      failf(x, "turn %d: dead air %ld ms after the turn ended (bound %d ms, loop lag up to %ld ms)",
            k + 1, lat[k], BOUND_MS, x->max_lag_ms);
    if (x->gap[k] > BOUND_MS)
      failf(x, "turn %d: the answer went silent for %ld ms mid-way (bound %d ms)", k + 1, x->gap[k],
            BOUND_MS);
  }
  if (x->turn == TURNS - 1 && !x->nfail) {
    check_answers(x);
    check_errors(x);
    check_switching(x);
    check_transcript(x);
  } else if (x->turn >= 0) {
    check_errors(x);
  }
  fprintf(stderr, "cell done: %d findings, max loop lag %ld ms\n", x->nfail, x->max_lag_ms);
  fprintf(out, "%d\t%ld\t%ld\t%ld\t%ld\t%ld\t%ld\t%ld\t%s,%s,%s\t%s\n", x->nfail == 0, lat[0],
          lat[1], lat[2], x->gap[0], x->gap[1], x->gap[2], x->max_lag_ms,
          x->by[0][0] ? x->by[0] : "-", x->by[1][0] ? x->by[1] : "-", x->by[2][0] ? x->by[2] : "-",
          x->fail);
  fclose(out);
  teardown(x);
  free(x);
  return 0;
}

/* ======================================================================
 * The matrix (parent)
 * ====================================================================== */

typedef struct result {
  cell_t cell;
  char name[64];
  pid_t pid;
  long started;
  bool finished, pass, skipped;
  long lat[TURNS], gap[TURNS];
  long lag; /* the worst lateness of the caller's tick, ms */
  char by[128];
  char reason[600];
  char log[512], res[512];
} result_t;

static void spawn(result_t *r, const char *self) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(r->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    char comp[8], fault[8], fb[4];
    snprintf(comp, sizeof comp, "%d", r->cell.comp);
    snprintf(fault, sizeof fault, "%d", r->cell.fault);
    snprintf(fb, sizeof fb, "%d", r->cell.fb);
    char *argv[] = {(char *)self, "--cell", comp, fault, fb, r->res, NULL};
    execv(self, argv);
    _exit(127);
  }
  r->pid = pid;
  r->started = mono_ms();
}

static void collect(result_t *r, int status) {
  r->finished = true;
  size_t len = 0;
  char *txt = tu_read_file(r->res, &len);
  if (txt && !strncmp(txt, "SKIP", 4)) {
    r->skipped = true;
  } else if (txt) {
    int pass = 0;
    char by[128] = "", reason[600] = "";
    /* pass, three latencies, who answered, reason (may be empty) */
    char *p = txt;
    pass = (int)strtol(p, &p, 10);
    for (int k = 0; k < TURNS; k++)
      r->lat[k] = strtol(p, &p, 10);
    for (int k = 0; k < TURNS; k++)
      r->gap[k] = strtol(p, &p, 10);
    r->lag = strtol(p, &p, 10);
    if (*p == '\t')
      p++;
    char *tab = strchr(p, '\t');
    if (tab) {
      snprintf(by, sizeof by, "%.*s", (int)(tab - p), p);
      snprintf(reason, sizeof reason, "%s", tab + 1);
      reason[strcspn(reason, "\n")] = '\0';
    }
    r->pass = pass == 1;
    snprintf(r->by, sizeof r->by, "%s", by);
    snprintf(r->reason, sizeof r->reason, "%s", reason);
  } else {
    snprintf(r->reason, sizeof r->reason, "no result");
  }
  free(txt);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    r->pass = false;
    if (WIFSIGNALED(status))
      snprintf(r->reason, sizeof r->reason, "crashed or aborted (signal %d; see the log)",
               WTERMSIG(status));
    else
      snprintf(r->reason, sizeof r->reason,
               "exit status %d (a sanitizer report or a leak; see the log)", WEXITSTATUS(status));
  }
}

static long worst(const result_t *r) {
  long w = NO_AUDIO;
  for (int k = 0; k < TURNS; k++)
    if (r->lat[k] > w)
      w = r->lat[k];
  return w;
}

static void cell_text(const result_t *r, char *buf, size_t n) {
  if (!r->finished)
    snprintf(buf, n, "-");
  else if (r->skipped)
    snprintf(buf, n, "SKIP");
  else if (r->pass)
    snprintf(buf, n, "PASS %.2f s", (double)worst(r) / 1000.0);
  else
    snprintf(buf, n, "FAIL: %s", r->reason);
}

static void print_matrix(FILE *f, result_t *rs, size_t n, bool md) {
  for (int c = 0; c < C_N; c++) {
    bool any = false;
    for (size_t i = 0; i < n; i++)
      any |= rs[i].cell.comp == c;
    if (!any)
      continue;
    if (md)
      fprintf(f, "\n### %s\n\n| fault | with fallback (%s) | without fallback |\n|---|---|---|\n",
              k_comp_title[c], k_backup[c]);
    else
      fprintf(f, "\n%s\n  %-24s %-34s %s\n", k_comp_title[c], "fault", "with fallback",
              "without fallback");
    for (size_t fi = 0; fi < NFAULTS; fi++) {
      char a[700] = "-", b[700] = "-";
      bool row = false;
      for (size_t i = 0; i < n; i++) {
        if (rs[i].cell.comp != c || rs[i].cell.fault != (int)fi)
          continue;
        row = true;
        cell_text(&rs[i], rs[i].cell.fb ? a : b, sizeof a);
      }
      if (!row)
        continue;
      if (md)
        fprintf(f, "| %s | %s | %s |\n", k_faults[fi].title, a, b);
      else
        fprintf(f, "  %-24s %-34s %s\n", k_faults[fi].title, a, b);
    }
  }
}

static void write_markdown(const char *path, result_t *rs, size_t n, long wall_ms, int jobs) {
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "matrix: cannot write %s: %s\n", path, strerror(errno));
    return;
  }
  char date[64];
  time_t now = time(NULL);
  strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
  struct utsname u;
  uname(&u);
  char cpu[256] = "unknown CPU";
  FILE *ci = fopen("/proc/cpuinfo", "r");
  if (ci) {
    char line[512];
    while (fgets(line, sizeof line, ci))
      if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
        snprintf(cpu, sizeof cpu, "%s", strchr(line, ':') + 2);
        cpu[strcspn(cpu, "\n")] = '\0';
        break;
      }
    fclose(ci);
  }
  int pass = 0, fail = 0;
  long lag = 0;
  for (size_t i = 0; i < n; i++)
    lag = rs[i].lag > lag ? rs[i].lag : lag;
  for (size_t i = 0; i < n; i++)
    pass += rs[i].finished && rs[i].pass, fail += rs[i].finished && !rs[i].pass && !rs[i].skipped;
#if defined(__SANITIZE_ADDRESS__)
  const char *build = "sanitizer build (address, undefined)";
#else
  const char *build = "release build";
#endif
  fprintf(f,
          "# Reliability: the fault matrix\n\n"
          "Generated by `scripts/reliability.sh` (tests/matrix/test_matrix.c); do not edit by "
          "hand.\n\n"
          "- date: %s\n- machine: %s %s, %s, %ld cores\n- build: %s\n"
          "- result: %d of %zu cells pass (%d fail), %.0f s wall time, cells run %d at a time; "
          "the caller's 20 ms tick ran up to %ld ms late\n\n",
          date, u.sysname, u.machine, cpu, sysconf(_SC_NPROCESSORS_ONLN), build, pass, n, fail,
          (double)wall_ms / 1000.0, jobs, lag);
  fprintf(f,
          "Each cell is a real three-turn phone-style conversation in real time: the session "
          "with the provider stack built from configuration, real HTTP and WebSocket providers "
          "against the fault-injecting fake server. The primary of the component (OpenAI-"
          "compatible) fails on every request during turns 1 and 2; then the fault is lifted "
          "and turn 3 must be served by the primary again. The other two components stay "
          "healthy. Pre-rendered clips exist for every built-in phrase.\n\n"
          "A cell passes when: the session stays up; every turn is answered in sound (a "
          "reply, from the fallback where one is configured, else a spoken fallback phrase); "
          "the first agent audio of every turn starts within %d ms of the end of the caller's "
          "turn (end of speech + %d ms endpoint; the %d ms dead-air bound plus one %d ms "
          "audio tick); the error events carry the expected component, kind, retryable and "
          "recoverable; the failover, the breaker opening and closing (with a fallback) and "
          "the switch back after recovery are announced; the transcript holds every committed "
          "utterance; and, in the sanitizer build, nothing leaks.\n\n"
          "The time shown is the worst of the three turns, from the end of the caller's turn "
          "to the first agent audio (holding phrase, fallback phrase or answer).\n",
          BOUND_MS, MIN_ENDPOINT_MS, DEAD_AIR_MS, TICK_MS);
  print_matrix(f, rs, n, true);
  fprintf(f, "\n### Faults\n\n| fault | what the primary does | expected error |\n|---|---|---|\n");
  for (size_t fi = 0; fi < NFAULTS; fi++) {
    const fault_t *ft = &k_faults[fi];
    if (ft->script[0])
      fprintf(f, "| %s | stt `%s`, llm `%s`, tts `%s` | %s, %sretryable, %srecoverable |\n",
              ft->title, ft->script[0], ft->script[1], ft->script[2], ft->kind,
              ft->retryable ? "" : "not ", ft->recoverable ? "" : "not ");
    else
      fprintf(f,
              "| %s | nothing listens on its port (a server is started there at recovery) | "
              "%s, %sretryable, %srecoverable |\n",
              ft->title, ft->kind, ft->retryable ? "" : "not ", ft->recoverable ? "" : "not ");
  }
  fprintf(f,
          "\n### Every turn\n\nFirst agent audio after the end of the caller's turn, and "
          "in brackets the longest silence inside the answer once it had begun (a stall or "
          "a failover mid-reply; the same %d ms bound applies).\n\n"
          "| cell | turn 1 | turn 2 | turn 3 | answered by |\n|---|---|---|---|---|\n",
          BOUND_MS);
  for (size_t i = 0; i < n; i++) {
    const result_t *r = &rs[i];
    if (!r->finished || r->skipped)
      continue;
    fprintf(f, "| %s |", r->name);
    for (int k = 0; k < TURNS; k++)
      if (r->lat[k] != NO_AUDIO)
        fprintf(f, " %.2f s (%.2f s) |", (double)r->lat[k] / 1000.0, (double)r->gap[k] / 1000.0);
      else
        fprintf(f, " - |");
    fprintf(f, " %s |\n", r->by);
  }
  fprintf(f, "\n### Notes\n\n"
             "- STT down with no fallback: the caller's words of turns 1 and 2 are lost by "
             "definition. Each such turn is still counted and answered with a spoken \"I didn't "
             "catch that\" phrase; the transcript holds the agent's lines only for those turns.\n"
             "- TTS down with no fallback: the reply goes out as text (agent_text events, a "
             "transcript line with spoken=false) and the caller hears the pre-rendered \"my "
             "voice is playing up\" phrase in every such turn.\n"
             "- A malformed speech reply is an HTML page with status 200 where audio should be "
             "(an odd byte count is no fault: the half sample is dropped).\n"
             "- \"answered by\": primary or backup spoke the reply; phrase: a spoken fallback "
             "phrase (after a partial reply when both are listed); hold: a holding phrase "
             "against dead air.\n");
  fprintf(f, "\nGuard settings of every provider in the matrix: first output 600 ms, idle "
             "400 ms, 1 retry (backoff 50-200 ms), Retry-After honoured up to 1 s, 1.2 s for "
             "all attempts, breaker opens after 3 consecutive failures for 1 s; probes of a "
             "failed provider from 200 ms, at most every 800 ms.\n");
  fclose(f);
}

static void test_fault_matrix(void **state) {
  (void)state;
  const char *only = getenv("TERN_MATRIX_ONLY");
  const char *jobs_env = getenv("TERN_MATRIX_JOBS");
  int jobs = jobs_env && atoi(jobs_env) > 0 ? atoi(jobs_env) : 9;
  char self[1024];
  ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
  assert_true(sl > 0);
  self[sl] = '\0';

  result_t *rs = calloc(C_N * NFAULTS * 2, sizeof *rs);
  size_t n = 0;
  for (int c = 0; c < C_N; c++)
    for (size_t fi = 0; fi < NFAULTS; fi++)
      for (int fb = 1; fb >= 0; fb--) {
        result_t *r = &rs[n];
        r->cell = (cell_t){c, (int)fi, fb == 1};
        cell_name(&r->cell, r->name, sizeof r->name);
        if (only && *only && !strstr(r->name, only))
          continue;
        char file[128];
        snprintf(file, sizeof file, "cell-%s-%s-%d.log", k_comp[c], k_faults[fi].id, fb);
        snprintf(r->log, sizeof r->log, "%s", tu_tmp_path(file));
        snprintf(file, sizeof file, "cell-%s-%s-%d.res", k_comp[c], k_faults[fi].id, fb);
        snprintf(r->res, sizeof r->res, "%s", tu_tmp_path(file));
        for (int k = 0; k < TURNS; k++)
          r->lat[k] = NO_AUDIO;
        n++;
      }
  assert_true(n > 0);

  long t0 = mono_ms();
  size_t next = 0, running = 0, done = 0;
  while (done < n) {
    while (running < (size_t)jobs && next < n) {
      spawn(&rs[next++], self);
      running++;
    }
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      for (size_t i = 0; i < next; i++)
        if (rs[i].pid == pid && !rs[i].finished) {
          collect(&rs[i], status);
          running--;
          done++;
          printf("  %-28s %s\n", rs[i].name, rs[i].skipped ? "skip" : rs[i].pass ? "pass" : "FAIL");
          fflush(stdout);
        }
      continue;
    }
    for (size_t i = 0; i < next; i++) /* a cell that hangs is killed: its own cap failed */
      if (!rs[i].finished && rs[i].pid > 0 && mono_ms() - rs[i].started > CELL_CAP_MS + 30000)
        kill(rs[i].pid, SIGKILL);
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
  }
  long wall = mono_ms() - t0;

  int fails = 0, skips = 0;
  for (size_t i = 0; i < n; i++) {
    skips += rs[i].skipped;
    if (rs[i].pass || rs[i].skipped)
      continue;
    fails++;
    fprintf(stderr, "\n==== %s: FAIL: %s\n---- its log (last 80 lines):\n", rs[i].name,
            rs[i].reason);
    char *log = tu_read_file(rs[i].log, NULL);
    if (log) {
      const char *p = log + strlen(log);
      for (int lines = 0; p > log && lines <= 80; p--)
        lines += p[-1] == '\n';
      fprintf(stderr, "%s\n", p);
      free(log);
    }
  }
  print_matrix(stdout, rs, n, false);
  printf("\n%zu cells, %d failed, %d skipped, %.1f s\n", n, fails, skips, (double)wall / 1000.0);
  if (skips == (int)n) {
    free(rs);
    skip();
  }
  const char *outp = getenv("TERN_MATRIX_OUT");
  char def[4096];
  if (!outp || !*outp) {
    const char *bin = getenv("TERN_BINARY_DIR");
    snprintf(def, sizeof def, "%s/RELIABILITY.md", bin && *bin ? bin : ".");
    outp = def;
  }
  if (!only || !*only || getenv("TERN_MATRIX_OUT"))
    write_markdown(outp, rs, n, wall, jobs);
  for (size_t i = 0; i < n; i++) {
    unlink(rs[i].res);
    if (rs[i].pass || rs[i].skipped)
      unlink(rs[i].log);
  }
  free(rs);
  assert_int_equal(fails, 0);
}

int main(int argc, char **argv) {
  if (argc == 6 && !strcmp(argv[1], "--cell")) {
    cell_t c = {atoi(argv[2]), atoi(argv[3]), atoi(argv[4]) != 0};
    if (c.comp < 0 || c.comp >= C_N || c.fault < 0 || c.fault >= (int)NFAULTS)
      return 2;
    int rc = run_cell(&c, argv[5]);
    rmdir(tu_tmpdir());
    return rc;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fault_matrix),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
