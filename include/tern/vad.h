/* Voice activity detection: per-frame classifiers and a segmenter.
 *
 * A VAD is split in two so every detector shares the same turn logic:
 *
 *   tern_vad_t          a classifier behind a small vtable: one frame in,
 *                       a speech probability in 0..1 out (energy now,
 *                       WebRTC or a neural model later).
 *   tern_vad_seg_t      a pure state machine over those probabilities: a
 *                       speech segment starts after min_speech_ms of speech
 *                       and ends after min_silence_ms of non-speech (that
 *                       wait is the hangover that bridges pauses between
 *                       words).
 *
 * Nothing here reads a clock: positions are sample counts from the start of
 * the stream, and events carry both where the speech really started or ended
 * and the sample at which that became certain, so latency is measurable.
 * Nothing allocates after init; every state struct can live in a session.
 */
#ifndef TERN_VAD_H
#define TERN_VAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tern/audio.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_vad tern_vad_t;

typedef struct tern_vad_vtable {
  const char *name;
  /* Classifies one mono frame (10-30 ms is typical); *prob gets the speech
   * probability. Frames must come in stream order. */
  int (*process)(tern_vad_t *v, const tern_frame_t *frame, float *prob /* OUT */);
  /* Forgets adaptation state, as for a new stream. */
  void (*reset)(tern_vad_t *v);
  /* Releases resources the detector owns; NULL when there are none. */
  void (*close)(tern_vad_t *v);
} tern_vad_vtable_t;

/* Implementations embed this as their first member. */
struct tern_vad {
  const tern_vad_vtable_t *vt;
};

static inline int tern_vad_process(tern_vad_t *v, const tern_frame_t *f, float *prob) {
  return v->vt->process(v, f, prob);
}
static inline void tern_vad_reset(tern_vad_t *v) { v->vt->reset(v); }
static inline void tern_vad_close(tern_vad_t *v) {
  if (v && v->vt->close)
    v->vt->close(v);
}

/* ---- Energy VAD ----
 * A frame is speech when its level is start_margin_db above an adaptive noise
 * floor (stop_margin_db while already in speech: hysteresis keeps fading
 * word endings in) and above min_dbfs. The floor falls fast towards quieter
 * frames and rises slowly, faster outside speech, so it follows a changing
 * background without being pulled up by the speech itself. */
typedef struct tern_vad_energy_opts {
  double start_margin_db;     /* default 10 */
  double stop_margin_db;      /* default 6 */
  double min_dbfs;            /* frames quieter than this are never speech; default -55 */
  double floor_init_dbfs;     /* starting floor, if the first frame is louder; default -50 */
  double floor_min_dbfs;      /* the floor never goes below; default -80 */
  double rise_db_per_s;       /* floor rise during speech; default 5 */
  double rise_quiet_db_per_s; /* floor rise outside speech; default 20 */
} tern_vad_energy_opts_t;

#define TERN_VAD_ENERGY_OPTS_DEFAULT                                                               \
  { 10.0, 6.0, -55.0, -50.0, -80.0, 5.0, 20.0 }

typedef struct tern_vad_energy {
  tern_vad_t base; /* first member */
  tern_vad_energy_opts_t o;
  double floor_db;
  int started; /* a frame has been seen */
  int speech;  /* the previous frame was speech */
} tern_vad_energy_t;

/* opts may be NULL for the defaults. Never allocates. */
int tern_vad_energy_init(tern_vad_energy_t *v, const tern_vad_energy_opts_t *opts);
/* The current noise floor estimate, dBFS. */
double tern_vad_energy_floor(const tern_vad_energy_t *v);

/* ---- WebRTC VAD ----
 * The voice detector of the WebRTC audio processing module (Debian's
 * webrtc-audio-processing 0.3), behind a C shim. It decides on 10 ms
 * blocks at 8, 16, 32 or 48 kHz: a 20 ms frame is two blocks and its
 * probability is the share of blocks with voice (0, 0.5 or 1), so the
 * segmenter's 0.5 threshold calls a frame speech when either half is.
 * Samples short of a whole block wait for the next frame. Mono only.
 * aggressiveness 0..3, as in WebRTC's own VAD modes: 0 calls the most
 * frames speech (high likelihood), 3 the fewest (very low likelihood).
 * The module allocates through C++ new, outside tern_malloc. */
#define TERN_VAD_WEBRTC_AGGRESSIVENESS 2

/* TERN_EUNSUPPORTED for another rate or a build without the library,
 * TERN_EINVAL for an aggressiveness outside 0..3, TERN_EPROVIDER if the
 * library refuses to start, TERN_ENOMEM. Release with tern_vad_close. */
int tern_vad_webrtc_create(uint32_t sample_rate, int aggressiveness, tern_vad_t **out /* OUT */);

/* ---- Best available, with a fallback that cannot go silent ----
 * A fallback VAD answers with its primary detector while that works and
 * with an energy VAD otherwise. The energy VAD runs beside the primary on
 * every frame (a few hundred nanoseconds), so its noise floor is already
 * adapted when it has to take over. The first error of the primary
 * (anything but a bad argument) switches to the energy VAD for the rest of
 * the detector's life, reset included, and logs one warning: a stream
 * never loses its VAD because a library failed mid-call. */
