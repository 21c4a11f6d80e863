/* err: how a module tells main what went wrong. The message is one line, at
 * most ERR_MAX bytes, with every registered secret masked; main decides the
 * exit code from the module's return value, never from the text. */
#ifndef SENTRY_ERR_H
#define SENTRY_ERR_H

#define ERR_MAX 1024

struct err {
    char msg[ERR_MAX];
};

void err_set(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
