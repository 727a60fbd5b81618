/* Server metrics, fed by the session events of every worker.
 *
 * Counters and histogram buckets are relaxed atomics: an event costs a few
 * atomic adds and no lock. The labelled counters (errors by component, kind
 * and provider; provider switches) live in small tables under a mutex;
 * their labels come from the event fields, so their number is bounded by
 * the configured providers, and a table that fills up counts the rest under
 * provider "other" rather than growing. Label values are provider names and
 * taxonomy words, never message text, so no secret can reach a label.
 *
 * The recent-events ring keeps the last N event lines (each a copy, at most
 * RING_LINE_MAX bytes; longer lines are noted as dropped) for
 * /debug/events.
 *
 * For the dashboard (/stats): a history of HISTORY samples of the counters,
 * one per tern__metrics_sample() call (the control loop makes one a
 * second), so a page opened now still shows the last five minutes; and, per
 * breaker, when it entered its state. A breaker does not record that time,
 * so it is worked out: an open breaker knows how long it has left to stay
 * open; one that never changed has been in its state since the start;
 * otherwise the state counts from the first /stats that saw it (a change is
 * told by the breaker's transition counter, so a quick open-and-close
 * between two looks still restarts the clock).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "server/server_internal.h"
#include "tern/alloc.h"
#include "tern/breaker.h"
#include "tern/error.h"
#include "tern/guard.h"
#include "tern/taxonomy.h"

#define NBUCKETS 11
#define LABEL_MAX 48
#define TABLE_MAX 128
#define RING_LINE_MAX 4096
#define HISTORY 301 /* samples: 300 intervals, a sample a second */

static const double k_buckets[NBUCKETS] = {0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0};

enum { H_EOU, H_STT, H_LLM, H_TTS, H_E2E, H__COUNT };
static const char *const k_hist_field[H__COUNT] = {"eou_ms", "stt_ms", "llm_ttft_ms", "tts_ttfb_ms",
                                                   "e2e_ms"};
static const char *const k_hist_name[H__COUNT] = {"tern_eou_seconds", "tern_stt_seconds",
                                                  "tern_llm_ttft_seconds", "tern_tts_ttfb_seconds",
                                                  "tern_e2e_seconds"};
static const char *const k_hist_help[H__COUNT] = {
    "End of user speech to the turn being committed.", "Speech-to-text time for a turn.",
    "Language model time to first token.", "Text-to-speech time to first audio.",
    "End of user speech to the first agent audio."};

typedef struct hist {
  atomic_uint_fast64_t bucket[NBUCKETS]; /* non-cumulative; +Inf is count */
  atomic_uint_fast64_t count;
  atomic_uint_fast64_t sum_us;
} hist_t;

typedef struct labelled {
  char a[LABEL_MAX], b[LABEL_MAX], c[LABEL_MAX];
  uint64_t n;
} labelled_t;

enum { R_AUTH, R_ORIGIN, R_FULL, R_DRAINING, R__COUNT };
static const char *const k_refusal[R__COUNT] = {"auth", "origin", "full", "draining"};

/* Errors over time are kept per component: the three providers' and the rest. */
enum { E_STT, E_LLM, E_TTS, E_OTHER, E__COUNT };
static const char *const k_err_comp[E__COUNT] = {"stt", "llm", "tts", "other"};

typedef struct sample {
  tern_usec_t t;
  uint64_t active, turns, errs[E__COUNT];
} sample_t;

typedef struct since {
  char comp[16], name[LABEL_MAX];
  uint64_t transitions;
  tern_usec_t at;
} since_t;

struct tern__metrics {
  atomic_uint_fast64_t sessions, turns, failovers, holds, fallbacks, errors, events;
  atomic_uint_fast64_t dead_air_violations;
  atomic_uint_fast64_t refused[R__COUNT];
  atomic_uint_fast64_t errs_by_comp[E__COUNT];
  hist_t hist[H__COUNT];

