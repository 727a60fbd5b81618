/* The demo tools of the offline agent.
 *
 * They exist so that a conversation with no network still exercises the
 * whole tool path (arguments, validation, results, state). They are
 * deterministic where a test needs them to be: the weather is MADE-UP DEMO
 * DATA from a small table, with a hash of the name for any other city, and
 * never a real forecast; bookings live only in the session's state object.
 * get_time reads the wall clock, which is the one thing a clock tool is
 * for. All of them answer at once, on the loop, without blocking.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/tools_internal.h"
#include "tern/alloc.h"
#include "tern/error.h"
#include "tern/json.h"
#include "tern/tools.h"

#define KNOWLEDGE_MAX_BYTES (1024 * 1024)
#define ANSWER_MAX_BYTES 1500 /* of a knowledge paragraph read back */
#define WORD_MAX 32
#define QUERY_WORDS_MAX 16

/* Answer with a JSON object (consumed), or with a plain error. */
static void complete_json(tern_tool_ctx_t *ctx, bool ok, json_t *o) {
  char *s = o ? tern_json_dump(o) : NULL;
  json_decref(o);
  if (!s) {
    tern_tool_complete(ctx, false, "out of memory");
    return;
  }
  tern_tool_complete(ctx, ok, s);
  tern_free(s);
}

/* Lower-case, trimmed, inner spaces collapsed: how names are compared.
 * A name too long for `out` is cut at a character boundary, so that the
 * result is still UTF-8 (json_string refuses anything else). */
static void normalize(const char *in, char *out, size_t n) {
  size_t o = 0;
  bool space = false;
  const char *p = in;
  for (; *p && o + 1 < n; p++) {
    unsigned char c = (unsigned char)*p;
    if (isspace(c)) {
      space = o > 0;
      continue;
    }
    if (space && o + 2 < n)
      out[o++] = ' ';
    space = false;
    out[o++] = (char)tolower(c);
  }
  if (*p) {
    while (o > 0 && ((unsigned char)out[o - 1] & 0xC0) == 0x80)
      o--;
    if (o > 0 && (unsigned char)out[o - 1] >= 0xC0)
      o--;
  }
  out[o] = '\0';
}

/* ---- get_weather ------------------------------------------------------- */

static const struct {
  const char *key, *name, *summary;
  int temp_c;
} cities[] = {
    {"london", "London", "light rain", 12},
    {"paris", "Paris", "sunny", 18},
    {"new york", "New York", "partly cloudy", 15},
    {"tokyo", "Tokyo", "clear", 20},
    {"berlin", "Berlin", "overcast", 9},
    {"sydney", "Sydney", "sunny", 24},
    {"madrid", "Madrid", "hot and sunny", 29},
    {"dublin", "Dublin", "showers", 11},
    {"edinburgh", "Edinburgh", "windy with showers", 8},
    {"san francisco", "San Francisco", "foggy", 14},
    {"chicago", "Chicago", "windy", 6},
    {"moscow", "Moscow", "light snow", -4},
    {"cairo", "Cairo", "clear and hot", 33},
    {"mumbai", "Mumbai", "humid with thunderstorms", 30},
    {"oslo", "Oslo", "cold and clear", -2},
};

static const char *const summaries[] = {"sunny",   "partly cloudy", "cloudy", "light rain",
                                        "showers", "overcast",      "windy",  "clear",
                                        "drizzle", "foggy"};

static uint32_t fnv1a(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 16777619u;
  }
  return h;
}

static int to_fahrenheit(int c) {
  int t = c * 18 + 320; /* tenths of a degree */
  return (t >= 0 ? t + 5 : t - 5) / 10;
}

