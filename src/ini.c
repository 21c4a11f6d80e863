#include "ini.h"
#include "util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INTERPOLATION_DEPTH 10

/* --- characters ------------------------------------------------------------ */

/* Bytes of the whitespace character at p (str.isspace() in Python), or 0. */
static size_t space_len(const unsigned char *p, const unsigned char *end)
{
    if (p >= end)
        return 0;
    if ((*p >= 0x09 && *p <= 0x0D) || (*p >= 0x1C && *p <= 0x20))
        return 1;
    if (end - p >= 2 && p[0] == 0xC2 && (p[1] == 0x85 || p[1] == 0xA0))
        return 2;
    if (end - p < 3)
        return 0;
    unsigned cp = ((unsigned)(p[0] & 0x0F) << 12) | ((unsigned)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    if ((p[0] & 0xF0) != 0xE0)
        return 0;
    bool ws = cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
              cp == 0x202F || cp == 0x205F || cp == 0x3000;
    return ws ? 3 : 0;
}

static bool valid_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        unsigned c = *p;
        size_t len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
                   : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (!len || (size_t)(end - p) < len || c == 0)
            return false;
        for (size_t i = 1; i < len; i++)
            if ((p[i] & 0xC0) != 0x80)
                return false;
        if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] > 0x9F) || (c == 0xF0 && p[1] < 0x90) ||
            (c == 0xF4 && p[1] > 0x8F))
            return false;
        p += len;
    }
    return true;
}

/* The end of [b, e) without its trailing whitespace. */
static const char *rstrip_end(const char *b, const char *e)
{
    const char *p = b, *last = b;
    while (p < e) {
        size_t n = space_len((const unsigned char *)p, (const unsigned char *)e);
        if (n) {
            p += n;
            continue;
        }
        for (p++; p < e && ((unsigned char)*p & 0xC0) == 0x80; p++)
            ;
        last = p;
    }
    return last;
}

/* [*b, *e) stripped of whitespace at both ends (str.strip()); the number
 * of characters stripped at the start in *lead. */
void ini_strip(const char **b, const char **e, size_t *lead)
{
    size_t n, count = 0;
    while ((n = space_len((const unsigned char *)*b, (const unsigned char *)*e)) > 0)
        *b += n, count++;
    *e = rstrip_end(*b, *e);
    if (lead)
        *lead = count;
}

/* --- options ----------------------------------------------------------------- */

static struct ini_opt *find(const struct ini *ini, const char *section, const char *key)
{
    for (size_t i = 0; i < ini->n; i++)
        if (strcmp(ini->v[i].section, section) == 0 && strcmp(ini->v[i].key, key) == 0)
            return &ini->v[i];
    return NULL;
}

bool ini_has_section(const struct ini *ini, const char *section)
{
    for (size_t i = 0; i < ini->nsections; i++)
        if (strcmp(ini->sections[i], section) == 0)
            return true;
    return false;
}

static void add_section(struct ini *ini, const char *name)
{
    ini->sections = xrealloc(ini->sections, (ini->nsections + 1) * sizeof *ini->sections);
    ini->sections[ini->nsections++] = xstrdup(name);
}

void ini_set(struct ini *ini, const char *section, const char *key, const char *value, bool preset)
{
    if (strcmp(section, "DEFAULT") != 0 && !ini_has_section(ini, section))
        add_section(ini, section);
    struct ini_opt *o = find(ini, section, key);
    if (!o) {
        ini->v = xrealloc(ini->v, (ini->n + 1) * sizeof *ini->v);
        o = &ini->v[ini->n++];
        o->section = xstrdup(section);
        o->key = xstrdup(key);
        o->value = NULL;
    }
    free(o->value);
    o->value = xstrdup(value);
    o->preset = preset;
}

/* --- parsing ------------------------------------------------------------------- */

struct parser {
    struct ini *ini;
    char *section;       /* current section name, or NULL before any */
    struct ini_opt *opt; /* the option whose value continues, or NULL */
    size_t indent;       /* indentation of the line that started it */
    int lineno;
    char *why;
};

__attribute__((format(printf, 2, 3)))
static int perr(struct parser *ps, const char *fmt, ...)
{
    if (!ps->why) {
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        ps->why = xasprintf("line %d: %s", ps->lineno, msg);
    }
    return -1;
}

static bool ascii(const char *b, const char *e)
{
    for (; b < e; b++)
        if ((unsigned char)*b >= 0x80)
            return false;
    return true;
}

static int section_header(struct parser *ps, const char *b, const char *e)
{
    const char *close = e - 1;
    while (close > b && *close != ']')
        close--;
    if (*b != '[' || close - b < 2)
        return 1; /* not a header */
    if (!ascii(b + 1, close))
        return perr(ps, "a non-ASCII section name");
    char *name = xstrndup(b + 1, (size_t)(close - b - 1));
    if (strcmp(name, "DEFAULT") != 0) {
        if (ini_has_section(ps->ini, name)) {
            free(name);
            return perr(ps, "section [%.60s] appears twice", b + 1);
        }
        add_section(ps->ini, name);
    }
    free(ps->section);
    ps->section = name;
    ps->opt = NULL;
    return 0;
}

