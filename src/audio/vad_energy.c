/* Energy VAD and the speech segmenter shared by every VAD.
 *
 * The energy classifier keeps one number of state, the noise floor in dBFS.
 * Invariant: floor_min_dbfs <= floor_db, and outside speech floor_db never
 * rises above the current frame's level, so it tracks the background rather
 * than the voice. Falls are fast (time constant 40 ms) because a floor that
 * is too high hides speech, which is worse than a brief false start.
 *
 * The segmenter is a two-state machine (idle, speech) with one open
 * "candidate run" at a time: a run of speech frames while idle, or of
 * non-speech frames while in speech. A run that reaches its minimum length
 * flips the state; the event is backdated to the run's first sample.
 */
#include <math.h>
#include <string.h>

#include "audio/level.h"
#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/vad.h"

#define FALL_TAU_S 0.040

static int energy_process(tern_vad_t *base, const tern_frame_t *f, float *prob) {
  tern_vad_energy_t *v = (tern_vad_energy_t *)base;
  if (!prob)
    return TERN_EINVAL;
  *prob = 0;
  if (!f || f->sample_rate == 0 || f->channels == 0 || (!f->samples && f->count))
    return TERN_EINVAL;
  size_t n = f->count * f->channels;
  if (n == 0)
    return 0;
  const tern_vad_energy_opts_t *o = &v->o;
  double level = tern__power_dbfs(tern__sumsq(f->samples, n) / (double)n);
  double dt = (double)f->count / f->sample_rate;
  if (!v->started) {
    v->floor_db = level < o->floor_init_dbfs ? level : o->floor_init_dbfs;
    if (v->floor_db < o->floor_min_dbfs)
      v->floor_db = o->floor_min_dbfs;
    v->started = 1;
  }
  double d = level - v->floor_db - (v->speech ? o->stop_margin_db : o->start_margin_db);
  int speech = d >= 0 && level >= o->min_dbfs;
  /* A logistic of the margin: 0.5 exactly at the threshold, so the
   * segmenter's default threshold agrees with the classifier's own decision. */
  if (level >= o->min_dbfs) {
    float p = (float)(1.0 / (1.0 + exp(-d / 3.0)));
    if (!speech && p >= 0.5f)
      p = nextafterf(0.5f, 0.0f);
    *prob = p;
  }

  if (level < v->floor_db) {
    v->floor_db += (level - v->floor_db) * (1.0 - exp(-dt / FALL_TAU_S));
  } else {
    double up = (speech ? o->rise_db_per_s : o->rise_quiet_db_per_s) * dt;
    v->floor_db = v->floor_db + up < level ? v->floor_db + up : level;
  }
  if (v->floor_db < o->floor_min_dbfs)
    v->floor_db = o->floor_min_dbfs;
  v->speech = speech;
  return 0;
}

static void energy_reset(tern_vad_t *base) {
  tern_vad_energy_t *v = (tern_vad_energy_t *)base;
  v->floor_db = v->o.floor_init_dbfs;
  v->started = 0;
  v->speech = 0;
}

static const tern_vad_vtable_t energy_vt = {"energy", energy_process, energy_reset, NULL};

int tern_vad_energy_init(tern_vad_energy_t *v, const tern_vad_energy_opts_t *opts) {
  if (!v)
    return TERN_EINVAL;
  tern_vad_energy_opts_t d = TERN_VAD_ENERGY_OPTS_DEFAULT;
  if (opts)
    d = *opts;
  if (d.stop_margin_db > d.start_margin_db || d.rise_db_per_s < 0 || d.rise_quiet_db_per_s < 0)
    return TERN_EINVAL;
  memset(v, 0, sizeof *v);
  v->base.vt = &energy_vt;
  v->o = d;
  energy_reset(&v->base);
  return 0;
}

double tern_vad_energy_floor(const tern_vad_energy_t *v) { return v ? v->floor_db : 0; }

/* ---- Segmenter ---- */

int tern_vad_seg_init(tern_vad_seg_t *s, const tern_vad_seg_opts_t *opts, uint32_t sample_rate) {
  if (!s || sample_rate == 0)
    return TERN_EINVAL;
  tern_vad_seg_opts_t d = TERN_VAD_SEG_OPTS_DEFAULT;
  if (opts)
    d = *opts;
  if (!(d.threshold > 0.0f && d.threshold <= 1.0f))
    return TERN_EINVAL;
  memset(s, 0, sizeof *s);
  s->o = d;
  s->min_speech = (uint64_t)d.min_speech_ms * sample_rate / 1000;
  s->min_silence = (uint64_t)d.min_silence_ms * sample_rate / 1000;
  return 0;
}

