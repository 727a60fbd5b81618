/* Streaming mono PCM16 resampler over speexdsp.
 *
 * Invariant: out_total <= ceil(in_total * out_rate / in_rate). Speex delays
 * its output by half a filter length; skip_zeros removes that delay at the
 * start, and flush feeds silence to push the last real samples out, then
 * stops at exactly the ceiling above. So a stream fed in any chunking yields
 * the same samples as one call over the whole buffer.
 */
#include <string.h>

#include <speex/speex_resampler.h>

#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/resample.h"

struct tern_resampler {
  SpeexResamplerState *st; /* NULL when the rates are equal: plain copy */
  uint32_t in_rate, out_rate;
  uint64_t in_total, out_total; /* real samples consumed / produced this stream */
};

static int map_speex(int e) { return e == RESAMPLER_ERR_ALLOC_FAILED ? TERN_ENOMEM : TERN_EINVAL; }

int tern_resampler_new(uint32_t in_rate, uint32_t out_rate, int quality, tern_resampler_t **out) {
  if (!out)
    return TERN_EINVAL;
  *out = NULL;
  if (in_rate < TERN_RESAMPLE_MIN_RATE || in_rate > TERN_RESAMPLE_MAX_RATE ||
      out_rate < TERN_RESAMPLE_MIN_RATE || out_rate > TERN_RESAMPLE_MAX_RATE || quality > 10)
    return TERN_EINVAL;
  if (quality < 0)
    quality = TERN_RESAMPLE_QUALITY_DEFAULT;
  tern_resampler_t *r = tern_calloc(1, sizeof *r);
  if (!r)
    return TERN_ENOMEM;
  r->in_rate = in_rate;
  r->out_rate = out_rate;
  if (in_rate != out_rate) {
    int e = 0;
    r->st = speex_resampler_init(1, in_rate, out_rate, quality, &e);
    if (!r->st) {
      tern_free(r);
      return map_speex(e ? e : RESAMPLER_ERR_ALLOC_FAILED);
    }
    speex_resampler_skip_zeros(r->st);
  }
  *out = r;
  return 0;
}

void tern_resampler_free(tern_resampler_t *r) {
  if (!r)
    return;
  if (r->st)
    speex_resampler_destroy(r->st);
  tern_free(r);
}

void tern_resampler_reset(tern_resampler_t *r) {
  if (!r)
    return;
  r->in_total = r->out_total = 0;
  if (r->st) {
    speex_resampler_reset_mem(r->st);
    speex_resampler_skip_zeros(r->st);
  }
}

size_t tern_resampler_out_max(const tern_resampler_t *r, size_t in_len) {
  if (!r)
    return 0;
  return (size_t)((uint64_t)in_len * r->out_rate / r->in_rate) + 2;
}

static uint64_t target(const tern_resampler_t *r) {
  return (r->in_total * r->out_rate + r->in_rate - 1) / r->in_rate;
}

size_t tern_resampler_pending(const tern_resampler_t *r) {
  if (!r)
    return 0;
  uint64_t t = target(r);
  return t > r->out_total ? (size_t)(t - r->out_total) : 0;
}

/* Runs speex over in[0..in_len) into out[0..out_cap); counts what moved. */
static int run(tern_resampler_t *r, const int16_t *in, size_t in_len, size_t *in_used, int16_t *out,
               size_t out_cap, size_t *out_len) {
  size_t used = 0, made = 0;
  const size_t step = (size_t)1 << 30; /* speex counts in 32 bits */
  while (used < in_len && made < out_cap) {
    spx_uint32_t il = (spx_uint32_t)(in_len - used < step ? in_len - used : step);
    spx_uint32_t ol = (spx_uint32_t)(out_cap - made < step ? out_cap - made : step);
    int e = speex_resampler_process_int(r->st, 0, in + used, &il, out + made, &ol);
    if (e != RESAMPLER_ERR_SUCCESS)
      return map_speex(e);
    used += il;
    made += ol;
    if (il == 0 && ol == 0)
      break;
  }
  *in_used = used;
  *out_len = made;
  return 0;
}

int tern_resampler_process(tern_resampler_t *r, const int16_t *in, size_t in_len, size_t *in_used,
                           int16_t *out, size_t out_cap, size_t *out_len) {
  if (in_used)
    *in_used = 0;
  if (out_len)
    *out_len = 0;
  if (!r || !in_used || !out_len || (!in && in_len) || (!out && out_cap))
    return TERN_EINVAL;
  if (in_len == 0 || out_cap == 0)
    return 0;
  size_t used, made;
  if (!r->st) {
    used = made = in_len < out_cap ? in_len : out_cap;
    memcpy(out, in, made * sizeof *out);
  } else {
    int rc = run(r, in, in_len, &used, out, out_cap, &made);
    if (rc)
      return rc;
  }
  r->in_total += used;
  r->out_total += made;
  *in_used = used;
  *out_len = made;
  return 0;
}

int tern_resampler_flush(tern_resampler_t *r, int16_t *out, size_t out_cap, size_t *out_len) {
  if (out_len)
    *out_len = 0;
  if (!r || !out_len || (!out && out_cap))
    return TERN_EINVAL;
  static const int16_t zeros[256];
  size_t made = 0;
  if (r->st) {
    /* Silence pushes the filter's tail out; the delay bounds how much is needed. */
    uint64_t budget = 2 * (uint64_t)speex_resampler_get_input_latency(r->st) + 2 * 256;
    uint64_t fed = 0;
    while (tern_resampler_pending(r) > 0 && fed <= budget) {
      size_t want = tern_resampler_pending(r);
      size_t room = out_cap - made;
      if (room == 0) {
        *out_len = made;
        return TERN_EBUSY;
      }
      size_t used, got;
      int rc = run(r, zeros, sizeof zeros / sizeof zeros[0], &used, out + made,
                   want < room ? want : room, &got);
      if (rc) {
        *out_len = made;
        return rc;
      }
      fed += used;
      made += got;
      r->out_total += got;
      if (used == 0 && got == 0)
        break;
    }
  }
  *out_len = made;
  tern_resampler_reset(r);
  return 0;
}

int tern_resample_buffer(const int16_t *in, size_t n, uint32_t in_rate, uint32_t out_rate,
                         int quality, int16_t **out, size_t *out_len) {
  if (!out || !out_len || (!in && n))
    return TERN_EINVAL;
  *out = NULL;
  *out_len = 0;
  tern_resampler_t *r;
  int rc = tern_resampler_new(in_rate, out_rate, quality, &r);
  if (rc)
    return rc;
  size_t total = (size_t)(((uint64_t)n * out_rate + in_rate - 1) / in_rate);
  int16_t *buf = NULL;
  if (total) {
    buf = tern_malloc(total * sizeof *buf);
    if (!buf) {
      tern_resampler_free(r);
      return TERN_ENOMEM;
    }
  }
  size_t used = 0, made = 0, tail = 0;
  rc = tern_resampler_process(r, in, n, &used, buf, total, &made);
  if (!rc)
    rc = tern_resampler_flush(r, buf ? buf + made : NULL, total - made, &tail);
  tern_resampler_free(r);
  if (rc) {
    tern_free(buf);
    return rc;
  }
  *out = buf;
  *out_len = made + tail;
  return 0;
}
