#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int tern_cli_wants_help(int argc, char **argv, const char *help) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs(help, stdout);
      return 1;
    }
  return 0;
}
