#include "edge.h"
#include "redact.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The well-formed sequence at s (Unicode table 3-7: no overlong forms, no
 * surrogates, nothing above U+10FFFF): its length, or 0 with *bad set to the
 * length of the maximal ill-formed subsequence there (at least 1). */
static size_t utf8_at(const unsigned char *s, size_t n, size_t *bad)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t need;
    *bad = 1;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        need = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        need = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
        need = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else
        return 0;
    size_t i = 1;
    while (i < need && i < n && s[i] >= (i == 1 ? lo : 0x80) && s[i] <= (i == 1 ? hi : 0xBF))
        i++;
    if (i == need)
        return need;
    *bad = i;
    return 0;
}

size_t utf8_valid_at(const unsigned char *s, size_t n)
{
    size_t bad;
    return n ? utf8_at(s, n, &bad) : 0;
}

bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0, k; i < n; i += k)
        if (!(k = utf8_valid_at(u + i, n - i)))
            return false;
    return true;
}

static uint32_t code_point(const unsigned char *s, size_t k)
{
    static const unsigned char lead_mask[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    uint32_t cp = s[0] & lead_mask[k];
    for (size_t i = 1; i < k; i++)
        cp = (cp << 6) | (s[i] & 0x3F);
    return cp;
}

static bool is_control(uint32_t cp);

size_t edge_step(const char *s, size_t n, size_t *width)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t bad, k = utf8_at(u, n, &bad);
    if (!k) {
        *width = 3; /* U+FFFD */
        return bad;
    }
    uint32_t cp = code_point(u, k);
    *width = is_control(cp) && cp != '\t' ? 4 : k;
    return k;
}

static bool kept_control(uint32_t cp, enum edge_mode mode)
{
    return cp == '\t' || (cp == '\n' && mode == EDGE_TEXT);
}

static bool is_control(uint32_t cp)
{
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
}

/* Steps 2 and 3 of edge.h on s[0..n) into out (at least 4n + 1 bytes: no
 * input byte becomes more than four). Returns the length written. */
static size_t clean_into(const unsigned char *s, size_t n, enum edge_mode mode, char *out)
{
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    for (size_t i = 0, k, bad; i < n; i += k) {
        k = utf8_at(s + i, n - i, &bad);
        if (!k) {
            memcpy(o, "\xEF\xBF\xBD", 3); /* U+FFFD */
            o += 3;
            k = bad;
            continue;
        }
        uint32_t cp = code_point(s + i, k);
        if (mode == EDGE_FOLD && (cp == '\t' || cp == '\n' || cp == '\r')) {
            *o++ = ' ';
        } else if (is_control(cp) && !kept_control(cp, mode)) {
            *o++ = '\\';
            *o++ = 'x';
            *o++ = hex[cp >> 4];
            *o++ = hex[cp & 15];
        } else {
            memcpy(o, s + i, k);
            o += k;
        }
    }
    *o = '\0';
    return (size_t)(o - out);
}

char *edge_clean(const char *in, size_t len, enum edge_mode mode, size_t *out_len)
{
    size_t n;
    char *masked = redact_mem(in, len, &n);
    char *out = xmalloc(4 * n + 1);
    size_t m = clean_into((const unsigned char *)masked, n, mode, out);
    free(masked);
    if (out_len)
        *out_len = m;
    return xrealloc(out, m + 1);
}

char *edge_line(const char *s)
{
    return edge_clean(s, strlen(s), EDGE_LINE, NULL);
}

size_t edge_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

char *edge_clip(const char *s, size_t max)
{
    size_t n;
    char *c = edge_clean(s, strlen(s), EDGE_FOLD, &n);
    if (n <= max)
        return c;
    size_t k = edge_cut(c, n, max > 3 ? max - 3 : 0);
    memcpy(c + k, "...", 4);
    return c;
}

char *edge_json_string(const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(s);
    char *out = xmalloc(6 * n + 3), *o = out;
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            *o++ = '\\';
            *o++ = (char)*p;
        } else if (*p == '\t') {
            memcpy(o, "\\t", 2);
            o += 2;
        } else if (*p == '\n') {
            memcpy(o, "\\n", 2);
            o += 2;
        } else if (*p < 0x20) {
            memcpy(o, "\\u00", 4);
            o[4] = hex[*p >> 4];
            o[5] = hex[*p & 15];
            o += 6;
        } else {
            *o++ = (char)*p;
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}
