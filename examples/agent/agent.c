/* example_agent — how to build your own voice agent with tern.
 *
 * This program embeds tern as a library. It
 *   1. reads a configuration (which providers to use, session settings),
 *   2. builds the provider stack from it: one fallback chain per component
 *      (speech-to-text, language model, text-to-speech), each provider
 *      behind its own guard (timeouts, retries, circuit breaker),
 *   3. registers its own tools — weather, meeting booking and a search over
 *      a local knowledge file — with JSON schemas the model sees,
 *   4. runs one session on a recorded caller (a WAV file), 20 ms at a time,
 *      as a telephone line would, and prints the conversation.
 *
 * Offline by default (examples/agent/agent.ini): pocketsphinx hears, the
 * scripted dialogue engine answers with examples/agent/agent.rules, flite
 * speaks. Point [llm] chain at openai or anthropic to use a real model with
 * the same tools. Run it from the repository root:
 *
 *   build/examples/agent/example_agent --fast examples/audio/caller.wav
 *
 * In a real deployment the caller's audio comes from a transport (a
 * WebSocket, a SIP call) instead of a file; everything else stays the same.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tern/error.h>
#include <tern/loop.h>
#include <tern/session.h>
#include <tern/stack.h>
#include <tern/tools.h>
#include <tern/wav.h>

/* ---- tools ---------------------------------------------------------------
 * A tool is a name, a description and a JSON schema for its arguments (the
 * model reads all three), plus a handler. tern validates the arguments
 * against the schema before the handler runs, so a handler can trust them.
 * A handler must call tern_tool_complete() exactly once — at once, as here,
 * or later from a callback on the same loop (a database or HTTP reply). If
 * it takes longer than the tool's timeout, the model is told the tool did
 * not answer and the session state is put back as it was. */

static const char weather_schema[] =
    "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\","
    "\"description\":\"the city, e.g. London\",\"minLength\":1,\"maxLength\":64}},"
    "\"required\":[\"city\"]}";

/* Made-up weather; a real tool would ask a weather service. The reply is a
 * JSON object: the model (or a scripted rule) reads its fields. */
static void get_weather(tern_tool_ctx_t *ctx, const json_t *args, void *ud) {
  (void)ud;
  static const char *const summaries[] = {"sunny", "cloudy", "light rain", "windy"};
  char city[65];
  snprintf(city, sizeof city, "%s", json_string_value(json_object_get(args, "city")));
  city[0] = (char)toupper((unsigned char)city[0]); /* "london" as heard -> "London" */
  unsigned h = 0;
  for (const char *p = city; *p; p++)
    h = h * 31 + (unsigned)tolower((unsigned char)*p);
  json_t *r = json_pack("{s:s, s:s, s:i}", "city", city, "summary", summaries[h % 4], "temp_c",
                        (int)(8 + h % 15));
  char *text = r ? json_dumps(r, 0) : NULL;
  tern_tool_complete(ctx, text != NULL, text ? text : "out of memory");
  free(text);
  json_decref(r);
}

static const char meeting_schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"day\":{\"type\":\"string\",\"description\":\"e.g. tomorrow or monday\"},"
    "\"time\":{\"type\":\"string\",\"description\":\"e.g. ten or 14:30\"}},"
    "\"required\":[\"day\",\"time\"]}";

/* Bookings live in the session's state object (tern_tool_state): it belongs
 * to the call, and if the tool fails or times out the session restores it,
 * so a half-made booking never survives. A double booking is an error the
 * model can read and explain. */
static void schedule_meeting(tern_tool_ctx_t *ctx, const json_t *args, void *ud) {
  (void)ud;
  json_t *state = tern_tool_state(ctx);
  json_t *meetings = json_object_get(state, "meetings");
  if (!meetings) {
    meetings = json_array();
    json_object_set_new(state, "meetings", meetings);
  }
  size_t i;
  json_t *m;
  json_array_foreach(meetings, i, m) {
    if (json_equal(m, args)) {
      tern_tool_complete(ctx, false, "{\"error\":\"that slot is already booked\"}");
      return;
    }
  }
  json_array_append_new(meetings, json_deep_copy(args));
  char *text = json_dumps(args, 0); /* {"day": ..., "time": ...}: what was booked */
  tern_tool_complete(ctx, text != NULL, text ? text : "out of memory");
  free(text);
}

