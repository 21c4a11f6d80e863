/* db_connect: see db.h. */
#include "db.h"
#include "log.h"
#include "resolve.h"
#include "url.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKOFF_FIRST_MS 250
#define BACKOFF_CAP_MS 5000
#define ATTEMPT_MAX_MS 10000 /* one attempt: a server that takes longer is retried */
#define ATTEMPT_MIN_MS 2000

enum verdict { RETRY, FAIL_AUTH, FAIL_NOW, INTERRUPTED };

/* libpq gives no SQLSTATE for a failed connection, so its words and the
 * server's are all there is: these are PostgreSQL's own (English) messages.
 * Anything not matched is treated as something waiting may heal: refused
 * connections, a server starting or stopping, too many clients, and no
 * writable host among several (a failover under way). */
static enum verdict classify(PGconn *c, const char *m)
{
    static const char *const auth[] = {
        "password authentication failed", "no pg_hba.conf entry", "authentication failed",
        "pg_hba.conf rejects connection", "no password supplied",
    };
    static const char *const now[] = {
        "server does not support SSL, but SSL was required", "certificate verify failed",
        "does not match host name", "root certificate file", "could not read root certificate",
        "could not load private key", "certificate present, but not private key",
        "server does not support GSSAPI", "channel binding required",
        "SSL error: tlsv1 alert unknown ca", "server certificate for",
    };
    if (c && PQconnectionNeedsPassword(c))
        return FAIL_AUTH;
    for (size_t i = 0; i < sizeof auth / sizeof *auth; i++)
        if (strstr(m, auth[i]))
            return FAIL_AUTH;
    if (strstr(m, "role \"") && strstr(m, "does not exist"))
        return FAIL_AUTH;
    if (strstr(m, "database \"") && strstr(m, "does not exist"))
        return FAIL_NOW;
    for (size_t i = 0; i < sizeof now / sizeof *now; i++)
        if (strstr(m, now[i]))
            return FAIL_NOW;
    if (strncmp(m, "invalid ", 8) == 0) /* libpq's own option checks, e.g. sslmode */
        return FAIL_NOW;
    return RETRY;
}

bool db_wants_primary(const char *conninfo)
{
    PQconninfoOption *o = PQconninfoParse(conninfo, NULL);
    const char *host = url_opt(o, "host") ? url_opt(o, "host") : getenv("PGHOST");
    bool several = host && strchr(host, ',') && !url_opt(o, "target_session_attrs") &&
                   !getenv("PGTARGETSESSIONATTRS");
    PQconninfoFree(o);
    return several;
}

/* The parameter arrays: defaults the URL may override, then the URL (its
 * values win over what comes before it), then what the gate insists on. */
struct params {
    const char *k[16], *v[16];
    int n;
    char *options;
};

static void put(struct params *p, const char *k, const char *v)
{
    if (v && p->n < 15) {
        p->k[p->n] = k;
        p->v[p->n++] = v;
    }
}

static void build(struct params *p, const char *conninfo, const char *extra, const struct resolved *r)
{
    memset(p, 0, sizeof *p);
    PQconninfoOption *o = PQconninfoParse(conninfo, NULL);
    put(p, "application_name", "migration-sentry");
    put(p, "keepalives", "1");
    put(p, "keepalives_idle", "10");
    put(p, "keepalives_interval", "5");
    put(p, "keepalives_count", "3");
    if (db_wants_primary(conninfo))
        put(p, "target_session_attrs", "read-write");
    put(p, "dbname", conninfo);
    if (extra) {
        const char *base = url_opt(o, "options") ? url_opt(o, "options") : getenv("PGOPTIONS");
        p->options = xasprintf("%s%s%s", base ? base : "", base ? " " : "", extra);
        put(p, "options", p->options);
    }
    put(p, "host", r->host);
    put(p, "hostaddr", r->hostaddr);
    put(p, "port", r->port);
    p->k[p->n] = p->v[p->n] = NULL;
    PQconninfoFree(o);
}

/* SCRAM's nonce draws on OpenSSL's random generator, whose first use sets
 * it up: a few milliseconds that would otherwise come after the server has
 * answered. Done once the startup packet is out, while the server sets up
 * the backend and looks up how to authenticate us. */
static void warm_random(void)
{
    static bool warm;
    unsigned char b;
    if (!warm)
        warm = RAND_bytes(&b, 1) == 1;
}

/* Drives PQconnectPoll until the connection is made or fails; NULL with
 * *why and *v set on failure. */
static PGconn *poll_connect(PGconn *c, int64_t deadline, enum verdict *v, char **why)
{
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (c && PQstatus(c) != CONNECTION_BAD) {
        if (st == PGRES_POLLING_OK)
            return c;
        struct pollfd p = {.fd = PQsocket(c), .events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT};
        enum wait_rc w = loop_wait(&p, 1, deadline, 1);
        if (w != WAIT_READY) {
            *v = w == WAIT_SIGNAL ? INTERRUPTED : RETRY;
            *why = xstrdup(w == WAIT_SIGNAL ? "interrupted" : "timeout expired");
            PQfinish(c);
            return NULL;
        }
        st = PQconnectPoll(c);
        if (st == PGRES_POLLING_READING && PQstatus(c) == CONNECTION_AWAITING_RESPONSE)
            warm_random();
    }
    const char *m = c ? PQerrorMessage(c) : "out of memory";
    *why = xstrndup(m, strcspn(m, "\n"));
    *v = classify(c, m);
    PQfinish(c);
    return NULL;
}

/* Server notices (RAISE NOTICE, "already exists, skipping") would go to
 * stderr raw through libpq's default processor: route them through the log,
 * which masks secrets. */
static void notice_to_log(void *arg, const char *message)
{
    (void)arg;
    log_output("[SENTRY] ", message, strcspn(message, "\n"));
}

