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
#include "version.h"

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
    struct lock lock;
    struct version_table vt;
    struct verify_query vq;
    struct heads heads;
    bool has_version_table;
    struct strlist current;          /* version table rows, sorted */
    struct strlist ahead;            /* rows a newer release applied */
    struct migrate_result mig;
    const char *skipped;             /* why the command did not run */
    bool recovered;
    bool *present;                   /* per required column, from the last read */
    const char *phase;               /* the phase that failed, or "done" */
    struct err e;
};

/* --- ending the gate ------------------------------------------------------ */

static void release(struct gate *g)
{
    lock_release(&g->lock, &g->db);
    db_close(&g->db);
}

static int fail(struct gate *g, const char *phase, int code)
{
    release(g); /* first: a signal that comes while it ends the lock counts too */
    int sig = signals_gate_check();
    if (sig) {
        err_set(&g->e, "interrupted by %s", signals_name(sig));
        code = EX_SIGNAL_BASE + sig;
    }
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

/* --- reading the database ---------------------------------------------------- */

/* The gate's reads, for one round trip: the version table's rows and the
 * required columns. Inside the lock's transaction each runs in a savepoint
 * that is rolled back right after, so that no table lock of the gate's is
 * held while the migration runs. Returns how many statements; *version and
 * *columns are their indexes (columns -1 when there are none to check). */
static size_t read_stmts(struct gate *g, struct db_stmt *s, bool in_lock, int *version, int *columns)
{
    size_t n = 0;
    static const struct db_stmt save = {"SAVEPOINT sentry_reads", 0, NULL, NULL},
                                back = {"ROLLBACK TO SAVEPOINT sentry_reads", 0, NULL, NULL};
    if (in_lock)
        s[n++] = save;
    *version = (int)n;
    s[n++] = version_stmt(&g->vt);
    if (in_lock)
        s[n++] = back;
    *columns = -1;
    if (g->cfg->columns.n) {
        *columns = (int)n;
        s[n++] = verify_stmt(&g->vq);
        if (in_lock)
            s[n++] = back;
    }
    return n;
}

/* What the reads said: 0, or the phase's failure. */
static int take_reads(struct gate *g, struct db_stmt *s, size_t n, int version, int columns)
{
    for (size_t i = 0; i < n; i++)
        if ((int)i != version && (int)i != columns && !db_ok(s[i].res)) {
            err_set(&g->e, "reading the database failed: %s", db_message(s[i].res));
            return fail(g, "migrate", EX_UNREACHABLE);
        }
    strlist_free(&g->current);
    switch (version_rows(&g->vt, s[version].res, &g->current, &g->e)) {
    case VERSION_OK: g->has_version_table = true; break;
    case VERSION_NO_TABLE: g->has_version_table = false; break;
    case VERSION_DENIED: return fail(g, "migrate", EX_AUTH);
    default: return fail(g, "migrate", EX_UNREACHABLE);
    }
    free(g->present);
    g->present = NULL;
    if (columns < 0)
        return 0;
    g->present = xcalloc(g->cfg->columns.n, sizeof *g->present);
    int rc = verify_present(&g->cfg->columns, s[columns].res, g->present, &g->e);
    if (rc) {
        free(g->present);
        g->present = NULL;
        return fail(g, "verify", rc == -2 ? EX_AUTH : EX_UNREACHABLE);
    }
    return 0;
}

/* A round trip that failed as a whole: the server is gone or we stop. */
static int lost(struct gate *g, const char *phase, enum dbq_rc q)
{
    return fail(g, phase, q == DBQ_INTERRUPTED ? EX_SIGNAL_BASE : EX_UNREACHABLE);
}

#define MAX_STMTS 16

static int read_database(struct gate *g, const char *phase)
{
    struct db_stmt s[MAX_STMTS];
    int version, columns;
    size_t n = read_stmts(g, s, g->lock.held, &version, &columns);
    enum dbq_rc q = db_run(&g->db, s, n, db_deadline(&g->db), 1, &g->e);
    int rc = q == DBQ_OK ? take_reads(g, s, n, version, columns) : lost(g, phase, q);
    db_stmts_clear(s, n);
    return rc;
}

/* --- the phases ------------------------------------------------------------ */

static int phase_connect(struct gate *g)
{
    const struct config *c = g->cfg;
    log_phase("connect");
    switch (db_connect(c->db.conninfo, NULL, c->db_wait, &g->db, &g->e)) {
    case DB_OK:
        break;
    case DB_AUTH:
        return fail(g, "connect", EX_AUTH);
    case DB_INTERRUPTED:
        return fail(g, "connect", EX_SIGNAL_BASE);
    default:
        return fail(g, "connect", EX_UNREACHABLE);
    }
    log_note("DB OK: %s", PQdb(g->db.conn));
    log_note("Server: PostgreSQL %s", g->db.server_version);
    return 0;
}

static int lock_failed(struct gate *g, enum lock_rc rc)
{
    return fail(g, "lock", rc == LOCK_TIMEOUT || rc == LOCK_INTERRUPTED ? EX_LOCK
                           : rc == LOCK_AUTH ? EX_AUTH : EX_UNREACHABLE);
}

/* The lock and the reads in one round trip: when the lock is free (the
 * usual case) that is all the gate asks the server before deciding. */
static int phase_lock(struct gate *g)
{
    log_phase("lock");
    struct db_stmt s[MAX_STMTS];
    size_t k = lock_try_stmts(&g->lock, s);
    int version, columns;
    size_t n = k + read_stmts(g, s + k, true, &version, &columns);
    int64_t start = now_ms();
    enum dbq_rc q = db_run(&g->db, s, n, db_deadline(&g->db), 1, &g->e);
    enum lock_rc lr = q == DBQ_OK ? lock_took(&g->lock, s, &g->e) : LOCK_UNREACHABLE;
    int rc = 0;
    if (q != DBQ_OK)
        rc = lost(g, "lock", q);
    else if (lr == LOCK_OK)
        rc = take_reads(g, s + k, n - k, version, columns);
    else if (lr != LOCK_BUSY)
        rc = lock_failed(g, lr);
    db_stmts_clear(s, n);
    if (rc || lr == LOCK_OK) {
        if (!rc)
            log_note("lock %s acquired", g->lock.keytext);
        return rc;
    }
    if ((lr = lock_wait(&g->lock, &g->db, start, g->cfg->lock_wait, &g->e)) != LOCK_OK)
        return lock_failed(g, lr);
    log_note("lock %s acquired", g->lock.keytext);
    return read_database(g, "lock");
}

static void load_heads(struct gate *g)
{
    if (!g->cfg->migrations_dir)
        return;
    heads_load(g->cfg->migrations_dir, &g->heads);
    if (!g->heads.known)
        log_note("script heads unknown (%s): the migration command decides", g->heads.why);
}

/* Sets *at when the database is already at the heads; a broken chain is
 * recovered (SENTRY_RECOVER=stamp) or fails the phase. 0, or the exit code. */
static int at_heads(struct gate *g, bool *at)
{
    struct strlist pending = {0}, unknown = {0};
    heads_compare(&g->heads, &g->current, &pending, &unknown);
    *at = pending.n == 0 && unknown.n == 0;
    int rc = 0;
    if (unknown.n) {
        char *u = strlist_join(&unknown, ","), *h = strlist_join(&g->heads.heads, ",");
        if (g->cfg->recover_stamp) {
            int sr = recover_stamp(&g->db, &g->vt, &g->heads.heads, &g->e);
            rc = sr ? fail(g, "migrate", sr == -2 ? EX_AUTH : !g->db.conn ? EX_UNREACHABLE : EX_MIGRATE) : 0;
            if (!rc) {
                log_banner("RECOVERED: %s rewritten from %s to heads %s", g->vt.name, u, h);
                g->recovered = true;
                rc = read_database(g, "migrate");
                *at = true;
            }
        } else {
            err_set(&g->e, "broken chain: database is at revision %s, which no script in %s defines "
                           "(script heads: %s); set SENTRY_RECOVER=stamp to stamp the heads",
                    u, g->cfg->migrations_dir, h);
            rc = fail(g, "migrate", EX_MIGRATE);
        }
        free(u);
        free(h);
    }
    strlist_free(&pending);
    strlist_free(&unknown);
    return rc;
}

static int keeper_fd_cb(void *k, short *events, int64_t *deadline)
{
    return keeper_fd(k, events, deadline);
}

static bool keeper_step_cb(void *k, short revents)
{
    return keeper_step(k, revents);
}

static int run_migration(struct gate *g)
{
    const struct config *c = g->cfg;
    char *cmd = strlist_join(&c->migrate_argv, " ");
    log_banner("%s", cmd);
    free(cmd);
    struct lock_keeper k;
    keeper_init(&k, &g->lock, &g->db);
    struct migrate_watch w = {keeper_fd_cb, keeper_step_cb, &k};
    enum migrate_rc rc = migrate_run(strlist_argv((struct strlist *)&c->migrate_argv), NULL,
                                     c->migrate_timeout, &w, &g->mig, &g->e);
    if (rc == MIG_LOST)
        g->e = k.e;
    keeper_free(&k);
    if (rc != MIG_OK)
        return fail(g, "migrate", EX_MIGRATE);
    return read_database(g, "migrate");
}

static int phase_migrate(struct gate *g)
{
    log_phase("migrate");
    int rc;
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
    struct strlist pending = {0}, unknown = {0};
    heads_compare(&g->heads, &g->current, &pending, &unknown);
    int rc = 0;
    if (pending.n || unknown.n) {
        char *p = strlist_join(&pending, ","), *u = strlist_join(&unknown, ",");
        err_set(&g->e, "database not at the script heads:%s%s%s%s", pending.n ? " pending " : "", p,
                unknown.n ? " unknown " : "", u);
        free(p);
        free(u);
        rc = fail(g, "verify", EX_VERIFY);
    }
    strlist_free(&pending);
    strlist_free(&unknown);
    return rc;
}

/* On what the last read found (after the migration, if one ran). */
static int phase_verify(struct gate *g)
{
    const struct columns *cols = &g->cfg->columns;
    log_phase("verify");
    log_banner("verifying required columns");
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

/* A signal that came after the last phase: the gate stops there, and the
 * status file must say so, not "done". */
static int late_signal(struct gate *g, const char *phase)
{
    if (!signals_gate_check())
        return 0;
    return fail(g, phase, EX_SIGNAL_BASE);
}

static int write_status(struct gate *g, int code)
{
    struct status st;
    status_of(g, &st);
    struct err we = {{0}};
    log_phase("status");
    if (status_write(g->cfg->status_file, &st, &we) != 0) {
        if (code == EX_OK)
            log_banner("FAILED (phase: status)");
        log_error("%s", we.msg);
        return code == EX_OK ? EX_STATUS : code;
    }
    if (code == EX_OK && late_signal(g, "status")) { /* during the write: write it again */
        code = EX_SIGNAL_BASE + signals_gate_check();
        status_of(g, &st);
        if (status_write(g->cfg->status_file, &st, &we) != 0)
            log_error("%s", we.msg);
    }
    return code;
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
    bool pipe_ignored = strcmp(end, SUPERVISE_PIPE_IGNORED) == 0;
    if ((*end && !pipe_ignored) || grace < 0 || argc < 4 || strcmp(argv[2], "--") != 0) {
        log_error("usage: migration-sentry " SUPERVISE_FLAG "SECONDS -- COMMAND [ARGS...]");
        return EX_CONFIG;
    }
    signals_init(pipe_ignored);
    return command_exit(argv + 3, grace, true);
}

static void gate_init(struct gate *g, const struct config *c)
{
    memset(g, 0, sizeof *g);
    g->cfg = c;
    g->start_mono = now_ms();
    g->start_wall = wall_ms();
    g->mig.exit_code = -1;
    lock_init(&g->lock, c->lock_key);
    version_table_init(&g->vt, c->version_table, c->version_table_schema);
    verify_query_init(&g->vq, &c->columns);
}

static void gate_free(struct gate *g)
{
    release(g);
    heads_free(&g->heads);
    strlist_free(&g->current);
    strlist_free(&g->ahead);
    migrate_result_free(&g->mig);
    version_table_free(&g->vt);
    verify_query_free(&g->vq);
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
        rc = late_signal(&g, "verify");
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
    if (signals_gate_begin() != 0)
        log_note("cannot watch for signals");
    load_heads(&g);
    int rc = phase_connect(&g);
    if (!rc)
        rc = read_database(&g, "verify");
    if (!rc)
        rc = phase_verify(&g);
    if (!rc)
        rc = late_signal(&g, "verify");
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
    if (!c->migrations_dir) {
        log_error("no migrations folder: %s does not exist (set SENTRY_MIGRATIONS_DIR)",
                  c->raw[S_MIGRATIONS_DIR]);
        return EX_CONFIG;
    }
    struct heads h = {0};
    heads_load(c->migrations_dir, &h);
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
    enum db_rc dr = db_connect(c->db.conninfo, NULL, c->db_wait, &d, &e);
    if (dr != DB_OK) {
        sql_script_free(&script);
        log_banner("FAILED (phase: connect)");
        log_error("%s", e.msg);
        return dr == DB_AUTH ? EX_AUTH : dr == DB_INTERRUPTED ? EX_SIGNAL_BASE + signals_gate_check()
                                                              : EX_UNREACHABLE;
    }
    log_note("DB OK: %s", PQdb(d.conn));
    enum sqlfile_rc rc = sqlfile_apply(&d, &script, &e);
    db_close(&d);
    sql_script_free(&script);
    int sig = signals_gate_check();
    if (rc == SQLFILE_OK && !sig) {
        log_banner("success: %s applied in one transaction", c->sql_file);
        return EX_OK;
    }
    if (sig)
        err_set(&e, "interrupted by %s", signals_name(sig));
    log_banner("FAILED (phase: sql)");
    log_error("%s", e.msg);
    log_note(rc == SQLFILE_OK ? "the transaction had committed before the signal came"
                              : "nothing was applied");
    return sig ? EX_SIGNAL_BASE + sig : rc == SQLFILE_FAILED ? EX_MIGRATE : EX_UNREACHABLE;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strncmp(argv[1], SUPERVISE_FLAG, strlen(SUPERVISE_FLAG)) == 0)
        return run_supervise_only(argc, argv);
    signals_init(-1);
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
