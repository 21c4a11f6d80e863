#include "sqlfile.h"
#include "db.h"
#include "log.h"
#include "signals.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- splitting ------------------------------------------------------------ */

struct lexer {
    const char *s;
    size_t len, i;
    int line;
};

static bool ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || (unsigned char)c >= 0x80;
}

static void advance(struct lexer *lx, size_t n)
{
    for (size_t k = 0; k < n && lx->i < lx->len; k++)
        if (lx->s[lx->i++] == '\n')
            lx->line++;
}

/* Skips a quoted run opened at lx->i; false when it never closes. */
static bool skip_quoted(struct lexer *lx, char q, bool backslashes)
{
    advance(lx, 1);
    while (lx->i < lx->len) {
        char c = lx->s[lx->i];
        if (backslashes && c == '\\') {
            advance(lx, 2);
        } else if (c == q) {
            advance(lx, 1);
            if (lx->i < lx->len && lx->s[lx->i] == q) /* doubled quote */
                advance(lx, 1);
            else
                return true;
        } else {
            advance(lx, 1);
        }
    }
    return false;
}

static bool skip_block_comment(struct lexer *lx)
{
    int depth = 0;
    while (lx->i + 1 < lx->len) {
        if (lx->s[lx->i] == '/' && lx->s[lx->i + 1] == '*') {
            depth++;
            advance(lx, 2);
        } else if (lx->s[lx->i] == '*' && lx->s[lx->i + 1] == '/') {
            advance(lx, 2);
            if (--depth == 0)
                return true;
        } else {
            advance(lx, 1);
        }
    }
    return false;
}

/* $tag$ at lx->i: its length (tag and both dollars), or 0 if not one. */
static size_t dollar_tag(const struct lexer *lx)
{
    size_t k = lx->i + 1;
    if (k < lx->len && isdigit((unsigned char)lx->s[k]))
        return 0; /* $1 is a parameter */
    while (k < lx->len && ident_char(lx->s[k]))
        k++;
    return k < lx->len && lx->s[k] == '$' ? k - lx->i + 1 : 0;
}

static bool skip_dollar(struct lexer *lx, size_t taglen)
{
    const char *tag = lx->s + lx->i;
    advance(lx, taglen);
    while (lx->i + taglen <= lx->len) {
        if (memcmp(lx->s + lx->i, tag, taglen) == 0) {
            advance(lx, taglen);
            return true;
        }
        advance(lx, 1);
    }
    return false;
}

static void push_stmt(struct sql_script *out, const char *start, const char *end, int line)
{
    while (end > start && isspace((unsigned char)end[-1]))
        end--;
    if (end == start)
        return;
    out->v = xrealloc(out->v, (out->n + 1) * sizeof *out->v);
    out->v[out->n].text = xstrndup(start, (size_t)(end - start));
    out->v[out->n].line = line;
    out->n++;
}

/* One token-ish step; false with e set on an unterminated construct. */
static bool step(struct lexer *lx, struct err *e)
{
    const char *s = lx->s;
    size_t i = lx->i;
    char c = s[i];
    int line = lx->line;
    bool ok = true;
    if (c == '\'') {
        bool esc = i > 0 && (s[i - 1] == 'E' || s[i - 1] == 'e') && (i < 2 || !ident_char(s[i - 2]));
        ok = skip_quoted(lx, '\'', esc);
    } else if (c == '"') {
        ok = skip_quoted(lx, '"', false);
    } else if (c == '-' && i + 1 < lx->len && s[i + 1] == '-') {
        while (lx->i < lx->len && s[lx->i] != '\n')
            advance(lx, 1);
    } else if (c == '/' && i + 1 < lx->len && s[i + 1] == '*') {
        ok = skip_block_comment(lx);
    } else if (c == '$' && (i == 0 || !ident_char(s[i - 1])) && dollar_tag(lx)) {
        ok = skip_dollar(lx, dollar_tag(lx));
    } else {
        advance(lx, 1);
    }
    if (!ok)
        err_set(e, "line %d: unterminated %s", line,
                c == '\'' ? "string" : c == '"' ? "quoted identifier" : c == '/' ? "comment" : "dollar-quoted string");
    return ok;
}

static bool at_comment_or_space(const struct lexer *lx)
{
    char c = lx->s[lx->i];
    return isspace((unsigned char)c) || (c == '-' && lx->i + 1 < lx->len && lx->s[lx->i + 1] == '-') ||
           (c == '/' && lx->i + 1 < lx->len && lx->s[lx->i + 1] == '*');
}

int sql_split(const char *text, size_t len, struct sql_script *out, struct err *e)
{
    struct lexer lx = {text, len, 0, 1};
    memset(out, 0, sizeof *out);
    const char *start = NULL;
    int start_line = 1;
    while (lx.i < lx.len) {
        if (!start && at_comment_or_space(&lx)) {
            if (!step(&lx, e))
                goto fail;
            continue;
        }
        if (text[lx.i] == ';') {
            if (start)
                push_stmt(out, start, text + lx.i, start_line);
            start = NULL;
            advance(&lx, 1);
            continue;
        }
        if (!start) {
            start = text + lx.i;
            start_line = lx.line;
        }
        if (!step(&lx, e))
            goto fail;
    }
    if (start)
        push_stmt(out, start, text + lx.len, start_line);
    return 0;
fail:
    sql_script_free(out);
    return -1;
}

