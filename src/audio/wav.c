/* RIFF/WAVE reader and writer.
 *
 * The reader treats its input as hostile (it is fuzzed): every offset is
 * checked against the input length before it is read, chunk sizes are
 * compared with what remains, and arithmetic is done in 64 bits. It walks
 * chunks only until it has both fmt and data, so trailing junk after the
 * audio (common in files cut by streaming tools) does not matter. The RIFF
 * size field is not trusted at all: streaming writers leave it 0 or
 * 0xFFFFFFFF and many tools get it wrong, while chunk sizes are checked.
 *
 * Whatever the file's encoding, the output is int16: wider samples keep
 * their top 16 bits, floats are scaled by 32768 and clamped, 8-bit and G.711
 * are expanded.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/wav.h"

/* Bytes a file may hold beyond the data limit (headers, metadata chunks). */
#define FILE_SLACK ((uint64_t)1 << 20)
#define STREAMING_SIZE 0xFFFFFFFFu

static int fail(char *err, size_t errsz, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errsz, int code, const char *fmt, ...) {
  if (err && errsz) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
  }
  return code;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void wr16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static void wr32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* A chunk id for messages: printable bytes as is, others as \xNN. */
static const char *fourcc(const uint8_t *p, size_t n, char out[20]) {
  size_t o = 0;
  for (size_t i = 0; i < n && i < 4; i++) {
    if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\'' && p[i] != '\\')
      out[o++] = (char)p[i];
    else
      o += (size_t)snprintf(out + o, 5, "\\x%02X", p[i]);
  }
  out[o] = 0;
  return out;
}

static const char *codec_name(unsigned tag) {
  switch (tag) {
  case 0x0002:
    return "Microsoft ADPCM";
  case 0x0006:
    return "A-law";
  case 0x0007:
    return "mu-law";
  case 0x0011:
    return "IMA ADPCM";
  case 0x0022:
    return "TrueSpeech";
  case 0x0031:
    return "GSM 6.10";
  case 0x0040:
    return "G.721 ADPCM";
  case 0x0050:
    return "MPEG";
  case 0x0055:
    return "MP3";
  case 0x00FF:
    return "AAC";
  case 0x0160:
  case 0x0161:
  case 0x0162:
    return "Windows Media Audio";
  case 0x1610:
    return "AAC (ADTS)";
  case 0x2000:
    return "AC-3";
  case 0x2001:
    return "DTS";
  case 0x704F:
    return "Opus";
  case 0xF1AC:
    return "FLAC";
  default:
    return "unknown codec";
  }
}

/* Other containers people hand to a WAV reader, named so the message helps. */
static const char *sniff(const uint8_t *p, size_t len) {
  if (len >= 3 && !memcmp(p, "ID3", 3))
    return " (it looks like an MP3 file)";
  if (len >= 2 && p[0] == 0xFF && (p[1] & 0xE0) == 0xE0)
    return " (it looks like an MPEG audio stream)";
  if (len >= 4 && !memcmp(p, "OggS", 4))
    return " (it looks like an Ogg file)";
  if (len >= 4 && !memcmp(p, "fLaC", 4))
    return " (it looks like a FLAC file)";
  if (len >= 4 && !memcmp(p, "FORM", 4))
    return " (it looks like an AIFF file)";
  return "";
}

/* The 14 bytes that follow the format code in every KSDATAFORMAT_SUBTYPE GUID. */
static const uint8_t ks_guid_tail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                         0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};

