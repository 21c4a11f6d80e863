/* jtree's builders and its canonical printer (see jtree.h): Python's
 * json.dumps(indent=2, sort_keys=True, ensure_ascii=False), byte for byte. */
#include "jtree.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jt jt_null(void)
{
    return (struct jt){.type = JT_NULL};
}

struct jt jt_bool(bool b)
{
    return (struct jt){.type = JT_BOOL, .b = b};
}

struct jt jt_string(const char *s)
{
    return (struct jt){.type = JT_STRING, .s = xstrdup(s)};
}

struct jt jt_integer(long n)
{
    return (struct jt){.type = JT_NUMBER, .s = xasprintf("%ld", n)};
}

struct jt jt_object(void)
{
    return (struct jt){.type = JT_OBJECT};
}

struct jt jt_array(void)
{
    return (struct jt){.type = JT_ARRAY};
}

void jt_add(struct jt *c, const char *key, struct jt value)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->v = xrealloc(c->v, c->cap * sizeof *c->v);
    }
    if (key) {
        free(value.key);
        value.key = xstrdup(key);
    }
    c->v[c->n++] = value;
}

/* --- printing --------------------------------------------------------------- */

static void puts_(struct sbuf *o, const char *s)
{
    sbuf_put(o, s, strlen(s));
}

/* ensure_ascii=False: only the quote, the backslash and control characters
 * are escaped, the way Python spells them. */
static void put_string(struct sbuf *o, const char *s)
{
    sbuf_put(o, "\"", 1);
    for (const char *run = s;; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        sbuf_put(o, run, (size_t)(s - run));
        if (!c)
            break;
        char esc[8];
        const char *named = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                          : c == '\t' ? "\\t" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
        if (!named)
            snprintf(esc, sizeof esc, "\\u%04x", c);
        puts_(o, named ? named : esc);
        run = s + 1;
    }
    sbuf_put(o, "\"", 1);
}

static void indent(struct sbuf *o, int level)
{
    sbuf_put(o, "\n", 1);
    for (int i = 0; i < level; i++)
        sbuf_put(o, "  ", 2);
}

static void render(struct sbuf *o, const struct jt *v, int level)
{
    switch (v->type) {
    case JT_NULL: puts_(o, "null"); return;
    case JT_BOOL: puts_(o, v->b ? "true" : "false"); return;
    case JT_NUMBER: puts_(o, v->s); return;
    case JT_STRING: put_string(o, v->s); return;
    case JT_ARRAY:
    case JT_OBJECT: break;
    }
    bool obj = v->type == JT_OBJECT;
    if (!v->n) {
        puts_(o, obj ? "{}" : "[]");
        return;
    }
    puts_(o, obj ? "{" : "[");
    for (size_t i = 0; i < v->n; i++) {
        if (i)
            sbuf_put(o, ",", 1);
        indent(o, level + 1);
        if (obj) {
            put_string(o, v->v[i].key);
            puts_(o, ": ");
        }
        render(o, &v->v[i], level + 1);
    }
    indent(o, level);
    puts_(o, obj ? "}" : "]");
}

char *jt_render(const struct jt *v)
{
    struct sbuf o = {0};
    render(&o, v, 0);
    sbuf_put(&o, "\n", 1);
    return o.p;
}

char *jt_quote(const char *s)
{
    struct sbuf o = {0};
    put_string(&o, s);
    return o.p;
}

void jt_one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7F)
            *s = '?';
}

const char *jt_shown(const char *s, size_t max, char *buf, size_t n)
{
    size_t len = strlen(s), cut = len;
    if (max + 4 > n)
        max = n > 4 ? n - 4 : 0;
    if (cut > max) {
        cut = max;
        while (cut && ((unsigned char)s[cut] & 0xC0) == 0x80) /* s[cut] starts no character */
            cut--;
    }
    memcpy(buf, s, cut);
    strcpy(buf + cut, cut < len ? "..." : "");
    jt_one_line(buf);
    return buf;
}
