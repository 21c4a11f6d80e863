/* recover: SENTRY_RECOVER=stamp. When the version table names a revision
 * no script defines, rewrites it in one transaction to exactly the rows
 * `alembic stamp --purge heads` writes (heads.h's `stamp`: the heads no
 * other revision reaches through down_revision or depends_on), under the
 * gate's advisory lock. The table's name and schema are quoted, never
 * pasted. */
#ifndef SENTRY_RECOVER_H
#define SENTRY_RECOVER_H

#include <libpq-fe.h>
#include "err.h"
#include "util.h"

/* schema NULL: the search path's. 0, or -1 with e set (nothing changed). */
int recover_stamp(PGconn *conn, const char *table, const char *schema, const struct strlist *rows,
                  struct err *e);

#endif