/* Parses the fmt chunk body `b` of `size` bytes that starts at offset `off`. */
static int parse_fmt(const uint8_t *b, uint32_t size, size_t off, tern_wav_info_t *info, char *err,
                     size_t errsz) {
  if (size < 16)
    return fail(err, errsz, TERN_EFORMAT,
                "fmt chunk at byte %zu is %u bytes long; it needs at least 16", off - 8, size);
  unsigned tag = rd16(b);
  unsigned ch = rd16(b + 2);
  uint32_t rate = rd32(b + 4);
  unsigned align = rd16(b + 12);
  unsigned bits = rd16(b + 14);
  int ext = 0;
  if (tag == TERN_WAV_EXTENSIBLE) {
    if (size < 40)
      return fail(err, errsz, TERN_EFORMAT,
                  "WAVE_FORMAT_EXTENSIBLE fmt chunk at byte %zu is %u bytes long; it needs 40",
                  off - 8, size);
    unsigned cb = rd16(b + 16);
    if (cb < 22)
      return fail(err, errsz, TERN_EFORMAT,
                  "WAVE_FORMAT_EXTENSIBLE extension size at byte %zu is %u; it needs 22", off + 16,
                  cb);
    if (memcmp(b + 26, ks_guid_tail, sizeof ks_guid_tail))
      return fail(err, errsz, TERN_EUNSUPPORTED,
                  "WAVE_FORMAT_EXTENSIBLE subformat GUID at byte %zu is not a standard audio "
                  "subformat; tern reads PCM WAV",
                  off + 24);
    tag = rd16(b + 24);
    ext = 1;
  }
  if (ch == 0)
    return fail(err, errsz, TERN_EFORMAT, "fmt chunk says 0 channels (byte %zu)", off + 2);
  if (ch > TERN_WAV_MAX_CHANNELS)
    return fail(err, errsz, TERN_EUNSUPPORTED,
                "%u channels (byte %zu) is more than the %d tern reads", ch, off + 2,
                TERN_WAV_MAX_CHANNELS);
  if (rate < TERN_WAV_MIN_RATE || rate > TERN_WAV_MAX_RATE)
    return fail(err, errsz, TERN_EUNSUPPORTED,
                "sample rate %u Hz (byte %zu) is outside the %d..%d Hz tern reads", rate, off + 4,
                TERN_WAV_MIN_RATE, TERN_WAV_MAX_RATE);
  switch (tag) {
  case TERN_WAV_PCM:
    if (bits != 8 && bits != 16 && bits != 24 && bits != 32)
      return fail(err, errsz, TERN_EUNSUPPORTED,
                  "%u-bit PCM (byte %zu) is not supported; tern reads 8, 16, 24 and 32-bit PCM",
                  bits, off + 14);
    break;
  case TERN_WAV_FLOAT:
    if (bits != 32 && bits != 64)
      return fail(err, errsz, TERN_EUNSUPPORTED,
                  "%u-bit float (byte %zu) is not supported; tern reads 32 and 64-bit float", bits,
                  off + 14);
    break;
  case TERN_WAV_ALAW:
  case TERN_WAV_MULAW:
    if (bits != 8)
      return fail(err, errsz, TERN_EUNSUPPORTED, "%u-bit %s (byte %zu) is not supported", bits,
                  codec_name(tag), off + 14);
    break;
  default:
    return fail(err, errsz, TERN_EUNSUPPORTED,
                "format 0x%04X (%s) at byte %zu is not supported; tern reads PCM WAV", tag,
                codec_name(tag), ext ? off + 24 : off);
  }
  unsigned want = ch * (bits / 8);
  if (align != want)
    return fail(err, errsz, TERN_EFORMAT,
                "block align %u (byte %zu) does not match %u channel(s) of %u bits (%u bytes)",
                align, off + 12, ch, bits, want);
  info->format = (uint16_t)tag;
  info->extensible = ext;
  info->channels = (uint16_t)ch;
  info->sample_rate = rate;
  info->bits_per_sample = (uint16_t)bits;
  info->block_align = (uint16_t)align;
  return 0;
}

