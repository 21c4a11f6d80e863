#include "pylex.h"
#include "util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first reason only, with the line it concerns. */
__attribute__((format(printf, 3, 4)))
static int fail_at(struct pylex *lx, int line, const char *fmt, ...)
{
    if (!lx->why) {
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        lx->why = xasprintf("line %d: %s", line, msg);
    }
    return -1;
}

/* --- decoding ------------------------------------------------------------ */

/* Length of the UTF-8 sequence at s (as Python's strict decoder accepts it:
 * no overlong forms, no surrogates, at most U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] > 0x8F))
        return 0;
    return len;
}

/* A `coding[:=]name` comment on the line [p, end): 1 and the name in buf,
 * or 0. As tokenize.detect_encoding's cookie_re. */
static int cookie(const char *p, const char *end, char *buf, size_t n)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\f'))
        p++;
    if (p >= end || *p != '#')
        return 0;
    for (; p + 7 <= end; p++) {
        if (memcmp(p, "coding", 6) != 0 || (p[6] != ':' && p[6] != '='))
            continue;
        const char *q = p + 7;
        while (q < end && (*q == ' ' || *q == '\t'))
            q++;
        size_t k = 0;
        for (; q < end && (isalnum((unsigned char)*q) || (*q && strchr("-_.", *q))) && k + 1 < n; q++)
            buf[k++] = *q == '_' ? '-' : (char)tolower((unsigned char)*q);
        buf[k] = '\0';
        return k > 0;
    }
    return 0;
}

static bool is_utf8_name(const char *name)
{
    return strcmp(name, "utf-8") == 0 || strcmp(name, "utf8") == 0 || strncmp(name, "utf-8-", 6) == 0;
}

/* A cookie naming anything but UTF-8 on line 1 or 2: the text would be
 * decoded otherwise than as UTF-8, which this module does not model. */
static int check_cookies(const char *t, size_t len, char **why)
{
    const char *p = t, *end = t + len;
    for (int line = 1; line <= 2 && p < end; line++) {
        const char *nl = p;
        while (nl < end && *nl != '\n' && *nl != '\r')
            nl++;
        char name[64];
        if (cookie(p, nl, name, sizeof name) && !is_utf8_name(name)) {
            *why = xasprintf("line %d: declares the encoding '%s' (only UTF-8 is read)", line, name);
            return -1;
        }
        p = nl < end && *nl == '\r' && nl + 1 < end && nl[1] == '\n' ? nl + 2 : nl + 1;
    }
    return 0;
}

/* Strict UTF-8, no NUL, universal newlines, a final newline. */
static int decode(struct pylex *lx, const char *t, size_t len, char **why)
{
    char *out = xmalloc(len + 2);
    size_t o = 0;
    int line = 1;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)t[i];
        size_t n = utf8_len((const unsigned char *)t + i, len - i);
        if (c == '\0' || n == 0) {
            *why = xasprintf("line %d: %s", line, c ? "is not valid UTF-8" : "holds a NUL byte");
            free(out);
            return -1;
        }
        if (c == '\r') {
            out[o++] = '\n';
            i += i + 1 < len && t[i + 1] == '\n' ? 2 : 1;
            line++;
            continue;
        }
        line += c == '\n';
        memcpy(out + o, t + i, n);
        o += n;
        i += n;
    }
    if (o == 0 || out[o - 1] != '\n')
        out[o++] = '\n';
    out[o] = '\0';
    lx->src = out;
    lx->len = o;
    return 0;
}

int pylex_open(struct pylex *lx, const char *text, size_t len, char **why)
{
    memset(lx, 0, sizeof *lx);
    lx->line = 1;
    lx->at_bol = true;
    *why = NULL;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3;
        len -= 3;
    }
    if (check_cookies(text, len, why) || decode(lx, text, len, why))
        return -1;
    return 0;
}

void pylex_close(struct pylex *lx)
{
    free(lx->src);
    free(lx->why);
    memset(lx, 0, sizeof *lx);
}

/* --- tokens -------------------------------------------------------------- */

static int emit(struct pylex *lx, struct pytoken *t, enum pytok kind, size_t start, size_t end, int line)
{
    t->kind = kind;
    t->p = lx->src + start;
    t->len = end - start;
    t->line = line;
    if (kind != PT_NEWLINE && kind != PT_INDENT && kind != PT_DEDENT && kind != PT_END)
        lx->has_tokens = true;
    lx->pos = end;
    return 0;
}

/* Indentation at the start of a logical line, as CPython's tokenizer
 * measures it: tabs to the next multiple of 8 and, to catch an ambiguous mix
 * (TabError), as one column; a form feed resets both. Blank and
 * comment-only lines do not count. 1: go on scanning; 0: end of input. */
