/* Provider interfaces: speech-to-text, language model, text-to-speech.
 *
 * A provider only makes the call and classifies what went wrong; it knows
 * nothing of retries, breakers or fallbacks (the guard and the chain do
 * that, the same for every provider). Every call is asynchronous: it is
 * started on a loop, its callbacks run on that loop's thread, and it
 * returns an operation handle that can be cancelled at any moment.
 *
 * Contract of every start function:
 *  - returns 0 and sets *op, or a negative TERN_E* code (then no callback
 *    will ever run and *op is NULL);
 *  - after a successful start, on_done runs exactly once, last, unless the
 *    operation is cancelled first;
 *  - tern_op_cancel() may be called from anywhere on the loop thread,
 *    including from inside the operation's own callbacks; once it returns
 *    no callback of that operation runs again and the handle is gone;
 *  - the handle is freed by the provider right after on_done returns: do
 *    not use it after on_done or after cancelling it;
 *  - inputs (text, audio, chat) are borrowed until on_done or cancel.
 *
 * Provider objects are immutable after creation and may be shared by every
 * session and worker thread of the process.
 */
#ifndef TERN_PROVIDER_H
#define TERN_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/chat.h"
#include "tern/taxonomy.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_loop tern_loop_t;
typedef struct tern_config tern_config_t;

/* An in-flight call. Implementations embed this as their first member. */
typedef struct tern_op tern_op_t;
struct tern_op {
  void (*cancel)(tern_op_t *op);
};

static inline void tern_op_cancel(tern_op_t *op) {
  if (op)
    op->cancel(op);
}

/* ---- language model ---------------------------------------------------- */

typedef struct tern_llm_request {
  const tern_chat_t *chat;
  const tern_tool_def_t *tools;
  size_t n_tools;
  /* Text of this answer that was already delivered (by another provider
   * that failed mid-answer). The provider asks its model to continue from
   * exactly there and delivers only the continuation. NULL when starting. */
  const char *continuation;
  int max_tokens;     /* 0: provider default */
  double temperature; /* < 0: provider default */
} tern_llm_request_t;

typedef struct tern_llm_sink {
  void (*on_text)(void *ud, const char *text, size_t len);
  /* A complete tool call (arguments fully assembled). */
  void (*on_tool_call)(void *ud, const tern_tool_call_t *call);
  /* err is NULL on success. */
  void (*on_done)(void *ud, const tern_error_t *err);
  void *ud;
} tern_llm_sink_t;

/* ---- speech-to-text ---------------------------------------------------- */

typedef struct tern_stt_request {
  const int16_t *pcm; /* one utterance, mono */
  size_t n_samples;
  int sample_rate;
  const char *language; /* "en" when NULL */
} tern_stt_request_t;

typedef struct tern_stt_sink {
  /* Interim (is_final false) and final transcripts. */
  void (*on_transcript)(void *ud, const char *text, bool is_final, double confidence);
  void (*on_done)(void *ud, const tern_error_t *err);
  void *ud;
} tern_stt_sink_t;

/* A live transcription stream: audio is pushed as it arrives, transcripts
 * come back as the provider produces them; finish() asks for the final
 * result, after which on_done runs. The stream's op cancels it. */
typedef struct tern_stt_stream tern_stt_stream_t;
struct tern_stt_stream {
  tern_op_t op;
  int (*push)(tern_stt_stream_t *s, const int16_t *pcm, size_t n_samples);
  int (*finish)(tern_stt_stream_t *s);
};

/* ---- text-to-speech ---------------------------------------------------- */

typedef struct tern_tts_request {
  const char *text;
  int sample_rate; /* the session's rate; the provider resamples to it */
  const char *voice; /* NULL: the provider's configured voice */
} tern_tts_request_t;

typedef struct tern_tts_sink {
  void (*on_audio)(void *ud, const int16_t *pcm, size_t n_samples);
  void (*on_done)(void *ud, const tern_error_t *err);
  void *ud;
} tern_tts_sink_t;

/* ---- the provider object ----------------------------------------------- */

typedef struct tern_provider tern_provider_t;

typedef struct tern_provider_vt {
  const char *kind; /* "openai", "flite", ... */
  int (*llm_start)(tern_provider_t *p, tern_loop_t *loop, const tern_llm_request_t *req,
                   const tern_llm_sink_t *sink, tern_op_t **op);
  int (*stt_start)(tern_provider_t *p, tern_loop_t *loop, const tern_stt_request_t *req,
                   const tern_stt_sink_t *sink, tern_op_t **op);
  /* Optional: NULL when the provider only transcribes whole utterances. */
  int (*stt_stream)(tern_provider_t *p, tern_loop_t *loop, int sample_rate,
                    const tern_stt_sink_t *sink, tern_stt_stream_t **stream);
  int (*tts_start)(tern_provider_t *p, tern_loop_t *loop, const tern_tts_request_t *req,
                   const tern_tts_sink_t *sink, tern_op_t **op);
  void (*destroy)(tern_provider_t *p);
} tern_provider_vt_t;

#define TERN_PROVIDER_NAME_MAX 32

struct tern_provider {
  const tern_provider_vt_t *vt;
  tern_component_t component;
  char name[TERN_PROVIDER_NAME_MAX]; /* as in config and events: "openai" */
  /* Timeouts the guard applies around this provider's calls (µs). */
  tern_usec_t first_byte_timeout;
  tern_usec_t idle_timeout;
  tern_usec_t total_timeout;
};

static inline void tern_provider_destroy(tern_provider_t *p) {
  if (p)
    p->vt->destroy(p);
}

/* Create a provider by its kind name for a component from configuration:
 * reads [<component>.<name>] (e.g. [llm.openai] model, base_url, ...) and
 * the conventional environment variables (OPENAI_API_KEY, ...). On failure
 * writes a message naming what is missing or wrong into err. */
int tern_provider_create(tern_component_t component, const char *name, const tern_config_t *cfg,
                         tern_provider_t **out, char *err, size_t errsz);

#ifdef __cplusplus
}
#endif
#endif
