/* tern serve — run tern as a long-lived worker that callers reach over
 * WebSocket (docs/protocol.md), with an admin HTTP listener for probes and
 * metrics. SIGTERM or SIGINT drains it: no new sessions, live ones finish
 * (or hear a goodbye after [server] drain_timeout_ms), then exit 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "tern/error.h"
#include "tern/server.h"

static const char help_head[] =
    "usage: tern serve [--config FILE] [--port N] [--admin-port N] [--workers N]\n"
    "\n"
    "Accepts agent sessions at ws://HOST:PORT/session (the protocol is in\n"
    "docs/protocol.md) and serves /health, /ready, /metrics, /stats,\n"
    "/debug/events and a live /dashboard on the admin port (docs/operations.md).\n"
    "Callers need a token from `tern token` unless [auth] disabled = true\n"
    "(development only).\n"
    "\n"
    "  --port N           session port (default [server] port, 8080)\n"
    "  --admin-port N     admin port (default [admin] port, 8081; -1: none)\n"
    "  --workers N        worker threads (default [server] workers, or one per core)\n"
    "  --stt CHAIN, --llm CHAIN, --tts CHAIN\n"
    "                     providers to try in order for each component\n";

static int parse_int(const char *s, long lo, long hi, long *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (!*s || *end || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

static int serve(int argc, char **argv) {
  tern_cli_common_t co = {0};
  tern_stack_overrides_t ov = {0};
  long port = -2, admin_port = -2, workers = -1;
  for (int i = 1; i < argc; i++) {
    int rc = tern_cli_common_opt(&co, "serve", argc, argv, &i);
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
    } else if (!strcmp(a, "--port") && has) {
      if (parse_int(argv[++i], 0, 65535, &port)) {
        fprintf(stderr, "tern serve: --port '%s': expected 0 to 65535\n", argv[i]);
        return 2;
      }
    } else if (!strcmp(a, "--admin-port") && has) {
      if (parse_int(argv[++i], -1, 65535, &admin_port)) {
        fprintf(stderr, "tern serve: --admin-port '%s': expected -1 to 65535\n", argv[i]);
        return 2;
      }
    } else if (!strcmp(a, "--workers") && has) {
      if (parse_int(argv[++i], 1, 256, &workers)) {
        fprintf(stderr, "tern serve: --workers '%s': expected 1 to 256\n", argv[i]);
        return 2;
      }
    } else if (!strcmp(a, "--stt") && has) {
      ov.stt = argv[++i];
    } else if (!strcmp(a, "--llm") && has) {
      ov.llm = argv[++i];
    } else if (!strcmp(a, "--tts") && has) {
      ov.tts = argv[++i];
    } else {
      fprintf(stderr, "tern serve: unknown option or missing value: %s (see tern serve --help)\n",
              a);
      return 2;
    }
  }
  int status = tern_cli_common_open(&co, "serve", "serve");
  if (status) {
    tern_cli_common_close(&co);
    return status;
  }
  char err[512] = "";
  tern_server_config_t sc;
  tern_server_config_default(&sc);
  tern_server_t *srv = NULL;
  status = 1;
  if (tern_server_config_load(&sc, co.cfg, err, sizeof err)) {
    fprintf(stderr, "tern serve: %s\n", err);
    goto out;
  }
  if (port != -2)
    sc.port = (int)port;
  if (admin_port != -2)
    sc.admin_port = (int)admin_port;
  if (workers > 0)
    sc.workers = (unsigned)workers;
  tern_server_opts_t so = {.config = co.cfg,
                           .server = &sc,
                           .overrides = &ov,
                           .events_file = co.events_file,
                           .handle_signals = true};
  int rc = tern_server_create(&so, &srv, err, sizeof err);
  if (rc) {
    fprintf(stderr, "tern serve: %s\n", err[0] ? err : tern_strerror(rc));
    goto out;
  }
  if ((rc = tern_server_start(srv, err, sizeof err))) {
    fprintf(stderr, "tern serve: %s\n", err[0] ? err : tern_strerror(rc));
    goto out;
  }
  tern_stack_t *st = tern_server_stack(srv);
  fprintf(stderr,
          "tern serve: sessions at ws://%s:%d/session (%u workers, up to %u sessions%s); "
          "admin at http://%s:%d (/dashboard); stt %s | llm %s | tts %s\n",
          sc.bind ? sc.bind : "0.0.0.0", tern_server_port(srv), tern_server_workers(srv),
          sc.max_sessions, sc.auth_disabled ? ", AUTH DISABLED" : "",
          sc.admin_bind ? sc.admin_bind : "127.0.0.1", tern_server_admin_port(srv),
          tern_stack_chain(st, TERN_COMP_STT), tern_stack_chain(st, TERN_COMP_LLM),
          tern_stack_chain(st, TERN_COMP_TTS));
  tern_server_wait(srv);
  fprintf(stderr, "tern serve: drained, exiting\n");
  status = 0;
out:
  tern_server_destroy(srv);
  tern_cli_common_close(&co);
  return status;
}

const tern_cli_cmd_t tern_cli_serve = {"serve", "accept agent sessions over WebSocket", serve};
