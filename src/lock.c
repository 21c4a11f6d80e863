/* lock: see lock.h. */
#include "lock.h"
#include "log.h"
#include "signals.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RETRY_FIRST_MS 250
#define RETRY_CAP_MS 1000
#define RELEASE_WAIT_MS 2000 /* a COMMIT not answered by then: the server hangs */

void lock_init(struct lock *l, int64_t key)
{
    memset(l, 0, sizeof *l);
    l->key = key;
    snprintf(l->keytext, sizeof l->keytext, "%" PRId64, key);
    l->params[0] = l->keytext;
}

size_t lock_try_stmts(struct lock *l, struct db_stmt *out)
{
    out[0] = DB_STMT("BEGIN", 0, NULL);
    out[1] = DB_STMT("SET LOCAL idle_in_transaction_session_timeout = 0", 0, NULL);
    out[2] = DB_STMT("SELECT pg_catalog.pg_try_advisory_xact_lock($1::bigint)", 1, l->params);
    return LOCK_TRY_STMTS;
}

enum lock_rc lock_took(struct lock *l, const struct db_stmt *s, struct err *e)
{
    for (size_t i = 0; i < LOCK_TRY_STMTS; i++) {
        if (!db_ok(s[i].res)) {
            err_set(e, "taking the advisory lock failed: %s", db_message(s[i].res));
            return db_denied(s[i].res) ? LOCK_AUTH : LOCK_UNREACHABLE;
        }
    }
    const PGresult *r = s[2].res;
    l->held = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    return l->held ? LOCK_OK : LOCK_BUSY;
}

/* A bigint advisory lock shows in pg_locks as classid = high 32 bits, objid =
 * low 32 bits, objsubid = 1, in the database it was taken in (locks in
 * another database with the same key are other locks). */
static const char HOLDER_SQL[] =
    "SELECT l.pid, coalesce(a.application_name, ''),"
    " coalesce(extract(epoch FROM clock_timestamp() - a.xact_start)::bigint, 0)"
    " FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
    " AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())"
    " AND l.classid = (($1::bigint >> 32) & 4294967295)::oid"
    " AND l.objid = ($1::bigint & 4294967295)::oid LIMIT 1";

static void report_holder(const struct lock *l, const PGresult *r, int64_t waited_ms)
{
    if (db_ok(r) && PQntuples(r) == 1)
        log_note("lock %s held by pid %s (%s) for %ss; waited %.1fs so far", l->keytext,
                 PQgetvalue(r, 0, 0), *PQgetvalue(r, 0, 1) ? PQgetvalue(r, 0, 1) : "no application_name",
                 PQgetvalue(r, 0, 2), (double)waited_ms / 1000.0);
    else
        log_note("lock %s is held by another session; waited %.1fs so far", l->keytext,
                 (double)waited_ms / 1000.0);
}

/* A pause of about `base` ms, 0.75 to 1.25 of it, so that gates that found
 * the lock taken at the same moment do not all come back at once. */
struct waiting {
    struct lock *l;
    struct db *d;
    int64_t start, deadline, next_report, lost_since;
    long pause;
};

/* One try on a connection (made now if there is none): LOCK_OK, LOCK_BUSY,
 * or why not. A connection that breaks or cannot be made is LOCK_BUSY until
 * it has been gone for SENTRY_DB_WAIT. */
