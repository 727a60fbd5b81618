/* tern error codes.
 *
 * Every fallible tern function returns int: 0 on success, a negative
 * TERN_E* code on failure. Results travel through out-parameters. The codes
 * are stable; tern_strerror() gives a sentence, tern_err_name() the symbol.
 */
#ifndef TERN_ERROR_H
#define TERN_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_ERRNO_MAP(X)                                                              \
  X(NOMEM, -1, "out of memory")                                                        \
  X(INVAL, -2, "invalid argument")                                                     \
  X(IO, -3, "input/output error")                                                      \
  X(NOENT, -4, "no such file or entry")                                                \
  X(FORMAT, -5, "malformed input")                                                     \
  X(UNSUPPORTED, -6, "unsupported format or feature")                                  \
  X(TOOBIG, -7, "input exceeds a size limit")                                          \
  X(RANGE, -8, "value out of range")                                                   \
  X(TIMEDOUT, -9, "timed out")                                                         \
  X(CANCELED, -10, "operation cancelled")                                              \
  X(BUSY, -11, "no capacity left (bulkhead or queue full)")                            \
  X(AGAIN, -12, "try again later")                                                     \
  X(OPEN, -13, "circuit breaker is open")                                              \
  X(CONFIG, -14, "invalid configuration")                                              \
  X(STATE, -15, "operation not valid in the current state")                            \
  X(PROVIDER, -16, "provider failed")                                                  \
  X(CLOSED, -17, "already closed")                                                     \
  X(EXHAUSTED, -18, "every option exhausted")                                          \
  X(TRUNCATED, -19, "input ended early")

typedef enum tern_errno {
  TERN_OK = 0,
#define TERN__ERRNO_ENUM(name, code, text) TERN_E##name = (code),
  TERN_ERRNO_MAP(TERN__ERRNO_ENUM)
#undef TERN__ERRNO_ENUM
} tern_errno_t;

/* A sentence describing err; never NULL. Unknown codes get a generic text. */
const char *tern_strerror(int err);
/* The symbolic name ("TERN_ENOMEM"), or "TERN_E?" for an unknown code. */
const char *tern_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif
