/* fakeprov: run and script the fault-injecting fake provider server
 * (tests/fakeprov/server.py) from a C test.
 *
 * The server is a real HTTP + WebSocket server on 127.0.0.1 speaking the
 * OpenAI-compatible, Anthropic, ElevenLabs and Deepgram wire formats; a test
 * points a provider at fakeprov_url(&fp, "/v1") and scripts faults per
 * request (see tests/fakeprov/README.md for routes and fault fields).
 *
 * Routes: "openai.chat", "openai.stt", "openai.tts", "anthropic.messages",
 * "elevenlabs.tts", "deepgram.listen" (WebSocket), "deepgram.prerecorded".
 *
 * All calls block (libcurl easy API) and are meant for test code only. The
 * control calls use jansson, which allocates through tern's hook: do not
 * call them while an allocation-failure sweep is injecting failures.
 */
#ifndef TERN_FAKEPROV_H
#define TERN_FAKEPROV_H

#include <sys/types.h>

typedef struct fakeprov {
  pid_t pid;     /* the server process; 0 when not running */
  int http_port; /* provider routes and /_control/ */
  int ws_port;   /* a second listener, same routes; for WebSocket URLs */
  char port_file[512];
  char urls[8][512]; /* rotating buffers behind fakeprov_url/_ws_url */
  unsigned next_url;
} fakeprov_t;

/* Starts a server on free loopback ports and waits (bounded) until it
 * listens. Returns 0, TERN_EUNSUPPORTED when python3 or the server script is
 * missing (turn that into a skip; the reason is printed on stderr), or
 * TERN_EIO / TERN_ETIMEDOUT when the server failed to come up.
 * Interpreter: $TERN_PYTHON, else /usr/bin/python3, else python3 on PATH.
 * Script: $TERN_FAKEPROV_SERVER, else tests/fakeprov/server.py. */
int fakeprov_start(fakeprov_t *fp);
/* Stops the server (SIGTERM, then SIGKILL if it lingers) and reaps it. Safe
 * on a never-started or already-stopped fakeprov_t. */
void fakeprov_stop(fakeprov_t *fp);

/* "http://127.0.0.1:PORT" + path (path may be NULL or ""). The result lives
 * in fp and stays valid for the next 7 calls of either URL helper. */
const char *fakeprov_url(fakeprov_t *fp, const char *path);
/* "ws://127.0.0.1:WS_PORT" + path, same lifetime rules. */
const char *fakeprov_ws_url(fakeprov_t *fp, const char *path);

/* Scripts the next requests of a route. json is either an array of fault
 * objects (a queue, one entry consumed per request, replacing any queue
 * already there) or an object with "faults", "default" (applies to every
 * request once the queue is empty; null clears it) and "append" (true adds
 * to the queue). Unknown routes or fault fields give TERN_EINVAL. */
int fakeprov_script(fakeprov_t *fp, const char *route, const char *json);
/* What the route says from now on (chat reply, transcript); NULL restores
 * the built-in default. TTS routes always speak their input. */
int fakeprov_reply(fakeprov_t *fp, const char *route, const char *text);
/* Requires this key for a provider ("openai", "anthropic", "elevenlabs",
 * "deepgram"); a wrong or missing key then gets that provider's 401.
 * NULL stops checking. */
int fakeprov_key(fakeprov_t *fp, const char *provider, const char *key);
/* Requests the route has seen since start or reset; negative TERN_E* on
 * error. */
long fakeprov_count(fakeprov_t *fp, const char *route);
/* A field of the summary of the route's last request, by dotted path
 * ("last_user", "input", "headers.x-api-key", "messages"); NULL field gives
 * the whole summary. Strings come back as they are, anything else as
 * compact JSON. Returns a malloc'd string (release with free()), or NULL
 * when there is no such request or field. */
char *fakeprov_last(fakeprov_t *fp, const char *route, const char *field);
/* Forgets every script, reply, key, count and summary, and releases every
 * connection held by a stall fault. */
int fakeprov_reset(fakeprov_t *fp);

/* Raw control call: method "GET"/"POST", path like "/_control/stats".
 * On success and when out_body is not NULL, *out_body is the response body
 * (malloc'd, free()). Non-2xx responses give TERN_EINVAL (body printed to
 * stderr), transport failures TERN_EIO. */
int fakeprov_control(fakeprov_t *fp, const char *method, const char *path, const char *json_body,
                     char **out_body);

#endif
