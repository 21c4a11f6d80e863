/* out: standard output, for the commands whose output is their result
 * (check, status, heads, config, schema, --help, --version). Text goes
 * through the edge (edge.h: redacted, valid UTF-8, control characters but
 * newline and tab escaped) and is written at once with write(2); the first
 * failure (a full disk, a closed descriptor, a reader gone: EPIPE) is
 * remembered, and nothing more is written after it. A write to a pipe with
 * no reader fails with EPIPE rather than killing the process: SIGPIPE is
 * blocked around the write and the one it raised is consumed, whatever the
 * signal's disposition. */
#ifndef SENTRY_OUT_H
#define SENTRY_OUT_H

#include <stddef.h>

/* First thing in main: a standard descriptor (0, 1, 2) that is closed gets
 * /dev/null, so that no file, socket or pipe the process opens later takes
 * its number (and receives the log or the output by mistake); output meant
 * for a stdout that was closed fails with EBADF all the same. */
void out_init(void);
void out_text(const char *s);
void out_mem(const char *p, size_t n);
/* 0 when everything reached standard output, else the first write's errno. */
int out_finish(void);

#endif
