/* What the agent session itself costs: latency it adds to a turn, CPU per
 * 20 ms frame, memory per session.
 *
 * Providers are the zero-latency fakes (fake.h, first_delay 0, interval 0)
 * behind the real guards and fallback runners, on a virtual-time loop, so
 * every microsecond measured is orchestration: the VAD, turn-taking,
 * events, the runners, the sentence cutter, the output queue. The caller
 * speaks a loud tone for 1 s (the VAD hears speech), waits for the agent's
 * whole reply, pauses 300 ms, and speaks again.
 *
 *  (a) turn latency: real time from the end-of-turn decision (the
 *      user_speech_committed event) to the first tern_session_pull_audio
 *      that returns agent audio. Virtual time jumps to the next 20 ms
 *      playback tick at once, so this is the processing alone; provider
 *      time is zero.
 *  (b) CPU per 20 ms frame (push one frame, pull one frame), by what the
 *      frame carried: listening (caller silent, agent quiet), user speech,
 *      agent speaking; plus every cost of the run (loop, timers, runners,
 *      providers) divided by the frames, from the thread's CPU clock; and
 *      tern allocations per frame (a counting allocator is installed).
 *  (c) memory: S sessions on one real-time loop, sharing providers and
 *      guards, each with its own runners, event emitter and VAD: resident
 *      memory (VmRSS) and live tern heap growth per session, at rest and
 *      after one turn each, what remains after they are destroyed, and the
 *      CPU the loop needed to carry them all in real time.
 *
 * Without a VAD argument both the default detector (auto: WebRTC with the
 * energy fallback) and the energy VAD alone are measured.
 * Usage: bench_session [turns] [sessions] [vad: auto|energy|webrtc]
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/events.h"
#include "tern/fake.h"
#include "tern/fallback.h"
#include "tern/guard.h"
#include "tern/loop.h"
#include "tern/session.h"

#define RATE 16000
#define FRAME (RATE / 50)
#define SPEAK_FRAMES 50 /* 1 s of caller speech */
#define GAP_FRAMES 15   /* 300 ms pause after the agent finished */

/* ---- a counting allocator ------------------------------------------------ */

#define HDR 16 /* keeps the caller's block aligned for any type */
static atomic_long g_live, g_allocs;

static void *cnt_malloc(size_t n, void *ud) {
  (void)ud;
  unsigned char *b = malloc(n + HDR);
  if (!b)
    return NULL;
  *(size_t *)b = n;
  atomic_fetch_add_explicit(&g_live, (long)n, memory_order_relaxed);
  atomic_fetch_add_explicit(&g_allocs, 1, memory_order_relaxed);
  return b + HDR;
}

static void *cnt_realloc(void *p, size_t n, void *ud) {
  if (!p)
    return cnt_malloc(n, ud);
  unsigned char *b = (unsigned char *)p - HDR;
  size_t old = *(size_t *)b;
  unsigned char *nb = realloc(b, n + HDR);
  if (!nb)
    return NULL;
  *(size_t *)nb = n;
  atomic_fetch_add_explicit(&g_live, (long)n - (long)old, memory_order_relaxed);
  atomic_fetch_add_explicit(&g_allocs, 1, memory_order_relaxed);
  return nb + HDR;
}

static void cnt_free(void *p, void *ud) {
  (void)ud;
  if (!p)
    return;
  unsigned char *b = (unsigned char *)p - HDR;
  atomic_fetch_sub_explicit(&g_live, (long)*(size_t *)b, memory_order_relaxed);
  free(b);
}

/* ---- clocks, memory, statistics ------------------------------------------ */

static double mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static double cpu_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static long rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "VmRSS:", 6)) {
      v = atol(line + 6);
      break;
    }
  if (f)
    fclose(f);
  return v;
}

typedef struct series {
  double *v;
  size_t n, cap;
  double allocs;        /* tern allocations made during the samples */
  size_t alloc_samples; /* samples during which anything was allocated */
} series_t;

static void series_add(series_t *s, double x) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 4096;
    double *nv = realloc(s->v, cap * sizeof *nv); /* the bench's own, outside the counts */
    if (!nv) {
      fprintf(stderr, "bench_session: out of memory\n");
      exit(1);
    }
    s->v = nv, s->cap = cap;
  }
  s->v[s->n++] = x;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* p50, p99, mean of a series (sorts it). */
