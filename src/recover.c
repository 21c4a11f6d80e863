#include "recover.h"

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

int recover_stamp(PGconn *conn, const struct strlist *heads, struct err *e)
{
    if (exec_ok(conn, "BEGIN", 0, NULL, e) || exec_ok(conn, "DELETE FROM alembic_version", 0, NULL, e))
        goto rollback;
    for (size_t i = 0; i < heads->n; i++) {
        const char *p[1] = {heads->v[i]};
        if (exec_ok(conn, "INSERT INTO alembic_version (version_num) VALUES ($1)", 1, p, e))
            goto rollback;
    }
    if (exec_ok(conn, "COMMIT", 0, NULL, e) == 0)
        return 0;
rollback:
    PQclear(PQexec(conn, "ROLLBACK"));
    return -1;
}