/* The knowledge file, cut into sections at its "## " headings. */
typedef struct knowledge {
  char *text;
  char *section[64];
  size_t n;
} knowledge_t;

static int knowledge_load(knowledge_t *k, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return TERN_EIO;
  long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
  rewind(f);
  k->text = size >= 0 && size < (1 << 20) ? malloc((size_t)size + 1) : NULL;
  size_t len = k->text ? fread(k->text, 1, (size_t)size, f) : 0;
  fclose(f);
  if (!k->text)
    return size < 0 ? TERN_EIO : size >= (1 << 20) ? TERN_ETOOBIG : TERN_ENOMEM;
  k->text[len] = '\0';
  for (char *p = k->text; p && k->n < 64; p = strstr(p, "\n## ")) {
    if (p != k->text)
      *p++ = '\0'; /* ends the previous section */
    k->section[k->n++] = p;
    p++;
  }
  return 0;
}

static void knowledge_free(knowledge_t *k) { free(k->text); }

/* How many of the query's words (four letters or more, so "the" and "are"
 * do not count) appear in the section. */
static int score(const char *section, const char *query) {
  int hits = 0;
  char word[32];
  for (const char *p = query; *p;) {
    size_t n = 0;
    while (*p && !isalpha((unsigned char)*p))
      p++;
    while (isalpha((unsigned char)*p) && n < sizeof word - 1)
      word[n++] = (char)tolower((unsigned char)*p++);
    while (isalpha((unsigned char)*p))
      p++;
    word[n] = '\0';
    if (n >= 4 && strcasestr(section, word))
      hits++;
  }
  return hits;
}

static const char search_schema[] =
    "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\",\"minLength\":1,"
    "\"description\":\"the caller's question, in their words\"}},\"required\":[\"query\"]}";

static void search_knowledge(tern_tool_ctx_t *ctx, const json_t *args, void *ud) {
  knowledge_t *k = ud;
  const char *q = json_string_value(json_object_get(args, "query"));
  size_t best = 0;
  int best_score = 0;
  for (size_t i = 0; i < k->n; i++) {
    int s = score(k->section[i], q);
    if (s > best_score) {
      best_score = s;
      best = i;
    }
  }
  if (!best_score) {
    tern_tool_complete(ctx, false, "{\"error\":\"nothing in the knowledge file about that\"}");
    return;
  }
  /* The first two sentences of the section, without its heading: a caller
   * listens, and can ask for more. */
  const char *body = strchr(k->section[best], '\n');
  char answer[1024];
  size_t n = 0;
  int sentences = 0;
  for (const char *p = body ? body + 1 : k->section[best]; *p && n < sizeof answer - 1; p++) {
    answer[n++] = *p == '\n' ? ' ' : *p;
    if (*p == '.' && (p[1] == ' ' || p[1] == '\n' || !p[1]) && ++sentences == 2)
      break;
  }
  answer[n] = '\0';
  json_t *r = json_pack("{s:s}", "answer", answer);
  char *text = r ? json_dumps(r, 0) : NULL;
  tern_tool_complete(ctx, text != NULL, text ? text : "out of memory");
  free(text);
  json_decref(r);
}

static int register_tools(tern_tools_t *tools, const char *knowledge_path, knowledge_t *k) {
  char err[256];
  int rc = tern_tools_add(tools, "get_weather", "Current weather for a city.", weather_schema,
                          get_weather, NULL, 0 /* default timeout, 5 s */, err, sizeof err);
  if (!rc)
    rc = tern_tools_add(tools, "schedule_meeting", "Book a meeting in the caller's calendar.",
                        meeting_schema, schedule_meeting, NULL, TERN_SEC(3), err, sizeof err);
  if (!rc && (rc = knowledge_load(k, knowledge_path)) != 0)
    snprintf(err, sizeof err, "%s: %s", knowledge_path, tern_strerror(rc));
  if (!rc)
    rc = tern_tools_add(tools, "search_knowledge",
                        "Search the shop's knowledge file: opening hours, address, prices, "
                        "repairs, warranty.",
                        search_schema, search_knowledge, k, TERN_SEC(2), err, sizeof err);
  if (rc)
    fprintf(stderr, "example_agent: tools: %s\n", err);
  return rc;
}

/* ---- the conversation, printed from the session's events ----------------
 * Events are the session's public contract (the same JSON lines a
 * dashboard or a log pipeline would read). A listener gets typed fields. */