static void stats(series_t *s, double *p50, double *p99, double *mean) {
  *p50 = *p99 = *mean = 0;
  if (!s->n)
    return;
  double sum = 0;
  for (size_t i = 0; i < s->n; i++)
    sum += s->v[i];
  *mean = sum / (double)s->n;
  qsort(s->v, s->n, sizeof s->v[0], cmp_double);
  *p50 = s->v[(s->n - 1) / 2];
  *p99 = s->v[(size_t)((double)(s->n - 1) * 0.99 + 0.5)];
}

static void die(const char *what, int rc) {
  fprintf(stderr, "bench_session: %s: %s\n", what, tern_strerror(rc));
  exit(1);
}

/* ---- a TTS wrapper that notes when a reply's first audio arrives ----------- *
 * It forwards to the fake TTS; the first audio after a commit of the
 * measured caller is timestamped just before it enters the session. */

typedef struct caller caller_t;
static caller_t *g_measured;
static void note_first_audio(caller_t *c);

typedef struct wrap_op {
  tern_op_t op;
  tern_op_t *inner;
  tern_tts_sink_t user;
} wrap_op_t;

typedef struct wrap_tts {
  tern_provider_t base;
  tern_provider_t *inner;
} wrap_tts_t;

static void wrap_cancel(tern_op_t *op) {
  wrap_op_t *w = (wrap_op_t *)op;
  tern_op_cancel(w->inner);
  free(w);
}

static void wrap_audio(void *ud, const int16_t *pcm, size_t n) {
  wrap_op_t *w = ud;
  if (g_measured)
    note_first_audio(g_measured);
  w->user.on_audio(w->user.ud, pcm, n); /* may cancel: w is gone after this */
}

static void wrap_done(void *ud, const tern_error_t *err) {
  wrap_op_t *w = ud;
  tern_tts_sink_t user = w->user;
  free(w);
  user.on_done(user.ud, err);
}

static int wrap_start(tern_provider_t *p, tern_loop_t *loop, const tern_tts_request_t *req,
                      const tern_tts_sink_t *sink, tern_op_t **op) {
  wrap_tts_t *t = (wrap_tts_t *)p;
  wrap_op_t *w = malloc(sizeof *w); /* outside the counts: not tern's */
  if (!w)
    return TERN_ENOMEM;
  w->op.cancel = wrap_cancel;
  w->user = *sink;
  tern_tts_sink_t mine = {wrap_audio, wrap_done, w};
  int rc = t->inner->vt->tts_start(t->inner, loop, req, &mine, &w->inner);
  if (rc) {
    free(w);
    return rc;
  }
  *op = &w->op;
  return 0;
}

static void wrap_destroy(tern_provider_t *p) {
  wrap_tts_t *t = (wrap_tts_t *)p;
  tern_provider_destroy(t->inner);
  free(t);
}

static const tern_provider_vt_t k_wrap_vt = {
    .kind = "fake", .tts_start = wrap_start, .destroy = wrap_destroy};

static tern_provider_t *wrap_tts(tern_provider_t *inner) {
  wrap_tts_t *t = calloc(1, sizeof *t);
  if (!t)
    die("wrapper", TERN_ENOMEM);
  t->base = *inner; /* name, component, timeouts */
  t->base.vt = &k_wrap_vt;
  t->inner = inner;
  return &t->base;
}

/* ---- the world: one loop, shared providers and guards --------------------- */

static int16_t g_loud[FRAME], g_quiet[FRAME];

typedef struct world {
  tern_fake_clock_t clock;
  tern_loop_t *loop;
  tern_provider_t *prov[3];
  tern_guard_t *guard[3];
  tern_session_config_t cfg;
} world_t;

static const tern_component_t k_comps[3] = {TERN_COMP_STT, TERN_COMP_LLM, TERN_COMP_TTS};

/* virtual: the loop runs on a fake clock (timers fire at once, in order);
 * else on real time, as a worker does. */
