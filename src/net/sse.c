/* Server-Sent Events parser.
 *
 * Invariants: a complete line found inside one input chunk is parsed in
 * place; only a line cut by the chunk end is copied into `line`. The result
 * (events and any error) is the same however the input is split: bounds are
 * checked on the whole line and the whole event, not on pieces. Buffers
 * only grow (up to the bound) and are reused, so a stream in steady state
 * allocates nothing.
 */
#include "tern/sse.h"

#include <string.h>

#include "tern/alloc.h"
#include "tern/error.h"

#define TYPE_MAX 128 /* event names are short words; longer is an error */
#define ID_MAX 256

struct tern_sse {
  size_t max;
  tern_sse_event_fn fn;
  void *ud;
  char *line;
  size_t line_len, line_cap;
  char *data;
  size_t data_len, data_cap;
  char type[TYPE_MAX];
  size_t type_len;
  char id[ID_MAX];
  int64_t retry;
  bool cr;      /* the last byte fed was CR: a leading LF next belongs to it */
  int bom;      /* BOM bytes matched so far; 4 once the check is over */
  bool pending; /* a field was seen since the last dispatch */
  int err;
};

static const unsigned char BOM[3] = {0xEF, 0xBB, 0xBF};

int tern_sse_create(size_t max_event, tern_sse_event_fn fn, void *ud, tern_sse_t **out) {
  if (!out)
    return TERN_EINVAL;
  *out = NULL;
  if (!fn)
    return TERN_EINVAL;
  tern_sse_t *p = tern_calloc(1, sizeof *p);
  if (!p)
    return TERN_ENOMEM;
  p->max = max_event ? max_event : TERN_SSE_MAX_EVENT;
  p->fn = fn;
  p->ud = ud;
  p->retry = -1;
  *out = p;
  return 0;
}

void tern_sse_destroy(tern_sse_t *p) {
  if (!p)
    return;
  tern_free(p->line);
  tern_free(p->data);
  tern_free(p);
}

void tern_sse_reset(tern_sse_t *p) {
  p->line_len = p->data_len = p->type_len = 0;
  p->id[0] = '\0';
  p->retry = -1;
  p->cr = p->pending = false;
  p->bom = 0;
  p->err = 0;
}

int64_t tern_sse_retry(const tern_sse_t *p) { return p->retry; }

static int reserve(char **buf, size_t *cap, size_t need, size_t limit) {
  if (need <= *cap)
    return 0;
  size_t n = *cap ? *cap : 256;
  while (n < need)
    n *= 2;
  if (n > limit)
    n = limit;
  char *b = tern_realloc(*buf, n);
  if (!b)
    return TERN_ENOMEM;
  *buf = b;
  *cap = n;
  return 0;
}

static int dispatch(tern_sse_t *p) {
  p->pending = false;
  if (p->data_len == 0) {
    p->type_len = 0;
    return 0;
  }
  p->data_len--; /* the "\n" after the last data line */
  p->data[p->data_len] = '\0';
  p->type[p->type_len] = '\0';
  tern_sse_event_t ev = {
      .type = p->type_len ? p->type : "message",
      .data = p->data,
      .len = p->data_len,
      .id = p->id,
      .done = p->data_len == 6 && memcmp(p->data, "[DONE]", 6) == 0,
  };
  p->data_len = 0;
  p->type_len = 0;
  return p->fn(&ev, p->ud);
}

static bool is_field(const char *name, size_t n, const char *want) {
  return strlen(want) == n && memcmp(name, want, n) == 0;
}

