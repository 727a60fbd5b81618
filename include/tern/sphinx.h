/* Offline speech-to-text with pocketsphinx: a bounded pool of decoders.
 *
 * A pocketsphinx decoder holds the whole model (tens of MiB) and decodes
 * one utterance at a time, so the process keeps a small pool shared by
 * every session: decoders are created lazily up to `max_decoders` (the
 * first one when the pool is made, which checks the configuration and
 * means the first caller does not wait for a model to load), borrowed for
 * one utterance and returned. Borrowing when all are busy waits
 * (tern_sphinx_acquire) or fails at once with TERN_EBUSY
 * (tern_sphinx_try_acquire). All functions are thread-safe; a borrowed
 * decoder belongs to one thread at a time.
 *
 * The synchronous core blocks: the provider runs it on the loop's thread
 * pool. pocketsphinx's own logging is switched off for the whole process.
 */
#ifndef TERN_SPHINX_H
#define TERN_SPHINX_H

#include <stddef.h>
#include <stdint.h>

#include "tern/provider.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Debian's pocketsphinx-en-us package. */
#define TERN_SPHINX_MODEL_DIR "/usr/share/pocketsphinx/model/en-us"
/* The rate the en-us acoustic model was trained at. */
#define TERN_SPHINX_RATE 16000

typedef struct tern_sphinx_config {
  const char *hmm;  /* acoustic model directory; NULL: MODEL_DIR/en-us */
  const char *dict; /* pronunciation dictionary; NULL: MODEL_DIR/cmudict-en-us.dict */
  const char *lm;   /* n-gram model; NULL: MODEL_DIR/en-us.lm.bin (unless jsgf or keyphrase) */
  const char *jsgf; /* a JSGF grammar file instead of the n-gram model */
  const char *keyphrase;  /* spot this phrase instead of transcribing */
  double kws_threshold;   /* keyphrase detection threshold; 0: 1e-20 */
  int max_decoders;       /* 0: 2 */
} tern_sphinx_config_t;

typedef struct tern_sphinx_pool tern_sphinx_pool_t;
typedef struct tern_sphinx_decoder tern_sphinx_decoder_t;

typedef struct tern_sphinx_result {
  char *text;        /* the hypothesis, "" when nothing was heard; owned */
  double confidence; /* posterior probability of the hypothesis, 0..1 */
} tern_sphinx_result_t;

/* Makes the pool and its first decoder. On failure writes a message naming
 * the missing file or bad option into err (may be NULL): TERN_ENOENT for a
 * missing model file, TERN_ECONFIG for options pocketsphinx refused,
 * TERN_EINVAL for a bad max_decoders or both jsgf and keyphrase. */
int tern_sphinx_pool_create(const tern_sphinx_config_t *cfg, tern_sphinx_pool_t **out,
                            char *err, size_t errsz);
/* Every decoder must have been released. */
void tern_sphinx_pool_destroy(tern_sphinx_pool_t *pool);

/* Borrows a decoder, creating one when none is free and the pool is below
 * its maximum, else waiting until one is released. */
int tern_sphinx_acquire(tern_sphinx_pool_t *pool, tern_sphinx_decoder_t **out /* OUT */);
/* The same, but TERN_EBUSY at once instead of waiting. */
int tern_sphinx_try_acquire(tern_sphinx_pool_t *pool, tern_sphinx_decoder_t **out /* OUT */);
/* Returns a decoder (an utterance still open is abandoned). */
void tern_sphinx_release(tern_sphinx_decoder_t *dec);
/* Decoders created so far, borrowed now, and callers waiting for one (for
 * tests and metrics); any pointer may be NULL. */
void tern_sphinx_pool_stats(tern_sphinx_pool_t *pool, int *created, int *borrowed, int *waiting);

/* One utterance, incrementally: begin, feed audio as it comes (any rate
 * from 8000 to 48000 Hz; other rates than 16 kHz are resampled), then end
 * for the final hypothesis. A decoder is reusable for any number of
 * utterances. */
int tern_sphinx_begin(tern_sphinx_decoder_t *dec, int sample_rate);
int tern_sphinx_feed(tern_sphinx_decoder_t *dec, const int16_t *pcm, size_t n_samples);
/* The current partial hypothesis (owned copy, tern_free it). */
int tern_sphinx_partial(tern_sphinx_decoder_t *dec, char **text /* OUT */);
int tern_sphinx_end(tern_sphinx_decoder_t *dec, tern_sphinx_result_t *out /* OUT */);

/* A whole utterance on a borrowed decoder. Given all the audio at once,
 * pocketsphinx normalises over the whole utterance, which is markedly more
 * accurate than feeding it piecewise (live normalisation needs a second or
 * so of audio to settle): prefer this whenever the utterance is complete. */
int tern_sphinx_decode_utt(tern_sphinx_decoder_t *dec, const int16_t *pcm, size_t n_samples,
                           int sample_rate, tern_sphinx_result_t *out /* OUT */);

/* A whole utterance in one call: borrows a decoder (waiting if need be),
 * decodes, returns it. */
int tern_sphinx_decode(tern_sphinx_pool_t *pool, const int16_t *pcm, size_t n_samples,
                       int sample_rate, tern_sphinx_result_t *out /* OUT */);

void tern_sphinx_result_free(tern_sphinx_result_t *r);

/* The asynchronous STT provider (kind "pocketsphinx") over a pool made
 * from cfg: stt_start decodes one utterance on the loop's thread pool and
 * delivers one final transcript (possibly empty) then on_done; stt_stream
 * is not offered (pocketsphinx needs the whole utterance for its best
 * result). When every decoder is busy the request ends at once with a
 * retryable `overloaded` error rather than parking a thread-pool thread.
 * On failure err (may be NULL) says what is wrong with the configuration. */
int tern_sphinx_provider_create(const tern_sphinx_config_t *cfg, tern_provider_t **out /* OUT */,
                                char *err, size_t errsz);

#ifdef __cplusplus
}
#endif
#endif