static enum lock_rc try_once(struct waiting *w, struct err *e)
{
    int64_t now = now_ms();
    if (!w->d->conn) {
        if (w->lost_since < 0)
            w->lost_since = now;
        /* The reconnect is bounded by SENTRY_DB_WAIT and by the lock's own
         * deadline, whichever comes first: a server that stops answering
         * while we wait is the lock timeout (75), not a 60 s hang. */
        int64_t until = w->lost_since + w->d->wait_s * 1000;
        bool lock_first = w->deadline < until;
        if (lock_first)
            until = w->deadline;
        long left = (long)((until - now + 999) / 1000);
        enum db_rc rc = db_reconnect(w->d, left > 0 ? left : 0, e);
        if (rc == DB_UNREACHABLE && lock_first && now_ms() >= w->deadline) {
            char why[sizeof e->msg];
            snprintf(why, sizeof why, "%s", e->msg);
            err_set(e, "advisory lock %s not acquired within %llds (SENTRY_LOCK_WAIT): %s", w->l->keytext,
                    (long long)((w->deadline - w->start) / 1000), why);
            return LOCK_TIMEOUT;
        }
        if (rc != DB_OK)
            return rc == DB_AUTH ? LOCK_AUTH : rc == DB_INTERRUPTED ? LOCK_INTERRUPTED : LOCK_UNREACHABLE;
    }
    struct db_stmt s[LOCK_TRY_STMTS + 2];
    /* The first round trip's transaction is still open on its connection:
     * ended first, so that the BEGIN is not "already in progress". */
    size_t at = PQtransactionStatus(w->d->conn) == PQTRANS_IDLE ? 0 : 1;
    if (at)
        s[0] = DB_STMT("ROLLBACK", 0, NULL);
    size_t n = at + lock_try_stmts(w->l, s + at);
    bool report = now >= w->next_report;
    if (report)
        s[n++] = DB_STMT(HOLDER_SQL, 1, w->l->params);
    int64_t deadline = db_deadline(w->d);
    enum dbq_rc q = db_run(w->d, s, n, deadline < w->deadline ? deadline : w->deadline, 1, e);
    enum lock_rc rc = q == DBQ_OK ? lock_took(w->l, s + at, e) : LOCK_BUSY;
    if (q == DBQ_INTERRUPTED)
        rc = LOCK_INTERRUPTED;
    else if (q != DBQ_OK)
        log_note("lost the connection while waiting for the lock (%s); reconnecting", e->msg);
    else
        w->lost_since = -1;
    if (rc == LOCK_BUSY && q == DBQ_OK && report) {
        report_holder(w->l, s[n - 1].res, now - w->start);
        w->next_report = now + LOCK_REPORT_S * 1000;
    }
    db_stmts_clear(s, n);
    return rc;
}

enum lock_rc lock_wait(struct lock *l, struct db *d, int64_t since, long wait_s, struct err *e)
{
    struct waiting w = {l, d, since, since + wait_s * 1000, since, -1, RETRY_FIRST_MS};
    for (;;) {
        if (d->conn && now_ms() >= w.next_report) {
            enum lock_rc rc = try_once(&w, e); /* the report comes with a try */
            if (rc != LOCK_BUSY)
                return rc;
        }
        db_close(d); /* a waiting gate holds no connection slot */
        if (now_ms() >= w.deadline) {
            err_set(e, "advisory lock %s still held by another session after %lds (SENTRY_LOCK_WAIT)",
                    l->keytext, wait_s);
            return LOCK_TIMEOUT;
        }
        int64_t until = now_ms() + jittered(w.pause);
        if (loop_sleep(until < w.deadline ? until : w.deadline) == WAIT_SIGNAL) {
            err_set(e, "interrupted");
            return LOCK_INTERRUPTED;
        }
        w.pause = w.pause * 2 > RETRY_CAP_MS ? RETRY_CAP_MS : w.pause * 2;
        enum lock_rc rc = try_once(&w, e);
        if (rc != LOCK_BUSY)
            return rc;
    }
}

void lock_release(struct lock *l, struct db *d)
{
    if (!l->held || !d->conn)
        return;
    l->held = false;
    /* A gate stopped by a signal commits nothing of its own and waits for
     * nothing: closing the connection rolls the transaction back and ends
     * the lock (a COMMIT could wait on a server that does not answer, and
     * the signal must be acted on within a second). */
    if (signals_gate_check()) {
        db_close(d);
        return;
    }
    /* Nothing written under the lock (the no-op gate): no answer to wait
     * for; the ROLLBACK ends the transaction, and a pooler's server
     * connection goes back to its pool clean. */
    if (!l->wrote) {
        db_close_after(d, "ROLLBACK");
        return;
    }
    struct db_stmt s = DB_STMT("COMMIT", 0, NULL);
    struct err e = {{0}};
    if (db_run(d, &s, 1, loop_after(RELEASE_WAIT_MS), 1, &e) != DBQ_OK)
        log_note("ending the lock's transaction failed (%s); the lock ends with the connection", e.msg);
    else if (!db_ok(s.res))
        log_note("ending the lock's transaction failed (%s); it was rolled back", db_message(s.res));
    db_stmts_clear(&s, 1);
}