int tern_wav_probe_mem(const void *data, size_t len, tern_wav_info_t *info, char *err,
                       size_t errsz) {
  if (err && errsz)
    err[0] = 0;
  if (!info || (!data && len))
    return fail(err, errsz, TERN_EINVAL, "no input");
  memset(info, 0, sizeof *info);
  const uint8_t *p = data;
  char id[20];
  if (len == 0)
    return fail(err, errsz, TERN_EFORMAT, "input is empty: not a WAV file");
  size_t head = len < 4 ? len : 4;
  if (len >= 4 && !memcmp(p, "RIFX", 4))
    return fail(err, errsz, TERN_EUNSUPPORTED,
                "big-endian RIFX files are not supported; tern reads little-endian RIFF WAV");
  if (len >= 4 && !memcmp(p, "RF64", 4))
    return fail(err, errsz, TERN_EUNSUPPORTED,
                "RF64 (WAV over 4 GiB) is not supported; tern reads RIFF WAV");
  if (memcmp(p, "RIFF", head))
    return fail(err, errsz, TERN_EFORMAT, "not a RIFF file: byte 0 starts with '%s'%s",
                fourcc(p, head, id), sniff(p, len));
  if (len < 12)
    return fail(err, errsz, TERN_ETRUNCATED,
                "input ends at byte %zu, inside the 12-byte RIFF/WAVE header", len);
  if (memcmp(p + 8, "WAVE", 4))
    return fail(err, errsz, TERN_EFORMAT, "RIFF form type at byte 8 is '%s', not 'WAVE'",
                fourcc(p + 8, 4, id));

  int have_fmt = 0, have_data = 0;
  size_t off = 12, data_off = 0, data_hdr = 0;
  uint64_t data_bytes = 0;
  while (off < len && !(have_fmt && have_data)) {
    if (len - off < 8)
      return fail(err, errsz, TERN_ETRUNCATED,
                  "input ends at byte %zu, inside the chunk header that starts at byte %zu "
                  "(before %s)",
                  len, off, have_fmt ? "a data chunk" : "a fmt chunk");
    const uint8_t *c = p + off;
    uint32_t size = rd32(c + 4);
    size_t body = off + 8, avail = len - body;
    if (!memcmp(c, "data", 4)) {
      if (size == STREAMING_SIZE) {
        if (!have_fmt)
          return fail(err, errsz, TERN_EFORMAT,
                      "data chunk at byte %zu has the streaming size 0xFFFFFFFF but comes "
                      "before the fmt chunk",
                      off);
        info->streaming = 1;
        size = avail > STREAMING_SIZE ? STREAMING_SIZE : (uint32_t)avail;
      } else if (size > avail) {
        return fail(err, errsz, TERN_ETRUNCATED,
                    "data chunk at byte %zu declares %u bytes but only %zu remain in the input",
                    off, size, avail);
      }
      if (!have_data) {
        have_data = 1;
        data_off = body;
        data_hdr = off;
        data_bytes = size;
      }
    } else if (size > avail) {
      return fail(err, errsz, TERN_ETRUNCATED,
                  "chunk '%s' at byte %zu declares %u bytes but only %zu remain in the input",
                  fourcc(c, 4, id), off, size, avail);
    } else if (!memcmp(c, "fmt ", 4) && !have_fmt) {
      int rc = parse_fmt(c + 8, size, body, info, err, errsz);
      if (rc)
        return rc;
      have_fmt = 1;
    }
    /* Odd-sized chunks are followed by a pad byte; a missing final pad is tolerated. */
    uint64_t next = (uint64_t)body + size + (size & 1u);
    off = next > len ? len : (size_t)next;
  }
  if (!have_fmt)
    return fail(err, errsz, TERN_EFORMAT,
                "no fmt chunk found before the end of the input (byte %zu)", len);
  if (!have_data)
    return fail(err, errsz, TERN_EFORMAT,
                "no data chunk found before the end of the input (byte %zu)", len);
  uint64_t rem = data_bytes % info->block_align;
  if (rem) {
    if (!info->streaming)
      return fail(err, errsz, TERN_ETRUNCATED,
                  "data chunk at byte %zu holds %llu bytes, not a whole number of %u-byte "
                  "sample frames (%llu bytes left over)",
                  data_hdr, (unsigned long long)data_bytes, info->block_align,
                  (unsigned long long)rem);
    data_bytes -= rem; /* a stream cut mid-frame: drop the partial frame */
  }
  info->data_offset = data_off;
  info->data_bytes = data_bytes;
  info->frames = data_bytes / info->block_align;
  return 0;
}

