/* Whole conversations in virtual time with scripted providers: the
 * scenarios a caller lives through, asserted from the outside (events,
 * transcript, when the agent was audible). */
#include "testutil.h"

#include "sim.h"
#include "tern/error.h"

static tern_fake_step_t reply(const char *text) {
  tern_fake_step_t s = TERN_FAKE_OK;
  s.interval = TERN_MS(5);
  s.text = text;
  return s;
}

static tern_fake_step_t failing(tern_kind_t kind, int status, int after) {
  tern_fake_step_t s = TERN_FAKE_OK;
  s.kind = kind;
  s.status = status;
  s.fail_after = after;
  return s;
}

static void expect_transcript(sim_t *x, size_t i, const char *role, const char *text,
                              bool interrupted) {
  tern_transcript_line_t l;
  if (tern_session_transcript_at(x->s, i, &l)) {
    sim_dump(x);
    fail_msg("transcript line %zu missing", i);
  }
  assert_string_equal(l.role, role);
  if (text)
    assert_string_equal(l.text, text);
  assert_int_equal(l.interrupted, interrupted);
}

static void test_normal_turn(void **state) {
  (void)state;
  sim_t *x = sim_new(2);
  tern_fake_step_t st = reply("what is the weather");
  tern_fake_set_default(x->stt[0], &st);
  tern_fake_step_t ll = reply("It is sunny in London today.");
  tern_fake_set_default(x->llm[0], &ll);
  sim_session(x, NULL);
  sim_speak(x, 1000, 2000);
  sim_run_until(x, 8000);

  assert_int_equal(sim_count(x, "session_started"), 1);
  assert_int_equal(sim_count(x, "user_started_speaking"), 1);
  assert_int_equal(sim_count(x, "user_stopped_speaking"), 1);
  json_t *u = sim_event(x, "user_speech_committed", 0);
  assert_string_equal(sim_str(u, "text"), "what is the weather");
  assert_string_equal(sim_str(u, "provider"), "primary");
  json_t *a = sim_event(x, "agent_speech_committed", 0);
  assert_string_equal(sim_str(a, "text"), "It is sunny in London today.");
  assert_true(json_is_false(json_object_get(a, "interrupted")));
  assert_int_equal(sim_count(x, "error"), 0);
  assert_int_equal(sim_count(x, "fallback_spoken"), 0);
  /* The agent answered, starting within the dead-air bound of the end of
   * speech, and no holding phrase was needed. */
  long first = sim_first_audio_after(x, 2000);
  assert_true(first > 2000 && first <= 2000 + 1500);
  json_t *m = sim_event(x, "metrics", 0);
  assert_non_null(m);
  double e2e = json_real_value(json_object_get(m, "e2e_ms"));
  assert_true(e2e > 0 && e2e <= 1500);
  assert_true(json_real_value(json_object_get(m, "eou_ms")) >= 0);
  expect_transcript(x, 0, "user", "what is the weather", false);
  expect_transcript(x, 1, "agent", "It is sunny in London today.", false);
  assert_int_equal(tern_session_transcript_count(x->s), 2);
  /* The model saw the exchange. */
  tern_chat_t *chat = tern_session_chat(x->s);
  assert_int_equal(tern_chat_count(chat), 2);
  sim_free(x);
}

static const char *k_long =
    "Here is a long answer. It has several sentences in it. Each one takes a while to say. "
    "The caller will cut in before the end. Nobody wants to hear all of this anyway.";

