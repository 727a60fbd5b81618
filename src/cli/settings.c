/* Every configuration key tern knows, for validation (typos are reported
 * with a suggestion), `tern doctor` and docs/tern.example.ini. */
#include "cli/cli.h"

#define GUARD_KEYS(sec)                                                                            \
  {sec, "first_byte_timeout_ms", TERN_CFG_DURATION, "3000 (stt 5000)", 50, 120000, NULL,          \
   "no first token/chunk/transcript within this: a timeout"},                                      \
      {sec, "idle_timeout_ms", TERN_CFG_DURATION, "2000", 50, 120000, NULL,                        \
       "a gap between chunks longer than this: a stall"},                                          \
      {sec, "attempt_timeout_ms", TERN_CFG_DURATION, "0 (none)", 0, 600000, NULL,                  \
       "limit on one attempt"},                                                                    \
      {sec, "deadline_ms", TERN_CFG_DURATION, "8000", 0, 600000, NULL,                             \
       "limit on all attempts of one call"},                                                       \
      {sec, "max_retries", TERN_CFG_INT, "2", 0, 10, NULL, "retries per provider per call"},       \
      {sec, "retry_base_ms", TERN_CFG_DURATION, "100", 0, 60000, NULL, "first backoff"},          \
      {sec, "retry_cap_ms", TERN_CFG_DURATION, "1000", 0, 600000, NULL, "longest backoff"},        \
      {sec, "retry_after_cap_ms", TERN_CFG_DURATION, "2000", 0, 600000, NULL,                      \
       "a longer Retry-After fails over instead of waiting"},                                      \
      {sec, "jitter", TERN_CFG_ENUM, "full", 0, 0, "none|full|equal|decorrelated", "backoff jitter"}, \
      {sec, "breaker_failures", TERN_CFG_INT, "3", 0, 1000, NULL,                                  \
       "consecutive failures that open the breaker (0: off)"},                                     \
      {sec, "breaker_window_ms", TERN_CFG_DURATION, "30000", 0, 3600000, NULL,                     \
       "failure-ratio window (0: off)"},                                                           \
      {sec, "breaker_min_calls", TERN_CFG_INT, "10", 1, 100000, NULL,                              \
       "calls in the window before the ratio counts"},                                             \
      {sec, "breaker_failure_ratio", TERN_CFG_DOUBLE, "0.5", 0, 1, NULL,                           \
       "failure ratio that opens the breaker"},                                                    \
      {sec, "breaker_open_ms", TERN_CFG_DURATION, "30000", 100, 3600000, NULL,                     \
       "how long an open breaker rejects calls"},                                                  \
      {sec, "breaker_probes", TERN_CFG_INT, "1", 1, 100, NULL, "half-open probe calls"},           \
      {sec, "rate_per_sec", TERN_CFG_DOUBLE, "0 (no limit)", 0, 1e6, NULL,                         \
       "local rate limit, calls per second"},                                                      \
      {sec, "burst", TERN_CFG_INT, "rate", 0, 1000000, NULL, "rate limiter burst"},                \
      {sec, "max_concurrent", TERN_CFG_INT, "0 (no limit)", 0, 1000000, NULL,                      \
       "calls in flight at once (bulkhead)"}

