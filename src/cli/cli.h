#ifndef TERN_CLI_H
#define TERN_CLI_H

#include <stdio.h>

#define TERN_VERSION_STRING "0.1.0"

typedef struct tern_cli_cmd {
  const char *name;
  const char *summary;
  /* argv[0] is the verb itself. Returns the process exit status. */
  int (*run)(int argc, char **argv);
} tern_cli_cmd_t;

#define TERN_CLI_CMD(name) extern const tern_cli_cmd_t tern_cli_##name;
#include "cli/commands.def"
#undef TERN_CLI_CMD

/* True when argv holds --help or -h; prints `help` to stdout then. */
int tern_cli_wants_help(int argc, char **argv, const char *help);

#include "tern/config.h"
#include "tern/events.h"

/* What every provider-using command shares: --config FILE, --events FILE,
 * --log-level LEVEL, and the environment. */
typedef struct tern_cli_common {
  const char *config_path;
  const char *events_path;
  const char *log_level;
  tern_config_t *cfg;
  FILE *events_file;
  tern_events_t *events;
} tern_cli_common_t;

/* Consume a common option at argv[*i] (advancing *i past its value).
 * Returns 1 if it was one, 0 if not, -1 on a missing value (printed). */
int tern_cli_common_opt(tern_cli_common_t *c, const char *cmd, int argc, char **argv, int *i);
/* Load the config and open the events file. Prints a clear message and
 * returns nonzero (the exit status) on failure. */
int tern_cli_common_open(tern_cli_common_t *c, const char *cmd, const char *session);
void tern_cli_common_close(tern_cli_common_t *c);
/* Every key tern knows (src/cli/settings.c). */
extern const tern_config_key_t tern_settings_schema[];

/* The help text for the common options. */
extern const char tern_cli_common_help[];

#endif
