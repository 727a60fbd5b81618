/* WebRTC VAD: a C shim over webrtc::AudioProcessing's VoiceDetection.
 *
 * Only the voice detector of the module is enabled; the audio itself is
 * never changed (the module's output frame is a private copy). The module
 * decides on 10 ms blocks, so frames are cut into blocks and a remainder
 * shorter than a block waits in `carry` for the next frame: every sample
 * of the stream is classified once, in order.
 *
 * For its first ~100 ms the module's noise model is unadapted and it calls
 * nearly anything voice, even -70 dBFS hiss (5-6 frames on this library,
 * measured): long enough for the segmenter to start a false turn at the
 * top of every call. So the first kWarmupBlocks blocks after a start or
 * reset are reported as non-speech; speech at the very start of a stream
 * is then heard 120 ms late, which the session's pre-roll absorbs.
 *
 * Invariants: ncarry < block; no C++ exception ever leaves this file (each
 * entry point catches everything and returns a TERN_E code), so C callers
 * never unwind through C frames.
 */
#include <new>

#include <webrtc/modules/audio_processing/include/audio_processing.h>
#include <webrtc/modules/interface/module_common_types.h>

#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/vad.h"

namespace {

constexpr size_t kMaxBlock = 480; /* 10 ms at 48 kHz */
constexpr unsigned kWarmupBlocks = 12;

struct webrtc_vad {
  tern_vad_t base; /* first member: the C side casts */
  webrtc::AudioProcessing *apm;
  webrtc::AudioFrame *frame; /* placement-new'd in tern_malloc memory */
  uint32_t rate;
  size_t block; /* samples per 10 ms */
  int16_t carry[kMaxBlock];
  size_t ncarry;
  unsigned warm; /* blocks seen since start or reset, up to kWarmupBlocks */
  float last;    /* the last decision, for a frame shorter than the carry needs */
};

webrtc::VoiceDetection::Likelihood likelihood_of(int aggressiveness) {
  switch (aggressiveness) {
  case 0:
    return webrtc::VoiceDetection::kHighLikelihood;
  case 1:
    return webrtc::VoiceDetection::kModerateLikelihood;
  case 2:
    return webrtc::VoiceDetection::kLowLikelihood;
  default:
    return webrtc::VoiceDetection::kVeryLowLikelihood;
  }
}

/* One 10 ms block through the module; *voice gets its decision. */
int run_block(webrtc_vad *v, const int16_t *pcm, bool *voice) {
  webrtc::AudioFrame *f = v->frame;
  f->sample_rate_hz_ = (int)v->rate;
  f->num_channels_ = 1;
  f->samples_per_channel_ = v->block;
  for (size_t i = 0; i < v->block; i++)
    f->data_[i] = pcm[i];
  if (v->apm->ProcessStream(f) != webrtc::AudioProcessing::kNoError)
    return TERN_EPROVIDER;
  *voice = v->apm->voice_detection()->stream_has_voice();
  if (v->warm < kWarmupBlocks) {
    v->warm++;
    *voice = false;
  }
  return 0;
}

int process_frame(webrtc_vad *v, const tern_frame_t *fr, float *prob) {
  const int16_t *p = fr->samples;
  size_t n = fr->count;
  unsigned blocks = 0, voiced = 0;
  bool voice = false;
  int rc;
  if (v->ncarry) {
    size_t take = v->block - v->ncarry < n ? v->block - v->ncarry : n;
    for (size_t i = 0; i < take; i++)
      v->carry[v->ncarry + i] = p[i];
    v->ncarry += take;
    p += take;
    n -= take;
    if (v->ncarry == v->block) {
      v->ncarry = 0;
      if ((rc = run_block(v, v->carry, &voice)))
        return rc;
      blocks++;
      voiced += voice;
    }
  }
  for (; n >= v->block; p += v->block, n -= v->block) {
    if ((rc = run_block(v, p, &voice)))
      return rc;
    blocks++;
    voiced += voice;
  }
  for (size_t i = 0; i < n; i++)
    v->carry[i] = p[i];
  v->ncarry += n;
  if (blocks)
    v->last = (float)voiced / (float)blocks;
  *prob = v->last;
  return 0;
}

int webrtc_process(tern_vad_t *base, const tern_frame_t *fr, float *prob) {
  webrtc_vad *v = reinterpret_cast<webrtc_vad *>(base);
  if (!prob)
    return TERN_EINVAL;
  *prob = 0;
  if (!fr || (!fr->samples && fr->count))
    return TERN_EINVAL;
  /* The module was started for one rate and mono; anything else is a
   * stream the detector cannot judge. */
  if (fr->sample_rate != v->rate || fr->channels != 1)
    return TERN_EUNSUPPORTED;
  try {
    return process_frame(v, fr, prob);
  } catch (const std::bad_alloc &) {
    return TERN_ENOMEM;
  } catch (...) {
    return TERN_EPROVIDER;
  }
}

void webrtc_reset(tern_vad_t *base) {
  webrtc_vad *v = reinterpret_cast<webrtc_vad *>(base);
  v->ncarry = 0;
  v->warm = 0;
  v->last = 0;
  try {
    /* Keeps the settings, drops the adapted state. A failure here shows
     * up as an error on the next process call. */
    v->apm->Initialize();
  } catch (...) {
  }
}

void webrtc_close(tern_vad_t *base) {
  webrtc_vad *v = reinterpret_cast<webrtc_vad *>(base);
  try {
    delete v->apm;
  } catch (...) {
  }
  if (v->frame) {
    v->frame->~AudioFrame();
    tern_free(v->frame);
  }
  tern_free(v);
}

const tern_vad_vtable_t webrtc_vt = {"webrtc", webrtc_process, webrtc_reset, webrtc_close};

int start_module(webrtc_vad *v, int aggressiveness) {
  v->apm = webrtc::AudioProcessing::Create();
  if (!v->apm)
    return TERN_EPROVIDER;
  const auto mono = webrtc::AudioProcessing::kMono;
  const int r = (int)v->rate;
  if (v->apm->Initialize(r, r, r, mono, mono, mono) != webrtc::AudioProcessing::kNoError)
    return TERN_EPROVIDER;
  webrtc::VoiceDetection *vd = v->apm->voice_detection();
  if (!vd || vd->set_likelihood(likelihood_of(aggressiveness)) != 0 ||
      vd->set_frame_size_ms(10) != 0 || vd->Enable(true) != 0)
    return TERN_EPROVIDER;
  return 0;
}

} // namespace

