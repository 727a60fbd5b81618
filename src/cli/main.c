/* tern: the command-line entry point. Each verb lives in its own cmd_*.c and
 * registers in the table below. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const tern_cli_cmd_t *const g_cmds[] = {
#define TERN_CLI_CMD(name) &tern_cli_##name,
#include "cli/commands.def"
#undef TERN_CLI_CMD
};
#define NCMDS (sizeof g_cmds / sizeof g_cmds[0])

#if defined(__SANITIZE_ADDRESS__)
#define TERN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TERN_ASAN 1
#endif
#endif
#if defined(TERN_ASAN)
/* Sanitizer builds only: Debian's libwebsockets 4.1.6 with OpenSSL 3
 * leaves an SSL_CTX of its own behind when two worker loops each have a
 * context (reproduced with bare tern loops, no tern allocation involved).
 * Those library-internal blocks are not ours to free; every tern leak is
 * still reported. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
  return "leak:libcrypto.so\nleak:libssl.so\nleak:libwebsockets.so\n";
}
#endif

static void usage(FILE *out) {
  fprintf(out, "usage: tern <command> [options]\n\n"
               "tern is a voice-agent runtime: it hears a caller, thinks, and answers aloud,\n"
               "and keeps talking through provider failures.\n\ncommands:\n");
  for (size_t i = 0; i < NCMDS; i++)
    fprintf(out, "  %-18s %s\n", g_cmds[i]->name, g_cmds[i]->summary);
  fprintf(out, "\nRun 'tern <command> --help' for a command's options.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("tern %s\n", TERN_VERSION_STRING);
    return 0;
  }
  for (size_t i = 0; i < NCMDS; i++)
    if (!strcmp(argv[1], g_cmds[i]->name))
      return g_cmds[i]->run(argc - 1, argv + 1);
  fprintf(stderr, "tern: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