static void test_barge_in_stops_the_agent_and_commits_what_was_heard(void **state) {
  (void)state;
  sim_t *x = sim_new(2);
  tern_fake_step_t st = reply("tell me everything");
  tern_fake_push(x->stt[0], &st);
  tern_fake_step_t st2 = reply("stop");
  tern_fake_push(x->stt[0], &st2);
  tern_fake_step_t ll = reply(k_long);
  tern_fake_push(x->llm[0], &ll);
  tern_fake_step_t ll2 = reply("Sure, I will stop.");
  tern_fake_push(x->llm[0], &ll2);
  sim_session(x, NULL);
  sim_speak(x, 1000, 2000);
  long answer = -1;
  sim_run_until(x, 3500);
  answer = sim_first_audio_after(x, 2000);
  assert_true(answer > 0);
  /* The caller cuts in 1.5 s into the answer, for a second. */
  long cut = answer + 1500;
  sim_speak(x, cut, cut + 1000);
  sim_run_until(x, cut + 6000);

  json_t *a = sim_event(x, "agent_speech_committed", 0);
  assert_non_null(a);
  assert_true(json_is_true(json_object_get(a, "interrupted")));
  const char *heard = sim_str(a, "text");
  assert_true(strlen(heard) > 0);
  assert_true(strlen(heard) < strlen(k_long));
  assert_memory_equal(heard, k_long, strlen(heard)); /* a prefix of the answer */
  /* Audio stopped as soon as the detector heard the caller (100 ms of
   * speech), then was dropped. */
  assert_false(sim_audible_between(x, cut + 140, cut + 1000));
  /* The new turn was answered. */
  json_t *u2 = sim_event(x, "user_speech_committed", 1);
  assert_string_equal(sim_str(u2, "text"), "stop");
  json_t *a2 = sim_event(x, "agent_speech_committed", 1);
  assert_string_equal(sim_str(a2, "text"), "Sure, I will stop.");
  expect_transcript(x, 1, "agent", heard, true);
  /* The model knows it was cut off. */
  tern_chat_t *chat = tern_session_chat(x->s);
  const tern_chat_msg_t *m = tern_chat_at(chat, 1);
  assert_true(m->interrupted);
  tern_session_stats_t ss;
  tern_session_stats(x->s, &ss);
  assert_int_equal(ss.interruptions, 1);
  sim_free(x);
}

static void test_false_interruption_resumes_the_answer(void **state) {
  (void)state;
  sim_t *x = sim_new(2);
  tern_fake_step_t st = reply("tell me everything");
  tern_fake_set_default(x->stt[0], &st);
  tern_fake_step_t ll = reply(k_long);
  tern_fake_set_default(x->llm[0], &ll);
  sim_session(x, NULL);
  sim_speak(x, 1000, 2000);
  sim_run_until(x, 3500);
  long answer = sim_first_audio_after(x, 2000);
  assert_true(answer > 0);
  sim_speak(x, answer + 1000, answer + 1140); /* a cough */
  sim_run_until(x, answer + 20000);
  assert_int_equal(sim_count(x, "agent_false_interruption"), 1);
  json_t *a = sim_event(x, "agent_speech_committed", 0);
  assert_true(json_is_false(json_object_get(a, "interrupted")));
  assert_string_equal(sim_str(a, "text"), k_long);
  /* It went quiet for the cough, then carried on. */
  assert_true(sim_audible_between(x, answer + 1600, answer + 2600));
  assert_int_equal(sim_count(x, "user_speech_committed"), 1);
  sim_free(x);
}

static void test_llm_stall_mid_sentence_is_finished_by_the_fallback(void **state) {
  (void)state;
  sim_t *x = sim_new(2);
  tern_fake_step_t st = reply("what is the weather");
  tern_fake_set_default(x->stt[0], &st);
  const char *full = "It is sunny and warm in London today.";
  tern_fake_step_t stall = reply(full);
  stall.stall_after = 3;
  tern_fake_push(x->llm[0], &stall);
  tern_fake_step_t ok = reply(full);
  tern_fake_set_default(x->llm[1], &ok);
  sim_session(x, NULL);
  sim_speak(x, 1000, 2000);
  sim_run_until(x, 9000);
  json_t *e = sim_event(x, "error", 0);
  assert_string_equal(sim_str(e, "kind"), "stalled");
  assert_string_equal(sim_str(e, "component"), "llm");
  json_t *sw = sim_event(x, "provider_switched", 0);
  assert_string_equal(sim_str(sw, "to"), "backup");
  tern_fake_stats_t fs;
  tern_fake_stats(x->llm[1], &fs);
  assert_string_equal(fs.last_continuation, "It is sunny");
  json_t *a = sim_event(x, "agent_speech_committed", 0);
  assert_string_equal(sim_str(a, "text"), full); /* once, whole, nothing repeated */
  /* The stall (400 ms watchdog) still fits inside the dead-air bound. */
  long first = sim_first_audio_after(x, 2000);
  assert_true(first > 0 && first <= 3500);
  sim_free(x);
}