static const char *field(const tern_log_field_t *f, size_t n, const char *key) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(f[i].key, key) && f[i].type == TERN_LOG_T_STR)
      return f[i].v.s ? f[i].v.s : "";
  return "";
}

static bool flag(const tern_log_field_t *f, size_t n, const char *key) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(f[i].key, key) && f[i].type == TERN_LOG_T_BOOL)
      return f[i].v.b;
  return false;
}

static void print_event(void *ud, const char *type, const char *line, size_t len,
                        const tern_log_field_t *f, size_t n) {
  (void)ud, (void)line, (void)len;
  if (!strcmp(type, "user_speech_committed"))
    printf("caller: %s\n", field(f, n, "text"));
  else if (!strcmp(type, "agent_speech_committed"))
    printf("agent:  %s%s\n", field(f, n, "text"),
           flag(f, n, "interrupted") ? " [interrupted]" : "");
  else if (!strcmp(type, "function_call_started"))
    printf("        [tool %s %s]\n", field(f, n, "name"), field(f, n, "args"));
  else if (!strcmp(type, "error"))
    printf("        [%s error from %s: %s]\n", field(f, n, "component"), field(f, n, "provider"),
           field(f, n, "message"));
  fflush(stdout);
}

/* ---- the line: caller audio in, agent audio out, every 20 ms ------------ */

typedef struct line {
  tern_session_t *s;
  const int16_t *caller;
  size_t ncaller, pos, frame;
  unsigned quiet_frames; /* after the recording: frames the agent was idle */
  unsigned tail_frames;  /* after the recording: frames left before hanging up */
  bool done;
} line_t;

static void on_tick(tern_loop_timer_t *t, void *ud) {
  (void)t;
  line_t *l = ud;
  int16_t in[960] = {0}, out[960];
  size_t take = l->pos < l->ncaller ? l->ncaller - l->pos : 0;
  if (take > l->frame)
    take = l->frame;
  memcpy(in, l->caller + l->pos, take * sizeof *in);
  l->pos += take;
  tern_session_push_audio(l->s, in, l->frame);
  /* Pulling is playing: the session learns what the caller really heard,
   * which is what it records when the caller interrupts. */
  size_t agent = tern_session_pull_audio(l->s, out, l->frame);
  if (l->pos < l->ncaller)
    return;
  /* The recording is over: hang up once the agent has been quiet for 2 s,
   * or after 20 s whatever happens. */
  bool idle = agent == 0 && tern_session_state(l->s) == TERN_TURN_LISTENING;
  l->quiet_frames = idle ? l->quiet_frames + 1 : 0;
  if (tern_session_closed(l->s) || l->quiet_frames >= 100 || --l->tail_frames == 0)
    l->done = true;
}

static bool line_done(void *ud) { return ((line_t *)ud)->done; }

