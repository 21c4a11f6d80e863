/* db: the gate's one PostgreSQL session. db_connect waits for the server with
 * capped exponential backoff until wait_s seconds have passed, logging each
 * failed attempt (number, elapsed time, libpq's reason, redacted); errors
 * that waiting cannot heal (authentication refused, no such database or
 * role) end the wait at once. The session sets application_name to
 * migration-sentry unless the URL names one. */
#ifndef SENTRY_DB_H
#define SENTRY_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include "err.h"
#include "util.h"

enum db_rc {
    DB_OK = 0,
    DB_UNREACHABLE,  /* waited wait_s, or a permanent error (no such database) */
    DB_AUTH,         /* the server refused our credentials */
    DB_INTERRUPTED,  /* a gate signal arrived */
};

struct db {
    PGconn *conn;
    char server_version[64]; /* "15.18" */
};

enum db_rc db_connect(const char *conninfo, long wait_s, struct db *out, struct err *e);
/* The version table's name quoted for SQL (PQescapeIdentifier): "table" or
 * "schema"."table"; NULL when libpq cannot quote it. Caller frees. */
char *db_version_table(PGconn *conn, const char *table, const char *schema);
/* The rows of the version table (table, in schema or on the search path
 * when schema is NULL), sorted; *has_table false when there is none. 0, or
 * -1 with e set. */
int db_alembic_current(PGconn *conn, const char *table, const char *schema, struct strlist *out,
                       bool *has_table, struct err *e);
void db_close(struct db *d);

#endif
