/* tern render-fallbacks — pre-render every built-in phrase with flite, so a
 * session can still speak when every voice provider is down. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/flite_tts.h"
#include "tern/recovery.h"
#include "tern/wav.h"

static const char help[] =
    "usage: tern render-fallbacks [-o DIR] [--voice kal16|slt] [--rate HZ] [--force]\n"
    "\n"
    "Renders each built-in fallback, holding and goodbye phrase to DIR/<id>.wav\n"
    "(e.g. llm.timeout.2.wav) with flite, plus DIR/fallback.wav, the clip played\n"
    "when no voice works and no phrase fits. Existing files are kept unless\n"
    "--force is given. Point [session] clips_dir (or tern run --clips) at DIR.\n"
    "To use your own recording for a phrase, put a WAV with its id in DIR.\n"
    "\n"
    "  -o, --out DIR      where to write (default: clips)\n"
    "  --voice NAME       flite voice (default kal16)\n"
    "  --rate HZ          sample rate (default 16000)\n";

typedef struct {
  int16_t *pcm;
  size_t n, cap;
} acc_t;

static int collect(void *ud, const int16_t *pcm, size_t n) {
  acc_t *a = ud;
  if (a->n + n > a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 32000;
    while (cap < a->n + n)
      cap *= 2;
    int16_t *p = tern_realloc(a->pcm, cap * sizeof *p);
    if (!p)
      return TERN_ENOMEM;
    a->pcm = p;
    a->cap = cap;
  }
  memcpy(a->pcm + a->n, pcm, n * sizeof *pcm);
  a->n += n;
  return 0;
}

static int render(const char *dir, const char *id, const char *text, const char *voice, int rate,
                  bool force, int *made) {
  char path[4096], err[256];
  snprintf(path, sizeof path, "%s/%s.wav", dir, id);
  struct stat sb;
  if (!force && stat(path, &sb) == 0)
    return 0;
  acc_t a = {0};
  int rc = tern_flite_synth(text, voice, rate, collect, &a);
  if (!rc)
    rc = tern_wav_write_file(path, a.pcm, a.n, (uint32_t)rate, 1, err, sizeof err);
  tern_free(a.pcm);
  if (rc) {
    fprintf(stderr, "tern render-fallbacks: %s: %s\n", path, tern_strerror(rc));
    return rc;
  }
  (*made)++;
  return 0;
}

static int run(int argc, char **argv) {
  if (tern_cli_wants_help(argc, argv, help))
    return 0;
  const char *dir = "clips", *voice = TERN_FLITE_DEFAULT_VOICE;
  long rate = 16000;
  bool force = false;
  for (int i = 1; i < argc; i++) {
    bool has = i + 1 < argc;
    if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--out")) && has)
      dir = argv[++i];
    else if (!strcmp(argv[i], "--voice") && has)
      voice = argv[++i];
    else if (!strcmp(argv[i], "--rate") && has)
      rate = strtol(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--force"))
      force = true;
    else {
      fprintf(stderr, "tern render-fallbacks: unknown option or missing value: %s\n", argv[i]);
      return 2;
    }
  }
  if (rate < 8000 || rate > 48000) {
    fprintf(stderr, "tern render-fallbacks: --rate: expected 8000 to 48000\n");
    return 2;
  }
  if (tern_flite_voice_check(voice)) {
    fprintf(stderr, "tern render-fallbacks: unknown flite voice '%s' (try kal16 or slt)\n", voice);
    return 2;
  }
  if (mkdir(dir, 0755) && errno != EEXIST) {
    fprintf(stderr, "tern render-fallbacks: cannot create %s: %s\n", dir, strerror(errno));
    return 1;
  }
  int made = 0;
  size_t n = tern_phrases_builtin_count();
  const char *generic = NULL;
  for (size_t i = 0; i < n; i++) {
    tern_phrase_t ph;
    if (tern_phrases_builtin_at(i, &ph))
      continue;
    if (!generic && !strncmp(ph.id, "generic", 7))
      generic = ph.text;
    if (render(dir, ph.id, ph.text, voice, (int)rate, force, &made))
      return 1;
  }
  if (render(dir, "fallback",
             generic ? generic : "Sorry, I am having some trouble right now. Please bear with me.",
             voice, (int)rate, force, &made))
    return 1;
  printf("tern render-fallbacks: %d clips written, %zu already there, in %s\n", made,
         n + 1 - (size_t)made, dir);
  return 0;
}

const tern_cli_cmd_t tern_cli_render_fallbacks = {
    "render-fallbacks", "pre-render the spoken fallback phrases with flite", run};