typedef enum tern_vad_kind {
  TERN_VAD_KIND_AUTO = 0, /* WebRTC with the energy fallback; energy alone if WebRTC cannot start */
  TERN_VAD_KIND_WEBRTC,   /* WebRTC only: creation fails where it is unavailable */
  TERN_VAD_KIND_ENERGY,   /* the energy VAD with default options */
} tern_vad_kind_t;

/* "auto", "webrtc", "energy" -> kind; TERN_EINVAL otherwise. */
int tern_vad_kind_parse(const char *s, tern_vad_kind_t *out /* OUT */);
const char *tern_vad_kind_name(tern_vad_kind_t kind);

/* Wraps `primary` (owned from now on, closed with the wrapper, and closed
 * at once if this fails) with the energy fallback. With energy_gate, a
 * frame within 3 dB of the energy VAD's noise floor gets the energy VAD's
 * (lower) probability instead of the primary's: speech must sound like
 * voice AND stand above the background. That cuts WebRTC's built-in
 * hangover (~100 ms after every utterance, on top of the segmenter's own
 * min_silence, i.e. later ends of turn) and its warm-up false starts. */
int tern_vad_fallback_create(tern_vad_t *primary, bool energy_gate, tern_vad_t **out /* OUT */);
/* tern_vad_webrtc_create wrapped with the gated energy fallback, or, if WebRTC
 * cannot start for any reason but TERN_EINVAL/TERN_ENOMEM, a plain energy
 * VAD (one info log line says why). */
int tern_vad_auto_create(uint32_t sample_rate, int aggressiveness, tern_vad_t **out /* OUT */);
/* A heap detector of any kind (aggressiveness is used by WebRTC only).
 * Release with tern_vad_close. */
int tern_vad_create(tern_vad_kind_t kind, uint32_t sample_rate, int aggressiveness,
                    tern_vad_t **out /* OUT */);
/* The name of the detector deciding now: inside a fallback VAD the one in
 * use ("webrtc", then "energy" after a failure), else the vtable's name. */
const char *tern_vad_active_name(const tern_vad_t *v);

/* ---- Segmenter ---- */
typedef struct tern_vad_seg_opts {
  float threshold;         /* probability at or above which a frame is speech; default 0.5 */
  uint32_t min_speech_ms;  /* speech needed to start a segment; default 100 */
  uint32_t min_silence_ms; /* non-speech needed to end it; default 550 */
} tern_vad_seg_opts_t;

#define TERN_VAD_SEG_OPTS_DEFAULT                                                                  \
  { 0.5f, 100, 550 }

typedef enum tern_vad_event_type {
  TERN_VAD_NONE = 0,
  TERN_VAD_SPEECH_START,
  TERN_VAD_SPEECH_END,
} tern_vad_event_type_t;

typedef struct tern_vad_event {
  tern_vad_event_type_t type;
  uint64_t sample;     /* where speech started (first speech sample) or ended (one past
                          the last speech sample) */
  uint64_t decided_at; /* stream position when the event was emitted */
} tern_vad_event_t;

typedef struct tern_vad_seg {
  tern_vad_seg_opts_t o;
  uint64_t min_speech, min_silence; /* in samples */
  uint64_t pos;                     /* samples seen */
  uint64_t run_start;               /* first sample of the current candidate run */
  int in_speech;
  int in_run; /* a candidate run (speech while idle, silence while in speech) is open */
} tern_vad_seg_t;

/* opts may be NULL for the defaults; sample_rate converts ms to samples. */
int tern_vad_seg_init(tern_vad_seg_t *s, const tern_vad_seg_opts_t *opts, uint32_t sample_rate);
void tern_vad_seg_reset(tern_vad_seg_t *s);
/* Feeds one frame's probability and length; *ev is TERN_VAD_NONE or the one
 * event this frame caused. */
int tern_vad_seg_push(tern_vad_seg_t *s, float prob, size_t frame_samples,
                      tern_vad_event_t *ev /* OUT */);
/* End of stream: closes an open segment (ending where its trailing silence
 * began, or at the end of the stream). */
int tern_vad_seg_finish(tern_vad_seg_t *s, tern_vad_event_t *ev /* OUT */);

/* ---- Whole buffers ---- */
typedef struct tern_vad_segment {
  uint64_t start, end; /* samples: [start, end) */
} tern_vad_segment_t;

/* Runs `vad` (reset first) over mono pcm in TERN_FRAME_MS frames and returns
 * the speech segments as a tern_malloc'd array (*segs NULL when none). */
int tern_vad_segments(tern_vad_t *vad, const tern_vad_seg_opts_t *opts, const int16_t *pcm,
                      size_t n, uint32_t sample_rate, tern_vad_segment_t **segs /* OUT */,
                      size_t *count /* OUT */);

#ifdef __cplusplus
}
#endif
#endif
