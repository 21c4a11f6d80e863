#include "log.h"
#include "redact.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void write_all(const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* stderr gone: nothing better to do than go on quietly */
        p += w;
        n -= (size_t)w;
    }
}

static void log_emit(const char *prefix, const char *body, size_t len)
{
    char *raw = xmalloc(strlen(prefix) + len + 2);
    size_t plen = strlen(prefix);
    memcpy(raw, prefix, plen);
    memcpy(raw + plen, body, len);
    raw[plen + len] = '\0';
    /* A NUL inside body would cut the line short; that is what we want for
     * binary junk, and redact_text works on C strings anyway. */
    char *safe = redact_text(raw);
    free(raw);
    size_t n = strlen(safe);
    safe = xrealloc(safe, n + 2);
    safe[n] = '\n';
    write_all(safe, n + 1);
    free(safe);
}

/* The format attribute lets -Wformat-nonliteral (clang) see fmt as the
 * callers' checked format rather than an unknown string. */
__attribute__((format(printf, 3, 0)))
static void vemit(const char *prefix, const char *suffix, const char *fmt, va_list ap)
{
    char *body;
    va_list cp;
    va_copy(cp, ap);
    int len = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (len < 0)
        return;
    body = xmalloc((size_t)len + strlen(suffix) + 1);
    vsnprintf(body, (size_t)len + 1, fmt, ap);
    strcat(body, suffix);
    log_emit(prefix, body, strlen(body));
    free(body);
}

void log_banner(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vemit("=== MIGRATION SENTRY: ", " ===", fmt, ap);
    va_end(ap);
}

void log_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vemit("[SENTRY] ", "", fmt, ap);
    va_end(ap);
}

void log_plain(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vemit("", "", fmt, ap);
    va_end(ap);
}

void log_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vemit("[SENTRY] error: ", "", fmt, ap);
    va_end(ap);
}

void log_output(const char *prefix, const char *line, size_t len)
{
    log_emit(prefix, line, len);
}
