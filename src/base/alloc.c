/* Allocation hook and failure injection. The counter is an atomic so that
 * worker threads can allocate while a test sweeps; injection is off unless a
 * test turns it on, and then costs one atomic add per allocation. */
#include "tern/alloc.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static void *libc_malloc(size_t size, void *ud) {
  (void)ud;
  return malloc(size);
}
static void *libc_realloc(void *ptr, size_t size, void *ud) {
  (void)ud;
  return realloc(ptr, size);
}
static void libc_free(void *ptr, void *ud) {
  (void)ud;
  free(ptr);
}

static tern_allocator_t g_alloc = {libc_malloc, libc_realloc, libc_free, NULL};
static atomic_long g_count;
static atomic_long g_fail_at = -1; /* absolute allocation number that fails */
static atomic_int g_sticky;
static atomic_long g_failures;

void tern_alloc_set(const tern_allocator_t *a) {
  if (a)
    g_alloc = *a;
  else
    g_alloc = (tern_allocator_t){libc_malloc, libc_realloc, libc_free, NULL};
}

void tern_alloc_fail_after(long n, int sticky) {
  atomic_store(&g_failures, 0);
  atomic_store(&g_sticky, sticky);
  atomic_store(&g_fail_at, n < 0 ? -1 : atomic_load(&g_count) + n);
}

long tern_alloc_count(void) { return atomic_load(&g_count); }
long tern_alloc_failures(void) { return atomic_load(&g_failures); }

static int should_fail(void) {
  long me = atomic_fetch_add(&g_count, 1);
  long at = atomic_load_explicit(&g_fail_at, memory_order_relaxed);
  if (at < 0)
    return 0;
  if (me == at || (me > at && atomic_load(&g_sticky))) {
    atomic_fetch_add(&g_failures, 1);
    return 1;
  }
  return 0;
}

void *tern_malloc(size_t size) {
  if (should_fail())
    return NULL;
  return g_alloc.malloc_fn(size ? size : 1, g_alloc.ud);
}

void *tern_calloc(size_t count, size_t size) {
  if (size && count > SIZE_MAX / size)
    return NULL;
  size_t total = count * size;
  void *p = tern_malloc(total);
  if (p && total > 0)
    memset(p, 0, total);
  return p;
}

void *tern_realloc(void *ptr, size_t size) {
  if (should_fail())
    return NULL;
  return g_alloc.realloc_fn(ptr, size ? size : 1, g_alloc.ud);
}

void tern_free(void *ptr) {
  if (ptr)
    g_alloc.free_fn(ptr, g_alloc.ud);
}

char *tern_strndup(const char *s, size_t n) {
  if (!s)
    return NULL;
  size_t len = strnlen(s, n);
  char *d = tern_malloc(len + 1);
  if (!d)
    return NULL;
  memcpy(d, s, len);
  d[len] = '\0';
  return d;
}

char *tern_strdup(const char *s) { return s ? tern_strndup(s, SIZE_MAX) : NULL; }

/* jansson allocates through the same hook, so failure injection reaches
 * every JSON document tern builds or parses; strings it returns
 * (json_dumps) are released with tern_free. */
static void *jansson_malloc(size_t size) { return tern_malloc(size); }
__attribute__((constructor)) static void tern__alloc_init(void) {
  json_set_alloc_funcs(jansson_malloc, tern_free);
}