void tern_vad_seg_reset(tern_vad_seg_t *s) {
  if (!s)
    return;
  s->pos = s->run_start = 0;
  s->in_speech = s->in_run = 0;
}

int tern_vad_seg_push(tern_vad_seg_t *s, float prob, size_t frame_samples, tern_vad_event_t *ev) {
  if (!ev)
    return TERN_EINVAL;
  memset(ev, 0, sizeof *ev);
  if (!s)
    return TERN_EINVAL;
  uint64_t start = s->pos;
  s->pos += frame_samples;
  int speech = prob >= s->o.threshold;
  /* The frame either extends the open candidate run or, if it agrees with
   * the current state, cancels it. */
  if (speech == s->in_speech) {
    s->in_run = 0;
    return 0;
  }
  if (!s->in_run) {
    s->in_run = 1;
    s->run_start = start;
  }
  uint64_t need = s->in_speech ? s->min_silence : s->min_speech;
  if (s->pos - s->run_start >= need) {
    ev->type = s->in_speech ? TERN_VAD_SPEECH_END : TERN_VAD_SPEECH_START;
    ev->sample = s->run_start;
    ev->decided_at = s->pos;
    s->in_speech = !s->in_speech;
    s->in_run = 0;
  }
  return 0;
}

int tern_vad_seg_finish(tern_vad_seg_t *s, tern_vad_event_t *ev) {
  if (!ev)
    return TERN_EINVAL;
  memset(ev, 0, sizeof *ev);
  if (!s)
    return TERN_EINVAL;
  if (s->in_speech) {
    ev->type = TERN_VAD_SPEECH_END;
    ev->sample = s->in_run ? s->run_start : s->pos;
    ev->decided_at = s->pos;
  }
  s->in_speech = s->in_run = 0;
  return 0;
}

static int append(tern_vad_segment_t **a, size_t *n, size_t *cap, uint64_t start, uint64_t end) {
  if (*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 8;
    tern_vad_segment_t *na = tern_realloc(*a, nc * sizeof *na);
    if (!na)
      return TERN_ENOMEM;
    *a = na;
    *cap = nc;
  }
  (*a)[(*n)++] = (tern_vad_segment_t){start, end};
  return 0;
}

int tern_vad_segments(tern_vad_t *vad, const tern_vad_seg_opts_t *opts, const int16_t *pcm,
                      size_t n, uint32_t sample_rate, tern_vad_segment_t **segs, size_t *count) {
  if (!segs || !count)
    return TERN_EINVAL;
  *segs = NULL;
  *count = 0;
  if (!vad || (!pcm && n) || sample_rate == 0)
    return TERN_EINVAL;
  tern_vad_seg_t s;
  int rc = tern_vad_seg_init(&s, opts, sample_rate);
  if (rc)
    return rc;
  tern_vad_reset(vad);
  size_t fs = tern_audio_samples_per_20ms(sample_rate);
  if (fs == 0)
    fs = 1;
  tern_vad_segment_t *a = NULL;
  size_t len = 0, cap = 0;
  uint64_t open_start = 0;
  tern_vad_event_t ev;
  for (size_t off = 0; off < n; off += fs) {
    size_t k = n - off < fs ? n - off : fs;
    tern_frame_t fr = {(int16_t *)(pcm + off), k, sample_rate, 1};
    float p;
    rc = tern_vad_process(vad, &fr, &p);
    if (!rc)
      rc = tern_vad_seg_push(&s, p, k, &ev);
    if (rc)
      goto fail;
    if (ev.type == TERN_VAD_SPEECH_START)
      open_start = ev.sample;
    else if (ev.type == TERN_VAD_SPEECH_END && (rc = append(&a, &len, &cap, open_start, ev.sample)))
      goto fail;
  }
  tern_vad_seg_finish(&s, &ev);
  if (ev.type == TERN_VAD_SPEECH_END && (rc = append(&a, &len, &cap, open_start, ev.sample)))
    goto fail;
  *segs = a;
  *count = len;
  return 0;
fail:
  tern_free(a);
  return rc;
}
