/* jtree's reader: a recursive-descent parser over (text, len), never reading
 * past len, with the position of every value kept for messages. */
#include "jtree.h"
#include "util.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
    const unsigned char *p, *end;
    int line, col;
    bool lenient;
    struct jt_error *err;
};

static int fail(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parser *ps, const char *fmt, ...)
{
    if (ps->err->line == 0) { /* the first error is the one that counts */
        ps->err->line = ps->line;
        ps->err->col = ps->col;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ps->err->msg, sizeof ps->err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Moves over n bytes, counting lines and characters (not UTF-8
 * continuation bytes). */
static void adv(struct parser *ps, size_t n)
{
    for (; n && ps->p < ps->end; n--, ps->p++) {
        if (*ps->p == '\n') {
            ps->line++;
            ps->col = 1;
        } else if ((*ps->p & 0xC0) != 0x80) {
            ps->col++;
        }
    }
}

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        adv(ps, 1);
}

/* What the next byte is, for messages: 'x', or byte 0xNN, or the end. */
static const char *what_is_here(struct parser *ps, char *buf, size_t n)
{
    if (ps->p >= ps->end)
        return "the end of the file";
    unsigned char c = *ps->p;
    if (c > 0x20 && c < 0x7F)
        snprintf(buf, n, "'%c'", c);
    else
        snprintf(buf, n, "byte 0x%02X", c);
    return buf;
}

/* Length of the UTF-8 sequence at s (RFC 3629: no overlong forms, no
 * surrogates, at most U+10FFFF), 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t len = s[0] >= 0xC2 && s[0] <= 0xDF ? 2 : s[0] >= 0xE0 && s[0] <= 0xEF ? 3
               : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : 0;
    if (!len || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] > 0x9F) ||
        (s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] > 0x8F))
        return 0;
    return len;
}

static void put_utf8(struct sbuf *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp, n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    } else {
        u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    }
    sbuf_put(b, u, n);
}

#define REPLACEMENT 0xFFFD

static int hex4(struct parser *ps, uint32_t *out)
{
    *out = 0;
    for (int i = 0; i < 4; i++) {
        int c = ps->p + i < ps->end ? ps->p[i] : -1;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return fail(ps, "\\u needs four hexadecimal digits");
        *out = *out << 4 | (uint32_t)d;
    }
    adv(ps, 4);
    return 0;
}

/* After "\u": one code point, two escapes for a surrogate pair. */
static int unicode_escape(struct parser *ps, struct sbuf *b)
{
    uint32_t cp, lo;
    if (hex4(ps, &cp))
        return -1;
    if (cp >= 0xD800 && cp <= 0xDBFF && ps->end - ps->p >= 6 && ps->p[0] == '\\' && ps->p[1] == 'u') {
        struct parser save = *ps;
        adv(ps, 2);
        if (hex4(ps, &lo))
            return -1;
        if (lo >= 0xDC00 && lo <= 0xDFFF)
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        else
            *ps = save; /* not a pair: the first one is lone, the second read next */
    }
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp == 0) {
        if (!ps->lenient)
            return fail(ps, cp ? "a lone surrogate escape is not a character" : "\\u0000 is not allowed in a string");
        cp = REPLACEMENT;
    }
    put_utf8(b, cp);
    return 0;
}

static int escape(struct parser *ps, struct sbuf *b)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    adv(ps, 1); /* the backslash */
    if (ps->p >= ps->end)
        return fail(ps, "unterminated string");
    const char *k = strchr(from, *ps->p);
    if (*ps->p == 'u') {
        adv(ps, 1);
        return unicode_escape(ps, b);
    }
    if (!k || !*ps->p) {
        char buf[16];
        return fail(ps, "invalid escape: backslash then %s", what_is_here(ps, buf, sizeof buf));
    }
    sbuf_put(b, &to[k - from], 1);
    adv(ps, 1);
    return 0;
}

