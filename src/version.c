#include "version.h"

#include <stdlib.h>
#include <string.h>

char *quote_ident(const char *ident)
{
    char *out = xmalloc(strlen(ident) * 2 + 3), *o = out;
    *o++ = '"';
    for (const char *p = ident; *p; p++) {
        if (*p == '"')
            *o++ = '"';
        *o++ = *p;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

void version_table_init(struct version_table *t, const char *table, const char *schema)
{
    char *qt = quote_ident(table), *qs = schema ? quote_ident(schema) : NULL;
    t->qualified = xasprintf("%s%s%s", qs ? qs : "", qs ? "." : "", qt);
    t->select_sql = xasprintf("SELECT version_num FROM %s", t->qualified);
    t->name = schema ? xasprintf("%s.%s", schema, table) : xstrdup(table);
    free(qt);
    free(qs);
}

void version_table_free(struct version_table *t)
{
    free(t->qualified);
    free(t->select_sql);
    free(t->name);
    t->qualified = t->select_sql = t->name = NULL;
}

struct db_stmt version_stmt(const struct version_table *t)
{
    return DB_STMT(t->select_sql, 0, NULL);
}

enum version_rc version_rows(const struct version_table *t, const PGresult *r, struct strlist *rows,
                             struct err *e)
{
    const char *state = db_sqlstate(r);
    if (!db_ok(r) && (strcmp(state, "42P01") == 0 || strcmp(state, "3F000") == 0))
        return VERSION_NO_TABLE; /* undefined table, undefined schema */
    if (!db_ok(r)) {
        err_set(e, "reading %s failed: %s", t->name, db_message(r));
        return db_denied(r) ? VERSION_DENIED : VERSION_FAILED;
    }
    for (int i = 0; i < PQntuples(r); i++)
        strlist_push(rows, PQgetvalue(r, i, 0));
    strlist_sort(rows);
    return VERSION_OK;
}
