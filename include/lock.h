/* lock: one replica migrates, the others wait. A session-level
 * pg_advisory_lock on the configured key, tried until wait_s seconds have
 * passed; while waiting it says every LOCK_REPORT_S seconds who holds the
 * lock (pid, application_name, for how long) as pg_locks shows it.
 * Session-level, so PostgreSQL releases it if the sentry dies; the gate
 * releases it explicitly when it ends. */
#ifndef SENTRY_LOCK_H
#define SENTRY_LOCK_H

#include <libpq-fe.h>
#include <stdint.h>
#include "err.h"

#define LOCK_REPORT_S 5

enum lock_rc { LOCK_OK, LOCK_TIMEOUT, LOCK_ERROR, LOCK_INTERRUPTED };

enum lock_rc lock_acquire(PGconn *conn, int64_t key, long wait_s, struct err *e);
/* Best effort: ending the session releases it as well. */
void lock_release(PGconn *conn, int64_t key);

#endif