int main(int argc, char **argv) {
  const char *config_path = "examples/agent/agent.ini", *wav_path = NULL;
  bool fast = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--fast"))
      fast = true; /* virtual time: model work takes no time on the line */
    else if (!strcmp(argv[i], "--config") && i + 1 < argc)
      config_path = argv[++i];
    else if (argv[i][0] != '-' && !wav_path)
      wav_path = argv[i];
    else {
      fprintf(stderr, "usage: example_agent [--fast] [--config FILE] CALLER.wav\n");
      return 2;
    }
  }
  if (!wav_path) {
    fprintf(stderr, "usage: example_agent [--fast] [--config FILE] CALLER.wav\n");
    return 2;
  }

  char err[512] = "";
  int status = 1, rc;
  tern_config_t *cfg = NULL;
  tern_stack_t *stack = NULL;
  tern_loop_t *loop = NULL;
  tern_fallback_t *chain[3] = {NULL};
  tern_tools_t *tools = NULL;
  tern_events_t *events = NULL;
  tern_session_t *s = NULL;
  tern_loop_timer_t *tick = NULL;
  tern_wav_t caller = {0};
  knowledge_t knowledge = {0};
  tern_fake_clock_t virtual_clock;

  /* 1. Configuration: a file, with every key overridable from the
   *    environment (TERN_LLM_CHAIN=openai,scripted). */
  if ((rc = tern_config_new(&cfg)) ||
      (rc = tern_config_load_file(cfg, config_path, err, sizeof err))) {
    fprintf(stderr, "example_agent: %s\n", err[0] ? err : tern_strerror(rc));
    goto out;
  }
  tern_session_config_t scfg;
  tern_session_config_default(&scfg);
  if (tern_session_config_load(&scfg, cfg, err, sizeof err)) {
    fprintf(stderr, "example_agent: %s\n", err);
    goto out;
  }

  /* The caller: any WAV at the session's rate, mono. */
  tern_wav_opts_t wo = {.downmix = 1};
  if (tern_wav_read_file(wav_path, &wo, &caller, err, sizeof err)) {
    fprintf(stderr, "example_agent: %s: %s\n", wav_path, err);
    goto out;
  }
  if (caller.sample_rate != (uint32_t)scfg.sample_rate) {
    fprintf(stderr, "example_agent: %s is %u Hz; the session runs at %d Hz\n", wav_path,
            caller.sample_rate, scfg.sample_rate);
    goto out;
  }

  /* 2. Providers: built once per process, shared by every session. */
  if (tern_stack_create(cfg, NULL, &stack, err, sizeof err)) {
    fprintf(stderr, "example_agent: %s\n", err);
    goto out;
  }

  /* A session lives on one loop. --fast puts the loop on a virtual clock:
   * the same conversation, without waiting for it in real time. */
  tern_fake_clock_init(&virtual_clock, 0);
  rc = fast ? tern_loop_create_virtual(&virtual_clock, &loop) : tern_loop_create(NULL, &loop);
  if (!rc)
    rc = tern_events_create("example-1", &events);
  if (!rc)
    rc = tern_events_listen(events, print_event, NULL);
  /* Each session gets its own fallback runner per component, on its loop. */
  tern_component_t comps[3] = {TERN_COMP_STT, TERN_COMP_LLM, TERN_COMP_TTS};
  for (int i = 0; i < 3 && !rc; i++)
    rc = tern_stack_runner(stack, comps[i], loop, events, 1 + (uint64_t)i, &chain[i]);
  if (rc) {
    fprintf(stderr, "example_agent: cannot start: %s\n", tern_strerror(rc));
    goto out;
  }

  /* 3. Tools. */
  const char *kb = "examples/knowledge.md";
  tern_config_get_str(cfg, "session", "knowledge_file", kb, &kb, NULL, 0);
  if (tern_tools_create(&tools) || register_tools(tools, kb, &knowledge))
    goto out;

  /* 4. The session. */
  tern_session_deps_t deps = {.loop = loop,
                              .stt = chain[0],
                              .llm = chain[1],
                              .tts = chain[2],
                              .tools = tools,
                              .events = events};
  if ((rc = tern_session_create(&scfg, &deps, &s))) {
    fprintf(stderr, "example_agent: cannot create the session: %s\n", tern_strerror(rc));
    goto out;
  }
  printf("stt %s | llm %s | tts %s\n", tern_stack_chain(stack, TERN_COMP_STT),
         tern_stack_chain(stack, TERN_COMP_LLM), tern_stack_chain(stack, TERN_COMP_TTS));
  tern_session_start(s); /* says the greeting */

  line_t line = {.s = s,
                 .caller = caller.samples,
                 .ncaller = caller.frames,
                 .frame = (size_t)scfg.sample_rate / 50,
                 .tail_frames = 20 * 50};
  if ((rc = tern_loop_timer_create(loop, on_tick, &line, &tick))) {
    fprintf(stderr, "example_agent: %s\n", tern_strerror(rc));
    goto out;
  }
  tern_loop_timer_start(tick, TERN_MS(20), TERN_MS(20));
  tern_loop_run_until(loop, line_done, &line, TERN_SEC(3600));

  tern_session_stats_t st;
  tern_session_stats(s, &st);
  printf("%u turns, %u replies, %u tool calls (%u failed), longest wait for the agent %lld ms\n",
         st.turns, st.replies, st.tool_calls, st.tool_failures, (long long)(st.max_silence / 1000));
  status = 0;
out:
  /* Tear down in reverse: the session before what it borrows. */
  tern_loop_timer_destroy(tick);
  tern_session_destroy(s);
  for (int i = 0; i < 3; i++)
    tern_fallback_destroy(chain[i]);
  tern_tools_destroy(tools);
  knowledge_free(&knowledge);
  tern_events_destroy(events);
  tern_loop_destroy(loop);
  tern_stack_destroy(stack);
  tern_wav_free(&caller);
  tern_config_free(cfg);
  return status;
}