static void test_tts_death_mid_utterance_speaks_only_the_rest(void **state) {
  (void)state;
  sim_t *x = sim_new(2);
  tern_fake_step_t st = reply("read me the news");
  tern_fake_set_default(x->stt[0], &st);
  const char *sentence = "one two three four five six seven eight nine ten";
  tern_fake_step_t ll = reply(sentence);
  tern_fake_set_default(x->llm[0], &ll);
  tern_fake_step_t die = TERN_FAKE_OK;
  die.fail_after = 60; /* 1.2 s of audio, about 16 of 40 letters */
  die.kind = TERN_KIND_CONNECTION;
  tern_fake_push(x->tts[0], &die);
  sim_session(x, NULL);
  sim_speak(x, 1000, 2000);
  sim_run_until(x, 12000);
  tern_fake_stats_t fs;
  tern_fake_stats(x->tts[1], &fs);
  size_t n = strlen(fs.last_input);
  assert_true(n > 0 && n < strlen(sentence));
  assert_string_equal(fs.last_input, sentence + strlen(sentence) - n); /* a suffix */
  assert_true(fs.last_input[0] != ' ');
  json_t *a = sim_event(x, "agent_speech_committed", 0);
  assert_string_equal(sim_str(a, "text"), sentence);
  assert_int_equal(sim_count(x, "fallback_spoken"), 0);
  sim_free(x);
}

static void add_clips(sim_t *x) {
  assert_int_equal(tern_clips_create(16000, &x->clips), 0);
  static int16_t tone[8000];
  for (size_t i = 0; i < 8000; i++)
    tone[i] = (int16_t)((i / 20) % 2 ? 4000 : -4000);
  size_t nph = tern_phrases_builtin_count();
  for (size_t i = 0; i < nph; i++) {
    tern_phrase_t ph;
    assert_int_equal(tern_phrases_builtin_at(i, &ph), 0);
    assert_int_equal(tern_clips_add(x->clips, ph.id, tone, 8000), 0);
  }
  assert_int_equal(tern_clips_add(x->clips, "fallback", tone, 8000), 0);
}

static void test_every_provider_down_still_answers_within_the_bound(void **state) {
  (void)state;
  sim_t *x = sim_new(2);
  add_clips(x);
  tern_fake_step_t st = reply("what is the weather");
  tern_fake_set_default(x->stt[0], &st);
  tern_fake_step_t e500 = failing(TERN_KIND_SERVER, 500, 0);
  for (int i = 0; i < 2; i++) {
    tern_fake_set_default(x->llm[i], &e500);
    tern_fake_set_default(x->tts[i], &e500);
  }
  sim_session(x, NULL);
  sim_speak(x, 1000, 2000);
  sim_speak(x, 6000, 7000);
  sim_run_until(x, 12000);
  /* Each turn got words back from a recorded clip, within the bound. */
  long first = sim_first_audio_after(x, 2000);
  assert_true(first > 2000 && first <= 3500);
  long second = sim_first_audio_after(x, 7000);
  assert_true(second > 7000 && second <= 8500);
  assert_true(sim_count(x, "fallback_spoken") >= 2);
  json_t *f = sim_event(x, "fallback_spoken", 0);
  assert_true(json_is_true(json_object_get(f, "clip")));
  assert_true(sim_count(x, "degradation_changed") >= 1);
  assert_int_equal(sim_count(x, "user_speech_committed"), 2);
  assert_false(tern_session_closed(x->s)); /* server errors are recoverable */
  tern_session_stats_t ss;
  tern_session_stats(x->s, &ss);
  assert_int_equal(ss.dead_air_violations, 0);
  sim_free(x);
}

static void test_context_too_long_is_truncated_and_retried(void **state) {
  (void)state;
  sim_t *x = sim_new(2);
  tern_fake_step_t st = reply("and one more thing");
  tern_fake_set_default(x->stt[0], &st);
  tern_fake_step_t big = failing(TERN_KIND_CONTEXT_LENGTH, 400, 0);
  tern_fake_push(x->llm[0], &big);
  tern_fake_step_t ok = reply("Here you go.");
  tern_fake_set_default(x->llm[0], &ok);
  tern_session_config_t cfg;
  tern_session_config_default(&cfg);
  cfg.keep_on_overflow = 3;
  sim_session(x, &cfg);
  tern_chat_t *chat = tern_session_chat(x->s);
  for (int i = 0; i < 10; i++) { /* a long history */
    tern_chat_add(chat, TERN_ROLE_USER, "earlier question");
    tern_chat_add(chat, TERN_ROLE_ASSISTANT, "earlier answer");
  }
  sim_speak(x, 1000, 2000);
  sim_run_until(x, 8000);
  json_t *a = sim_event(x, "agent_speech_committed", 0);
  assert_string_equal(sim_str(a, "text"), "Here you go.");
  tern_fake_stats_t fs;
  tern_fake_stats(x->llm[1], &fs);
  assert_int_equal(fs.calls, 0); /* not a provider problem: no failover */
  /* kept: the system prompt, 3 newest (incl. the new question), then the answer */
  assert_int_equal(tern_chat_count(chat), 4);
  assert_string_equal(tern_chat_at(chat, 2)->content, "and one more thing");
  assert_non_null(tern_chat_system(chat));
  sim_free(x);
}

