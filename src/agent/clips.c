/* Pre-rendered phrase clips: a small id -> PCM table, loaded once and
 * shared read-only by every session of a process (the audio used when no
 * voice is working, and for instant holding phrases). */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/resample.h"
#include "tern/session.h"
#include "tern/wav.h"

typedef struct clip {
  char *id;
  int16_t *pcm;
  size_t n;
} clip_t;

struct tern_clips {
  int rate;
  clip_t *v;
  size_t n, cap;
};

int tern_clips_create(int sample_rate, tern_clips_t **out) {
  if (sample_rate < 8000 || sample_rate > 48000)
    return TERN_EINVAL;
  tern_clips_t *c = tern_calloc(1, sizeof *c);
  if (!c)
    return TERN_ENOMEM;
  c->rate = sample_rate;
  *out = c;
  return 0;
}

void tern_clips_destroy(tern_clips_t *c) {
  if (!c)
    return;
  for (size_t i = 0; i < c->n; i++) {
    tern_free(c->v[i].id);
    tern_free(c->v[i].pcm);
  }
  tern_free(c->v);
  tern_free(c);
}

int tern_clips_add(tern_clips_t *c, const char *id, const int16_t *pcm, size_t n) {
  if (!id || !pcm || n == 0)
    return TERN_EINVAL;
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 16;
    clip_t *v = tern_realloc(c->v, cap * sizeof *v);
    if (!v)
      return TERN_ENOMEM;
    c->v = v;
    c->cap = cap;
  }
  clip_t k = {tern_strdup(id), tern_malloc(n * sizeof *pcm), n};
  if (!k.id || !k.pcm) {
    tern_free(k.id);
    tern_free(k.pcm);
    return TERN_ENOMEM;
  }
  memcpy(k.pcm, pcm, n * sizeof *pcm);
  c->v[c->n++] = k;
  return 0;
}

const int16_t *tern_clips_get(const tern_clips_t *c, const char *id, size_t *n) {
  if (!c || !id)
    return NULL;
  for (size_t i = 0; i < c->n; i++)
    if (!strcmp(c->v[i].id, id)) {
      *n = c->v[i].n;
      return c->v[i].pcm;
    }
  return NULL;
}

size_t tern_clips_count(const tern_clips_t *c) { return c ? c->n : 0; }

int tern_clips_load_dir(const char *dir, int sample_rate, tern_clips_t **out, char *err,
                        size_t errsz) {
  tern_clips_t *c;
  int rc = tern_clips_create(sample_rate, &c);
  if (rc)
    return rc;
  DIR *d = opendir(dir);
  if (!d) {
    snprintf(err, errsz, "clips: cannot open folder %s", dir);
    tern_clips_destroy(c);
    return TERN_ENOENT;
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (len < 5 || strcmp(e->d_name + len - 4, ".wav"))
      continue;
    char path[4096], id[256], werr[256];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    snprintf(id, sizeof id, "%.*s", (int)(len - 4), e->d_name);
    tern_wav_opts_t o = {.downmix = 1, .max_bytes = 16u << 20};
    tern_wav_t w;
    if ((rc = tern_wav_read_file(path, &o, &w, werr, sizeof werr))) {
      snprintf(err, errsz, "clips: %s: %s", path, werr);
      break;
    }
    int16_t *pcm = w.samples;
    size_t n = w.frames;
    int16_t *rs = NULL;
    if (w.sample_rate != (uint32_t)sample_rate && n > 0) {
      if ((rc = tern_resample_buffer(pcm, n, w.sample_rate, (uint32_t)sample_rate, -1, &rs, &n))) {
        snprintf(err, errsz, "clips: %s: cannot resample: %s", path, tern_strerror(rc));
        tern_wav_free(&w);
        break;
      }
      pcm = rs;
    }
    rc = n ? tern_clips_add(c, id, pcm, n) : 0;
    tern_free(rs);
    tern_wav_free(&w);
    if (rc) {
      snprintf(err, errsz, "clips: %s: %s", path, tern_strerror(rc));
      break;
    }
  }
  closedir(d);
  if (rc) {
    tern_clips_destroy(c);
    return rc;
  }
  *out = c;
  return 0;
}
