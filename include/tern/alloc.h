/* The one allocation hook.
 *
 * Every allocation tern makes goes through these functions, so an embedder
 * can plug in its own allocator and tests can make the Nth allocation fail
 * (as SQLite's test_malloc and curl's torture mode do): out of memory must
 * give TERN_ENOMEM, never a crash or a leak.
 * jansson is routed through the same hook (so strings from json_dumps are
 * released with tern_free).
 */
#ifndef TERN_ALLOC_H
#define TERN_ALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_allocator {
  void *(*malloc_fn)(size_t size, void *ud);
  void *(*realloc_fn)(void *ptr, size_t size, void *ud);
  void (*free_fn)(void *ptr, void *ud);
  void *ud;
} tern_allocator_t;

/* Replace the process allocator (NULL restores libc). Call before any
 * allocation is made; memory must be freed by the allocator that made it. */
void tern_alloc_set(const tern_allocator_t *a);

void *tern_malloc(size_t size);
void *tern_calloc(size_t count, size_t size); /* overflow-checked */
void *tern_realloc(void *ptr, size_t size);
void tern_free(void *ptr);
char *tern_strdup(const char *s);
char *tern_strndup(const char *s, size_t n);

/* Test mode: the allocation `n` allocations from now fails (0 = the very
 * next one), and so does every later one while `sticky` is set. n < 0
 * turns failure injection off. Counting is process-wide and thread-safe. */
void tern_alloc_fail_after(long n, int sticky);
/* Allocations made since the process started (for sweeps). */
long tern_alloc_count(void);
/* Allocations that were made to fail since the last tern_alloc_fail_after. */
long tern_alloc_failures(void);

#ifdef __cplusplus
}
#endif
#endif