static PGconn *attempt(const char *conninfo, const char *extra, int64_t deadline, enum verdict *v, char **why)
{
    struct resolved r;
    switch (resolve_conninfo(conninfo, deadline, &r, why)) {
    case RESOLVE_OK:
        break;
    case RESOLVE_INTERRUPTED:
        *v = INTERRUPTED;
        return NULL;
    default:
        *v = RETRY; /* a name not resolved yet, as libpq would say */
        return NULL;
    }
    struct params p;
    build(&p, conninfo, extra, &r);
    PGconn *c = PQconnectStartParams(p.k, p.v, 1);
    if (c) /* before it completes: the server may send notices during start-up */
        PQsetNoticeProcessor(c, notice_to_log, NULL);
    c = poll_connect(c, deadline, v, why);
    free(p.options);
    resolved_free(&r);
    return c;
}

/* Ready for the gate: non-blocking, in pipeline mode for good, notices to
 * the log; 0, or -1 when libpq refused (out of memory). */
static int set_up(struct db *d)
{
    if (PQsetnonblocking(d->conn, 1) != 0 || PQenterPipelineMode(d->conn) != 1)
        return -1;
    const char *v = PQparameterStatus(d->conn, "server_version");
    snprintf(d->server_version, sizeof d->server_version, "%s", v ? v : "unknown");
    d->server_version[strcspn(d->server_version, " ")] = '\0';
    return 0;
}

/* A hot standby would take the lock and pass verify while excluding nothing
 * on the primary. PostgreSQL 14 and later say so at start-up; older servers
 * and poolers that do not pass the parameter on are asked. */
static enum db_rc refuse_standby(struct db *d, struct err *e)
{
    const char *hs = PQparameterStatus(d->conn, "in_hot_standby");
    bool standby = hs && strcmp(hs, "on") == 0;
    if (!hs) {
        PGresult *r = NULL;
        enum dbq_rc q = db_exec(d, "SELECT pg_catalog.pg_is_in_recovery()", 0, NULL, &r, e);
        if (q != DBQ_OK) {
            PQclear(r);
            return q == DBQ_INTERRUPTED ? DB_INTERRUPTED : DB_UNREACHABLE;
        }
        standby = db_ok(r) && PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        PQclear(r);
    }
    if (!standby)
        return DB_OK;
    err_set(e, "the server is a hot standby (in recovery): the gate needs the primary; "
               "point DATABASE_URL at it");
    db_close(d);
    return DB_UNREACHABLE;
}

static int64_t attempt_deadline(int64_t deadline)
{
    int64_t now = now_ms(), left = deadline - now;
    return now + (left > ATTEMPT_MAX_MS ? ATTEMPT_MAX_MS : left < ATTEMPT_MIN_MS ? ATTEMPT_MIN_MS : left);
}

static enum db_rc finish(struct db *d, PGconn *c, struct err *e)
{
    d->conn = c;
    if (set_up(d) != 0) {
        err_set(e, "cannot set up the connection: %s", PQerrorMessage(c));
        db_close(d);
        return DB_UNREACHABLE;
    }
    return refuse_standby(d, e);
}

enum db_rc db_connect(const char *conninfo, const char *extra, long wait_s, struct db *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    out->conninfo = conninfo;
    out->extra = extra;
    out->wait_s = wait_s;
    int64_t start = now_ms(), deadline = start + wait_s * 1000;
    long backoff = BACKOFF_FIRST_MS;
    for (int n = 1;; n++) {
        enum verdict v = RETRY;
        char *why = NULL;
        PGconn *c = attempt(conninfo, out->extra_refused ? NULL : extra, attempt_deadline(deadline), &v, &why);
        if (c)
            return finish(out, c, e);
        if (extra && !out->extra_refused && why && strstr(why, "unsupported startup parameter: options")) {
            out->extra_refused = true; /* a pooler that will not pass it on: go without */
            free(why);
            n--;
            continue;
        }
        if (v != RETRY) {
            err_set(e, "%s", why ? why : "interrupted");
            free(why);
            return v == FAIL_AUTH ? DB_AUTH : v == INTERRUPTED ? DB_INTERRUPTED : DB_UNREACHABLE;
        }
        int64_t now = now_ms();
        if (now >= deadline) {
            err_set(e, "database unreachable after %d attempt%s in %.1fs: %s", n,
                    n == 1 ? "" : "s", (double)(now - start) / 1000.0, why);
            free(why);
            return DB_UNREACHABLE;
        }
        long sleep_ms = backoff < deadline - now ? backoff : (long)(deadline - now);
        log_note("DB not ready (attempt %d, %.1fs elapsed): %s; retrying in %.1fs", n,
                 (double)(now - start) / 1000.0, why, (double)sleep_ms / 1000.0);
        free(why);
        if (loop_sleep(now_ms() + sleep_ms) == WAIT_SIGNAL) {
            err_set(e, "interrupted");
            return DB_INTERRUPTED;
        }
        backoff = backoff * 2 > BACKOFF_CAP_MS ? BACKOFF_CAP_MS : backoff * 2;
    }
}

enum db_rc db_reconnect(struct db *d, long wait_s, struct err *e)
{
    const char *conninfo = d->conninfo, *extra = d->extra_refused ? NULL : d->extra;
    long keep = d->wait_s;
    bool refused = d->extra_refused;
    db_close(d);
    enum db_rc rc = db_connect(conninfo, extra, wait_s, d, e);
    d->wait_s = keep;
    d->extra = refused ? NULL : extra;
    d->extra_refused |= refused;
    return rc;
}

void db_close(struct db *d)
{
    if (d->conn)
        PQfinish(d->conn);
    d->conn = NULL;
}
