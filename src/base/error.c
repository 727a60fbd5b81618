#include "tern/error.h"

const char *tern_strerror(int err) {
  switch (err) {
  case TERN_OK:
    return "success";
#define TERN__STR(name, code, text) \
  case code:                        \
    return text;
    TERN_ERRNO_MAP(TERN__STR)
#undef TERN__STR
  }
  return "unknown error";
}

const char *tern_err_name(int err) {
  switch (err) {
  case TERN_OK:
    return "TERN_OK";
#define TERN__NAME(name, code, text) \
  case code:                         \
    return "TERN_E" #name;
    TERN_ERRNO_MAP(TERN__NAME)
#undef TERN__NAME
  }
  return "TERN_E?";
}
