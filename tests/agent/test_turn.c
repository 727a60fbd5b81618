/* Turn-taking as step tables on a fake clock: each step feeds an event at a
 * time (ms) and expects a state and a set of actions. */
#include "testutil.h"

#include "tern/turn.h"

enum { START, STOP, PARTIAL, FINAL, AUDIO, DONE, REPLY, TICK, PENDING, IDLE, END };

typedef struct {
  int ev;
  long ms;
  const char *text;
  tern_turn_state_t state;
  unsigned actions; /* exactly these bits */
} step_t;

#define L TERN_TURN_LISTENING
#define US TERN_TURN_USER_SPEAKING
#define EOT TERN_TURN_END_OF_TURN
#define TH TERN_TURN_THINKING
#define SP TERN_TURN_SPEAKING
#define A_COMMIT TERN_TACT_COMMIT_TURN
#define A_PAUSE TERN_TACT_PAUSE_AGENT
#define A_RESUME TERN_TACT_RESUME_AGENT
#define A_INT TERN_TACT_INTERRUPT_AGENT
#define A_HOLD TERN_TACT_HOLD
#define A_UST TERN_TACT_USER_STARTED
#define A_USP TERN_TACT_USER_STOPPED
#define A_FALSE TERN_TACT_FALSE_INTERRUPTION

static void play(const char *name, const step_t *steps, const tern_turn_config_t *cfg) {
  tern_turn_t t;
  tern_turn_init(&t, cfg);
  for (int i = 0; steps[i].ev != END; i++) {
    const step_t *s = &steps[i];
    tern_usec_t now = TERN_MS(s->ms);
    unsigned a = 0;
    switch (s->ev) {
    case START: a = tern_turn_step(&t, TERN_TEV_USER_START, NULL, now); break;
    case STOP: a = tern_turn_step(&t, TERN_TEV_USER_STOP, NULL, now); break;
    case PARTIAL: a = tern_turn_step(&t, TERN_TEV_TRANSCRIPT, s->text, now); break;
    case FINAL: a = tern_turn_step(&t, TERN_TEV_FINAL, s->text, now); break;
    case AUDIO: a = tern_turn_step(&t, TERN_TEV_AGENT_AUDIO, NULL, now); break;
    case DONE: a = tern_turn_step(&t, TERN_TEV_AGENT_DONE, NULL, now); break;
    case REPLY: a = tern_turn_step(&t, TERN_TEV_AGENT_REPLY, NULL, now); break;
    case TICK: a = tern_turn_step(&t, TERN_TEV_TIMER, NULL, now); break;
    case PENDING: tern_turn_reply_pending(&t, true, now); break;
    case IDLE: tern_turn_reply_pending(&t, false, now); break;
    }
    if (t.state != s->state || a != s->actions)
      fail_msg("%s: step %d (t=%ld ms): state %s actions 0x%x, expected %s 0x%x", name, i, s->ms,
               tern_turn_state_name(t.state), a, tern_turn_state_name(s->state), s->actions);
  }
}

static void test_normal_turn(void **state) {
  (void)state;
  static const step_t s[] = {
      {START, 0, NULL, US, A_UST},
      {PARTIAL, 400, "what is the", US, 0},
      {STOP, 1200, NULL, EOT, A_USP},
      {FINAL, 1300, "what is the weather", EOT, 0},
      {TICK, 1699, NULL, EOT, 0},          /* not yet: 500 ms endpoint */
      {TICK, 1700, NULL, TH, A_COMMIT},    /* the turn ends; answer it */
      {PENDING, 1700, NULL, TH, 0},
      {AUDIO, 2300, NULL, SP, 0},
      {IDLE, 2900, NULL, SP, 0},
      {DONE, 4000, NULL, L, 0},
      {END, 0, NULL, L, 0}};
  play("normal", s, NULL);
}

static void test_pause_then_more_words_is_one_turn(void **state) {
  (void)state;
  static const step_t s[] = {
      {START, 0, NULL, US, A_UST},
      {STOP, 1000, NULL, EOT, A_USP},
      {START, 1300, NULL, US, A_UST}, /* resumed inside the endpoint wait */
      {TICK, 1500, NULL, US, 0},
      {STOP, 2000, NULL, EOT, A_USP},
      {FINAL, 2100, "book a meeting for tomorrow", EOT, 0},
      {TICK, 2500, NULL, TH, A_COMMIT},
      {END, 0, NULL, L, 0}};
  play("pause", s, NULL);
}

static void test_unfinished_thought_waits_longer(void **state) {
  (void)state;
  static const step_t s[] = {
      {START, 0, NULL, US, A_UST},
      {PARTIAL, 900, "i would like to book and", US, 0},
      {STOP, 1000, NULL, EOT, A_USP},
      {TICK, 1500, NULL, EOT, 0},   /* the min endpoint passed, but "and..." */
      {TICK, 3999, NULL, EOT, 0},
      {FINAL, 3999, "i would like to book and", EOT, 0},
      {TICK, 4000, NULL, TH, A_COMMIT}, /* max endpoint: 3 s */
      {END, 0, NULL, L, 0}};
  play("unfinished", s, NULL);
}

static void test_slow_transcript_commits_when_it_arrives(void **state) {
  (void)state;
  static const step_t s[] = {
      {START, 0, NULL, US, A_UST},
      {STOP, 1000, NULL, EOT, A_USP},
      {TICK, 1500, NULL, TH, 0},                 /* turn over, words not in yet */
      {FINAL, 1800, "hello there", TH, A_COMMIT}, /* now answer */
      {END, 0, NULL, L, 0}};
  play("slow-final", s, NULL);
}