static void world_init(world_t *w, tern_vad_kind_t vad, bool virtual) {
  tern_fake_clock_init(&w->clock, TERN_SEC(1));
  int rc = virtual ? tern_loop_create_virtual(&w->clock, &w->loop)
                   : tern_loop_create(NULL, &w->loop);
  if (rc)
    die("loop", rc);
  tern_fake_step_t ok = TERN_FAKE_OK;
  for (int c = 0; c < 3; c++) {
    tern_guard_config_t gc;
    tern_guard_config_default(k_comps[c], &gc);
    if ((rc = tern_fake_create(k_comps[c], "fake", &w->prov[c])) ||
        (rc = tern_fake_set_default(w->prov[c], &ok)) ||
        (rc = tern_guard_create(k_comps[c], "fake", &gc, &w->guard[c])))
      die("providers", rc);
  }
  tern_fake_step_t reply = TERN_FAKE_OK;
  reply.text = "Sure. Your table for two is booked at seven tonight.";
  tern_fake_set_default(w->prov[1], &reply);
  tern_fake_step_t heard = TERN_FAKE_OK;
  heard.text = "book a table for two at seven";
  tern_fake_set_default(w->prov[0], &heard);
  w->prov[2] = wrap_tts(w->prov[2]);
  tern_session_config_default(&w->cfg);
  w->cfg.greeting = NULL;
  w->cfg.vad_kind = vad;
  for (int i = 0; i < FRAME; i++) {
    g_loud[i] = (int16_t)((i / 32) % 2 ? 8000 : -8000); /* 250 Hz square, -12 dBFS */
    g_quiet[i] = (int16_t)((i * 7919) % 61 - 30);       /* a faint hiss */
  }
}

static void world_free(world_t *w) {
  for (int c = 0; c < 3; c++) {
    tern_provider_destroy(w->prov[c]);
    tern_guard_destroy(w->guard[c]);
  }
  tern_loop_destroy(w->loop);
}

/* ---- a caller: one session and its script --------------------------------- */

enum { PH_GAP, PH_SPEAK, PH_WAIT };

struct caller {
  tern_session_t *s;
  tern_events_t *ev;
  tern_fallback_t *f[3];
  int phase, frames;
  bool agent_heard;   /* the agent has been audible in this turn */
  unsigned turns;     /* turns whose reply finished playing */
  double t_commit;    /* real time of the last commit, 0 when none pending */
  bool audio_noted;   /* the reply's first audio reached the session */
  series_t *latency;  /* commit -> first audio pulled; NULL: not measured */
  series_t *to_queue; /* commit -> first audio handed to the session */
};

static void note_first_audio(caller_t *c) {
  if (c->t_commit > 0 && !c->audio_noted) {
    series_add(c->to_queue, mono_us() - c->t_commit);
    c->audio_noted = true;
  }
}

static void on_event(void *ud, const char *type, const char *line, size_t len,
                     const tern_log_field_t *fields, size_t nfields) {
  (void)line, (void)len, (void)fields, (void)nfields;
  caller_t *c = ud;
  if (c->latency && !strcmp(type, "user_speech_committed")) {
    c->audio_noted = false;
    c->t_commit = mono_us();
  }
}

static void caller_init(world_t *w, caller_t *c, unsigned id, series_t *latency,
                        series_t *to_queue) {
  memset(c, 0, sizeof *c);
  c->latency = latency;
  c->to_queue = to_queue;
  char name[32];
  snprintf(name, sizeof name, "s-%u", id);
  tern_fallback_config_t fc;
  tern_fallback_config_default(&fc);
  int rc = tern_events_create(name, &c->ev);
  if (!rc)
    rc = tern_events_listen(c->ev, on_event, c);
  for (int k = 0; !rc && k < 3; k++) {
    tern_fallback_link_t l = {w->prov[k], w->guard[k]};
    rc = tern_fallback_create(w->loop, k_comps[k], &l, 1, &fc, c->ev, id + 1, &c->f[k]);
  }
  tern_session_deps_t d = {
      .loop = w->loop, .stt = c->f[0], .llm = c->f[1], .tts = c->f[2], .events = c->ev};
  if (!rc)
    rc = tern_session_create(&w->cfg, &d, &c->s);
  if (!rc)
    rc = tern_session_start(c->s);
  if (rc)
    die("session", rc);
}

static void caller_free(caller_t *c) {
  tern_session_destroy(c->s);
  for (int k = 0; k < 3; k++)
    tern_fallback_destroy(c->f[k]);
  tern_events_destroy(c->ev);
}

/* One 20 ms tick: the caller's frame in, the agent's frame out. Returns
 * the kind of frame (0 listening, 1 user speech, 2 agent speaking). */
