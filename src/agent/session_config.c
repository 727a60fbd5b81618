/* [session] settings. */
#include <stdio.h>
#include "tern/error.h"
#include "tern/session.h"

#define DUR(key, field, lo, hi)                                                                    \
  do {                                                                                             \
    int64_t ms;                                                                                    \
    if ((rc = tern_config_get_duration_ms(conf, "session", key, (field) / 1000, lo, hi, &ms, err,  \
                                          errsz)))                                                 \
      return rc;                                                                                   \
    (field) = TERN_MS(ms);                                                                         \
  } while (0)

#define INT(key, field, lo, hi)                                                                    \
  do {                                                                                             \
    int64_t v;                                                                                     \
    if ((rc = tern_config_get_int(conf, "session", key, (int64_t)(field), lo, hi, &v, err, errsz))) \
      return rc;                                                                                   \
    (field) = v;                                                                                   \
  } while (0)

int tern_session_config_load(tern_session_config_t *cfg, const tern_config_t *conf, char *err,
                             size_t errsz) {
  int rc;
  int64_t rate = cfg->sample_rate;
  static const char *const rates[] = {"8000", "16000", "24000", "48000", NULL};
  int idx;
  char cur[16];
  snprintf(cur, sizeof cur, "%d", cfg->sample_rate);
  if ((rc = tern_config_get_enum(conf, "session", "sample_rate", rates, cur, &idx, err, errsz)))
    return rc;
  rate = idx == 0 ? 8000 : idx == 1 ? 16000 : idx == 2 ? 24000 : 48000;
  cfg->sample_rate = (int)rate;
  if ((rc = tern_config_get_str(conf, "session", "system_prompt", cfg->system_prompt,
                                &cfg->system_prompt, err, errsz)) ||
      (rc = tern_config_get_str(conf, "session", "greeting", cfg->greeting, &cfg->greeting, err,
                                errsz)))
    return rc;
  DUR("dead_air_ms", cfg->turn.dead_air_bound, 300, 10000);
  DUR("min_endpoint_ms", cfg->turn.min_endpoint, 0, 5000);
  DUR("max_endpoint_ms", cfg->turn.max_endpoint, 0, 10000);
  if (cfg->turn.max_endpoint < cfg->turn.min_endpoint)
    cfg->turn.max_endpoint = cfg->turn.min_endpoint;
  if ((rc = tern_config_get_bool(conf, "session", "allow_interruptions",
                                 cfg->turn.allow_interruptions, &cfg->turn.allow_interruptions,
                                 err, errsz)))
    return rc;
  DUR("min_interruption_ms", cfg->turn.min_interruption, 0, 5000);
  INT("min_interruption_words", cfg->turn.min_interruption_words, 0, 20);
  static const char *const vads[] = {"auto", "webrtc", "energy", NULL};
  if ((rc = tern_config_get_enum(conf, "session", "vad", vads, tern_vad_kind_name(cfg->vad_kind),
                                 &idx, err, errsz)))
    return rc;
  cfg->vad_kind = (tern_vad_kind_t)idx; /* same order as tern_vad_kind_t */
  INT("vad_min_speech_ms", cfg->vad.min_speech_ms, 20, 2000);
  INT("vad_min_silence_ms", cfg->vad.min_silence_ms, 60, 3000);
  INT("error_tolerance", cfg->error_tolerance, 1, 100);
  DUR("max_utterance_ms", cfg->max_utterance, 1000, 120000);
  INT("max_tool_rounds", cfg->max_tool_rounds, 0, 16);
  return 0;
}
