/* tern transcribe IN.wav — the STT chain's transcript of a recording. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "tern/alloc.h"
#include "tern/buf.h"
#include "tern/error.h"
#include "tern/loop.h"
#include "tern/resample.h"
#include "tern/stack.h"
#include "tern/wav.h"

static const char help_head[] =
    "usage: tern transcribe IN.wav [--stt CHAIN] [--interim] [options]\n"
    "\n"
    "Prints the transcript of IN.wav (any PCM WAV; resampled to 16 kHz mono).\n"
    "If a provider fails, the next one in the chain gets the same audio.\n"
    "\n"
    "  --stt CHAIN        recognisers to try in order, e.g. deepgram,pocketsphinx\n"
    "  --interim          also print interim transcripts (to stderr)\n";

typedef struct {
  tern_buf_t text;
  bool interim, done, failed;
} tr_t;

static void on_transcript(void *ud, const char *text, bool is_final, double conf) {
  tr_t *t = ud;
  (void)conf;
  if (is_final) {
    if (t->text.len && *text)
      tern_buf_appends(&t->text, " ");
    tern_buf_appends(&t->text, text);
  } else if (t->interim) {
    fprintf(stderr, "... %s\n", text);
  }
}

static void on_done(void *ud, const tern_error_t *err) {
  tr_t *t = ud;
  t->done = true;
  if (err) {
    t->failed = true;
    fprintf(stderr, "tern transcribe: no recogniser could transcribe: %s (%s, %s)\n", err->message,
            err->provider, tern_kind_name(err->kind));
  }
}

static bool is_done(void *ud) { return ((tr_t *)ud)->done; }

static int run(int argc, char **argv) {
  tern_cli_common_t co = {0};
  const char *in = NULL, *stt = NULL;
  tr_t t = {0};
  for (int i = 1; i < argc; i++) {
    int r = tern_cli_common_opt(&co, "transcribe", argc, argv, &i);
    if (r < 0)
      return 2;
    if (r)
      continue;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs(help_head, stdout);
      fputs(tern_cli_common_help, stdout);
      return 0;
    } else if (!strcmp(argv[i], "--stt") && i + 1 < argc) {
      stt = argv[++i];
    } else if (!strcmp(argv[i], "--interim")) {
      t.interim = true;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "tern transcribe: unknown option %s (see tern transcribe --help)\n", argv[i]);
      return 2;
    } else if (!in) {
      in = argv[i];
    } else {
      fprintf(stderr, "tern transcribe: one file at a time\n");
      return 2;
    }
  }
  if (!in) {
    fputs(help_head, stderr);
    return 2;
  }
  char err[512] = "";
  tern_wav_opts_t wo = {.downmix = 1};
  tern_wav_t w = {0};
  if (tern_wav_read_file(in, &wo, &w, err, sizeof err)) {
    fprintf(stderr, "tern transcribe: %s: %s\n", in, err);
    return 1;
  }
  int status = tern_cli_common_open(&co, "transcribe", "transcribe");
  if (status) {
    tern_wav_free(&w);
    tern_cli_common_close(&co);
    return status;
  }
  int16_t *pcm = w.samples, *rs = NULL;
  size_t n = w.frames;
  tern_stack_t *st = NULL;
  tern_loop_t *loop = NULL;
  tern_fallback_t *f = NULL;
  tern_op_t *op = NULL;
  status = 1;
  if (w.sample_rate != 16000 && n) {
    if (tern_resample_buffer(pcm, n, w.sample_rate, 16000, -1, &rs, &n)) {
      fprintf(stderr, "tern transcribe: %s: cannot resample %u Hz audio\n", in, w.sample_rate);
      goto out;
    }
    pcm = rs;
  }
  tern_stack_overrides_t ov = {.stt = stt, .only = 1u << TERN_COMP_STT};
  if (tern_stack_create(co.cfg, &ov, &st, err, sizeof err)) {
    fprintf(stderr, "tern transcribe: %s\n", err);
    goto out;
  }
  if (tern_loop_create(NULL, &loop) || tern_stack_runner(st, TERN_COMP_STT, loop, co.events, 1, &f)) {
    fprintf(stderr, "tern transcribe: out of memory\n");
    goto out;
  }
  tern_stt_request_t req = {.pcm = pcm, .n_samples = n, .sample_rate = 16000};
  tern_stt_sink_t sink = {on_transcript, on_done, &t};
  if (tern_fallback_stt(f, &req, &sink, &op)) {
    fprintf(stderr, "tern transcribe: could not start\n");
    goto out;
  }
  tern_loop_run_until(loop, is_done, &t, TERN_SEC(600));
  if (!t.failed && t.done) {
    printf("%s\n", tern_buf_str(&t.text));
    status = 0;
  }
out:
  if (op && !t.done)
    tern_op_cancel(op);
  tern_buf_free(&t.text);
  tern_free(rs);
  tern_wav_free(&w);
  tern_fallback_destroy(f);
  tern_loop_destroy(loop);
  tern_stack_destroy(st);
  tern_cli_common_close(&co);
  return status;
}

const tern_cli_cmd_t tern_cli_transcribe = {"transcribe", "print the STT chain's transcript of a WAV file", run};
