/* version: the version table's rows (alembic_version, or the table and
 * schema SENTRY_VERSION_TABLE / SENTRY_VERSION_TABLE_SCHEMA name when the
 * project's env.py renames it). Read with one statement that a caller puts
 * in a round trip of its own; a missing table (or schema) is "no table",
 * not an error. */
#ifndef SENTRY_VERSION_H
#define SENTRY_VERSION_H

#include <stdbool.h>
#include "db.h"
#include "err.h"
#include "util.h"

struct version_table {
    char *qualified;  /* "schema"."table", or "table" (the search path's) */
    char *select_sql; /* SELECT version_num FROM <qualified> */
    char *name;       /* for messages: schema.table or table */
};

void version_table_init(struct version_table *t, const char *table, const char *schema);
void version_table_free(struct version_table *t);
struct db_stmt version_stmt(const struct version_table *t);

enum version_rc { VERSION_OK, VERSION_NO_TABLE, VERSION_DENIED, VERSION_FAILED };
/* The rows, sorted, from the statement's result. */
enum version_rc version_rows(const struct version_table *t, const PGresult *r, struct strlist *rows,
                             struct err *e);
/* "ident" double-quoted for SQL, quotes doubled. */
char *quote_ident(const char *ident);

#endif
