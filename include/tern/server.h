/* The server: tern as a long-lived worker that many callers reach at once.
 *
 * N worker threads, each with its own loop and its own WebSocket listener
 * on the same port (SO_REUSEPORT: the kernel spreads new connections over
 * the workers; a session then stays on its worker's loop for life). One
 * provider stack (providers, guards, breakers) is shared by every session;
 * each session gets its own fallback runners, tools and events.
 *
 * Admission, before the upgrade: the access token (tern/token.h; refused
 * with 401), the Origin ([server] allowed_origins; 403), capacity
 * ([server] max_sessions; 503) and draining (503).
 *
 * Admin HTTP, on a control thread with its own loop: /health, /ready,
 * /metrics (Prometheus text format), /debug/events (recent events as JSON
 * lines), /stats (JSON). It binds 127.0.0.1 unless [admin] bind says
 * otherwise; bound elsewhere, everything but /health and /ready needs
 * `Authorization: Bearer <[admin] token>`.
 *
 * Drain (tern_server_drain, or SIGTERM/SIGINT when handle_signals): stop
 * admitting (readiness 503), let live sessions finish for drain_timeout,
 * then end the rest with a spoken goodbye, give it drain_grace to play,
 * close what is left (1000) and stop. A second signal skips to the
 * goodbye, a third stops at once.
 *
 * Threads: create/start/wait/destroy from one thread; drain, stop and the
 * getters from any.
 */
#ifndef TERN_SERVER_H
#define TERN_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tern/clock.h"
#include "tern/config.h"
#include "tern/stack.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_server tern_server_t;

typedef struct tern_server_config {
  const char *bind;            /* [server] bind: session listener address; NULL: all */
  int port;                    /* [server] port (8080); 0: ephemeral */
  unsigned workers;            /* [server] workers; 0: one per core */
  unsigned max_sessions;       /* [server] max_sessions (200) */
  tern_usec_t drain_timeout;   /* [server] drain_timeout_ms (30 s) */
  tern_usec_t drain_grace;     /* [server] drain_grace_ms (5 s): for the goodbye to play */
  const char *goodbye;         /* [server] drain_goodbye: said to callers a drain ends */
  const char *allowed_origins; /* [server] allowed_origins: "*", or a comma list of
                                * origins; NULL: the same host, and clients with no Origin */
  const char *admin_bind;      /* [admin] bind (127.0.0.1) */
  int admin_port;              /* [admin] port (8081); 0: ephemeral; -1: no admin listener */
  const char *admin_token;     /* [admin] token: required when admin_bind is not loopback */
  const char *api_key;         /* [auth] api_key */
  const char *api_secret;      /* [auth] api_secret */
  bool auth_disabled;          /* [auth] disabled: accept sessions without a token (development) */
  int64_t token_leeway;        /* [auth] leeway_s (30) */
} tern_server_config_t;

void tern_server_config_default(tern_server_config_t *cfg);
/* Read [server], [admin] and [auth] over the defaults and check them:
 * without api_key and api_secret, auth must be disabled explicitly; an
 * admin listener off loopback needs a token. Strings point into `conf`.
 * Returns 0 or TERN_ECONFIG with a sentence in err. */
int tern_server_config_load(tern_server_config_t *cfg, const tern_config_t *conf, char *err,
                            size_t errsz);

typedef struct tern_server_opts {
  const tern_config_t *config;             /* required; borrowed for the server's life */
  const tern_server_config_t *server;      /* NULL: tern_server_config_load(config) */
  const tern_stack_overrides_t *overrides; /* provider chains; NULL: from config */
  FILE *events_file;                       /* every event line is also appended here; may be NULL */
  bool handle_signals;                     /* SIGTERM/SIGINT drain the server (the CLI) */
} tern_server_opts_t;

/* Build the stack, load session settings and clips. Nothing listens yet.
 * Returns 0, TERN_ECONFIG / TERN_EIO with a sentence in err, TERN_ENOMEM. */
int tern_server_create(const tern_server_opts_t *opts, tern_server_t **out, char *err,
                       size_t errsz);
/* Start the workers and the admin listener; when it returns 0, both ports
 * accept connections. SIGPIPE is ignored from here on (the process-wide
 * disposition: a peer that vanishes must not kill the server). Returns 0,
 * TERN_EIO (a port could not be bound; see err), TERN_ESTATE, TERN_ENOMEM. */
int tern_server_start(tern_server_t *srv, char *err, size_t errsz);
int tern_server_port(const tern_server_t *srv);
int tern_server_admin_port(const tern_server_t *srv);
unsigned tern_server_workers(const tern_server_t *srv);
tern_stack_t *tern_server_stack(tern_server_t *srv);

/* Begin the graceful drain (idempotent). Thread-safe. */
void tern_server_drain(tern_server_t *srv);
/* Stop now: sessions close at once (1000), then everything stops. */
void tern_server_stop(tern_server_t *srv);
bool tern_server_draining(const tern_server_t *srv);
size_t tern_server_sessions(const tern_server_t *srv);
/* Block until the server has stopped (after a drain or stop). Returns 0. */
int tern_server_wait(tern_server_t *srv);
/* Stops it first if it still runs. */
void tern_server_destroy(tern_server_t *srv);

/* The /metrics text (tern_free it). */
int tern_server_metrics_text(tern_server_t *srv, char **out);

#ifdef __cplusplus
}
#endif
#endif
