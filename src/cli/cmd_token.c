/* tern token — mint an access token for `tern serve` (HS256 JWT signed
 * with [auth] api_secret, LiveKit-style room grant). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "tern/alloc.h"
#include "tern/clock.h"
#include "tern/error.h"
#include "tern/token.h"

static const char help_head[] =
    "usage: tern token --identity ID --room ROOM [--ttl SECONDS] [--name NAME] [--config FILE]\n"
    "\n"
    "Prints an access token for `tern serve`, signed with [auth] api_secret and\n"
    "issued by [auth] api_key (or TERN_AUTH_API_SECRET / TERN_AUTH_API_KEY).\n"
    "Pass it as ?access_token=... or `Authorization: Bearer ...`.\n"
    "\n"
    "  --identity ID      who the caller is (the token's sub)\n"
    "  --room ROOM        the room it may join\n"
    "  --ttl SECONDS      how long it is valid (default 21600, 6 h)\n"
    "  --name NAME        a display name\n";

static int token(int argc, char **argv) {
  tern_cli_common_t co = {0};
  tern_token_grant_t g = {0};
  for (int i = 1; i < argc; i++) {
    int rc = tern_cli_common_opt(&co, "token", argc, argv, &i);
    if (rc < 0)
      return 2;
    if (rc)
      continue;
    const char *a = argv[i];
    bool has = i + 1 < argc;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(help_head, stdout);
      return 0;
    } else if (!strcmp(a, "--identity") && has) {
      g.identity = argv[++i];
    } else if (!strcmp(a, "--room") && has) {
      g.room = argv[++i];
    } else if (!strcmp(a, "--name") && has) {
      g.name = argv[++i];
    } else if (!strcmp(a, "--ttl") && has) {
      char *end;
      long long v = strtoll(argv[++i], &end, 10);
      if (*end || v < 1 || v > 366LL * 24 * 3600) {
        fprintf(stderr, "tern token: --ttl '%s': expected seconds from 1 to 31622400\n", argv[i]);
        return 2;
      }
      g.ttl = v;
    } else {
      fprintf(stderr, "tern token: unknown option or missing value: %s (see tern token --help)\n",
              a);
      return 2;
    }
  }
  if (!g.identity || !g.room) {
    fputs(help_head, stderr);
    return 2;
  }
  int status = tern_cli_common_open(&co, "token", "token");
  if (status) {
    tern_cli_common_close(&co);
    return status;
  }
  tern_token_keys_t keys = {NULL, NULL};
  tern_config_get_str(co.cfg, "auth", "api_key", NULL, &keys.api_key, NULL, 0);
  tern_config_get_str(co.cfg, "auth", "api_secret", NULL, &keys.api_secret, NULL, 0);
  status = 1;
  if (!keys.api_key || !*keys.api_key || !keys.api_secret || !*keys.api_secret) {
    fprintf(stderr, "tern token: set [auth] api_key and api_secret (or TERN_AUTH_API_KEY and "
                    "TERN_AUTH_API_SECRET), the same the server uses\n");
  } else {
    char *tok = NULL;
    int rc = tern_token_mint(&keys, &g, tern_wall_ms() / 1000, &tok);
    if (rc == TERN_EINVAL)
      fprintf(stderr, "tern token: identity, room and name must be 1 to %d bytes\n",
              TERN_TOKEN_FIELD_MAX - 1);
    else if (rc)
      fprintf(stderr, "tern token: %s\n", tern_strerror(rc));
    else {
      printf("%s\n", tok);
      status = 0;
    }
    tern_free(tok);
  }
  tern_cli_common_close(&co);
  return status;
}

const tern_cli_cmd_t tern_cli_token = {"token", "mint an access token for tern serve", token};
