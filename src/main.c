/* migration-sentry: the gate of CONTRACT.md, phase by phase. This file alone
 * turns what the modules report into exit codes. */
#include "config.h"
#include "db.h"
#include "heads.h"
#include "history.h"
#include "lock.h"
#include "log.h"
#include "migrate.h"
#include "out.h"
#include "recover.h"
#include "schema_check.h"
#include "schema_dump.h"
#include "schema_file.h"
#include "signals.h"
#include "sqlfile.h"
#include "status.h"
#include "supervise.h"
#include "verify.h"
#include "version.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum exit_code {
    EX_OK = 0, EX_NOT_MIGRATED = 1, EX_CONFIG = 64, EX_VERIFY = 65, EX_NOSTATUS = 66,
    EX_UNREACHABLE = 69, EX_MIGRATE = 70, EX_STATUS = 73, EX_IOERR = 74, EX_LOCK = 75, EX_AUTH = 77,
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
    struct history hist;             /* in use when the heads are known and SENTRY_HISTORY is on */
    bool use_history;
    bool has_version_table;
    struct strlist current;          /* version table rows, sorted */
    struct strlist ahead;            /* rows a newer release applied */
    struct strlist implied;          /* script revisions the ahead rows imply applied */
    struct migrate_result mig;
    const char *skipped;             /* why the command did not run */
    bool recovered;
    bool *present;                   /* per required column, from the last read */
    char probe_options[48];          /* "-c lock_timeout=5s" for the gate's own session */
    char probe_shown[24];            /* how PostgreSQL shows that setting: "5s", "1min" */
    bool lock_timeout_carried;       /* the connection path passes startup options on */
    bool url_options;                /* the URL sets `options`: libpq prefers them to PGOPTIONS */
    struct schema_file schema;       /* the schema file, read at config (path NULL: none) */
    struct strlist schema_diffs;     /* what verify found different from it */
    long schema_checked;             /* objects of the file held against the database */
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
    st->migration.attempts = g->mig.attempts;
    st->migration.tail = &g->mig.tail;
    st->schema.file = g->cfg->schema_file;
    st->schema.checked = g->schema_checked;
    st->schema.differences = &g->schema_diffs;
    st->database = g->cfg->db.display;
    st->server_version = *g->db.server_version ? g->db.server_version : NULL;
    st->started_wall = g->start_wall;
    st->finished_wall = wall_ms();
    st->duration_ms = now_ms() - g->start_mono;
}

/* --- reading the database ---------------------------------------------------- */

/* Where the reads' answers are in a round trip (-1: not asked). */
struct reads {
    int version, columns, history;
};

/* The gate's reads, for one round trip: the version table's rows, the
 * required columns, whether the history has the script heads. Inside the
 * lock's transaction each runs in a savepoint rolled back right after, so
 * that no table lock of the gate's is held while the migration runs (and a
 * missing table fails only its own statement). Returns how many. */
static size_t read_stmts(struct gate *g, struct db_stmt *s, bool in_lock, struct reads *at)
{
    static const struct db_stmt save = DB_STMT("SAVEPOINT sentry_reads", 0, NULL),
                                back = DB_STMT("ROLLBACK TO SAVEPOINT sentry_reads", 0, NULL);
    size_t n = 0;
    *at = (struct reads){-1, -1, -1};
    if (in_lock)
        s[n++] = save;
    at->version = (int)n;
    s[n++] = version_stmt(&g->vt);
    if (in_lock)
        s[n++] = back;
    if (g->cfg->columns.n) {
        at->columns = (int)n;
        s[n++] = verify_stmt(&g->vq);
        if (in_lock)
            s[n++] = back;
    }
    if (g->use_history && in_lock) {
        at->history = (int)n;
        s[n++] = history_heads_stmt(&g->hist);
        s[n++] = back;
    }
    return n;
}

/* What the reads said: 0, or the phase's failure (reading the revisions is
 * the gate's migrate phase; check has none, and reads them to verify). */
