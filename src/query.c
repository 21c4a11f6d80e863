/* db_run and friends: see db.h. The connection is non-blocking and in
 * pipeline mode from db_connect on, so a batch of statements costs one round
 * trip and no call here can block. */
#include "bg.h"
#include "db.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#define CANCEL_WAIT_MS 1000
#define CANCEL_SIGNAL_MS 400 /* a signal is acted on within a second */

int64_t db_deadline(const struct db *d)
{
    long s = d->wait_s > DB_QUERY_MIN_S ? d->wait_s : DB_QUERY_MIN_S;
    return loop_after((int64_t)s * 1000);
}

char *db_text_array(const char *const *items, size_t n)
{
    size_t cap = 3;
    for (size_t i = 0; i < n; i++)
        cap += strlen(items[i]) * 2 + 3;
    char *out = xmalloc(cap), *o = out;
    *o++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *o++ = ',';
        *o++ = '"';
        for (const char *v = items[i]; *v; v++) {
            if (*v == '"' || *v == '\\')
                *o++ = '\\';
            *o++ = *v;
        }
        *o++ = '"';
    }
    *o++ = '}';
    *o = '\0';
    return out;
}

bool db_ok(const PGresult *r)
{
    ExecStatusType s = PQresultStatus(r);
    return r && (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK);
}

const char *db_sqlstate(const PGresult *r)
{
    const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    return s ? s : "";
}

bool db_denied(const PGresult *r)
{
    return strcmp(db_sqlstate(r), "42501") == 0;
}

const char *db_message(const PGresult *r)
{
    const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (m)
        return m;
    m = r ? PQresultErrorMessage(r) : "";
    return *m ? m : "no result";
}

static void cancel_call(void *p)
{
    char err[256];
    (void)PQcancel(p, err, sizeof err); /* best effort: the connection closes next */
}

static void cancel_free(void *p)
{
    PQfreeCancel(p);
}

/* Asks the server to stop the running statement, for at most wait_ms: on a
 * server that does not answer, PQcancel would wait for ever. */
static void cancel_bounded(PGconn *c, int64_t wait_ms)
{
    PGcancel *k = PQgetCancel(c);
    if (!k)
        return;
    struct bg_job *job = bg_start(cancel_call, k, cancel_free);
    if (job && bg_wait(job, loop_after(wait_ms), 0) == WAIT_READY)
        PQfreeCancel(k);
    else if (!job)
        PQfreeCancel(k); /* no thread: better no cancel than an unbounded one */
}

static enum dbq_rc give_up(struct db *d, enum dbq_rc rc, struct err *e)
{
    const char *m = PQerrorMessage(d->conn);
    if (rc == DBQ_LOST)
        err_set(e, "lost the connection to the database: %.*s", (int)strcspn(m, "\n"),
                *m ? m : "connection closed");
    else if (rc == DBQ_TIMEOUT)
        err_set(e, "the database did not answer within %lds", d->wait_s > DB_QUERY_MIN_S
                ? d->wait_s : (long)DB_QUERY_MIN_S);
    else
        err_set(e, "interrupted");
    if (rc != DBQ_LOST) /* after a signal, briefly: a live server answers a cancel in milliseconds */
        cancel_bounded(d->conn, rc == DBQ_INTERRUPTED ? CANCEL_SIGNAL_MS : CANCEL_WAIT_MS);
    db_close(d);
    return rc;
}

