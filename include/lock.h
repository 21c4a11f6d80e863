/* lock: one replica migrates, the others wait.
 *
 * The lock is a transaction-level advisory lock (pg_try_advisory_xact_lock
 * on the configured key) held by an open transaction on the gate's own
 * connection, from the first statement of the gate's first round trip until
 * the gate ends. A transaction, not a session lock, because a transaction is
 * what every connection path keeps on one server connection: a direct
 * connection, and PgBouncer in session and in transaction pooling mode
 * alike (a session lock behind transaction pooling lands on whichever
 * server connection runs the statement, and is stranded there). The
 * transaction sets idle_in_transaction_session_timeout to 0 for itself, and
 * while the migration runs the keeper (below) sends a statement every
 * second, so neither the server's idle timeouts nor a pooler's end it; if
 * the connection still breaks, PostgreSQL (or the pooler, closing its
 * server connection) ends the transaction and the lock with it: it is never
 * left behind. Every read of the gate runs inside a savepoint that is rolled
 * back, so the transaction holds no table lock while the migration runs (a
 * migration that alters alembic_version does not deadlock with the gate).
 *
 * A gate that finds the lock taken closes its connection while it waits
 * (waiting gates must not hold the connection slots the migration needs),
 * and tries again on a new one every second or so, with jitter; a
 * connection that cannot be made is retried for up to SENTRY_DB_WAIT (a
 * server restart or failover during the wait is survived), and never past
 * the lock's own deadline (then it is the lock timeout). Every
 * LOCK_REPORT_S seconds it logs who holds the lock in its own database. */
#ifndef SENTRY_LOCK_H
#define SENTRY_LOCK_H

#include <stdbool.h>
#include <stdint.h>
#include "db.h"
#include "err.h"

#define LOCK_REPORT_S 5
#define LOCK_TRY_STMTS 3

enum lock_rc { LOCK_OK, LOCK_BUSY, LOCK_TIMEOUT, LOCK_UNREACHABLE, LOCK_AUTH, LOCK_INTERRUPTED };

struct lock {
    int64_t key;
    char keytext[24];
    const char *params[1];
    bool held;
    bool wrote;  /* something was written under it: the release commits */
};

void lock_init(struct lock *l, int64_t key);
/* The statements that try the lock, to run first in a round trip of the
 * gate's (they open the transaction); returns LOCK_TRY_STMTS. */
size_t lock_try_stmts(struct lock *l, struct db_stmt *out);
/* What they said: LOCK_OK (held), LOCK_BUSY, or LOCK_AUTH / LOCK_UNREACHABLE
 * with e set when a statement failed (no privilege: LOCK_AUTH). */
enum lock_rc lock_took(struct lock *l, const struct db_stmt *stmts, struct err *e);
/* After a LOCK_BUSY: waits up to wait_s seconds from `since` for the lock,
 * on new connections as above. LOCK_OK: d is connected, in the lock's
 * transaction. Otherwise d is closed. */
enum lock_rc lock_wait(struct lock *l, struct db *d, int64_t since, long wait_s, struct err *e);
/* Ends the transaction: COMMIT when the gate wrote under the lock (so that
 * it stays; a failed transaction rolls back), bounded, and closes nothing;
 * otherwise a ROLLBACK not waited for, and the connection closed;
 * when a gate signal is pending or comes meanwhile, it closes the
 * connection instead (a rollback, at once). */
void lock_release(struct lock *l, struct db *d);

/* --- while the migration runs -------------------------------------------- */

/* The keeper: a round trip every KEEPER_BEAT_MS on the lock's connection,
 * so that no idle timeout ends the transaction and a lost connection is
 * seen within KEEPER_SILENCE_MS at most. The beat is the blocker report:
 * the sessions of the migration command (known by their application_name)
 * waiting for a lock, and who blocks them; those that have waited a second
 * (half the lock timeout when that is shorter) are logged, at most once
 * every KEEPER_REPORT_MS: pid, application_name, state, how long their
 * transaction has been open, wait event; never their queries. */
#define KEEPER_BEAT_MS 1000
#define KEEPER_REPORT_MS 3000
#define KEEPER_SILENCE_MS 20000 /* no answer for this long: the lock is lost */
#define KEEPER_STMTS 4

struct lock_keeper {
    struct lock *lock;
    struct db *db;
    const char *params[1];     /* the migration's application_name */
    struct db_stmt stmt[KEEPER_STMTS];
    size_t nstmt;
    bool in_flight;
    int64_t next_beat, sent_at, next_report;
    int64_t threshold_ms;
    struct err e;              /* why the lock was lost */
};

void keeper_init(struct lock_keeper *k, struct lock *l, struct db *d, const char *appname,
                 long lock_timeout_s);
/* What to poll for it and until when (fd -1: nothing now). */
int keeper_fd(const struct lock_keeper *k, short *events, int64_t *deadline);
/* Advances it; false once the lock is lost (k->e says why). */
bool keeper_step(struct lock_keeper *k, short revents);
/* Waits (bounded) for a beat still in flight, so that the connection is
 * ready for the gate's next statements, and frees the keeper. */
void keeper_free(struct lock_keeper *k);

#endif
