/* fakeprov: spawn, script and stop tests/fakeprov/server.py for C tests.
 *
 * The server writes "HTTP_PORT WS_PORT" to a port file once it listens, so
 * start polls for that file (bounded) instead of sleeping a guessed time.
 * The child dies with the test: PR_SET_PDEATHSIG here, and --parent-pid
 * makes the server itself notice an orphaned state, so a crashed test never
 * leaves a server behind. Control traffic bypasses any proxy from the
 * environment: the server is on loopback and nothing here may leave it.
 */
#include "fakeprov.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tern/alloc.h"
#include "tern/error.h"
#include "testutil.h"

#define START_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS 5000
#define CONTROL_TIMEOUT_MS 10000

static long mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* The server script: $TERN_FAKEPROV_SERVER, then the source tree named by
 * $TERN_SOURCE_DIR (set by CTest), then the tree this file was compiled
 * from, so a test run by hand from anywhere still finds it. */
static int find_script(char *out, size_t cap) {
  const char *env = getenv("TERN_FAKEPROV_SERVER");
  if (env && *env) {
    snprintf(out, cap, "%s", env);
    return access(out, R_OK) == 0 ? 0 : TERN_ENOENT;
  }
  if (getenv("TERN_SOURCE_DIR")) {
    snprintf(out, cap, "%s", tu_src_path("tests/fakeprov/server.py"));
    if (access(out, R_OK) == 0)
      return 0;
  }
  const char *self = __FILE__;
  const char *slash = strrchr(self, '/');
  if (slash) {
    snprintf(out, cap, "%.*s/../fakeprov/server.py", (int)(slash - self), self);
    if (access(out, R_OK) == 0)
      return 0;
  }
  return TERN_ENOENT;
}

static const char *find_python(void) {
  const char *env = getenv("TERN_PYTHON");
  if (env && *env)
    return env;
  /* Debian's interpreter first: a PATH shim (pyenv and the like) may point
   * at a Python the test box was not set up with. */
  if (access("/usr/bin/python3", X_OK) == 0)
    return "/usr/bin/python3";
  return "python3";
}

static int read_ports(fakeprov_t *fp) {
  FILE *f = fopen(fp->port_file, "r");
  if (!f)
    return -1;
  int http = 0, ws = 0;
  int n = fscanf(f, "%d %d", &http, &ws);
  fclose(f);
  if (n != 2 || http <= 0 || ws <= 0)
    return -1;
  fp->http_port = http;
  fp->ws_port = ws;
  return 0;
}

int fakeprov_start(fakeprov_t *fp) {
  static int serial;
  char script[1024];
  memset(fp, 0, sizeof *fp);
  if (find_script(script, sizeof script) != 0) {
    fprintf(stderr, "fakeprov: server script not found (set TERN_SOURCE_DIR or TERN_FAKEPROV_SERVER)\n");
    return TERN_EUNSUPPORTED;
  }
  const char *python = find_python();
  char name[64];
  snprintf(name, sizeof name, "fakeprov-%ld-%d.port", (long)getpid(), serial++);
  snprintf(fp->port_file, sizeof fp->port_file, "%s", tu_tmp_path(name));
  unlink(fp->port_file);
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return TERN_EIO;

  char parent[32];
  snprintf(parent, sizeof parent, "%ld", (long)getpid());
  pid_t pid = fork();
  if (pid < 0) {
    curl_global_cleanup();
    return TERN_EIO;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != (pid_t)atol(parent))
      _exit(1);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
      dup2(devnull, 0);
    char *argv[] = {(char *)python, script,     "--port",        "0",    "--ws-port", "0",
                    "--port-file",  fp->port_file, "--parent-pid", parent, NULL};
    execvp(python, argv);
    _exit(127);
  }
  fp->pid = pid;

  long deadline = mono_ms() + START_TIMEOUT_MS;
  for (;;) {
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      fp->pid = 0;
      curl_global_cleanup();
      if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        fprintf(stderr, "fakeprov: cannot run %s: python3 is needed for the fake provider server\n", python);
        return TERN_EUNSUPPORTED;
      }
      fprintf(stderr, "fakeprov: server exited during start-up (status %d)\n", status);
      return TERN_EIO;
    }
    if (read_ports(fp) == 0)
      return 0;
    if (mono_ms() > deadline) {
      fprintf(stderr, "fakeprov: server did not listen within %d ms\n", START_TIMEOUT_MS);
      fakeprov_stop(fp);
      return TERN_ETIMEDOUT;
    }
    nap_ms(5);
  }
}

void fakeprov_stop(fakeprov_t *fp) {
  if (!fp || fp->pid <= 0)
    return;
  kill(fp->pid, SIGTERM);
  long deadline = mono_ms() + STOP_TIMEOUT_MS;
  int status;
  while (waitpid(fp->pid, &status, WNOHANG) == 0) {
    if (mono_ms() > deadline) {
      kill(fp->pid, SIGKILL);
      waitpid(fp->pid, &status, 0);
      break;
    }
    nap_ms(5);
  }
  fp->pid = 0;
  unlink(fp->port_file);
  curl_global_cleanup();
}

const char *fakeprov_url(fakeprov_t *fp, const char *path) {
  char *b = fp->urls[fp->next_url++ & 7];
  snprintf(b, sizeof fp->urls[0], "http://127.0.0.1:%d%s", fp->http_port, path ? path : "");
  return b;
}

const char *fakeprov_ws_url(fakeprov_t *fp, const char *path) {
  char *b = fp->urls[fp->next_url++ & 7];
  snprintf(b, sizeof fp->urls[0], "ws://127.0.0.1:%d%s", fp->ws_port, path ? path : "");
  return b;
}

