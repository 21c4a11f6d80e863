/* redact: the one place that knows this run's secrets (the database password,
 * in every spelling it appeared in) and masks them. Everything that leaves the
 * process (log lines, the status file, error messages, the migration command's
 * output) passes through redact_text, so a password cannot leak by a path
 * nobody thought of. */
#ifndef SENTRY_REDACT_H
#define SENTRY_REDACT_H

#include <stddef.h>

#define REDACTED "******"
#define REDACT_MIN 4 /* shorter secrets are not searched for in free text */

/* Registers a secret; NULL and secrets shorter than REDACT_MIN are ignored. */
void redact_add(const char *secret);
/* Registers a URL's whole userinfo ("user:password" as written), whatever
 * its length, so that a short password is still masked where libpq quotes
 * the URL back. */
void redact_add_userinfo(const char *s, size_t len);
/* Registers s and its percent-decoded form (passwords in URLs are encoded). */
void redact_add_url_part(const char *s, size_t len);
/* The percent-decoded copy of s[0..len) ("%zz" stays as it is). */
char *url_decode(const char *s, size_t len);
/* A new string: in with every registered secret replaced by REDACTED. */
char *redact_text(const char *in);
void redact_clear(void);

#endif
