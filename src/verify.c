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

static const char COLUMN_SQL[] =
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a"
    " JOIN pg_catalog.pg_class c ON c.oid = a.attrelid"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = $1 AND c.relname = $2 AND a.attname = $3"
    " AND a.attnum > 0 AND NOT a.attisdropped)";

int verify_columns(PGconn *conn, const struct columns *cols, bool *present, struct err *e)
{
    for (size_t i = 0; i < cols->n; i++) {
        const char *params[3] = {cols->v[i].schema, cols->v[i].table, cols->v[i].name};
        PGresult *r = PQexecParams(conn, COLUMN_SQL, 3, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
            err_set(e, "checking column %s failed: %s", cols->v[i].label,
                    PQresultErrorMessage(r));
            PQclear(r);
            return -1;
        }
        present[i] = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        PQclear(r);
    }
    return 0;
}
