/* A growable byte buffer, always NUL-terminated. For accumulating text of
 * unknown length (a streamed answer, a response body); not for per-frame
 * audio, which uses fixed rings. */
#ifndef TERN_BUF_H
#define TERN_BUF_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_buf {
  char *data; /* NULL until the first append; "" semantics then */
  size_t len, cap;
  size_t max; /* appends past this fail with TERN_ETOOBIG; 0 = no limit */
} tern_buf_t;

#define TERN_BUF_INIT {NULL, 0, 0, 0}

int tern_buf_append(tern_buf_t *b, const void *data, size_t len);
int tern_buf_appends(tern_buf_t *b, const char *s);
int tern_buf_printf(tern_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline const char *tern_buf_str(const tern_buf_t *b) { return b->data ? b->data : ""; }
void tern_buf_reset(tern_buf_t *b); /* len = 0, memory kept */
void tern_buf_free(tern_buf_t *b);
/* Hand the string to the caller (tern_free it); the buffer is empty after. */
char *tern_buf_take(tern_buf_t *b);

#ifdef __cplusplus
}
#endif
#endif