static int take_reads(struct gate *g, struct db_stmt *s, size_t n, const struct reads *at)
{
    const char *phase = g->cfg->cmd == CMD_CHECK ? "verify" : "migrate";
    for (size_t i = 0; i < n; i++)
        if ((int)i != at->version && (int)i != at->columns && (int)i != at->history && !db_ok(s[i].res)) {
            err_set(&g->e, "reading the database failed: %s", db_message(s[i].res));
            return fail(g, phase, EX_UNREACHABLE);
        }
    strlist_free(&g->current);
    switch (version_rows(&g->vt, s[at->version].res, &g->current, &g->e)) {
    case VERSION_OK: g->has_version_table = true; break;
    case VERSION_NO_TABLE: g->has_version_table = false; break;
    case VERSION_DENIED: return fail(g, phase, EX_AUTH);
    default: return fail(g, phase, EX_UNREACHABLE);
    }
    if (at->history >= 0)
        history_take_heads(&g->hist, s[at->history].res, g->heads.heads.n);
    free(g->present);
    g->present = NULL;
    if (at->columns < 0)
        return 0;
    g->present = xcalloc(g->cfg->columns.n, sizeof *g->present);
    int rc = verify_present(&g->cfg->columns, s[at->columns].res, g->present, &g->e);
    if (rc) /* the server refused the check: none is known present */
        return fail(g, "verify", rc == -2 ? EX_AUTH : EX_VERIFY);
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
    struct reads at;
    size_t n = read_stmts(g, s, g->lock.held, &at);
    enum dbq_rc q = db_run(&g->db, s, n, db_deadline(&g->db), 1, &g->e);
    int rc = q == DBQ_OK ? take_reads(g, s, n, &at) : lost(g, phase, q);
    db_stmts_clear(s, n);
    return rc;
}

/* --- the phases ------------------------------------------------------------ */

