/* Internal to the provider layer: preparing text for the offline speech
 * synthesisers. Both flite and espeak-ng are fed one phrase at a time, so
 * the first audio comes after the first phrase rather than after the
 * whole text, and a cancel takes effect at the next phrase at the latest. */
#ifndef TERN_PROVIDER_TTS_TEXT_H
#define TERN_PROVIDER_TTS_TEXT_H

#include <stddef.h>

/* Longest text a synthesiser accepts, in bytes. */
#define TERN_TTS_TEXT_MAX 4096

/* Copies `text` without control characters (C0, DEL and the UTF-8
 * encoded C1 range; tabs and line breaks become spaces) into *out
 * (tern_free it). TERN_ETOOBIG when text is longer than `max` bytes. */
int tern__tts_clean(const char *text, size_t max, char **out /* OUT */);

/* The length of the phrase starting at `s` (leading spaces included):
 * up to and including sentence punctuation, or a clause break once the
 * phrase is long, and never more than a hard limit, cut at a space or at
 * a UTF-8 character boundary. 0 only at the end of the string. */
size_t tern__tts_phrase_len(const char *s);

/* True when s[0..n) holds something a synthesiser can say. */
int tern__tts_has_words(const char *s, size_t n);

#endif