static int caller_tick(caller_t *c) {
  int16_t out[FRAME];
  int loud = c->phase == PH_SPEAK;
  tern_session_push_audio(c->s, loud ? g_loud : g_quiet, FRAME);
  size_t got = tern_session_pull_audio(c->s, out, FRAME);
  if (got && c->t_commit > 0) {
    series_add(c->latency, mono_us() - c->t_commit);
    c->t_commit = 0;
  }
  c->frames++;
  switch (c->phase) {
  case PH_GAP:
    if (c->frames >= GAP_FRAMES)
      c->phase = PH_SPEAK, c->frames = 0;
    break;
  case PH_SPEAK:
    if (c->frames >= SPEAK_FRAMES)
      c->phase = PH_WAIT, c->frames = 0, c->agent_heard = false;
    break;
  default:
    if (got)
      c->agent_heard = true;
    else if (c->agent_heard && tern_session_state(c->s) == TERN_TURN_LISTENING)
      c->phase = PH_GAP, c->frames = 0, c->turns++;
    break;
  }
  return loud ? 1 : got ? 2 : 0;
}

/* ---- (a) + (b): one session, many turns ----------------------------------- */

typedef struct run1 {
  caller_t c;
  unsigned want;
  series_t frame[3];
  series_t latency, to_queue;
} run1_t;

static void run1_tick(tern_loop_timer_t *t, void *ud) {
  (void)t;
  run1_t *r = ud;
  long a0 = atomic_load(&g_allocs);
  double t0 = mono_us();
  int kind = caller_tick(&r->c);
  series_add(&r->frame[kind], mono_us() - t0);
  long made = atomic_load(&g_allocs) - a0;
  r->frame[kind].allocs += (double)made;
  r->frame[kind].alloc_samples += made > 0;
}

static bool run1_done(void *ud) {
  run1_t *r = ud;
  return r->c.turns >= r->want;
}

