/* netem_driver: LLM and TTS calls through the fallback runner while the
 * kernel breaks the network under them (tests/netem/run.sh).
 *
 * run.sh puts this process in one network namespace and the fake provider
 * server (tests/fakeprov) in another, joined by a veth pair, and faults that
 * link with tc netem, nftables, tbf or `ip link set down`. The driver builds
 * the provider stack from configuration, as `tern run` does: an
 * OpenAI-compatible primary across the link and an offline fallback
 * (scripted LLM, flite TTS) that the network cannot touch. Then it makes
 * calls, one at a time, on a real loop in real time, and checks what a
 * caller relies on:
 *
 *   - every call completes, from the primary or the fallback;
 *   - its first output comes within the bound the guard promises: every
 *     attempt of the primary timed out (first-output timeout each, with
 *     the retry backoff between) plus the fallback's start;
 *   - once output flows, no silence inside it is longer than the idle
 *     timeout plus the failover;
 *   - the error events name the right kinds for the condition (a mid-stream
 *     cut is "stalled", a dead route "connection", dropped packets
 *     "timeout"), and no other kind appears;
 *   - under a cut link the breaker opens, and after the link is restored the
 *     runner switches back to the primary (provider_switched, switch_back)
 *     and the next calls are served by it;
 *   - nothing hangs: each call and each wait has a hard cap.
 *
 * Modes. "plain": the condition is in place before the driver starts and
 * stays for every call. "cut": the link is healthy at first; the driver
 * runs the --cut command the moment the first word of a streamed answer
 * arrives (mid-stream), keeps calling until the primary's breaker is open,
 * runs --restore, waits for the switch back and makes the recovery calls.
 *
 * Output: one tab-separated ROW line per phase for run.sh's table
 * (condition, calls, primary, fallback, p50 and p99 time to first output,
 * longest silence, error kinds), "CHECK FAILED: ..." lines, and exit status
 * 0 (all checks held), 1 (a check failed) or 2 (could not run).
 *
 * This is an integration harness, not a unit test: it reads the real clock
 * and asserts bounds in real time on purpose, since the kernel's faults
 * only exist in real time. The bounds are derived from the guard settings
 * below with one second of slack, and the run is kept short.
 */
#include <curl/curl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/config.h"
#include "tern/error.h"
#include "tern/events.h"
#include "tern/fallback.h"
#include "tern/loop.h"
#include "tern/stack.h"

/* Guard settings for both components: short, so the run is quick, but the
 * same mechanism as the defaults. */
#define FIRST_BYTE_MS 1500
#define IDLE_MS 1000
#define RETRIES 1
#define RETRY_BASE_MS 100
#define RETRY_CAP_MS 200
#define BREAKER_FAILURES 3
#define BREAKER_OPEN_MS 2000
#define PROBE_INITIAL_MS 300
#define PROBE_MAX_MS 1000
#define SLACK_MS 1000
/* First output: every attempt of the primary timed out, then the fallback. */
#define FIRST_BOUND_MS ((RETRIES + 1) * FIRST_BYTE_MS + RETRIES * RETRY_CAP_MS + SLACK_MS)
/* Silence inside an answer: a stall is detected, then the fallback goes on. */
#define GAP_BOUND_MS (IDLE_MS + SLACK_MS)
#define CALL_CAP_MS 20000    /* a call still open after this has hung */
#define BREAKER_CAP_MS 12000 /* the breaker must open within this under a cut */
#define RECOVER_CAP_MS 10000 /* the switch back must come within this after restore */
#define DRIP_MS                                                                                    \
  120 /* cut modes: the answer to be cut streams slowly, so the cut lands mid-stream */

#define PRIMARY "openai"
#define MAX_CALLS 96
#define MAX_ROWS 2

typedef struct row {
  const char *name;
  int calls, primary, fallback;
  long first_ms[MAX_CALLS];
  long max_gap_ms;
  unsigned kinds; /* bit per tern_kind_t seen in error events */
  unsigned allowed, required;
} row_t;