static int phase_connect(struct gate *g)
{
    const struct config *c = g->cfg;
    log_phase("connect");
    const char *extra = *g->probe_options ? g->probe_options : NULL;
    switch (db_connect(c->db.conninfo, extra, c->db_wait, &g->db, &g->e)) {
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

/* Whether the gate's own session got the lock_timeout it asked for: then
 * the connection path carries startup options, and the migration's will. */
static size_t probe_stmt(struct gate *g, struct db_stmt *s)
{
    if (!*g->probe_options || g->db.extra_refused)
        return 0;
    *s = DB_STMT("SELECT pg_catalog.current_setting('lock_timeout')", 0, NULL);
    return 1;
}

/* The lock, the probe and the reads in one round trip: when the lock is
 * free (the usual case) that is all the gate asks the server before it
 * decides. LOCK_OK, LOCK_BUSY, or *rc set to the phase's failure. */
static enum lock_rc first_round_trip(struct gate *g, int *rc)
{
    struct db_stmt s[MAX_STMTS];
    size_t k = lock_try_stmts(&g->lock, s);
    size_t probe = k, p = probe_stmt(g, s + k);
    k += p;
    struct reads at;
    size_t n = k + read_stmts(g, s + k, true, &at);
    enum dbq_rc q = db_run(&g->db, s, n, db_deadline(&g->db), 1, &g->e);
    enum lock_rc lr = q == DBQ_OK ? lock_took(&g->lock, s, &g->e) : LOCK_UNREACHABLE;
    if (q != DBQ_OK)
        *rc = lost(g, "lock", q);
    else if (lr == LOCK_OK)
        *rc = take_reads(g, s + k, n - k, &at);
    else if (lr != LOCK_BUSY)
        *rc = lock_failed(g, lr);
    if (q == DBQ_OK && p)
        g->lock_timeout_carried = db_ok(s[probe].res) && strcmp(PQgetvalue(s[probe].res, 0, 0), g->probe_shown) == 0;
    db_stmts_clear(s, n);
    return lr;
}

static int phase_lock(struct gate *g)
{
    log_phase("lock");
    int64_t start = now_ms();
    int rc = 0;
    enum lock_rc lr = first_round_trip(g, &rc);
    if (rc)
        return rc;
    bool waited = lr == LOCK_BUSY;
    if (waited && (lr = lock_wait(&g->lock, &g->db, start, g->cfg->lock_wait, &g->e)) != LOCK_OK)
        return lock_failed(g, lr);
    log_note("lock %s acquired", g->lock.keytext);
    return waited ? read_database(g, "lock") : 0; /* the first round trip's reads came too early */
}

static void load_heads(struct gate *g)
{
    const struct scripts_at *at = &g->cfg->scripts;
    if (at->kind == PROJECT_NONE && !at->configured)
        return;
    heads_load(at, &g->heads);
    if (!g->heads.known) {
        log_note("script heads unknown (%s): the migration command decides", g->heads.why);
        return;
    }
    g->use_history = g->cfg->history;
    if (g->use_history)
        history_init(&g->hist, g->cfg->version_table_schema, &g->heads);
}

/* After verify passed with known heads: the scripts' revisions recorded, so
 * that an older release can tell this database is ahead of it. A failure
 * is a warning: the gate itself is done. */
static void record_history(struct gate *g)
{
    struct err e = {{0}};
    if (!g->use_history || !g->lock.held || g->hist.recorded)
        return;
    if (history_record(&g->hist, &g->db, &e) != DBQ_OK)
        log_warn("the revision history was not recorded: %s", e.msg);
    g->lock.wrote |= g->hist.recorded;
}

/* The verdict with the history's word on the rows no script defines: the
 * ones it records as descendants of the scripts are ahead (g->ahead, and the
 * script revisions they imply applied, g->implied); v->unknown keeps the
 * others, and the heads the implied ones reach are no longer pending.
 * 0, or the phase's failure when the history could not be read. */
static int judge(struct gate *g, const char *phase, struct verdict *v)
{
    strlist_free(&g->ahead);
    strlist_free(&g->implied);
    heads_judge(&g->heads, &g->current, v);
    if (!v->known || !v->unknown.n || !g->use_history)
        return 0;
    struct strlist behind = {0};
    enum dbq_rc q = history_judge(&g->hist, &g->db, &g->heads, &v->unknown, &g->ahead, &g->implied, &behind, &g->e);
    if (q != DBQ_OK) {
        strlist_free(&behind);
        return lost(g, phase, q);
    }
    struct strlist applied = {0}, ignored = {0};
    for (size_t i = 0; i < g->current.n; i++)
        strlist_push(&applied, g->current.v[i]);
    for (size_t i = 0; i < g->implied.n; i++)
        strlist_push(&applied, g->implied.v[i]);
    strlist_free(&v->pending);
    strlist_free(&v->unknown);
    heads_compare(&g->heads, &applied, &v->pending, &ignored);
    v->unknown = behind;
    v->up_to_date = !v->pending.n && !v->unknown.n && !v->overlapping.n;
    strlist_free(&applied);
    strlist_free(&ignored);
    return 0;
}

static int ahead_refused(struct gate *g, const char *phase, int code)
{
    char *a = strlist_join(&g->ahead, ",");
    err_set(&g->e, "database is ahead of this release: revision %s was applied by a newer release "
                   "(recorded in " HISTORY_TABLE "); SENTRY_AHEAD=fail refuses it", a);
    free(a);
    return fail(g, phase, code);
}

/* Revisions no script defines and the history does not know: the chain is
 * broken; SENTRY_RECOVER=stamp rewrites the version table to exactly the
 * rows `alembic stamp --purge heads` writes. */
static int broken_chain(struct gate *g, const struct strlist *unknown, bool *at)
{
    char *u = strlist_join(unknown, ","), *h = strlist_join(&g->heads.stamp, ",");
    int rc;
    if (g->cfg->recover_stamp) {
        int sr = recover_stamp(&g->db, &g->vt, &g->heads.stamp, &g->e);
        rc = sr ? fail(g, "migrate", sr == -2 ? EX_AUTH : !g->db.conn ? EX_UNREACHABLE : EX_MIGRATE) : 0;
        if (!rc) {
            log_banner("RECOVERED: %s rewritten from %s to heads %s", g->vt.name, u, h);
            g->recovered = true;
            g->lock.wrote = true;
            rc = read_database(g, "migrate");
            *at = true;
        }
    } else {
        char *where = locate_shown(&g->cfg->scripts);
        err_set(&g->e, "broken chain: database is at revision %s, which no script in %s defines "
                       "(script heads: %s)%s; set SENTRY_RECOVER=stamp to stamp the heads",
                u, where, h, g->use_history ? ", nor the revision history as a newer release's" : "");
        free(where);
        rc = fail(g, "migrate", EX_MIGRATE);
    }
    free(u);
    free(h);
    return rc;
}

/* Sets *at when nothing is to be done: the database up to date as Alembic
 * judges it, or ahead (a newer release migrated it: verify decides).
 * Overlapping rows are not up to date: the command runs and reports
 * Alembic's own error. 0, or the exit code. */
static int at_heads(struct gate *g, bool *at)
{
    struct verdict v;
    int rc = judge(g, "migrate", &v);
    *at = !rc && v.known && v.up_to_date;
    if (rc) {
    } else if (!v.known) {
        log_note("%s: the migration command decides", v.why);
    } else if (v.unknown.n) {
        rc = broken_chain(g, &v.unknown, at);
    } else if (g->ahead.n && g->cfg->ahead_fail) {
        rc = ahead_refused(g, "migrate", EX_MIGRATE);
    } else if (g->ahead.n) {
        char *a = strlist_join(&g->ahead, ",");
        log_note("database is ahead of this release: %s applied by a newer release (recorded in "
                 HISTORY_TABLE "); not migrating, verify decides", a);
        free(a);
        *at = true;
    } else if (v.overlapping.n) {
        char *o = strlist_join(&v.overlapping, ",");
        log_note("%s rows %s are ancestors of other rows, which Alembic refuses", g->vt.name, o);
        free(o);
    }
    verdict_free(&v);
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

/* Whether the migration's sessions get lock_timeout, said truthfully. */
static long migration_lock_timeout(const struct gate *g, const char *appname)
{
    long t = g->cfg->migrate_lock_timeout;
    if (t == 0)
        return 0;
    if (g->url_options) {
        log_warn("lock_timeout NOT applied to the migration: the database URL sets `options`, which "
                 "its sessions use in place of PGOPTIONS; add -c lock_timeout=%lds to them", t);
        return 0;
    }
    if (g->lock_timeout_carried) {
        log_note("the migration's sessions get lock_timeout %lds (SENTRY_MIGRATE_LOCK_TIMEOUT) "
                 "and application_name %s", t, appname);
        return t;
    }
    log_warn("lock_timeout NOT applied to the migration: the connection path %s the "
             "`options` startup parameter (a connection pooler?), so the migration runs without it",
             g->db.extra_refused ? "refuses" : "drops");
    return 0;
}

static int run_migration(struct gate *g)
{
    const struct config *c = g->cfg;
    struct err he = {{0}};
    if (g->use_history && history_record_apart(&g->hist, &g->db, &he) != DBQ_OK)
        log_warn("the revision history was not recorded before the migration: %s", he.msg);
    char *cmd = strlist_join(&c->migrate_argv, " ");
    log_banner("%s", cmd);
    free(cmd);
    char *appname = migrate_appname(c->db.conninfo);
    long lock_timeout = migration_lock_timeout(g, appname);
    struct lock_keeper k;
    keeper_init(&k, &g->lock, &g->db, appname, lock_timeout);
    struct migrate_watch w = {keeper_fd_cb, keeper_step_cb, &k};
    char **env = migrate_env(lock_timeout, db_wants_primary(c->db.conninfo));
    struct migrate_plan plan = {strlist_argv((struct strlist *)&c->migrate_argv), env,
                                c->migrate_timeout, c->migrate_retries, &w};
    enum migrate_rc rc = migrate_run(&plan, &g->mig, &g->e);
    migrate_env_free(env);
    if (rc == MIG_LOST)
        g->e = k.e;
    keeper_free(&k);
    free(appname);
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
    if (at && !g->ahead.n) {
        char *cur = strlist_join(&g->current, ",");
        char *cmd = strlist_join(&g->cfg->migrate_argv, " ");
        log_note("database already at heads (%s); skipping %s", cur, cmd);
        free(cur);
        free(cmd);
        g->skipped = g->recovered ? "stamped to heads (SENTRY_RECOVER=stamp)" : "database already at heads";
        return 0;
    }
    if (at) {
        g->skipped = "database ahead of this release";
        return 0;
    }
    return run_migration(g);
}

static int check_revisions(struct gate *g)
{
    if (!g->heads.known)
        return 0;
    struct verdict v;
    int rc = judge(g, "verify", &v);
    if (!rc && v.known && !v.up_to_date) {
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
    } else if (!rc && g->ahead.n && g->cfg->ahead_fail) {
        rc = ahead_refused(g, "verify", EX_VERIFY);
    }
    verdict_free(&v);
    return rc;
}

/* --- the schema file (schema_file.h, schema_check.h) ---------------------- */

/* Config, once the heads are known: the file read and held to the settings
 * (64 when it cannot be). */
static int load_schema_file(struct gate *g)
{
    const struct config *c = g->cfg;
    struct strlist names = {0};
    if (!c->schema_file)
        return 0;
    int rc = schema_names_parse(&c->schemas, config_name(c, S_SCHEMAS), &names, &g->e) ||
             schema_file_load(c->schema_file, &g->schema, &g->e) ||
             schema_file_match(&g->schema, &names, config_name(c, S_SCHEMAS),
                               g->heads.known ? &g->heads.heads : NULL, &g->e);
    strlist_free(&names);
    if (rc) {
        log_banner("FAILED (phase: config)");
        log_error("%s", g->e.msg);
        return EX_CONFIG;
    }
    if (!g->heads.known) {
        char *r = strlist_join(&g->schema.revisions, ",");
        log_note("script heads unknown: schema file %s (taken at %s) not matched to them", c->schema_file, r);
        free(r);
    }
    return 0;
}

static int schema_failed(struct gate *g, enum schema_rc rc)
{
    return fail(g, "verify", rc == SCHEMA_PRIVILEGE ? EX_AUTH : rc == SCHEMA_CONNECTION ? EX_UNREACHABLE
                                                                                          : EX_VERIFY);
}

/* Verify: every object of the file as it lists it; each difference logged. */
static int verify_schema_file(struct gate *g)
{
    const struct schema_file *f = &g->schema;
    if (!f->path)
        return 0;
    int major = PQserverVersion(g->db.conn) / 10000;
    if (f->postgresql != major)
        log_note("schema file %s was taken on PostgreSQL %ld, this server runs %d: what PostgreSQL "
                 "words differently between versions shows as differences", f->path, f->postgresql, major);
    struct jt live;
    enum schema_rc rc = schema_describe(&g->db, &f->schemas, g->cfg->version_table, f->has_enums,
                                        &live, &g->e);
    if (rc != SCHEMA_OK)
        return schema_failed(g, rc);
    schema_compare(f, &live, &g->schema_diffs, &g->schema_checked);
    jt_free(&live);
    const struct strlist *d = &g->schema_diffs;
    for (size_t i = 0; i < d->n; i++)
        log_note("schema difference: %s", d->v[i]);
    if (d->n) {
        err_set(&g->e, "the database differs from schema file %s in %zu place%s (first: %s)", f->path,
                d->n, d->n == 1 ? "" : "s", d->v[0]);
        return fail(g, "verify", EX_VERIFY);
    }
    log_note("schema file %s: %ld objects as listed", f->path, g->schema_checked);
    return 0;
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
        rc = verify_schema_file(g);
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

/* The bare supervisor that start_command re-executes into (the gate's log
 * format comes along as SUPERVISE_JSON_FLAG). */
static int run_supervise_only(int argc, char **argv)
{
    char *end;
    long grace = strtol(argv[1] + strlen(SUPERVISE_FLAG), &end, 10);
    bool pipe_ignored = strcmp(end, SUPERVISE_PIPE_IGNORED) == 0;
    int cmd = 2;
    log_phase("start");
    if (argc > cmd && strcmp(argv[cmd], SUPERVISE_JSON_FLAG) == 0) {
        log_set_json(true);
        cmd++;
    }
    if ((*end && !pipe_ignored) || grace < 0 || argc < cmd + 2 || strcmp(argv[cmd], "--") != 0) {
        log_error("usage: migration-sentry " SUPERVISE_FLAG "SECONDS [" SUPERVISE_JSON_FLAG
                  "] -- COMMAND [ARGS...]");
        return EX_CONFIG;
    }
    signals_init(pipe_ignored);
    return command_exit(argv + cmd + 1, grace, true);
}

/* A number of seconds as PostgreSQL shows a time setting: in the largest
 * unit that divides it (5s, 90s, 1min, 2h, 1d). */
static void guc_seconds(long s, char *buf, size_t n)
{
    static const struct { long secs; const char *unit; } units[] = {
        {86400, "d"}, {3600, "h"}, {60, "min"}, {1, "s"},
    };
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (s % units[i].secs == 0) {
            snprintf(buf, n, "%ld%s", s / units[i].secs, units[i].unit);
            return;
        }
}

static void gate_init(struct gate *g, const struct config *c)
{
    memset(g, 0, sizeof *g);
    g->cfg = c;
    g->start_mono = now_ms();
    g->start_wall = wall_ms();
    g->mig.exit_code = -1;
    lock_init(&g->lock, c->lock_key);
    char *own = url_value(c->db.conninfo, "options");
    g->url_options = own != NULL;
    free(own);
    if (c->cmd == CMD_GATE && !c->no_migrate && c->migrate_lock_timeout > 0 && !g->url_options) {
        snprintf(g->probe_options, sizeof g->probe_options, "-c lock_timeout=%lds", c->migrate_lock_timeout);
        guc_seconds(c->migrate_lock_timeout, g->probe_shown, sizeof g->probe_shown);
    }
    version_table_init(&g->vt, c->version_table, c->version_table_schema);
    verify_query_init(&g->vq, &c->columns);
}

static void gate_free(struct gate *g)
{
    release(g);
    if (g->use_history)
        history_free(&g->hist);
    heads_free(&g->heads);
    strlist_free(&g->current);
    strlist_free(&g->ahead);
    strlist_free(&g->implied);
    migrate_result_free(&g->mig);
    version_table_free(&g->vt);
    verify_query_free(&g->vq);
    free(g->present);
    schema_file_free(&g->schema);
    strlist_free(&g->schema_diffs);
}

/* The config phase says what it dropped from the URL, for every command
 * that connects. */
static void note_driver(const struct config *c)
{
    if (c->db.driver)
        log_note("SQLAlchemy driver '%s' dropped from the URL: libpq needs none", c->db.driver);
}

static void log_db(const struct config *c)
{
    log_plain("DB (redacted): %s", c->db.display);
    note_driver(c);
}

static int run_gate(struct config *c)
{
    struct gate g;
    gate_init(&g, c);
    log_phase("config");
    log_banner("starting");
    log_plain("FLASK_APP=%s", getenv("FLASK_APP") ? getenv("FLASK_APP") : "");
    log_db(c);
    if (signals_gate_begin() != 0)
        log_note("cannot watch for signals during the gate");
    load_heads(&g);
    int rc = load_schema_file(&g);
    if (rc) {
        gate_free(&g);
        return rc;
    }
    rc = phase_connect(&g);
    if (!rc)
        rc = phase_lock(&g);
    if (!rc)
        rc = phase_migrate(&g);
    if (!rc)
        rc = phase_verify(&g);
    if (!rc)
        record_history(&g);
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
    note_driver(c);
    gate_init(&g, c);
    if (signals_gate_begin() != 0)
        log_note("cannot watch for signals");
    load_heads(&g);
    int rc = load_schema_file(&g);
    if (rc) {
        gate_free(&g);
        return rc;
    }
    rc = phase_connect(&g);
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
    out_text(json);
    out_text("\n");
    free(json);
    gate_free(&g);
    return rc;
}

static int run_status(struct config *c)
{
    char *text = NULL;
    struct err e = {{0}};
    enum status_read_rc rc = status_read(c->status_file, &text, &e);
    if (*e.msg)
        log_error("%s", e.msg);
    if (text)
        out_text(text);
    free(text);
    return rc == STATUS_MISSING ? EX_NOSTATUS : rc == STATUS_MIGRATED ? EX_OK : EX_NOT_MIGRATED;
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
    for (size_t i = 0; h.known && i < h.heads.n; i++) {
        out_text(h.heads.v[i]);
        out_text("\n");
    }
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
    log_db(c);
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
    return sig                   ? EX_SIGNAL_BASE + sig
           : rc == SQLFILE_FAILED ? EX_MIGRATE
           : rc == SQLFILE_DENIED ? EX_AUTH
                                  : EX_UNREACHABLE;
}

/* The JSON log's phase before the gate's phases begin: the command's name. */
static const char *first_phase(enum command cmd)
{
    static const char *const names[] = {
        [CMD_GATE] = "config", [CMD_CHECK] = "config", [CMD_STATUS] = "status",
        [CMD_HEADS] = "heads", [CMD_CONFIG] = "config", [CMD_SCHEMA] = "schema",
        [CMD_SQL] = "sql", [CMD_HELP] = "config", [CMD_VERSION] = "config",
    };
    return names[cmd];
}

/* What the command printed is its result: when it could not all be
 * written, the command failed (74), unless it had failed already. */
static int finish_stdout(int rc)
{
    int werr = out_finish();
    if (!werr)
        return rc;
    log_error("cannot write to standard output: %s", strerror(werr));
    return rc == EX_OK || rc == EX_NOT_MIGRATED ? EX_IOERR : rc;
}

/* The `config` listing, through the edge like every other output. */
static void print_config(const struct config *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem) {
        log_error("cannot list the configuration: %s", strerror(errno));
        return;
    }
    config_print(c, mem);
    if (fclose(mem) == 0)
        out_mem(text, len);
    free(text);
}

/* The schemas asked for that the database does not have, joined; NULL: none. */
static char *absent_schemas(const struct strlist *names, const struct jt *doc)
{
    struct strlist absent = {0};
    for (size_t i = 0; i < names->n; i++)
        if (!jt_get(jt_get(doc, "schemas"), names->v[i]))
            strlist_push_owned(&absent, schema_ident(names->v[i]));
    char *out = absent.n ? strlist_join(&absent, ", ") : NULL;
    strlist_free(&absent);
    return out;
}

/* Describes the live schema into *doc: 0, or the exit code with e set. */
static int describe(struct config *c, struct db *d, const struct strlist *names, struct strlist *current,
                    struct jt *doc, struct err *e)
{
    struct version_table vt;
    version_table_init(&vt, c->version_table, c->version_table_schema);
    PGresult *r = NULL;
    enum dbq_rc q = db_exec(d, vt.select_sql, 0, NULL, &r, e);
    enum version_rc vr = q == DBQ_OK ? version_rows(&vt, r, current, e) : VERSION_FAILED;
    PQclear(r);
    version_table_free(&vt);
    if (q != DBQ_OK)
        return q == DBQ_INTERRUPTED ? EX_SIGNAL_BASE + signals_gate_check() : EX_UNREACHABLE;
    if (vr == VERSION_DENIED || vr == VERSION_FAILED)
        return vr == VERSION_DENIED ? EX_AUTH : EX_VERIFY;
    enum schema_rc rc = schema_describe(d, names, c->version_table, true, doc, e);
    if (rc != SCHEMA_OK)
        return rc == SCHEMA_PRIVILEGE ? EX_AUTH : rc == SCHEMA_CONNECTION ? EX_UNREACHABLE : EX_VERIFY;
    char *absent = absent_schemas(names, doc);
    if (!absent)
        return 0;
    err_set(e, "no schema %s in database %s (%s)", absent, PQdb(d->conn), config_name(c, S_SCHEMAS));
    free(absent);
    jt_free(doc);
    return EX_VERIFY;
}

/* schema: connect as the gate does (no lock, no migration) and print the
 * live schema of SENTRY_SCHEMAS, as the schema file holds it. */
static int run_schema(struct config *c)
{
    struct strlist names = {0}, current = {0};
    struct err e = {{0}};
    struct db d;
    struct jt doc;
    if (schema_names_parse(&c->schemas, config_name(c, S_SCHEMAS), &names, &e) != 0) {
        log_error("%s", e.msg);
        return EX_CONFIG;
    }
    char *list = strlist_join(&names, ", ");
    log_banner("schema of %s", list);
    free(list);
    log_db(c);
    if (signals_gate_begin() != 0)
        log_note("cannot watch for signals");
    enum db_rc dr = db_connect(c->db.conninfo, NULL, c->db_wait, &d, &e);
    int rc = dr == DB_OK ? 0 : dr == DB_AUTH ? EX_AUTH
           : dr == DB_INTERRUPTED ? EX_SIGNAL_BASE + signals_gate_check() : EX_UNREACHABLE;
    if (!rc) {
        log_note("DB OK: %s", PQdb(d.conn));
        rc = describe(c, &d, &names, &current, &doc, &e);
        db_close(&d);
    }
    strlist_free(&names);
    if (rc) {
        strlist_free(&current);
        log_banner("FAILED (phase: %s)", dr == DB_OK ? "schema" : "connect");
        log_error("%s", e.msg);
        return rc;
    }
    char *text = schema_document(&doc, &current);
    jt_free(&doc);
    strlist_free(&current);
    out_text(text); /* the description itself: finish_stdout says whether it got out */
    free(text);
    return EX_OK;
}

int main(int argc, char **argv)
{
    /* OpenSSL's exit-time cleanup frees what exit frees anyway: a millisecond
     * of every gate that ends without a command. */
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
    out_init();
    if (argc > 1 && strncmp(argv[1], SUPERVISE_FLAG, strlen(SUPERVISE_FLAG)) == 0)
        return run_supervise_only(argc, argv);
    signals_init(-1);
    struct config c;
    struct err e = {{0}};
    int rc = config_load(&c, argc, argv, &e);
    log_set_json(c.log_json);
    log_phase(first_phase(c.cmd));
    if (!rc && c.cmd == CMD_GATE && !c.no_migrate &&
        migrate_find_program(c.migrate_argv.v[0], c.src[S_MIGRATE_CMD] == SRC_FLAG ? "--migrate-cmd" : "SENTRY_MIGRATE_CMD", &e))
        rc = -1;
    if (c.cmd == CMD_CONFIG)
        print_config(&c);
    if (rc) {
        if (c.cmd == CMD_GATE)
            log_banner("FAILED (phase: config)");
        log_error("%s", e.msg);
        config_free(&c);
        return finish_stdout(EX_CONFIG);
    }
    switch (c.cmd) {
    case CMD_HELP: out_text(config_usage()); break;
    case CMD_VERSION: out_text("migration-sentry " SENTRY_VERSION "\n"); break;
    case CMD_CONFIG: break;
    case CMD_STATUS: rc = run_status(&c); break;
    case CMD_HEADS: rc = run_heads(&c); break;
    case CMD_CHECK: rc = run_check(&c); break;
    case CMD_SCHEMA: rc = run_schema(&c); break;
    case CMD_SQL: rc = run_sql(&c); break;
    case CMD_GATE: rc = run_gate(&c); break;
    }
    config_free(&c);
    return finish_stdout(rc);
}
