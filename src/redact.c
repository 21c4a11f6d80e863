#include "redact.h"
#include "util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct secret {
    char *s;
    size_t n;
    bool anywhere; /* long enough to be masked in free text */
};

static struct secret *secrets;
static size_t nsecrets, longest;
/* The bytes a match can start with: a secret's first byte, and the first
 * byte of a credential's key ('p', 'P', and ':' of "://"). Text is scanned
 * byte by byte, so most positions are passed over at the cost of a lookup. */
static bool starts_match[256];

static void add(const char *s, size_t n, bool anywhere)
{
    if (!s || !n)
        return;
    for (size_t k = 0; k < nsecrets; k++) {
        if (secrets[k].n == n && memcmp(secrets[k].s, s, n) == 0) {
            secrets[k].anywhere |= anywhere;
            return;
        }
    }
    secrets = xrealloc(secrets, (nsecrets + 1) * sizeof *secrets);
    secrets[nsecrets++] = (struct secret){xstrndup(s, n), n, anywhere};
    if (n > longest)
        longest = n;
    starts_match[(unsigned char)s[0]] = starts_match['p'] = starts_match['P'] = starts_match[':'] = true;
}

void redact_add(const char *secret)
{
    if (secret)
        add(secret, strlen(secret), strlen(secret) >= REDACT_MIN);
}

void redact_add_userinfo(const char *s, size_t len)
{
    /* "user:pw" as written: rare enough in free text to mask at any length.
     * A user alone is no secret (and masking "sentry" would garble the log). */
    if (memchr(s, ':', len))
        add(s, len, true);
}

static bool unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* The spellings a tool may print a password in, besides the one given. */
void redact_add_password(const char *pw, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    char *raw = xstrndup(pw, len);
    char *enc = xmalloc(3 * len + 1), *e = enc;
    char *esc = xmalloc(2 * len + 1), *q = esc;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)pw[i];
        if (unreserved(c)) {
            *e++ = (char)c;
        } else {
            *e++ = '%';
            *e++ = hex[c >> 4];
            *e++ = hex[c & 15];
        }
        if (c == '\'' || c == '\\')
            *q++ = '\\';
        *q++ = (char)c;
    }
    *e = *q = '\0';
    redact_add(raw);
    redact_add(enc);
    redact_add(esc);
    free(raw);
    free(enc);
    free(esc);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *url_decode(const char *s, size_t len)
{
    char *dec = xmalloc(len + 1), *d = dec;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            *d++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            *d++ = s[i];
        }
    }
    *d = '\0';
    return dec;
}

void redact_add_url_part(const char *s, size_t len)
{
    char *dec = url_decode(s, len);
    redact_add_password(s, len);
    redact_add_password(dec, strlen(dec));
    free(dec);
}

/* --- finding them ------------------------------------------------------------ */

/* The longest registered secret at s[i..n) (only those masked anywhere when
 * `anywhere`), accepted by `ends` at its end; 0 when none. */
static size_t secret_at(const char *s, size_t n, size_t i, bool anywhere,
                        bool (*ends)(const char *, size_t, size_t))
{
    size_t best = 0;
    for (size_t k = 0; k < nsecrets; k++) {
        const struct secret *x = &secrets[k];
        if (x->n > best && x->n <= n - i && (!anywhere || x->anywhere) &&
            memcmp(s + i, x->s, x->n) == 0 && (!ends || ends(s, n, i + x->n)))
            best = x->n;
    }
    return best;
}

/* A short password stands as a credential's value unless the value goes on
 * with a letter or digit (then it is another, longer value): punctuation, a
 * quote, a blank or the end of the text end it. The end of the text counts,
 * so that a piece cut right after a value still masks it; masking too much
 * is harmless, too little is a leak. */
static bool value_ends(const char *s, size_t n, size_t j)
{
    return j == n || !isalnum((unsigned char)s[j]);
}

static bool userinfo_ends(const char *s, size_t n, size_t j)
{
    return j == n || s[j] == '@';
}

