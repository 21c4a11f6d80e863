/* lines: a child's output (the migration command's stdout and stderr) turned
 * into log lines and a bounded tail for the status file.
 * Bytes are fed as they come; each line goes to the log (log_stream, with
 * the stream's name) and into the tail of the last LINES_TAIL lines, both
 * through the edge (redacted, valid UTF-8, control characters escaped).
 * A line longer than LINES_MAX bytes (as printed: masked, cleaned) goes out
 * in pieces of at most LINES_MAX bytes, both printed and of output, cut where
 * no secret can straddle the cut: up to redact_span_max() bytes are held
 * back beyond LINES_MAX before a cut is chosen, the cut moves before any
 * secret (or credential) that would cross it, and never splits a UTF-8
 * character nor an escape. Memory stays bounded whatever the child prints. */
#ifndef SENTRY_LINES_H
#define SENTRY_LINES_H

#include <stddef.h>
#include "util.h"

#define LINES_MAX 4096
#define LINES_TAIL 50

struct lines;

/* stream: "migrate" logs "[migrate] <line>" (JSON: "stream": "migrate"). */
struct lines *lines_new(const char *stream);
void lines_feed(struct lines *l, const char *p, size_t n);
/* The last line, when the output did not end with a newline. */
void lines_flush(struct lines *l);
/* Moves the tail (cleaned lines, oldest first) to out and empties it. */
void lines_take_tail(struct lines *l, struct strlist *out);
void lines_free(struct lines *l);

/* Where lines_feed cuts s[0..n) into a first piece: at most max bytes of s
 * and at most max bytes printed, unless a match wider than that starts s;
 * for the tests. */
size_t lines_safe_cut(const char *s, size_t n, size_t max);

#endif
