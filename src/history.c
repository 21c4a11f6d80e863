/* history: see history.h. */
#include "history.h"
#include "log.h"
#include "version.h"

#include <stdlib.h>
#include <string.h>

static const char *script_rev_for(const struct heads *s, const char *ident)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->s[i].rev, ident) == 0)
            return s->s[i].rev;
    for (size_t i = 0; i < s->n; i++)
        if (strlist_contains(&s->s[i].labels, ident))
            return s->s[i].rev; /* depends_on may name a branch label */
    return ident;
}

static char *joined_deps(const struct heads *s, const struct script *sc)
{
    struct strlist ids = {0};
    for (size_t k = 0; k < sc->deps.n; k++)
        strlist_push(&ids, script_rev_for(s, sc->deps.v[k]));
    char *j = strlist_join(&ids, ",");
    strlist_free(&ids);
    return j;
}

static void insert_arrays(struct history *h, const struct heads *s)
{
    const char **rev = xcalloc(s->n, sizeof *rev);
    char **down = xcalloc(s->n, sizeof *down), **deps = xcalloc(s->n, sizeof *deps);
    for (size_t i = 0; i < s->n; i++) {
        rev[i] = s->s[i].rev;
        down[i] = strlist_join(&s->s[i].down, ",");
        deps[i] = joined_deps(s, &s->s[i]);
    }
    h->insert_arrays[0] = db_text_array(rev, s->n);
    h->insert_arrays[1] = db_text_array((const char *const *)down, s->n);
    h->insert_arrays[2] = db_text_array((const char *const *)deps, s->n);
    for (size_t i = 0; i < s->n; i++) {
        free(down[i]);
        free(deps[i]);
    }
    free(rev);
    free(down);
    free(deps);
    for (int k = 0; k < 3; k++)
        h->insert_params[k] = h->insert_arrays[k];
    h->insert_params[3] = SENTRY_VERSION;
}

void history_init(struct history *h, const char *schema, const struct heads *s)
{
    memset(h, 0, sizeof *h);
    char *qs = schema ? quote_ident(schema) : NULL;
    h->qualified = xasprintf("%s%s" HISTORY_TABLE, qs ? qs : "", qs ? "." : "");
    free(qs);
    h->heads_sql = xasprintf("SELECT count(*) FROM %s WHERE revision = ANY ($1::text[])", h->qualified);
    h->rows_sql = xasprintf("SELECT revision, array_to_string(down_revisions, ','),"
                            " array_to_string(depends_on, ',') FROM %s", h->qualified);
    h->create_sql = xasprintf("CREATE TABLE IF NOT EXISTS %s (revision text PRIMARY KEY,"
                              " down_revisions text[] NOT NULL, depends_on text[] NOT NULL,"
                              " recorded_at timestamptz NOT NULL DEFAULT now(),"
                              " recorded_by text NOT NULL)", h->qualified);
    h->insert_sql = xasprintf("INSERT INTO %s (revision, down_revisions, depends_on, recorded_by)"
                              " SELECT x.r, coalesce(string_to_array(nullif(x.d, ''), ','), '{}'),"
                              " coalesce(string_to_array(nullif(x.p, ''), ','), '{}'), $4"
                              " FROM unnest($1::text[], $2::text[], $3::text[]) AS x(r, d, p)"
                              " ON CONFLICT (revision) DO NOTHING", h->qualified);
    h->heads_array = db_text_array((const char *const *)s->heads.v, s->heads.n);
    h->heads_params[0] = h->heads_array;
    insert_arrays(h, s);
}

void history_free(struct history *h)
{
    free(h->qualified);
    free(h->heads_sql);
    free(h->rows_sql);
    free(h->create_sql);
    free(h->insert_sql);
    free(h->heads_array);
    PQclear(h->rows);
    for (int k = 0; k < 3; k++)
        free(h->insert_arrays[k]);
    memset(h, 0, sizeof *h);
}

struct db_stmt history_heads_stmt(struct history *h)
{
    return DB_STMT(h->heads_sql, 1, h->heads_params);
}

