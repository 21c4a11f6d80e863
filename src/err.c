#include "err.h"
#include "edge.h"
#include "util.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void err_set(struct err *e, const char *fmt, ...)
{
    if (!e)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *raw = xvasprintf(fmt, ap);
    va_end(ap);
    /* libpq messages end in newlines and some span two lines ("DETAIL: ..."):
     * folded, so that every error is the one line the contract promises. */
    size_t n;
    char *safe = edge_clean(raw, strlen(raw), EDGE_FOLD, &n);
    free(raw);
    while (n && safe[n - 1] == ' ')
        n--;
    n = edge_cut(safe, n, sizeof e->msg - 1);
    memcpy(e->msg, safe, n);
    e->msg[n] = '\0';
    free(safe);
}
