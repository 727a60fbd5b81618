/* Fixed-capacity ring of int16 samples.
 *
 * Invariants: 0 <= len <= cap, head < cap (when cap > 0), and the samples
 * live at buf[head], buf[(head+1) % cap], ... for len entries. Storage is
 * fixed at init, so no call after init allocates: that is what lets a session
 * move audio through rings frame after frame with flat memory.
 */
#include <string.h>

#include "tern/alloc.h"
#include "tern/audio.h"
#include "tern/error.h"

int tern_ring_init(tern_ring_t *r, size_t capacity) {
  if (!r || capacity == 0)
    return TERN_EINVAL;
  memset(r, 0, sizeof *r);
  r->buf = tern_calloc(capacity, sizeof *r->buf);
  if (!r->buf)
    return TERN_ENOMEM;
  r->cap = capacity;
  r->owned = 1;
  return 0;
}

int tern_ring_init_with(tern_ring_t *r, int16_t *storage, size_t capacity) {
  if (!r || !storage || capacity == 0)
    return TERN_EINVAL;
  memset(r, 0, sizeof *r);
  r->buf = storage;
  r->cap = capacity;
  return 0;
}

void tern_ring_free(tern_ring_t *r) {
  if (!r)
    return;
  if (r->owned)
    tern_free(r->buf);
  memset(r, 0, sizeof *r);
}

/* Copies n samples into the ring starting at logical position `at` past head. */
static void put(tern_ring_t *r, size_t at, const int16_t *src, size_t n) {
  size_t pos = (r->head + at) % r->cap;
  size_t first = r->cap - pos < n ? r->cap - pos : n;
  memcpy(r->buf + pos, src, first * sizeof *src);
  memcpy(r->buf, src + first, (n - first) * sizeof *src);
}

static void get(const tern_ring_t *r, int16_t *dst, size_t n) {
  size_t first = r->cap - r->head < n ? r->cap - r->head : n;
  memcpy(dst, r->buf + r->head, first * sizeof *dst);
  memcpy(dst + first, r->buf, (n - first) * sizeof *dst);
}

int tern_ring_write(tern_ring_t *r, const int16_t *src, size_t n, size_t *written) {
  if (written)
    *written = 0;
  if (!r || !r->buf || (!src && n))
    return TERN_EINVAL;
  size_t k = n < tern_ring_space(r) ? n : tern_ring_space(r);
  if (k)
    put(r, r->len, src, k);
  r->len += k;
  if (written)
    *written = k;
  return k == n ? 0 : TERN_EBUSY;
}

int tern_ring_write_overwrite(tern_ring_t *r, const int16_t *src, size_t n, size_t *dropped) {
  if (dropped)
    *dropped = 0;
  if (!r || !r->buf || (!src && n))
    return TERN_EINVAL;
  size_t lost = 0;
  if (n >= r->cap) {
    lost = r->len + (n - r->cap);
    src += n - r->cap;
    n = r->cap;
    r->head = r->len = 0;
  } else if (n > tern_ring_space(r)) {
    size_t drop = n - tern_ring_space(r);
    r->head = (r->head + drop) % r->cap;
    r->len -= drop;
    lost = drop;
  }
  if (n)
    put(r, r->len, src, n);
  r->len += n;
  if (dropped)
    *dropped = lost;
  return 0;
}

int tern_ring_peek(const tern_ring_t *r, int16_t *dst, size_t n, size_t *npeeked) {
  if (npeeked)
    *npeeked = 0;
  if (!r || !r->buf || (!dst && n))
    return TERN_EINVAL;
  size_t k = n < r->len ? n : r->len;
  if (k)
    get(r, dst, k);
  if (npeeked)
    *npeeked = k;
  return 0;
}

int tern_ring_read(tern_ring_t *r, int16_t *dst, size_t n, size_t *nread) {
  if (nread)
    *nread = 0;
  if (!r || !r->buf)
    return TERN_EINVAL;
  size_t k = n < r->len ? n : r->len;
  if (k && dst)
    get(r, dst, k);
  r->head = (r->head + k) % r->cap;
  r->len -= k;
  if (r->len == 0)
    r->head = 0;
  if (nread)
    *nread = k;
  return 0;
}
