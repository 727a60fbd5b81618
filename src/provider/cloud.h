/* Internal to the provider layer: what the HTTP cloud providers (OpenAI-
 * compatible, Anthropic) share.
 *
 *  - settings: base URL, API key, model and friends from [<comp>.<name>]
 *    and the conventional environment variables, with the key registered
 *    as a secret the moment it is read;
 *  - the call object (tern__cop_t): one HTTP request on the loop, wrapped
 *    so that the provider contract of tern/provider.h holds: on_done once,
 *    never inside the start function, cancel safe from inside any callback
 *    (a `depth` counter defers the free until the outermost callback
 *    returns), the handle freed right after on_done;
 *  - helpers for the parts of an LLM stream that every wire format has:
 *    tool calls assembled from pieces, the continuation filter that drops
 *    a repeated prefix, JSON strings that never fail on bad UTF-8.
 */
#ifndef TERN_PROVIDER_CLOUD_H
#define TERN_PROVIDER_CLOUD_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "tern/buf.h"
#include "tern/chat.h"
#include "tern/http.h"
#include "tern/sse.h"
#include "tern/provider.h"

/* ---- settings ----------------------------------------------------------- */

typedef struct tern__cloud_defaults {
  const char *kind;     /* "openai" */
  const char *base_env; /* "OPENAI_BASE_URL" */
  const char *base_url; /* "https://api.openai.com/v1" */
  const char *key_env;  /* "OPENAI_API_KEY" */
  const char *model;    /* for this component */
  const char *voice;    /* TTS, may be NULL */
  int max_tokens;       /* 0: none sent unless configured */
} tern__cloud_defaults_t;

typedef struct tern__cloud_settings {
  char section[96]; /* "llm.openai" */
  char *base_url;   /* without a trailing '/' */
  char *api_key;    /* NULL: none (local servers) */
  char *model;
  char *voice;           /* NULL when the component has none */
  char *response_format; /* NULL unless configured */
  double temperature;    /* < 0: not sent */
  int max_tokens;        /* 0: not sent */
} tern__cloud_settings_t;

/* Reads the settings; on failure writes a sentence naming the section and
 * what to set into err. TERN_ECONFIG or TERN_ENOMEM. */
int tern__cloud_settings_load(tern_component_t comp, const char *name, const tern_config_t *cfg,
                              const tern__cloud_defaults_t *d, tern__cloud_settings_t *out,
                              char *err, size_t errsz);
void tern__cloud_settings_free(tern__cloud_settings_t *s);

/* "base" + "path" into a fresh string (tern_free). NULL on no memory. */
char *tern__cloud_url(const char *base, const char *path);

/* ---- the call object ---------------------------------------------------- */

typedef struct tern__cop tern__cop_t;

typedef struct tern__cop_vt {
  /* A 2xx response with its headers. May fail the call. */
  void (*response)(tern__cop_t *o, int status);
  /* Body bytes. May call user callbacks (check tern__cop_alive after each)
   * and may fail the call. */
  void (*data)(tern__cop_t *o, const char *data, size_t len);
  /* The request completed without a transport or HTTP error: check that
   * the answer is whole, deliver what waits for the end. May fail. */
  void (*end)(tern__cop_t *o);
  /* Call the user's on_done (err NULL on success). */
  void (*done)(tern__cop_t *o, const tern_error_t *err);
  /* Free what the kind owns (not o itself). */
  void (*release)(tern__cop_t *o);
} tern__cop_vt_t;

struct tern__cop {
  tern_op_t op; /* first: the caller's handle */
  const tern__cop_vt_t *vt;
  tern_http_t *http;
  tern_loop_t *loop;
  tern_component_t comp;
  char provider[TERN_PROVIDER_NAME_MAX];
  int depth;
  bool cancelled, finished, failed;
  tern_error_t err;
};

/* Set up o (allocated by the caller, zeroed, with room for the kind's
 * fields after it) and create its HTTP request with the provider's
 * timeouts. On failure nothing is left to free but o itself. */
int tern__cop_init(tern__cop_t *o, const tern__cop_vt_t *vt, const tern_provider_t *p,
                   tern_loop_t *loop, const char *url, size_t max_response);
/* Start the request. On failure the call is released (vt->release and o
 * freed) and the code returned: the caller must not touch o again. */
int tern__cop_start(tern__cop_t *o);
/* Release a call that was initialised but never started. */
void tern__cop_discard(tern__cop_t *o);

/* Record a stream-level failure (the first one wins) and stop the request;
 * on_done follows from the loop with this error. */
