/* tern analyze FILE.wav — placeholder until the audio layer lands. */
#include "cli/cli.h"

static int run(int argc, char **argv) {
  if (tern_cli_wants_help(argc, argv, "usage: tern analyze FILE.wav\n"))
    return 0;
  fprintf(stderr, "tern analyze: not built yet\n");
  return 1;
}

const tern_cli_cmd_t tern_cli_analyze = {"analyze", "print audio quality figures of a WAV file as JSON", run};
