/* tern analyze FILE.wav — audio quality figures and speech segments as JSON.
 *
 * Exit status: 0 printed, 1 the file could not be read or analysed, 2 usage.
 * Multi-channel files are averaged to mono first; `channels` reports the
 * file's own count.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "tern/alloc.h"
#include "tern/analyze.h"
#include "tern/error.h"
#include "tern/vad.h"
#include "tern/wav.h"

static const char help[] =
    "usage: tern analyze FILE.wav\n"
    "\n"
    "Prints one JSON object describing the audio in FILE.wav (PCM 8/16/24/32-bit,\n"
    "float, A-law or mu-law; stereo is averaged to mono):\n"
    "\n"
    "  file             the path given\n"
    "  sample_rate      Hz\n"
    "  channels         channels in the file\n"
    "  duration_s       length in seconds\n"
    "  rms_dbfs         overall level, dB relative to full scale (-120 = digital silence)\n"
    "  peak_dbfs        loudest sample, dBFS (0 = full scale)\n"
    "  clipping_pct     % of samples at or within 0.05 dB of full scale\n"
    "  silence_pct      % of 20 ms frames quieter than -50 dBFS\n"
    "  snr_db           signal-to-noise estimate: loud (90th percentile) minus quiet\n"
    "                   (10th percentile) frame levels; needs pauses in the audio\n"
    "  dc_offset        mean sample as a fraction of full scale\n"
    "  score            0 (unusable) .. 1 (clean), combining SNR, clipping, speech level,\n"
    "                   DC offset and silence\n"
    "  speech_segments  [[start_s, end_s], ...] found by the energy VAD\n"
    "                   (min speech 100 ms, min silence 550 ms)\n"
    "\n"
    "Exit status: 0 ok, 1 unreadable or invalid file, 2 usage error.\n";

static double seconds(uint64_t samples, uint32_t rate) {
  return (double)(long long)((double)samples * 1000.0 / rate + 0.5) / 1000.0;
}

static int add(json_t *o, const char *k, json_t *v) { return json_object_set_new(o, k, v); }

/* Builds the report; returns 0 or a TERN_E* code. */
static int report(const char *path, const tern_wav_t *w, json_t **out) {
  tern_analysis_t a;
  int rc = tern_analyze_pcm(w->samples, w->frames, w->sample_rate, NULL, &a);
  if (rc)
    return rc;
  tern_vad_energy_t vad;
  tern_vad_energy_init(&vad, NULL);
  tern_vad_segment_t *segs = NULL;
  size_t nseg = 0;
  rc = tern_vad_segments(&vad.base, NULL, w->samples, w->frames, w->sample_rate, &segs, &nseg);
  if (rc)
    return rc;
  json_t *figures = NULL, *o = json_object(), *arr = json_array();
  rc = TERN_ENOMEM;
  if (!o || !arr || tern_analysis_json(&a, &figures) != 0)
    goto done;
  if (add(o, "file", json_string(path)) || add(o, "sample_rate", json_integer(w->sample_rate)) ||
      add(o, "channels", json_integer(w->info.channels)) || json_object_update(o, figures))
    goto done;
  for (size_t i = 0; i < nseg; i++) {
    json_t *pair = json_pack("[f,f]", seconds(segs[i].start, w->sample_rate),
                             seconds(segs[i].end, w->sample_rate));
    if (!pair || json_array_append_new(arr, pair))
      goto done;
  }
  if (add(o, "speech_segments", arr)) {
    arr = NULL; /* set_new consumed it even on failure */
    goto done;
  }
  arr = NULL;
  *out = o;
  o = NULL;
  rc = 0;
done:
  json_decref(figures);
  json_decref(arr);
  json_decref(o);
  tern_free(segs);
  return rc;
}

static int run(int argc, char **argv) {
  if (tern_cli_wants_help(argc, argv, help))
    return 0;
  const char *path = NULL;
  int opts_done = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!opts_done && !strcmp(a, "--")) {
      opts_done = 1;
      continue;
    }
    if (!opts_done && a[0] == '-' && a[1]) {
      fprintf(stderr, "tern analyze: unknown option '%s'\n%s", a, help);
      return 2;
    }
    if (path) {
      fprintf(stderr, "tern analyze: one file at a time ('%s' and '%s')\n", path, a);
      return 2;
    }
    path = a;
  }
  if (!path) {
    fprintf(stderr, "tern analyze: no file given\n%s", help);
    return 2;
  }
  char err[256];
  tern_wav_t w;
  tern_wav_opts_t opts = {.downmix = 1};
  int rc = tern_wav_read_file(path, &opts, &w, err, sizeof err);
  if (rc) {
    fprintf(stderr, "tern analyze: %s: %s\n", path, err[0] ? err : tern_strerror(rc));
    return 1;
  }
  json_t *o = NULL;
  rc = report(path, &w, &o);
  tern_wav_free(&w);
  if (rc) {
    fprintf(stderr, "tern analyze: %s: %s\n", path, tern_strerror(rc));
    return 1;
  }
  char *text = json_dumps(o, JSON_REAL_PRECISION(10));
  json_decref(o);
  if (!text) {
    fprintf(stderr, "tern analyze: %s: %s\n", path, tern_strerror(TERN_ENOMEM));
    return 1;
  }
  puts(text);
  free(text);
  return 0;
}

const tern_cli_cmd_t tern_cli_analyze = {"analyze",
                                         "print audio quality figures of a WAV file as JSON", run};