static int16_t clamp16(long v) { return (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v); }

static int16_t from_double(double x) {
  if (!(x == x))
    return 0; /* NaN */
  x *= 32768.0;
  if (x >= 32767.0)
    return 32767;
  if (x <= -32768.0)
    return -32768;
  return (int16_t)lrint(x);
}

static int16_t ulaw_to_s16(uint8_t b) {
  unsigned u = (unsigned)~b & 0xFFu;
  int mag = ((((int)(u & 0x0F)) << 3) + 0x84) << ((u >> 4) & 7);
  mag -= 0x84;
  return (int16_t)((u & 0x80) ? -mag : mag);
}

static int16_t alaw_to_s16(uint8_t b) {
  unsigned a = b ^ 0x55u;
  unsigned exp = (a >> 4) & 7;
  int mag = (int)(a & 0x0F) << 4;
  mag = exp == 0 ? mag + 8 : (mag + 0x108) << (exp - 1);
  return (int16_t)((a & 0x80) ? mag : -mag);
}

/* One sample of the file's encoding at p, as int16. */
static int16_t decode_one(const tern_wav_info_t *in, const uint8_t *p) {
  switch (in->format) {
  case TERN_WAV_PCM:
    switch (in->bits_per_sample) {
    case 8:
      return (int16_t)((p[0] - 128) * 256);
    case 16:
      return (int16_t)((int)rd16(p) - (p[1] & 0x80 ? 65536 : 0));
    case 24:
      return (int16_t)((int)rd16(p + 1) - (p[2] & 0x80 ? 65536 : 0));
    default:
      return (int16_t)((int)rd16(p + 2) - (p[3] & 0x80 ? 65536 : 0));
    }
  case TERN_WAV_FLOAT:
    if (in->bits_per_sample == 32) {
      uint32_t u = rd32(p);
      float f;
      memcpy(&f, &u, sizeof f);
      return from_double(f);
    } else {
      uint64_t u = (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
      double d;
      memcpy(&d, &u, sizeof d);
      return from_double(d);
    }
  case TERN_WAV_ALAW:
    return alaw_to_s16(p[0]);
  default:
    return ulaw_to_s16(p[0]);
  }
}

int tern_wav_read_mem(const void *data, size_t len, const tern_wav_opts_t *opts, tern_wav_t *out,
                      char *err, size_t errsz) {
  if (!out)
    return fail(err, errsz, TERN_EINVAL, "no output");
  memset(out, 0, sizeof *out);
  tern_wav_info_t info;
  int rc = tern_wav_probe_mem(data, len, &info, err, errsz);
  if (rc)
    return rc;
  int downmix = opts && opts->downmix;
  uint64_t max = opts && opts->max_bytes ? opts->max_bytes : TERN_WAV_DEFAULT_MAX_BYTES;
  unsigned outch = downmix ? 1u : info.channels;
  uint64_t out_bytes = info.frames * outch * sizeof(int16_t);
  if (info.data_bytes > max || out_bytes > max)
    return fail(err, errsz, TERN_ETOOBIG,
                "data chunk at byte %llu holds %llu bytes (%llu decoded); the limit is %llu",
                (unsigned long long)(info.data_offset - 8), (unsigned long long)info.data_bytes,
                (unsigned long long)out_bytes, (unsigned long long)max);
  int16_t *s = NULL;
  if (out_bytes) {
    s = tern_malloc((size_t)out_bytes);
    if (!s)
      return fail(err, errsz, TERN_ENOMEM, "out of memory decoding %llu bytes of audio",
                  (unsigned long long)out_bytes);
  }
  const uint8_t *p = (const uint8_t *)data + info.data_offset;
  size_t width = info.bits_per_sample / 8;
  for (uint64_t f = 0; f < info.frames; f++) {
    const uint8_t *fr = p + f * info.block_align;
    if (downmix) {
      long acc = 0;
      for (unsigned c = 0; c < info.channels; c++)
        acc += decode_one(&info, fr + c * width);
      long n = info.channels;
      s[f] = clamp16(acc >= 0 ? (acc + n / 2) / n : -((-acc + n / 2) / n));
    } else {
      for (unsigned c = 0; c < info.channels; c++)
        s[f * outch + c] = decode_one(&info, fr + c * width);
    }
  }
  out->samples = s;
  out->frames = (size_t)info.frames;
  out->sample_rate = info.sample_rate;
  out->channels = (uint16_t)outch;
  out->info = info;
  return 0;
}

void tern_wav_free(tern_wav_t *w) {
  if (!w)
    return;
  tern_free(w->samples);
  memset(w, 0, sizeof *w);
}

static int open_error(const char *what, char *err, size_t errsz) {
  int e = errno;
  if (e == ENOENT)
    return fail(err, errsz, TERN_ENOENT, "no such file");
  return fail(err, errsz, TERN_EIO, "cannot %s: %s", what, strerror(e));
}

int tern_wav_read_file(const char *path, const tern_wav_opts_t *opts, tern_wav_t *out, char *err,
                       size_t errsz) {
  if (err && errsz)
    err[0] = 0;
  if (!path || !out)
    return fail(err, errsz, TERN_EINVAL, "no file name");
  memset(out, 0, sizeof *out);
  uint64_t max = opts && opts->max_bytes ? opts->max_bytes : TERN_WAV_DEFAULT_MAX_BYTES;
  uint64_t limit = max > UINT64_MAX - FILE_SLACK ? UINT64_MAX : max + FILE_SLACK;
  FILE *f = fopen(path, "rb");
  if (!f)
    return open_error("open the file", err, errsz);
  struct stat st;
  if (fstat(fileno(f), &st) != 0) {
    int rc = open_error("inspect the file", err, errsz);
    fclose(f);
    return rc;
  }
  if (S_ISDIR(st.st_mode)) {
    fclose(f);
    return fail(err, errsz, TERN_EIO, "is a directory, not a WAV file");
  }
  if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > limit) {
    fclose(f);
    return fail(err, errsz, TERN_ETOOBIG, "file is %llu bytes; the limit is %llu",
                (unsigned long long)st.st_size, (unsigned long long)limit);
  }
  /* Regular files are read in one allocation; pipes grow by doubling. */
  size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : (size_t)1 << 16;
  size_t len = 0;
  uint8_t *buf = tern_malloc(cap);
  int rc = 0;
  if (!buf) {
    rc = fail(err, errsz, TERN_ENOMEM, "out of memory reading the file");
    goto done;
  }
  for (;;) {
    if (len == cap) {
      if (cap > limit) {
        rc = fail(err, errsz, TERN_ETOOBIG, "input is over the limit of %llu bytes",
                  (unsigned long long)limit);
        goto done;
      }
      uint8_t *nb = tern_realloc(buf, cap * 2);
      if (!nb) {
        rc = fail(err, errsz, TERN_ENOMEM, "out of memory reading the file");
        goto done;
      }
      buf = nb;
      cap *= 2;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) {
      if (ferror(f))
        rc = fail(err, errsz, TERN_EIO, "read error at byte %zu: %s", len, strerror(errno));
      break;
    }
  }
  if (!rc && len > limit)
    rc = fail(err, errsz, TERN_ETOOBIG, "input is %zu bytes; the limit is %llu", len,
              (unsigned long long)limit);
  if (!rc)
    rc = tern_wav_read_mem(buf, len, opts, out, err, errsz);
done:
  tern_free(buf);
  fclose(f);
  return rc;
}

