/* recover: SENTRY_RECOVER=stamp. When the version table names a revision no
 * script defines, rewrites the table to exactly the given rows (the script
 * heads, as `alembic stamp --purge heads` writes them) inside the gate's
 * lock transaction, in a savepoint: all of it or nothing. */
#ifndef SENTRY_RECOVER_H
#define SENTRY_RECOVER_H

#include "db.h"
#include "err.h"
#include "util.h"
#include "version.h"

/* 0, or -1 with e set (nothing changed; -2: for lack of privilege). */
int recover_stamp(struct db *d, const struct version_table *t, const struct strlist *rows, struct err *e);

#endif
