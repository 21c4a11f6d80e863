#include "schema_file.h"
#include "schema_dump.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- the shape, member by member -------------------------------------------- */

struct shape_err {
    int line, col;
    char msg[200];
};

static int bad(struct shape_err *se, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad(struct shape_err *se, int line, int col, const char *fmt, ...)
{
    se->line = line;
    se->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(se->msg, sizeof se->msg, fmt, ap);
    va_end(ap);
    return -1;
}

typedef int (*check_fn)(const struct jt *v, struct shape_err *se);

struct member {
    const char *name;
    bool required;
    check_fn check;
};

static const char *type_word(enum jt_type t)
{
    static const char *const words[] = {"null", "true or false", "a number", "a string", "an array", "an object"};
    return words[t];
}

/* How a value is named in messages: its member name, or "an item". */
static const char *called(const struct jt *v, char *buf, size_t n)
{
    if (!v->key)
        return "an item";
    char name[72];
    snprintf(buf, n, "\"%s\"", jt_shown(v->key, 60, name, sizeof name));
    return buf;
}

static int want(const struct jt *v, enum jt_type t, struct shape_err *se)
{
    if (v->type == t)
        return 0;
    char buf[80];
    return bad(se, v->line, v->col, "%s must be %s, not %s", called(v, buf, sizeof buf), type_word(t),
               type_word(v->type));
}

/* The members of o are exactly those of the table: none unknown, every
 * required one present, each checked. */
static int members(const struct jt *o, const char *kind, const struct member *m, size_t n,
                   struct shape_err *se)
{
    char what[100], name[72];
    if (o->key)
        snprintf(what, sizeof what, "%s \"%s\"", kind, jt_shown(o->key, 60, name, sizeof name));
    else
        snprintf(what, sizeof what, "%s", kind);
    if (want(o, JT_OBJECT, se))
        return -1;
    for (size_t i = 0; i < o->n; i++) {
        size_t k = 0;
        while (k < n && strcmp(m[k].name, o->v[i].key) != 0)
            k++;
        if (k == n)
            return bad(se, o->v[i].kline, o->v[i].kcol, "unknown member \"%s\" in %s",
                       jt_shown(o->v[i].key, 60, name, sizeof name), what);
    }
    for (size_t k = 0; k < n; k++) {
        const struct jt *v = jt_get(o, m[k].name);
        if (!v && m[k].required)
            return bad(se, o->line, o->col, "%s has no member \"%s\"", what, m[k].name);
        if (v && m[k].check(v, se))
            return -1;
    }
    return 0;
}

/* An object whose members, named by non-empty names, each pass check. */
static int each(const struct jt *o, check_fn check, struct shape_err *se)
{
    if (want(o, JT_OBJECT, se))
        return -1;
    for (size_t i = 0; i < o->n; i++) {
        if (!*o->v[i].key)
            return bad(se, o->v[i].kline, o->v[i].kcol, "an empty name in \"%s\"", o->key);
        if (check(&o->v[i], se))
            return -1;
    }
    return 0;
}

static int text(const struct jt *v, struct shape_err *se)
{
    char buf[80];
    if (want(v, JT_STRING, se))
        return -1;
    return *v->s ? 0 : bad(se, v->line, v->col, "%s must not be empty", called(v, buf, sizeof buf));
}

static int text_or_null(const struct jt *v, struct shape_err *se)
{
    if (v->type == JT_NULL || v->type == JT_STRING)
        return 0;
    char buf[80];
    return bad(se, v->line, v->col, "%s must be a string or null, not %s", called(v, buf, sizeof buf),
               type_word(v->type));
}

static int boolean(const struct jt *v, struct shape_err *se)
{
    return want(v, JT_BOOL, se);
}

static int column(const struct jt *v, struct shape_err *se)
{
    static const struct member m[] = {
        {"collation", false, text}, {"default", true, text_or_null}, {"generated", false, text},
        {"identity", false, text},  {"not_null", true, boolean},     {"type", true, text},
    };
    return members(v, "column", m, sizeof m / sizeof *m, se);
}

static int columns(const struct jt *v, struct shape_err *se)
{
    return each(v, column, se);
}

static int definitions(const struct jt *v, struct shape_err *se)
{
    return each(v, text, se);
}

static int table(const struct jt *v, struct shape_err *se)
{
    static const struct member m[] = {
        {"columns", true, columns},     {"constraints", true, definitions}, {"indexes", true, definitions},
        {"partition_by", false, text}, {"partition_of", false, text},
    };
    return members(v, "table", m, sizeof m / sizeof *m, se);
}

static int tables(const struct jt *v, struct shape_err *se)
{
    return each(v, table, se);
}

static int labels(const struct jt *v, struct shape_err *se)
{
    if (want(v, JT_ARRAY, se))
        return -1;
    for (size_t i = 0; i < v->n; i++) {
        if (text(&v->v[i], se))
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(v->v[i].s, v->v[j].s) == 0) {
                char name[72];
                return bad(se, v->v[i].line, v->v[i].col, "label \"%s\" given twice",
                           jt_shown(v->v[i].s, 60, name, sizeof name));
            }
    }
    return 0;
}