static void test_dead_air_gets_holding_phrases(void **state) {
  (void)state;
  static const step_t s[] = {
      {START, 0, NULL, US, A_UST},
      {STOP, 1000, NULL, EOT, A_USP},
      {FINAL, 1100, "what time is it", EOT, 0},
      {TICK, 1500, NULL, TH, A_COMMIT},
      {PENDING, 1500, NULL, TH, 0},
      {TICK, 2999, NULL, TH, 0},
      {TICK, 3000, NULL, TH, A_HOLD}, /* 1.5 s of silence after the turn ended */
      {AUDIO, 3050, NULL, SP, 0},     /* the holding phrase plays */
      {DONE, 3800, NULL, TH, 0},      /* the reply is still pending: clock runs again */
      {TICK, 5300, NULL, TH, A_HOLD},
      {AUDIO, 5400, NULL, SP, 0},
      {DONE, 6000, NULL, TH, 0},
      {TICK, 7500, NULL, TH, A_HOLD},
      {TICK, 9000, NULL, TH, 0},      /* max_holds (3) reached: no fourth */
      {IDLE, 9100, NULL, L, 0},       /* nothing more will come */
      {END, 0, NULL, L, 0}};
  play("dead-air", s, NULL);
}

static void test_barge_in_interrupts_the_agent(void **state) {
  (void)state;
  static const step_t s[] = {
      {REPLY, 0, NULL, TH, 0}, /* a greeting with no user turn */
      {AUDIO, 100, NULL, SP, 0},
      {START, 1000, NULL, SP, A_UST | A_PAUSE}, /* hold the agent's audio at once */
      {TICK, 1499, NULL, SP, 0},
      {TICK, 1500, NULL, US, A_INT},            /* 500 ms of speech: a real turn */
      {STOP, 2500, NULL, EOT, A_USP},
      {FINAL, 2550, "stop please", EOT, 0},
      {TICK, 3000, NULL, TH, A_COMMIT},
      {END, 0, NULL, L, 0}};
  play("barge-in", s, NULL);
}

static void test_false_interruption_resumes(void **state) {
  (void)state;
  static const step_t s[] = {
      {REPLY, 0, NULL, TH, 0},
      {AUDIO, 100, NULL, SP, 0},
      {START, 1000, NULL, SP, A_UST | A_PAUSE},
      {STOP, 1200, NULL, SP, A_USP | A_RESUME | A_FALSE}, /* a cough */
      {TICK, 1600, NULL, SP, 0},
      {IDLE, 2000, NULL, SP, 0}, /* the whole greeting is queued */
      {DONE, 3000, NULL, L, 0},
      {END, 0, NULL, L, 0}};
  play("false", s, NULL);
}

static void test_min_words_gate(void **state) {
  (void)state;
  tern_turn_config_t cfg;
  tern_turn_config_default(&cfg);
  cfg.min_interruption_words = 2;
  static const step_t s[] = {
      {REPLY, 0, NULL, TH, 0},
      {AUDIO, 100, NULL, SP, 0},
      {START, 1000, NULL, SP, A_UST | A_PAUSE},
      {TICK, 1500, NULL, SP, 0},          /* long enough, but no words yet */
      {PARTIAL, 1600, "uh", SP, 0},
      {PARTIAL, 1700, "wait stop", US, A_INT},
      {END, 0, NULL, L, 0}};
  play("min-words", s, &cfg);
}

static void test_uninterruptible_speech_ignores_the_user(void **state) {
  (void)state;
  tern_turn_t t;
  tern_turn_init(&t, NULL);
  tern_turn_step(&t, TERN_TEV_AGENT_REPLY, NULL, 0);
  tern_turn_set_interruptible(&t, false);
  tern_turn_step(&t, TERN_TEV_AGENT_AUDIO, NULL, TERN_MS(10));
  unsigned a = tern_turn_step(&t, TERN_TEV_USER_START, NULL, TERN_MS(100));
  assert_int_equal(a, TERN_TACT_USER_STARTED);
  a = tern_turn_step(&t, TERN_TEV_TIMER, NULL, TERN_SEC(2));
  assert_int_equal(a, 0);
  assert_int_equal(t.state, TERN_TURN_SPEAKING);
  assert_int_equal(tern_turn_deadline(&t), -1);
  /* When the agent is done the user's speech becomes their turn. */
  tern_turn_set_interruptible(&t, true);
  tern_turn_step(&t, TERN_TEV_AGENT_DONE, NULL, TERN_SEC(3));
  assert_int_equal(t.state, TERN_TURN_USER_SPEAKING);
}

static void test_sounds_unfinished(void **state) {
  (void)state;
  assert_true(tern_turn_sounds_unfinished("i want to go and"));
  assert_true(tern_turn_sounds_unfinished("so um"));
  assert_false(tern_turn_sounds_unfinished("what is the weather"));
  assert_false(tern_turn_sounds_unfinished("and."));
  assert_false(tern_turn_sounds_unfinished(""));
  assert_false(tern_turn_sounds_unfinished("sandand"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_normal_turn),
      cmocka_unit_test(test_pause_then_more_words_is_one_turn),
      cmocka_unit_test(test_unfinished_thought_waits_longer),
      cmocka_unit_test(test_slow_transcript_commits_when_it_arrives),
      cmocka_unit_test(test_dead_air_gets_holding_phrases),
      cmocka_unit_test(test_barge_in_interrupts_the_agent),
      cmocka_unit_test(test_false_interruption_resumes),
      cmocka_unit_test(test_min_words_gate),
      cmocka_unit_test(test_uninterruptible_speech_ignores_the_user),
      cmocka_unit_test(test_sounds_unfinished),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
