/* The server: worker threads with WebSocket sessions, admission, the admin
 * listener and the graceful drain.
 *
 * Threads: N workers, each running one tern loop with one transport (an
 * lws vhost; SO_REUSEPORT when N > 1, so the kernel spreads connections),
 * and one control thread running the admin listener, the signal handlers
 * and the drain clock. The control thread never touches a session: it
 * posts "end all" / "close all" to the workers' loops and watches the
 * atomic session count.
 *
 * Invariants:
 *  - `active` counts sessions from their reservation in open() until
 *    release(), which runs after the connection closed; the drain is done
 *    when it reaches 0. Admission checks it before the upgrade (503); the
 *    reservation re-checks it atomically after the upgrade, so a race
 *    between two last-slot upgrades ends in a 1013 close, never in more
 *    than max_sessions sessions.
 *  - nothing posts to a loop that may be gone: workers are only posted to
 *    by the control thread, which stops them last; the control loop is
 *    posted to under `mu` while `ctl_alive`.
 */
#include "tern/server.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "server/server_internal.h"
#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/events.h"
#include "tern/json.h"
#include "tern/log.h"
#include "tern/rand.h"
#include "tern/session.h"
#include "tern/token.h"
#include "tern/tools.h"
#include "tern/transport.h"

#define RING_EVENTS 512
#define CLOSE_WAIT TERN_SEC(3) /* after "close all", before stopping anyway */
#define DRAIN_POLL TERN_MS(20)
#define MAX_WORKERS 256
#define SAMPLE_EVERY TERN_SEC(1) /* the dashboard's history */
#define PAGE_MAX (1 << 20)

static const int k_rates[4] = {8000, 16000, 24000, 48000};

typedef struct worker {
  tern_server_t *srv;
  unsigned index;
  pthread_t th;
  bool spawned;
  tern_loop_t *loop;
  tern_transport_t *tp;
  tern_rand_t rand;
  atomic_uint sessions;
  int rc;
  bool ready;
  char err[256];
} worker_t;

/* One session's server-side state. */
typedef struct sess {
  tern_server_t *srv;
  worker_t *w;
  tern_session_t *s;
  tern_events_t *ev;
  tern_fallback_t *f[3];
  tern_tools_t *tools;
  unsigned holds_seen, violations_seen;
} sess_t;

struct tern_server {
  const tern_config_t *conf;
  tern_server_config_t cfg;
  tern_session_config_t scfg;
  tern_stack_t *stack;
  tern_clips_t *clips[4];
  const char *knowledge;
  const char *web_root; /* [server] web_root, or NULL: "web", then the source tree's */
  tern_config_list_t origins;
  bool origins_any;
  FILE *events_file;
  pthread_mutex_t events_mu;
  bool handle_signals;
  tern__metrics_t *metrics;

  worker_t *workers;
  unsigned nworkers;
  int port, admin_port;

  pthread_t ctl_th;
  bool ctl_spawned, ctl_ready, ctl_alive;
  int ctl_rc;
  char ctl_err[256];
  tern_loop_t *ctl;
  tern__admin_t *admin;
  uv_signal_t sig[2];
  bool sig_on;
  int signals_seen;
  tern_loop_timer_t *drain_timer;
  tern_loop_timer_t *sample_timer;
  bool finished;
  int phase; /* 0 serving, 1 draining, 2 goodbye said, 3 closing, 4 done */
  tern_usec_t phase_at;

  pthread_mutex_t mu;
  pthread_cond_t cv;
  atomic_bool draining;
  atomic_uint_fast64_t active;
  tern_usec_t started_at;
  bool started, joined;
};

/* ---- configuration -------------------------------------------------------- */

void tern_server_config_default(tern_server_config_t *c) {
  memset(c, 0, sizeof *c);
  c->port = 8080;
  c->max_sessions = 200;
  c->drain_timeout = TERN_SEC(30);
  c->drain_grace = TERN_SEC(5);
  /* The session's built-in goodbye apologises for a fault; a drain is not
   * one. */
  c->goodbye = "I'm sorry, I have to end our call now. Please call again. Goodbye.";
  c->admin_bind = "127.0.0.1";
  c->admin_port = 8081;
  c->token_leeway = TERN_TOKEN_DEFAULT_LEEWAY;
}

