#include "err.h"
#include "redact.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libpq messages end in newlines and some span two lines ("DETAIL: ..."):
 * fold them so that every error is the one line the contract promises. */
static void one_line(char *s)
{
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ')
        s[--n] = '\0';
}

void err_set(struct err *e, const char *fmt, ...)
{
    if (!e)
        return;
    char raw[ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    char *safe = redact_text(raw);
    snprintf(e->msg, sizeof e->msg, "%s", safe);
    free(safe);
    one_line(e->msg);
}
