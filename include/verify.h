/* verify: the required columns. A column is written table.column or
 * schema.table.column (schema public by default); unquoted names fold to
 * lower case as in SQL, "Quoted" names keep theirs. Names reach PostgreSQL
 * only as query parameters, never pasted into SQL. */
#ifndef SENTRY_VERIFY_H
#define SENTRY_VERIFY_H

#include <libpq-fe.h>
#include "db.h"
#include <stdbool.h>
#include "err.h"
#include "util.h"

struct column {
    char *schema, *table, *name;
    char *label; /* as the user wrote it: the key in "checks" */
};

struct columns {
    struct column *v;
    size_t n;
};

/* Parses every item of `items`; -1 with e naming `what` and the bad item. */
int columns_parse(const struct strlist *items, const char *what, struct columns *out, struct err *e);
void columns_free(struct columns *c);

/* The one statement that checks every column (run only when there are any). */
struct verify_query {
    char *arrays[3];
    const char *params[3];
};
void verify_query_init(struct verify_query *q, const struct columns *cols);
void verify_query_free(struct verify_query *q);
struct db_stmt verify_stmt(struct verify_query *q);
/* Fills present[i] for each column from the statement's result; 0, or -1
 * with e set when it failed (-2: for lack of privilege). */
int verify_present(const struct columns *cols, const PGresult *r, bool *present, struct err *e);

#endif