static int line_start(struct pylex *lx)
{
    const char *s = lx->src;
    size_t p = lx->pos;
    int col = 0, alt = 0;
    for (; p < lx->len; p++) {
        if (s[p] == ' ')
            col++, alt++;
        else if (s[p] == '\t')
            col = (col / 8 + 1) * 8, alt++;
        else if (s[p] == '\f')
            col = alt = 0;
        else
            break;
    }
    if (p >= lx->len) {
        lx->pos = p;
        return 0;
    }
    if (s[p] == '#' || s[p] == '\n') {
        while (s[p] != '\n')
            p++;
        lx->pos = p + 1;
        lx->line++;
        return 1;
    }
    if (s[p] == '\\')
        return fail_at(lx, lx->line, "a line starts with a backslash continuation");
    int top = lx->nindent ? lx->indent[lx->nindent - 1] : 0;
    int atop = lx->nindent ? lx->alt[lx->nindent - 1] : 0;
    if (col > top) {
        if (lx->nindent >= PYLEX_MAX_INDENT)
            return fail_at(lx, lx->line, "too many levels of indentation");
        if (alt <= atop)
            return fail_at(lx, lx->line, "inconsistent use of tabs and spaces in indentation");
        lx->indent[lx->nindent] = col;
        lx->alt[lx->nindent++] = alt;
        lx->pending = 1;
    } else {
        while (lx->nindent && col < lx->indent[lx->nindent - 1]) {
            lx->nindent--;
            lx->pending--;
        }
        top = lx->nindent ? lx->indent[lx->nindent - 1] : 0;
        atop = lx->nindent ? lx->alt[lx->nindent - 1] : 0;
        if (col != top)
            return fail_at(lx, lx->line, "unindent does not match any outer indentation level");
        if (alt != atop)
            return fail_at(lx, lx->line, "inconsistent use of tabs and spaces in indentation");
    }
    lx->pos = p;
    lx->at_bol = false;
    return 1;
}

/* r, u, b, f and the two-letter combinations Python allows, any case. */
static bool string_prefix(const char *p, size_t n, unsigned *flags)
{
    unsigned f = 0;
    if (n == 0 || n > 2)
        return false;
    for (size_t i = 0; i < n; i++) {
        int c = tolower((unsigned char)p[i]);
        unsigned bit = c == 'r' ? PS_RAW : c == 'b' ? PS_BYTES : c == 'f' ? PS_FSTRING : c == 'u' ? 16u : 0;
        if (!bit || (f & bit))
            return false;
        f |= bit;
    }
    if (n == 2 && ((f & 16u) || (f & PS_BYTES && f & PS_FSTRING)))
        return false;
    *flags = f & ~16u;
    return true;
}

struct fstate {
    char stack[PYLEX_MAX_DEPTH]; /* open brackets inside a replacement field */
    int depth;
};

static char closer(char open)
{
    return open == '(' ? ')' : open == '[' ? ']' : '}';
}

/* A string nested in an f-string's field, from its opening quote at *i: no
 * backslash, no newline unless both it and the f-string are triple-quoted,
 * and never the f-string's own quote (3.11 and 3.12 would split it
 * differently). */
static int nested_string(struct pylex *lx, size_t *i, char q, bool outer_triple)
{
    const char *s = lx->src;
    char q2 = s[*i];
    bool triple = *i + 2 < lx->len && s[*i + 1] == q2 && s[*i + 2] == q2;
    size_t k = *i + (triple ? 3 : 1);
    for (;; k++) {
        if (k >= lx->len)
            return fail_at(lx, lx->line, "unterminated string in an f-string field");
        char c = s[k];
        if (c == '\\' || c == q)
            return fail_at(lx, lx->line, "an f-string field holds a backslash or the f-string's own quote");
        if (c == '\n' && !(triple && outer_triple))
            return fail_at(lx, lx->line, "unterminated string in an f-string field");
        lx->line += c == '\n';
        if (c == q2 && (!triple || (k + 2 < lx->len && s[k + 1] == q2 && s[k + 2] == q2))) {
            *i = k + (triple ? 3 : 1);
            return 0;
        }
    }
}