static void get_weather(tern_tool_ctx_t *ctx, const json_t *args, void *ud) {
  (void)ud;
  char key[96];
  normalize(json_string_value(json_object_get(args, "city")), key, sizeof key);
  const json_t *unit = json_object_get(args, "unit");
  bool fahrenheit = json_is_string(unit) && !strcmp(json_string_value(unit), "fahrenheit");
  char name[96];
  const char *summary = NULL;
  int temp_c = 0;
  for (size_t i = 0; i < sizeof cities / sizeof *cities; i++) {
    if (!strcmp(cities[i].key, key)) {
      snprintf(name, sizeof name, "%s", cities[i].name);
      summary = cities[i].summary;
      temp_c = cities[i].temp_c;
      break;
    }
  }
  if (!summary) {
    /* Any other city: stable made-up numbers, capitalised as a name. */
    uint32_t h = fnv1a(key);
    summary = summaries[h % (sizeof summaries / sizeof *summaries)];
    temp_c = (int)((h >> 8) % 31) - 5;
    snprintf(name, sizeof name, "%s", key);
    for (size_t i = 0; name[i]; i++)
      if (i == 0 || name[i - 1] == ' ' || name[i - 1] == '-')
        name[i] = (char)toupper((unsigned char)name[i]);
  }
  int temp_f = to_fahrenheit(temp_c);
  json_t *o = json_object();
  int bad = !o;
  bad = bad || json_object_set_new(o, "city", json_string(name));
  bad = bad || json_object_set_new(o, "summary", json_string(summary));
  bad = bad || json_object_set_new(o, "temp_c", json_integer(temp_c));
  bad = bad || json_object_set_new(o, "temp_f", json_integer(temp_f));
  bad = bad || json_object_set_new(o, "unit", json_string(fahrenheit ? "fahrenheit" : "celsius"));
  bad = bad || json_object_set_new(o, "temperature", json_integer(fahrenheit ? temp_f : temp_c));
  bad = bad || json_object_set_new(o, "note", json_string("demo data, not a real forecast"));
  if (bad) {
    json_decref(o);
    o = NULL;
  }
  complete_json(ctx, true, o);
}

/* ---- get_time ---------------------------------------------------------- */

static const char *const small_words[] = {
    "zero",     "one",     "two",     "three",     "four",     "five",    "six",
    "seven",    "eight",   "nine",    "ten",       "eleven",   "twelve",  "thirteen",
    "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"};
static const char *const tens_words[] = {"", "", "twenty", "thirty", "forty", "fifty"};

static void number_words(int n, char *out, size_t sz) {
  if (n < 20)
    snprintf(out, sz, "%s", small_words[n]);
  else if (n % 10 == 0)
    snprintf(out, sz, "%s", tens_words[n / 10]);
  else
    snprintf(out, sz, "%s-%s", tens_words[n / 10], small_words[n % 10]);
}

/* "ten forty-two in the morning": how a person says a time, for TTS. */
static void spoken_time(int h, int m, char *out, size_t sz) {
  if (m == 0 && (h == 0 || h == 12)) {
    snprintf(out, sz, "%s", h == 0 ? "midnight" : "noon");
    return;
  }
  char hw[24], mw[24];
  number_words(h % 12 == 0 ? 12 : h % 12, hw, sizeof hw);
  const char *part = h < 12 ? "in the morning" : h < 18 ? "in the afternoon" : "in the evening";
  if (m == 0) {
    snprintf(out, sz, "%s o'clock %s", hw, part);
  } else {
    number_words(m, mw, sizeof mw);
    snprintf(out, sz, "%s %s%s %s", hw, m < 10 ? "oh " : "", mw, part);
  }
}

/* "UTC", "GMT+1", "UTC-05:30", "+0200": minutes east of UTC. Returns -1 for
 * anything else. */
static int parse_offset(const char *tz, long *minutes) {
  char s[40];
  normalize(tz, s, sizeof s);
  const char *p = s;
  if (!strncmp(p, "utc", 3) || !strncmp(p, "gmt", 3))
    p += 3;
  else if (!strcmp(p, "z"))
    p++;
  while (*p == ' ')
    p++;
  if (!*p) {
    *minutes = 0;
    return 0;
  }
  if (*p != '+' && *p != '-')
    return -1;
  int sign = *p++ == '-' ? -1 : 1;
  if (!isdigit((unsigned char)*p))
    return -1;
  char *end;
  long a = strtol(p, &end, 10);
  long h, m = 0;
  if (*end == ':') {
    h = a;
    const char *q = end + 1;
    if (!isdigit((unsigned char)*q))
      return -1;
    m = strtol(q, &end, 10);
  } else if (end - p > 2) {
    h = a / 100; /* "+0530" */
    m = a % 100;
  } else {
    h = a;
  }
  if (*end || h > 14 || m > 59)
    return -1;
  *minutes = sign * (h * 60 + m);
  return 0;
}