static size_t skip_blanks(const char *s, size_t n, size_t j)
{
    for (size_t k = 0; k < REDACT_BLANKS && j < n && (s[j] == ' ' || s[j] == '\t'); k++)
        j++;
    return j;
}

/* "password = 'x" at s[i..n): the match's length, and *keep its key. */
static size_t keyword_at(const char *s, size_t n, size_t i, size_t *keep)
{
    static const char key[] = "password";
    if (n - i < sizeof key || strncasecmp(s + i, key, sizeof key - 1) != 0)
        return 0;
    size_t j = skip_blanks(s, n, i + sizeof key - 1);
    if (j >= n || s[j] != '=')
        return 0;
    j = skip_blanks(s, n, j + 1);
    j += j < n && (s[j] == '\'' || s[j] == '"'); /* an opening quote */
    size_t v = j < n ? secret_at(s, n, j, false, value_ends) : 0;
    *keep = j - i;
    return v ? j - i + v : 0;
}

/* "://user:x@" at s[i..n). */
static size_t userinfo_at(const char *s, size_t n, size_t i, size_t *keep)
{
    if (n - i < 4 || memcmp(s + i, "://", 3) != 0)
        return 0;
    size_t j = i + 3, limit = j + REDACT_USER_MAX;
    while (j < n && j < limit && !strchr(":@/?# \t\n", s[j]))
        j++;
    if (j >= n || s[j] != ':')
        return 0;
    j++;
    size_t v = j < n ? secret_at(s, n, j, false, userinfo_ends) : 0;
    *keep = j - i;
    return v ? j - i + v : 0;
}

/* The longest match starting at i, or 0. */
static size_t match_at(const char *s, size_t n, size_t i, size_t *keep)
{
    size_t best = secret_at(s, n, i, true, NULL), k = 0, len;
    *keep = 0;
    if (s[i] == 'p' || s[i] == 'P') {
        if ((len = keyword_at(s, n, i, &k)) > best)
            best = len, *keep = k;
    } else if (s[i] == ':') {
        if ((len = userinfo_at(s, n, i, &k)) > best)
            best = len, *keep = k;
    }
    return best;
}

bool redact_find(const char *s, size_t n, size_t from, struct redact_match *m)
{
    if (!nsecrets)
        return false;
    for (size_t i = from; i < n; i++) {
        if (!starts_match[(unsigned char)s[i]])
            continue;
        size_t keep, len = match_at(s, n, i, &keep);
        if (len) {
            *m = (struct redact_match){i, len, keep};
            return true;
        }
    }
    return false;
}

size_t redact_span_max(void)
{
    size_t kw = sizeof "password" + 2 * REDACT_BLANKS + 1 + longest;
    size_t ui = 3 + REDACT_USER_MAX + 1 + longest;
    size_t m = longest > kw ? longest : kw;
    return m > ui ? m : ui;
}

char *redact_mem(const char *in, size_t len, size_t *out_len)
{
    struct sbuf b = {xmalloc(len + 1), 0, len + 1};
    b.p[0] = '\0';
    size_t from = 0;
    struct redact_match m;
    while (redact_find(in, len, from, &m)) {
        sbuf_put(&b, in + from, m.start - from);
        /* The kept key is text of its own: a URL's user may be a secret too. */
        size_t kn;
        char *key = m.keep ? redact_mem(in + m.start, m.keep, &kn) : NULL;
        sbuf_put(&b, key ? key : "", key ? kn : 0);
        free(key);
        sbuf_put(&b, REDACTED, sizeof REDACTED - 1);
        from = m.start + m.len;
    }
    sbuf_put(&b, in + from, len - from);
    if (out_len)
        *out_len = b.n;
    return b.p;
}

char *redact_text(const char *in)
{
    return redact_mem(in, strlen(in), NULL);
}

void redact_clear(void)
{
    for (size_t k = 0; k < nsecrets; k++)
        free(secrets[k].s);
    free(secrets);
    secrets = NULL;
    nsecrets = longest = 0;
    memset(starts_match, 0, sizeof starts_match);
}
