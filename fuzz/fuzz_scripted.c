/* libFuzzer target for the scripted dialogue engine: any bytes as a rules
 * file; when they load, the script answers a fixed conversation at each
 * of its stages (no user message, a user line, a tool result, a failed
 * tool, a result for an unknown call). Nothing may crash, leak, or hand
 * back a tool call whose arguments are not a JSON object. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/chat.h"
#include "tern/scripted.h"

static void respond(const tern_script_t *s, const tern_chat_t *chat) {
  tern_script_reply_t r;
  if (tern_script_respond(s, chat, &r) != 0)
    return;
  if (!r.rule)
    abort();
  if (r.tool_name) {
    json_error_t e;
    json_t *j = json_loads(r.arguments, 0, &e);
    if (!j || !json_is_object(j))
      abort();
    json_decref(j);
  }
  tern_script_reply_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  tern_script_t *s = NULL;
  char err[256];
  if (tern_script_load_string(text, "fuzz", &s, err, sizeof err) == 0) {
    tern_chat_t *chat = NULL;
    if (tern_chat_create(&chat) == 0) {
      respond(s, chat);
      tern_chat_add(chat, TERN_ROLE_USER, "What's the weather in New York, at 10 tomorrow?");
      respond(s, chat);
      tern_tool_call_t call = {.id = "c1", .name = "get_weather", .arguments = "{}"};
      tern_chat_add_tool_calls(chat, NULL, &call, 1);
      tern_chat_add_tool_result(chat, "c1", NULL,
                                "{\"city\":\"New York\",\"summary\":\"rain\",\"temp_c\":-2.5,"
                                "\"list\":[1,\"two\",true],\"nested\":{\"a\":{\"b\":\"deep\"}}}");
      respond(s, chat);
      tern_chat_add(chat, TERN_ROLE_USER, "book a meeting");
      tern_tool_call_t call2 = {.id = "c2", .name = "schedule_meeting", .arguments = "{}"};
      tern_chat_add_tool_calls(chat, NULL, &call2, 1);
      tern_chat_add_tool_result(chat, "c2", "schedule_meeting", "{\"error\":\"full\"}");
      respond(s, chat);
      tern_chat_add_tool_result(chat, "nope", NULL, "plain text");
      respond(s, chat);
      tern_chat_destroy(chat);
    }
    tern_script_free(s);
  }
  free(text);
  return 0;
}
