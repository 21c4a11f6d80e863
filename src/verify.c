#include "verify.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARTS 3

/* One dotted part at *pp: "quoted" (with "" for a quote) or bare. */
static char *parse_part(const char **pp)
{
    const char *p = *pp;
    char *out = xmalloc(strlen(p) + 1), *o = out;
    if (*p == '"') {
        for (p++;; p++) {
            if (!*p) {
                free(out);
                return NULL;
            }
            if (*p == '"') {
                if (p[1] != '"')
                    break;
                p++;
            }
            *o++ = *p;
        }
        p++;
    } else {
        for (; *p && *p != '.'; p++) {
            if (*p == '"' || isspace((unsigned char)*p)) {
                free(out);
                return NULL;
            }
            *o++ = (char)tolower((unsigned char)*p);
        }
    }
    *o = '\0';
    *pp = p;
    if (!*out) {
        free(out);
        return NULL;
    }
    return out;
}

static int parse_one(const char *item, struct column *col)
{
    char *parts[MAX_PARTS] = {0};
    int n = 0;
    const char *p = item;
    for (;;) {
        if (n == MAX_PARTS)
            goto bad;
        if (!(parts[n++] = parse_part(&p)))
            goto bad;
        if (!*p)
            break;
        if (*p != '.')
            goto bad;
        p++;
    }
    if (n < 2)
        goto bad;
    col->schema = n == 3 ? parts[0] : xstrdup("public");
    col->table = parts[n - 2];
    col->name = parts[n - 1];
    col->label = xstrdup(item);
    return 0;
bad:
    for (int i = 0; i < n; i++)
        free(parts[i]);
    return -1;
}

int columns_parse(const struct strlist *items, const char *what, struct columns *out, struct err *e)
{
    out->v = xcalloc(items->n, sizeof *out->v);
    out->n = 0;
    for (size_t i = 0; i < items->n; i++) {
        if (parse_one(items->v[i], &out->v[out->n]) != 0) {
            err_set(e, "%s: '%.80s' is not table.column or schema.table.column", what,
                    items->v[i]);
            columns_free(out);
            return -1;
        }
        out->n++;
    }
    return 0;
}

void columns_free(struct columns *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].schema);
        free(c->v[i].table);
        free(c->v[i].name);
        free(c->v[i].label);
    }
    free(c->v);
    c->v = NULL;
    c->n = 0;
}

/* One statement for every column: the names travel as three text arrays,
 * query parameters like any other, never pasted into the SQL (quote_ident
 * and to_regclass find the table through the catalog caches, which a new
 * backend plans faster than a join of the catalogs). */
static const char COLUMNS_SQL[] =
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a"
    " WHERE a.attrelid = pg_catalog.to_regclass(pg_catalog.quote_ident(x.s) || '.' ||"
    " pg_catalog.quote_ident(x.t)) AND a.attname = x.c AND a.attnum > 0 AND NOT a.attisdropped)"
    " FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS x(s, t, c, i)"
    " ORDER BY x.i";

static char *array_of(const struct columns *cols, int part)
{
    const char **items = xcalloc(cols->n, sizeof *items);
    for (size_t i = 0; i < cols->n; i++)
        items[i] = part == 0 ? cols->v[i].schema : part == 1 ? cols->v[i].table : cols->v[i].name;
    char *a = db_text_array(items, cols->n);
    free(items);
    return a;
}

void verify_query_init(struct verify_query *q, const struct columns *cols)
{
    for (int k = 0; k < 3; k++)
        q->params[k] = q->arrays[k] = array_of(cols, k);
}

void verify_query_free(struct verify_query *q)
{
    for (int k = 0; k < 3; k++)
        free(q->arrays[k]);
    memset(q, 0, sizeof *q);
}

struct db_stmt verify_stmt(struct verify_query *q)
{
    return DB_STMT(COLUMNS_SQL, 3, q->params);
}

int verify_present(const struct columns *cols, const PGresult *r, bool *present, struct err *e)
{
    if (!db_ok(r) || (size_t)PQntuples(r) != cols->n) {
        err_set(e, "checking the required columns failed: %s", db_message(r));
        return db_denied(r) ? -2 : -1;
    }
    for (size_t i = 0; i < cols->n; i++)
        present[i] = strcmp(PQgetvalue(r, (int)i, 0), "t") == 0;
    return 0;
}