static int process_line(tern_sse_t *p, const char *line, size_t len) {
  if (len == 0)
    return dispatch(p);
  if (line[0] == ':')
    return 0;
  const char *colon = memchr(line, ':', len);
  size_t nlen = colon ? (size_t)(colon - line) : len;
  const char *v = colon ? colon + 1 : "";
  size_t vlen = colon ? len - nlen - 1 : 0;
  if (vlen && *v == ' ')
    v++, vlen--;
  p->pending = true;
  if (is_field(line, nlen, "data")) {
    if (p->data_len + vlen > p->max)
      return TERN_ETOOBIG;
    int rc = reserve(&p->data, &p->data_cap, p->data_len + vlen + 2, p->max + 2);
    if (rc)
      return rc;
    memcpy(p->data + p->data_len, v, vlen);
    p->data_len += vlen;
    p->data[p->data_len++] = '\n';
  } else if (is_field(line, nlen, "event")) {
    if (vlen >= TYPE_MAX)
      return TERN_ETOOBIG;
    memcpy(p->type, v, vlen);
    p->type_len = vlen;
  } else if (is_field(line, nlen, "id")) {
    if (memchr(v, '\0', vlen))
      return 0; /* the standard ignores such an id */
    if (vlen >= ID_MAX)
      return TERN_ETOOBIG;
    memcpy(p->id, v, vlen);
    p->id[vlen] = '\0';
  } else if (is_field(line, nlen, "retry")) {
    int64_t ms = 0;
    size_t i;
    for (i = 0; i < vlen && v[i] >= '0' && v[i] <= '9'; i++)
      ms = ms > INT64_MAX / 10 - 9 ? INT64_MAX : ms * 10 + (v[i] - '0');
    if (vlen && i == vlen)
      p->retry = ms;
  }
  return 0;
}

static int append_line(tern_sse_t *p, const char *d, size_t n) {
  if (p->line_len + n > p->max)
    return TERN_ETOOBIG;
  int rc = reserve(&p->line, &p->line_cap, p->line_len + n, p->max);
  if (rc)
    return rc;
  memcpy(p->line + p->line_len, d, n);
  p->line_len += n;
  return 0;
}

static int feed_lines(tern_sse_t *p, const char *d, size_t n) {
  size_t i = 0;
  if (p->cr && n) {
    p->cr = false;
    if (d[0] == '\n')
      i = 1;
  }
  while (i < n) {
    size_t j = i;
    while (j < n && d[j] != '\n' && d[j] != '\r')
      j++;
    if (j == n)
      return append_line(p, d + i, n - i);
    const char *line = d + i;
    size_t len = j - i;
    if (p->line_len) {
      int rc = append_line(p, line, len);
      if (rc)
        return rc;
      line = p->line;
      len = p->line_len;
    } else if (len > p->max) {
      return TERN_ETOOBIG;
    }
    p->line_len = 0;
    if (d[j] == '\r') {
      if (j + 1 < n) {
        if (d[j + 1] == '\n')
          j++;
      } else {
        p->cr = true;
      }
    }
    i = j + 1;
    int rc = process_line(p, line, len);
    if (rc)
      return rc;
  }
  return 0;
}

int tern_sse_feed(tern_sse_t *p, const char *data, size_t len) {
  if (!p || (!data && len))
    return TERN_EINVAL;
  if (p->err)
    return p->err;
  size_t i = 0;
  while (p->bom < 4 && i < len) {
    if ((unsigned char)data[i] == BOM[p->bom]) {
      i++;
      if (++p->bom == 3)
        p->bom = 4;
      continue;
    }
    /* Not a BOM after all: the bytes held back are ordinary input. */
    int held = p->bom;
    p->bom = 4;
    if (held) {
      int rc = feed_lines(p, (const char *)BOM, (size_t)held);
      if (rc)
        return p->err = rc;
    }
  }
  int rc = feed_lines(p, data + i, len - i);
  if (rc)
    p->err = rc;
  return rc;
}

int tern_sse_finish(tern_sse_t *p) {
  if (!p)
    return TERN_EINVAL;
  if (p->err)
    return p->err;
  bool cut = p->pending || p->line_len > 0;
  p->line_len = p->data_len = p->type_len = 0;
  p->pending = p->cr = false;
  return cut ? TERN_ETRUNCATED : 0;
}
