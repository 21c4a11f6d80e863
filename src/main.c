/* migration-sentry: the gate of CONTRACT.md, phase by phase. This file alone
 * turns what the modules report into exit codes. */
#include "config.h"
#include "db.h"
#include "heads.h"
#include "lock.h"
#include "log.h"
#include "migrate.h"
#include "recover.h"
#include "signals.h"
#include "sqlfile.h"
#include "status.h"
#include "supervise.h"
#include "verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum exit_code {
    EX_OK = 0, EX_NOT_MIGRATED = 1, EX_CONFIG = 64, EX_VERIFY = 65, EX_NOSTATUS = 66,
    EX_UNREACHABLE = 69, EX_MIGRATE = 70, EX_STATUS = 73, EX_LOCK = 75, EX_AUTH = 77,
    EX_NOEXEC = 126, EX_NOTFOUND = 127, EX_SIGNAL_BASE = 128,
};

/* What the gate found and did: its working state. The status record is
 * derived from it once, at the end (status_of). */
struct gate {
    const struct config *cfg;
    int64_t start_mono, start_wall;
    struct db db;
    bool locked;
    struct heads heads;
    bool has_version_table;
    struct strlist current;          /* alembic_version rows, sorted */
    struct strlist ahead;            /* rows a newer release applied */
    struct migrate_result mig;
    const char *skipped;             /* why the command did not run */
    bool recovered;
    bool *present;                   /* per required column, once verify ran */
    const char *phase;               /* the phase that failed, or "done" */
    struct err e;
};

/* --- ending the gate ------------------------------------------------------ */

static void release(struct gate *g)
{
    if (g->locked && g->db.conn)
        lock_release(g->db.conn, g->cfg->lock_key);
    g->locked = false;
    db_close(&g->db);
}

static int fail(struct gate *g, const char *phase, int code)
{
    int sig = signals_gate_check();
    if (sig) {
        err_set(&g->e, "interrupted by %s", signals_name(sig));
        code = EX_SIGNAL_BASE + sig;
    }
    release(g);
    g->phase = phase;
    log_banner("FAILED (phase: %s)", phase);
    log_error("%s", g->e.msg);
    return code;
}

/* The status record: a view of what happened, nothing of its own. */
static void status_of(const struct gate *g, struct status *st)
{
    status_init(st);
    st->phase = g->phase ? g->phase : "config";
    st->migrated = g->phase && strcmp(g->phase, "done") == 0;
    st->error = st->migrated ? NULL : g->e.msg;
    st->current = g->has_version_table ? &g->current : NULL;
    st->cols = &g->cfg->columns;
    st->present = g->present;
    st->heads = g->heads.known ? &g->heads.heads : NULL;
    st->ahead = &g->ahead;
    st->migration.ran = g->mig.ran;
    st->migration.skipped = g->skipped;
    st->migration.exit_code = g->mig.exit_code;
    st->migration.recovered = g->recovered;
    st->migration.duration_ms = g->mig.duration_ms;
    st->migration.attempts = g->mig.ran ? 1 : 0;
    st->migration.tail = &g->mig.tail;
    st->schema.file = g->cfg->schema_file;
    st->database = g->cfg->db.display;
    st->server_version = *g->db.server_version ? g->db.server_version : NULL;
    st->started_wall = g->start_wall;
    st->finished_wall = wall_ms();
    st->duration_ms = now_ms() - g->start_mono;
}

/* --- the phases ------------------------------------------------------------ */

static int phase_connect(struct gate *g)
{
    const struct config *c = g->cfg;
    log_phase("connect");
    if (c->db.pooled)
        log_note("warning: %s looks like a PgBouncer pooled endpoint; session advisory locks "
                 "do not hold through transaction pooling: use the direct connection string",
                 c->db.display);
    switch (db_connect(c->db.conninfo, c->db_wait, &g->db, &g->e)) {
    case DB_OK:
        break;
    case DB_AUTH:
        return fail(g, "connect", EX_AUTH);
    default:
        return fail(g, "connect", EX_UNREACHABLE);
    }
    log_note("DB OK: %s", PQdb(g->db.conn));
    log_note("Server: PostgreSQL %s", g->db.server_version);
    return 0;
}

static int phase_lock(struct gate *g)
{
    log_phase("lock");
    switch (lock_acquire(g->db.conn, g->cfg->lock_key, g->cfg->lock_wait, &g->e)) {
    case LOCK_OK:
        g->locked = true;
        log_note("lock %lld acquired", (long long)g->cfg->lock_key);
        return 0;
    case LOCK_TIMEOUT:
    case LOCK_INTERRUPTED: /* fail() turns it into 128+N */
        return fail(g, "lock", EX_LOCK);
    default:
        return fail(g, "lock", EX_UNREACHABLE);
    }
}

