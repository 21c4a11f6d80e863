/* libFuzzer target: url_normalise (include/url.h).
 * Invariants checked on every input:
 *  - success: conninfo and display set; display starts "postgresql://";
 *    libpq parses conninfo; the password libpq will use is registered with
 *    redact (redact_text(pw) is exactly REDACTED) when it is long enough to
 *    be registered; the display shows the password only where the same URL
 *    with another password shows it too (the password equals a host, port
 *    or database name); a reported driver is non-empty.
 *  - failure: the struct is cleared; the message is one non-empty line; it
 *    does not quote a password libpq would read from a postgres URI (the
 *    userinfo password or a password= query parameter, raw or decoded),
 *    nor a '/'-separated piece of the password the user meant (the text
 *    between the credentials' ':' and the last '@').
 * redact_clear() after each input so secrets do not pile up. */
#include "fuzz_common.h"

#include <ctype.h>
#include <stdbool.h>
#include <libpq-fe.h>

#include "err.h"
#include "redact.h"
#include "url.h"
#include "util.h"

static const char *opt(PQconninfoOption *o, const char *key)
{
    for (; o && o->keyword; o++)
        if (strcmp(o->keyword, key) == 0)
            return (o->val && *o->val) ? o->val : NULL;
    return NULL;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Percent-decodes s[0..n) into a new string (bad escapes are kept as is). */
static char *pct_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    if (!out)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval((unsigned char)s[i + 1]) >= 0 &&
            hexval((unsigned char)s[i + 2]) >= 0) {
            *o++ = (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

/* True when the error message for `input` with s[0..n) overwritten still
 * contains f: the text comes from the message's own wording (say
 * "postgresql://"), not from the password. Clears the redact registry: the
 * caller's message is already a finished string. */
static bool message_holds_it_anyway(const char *input, const char *s, size_t n, const char *f)
{
    char *other = strdup(input);
    if (!other)
        abort();
    char *at = other + (s - input);
    for (size_t i = 0; i < n; i++)
        at[i] = at[i] == 'Z' ? 'Y' : 'Z';
    redact_clear();
    struct dburl u;
    struct err e = {{0}};
    if (url_normalise(other, "DATABASE_URL", &u, &e) == 0)
        url_free(&u);
    redact_clear();
    bool anyway = strstr(e.msg, f) != NULL;
    free(other);
    return anyway;
}

/* The message must contain neither s[0..n) nor its decoded form when either
 * is long enough to be registered and occurs exactly once in the input (a
 * string found elsewhere in the input may legitimately be quoted from
 * there). */
static void check_not_quoted(const char *msg, const char *input, const char *s, size_t n,
                             const char *what)
{
    char *raw = strndup(s, n);
    char *dec = pct_decode(s, n);
    const char *forms[2] = {raw, dec};
    for (int k = 0; k < 2; k++) {
        const char *f = forms[k];
        /* Too short to be registered; or holding '*', which the mask itself
         * ("******") can spell next to the message's own text. */
        if (strlen(f) < REDACT_MIN || strchr(f, '*'))
            continue;
        const char *first = strstr(input, f);
        if (first && strstr(first + 1, f))
            continue; /* ambiguous: appears more than once in the input */
        if (strstr(msg, f) && message_holds_it_anyway(input, s, n, f))
            continue;
        CHECKF(strstr(msg, f) == NULL, "%s password '%s' leaked in error: %s", what, f, msg);
    }
    free(raw);
    free(dec);
}

/* What follows "scheme://" (leading blanks skipped), or NULL. */
static const char *after_scheme(const char *input)
{
    while (isspace((unsigned char)*input))
        input++;
    const char *sep = strstr(input, "://");
    return sep ? sep + 3 : NULL;
}

/* Error path: what libpq would take as the password of a postgres URI. */
static void check_error_masks_uri_password(const char *input, const char *msg)
{
    const char *start = after_scheme(input);
    if (!start)
        return;
    /* libpq: credentials when an '@' comes before any '/'. */
    const char *q = start;
    while (*q && *q != '@' && *q != '/')
        q++;
    const char *after = start;
    if (*q == '@') {
        const char *colon = memchr(start, ':', (size_t)(q - start));
        if (colon)
            check_not_quoted(msg, input, colon + 1, (size_t)(q - colon - 1), "userinfo");
        after = q + 1;
    }
    /* libpq: the query string starts at the first '?' after the netloc. */
    const char *query = strchr(after, '?');
    if (!query)
        return;
    for (const char *k = query + 1; *k;) {
        size_t n = strcspn(k, "&");
        const char *eq = memchr(k, '=', n);
        if (eq) {
            char *key = pct_decode(k, (size_t)(eq - k));
            if (strcmp(key, "password") == 0)
                check_not_quoted(msg, input, eq + 1, n - (size_t)(eq - k) - 1, "query");
            free(key);
        }
        k += n + (k[n] == '&');
    }
}

/* Error path, what the user meant: in scheme://user:PASS@host... a password
 * holding an unencoded '/', '?' or '#' is still the text between the first
 * ':' of the credentials and the last '@'. No '/'-separated piece of it may
 * be quoted (libpq reads "user:abc/def@host" as host "user", port "abc"). */
static void check_error_masks_intended_password(const char *input, const char *msg)
{
    const char *start = after_scheme(input);
    if (!start)
        return;
    const char *colon = start + strcspn(start, ":@/?#");
    const char *at = strrchr(start, '@');
    if (*colon != ':' || !at || at < colon || memchr(colon, '=', (size_t)(at - colon)))
        return;
    for (const char *q = colon + 1; q < at;) {
        size_t n = strcspn(q, "/");
        if (q + n > at)
            n = (size_t)(at - q);
        check_not_quoted(msg, input, q, n, "intended");
        q += n + 1;
    }
}

/* Builds key='value' conninfo from the parsed options, with the password
 * replaced by "X" (too short to be registered). */
static char *conninfo_with_other_password(PQconninfoOption *o)
{
    size_t cap = 64, len = 0;
    char *out = malloc(cap);
    if (!out)
        abort();
    out[0] = '\0';
    for (; o->keyword; o++) {
        const char *v = o->val;
        if (strcmp(o->keyword, "password") == 0)
            v = "X";
        if (!v)
            continue;
        size_t need = strlen(o->keyword) + 2 * strlen(v) + 8;
        if (len + need >= cap) {
            cap = (len + need) * 2;
            out = realloc(out, cap);
            if (!out)
                abort();
        }
        len += (size_t)sprintf(out + len, "%s%s='", len ? " " : "", o->keyword);
        for (const char *c = v; *c; c++) {
            if (*c == '\'' || *c == '\\')
                out[len++] = '\\';
            out[len++] = *c;
        }
        out[len++] = '\'';
        out[len] = '\0';
    }
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *in = fuzz_strdup(data, size);
    struct dburl u;
    struct err e = {{0}};
    int rc = url_normalise(in, "DATABASE_URL", &u, &e);
    if (rc == 0) {
        CHECK(u.conninfo && u.display);
        CHECK(strncmp(u.display, "postgresql://", 13) == 0);
        CHECK(!u.driver || *u.driver);
        char *perr = NULL;
        PQconninfoOption *o = PQconninfoParse(u.conninfo, &perr);
        CHECKF(o != NULL, "libpq refuses the accepted conninfo: %s", perr ? perr : "?");
        const char *pw = opt(o, "password");
        if (pw && strlen(pw) >= REDACT_MIN) {
            char *r = redact_text(pw);
            CHECKF(strcmp(r, REDACTED) == 0, "password '%s' not registered with redact (got '%s')",
                   pw, r);
            free(r);
            if (strstr(u.display, pw)) {
                /* Only a leak if the same URL with another password does not
                 * show that text too. */
                char *alt = conninfo_with_other_password(o);
                struct dburl u2;
                struct err e2 = {{0}};
                int rc2 = url_normalise(alt, "ALT", &u2, &e2);
                CHECKF(rc2 == 0, "re-normalising the accepted URL failed: %s (%s)", e2.msg, alt);
                CHECKF(strstr(u2.display, pw) != NULL, "display '%s' shows the password '%s'",
                       u.display, pw);
                url_free(&u2);
                free(alt);
            }
        }
        PQconninfoFree(o);
        PQfreemem(perr);
        url_free(&u);
    } else {
        CHECK(rc == -1);
        CHECK(!u.conninfo && !u.display && !u.driver);
        CHECKF(fuzz_msg_ok(e.msg, sizeof e.msg), "bad message '%s'", e.msg);
        /* Names the variable, unless a registered password happens to be
         * text of the message itself (then masked, harmlessly). */
        CHECKF(strncmp(e.msg, "DATABASE_URL", 12) == 0 || strstr(e.msg, REDACTED),
               "message does not name the variable: %s", e.msg);
        check_error_masks_uri_password(in, e.msg);
        check_error_masks_intended_password(in, e.msg);
    }
    redact_clear();
    free(in);
    return 0;
}