/* One character of a replacement field at *i (fs->depth > 0). */
static int field_char(struct pylex *lx, struct fstate *fs, size_t *i, char q, bool triple)
{
    char c = lx->src[*i];
    if (c == '\\' || c == '#' || c == q)
        return fail_at(lx, lx->line, "an f-string field holds a %s",
                       c == '\\' ? "backslash" : c == '#' ? "comment" : "quote like its own");
    if (c == '\'' || c == '"')
        return nested_string(lx, i, q, triple);
    if (c == '\n') {
        if (!triple)
            return fail_at(lx, lx->line, "unterminated string");
        lx->line++;
    } else if (c == '(' || c == '[' || c == '{') {
        if (fs->depth >= PYLEX_MAX_DEPTH)
            return fail_at(lx, lx->line, "too many nested brackets in an f-string field");
        fs->stack[fs->depth++] = c;
    } else if (c == ')' || c == ']' || c == '}') {
        if (closer(fs->stack[fs->depth - 1]) != c)
            return fail_at(lx, lx->line, "mismatched '%c' in an f-string field", c);
        fs->depth--;
    }
    (*i)++;
    return 0;
}

/* A string literal whose prefix starts at `start` and quote is at lx->pos. */
static int scan_string(struct pylex *lx, struct pytoken *t, size_t start, unsigned flags)
{
    const char *s = lx->src;
    char q = s[lx->pos];
    bool triple = lx->pos + 2 < lx->len && s[lx->pos + 1] == q && s[lx->pos + 2] == q;
    size_t i = lx->pos + (triple ? 3 : 1), body = i;
    int line0 = lx->line;
    struct fstate fs = {{0}, 0};
    for (;;) {
        if (i >= lx->len)
            return fail_at(lx, line0, "unterminated %sstring", triple ? "triple-quoted " : "");
        char c = s[i];
        if (fs.depth > 0) {
            if (field_char(lx, &fs, &i, q, triple))
                return -1;
        } else if (c == '\\') {
            lx->line += i + 1 < lx->len && s[i + 1] == '\n';
            i += 2;
        } else if (c == '\n') {
            if (!triple)
                return fail_at(lx, line0, "unterminated string");
            lx->line++;
            i++;
        } else if (c == q && (!triple || (i + 2 < lx->len && s[i + 1] == q && s[i + 2] == q))) {
            break;
        } else if ((flags & PS_FSTRING) && (c == '{' || c == '}')) {
            if (i + 1 < lx->len && s[i + 1] == c) {
                i += 2;
            } else if (c == '}') {
                return fail_at(lx, lx->line, "single '}' is not allowed in an f-string");
            } else {
                fs.stack[fs.depth++] = '{';
                flags |= PS_FIELDS;
                i++;
            }
        } else {
            i++;
        }
    }
    t->flags = flags;
    t->body = s + body;
    t->body_len = i - body;
    return emit(lx, t, PT_STRING, start, i + (triple ? 3 : 1), line0);
}

static bool digit_or_us(char c, int base)
{
    if (c == '_')
        return true;
    if (base == 16)
        return isxdigit((unsigned char)c);
    return c >= '0' && c < '0' + (base == 8 ? 8 : base == 2 ? 2 : 10);
}

/* A number: only its extent matters, but a name glued to it (`1if`,
 * `0x1for`) is refused rather than guessed. */
static int scan_number(struct pylex *lx, struct pytoken *t)
{
    const char *s = lx->src;
    size_t i = lx->pos;
    int base = 10;
    if (s[i] == '0' && s[i + 1] && strchr("xXoObB", s[i + 1])) {
        base = tolower((unsigned char)s[i + 1]) == 'x' ? 16 : tolower((unsigned char)s[i + 1]) == 'o' ? 8 : 2;
        i += 2;
    }
    while (digit_or_us(s[i], base))
        i++;
    if (base == 10) {
        if (s[i] == '.')
            for (i++; digit_or_us(s[i], 10); i++)
                ;
        if ((s[i] == 'e' || s[i] == 'E') &&
            (isdigit((unsigned char)s[i + 1]) || ((s[i + 1] == '+' || s[i + 1] == '-') && isdigit((unsigned char)s[i + 2]))))
            for (i += 2; digit_or_us(s[i], 10); i++)
                ;
        if (s[i] == 'j' || s[i] == 'J')
            i++;
    }
    if (isalnum((unsigned char)s[i]) || s[i] == '_' || (unsigned char)s[i] >= 0x80)
        return fail_at(lx, lx->line, "invalid number literal");
    return emit(lx, t, PT_NUMBER, lx->pos, i, lx->line);
}