extern "C" int tern_vad_webrtc_create(uint32_t sample_rate, int aggressiveness, tern_vad_t **out) {
  if (!out)
    return TERN_EINVAL;
  *out = nullptr;
  if (aggressiveness < 0 || aggressiveness > 3)
    return TERN_EINVAL;
  if (sample_rate != 8000 && sample_rate != 16000 && sample_rate != 32000 && sample_rate != 48000)
    return TERN_EUNSUPPORTED;
  webrtc_vad *v = static_cast<webrtc_vad *>(tern_calloc(1, sizeof *v));
  if (!v)
    return TERN_ENOMEM;
  v->base.vt = &webrtc_vt;
  v->rate = sample_rate;
  v->block = sample_rate / 100;
  void *mem = tern_malloc(sizeof(webrtc::AudioFrame));
  if (!mem) {
    tern_free(v);
    return TERN_ENOMEM;
  }
  int rc;
  try {
    v->frame = new (mem) webrtc::AudioFrame();
    rc = start_module(v, aggressiveness);
  } catch (const std::bad_alloc &) {
    rc = TERN_ENOMEM;
  } catch (...) {
    rc = TERN_EPROVIDER;
  }
  if (!v->frame)
    tern_free(mem);
  if (rc) {
    webrtc_close(&v->base);
    return rc;
  }
  *out = &v->base;
  return 0;
}
