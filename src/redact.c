#include "redact.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static struct strlist secrets;

static void add(const char *secret, size_t min)
{
    if (secret && strlen(secret) >= min && !strlist_contains(&secrets, secret))
        strlist_push(&secrets, secret);
}

void redact_add(const char *secret)
{
    /* Masking a one- to three-letter password everywhere would garble every
     * line ("/tmp" with password "p"), while the places that hold a password
     * (URL userinfo, password=) are never printed whole anyway. */
    add(secret, REDACT_MIN);
}

void redact_add_userinfo(const char *s, size_t len)
{
    char *u = xstrndup(s, len);
    add(u, 1); /* "user:pw" as written: rare enough in free text to mask at any length */
    free(u);
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
    char *raw = xstrndup(s, len);
    char *dec = url_decode(s, len);
    redact_add(raw);
    redact_add(dec);
    free(raw);
    free(dec);
}

/* At each position the longest matching secret wins, so a secret that
 * contains another is masked whole. */
char *redact_text(const char *in)
{
    size_t len = strlen(in);
    char *out = xmalloc(len * (sizeof REDACTED) + 1), *o = out;
    size_t i = 0;
    while (i < len) {
        size_t best = 0;
        for (size_t k = 0; k < secrets.n; k++) {
            size_t sl = strlen(secrets.v[k]);
            if (sl > best && sl <= len - i && memcmp(in + i, secrets.v[k], sl) == 0)
                best = sl;
        }
        if (best) {
            memcpy(o, REDACTED, sizeof REDACTED - 1);
            o += sizeof REDACTED - 1;
            i += best;
        } else {
            *o++ = in[i++];
        }
    }
    *o = '\0';
    return xrealloc(out, (size_t)(o - out) + 1);
}

void redact_clear(void)
{
    strlist_free(&secrets);
}
