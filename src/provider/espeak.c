/* espeak-ng synthesis core. espeak-ng keeps all its state in globals
 * (the current voice, the synthesis callback, its buffers), so one lock
 * covers initialisation, voice changes and synthesis; the callback finds
 * its caller through the per-call user_data pointer. */
#include "tern/espeak_tts.h"

#include <espeak-ng/espeak_ng.h>
#include <pthread.h>
#include <string.h>

#include "provider/pcm_resample.h"
#include "provider/tts_text.h"
#include "tern/alloc.h"
#include "tern/error.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_state;     /* 0 not tried, 1 ready, <0 failed (under g_lock) */
static int g_rate;      /* espeak-ng's output rate */
static char g_voice[64]; /* the voice currently selected */

typedef struct synth {
  tern_pcm_chunk_fn fn;
  void *ud;
  tern__rs_t *rs;
  int rc;
} synth_t;

static int deliver(void *ud, const int16_t *pcm, size_t n) {
  synth_t *s = ud;
  return s->fn(s->ud, pcm, n);
}

static int on_synth(short *wav, int n, espeak_EVENT *ev) {
  synth_t *s = ev ? ev->user_data : NULL;
  if (!s)
    return 0;
  if (s->rc)
    return 1;
  if (wav && n > 0) {
    int rc = tern__rs_push(s->rs, wav, (size_t)n, deliver, s);
    if (rc) {
      s->rc = rc;
      return 1; /* abort this synthesis */
    }
  }
  return 0;
}

/* Called with g_lock held. */
static int init_locked(void) {
  if (g_state == 0) {
    espeak_ng_InitializePath(NULL);
    g_state = -1;
    if (espeak_ng_Initialize(NULL) == ENS_OK &&
        espeak_ng_InitializeOutput(ENOUTPUT_MODE_SYNCHRONOUS, 100, NULL) == ENS_OK) {
      espeak_SetSynthCallback(on_synth);
      g_rate = espeak_ng_GetSampleRate();
      g_state = g_rate > 0 ? 1 : -1;
    }
  }
  return g_state > 0 ? 0 : TERN_EPROVIDER;
}

int tern_espeak_init(void) {
  pthread_mutex_lock(&g_lock);
  int rc = init_locked();
  pthread_mutex_unlock(&g_lock);
  return rc;
}

/* Called with g_lock held. */
static int select_voice(const char *voice) {
  if (!strcmp(voice, g_voice))
    return 0;
  if (strlen(voice) >= sizeof g_voice || espeak_ng_SetVoiceByName(voice) != ENS_OK) {
    g_voice[0] = '\0'; /* espeak may have half-switched: select again next time */
    return TERN_ENOENT;
  }
  strcpy(g_voice, voice);
  return 0;
}

static int speak_phrase(const char *phrase, size_t n, const char *voice, synth_t *s) {
  pthread_mutex_lock(&g_lock);
  int rc = init_locked();
  if (!rc)
    rc = select_voice(voice);
  if (!rc) {
    espeak_ng_STATUS st = espeak_ng_Synthesize(phrase, n + 1, 0, POS_CHARACTER, 0,
                                               espeakCHARS_UTF8, NULL, s);
    if (st != ENS_OK && !s->rc)
      rc = TERN_EPROVIDER;
  }
  pthread_mutex_unlock(&g_lock);
  return rc ? rc : s->rc;
}

int tern_espeak_synth(const char *text, const char *voice, int sample_rate, tern_pcm_chunk_fn fn,
                      void *ud) {
  if (!text || !fn || sample_rate < 8000 || sample_rate > 48000)
    return TERN_EINVAL;
  if (!voice || !voice[0])
    voice = TERN_ESPEAK_DEFAULT_VOICE;
  char *clean = NULL;
  int rc = tern__tts_clean(text, TERN_ESPEAK_TEXT_MAX, &clean);
  if (rc)
    return rc;
  synth_t s = {.fn = fn, .ud = ud};
  rc = tern_espeak_init();
  if (!rc) {
    pthread_mutex_lock(&g_lock);
    rc = select_voice(voice);
    pthread_mutex_unlock(&g_lock);
  }
  if (!rc)
    rc = tern__rs_create(g_rate, sample_rate, &s.rs);
  for (const char *p = clean; *p && !rc;) {
    size_t n = tern__tts_phrase_len(p);
    if (tern__tts_has_words(p, n)) {
      char save = p[n];
      ((char *)p)[n] = '\0';
      rc = speak_phrase(p, n, voice, &s);
      ((char *)p)[n] = save;
    }
    p += n;
  }
  if (!rc)
    rc = tern__rs_finish(s.rs, deliver, &s);
  tern__rs_destroy(s.rs);
  tern_free(clean);
  return rc;
}
