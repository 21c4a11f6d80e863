/* heads: Alembic's script heads computed in C from the versions folder, so
 * that a deploy with nothing to migrate pays for no Python.
 * Files follow Alembic's rules (*.py, not __init__*, not .#*). Each script's
 * top-level revision, down_revision, branch_labels and depends_on are read
 * from both templates (untyped `x = ...` and typed `x: T = ...`): a string,
 * None, or a tuple/list of strings. Anything the parser cannot read for
 * certain (another expression, a repeated assignment, a missing revision, a
 * duplicate id, a reference to nothing, binary or huge files) makes the
 * heads unknown with the reason: never a guess. Heads follow down_revision
 * only, as `flask db heads` does; depends_on counts when judging what a
 * database has applied. */
#ifndef SENTRY_HEADS_H
#define SENTRY_HEADS_H

#include <stdbool.h>
#include <stddef.h>
#include "util.h"

#define HEADS_FILE_MAX (1024 * 1024)
#define HEADS_FILES_MAX 10000

struct script {
    char *rev;
    struct strlist down, deps, labels;
};

struct heads {
    bool known;
    char *why;            /* why unknown */
    struct script *s;
    size_t n;
    struct strlist heads; /* sorted */
};

/* Parses one script's text; 0, or -1 with *why set (caller frees). */
int heads_parse_script(const char *text, size_t len, struct script *out, char **why);
void script_free(struct script *s);

/* Never fails: a folder it cannot read for certain gives known = false. */
void heads_load(const char *dir, struct heads *h);
void heads_free(struct heads *h);

/* Splits the database's revisions against the scripts: `unknown` gets the
 * recorded revisions no script defines; `pending` the heads that no recorded
 * revision reaches through down_revision or depends_on. Both empty: the
 * database is up to date, as Alembic judges it. */
void heads_compare(const struct heads *h, const struct strlist *current,
                   struct strlist *pending, struct strlist *unknown);

#endif