static void get_time(tern_tool_ctx_t *ctx, const json_t *args, void *ud) {
  (void)ud;
  const char *tz = json_string_value(json_object_get(args, "timezone"));
  char label[48] = "local";
  time_t now = time(NULL);
  struct tm tm;
  char nz[40];
  normalize(tz ? tz : "", nz, sizeof nz);
  if (!nz[0] || !strcmp(nz, "local")) {
    localtime_r(&now, &tm);
  } else {
    long off;
    if (parse_offset(tz, &off) != 0) {
      char msg[160];
      snprintf(msg, sizeof msg,
               "unknown timezone '%.40s': use 'local', 'UTC', or an offset such as 'UTC+2'", tz);
      tern_tool_complete(ctx, false, msg);
      return;
    }
    time_t t = now + off * 60;
    gmtime_r(&t, &tm);
    if (off == 0)
      snprintf(label, sizeof label, "UTC");
    else
      snprintf(label, sizeof label, "UTC%c%02ld:%02ld", off < 0 ? '-' : '+', labs(off) / 60,
               labs(off) % 60);
  }
  static const char *const days[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                     "Thursday", "Friday", "Saturday"};
  char hm[16], date[32], spoken[96];
  snprintf(hm, sizeof hm, "%02d:%02d", tm.tm_hour, tm.tm_min);
  snprintf(date, sizeof date, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  spoken_time(tm.tm_hour, tm.tm_min, spoken, sizeof spoken);
  json_t *o = json_object();
  int bad = !o;
  bad = bad || json_object_set_new(o, "time", json_string(hm));
  bad = bad || json_object_set_new(o, "spoken", json_string(spoken));
  bad = bad || json_object_set_new(o, "date", json_string(date));
  bad = bad || json_object_set_new(o, "weekday", json_string(days[tm.tm_wday % 7]));
  bad = bad || json_object_set_new(o, "timezone", json_string(label));
  if (bad) {
    json_decref(o);
    o = NULL;
  }
  complete_json(ctx, true, o);
}

/* ---- schedule_meeting -------------------------------------------------- */

static const char *str_or(const json_t *o, const char *key) {
  const char *s = json_string_value(json_object_get(o, key));
  return s ? s : "";
}

static void schedule_meeting(tern_tool_ctx_t *ctx, const json_t *args, void *ud) {
  (void)ud;
  json_t *state = tern_tool_state(ctx);
  if (!json_is_object(state)) {
    tern_tool_complete(ctx, false, "the calendar is not available in this session");
    return;
  }
  const char *day = json_string_value(json_object_get(args, "day"));
  const char *time_s = json_string_value(json_object_get(args, "time"));
  const char *title = json_string_value(json_object_get(args, "title"));
  if (!title || !*title)
    title = "Meeting";
  json_t *meetings = json_object_get(state, "meetings");
  if (meetings && !json_is_array(meetings)) {
    tern_tool_complete(ctx, false, "the calendar in this session is damaged");
    return;
  }
  char d1[64], t1[64], d2[64], t2[64];
  normalize(day, d1, sizeof d1);
  normalize(time_s, t1, sizeof t1);
  size_t i;
  json_t *m;
  json_array_foreach(meetings, i, m) {
    normalize(str_or(m, "day"), d2, sizeof d2);
    normalize(str_or(m, "time"), t2, sizeof t2);
    if (!strcmp(d1, d2) && !strcmp(t1, t2)) {
      char msg[512]; /* day and time are at most 40 characters each */
      snprintf(msg, sizeof msg, "there is already a meeting booked for %s at %s", day, time_s);
      json_t *o = json_object();
      int bad = !o;
      bad = bad || json_object_set_new(o, "error", json_string(msg));
      bad = bad || json_object_set_new(o, "day", json_string(day));
      bad = bad || json_object_set_new(o, "time", json_string(time_s));
      bad = bad || json_object_set_new(o, "existing_title", json_string(str_or(m, "title")));
      if (bad) {
        json_decref(o);
        o = NULL;
      }
      complete_json(ctx, false, o);
      return;
    }
  }
  char conf[32];
  snprintf(conf, sizeof conf, "MTG-%zu", 1001 + json_array_size(meetings));
  json_t *entry = json_object();
  int bad = !entry;
  bad = bad || json_object_set_new(entry, "day", json_string(day));
  bad = bad || json_object_set_new(entry, "time", json_string(time_s));
  bad = bad || json_object_set_new(entry, "title", json_string(title));
  bad = bad || json_object_set_new(entry, "confirmation", json_string(conf));
  /* The answer is made before the state changes, so that a booking the
   * caller was not told about never lands in it. */
  char *answer = bad ? NULL : tern_json_dump(entry);
  bad = bad || !answer;
  if (!bad && !meetings) {
    meetings = json_array();
    bad = !meetings || json_object_set_new(state, "meetings", meetings) != 0;
  }
  bad = bad || json_array_append(meetings, entry) != 0;
  json_decref(entry);
  if (bad)
    tern_tool_complete(ctx, false, "out of memory");
  else
    tern_tool_complete(ctx, true, answer);
  tern_free(answer);
}

/* ---- search_knowledge -------------------------------------------------- */

typedef struct knowledge {
  char **paras;
  size_t n;
  char *source; /* the file's base name, for the answer */
} knowledge_t;

static void knowledge_free(void *ud) {
  knowledge_t *k = ud;
  if (!k)
    return;
  for (size_t i = 0; i < k->n; i++)
    tern_free(k->paras[i]);
  tern_free(k->paras);
  tern_free(k->source);
  tern_free(k);
}

static bool blank_line(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isspace((unsigned char)s[i]))
      return false;
  return true;
}

