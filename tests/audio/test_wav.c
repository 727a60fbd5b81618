/* WAV reader and writer: round trips, every encoding tern decodes, and one
 * case per way a file can be broken, each with its code and message. */
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/wav.h"

/* ---- a tiny WAV builder ---- */
typedef struct {
  uint8_t b[8192];
  size_t n;
} wb_t;

static void put(wb_t *w, const void *p, size_t n) {
  memcpy(w->b + w->n, p, n);
  w->n += n;
}
static void u16(wb_t *w, unsigned v) {
  uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
  put(w, b, 2);
}
static void u32(wb_t *w, uint32_t v) {
  uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  put(w, b, 4);
}
static void riff(wb_t *w) {
  w->n = 0;
  put(w, "RIFF", 4);
  u32(w, 0); /* patched by done() */
  put(w, "WAVE", 4);
}
static void fmt(wb_t *w, unsigned tag, unsigned ch, uint32_t rate, unsigned bits) {
  put(w, "fmt ", 4);
  u32(w, 16);
  u16(w, tag);
  u16(w, ch);
  u32(w, rate);
  u32(w, rate * ch * (bits / 8));
  u16(w, ch * (bits / 8));
  u16(w, bits);
}
static void fmt_ext(wb_t *w, unsigned sub, unsigned ch, uint32_t rate, unsigned bits,
                    int good_guid) {
  static const uint8_t tail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                   0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};
  put(w, "fmt ", 4);
  u32(w, 40);
  u16(w, 0xFFFE);
  u16(w, ch);
  u32(w, rate);
  u32(w, rate * ch * (bits / 8));
  u16(w, ch * (bits / 8));
  u16(w, bits);
  u16(w, 22);   /* cbSize */
  u16(w, bits); /* valid bits */
  u32(w, ch == 2 ? 3 : 4);
  u16(w, sub);
  if (good_guid) {
    put(w, tail, sizeof tail);
  } else {
    uint8_t junk[14];
    memset(junk, 0x42, sizeof junk);
    put(w, junk, sizeof junk);
  }
}
static void chunk(wb_t *w, const char *id, uint32_t declared, const void *body, size_t len) {
  put(w, id, 4);
  u32(w, declared);
  if (len)
    put(w, body, len);
}
static void done(wb_t *w) {
  uint32_t s = (uint32_t)(w->n - 8);
  uint8_t b[4] = {(uint8_t)s, (uint8_t)(s >> 8), (uint8_t)(s >> 16), (uint8_t)(s >> 24)};
  memcpy(w->b + 4, b, 4);
}

static const int16_t ten[10] = {0, 1, -1, 32767, -32768, 1000, -1000, 12345, -12345, 7};

/* A valid 16 kHz mono PCM16 file with the ten samples above: 64 bytes, data chunk at 36. */
static void valid(wb_t *w) {
  riff(w);
  fmt(w, 1, 1, 16000, 16);
  uint8_t d[20];
  for (int i = 0; i < 10; i++) {
    d[2 * i] = (uint8_t)ten[i];
    d[2 * i + 1] = (uint8_t)((uint16_t)ten[i] >> 8);
  }
  chunk(w, "data", 20, d, 20);
  done(w);
}

static void assert_ten(const tern_wav_t *w) {
  assert_int_equal(w->frames, 10);
  assert_int_equal(w->channels, 1);
  assert_int_equal(w->sample_rate, 16000);
  assert_memory_equal(w->samples, ten, sizeof ten);
}

static void test_reads_valid_pcm16(void **state) {
  (void)state;
  wb_t w;
  valid(&w);
  tern_wav_t out;
  char err[256] = "x";
  assert_int_equal(tern_wav_read_mem(w.b, w.n, NULL, &out, err, sizeof err), 0);
  assert_string_equal(err, "");
  assert_ten(&out);
  assert_int_equal(out.info.data_offset, 44);
  assert_int_equal(out.info.format, TERN_WAV_PCM);
  assert_false(out.info.streaming);
  tern_wav_free(&out);
  assert_null(out.samples);
}