static int bracket(struct pylex *lx, char c)
{
    if (c == '(' || c == '[' || c == '{') {
        if (lx->depth >= PYLEX_MAX_DEPTH)
            return fail_at(lx, lx->line, "too many nested brackets");
        lx->brackets[lx->depth++] = c;
    } else if (c == ')' || c == ']' || c == '}') {
        if (lx->depth == 0)
            return fail_at(lx, lx->line, "unmatched '%c'", c);
        if (closer(lx->brackets[lx->depth - 1]) != c)
            return fail_at(lx, lx->line, "'%c' does not match '%c'", c, lx->brackets[lx->depth - 1]);
        lx->depth--;
    }
    return 0;
}

static int scan_op(struct pylex *lx, struct pytoken *t)
{
    static const char *const ops3[] = {"**=", "//=", ">>=", "<<=", "..."};
    static const char *const ops2[] = {"**", "//", ">>", "<<", "<=", ">=", "==", "!=", "->", ":=",
                                       "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "@="};
    const char *p = lx->src + lx->pos;
    for (size_t k = 0; k < sizeof ops3 / sizeof ops3[0]; k++)
        if (memcmp(p, ops3[k], 3) == 0)
            return emit(lx, t, PT_OP, lx->pos, lx->pos + 3, lx->line);
    for (size_t k = 0; k < sizeof ops2 / sizeof ops2[0]; k++)
        if (memcmp(p, ops2[k], 2) == 0)
            return emit(lx, t, PT_OP, lx->pos, lx->pos + 2, lx->line);
    if (*p && strchr("()[]{},:;.+-*/%@&|^~<>=", *p)) {
        if (bracket(lx, *p))
            return -1;
        return emit(lx, t, PT_OP, lx->pos, lx->pos + 1, lx->line);
    }
    unsigned char c = (unsigned char)*p;
    return fail_at(lx, lx->line, c >= 0x80 ? "non-ASCII character outside strings and comments"
                                           : "invalid character 0x%02x", c);
}

static int scan_name(struct pylex *lx, struct pytoken *t)
{
    const char *s = lx->src;
    size_t i = lx->pos;
    while (isalnum((unsigned char)s[i]) || s[i] == '_')
        i++;
    if ((unsigned char)s[i] >= 0x80)
        return fail_at(lx, lx->line, "a non-ASCII identifier");
    unsigned flags;
    if ((s[i] == '\'' || s[i] == '"') && string_prefix(s + lx->pos, i - lx->pos, &flags)) {
        size_t start = lx->pos;
        lx->pos = i;
        return scan_string(lx, t, start, flags);
    }
    return emit(lx, t, PT_NAME, lx->pos, i, lx->line);
}

/* End of input: close the last logical line's blocks. */
static int at_end(struct pylex *lx, struct pytoken *t)
{
    if (lx->depth)
        return fail_at(lx, lx->line, "'%c' never closed", lx->brackets[lx->depth - 1]);
    if (lx->nindent) {
        lx->pending = -lx->nindent;
        lx->nindent = 0;
        lx->pending++;
        return emit(lx, t, PT_DEDENT, lx->len, lx->len, lx->line);
    }
    return emit(lx, t, PT_END, lx->len, lx->len, lx->line);
}

/* Within a logical line: skips blanks, comments and continuations; 1 when
 * a token or the line's end follows. */
static int skip_blank(struct pylex *lx)
{
    const char *s = lx->src;
    for (;;) {
        char c = s[lx->pos];
        if (c == ' ' || c == '\t' || c == '\f') {
            lx->pos++;
        } else if (c == '#') {
            while (s[lx->pos] != '\n')
                lx->pos++;
        } else if (c == '\\') {
            if (s[lx->pos + 1] != '\n')
                return fail_at(lx, lx->line, "unexpected character after a line continuation");
            lx->pos += 2;
            lx->line++;
            if (lx->pos >= lx->len)
                return fail_at(lx, lx->line, "unexpected end of file after a line continuation");
        } else {
            return 1;
        }
    }
}

int pylex_next(struct pylex *lx, struct pytoken *t)
{
    memset(t, 0, sizeof *t);
    for (;;) {
        if (lx->why)
            return -1;
        if (lx->pending) {
            enum pytok k = lx->pending > 0 ? PT_INDENT : PT_DEDENT;
            lx->pending += lx->pending > 0 ? -1 : 1;
            return emit(lx, t, k, lx->pos, lx->pos, lx->line);
        }
        if (lx->at_bol && lx->depth == 0) {
            int rc = line_start(lx);
            if (rc < 0)
                return -1;
            if (rc == 0)
                return at_end(lx, t);
            continue;
        }
        if (lx->pos >= lx->len)
            return at_end(lx, t);
        if (skip_blank(lx) < 0)
            return -1;
        const char *s = lx->src;
        unsigned char c = (unsigned char)s[lx->pos];
        if (c == '\n') {
            int line = lx->line++;
            lx->pos++;
            if (lx->depth > 0)
                continue;
            lx->at_bol = true;
            if (!lx->has_tokens)
                continue;
            lx->has_tokens = false;
            return emit(lx, t, PT_NEWLINE, lx->pos - 1, lx->pos, line);
        }
        if (isalpha(c) || c == '_')
            return scan_name(lx, t);
        if (c >= 0x80)
            return fail_at(lx, lx->line, "a non-ASCII identifier or character outside strings");
        if (isdigit(c) || (c == '.' && isdigit((unsigned char)s[lx->pos + 1])))
            return scan_number(lx, t);
        if (c == '\'' || c == '"')
            return scan_string(lx, t, lx->pos, 0);
        return scan_op(lx, t);
    }
}

/* --- string values ------------------------------------------------------- */

static void put_utf8(char *out, size_t *o, unsigned long cp)
{
    if (cp < 0x80) {
        out[(*o)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*o)++] = (char)(0xC0 | (cp >> 6));
        out[(*o)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out[(*o)++] = (char)(0xE0 | (cp >> 12));
        out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*o)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        out[(*o)++] = (char)(0xF0 | (cp >> 18));
        out[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*o)++] = (char)(0x80 | (cp & 0x3F));
    }
}