void sql_script_free(struct sql_script *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].text);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* --- running -------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len, struct err *e)
{
    char *buf;
    int rc = read_whole_file(path, SQLFILE_MAX, &buf, len);
    if (rc) {
        err_set(e, "cannot read %s: %s", path, rc == EFBIG ? "larger than 16 MiB" : read_error(rc));
        return NULL;
    }
    if (memchr(buf, '\0', *len)) {
        err_set(e, "%s is not a text file", path);
        free(buf);
        return NULL;
    }
    return buf;
}

static const char *transaction_control(const char *stmt)
{
    static const char *words[] = {"BEGIN", "COMMIT", "ROLLBACK", "START", "END", "ABORT",
                                  "SAVEPOINT", "RELEASE", "PREPARE", "VACUUM"};
    for (size_t k = 0; k < sizeof words / sizeof *words; k++) {
        size_t n = strlen(words[k]);
        if (strncasecmp(stmt, words[k], n) == 0 && !ident_char(stmt[n]))
            return words[k];
    }
    return NULL;
}

static void first_line(const char *stmt, char *buf, size_t n)
{
    size_t k = strcspn(stmt, "\n");
    snprintf(buf, n, "%.*s%s", (int)(k > 72 ? 72 : k), stmt, k > 72 || stmt[k] ? " ..." : "");
}

/* One statement, as long as it takes, but a gate signal cancels it. */
static enum sqlfile_rc run(struct db *d, const char *sql, PGresult **r, struct err *e)
{
    struct db_stmt st = DB_STMT(sql, 0, NULL);
    enum dbq_rc q = db_run(d, &st, 1, LOOP_FOREVER, 1, e);
    *r = st.res;
    return q == DBQ_OK ? SQLFILE_OK : q == DBQ_INTERRUPTED ? SQLFILE_INTERRUPTED : SQLFILE_CONNECTION;
}

static enum sqlfile_rc run_one(struct db *d, const struct sql_stmt *st, struct err *e)
{
    char head[96];
    first_line(st->text, head, sizeof head);
    PGresult *r;
    enum sqlfile_rc rc = run(d, st->text, &r, e);
    ExecStatusType rs = PQresultStatus(r);
    bool ok = rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK || rs == PGRES_EMPTY_QUERY;
    if (rc == SQLFILE_OK && ok)
        log_note("line %d: %s: %s", st->line, head, *PQcmdStatus(r) ? PQcmdStatus(r) : "ok");
    else if (rc == SQLFILE_OK)
        err_set(e, "line %d: %s: %s", st->line, head, db_message(r)),
            rc = db_denied(r) ? SQLFILE_DENIED : SQLFILE_FAILED;
    PQclear(r);
    return rc;
}

static enum sqlfile_rc exec_simple(struct db *d, const char *sql, struct err *e)
{
    PGresult *r;
    enum sqlfile_rc rc = run(d, sql, &r, e);
    if (rc == SQLFILE_OK && !db_ok(r))
        err_set(e, "%s failed: %s", sql, db_message(r)), rc = SQLFILE_FAILED;
    PQclear(r);
    return rc;
}

int sqlfile_load(const char *path, struct sql_script *s, struct err *e)
{
    size_t len = 0;
    char *text = read_file(path, &len, e);
    int rc = text ? sql_split(text, len, s, e) : -1;
    free(text);
    if (rc)
        return -1;
    for (size_t i = 0; i < s->n; i++)
        if (transaction_control(s->v[i].text)) {
            err_set(e, "line %d: %s is not allowed: the file runs in one transaction", s->v[i].line,
                    transaction_control(s->v[i].text));
            sql_script_free(s);
            return -1;
        }
    if (s->n == 0) {
        err_set(e, "%s holds no SQL statement", path);
        return -1;
    }
    return 0;
}

/* On any failure the transaction is not committed: rolled back on the open
 * connection, or by the server when the connection is closed (a signal
 * cancels the running statement and closes it). */
enum sqlfile_rc sqlfile_apply(struct db *d, const struct sql_script *s, struct err *e)
{
    enum sqlfile_rc rc = exec_simple(d, "BEGIN", e);
    for (size_t i = 0; rc == SQLFILE_OK && i < s->n; i++)
        rc = run_one(d, &s->v[i], e);
    /* A signal that came after the last statement: no COMMIT is sent (once
     * sent, the server may commit it whatever the gate does next). */
    if (rc == SQLFILE_OK && signals_gate_check()) {
        err_set(e, "interrupted");
        rc = SQLFILE_INTERRUPTED;
    }
    if (rc == SQLFILE_OK)
        return exec_simple(d, "COMMIT", e);
    if (d->conn) {
        struct err ignored = {{0}};
        PGresult *r;
        run(d, "ROLLBACK", &r, &ignored);
        PQclear(r);
    }
    if (rc == SQLFILE_FAILED && !d->conn)
        rc = SQLFILE_CONNECTION;
    return rc;
}
