/* err: how a module tells main what went wrong. The message is one line of
 * valid UTF-8, at most ERR_MAX - 1 bytes, built at the edge (edge.h): every
 * registered secret masked on the whole formatted text first, then libpq's
 * newlines and tabs folded into spaces, control characters escaped, and only
 * then cut, at a character boundary. main decides the exit code from the
 * module's return value, never from the text. */
#ifndef SENTRY_ERR_H
#define SENTRY_ERR_H

#define ERR_MAX 1024

struct err {
    char msg[ERR_MAX];
};

void err_set(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
