/* The scripted dialogue engine: the default script answers the demo's
 * lines (including recogniser-shaped slips), tool calls and their results
 * become words, malformed scripts are refused with file:line, and loading
 * survives every allocation failure. */
#include "testutil.h"

#include <jansson.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/chat.h"
#include "tern/error.h"
#include "tern/scripted.h"

static tern_script_t *load_default(void) {
  char err[256];
  tern_script_t *s = NULL;
  int rc = tern_script_load_file(tu_src_path("examples/scripted/default.rules"), &s, err, sizeof err);
  if (rc)
    fail_msg("default script: %s (%s)", err, tern_err_name(rc));
  return s;
}

static tern_chat_t *chat_user(const char *text) {
  tern_chat_t *c = NULL;
  assert_int_equal(tern_chat_create(&c), 0);
  assert_int_equal(tern_chat_set_system(c, "You are a test."), 0);
  if (text)
    assert_int_equal(tern_chat_add(c, TERN_ROLE_USER, text), 0);
  return c;
}

/* The string value of key in a JSON object text ("" when absent). */
static void json_field(const char *json, const char *key, char *out, size_t outsz) {
  json_error_t e;
  json_t *j = json_loads(json, 0, &e);
  assert_non_null(j);
  assert_true(json_is_object(j));
  const char *v = json_string_value(json_object_get(j, key));
  snprintf(out, outsz, "%s", v ? v : "");
  json_decref(j);
}

typedef struct line_case {
  const char *heard;  /* as pocketsphinx (or a person typing) gives it */
  const char *rule;   /* the rule expected to answer */
  const char *tool;   /* expected tool, or NULL for a spoken reply */
  const char *key1, *val1, *key2, *val2; /* expected arguments */
} line_case_t;

static void test_default_script_lines(void **state) {
  (void)state;
  static const line_case_t cases[] = {
      {"hello there", "greeting", NULL, NULL, NULL, NULL, NULL},
      {"Hi!", "greeting", NULL, NULL, NULL, NULL, NULL},
      {"what is the weather in london", "weather", "get_weather", "city", "london", NULL, NULL},
      {"What's the weather like in New York today?", "weather", "get_weather", "city", "new york",
       NULL, NULL},
      {"is it going to rain", "weather", "get_weather", "city", "London", NULL, NULL},
      {"what the weather", "weather", "get_weather", "city", "London", NULL, NULL},
      {"what time is it", "time", "get_time", NULL, NULL, NULL, NULL},
      {"what time is", "time", "get_time", NULL, NULL, NULL, NULL},
      {"book a meeting for tomorrow at ten", "meeting", "schedule_meeting", "day", "tomorrow",
       "time", "ten"},
      {"schedule an appointment on friday at three thirty", "meeting", "schedule_meeting", "day",
       "friday", "time", "three thirty"},
      {"book the meeting at ten", "meeting", "schedule_meeting", "day", "tomorrow", "time", "ten"},
      {"book a meeting", "meeting_when", NULL, NULL, NULL, NULL, NULL},
      {"tomorrow at eleven", "meeting_reply", "schedule_meeting", "day", "tomorrow", "time",
       "eleven"},
      {"goodbye", "goodbye", NULL, NULL, NULL, NULL, NULL},
      {"thank you", "goodbye", NULL, NULL, NULL, NULL, NULL},
      {"okay bye", "goodbye", NULL, NULL, NULL, NULL, NULL},
      {"what can you do", "help", NULL, NULL, NULL, NULL, NULL},
      {"sing me a song", "fallback", NULL, NULL, NULL, NULL, NULL},
      {"", "fallback", NULL, NULL, NULL, NULL, NULL},
  };
  tern_script_t *s = load_default();
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const line_case_t *c = &cases[i];
    tern_chat_t *chat = chat_user(c->heard);
    tern_script_reply_t r;
    assert_int_equal(tern_script_respond(s, chat, &r), 0);
    if (strcmp(r.rule, c->rule))
      fail_msg("'%s': answered by rule '%s', expected '%s'", c->heard, r.rule, c->rule);
    if (c->tool) {
      assert_non_null(r.tool_name);
      assert_string_equal(r.tool_name, c->tool);
      assert_non_null(r.arguments);
      char v[128];
      if (c->key1) {
        json_field(r.arguments, c->key1, v, sizeof v);
        if (strcmp(v, c->val1))
          fail_msg("'%s': %s = '%s', expected '%s'", c->heard, c->key1, v, c->val1);
      }
      if (c->key2) {
        json_field(r.arguments, c->key2, v, sizeof v);
        if (strcmp(v, c->val2))
          fail_msg("'%s': %s = '%s', expected '%s'", c->heard, c->key2, v, c->val2);
      }
    } else {
      assert_null(r.tool_name);
      assert_null(r.arguments);
      assert_non_null(r.text);
      assert_true(strlen(r.text) > 5);
    }
    tern_script_reply_free(&r);
    tern_chat_destroy(chat);
  }
  tern_script_free(s);
}

