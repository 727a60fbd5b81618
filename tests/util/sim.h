/* A deterministic conversation simulator for session tests.
 *
 * Virtual time; a caller whose "speech" is a loud tone at scripted times
 * (the energy VAD hears it as speech); fake STT, LLM and TTS providers,
 * two links each (primary, backup), scripted per call; a 20 ms playback
 * tick that pushes caller audio and pulls agent audio, recording when the
 * agent was audible. Every event is kept as parsed JSON.
 */
#ifndef TERN_TEST_SIM_H
#define TERN_TEST_SIM_H

#include <jansson.h>

#include "tern/fake.h"
#include "tern/loop.h"
#include "tern/session.h"

#define SIM_MAX_SPEECH 16

typedef struct sim {
  tern_fake_clock_t clock;
  tern_loop_t *loop;
  tern_events_t *ev;
  json_t *events;
  tern_provider_t *stt[2], *llm[2], *tts[2];
  tern_guard_t *guards[6];
  tern_fallback_t *fstt, *fllm, *ftts;
  tern_tools_t *tools;
  tern_clips_t *clips;
  tern_session_t *s;
  tern_session_config_t cfg;
  tern_loop_timer_t *tick;
  /* the caller: speech intervals in ms */
  long speech[SIM_MAX_SPEECH][2];
  int nspeech;
  long now_ms; /* caller stream position */
  /* agent audio: ms at which it was audible, per 20 ms tick */
  unsigned char *audible; /* one byte per tick */
  size_t naudible, capaudible;
} sim_t;

/* Build a simulator; `links` is 1 or 2 providers per component. The session
 * is created but not started (tests may adjust s->cfg first via the
 * config pointer passed to sim_session). */
sim_t *sim_new(int links);
/* Create and start the session (after scripting providers). */
void sim_session(sim_t *x, const tern_session_config_t *cfg);
void sim_free(sim_t *x);

/* The caller speaks from..to (ms of stream time). */
void sim_speak(sim_t *x, long from_ms, long to_ms);
/* Run the conversation until stream time `ms`. */
void sim_run_until(sim_t *x, long ms);

/* Events */
int sim_count(sim_t *x, const char *type);
/* The n-th (0-based) event of a type, or NULL. */
json_t *sim_event(sim_t *x, const char *type, int n);
const char *sim_str(json_t *ev, const char *key);
/* Stream time (ms) of the first agent audio at or after from_ms, or -1. */
long sim_first_audio_after(sim_t *x, long from_ms);
/* Whether the agent was audible at any tick in [from, to). */
int sim_audible_between(sim_t *x, long from_ms, long to_ms);
void sim_dump(sim_t *x); /* print every event (debugging a failure) */

#endif