/* n hex digits at p: the value, or -1. */
static long hex_n(const char *p, const char *end, int n)
{
    long v = 0;
    for (int k = 0; k < n; k++) {
        if (p + k >= end || !isxdigit((unsigned char)p[k]))
            return -1;
        v = v * 16 + (isdigit((unsigned char)p[k]) ? p[k] - '0' : tolower((unsigned char)p[k]) - 'a' + 10);
    }
    return v;
}

/* One escape after a backslash at *pp (pointing past it): the code point,
 * -2 for "keep the backslash" (an unknown escape), -3 for a joined line,
 * -1 with *why for an invalid one (a SyntaxError), -4 with *why for \N{...}
 * (Unicode names are not modelled). */
static long escape(const char **pp, const char *end, const char **why)
{
    const char *p = *pp;
    static const char simple[] = "\\\\''\"\"a\ab\bf\fn\nr\rt\tv\v";
    for (size_t k = 0; simple[k]; k += 2)
        if (*p == simple[k]) {
            *pp = p + 1;
            return (unsigned char)simple[k + 1];
        }
    if (*p == '\n') {
        *pp = p + 1;
        return -3;
    }
    if (*p >= '0' && *p <= '7') {
        long v = 0;
        int k = 0;
        for (; k < 3 && p + k < end && p[k] >= '0' && p[k] <= '7'; k++)
            v = v * 8 + (p[k] - '0');
        *pp = p + k;
        return v;
    }
    int n = *p == 'x' ? 2 : *p == 'u' ? 4 : *p == 'U' ? 8 : 0;
    if (n) {
        long v = hex_n(p + 1, end, n);
        if (v < 0 || v > 0x10FFFF)
            return (*why = "a truncated or invalid \\x, \\u or \\U escape"), -1;
        *pp = p + 1 + n;
        return v;
    }
    if (*p == 'N')
        return (*why = "a \\N{...} escape"), -4;
    return -2;
}

int pylex_str_value(const struct pytoken *t, char **out, const char **why)
{
    *out = NULL;
    if (t->kind != PT_STRING || (t->flags & (PS_BYTES | PS_FIELDS)))
        return (*why = t->flags & PS_BYTES ? "a bytes literal, not a string" : "a computed f-string"), 1;
    const char *p = t->body, *end = t->body + t->body_len;
    char *buf = xmalloc(t->body_len * 4 + 1);
    size_t o = 0;
    while (p < end) {
        long cp = (unsigned char)*p;
        if ((t->flags & PS_FSTRING) && (*p == '{' || *p == '}')) {
            p += 2; /* {{ or }}: the lexer let no single one through */
        } else if (*p == '\\' && !(t->flags & PS_RAW)) {
            p++;
            cp = escape(&p, end, why);
            if (cp == -1 || cp == -4) {
                free(buf);
                return cp == -1 ? -1 : 1;
            }
            if (cp == -2) {
                buf[o++] = '\\';
                continue;
            }
            if (cp == -3)
                continue;
        } else {
            buf[o++] = *p++;
            continue;
        }
        if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) {
            free(buf);
            return (*why = cp ? "a lone surrogate" : "a NUL character"), 1;
        }
        put_utf8(buf, &o, (unsigned long)cp);
    }
    buf[o] = '\0';
    *out = buf;
    return 0;
}
