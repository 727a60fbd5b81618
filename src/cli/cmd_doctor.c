/* tern doctor — check a deployment before callers find the problem:
 * configuration, keys, providers, their reachability, model files, ports.
 * Every failed check says how to fix it. Exit 0 when all pass. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/cli.h"
#include "tern/error.h"
#include "tern/stack.h"

static const char help[] =
    "usage: tern doctor [--config FILE] [--timeout-ms N]\n"
    "\n"
    "Checks, one line each, with a fix for every failure:\n"
    "  - the configuration: values valid, no unknown keys (typos)\n"
    "  - each provider of the stt, llm and tts chains: its key and settings,\n"
    "    its model files, and whether its endpoint answers (bounded wait)\n"
    "  - the server and admin ports are free\n"
    "Exit status: 0 all passed, 1 something needs fixing, 2 usage.\n";

typedef struct {
  int failed, passed;
  long timeout_ms;
} doc_t;

static void ok(doc_t *d, const char *fmt, const char *a, const char *b) {
  d->passed++;
  printf("  ok    ");
  printf(fmt, a, b);
  printf("\n");
}

static void bad(doc_t *d, const char *what, const char *fix) {
  d->failed++;
  printf("  FAIL  %s\n        fix: %s\n", what, fix);
}

static void on_problem(const char *message, void *ud) {
  bad(ud, message, "correct the key (see docs/tern.example.ini) or remove it");
}

/* The endpoint a provider of `kind` talks to, or NULL for offline kinds. */
static const char *endpoint(const tern_config_t *cfg, tern_component_t comp, const char *name,
                            const char *kind) {
  char sec[96];
  const char *v = NULL;
  snprintf(sec, sizeof sec, "%s.%s", tern_component_name(comp), name);
  tern_config_get_str(cfg, sec, "base_url", NULL, &v, NULL, 0);
  if (v && *v)
    return v;
  if (!strcmp(kind, "openai"))
    return getenv("OPENAI_BASE_URL") ? getenv("OPENAI_BASE_URL") : "https://api.openai.com/v1";
  if (!strcmp(kind, "anthropic"))
    return getenv("ANTHROPIC_BASE_URL") ? getenv("ANTHROPIC_BASE_URL") : "https://api.anthropic.com";
  if (!strcmp(kind, "deepgram"))
    return getenv("DEEPGRAM_BASE_URL") ? getenv("DEEPGRAM_BASE_URL") : "https://api.deepgram.com";
  if (!strcmp(kind, "elevenlabs"))
    return getenv("ELEVENLABS_BASE_URL") ? getenv("ELEVENLABS_BASE_URL") : "https://api.elevenlabs.io";
  return NULL;
}

static size_t discard(char *p, size_t s, size_t n, void *ud) {
  (void)p, (void)ud;
  return s * n;
}

/* Any HTTP answer (even 401 or 404) means the endpoint is reachable. */
static int reachable(const char *url, long timeout_ms, char *why, size_t whysz) {
  char u[1024];
  snprintf(u, sizeof u, "%s", url);
  if (!strncmp(u, "wss://", 6))
    memcpy(u, "https", 5), memmove(u + 5, u + 6, strlen(u + 6) + 1);
  else if (!strncmp(u, "ws://", 5))
    memmove(u + 4, u + 5, strlen(u + 5) + 1), memcpy(u, "http", 4);
  CURL *c = curl_easy_init();
  if (!c)
    return -1;
  curl_easy_setopt(c, CURLOPT_URL, u);
  curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  if (rc == CURLE_OK || status > 0)
    return 0;
  snprintf(why, whysz, "%s", curl_easy_strerror(rc));
  return -1;
}

static void check_port(doc_t *d, const tern_config_t *cfg, const char *sec, long def,
                       const char *bind_def) {
  int64_t port = def;
  const char *bind_addr = bind_def;
  char err[256];
  if (tern_config_get_int(cfg, sec, "port", def, 0, 65535, &port, err, sizeof err)) {
    bad(d, err, "set a port number from 1 to 65535");
    return;
  }
  tern_config_get_str(cfg, sec, "bind", bind_def, &bind_addr, NULL, 0);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1)
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
  int e = errno;
  close(fd);
  char what[256], fix[256];
  snprintf(what, sizeof what, "[%s] port %lld on %s", sec, (long long)port, bind_addr);
  if (rc == 0) {
    ok(d, "%s is free%s", what, "");
  } else {
    snprintf(what + strlen(what), sizeof what - strlen(what), " cannot be used: %s", strerror(e));
    char env[64];
    tern_config_env_name(sec, "port", env, sizeof env);
    snprintf(fix, sizeof fix, "stop what holds it, or choose another with [%s] port or %s", sec,
             env);
    bad(d, what, fix);
  }
}

