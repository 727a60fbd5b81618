/* tern chat TEXT — one question to the language-model chain, the answer
 * streamed to stdout, tool calls run and shown. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "tern/buf.h"
#include "tern/error.h"
#include "tern/loop.h"
#include "tern/stack.h"
#include "tern/tools.h"

static const char help_head[] =
    "usage: tern chat TEXT [--llm CHAIN] [--system TEXT] [options]\n"
    "\n"
    "Asks the language-model chain one question and streams the answer to stdout.\n"
    "Tool calls are run with the demo tools (weather, time, meetings, knowledge\n"
    "search) and shown as [tool ...] lines on stderr. When a provider fails, the\n"
    "chain retries or moves to the next provider and continues the answer from\n"
    "where it stopped; --events shows what happened.\n"
    "\n"
    "  --llm CHAIN        providers to try in order, e.g. openai,scripted\n"
    "                     (default: [llm] chain, or by the keys set)\n"
    "  --system TEXT      the system prompt\n";

typedef struct {
  tern_loop_t *loop;
  tern_fallback_t *llm;
  tern_tools_t *tools;
  tern_chat_t *chat;
  json_t *state;
  tern_tool_call_t calls[8];
  size_t ncalls, next;
  tern_buf_t round;
  int rounds;
  bool done, failed;
  tern_op_t *op;
} chat_t;

static void ask(chat_t *c);

static void on_text(void *ud, const char *t, size_t n) {
  chat_t *c = ud;
  fwrite(t, 1, n, stdout);
  fflush(stdout);
  tern_buf_append(&c->round, t, n);
}

static void on_tool(void *ud, const tern_tool_call_t *call) {
  chat_t *c = ud;
  if (c->ncalls < 8 && tern_tool_call_copy(&c->calls[c->ncalls], call) == 0)
    c->ncalls++;
}

static void run_tools(chat_t *c);

static void tool_done(void *ud, const tern_tool_call_t *call, bool ok, const char *result) {
  chat_t *c = ud;
  c->op = NULL;
  fprintf(stderr, "[tool %s %s] -> %s%s\n", call->name, call->arguments, ok ? "" : "failed: ",
          result);
  tern_chat_add_tool_result(c->chat, call->id, call->name, result);
  run_tools(c);
}

static void run_tools(chat_t *c) {
  if (c->next == c->ncalls) {
    for (size_t i = 0; i < c->ncalls; i++)
      tern_tool_call_free(&c->calls[i]);
    c->ncalls = c->next = 0;
    ask(c);
    return;
  }
  tern_tool_call_t *call = &c->calls[c->next++];
  if (tern_tools_invoke(c->tools, c->loop, call, c->state, tool_done, c, &c->op))
    tool_done(c, call, false, "{\"error\":\"the tool could not run\"}");
}

static void on_done(void *ud, const tern_error_t *err) {
  chat_t *c = ud;
  c->op = NULL;
  if (err) {
    fprintf(stderr, "\ntern chat: no provider could answer: %s (%s, %s)\n", err->message,
            err->provider, tern_kind_name(err->kind));
    c->failed = c->done = true;
    return;
  }
  if (c->ncalls && c->rounds < 4) {
    if (c->round.len)
      fputc(' ', stdout);
    tern_chat_add_tool_calls(c->chat, c->round.len ? tern_buf_str(&c->round) : NULL, c->calls,
                             c->ncalls);
    tern_buf_reset(&c->round);
    c->rounds++;
    run_tools(c);
    return;
  }
  fputc('\n', stdout);
  c->done = true;
}

static void ask(chat_t *c) {
  size_t n = 0;
  const tern_tool_def_t *defs = tern_tools_defs(c->tools, &n);
  tern_llm_request_t req = {.chat = c->chat, .tools = defs, .n_tools = n, .temperature = -1};
  tern_llm_sink_t sink = {on_text, on_tool, on_done, c};
  if (tern_fallback_llm(c->llm, &req, &sink, &c->op)) {
    fprintf(stderr, "tern chat: could not start the request\n");
    c->failed = c->done = true;
  }
}

static bool is_done(void *ud) { return ((chat_t *)ud)->done; }

static int run(int argc, char **argv) {
  tern_cli_common_t co = {0};
  const char *text = NULL, *llm = NULL, *system = "You are a helpful voice assistant. Answer briefly.";
  for (int i = 1; i < argc; i++) {
    int r = tern_cli_common_opt(&co, "chat", argc, argv, &i);
    if (r < 0)
      return 2;
    if (r)
      continue;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs(help_head, stdout);
      fputs(tern_cli_common_help, stdout);
      return 0;
    } else if (!strcmp(argv[i], "--llm") && i + 1 < argc) {
      llm = argv[++i];
    } else if (!strcmp(argv[i], "--system") && i + 1 < argc) {
      system = argv[++i];
    } else if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "tern chat: unknown option %s (see tern chat --help)\n", argv[i]);
      return 2;
    } else if (!text) {
      text = argv[i];
    } else {
      fprintf(stderr, "tern chat: one question at a time (quote it)\n");
      return 2;
    }
  }
  if (!text || !*text) {
    fputs(help_head, stderr);
    return 2;
  }
  int status = tern_cli_common_open(&co, "chat", "chat");
  if (status) {
    tern_cli_common_close(&co);
    return status;
  }
  char err[512] = "";
  tern_stack_t *st = NULL;
  chat_t c = {0};
  tern_stack_overrides_t ov = {.llm = llm, .only = 1u << TERN_COMP_LLM};
  status = 1;
  if (tern_stack_create(co.cfg, &ov, &st, err, sizeof err)) {
    fprintf(stderr, "tern chat: %s\n", err);
    goto out;
  }
  if (tern_loop_create(NULL, &c.loop) || tern_stack_runner(st, TERN_COMP_LLM, c.loop, co.events, 1, &c.llm) ||
      tern_tools_create(&c.tools) || tern_chat_create(&c.chat) || !(c.state = json_object())) {
    fprintf(stderr, "tern chat: out of memory\n");
    goto out;
  }
  const char *kb = NULL;
  tern_config_get_str(co.cfg, "session", "knowledge_file", NULL, &kb, NULL, 0);
  if (tern_demo_tools_register(c.tools, kb, err, sizeof err))
    fprintf(stderr, "tern chat: tools: %s\n", err);
  tern_chat_set_system(c.chat, system);
  tern_chat_add(c.chat, TERN_ROLE_USER, text);
  ask(&c);
  tern_loop_run_until(c.loop, is_done, &c, TERN_SEC(300));
  status = c.done && !c.failed ? 0 : 1;
out:
  if (c.op)
    tern_op_cancel(c.op);
  for (size_t i = 0; i < c.ncalls; i++)
    tern_tool_call_free(&c.calls[i]);
  tern_fallback_destroy(c.llm);
  tern_tools_destroy(c.tools);
  tern_chat_destroy(c.chat);
  json_decref(c.state);
  tern_buf_free(&c.round);
  tern_loop_destroy(c.loop);
  tern_stack_destroy(st);
  tern_cli_common_close(&co);
  return status;
}

const tern_cli_cmd_t tern_cli_chat = {"chat", "ask the language-model chain one question", run};
