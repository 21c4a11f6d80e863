/* edge: the last step of every text that leaves the process, for every
 * channel (log lines, the status file's strings, standard output). In order:
 *  1. secrets masked (redact.c), on the whole text;
 *  2. bytes that are not UTF-8 (0xff, lone continuation bytes, overlong
 *     forms, surrogates, truncated sequences) replaced by U+FFFD, one per
 *     maximal ill-formed subsequence, as Unicode recommends;
 *  3. control characters (U+0000-U+001F, U+007F, U+0080-U+009F) written as
 *     "\xHH", their code point in two lower-case hex digits, so that no raw
 *     ESC or NUL reaches a terminal and a line stays one line; tab is kept,
 *     and newline too in multi-line text (EDGE_TEXT); EDGE_FOLD turns tab,
 *     CR and LF into a space (one-line messages);
 * then, if a length limit applies, a cut at a character boundary
 * (edge_cut). The result is valid UTF-8 whatever went in; cleaning it again
 * changes nothing. */
#ifndef SENTRY_EDGE_H
#define SENTRY_EDGE_H

#include <stdbool.h>
#include <stddef.h>

enum edge_mode {
    EDGE_LINE, /* one line: every control character but tab escaped */
    EDGE_TEXT, /* several lines: newline kept too */
    EDGE_FOLD, /* one line: tab, CR and LF become a space */
};

/* A new string, steps 1-3 applied to in[0..len) (NUL bytes included);
 * *out_len gets its length when out_len is not NULL. */
char *edge_clean(const char *in, size_t len, enum edge_mode mode, size_t *out_len);
/* edge_clean of a C string, as one line. */
char *edge_line(const char *s);
/* The longest prefix of s[0..len) of at most max bytes that ends at a
 * character boundary (s is cleaned text). */
size_t edge_cut(const char *s, size_t len, size_t max);
/* A setting or name quoted in a message: cleaned, then cut to at most max
 * bytes with "..." marking the cut (redaction comes before the cut, so no
 * piece of a secret survives it). Newly allocated. */
char *edge_clip(const char *s, size_t max);
/* The next character of s[0..n) (n > 0), or the maximal ill-formed
 * subsequence there: its length in bytes; *width gets its length once
 * cleaned as one line (EDGE_LINE). */
size_t edge_step(const char *s, size_t n, size_t *width);
/* The length of the well-formed UTF-8 sequence at s[0..n), or 0. */
size_t utf8_valid_at(const unsigned char *s, size_t n);
/* True when s[0..n) is all well-formed UTF-8. */
bool utf8_valid(const char *s, size_t n);
/* s (cleaned text) as a JSON string literal with its quotes, newly
 * allocated. */
char *edge_json_string(const char *s);

#endif
