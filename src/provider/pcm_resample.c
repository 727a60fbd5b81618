/* Callback-shaped streaming rate conversion for the offline engines, over
 * tern_resampler. One fixed scratch buffer per stream: converting never
 * allocates after creation. */
#include "provider/pcm_resample.h"

#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/resample.h"

#define RS_BLOCK 1024 /* input samples per conversion step */

struct tern__rs {
  tern_resampler_t *r; /* NULL when the rates are equal */
  int16_t *buf;
  size_t cap;
};

int tern__rs_create(int in_rate, int out_rate, tern__rs_t **out) {
  *out = NULL;
  if (in_rate < 4000 || out_rate < 4000 || in_rate > 192000 || out_rate > 192000)
    return TERN_EINVAL;
  tern__rs_t *rs = tern_calloc(1, sizeof *rs);
  if (!rs)
    return TERN_ENOMEM;
  if (in_rate != out_rate) {
    int rc = tern_resampler_new((uint32_t)in_rate, (uint32_t)out_rate, -1, &rs->r);
    if (rc) {
      tern_free(rs);
      return rc;
    }
    size_t a = tern_resampler_out_max(rs->r, RS_BLOCK);
    size_t b = tern_resampler_out_max(rs->r, 0) + tern_resampler_pending(rs->r);
    rs->cap = (a > b ? a : b) + 64;
    rs->buf = tern_malloc(rs->cap * sizeof *rs->buf);
    if (!rs->buf) {
      tern__rs_destroy(rs);
      return TERN_ENOMEM;
    }
  }
  *out = rs;
  return 0;
}

void tern__rs_destroy(tern__rs_t *rs) {
  if (!rs)
    return;
  tern_resampler_free(rs->r);
  tern_free(rs->buf);
  tern_free(rs);
}

int tern__rs_push(tern__rs_t *rs, const int16_t *pcm, size_t n, tern__rs_out_fn fn, void *ud) {
  if (n == 0)
    return 0;
  if (!rs->r)
    return fn(ud, pcm, n) ? TERN_ECANCELED : 0;
  while (n > 0) {
    size_t step = n < RS_BLOCK ? n : RS_BLOCK, used = 0, made = 0;
    int rc = tern_resampler_process(rs->r, pcm, step, &used, rs->buf, rs->cap, &made);
    if (rc)
      return rc;
    if (used == 0 && made == 0)
      return TERN_EPROVIDER; /* cannot happen with cap >= out_max; never spin */
    pcm += used;
    n -= used;
    if (made > 0 && fn(ud, rs->buf, made))
      return TERN_ECANCELED;
  }
  return 0;
}

int tern__rs_finish(tern__rs_t *rs, tern__rs_out_fn fn, void *ud) {
  if (!rs->r)
    return 0;
  for (int guard = 0; guard < 64; guard++) {
    size_t made = 0;
    int rc = tern_resampler_flush(rs->r, rs->buf, rs->cap, &made);
    if (made > 0 && fn(ud, rs->buf, made))
      return TERN_ECANCELED;
    if (rc != TERN_EBUSY)
      return rc;
  }
  return TERN_EPROVIDER;
}