static void test_fallback_is_honest_and_start_speaks_first(void **state) {
  (void)state;
  tern_script_t *s = load_default();
  tern_chat_t *chat = chat_user("can you order me a pizza");
  tern_script_reply_t r;
  assert_int_equal(tern_script_respond(s, chat, &r), 0);
  assert_string_equal(r.rule, "fallback");
  /* It says what it can do rather than pretending. */
  assert_non_null(strstr(r.text, "weather"));
  assert_non_null(strstr(r.text, "meeting"));
  tern_script_reply_free(&r);
  tern_chat_destroy(chat);

  chat = chat_user(NULL);
  assert_int_equal(tern_script_respond(s, chat, &r), 0);
  assert_string_equal(r.rule, "start");
  assert_non_null(r.text);
  tern_script_reply_free(&r);
  tern_chat_destroy(chat);
  tern_script_free(s);
}

/* Adds the assistant's call and the tool's result to chat. */
static void add_call_and_result(tern_chat_t *chat, const char *tool, const char *args,
                                const char *result, int name_the_result) {
  tern_tool_call_t call = {.id = "call_1", .name = (char *)tool, .arguments = (char *)args};
  assert_int_equal(tern_chat_add_tool_calls(chat, NULL, &call, 1), 0);
  assert_int_equal(
      tern_chat_add_tool_result(chat, "call_1", name_the_result ? tool : NULL, result), 0);
}

static void test_tool_call_then_result_rendering(void **state) {
  (void)state;
  tern_script_t *s = load_default();
  tern_chat_t *chat = chat_user("what is the weather in paris");
  tern_script_reply_t r;
  assert_int_equal(tern_script_respond(s, chat, &r), 0);
  assert_string_equal(r.tool_name, "get_weather");
  assert_string_equal(r.text, "Let me check the weather.");
  add_call_and_result(chat, r.tool_name, r.arguments,
                      "{\"city\":\"Paris\",\"summary\":\"sunny\",\"temp_c\":21}", 1);
  tern_script_reply_free(&r);

  assert_int_equal(tern_script_respond(s, chat, &r), 0);
  assert_null(r.tool_name);
  assert_string_equal(r.rule, "weather");
  assert_string_equal(r.text, "In Paris it's sunny and 21 degrees.");
  tern_script_reply_free(&r);
  tern_chat_destroy(chat);

  /* The result names no tool: the engine finds the call by its id. */
  chat = chat_user("what time is it");
  add_call_and_result(chat, "get_time", "{}", "{\"time\":\"15:10\",\"spoken\":\"ten past three\"}", 0);
  assert_int_equal(tern_script_respond(s, chat, &r), 0);
  assert_string_equal(r.text, "It's ten past three.");
  tern_script_reply_free(&r);
  tern_chat_destroy(chat);

  /* A failed tool is admitted, not papered over. */
  chat = chat_user("book a meeting for monday at nine");
  add_call_and_result(chat, "schedule_meeting", "{}", "{\"error\":\"the calendar is full\"}", 1);
  assert_int_equal(tern_script_respond(s, chat, &r), 0);
  assert_string_equal(r.text, "Sorry, I couldn't book that meeting: the calendar is full.");
  tern_script_reply_free(&r);
  tern_chat_destroy(chat);

  /* A result for a tool the script never calls gets the fallback. */
  chat = chat_user("hello");
  add_call_and_result(chat, "launch_rocket", "{}", "{}", 1);
  assert_int_equal(tern_script_respond(s, chat, &r), 0);
  assert_string_equal(r.rule, "fallback");
  tern_script_reply_free(&r);
  tern_chat_destroy(chat);
  tern_script_free(s);
}

