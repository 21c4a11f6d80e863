/* recover: SENTRY_RECOVER=stamp. When alembic_version names a revision no
 * script defines, rewrites the table to exactly the script heads in one
 * transaction (what `alembic stamp --purge heads` does), under the gate's
 * advisory lock. */
#ifndef SENTRY_RECOVER_H
#define SENTRY_RECOVER_H

#include <libpq-fe.h>
#include "err.h"
#include "util.h"

/* 0, or -1 with e set (nothing changed). */
int recover_stamp(PGconn *conn, const struct strlist *heads, struct err *e);

#endif
