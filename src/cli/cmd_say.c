/* tern say TEXT -o OUT.wav — speak through the TTS chain into a WAV file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/loop.h"
#include "tern/stack.h"
#include "tern/wav.h"

static const char help_head[] =
    "usage: tern say TEXT -o OUT.wav [--tts CHAIN] [--rate HZ] [options]\n"
    "\n"
    "Speaks TEXT through the text-to-speech chain and writes mono PCM16 to OUT.wav.\n"
    "If a voice fails part-way, the next one in the chain speaks only the rest.\n"
    "\n"
    "  -o, --out FILE     where to write the WAV\n"
    "  --tts CHAIN        voices to try in order, e.g. elevenlabs,flite\n"
    "  --rate HZ          sample rate of the output (default 16000)\n";

typedef struct {
  int16_t *pcm;
  size_t n, cap;
  bool done, failed, oom;
} say_t;

static void on_audio(void *ud, const int16_t *pcm, size_t n) {
  say_t *s = ud;
  if (s->n + n > s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 16000;
    while (cap < s->n + n)
      cap *= 2;
    int16_t *p = tern_realloc(s->pcm, cap * sizeof *p);
    if (!p) {
      s->oom = true;
      return;
    }
    s->pcm = p;
    s->cap = cap;
  }
  memcpy(s->pcm + s->n, pcm, n * sizeof *pcm);
  s->n += n;
}

static void on_done(void *ud, const tern_error_t *err) {
  say_t *s = ud;
  s->done = true;
  if (err) {
    s->failed = true;
    fprintf(stderr, "tern say: no voice could speak: %s (%s, %s)\n", err->message, err->provider,
            tern_kind_name(err->kind));
  }
}

static bool is_done(void *ud) { return ((say_t *)ud)->done; }

static int run(int argc, char **argv) {
  tern_cli_common_t co = {0};
  const char *text = NULL, *out = NULL, *tts = NULL;
  long rate = 16000;
  for (int i = 1; i < argc; i++) {
    int r = tern_cli_common_opt(&co, "say", argc, argv, &i);
    if (r < 0)
      return 2;
    if (r)
      continue;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs(help_head, stdout);
      fputs(tern_cli_common_help, stdout);
      return 0;
    } else if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--out")) && i + 1 < argc) {
      out = argv[++i];
    } else if (!strcmp(argv[i], "--tts") && i + 1 < argc) {
      tts = argv[++i];
    } else if (!strcmp(argv[i], "--rate") && i + 1 < argc) {
      char *end;
      rate = strtol(argv[++i], &end, 10);
      if (*end || rate < 8000 || rate > 48000) {
        fprintf(stderr, "tern say: --rate '%s': expected a sample rate from 8000 to 48000\n", argv[i]);
        return 2;
      }
    } else if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "tern say: unknown option %s (see tern say --help)\n", argv[i]);
      return 2;
    } else if (!text) {
      text = argv[i];
    } else {
      fprintf(stderr, "tern say: give the text as one argument (quote it)\n");
      return 2;
    }
  }
  if (!text || !*text || !out) {
    fputs(help_head, stderr);
    return 2;
  }
  int status = tern_cli_common_open(&co, "say", "say");
  if (status) {
    tern_cli_common_close(&co);
    return status;
  }
  char err[512] = "";
  tern_stack_t *st = NULL;
  tern_loop_t *loop = NULL;
  tern_fallback_t *f = NULL;
  tern_op_t *op = NULL;
  say_t s = {0};
  tern_stack_overrides_t ov = {.tts = tts, .only = 1u << TERN_COMP_TTS};
  status = 1;
  if (tern_stack_create(co.cfg, &ov, &st, err, sizeof err)) {
    fprintf(stderr, "tern say: %s\n", err);
    goto out;
  }
  if (tern_loop_create(NULL, &loop) || tern_stack_runner(st, TERN_COMP_TTS, loop, co.events, 1, &f)) {
    fprintf(stderr, "tern say: out of memory\n");
    goto out;
  }
  tern_tts_request_t req = {.text = text, .sample_rate = (int)rate};
  tern_tts_sink_t sink = {on_audio, on_done, &s};
  int rc = tern_fallback_tts(f, &req, &sink, &op);
  if (rc) {
    fprintf(stderr, "tern say: %s\n", tern_strerror(rc));
    goto out;
  }
  tern_loop_run_until(loop, is_done, &s, TERN_SEC(300));
  op = NULL;
  if (s.failed || s.oom || !s.n) {
    if (s.oom)
      fprintf(stderr, "tern say: out of memory\n");
    else if (!s.failed)
      fprintf(stderr, "tern say: the voice produced no audio\n");
    goto out;
  }
  if ((rc = tern_wav_write_file(out, s.pcm, s.n, (uint32_t)rate, 1, err, sizeof err))) {
    fprintf(stderr, "tern say: %s\n", err[0] ? err : tern_strerror(rc));
    goto out;
  }
  fprintf(stderr, "tern say: wrote %s (%.2f s at %ld Hz, voice %s)\n", out, (double)s.n / (double)rate,
          rate, tern_fallback_current(f));
  status = 0;
out:
  if (op && !s.done)
    tern_op_cancel(op);
  tern_free(s.pcm);
  tern_fallback_destroy(f);
  tern_loop_destroy(loop);
  tern_stack_destroy(st);
  tern_cli_common_close(&co);
  return status;
}

const tern_cli_cmd_t tern_cli_say = {"say", "speak text through the TTS chain into a WAV file", run};