typedef struct drv {
  const char *base, *cond, *mode, *cut_cmd, *restore_cmd;
  int n_llm, n_tts;
  tern_config_t *cfg;
  tern_stack_t *st;
  tern_loop_t *loop;
  tern_events_t *ev;
  tern_fallback_t *llm, *tts;
  row_t rows[MAX_ROWS];
  row_t *row; /* the phase events are charged to */
  int nfail;
  bool verbose;
  /* event flags */
  bool llm_open, tts_open, llm_back, tts_back;
  /* the call in flight */
  tern_op_t *op;
  bool done, failed, cut_on_text, cut_done;
  tern_error_t err;
  tern_usec_t t_start, t_first, t_last;
  long gap_ms;
  int n_text;
} drv_t;

static void failf(drv_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failf(drv_t *d, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("CHECK FAILED: %s: ", d->cond);
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  fflush(stdout);
  d->nfail++;
}

static long ms_since(drv_t *d, tern_usec_t t) {
  return (long)((tern_loop_now(d->loop) - t) / 1000);
}

static unsigned kind_bit(const char *name) {
  tern_kind_t k;
  return tern_kind_parse(name, &k) == 0 ? 1u << k : 0;
}

static unsigned kinds_of(const char *list) { /* "timeout,stalled" */
  unsigned bits = 0;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", list);
  for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
    bits |= kind_bit(t);
  return bits;
}

static void kinds_str(unsigned bits, char *out, size_t n) {
  out[0] = '\0';
  size_t len = 0;
  for (int k = 0; k < TERN_KIND__COUNT && len < n; k++)
    if (bits & (1u << k))
      len += (size_t)snprintf(out + len, n - len, "%s%s", len ? ", " : "", tern_kind_name(k));
  if (!out[0])
    snprintf(out, n, "none");
}

/* ---- events ------------------------------------------------------------ */

static const char *field(const tern_log_field_t *f, size_t n, const char *key) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(f[i].key, key) && f[i].type == TERN_LOG_T_STR)
      return f[i].v.s ? f[i].v.s : "";
  return "";
}

static void on_event(void *ud, const char *type, const char *line, size_t len,
                     const tern_log_field_t *f, size_t n) {
  drv_t *d = ud;
  if (d->verbose)
    fprintf(stderr, "[%s] %.*s\n", d->cond, (int)len, line);
  bool llm = !strcmp(field(f, n, "component"), "llm");
  if (!strcmp(type, "error")) {
    if (d->row)
      d->row->kinds |= kind_bit(field(f, n, "kind"));
  } else if (!strcmp(type, "breaker_state_changed")) {
    if (!strcmp(field(f, n, "provider"), PRIMARY) && !strcmp(field(f, n, "to"), "open"))
      *(llm ? &d->llm_open : &d->tts_open) = true;
  } else if (!strcmp(type, "provider_switched")) {
    if (!strcmp(field(f, n, "reason"), "switch_back") && !strcmp(field(f, n, "to"), PRIMARY))
      *(llm ? &d->llm_back : &d->tts_back) = true;
  }
}

/* ---- the fake server's control API --------------------------------------- */

static size_t discard(char *p, size_t s, size_t n, void *ud) {
  (void)p, (void)ud;
  return s * n;
}

static int control(drv_t *d, const char *path, const char *json) {
  char url[512];
  snprintf(url, sizeof url, "%s%s", d->base, path);
  CURL *c = curl_easy_init();
  if (!c)
    return TERN_ENOMEM;
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_PROXY, ""); /* never a proxy: the server is next door */
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK || status != 200) {
    fprintf(stderr, "netem_driver: control %s: %s (status %ld)\n", path, curl_easy_strerror(rc),
            status);
    return TERN_EIO;
  }
  return 0;
}

/* ---- calls ------------------------------------------------------------- */

static void got_output(drv_t *d) {
  tern_usec_t now = tern_loop_now(d->loop);
  if (!d->t_first)
    d->t_first = now;
  else if ((long)((now - d->t_last) / 1000) > d->gap_ms)
    d->gap_ms = (long)((now - d->t_last) / 1000);
  d->t_last = now;
}