static void bench_turns(tern_vad_kind_t vad, unsigned turns) {
  world_t w;
  world_init(&w, vad, true);
  run1_t *r = calloc(1, sizeof *r);
  if (!r)
    die("bench", TERN_ENOMEM);
  r->want = turns;
  caller_init(&w, &r->c, 0, &r->latency, &r->to_queue);
  g_measured = &r->c;
  tern_loop_timer_t *tick;
  int rc = tern_loop_timer_create(w.loop, run1_tick, r, &tick);
  if (rc)
    die("timer", rc);
  tern_loop_timer_start(tick, TERN_MS(20), TERN_MS(20));

  /* the cost of one clock read, shown beside the per-frame figures */
  double z0 = mono_us();
  for (int i = 0; i < 1000; i++)
    mono_us();
  double clock_ns = (mono_us() - z0);

  long allocs0 = atomic_load(&g_allocs), live0 = atomic_load(&g_live);
  double c0 = cpu_us(), t0 = mono_us();
  rc = tern_loop_run_until(w.loop, run1_done, r, TERN_SEC(3600) * 24);
  double cpu = cpu_us() - c0, wall = mono_us() - t0;
  long allocs = atomic_load(&g_allocs) - allocs0, grew = atomic_load(&g_live) - live0;
  if (rc || r->c.turns < turns) {
    fprintf(stderr, "bench_session: only %u of %u turns completed (%s)\n", r->c.turns, turns,
            tern_strerror(rc));
    exit(1);
  }
  tern_session_stats_t st;
  tern_session_stats(r->c.s, &st);

  size_t frames = r->frame[0].n + r->frame[1].n + r->frame[2].n;
  double p50, p99, mean;
  /* drift with the conversation's length: medians of the first and the
   * last 10 % of the turns, before the series is sorted */
  size_t nl = r->latency.n, tenth = nl / 10 ? nl / 10 : 1;
  series_t head = {0}, tail = {0};
  for (size_t i = 0; i < tenth; i++) {
    series_add(&head, r->latency.v[i]);
    series_add(&tail, r->latency.v[nl - 1 - i]);
  }
  double first, last, ignore1, ignore2;
  stats(&head, &first, &ignore1, &ignore2);
  stats(&tail, &last, &ignore1, &ignore2);
  free(head.v);
  free(tail.v);

  printf("## one session, %u turns, %zu frames (%.1f min of audio), VAD %s; real %.2f s, "
         "CPU %.2f s\n",
         turns, frames, (double)frames / 50 / 60, tern_vad_kind_name(vad), wall / 1e6, cpu / 1e6);
  printf("(a) real time after the end-of-turn decision (user_speech_committed), %zu turns; "
         "goal p99 < 20000 us (one frame)\n",
         r->latency.n);
  printf("    %-52s %9s %9s %9s %9s\n", "until", "p50 us", "p99 us", "mean us", "max us");
  stats(&r->to_queue, &p50, &p99, &mean);
  printf("    %-52s %9.1f %9.1f %9.1f %9.1f\n", "first TTS audio handed to the session", p50, p99,
         mean, r->to_queue.v[r->to_queue.n - 1]);
  stats(&r->latency, &p50, &p99, &mean);
  printf("    %-52s %9.1f %9.1f %9.1f %9.1f\n",
         "first pull_audio returning it (whole sentence queued)", p50, p99, mean,
         r->latency.v[r->latency.n - 1]);
  printf("    the second, median of the first 10%% of turns %.1f us, of the last 10%% %.1f us "
         "(growth with the conversation's length)\n",
         first, last);
  printf("(b) push + pull of one 20 ms frame (CLOCK_MONOTONIC around the calls, ~%.0f ns per "
         "clock read):\n",
         clock_ns);
  printf("    %-22s %8s %8s %8s %8s %12s %14s\n", "frame", "frames", "p50 us", "p99 us", "mean us",
         "allocs/frame", "frames w/alloc");
  const char *names[3] = {"listening (silence)", "user speech", "agent speaking"};
  for (int k = 0; k < 3; k++) {
    double allocs_k = r->frame[k].allocs / (double)(r->frame[k].n ? r->frame[k].n : 1);
    size_t n = r->frame[k].n;
    stats(&r->frame[k], &p50, &p99, &mean);
    printf("    %-22s %8zu %8.2f %8.2f %8.2f %12.3f %13.1f%%\n", names[k], n, p50, p99, mean,
           allocs_k, 100.0 * (double)r->frame[k].alloc_samples / (double)(n ? n : 1));
  }
  printf("    all work of the run (thread CPU / frames, loop + runners + fakes included): %.2f "
         "us per frame; %.1f tern allocations per turn; live heap +%.1f KiB over the run "
         "(%.0f B per turn)\n",
         cpu / (double)frames, (double)allocs / turns, grew / 1024.0, (double)grew / turns);
  printf("    session stats: %u turns, %u replies, %u holds, %u dead-air violations\n\n", st.turns,
         st.replies, st.holds, st.dead_air_violations);

  tern_loop_timer_destroy(tick);
  caller_free(&r->c);
  for (int k = 0; k < 3; k++)
    free(r->frame[k].v);
  free(r->latency.v);
  free(r->to_queue.v);
  free(r);
  g_measured = NULL;
  world_free(&w);
}

/* ---- (c): many sessions -------------------------------------------------- */

typedef struct runn {
  caller_t *c;
  unsigned n;
  unsigned long frames; /* session-frames driven */
  unsigned finished;    /* sessions whose turn is over */
  series_t tick;        /* real time of each 20 ms tick, all sessions */
} runn_t;

static void runn_tick(tern_loop_timer_t *t, void *ud) {
  (void)t;
  runn_t *r = ud;
  double t0 = mono_us();
  for (unsigned i = 0; i < r->n; i++)
    if (r->c[i].turns == 0) {
      caller_tick(&r->c[i]);
      r->frames++;
      r->finished += r->c[i].turns != 0;
    }
  series_add(&r->tick, mono_us() - t0);
}

static bool runn_done(void *ud) {
  const runn_t *r = ud;
  return r->finished == r->n;
}

/* On a real-time loop: the virtual loop finds its next timer by a linear
 * scan (src/net/loop.c, virt_next), which makes a thousand sessions on one
 * virtual loop quadratic; a worker's loop uses libuv's timer heap. */