int tern_wav_header(uint8_t hdr[TERN_WAV_HEADER_BYTES], uint64_t frames, uint32_t sample_rate,
                    uint16_t channels) {
  if (!hdr || channels == 0 || sample_rate == 0)
    return TERN_EINVAL;
  uint64_t align = (uint64_t)channels * 2;
  uint64_t bytes = frames * align;
  if (frames > UINT32_MAX || bytes > UINT32_MAX - 36 || (uint64_t)sample_rate * align > UINT32_MAX)
    return TERN_ETOOBIG;
  memcpy(hdr, "RIFF", 4);
  wr32(hdr + 4, (uint32_t)(36 + bytes));
  memcpy(hdr + 8, "WAVEfmt ", 8);
  wr32(hdr + 16, 16);
  wr16(hdr + 20, TERN_WAV_PCM);
  wr16(hdr + 22, channels);
  wr32(hdr + 24, sample_rate);
  wr32(hdr + 28, (uint32_t)(sample_rate * align));
  wr16(hdr + 32, (uint16_t)align);
  wr16(hdr + 34, 16);
  memcpy(hdr + 36, "data", 4);
  wr32(hdr + 40, (uint32_t)bytes);
  return 0;
}

static void put_samples(uint8_t *dst, const int16_t *src, size_t n) {
  for (size_t i = 0; i < n; i++)
    wr16(dst + 2 * i, (uint16_t)src[i]);
}

