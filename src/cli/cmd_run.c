/* tern run --in CALLER.wav — a whole spoken conversation from a recording.
 *
 * The recording plays into a session as if the caller were on the line,
 * 20 ms at a time; the agent's audio is taken out at the same pace and
 * written beside the caller's, time-aligned (stereo: caller left, agent
 * right). In real time the conversation takes as long as it would on a
 * call; with --fast it runs on a virtual clock, as fast as the machine can
 * recognise and synthesise (model work takes no virtual time).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/loop.h"
#include "tern/resample.h"
#include "tern/session.h"
#include "tern/stack.h"
#include "tern/wav.h"

static const char help_head[] =
    "usage: tern run --in CALLER.wav [--out AGENT.wav] [--fast] [options]\n"
    "\n"
    "Plays a recorded caller into an agent session and prints the conversation as\n"
    "it happens. Offline by default: pocketsphinx hears, the scripted dialogue\n"
    "engine answers (with tools), flite speaks. Set API keys or chains to use\n"
    "cloud providers; the offline ones stay as the last fallbacks.\n"
    "\n"
    "  --in FILE          the caller: a WAV with utterances separated by silence\n"
    "  --out FILE         write caller (left) and agent (right), time-aligned\n"
    "  --fast             run on a simulated clock, as fast as the machine allows\n"
    "  --clips DIR        pre-rendered fallback phrases (tern render-fallbacks);\n"
    "                     default: [session] clips_dir\n"
    "  --stt CHAIN, --llm CHAIN, --tts CHAIN\n"
    "                     providers to try in order for each component\n"
    "  --greeting TEXT    what the agent says first\n"
    "  --tail SECONDS     keep the line open this long after the recording ends\n"
    "                     for the agent to finish (default 20)\n"
    "  --quiet            do not print the conversation\n";

typedef struct run {
  tern_loop_t *loop;
  tern_session_t *s;
  int rate;
  int16_t *caller;
  size_t ncaller, pos;
  int16_t *out; /* stereo interleaved */
  size_t nout, capout;
  size_t frame;
  size_t tail_frames, idle_frames;
  bool done, quiet, fast;
  tern_usec_t t0, rt_start;
  uint64_t frames_done;
  tern_loop_timer_t *tick;
  unsigned errors, switches, fallbacks;
  double e2e_sum;
  unsigned e2e_n;
  double e2e_max;
} run_t;

static double stream_s(run_t *r) { return (double)r->frames_done * (double)r->frame / r->rate; }

static void stamp(run_t *r) {
  double t = stream_s(r);
  printf("[%02d:%04.1f] ", (int)(t / 60), t - 60 * (int)(t / 60));
}

static const char *fstr(const tern_log_field_t *f, size_t n, const char *key) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(f[i].key, key) && f[i].type == TERN_LOG_T_STR)
      return f[i].v.s ? f[i].v.s : "";
  return "";
}

static int fbool(const tern_log_field_t *f, size_t n, const char *key) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(f[i].key, key) && f[i].type == TERN_LOG_T_BOOL)
      return f[i].v.b;
  return -1;
}

static double fdbl(const tern_log_field_t *f, size_t n, const char *key) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(f[i].key, key) && f[i].type == TERN_LOG_T_DOUBLE)
      return f[i].v.d;
  return -1;
}