static void test_repeated_unrecoverable_errors_end_with_a_goodbye(void **state) {
  (void)state;
  sim_t *x = sim_new(1);
  tern_fake_step_t st = reply("hello");
  tern_fake_set_default(x->stt[0], &st);
  tern_fake_step_t auth = failing(TERN_KIND_AUTH, 401, 0);
  tern_fake_set_default(x->llm[0], &auth);
  sim_session(x, NULL);
  for (int i = 0; i < 4; i++)
    sim_speak(x, 1000 + i * 6000, 2000 + i * 6000);
  sim_run_until(x, 30000);
  assert_int_equal(sim_count(x, "session_closed"), 1);
  json_t *c = sim_event(x, "session_closed", 0);
  assert_string_equal(sim_str(c, "reason"), "too_many_errors");
  assert_true(tern_session_closed(x->s));
  /* Three turns were answered with an apology, then the goodbye. */
  assert_int_equal(sim_count(x, "user_speech_committed"), 3);
  int goodbyes = 0;
  size_t n = tern_session_transcript_count(x->s);
  for (size_t i = 0; i < n; i++) {
    tern_transcript_line_t l;
    tern_session_transcript_at(x->s, i, &l);
    goodbyes += !strcmp(l.role, "agent") && i == n - 1;
  }
  assert_int_equal(goodbyes, 1);
  json_t *last_agent = NULL;
  for (int i = 0; sim_event(x, "agent_speech_committed", i); i++)
    last_agent = sim_event(x, "agent_speech_committed", i);
  assert_string_equal(sim_str(last_agent, "source"), "goodbye");
  sim_free(x);
}

static void test_slow_reply_gets_a_holding_phrase(void **state) {
  (void)state;
  sim_t *x = sim_new(1);
  add_clips(x);
  tern_fake_step_t st = reply("plan my trip");
  tern_fake_set_default(x->stt[0], &st);
  tern_fake_step_t slow = reply("Here is your plan.");
  slow.first_delay = TERN_MS(2500); /* under the 3 s first-token timeout, over the bound */
  tern_guard_config_t gc;
  (void)gc;
  tern_fake_set_default(x->llm[0], &slow);
  x->guards[2]->cfg.first_output_timeout = TERN_SEC(4);
  sim_session(x, NULL);
  sim_speak(x, 1000, 2000);
  sim_run_until(x, 10000);
  tern_session_stats_t ss;
  tern_session_stats(x->s, &ss);
  assert_int_equal(ss.holds, 1);
  assert_int_equal(ss.dead_air_violations, 0);
  /* The turn ended 500 ms after the speech (the endpoint); the holding
   * phrase starts at the bound after that, one 20 ms tick at most late. */
  long first = sim_first_audio_after(x, 2000);
  assert_true(first > 2500 + 1000 && first <= 2500 + 1500 + 20);
  json_t *a = sim_event(x, "agent_speech_committed", 0);
  assert_string_equal(sim_str(a, "source"), "holding");
  json_t *b = sim_event(x, "agent_speech_committed", 1);
  assert_string_equal(sim_str(b, "text"), "Here is your plan.");
  sim_free(x);
}

/* ---- a tool that never answers ---------------------------------------- */

/* Books a meeting into the call's state, then hangs: the state change must
 * not survive the timeout. */
static void hanging_booking(tern_tool_ctx_t *ctx, const json_t *args, void *ud) {
  int *runs = ud;
  (*runs)++;
  json_t *st = tern_tool_state(ctx);
  assert_non_null(st);
  json_t *m = json_array();
  json_array_append_new(m, json_deep_copy(args));
  json_object_set_new(st, "meetings", m);
  /* never tern_tool_complete */
}