static void run_hook(drv_t *d, const char *what, const char *cmd) {
  if (d->verbose)
    fprintf(stderr, "[%s] %s: %s\n", d->cond, what, cmd);
  int rc = system(cmd);
  if (rc != 0)
    failf(d, "the %s command failed (status %d): %s", what, rc, cmd);
}

static void llm_text(void *ud, const char *text, size_t len) {
  (void)text, (void)len;
  drv_t *d = ud;
  got_output(d);
  d->n_text++;
  if (d->cut_on_text && !d->cut_done) {
    d->cut_done = true; /* the link dies between two words of the answer */
    run_hook(d, "cut", d->cut_cmd);
  }
}

static void llm_tool(void *ud, const tern_tool_call_t *call) { (void)ud, (void)call; }

static void tts_audio(void *ud, const int16_t *pcm, size_t n) {
  (void)pcm, (void)n;
  got_output(ud);
}

static void call_done(void *ud, const tern_error_t *err) {
  drv_t *d = ud;
  d->done = true;
  d->op = NULL;
  d->failed = err != NULL;
  if (err)
    d->err = *err;
}

static bool is_done(void *ud) { return ((drv_t *)ud)->done; }
static bool never(void *ud) {
  (void)ud;
  return false;
}

/* Let the loop run (probes, timers) for ms without a call. */
static void idle(drv_t *d, long ms) { tern_loop_run_until(d->loop, never, d, TERN_MS(ms)); }

static bool on_primary(tern_fallback_t *f) { return !strcmp(tern_fallback_current(f), PRIMARY); }

/* One call, start to end. Returns whether the primary served it. */
static bool one_call(drv_t *d, bool tts, int i, bool cut_mid_stream) {
  tern_fallback_t *f = tts ? d->tts : d->llm;
  const char *what = tts ? "tts" : "llm";
  tern_fallback_stats_t before, after;
  tern_fallback_stats(f, &before);
  bool started_on_primary = on_primary(f);
  d->done = d->failed = false;
  d->t_first = d->t_last = 0;
  d->gap_ms = 0;
  d->n_text = 0;
  d->cut_on_text = cut_mid_stream;
  d->cut_done = false;
  d->t_start = tern_loop_now(d->loop);

  int rc;
  tern_chat_t *chat = NULL;
  char ask[160];
  /* A long question: the fake server echoes it word by word, so the
   * answer streams for a while and a cut can land inside it. */
  snprintf(ask, sizeof ask,
           "call %d: tell me what the weather will be like in Paris and in Lyon tomorrow", i);
  if (!tts) {
    if ((rc = tern_chat_create(&chat)) || (rc = tern_chat_add(chat, TERN_ROLE_USER, ask))) {
      tern_chat_destroy(chat);
      failf(d, "%s call %d: could not build the request: %s", what, i, tern_strerror(rc));
      return false;
    }
    tern_llm_request_t req = {.chat = chat, .temperature = -1};
    tern_llm_sink_t sink = {llm_text, llm_tool, call_done, d};
    rc = tern_fallback_llm(f, &req, &sink, &d->op);
  } else {
    tern_tts_request_t req = {.text = "The weather in Paris is mild.", .sample_rate = 16000};
    tern_tts_sink_t sink = {tts_audio, call_done, d};
    rc = tern_fallback_tts(f, &req, &sink, &d->op);
  }
  if (rc) {
    tern_chat_destroy(chat);
    failf(d, "%s call %d did not start: %s", what, i, tern_strerror(rc));
    return false;
  }
  rc = tern_loop_run_until(d->loop, is_done, d, TERN_MS(CALL_CAP_MS));
  tern_chat_destroy(chat); /* borrowed by the call until on_done or cancel */
  if (!d->done) {
    tern_op_cancel(d->op);
    d->op = NULL;
    failf(d, "%s call %d hung: no end after %d s (%s)", what, i, CALL_CAP_MS / 1000,
          tern_strerror(rc));
    return false;
  }
  long total = ms_since(d, d->t_start);
  tern_fallback_stats(f, &after);
  bool primary = started_on_primary && after.failovers == before.failovers;
  row_t *r = d->row;
  long first = d->t_first ? (long)((d->t_first - d->t_start) / 1000) : total;
  if (r->calls < MAX_CALLS)
    r->first_ms[r->calls] = first;
  r->calls++;
  *(primary ? &r->primary : &r->fallback) += 1;
  if (d->gap_ms > r->max_gap_ms)
    r->max_gap_ms = d->gap_ms;
  if (d->verbose)
    fprintf(stderr, "[%s] %s call %d: %s, first output %ld ms, longest gap %ld ms, %ld ms in all\n",
            d->cond, what, i, primary ? "primary" : "fallback", first, d->gap_ms, total);
  if (d->failed)
    failf(d, "%s call %d failed: %s (%s): the offline fallback should have answered", what, i,
          tern_kind_name(d->err.kind), d->err.message);
  else if (!d->t_first)
    failf(d, "%s call %d ended without any output", what, i);
  if (first > FIRST_BOUND_MS)
    failf(d, "%s call %d: first output after %ld ms, over the %d ms bound", what, i, first,
          FIRST_BOUND_MS);
  if (d->gap_ms > GAP_BOUND_MS)
    failf(d, "%s call %d: %ld ms of silence inside the answer, over the %d ms bound", what, i,
          d->gap_ms, GAP_BOUND_MS);
  if (cut_mid_stream && !d->cut_done)
    failf(d, "llm call %d: the answer never streamed, so the link was not cut mid-stream", i);
  return primary;
}