#define PROVIDER_KEYS(sec)                                                                         \
  {sec, "kind", TERN_CFG_STR, "the section's name", 0, 0, NULL,                                    \
   "openai, anthropic, deepgram, elevenlabs, pocketsphinx, flite, espeak, scripted, fake"},       \
      {sec, "base_url", TERN_CFG_STR, "the provider's", 0, 0, NULL, "API endpoint"},               \
      {sec, "api_key", TERN_CFG_STR, "", 0, 0, NULL, "prefer api_key_env"},                        \
      {sec, "api_key_env", TERN_CFG_STR, "OPENAI_API_KEY, ...", 0, 0, NULL,                        \
       "environment variable holding the key"},                                                    \
      {sec, "model", TERN_CFG_STR, "", 0, 0, NULL, "model name"},                                  \
      {sec, "temperature", TERN_CFG_DOUBLE, "", 0, 2, NULL, "sampling temperature"},               \
      {sec, "max_tokens", TERN_CFG_INT, "", 1, 1000000, NULL, "answer length limit"},              \
      {sec, "voice", TERN_CFG_STR, "", 0, 0, NULL, "TTS voice"},                                   \
      {sec, "model_id", TERN_CFG_STR, "", 0, 0, NULL, "ElevenLabs model"},                         \
      {sec, "response_format", TERN_CFG_STR, "pcm", 0, 0, NULL, "OpenAI speech format"},          \
      {sec, "language", TERN_CFG_STR, "en", 0, 0, NULL, "recognition language"},                   \
      {sec, "endpointing_ms", TERN_CFG_INT, "", 0, 10000, NULL, "Deepgram endpointing"},           \
      {sec, "interim_results", TERN_CFG_BOOL, "true", 0, 0, NULL, "Deepgram interim results"},     \
      {sec, "punctuate", TERN_CFG_BOOL, "true", 0, 0, NULL, "Deepgram punctuation"},               \
      {sec, "keepalive_ms", TERN_CFG_DURATION, "", 0, 60000, NULL, "Deepgram keep-alive"},         \
      {sec, "finish_timeout_ms", TERN_CFG_DURATION, "", 0, 60000, NULL, "Deepgram finish wait"},   \
      {sec, "stability", TERN_CFG_DOUBLE, "", 0, 1, NULL, "ElevenLabs voice setting"},             \
      {sec, "similarity_boost", TERN_CFG_DOUBLE, "", 0, 1, NULL, "ElevenLabs voice setting"},      \
      {sec, "style", TERN_CFG_DOUBLE, "", 0, 1, NULL, "ElevenLabs voice setting"},                 \
      {sec, "speed", TERN_CFG_DOUBLE, "", 0.5, 2, NULL, "speaking rate"},                          \
      {sec, "hmm", TERN_CFG_STR, "Debian's en-us model", 0, 0, NULL, "pocketsphinx acoustic model"}, \
      {sec, "dict", TERN_CFG_STR, "cmudict-en-us.dict", 0, 0, NULL, "pocketsphinx dictionary"},    \
      {sec, "lm", TERN_CFG_STR, "en-us.lm.bin", 0, 0, NULL, "pocketsphinx language model"},        \
      {sec, "jsgf", TERN_CFG_STR, "", 0, 0, NULL, "pocketsphinx grammar instead of the model"},    \
      {sec, "keyphrase", TERN_CFG_STR, "", 0, 0, NULL, "pocketsphinx keyphrase spotting"},         \
      {sec, "max_decoders", TERN_CFG_INT, "2", 1, 64, NULL, "pocketsphinx decoders shared by sessions"}, \
      {sec, "rules", TERN_CFG_STR, "examples/scripted/default.rules", 0, 0, NULL,                  \
       "scripted dialogue rules"},                                                                 \
      {sec, "first_delay_ms", TERN_CFG_DURATION, "0", 0, 600000, NULL,                            \
       "fake: wait before the first output"},                                                      \
      {sec, "interval_ms", TERN_CFG_DURATION, "1", 0, 600000, NULL, "fake: gap between outputs"},  \
      {sec, "reply", TERN_CFG_STR, "", 0, 0, NULL, "fake: the answer or transcript"},              \
      {sec, "samples_per_letter", TERN_CFG_DOUBLE, "rate/12", 0, 48000, NULL,                      \
       "fake TTS: audio per letter"},                                                              \
      {sec, "fail_rate", TERN_CFG_DOUBLE, "0", 0, 1, NULL, "fake: probability a call fails"},      \
      {sec, "stall_rate", TERN_CFG_DOUBLE, "0", 0, 1, NULL, "fake: probability a call stalls"},    \
      {sec, "seed", TERN_CFG_INT, "1", 0, 0, NULL, "fake: seed of the fault draws"},               \
      GUARD_KEYS(sec)

