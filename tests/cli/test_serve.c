/* `tern serve` and `tern token` as an operator runs them: ports from the
 * environment, a caller with a minted token, SIGTERM draining the process
 * to a clean exit 0, and a clear refusal to run without access control. */
#include "testutil.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "../server/wsclient.h"

#define BIN getenv("TERN_BINARY_DIR")
#define WAIT_MS 20000

static const char *k_ini =
    "[stt]\nchain = fake\n[llm]\nchain = fake\n[tts]\nchain = fake\n"
    "[auth]\napi_key = cli-key\napi_secret = cli-secret-long-enough-for-hmac\n"
    "[server]\nport = 1\ndrain_timeout_ms = 300\ndrain_goodbye = Bye now.\n"
    "[admin]\nport = 1\n";

static char g_out[1 << 16];

static int sh(const char *cmd) {
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  size_t n = fread(g_out, 1, sizeof g_out - 1, p);
  g_out[n] = '\0';
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static long get_status(int port, const char *path) {
  CURL *c = curl_easy_init();
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
  long st = -1;
  if (curl_easy_perform(c) == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
  curl_easy_cleanup(c);
  return st;
}

static void test_serve_drains_on_sigterm_and_exits_0(void **state) {
  (void)state;
  const char *ini = tu_tmp_path("serve.ini");
  assert_int_equal(tu_write_file(ini, k_ini, strlen(k_ini)), 0);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s/tern' token --config '%s' --identity ann --room lobby 2>/dev/null",
           BIN, ini);
  assert_int_equal(sh(cmd), 0);
  char tok[2048];
  size_t tl = strcspn(g_out, "\r\n");
  assert_true(tl > 0 && tl < sizeof tok);
  memcpy(tok, g_out, tl);
  tok[tl] = '\0';
  assert_int_equal(
      (int)strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."),
      (int)strlen(tok));

  /* Under AddressSanitizer: two workers mean two lws contexts on two
   * threads, and Debian's lws 4.1.6 / OpenSSL 3 then sometimes keep one
   * client SSL_CTX past exit (see tests/server/test_server.c). */
  const char *supp = tu_tmp_path("lsan.supp");
  const char *rules = "leak:libcrypto.so\nleak:libssl.so\nleak:libwebsockets.so\n";
  assert_int_equal(tu_write_file(supp, rules, strlen(rules)), 0);
  int pfd[2];
  assert_int_equal(pipe(pfd), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    /* The environment wins over the file: ephemeral ports for the test. */
    setenv("TERN_SERVER_PORT", "0", 1);
    setenv("TERN_ADMIN_PORT", "0", 1);
    char lsan[600];
    snprintf(lsan, sizeof lsan, "suppressions=%s", supp);
    setenv("LSAN_OPTIONS", lsan, 1);
    dup2(pfd[1], 2);
    close(pfd[0]);
    char exe[512];
    snprintf(exe, sizeof exe, "%s/tern", BIN);
    execl(exe, "tern", "serve", "--config", ini, "--workers", "2", (char *)NULL);
    _exit(127);
  }
  close(pfd[1]);
  fcntl(pfd[0], F_SETFL, O_NONBLOCK);
  char err[8192] = "";
  size_t elen = 0;
  int port = 0, admin = 0;
  long until = wsc_now_ms() + WAIT_MS;
  while ((!port || !admin) && wsc_now_ms() < until) {
    struct pollfd p = {pfd[0], POLLIN, 0};
    poll(&p, 1, 100);
    ssize_t n = read(pfd[0], err + elen, sizeof err - 1 - elen);
    if (n > 0) {
      elen += (size_t)n;
      err[elen] = '\0';
    }
    const char *a = strstr(err, "/session (");
    const char *b = strstr(err, "admin at http://127.0.0.1:");
    if (a && b) {
      const char *colon = a;
      while (colon > err && *colon != ':')
        colon--;
      port = atoi(colon + 1);
      admin = atoi(b + strlen("admin at http://127.0.0.1:"));
    }
  }
  if (!port || !admin) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fail_msg("tern serve did not start:\n%s", err);
  }
  assert_true(port != 1 && admin != 1); /* the environment won over the file */
  assert_int_equal(get_status(admin, "/health"), 200);
  assert_int_equal(get_status(admin, "/ready"), 200);

  wsc_t c;
  char target[2300];
  snprintf(target, sizeof target, "/session?access_token=%s", tok);
  assert_int_equal(wsc_open(&c, port, target, NULL, WAIT_MS), 101);
  assert_int_equal(wsc_recv(&c, WAIT_MS), 1);
  assert_non_null(strstr((const char *)c.msg, "\"type\":\"ready\""));

  assert_int_equal(kill(pid, SIGTERM), 0);
  /* Readiness drops at once, so a load balancer stops sending callers. */
  long st = 0;
  until = wsc_now_ms() + WAIT_MS;
  while ((st = get_status(admin, "/ready")) != 503 && wsc_now_ms() < until)
    poll(NULL, 0, 20);
  assert_int_equal(st, 503);
  /* The caller on the line hears a goodbye, then a normal close. */
  bool goodbye = false;
  int op;
  until = wsc_now_ms() + WAIT_MS;
  while ((op = wsc_recv(&c, 200)) != 8 && op >= 0 && wsc_now_ms() < until)
    if (op == 1 && strstr((const char *)c.msg, "\"source\":\"goodbye\""))
      goodbye = true;
  assert_int_equal(op, 8);
  assert_int_equal(c.close_code, 1000);
  assert_true(goodbye);
  unsigned char echo[2] = {0x03, 0xe8};
  wsc_send(&c, 8, echo, 2);
  wsc_free(&c);
  /* And the process exits 0 by itself. */
  int status = -1;
  until = wsc_now_ms() + WAIT_MS;
  pid_t w = 0;
  while ((w = waitpid(pid, &status, WNOHANG)) == 0 && wsc_now_ms() < until)
    poll(NULL, 0, 20);
  if (w == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    fail_msg("tern serve did not exit after SIGTERM");
  }
  ssize_t n = read(pfd[0], err + elen, sizeof err - 1 - elen);
  if (n > 0)
    err[elen + (size_t)n] = '\0';
  close(pfd[0]);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("tern serve ended with status %d:\n%s", status, err);
}

static void test_serve_refuses_to_run_without_access_control(void **state) {
  (void)state;
  const char *ini = tu_tmp_path("open.ini");
  const char *text = "[stt]\nchain = fake\n[llm]\nchain = fake\n[tts]\nchain = fake\n";
  assert_int_equal(tu_write_file(ini, text, strlen(text)), 0);
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "env -u TERN_AUTH_API_KEY -u TERN_AUTH_API_SECRET -u TERN_AUTH_DISABLED "
           "'%s/tern' serve --config '%s' --port 0 --admin-port -1 2>&1",
           BIN, ini);
  assert_int_equal(sh(cmd), 1);
  assert_non_null(strstr(g_out, "[auth] api_key"));
  assert_non_null(strstr(g_out, "[auth] disabled = true"));
  snprintf(cmd, sizeof cmd,
           "env -u TERN_AUTH_API_KEY -u TERN_AUTH_API_SECRET '%s/tern' token --config '%s' "
           "--identity a --room b 2>&1",
           BIN, ini);
  assert_int_equal(sh(cmd), 1);
  assert_non_null(strstr(g_out, "api_secret"));
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_serve_drains_on_sigterm_and_exits_0),
      cmocka_unit_test(test_serve_refuses_to_run_without_access_control),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return rc;
}