static void test_round_trip_file_and_memory(void **state) {
  (void)state;
  int16_t st[2 * 500];
  for (int i = 0; i < 1000; i++)
    st[i] = (int16_t)((i * 7919) % 65536 - 32768);
  const char *path = tu_tmp_path("rt.wav");
  char err[256];
  assert_int_equal(tern_wav_write_file(path, st, 500, 48000, 2, err, sizeof err), 0);
  tern_wav_t w;
  assert_int_equal(tern_wav_read_file(path, NULL, &w, err, sizeof err), 0);
  assert_int_equal(w.frames, 500);
  assert_int_equal(w.channels, 2);
  assert_int_equal(w.sample_rate, 48000);
  assert_memory_equal(w.samples, st, sizeof st);
  tern_wav_free(&w);

  /* the in-memory writer produces the very same bytes */
  uint8_t *mem;
  size_t len;
  assert_int_equal(tern_wav_write_mem(st, 500, 48000, 2, &mem, &len), 0);
  size_t flen;
  char *file = tu_read_file(path, &flen);
  assert_int_equal(flen, len);
  assert_memory_equal(file, mem, len);
  free(file);
  tern_free(mem);

  /* zero frames is a valid, empty file */
  assert_int_equal(tern_wav_write_file(path, NULL, 0, 8000, 1, err, sizeof err), 0);
  assert_int_equal(tern_wav_read_file(path, NULL, &w, err, sizeof err), 0);
  assert_int_equal(w.frames, 0);
  assert_null(w.samples);
  tern_wav_free(&w);
}

static void test_write_refuses_bad_args(void **state) {
  (void)state;
  char err[256];
  int16_t s[2] = {0};
  assert_int_equal(tern_wav_write_file(tu_tmp_path("x.wav"), s, 1, 16000, 0, err, sizeof err),
                   TERN_EINVAL);
  assert_int_equal(tern_wav_write_file("/nonexistent-dir/x.wav", s, 1, 16000, 1, err, sizeof err),
                   TERN_ENOENT);
  uint8_t hdr[TERN_WAV_HEADER_BYTES];
  assert_int_equal(tern_wav_header(hdr, (uint64_t)1 << 31, 16000, 1), TERN_ETOOBIG);
}

static void test_stereo_downmix(void **state) {
  (void)state;
  int16_t st[] = {1000, 3000, -3, 0, 32767, 32767, -32768, -32768, 100, -100};
  uint8_t *mem;
  size_t len;
  assert_int_equal(tern_wav_write_mem(st, 5, 16000, 2, &mem, &len), 0);
  tern_wav_opts_t o = {.downmix = 1};
  tern_wav_t w;
  assert_int_equal(tern_wav_read_mem(mem, len, &o, &w, NULL, 0), 0);
  assert_int_equal(w.channels, 1);
  assert_int_equal(w.info.channels, 2);
  assert_int_equal(w.frames, 5);
  const int16_t want[] = {2000, -2, 32767, -32768, 0}; /* -1.5 rounds away from zero */
  assert_memory_equal(w.samples, want, sizeof want);
  tern_wav_free(&w);
  tern_free(mem);
}