/* A string at ps->p (the opening quote); *out newly allocated. */
static int parse_string(struct parser *ps, char **out)
{
    struct sbuf b = {0};
    sbuf_put(&b, "", 0);
    adv(ps, 1);
    for (;;) {
        if (ps->p >= ps->end) {
            free(b.p);
            return fail(ps, "unterminated string");
        }
        unsigned char c = *ps->p;
        size_t n;
        if (c == '"') {
            adv(ps, 1);
            *out = b.p;
            return 0;
        } else if (c == '\\') {
            if (escape(ps, &b))
                break;
        } else if (c < 0x20) {
            fail(ps, "control character (byte 0x%02X) in a string: write it as an escape", c);
            break;
        } else if ((n = utf8_seq(ps->p, (size_t)(ps->end - ps->p))) != 0) {
            sbuf_put(&b, (const char *)ps->p, n);
            adv(ps, n);
        } else if (ps->lenient) {
            put_utf8(&b, REPLACEMENT);
            ps->p++; /* a stray byte: no character, no column */
        } else {
            fail(ps, "invalid UTF-8 (byte 0x%02X) in a string", c);
            break;
        }
    }
    free(b.p);
    return -1;
}

static bool digit(struct parser *ps, size_t at)
{
    return ps->p + at < ps->end && ps->p[at] >= '0' && ps->p[at] <= '9';
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int parse_number(struct parser *ps, struct jt *v)
{
    size_t i = 0;
    if (ps->p[i] == '-')
        i++;
    if (!digit(ps, i))
        return fail(ps, "a number needs a digit after '-'");
    if (ps->p[i] == '0' && digit(ps, i + 1))
        return fail(ps, "a number cannot start with 0");
    while (digit(ps, i))
        i++;
    if (ps->p + i < ps->end && ps->p[i] == '.') {
        if (!digit(ps, ++i))
            return fail(ps, "a number needs a digit after '.'");
        while (digit(ps, i))
            i++;
    }
    if (ps->p + i < ps->end && (ps->p[i] == 'e' || ps->p[i] == 'E')) {
        i++;
        if (ps->p + i < ps->end && (ps->p[i] == '+' || ps->p[i] == '-'))
            i++;
        if (!digit(ps, i))
            return fail(ps, "a number needs a digit in its exponent");
        while (digit(ps, i))
            i++;
    }
    v->type = JT_NUMBER;
    v->s = xstrndup((const char *)ps->p, i);
    adv(ps, i);
    return 0;
}

static int parse_value(struct parser *ps, struct jt *v, int depth);

static int cmp_member(const void *a, const void *b)
{
    return strcmp(((const struct jt *)a)->key, ((const struct jt *)b)->key);
}

static bool later(const struct jt *a, const struct jt *b)
{
    return a->kline > b->kline || (a->kline == b->kline && a->kcol > b->kcol);
}

/* Sorts the members; a repeated name fails at its second place. */
static int sort_members(struct parser *ps, struct jt *o)
{
    jt_sort(o);
    for (size_t i = 1; i < o->n; i++) {
        if (strcmp(o->v[i - 1].key, o->v[i].key) != 0)
            continue;
        const struct jt *dup = later(&o->v[i], &o->v[i - 1]) ? &o->v[i] : &o->v[i - 1];
        ps->line = dup->kline;
        ps->col = dup->kcol;
        char name[72];
        return fail(ps, "the name \"%s\" is given twice in one object", jt_shown(dup->key, 60, name, sizeof name));
    }
    return 0;
}

static int expect(struct parser *ps, char c, const char *after)
{
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == c) {
        adv(ps, 1);
        return 0;
    }
    char buf[16];
    return fail(ps, "expected '%c' %s, found %s", c, after, what_is_here(ps, buf, sizeof buf));
}

static int parse_member(struct parser *ps, struct jt *o, int depth)
{
    skip_ws(ps);
    int kline = ps->line, kcol = ps->col;
    char *key = NULL;
    if (ps->p >= ps->end || *ps->p != '"') {
        char buf[16];
        return fail(ps, "expected a member name in double quotes, found %s", what_is_here(ps, buf, sizeof buf));
    }
    if (parse_string(ps, &key))
        return -1;
    struct jt val = {0};
    if (expect(ps, ':', "after a member name") || parse_value(ps, &val, depth)) {
        free(key);
        jt_free(&val);
        return -1;
    }
    val.key = key;
    val.kline = kline;
    val.kcol = kcol;
    jt_add(o, NULL, val);
    return 0;
}

