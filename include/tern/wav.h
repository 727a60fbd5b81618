/* RIFF/WAVE reading and writing.
 *
 * The reader accepts PCM (8-bit unsigned, 16, 24 and 32-bit signed), IEEE
 * float (32 and 64-bit), G.711 A-law and mu-law, in plain or
 * WAVE_FORMAT_EXTENSIBLE headers, and always hands back int16 samples. It
 * reads untrusted input: every failure is a specific TERN_E* code plus a
 * sentence naming what is wrong and at which byte offset, written into the
 * caller's (err, errsz) buffer. It never reads outside its input.
 *
 *   TERN_EFORMAT       not RIFF/WAVE, missing or malformed fmt/data chunk
 *   TERN_EUNSUPPORTED  valid WAV but a codec, bit depth, rate or layout tern does not read
 *   TERN_ETRUNCATED    a chunk runs past the end of the input, or the data is not
 *                      a whole number of sample frames
 *   TERN_ETOOBIG       over the configured size limit
 *   TERN_ENOENT/EIO    file could not be opened or read (file functions only)
 *   TERN_ENOMEM        allocation failed
 */
#ifndef TERN_WAV_H
#define TERN_WAV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Format tags of the fmt chunk that tern decodes. */
#define TERN_WAV_PCM 0x0001
#define TERN_WAV_FLOAT 0x0003
#define TERN_WAV_ALAW 0x0006
#define TERN_WAV_MULAW 0x0007
#define TERN_WAV_EXTENSIBLE 0xFFFE

/* Default limit on the data chunk and on the decoded samples: 512 MiB. */
#define TERN_WAV_DEFAULT_MAX_BYTES ((uint64_t)512 << 20)
#define TERN_WAV_MIN_RATE 8000
#define TERN_WAV_MAX_RATE 192000
#define TERN_WAV_MAX_CHANNELS 32

typedef struct tern_wav_opts {
  int downmix;        /* nonzero: average all channels into one */
  uint64_t max_bytes; /* 0 = TERN_WAV_DEFAULT_MAX_BYTES */
} tern_wav_opts_t;

/* What the headers said. */
typedef struct tern_wav_info {
  uint16_t format;          /* resolved tag: PCM, FLOAT, ALAW or MULAW (never EXTENSIBLE) */
  int extensible;           /* the fmt chunk was WAVE_FORMAT_EXTENSIBLE */
  uint16_t channels;        /* in the file */
  uint32_t sample_rate;     /* Hz */
  uint16_t bits_per_sample; /* container size */
  uint16_t block_align;     /* bytes per sample frame */
  uint64_t data_offset;     /* byte offset of the first sample */
  uint64_t data_bytes;      /* bytes of whole sample frames used */
  uint64_t frames;          /* samples per channel */
  int streaming;            /* data size was 0xFFFFFFFF: read to end of input */
} tern_wav_info_t;

/* Decoded audio. `samples` (frames * channels, interleaved) is owned;
 * release with tern_wav_free. NULL when frames is 0. */
typedef struct tern_wav {
  int16_t *samples;
  size_t frames;        /* samples per channel */
  uint32_t sample_rate; /* Hz */
  uint16_t channels;    /* of `samples`: 1 after a downmix */
  tern_wav_info_t info; /* the file's own format */
} tern_wav_t;

/* Parses headers only: no allocation, no decoding. */
int tern_wav_probe_mem(const void *data, size_t len, tern_wav_info_t *info /* OUT */, char *err,
                       size_t errsz);
/* Decodes a whole WAV image held in memory. opts may be NULL. */
int tern_wav_read_mem(const void *data, size_t len, const tern_wav_opts_t *opts,
                      tern_wav_t *out /* OUT */, char *err, size_t errsz);
/* Reads and decodes a WAV file. */
int tern_wav_read_file(const char *path, const tern_wav_opts_t *opts, tern_wav_t *out /* OUT */,
                       char *err, size_t errsz);
void tern_wav_free(tern_wav_t *w);

/* The canonical 44-byte PCM16 header for `frames` sample frames, for writers
 * that stream samples after it. TERN_ETOOBIG past 4 GiB of data. */
#define TERN_WAV_HEADER_BYTES 44
int tern_wav_header(uint8_t hdr[TERN_WAV_HEADER_BYTES], uint64_t frames, uint32_t sample_rate,
                    uint16_t channels);
/* Encodes PCM16 into a freshly allocated WAV image (*out freed with tern_free). */
int tern_wav_write_mem(const int16_t *samples, size_t frames, uint32_t sample_rate,
                       uint16_t channels, uint8_t **out /* OUT */, size_t *outlen /* OUT */);
/* Writes PCM16 to a WAV file, replacing it. */
int tern_wav_write_file(const char *path, const int16_t *samples, size_t frames,
                        uint32_t sample_rate, uint16_t channels, char *err, size_t errsz);

#ifdef __cplusplus
}
#endif
#endif