/* Every non-blank line of s[0..n) is a markdown heading. */
static bool only_headings(const char *s, size_t n) {
  bool any = false;
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && s[j] != '\n')
      j++;
    if (!blank_line(s + i, j - i)) {
      while (i < j && (s[i] == ' ' || s[i] == '\t'))
        i++;
      if (s[i] != '#')
        return false;
      any = true;
    }
    i = j + 1;
  }
  return any;
}

/* A paragraph as read back: heading marks dropped, whitespace trimmed. */
static char *clean_para(const char *s, size_t n) {
  char *out = tern_malloc(n + 1);
  if (!out)
    return NULL;
  size_t o = 0;
  bool line_start = true;
  for (size_t i = 0; i < n; i++) {
    if (line_start && s[i] == '#') {
      while (i < n && s[i] == '#')
        i++;
      while (i < n && s[i] == ' ')
        i++;
      if (i >= n)
        break;
    }
    out[o++] = s[i];
    line_start = s[i] == '\n';
  }
  while (o > 0 && isspace((unsigned char)out[o - 1]))
    o--;
  out[o] = '\0';
  return out;
}

static int add_para(knowledge_t *k, size_t *cap, const char *s, size_t n) {
  while (n > 0 && isspace((unsigned char)*s))
    s++, n--;
  if (n == 0)
    return 0;
  if (k->n == *cap) {
    size_t nc = *cap ? *cap * 2 : 16;
    char **np = tern_realloc(k->paras, nc * sizeof *np);
    if (!np)
      return TERN_ENOMEM;
    k->paras = np;
    *cap = nc;
  }
  char *p = tern_strndup(s, n);
  if (!p)
    return TERN_ENOMEM;
  k->paras[k->n++] = p;
  return 0;
}

/* Paragraphs are separated by blank lines; a heading standing alone is
 * joined to the paragraph under it, so that it counts towards that one. */
static int split_paragraphs(knowledge_t *k, const char *text) {
  size_t cap = 0;
  const char *start = text, *line = text;
  for (;;) {
    const char *eol = strchr(line, '\n');
    size_t ln = eol ? (size_t)(eol - line) : strlen(line);
    bool end = !eol;
    if (end || blank_line(line, ln)) {
      size_t n = (size_t)(line + ln - start);
      if (end || (!blank_line(start, n) && !only_headings(start, n))) {
        int rc = add_para(k, &cap, start, n);
        if (rc)
          return rc;
        start = end ? line + ln : eol + 1;
      }
    }
    if (end)
      break;
    line = eol + 1;
  }
  for (size_t i = 0; i < k->n; i++) {
    char *c = clean_para(k->paras[i], strlen(k->paras[i]));
    if (!c)
      return TERN_ENOMEM;
    tern_free(k->paras[i]);
    k->paras[i] = c;
  }
  return 0;
}

