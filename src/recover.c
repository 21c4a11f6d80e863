#include "recover.h"

#include <stdlib.h>
#include <string.h>

/* Everything in one round trip; the statements after a failed one fail
 * too (the savepoint is aborted), and the last segment rolls back to it. */
int recover_stamp(struct db *d, const struct version_table *t, const struct strlist *rows, struct err *e)
{
    const char *table = t->qualified;
    char *del = xasprintf("DELETE FROM %s", table);
    char *ins = xasprintf("INSERT INTO %s (version_num) VALUES ($1)", table);
    size_t n = rows->n + 3;
    struct db_stmt *s = xcalloc(n, sizeof *s);
    s[0] = DB_STMT("SAVEPOINT sentry_stamp", 0, NULL);
    s[1] = DB_STMT(del, 0, NULL);
    for (size_t i = 0; i < rows->n; i++)
        s[2 + i] = DB_STMT(ins, 1, (const char *const *)&rows->v[i]);
    s[n - 1] = DB_STMT("RELEASE SAVEPOINT sentry_stamp", 0, NULL);
    int rc = db_run(d, s, n, db_deadline(d), 1, e) == DBQ_OK ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!db_ok(s[i].res)) {
            err_set(e, "stamping the heads failed (nothing changed): %s", db_message(s[i].res));
            rc = db_denied(s[i].res) ? -2 : -1;
        }
    }
    db_stmts_clear(s, n);
    if (rc != 0 && d->conn) {
        struct db_stmt undo = DB_STMT("ROLLBACK TO SAVEPOINT sentry_stamp", 0, NULL);
        struct err ignored = {{0}};
        db_run(d, &undo, 1, db_deadline(d), 0, &ignored);
        db_stmts_clear(&undo, 1);
    }
    free(s);
    free(del);
    free(ins);
    return rc;
}