/* Arrays and objects: items separated by commas, no trailing comma. */
static int parse_container(struct parser *ps, struct jt *v, int depth)
{
    bool obj = *ps->p == '{';
    char close = obj ? '}' : ']';
    if (depth >= JT_DEPTH_MAX)
        return fail(ps, "nested more than %d deep", JT_DEPTH_MAX);
    *v = obj ? jt_object() : jt_array();
    v->line = ps->line, v->col = ps->col;
    adv(ps, 1);
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        adv(ps, 1);
        return 0;
    }
    for (;;) {
        if (obj) {
            if (parse_member(ps, v, depth + 1))
                return -1;
        } else {
            struct jt item = {0};
            if (parse_value(ps, &item, depth + 1)) {
                jt_free(&item);
                return -1;
            }
            jt_add(v, NULL, item);
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            adv(ps, 1);
            continue;
        }
        if (expect(ps, close, obj ? "or ',' after an object member" : "or ',' after an array item"))
            return -1;
        return obj ? sort_members(ps, v) : 0;
    }
}

static int literal(struct parser *ps, const char *word, struct jt *v, enum jt_type t, bool b)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) {
        char buf[16];
        return fail(ps, "expected a JSON value, found %s", what_is_here(ps, buf, sizeof buf));
    }
    v->type = t;
    v->b = b;
    adv(ps, n);
    return 0;
}

static int parse_value(struct parser *ps, struct jt *v, int depth)
{
    skip_ws(ps);
    v->line = ps->line;
    v->col = ps->col;
    if (ps->p >= ps->end)
        return fail(ps, "expected a JSON value, found the end of the file");
    switch (*ps->p) {
    case '{':
    case '[': return parse_container(ps, v, depth);
    case '"': v->type = JT_STRING; return parse_string(ps, &v->s);
    case 't': return literal(ps, "true", v, JT_BOOL, true);
    case 'f': return literal(ps, "false", v, JT_BOOL, false);
    case 'n': return literal(ps, "null", v, JT_NULL, false);
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
            return parse_number(ps, v);
        break;
    }
    char buf[16];
    return fail(ps, "expected a JSON value, found %s", what_is_here(ps, buf, sizeof buf));
}

int jt_parse(const char *text, size_t len, bool lenient, struct jt *out, struct jt_error *err)
{
    struct parser ps = {(const unsigned char *)text, (const unsigned char *)text + len, 1, 1, lenient, err};
    memset(err, 0, sizeof *err);
    memset(out, 0, sizeof *out);
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        ps.p += 3;
    int rc = parse_value(&ps, out, 0);
    if (!rc) {
        skip_ws(&ps);
        if (ps.p < ps.end) {
            char buf[16];
            rc = fail(&ps, "%s after the end of the JSON document", what_is_here(&ps, buf, sizeof buf));
        }
    }
    if (rc) {
        jt_free(out);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

void jt_free(struct jt *v)
{
    for (size_t i = 0; i < v->n; i++)
        jt_free(&v->v[i]);
    free(v->v);
    free(v->s);
    free(v->key);
    v->v = NULL;
    v->s = v->key = NULL;
    v->n = v->cap = 0;
}

const struct jt *jt_get(const struct jt *obj, const char *key)
{
    if (!obj || obj->type != JT_OBJECT)
        return NULL;
    size_t lo = 0, hi = obj->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(key, obj->v[mid].key);
        if (c == 0)
            return &obj->v[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

bool jt_is_string_array(const struct jt *v)
{
    if (!v || v->type != JT_ARRAY)
        return false;
    for (size_t i = 0; i < v->n; i++)
        if (v->v[i].type != JT_STRING)
            return false;
    return true;
}

void jt_sort(struct jt *obj)
{
    if (obj->type == JT_OBJECT && obj->n > 1)
        qsort(obj->v, obj->n, sizeof *obj->v, cmp_member);
}
