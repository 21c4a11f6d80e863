#include "lock.h"
#include "log.h"
#include "signals.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define POLL_FIRST_MS 50
#define POLL_CAP_MS 500

/* 1 taken, 0 busy, -1 error. */
static int try_lock(PGconn *conn, const char *key, struct err *e)
{
    const char *params[1] = {key};
    PGresult *r = PQexecParams(conn, "SELECT pg_try_advisory_lock($1::bigint)", 1, NULL, params,
                               NULL, NULL, 0);
    int rc = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        rc = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    else
        err_set(e, "pg_try_advisory_lock failed: %s", PQresultErrorMessage(r));
    PQclear(r);
    return rc;
}

/* A bigint advisory lock shows in pg_locks as classid = high 32 bits,
 * objid = low 32 bits, objsubid = 1. */
static void report_holder(PGconn *conn, const char *key, int64_t waited_ms)
{
    static const char sql[] =
        "SELECT l.pid, coalesce(a.application_name, ''),"
        " coalesce(extract(epoch FROM now() - a.state_change)::bigint, 0)"
        " FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
        " AND l.classid = (($1::bigint >> 32) & 4294967295)::oid"
        " AND l.objid = ($1::bigint & 4294967295)::oid LIMIT 1";
    const char *params[1] = {key};
    PGresult *r = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        log_note("lock %s held by pid %s (%s) for %ss; waited %.1fs so far", key,
                 PQgetvalue(r, 0, 0), *PQgetvalue(r, 0, 1) ? PQgetvalue(r, 0, 1) : "no application_name",
                 PQgetvalue(r, 0, 2), (double)waited_ms / 1000.0);
    else
        log_note("lock %s is held by another session; waited %.1fs so far", key,
                 (double)waited_ms / 1000.0);
    PQclear(r);
}

enum lock_rc lock_acquire(PGconn *conn, int64_t key, long wait_s, struct err *e)
{
    char k[32];
    snprintf(k, sizeof k, "%" PRId64, key);
    int64_t start = now_ms(), deadline = start + wait_s * 1000, next_report = start;
    long pause = POLL_FIRST_MS;
    for (;;) {
        int got = try_lock(conn, k, e);
        if (got != 0)
            return got > 0 ? LOCK_OK : LOCK_ERROR;
        int64_t now = now_ms();
        if (now >= next_report) {
            report_holder(conn, k, now - start);
            next_report = now + LOCK_REPORT_S * 1000;
        }
        if (now >= deadline) {
            err_set(e, "advisory lock %s still held by another session after %lds (SENTRY_LOCK_WAIT)",
                    k, wait_s);
            return LOCK_TIMEOUT;
        }
        long sleep_ms = pause < deadline - now ? pause : (long)(deadline - now);
        if (signals_gate_sleep(sleep_ms))
            return LOCK_INTERRUPTED;
        pause = pause * 2 > POLL_CAP_MS ? POLL_CAP_MS : pause * 2;
    }
}

void lock_release(PGconn *conn, int64_t key)
{
    char k[32];
    snprintf(k, sizeof k, "%" PRId64, key);
    const char *params[1] = {k};
    PGresult *r = PQexecParams(conn, "SELECT pg_advisory_unlock($1::bigint)", 1, NULL, params,
                               NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        log_note("releasing the advisory lock failed (the session's end releases it): %s",
                 PQresultErrorMessage(r));
    PQclear(r);
}