/* Print the conversation from the event stream. */
static void printer(void *ud, const char *type, const char *line, size_t len,
                    const tern_log_field_t *f, size_t n) {
  run_t *r = ud;
  (void)line, (void)len;
  if (!strcmp(type, "error"))
    r->errors++;
  else if (!strcmp(type, "provider_switched"))
    r->switches++;
  else if (!strcmp(type, "fallback_spoken"))
    r->fallbacks++;
  else if (!strcmp(type, "metrics")) {
    double e = fdbl(f, n, "e2e_ms");
    if (e >= 0) {
      r->e2e_sum += e;
      r->e2e_n++;
      if (e > r->e2e_max)
        r->e2e_max = e;
    }
  }
  if (r->quiet)
    return;
  if (!strcmp(type, "user_speech_committed")) {
    stamp(r);
    printf("caller: %s\n", fstr(f, n, "text"));
  } else if (!strcmp(type, "agent_speech_committed")) {
    stamp(r);
    const char *src = fstr(f, n, "source");
    printf("agent%s%s%s: %s%s%s\n", strcmp(src, "reply") && strcmp(src, "say") ? " (" : "",
           strcmp(src, "reply") && strcmp(src, "say") ? src : "",
           strcmp(src, "reply") && strcmp(src, "say") ? ")" : "", fstr(f, n, "text"),
           fbool(f, n, "interrupted") == 1 ? "  [interrupted]" : "",
           fbool(f, n, "spoken") == 0 ? "  [text only]" : "");
  } else if (!strcmp(type, "function_call_started")) {
    printf("           tool: %s %s\n", fstr(f, n, "name"), fstr(f, n, "args"));
  } else if (!strcmp(type, "error")) {
    printf("           ! %s/%s %s: %s\n", fstr(f, n, "component"), fstr(f, n, "provider"),
           fstr(f, n, "kind"), fstr(f, n, "message"));
  } else if (!strcmp(type, "provider_switched")) {
    printf("           ~ %s: %s -> %s (%s)\n", fstr(f, n, "component"), fstr(f, n, "from"),
           fstr(f, n, "to"), fstr(f, n, "reason"));
  } else if (!strcmp(type, "session_closed")) {
    stamp(r);
    printf("session closed (%s)\n", fstr(f, n, "reason"));
  }
  fflush(stdout);
}

static int out_push(run_t *r, const int16_t *caller, const int16_t *agent, size_t n) {
  if (r->nout + 2 * n > r->capout) {
    size_t cap = r->capout ? r->capout * 2 : 2 * (size_t)r->rate * 10;
    while (cap < r->nout + 2 * n)
      cap *= 2;
    int16_t *p = tern_realloc(r->out, cap * sizeof *p);
    if (!p)
      return TERN_ENOMEM;
    r->out = p;
    r->capout = cap;
  }
  for (size_t i = 0; i < n; i++) {
    r->out[r->nout++] = caller[i];
    r->out[r->nout++] = agent[i];
  }
  return 0;
}

/* One 20 ms frame: the caller speaks (or is silent), the agent is heard. */
static void step(run_t *r) {
  int16_t in[960] = {0}, out[960];
  size_t n = r->frame;
  if (r->pos < r->ncaller) {
    size_t take = r->ncaller - r->pos < n ? r->ncaller - r->pos : n;
    memcpy(in, r->caller + r->pos, take * sizeof *in);
    r->pos += take;
  }
  if (!tern_session_closed(r->s))
    tern_session_push_audio(r->s, in, n);
  size_t agent = tern_session_closed(r->s) ? (memset(out, 0, sizeof out), 0)
                                           : tern_session_pull_audio(r->s, out, n);
  out_push(r, in, out, n);
  r->frames_done++;
  if (r->pos >= r->ncaller) {
    /* After the recording: wait for the agent to finish, then a little more. */
    bool idle = agent == 0 && tern_session_state(r->s) == TERN_TURN_LISTENING;
    r->idle_frames = idle ? r->idle_frames + 1 : 0;
    if (r->tail_frames)
      r->tail_frames--;
    if (tern_session_closed(r->s) || r->idle_frames >= 100 || r->tail_frames == 0)
      r->done = true;
  }
}

static void on_tick(tern_loop_timer_t *t, void *ud) {
  (void)t;
  run_t *r = ud;
  if (r->fast) {
    step(r);
    return;
  }
  /* Real time: catch up on every frame that is due, so timer jitter never
   * stretches the call. */
  tern_usec_t now = tern_loop_now(r->loop) - r->rt_start;
  while (!r->done && (tern_usec_t)(r->frames_done + 1) * 20000 <= now)
    step(r);
}

static bool is_done(void *ud) { return ((run_t *)ud)->done; }

