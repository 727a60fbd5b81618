/* flite synthesis core. flite is initialised and each voice registered
 * exactly once (pthread_once / under the lock); after that a voice object
 * is only read. Per call, the audio-streaming callback is attached to the
 * utterance's own feature set, never to the shared voice, so concurrent
 * callers cannot see each other's callbacks. Synthesis holds one global
 * lock per phrase because flite's error handling goes through one global
 * jump buffer (cst_errjmp) which we point at our own frame so a flite
 * error unwinds to us instead of calling exit(). */
#include "tern/flite_tts.h"

#include <flite/flite.h>
#include <pthread.h>
#include <setjmp.h>
#include <string.h>

#include "provider/pcm_resample.h"
#include "provider/tts_text.h"
#include "tern/alloc.h"
#include "tern/error.h"

cst_voice *register_cmu_us_kal16(const char *voxdir);
cst_voice *register_cmu_us_slt(const char *voxdir);

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static cst_voice *g_kal16, *g_slt; /* registered under g_lock, never freed */

static void flite_boot(void) { flite_init(); }

/* Called with g_lock held. */
static cst_voice *voice_get(const char *name) {
  if (!name || !name[0] || !strcmp(name, "kal16") || !strcmp(name, "kal") ||
      !strcmp(name, "cmu_us_kal16")) {
    if (!g_kal16)
      g_kal16 = register_cmu_us_kal16(NULL);
    return g_kal16;
  }
  if (!strcmp(name, "slt") || !strcmp(name, "cmu_us_slt")) {
    if (!g_slt)
      g_slt = register_cmu_us_slt(NULL);
    return g_slt;
  }
  return NULL;
}

int tern_flite_voice_check(const char *voice) {
  pthread_once(&g_once, flite_boot);
  pthread_mutex_lock(&g_lock);
  cst_voice *v = voice_get(voice);
  pthread_mutex_unlock(&g_lock);
  return v ? 0 : TERN_ENOENT;
}

typedef struct synth {
  tern_pcm_chunk_fn fn;
  void *ud;
  int rate;
  tern__rs_t *rs; /* made when flite tells us its native rate */
  int rc;         /* first failure, or TERN_ECANCELED */
  int n_chunks;
} synth_t;

static int deliver(void *ud, const int16_t *pcm, size_t n) {
  synth_t *s = ud;
  return s->fn(s->ud, pcm, n);
}

static int on_stream(const cst_wave *w, int start, int size, int last,
                     cst_audio_streaming_info *asi) {
  (void)last;
  synth_t *s = asi->userdata;
  if (s->rc)
    return CST_AUDIO_STREAM_STOP;
  if (!s->rs) {
    int rc = tern__rs_create(w->sample_rate, s->rate, &s->rs);
    if (rc) {
      s->rc = rc;
      return CST_AUDIO_STREAM_STOP;
    }
  }
  if (size > 0) {
    s->n_chunks++;
    int rc = tern__rs_push(s->rs, w->samples + start, (size_t)size, deliver, s);
    if (rc) {
      s->rc = rc;
      return CST_AUDIO_STREAM_STOP;
    }
  }
  return CST_AUDIO_STREAM_CONT;
}

/* Speaks one phrase; takes and releases the global lock. */
static int speak_phrase(const char *phrase, const char *voice, synth_t *s) {
  pthread_mutex_lock(&g_lock);
  cst_voice *v = voice_get(voice);
  if (!v) {
    pthread_mutex_unlock(&g_lock);
    return TERN_ENOENT;
  }
  int rc = 0;
  jmp_buf jb;
  jmp_buf *saved = cst_errjmp;
  cst_utterance *volatile u = NULL;
  if (setjmp(jb) == 0) {
    cst_errjmp = &jb;
    u = new_utterance();
    cst_audio_streaming_info *asi = new_audio_streaming_info();
    asi->min_buffsize = 1600; /* 100 ms at 16 kHz: early first audio, few callbacks */
    asi->asc = on_stream;
    asi->userdata = s;
    utt_set_input_text(u, phrase);
    utt_init(u, v);
    /* The utterance owns asi from here and frees it with itself. */
    feat_set(u->features, "streaming_info", audio_streaming_info_val(asi));
    if (!utt_synth(u) && !s->rc)
      rc = TERN_EPROVIDER;
  } else {
    rc = TERN_EPROVIDER; /* flite raised an error; whatever it held is lost */
    u = NULL;
  }
  cst_errjmp = saved;
  if (u)
    delete_utterance(u);
  pthread_mutex_unlock(&g_lock);
  return rc ? rc : s->rc;
}

int tern_flite_synth(const char *text, const char *voice, int sample_rate, tern_pcm_chunk_fn fn,
                     void *ud) {
  if (!text || !fn || sample_rate < 8000 || sample_rate > 48000)
    return TERN_EINVAL;
  char *clean = NULL;
  int rc = tern__tts_clean(text, TERN_FLITE_TEXT_MAX, &clean);
  if (rc)
    return rc;
  rc = tern_flite_voice_check(voice);
  if (rc) {
    tern_free(clean);
    return rc;
  }
  synth_t s = {.fn = fn, .ud = ud, .rate = sample_rate};
  for (const char *p = clean; *p && !rc;) {
    size_t n = tern__tts_phrase_len(p);
    if (tern__tts_has_words(p, n)) {
      char save = p[n];
      ((char *)p)[n] = '\0';
      rc = speak_phrase(p, voice, &s);
      ((char *)p)[n] = save;
    }
    p += n;
  }
  if (!rc && s.rs)
    rc = tern__rs_finish(s.rs, deliver, &s);
  tern__rs_destroy(s.rs);
  tern_free(clean);
  return rc;
}
