/* db: the gate's PostgreSQL session, every call bounded and interruptible.
 * Nothing here blocks: connections are made with PQconnectStartParams and
 * PQconnectPoll, queries sent in pipeline mode and their results read as the
 * socket allows, every wait going through loop_wait with a deadline and the
 * gate's signals; a query that outlives its deadline or a signal is
 * cancelled (bounded: PQcancel blocks, so it runs in an abandonable thread)
 * and the connection closed. Host names are resolved first, bounded too
 * (resolve.h).
 *
 * db_connect waits for the server with capped exponential backoff until
 * wait_s seconds have passed, logging each failed attempt (number, elapsed
 * time, libpq's reason, redacted). Refusals that waiting cannot heal end the
 * wait at once: authentication (DB_AUTH), no such database, a certificate or
 * host name that does not verify, TLS required but not offered, a hot
 * standby. Sessions set application_name migration-sentry and TCP keepalives
 * unless the URL says otherwise, and ask for a read-write server when the
 * URL names several hosts and no target_session_attrs. */
#ifndef SENTRY_DB_H
#define SENTRY_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include "err.h"
#include "loop.h"
#include "util.h"

#define DB_QUERY_MIN_S 5 /* no query waits less, even with SENTRY_DB_WAIT=0 */

enum db_rc {
    DB_OK = 0,
    DB_UNREACHABLE,  /* waited wait_s, or a refusal no wait heals (69) */
    DB_AUTH,         /* the server refused our credentials (77) */
    DB_INTERRUPTED,  /* a gate signal arrived */
};

struct db {
    PGconn *conn;
    const char *conninfo, *extra; /* as given to db_connect, for db_reconnect */
    bool extra_refused;      /* the path refused `options` (a pooler): connected without extra */
    long wait_s;             /* SENTRY_DB_WAIT: the bound of each query too */
    char server_version[64]; /* "15.18" */
    size_t pending, done;    /* statements sent by db_send, and answered */
    bool in_results, flush_pending;
};

/* extra_options: added to the session's `options` (after the URL's or
 * PGOPTIONS'), or NULL. A connection path that refuses the startup
 * parameter (PgBouncer: "unsupported startup parameter: options") is
 * connected to without it, and extra_refused says so. */
enum db_rc db_connect(const char *conninfo, const char *extra_options, long wait_s,
                      struct db *out, struct err *e);
void db_close(struct db *d);
/* Whether the conninfo names several hosts and no target_session_attrs:
 * then the gate, and the migration command, ask for the primary. */
bool db_wants_primary(const char *conninfo);
/* A new session like the last one (after db_close or a lost connection),
 * waiting up to wait_s seconds. */
enum db_rc db_reconnect(struct db *d, long wait_s, struct err *e);

/* --- statements ------------------------------------------------------------ */

struct db_stmt {
    const char *sql;
    int nparams;
    const char *const *params; /* text values */
    PGresult *res;             /* set by db_run; db_stmts_clear frees */
    int binary;                /* 1: results in binary format */
};

/* A statement with text results. */
#define DB_STMT(sql, n, params) ((struct db_stmt){(sql), (n), (params), NULL, 0})

enum dbq_rc {
    DBQ_OK,          /* every statement answered: each res holds its outcome */
    DBQ_LOST,        /* the connection broke */
    DBQ_TIMEOUT,     /* the deadline passed */
    DBQ_INTERRUPTED, /* a gate signal (only with signals true) */
};

/* Sends stmts[0..n) in one round trip, each its own pipeline segment (so an
 * error ends only its own segment; inside a transaction block the block is
 * then aborted, as PostgreSQL does), and collects every result. On anything
 * but DBQ_OK the running statement is cancelled and the connection closed
 * (d->conn NULL), with e saying why. In every case the caller clears the
 * results (db_stmts_clear). */
enum dbq_rc db_run(struct db *d, struct db_stmt *stmts, size_t n, int64_t deadline, int signals,
                   struct err *e);
/* The same in steps, for a caller that waits on more than the database
 * (the lock keeper during the migration): db_send queues and starts sending
 * (-1 with e set and the connection closed on failure); then poll PQsocket
 * for db_events and call db_advance with what poll said, until it says
 * DONE (every result in) or LOST (connection closed, e set). */
enum db_step { DB_STEP_BUSY, DB_STEP_DONE, DB_STEP_LOST };
int db_send(struct db *d, struct db_stmt *stmts, size_t n, struct err *e);
short db_events(const struct db *d);
enum db_step db_advance(struct db *d, struct db_stmt *stmts, short revents, struct err *e);
/* Gives up on the statements under way (DBQ_TIMEOUT or DBQ_INTERRUPTED):
 * cancels them, bounded, and closes the connection. */
enum dbq_rc db_abandon(struct db *d, enum dbq_rc why, struct err *e);
/* Sends sql and closes the connection without waiting for its answer (the
 * server runs it, then sees the connection end). */
void db_close_after(struct db *d, const char *sql);
/* One statement; *res is the caller's to PQclear. */
enum dbq_rc db_exec(struct db *d, const char *sql, int nparams, const char *const *params,
                    PGresult **res, struct err *e);
void db_stmts_clear(struct db_stmt *stmts, size_t n);
/* The deadline of a gate query: wait_s from now, at least DB_QUERY_MIN_S. */
int64_t db_deadline(const struct db *d);

/* A text[] literal of items[0..n), for a query parameter: every element
 * double-quoted, with " and \ escaped (values never pasted into SQL). */
char *db_text_array(const char *const *items, size_t n);

bool db_ok(const PGresult *r);           /* command or tuples ok */
const char *db_sqlstate(const PGresult *r); /* "" when none */
bool db_denied(const PGresult *r);       /* SQLSTATE 42501: no privilege */
/* The server's message of a failed result, one line. */
const char *db_message(const PGresult *r);

#endif
