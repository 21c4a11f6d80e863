/* util: the few helpers every module shares.
 * Allocation that cannot fail silently (out of memory ends the process with a
 * message, as no phase could go on without it), a growable list of strings,
 * and the two clocks: monotonic milliseconds for durations, wall time for the
 * status file. */
#ifndef SENTRY_UTIL_H
#define SENTRY_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

struct strlist {
    char **v;
    size_t n, cap;
};

void strlist_push(struct strlist *l, const char *s);
void strlist_push_owned(struct strlist *l, char *s);
bool strlist_contains(const struct strlist *l, const char *s);
void strlist_sort(struct strlist *l);
/* The items joined by sep, newly allocated ("" for an empty list). */
char *strlist_join(const struct strlist *l, const char *sep);
/* Splits on commas, trims blanks, drops empty items. */
void strlist_split_csv(struct strlist *l, const char *csv);
void strlist_free(struct strlist *l);
/* The items as an argv: NULL-terminated, owned by the list. */
char **strlist_argv(struct strlist *l);

/* A growing byte buffer, kept NUL-terminated; {0} is empty. */
struct sbuf {
    char *p;
    size_t n, cap;
};

void sbuf_put(struct sbuf *b, const char *s, size_t n);

/* base scaled by a random 0.75 to 1.25 (a process's own sequence): pauses
 * that racing replicas do not take in step. */
int64_t jittered(int64_t base);

/* Reads a whole regular file of at most max bytes into *out (NUL-terminated,
 * caller frees). 0, or an errno value: open/read errors as they come, EFBIG
 * when larger than max, EINVAL when not a regular file, EIO on a short read. */
int read_whole_file(const char *path, size_t max, char **out, size_t *len);
/* The message for a read_whole_file error. */
const char *read_error(int err);

int64_t now_ms(void);            /* CLOCK_MONOTONIC */
int64_t wall_ms(void);           /* CLOCK_REALTIME, ms since the epoch */
/* "2026-11-23T21:00:00.123Z" into buf (at least 25 bytes). */
void iso8601_ms(int64_t wall, char *buf, size_t n);

#endif