static void test_extensible_pcm_and_float(void **state) {
  (void)state;
  wb_t w;
  riff(&w);
  fmt_ext(&w, 1, 2, 44100, 16, 1);
  uint8_t d[8] = {0x10, 0x00, 0xF0, 0xFF, 0xFF, 0x7F, 0x00, 0x80}; /* 16, -16, 32767, -32768 */
  chunk(&w, "data", 8, d, 8);
  done(&w);
  tern_wav_t out;
  char err[256];
  assert_int_equal(tern_wav_read_mem(w.b, w.n, NULL, &out, err, sizeof err), 0);
  assert_true(out.info.extensible);
  assert_int_equal(out.info.format, TERN_WAV_PCM);
  assert_int_equal(out.channels, 2);
  const int16_t want[] = {16, -16, 32767, -32768};
  assert_memory_equal(out.samples, want, sizeof want);
  tern_wav_free(&out);

  riff(&w);
  fmt_ext(&w, 3, 1, 16000, 32, 1);
  float f[] = {0.5f, -1.0f, 2.0f, NAN, -0.25f};
  chunk(&w, "data", sizeof f, f, sizeof f); /* host is little-endian here */
  done(&w);
  assert_int_equal(tern_wav_read_mem(w.b, w.n, NULL, &out, err, sizeof err), 0);
  assert_int_equal(out.info.format, TERN_WAV_FLOAT);
  const int16_t wf[] = {16384, -32768, 32767, 0, -8192};
  assert_memory_equal(out.samples, wf, sizeof wf);
  tern_wav_free(&out);
}

static void read_one_format(unsigned tag, unsigned bits, const void *d, size_t n,
                            const int16_t *want, size_t nwant) {
  wb_t w;
  riff(&w);
  fmt(&w, tag, 1, 8000, bits);
  chunk(&w, "data", (uint32_t)n, d, n);
  if (n & 1)
    put(&w, "", 1);
  done(&w);
  tern_wav_t out;
  char err[256];
  int rc = tern_wav_read_mem(w.b, w.n, NULL, &out, err, sizeof err);
  if (rc)
    fail_msg("tag %u bits %u: %s", tag, bits, err);
  assert_int_equal(out.frames, nwant);
  for (size_t i = 0; i < nwant; i++)
    if (out.samples[i] != want[i])
      fail_msg("tag %u bits %u sample %zu: %d, want %d", tag, bits, i, out.samples[i], want[i]);
  tern_wav_free(&out);
}

static void test_other_encodings(void **state) {
  (void)state;
  const uint8_t u8[] = {0x80, 0xFF, 0x00};
  read_one_format(1, 8, u8, 3, (const int16_t[]){0, 32512, -32768}, 3);
  const uint8_t s24[] = {0x00, 0x00, 0x80, 0xFF, 0xFF, 0x7F, 0x00, 0x01, 0x00, 0xFF, 0xFF, 0xFF};
  read_one_format(1, 24, s24, 12, (const int16_t[]){-32768, 32767, 1, -1}, 4);
  const uint8_t s32[] = {0xFF, 0xFF, 0x00, 0x40, 0x00, 0x00, 0x00, 0x80};
  read_one_format(1, 32, s32, 8, (const int16_t[]){16384, -32768}, 2);
  const double f64[] = {0.25, -0.5};
  read_one_format(3, 64, f64, sizeof f64, (const int16_t[]){8192, -16384}, 2);
  const uint8_t mu[] = {0xFF, 0x00, 0x80, 0x7F};
  read_one_format(7, 8, mu, 4, (const int16_t[]){0, -32124, 32124, 0}, 4);
  const uint8_t al[] = {0xD5, 0x55, 0xAA, 0x2A};
  read_one_format(6, 8, al, 4, (const int16_t[]){8, -8, 32256, -32256}, 4);
}