typedef struct {
  char *data;
  size_t len, cap;
  int oom;
} buf_t;

static size_t on_body(char *ptr, size_t size, size_t n, void *ud) {
  buf_t *b = ud;
  size_t add = size * n;
  if (b->len + add + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + add + 1)
      cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
      b->oom = 1;
      return 0;
    }
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, ptr, add);
  b->len += add;
  b->data[b->len] = '\0';
  return add;
}

int fakeprov_control(fakeprov_t *fp, const char *method, const char *path, const char *json_body,
                     char **out_body) {
  if (out_body)
    *out_body = NULL;
  if (!fp || fp->pid <= 0)
    return TERN_ESTATE;
  CURL *c = curl_easy_init();
  if (!c)
    return TERN_ENOMEM;
  buf_t b = {0};
  struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_URL, fakeprov_url(fp, path));
  curl_easy_setopt(c, CURLOPT_PROXY, "");
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)CONTROL_TIMEOUT_MS);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
  if (strcmp(method, "GET") != 0) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json_body ? json_body : "{}");
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  }
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(hdr);
  curl_easy_cleanup(c);
  int err = 0;
  if (b.oom) {
    err = TERN_ENOMEM;
  } else if (rc != CURLE_OK) {
    fprintf(stderr, "fakeprov: %s %s: %s\n", method, path, curl_easy_strerror(rc));
    err = TERN_EIO;
  } else if (status < 200 || status > 299) {
    fprintf(stderr, "fakeprov: %s %s -> %ld %s\n", method, path, status, b.data ? b.data : "");
    err = TERN_EINVAL;
  }
  if (err == 0 && out_body) {
    if (!b.data)
      b.data = calloc(1, 1);
    *out_body = b.data;
    return b.data ? 0 : TERN_ENOMEM;
  }
  free(b.data);
  return err;
}

/* Sends obj (consumed) as a control POST. */
static int post_json(fakeprov_t *fp, const char *path, json_t *obj) {
  if (!obj)
    return TERN_ENOMEM;
  char *text = json_dumps(obj, JSON_COMPACT);
  json_decref(obj);
  if (!text)
    return TERN_ENOMEM;
  int rc = fakeprov_control(fp, "POST", path, text, NULL);
  tern_free(text); /* jansson allocates through tern's hook */
  return rc;
}

int fakeprov_script(fakeprov_t *fp, const char *route, const char *json) {
  json_error_t jerr;
  json_t *v = json_loads(json ? json : "[]", 0, &jerr);
  if (!v) {
    fprintf(stderr, "fakeprov_script: bad JSON at %d:%d: %s\n", jerr.line, jerr.column, jerr.text);
    return TERN_EINVAL;
  }
  json_t *req;
  if (json_is_array(v)) {
    req = json_pack("{s:s, s:o}", "route", route, "faults", v);
  } else if (json_is_object(v)) {
    req = v;
    if (json_object_set_new(req, "route", json_string(route)) != 0) {
      json_decref(req);
      return TERN_ENOMEM;
    }
  } else {
    json_decref(v);
    return TERN_EINVAL;
  }
  return post_json(fp, "/_control/script", req);
}

int fakeprov_reply(fakeprov_t *fp, const char *route, const char *text) {
  return post_json(fp, "/_control/reply",
                   json_pack("{s:s, s:o}", "route", route, "text", text ? json_string(text) : json_null()));
}

int fakeprov_key(fakeprov_t *fp, const char *provider, const char *key) {
  return post_json(fp, "/_control/key",
                   json_pack("{s:s, s:o}", "provider", provider, "key", key ? json_string(key) : json_null()));
}

int fakeprov_reset(fakeprov_t *fp) { return fakeprov_control(fp, "POST", "/_control/reset", "{}", NULL); }

/* The stats document, parsed; NULL on failure. */
static json_t *stats(fakeprov_t *fp) {
  char *body = NULL;
  if (fakeprov_control(fp, "GET", "/_control/stats", NULL, &body) != 0)
    return NULL;
  json_t *v = json_loads(body, 0, NULL);
  free(body);
  return v;
}

long fakeprov_count(fakeprov_t *fp, const char *route) {
  json_t *s = stats(fp);
  if (!s)
    return TERN_EIO;
  json_t *r = json_object_get(json_object_get(s, "routes"), route);
  long n = json_is_integer(json_object_get(r, "count")) ? (long)json_integer_value(json_object_get(r, "count"))
                                                         : TERN_EINVAL;
  json_decref(s);
  return n;
}

char *fakeprov_last(fakeprov_t *fp, const char *route, const char *field) {
  json_t *s = stats(fp);
  if (!s)
    return NULL;
  json_t *v = json_object_get(json_object_get(json_object_get(s, "routes"), route), "last");
  /* Walk the dotted path; header names contain dashes, never dots. */
  const char *p = field;
  while (v && p && *p) {
    const char *dot = strchr(p, '.');
    size_t n = dot ? (size_t)(dot - p) : strlen(p);
    char key[256];
    if (n >= sizeof key) {
      v = NULL;
      break;
    }
    memcpy(key, p, n);
    key[n] = '\0';
    if (json_is_array(v)) {
      char *end;
      long i = strtol(key, &end, 10);
      v = (*end == '\0' && i >= 0) ? json_array_get(v, (size_t)i) : NULL;
    } else {
      v = json_object_get(v, key);
    }
    p = dot ? dot + 1 : NULL;
  }
  char *out = NULL;
  if (json_is_string(v)) {
    out = strdup(json_string_value(v));
  } else if (v && !json_is_null(v)) {
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text)
      out = strdup(text);
    tern_free(text);
  }
  json_decref(s);
  return out;
}