/* ---- phases ------------------------------------------------------------ */

static row_t *new_row(drv_t *d, int idx, const char *name, const char *allowed,
                      const char *required) {
  row_t *r = &d->rows[idx];
  memset(r, 0, sizeof *r);
  r->name = name;
  r->allowed = kinds_of(allowed);
  r->required = kinds_of(required);
  d->row = r;
  return r;
}

/* The kinds a condition may produce; anything else is a misclassification. */
static const char *allowed_kinds(const char *cond) {
  if (!strcmp(cond, "clean"))
    return "";
  if (!strcmp(cond, "blackhole"))
    return "stalled,timeout,connection,unavailable";
  if (!strcmp(cond, "linkdown"))
    return "stalled,connection,timeout,unavailable";
  /* delay, loss, reorder, slow: packets late or lost, never refused */
  return "timeout,stalled,connection";
}

/* The kinds a cut must produce: the answer in flight stalls, then new
 * connections time out (packets vanish) or are refused by the kernel (no
 * route left). */
static const char *required_kinds(const char *cond) {
  if (!strcmp(cond, "blackhole"))
    return "stalled,timeout";
  if (!strcmp(cond, "linkdown"))
    return "stalled,connection";
  return "";
}

static void plain(drv_t *d) {
  new_row(d, 0, d->cond, allowed_kinds(d->cond), "");
  int n = d->n_llm > d->n_tts ? d->n_llm : d->n_tts;
  for (int i = 0; i < n; i++) {
    if (i < d->n_llm)
      one_call(d, false, i, false);
    if (i < d->n_tts)
      one_call(d, true, i, false);
  }
  if (!strcmp(d->cond, "clean") && d->row->fallback > 0)
    failf(d, "%d calls went to the fallback on a healthy link", d->row->fallback);
}