static int run(int argc, char **argv) {
  tern_cli_common_t co = {0};
  tern_stack_overrides_t ov = {0};
  const char *in = NULL, *outp = NULL, *clips_dir = NULL, *greeting = NULL;
  double tail_s = 20;
  run_t r = {0};
  for (int i = 1; i < argc; i++) {
    int rc = tern_cli_common_opt(&co, "run", argc, argv, &i);
    if (rc < 0)
      return 2;
    if (rc)
      continue;
    const char *a = argv[i];
    bool has = i + 1 < argc;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(help_head, stdout);
      fputs(tern_cli_common_help, stdout);
      return 0;
    } else if (!strcmp(a, "--in") && has) {
      in = argv[++i];
    } else if (!strcmp(a, "--out") && has) {
      outp = argv[++i];
    } else if (!strcmp(a, "--clips") && has) {
      clips_dir = argv[++i];
    } else if (!strcmp(a, "--stt") && has) {
      ov.stt = argv[++i];
    } else if (!strcmp(a, "--llm") && has) {
      ov.llm = argv[++i];
    } else if (!strcmp(a, "--tts") && has) {
      ov.tts = argv[++i];
    } else if (!strcmp(a, "--greeting") && has) {
      greeting = argv[++i];
    } else if (!strcmp(a, "--tail") && has) {
      char *end;
      tail_s = strtod(argv[++i], &end);
      if (*end || tail_s < 0 || tail_s > 600) {
        fprintf(stderr, "tern run: --tail '%s': expected seconds from 0 to 600\n", argv[i]);
        return 2;
      }
    } else if (!strcmp(a, "--fast")) {
      r.fast = true;
    } else if (!strcmp(a, "--quiet")) {
      r.quiet = true;
    } else {
      fprintf(stderr, "tern run: unknown option or missing value: %s (see tern run --help)\n", a);
      return 2;
    }
  }
  if (!in) {
    fputs(help_head, stderr);
    return 2;
  }
  int status = tern_cli_common_open(&co, "run", "run-1");
  if (status) {
    tern_cli_common_close(&co);
    return status;
  }
  char err[512] = "";
  tern_session_config_t scfg;
  tern_session_config_default(&scfg);
  if (tern_session_config_load(&scfg, co.cfg, err, sizeof err)) {
    fprintf(stderr, "tern run: %s\n", err);
    tern_cli_common_close(&co);
    return 1;
  }
  if (greeting)
    scfg.greeting = greeting;
  r.rate = scfg.sample_rate;
  r.frame = (size_t)r.rate / 50;
  r.tail_frames = (size_t)(tail_s * 50);

  tern_wav_opts_t wo = {.downmix = 1};
  tern_wav_t w = {0};
  tern_fake_clock_t vclock;
  tern_stack_t *st = NULL;
  tern_fallback_t *f[3] = {0};
  tern_tools_t *tools = NULL;
  tern_clips_t *clips = NULL;
  status = 1;
  if (tern_wav_read_file(in, &wo, &w, err, sizeof err)) {
    fprintf(stderr, "tern run: %s: %s\n", in, err);
    goto out;
  }
  if (w.sample_rate != (uint32_t)r.rate && w.frames) {
    if (tern_resample_buffer(w.samples, w.frames, w.sample_rate, (uint32_t)r.rate, -1, &r.caller,
                             &r.ncaller)) {
      fprintf(stderr, "tern run: %s: cannot resample %u Hz audio\n", in, w.sample_rate);
      goto out;
    }
  } else {
    r.caller = w.samples;
    r.ncaller = w.frames;
    w.samples = NULL;
  }
  if (tern_stack_create(co.cfg, &ov, &st, err, sizeof err)) {
    fprintf(stderr, "tern run: %s\n", err);
    goto out;
  }
  if (!clips_dir)
    tern_config_get_str(co.cfg, "session", "clips_dir", NULL, &clips_dir, NULL, 0);
  if (clips_dir && tern_clips_load_dir(clips_dir, r.rate, &clips, err, sizeof err))
    fprintf(stderr, "tern run: %s (continuing without recorded fallbacks)\n", err);
  tern_fake_clock_init(&vclock, 0);
  int rc = r.fast ? tern_loop_create_virtual(&vclock, &r.loop) : tern_loop_create(NULL, &r.loop);
  tern_component_t comps[3] = {TERN_COMP_STT, TERN_COMP_LLM, TERN_COMP_TTS};
  for (int i = 0; i < 3 && !rc; i++)
    rc = tern_stack_runner(st, comps[i], r.loop, co.events, 7 + (uint64_t)i, &f[i]);
  if (!rc)
    rc = tern_tools_create(&tools);
  if (rc) {
    fprintf(stderr, "tern run: cannot start: %s\n", tern_strerror(rc));
    goto out;
  }
  const char *kb = NULL;
  tern_config_get_str(co.cfg, "session", "knowledge_file", NULL, &kb, NULL, 0);
  if (tern_demo_tools_register(tools, kb, err, sizeof err))
    fprintf(stderr, "tern run: tools: %s\n", err);
  tern_events_listen(co.events, printer, &r);
  tern_session_deps_t d = {.loop = r.loop, .stt = f[0], .llm = f[1], .tts = f[2],
                           .tools = tools, .events = co.events, .clips = clips};
  if ((rc = tern_session_create(&scfg, &d, &r.s))) {
    fprintf(stderr, "tern run: cannot create the session: %s\n", tern_strerror(rc));
    goto out;
  }
  if (!r.quiet)
    printf("tern: %.1f s of caller audio; stt %s | llm %s | tts %s%s\n",
           (double)r.ncaller / r.rate, tern_stack_chain(st, TERN_COMP_STT),
           tern_stack_chain(st, TERN_COMP_LLM), tern_stack_chain(st, TERN_COMP_TTS),
           r.fast ? " | simulated clock" : "");
  tern_session_start(r.s);
  tern_loop_timer_create(r.loop, on_tick, &r, &r.tick);
  r.rt_start = tern_loop_now(r.loop);
  tern_loop_timer_start(r.tick, r.fast ? TERN_MS(20) : TERN_MS(5), r.fast ? TERN_MS(20) : TERN_MS(5));
  tern_loop_run_until(r.loop, is_done, &r, TERN_SEC(3600));
  tern_loop_timer_destroy(r.tick);
  r.tick = NULL;
  tern_session_stats_t ss;
  tern_session_stats(r.s, &ss);
  if (!tern_session_closed(r.s))
    tern_session_close(r.s, "caller_finished");
  if (outp) {
    if (tern_wav_write_file(outp, r.out, r.nout / 2, (uint32_t)r.rate, 2, err, sizeof err)) {
      fprintf(stderr, "tern run: %s\n", err);
      goto out;
    }
  }
  fprintf(stderr,
          "tern run: %u turns, %u replies, %u interruptions, %u holding phrases, %u fallback "
          "phrases, %u provider errors, %u switches; e2e mean %.0f ms, max %.0f ms%s%s\n",
          ss.turns, ss.replies, ss.interruptions, ss.holds, ss.fallbacks, r.errors, r.switches,
          r.e2e_n ? r.e2e_sum / r.e2e_n : 0.0, r.e2e_max, outp ? "; wrote " : "",
          outp ? outp : "");
  status = 0;
out:
  tern_loop_timer_destroy(r.tick);
  tern_session_destroy(r.s);
  for (int i = 0; i < 3; i++)
    tern_fallback_destroy(f[i]);
  tern_tools_destroy(tools);
  tern_clips_destroy(clips);
  tern_loop_destroy(r.loop);
  tern_stack_destroy(st);
  tern_wav_free(&w);
  tern_free(r.caller);
  tern_free(r.out);
  tern_cli_common_close(&co);
  return status;
}

const tern_cli_cmd_t tern_cli_run = {"run", "hold a spoken conversation with a recorded caller", run};