/* --- the keeper ------------------------------------------------------------ */

void keeper_init(struct lock_keeper *k, struct lock *l, struct db *d, const char *appname,
                 long lock_timeout_s)
{
    memset(k, 0, sizeof *k);
    k->lock = l;
    k->db = d;
    k->params[0] = appname;
    k->next_beat = now_ms() + KEEPER_BEAT_MS;
    /* a wait is named once it has lasted a second, or half the lock
     * timeout when that is shorter (the wait then never lasts a second) */
    k->threshold_ms = lock_timeout_s > 0 && lock_timeout_s * 500 < 1000 ? lock_timeout_s * 500 : 1000;
}

int keeper_fd(const struct lock_keeper *k, short *events, int64_t *deadline)
{
    *events = 0;
    if (!k->db->conn)
        return -1;
    if (!k->in_flight) {
        *deadline = k->next_beat;
        return -1;
    }
    *events = db_events(k->db);
    *deadline = k->sent_at + KEEPER_SILENCE_MS;
    return PQsocket(k->db->conn);
}

static bool lost(struct lock_keeper *k, const char *why)
{
    err_set(&k->e, "lost the advisory lock while the migration ran: %s", why);
    k->lock->held = false;
    return false;
}

/* Within the lock's transaction: a savepoint rolled back, so that even the
 * catalog views leave no lock behind, a cleared statistics snapshot, since
 * pg_stat_activity is otherwise read once per transaction, and
 * clock_timestamp(), since now() is the transaction's start. */
static const char BLOCKERS_SQL[] =
    "SELECT w.pid, (extract(epoch FROM clock_timestamp() - coalesce(w.waitstart, clock_timestamp())) * 1000)::bigint,"
    " b.pid, coalesce(b.application_name, ''), coalesce(b.state, ''),"
    " coalesce(extract(epoch FROM clock_timestamp() - b.xact_start)::bigint::text, '?'),"
    " coalesce(b.wait_event_type || ':' || b.wait_event, 'none')"
    " FROM (SELECT DISTINCT a.pid, l.waitstart FROM pg_catalog.pg_stat_activity a"
    "  JOIN pg_catalog.pg_locks l ON l.pid = a.pid AND NOT l.granted"
    "  WHERE a.datname = current_database() AND a.application_name = $1) w"
    " CROSS JOIN LATERAL unnest(pg_catalog.pg_blocking_pids(w.pid)) AS bp(pid)"
    " LEFT JOIN pg_catalog.pg_stat_activity b ON b.pid = bp.pid"
    " ORDER BY w.pid, b.pid LIMIT 10";

static size_t beat_stmts(struct lock_keeper *k)
{
    struct db_stmt *s = k->stmt;
    s[0] = DB_STMT("SAVEPOINT sentry_report", 0, NULL);
    s[1] = DB_STMT("SELECT pg_catalog.pg_stat_clear_snapshot()", 0, NULL);
    s[2] = DB_STMT(BLOCKERS_SQL, 1, k->params);
    s[3] = DB_STMT("ROLLBACK TO SAVEPOINT sentry_report", 0, NULL);
    return KEEPER_STMTS;
}

/* Names the blockers of the waits that have lasted the threshold, at most
 * once every KEEPER_REPORT_MS; a wait not that old yet gets the next beat
 * when it will be (with a 1 s lock_timeout the wait never lasts longer). */