int tern_server_config_load(tern_server_config_t *c, const tern_config_t *conf, char *err,
                            size_t errsz) {
  int64_t v;
  int rc;
#define INT(sec, key, field, lo, hi)                                                               \
  do {                                                                                             \
    if ((rc = tern_config_get_int(conf, sec, key, (int64_t)c->field, lo, hi, &v, err, errsz)))     \
      return rc;                                                                                   \
    c->field = (__typeof__(c->field))v;                                                            \
  } while (0)
  INT("server", "port", port, 0, 65535);
  INT("server", "workers", workers, 0, MAX_WORKERS);
  INT("server", "max_sessions", max_sessions, 1, 100000);
  INT("admin", "port", admin_port, -1, 65535);
  INT("auth", "leeway_s", token_leeway, 0, 3600);
#undef INT
  if ((rc = tern_config_get_duration_ms(conf, "server", "drain_timeout_ms", c->drain_timeout / 1000,
                                        0, 3600000, &v, err, errsz)))
    return rc;
  c->drain_timeout = TERN_MS(v);
  if ((rc = tern_config_get_duration_ms(conf, "server", "drain_grace_ms", c->drain_grace / 1000, 0,
                                        600000, &v, err, errsz)))
    return rc;
  c->drain_grace = TERN_MS(v);
  const char *const strs[][3] = {{"server", "bind", NULL},
                                 {"server", "drain_goodbye", NULL},
                                 {"server", "allowed_origins", NULL},
                                 {"admin", "bind", NULL},
                                 {"admin", "token", NULL},
                                 {"auth", "api_key", NULL},
                                 {"auth", "api_secret", NULL}};
  const char **dst[] = {&c->bind,        &c->goodbye, &c->allowed_origins, &c->admin_bind,
                        &c->admin_token, &c->api_key, &c->api_secret};
  for (size_t i = 0; i < sizeof dst / sizeof dst[0]; i++)
    if ((rc = tern_config_get_str(conf, strs[i][0], strs[i][1], *dst[i], dst[i], err, errsz)))
      return rc;
  if ((rc = tern_config_get_bool(conf, "auth", "disabled", c->auth_disabled, &c->auth_disabled, err,
                                 errsz)))
    return rc;
  bool have_keys = c->api_key && *c->api_key && c->api_secret && *c->api_secret;
  if (!have_keys && !c->auth_disabled) {
    snprintf(err, errsz,
             "no access control configured: set [auth] api_key and api_secret "
             "(TERN_AUTH_API_KEY, TERN_AUTH_API_SECRET) so callers need a token from "
             "`tern token`, or, for local development only, set [auth] disabled = true "
             "(TERN_AUTH_DISABLED=true) to accept sessions without one");
    return TERN_ECONFIG;
  }
  if (c->admin_port >= 0 && !tern__is_loopback(c->admin_bind) &&
      !(c->admin_token && *c->admin_token)) {
    snprintf(err, errsz,
             "[admin] bind = %s is not loopback: set [admin] token (TERN_ADMIN_TOKEN) so "
             "/metrics, /stats and /debug/events need `Authorization: Bearer <token>`",
             c->admin_bind ? c->admin_bind : "");
    return TERN_ECONFIG;
  }
  return 0;
}

/* ---- sessions (worker threads) ------------------------------------------- */

static int clip_index(int rate) {
  for (int i = 0; i < 4; i++)
    if (k_rates[i] == rate)
      return i;
  return 1;
}

static void note_holds(sess_t *x) {
  if (!x->s)
    return;
  tern_session_stats_t st;
  tern_session_stats(x->s, &st);
  if (st.holds > x->holds_seen) {
    tern__metrics_holds(x->srv->metrics, st.holds - x->holds_seen);
    x->holds_seen = st.holds;
  }
  if (st.dead_air_violations > x->violations_seen) {
    tern__metrics_dead_air(x->srv->metrics, st.dead_air_violations - x->violations_seen);
    x->violations_seen = st.dead_air_violations;
  }
}

static void server_event(void *ud, const char *type, const char *line, size_t len,
                         const tern_log_field_t *f, size_t n) {
  sess_t *x = ud;
  tern_server_t *srv = x->srv;
  tern__metrics_event(srv->metrics, type, line, len, f, n);
  /* Holding phrases and dead-air violations have no event of their own;
   * they show in the session's stats once the agent's audio starts. */
  if (!strcmp(type, "agent_started_speaking") || !strcmp(type, "session_closed"))
    note_holds(x);
  if (srv->events_file) {
    pthread_mutex_lock(&srv->events_mu);
    fwrite(line, 1, len, srv->events_file);
    fputc('\n', srv->events_file);
    fflush(srv->events_file);
    pthread_mutex_unlock(&srv->events_mu);
  }
}

static bool reserve(tern_server_t *srv) {
  uint_fast64_t cur = atomic_load(&srv->active);
  do {
    if (atomic_load(&srv->draining) || cur >= srv->cfg.max_sessions)
      return false;
  } while (!atomic_compare_exchange_weak(&srv->active, &cur, cur + 1));
  return true;
}

static void sess_free(sess_t *x) {
  tern_session_destroy(x->s);
  for (int i = 0; i < 3; i++)
    tern_fallback_destroy(x->f[i]);
  tern_tools_destroy(x->tools);
  tern_events_destroy(x->ev);
  tern_free(x);
}

