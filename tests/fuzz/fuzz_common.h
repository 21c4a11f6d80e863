/* Shared helpers for the libFuzzer targets in tests/fuzz (see mk/fuzz.mk).
 * CHECK aborts with a message naming the broken invariant, so libFuzzer
 * records the input as a crash like any sanitizer report. */
#ifndef SENTRY_FUZZ_COMMON_H
#define SENTRY_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "\nINVARIANT VIOLATED at %s:%d: %s\n", __FILE__,   \
                    __LINE__, #cond);                                           \
            abort();                                                            \
        }                                                                       \
    } while (0)

#define CHECKF(cond, ...)                                                       \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "\nINVARIANT VIOLATED at %s:%d: %s\n    detail: ", \
                    __FILE__, __LINE__, #cond);                                 \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
            abort();                                                            \
        }                                                                       \
    } while (0)

/* A NUL-terminated heap copy of the fuzz input (for the C-string APIs). */
static inline char *fuzz_strdup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* An exact-size heap copy with no terminator, for (text, len) APIs: any read
 * past len is a heap overflow ASan reports. */
static inline char *fuzz_memdup(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    return s;
}

/* An error message as err_set promises it: non-empty, one line, bounded. */
static inline int fuzz_msg_ok(const char *msg, size_t max)
{
    size_t n = strnlen(msg, max);
    return n > 0 && n < max && !strchr(msg, '\n') && !strchr(msg, '\r');
}

#endif