void tern__cop_fail(tern__cop_t *o, const tern_error_t *err);
/* Same with a kind and a printf-style message. */
void tern__cop_failf(tern__cop_t *o, tern_kind_t kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Still worth working on: neither cancelled nor failed. */
static inline bool tern__cop_alive(const tern__cop_t *o) { return !o->cancelled && !o->failed; }

/* ---- replay: a reply's bytes without the network ----------------------- */

/* The parsers of a provider's reply live in the call object's callbacks.
 * Replay drives those same callbacks over bytes held in memory, so fuzz
 * targets and regression tests reach the parsers exactly as a live 2xx
 * response would (the Content-Type check is the one step skipped): the
 * body arrives in two pieces split at `cut`, then the end, then the
 * sink's on_done exactly once with the classified outcome. */
typedef struct tern__replay {
  const char *body;
  size_t len, cut;
  const char *continuation; /* llm: the partial answer being continued, or NULL */
  int sample_rate;          /* tts: the rate asked for (8000..192000) */
  const tern_llm_sink_t *llm;
  const tern_stt_sink_t *stt;
  const tern_tts_sink_t *tts;
} tern__replay_t;

/* Drive o (set up by the kind: vt and its own fields; comp and provider
 * are filled in here) over r, call vt->done once and free o. Returns 0. */
int tern__cop_replay(tern__cop_t *o, const tern__cop_vt_t *vt, tern_component_t comp,
                     const char *provider, const tern__replay_t *r);
/* The kinds' entry points (openai.c, anthropic.c). The sink of the
 * component must be set. Returns 0 (on_done ran), TERN_EINVAL or
 * TERN_ENOMEM (setup failed; on_done did not run). */
int tern__openai_replay(tern_component_t comp, const tern__replay_t *r);
int tern__anthropic_replay(const tern__replay_t *r);

/* Headers every JSON call sends; content type and accept. */
int tern__cop_json_body(tern__cop_t *o, json_t *body);

/* True when the response's Content-Type starts with one of the '|'-separated
 * media types (case-insensitive; parameters ignored). */
bool tern__cop_content_type_is(tern__cop_t *o, const char *types);

/* Streamed answers (SSE). Events larger than this are refused. */
#define TERN__SSE_MAX_EVENT ((size_t)256 << 10)
/* Our own shortage of memory while reading: the call cannot go on. */
void tern__cop_fail_nomem(tern__cop_t *o);
/* on_response of a streamed answer: the body must be text/event-stream. */
void tern__cop_expect_sse(tern__cop_t *o);
/* Feed body bytes to the call's SSE parser; problems fail the call. */
void tern__cop_sse_feed(tern__cop_t *o, tern_sse_t *sse, const char *data, size_t len);
/* The body ended: finish the parser. False when that failed the call. */
bool tern__cop_sse_finish(tern__cop_t *o, tern_sse_t *sse);
/* Set up a streamed JSON call: tern__cop_init, an SSE parser calling
 * on_event(ev, ud), the JSON body (borrowed) and Accept: text/event-stream.
 * On failure the caller discards the call as after tern__cop_init. */
int tern__cop_init_sse(tern__cop_t *o, const tern__cop_vt_t *vt, const tern_provider_t *p,
                       tern_loop_t *loop, const char *url, size_t max_response, json_t *body,
                       tern_sse_event_fn on_event, void *ud, tern_sse_t **sse);

/* ---- LLM helpers -------------------------------------------------------- */

/* Tool calls assembled from stream pieces, by index. */
typedef struct tern__tool_acc {
  struct tern__tool_slot {
    tern_buf_t id, name, args;
    bool used, delivered;
  } * slots;
  size_t n;
} tern__tool_acc_t;

/* The slot for an index (grown as needed, at most 64). NULL: no memory or
 * index out of range. */
struct tern__tool_slot *tern__tool_acc_at(tern__tool_acc_t *a, size_t index);
void tern__tool_acc_free(tern__tool_acc_t *a);

/* The continuation filter. The previous provider already delivered
 * `prev`; a model asked to continue sometimes starts over. Text is held
 * while it could still be a repeat of prev and dropped when it is one;
 * everything else passes through. With only_trim_space, prev was sent as
 * an assistant prefill (Anthropic) and the only overlap to remove is the
 * whitespace that was trimmed from its end. */
typedef struct tern__contin {
  const char *prev; /* borrowed; NULL: off */
  size_t prev_len;
  bool only_trim_space;
  bool passing; /* decided: everything now passes through */
  tern_buf_t hold;
} tern__contin_t;

typedef void (*tern__emit_fn)(void *ud, const char *text, size_t len);
void tern__contin_init(tern__contin_t *c, const char *prev, bool only_trim_space);
/* Feed model text; emit() gets what the caller should see. Returns 0 or
 * TERN_ENOMEM. */
int tern__contin_feed(tern__contin_t *c, const char *text, size_t len, tern__emit_fn emit,
                      void *ud);
/* End of the answer: whatever is held is a repeat of prev; dropped. */
void tern__contin_free(tern__contin_t *c);

/* A JSON string from text that may hold invalid UTF-8 (bad bytes become
 * '?'). NULL only when memory ran out. */
json_t *tern__jstr(const char *s);
json_t *tern__jstrn(const char *s, size_t n);
/* Set / append, stealing v; false when v is NULL or memory ran out. */
bool tern__jset(json_t *obj, const char *key, json_t *v);
bool tern__jpush(json_t *arr, json_t *v);

/* Parse JSON text: 0, TERN_EFORMAT (not JSON) or TERN_ENOMEM. */
int tern__json_load(const char *text, size_t len, json_t **out);

/* A tool's parameters schema: parameters_json parsed (NULL or "" gives an
 * empty object schema). *out NULL with TERN_EINVAL when it is not a JSON
 * object, TERN_ENOMEM when memory ran out. */
int tern__tool_params(const tern_tool_def_t *t, json_t **out);

/* The continuation request, in words a model follows. */
extern const char tern__continue_prompt[];

#endif