static void test_tool_timeout_restores_the_session_state(void **state) {
  (void)state;
  sim_t *x = sim_new(1);
  int runs = 0;
  char err[128];
  assert_int_equal(tern_tools_create(&x->tools), 0);
  assert_int_equal(tern_tools_add(x->tools, "book_meeting", "Book a meeting.",
                                  "{\"type\":\"object\",\"properties\":{\"when\":{\"type\":"
                                  "\"string\"}},\"required\":[\"when\"]}",
                                  hanging_booking, &runs, TERN_SEC(2), err, sizeof err),
                   0);
  tern_fake_step_t st = reply("book a meeting at ten");
  tern_fake_set_default(x->stt[0], &st);
  tern_fake_step_t call = reply(NULL);
  call.tool = "book_meeting";
  call.tool_args = "{\"when\":\"10:00\"}";
  assert_int_equal(tern_fake_push(x->llm[0], &call), 0);
  tern_fake_step_t words = reply("Sorry, I could not book that meeting right now.");
  tern_fake_set_default(x->llm[0], &words);
  /* The state the call starts with: restoring must bring back exactly it. */
  sim_session(x, NULL);
  json_object_set_new(tern_session_userdata(x->s), "caller", json_string("Ada"));
  sim_speak(x, 1000, 2000);
  sim_run_until(x, 12000);

  assert_int_equal(runs, 1);
  json_t *started = sim_event(x, "function_call_started", 0);
  assert_non_null(started);
  assert_string_equal(sim_str(started, "name"), "book_meeting");
  assert_int_equal(sim_count(x, "function_calls_finished"), 1);
  json_t *fin = sim_event(x, "function_calls_finished", 0);
  assert_string_equal(sim_str(fin, "name"), "book_meeting");
  assert_true(json_is_false(json_object_get(fin, "ok")));
  tern_session_stats_t ss;
  tern_session_stats(x->s, &ss);
  assert_int_equal(ss.tool_calls, 1);
  assert_int_equal(ss.tool_failures, 1);

  /* The model was told the tool timed out, in the chat it answered from. */
  tern_chat_t *chat = tern_session_chat(x->s);
  const tern_chat_msg_t *res = NULL;
  for (size_t i = 0; i < tern_chat_count(chat); i++)
    if (tern_chat_at(chat, i)->role == TERN_ROLE_TOOL)
      res = tern_chat_at(chat, i);
  assert_non_null(res);
  assert_string_equal(res->name, "book_meeting");
  assert_non_null(strstr(res->content, "\"error\""));
  assert_non_null(strstr(res->content, "did not answer within 2 s"));
  tern_fake_stats_t fs;
  tern_fake_stats(x->llm[0], &fs);
  assert_int_equal(fs.calls, 2);

  /* The booking the hung handler made is gone; what was there stays. */
  json_t *ud = tern_session_userdata(x->s);
  assert_null(json_object_get(ud, "meetings"));
  assert_string_equal(json_string_value(json_object_get(ud, "caller")), "Ada");

  /* The caller heard an answer in words, and the transcript has the turn. */
  int found = 0;
  for (int i = 0; sim_event(x, "agent_speech_committed", i); i++) {
    json_t *a = sim_event(x, "agent_speech_committed", i);
    found += !strcmp(sim_str(a, "text"), "Sorry, I could not book that meeting right now.");
  }
  assert_int_equal(found, 1);
  assert_int_equal(ss.dead_air_violations, 0);
  size_t n = tern_session_transcript_count(x->s);
  assert_true(n >= 2);
  expect_transcript(x, 0, "user", "book a meeting at ten", false);
  expect_transcript(x, n - 1, "agent", "Sorry, I could not book that meeting right now.", false);
  for (size_t i = 1; i < n; i++) {
    tern_transcript_line_t l;
    assert_int_equal(tern_session_transcript_at(x->s, i, &l), 0);
    assert_string_equal(l.role, "agent"); /* a holding phrase may come first */
  }
  sim_free(x);
}

/* ---- which VAD the session runs ----------------------------------------- */