static int knowledge_load(const char *path, knowledge_t **out, char *err, size_t errsz) {
  *out = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errsz, "%s: cannot open: %s", path, strerror(errno));
    return TERN_EIO;
  }
  char *text = tern_malloc(KNOWLEDGE_MAX_BYTES + 1);
  if (!text) {
    fclose(f);
    return TERN_ENOMEM;
  }
  size_t n = fread(text, 1, KNOWLEDGE_MAX_BYTES + 1, f);
  int bad = ferror(f);
  fclose(f);
  if (bad || n > KNOWLEDGE_MAX_BYTES) {
    snprintf(err, errsz, "%s: %s", path,
             bad ? "read error" : "too big for a knowledge file (the limit is 1 MiB)");
    tern_free(text);
    return bad ? TERN_EIO : TERN_ETOOBIG;
  }
  text[n] = '\0';
  for (size_t i = 0; i < n; i++)
    if (text[i] == '\0')
      text[i] = ' ';
  knowledge_t *k = tern_calloc(1, sizeof *k);
  const char *slash = strrchr(path, '/');
  int rc = k ? 0 : TERN_ENOMEM;
  if (!rc)
    rc = (k->source = tern_utf8_clean(slash ? slash + 1 : path,
                                             strlen(slash ? slash + 1 : path), 256, NULL))
             ? 0
             : TERN_ENOMEM;
  if (!rc)
    rc = split_paragraphs(k, text);
  tern_free(text);
  if (rc) {
    knowledge_free(k);
    return rc;
  }
  *out = k;
  return 0;
}

static const char *const stop_words[] = {
    "a",      "an",    "the",  "and",   "or",    "of",    "to",    "in",    "on",     "at",
    "for",    "is",    "are",  "was",   "be",    "do",    "does",  "did",   "what",   "whats",
    "when",   "where", "how",  "who",   "which", "your",  "you",   "i",     "me",     "my",
    "we",     "our",   "us",   "it",    "its",   "can",   "could", "would", "should", "will",
    "with",   "about", "from", "this",  "that",  "there", "any",   "have",  "has",    "tell",
    "please", "much",  "many", "there", "if",    "by",    "as",    "so",    "than",   "get"};

static bool is_stop(const char *w) {
  if (!w[1])
    return true; /* one letter */
  for (size_t i = 0; i < sizeof stop_words / sizeof *stop_words; i++)
    if (!strcmp(w, stop_words[i]))
      return true;
  return false;
}

static bool ends(const char *w, size_t n, const char *suf) {
  size_t k = strlen(suf);
  return n > k && !strcmp(w + n - k, suf);
}

/* A crude English stemmer: enough that "opening" finds "open" and
 * "prices" finds "pricing". */
static void stem(char *w) {
  size_t n = strlen(w);
  if (n > 5 && ends(w, n, "ing"))
    n -= 3;
  else if (n > 6 && ends(w, n, "ion"))
    n -= 3;
  else if (n > 4 && ends(w, n, "ed"))
    n -= 2;
  else if (n > 3 && ends(w, n, "s") && !ends(w, n, "ss"))
    n -= 1;
  w[n] = '\0';
  if (n > 4 && w[n - 1] == 'e')
    w[--n] = '\0';
}

/* The next word of *p (lower-case, stemmed, stop words skipped) into w;
 * false at the end. */
static bool next_word(const char **p, char w[WORD_MAX + 1]) {
  const char *s = *p;
  for (;;) {
    while (*s && !(isalnum((unsigned char)*s) || (unsigned char)*s >= 0x80))
      s++;
    if (!*s) {
      *p = s;
      return false;
    }
    size_t n = 0;
    while (*s && (isalnum((unsigned char)*s) || (unsigned char)*s >= 0x80 || *s == '\'')) {
      if (*s != '\'' && n < WORD_MAX)
        w[n++] = (char)tolower((unsigned char)*s);
      s++;
    }
    w[n] = '\0';
    if (n == 0 || is_stop(w))
      continue;
    stem(w);
    *p = s;
    return true;
  }
}

static int score_para(const char *para, char q[][WORD_MAX + 1], size_t nq) {
  int counts[QUERY_WORDS_MAX] = {0};
  /* The first line of a section is its heading: a match there weighs more. */
  const char *eol = strchr(para, '\n');
  const char *p = para;
  char w[WORD_MAX + 1];
  while (next_word(&p, w)) {
    bool head = !eol || p <= eol;
    for (size_t i = 0; i < nq; i++)
      if (!strcmp(w, q[i]))
        counts[i] += head ? 3 : 1;
  }
  int score = 0;
  for (size_t i = 0; i < nq; i++)
    if (counts[i])
      score += 10 + (counts[i] < 5 ? counts[i] : 5);
  return score;
}