static const char CUSTOM[] =
    "# a test script\n"
    "[rule order]\n"
    "match = ^order (a|an|the) ([a-z]+)( please)?$\n"
    "say = One $2 coming up$$ ${3|!}\n"
    "\n"
    "[rule lookup]\n"
    "match = look ?up ([a-z]+)\n"
    "capture n = \\b(one|two|three)\\b\n"
    "capture whole 0 = (look) ?up\n"
    "tool = lookup\n"
    "args = {\"word\": \"$1\", \"count\": \"${n|zero}\", \"note\": \"${n|say \"hi\"}\"}\n"
    "after = {word|nothing}: {meaning.short|unknown}, {tags}, {n}, {ok}, {{$1}}, {.|x} ${whole}\n"
    "\n"
    "[fallback]\n"
    "say = Only orders and lookups here.\n";

static void test_captures_defaults_and_fields(void **state) {
  (void)state;
  char err[256];
  tern_script_t *s = NULL;
  assert_int_equal(tern_script_load_string(CUSTOM, "custom", &s, err, sizeof err), 0);
  assert_int_equal(tern_script_rule_count(s), 2);

  tern_chat_t *chat = chat_user("Order a PIZZA, please!");
  tern_script_reply_t r;
  assert_int_equal(tern_script_respond(s, chat, &r), 0);
  assert_string_equal(r.text, "One pizza coming up$ please");
  tern_script_reply_free(&r);
  tern_chat_destroy(chat);

  chat = chat_user("order the cake");
  assert_int_equal(tern_script_respond(s, chat, &r), 0);
  assert_string_equal(r.text, "One cake coming up$ !");
  tern_script_reply_free(&r);
  tern_chat_destroy(chat);

  chat = chat_user("lookup tern");
  assert_int_equal(tern_script_respond(s, chat, &r), 0);
  assert_string_equal(r.tool_name, "lookup");
  assert_null(r.text);
  /* Defaults are escaped into valid JSON. */
  assert_string_equal(r.arguments,
                      "{\"word\": \"tern\", \"count\": \"zero\", \"note\": \"say \\\"hi\\\"\"}");
  add_call_and_result(chat, "lookup", r.arguments,
                      "{\"word\":\"tern\",\"meaning\":{\"short\":\"a seabird\"},"
                      "\"tags\":[\"bird\",\"sea\",\"fast\"],\"n\":2.5,\"ok\":true}",
                      1);
  tern_script_reply_free(&r);
  assert_int_equal(tern_script_respond(s, chat, &r), 0);
  assert_string_equal(r.text, "tern: a seabird, bird, sea and fast, 2.5, yes, {tern}, "
                              "{\"word\":\"tern\",\"meaning\":{\"short\":\"a seabird\"},"
                              "\"tags\":[\"bird\",\"sea\",\"fast\"],\"n\":2.5,\"ok\":true} lookup");
  tern_script_reply_free(&r);
  tern_chat_destroy(chat);

  /* A plain-text result: fields fall back to their defaults. */
  chat = chat_user("look up two");
  add_call_and_result(chat, "lookup", "{}", "not json at all", 1);
  assert_int_equal(tern_script_respond(s, chat, &r), 0);
  assert_string_equal(r.text, "nothing: unknown, , , , {two}, not json at all look up");
  tern_script_reply_free(&r);
  tern_chat_destroy(chat);

  chat = chat_user("dance");
  assert_int_equal(tern_script_respond(s, chat, &r), 0);
  assert_string_equal(r.text, "Only orders and lookups here.");
  tern_script_reply_free(&r);
  tern_chat_destroy(chat);
  tern_script_free(s);
}

