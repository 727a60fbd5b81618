#include "tern/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/error.h"

static int reserve(tern_buf_t *b, size_t extra) {
  if (extra > (size_t)-1 / 2 - b->len)
    return TERN_ETOOBIG;
  size_t need = b->len + extra + 1;
  if (b->max && need - 1 > b->max)
    return TERN_ETOOBIG;
  if (need <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need)
    cap *= 2;
  char *d = tern_realloc(b->data, cap);
  if (!d)
    return TERN_ENOMEM;
  b->data = d;
  b->cap = cap;
  return 0;
}

int tern_buf_append(tern_buf_t *b, const void *data, size_t len) {
  int rc = reserve(b, len);
  if (rc)
    return rc;
  if (len)
    memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
  return 0;
}

int tern_buf_appends(tern_buf_t *b, const char *s) { return tern_buf_append(b, s, strlen(s)); }

int tern_buf_printf(tern_buf_t *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return TERN_EINVAL;
  int rc = reserve(b, (size_t)n);
  if (rc)
    return rc;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}

void tern_buf_reset(tern_buf_t *b) {
  b->len = 0;
  if (b->data)
    b->data[0] = '\0';
}

void tern_buf_free(tern_buf_t *b) {
  tern_free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

char *tern_buf_take(tern_buf_t *b) {
  char *s = b->data;
  if (!s)
    s = tern_strdup("");
  b->data = NULL;
  b->len = b->cap = 0;
  return s;
}