static void bench_memory(tern_vad_kind_t vad, unsigned n) {
  world_t w;
  world_init(&w, vad, false);
  caller_t *c = calloc(n, sizeof *c); /* the bench's own, outside the counts */
  if (!c)
    die("bench", TERN_ENOMEM);
  long rss0 = rss_kib(), live0 = atomic_load(&g_live);
  for (unsigned i = 0; i < n; i++)
    caller_init(&w, &c[i], i, NULL, NULL);
  long rss1 = rss_kib(), live1 = atomic_load(&g_live);

  runn_t r = {.c = c, .n = n};
  tern_loop_timer_t *tick;
  int rc = tern_loop_timer_create(w.loop, runn_tick, &r, &tick);
  if (rc)
    die("timer", rc);
  tern_loop_timer_start(tick, TERN_MS(20), TERN_MS(20));
  double c0 = cpu_us(), t0 = mono_us();
  rc = tern_loop_run_until(w.loop, runn_done, &r, TERN_SEC(120));
  double cpu = cpu_us() - c0, wall = mono_us() - t0;
  if (rc)
    die("one turn each", rc);
  long rss2 = rss_kib(), live2 = atomic_load(&g_live);
  tern_loop_timer_destroy(tick);
  for (unsigned i = 0; i < n; i++)
    caller_free(&c[i]);
  for (int i = 0; i < 3; i++) /* closed timers are freed by the loop */
    tern_loop_run_once(w.loop, false);
  long rss3 = rss_kib(), live3 = atomic_load(&g_live);

  printf("## %u sessions on one loop (shared providers and guards; runners, events, VAD per "
         "session), VAD %s\n",
         n, tern_vad_kind_name(vad));
  printf("(c) %-34s %14s %16s\n", "", "VmRSS / session", "tern heap / sess");
  printf("    %-34s %11.1f KiB %13.1f KiB\n", "created and started (at rest)",
         (rss1 - rss0) / (double)n, (live1 - live0) / 1024.0 / n);
  printf("    %-34s %11.1f KiB %13.1f KiB\n", "after one turn each", (rss2 - rss0) / (double)n,
         (live2 - live0) / 1024.0 / n);
  printf("    after destroying them all: tern heap %+ld B in total (0 = nothing leaked), "
         "VmRSS %+.1f MiB from the start\n",
         live3 - live0, (rss3 - rss0) / 1024.0);
  size_t ticks = r.tick.n, over = 0;
  for (size_t i = 0; i < ticks; i++)
    over += r.tick.v[i] > 20000;
  double p50, p99, mean;
  stats(&r.tick, &p50, &p99, &mean);
  printf("    one turn each, in real time: %.1f s, %.2f s of CPU (%.0f%% of one core): %.2f us "
         "per session-frame, all work included;\n    one 20 ms tick for all sessions: p50 "
         "%.2f ms, p99 %.2f ms, %zu of %zu ticks over 20 ms\n",
         wall / 1e6, cpu / 1e6, 100.0 * cpu / wall, cpu / (double)(r.frames ? r.frames : 1),
         p50 / 1e3, p99 / 1e3, over, ticks);
  free(r.tick.v);
  printf("    goal: well under 1024 KiB per session; LiveKit Agents: ~2.8 MB per session at "
         "start, +~115 KB/s\n");
  free(c);
  world_free(&w);
}

int main(int argc, char **argv) {
  tern_allocator_t a = {cnt_malloc, cnt_realloc, cnt_free, NULL};
  tern_alloc_set(&a);
  unsigned turns = argc > 1 ? (unsigned)atoi(argv[1]) : 2000;
  unsigned sessions = argc > 2 ? (unsigned)atoi(argv[2]) : 1000;
  tern_vad_kind_t vad = TERN_VAD_KIND_AUTO;
  if (argc > 3 && tern_vad_kind_parse(argv[3], &vad)) {
    fprintf(stderr, "usage: bench_session [turns] [sessions] [auto|energy|webrtc]\n");
    return 2;
  }
  if (turns < 1 || sessions < 1) {
    fprintf(stderr, "usage: bench_session [turns] [sessions] [auto|energy|webrtc]\n");
    return 2;
  }
  /* Each part runs in a child of its own, so that memory freed by one part
   * (and kept by malloc for reuse) does not hide what the next one uses. */
  tern_vad_kind_t kinds[2] = {TERN_VAD_KIND_AUTO, TERN_VAD_KIND_ENERGY};
  int nk = 2;
  if (argc > 3)
    kinds[0] = vad, nk = 1;
  for (int part = 0; part < 2 * nk; part++) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
      perror("bench_session: fork");
      return 1;
    }
    if (pid == 0) {
      if (part < nk)
        bench_turns(kinds[part], turns);
      else
        bench_memory(kinds[part - nk], sessions);
      fflush(stdout);
      _exit(0);
    }
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      fprintf(stderr, "bench_session: part %d failed\n", part);
      return 1;
    }
  }
  return 0;
}