static int on_open(void *ud, tern_loop_t *loop, const tern_transport_request_t *req,
                   tern_transport_session_t *out) {
  worker_t *w = ud;
  tern_server_t *srv = w->srv;
  if (!reserve(srv))
    return TERN_EBUSY;
  sess_t *x = tern_calloc(1, sizeof *x);
  if (!x) {
    atomic_fetch_sub(&srv->active, 1);
    return TERN_ENOMEM;
  }
  x->srv = srv;
  x->w = w;
  char id[32];
  snprintf(id, sizeof id, "s-%012" PRIx64, (uint64_t)(tern_rand_u64(&w->rand) & 0xffffffffffffULL));
  int rc = tern_events_create(id, &x->ev);
  if (!rc)
    rc = tern_events_listen(x->ev, server_event, x);
  static const tern_component_t comps[3] = {TERN_COMP_STT, TERN_COMP_LLM, TERN_COMP_TTS};
  for (int i = 0; i < 3 && !rc; i++)
    rc = tern_stack_runner(srv->stack, comps[i], loop, x->ev, tern_rand_u64(&w->rand), &x->f[i]);
  if (!rc)
    rc = tern_tools_create(&x->tools);
  if (!rc) {
    char err[256] = "";
    if (tern_demo_tools_register(x->tools, srv->knowledge, err, sizeof err) == TERN_ENOMEM)
      rc = TERN_ENOMEM;
  }
  if (!rc) {
    tern_session_config_t sc = srv->scfg;
    sc.sample_rate = req->sample_rate ? req->sample_rate : sc.sample_rate;
    sc.seed = tern_rand_u64(&w->rand);
    tern_session_deps_t d = {.loop = loop,
                             .stt = x->f[0],
                             .llm = x->f[1],
                             .tts = x->f[2],
                             .tools = x->tools,
                             .events = x->ev,
                             .clips = srv->clips[clip_index(sc.sample_rate)]};
    rc = tern_session_create(&sc, &d, &x->s);
  }
  if (rc) {
    sess_free(x);
    atomic_fetch_sub(&srv->active, 1);
    return rc;
  }
  atomic_fetch_add(&w->sessions, 1);
  TERN_LOG(TERN_LOG_INFO, "session_admitted", TERN_LF_STR("session", id),
           TERN_LF_INT("worker", w->index), TERN_LF_STR("peer", req->peer));
  out->session = x->s;
  out->events = x->ev;
  out->ud = x;
  return 0;
}

static void on_release(void *ud, tern_transport_session_t *ts) {
  worker_t *w = ud;
  sess_t *x = ts->ud;
  note_holds(x);
  sess_free(x);
  atomic_fetch_sub(&w->sessions, 1);
  atomic_fetch_sub(&w->srv->active, 1);
}

static bool origin_ok(tern_server_t *srv, const char *origin, const char *host) {
  if (!*origin || srv->origins_any)
    return true; /* not a browser: Origin protects browsers only */
  if (srv->origins.count) {
    size_t ol = strlen(origin);
    while (ol && origin[ol - 1] == '/')
      ol--;
    for (size_t i = 0; i < srv->origins.count; i++) {
      const char *a = srv->origins.items[i];
      size_t al = strlen(a);
      while (al && a[al - 1] == '/')
        al--;
      if (al == ol && !strncasecmp(a, origin, ol))
        return true;
    }
    return false;
  }
  const char *p = strstr(origin, "://");
  p = p ? p + 3 : origin;
  return *host && !strcasecmp(p, host);
}

static int on_admit(void *ud, const tern_transport_request_t *req, char *msg, size_t msgsz) {
  worker_t *w = ud;
  tern_server_t *srv = w->srv;
  if (!origin_ok(srv, req->origin, req->host)) {
    tern__metrics_refused(srv->metrics, "origin");
    snprintf(msg, msgsz, "origin not allowed: set [server] allowed_origins");
    return 403;
  }
  if (!srv->cfg.auth_disabled) {
    tern_token_keys_t keys = {srv->cfg.api_key, srv->cfg.api_secret};
    tern_token_status_t st;
    char why[160];
    int rc = tern_token_verify(&keys, req->access_token, (int64_t)time(NULL), srv->cfg.token_leeway,
                               NULL, &st, why, sizeof why);
    if (rc == TERN_ENOMEM) {
      snprintf(msg, msgsz, "out of memory");
      return 503;
    }
    if (rc) {
      tern__metrics_refused(srv->metrics, "auth");
      TERN_LOG(TERN_LOG_INFO, "session_refused", TERN_LF_STR("reason", tern_token_status_name(st)),
               TERN_LF_STR("peer", req->peer));
      snprintf(msg, msgsz, "access token refused: %s", why);
      return 401;
    }
  }
  if (atomic_load(&srv->draining)) {
    tern__metrics_refused(srv->metrics, "draining");
    snprintf(msg, msgsz, "server draining: try another instance");
    return 503;
  }
  if (atomic_load(&srv->active) >= srv->cfg.max_sessions) {
    tern__metrics_refused(srv->metrics, "full");
    snprintf(msg, msgsz, "server full: try again later");
    return 503;
  }
  return 0;
}

