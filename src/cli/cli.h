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

#endif
