/* libFuzzer driver for the WAV reader.
 *
 * Any input must give either a clean error with a message or samples that
 * survive a write/read round trip; decoded audio also goes through the
 * analyser and the energy VAD, which must accept whatever a file can hold.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/analyze.h"
#include "tern/error.h"
#include "tern/vad.h"
#include "tern/wav.h"

static void check_decoded(const tern_wav_t *w) {
  uint8_t *mem;
  size_t len;
  if (tern_wav_write_mem(w->samples, w->frames, w->sample_rate, w->channels, &mem, &len) == 0) {
    tern_wav_t back;
    if (tern_wav_read_mem(mem, len, NULL, &back, NULL, 0) != 0 || back.frames != w->frames ||
        (w->frames && memcmp(back.samples, w->samples, w->frames * w->channels * 2)))
      abort();
    tern_wav_free(&back);
    tern_free(mem);
  }
  if (w->channels == 1) {
    tern_analysis_t a;
    if (tern_analyze_pcm(w->samples, w->frames, w->sample_rate, NULL, &a) == 0 &&
        !(a.score >= 0 && a.score <= 1))
      abort();
    tern_vad_energy_t v;
    tern_vad_energy_init(&v, NULL);
    tern_vad_segment_t *segs;
    size_t n;
    if (tern_vad_segments(&v.base, NULL, w->samples, w->frames, w->sample_rate, &segs, &n) == 0) {
      for (size_t i = 0; i < n; i++)
        if (segs[i].start >= segs[i].end || segs[i].end > w->frames)
          abort();
      tern_free(segs);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[256];
  tern_wav_info_t info;
  int prc = tern_wav_probe_mem(data, size, &info, err, sizeof err);
  for (int downmix = 0; downmix < 2; downmix++) {
    tern_wav_opts_t o = {.downmix = downmix, .max_bytes = 1 << 22};
    tern_wav_t w;
    err[0] = 'x';
    int rc = tern_wav_read_mem(data, size, &o, &w, err, sizeof err);
    if (rc == 0) {
      if (prc != 0 || w.info.data_offset + w.info.data_bytes > size)
        abort();
      check_decoded(&w);
      tern_wav_free(&w);
    } else if (rc != TERN_ETOOBIG && (rc != prc || err[0] == 0 || err[0] == 'x')) {
      abort(); /* every refusal explains itself, and probe agrees with read */
    }
  }
  return 0;
}