static void test_chunks_before_fmt_and_odd_pad(void **state) {
  (void)state;
  wb_t w;
  riff(&w);
  chunk(&w, "LIST", 3, "abc", 3);
  put(&w, "", 1); /* pad byte of the odd-sized chunk */
  fmt(&w, 1, 1, 16000, 16);
  chunk(&w, "fact", 4, "\x0a\0\0\0", 4);
  chunk(&w, "data", 20, NULL, 0);
  for (int i = 0; i < 10; i++)
    u16(&w, (uint16_t)ten[i]);
  chunk(&w, "LIST", 4000, NULL, 0); /* junk after the audio is never read */
  done(&w);
  tern_wav_t out;
  char err[256];
  assert_int_equal(tern_wav_read_mem(w.b, w.n, NULL, &out, err, sizeof err), 0);
  assert_ten(&out);
  tern_wav_free(&out);

  /* data before fmt is legal too */
  riff(&w);
  chunk(&w, "data", 20, NULL, 0);
  for (int i = 0; i < 10; i++)
    u16(&w, (uint16_t)ten[i]);
  fmt(&w, 1, 1, 16000, 16);
  done(&w);
  assert_int_equal(tern_wav_read_mem(w.b, w.n, NULL, &out, err, sizeof err), 0);
  assert_ten(&out);
  tern_wav_free(&out);
}

static void test_streaming_size_reads_to_end(void **state) {
  (void)state;
  wb_t w;
  valid(&w);
  memset(w.b + 4, 0xFF, 4);  /* RIFF size unknown */
  memset(w.b + 40, 0xFF, 4); /* data size unknown */
  put(&w, "\x05", 1);        /* a stream cut inside a sample */
  tern_wav_t out;
  char err[256];
  assert_int_equal(tern_wav_read_mem(w.b, w.n, NULL, &out, err, sizeof err), 0);
  assert_true(out.info.streaming);
  assert_ten(&out);
  tern_wav_free(&out);
}

/* ---- broken inputs ---- */
typedef void (*mk_fn)(wb_t *w);

static void mk_empty(wb_t *w) { w->n = 0; }
static void mk_id3(wb_t *w) {
  w->n = 0;
  put(w, "ID3\x03\0\0\0\0\0\x21", 10);
}
static void mk_avi(wb_t *w) {
  valid(w);
  memcpy(w->b + 8, "AVI ", 4);
}
static void mk_short_header(wb_t *w) {
  valid(w);
  w->n = 10;
}
static void mk_rifx(wb_t *w) {
  valid(w);
  memcpy(w->b, "RIFX", 4);
}
static void mk_rf64(wb_t *w) {
  valid(w);
  memcpy(w->b, "RF64", 4);
}
static void mk_no_fmt(wb_t *w) {
  riff(w);
  chunk(w, "data", 4, "\0\0\0\0", 4);
  done(w);
}
static void mk_no_data(wb_t *w) {
  riff(w);
  fmt(w, 1, 1, 16000, 16);
  chunk(w, "LIST", 2, "ab", 2);
  done(w);
}
static void mk_fmt_small(wb_t *w) {
  riff(w);
  chunk(w, "fmt ", 14, "\x01\0\x01\0\x80\x3e\0\0\0\x7d\0\0\x02\0", 14);
  chunk(w, "data", 0, NULL, 0);
  done(w);
}
static void mk_chunk_too_big(wb_t *w) {
  riff(w);
  fmt(w, 1, 1, 16000, 16);
  chunk(w, "LIST", 1000, "abcd", 4);
  done(w);
}
static void mk_data_too_big(wb_t *w) {
  valid(w);
  w->b[40] = 200; /* 200 bytes declared, 20 present */
}
static void mk_data_odd(wb_t *w) {
  valid(w);
  w->b[40] = 19;
  w->n = 63;
}
static void mk_header_cut(wb_t *w) {
  riff(w);
  fmt(w, 1, 1, 16000, 16);
  put(w, "da", 2);
  done(w);
}
static void mk_zero_channels(wb_t *w) {
  valid(w);
  w->b[22] = 0;
}
static void mk_rate_low(wb_t *w) {
  riff(w);
  fmt(w, 1, 1, 4000, 16);
  chunk(w, "data", 0, NULL, 0);
  done(w);
}
static void mk_rate_zero(wb_t *w) {
  riff(w);
  fmt(w, 1, 1, 0, 16);
  chunk(w, "data", 0, NULL, 0);
  done(w);
}
static void mk_rate_high(wb_t *w) {
  riff(w);
  fmt(w, 1, 1, 384000, 16);
  chunk(w, "data", 0, NULL, 0);
  done(w);
}
static void mk_mp3(wb_t *w) {
  riff(w);
  fmt(w, 0x55, 1, 16000, 16);
  chunk(w, "data", 0, NULL, 0);
  done(w);
}
static void mk_pcm12(wb_t *w) {
  riff(w);
  fmt(w, 1, 1, 16000, 12);
  chunk(w, "data", 0, NULL, 0);
  done(w);
}
static void mk_bad_align(wb_t *w) {
  valid(w);
  w->b[32] = 4;
}
static void mk_ext_guid(wb_t *w) {
  riff(w);
  fmt_ext(w, 1, 1, 16000, 16, 0);
  chunk(w, "data", 0, NULL, 0);
  done(w);
}
static void mk_ext_short(wb_t *w) {
  valid(w);
  w->b[20] = 0xFE;
  w->b[21] = 0xFF;
}
static void mk_stream_before_fmt(wb_t *w) {
  riff(w);
  chunk(w, "data", 0xFFFFFFFF, "\0\0", 2);
  done(w);
}

