#include "schema_check.h"
#include "redact.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cmp {
    struct strlist *out;
    long checked;
    const char *schema; /* the schema being compared */
};

static void differ(struct cmp *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void differ(struct cmp *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    char *line = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(line, (size_t)n + 1, fmt, ap);
    va_end(ap);
    char *safe = redact_text(line); /* bound for the log and the status file */
    free(line);
    jt_one_line(safe); /* a name or definition may hold a newline: one line each */
    strlist_push_owned(c->out, safe);
}

char *schema_ident(const char *name)
{
    bool bare = (*name >= 'a' && *name <= 'z') || *name == '_';
    for (const char *p = name; bare && *p; p++)
        bare = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '$';
    if (bare)
        return xstrdup(name);
    char *out = xmalloc(strlen(name) * 2 + 3), *o = out;
    *o++ = '"';
    for (; *name; name++) {
        if (*name == '"')
            *o++ = '"';
        *o++ = *name;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

/* An object of the schema being compared: qualified unless in public. */
static char *qualified(const struct cmp *c, const char *name)
{
    char *n = schema_ident(name);
    if (strcmp(c->schema, "public") == 0)
        return n;
    char *s = schema_ident(c->schema), *out = xasprintf("%s.%s", s, n);
    free(s);
    free(n);
    return out;
}

static const char *text_of(const struct jt *v, const char *none)
{
    return v && v->type == JT_STRING ? v->s : none;
}

/* An optional text attribute (absent or null: `none`). */
static void attribute(struct cmp *c, const char *what, const char *attr, const struct jt *want,
                      const struct jt *have, const char *none)
{
    const char *w = text_of(want, none), *h = text_of(have, none);
    if (strcmp(w, h) != 0)
        differ(c, "%s: %s %s, expected %s", what, attr, h, w);
}

static void column(struct cmp *c, const char *table, const struct jt *want, const struct jt *have)
{
    char *col = schema_ident(want->key), *what = xasprintf("column %s.%s", table, col);
    c->checked++;
    if (!have) {
        differ(c, "%s missing", what);
    } else {
        attribute(c, what, "type", jt_get(want, "type"), jt_get(have, "type"), "none");
        bool w = jt_get(want, "not_null")->b, h = jt_get(have, "not_null")->b;
        if (w != h)
            differ(c, "%s: %s, expected %s", what, h ? "not null" : "nullable", w ? "not null" : "nullable");
        attribute(c, what, "default", jt_get(want, "default"), jt_get(have, "default"), "none");
        attribute(c, what, "identity", jt_get(want, "identity"), jt_get(have, "identity"), "none");
        attribute(c, what, "generated", jt_get(want, "generated"), jt_get(have, "generated"), "none");
        attribute(c, what, "collation", jt_get(want, "collation"), jt_get(have, "collation"), "default");
    }
    free(col);
    free(what);
}

/* Constraints (named within their table) and indexes (within the schema). */
static void definitions(struct cmp *c, const char *table, bool indexes, const struct jt *want,
                        const struct jt *have)
{
    for (size_t i = 0; i < want->n; i++) {
        const struct jt *w = &want->v[i], *h = jt_get(have, w->key);
        char *name = indexes ? qualified(c, w->key) : schema_ident(w->key);
        char *what = indexes ? xasprintf("index %s", name) : xasprintf("constraint %s on %s", name, table);
        c->checked++;
        if (!h)
            differ(c, "%s missing", what);
        else if (strcmp(w->s, h->s) != 0)
            differ(c, "%s: %s, expected %s", what, h->s, w->s);
        free(name);
        free(what);
    }
}

/* The table itself, its columns, constraints and indexes. */
static long table_objects(const struct jt *t)
{
    return 1 + (long)(jt_get(t, "columns")->n + jt_get(t, "constraints")->n + jt_get(t, "indexes")->n);
}

static void table(struct cmp *c, const struct jt *want, const struct jt *have)
{
    char *name = qualified(c, want->key), *what = xasprintf("table %s", name);
    const struct jt *cols = jt_get(want, "columns"), *cons = jt_get(want, "constraints"),
                    *idx = jt_get(want, "indexes");
    if (!have) {
        differ(c, "%s missing", what);
        c->checked += table_objects(want);
    } else {
        c->checked++;
        attribute(c, what, "partition_by", jt_get(want, "partition_by"), jt_get(have, "partition_by"), "none");
        attribute(c, what, "partition_of", jt_get(want, "partition_of"), jt_get(have, "partition_of"), "none");
        const struct jt *hcols = jt_get(have, "columns");
        for (size_t i = 0; i < cols->n; i++)
            column(c, name, &cols->v[i], jt_get(hcols, cols->v[i].key));
        definitions(c, name, false, cons, jt_get(have, "constraints"));
        definitions(c, name, true, idx, jt_get(have, "indexes"));
    }
    free(name);
    free(what);
}

static long position(const struct jt *labels, const char *label)
{
    for (size_t i = 0; labels && i < labels->n; i++)
        if (strcmp(labels->v[i].s, label) == 0)
            return (long)i;
    return -1;
}

static char *quoted_labels(const struct jt *labels, const long *order, size_t n)
{
    struct strlist l = {0};
    for (size_t i = 0; i < n; i++)
        strlist_push_owned(&l, xasprintf("'%s'", labels->v[order ? order[i] : (long)i].s));
    char *out = strlist_join(&l, ", ");
    strlist_free(&l);
    return out;
}

/* Every label of the file, in the file's order (labels added between them
 * are additions, and allowed). */
static void enum_type(struct cmp *c, const struct jt *want, const struct jt *have)
{
    char *name = qualified(c, want->key);
    c->checked++;
    if (!have) {
        differ(c, "enum type %s missing", name);
        free(name);
        return;
    }
    long *at = xcalloc(want->n, sizeof *at);
    bool ordered = true, all = true;
    for (size_t i = 0; i < want->n; i++) {
        at[i] = position(have, want->v[i].s);
        if (at[i] < 0) {
            differ(c, "enum type %s: label '%s' missing", name, want->v[i].s);
            all = false;
        } else if (i && at[i - 1] > at[i]) {
            ordered = false;
        }
    }
    if (all && !ordered) {
        long *order = xcalloc(want->n, sizeof *order); /* the file's labels, in the database's order */
        for (size_t i = 0, k = 0; i < have->n; i++)
            if (position(want, have->v[i].s) >= 0)
                order[k++] = position(want, have->v[i].s);
        char *h = quoted_labels(want, order, want->n), *w = quoted_labels(want, NULL, want->n);
        differ(c, "enum type %s: labels in the order %s, expected %s", name, h, w);
        free(h);
        free(w);
        free(order);
    }
    free(at);
    free(name);
}

void schema_compare(const struct schema_file *f, const struct jt *live, struct strlist *differences,
                    long *checked)
{
    struct cmp c = {differences, 0, NULL};
    const struct jt *want = jt_get(&f->doc, "schemas"), *have = jt_get(live, "schemas");
    for (size_t i = 0; i < want->n; i++) {
        const struct jt *ws = &want->v[i], *hs = jt_get(have, ws->key);
        const struct jt *en = jt_get(ws, "enums"), *tb = jt_get(ws, "tables");
        c.schema = ws->key;
        if (!hs) { /* one line for all it holds */
            char *s = schema_ident(ws->key);
            differ(&c, "schema %s missing", s);
            free(s);
            c.checked += (long)en->n;
            for (size_t k = 0; k < tb->n; k++)
                c.checked += table_objects(&tb->v[k]);
            continue;
        }
        for (size_t k = 0; k < en->n; k++)
            enum_type(&c, &en->v[k], jt_get(jt_get(hs, "enums"), en->v[k].key));
        for (size_t k = 0; k < tb->n; k++)
            table(&c, &tb->v[k], jt_get(jt_get(hs, "tables"), tb->v[k].key));
    }
    *checked = c.checked;
}