static int read_current(struct gate *g, const char *phase)
{
    strlist_free(&g->current);
    if (db_alembic_current(g->db.conn, g->cfg->version_table, g->cfg->version_table_schema, &g->current,
                           &g->has_version_table, &g->e) != 0)
        return fail(g, phase, EX_UNREACHABLE);
    return 0;
}

static void load_heads(struct gate *g)
{
    const struct scripts_at *at = &g->cfg->scripts;
    if (at->kind == PROJECT_NONE && !at->configured)
        return;
    heads_load(at, &g->heads);
    if (!g->heads.known)
        log_note("script heads unknown (%s): the migration command decides", g->heads.why);
}

/* Sets *at when the database is already up to date as Alembic judges it; a
 * broken chain is recovered (SENTRY_RECOVER=stamp) or fails the phase.
 * Overlapping rows are not up to date: the command runs and reports
 * Alembic's own error. 0, or the exit code. */
static int at_heads(struct gate *g, bool *at)
{
    struct verdict v;
    heads_judge(&g->heads, &g->current, &v);
    *at = v.known && v.up_to_date;
    int rc = 0;
    if (!v.known) {
        log_note("%s: the migration command decides", v.why);
    } else if (v.unknown.n) {
        char *u = strlist_join(&v.unknown, ","), *h = strlist_join(&g->heads.stamp, ",");
        char *where = locate_shown(&g->cfg->scripts);
        if (g->cfg->recover_stamp) {
            rc = recover_stamp(g->db.conn, g->cfg->version_table, g->cfg->version_table_schema,
                               &g->heads.stamp, &g->e) ? fail(g, "migrate", EX_MIGRATE) : 0;
            if (!rc) {
                log_banner("RECOVERED: alembic_version rewritten from %s to heads %s", u, h);
                g->recovered = true;
                rc = read_current(g, "migrate");
                *at = true;
            }
        } else {
            err_set(&g->e, "broken chain: database is at revision %s, which no script in %s defines "
                           "(script heads: %s); set SENTRY_RECOVER=stamp to stamp the heads",
                    u, where, h);
            rc = fail(g, "migrate", EX_MIGRATE);
        }
        free(where);
        free(u);
        free(h);
    } else if (v.overlapping.n) {
        char *o = strlist_join(&v.overlapping, ",");
        log_note("alembic_version rows %s are ancestors of other rows, which Alembic refuses", o);
        free(o);
    }
    verdict_free(&v);
    return rc;
}

static int run_migration(struct gate *g)
{
    const struct config *c = g->cfg;
    char *cmd = strlist_join(&c->migrate_argv, " ");
    log_banner("%s", cmd);
    free(cmd);
    enum migrate_rc rc = migrate_run(strlist_argv((struct strlist *)&c->migrate_argv),
                                     c->migrate_timeout, &g->mig, &g->e);
    if (rc != MIG_OK)
        return fail(g, "migrate", EX_MIGRATE);
    return read_current(g, "migrate");
}

static int phase_migrate(struct gate *g)
{
    log_phase("migrate");
    int rc = read_current(g, "migrate");
    if (rc)
        return rc;
    bool at = false;
    if (g->heads.known && (rc = at_heads(g, &at)))
        return rc;
    if (g->cfg->no_migrate) {
        log_note("--no-migrate: not running the migration command");
        g->skipped = "--no-migrate";
        return 0;
    }
    if (at) {
        char *cur = strlist_join(&g->current, ",");
        char *cmd = strlist_join(&g->cfg->migrate_argv, " ");
        log_note("database already at heads (%s); skipping %s", cur, cmd);
        free(cur);
        free(cmd);
        g->skipped = g->recovered ? "stamped to heads (SENTRY_RECOVER=stamp)" : "database already at heads";
        return 0;
    }
    return run_migration(g);
}

static int check_revisions(struct gate *g)
{
    if (!g->heads.known)
        return 0;
    struct verdict v;
    heads_judge(&g->heads, &g->current, &v);
    int rc = 0;
    if (v.known && !v.up_to_date) {
        char *p = strlist_join(&v.pending, ","), *u = strlist_join(&v.unknown, ",");
        char *o = strlist_join(&v.overlapping, ",");
        err_set(&g->e, "database not at the script heads:%s%s%s%s%s%s%s%s", v.pending.n ? " pending " : "", p,
                v.unknown.n ? " unknown " : "", u, v.overlapping.n ? " overlapping " : "", o,
                v.overlapping.n ? " (ancestors of other recorded revisions, which Alembic refuses)" : "",
                g->has_version_table ? "" : "; no version table found (set SENTRY_VERSION_TABLE if env.py renames it)");
        free(p);
        free(u);
        free(o);
        rc = fail(g, "verify", EX_VERIFY);
    }
    verdict_free(&v);
    return rc;
}