static const struct {
  const char *name;
  mk_fn mk;
  int code;
  const char *phrase;
} broken[] = {
    {"empty", mk_empty, TERN_EFORMAT, "empty"},
    {"mp3 file", mk_id3, TERN_EFORMAT,
     "not a RIFF file: byte 0 starts with 'ID3\\x03' (it looks like an MP3"},
    {"not WAVE", mk_avi, TERN_EFORMAT, "RIFF form type at byte 8 is 'AVI ', not 'WAVE'"},
    {"short header", mk_short_header, TERN_ETRUNCATED, "ends at byte 10, inside the 12-byte"},
    {"big-endian", mk_rifx, TERN_EUNSUPPORTED, "RIFX"},
    {"rf64", mk_rf64, TERN_EUNSUPPORTED, "RF64"},
    {"missing fmt", mk_no_fmt, TERN_EFORMAT, "no fmt chunk"},
    {"missing data", mk_no_data, TERN_EFORMAT, "no data chunk"},
    {"fmt too small", mk_fmt_small, TERN_EFORMAT, "fmt chunk at byte 12 is 14 bytes long"},
    {"chunk past end", mk_chunk_too_big, TERN_ETRUNCATED,
     "chunk 'LIST' at byte 36 declares 1000 bytes but only 4 remain"},
    {"data past end", mk_data_too_big, TERN_ETRUNCATED,
     "data chunk at byte 36 declares 200 bytes but only 20 remain"},
    {"partial frame", mk_data_odd, TERN_ETRUNCATED,
     "data chunk at byte 36 holds 19 bytes, not a whole number of 2-byte sample frames"},
    {"cut chunk header", mk_header_cut, TERN_ETRUNCATED,
     "inside the chunk header that starts at byte 36"},
    {"zero channels", mk_zero_channels, TERN_EFORMAT, "0 channels (byte 22)"},
    {"rate 4000", mk_rate_low, TERN_EUNSUPPORTED,
     "sample rate 4000 Hz (byte 24) is outside the 8000..192000"},
    {"rate 0", mk_rate_zero, TERN_EUNSUPPORTED, "sample rate 0 Hz"},
    {"rate 384k", mk_rate_high, TERN_EUNSUPPORTED, "sample rate 384000 Hz"},
    {"mp3 codec", mk_mp3, TERN_EUNSUPPORTED,
     "format 0x0055 (MP3) at byte 20 is not supported; tern reads PCM WAV"},
    {"12-bit", mk_pcm12, TERN_EUNSUPPORTED, "12-bit PCM"},
    {"block align", mk_bad_align, TERN_EFORMAT, "block align 4 (byte 32)"},
    {"extensible guid", mk_ext_guid, TERN_EUNSUPPORTED, "subformat GUID at byte 44"},
    {"extensible short", mk_ext_short, TERN_EFORMAT,
     "WAVE_FORMAT_EXTENSIBLE fmt chunk at byte 12 is 16 bytes"},
    {"stream before fmt", mk_stream_before_fmt, TERN_EFORMAT, "before the fmt chunk"},
};

