#include "db.h"
#include "log.h"
#include "signals.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKOFF_FIRST_MS 250
#define BACKOFF_CAP_MS 5000
#define ATTEMPT_TIMEOUT_S 10

enum verdict { RETRY, FAIL_AUTH, FAIL_NOW };

/* libpq gives no SQLSTATE for a failed connection, so the server's words are
 * all there is. These are PostgreSQL's own (English) messages; anything not
 * matched is treated as something waiting may heal. */
static enum verdict classify(PGconn *c)
{
    const char *m = PQerrorMessage(c);
    if (PQconnectionNeedsPassword(c) || strstr(m, "password authentication failed") ||
        strstr(m, "no pg_hba.conf entry") || strstr(m, "authentication failed") ||
        strstr(m, "pg_hba.conf rejects connection"))
        return FAIL_AUTH;
    if ((strstr(m, "database \"") || strstr(m, "role \"")) && strstr(m, "does not exist"))
        return FAIL_NOW;
    if (strncmp(m, "invalid ", 8) == 0) /* libpq's own option checks, e.g. sslmode */
        return FAIL_NOW;
    return RETRY;
}

static PGconn *attempt(const char *conninfo, long remaining_ms)
{
    char timeout[16];
    long t = remaining_ms / 1000;
    t = t < 2 ? 2 : t > ATTEMPT_TIMEOUT_S ? ATTEMPT_TIMEOUT_S : t;
    snprintf(timeout, sizeof timeout, "%ld", t);
    /* Later entries override the expanded dbname, earlier ones do not: the
     * URL may choose its application_name, but not stall a bounded wait. */
    const char *keys[] = {"application_name", "dbname", "connect_timeout", NULL};
    const char *vals[] = {"migration-sentry", conninfo, timeout, NULL};
    return PQconnectdbParams(keys, vals, 1);
}

static void first_line(const char *msg, char *buf, size_t n)
{
    snprintf(buf, n, "%s", msg);
    buf[strcspn(buf, "\n")] = '\0';
}

/* Server notices (RAISE NOTICE, "already exists, skipping") would go to
 * stderr raw through libpq's default processor: route them through the log,
 * which masks secrets. */
static void notice_to_log(void *arg, const char *message)
{
    (void)arg;
    log_output("[SENTRY] ", message, strcspn(message, "\n"));
}

static void fill_server(struct db *d)
{
    const char *v = PQparameterStatus(d->conn, "server_version");
    snprintf(d->server_version, sizeof d->server_version, "%s", v ? v : "unknown");
    d->server_version[strcspn(d->server_version, " ")] = '\0';
}

enum db_rc db_connect(const char *conninfo, long wait_s, struct db *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    int64_t start = now_ms(), deadline = start + wait_s * 1000;
    long backoff = BACKOFF_FIRST_MS;
    for (int n = 1;; n++) {
        PGconn *c = attempt(conninfo, deadline - now_ms());
        if (c && PQstatus(c) == CONNECTION_OK) {
            out->conn = c;
            PQsetNoticeProcessor(c, notice_to_log, NULL);
            fill_server(out);
            return DB_OK;
        }
        char why[512];
        first_line(c ? PQerrorMessage(c) : "out of memory", why, sizeof why);
        enum verdict v = c ? classify(c) : RETRY;
        PQfinish(c);
        if (v != RETRY) {
            err_set(e, "%s", why);
            return v == FAIL_AUTH ? DB_AUTH : DB_UNREACHABLE;
        }
        int64_t now = now_ms();
        if (now >= deadline) {
            err_set(e, "database unreachable after %d attempt%s in %.1fs: %s", n,
                    n == 1 ? "" : "s", (double)(now - start) / 1000.0, why);
            return DB_UNREACHABLE;
        }
        long sleep_ms = backoff < deadline - now ? backoff : (long)(deadline - now);
        log_note("DB not ready (attempt %d, %.1fs elapsed): %s; retrying in %.1fs", n,
                 (double)(now - start) / 1000.0, why, (double)sleep_ms / 1000.0);
        if (signals_gate_sleep(sleep_ms))
            return DB_INTERRUPTED;
        backoff = backoff * 2 > BACKOFF_CAP_MS ? BACKOFF_CAP_MS : backoff * 2;
    }
}

char *db_version_table(PGconn *conn, const char *table, const char *schema)
{
    char *t = PQescapeIdentifier(conn, table, strlen(table));
    char *sc = schema ? PQescapeIdentifier(conn, schema, strlen(schema)) : NULL;
    char *out = t && (sc || !schema) ? (sc ? xasprintf("%s.%s", sc, t) : xstrdup(t)) : NULL;
    PQfreemem(t);
    PQfreemem(sc);
    return out;
}

int db_alembic_current(PGconn *conn, const char *table, const char *schema, struct strlist *out,
                       bool *has_table, struct err *e)
{
    char *name = db_version_table(conn, table, schema);
    if (!name) {
        err_set(e, "quoting the version table's name failed: %s", PQerrorMessage(conn));
        return -1;
    }
    /* to_regclass follows search_path when no schema is named, as Alembic
     * (SQLAlchemy's has_table) does for its table; the name is quoted, so
     * it matches exactly as SQLAlchemy's quoting would. */
    const char *p[1] = {name};
    PGresult *r = PQexecParams(conn, "SELECT to_regclass($1) IS NOT NULL", 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        err_set(e, "reading %s failed: %s", table, PQresultErrorMessage(r));
        PQclear(r);
        free(name);
        return -1;
    }
    *has_table = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!*has_table) {
        free(name);
        return 0;
    }
    char *sql = xasprintf("SELECT version_num FROM %s ORDER BY version_num", name);
    free(name);
    r = PQexec(conn, sql);
    free(sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        err_set(e, "reading %s failed: %s", table, PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++)
        strlist_push(out, PQgetvalue(r, i, 0));
    PQclear(r);
    strlist_sort(out);
    return 0;
}

void db_close(struct db *d)
{
    if (d->conn)
        PQfinish(d->conn);
    d->conn = NULL;
}