static int phase_verify(struct gate *g)
{
    const struct columns *cols = &g->cfg->columns;
    log_phase("verify");
    log_banner("verifying required columns");
    g->present = xcalloc(cols->n, sizeof *g->present);
    if (verify_columns(g->db.conn, cols, g->present, &g->e) != 0)
        return fail(g, "verify", PQstatus(g->db.conn) == CONNECTION_OK ? EX_VERIFY : EX_UNREACHABLE);
    struct strlist missing = {0};
    for (size_t i = 0; i < cols->n; i++)
        if (!g->present[i])
            strlist_push(&missing, cols->v[i].label);
    if (missing.n) {
        char *m = strlist_join(&missing, ", ");
        err_set(&g->e, "missing required column%s: %s", missing.n > 1 ? "s" : "", m);
        free(m);
        strlist_free(&missing);
        return fail(g, "verify", EX_VERIFY);
    }
    int rc = check_revisions(g);
    if (!rc)
        log_note("schema OK.");
    return rc;
}

static int write_status(struct gate *g, int code)
{
    struct status st;
    status_of(g, &st);
    struct err we = {{0}};
    log_phase("status");
    if (status_write(g->cfg->status_file, &st, &we) == 0)
        return code;
    if (code == EX_OK)
        log_banner("FAILED (phase: status)");
    log_error("%s", we.msg);
    return code == EX_OK ? EX_STATUS : code;
}

/* --- the commands ------------------------------------------------------------ */

static int command_exit(char *const argv[], long grace_s, bool init)
{
    struct start_result r = {0};
    struct err e = {{0}};
    if (!init) {
        supervise_exec(argv, &r, &e);
    } else if (supervise_init(argv, grace_s, &r, &e) != 0) {
        log_error("%s", e.msg);
        return EX_NOEXEC;
    }
    if (!r.started) {
        log_error("%s", e.msg);
        return r.not_found ? EX_NOTFOUND : EX_NOEXEC;
    }
    return r.signaled ? EX_SIGNAL_BASE + r.code : r.code;
}

static int start_command(struct config *c)
{
    signals_gate_end();
    if (c->init)
        supervise_reexec(c->command, c->grace);
    return command_exit(c->command, c->grace, c->init);
}

/* The bare supervisor that start_command re-executes into. */
static int run_supervise_only(int argc, char **argv)
{
    char *end;
    long grace = strtol(argv[1] + strlen(SUPERVISE_FLAG), &end, 10);
    if (*end || grace < 0 || argc < 4 || strcmp(argv[2], "--") != 0) {
        log_error("usage: migration-sentry " SUPERVISE_FLAG "SECONDS -- COMMAND [ARGS...]");
        return EX_CONFIG;
    }
    return command_exit(argv + 3, grace, true);
}

static void gate_init(struct gate *g, const struct config *c)
{
    memset(g, 0, sizeof *g);
    g->cfg = c;
    g->start_mono = now_ms();
    g->start_wall = wall_ms();
    g->mig.exit_code = -1;
}

static void gate_free(struct gate *g)
{
    release(g);
    heads_free(&g->heads);
    strlist_free(&g->current);
    strlist_free(&g->ahead);
    migrate_result_free(&g->mig);
    free(g->present);
}

static int run_gate(struct config *c)
{
    struct gate g;
    gate_init(&g, c);
    log_phase("config");
    log_banner("starting");
    log_plain("FLASK_APP=%s", getenv("FLASK_APP") ? getenv("FLASK_APP") : "");
    log_plain("DB (redacted): %s", c->db.display);
    if (c->db.driver)
        log_note("SQLAlchemy driver '%s' dropped from the URL: libpq needs none", c->db.driver);
    if (signals_gate_begin() != 0)
        log_note("cannot watch for signals during the gate");
    load_heads(&g);
    int rc = phase_connect(&g);
    if (!rc)
        rc = phase_lock(&g);
    if (!rc)
        rc = phase_migrate(&g);
    if (!rc)
        rc = phase_verify(&g);
    if (!rc)
        g.phase = "done";
    release(&g);
    rc = write_status(&g, rc);
    gate_free(&g);
    if (rc)
        return rc;
    log_phase("start");
    log_banner("success");
    return c->command ? start_command(c) : EX_OK;
}

/* check: config, connect, verify; the status JSON on stdout, nothing written. */
static int run_check(struct config *c)
{
    struct gate g;
    if (c->src[S_DB_WAIT] == SRC_DEFAULT)
        c->db_wait = 0; /* a probe answers now; it does not wait a minute */
    gate_init(&g, c);
    load_heads(&g);
    int rc = phase_connect(&g);
    if (!rc && !(rc = read_current(&g, "verify")))
        rc = phase_verify(&g);
    if (!rc)
        g.phase = "done";
    struct status st;
    status_of(&g, &st);
    char *json = status_render(&st);
    printf("%s\n", json);
    free(json);
    gate_free(&g);
    return rc;
}