/* ---- workers ----------------------------------------------------------- */

static void publish_worker(worker_t *w, int rc) {
  pthread_mutex_lock(&w->srv->mu);
  w->rc = rc;
  w->ready = true;
  pthread_cond_broadcast(&w->srv->cv);
  pthread_mutex_unlock(&w->srv->mu);
}


/* Where the browser client's files are: [server] web_root; else web/
 * under the working directory; else the source tree's web/ (a build run
 * where it was built). */
static const char *web_root_dir(const tern_server_t *srv) {
  if (srv->web_root)
    return srv->web_root;
  if (access("web/index.html", R_OK) == 0)
    return "web";
#ifdef TERN_WEB_ROOT_DEFAULT
  return TERN_WEB_ROOT_DEFAULT;
#else
  return NULL;
#endif
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  tern_server_t *srv = w->srv;
  int rc = tern_loop_create(NULL, &w->loop);
  if (!rc) {
    tern_transport_opts_t o = {.iface = srv->cfg.bind,
                               .port = srv->port,
                               .listen_share = srv->nworkers > 1,
                               .web_root = web_root_dir(srv),
                               .admit = on_admit,
                               .open = on_open,
                               .release = on_release,
                               .ud = w};
    rc = tern_transport_create(w->loop, &o, &w->tp);
    if (rc)
      snprintf(w->err, sizeof w->err, "cannot listen on %s:%d (%s)",
               srv->cfg.bind ? srv->cfg.bind : "*", srv->port,
               rc == TERN_EIO ? "port in use or not permitted" : tern_strerror(rc));
  } else {
    snprintf(w->err, sizeof w->err, "cannot create a loop: %s", tern_strerror(rc));
  }
  publish_worker(w, rc);
  if (!rc)
    tern_loop_run(w->loop);
  tern_transport_shutdown(w->tp);
  tern_loop_destroy(w->loop);
  tern_transport_free(w->tp);
  w->tp = NULL;
  return NULL;
}

static void post_workers(tern_server_t *srv, tern_loop_fn fn) {
  for (unsigned i = 0; i < srv->nworkers; i++)
    if (srv->workers[i].loop && srv->workers[i].rc == 0)
      tern_loop_post(srv->workers[i].loop, fn, &srv->workers[i]);
}

static void w_end_all(tern_loop_t *l, void *ud) {
  (void)l;
  worker_t *w = ud;
  tern_transport_end_all(w->tp, w->srv->cfg.goodbye, "server_drain");
}

static void w_close_all(tern_loop_t *l, void *ud) {
  (void)l;
  worker_t *w = ud;
  tern_transport_close_all(w->tp, "server_shutdown");
}

/* ---- control thread: drain, signals, admin ---------------------------------- */

static void finish(tern_server_t *srv) {
  if (srv->finished)
    return; /* the workers' loops may be gone already */
  srv->finished = true;
  srv->phase = 4;
  tern_loop_timer_stop(srv->drain_timer);
  for (unsigned i = 0; i < srv->nworkers; i++)
    if (srv->workers[i].loop)
      tern_loop_stop(srv->workers[i].loop);
  tern_loop_stop(srv->ctl);
}

static void enter_phase(tern_server_t *srv, int phase) {
  if (phase <= srv->phase)
    return;
  srv->phase = phase;
  srv->phase_at = tern_loop_now(srv->ctl);
  if (phase == 2) {
    TERN_LOG(TERN_LOG_WARN, "drain_goodbye",
             TERN_LF_INT("sessions", (int64_t)atomic_load(&srv->active)));
    post_workers(srv, w_end_all);
  } else if (phase == 3) {
    post_workers(srv, w_close_all);
  }
  if (!tern_loop_timer_active(srv->drain_timer))
    tern_loop_timer_start(srv->drain_timer, 0, DRAIN_POLL);
}

static void on_drain_tick(tern_loop_timer_t *t, void *ud) {
  (void)t;
  tern_server_t *srv = ud;
  if (srv->phase >= 4)
    return;
  if (atomic_load(&srv->active) == 0) {
    TERN_LOG(TERN_LOG_WARN, "drain_done");
    finish(srv);
    return;
  }
  tern_usec_t since = tern_loop_now(srv->ctl) - srv->phase_at;
  if (srv->phase == 1 && since >= srv->cfg.drain_timeout)
    enter_phase(srv, 2);
  else if (srv->phase == 2 && since >= srv->cfg.drain_grace)
    enter_phase(srv, 3);
  else if (srv->phase == 3 && since >= CLOSE_WAIT)
    finish(srv);
}