int db_send(struct db *d, struct db_stmt *s, size_t n, struct err *e)
{
    for (size_t i = 0; i < n; i++)
        s[i].res = NULL;
    if (!d->conn || PQstatus(d->conn) != CONNECTION_OK) {
        err_set(e, "no connection to the database");
        db_close(d);
        return -1;
    }
    if (d->done < d->pending) { /* answers of earlier statements still to come */
        err_set(e, "the connection is still busy with earlier statements");
        return give_up(d, DBQ_LOST, e), -1;
    }
    /* Every sync flushes: corked, the batch leaves in as few packets as it
     * fits (over TCP; a Unix socket ignores the option). */
    int fd = PQsocket(d->conn), on = 1, off = 0;
    bool corked = n > 1 && setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on) == 0;
    for (size_t i = 0; i < n; i++)
        if (!PQsendQueryParams(d->conn, s[i].sql, s[i].nparams, NULL, s[i].params, NULL, NULL, s[i].binary) ||
            !PQpipelineSync(d->conn))
            return give_up(d, DBQ_LOST, e), -1;
    if (corked)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_CORK, &off, sizeof off);
    d->pending = n;
    d->done = 0;
    d->in_results = true;
    d->flush_pending = true;
    return 0;
}

/* Takes the results that are complete, advancing d->done past each
 * statement whose sync has come; -1 when the connection broke on the way. */
static int collect(struct db *d, struct db_stmt *s)
{
    PGconn *c = d->conn;
    while (d->done < d->pending && PQstatus(c) == CONNECTION_OK && !PQisBusy(c)) {
        PGresult *r = PQgetResult(c);
        if (!r) {
            if (!d->in_results)
                return -1; /* two ends in a row: libpq has nothing more for us */
            d->in_results = false; /* the statement's results are over; its sync comes next */
            continue;
        }
        if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            d->done++;
            d->in_results = true;
        } else if (d->in_results && !s[d->done].res) {
            s[d->done].res = r;
        } else {
            PQclear(r);
        }
    }
    return PQstatus(c) == CONNECTION_OK ? 0 : -1;
}

short db_events(const struct db *d)
{
    return (short)(POLLIN | (d->flush_pending ? POLLOUT : 0));
}

enum db_step db_advance(struct db *d, struct db_stmt *s, short revents, struct err *e)
{
    if (!d->conn)
        return DB_STEP_LOST;
    if ((revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(d->conn))
        return give_up(d, DBQ_LOST, e), DB_STEP_LOST;
    int f = PQflush(d->conn);
    d->flush_pending = f > 0;
    if (f < 0 || collect(d, s) != 0)
        return give_up(d, DBQ_LOST, e), DB_STEP_LOST;
    return d->done == d->pending && !d->flush_pending ? DB_STEP_DONE : DB_STEP_BUSY;
}

enum dbq_rc db_run(struct db *d, struct db_stmt *s, size_t n, int64_t deadline, int signals, struct err *e)
{
    if (db_send(d, s, n, e) != 0)
        return DBQ_LOST;
    short revents = 0;
    for (;;) {
        enum db_step st = db_advance(d, s, revents, e);
        if (st != DB_STEP_BUSY)
            return st == DB_STEP_DONE ? DBQ_OK : DBQ_LOST;
        struct pollfd p = {.fd = PQsocket(d->conn), .events = db_events(d)};
        enum wait_rc w = loop_wait(&p, 1, deadline, signals);
        if (w != WAIT_READY)
            return give_up(d, w == WAIT_SIGNAL ? DBQ_INTERRUPTED : DBQ_TIMEOUT, e);
        revents = p.revents;
    }
}

void db_close_after(struct db *d, const char *sql)
{
    struct db_stmt s = DB_STMT(sql, 0, NULL);
    struct err ignored = {{0}};
    if (d->conn && d->done == d->pending && db_send(d, &s, 1, &ignored) == 0)
        (void)PQflush(d->conn); /* what does not fit the socket now is not waited for */
    db_close(d);
}

enum dbq_rc db_abandon(struct db *d, enum dbq_rc why, struct err *e)
{
    return give_up(d, why, e);
}

enum dbq_rc db_exec(struct db *d, const char *sql, int nparams, const char *const *params,
                    PGresult **res, struct err *e)
{
    struct db_stmt s = {sql, nparams, params, NULL, 0};
    enum dbq_rc rc = db_run(d, &s, 1, db_deadline(d), 1, e);
    *res = s.res;
    return rc;
}

void db_stmts_clear(struct db_stmt *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        PQclear(s[i].res);
        s[i].res = NULL;
    }
}
