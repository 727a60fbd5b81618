/* Choosing a VAD, and the fallback that keeps one working.
 *
 * The fallback VAD holds a primary detector (WebRTC today, a neural model
 * later) and an energy VAD. The energy VAD sees every frame, used or not,
 * so that a switch mid-stream starts from an adapted noise floor instead
 * of a cold one that would call the first seconds of background speech.
 * Invariant: once `primary` is NULL (it failed and was closed) it stays
 * NULL; the detector never flips back, so a flaky library cannot make the
 * decisions of one stream alternate between two scales.
 */
#include "audio/level.h"
#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/log.h"
#include "tern/vad.h"

#include <stdbool.h>
#include <string.h>

/* How far above the energy VAD's noise floor a frame must be for the gate
 * to let the primary's "voice" through. Lower than the energy VAD's own
 * start margin (10 dB) on purpose: the gate only has to tell "something
 * above the background" from "the background", and WebRTC's judgement of
 * voice in noisy speech (10 dB SNR) is better than the energy VAD's. */
#define GATE_DB 3.0

static double level_db(const tern_frame_t *f) {
  size_t n = f->count * f->channels;
  return n ? tern__power_dbfs(tern__sumsq(f->samples, n) / (double)n) : TERN_ANALYZE_FLOOR_DB;
}

typedef struct fallback_vad {
  tern_vad_t base;
  tern_vad_t *primary; /* NULL once it failed */
  bool gate;           /* answer min(primary, energy) while the primary works */
  tern_vad_energy_t energy;
} fallback_vad_t;

static int fallback_process(tern_vad_t *base, const tern_frame_t *f, float *prob) {
  fallback_vad_t *v = (fallback_vad_t *)base;
  if (!prob)
    return TERN_EINVAL;
  *prob = 0;
  if (!f || f->sample_rate == 0 || f->channels == 0 || (!f->samples && f->count))
    return TERN_EINVAL; /* the caller's mistake, not the detector's */
  float pe = 0;
  int rc = tern_vad_process(&v->energy.base, f, &pe);
  if (rc)
    return rc;
  if (v->primary) {
    float pp = 0;
    rc = tern_vad_process(v->primary, f, &pp);
    if (rc == 0) {
      *prob = pp;
      if (v->gate && pp > pe && level_db(f) < tern_vad_energy_floor(&v->energy) + GATE_DB)
        *prob = pe;
      return 0;
    }
    TERN_LOG(TERN_LOG_WARN, "vad_fallback", TERN_LF_STR("from", v->primary->vt->name),
             TERN_LF_STR("to", "energy"), TERN_LF_STR("error", tern_err_name(rc)),
             TERN_LF_STR("message", tern_strerror(rc)));
    tern_vad_close(v->primary);
    v->primary = NULL;
  }
  *prob = pe;
  return 0;
}

static void fallback_reset(tern_vad_t *base) {
  fallback_vad_t *v = (fallback_vad_t *)base;
  if (v->primary)
    tern_vad_reset(v->primary);
  tern_vad_reset(&v->energy.base);
}

static void fallback_close(tern_vad_t *base) {
  fallback_vad_t *v = (fallback_vad_t *)base;
  tern_vad_close(v->primary);
  tern_free(v);
}

static const tern_vad_vtable_t fallback_vt = {"fallback", fallback_process, fallback_reset,
                                              fallback_close};

/* An energy VAD on the heap: the embedded one has no close. */
typedef struct owned_energy {
  tern_vad_t base;
  tern_vad_energy_t e;
} owned_energy_t;

static int owned_process(tern_vad_t *base, const tern_frame_t *f, float *prob) {
  return tern_vad_process(&((owned_energy_t *)base)->e.base, f, prob);
}
static void owned_reset(tern_vad_t *base) { tern_vad_reset(&((owned_energy_t *)base)->e.base); }
static void owned_close(tern_vad_t *base) { tern_free(base); }

static const tern_vad_vtable_t owned_energy_vt = {"energy", owned_process, owned_reset,
                                                  owned_close};