static void test_broken_inputs(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
    wb_t w;
    memset(&w, 0, sizeof w);
    broken[i].mk(&w);
    tern_wav_t out;
    char err[256] = "";
    int rc = tern_wav_read_mem(w.b, w.n, NULL, &out, err, sizeof err);
    if (rc != broken[i].code)
      fail_msg("%s: got %s (%s), want %s", broken[i].name, tern_err_name(rc), err,
               tern_err_name(broken[i].code));
    if (!strstr(err, broken[i].phrase))
      fail_msg("%s: message '%s' lacks '%s'", broken[i].name, err, broken[i].phrase);
    assert_null(out.samples);
    /* every prefix of a broken or valid file fails cleanly too */
    for (size_t k = 0; k < w.n; k++) {
      rc = tern_wav_read_mem(w.b, k, NULL, &out, err, sizeof err);
      if (rc == 0)
        tern_wav_free(&out);
    }
  }
}

static void test_too_big_and_tiny_err_buffer(void **state) {
  (void)state;
  wb_t w;
  valid(&w);
  tern_wav_opts_t o = {.max_bytes = 16};
  tern_wav_t out;
  char err[256];
  assert_int_equal(tern_wav_read_mem(w.b, w.n, &o, &out, err, sizeof err), TERN_ETOOBIG);
  assert_non_null(strstr(err, "the limit is 16"));
  o.max_bytes = 20;
  assert_int_equal(tern_wav_read_mem(w.b, w.n, &o, &out, err, sizeof err), 0);
  tern_wav_free(&out);

  /* the file reader refuses before reading when the file itself is too big */
  const char *path = tu_tmp_path("big.wav");
  static uint8_t big[(1 << 20) + 100];
  memcpy(big, w.b, w.n);
  assert_int_equal(tu_write_file(path, big, sizeof big), 0);
  o.max_bytes = 16;
  assert_int_equal(tern_wav_read_file(path, &o, &out, err, sizeof err), TERN_ETOOBIG);
  assert_non_null(strstr(err, "file is 1048676 bytes"));

  /* a 1-byte message buffer is still NUL-terminated; NULL is fine too */
  char one[1] = {'x'};
  mk_avi(&w);
  assert_int_equal(tern_wav_read_mem(w.b, w.n, NULL, &out, one, 1), TERN_EFORMAT);
  assert_int_equal(one[0], 0);
  assert_int_equal(tern_wav_read_mem(w.b, w.n, NULL, &out, NULL, 0), TERN_EFORMAT);
}

static void test_file_errors(void **state) {
  (void)state;
  tern_wav_t out;
  char err[256];
  assert_int_equal(tern_wav_read_file(tu_tmp_path("absent.wav"), NULL, &out, err, sizeof err),
                   TERN_ENOENT);
  assert_string_equal(err, "no such file");
  assert_int_equal(tern_wav_read_file(tu_tmpdir(), NULL, &out, err, sizeof err), TERN_EIO);
  assert_non_null(strstr(err, "directory"));
  const char *path = tu_tmp_path("text.wav");
  assert_int_equal(tu_write_file(path, "hello world\n", 12), 0);
  assert_int_equal(tern_wav_read_file(path, NULL, &out, err, sizeof err), TERN_EFORMAT);
  assert_non_null(strstr(err, "not a RIFF file: byte 0 starts with 'hell'"));
}