static void c_drain(tern_loop_t *l, void *ud) {
  (void)l;
  tern_server_t *srv = ud;
  if (srv->phase == 0) {
    TERN_LOG(TERN_LOG_WARN, "drain_started",
             TERN_LF_INT("sessions", (int64_t)atomic_load(&srv->active)),
             TERN_LF_INT("timeout_ms", srv->cfg.drain_timeout / 1000));
    enter_phase(srv, 1);
  }
}

static void c_stop(tern_loop_t *l, void *ud) {
  (void)l;
  tern_server_t *srv = ud;
  if (srv->phase < 3)
    enter_phase(srv, 3);
}

static void on_signal(uv_signal_t *h, int signum) {
  tern_server_t *srv = h->data;
  srv->signals_seen++;
  TERN_LOG(TERN_LOG_WARN, "signal", TERN_LF_INT("signal", signum),
           TERN_LF_INT("count", srv->signals_seen));
  atomic_store(&srv->draining, true);
  if (srv->signals_seen == 1)
    c_drain(srv->ctl, srv);
  else if (srv->signals_seen == 2)
    enter_phase(srv, 2);
  else
    finish(srv);
}

static void on_sample(tern_loop_timer_t *t, void *ud) {
  (void)t;
  tern_server_t *srv = ud;
  tern__metrics_sample(srv->metrics, tern_loop_now(srv->ctl), atomic_load(&srv->active));
}

/* The dashboard page, read at each request so it can be changed without a
 * restart: dashboard/index.html in the browser client's folder (found as
 * web_root_dir says). */
static void dashboard(tern_server_t *srv, tern__admin_response_t *res) {
  const char *root = web_root_dir(srv);
  char path[1024];
  snprintf(path, sizeof path, "%s/dashboard/index.html", root ? root : "web");
  FILE *f = root ? fopen(path, "rb") : NULL;
  if (!f) {
    res->status = 404;
    tern_buf_printf(&res->body,
                    "no dashboard: %s is missing; set [server] web_root to the folder holding "
                    "tern's web/ files\n",
                    path);
    return;
  }
  char chunk[8192];
  size_t n;
  int rc = 0;
  while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
    rc = res->body.len + n > PAGE_MAX ? TERN_ETOOBIG : tern_buf_append(&res->body, chunk, n);
  if (!rc && ferror(f))
    rc = TERN_EIO;
  fclose(f);
  if (rc) {
    tern_buf_free(&res->body);
    res->status = 500;
    return;
  }
  res->status = 200;
  res->content_type = "text/html; charset=utf-8";
  /* The page is self-contained: inline script and style, data from this
   * origin only; it is never framed and never sends its address (which
   * may hold the token) anywhere. */
  res->extra_header =
      "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "
      "style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; "
      "frame-ancestors 'none'\r\nReferrer-Policy: no-referrer\r\nX-Frame-Options: DENY";
}