static void report_blockers(struct lock_keeper *k, const PGresult *r, int64_t now)
{
    bool due = now >= k->next_report, logged = false;
    for (int i = 0; db_ok(r) && i < PQntuples(r); i++) {
        long long waited = strtoll(PQgetvalue(r, i, 1), NULL, 10);
        if (waited < k->threshold_ms) {
            int64_t when = now + (k->threshold_ms - waited) + 50;
            if (when < k->next_beat)
                k->next_beat = when;
            continue;
        }
        if (!due)
            continue;
        log_note("the migration's session (pid %s) has waited %.1fs for a lock held by pid %s "
                 "(application_name '%s', %s, transaction open %ss, wait event %s)",
                 PQgetvalue(r, i, 0), (double)waited / 1000.0, PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
                 *PQgetvalue(r, i, 4) ? PQgetvalue(r, i, 4) : "state unknown", PQgetvalue(r, i, 5),
                 PQgetvalue(r, i, 6));
        logged = true;
    }
    if (logged)
        k->next_report = now + KEEPER_REPORT_MS;
}

static bool start_beat(struct lock_keeper *k, int64_t now)
{
    k->nstmt = beat_stmts(k);
    if (db_send(k->db, k->stmt, k->nstmt, &k->e) != 0)
        return lost(k, k->e.msg);
    k->in_flight = true;
    k->sent_at = now;
    return true;
}

/* The beat's answer is in: the transaction must still be open and sound (a
 * report that failed, for lack of privilege on a view say, is no loss). */
static bool end_beat(struct lock_keeper *k, int64_t now)
{
    PGTransactionStatusType ts = PQtransactionStatus(k->db->conn);
    const PGresult *bad = NULL;
    for (size_t i = 0; i < k->nstmt && !bad; i++)
        if (i != 2 && !db_ok(k->stmt[i].res))
            bad = k->stmt[i].res;
    k->in_flight = false;
    k->next_beat = now + KEEPER_BEAT_MS;
    if (!bad)
        report_blockers(k, k->stmt[2].res, now);
    char why[256];
    snprintf(why, sizeof why, "%s", bad ? db_message(bad) : "the transaction ended");
    db_stmts_clear(k->stmt, k->nstmt);
    return !bad && ts != PQTRANS_INERROR && ts != PQTRANS_IDLE ? true : lost(k, why);
}

bool keeper_step(struct lock_keeper *k, short revents)
{
    int64_t now = now_ms();
    if (!k->db->conn || !k->lock->held)
        return lost(k, "the connection is gone");
    if (!k->in_flight) {
        if (now < k->next_beat)
            return true;
        if (!start_beat(k, now))
            return false;
    }
    enum db_step st = db_advance(k->db, k->stmt, revents, &k->e);
    if (st == DB_STEP_LOST)
        return lost(k, k->e.msg);
    if (st == DB_STEP_DONE)
        return end_beat(k, now);
    if (now - k->sent_at < KEEPER_SILENCE_MS)
        return true;
    db_abandon(k->db, DBQ_TIMEOUT, &k->e);
    return lost(k, "the server did not answer for 20s");
}

/* A beat still in flight when the migration ends is answered before
 * anything else is sent on the connection: in the pipeline its result and
 * sync come first, and would be taken for the next statements' (the reads
 * after the migration, one statement off). Bounded like any query; a beat
 * not answered in time, or a signal, closes the connection. */
static void finish_beat(struct lock_keeper *k)
{
    int64_t deadline = db_deadline(k->db);
    short revents = 0;
    while (k->in_flight && k->db->conn) {
        if (db_advance(k->db, k->stmt, revents, &k->e) != DB_STEP_BUSY)
            break;
        struct pollfd p = {.fd = PQsocket(k->db->conn), .events = db_events(k->db)};
        enum wait_rc w = loop_wait(&p, 1, deadline, 1);
        if (w != WAIT_READY) {
            db_abandon(k->db, w == WAIT_SIGNAL ? DBQ_INTERRUPTED : DBQ_TIMEOUT, &k->e);
            break;
        }
        revents = p.revents;
    }
    k->in_flight = false;
}

void keeper_free(struct lock_keeper *k)
{
    finish_beat(k);
    db_stmts_clear(k->stmt, KEEPER_STMTS);
}
