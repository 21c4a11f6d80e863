/* sqlfile: `migration-sentry sql FILE`, the emergency hot patch for an image
 * with no psql. The file is split into statements the way PostgreSQL's lexer
 * sees them (quotes, "identifiers", E'' escapes, $tag$ bodies, -- and nested
 * block comments), then run one by one inside a single transaction: on the
 * first error everything is rolled back and the error names the statement's
 * line. Transaction control in the file (BEGIN, COMMIT, ...) is refused
 * before anything runs, as it would break the one transaction. */
#ifndef SENTRY_SQLFILE_H
#define SENTRY_SQLFILE_H

#include "db.h"
#include <stddef.h>
#include "err.h"

#define SQLFILE_MAX (16 * 1024 * 1024)

struct sql_stmt {
    char *text;
    int line; /* 1-based line of its first token */
};

struct sql_script {
    struct sql_stmt *v;
    size_t n;
};

/* 0, or -1 with e set (an unterminated quote or comment). */
int sql_split(const char *text, size_t len, struct sql_script *out, struct err *e);
void sql_script_free(struct sql_script *s);

/* Reads, splits and checks the file before anything connects: 0, or -1 with
 * e set (unreadable, unterminated, empty, or transaction control). */
int sqlfile_load(const char *path, struct sql_script *s, struct err *e);

/* SQLFILE_DENIED: a statement refused for lack of privilege (42501). */
enum sqlfile_rc { SQLFILE_OK, SQLFILE_FAILED, SQLFILE_DENIED, SQLFILE_CONNECTION, SQLFILE_INTERRUPTED };
/* Runs every statement in one transaction; on failure (a gate signal
 * included) nothing is committed. */
enum sqlfile_rc sqlfile_apply(struct db *d, const struct sql_script *s, struct err *e);

#endif