int tern_wav_write_mem(const int16_t *samples, size_t frames, uint32_t sample_rate,
                       uint16_t channels, uint8_t **out, size_t *outlen) {
  if (!out || !outlen || (!samples && frames))
    return TERN_EINVAL;
  *out = NULL;
  *outlen = 0;
  uint8_t hdr[TERN_WAV_HEADER_BYTES];
  int rc = tern_wav_header(hdr, frames, sample_rate, channels);
  if (rc)
    return rc;
  size_t n = frames * channels;
  uint8_t *b = tern_malloc(TERN_WAV_HEADER_BYTES + 2 * n);
  if (!b)
    return TERN_ENOMEM;
  memcpy(b, hdr, sizeof hdr);
  put_samples(b + TERN_WAV_HEADER_BYTES, samples, n);
  *out = b;
  *outlen = TERN_WAV_HEADER_BYTES + 2 * n;
  return 0;
}

int tern_wav_write_file(const char *path, const int16_t *samples, size_t frames,
                        uint32_t sample_rate, uint16_t channels, char *err, size_t errsz) {
  if (err && errsz)
    err[0] = 0;
  if (!path || (!samples && frames))
    return fail(err, errsz, TERN_EINVAL, "no file name or samples");
  uint8_t hdr[TERN_WAV_HEADER_BYTES];
  int rc = tern_wav_header(hdr, frames, sample_rate, channels);
  if (rc == TERN_ETOOBIG)
    return fail(err, errsz, rc, "%zu frames of %u channel(s) do not fit a RIFF WAV file", frames,
                channels);
  if (rc)
    return fail(err, errsz, rc, "invalid format: %u Hz, %u channel(s)", sample_rate, channels);
  FILE *f = fopen(path, "wb");
  if (!f)
    return open_error("create the file", err, errsz);
  int ok = fwrite(hdr, 1, sizeof hdr, f) == sizeof hdr;
  /* Little-endian whatever the host, through a small bounce buffer. */
  uint8_t chunk[4096];
  size_t n = frames * channels;
  for (size_t i = 0; ok && i < n;) {
    size_t k = n - i < sizeof chunk / 2 ? n - i : sizeof chunk / 2;
    put_samples(chunk, samples + i, k);
    ok = fwrite(chunk, 2, k, f) == k;
    i += k;
  }
  int saved = errno;
  if (fclose(f) != 0 && ok) {
    ok = 0;
    saved = errno;
  }
  if (!ok) {
    unlink(path);
    return fail(err, errsz, TERN_EIO, "write failed: %s", strerror(saved));
  }
  return 0;
}
