/* config: flags, then environment, then defaults, for every setting of the
 * contract, each remembered with where it came from. config_load validates
 * everything it can without touching the outside world (no database, no
 * PATH lookup: main does that as the rest of the config phase), and fails
 * with one message naming the flag or variable at fault. */
#ifndef SENTRY_CONFIG_H
#define SENTRY_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "err.h"
#include "locate.h"
#include "url.h"
#include "util.h"
#include "verify.h"

enum command {
    CMD_GATE, CMD_CHECK, CMD_STATUS, CMD_HEADS, CMD_CONFIG, CMD_SCHEMA, CMD_SQL,
    CMD_HELP, CMD_VERSION
};

/* In the order `config` lists them. */
enum setting {
    S_LOG_FORMAT, S_DATABASE_URL, S_REQUIRED_ENV, S_DB_WAIT, S_LOCK_KEY, S_LOCK_WAIT,
    S_MIGRATIONS_DIR, S_ALEMBIC_CONFIG, S_VERSION_TABLE, S_VERSION_TABLE_SCHEMA,
    S_RECOVER, S_AHEAD, S_HISTORY, S_MIGRATE_CMD, S_MIGRATE_TIMEOUT,
    S_MIGRATE_LOCK_TIMEOUT, S_MIGRATE_RETRIES, S_REQUIRE_COLUMNS, S_SCHEMA_FILE,
    S_SCHEMAS, S_STATUS_FILE, S_GRACE, S_NO_MIGRATE, S_INIT,
    S_COUNT
};

enum source { SRC_NONE, SRC_DEFAULT, SRC_ENV, SRC_FLAG };

#define DEFAULT_LOCK_KEY INT64_C(7886758897530337569) /* "msentry!" */
#define DEFAULT_MIGRATIONS_DIR "migrations/versions"
#define DEFAULT_SCHEMA_FILE "migrations/schema.json"
#define MAX_RETRIES 100

struct config {
    enum command cmd;
    const char *sql_file;
    char **command; /* argv after "--", NULL-terminated, or NULL */

    /* What was given, and where from: the one copy of every setting. The
     * fields below are its parsed forms (strings point into raw). */
    char *raw[S_COUNT];
    enum source src[S_COUNT];

    bool log_json;
    struct dburl db;
    struct strlist required_env;
    long db_wait, lock_wait, migrate_timeout, migrate_lock_timeout, grace;
    long migrate_retries;
    int64_t lock_key;
    struct scripts_at scripts;        /* where the revision scripts are (locate.h) */
    bool alembic_config_env;          /* SENTRY_ALEMBIC_CONFIG's default came from ALEMBIC_CONFIG */
    const char *version_table;        /* "alembic_version" */
    const char *version_table_schema; /* NULL: the search path's */
    bool recover_stamp;
    bool ahead_fail;                  /* SENTRY_AHEAD=fail */
    bool history;                     /* read and write migration_sentry_revisions */
    struct strlist migrate_argv;
    struct columns columns;
    const char *schema_file;          /* NULL: no schema file in use */
    struct strlist schemas;           /* SENTRY_SCHEMAS, at least one */
    const char *status_file;
    bool no_migrate;
    bool init; /* supervise as init rather than exec */
};

/* 0, or -1 with e set (the config phase's failure: exit 64). */
int config_load(struct config *c, int argc, char **argv, struct err *e);
/* The flag or variable a setting came from ("--db-wait", "SENTRY_DB_WAIT"),
 * for messages. */
const char *config_name(const struct config *c, enum setting s);
/* The `config` command's listing: NAME=value (source), one a line. */
void config_print(const struct config *c, FILE *out);
const char *config_usage(void);
void config_free(struct config *c);

#endif