static void test_vad_choice(void **state) {
  (void)state;
  static const struct {
    const char *ini;  /* [session] settings */
    int rc;           /* tern_session_create */
    const char *name; /* the VAD named in session_started */
  } rows[] = {
      {"", 0, "webrtc"},
      {"vad = auto\n", 0, "webrtc"},
      {"vad = webrtc\n", 0, "webrtc"},
      {"vad = energy\n", 0, "energy"},
      {"vad = auto\nsample_rate = 24000\n", 0, "energy"}, /* WebRTC has no 24 kHz */
      {"vad = webrtc\nsample_rate = 24000\n", TERN_EUNSUPPORTED, NULL},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    char text[128], err[128];
    snprintf(text, sizeof text, "[session]\n%s", rows[i].ini);
    tern_config_t *conf = NULL;
    assert_int_equal(tern_config_new(&conf), 0);
    assert_int_equal(tern_config_load_string(conf, text, strlen(text), "t", err, sizeof err), 0);
    sim_t *x = sim_new(1);
    assert_int_equal(tern_session_config_load(&x->cfg, conf, err, sizeof err), 0);
    tern_session_deps_t d = {.loop = x->loop, .stt = x->fstt, .llm = x->fllm, .tts = x->ftts,
                             .events = x->ev};
    assert_int_equal(tern_session_create(&x->cfg, &d, &x->s), rows[i].rc);
    if (rows[i].name) {
      assert_int_equal(tern_session_start(x->s), 0);
      assert_string_equal(sim_str(sim_event(x, "session_started", 0), "vad"), rows[i].name);
    }
    sim_free(x);
    tern_config_free(conf);
  }
  tern_config_t *conf = NULL;
  char err[128];
  assert_int_equal(tern_config_new(&conf), 0);
  const char *bad = "[session]\nvad = silero\n";
  assert_int_equal(tern_config_load_string(conf, bad, strlen(bad), "t", err, sizeof err), 0);
  tern_session_config_t cfg;
  tern_session_config_default(&cfg);
  assert_int_not_equal(tern_session_config_load(&cfg, conf, err, sizeof err), 0);
  assert_non_null(strstr(err, "vad"));
  tern_config_free(conf);
}

/* The answer's text is ready but its voice is slow to start (a stall or a
 * failover in progress): that is dead air too, and gets a holding phrase
 * in front of the answer, never mixed into it. */
static void test_slow_voice_gets_a_holding_phrase_in_front(void **state) {
  (void)state;
  sim_t *x = sim_new(1);
  add_clips(x);
  tern_fake_step_t st = reply("what is the weather");
  tern_fake_set_default(x->stt[0], &st);
  tern_fake_step_t ll = reply("It is sunny.");
  tern_fake_set_default(x->llm[0], &ll);
  tern_fake_step_t slow = TERN_FAKE_OK;
  slow.first_delay = TERN_MS(2500);
  slow.interval = TERN_MS(1);
  tern_fake_set_default(x->tts[0], &slow);
  x->guards[4]->cfg.first_output_timeout = TERN_SEC(4);
  sim_session(x, NULL);
  sim_speak(x, 1000, 2000);
  sim_run_until(x, 10000);
  tern_session_stats_t ss;
  tern_session_stats(x->s, &ss);
  assert_int_equal(ss.holds, 1);
  assert_int_equal(ss.dead_air_violations, 0);
  long first = sim_first_audio_after(x, 2000);
  assert_true(first > 2500 + 1000 && first <= 2500 + 1500 + 20);
  json_t *a = sim_event(x, "agent_speech_committed", 0);
  assert_string_equal(sim_str(a, "source"), "holding");
  json_t *b = sim_event(x, "agent_speech_committed", 1);
  assert_string_equal(sim_str(b, "text"), "It is sunny.");
  assert_true(json_is_false(json_object_get(b, "interrupted")));
  sim_free(x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_normal_turn),
      cmocka_unit_test(test_barge_in_stops_the_agent_and_commits_what_was_heard),
      cmocka_unit_test(test_false_interruption_resumes_the_answer),
      cmocka_unit_test(test_llm_stall_mid_sentence_is_finished_by_the_fallback),
      cmocka_unit_test(test_tts_death_mid_utterance_speaks_only_the_rest),
      cmocka_unit_test(test_every_provider_down_still_answers_within_the_bound),
      cmocka_unit_test(test_context_too_long_is_truncated_and_retried),
      cmocka_unit_test(test_repeated_unrecoverable_errors_end_with_a_goodbye),
      cmocka_unit_test(test_slow_reply_gets_a_holding_phrase),
      cmocka_unit_test(test_slow_voice_gets_a_holding_phrase_in_front),
      cmocka_unit_test(test_tool_timeout_restores_the_session_state),
      cmocka_unit_test(test_vad_choice),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