void history_take_heads(struct history *h, const PGresult *r, size_t nheads)
{
    h->recorded = db_ok(r) && PQntuples(r) == 1 &&
                  strtoull(PQgetvalue(r, 0, 0), NULL, 10) == (unsigned long long)nheads;
}

/* --- writing ----------------------------------------------------------------- */

/* CREATE TABLE IF NOT EXISTS says "already exists, skipping" otherwise. */
#define QUIET_LOCAL "SET LOCAL client_min_messages = warning"

static void refused(const struct history *h, const PGresult *bad)
{
    log_warn("cannot record the revision history in %s (%s): an older release will "
             "not be able to tell this database is ahead of it", h->qualified, db_message(bad));
}

/* In the lock's transaction, in a savepoint: all of it or nothing. */
static enum dbq_rc record_in(struct history *h, struct db *d, struct err *e)
{
    struct db_stmt s[5] = {
        DB_STMT("SAVEPOINT sentry_history", 0, NULL),
        DB_STMT(QUIET_LOCAL, 0, NULL),
        DB_STMT(h->create_sql, 0, NULL),
        DB_STMT(h->insert_sql, 4, h->insert_params),
        DB_STMT("RELEASE SAVEPOINT sentry_history", 0, NULL),
    };
    enum dbq_rc q = db_run(d, s, 5, db_deadline(d), 1, e);
    const PGresult *bad = NULL;
    for (int i = 0; q == DBQ_OK && i < 5 && !bad; i++)
        if (!db_ok(s[i].res))
            bad = s[i].res;
    if (bad)
        refused(h, bad);
    db_stmts_clear(s, 5);
    if (bad && d->conn) {
        struct db_stmt undo = DB_STMT("ROLLBACK TO SAVEPOINT sentry_history", 0, NULL);
        q = db_run(d, &undo, 1, db_deadline(d), 1, e);
        db_stmts_clear(&undo, 1);
    }
    if (q == DBQ_OK && !bad)
        h->recorded = true;
    return q;
}

enum dbq_rc history_record(struct history *h, struct db *d, struct err *e)
{
    return h->recorded ? DBQ_OK : record_in(h, d, e);
}

/* On a connection of its own, committed at once: the migration about to
 * run commits its revisions before the gate's transaction ends, and an
 * older release's probe must find them recorded from that moment on. */
enum dbq_rc history_record_apart(struct history *h, const struct db *like, struct err *e)
{
    if (h->recorded)
        return DBQ_OK;
    struct db d;
    if (db_connect(like->conninfo, NULL, like->wait_s < 5 ? 5 : like->wait_s, &d, e) != DB_OK)
        return DBQ_LOST;
    struct db_stmt s[3] = {
        DB_STMT("SET client_min_messages = warning", 0, NULL),
        DB_STMT(h->create_sql, 0, NULL),
        DB_STMT(h->insert_sql, 4, h->insert_params),
    };
    enum dbq_rc q = db_run(&d, s, 3, db_deadline(&d), 1, e);
    const PGresult *bad = NULL;
    for (int i = 0; q == DBQ_OK && i < 3 && !bad; i++)
        if (!db_ok(s[i].res))
            bad = s[i].res;
    if (bad)
        refused(h, bad);
    else if (q == DBQ_OK)
        h->recorded = true;
    db_stmts_clear(s, 3);
    db_close(&d);
    return q;
}

/* --- reading ------------------------------------------------------------------- */

struct row {
    const char *rev;
    struct strlist parents;
};

static int cmp_row(const void *a, const void *b)
{
    return strcmp(((const struct row *)a)->rev, ((const struct row *)b)->rev);
}

static const struct row *row_of(const struct row *rows, size_t n, const char *rev)
{
    struct row key = {.rev = rev};
    return n ? bsearch(&key, rows, n, sizeof *rows, cmp_row) : NULL;
}

static bool script_defines(const struct heads *s, const char *rev)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->s[i].rev, rev) == 0)
            return true;
    return false;
}

