#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tern/alloc.h"
#include "tern/error.h"

const char *tu_src_path(const char *rel) {
  static char buf[4096];
  const char *root = getenv("TERN_SOURCE_DIR");
  snprintf(buf, sizeof buf, "%s/%s", root ? root : ".", rel);
  return buf;
}

const char *tu_tmpdir(void) {
  static char dir[256];
  if (!dir[0]) {
    snprintf(dir, sizeof dir, "/tmp/tern-test-XXXXXX");
    if (!mkdtemp(dir)) {
      perror("mkdtemp");
      abort();
    }
  }
  return dir;
}

const char *tu_tmp_path(const char *name) {
  static char bufs[8][4096];
  static int next;
  char *b = bufs[next++ & 7];
  snprintf(b, 4096, "%s/%s", tu_tmpdir(), name);
  return b;
}

int tu_write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f)
    return -1;
  size_t w = fwrite(data, 1, len, f);
  return (fclose(f) == 0 && w == len) ? 0 : -1;
}

char *tu_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  size_t r;
  while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
    n += r;
    if (cap - n < 2) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) {
        free(buf);
        buf = NULL;
      }
      buf = nb;
    }
  }
  fclose(f);
  if (!buf)
    return NULL;
  buf[n] = '\0';
  if (len)
    *len = n;
  return buf;
}

long tu_alloc_sweep(int (*fn)(void *ctx), void *ctx) {
  for (long k = 0; k < 1000000; k++) {
    tern_alloc_fail_after(k, 0);
    long before = tern_alloc_count();
    int rc = fn(ctx);
    long made = tern_alloc_count() - before;
    long failed = tern_alloc_failures();
    tern_alloc_fail_after(-1, 0);
    if (failed == 0) {
      if (rc != 0)
        fail_msg("sweep: run %ld failed with %s without an injected failure", k, tern_err_name(rc));
      return made;
    }
    if (rc == 0)
      fail_msg("sweep: allocation %ld failed but the call reported success", k);
    if (rc != TERN_ENOMEM)
      fail_msg("sweep: allocation %ld failed but the call returned %s, not TERN_ENOMEM", k,
               tern_err_name(rc));
  }
  fail_msg("sweep: did not converge");
  return -1;
}