  pthread_mutex_t mu; /* the tables, the ring, the history and the breaker times */
  labelled_t errs[TABLE_MAX], switches[TABLE_MAX];
  size_t nerrs, nswitches;
  char **ring;
  size_t ring_size, ring_head, ring_len;
  uint64_t ring_dropped;
  sample_t hist_ring[HISTORY];
  size_t hist_head, hist_len;
  since_t since[TABLE_MAX];
  size_t nsince;
};

int tern__metrics_create(size_t ring_size, tern__metrics_t **out) {
  *out = NULL;
  tern__metrics_t *m = tern_calloc(1, sizeof *m);
  if (!m)
    return TERN_ENOMEM;
  m->ring_size = ring_size ? ring_size : 1;
  if (!(m->ring = tern_calloc(m->ring_size, sizeof *m->ring))) {
    tern_free(m);
    return TERN_ENOMEM;
  }
  if (pthread_mutex_init(&m->mu, NULL)) {
    tern_free(m->ring);
    tern_free(m);
    return TERN_ENOMEM;
  }
  *out = m;
  return 0;
}

void tern__metrics_destroy(tern__metrics_t *m) {
  if (!m)
    return;
  for (size_t i = 0; i < m->ring_size; i++)
    tern_free(m->ring[i]);
  tern_free(m->ring);
  pthread_mutex_destroy(&m->mu);
  tern_free(m);
}

static const char *fstr(const tern_log_field_t *f, size_t n, const char *key) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(f[i].key, key) && f[i].type == TERN_LOG_T_STR)
      return f[i].v.s ? f[i].v.s : "";
  return "";
}

static double fdbl(const tern_log_field_t *f, size_t n, const char *key) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(f[i].key, key)) {
      if (f[i].type == TERN_LOG_T_DOUBLE)
        return f[i].v.d;
      if (f[i].type == TERN_LOG_T_INT)
        return (double)f[i].v.i;
    }
  return -1;
}