static int run_status(struct config *c)
{
    char *text = NULL;
    struct err e = {{0}};
    enum status_read_rc rc = status_read(c->status_file, &text, &e);
    if (rc == STATUS_MISSING) {
        log_error("%s", e.msg);
        return EX_NOSTATUS;
    }
    if (!*text)
        log_error("%s", e.msg);
    fputs(text, stdout);
    free(text);
    return rc == STATUS_MIGRATED ? EX_OK : EX_NOT_MIGRATED;
}

static int run_heads(struct config *c)
{
    if (c->scripts.kind == PROJECT_NONE && !c->scripts.configured) {
        log_error("no migration scripts: %s (set SENTRY_MIGRATIONS_DIR or SENTRY_ALEMBIC_CONFIG)",
                  c->scripts.why);
        return EX_CONFIG;
    }
    struct heads h = {0};
    heads_load(&c->scripts, &h);
    int rc = EX_OK;
    if (!h.known) {
        log_error("script heads unknown: %s", h.why);
        rc = EX_VERIFY;
    }
    for (size_t i = 0; h.known && i < h.heads.n; i++)
        printf("%s\n", h.heads.v[i]);
    heads_free(&h);
    return rc;
}

/* sql FILE: read and check the file, connect as the gate does, run it in
 * one transaction. */
static int run_sql(struct config *c)
{
    struct db d;
    struct sql_script script;
    struct err e = {{0}};
    log_banner("sql %s", c->sql_file);
    if (sqlfile_load(c->sql_file, &script, &e) != 0) {
        log_banner("FAILED (phase: sql)");
        log_error("%s", e.msg);
        return EX_CONFIG;
    }
    log_plain("DB (redacted): %s", c->db.display);
    if (signals_gate_begin() != 0)
        log_note("cannot watch for signals");
    enum db_rc dr = db_connect(c->db.conninfo, c->db_wait, &d, &e);
    if (dr != DB_OK) {
        sql_script_free(&script);
        log_banner("FAILED (phase: connect)");
        log_error("%s", e.msg);
        return dr == DB_AUTH ? EX_AUTH : dr == DB_INTERRUPTED ? EX_SIGNAL_BASE + signals_gate_check()
                                                              : EX_UNREACHABLE;
    }
    log_note("DB OK: %s", PQdb(d.conn));
    enum sqlfile_rc rc = sqlfile_apply(d.conn, &script, &e);
    db_close(&d);
    sql_script_free(&script);
    if (rc != SQLFILE_OK) {
        log_banner("FAILED (phase: sql)");
        log_error("%s", e.msg);
        log_note("nothing was applied");
        return rc == SQLFILE_FAILED ? EX_MIGRATE : EX_UNREACHABLE;
    }
    log_banner("success: %s applied in one transaction", c->sql_file);
    return EX_OK;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strncmp(argv[1], SUPERVISE_FLAG, strlen(SUPERVISE_FLAG)) == 0)
        return run_supervise_only(argc, argv);
    struct config c;
    struct err e = {{0}};
    int rc = config_load(&c, argc, argv, &e);
    if (!rc && c.cmd == CMD_GATE && !c.no_migrate &&
        migrate_find_program(c.migrate_argv.v[0], c.src[S_MIGRATE_CMD] == SRC_FLAG ? "--migrate-cmd" : "SENTRY_MIGRATE_CMD", &e))
        rc = -1;
    if (c.cmd == CMD_CONFIG)
        config_print(&c, stdout);
    if (rc) {
        if (c.cmd == CMD_GATE)
            log_banner("FAILED (phase: config)");
        log_error("%s", e.msg);
        config_free(&c);
        return EX_CONFIG;
    }
    switch (c.cmd) {
    case CMD_HELP: fputs(config_usage(), stdout); break;
    case CMD_VERSION: printf("migration-sentry %s\n", SENTRY_VERSION); break;
    case CMD_CONFIG: break;
    case CMD_STATUS: rc = run_status(&c); break;
    case CMD_HEADS: rc = run_heads(&c); break;
    case CMD_CHECK: rc = run_check(&c); break;
    case CMD_SCHEMA:
        log_error("schema: not available in this build yet");
        rc = EX_CONFIG;
        break;
    case CMD_SQL: rc = run_sql(&c); break;
    case CMD_GATE: rc = run_gate(&c); break;
    }
    fflush(stdout);
    config_free(&c);
    return rc;
}
