/* libFuzzer target for the OpenAI transcription and speech replies,
 * replayed through the provider's own callbacks (tern__openai_replay, no
 * network). The first byte picks the mode (bit 7: speech, else
 * transcription), the split point and, for speech, the rate asked for.
 *
 * Transcription: any body gives one final transcript (NUL-terminated, no
 * longer than the body) or a classified failure, never both, and on_done
 * runs exactly once. Speech: any bytes are samples; the caller gets them
 * resampled to its rate, the same however the body was split, and a
 * well-formed reply of n samples gives ceil(n * rate / 24000) samples. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "provider/cloud.h"
#include "tern/error.h"
#include "tern/openai.h"

typedef struct {
  uint64_t hash;
  size_t samples;
  int done, finals;
  bool ok;
  size_t max_text;
} seen_t;

static void on_transcript(void *ud, const char *text, bool is_final, double conf) {
  seen_t *s = ud;
  if (s->done || !text || !is_final || !(conf >= 0.0 && conf <= 1.0) ||
      strlen(text) > s->max_text)
    abort();
  s->finals++;
  for (const char *p = text; *p; p++)
    s->hash = (s->hash ^ (unsigned char)*p) * 0x100000001b3u;
}

static void on_audio(void *ud, const int16_t *pcm, size_t n) {
  seen_t *s = ud;
  if (s->done || !pcm || !n)
    abort();
  for (size_t i = 0; i < n; i++)
    s->hash = (s->hash ^ (uint16_t)pcm[i]) * 0x100000001b3u;
  s->samples += n;
}

static void on_done(void *ud, const tern_error_t *err) {
  seen_t *s = ud;
  if (s->done++)
    abort();
  s->ok = !err;
  if (err && (!memchr(err->message, '\0', sizeof err->message) || err->kind >= TERN_KIND__COUNT))
    abort();
}

static const int k_rates[] = {8000, 11025, 16000, 22050, 24000, 44100, 48000, 96000};

static void run(bool tts, int rate, const uint8_t *d, size_t n, size_t cut, seen_t *s) {
  memset(s, 0, sizeof *s);
  s->max_text = n;
  tern_stt_sink_t stt = {on_transcript, on_done, s};
  tern_tts_sink_t tts_sink = {on_audio, on_done, s};
  tern__replay_t r = {.body = (const char *)d, .len = n, .cut = cut, .sample_rate = rate,
                      .stt = &stt, .tts = &tts_sink};
  int rc = tern__openai_replay(tts ? TERN_COMP_TTS : TERN_COMP_STT, &r);
  if (rc != 0 || s->done != 1)
    abort();
  if (!tts && s->finals != (s->ok ? 1 : 0))
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  bool tts = data[0] & 0x80;
  int rate = k_rates[data[0] & 7];
  const uint8_t *d = data + 1;
  size_t n = size - 1;
  size_t cut = n ? (size_t)(data[0] >> 3 & 0xf) * 17 % (n + 1) : 0;
  seen_t a, b;
  run(tts, rate, d, n, n, &a);
  run(tts, rate, d, n, cut, &b);
  if (a.ok != b.ok || a.hash != b.hash || a.samples != b.samples)
    abort();
  if (tts && a.ok) {
    uint64_t in = n / 2;
    uint64_t want = (in * (uint64_t)rate + TERN_OPENAI_TTS_RATE - 1) / TERN_OPENAI_TTS_RATE;
    if (a.samples != want)
      abort();
  }
  return 0;
}