static void test_normalize(void **state) {
  (void)state;
  char out[64];
  assert_int_equal(tern_script_normalize("  What's the WEATHER, in   London?! ", out, sizeof out),
                   strlen("whats the weather in london"));
  assert_string_equal(out, "whats the weather in london");
  tern_script_normalize("caf\xc3\xa9 -- ok", out, sizeof out);
  assert_string_equal(out, "caf\xc3\xa9 ok");
  /* Truncates safely and reports the length it needed. */
  assert_int_equal(tern_script_normalize("abcdef", out, 4), 6);
  assert_string_equal(out, "abc");
}

typedef struct bad_case {
  const char *text;
  int line;
  const char *says; /* a piece of the message */
} bad_case_t;

static void test_malformed_scripts_name_the_line(void **state) {
  (void)state;
  static const bad_case_t cases[] = {
      {"say = hi\n", 1, "outside any section"},
      {"[rule a]\nmatch = x\nsay = hi\n[weird]\n", 4, "unknown section"},
      {"[rule a]\nmatch = x\nsay = hi\n[rule a]\nmatch = y\nsay = yo\n", 4, "second rule named"},
      {"# c\n\n[rule a]\nmatch = (unclosed\nsay = hi\n", 4, "bad regular expression"},
      {"[rule a]\nmatch = x\nsay hi\n", 3, "key = value"},
      {"[rule a]\nmatch = x\nsay = hi\nsay = again\n", 4, "given twice"},
      {"[rule a]\nmatch = x\nshout = hi\n", 3, "unknown key"},
      {"[rule a]\nsay = hi\n", 1, "no 'match'"},
      {"[rule a]\nmatch = x\n", 1, "neither 'say' nor 'tool'"},
      {"[rule a]\nmatch = x\ntool = t\n", 1, "no 'after'"},
      {"[rule a]\nmatch = x\nsay = hi\nafter = done\n", 4, "needs a 'tool'"},
      {"[rule a]\nmatch = (x)\nsay = hi $2\n", 3, "$2"},
      {"[rule a]\nmatch = x\nsay = hi ${who}\n", 3, "names no capture"},
      {"[rule a]\nmatch = x\nsay = hi ${1\n", 3, "without a closing"},
      {"[rule a]\nmatch = x\ntool = t\nafter = it is {temp\n", 4, "'{' without"},
      {"[rule a]\nmatch = x\ntool = t\nargs = [1, 2]\nafter = ok\n", 4, "not a JSON object"},
      {"[rule a]\nmatch = x\ntool = t\nargs = {\"a\": $1}\nafter = ok\n", 4, "$1"},
      {"[rule a]\nmatch = x\ntool = bad name!\n", 3, "bad tool name"},
      {"[fallback]\nmatch = x\n", 2, "not allowed in [fallback]"},
      {"[start]\nsay = a\n[start]\nsay = b\n", 3, "second [start]"},
      {"[rule a]\nmatch = x\nrequire = who\nsay = hi\n", 3, "no capture"},
      {"[rule a]\nmatch = x\ncapture 9x = y\nsay = hi\n", 3, "bad capture name"},
      {"[rule a\n", 1, "closing ']'"},
      {"[rule]\n", 1, "unknown section"},
      {"[rule a]\nmatch =\n", 2, "no value"},
      {"[rule a]\nmatch = x\ncapture t 3 = (a)(b)\nsay = hi\n", 3, "takes group 3"},
      {"[rule a]\nmatch = x\ncapture t x = (a)\nsay = hi\n", 3, "capture NAME N"},
      {"[rule a]\nmatch = (x+)+++\nsay = hi\n", 2, "stacked repetition"},
      {"[rule a]\nmatch = ((a{1,20}){20})\nsay = hi\n", 2, "too many or too large"},
      {"[rule a]\nmatch = (a)\\1\nsay = hi\n", 2, "backreferences"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char err[256] = "";
    tern_script_t *s = NULL;
    int rc = tern_script_load_string(cases[i].text, "t.rules", &s, err, sizeof err);
    if (rc != TERN_EFORMAT)
      fail_msg("case %zu: got %s, expected TERN_EFORMAT", i, tern_err_name(rc));
    assert_null(s);
    char prefix[32];
    snprintf(prefix, sizeof prefix, "t.rules:%d: ", cases[i].line);
    if (strncmp(err, prefix, strlen(prefix)) || !strstr(err, cases[i].says))
      fail_msg("case %zu: message '%s', expected '%s...%s'", i, err, prefix, cases[i].says);
  }
}

static void test_load_file_errors_and_empty_script(void **state) {
  (void)state;
  char err[256];
  tern_script_t *s = NULL;
  assert_int_equal(tern_script_load_file(tu_tmp_path("no-such.rules"), &s, err, sizeof err),
                   TERN_ENOENT);
  assert_non_null(strstr(err, "no-such.rules"));
  assert_null(s);

  /* An empty script is valid: everything gets the built-in fallback. */
  assert_int_equal(tern_script_load_string("# nothing\n", NULL, &s, err, sizeof err), 0);
  tern_chat_t *chat = chat_user("hello");
  tern_script_reply_t r;
  assert_int_equal(tern_script_respond(s, chat, &r), 0);
  assert_string_equal(r.rule, "fallback");
  assert_true(strlen(r.text) > 0);
  tern_script_reply_free(&r);
  tern_chat_destroy(chat);
  tern_script_free(s);

  /* A reply that would render past the bound is refused, not truncated. */
  char big[2100];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  char script[128];
  snprintf(script, sizeof script, "[rule r]\nmatch = ^(a+)$\nsay = $1$1$1$1$1\n");
  assert_int_equal(tern_script_load_string(script, NULL, &s, err, sizeof err), 0);
  chat = chat_user(big);
  assert_int_equal(tern_script_respond(s, chat, &r), TERN_ETOOBIG);
  assert_null(r.text);
  tern_chat_destroy(chat);
  tern_script_free(s);
}

static char *g_default_text;

static int sweep_load(void *ctx) {
  (void)ctx;
  tern_script_t *s = NULL;
  int rc = tern_script_load_string(g_default_text, "default", &s, NULL, 0);
  if (rc)
    return rc;
  tern_chat_t *chat = NULL;
  rc = tern_chat_create(&chat);
  if (!rc)
    rc = tern_chat_add(chat, TERN_ROLE_USER, "book a meeting for tomorrow at ten");
  tern_script_reply_t r = {0};
  if (!rc)
    rc = tern_script_respond(s, chat, &r);
  tern_script_reply_free(&r);
  tern_chat_destroy(chat);
  tern_script_free(s);
  return rc;
}

static void test_alloc_sweep(void **state) {
  (void)state;
  g_default_text = tu_read_file(tu_src_path("examples/scripted/default.rules"), NULL);
  assert_non_null(g_default_text);
  long made = tu_alloc_sweep(sweep_load, NULL);
  assert_true(made > 10);
  free(g_default_text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_default_script_lines),
      cmocka_unit_test(test_fallback_is_honest_and_start_speaks_first),
      cmocka_unit_test(test_tool_call_then_result_rendering),
      cmocka_unit_test(test_captures_defaults_and_fields),
      cmocka_unit_test(test_normalize),
      cmocka_unit_test(test_malformed_scripts_name_the_line),
      cmocka_unit_test(test_load_file_errors_and_empty_script),
      cmocka_unit_test(test_alloc_sweep),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
