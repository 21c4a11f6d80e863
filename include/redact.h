/* redact: the one place that knows this run's secrets (the database password,
 * in every spelling it appeared in) and finds them in text. Everything that
 * leaves the process goes through edge.c, which masks what redact_find finds
 * before it cuts, folds or cleans anything, so a password cannot leak by a
 * path nobody thought of, nor in two pieces across a cut.
 *
 * Two kinds of secret:
 *  - REDACT_MIN bytes or longer: masked wherever it appears;
 *  - any length (a one-letter password too): masked where it stands as the
 *    value of a credential: `password=x`, `password = 'x'`, `?password=x&`,
 *    `PGPASSWORD=x` (the key in any case, up to REDACT_BLANKS blanks around
 *    the '=', the value not going on with a letter or digit), and
 *    `://user:x@` in a URL. Masking a one- to three-letter password
 *    everywhere would garble every line ("/tmp" with password "p").
 * A URL's whole userinfo "user:password" is masked anywhere at any length.
 * A match keeps its credential key ("password=******", "://user:******@"). */
#ifndef SENTRY_REDACT_H
#define SENTRY_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#define REDACTED "******"
#define REDACT_MIN 4     /* shorter secrets are masked only as a credential's value */
#define REDACT_BLANKS 8  /* blanks allowed on each side of a credential's '=' */
#define REDACT_USER_MAX 192 /* a URL user before ":password@" (63 bytes, encoded) */

/* Registers a secret (NULL and "" are ignored). */
void redact_add(const char *secret);
/* Registers a password value with every spelling it can be printed in: as
 * is, percent-encoded (as in a URL) and escaped as in a quoted conninfo
 * value ('\'' and '\\' behind a backslash). */
void redact_add_password(const char *pw, size_t len);
/* Registers a URL's whole userinfo ("user:password" as written), whatever
 * its length, when it holds a password (a ':'). */
void redact_add_userinfo(const char *s, size_t len);
/* Registers s and its percent-decoded form, each with redact_add_password. */
void redact_add_url_part(const char *s, size_t len);
/* The percent-decoded copy of s[0..len) ("%zz" stays as it is). */
char *url_decode(const char *s, size_t len);

/* A match in a text: bytes [start, start+len) are replaced by the first
 * `keep` of them (a credential's key) followed by REDACTED. */
struct redact_match {
    size_t start, len, keep;
};
/* The leftmost match in s[from..n) (the longest one at that position); false
 * when there is none. Matches never overlap when searched from the end of
 * the previous one. */
bool redact_find(const char *s, size_t n, size_t from, struct redact_match *m);
/* An upper bound on any match's length: a cut of a text made at least this
 * far from its end, and outside every match, splits no secret. */
size_t redact_span_max(void);

/* A new string: in[0..len) with every match masked; *out_len its length
 * (NUL bytes in the input are kept). */
char *redact_mem(const char *in, size_t len, size_t *out_len);
char *redact_text(const char *in);
void redact_clear(void);

#endif