/* Walks u's recorded ancestry (a stack, no recursion: chains are long);
 * true when it reaches one of the scripts' heads: u is then a descendant of
 * this release (one on a sibling branch, from an older script revision, is
 * not: its release never applied this one's head). The script revisions met
 * go to met (each once: the walk visits a revision once). */
static bool walk(const struct row *rows, size_t n, const struct heads *s, const char *u,
                 struct strlist *met)
{
    struct strlist todo = {0}, seen = {0};
    bool ours = false;
    strlist_push(&todo, u);
    while (todo.n) {
        char *rev = todo.v[--todo.n];
        if (!strlist_contains(&seen, rev)) {
            strlist_push(&seen, rev);
            if (script_defines(s, rev)) {
                ours |= strlist_contains(&s->heads, rev);
                strlist_push(met, rev);
            }
            const struct row *r = row_of(rows, n, rev);
            for (size_t k = 0; r && k < r->parents.n; k++)
                strlist_push(&todo, r->parents.v[k]);
        }
        free(rev);
    }
    strlist_free(&todo);
    strlist_free(&seen);
    return ours;
}

static size_t load_rows(const PGresult *r, struct row **out)
{
    size_t n = db_ok(r) ? (size_t)PQntuples(r) : 0;
    struct row *rows = xcalloc(n, sizeof *rows);
    for (size_t i = 0; i < n; i++) {
        rows[i].rev = PQgetvalue(r, (int)i, 0);
        strlist_split_csv(&rows[i].parents, PQgetvalue(r, (int)i, 1));
        strlist_split_csv(&rows[i].parents, PQgetvalue(r, (int)i, 2));
    }
    if (n)
        qsort(rows, n, sizeof *rows, cmp_row);
    *out = rows;
    return n;
}

/* The whole table, read once a gate: it only grows, and only under the
 * lock this gate holds (or, for check, may as well be read once). */
static enum dbq_rc read_rows(struct history *h, struct db *d, struct err *e)
{
    if (h->rows)
        return DBQ_OK;
    struct db_stmt s[3] = {
        DB_STMT("SAVEPOINT sentry_reads", 0, NULL),
        DB_STMT(h->rows_sql, 0, NULL),
        DB_STMT("ROLLBACK TO SAVEPOINT sentry_reads", 0, NULL),
    };
    bool in_lock = PQtransactionStatus(d->conn) == PQTRANS_INTRANS;
    enum dbq_rc q = in_lock ? db_run(d, s, 3, db_deadline(d), 1, e)
                            : db_run(d, s + 1, 1, db_deadline(d), 1, e);
    if (q == DBQ_OK && !db_ok(s[1].res) && strcmp(db_sqlstate(s[1].res), "42P01") != 0)
        log_warn("cannot read the revision history in %s (%s): revisions no script defines "
                 "count as a broken chain", h->qualified, db_message(s[1].res));
    if (q == DBQ_OK) {
        h->rows = s[1].res; /* a missing table: no rows */
        s[1].res = NULL;
    }
    db_stmts_clear(s, 3);
    return q;
}

enum dbq_rc history_judge(struct history *h, struct db *d, const struct heads *scripts,
                          const struct strlist *unknown, struct strlist *ahead,
                          struct strlist *reached, struct strlist *behind, struct err *e)
{
    enum dbq_rc q = read_rows(h, d, e);
    if (q != DBQ_OK)
        return q;
    struct row *rows;
    size_t n = load_rows(h->rows, &rows);
    for (size_t i = 0; i < unknown->n; i++) {
        struct strlist met = {0};
        bool ours = walk(rows, n, scripts, unknown->v[i], &met);
        strlist_push(ours ? ahead : behind, unknown->v[i]);
        for (size_t k = 0; ours && k < met.n; k++)
            if (!strlist_contains(reached, met.v[k]))
                strlist_push(reached, met.v[k]);
        strlist_free(&met);
    }
    for (size_t i = 0; i < n; i++)
        strlist_free(&rows[i].parents);
    free(rows);
    return DBQ_OK;
}
