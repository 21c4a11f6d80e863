#include "recover.h"
#include "db.h"

#include <stdlib.h>

static int exec_ok(PGconn *conn, const char *sql, int n, const char *const *params, struct err *e)
{
    PGresult *r = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        err_set(e, "stamping the heads failed (nothing changed): %s", PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

int recover_stamp(PGconn *conn, const char *table, const char *schema, const struct strlist *rows,
                  struct err *e)
{
    char *name = db_version_table(conn, table, schema);
    if (!name) {
        err_set(e, "stamping the heads failed (nothing changed): cannot quote the table name: %s",
                PQerrorMessage(conn));
        return -1;
    }
    char *del = xasprintf("DELETE FROM %s", name);
    char *ins = xasprintf("INSERT INTO %s (version_num) VALUES ($1)", name);
    free(name);
    int rc = -1;
    if (exec_ok(conn, "BEGIN", 0, NULL, e) || exec_ok(conn, del, 0, NULL, e))
        goto rollback;
    for (size_t i = 0; i < rows->n; i++) {
        const char *p[1] = {rows->v[i]};
        if (exec_ok(conn, ins, 1, p, e))
            goto rollback;
    }
    if (exec_ok(conn, "COMMIT", 0, NULL, e) == 0) {
        rc = 0;
        goto out;
    }
rollback:
    PQclear(PQexec(conn, "ROLLBACK"));
out:
    free(del);
    free(ins);
    return rc;
}