static void check_chain(doc_t *d, const tern_config_t *cfg, tern_component_t comp) {
  const char *cname = tern_component_name(comp);
  tern_config_list_t list = {0};
  char err[512] = "";
  if (tern_config_get_list(cfg, cname, "chain", tern_stack_default_chain(comp), &list, err,
                           sizeof err)) {
    bad(d, err, "give a comma-separated list of provider names");
    return;
  }
  for (size_t i = 0; i < list.count; i++) {
    const char *name = list.items[i];
    char sec[96];
    snprintf(sec, sizeof sec, "%s.%s", cname, name);
    const char *kind = name;
    tern_config_get_str(cfg, sec, "kind", name, &kind, NULL, 0);
    tern_provider_t *p = NULL;
    err[0] = '\0';
    int rc = tern_provider_create_kind(comp, kind, name, cfg, &p, err, sizeof err);
    char what[768];
    if (rc) {
      snprintf(what, sizeof what, "%s provider '%s' (%s): %s", cname, name, kind,
               err[0] ? err : tern_strerror(rc));
      bad(d, what,
          rc == TERN_ECONFIG ? "set what the message names (key in the environment or [section])"
                             : "install the missing files or correct the path in the section");
      continue;
    }
    tern_provider_destroy(p);
    snprintf(what, sizeof what, "%s provider '%s' (%s)", cname, name, kind);
    ok(d, "%s is configured%s", what, "");
    const char *url = endpoint(cfg, comp, name, kind);
    if (url) {
      char why[256] = "";
      if (reachable(url, d->timeout_ms, why, sizeof why) == 0) {
        ok(d, "%s answers at %s", what, url);
      } else {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s: %.512s does not answer within %ld ms (%s)", what, url,
                 d->timeout_ms, why);
        bad(d, msg, "check the network path and base_url; until it answers, calls fail over to "
                    "the next provider in the chain");
      }
    }
  }
  if (list.count) {
    const char *last = list.items[list.count - 1];
    if (strcmp(last, "pocketsphinx") && strcmp(last, "scripted") && strcmp(last, "flite") &&
        strcmp(last, "espeak")) {
      char what[256];
      snprintf(what, sizeof what, "[%s] chain ends with '%s', a network provider", cname, last);
      bad(d, what, "end the chain with an offline provider (pocketsphinx, scripted, flite) so "
                   "calls still get answered when the network is down");
    }
  }
  tern_config_list_free(&list);
}

static int run(int argc, char **argv) {
  if (tern_cli_wants_help(argc, argv, help))
    return 0;
  tern_cli_common_t co = {0};
  doc_t d = {.timeout_ms = 3000};
  for (int i = 1; i < argc; i++) {
    int r = tern_cli_common_opt(&co, "doctor", argc, argv, &i);
    if (r < 0)
      return 2;
    if (r)
      continue;
    if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc) {
      d.timeout_ms = strtol(argv[++i], NULL, 10);
      if (d.timeout_ms < 100 || d.timeout_ms > 60000) {
        fprintf(stderr, "tern doctor: --timeout-ms: expected 100 to 60000\n");
        return 2;
      }
    } else {
      fprintf(stderr, "tern doctor: unknown option %s (see tern doctor --help)\n", argv[i]);
      return 2;
    }
  }
  tern_config_t *cfg;
  char err[512];
  if (tern_config_new(&cfg))
    return 1;
  printf("configuration\n");
  if (co.config_path && tern_config_load_file(cfg, co.config_path, err, sizeof err)) {
    bad(&d, err, "correct the file; the message names the line");
  } else {
    size_t n = 0;
    tern_config_validate(cfg, tern_settings_schema, on_problem, &d, &n);
    if (n == 0)
      ok(&d, "%s%s", co.config_path ? co.config_path : "(no file: defaults and environment)",
         " is valid");
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  tern_component_t comps[3] = {TERN_COMP_STT, TERN_COMP_LLM, TERN_COMP_TTS};
  for (int i = 0; i < 3; i++) {
    printf("%s chain\n", tern_component_name(comps[i]));
    check_chain(&d, cfg, comps[i]);
  }
  printf("ports\n");
  check_port(&d, cfg, "server", 8080, "0.0.0.0");
  check_port(&d, cfg, "admin", 8081, "127.0.0.1");
  curl_global_cleanup();
  tern_config_free(cfg);
  printf("\n%d passed, %d need fixing\n", d.passed, d.failed);
  return d.failed ? 1 : 0;
}

const tern_cli_cmd_t tern_cli_doctor = {"doctor", "check configuration, keys, providers and ports", run};