static void cut(drv_t *d) {
  int i = 0;
  new_row(d, 0, d->cond, allowed_kinds(d->cond), required_kinds(d->cond));
  /* A healthy start: the primary answers. */
  if (!one_call(d, false, i++, false) || !one_call(d, true, i++, false))
    failf(d, "the primary did not serve the calls before the cut");
  /* The cut, between two words of a streamed answer. */
  one_call(d, false, i++, true);
  /* Keep the conversation going until both breakers are open: the LLM's
   * from the stalled answer and the failed probes, the TTS's from its own
   * failed attempts and probes. */
  tern_usec_t t0 = tern_loop_now(d->loop);
  int tts_calls = 0;
  while (!(d->llm_open && d->tts_open) && ms_since(d, t0) < BREAKER_CAP_MS && d->nfail == 0) {
    one_call(d, false, i++, false);
    if (!d->tts_open || tts_calls == 0) {
      one_call(d, true, i++, false);
      tts_calls++;
    }
    idle(d, 150);
  }
  if (!d->llm_open)
    failf(d, "the llm primary's breaker did not open within %d s of the cut",
          BREAKER_CAP_MS / 1000);
  if (!d->tts_open)
    failf(d, "the tts primary's breaker did not open within %d s of the cut",
          BREAKER_CAP_MS / 1000);
  if (d->row->primary > 2)
    failf(d, "%d calls were served by the primary while the link was cut", d->row->primary - 2);

  /* Restore the link and wait for the probes to bring the primary back.
   * Calls keep coming meanwhile; they are served by the fallback. */
  run_hook(d, "restore", d->restore_cmd);
  t0 = tern_loop_now(d->loop);
  while (!(d->llm_back && d->tts_back) && ms_since(d, t0) < RECOVER_CAP_MS) {
    one_call(d, false, i++, false);
    idle(d, 200);
  }
  long back_ms = ms_since(d, t0);
  if (!d->llm_back || !d->tts_back)
    failf(d, "no switch back to %s within %d s of the restore (llm %s, tts %s)", PRIMARY,
          RECOVER_CAP_MS / 1000, d->llm_back ? "back" : "not back",
          d->tts_back ? "back" : "not back");
  else if (d->verbose)
    fprintf(stderr, "[%s] switched back %ld ms after the restore\n", d->cond, back_ms);

  /* Recovered: the primary serves every call again, without an error. */
  static char rname[64];
  snprintf(rname, sizeof rname, "%s, then restored", d->cond);
  row_t *r = new_row(d, 1, rname, "", "");
  for (int k = 0; k < 4; k++) {
    one_call(d, false, i++, false);
    if (k < 2)
      one_call(d, true, i++, false);
  }
  if (r->fallback > 0)
    failf(d, "%d of %d calls after recovery went to the fallback", r->fallback, r->calls);
}

/* ---- report ------------------------------------------------------------ */

static int cmp_long(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}

static long pct(const long *sorted, int n, int p) { /* nearest rank */
  if (n <= 0)
    return 0;
  int k = (p * n + 99) / 100;
  return sorted[(k < 1 ? 1 : k) - 1];
}

static void report(drv_t *d, row_t *r) {
  int n = r->calls < MAX_CALLS ? r->calls : MAX_CALLS;
  qsort(r->first_ms, (size_t)n, sizeof r->first_ms[0], cmp_long);
  char kinds[256];
  kinds_str(r->kinds, kinds, sizeof kinds);
  unsigned wrong = r->kinds & ~r->allowed, missing = r->required & ~r->kinds;
  if (wrong) {
    char w[256];
    kinds_str(wrong, w, sizeof w);
    failf(d, "%s: error kinds this condition cannot cause: %s", r->name, w);
  }
  if (missing) {
    char m[256];
    kinds_str(missing, m, sizeof m);
    failf(d, "%s: expected error kinds never seen: %s", r->name, m);
  }
  printf("ROW\t%s\t%d\t%d\t%d\t%ld\t%ld\t%ld\t%s\n", r->name, r->calls, r->primary, r->fallback,
         pct(r->first_ms, n, 50), pct(r->first_ms, n, 99), r->max_gap_ms, kinds);
  fflush(stdout);
}

/* ---- set-up ------------------------------------------------------------ */

