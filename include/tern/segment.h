/* Sentence segmentation for streaming speech.
 *
 * The language model's answer arrives a few characters at a time; the
 * agent starts speaking as soon as the first sentence is complete rather
 * than when the answer is finished. The segmenter cuts the stream at
 * sentence ends (. ! ? and their kin followed by white space), never
 * inside numbers ("3.5"), common abbreviations ("Dr.", "e.g.") or
 * ellipses, and also at a comma or semicolon once a clause has grown long,
 * so a long first sentence does not delay the first audio. Pure: no
 * allocation after create, no I/O.
 */
#ifndef TERN_SEGMENT_H
#define TERN_SEGMENT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_SEGMENT_MAX 1024 /* longest piece held; longer text is cut at a space */

typedef struct tern_segmenter {
  char buf[TERN_SEGMENT_MAX + 1];
  size_t len;
  size_t min_chars;    /* a sentence shorter than this waits for more (default 8) */
  size_t clause_chars; /* cut at , ; : once a piece is this long (default 120) */
} tern_segmenter_t;

/* Emitted pieces are trimmed and NUL-terminated; the pointer is valid only
 * during the call. */
typedef void (*tern_segment_fn)(void *ud, const char *sentence, size_t len);

void tern_segmenter_init(tern_segmenter_t *s);
/* Feed text; calls fn for every piece completed by it. */
void tern_segmenter_feed(tern_segmenter_t *s, const char *text, size_t len, tern_segment_fn fn,
                         void *ud);
/* The answer ended: emit whatever is left. */
void tern_segmenter_flush(tern_segmenter_t *s, tern_segment_fn fn, void *ud);
void tern_segmenter_reset(tern_segmenter_t *s);

/* Where speech that stopped part-way through `text` should resume: given
 * the fraction of the text's audio that was heard (0..1), the byte offset
 * of the first word not fully heard. Words are weighted by their length,
 * which is how synthesised speech spends its time, near enough. */
size_t tern_text_resume_offset(const char *text, double heard_fraction);

#ifdef __cplusplus
}
#endif
#endif
