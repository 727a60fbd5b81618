/* Shared helpers for tern's cmocka tests. */
#ifndef TERN_TESTUTIL_H
#define TERN_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

/* Path of a file in the source tree ("tests/data/x.wav"), in a static buffer. */
const char *tu_src_path(const char *rel);
/* A fresh private temporary directory for this process (created once). */
const char *tu_tmpdir(void);
/* Path of a file in tu_tmpdir(), in a static buffer rotated over 8 slots. */
const char *tu_tmp_path(const char *name);
/* Write bytes to a file; returns 0 on success. */
int tu_write_file(const char *path, const void *data, size_t len);
/* Read a whole file into a malloc'd NUL-terminated buffer (free()). */
char *tu_read_file(const char *path, size_t *len);

/* Allocation-failure sweep: calls fn(ctx) with allocation k failing, for
 * k = 0, 1, ... until fn succeeds without any injected failure. fn must
 * return 0 on success and a negative code on failure, and must release
 * everything it made either way. Fails the test if a run with an injected
 * failure reports success while no failure happened, or if it reports an
 * error other than TERN_ENOMEM without a failure. Returns the number of
 * allocations the successful run made. */
long tu_alloc_sweep(int (*fn)(void *ctx), void *ctx);

#endif