static int energy_create(tern_vad_t **out) {
  owned_energy_t *v = tern_calloc(1, sizeof *v);
  if (!v)
    return TERN_ENOMEM;
  v->base.vt = &owned_energy_vt;
  tern_vad_energy_init(&v->e, NULL);
  *out = &v->base;
  return 0;
}

#ifndef TERN_HAVE_WEBRTC
/* Built without webrtc-audio-processing: "auto" becomes the energy VAD. */
int tern_vad_webrtc_create(uint32_t sample_rate, int aggressiveness, tern_vad_t **out) {
  (void)sample_rate;
  if (!out)
    return TERN_EINVAL;
  *out = NULL;
  if (aggressiveness < 0 || aggressiveness > 3)
    return TERN_EINVAL;
  return TERN_EUNSUPPORTED;
}
#endif

int tern_vad_kind_parse(const char *s, tern_vad_kind_t *out) {
  static const char *const names[] = {"auto", "webrtc", "energy"};
  if (!s || !out)
    return TERN_EINVAL;
  for (int i = 0; i < 3; i++)
    if (strcmp(s, names[i]) == 0) {
      *out = (tern_vad_kind_t)i;
      return 0;
    }
  return TERN_EINVAL;
}

const char *tern_vad_kind_name(tern_vad_kind_t kind) {
  switch (kind) {
  case TERN_VAD_KIND_AUTO:
    return "auto";
  case TERN_VAD_KIND_WEBRTC:
    return "webrtc";
  case TERN_VAD_KIND_ENERGY:
    return "energy";
  }
  return "?";
}

int tern_vad_fallback_create(tern_vad_t *primary, bool energy_gate, tern_vad_t **out) {
  if (out)
    *out = NULL;
  if (!primary || !out) {
    tern_vad_close(primary);
    return TERN_EINVAL;
  }
  fallback_vad_t *v = tern_calloc(1, sizeof *v);
  if (!v) {
    tern_vad_close(primary);
    return TERN_ENOMEM;
  }
  v->base.vt = &fallback_vt;
  v->primary = primary;
  v->gate = energy_gate;
  tern_vad_energy_init(&v->energy, NULL);
  *out = &v->base;
  return 0;
}

int tern_vad_auto_create(uint32_t sample_rate, int aggressiveness, tern_vad_t **out) {
  if (!out)
    return TERN_EINVAL;
  *out = NULL;
  if (sample_rate == 0)
    return TERN_EINVAL;
  tern_vad_t *w = NULL;
  int rc = tern_vad_webrtc_create(sample_rate, aggressiveness, &w);
  if (rc == 0)
    return tern_vad_fallback_create(w, true, out);
  if (rc == TERN_EINVAL || rc == TERN_ENOMEM)
    return rc;
  TERN_LOG(TERN_LOG_INFO, "vad_webrtc_unavailable", TERN_LF_INT("sample_rate", sample_rate),
           TERN_LF_STR("error", tern_err_name(rc)), TERN_LF_STR("using", "energy"));
  return energy_create(out);
}

int tern_vad_create(tern_vad_kind_t kind, uint32_t sample_rate, int aggressiveness,
                    tern_vad_t **out) {
  if (!out)
    return TERN_EINVAL;
  *out = NULL;
  switch (kind) {
  case TERN_VAD_KIND_AUTO:
    return tern_vad_auto_create(sample_rate, aggressiveness, out);
  case TERN_VAD_KIND_WEBRTC:
    return tern_vad_webrtc_create(sample_rate, aggressiveness, out);
  case TERN_VAD_KIND_ENERGY:
    return energy_create(out);
  }
  return TERN_EINVAL;
}

const char *tern_vad_active_name(const tern_vad_t *v) {
  if (!v)
    return NULL;
  if (v->vt == &fallback_vt) {
    const fallback_vad_t *f = (const fallback_vad_t *)v;
    return f->primary ? f->primary->vt->name : "energy";
  }
  return v->vt->name;
}