const tern_config_key_t tern_settings_schema[] = {
    {"session", "sample_rate", TERN_CFG_ENUM, "16000", 0, 0, "8000|16000|24000|48000",
     "caller and agent audio rate"},
    {"session", "system_prompt", TERN_CFG_STR, "a short voice-assistant prompt", 0, 0, NULL,
     "the model's instructions"},
    {"session", "greeting", TERN_CFG_STR, "", 0, 0, NULL, "said when the call starts"},
    {"session", "dead_air_ms", TERN_CFG_DURATION, "1500", 300, 10000, NULL,
     "silence after the turn before a holding phrase"},
    {"session", "min_endpoint_ms", TERN_CFG_DURATION, "500", 0, 5000, NULL,
     "wait after speech before the turn ends"},
    {"session", "max_endpoint_ms", TERN_CFG_DURATION, "3000", 0, 10000, NULL,
     "the wait when the words sound unfinished"},
    {"session", "allow_interruptions", TERN_CFG_BOOL, "true", 0, 0, NULL, "barge-in"},
    {"session", "min_interruption_ms", TERN_CFG_DURATION, "500", 0, 5000, NULL,
     "speech needed to interrupt the agent"},
    {"session", "min_interruption_words", TERN_CFG_INT, "0", 0, 20, NULL,
     "words needed to interrupt the agent"},
    {"session", "vad", TERN_CFG_ENUM, "auto", 0, 0, "auto|webrtc|energy", "voice activity detector"},
    {"session", "vad_min_speech_ms", TERN_CFG_INT, "100", 20, 2000, NULL, "speech to start a turn"},
    {"session", "vad_min_silence_ms", TERN_CFG_INT, "300", 60, 3000, NULL, "silence to end speech"},
    {"session", "error_tolerance", TERN_CFG_INT, "3", 1, 100, NULL,
     "unrecoverable errors per component before goodbye"},
    {"session", "max_utterance_ms", TERN_CFG_DURATION, "30000", 1000, 120000, NULL,
     "longest user turn"},
    {"session", "max_tool_rounds", TERN_CFG_INT, "4", 0, 16, NULL, "model/tool rounds per reply"},
    {"session", "clips_dir", TERN_CFG_STR, "", 0, 0, NULL, "pre-rendered fallback phrases"},
    {"session", "knowledge_file", TERN_CFG_STR, "", 0, 0, NULL, "text searched by search_knowledge"},
    {"stt", "chain", TERN_CFG_LIST, "deepgram?, openai?, pocketsphinx", 0, 0, NULL,
     "recognisers in fallback order"},
    {"llm", "chain", TERN_CFG_LIST, "openai?, anthropic?, scripted", 0, 0, NULL,
     "language models in fallback order"},
    {"tts", "chain", TERN_CFG_LIST, "elevenlabs?, openai?, flite", 0, 0, NULL,
     "voices in fallback order"},
    GUARD_KEYS("stt"),
    GUARD_KEYS("llm"),
    GUARD_KEYS("tts"),
    PROVIDER_KEYS("stt.*"),
    PROVIDER_KEYS("llm.*"),
    PROVIDER_KEYS("tts.*"),
    {"fallback", "probes", TERN_CFG_BOOL, "true", 0, 0, NULL, "probe failed providers"},
    {"fallback", "probe_initial_ms", TERN_CFG_DURATION, "5000", 100, 3600000, NULL,
     "first probe after a failure"},
    {"fallback", "probe_max_ms", TERN_CFG_DURATION, "60000", 100, 3600000, NULL,
     "longest wait between probes"},
    {"server", "port", TERN_CFG_INT, "8080", 0, 65535, NULL, "sessions (WebSocket /session)"},
    {"server", "bind", TERN_CFG_STR, "0.0.0.0", 0, 0, NULL, "address to listen on"},
    {"server", "workers", TERN_CFG_INT, "cores", 0, 256, NULL, "worker threads"},
    {"server", "max_sessions", TERN_CFG_INT, "200", 1, 1000000, NULL, "capacity"},
    {"server", "drain_timeout_ms", TERN_CFG_DURATION, "30000", 0, 3600000, NULL,
     "on SIGTERM, how long live calls may finish"},
    {"server", "drain_grace_ms", TERN_CFG_DURATION, "5000", 0, 600000, NULL,
     "after the drain timeout, time for the goodbye to play"},
    {"server", "drain_goodbye", TERN_CFG_STR, "a neutral goodbye", 0, 0, NULL,
     "what the agent says to calls ended by a drain"},
    {"server", "allowed_origins", TERN_CFG_LIST, "same host", 0, 0, NULL, "browser origins"},
    {"server", "web_root", TERN_CFG_STR, "web", 0, 0, NULL, "the browser client's files"},
    {"admin", "port", TERN_CFG_INT, "8081", 0, 65535, NULL, "/health /ready /metrics"},
    {"admin", "bind", TERN_CFG_STR, "127.0.0.1", 0, 0, NULL, "admin address"},
    {"admin", "token", TERN_CFG_STR, "", 0, 0, NULL, "bearer token when not on loopback"},
    {"auth", "api_key", TERN_CFG_STR, "", 0, 0, NULL, "token issuer"},
    {"auth", "api_secret", TERN_CFG_STR, "", 0, 0, NULL, "token signing secret"},
    {"auth", "leeway_s", TERN_CFG_INT, "30", 0, 3600, NULL, "clock skew forgiven on tokens"},
    {"auth", "disabled", TERN_CFG_BOOL, "false", 0, 0, NULL, "development only: no tokens"},
    {"log", "level", TERN_CFG_ENUM, "warn", 0, 0, "debug|info|warn|error|off", "log level"},
    {NULL, NULL, 0, NULL, 0, 0, NULL, NULL},
};