static void search_knowledge(tern_tool_ctx_t *ctx, const json_t *args, void *ud) {
  const knowledge_t *k = ud;
  const char *query = json_string_value(json_object_get(args, "query"));
  char q[QUERY_WORDS_MAX][WORD_MAX + 1];
  size_t nq = 0;
  const char *p = query;
  char w[WORD_MAX + 1];
  while (nq < QUERY_WORDS_MAX && next_word(&p, w)) {
    bool dup = false;
    for (size_t i = 0; i < nq; i++)
      dup = dup || !strcmp(q[i], w);
    if (!dup)
      memcpy(q[nq++], w, sizeof w);
  }
  int best = 0;
  size_t at = 0;
  for (size_t i = 0; nq && i < k->n; i++) {
    int s = score_para(k->paras[i], q, nq);
    if (s > best) {
      best = s;
      at = i;
    }
  }
  json_t *o = json_object();
  int bad = !o;
  bad = bad || json_object_set_new(o, "query", json_string(query));
  if (best == 0) {
    bad = bad || json_object_set_new(o, "found", json_false());
    bad =
        bad || json_object_set_new(o, "note", json_string("nothing in the knowledge base matches"));
  } else {
    int cut = 0;
    const char *para = k->paras[at];
    char *text = tern_utf8_clean(para, strlen(para), ANSWER_MAX_BYTES, &cut);
    bad = bad || !text;
    bad = bad || json_object_set_new(o, "found", json_true());
    bad = bad || json_object_set_new(o, "text", json_string(text));
    bad = bad || json_object_set_new(o, "source", json_string(k->source));
    if (cut)
      bad = bad || json_object_set_new(o, "truncated", json_true());
    tern_free(text);
  }
  if (bad) {
    json_decref(o);
    o = NULL;
  }
  complete_json(ctx, true, o);
}

/* ---- registration ------------------------------------------------------ */

static const char weather_schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"city\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":80,"
    "\"description\":\"The city, e.g. London\"},"
    "\"unit\":{\"type\":\"string\",\"enum\":[\"celsius\",\"fahrenheit\"],"
    "\"description\":\"Temperature unit to report (default celsius)\"}},"
    "\"required\":[\"city\"],\"additionalProperties\":false}";

static const char time_schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"timezone\":{\"type\":\"string\",\"maxLength\":32,"
    "\"description\":\"'local' (default), 'UTC', or an offset such as 'UTC+2'\"}},"
    "\"additionalProperties\":false}";

static const char meeting_schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"day\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":40,"
    "\"description\":\"The day, e.g. tomorrow or friday\"},"
    "\"time\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":40,"
    "\"description\":\"The time of day, e.g. ten thirty or 14:00\"},"
    "\"title\":{\"type\":\"string\",\"maxLength\":100,\"description\":\"What the meeting is "
    "about\"}},"
    "\"required\":[\"day\",\"time\"],\"additionalProperties\":false}";

static const char search_schema[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"query\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":300,"
    "\"description\":\"What to look up, in a few words\"}},"
    "\"required\":[\"query\"],\"additionalProperties\":false}";

int tern_demo_tools_register(tern_tools_t *tools, const char *knowledge_path, char *err,
                             size_t errsz) {
  char scratch[8];
  if (!err || !errsz) {
    err = scratch;
    errsz = sizeof scratch;
  }
  err[0] = '\0';
  if (!tools)
    return TERN_EINVAL;
  int rc = tern_tools_add(tools, "get_weather",
                          "Get today's weather for a city (demo data, not a real forecast).",
                          weather_schema, get_weather, NULL, 0, err, errsz);
  if (!rc)
    rc = tern_tools_add(tools, "get_time", "Get the current time and date.", time_schema, get_time,
                        NULL, 0, err, errsz);
  if (!rc)
    rc = tern_tools_add(tools, "schedule_meeting",
                        "Book a meeting in the caller's calendar for a day and a time.",
                        meeting_schema, schedule_meeting, NULL, 0, err, errsz);
  if (rc || !knowledge_path)
    return rc;
  knowledge_t *k;
  rc = knowledge_load(knowledge_path, &k, err, errsz);
  if (rc)
    return rc;
  rc = tern_tools_at_destroy(tools, knowledge_free, k);
  if (rc) {
    knowledge_free(k);
    return rc;
  }
  return tern_tools_add(tools, "search_knowledge",
                        "Search the company's knowledge base (opening hours, address, prices, "
                        "support) and return the best matching passage.",
                        search_schema, search_knowledge, k, 0, err, errsz);
}