static void inc(atomic_uint_fast64_t *c, uint64_t n) {
  atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t get(atomic_uint_fast64_t *c) {
  return atomic_load_explicit(c, memory_order_relaxed);
}

static void observe(hist_t *h, double seconds) {
  size_t i = 0;
  while (i < NBUCKETS && seconds > k_buckets[i])
    i++;
  if (i < NBUCKETS)
    inc(&h->bucket[i], 1);
  inc(&h->count, 1);
  inc(&h->sum_us, (uint64_t)(seconds * 1e6 + 0.5));
}

/* Caller holds mu. */
static void table_add(labelled_t *t, size_t *n, const char *a, const char *b, const char *c) {
  for (size_t i = 0; i < *n; i++)
    if (!strcmp(t[i].a, a) && !strcmp(t[i].b, b) && !strcmp(t[i].c, c)) {
      t[i].n++;
      return;
    }
  if (*n == TABLE_MAX - 1) { /* the last slot collects whatever does not fit */
    b = "other";
    c = "other";
    for (size_t i = 0; i < *n; i++)
      if (!strcmp(t[i].b, b) && !strcmp(t[i].c, c) && !strcmp(t[i].a, "other")) {
        t[i].n++;
        return;
      }
    a = "other";
  } else if (*n >= TABLE_MAX) {
    t[TABLE_MAX - 1].n++;
    return;
  }
  labelled_t *e = &t[(*n)++];
  snprintf(e->a, sizeof e->a, "%s", a);
  snprintf(e->b, sizeof e->b, "%s", b);
  snprintf(e->c, sizeof e->c, "%s", c);
  e->n = 1;
}

static void ring_add(tern__metrics_t *m, const char *line, size_t len) {
  char *copy = NULL;
  if (len <= RING_LINE_MAX && (copy = tern_malloc(len + 1))) {
    memcpy(copy, line, len);
    copy[len] = '\0';
  }
  pthread_mutex_lock(&m->mu);
  if (!copy) {
    m->ring_dropped++;
  } else {
    size_t i = (m->ring_head + m->ring_len) % m->ring_size;
    if (m->ring_len == m->ring_size) {
      tern_free(m->ring[m->ring_head]);
      m->ring[m->ring_head] = NULL;
      m->ring_head = (m->ring_head + 1) % m->ring_size;
      i = (m->ring_head + m->ring_len - 1) % m->ring_size;
    } else {
      m->ring_len++;
    }
    m->ring[i] = copy;
  }
  pthread_mutex_unlock(&m->mu);
}

void tern__metrics_event(tern__metrics_t *m, const char *type, const char *line, size_t len,
                         const tern_log_field_t *f, size_t n) {
  inc(&m->events, 1);
  if (!strcmp(type, "session_started")) {
    inc(&m->sessions, 1);
  } else if (!strcmp(type, "user_speech_committed")) {
    inc(&m->turns, 1);
  } else if (!strcmp(type, "fallback_spoken")) {
    inc(&m->fallbacks, 1);
  } else if (!strcmp(type, "metrics")) {
    for (int i = 0; i < H__COUNT; i++) {
      double ms = fdbl(f, n, k_hist_field[i]);
      if (ms >= 0)
        observe(&m->hist[i], ms / 1000.0);
    }
  } else if (!strcmp(type, "error")) {
    inc(&m->errors, 1);
    const char *comp = fstr(f, n, "component");
    int e = 0;
    while (e < E_OTHER && strcmp(comp, k_err_comp[e]))
      e++;
    inc(&m->errs_by_comp[e], 1);
    pthread_mutex_lock(&m->mu);
    table_add(m->errs, &m->nerrs, fstr(f, n, "component"), fstr(f, n, "kind"),
              fstr(f, n, "provider"));
    pthread_mutex_unlock(&m->mu);
  } else if (!strcmp(type, "provider_switched")) {
    if (!strcmp(fstr(f, n, "reason"), "failover"))
      inc(&m->failovers, 1);
    pthread_mutex_lock(&m->mu);
    table_add(m->switches, &m->nswitches, fstr(f, n, "component"), fstr(f, n, "from"),
              fstr(f, n, "to"));
    pthread_mutex_unlock(&m->mu);
  }
  ring_add(m, line, len);
}

void tern__metrics_holds(tern__metrics_t *m, unsigned n) {
  if (n)
    inc(&m->holds, n);
}

void tern__metrics_refused(tern__metrics_t *m, const char *reason) {
  for (int i = 0; i < R__COUNT; i++)
    if (!strcmp(reason, k_refusal[i]))
      inc(&m->refused[i], 1);
}

void tern__metrics_dead_air(tern__metrics_t *m, unsigned n) {
  if (n)
    inc(&m->dead_air_violations, n);
}

void tern__metrics_counts(tern__metrics_t *m, tern__counts_t *out) {
  out->sessions = get(&m->sessions);
  out->turns = get(&m->turns);
  out->errors = get(&m->errors);
  out->failovers = get(&m->failovers);
  out->holds = get(&m->holds);
  out->fallbacks = get(&m->fallbacks);
  out->dead_air_violations = get(&m->dead_air_violations);
}

/* ---- rendering ----------------------------------------------------------- */

/* A label value in the exposition format: \\, \" and \n escaped. */
static int esc(tern_buf_t *b, const char *s) {
  int rc = 0;
  for (; *s && !rc; s++) {
    if (*s == '\\')
      rc = tern_buf_appends(b, "\\\\");
    else if (*s == '"')
      rc = tern_buf_appends(b, "\\\"");
    else if (*s == '\n')
      rc = tern_buf_appends(b, "\\n");
    else
      rc = tern_buf_append(b, s, 1);
  }
  return rc;
}

static int head(tern_buf_t *b, const char *name, const char *type, const char *help) {
  return tern_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int counter(tern_buf_t *b, const char *name, const char *help, uint64_t v) {
  int rc = head(b, name, "counter", help);
  return rc ? rc : tern_buf_printf(b, "%s %" PRIu64 "\n", name, v);
}

static int gauge(tern_buf_t *b, const char *name, const char *help, double v) {
  int rc = head(b, name, "gauge", help);
  return rc ? rc : tern_buf_printf(b, "%s %.17g\n", name, v);
}

typedef struct breaker_walk {
  tern_buf_t *b;
  int rc;
} breaker_walk_t;

static void breaker_line(tern_guard_t *g, void *ud) {
  breaker_walk_t *w = ud;
  if (w->rc)
    return;
  int st = (int)tern_breaker_state(g->breaker);
  w->rc = tern_buf_appends(w->b, "tern_breaker_state{provider=\"");
  if (!w->rc)
    w->rc = esc(w->b, g->name);
  if (!w->rc)
    w->rc =
        tern_buf_printf(w->b, "\",component=\"%s\"} %d\n", tern_component_name(g->component), st);
}

static int table(tern_buf_t *b, const char *name, const char *la, const char *lb, const char *lc,
                 const labelled_t *t, size_t n) {
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    rc = tern_buf_printf(b, "%s{%s=\"", name, la);
    if (!rc)
      rc = esc(b, t[i].a);
    if (!rc)
      rc = tern_buf_printf(b, "\",%s=\"", lb);
    if (!rc)
      rc = esc(b, t[i].b);
    if (!rc)
      rc = tern_buf_printf(b, "\",%s=\"", lc);
    if (!rc)
      rc = esc(b, t[i].c);
    if (!rc)
      rc = tern_buf_printf(b, "\"} %" PRIu64 "\n", t[i].n);
  }
  return rc;
}

int tern__metrics_render(tern__metrics_t *m, const tern__gauges_t *g, tern_buf_t *b) {
  int rc = 0;
#define DO(x)                                                                                      \
  do {                                                                                             \
    if (!rc)                                                                                       \
      rc = (x);                                                                                    \
  } while (0)
  DO(gauge(b, "tern_sessions_active", "Sessions in progress.", (double)g->active));
  DO(gauge(b, "tern_sessions_max", "Configured session capacity.", (double)g->max_sessions));
  DO(gauge(b, "tern_draining", "1 while the server drains.", g->draining ? 1 : 0));
  DO(gauge(b, "tern_workers", "Worker threads.", (double)g->workers));
  DO(gauge(b, "tern_uptime_seconds", "Seconds since the server started.", g->uptime_s));
  DO(counter(b, "tern_sessions_total", "Sessions started.", get(&m->sessions)));
  DO(head(b, "tern_sessions_refused_total", "counter",
          "Sessions refused before the upgrade, by reason."));
  for (int i = 0; i < R__COUNT; i++)
    DO(tern_buf_printf(b, "tern_sessions_refused_total{reason=\"%s\"} %" PRIu64 "\n", k_refusal[i],
                       get(&m->refused[i])));
  DO(counter(b, "tern_turns_total", "User turns committed.", get(&m->turns)));
  DO(counter(b, "tern_failovers_total", "Fallback chain failovers to a next provider.",
             get(&m->failovers)));
  DO(counter(b, "tern_dead_air_events_total",
             "Holding phrases spoken because the caller waited too long.", get(&m->holds)));
  DO(counter(b, "tern_dead_air_violations_total",
             "Turns where no agent audio started within the dead-air bound.",
             get(&m->dead_air_violations)));
  DO(counter(b, "tern_fallback_phrases_total", "Spoken fallback phrases.", get(&m->fallbacks)));
  DO(counter(b, "tern_events_total", "Session events emitted.", get(&m->events)));

  pthread_mutex_lock(&m->mu);
  DO(head(b, "tern_errors_total", "counter", "Provider errors by component, kind and provider."));
  DO(table(b, "tern_errors_total", "component", "kind", "provider", m->errs, m->nerrs));
  DO(head(b, "tern_provider_switches_total", "counter",
          "Provider switches by component, from and to."));
  DO(table(b, "tern_provider_switches_total", "component", "from", "to", m->switches,
           m->nswitches));
  uint64_t dropped = m->ring_dropped;
  pthread_mutex_unlock(&m->mu);
  DO(counter(b, "tern_debug_events_dropped_total",
             "Events too long or without memory for the ring.", dropped));

  DO(head(b, "tern_breaker_state", "gauge",
          "Circuit breaker per provider: 0 closed, 1 open, 2 half-open."));
  breaker_walk_t w = {b, 0};
  tern_guards_foreach(breaker_line, &w);
  DO(w.rc);

  for (int h = 0; h < H__COUNT; h++) {
    hist_t *hs = &m->hist[h];
    DO(head(b, k_hist_name[h], "histogram", k_hist_help[h]));
    uint64_t cum = 0;
    for (int i = 0; i < NBUCKETS; i++) {
      cum += get(&hs->bucket[i]);
      DO(tern_buf_printf(b, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", k_hist_name[h], k_buckets[i],
                         cum));
    }
    uint64_t count = get(&hs->count);
    if (count < cum) /* a scrape between an observation's adds */
      count = cum;
    DO(tern_buf_printf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", k_hist_name[h], count));
    DO(tern_buf_printf(b, "%s_sum %.6f\n", k_hist_name[h], (double)get(&hs->sum_us) / 1e6));
    DO(tern_buf_printf(b, "%s_count %" PRIu64 "\n", k_hist_name[h], count));
  }
#undef DO
  return rc;
}

int tern__metrics_events(tern__metrics_t *m, size_t limit, tern_buf_t *out) {
  int rc = 0;
  pthread_mutex_lock(&m->mu);
  size_t skip = limit && limit < m->ring_len ? m->ring_len - limit : 0;
  for (size_t i = skip; i < m->ring_len && !rc; i++) {
    const char *l = m->ring[(m->ring_head + i) % m->ring_size];
    rc = tern_buf_appends(out, l);
    if (!rc)
      rc = tern_buf_append(out, "\n", 1);
  }
  pthread_mutex_unlock(&m->mu);
  if (!rc && !out->data)
    rc = tern_buf_append(out, "", 0);
  return rc;
}

/* ---- the dashboard's /stats fields ---------------------------------------- */

static void snapshot(tern__metrics_t *m, tern_usec_t now, uint64_t active, sample_t *s) {
  s->t = now;
  s->active = active;
  s->turns = get(&m->turns);
  for (int e = 0; e < E__COUNT; e++)
    s->errs[e] = get(&m->errs_by_comp[e]);
}

void tern__metrics_sample(tern__metrics_t *m, tern_usec_t now, uint64_t active) {
  sample_t s;
  pthread_mutex_lock(&m->mu);
  snapshot(m, now, active, &s);
  if (m->hist_len == HISTORY) {
    m->hist_head = (m->hist_head + 1) % HISTORY;
    m->hist_len--;
  }
  m->hist_ring[(m->hist_head + m->hist_len++) % HISTORY] = s;
  pthread_mutex_unlock(&m->mu);
}

/* A JSON string. Labels are provider names and taxonomy words; a byte that
 * could break the JSON (or its UTF-8) becomes '?'. */
static int jstr(tern_buf_t *b, const char *s) {
  int rc = tern_buf_append(b, "\"", 1);
  for (; *s && !rc; s++) {
    unsigned char c = (unsigned char)*s;
    char ch = c < 0x20 || c >= 0x80 ? '?' : (char)c;
    if (ch == '"' || ch == '\\')
      rc = tern_buf_append(b, "\\", 1);
    if (!rc)
      rc = tern_buf_append(b, &ch, 1);
  }
  return rc ? rc : tern_buf_append(b, "\"", 1);
}

static int jtable(tern_buf_t *b, const char *key, const char *la, const char *lb, const char *lc,
                  const labelled_t *t, size_t n) {
  int rc = tern_buf_printf(b, ",\"%s\":[", key);
  for (size_t i = 0; i < n && !rc; i++) {
    rc = tern_buf_printf(b, "%s{\"%s\":", i ? "," : "", la);
    if (!rc)
      rc = jstr(b, t[i].a);
    if (!rc)
      rc = tern_buf_printf(b, ",\"%s\":", lb);
    if (!rc)
      rc = jstr(b, t[i].b);
    if (!rc)
      rc = tern_buf_printf(b, ",\"%s\":", lc);
    if (!rc)
      rc = jstr(b, t[i].c);
    if (!rc)
      rc = tern_buf_printf(b, ",\"count\":%" PRIu64 "}", t[i].n);
  }
  return rc ? rc : tern_buf_append(b, "]", 1);
}

/* Caller holds mu. The interval series, oldest first: for each sample after
 * the first, and for `live` (now), the change since the one before. */
static int jhistory(tern__metrics_t *m, const sample_t *live, tern_buf_t *b) {
  size_t n = m->hist_len;
  const sample_t *s[HISTORY + 1];
  for (size_t i = 0; i < n; i++)
    s[i] = &m->hist_ring[(m->hist_head + i) % HISTORY];
  s[n++] = live;
  int rc = tern_buf_appends(b, ",\"history\":{\"ago_s\":[");
  for (size_t i = 1; i < n && !rc; i++)
    rc = tern_buf_printf(b, "%s%.3f", i > 1 ? "," : "", (double)(live->t - s[i]->t) / 1e6);
  if (!rc)
    rc = tern_buf_appends(b, "],\"active\":[");
  for (size_t i = 1; i < n && !rc; i++)
    rc = tern_buf_printf(b, "%s%" PRIu64, i > 1 ? "," : "", s[i]->active);
  if (!rc)
    rc = tern_buf_appends(b, "],\"turns\":[");
  for (size_t i = 1; i < n && !rc; i++)
    rc = tern_buf_printf(b, "%s%" PRIu64, i > 1 ? "," : "", s[i]->turns - s[i - 1]->turns);
  if (!rc)
    rc = tern_buf_appends(b, "],\"errors\":{");
  for (int e = 0; e < E__COUNT && !rc; e++) {
    rc = tern_buf_printf(b, "%s\"%s\":[", e ? "]," : "", k_err_comp[e]);
    for (size_t i = 1; i < n && !rc; i++)
      rc = tern_buf_printf(b, "%s%" PRIu64, i > 1 ? "," : "", s[i]->errs[e] - s[i - 1]->errs[e]);
  }
  return rc ? rc : tern_buf_appends(b, "]}}");
}

static int jlatency(tern__metrics_t *m, tern_buf_t *b) {
  static const char *const key[H__COUNT] = {"eou", "stt", "llm_ttft", "tts_ttfb", "e2e"};
  int rc = tern_buf_appends(b, ",\"latency\":{\"le\":[");
  for (int i = 0; i < NBUCKETS && !rc; i++)
    rc = tern_buf_printf(b, "%s%g", i ? "," : "", k_buckets[i]);
  if (!rc)
    rc = tern_buf_append(b, "]", 1);
  for (int h = 0; h < H__COUNT && !rc; h++) {
    hist_t *hs = &m->hist[h];
    uint64_t v[NBUCKETS], in = 0;
    for (int i = 0; i < NBUCKETS; i++)
      in += v[i] = get(&hs->bucket[i]);
    uint64_t count = get(&hs->count);
    if (count < in) /* read between an observation's adds */
      count = in;
    rc = tern_buf_printf(b, ",\"%s\":{\"buckets\":[", key[h]);
    for (int i = 0; i < NBUCKETS && !rc; i++)
      rc = tern_buf_printf(b, "%" PRIu64 ",", v[i]);
    if (!rc) /* the last bucket holds everything over the largest bound */
      rc = tern_buf_printf(b, "%" PRIu64 "],\"count\":%" PRIu64 ",\"sum_s\":%.6f}", count - in,
                           count, (double)get(&hs->sum_us) / 1e6);
  }
  return rc ? rc : tern_buf_append(b, "}", 1);
}

typedef struct breaker_json {
  tern__metrics_t *m;
  tern_buf_t *b;
  tern_usec_t now, started;
  int rc, n;
} breaker_json_t;

/* Caller holds mu. When the breaker entered its state (see the top). */
static tern_usec_t state_since(tern__metrics_t *m, const char *comp, const char *name,
                               const tern_breaker_stats_t *st, tern_usec_t now,
                               tern_usec_t started) {
  since_t *e = NULL;
  for (size_t i = 0; i < m->nsince && !e; i++)
    if (!strcmp(m->since[i].comp, comp) && !strcmp(m->since[i].name, name))
      e = &m->since[i];
  tern_usec_t at;
  if (st->state == TERN_BREAKER_OPEN && !st->forced && st->open_duration)
    at = now - (st->open_duration - st->until_half_open);
  else if (e && e->transitions == st->transitions)
    at = e->at;
  else
    at = st->transitions ? now : started;
  if (!e && m->nsince < TABLE_MAX) {
    e = &m->since[m->nsince++];
    snprintf(e->comp, sizeof e->comp, "%s", comp);
    snprintf(e->name, sizeof e->name, "%s", name);
  }
  if (e) {
    e->transitions = st->transitions;
    e->at = at;
  }
  return at;
}

static void breaker_json(tern_guard_t *g, void *ud) {
  breaker_json_t *w = ud;
  if (w->rc)
    return;
  tern_breaker_stats_t st;
  if (tern_breaker_stats(g->breaker, w->now, &st))
    return;
  const char *comp = tern_component_name(g->component);
  pthread_mutex_lock(&w->m->mu);
  tern_usec_t at = state_since(w->m, comp, g->name, &st, w->now, w->started);
  pthread_mutex_unlock(&w->m->mu);
  tern_buf_t *b = w->b;
  int rc = tern_buf_printf(b, "%s{\"component\":\"%s\",\"provider\":", w->n++ ? "," : "", comp);
  if (!rc)
    rc = jstr(b, g->name);
  if (!rc)
    rc = tern_buf_printf(b,
                         ",\"state\":\"%s\",\"forced\":%s,\"in_state_s\":%.3f,"
                         "\"until_half_open_s\":%.3f,\"opens\":%" PRIu64 ",\"failures\":%" PRIu64
                         ",\"successes\":%" PRIu64 ",\"rejected\":%" PRIu64 "}",
                         tern_breaker_state_name(st.state), st.forced ? "true" : "false",
                         (double)(w->now - at) / 1e6, (double)st.until_half_open / 1e6, st.opens,
                         st.failures, st.successes, st.rejected);
  w->rc = rc;
}

int tern__metrics_stats(tern__metrics_t *m, tern_usec_t now, tern_usec_t started, uint64_t active,
                        tern_buf_t *b) {
  int rc = tern_buf_appends(b, ",\"refused\":{");
  for (int i = 0; i < R__COUNT && !rc; i++)
    rc = tern_buf_printf(b, "%s\"%s\":%" PRIu64, i ? "," : "", k_refusal[i], get(&m->refused[i]));
  if (!rc)
    rc = tern_buf_printf(b, "},\"dead_air_events_total\":%" PRIu64, get(&m->holds));
  if (!rc)
    rc = jlatency(m, b);
  /* Snapshots are taken under mu, so the series never goes backwards. */
  pthread_mutex_lock(&m->mu);
  sample_t live;
  snapshot(m, now, active, &live);
  if (!rc)
    rc = jtable(b, "errors", "component", "kind", "provider", m->errs, m->nerrs);
  if (!rc)
    rc = jtable(b, "switches", "component", "from", "to", m->switches, m->nswitches);
  if (!rc)
    rc = jhistory(m, &live, b);
  pthread_mutex_unlock(&m->mu);
  if (!rc)
    rc = tern_buf_appends(b, ",\"breakers\":[");
  /* Lock order: the guard registry, then mu (in state_since). */
  breaker_json_t w = {m, b, now, started, 0, 0};
  if (!rc) {
    tern_guards_foreach(breaker_json, &w);
    rc = w.rc;
  }
  return rc ? rc : tern_buf_append(b, "]", 1);
}
