#include "sim.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tern/alloc.h"
#include "tern/error.h"

#define RATE 16000
#define TICK_SAMPLES (RATE / 50)

static void on_event(void *ud, const char *type, const char *line, size_t len,
                     const tern_log_field_t *fields, size_t nfields) {
  (void)type, (void)fields, (void)nfields;
  sim_t *x = ud;
  json_t *o = json_loadb(line, len, 0, NULL);
  assert_non_null(o);
  json_object_set_new(o, "t_ms", json_integer(x->now_ms));
  json_array_append_new(x->events, o);
}

static int speaking_at(sim_t *x, long ms) {
  for (int i = 0; i < x->nspeech; i++)
    if (ms >= x->speech[i][0] && ms < x->speech[i][1])
      return 1;
  return 0;
}

static void on_tick(tern_loop_timer_t *t, void *ud) {
  (void)t;
  sim_t *x = ud;
  int16_t in[TICK_SAMPLES], out[TICK_SAMPLES];
  int loud = speaking_at(x, x->now_ms);
  for (int i = 0; i < TICK_SAMPLES; i++) {
    /* speech: a 250 Hz square at -12 dBFS; silence: a faint hiss */
    long n = x->now_ms * (RATE / 1000) + i;
    in[i] = loud ? (int16_t)(((n / 32) % 2) ? 8000 : -8000) : (int16_t)((n * 7919) % 61 - 30);
  }
  if (x->s && !tern_session_closed(x->s))
    tern_session_push_audio(x->s, in, TICK_SAMPLES);
  size_t got = (x->s && !tern_session_closed(x->s)) ? tern_session_pull_audio(x->s, out, TICK_SAMPLES) : 0;
  if (x->naudible == x->capaudible) {
    x->capaudible = x->capaudible ? x->capaudible * 2 : 1024;
    x->audible = realloc(x->audible, x->capaudible);
  }
  x->audible[x->naudible++] = got > 0;
  x->now_ms += 20;
}

sim_t *sim_new(int links) {
  sim_t *x = calloc(1, sizeof *x);
  tern_fake_clock_init(&x->clock, 0);
  assert_int_equal(tern_loop_create_virtual(&x->clock, &x->loop), 0);
  assert_int_equal(tern_events_create("sim", &x->ev), 0);
  x->events = json_array();
  assert_int_equal(tern_events_listen(x->ev, on_event, x), 0);
  const char *names[2] = {"primary", "backup"};
  tern_component_t comps[3] = {TERN_COMP_STT, TERN_COMP_LLM, TERN_COMP_TTS};
  tern_provider_t **ps[3] = {x->stt, x->llm, x->tts};
  tern_fallback_t **fs[3] = {&x->fstt, &x->fllm, &x->ftts};
  for (int c = 0; c < 3; c++) {
    tern_fallback_link_t l[2];
    for (int i = 0; i < links; i++) {
      tern_guard_config_t gc;
      tern_guard_config_default(comps[c], &gc);
      gc.first_output_timeout = TERN_MS(400);
      gc.idle_timeout = TERN_MS(400);
      gc.retry.max_attempts = 1; /* fail over at once: the scenarios script faults per call */
      char nm[32];
      snprintf(nm, sizeof nm, "%s", names[i]);
      assert_int_equal(tern_fake_create(comps[c], nm, &ps[c][i]), 0);
      assert_int_equal(tern_guard_create(comps[c], nm, &gc, &x->guards[c * 2 + i]), 0);
      l[i] = (tern_fallback_link_t){ps[c][i], x->guards[c * 2 + i]};
    }
    tern_fallback_config_t fc;
    tern_fallback_config_default(&fc);
    fc.probes = false;
    assert_int_equal(tern_fallback_create(x->loop, comps[c], l, (size_t)links, &fc, x->ev, 3, fs[c]), 0);
  }
  tern_session_config_default(&x->cfg);
  x->cfg.greeting = NULL;
  return x;
}

void sim_session(sim_t *x, const tern_session_config_t *cfg) {
  if (cfg)
    x->cfg = *cfg;
  tern_session_deps_t d = {.loop = x->loop, .stt = x->fstt, .llm = x->fllm, .tts = x->ftts,
                           .tools = x->tools, .events = x->ev, .clips = x->clips};
  assert_int_equal(tern_session_create(&x->cfg, &d, &x->s), 0);
  assert_int_equal(tern_session_start(x->s), 0);
  assert_int_equal(tern_loop_timer_create(x->loop, on_tick, x, &x->tick), 0);
  tern_loop_timer_start(x->tick, TERN_MS(20), TERN_MS(20));
}

void sim_free(sim_t *x) {
  tern_loop_timer_destroy(x->tick);
  tern_session_destroy(x->s);
  tern_fallback_destroy(x->fstt);
  tern_fallback_destroy(x->fllm);
  tern_fallback_destroy(x->ftts);
  for (int i = 0; i < 2; i++) {
    tern_provider_destroy(x->stt[i]);
    tern_provider_destroy(x->llm[i]);
    tern_provider_destroy(x->tts[i]);
  }
  for (int i = 0; i < 6; i++)
    tern_guard_destroy(x->guards[i]);
  tern_tools_destroy(x->tools);
  tern_clips_destroy(x->clips);
  tern_events_destroy(x->ev);
  json_decref(x->events);
  tern_loop_destroy(x->loop);
  free(x->audible);
  free(x);
}

void sim_speak(sim_t *x, long from_ms, long to_ms) {
  assert_true(x->nspeech < SIM_MAX_SPEECH);
  x->speech[x->nspeech][0] = from_ms;
  x->speech[x->nspeech][1] = to_ms;
  x->nspeech++;
}

static bool reached(void *ud) {
  (void)ud;
  return false;
}

void sim_run_until(sim_t *x, long ms) {
  long left = ms - x->now_ms;
  if (left > 0)
    tern_loop_run_until(x->loop, reached, x, TERN_MS(left) - 1);
}

int sim_count(sim_t *x, const char *type) {
  int n = 0;
  size_t i;
  json_t *o;
  json_array_foreach(x->events, i, o) n += !strcmp(sim_str(o, "type"), type);
  return n;
}

json_t *sim_event(sim_t *x, const char *type, int n) {
  size_t i;
  json_t *o;
  json_array_foreach(x->events, i, o) {
    if (!strcmp(sim_str(o, "type"), type) && n-- == 0)
      return o;
  }
  return NULL;
}

const char *sim_str(json_t *ev, const char *key) {
  const char *s = ev ? json_string_value(json_object_get(ev, key)) : NULL;
  return s ? s : "";
}

long sim_first_audio_after(sim_t *x, long from_ms) {
  for (size_t i = (size_t)(from_ms / 20); i < x->naudible; i++)
    if (x->audible[i])
      return (long)i * 20;
  return -1;
}

int sim_audible_between(sim_t *x, long from_ms, long to_ms) {
  for (size_t i = (size_t)(from_ms / 20); i < x->naudible && (long)i * 20 < to_ms; i++)
    if (x->audible[i])
      return 1;
  return 0;
}

void sim_dump(sim_t *x) {
  size_t i;
  json_t *o;
  json_array_foreach(x->events, i, o) {
    char *s = json_dumps(o, JSON_COMPACT);
    fprintf(stderr, "  %s\n", s);
    tern_free(s);
  }
}