static int build(drv_t *d) {
  char guard[512], text[4096], err[512] = "";
  snprintf(guard, sizeof guard,
           "first_byte_timeout_ms = %d\nidle_timeout_ms = %d\nmax_retries = %d\n"
           "retry_base_ms = %d\nretry_cap_ms = %d\nbreaker_failures = %d\n"
           "breaker_open_ms = %d\n",
           FIRST_BYTE_MS, IDLE_MS, RETRIES, RETRY_BASE_MS, RETRY_CAP_MS, BREAKER_FAILURES,
           BREAKER_OPEN_MS);
  int n = snprintf(text, sizeof text,
                   "[fallback]\nprobe_initial_ms = %d\nprobe_max_ms = %d\n"
                   "[llm]\nchain = openai, scripted\n%s"
                   "[tts]\nchain = openai, flite\n%s"
                   "[llm.openai]\nbase_url = %s/v1\nmodel = netem\n"
                   "[tts.openai]\nbase_url = %s/v1\n",
                   PROBE_INITIAL_MS, PROBE_MAX_MS, guard, guard, d->base, d->base);
  if (n < 0 || (size_t)n >= sizeof text)
    return TERN_ETOOBIG;
  tern_stack_overrides_t ov = {.only = (1u << TERN_COMP_LLM) | (1u << TERN_COMP_TTS)};
  int rc;
  if ((rc = tern_config_new(&d->cfg)) ||
      (rc = tern_config_load_string(d->cfg, text, (size_t)n, "netem.ini", err, sizeof err)) ||
      (rc = tern_stack_create(d->cfg, &ov, &d->st, err, sizeof err))) {
    fprintf(stderr, "netem_driver: configuration: %s (%s)\n", err, tern_strerror(rc));
    return rc;
  }
  if ((rc = tern_loop_create(NULL, &d->loop)) || (rc = tern_events_create("netem", &d->ev)) ||
      (rc = tern_events_listen(d->ev, on_event, d)) ||
      (rc = tern_stack_runner(d->st, TERN_COMP_LLM, d->loop, d->ev, 11, &d->llm)) ||
      (rc = tern_stack_runner(d->st, TERN_COMP_TTS, d->loop, d->ev, 13, &d->tts)))
    fprintf(stderr, "netem_driver: set-up: %s\n", tern_strerror(rc));
  return rc;
}

static void teardown(drv_t *d) {
  tern_fallback_destroy(d->llm);
  tern_fallback_destroy(d->tts);
  tern_stack_destroy(d->st);
  tern_events_destroy(d->ev);
  tern_loop_destroy(d->loop);
  tern_config_free(d->cfg);
}

static int usage(void) {
  fprintf(stderr,
          "usage: netem_driver --base http://ADDR:PORT --cond NAME [--mode plain|cut]\n"
          "                    [--llm N] [--tts N] [--cut CMD --restore CMD] [--verbose]\n");
  return 2;
}

int main(int argc, char **argv) {
  drv_t d = {.mode = "plain", .n_llm = 6, .n_tts = 3};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--verbose")) {
      d.verbose = true;
      continue;
    }
    if (!v)
      return usage();
    i++;
    if (!strcmp(a, "--base"))
      d.base = v;
    else if (!strcmp(a, "--cond"))
      d.cond = v;
    else if (!strcmp(a, "--mode"))
      d.mode = v;
    else if (!strcmp(a, "--llm"))
      d.n_llm = atoi(v);
    else if (!strcmp(a, "--tts"))
      d.n_tts = atoi(v);
    else if (!strcmp(a, "--cut"))
      d.cut_cmd = v;
    else if (!strcmp(a, "--restore"))
      d.restore_cmd = v;
    else
      return usage();
  }
  bool is_cut = !strcmp(d.mode, "cut");
  if (!d.base || !d.cond || (!is_cut && strcmp(d.mode, "plain")) ||
      (is_cut && (!d.cut_cmd || !d.restore_cmd)) || d.n_llm < 0 || d.n_tts < 0 ||
      d.n_llm > MAX_CALLS / 2 || d.n_tts > MAX_CALLS / 2)
    return usage();

  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return 2;
  int rc = control(&d, "/_control/reset", "{}");
  if (!rc && is_cut) {
    /* Only the answer the cut lands in drips; the rest (probes, recovery
     * calls) come at full speed. */
    char js[256];
    snprintf(js, sizeof js,
             "{\"route\":\"openai.chat\",\"faults\":[{\"note\":\"warm-up\"},"
             "{\"drip_ms\":%d,\"note\":\"the cut lands in this answer\"}]}",
             DRIP_MS);
    rc = control(&d, "/_control/script", js);
  }
  if (rc || build(&d)) {
    teardown(&d);
    curl_global_cleanup();
    return 2;
  }
  if (is_cut)
    cut(&d);
  else
    plain(&d);
  for (int i = 0; i < MAX_ROWS; i++)
    if (d.rows[i].name)
      report(&d, &d.rows[i]);
  teardown(&d);
  curl_global_cleanup();
  return d.nfail ? 1 : 0;
}