static int enums(const struct jt *v, struct shape_err *se)
{
    return each(v, labels, se);
}

static int schema(const struct jt *v, struct shape_err *se)
{
    static const struct member m[] = {{"enums", true, enums}, {"tables", true, tables}};
    return members(v, "schema", m, sizeof m / sizeof *m, se);
}

static int schemas(const struct jt *v, struct shape_err *se)
{
    return each(v, schema, se);
}

static int revisions(const struct jt *v, struct shape_err *se)
{
    if (want(v, JT_ARRAY, se))
        return -1;
    for (size_t i = 0; i < v->n; i++)
        if (text(&v->v[i], se))
            return -1;
    return 0;
}

/* A whole number from 1 to 9999, as written. */
static long small_number(const struct jt *v)
{
    if (v->type != JT_NUMBER || strlen(v->s) > 4 || v->s[0] < '1' || v->s[0] > '9' ||
        strspn(v->s, "0123456789") != strlen(v->s))
        return -1;
    return strtol(v->s, NULL, 10);
}

static int format(const struct jt *v, struct shape_err *se)
{
    if (small_number(v) == SCHEMA_FORMAT)
        return 0;
    return bad(se, v->line, v->col, "\"format\" must be %d (a file of another format, or of another "
               "migration-sentry)", SCHEMA_FORMAT);
}

static int major(const struct jt *v, struct shape_err *se)
{
    if (small_number(v) > 0)
        return 0;
    return bad(se, v->line, v->col, "\"postgresql\" must be a major version number, such as 15");
}

static int document(const struct jt *v, struct shape_err *se)
{
    static const struct member m[] = {
        {"alembic_version", true, revisions}, {"format", true, format},
        {"postgresql", true, major},          {"schemas", true, schemas},
    };
    if (v->type != JT_OBJECT)
        return bad(se, v->line, v->col, "the schema file must be a JSON object, not %s", type_word(v->type));
    return members(v, "the schema file", m, sizeof m / sizeof *m, se);
}

/* --- loading -------------------------------------------------------------------- */

static void fill(struct schema_file *f)
{
    const struct jt *rev = jt_get(&f->doc, "alembic_version"), *sc = jt_get(&f->doc, "schemas");
    for (size_t i = 0; i < rev->n; i++)
        strlist_push(&f->revisions, rev->v[i].s);
    strlist_sort(&f->revisions);
    for (size_t i = 0; i < sc->n; i++) {
        strlist_push(&f->schemas, sc->v[i].key); /* already sorted */
        f->has_enums |= jt_get(&sc->v[i], "enums")->n > 0;
    }
    f->postgresql = small_number(jt_get(&f->doc, "postgresql"));
}

int schema_file_parse(const char *text_, size_t len, const char *name, struct schema_file *f, struct err *e)
{
    memset(f, 0, sizeof *f);
    struct jt_error je;
    if (jt_parse(text_, len, false, &f->doc, &je) != 0) {
        err_set(e, "schema file %s: line %d, column %d: %s", name, je.line, je.col, je.msg);
        return -1;
    }
    struct shape_err se = {0};
    if (document(&f->doc, &se) != 0) {
        err_set(e, "schema file %s: line %d, column %d: %s", name, se.line, se.col, se.msg);
        jt_free(&f->doc);
        return -1;
    }
    fill(f);
    f->path = xstrdup(name);
    return 0;
}

int schema_file_load(const char *path, struct schema_file *f, struct err *e)
{
    char *buf;
    size_t len;
    memset(f, 0, sizeof *f);
    int rc = read_whole_file(path, SCHEMA_FILE_MAX, &buf, &len);
    if (rc) {
        err_set(e, "cannot read schema file %s: %s", path, read_error(rc));
        return -1;
    }
    rc = schema_file_parse(buf, len, path, f, e);
    free(buf);
    return rc;
}

/* --- held to the configuration --------------------------------------------------- */

static bool same(const struct strlist *a, const struct strlist *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]) != 0)
            return false;
    return true;
}

static char *listed(const struct strlist *l)
{
    return l->n ? strlist_join(l, ",") : xstrdup("(none)");
}

int schema_file_match(const struct schema_file *f, const struct strlist *schemas_, const char *setting,
                      const struct strlist *heads, struct err *e)
{
    int rc = 0;
    if (!same(&f->schemas, schemas_)) {
        char *a = listed(&f->schemas), *b = listed(schemas_);
        err_set(e, "schema file %s describes schemas %s, but %s is %s: give both the same schemas "
                   "(or make the file again)", f->path, a, setting, b);
        free(a);
        free(b);
        rc = -1;
    } else if (heads && !same(&f->revisions, heads)) {
        char *a = listed(&f->revisions), *b = listed(heads);
        err_set(e, "schema file %s was taken at revision %s, but the script heads are %s: make it "
                   "again from a database migrated to the heads", f->path, a, b);
        free(a);
        free(b);
        rc = -1;
    }
    return rc;
}

void schema_file_free(struct schema_file *f)
{
    jt_free(&f->doc);
    strlist_free(&f->revisions);
    strlist_free(&f->schemas);
    free(f->path);
    memset(f, 0, sizeof *f);
}