static void admin_fn(void *ud, const char *path, const char *query, tern__admin_response_t *res) {
  tern_server_t *srv = ud;
  uint64_t active = atomic_load(&srv->active);
  bool draining = atomic_load(&srv->draining);
  if (!strcmp(path, "/health")) {
    res->status = 200;
    tern_buf_appends(&res->body, "ok\n");
  } else if (!strcmp(path, "/ready")) {
    bool full = active >= srv->cfg.max_sessions;
    res->status = draining || full ? 503 : 200;
    tern_buf_appends(&res->body, draining ? "draining\n" : full ? "full\n" : "ready\n");
  } else if (!strcmp(path, "/metrics")) {
    tern__gauges_t g = {active, srv->cfg.max_sessions, srv->nworkers, draining,
                        (double)(tern_clock_now(tern_clock_monotonic()) - srv->started_at) / 1e6};
    if (tern__metrics_render(srv->metrics, &g, &res->body)) {
      res->status = 500;
      return;
    }
    res->status = 200;
    res->content_type = "text/plain; version=0.0.4; charset=utf-8";
  } else if (!strcmp(path, "/dashboard")) {
    dashboard(srv, res);
  } else if (!strcmp(path, "/debug/events")) {
    char lim[16];
    long limit = tern__query_param(query, "limit", lim, sizeof lim) ? strtol(lim, NULL, 10) : 0;
    size_t n = limit > 0 ? (size_t)limit : 0;
    res->status = tern__metrics_events(srv->metrics, n, &res->body) ? 500 : 200;
    res->content_type = "application/x-ndjson";
  } else if (!strcmp(path, "/stats")) {
    tern_usec_t now = tern_clock_now(tern_clock_monotonic());
    tern__counts_t c;
    tern__metrics_counts(srv->metrics, &c);
    json_t *per = json_array();
    for (unsigned i = 0; i < srv->nworkers && per; i++)
      json_array_append_new(per, json_integer(atomic_load(&srv->workers[i].sessions)));
    json_t *j = json_pack(
        "{s:f,s:b,s:I,s:I,s:o*,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:{s:s,s:s,s:s},s:i,s:b}", "uptime_s",
        (double)(tern_clock_now(tern_clock_monotonic()) - srv->started_at) / 1e6, "draining",
        draining, "sessions_active", (json_int_t)active, "max_sessions",
        (json_int_t)srv->cfg.max_sessions, "sessions_per_worker", per, "sessions_total",
        (json_int_t)c.sessions, "turns_total", (json_int_t)c.turns, "errors_total",
        (json_int_t)c.errors, "failovers_total", (json_int_t)c.failovers, "holding_phrases_total",
        (json_int_t)c.holds, "fallback_phrases_total", (json_int_t)c.fallbacks,
        "dead_air_violations_total", (json_int_t)c.dead_air_violations, "chains", "stt",
        tern_stack_chain(srv->stack, TERN_COMP_STT), "llm",
        tern_stack_chain(srv->stack, TERN_COMP_LLM), "tts",
        tern_stack_chain(srv->stack, TERN_COMP_TTS), "port", srv->port, "auth",
        !srv->cfg.auth_disabled);
    char *s = j ? tern_json_dump(j) : NULL;
    json_decref(j);
    /* The dashboard's fields go inside the same object, before its '}'. */
    size_t sl = s ? strlen(s) : 0;
    int rc = sl > 1 ? tern_buf_append(&res->body, s, sl - 1) : TERN_ENOMEM;
    tern_free(s);
    if (!rc)
      rc = tern__metrics_stats(srv->metrics, now, srv->started_at, active, &res->body);
    if (!rc)
      rc = tern_buf_appends(&res->body, "}\n");
    if (rc) {
      tern_buf_free(&res->body);
      res->status = 500;
      return;
    }
    res->status = 200;
    res->content_type = "application/json";
  }
}

static void publish_ctl(tern_server_t *srv, int rc) {
  pthread_mutex_lock(&srv->mu);
  srv->ctl_rc = rc;
  srv->ctl_ready = true;
  srv->ctl_alive = rc == 0;
  pthread_cond_broadcast(&srv->cv);
  pthread_mutex_unlock(&srv->mu);
}

static void *ctl_main(void *arg) {
  tern_server_t *srv = arg;
  int rc = tern_loop_create(NULL, &srv->ctl);
  if (rc) {
    snprintf(srv->ctl_err, sizeof srv->ctl_err, "cannot create a loop: %s", tern_strerror(rc));
    publish_ctl(srv, rc);
    return NULL;
  }
  rc = tern_loop_timer_create(srv->ctl, on_drain_tick, srv, &srv->drain_timer);
  if (!rc)
    rc = tern_loop_timer_create(srv->ctl, on_sample, srv, &srv->sample_timer);
  if (!rc)
    rc = tern_loop_timer_start(srv->sample_timer, 0, SAMPLE_EVERY);
  if (!rc && srv->cfg.admin_port >= 0) {
    rc =
        tern__admin_create(srv->ctl, srv->cfg.admin_bind, srv->cfg.admin_port, srv->cfg.admin_token,
                           admin_fn, srv, &srv->admin, srv->ctl_err, sizeof srv->ctl_err);
    if (!rc)
      srv->admin_port = tern__admin_port(srv->admin);
  }
  if (!rc && srv->handle_signals) {
    static const int sigs[2] = {SIGTERM, SIGINT};
    for (int i = 0; i < 2; i++) {
      uv_signal_init(tern_loop_uv(srv->ctl), &srv->sig[i]);
      srv->sig[i].data = srv;
      uv_signal_start(&srv->sig[i], on_signal, sigs[i]);
    }
    srv->sig_on = true;
  }
  publish_ctl(srv, rc);
  if (!rc)
    tern_loop_run(srv->ctl);
  pthread_mutex_lock(&srv->mu);
  srv->ctl_alive = false;
  pthread_mutex_unlock(&srv->mu);
  tern__admin_close(srv->admin);
  srv->admin = NULL;
  if (srv->sig_on)
    for (int i = 0; i < 2; i++)
      uv_close((uv_handle_t *)&srv->sig[i], NULL);
  tern_loop_timer_destroy(srv->drain_timer);
  srv->drain_timer = NULL;
  tern_loop_timer_destroy(srv->sample_timer);
  srv->sample_timer = NULL;
  tern_loop_destroy(srv->ctl);
  srv->ctl = NULL;
  /* Whatever stopped the control loop, the workers stop with it. */
  return NULL;
}