static void test_shipped_sample(void **state) {
  (void)state;
  tern_wav_t w;
  char err[256];
  int rc = tern_wav_read_file(tu_src_path("examples/audio/sample.wav"), NULL, &w, err, sizeof err);
  if (rc)
    fail_msg("sample.wav: %s", err);
  assert_int_equal(w.sample_rate, 16000);
  assert_int_equal(w.channels, 1);
  assert_true(w.frames > 16000 && w.frames < 16000 * 10);
  tern_wav_free(&w);
}

/* Every file of the fuzz corpus (seeds and past findings) replays here: the
 * valid seeds decode, everything else is refused with a message. */
static void test_replays_fuzz_corpus(void **state) {
  (void)state;
  const char *dir = tu_src_path("fuzz/corpus/wav");
  char dirpath[4096];
  snprintf(dirpath, sizeof dirpath, "%s", dir);
  DIR *d = opendir(dirpath);
  assert_non_null(d);
  int files = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dirpath, e->d_name);
    tern_wav_t w;
    char err[256] = "";
    int rc = tern_wav_read_file(path, NULL, &w, err, sizeof err);
    int valid = !strncmp(e->d_name, "pcm", 3) || !strncmp(e->d_name, "u8", 2) ||
                !strncmp(e->d_name, "float", 5) || !strncmp(e->d_name, "mulaw", 5) ||
                !strncmp(e->d_name, "list", 4) || !strncmp(e->d_name, "streaming", 9);
    if (valid && rc)
      fail_msg("%s: %s", e->d_name, err);
    if (!rc && !strncmp(e->d_name, "bad", 3))
      fail_msg("%s: accepted", e->d_name);
    if (rc && !err[0])
      fail_msg("%s: refused without a message", e->d_name);
    tern_wav_free(&w);
    files++;
  }
  closedir(d);
  assert_true(files >= 10);
}

/* ---- allocation sweeps ---- */
static int sweep_mem(void *ctx) {
  (void)ctx;
  int16_t st[64];
  for (int i = 0; i < 64; i++)
    st[i] = (int16_t)(i * 300);
  uint8_t *mem;
  size_t len;
  int rc = tern_wav_write_mem(st, 32, 16000, 2, &mem, &len);
  if (rc)
    return rc;
  tern_wav_t w;
  tern_wav_opts_t o = {.downmix = 1};
  rc = tern_wav_read_mem(mem, len, &o, &w, NULL, 0);
  tern_free(mem);
  if (rc)
    return rc;
  rc = w.frames == 32 ? 0 : TERN_EFORMAT;
  tern_wav_free(&w);
  return rc;
}

static int sweep_file(void *ctx) {
  (void)ctx;
  tern_wav_t w;
  char err[256];
  int rc = tern_wav_read_file(tu_src_path("examples/audio/sample.wav"), NULL, &w, err, sizeof err);
  if (rc)
    return rc;
  tern_wav_free(&w);
  return 0;
}

static void test_alloc_sweep(void **state) {
  (void)state;
  assert_true(tu_alloc_sweep(sweep_mem, NULL) >= 2);
  assert_true(tu_alloc_sweep(sweep_file, NULL) >= 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reads_valid_pcm16),
      cmocka_unit_test(test_round_trip_file_and_memory),
      cmocka_unit_test(test_write_refuses_bad_args),
      cmocka_unit_test(test_stereo_downmix),
      cmocka_unit_test(test_extensible_pcm_and_float),
      cmocka_unit_test(test_other_encodings),
      cmocka_unit_test(test_chunks_before_fmt_and_odd_pad),
      cmocka_unit_test(test_streaming_size_reads_to_end),
      cmocka_unit_test(test_broken_inputs),
      cmocka_unit_test(test_too_big_and_tiny_err_buffer),
      cmocka_unit_test(test_file_errors),
      cmocka_unit_test(test_shipped_sample),
      cmocka_unit_test(test_replays_fuzz_corpus),
      cmocka_unit_test(test_alloc_sweep),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
