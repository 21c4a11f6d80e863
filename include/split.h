/* split: turns a command string into argv the way a POSIX shell splits words,
 * with no shell behind it: blanks separate words; '...' is literal; "..."
 * keeps blanks and honours \" \\ \$ \` and \newline; a backslash outside
 * quotes escapes the next character. Anything a shell would expand or
 * interpret (unquoted ; | & < > ( ) `, and $ outside single quotes) is
 * refused rather than silently passed on as a literal word. */
#ifndef SENTRY_SPLIT_H
#define SENTRY_SPLIT_H

#include "err.h"
#include "util.h"

/* 0 with words appended to out (at least one), or -1 with e set; `what`
 * names the setting in the message. */
int split_command(const char *s, const char *what, struct strlist *out, struct err *e);

#endif