static bool post_ctl(tern_server_t *srv, tern_loop_fn fn) {
  pthread_mutex_lock(&srv->mu);
  bool ok = srv->ctl_alive && tern_loop_post(srv->ctl, fn, srv) == 0;
  pthread_mutex_unlock(&srv->mu);
  return ok;
}

/* ---- public -------------------------------------------------------------------- */

int tern_server_create(const tern_server_opts_t *o, tern_server_t **out, char *err, size_t errsz) {
  if (!out)
    return TERN_EINVAL;
  *out = NULL;
  if (!o || !o->config)
    return TERN_EINVAL;
  tern_server_t *srv = tern_calloc(1, sizeof *srv);
  if (!srv)
    return TERN_ENOMEM;
  srv->conf = o->config;
  srv->events_file = o->events_file;
  srv->handle_signals = o->handle_signals;
  pthread_mutex_init(&srv->mu, NULL);
  pthread_mutex_init(&srv->events_mu, NULL);
  pthread_cond_init(&srv->cv, NULL);
  atomic_init(&srv->draining, false);
  atomic_init(&srv->active, 0);
  int rc = 0;
  if (o->server) {
    srv->cfg = *o->server;
  } else {
    tern_server_config_default(&srv->cfg);
    rc = tern_server_config_load(&srv->cfg, o->config, err, errsz);
  }
  if (!rc && !srv->cfg.auth_disabled &&
      !(srv->cfg.api_key && *srv->cfg.api_key && srv->cfg.api_secret && *srv->cfg.api_secret)) {
    snprintf(err, errsz, "[auth] api_key and api_secret are required unless [auth] disabled");
    rc = TERN_ECONFIG;
  }
  if (!rc) {
    tern_session_config_default(&srv->scfg);
    rc = tern_session_config_load(&srv->scfg, o->config, err, errsz);
  }
  if (!rc)
    rc = tern_config_get_list(o->config, "server", "allowed_origins", srv->cfg.allowed_origins,
                              &srv->origins, err, errsz);
  if (!rc) {
    for (size_t i = 0; i < srv->origins.count; i++)
      if (!strcmp(srv->origins.items[i], "*"))
        srv->origins_any = true;
    tern_config_get_str(o->config, "session", "knowledge_file", NULL, &srv->knowledge, NULL, 0);
    tern_config_get_str(o->config, "server", "web_root", NULL, &srv->web_root, NULL, 0);
    rc = tern__metrics_create(RING_EVENTS, &srv->metrics);
  }
  if (!rc)
    rc = tern_stack_create(o->config, o->overrides, &srv->stack, err, errsz);
  if (!rc) {
    const char *dir = NULL;
    tern_config_get_str(o->config, "session", "clips_dir", NULL, &dir, NULL, 0);
    for (int i = 0; i < 4 && dir && *dir; i++) {
      char cerr[256];
      if (tern_clips_load_dir(dir, k_rates[i], &srv->clips[i], cerr, sizeof cerr)) {
        TERN_LOG(TERN_LOG_WARN, "clips_not_loaded", TERN_LF_STR("message", cerr));
        break;
      }
    }
    unsigned n = srv->cfg.workers;
    if (!n) {
      long cores = sysconf(_SC_NPROCESSORS_ONLN);
      n = cores > 0 ? (unsigned)(cores > 64 ? 64 : cores) : 1;
    }
    srv->nworkers = n;
    if (!(srv->workers = tern_calloc(n, sizeof *srv->workers)))
      rc = TERN_ENOMEM;
  }
  if (rc) {
    tern_server_destroy(srv);
    return rc;
  }
  tern_rand_t seed;
  tern_rand_seed_system(&seed);
  for (unsigned i = 0; i < srv->nworkers; i++) {
    worker_t *w = &srv->workers[i];
    w->srv = srv;
    w->index = i;
    tern_rand_seed(&w->rand, tern_rand_u64(&seed));
    atomic_init(&w->sessions, 0);
  }
  srv->port = srv->cfg.port;
  srv->admin_port = srv->cfg.admin_port;
  *out = srv;
  return 0;
}

static void stop_started(tern_server_t *srv) {
  for (unsigned i = 0; i < srv->nworkers; i++) {
    worker_t *w = &srv->workers[i];
    if (w->spawned) {
      if (w->rc == 0)
        tern_loop_stop(w->loop);
      pthread_join(w->th, NULL);
      w->spawned = false;
    }
  }
  if (srv->ctl_spawned) {
    pthread_mutex_lock(&srv->mu);
    if (srv->ctl_alive)
      tern_loop_stop(srv->ctl);
    pthread_mutex_unlock(&srv->mu);
    pthread_join(srv->ctl_th, NULL);
    srv->ctl_spawned = false;
  }
}