static int option_line(struct parser *ps, const char *b, const char *e)
{
    const char *d = b;
    while (d < e && *d != '=' && *d != ':')
        d++;
    if (d == e)
        return perr(ps, "neither a section, an option nor a continuation");
    const char *kb = b, *ke = d, *vb = d + 1, *ve = e;
    ini_strip(&kb, &ke, NULL);
    ini_strip(&vb, &ve, NULL);
    if (kb == ke)
        return perr(ps, "an option with no name");
    if (!ascii(kb, ke))
        return perr(ps, "a non-ASCII option name");
    char *key = xstrndup(kb, (size_t)(ke - kb));
    for (char *k = key; *k; k++)
        *k = (char)tolower((unsigned char)*k);
    struct ini_opt *o = find(ps->ini, ps->section, key);
    if (o && !o->preset) {
        free(key);
        return perr(ps, "option '%.60s' appears twice in [%.60s]", kb, ps->section);
    }
    char *val = xstrndup(vb, (size_t)(ve - vb));
    ini_set(ps->ini, ps->section, key, val, false);
    ps->opt = find(ps->ini, ps->section, key);
    free(key);
    free(val);
    return 0;
}

static void append(struct ini_opt *o, const char *b, const char *e)
{
    char *v = xasprintf("%s\n%.*s", o->value, (int)(e - b), b);
    free(o->value);
    o->value = v;
}

/* One physical line [b, e), as configparser's _read takes it. */
static int one_line(struct parser *ps, const char *b, const char *e)
{
    const char *vb = b, *ve = e;
    size_t indent;
    ini_strip(&vb, &ve, &indent);
    bool comment = vb < ve && (*vb == '#' || *vb == ';');
    if (comment || vb == ve) {
        if (!comment && ps->section && ps->opt)
            append(ps->opt, vb, vb); /* a blank line inside a value */
        return 0;
    }
    if (ps->section && ps->opt && indent > ps->indent) {
        append(ps->opt, vb, ve);
        return 0;
    }
    ps->indent = indent;
    int rc = section_header(ps, vb, ve);
    if (rc <= 0)
        return rc;
    if (!ps->section)
        return perr(ps, "an option before any [section]");
    return option_line(ps, vb, ve);
}

/* Values read from the file lose their trailing whitespace once it is all
 * read ('\n'.join(lines).rstrip()). */
static void rstrip_values(struct ini *ini)
{
    for (size_t i = 0; i < ini->n; i++) {
        char *v = ini->v[i].value;
        if (!ini->v[i].preset)
            v[rstrip_end(v, v + strlen(v)) - v] = '\0';
    }
}

int ini_parse(struct ini *ini, const char *text, size_t len, char **why)
{
    struct parser ps = {ini, NULL, NULL, 0, 0, NULL};
    *why = NULL;
    if (!valid_utf8(text, len)) {
        *why = xstrdup("not valid UTF-8 (or holds a NUL byte)");
        return -1;
    }
    const char *p = text, *end = text + len;
    int rc = 0;
    while (rc == 0 && p < end) {
        const char *nl = p;
        while (nl < end && *nl != '\n' && *nl != '\r')
            nl++;
        ps.lineno++;
        rc = one_line(&ps, p, nl);
        p = nl < end && *nl == '\r' && nl + 1 < end && nl[1] == '\n' ? nl + 2 : nl + 1;
    }
    rstrip_values(ini);
    free(ps.section);
    *why = ps.why;
    return rc;
}

/* --- interpolation --------------------------------------------------------------- */

static const struct ini_opt *lookup(const struct ini *ini, const char *section, const char *key)
{
    const struct ini_opt *o = find(ini, section, key);
    return o ? o : find(ini, "DEFAULT", key);
}

/* BasicInterpolation._interpolate_some. */
static int interpolate(const struct ini *ini, const char *section, const char *key, const char *rest,
                       int depth, struct sbuf *out, char **why)
{
    if (depth > MAX_INTERPOLATION_DEPTH)
        return (*why = xasprintf("%s: interpolation nested more than %d deep", key, MAX_INTERPOLATION_DEPTH)), -1;
    while (*rest) {
        const char *pc = strchr(rest, '%');
        if (!pc) {
            sbuf_put(out, rest, strlen(rest));
            return 0;
        }
        sbuf_put(out, rest, (size_t)(pc - rest));
        if (pc[1] == '%') {
            sbuf_put(out, "%", 1);
            rest = pc + 2;
            continue;
        }
        const char *close = pc[1] == '(' ? strchr(pc + 2, ')') : NULL;
        if (!close || close == pc + 2 || close[1] != 's')
            return (*why = xasprintf("%s: bad interpolation syntax at '%.40s'", key, pc)), -1;
        char *name = xstrndup(pc + 2, (size_t)(close - pc - 2));
        for (char *k = name; *k; k++)
            *k = (char)tolower((unsigned char)*k);
        const struct ini_opt *o = lookup(ini, section, name);
        if (!o) {
            *why = xasprintf("%s: interpolation names %.60s, which is not set", key, name);
            free(name);
            return -1;
        }
        free(name);
        if (strchr(o->value, '%')) {
            if (interpolate(ini, section, key, o->value, depth + 1, out, why))
                return -1;
        } else {
            sbuf_put(out, o->value, strlen(o->value));
        }
        rest = close + 2;
    }
    return 0;
}

int ini_get(const struct ini *ini, const char *section, const char *key, char **out, char **why)
{
    *out = NULL;
    *why = NULL;
    const struct ini_opt *o = lookup(ini, section, key);
    if (!o)
        return 1;
    struct sbuf b = {NULL, 0, 0};
    sbuf_put(&b, "", 0);
    if (interpolate(ini, section, key, o->value, 1, &b, why)) {
        free(b.p);
        return -1;
    }
    *out = b.p;
    return 0;
}

void ini_free(struct ini *ini)
{
    for (size_t i = 0; i < ini->n; i++) {
        free(ini->v[i].section);
        free(ini->v[i].key);
        free(ini->v[i].value);
    }
    for (size_t i = 0; i < ini->nsections; i++)
        free(ini->sections[i]);
    free(ini->v);
    free(ini->sections);
    memset(ini, 0, sizeof *ini);
}
