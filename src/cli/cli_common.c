/* Options shared by the commands that talk to providers. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "tern/error.h"
#include "tern/log.h"

const char tern_cli_common_help[] =
    "  --config FILE      settings (INI); every key can also be set as\n"
    "                     TERN_<SECTION>_<KEY> in the environment\n"
    "  --events FILE      append the JSON-lines events to FILE ('-' for stdout)\n"
    "  --log-level LEVEL  debug, info, warn (default), error or off; logs go to stderr\n";

int tern_cli_common_opt(tern_cli_common_t *c, const char *cmd, int argc, char **argv, int *i) {
  const char *a = argv[*i];
  const char **slot = !strcmp(a, "--config")      ? &c->config_path
                      : !strcmp(a, "--events")    ? &c->events_path
                      : !strcmp(a, "--log-level") ? &c->log_level
                                                  : NULL;
  if (!slot)
    return 0;
  if (*i + 1 >= argc) {
    fprintf(stderr, "tern %s: %s needs a value\n", cmd, a);
    return -1;
  }
  *slot = argv[++*i];
  return 1;
}

static void warn_problem(const char *message, void *ud) {
  fprintf(stderr, "tern %s: warning: %s\n", (const char *)ud, message);
}

int tern_cli_common_open(tern_cli_common_t *c, const char *cmd, const char *session) {
  char err[512] = "";
  tern_log_set_level(TERN_LOG_WARN);
  if (c->log_level) {
    tern_log_level_t lvl;
    if (tern_log_level_parse(c->log_level, &lvl)) {
      fprintf(stderr, "tern %s: --log-level '%s': expected debug, info, warn, error or off\n", cmd,
              c->log_level);
      return 2;
    }
    tern_log_set_level(lvl);
  }
  if (tern_config_new(&c->cfg)) {
    fprintf(stderr, "tern %s: out of memory\n", cmd);
    return 1;
  }
  if (c->config_path && tern_config_load_file(c->cfg, c->config_path, err, sizeof err)) {
    fprintf(stderr, "tern %s: %s\n", cmd, err);
    return 1;
  }
  /* Unknown keys are most often typos: say so, with a suggestion, but run. */
  tern_config_validate(c->cfg, tern_settings_schema, warn_problem, (void *)cmd, NULL);
  if (tern_events_create(session, &c->events)) {
    fprintf(stderr, "tern %s: out of memory\n", cmd);
    return 1;
  }
  if (c->events_path) {
    c->events_file = !strcmp(c->events_path, "-") ? stdout : fopen(c->events_path, "a");
    if (!c->events_file) {
      fprintf(stderr, "tern %s: cannot open events file %s\n", cmd, c->events_path);
      return 1;
    }
    tern_events_listen(c->events, tern_events_file_listener, c->events_file);
  }
  return 0;
}

void tern_cli_common_close(tern_cli_common_t *c) {
  tern_events_destroy(c->events);
  if (c->events_file && c->events_file != stdout)
    fclose(c->events_file);
  tern_config_free(c->cfg);
  memset(c, 0, sizeof *c);
}