int tern_server_start(tern_server_t *srv, char *err, size_t errsz) {
  if (!srv)
    return TERN_EINVAL;
  if (srv->started)
    return TERN_ESTATE;
  srv->started = true;
  signal(SIGPIPE, SIG_IGN);
  srv->started_at = tern_clock_now(tern_clock_monotonic());
  int rc = 0;
  for (unsigned i = 0; i < srv->nworkers && !rc; i++) {
    worker_t *w = &srv->workers[i];
    if (pthread_create(&w->th, NULL, worker_main, w)) {
      rc = TERN_ENOMEM;
      snprintf(err, errsz, "cannot start worker thread %u", i);
      break;
    }
    w->spawned = true;
    pthread_mutex_lock(&srv->mu);
    while (!w->ready)
      pthread_cond_wait(&srv->cv, &srv->mu);
    pthread_mutex_unlock(&srv->mu);
    rc = w->rc;
    if (rc)
      snprintf(err, errsz, "%s", w->err);
    else if (i == 0)
      srv->port = tern_transport_port(w->tp); /* an ephemeral port, once chosen, for all */
  }
  if (!rc) {
    if (pthread_create(&srv->ctl_th, NULL, ctl_main, srv)) {
      rc = TERN_ENOMEM;
      snprintf(err, errsz, "cannot start the control thread");
    } else {
      srv->ctl_spawned = true;
      pthread_mutex_lock(&srv->mu);
      while (!srv->ctl_ready)
        pthread_cond_wait(&srv->cv, &srv->mu);
      pthread_mutex_unlock(&srv->mu);
      rc = srv->ctl_rc;
      if (rc)
        snprintf(err, errsz, "%s", srv->ctl_err);
    }
  }
  if (rc) {
    stop_started(srv);
    srv->joined = true;
    return rc;
  }
  TERN_LOG(TERN_LOG_INFO, "server_started", TERN_LF_INT("port", srv->port),
           TERN_LF_INT("admin_port", srv->admin_port), TERN_LF_INT("workers", srv->nworkers));
  return 0;
}

int tern_server_port(const tern_server_t *srv) { return srv ? srv->port : -1; }
int tern_server_admin_port(const tern_server_t *srv) { return srv ? srv->admin_port : -1; }
unsigned tern_server_workers(const tern_server_t *srv) { return srv ? srv->nworkers : 0; }
tern_stack_t *tern_server_stack(tern_server_t *srv) { return srv ? srv->stack : NULL; }

void tern_server_drain(tern_server_t *srv) {
  if (!srv)
    return;
  atomic_store(&srv->draining, true);
  post_ctl(srv, c_drain);
}

void tern_server_stop(tern_server_t *srv) {
  if (!srv)
    return;
  atomic_store(&srv->draining, true);
  post_ctl(srv, c_stop);
}

bool tern_server_draining(const tern_server_t *srv) {
  return srv && atomic_load(&((tern_server_t *)srv)->draining);
}

size_t tern_server_sessions(const tern_server_t *srv) {
  return srv ? (size_t)atomic_load(&((tern_server_t *)srv)->active) : 0;
}

int tern_server_wait(tern_server_t *srv) {
  if (!srv || !srv->started || srv->joined)
    return 0;
  /* The control thread ends the workers' loops as its last act; join it
   * first, then them. */
  if (srv->ctl_spawned) {
    pthread_join(srv->ctl_th, NULL);
    srv->ctl_spawned = false;
  }
  for (unsigned i = 0; i < srv->nworkers; i++) {
    worker_t *w = &srv->workers[i];
    if (w->spawned) {
      pthread_join(w->th, NULL);
      w->spawned = false;
    }
  }
  srv->joined = true;
  return 0;
}

void tern_server_destroy(tern_server_t *srv) {
  if (!srv)
    return;
  if (srv->started && !srv->joined) {
    tern_server_stop(srv);
    tern_server_wait(srv);
  }
  for (int i = 0; i < 4; i++)
    tern_clips_destroy(srv->clips[i]);
  tern_stack_destroy(srv->stack);
  tern__metrics_destroy(srv->metrics);
  tern_config_list_free(&srv->origins);
  tern_free(srv->workers);
  pthread_cond_destroy(&srv->cv);
  pthread_mutex_destroy(&srv->events_mu);
  pthread_mutex_destroy(&srv->mu);
  tern_free(srv);
}

int tern_server_metrics_text(tern_server_t *srv, char **out) {
  *out = NULL;
  tern__gauges_t g = {atomic_load(&srv->active), srv->cfg.max_sessions, srv->nworkers,
                      atomic_load(&srv->draining), 0};
  tern_buf_t b = TERN_BUF_INIT;
  int rc = tern__metrics_render(srv->metrics, &g, &b);
  if (rc) {
    tern_buf_free(&b);
    return rc;
  }
  *out = tern_buf_take(&b);
  return *out ? 0 : TERN_ENOMEM;
}
