/* heads: what Alembic makes of a project's revision scripts, computed in C,
 * so that a deploy with nothing to migrate pays for no Python.
 *
 * The files are those Alembic loads (locate.h), each read as Python would
 * bind its module (pyread.h), each value taken as Alembic's Script and
 * Revision take it (Alembic 1.8.1, alembic/script/base.py and revision.py):
 * down_revision "", None, () or [] is none; a one-element tuple is its
 * element; depends_on "" is none, except on a revision without
 * down_revision, which Alembic then refuses ("Dependency cycle"); a revision
 * revising or depending on itself, an id with @, - or +, a duplicate id or
 * branch label, a label equal to an id, a reference to nothing, a loop:
 * Alembic refuses the tree, and the heads are unknown. So are they for
 * anything the reader cannot read for certain, with the reason: never a
 * guess.
 *
 * A computed branch_labels (`(cli.EXPAND_BRANCH,)`) leaves the heads known
 * as long as every down_revision and depends_on names a revision id, since
 * labels then change nothing Alembic computes; a down_revision naming a
 * label is not followed (unknown).
 *
 * Two sets of heads: `heads`, Alembic's get_heads() (`alembic heads`: no
 * down_revision names them); `stamp`, the "real heads" (nothing names them
 * through down_revision or depends_on), which `upgrade heads` targets and
 * `stamp --purge heads` writes. */
#ifndef SENTRY_HEADS_H
#define SENTRY_HEADS_H

#include <stdbool.h>
#include <stddef.h>
#include "locate.h"
#include "util.h"

#define HEADS_FILE_MAX (1024 * 1024)

struct script {
    char *rev;
    struct strlist down;   /* down_revision, as Alembic's to_tuple has it */
    struct strlist deps;   /* depends_on: revision ids or branch labels */
    struct strlist labels; /* branch_labels */
    bool labels_known;
    /* resolved by heads_load: down_revision's scripts, then depends_on's */
    size_t *parents;
    size_t nparents, ndown;
};

struct heads {
    bool known;
    char *why;              /* why unknown */
    struct script *s;       /* sorted by revision */
    size_t n;
    bool labels_known;      /* no branch_labels was computed */
    struct strlist heads;   /* sorted */
    struct strlist stamp;   /* the real heads, sorted */
};

/* One script's text, as Alembic's Script(...) takes it: 0, or -1 with *why
 * (caller frees). */
int heads_parse_script(const char *text, size_t len, struct script *out, char **why);
void script_free(struct script *s);

/* Never fails: a tree it cannot read for certain gives known = false. */
void heads_load(const struct scripts_at *at, struct heads *h);
void heads_free(struct heads *h);

/* The database's alembic_version rows judged as `alembic upgrade heads`
 * judges them (RevisionMap._collect_upgrade_revisions): */
struct verdict {
    bool known;                /* false: only Alembic can judge (why) */
    char *why;
    bool up_to_date;           /* the upgrade would do nothing */
    struct strlist pending;    /* heads that no row reaches through down_revision or depends_on */
    struct strlist unknown;    /* rows no script defines */
    struct strlist overlapping;/* rows that are ancestors of other rows (Alembic refuses them) */
};

void heads_judge(const struct heads *h, const struct strlist *rows, struct verdict *v);
void verdict_free(struct verdict *v);

/* The building block of heads_judge, for callers that add revisions of
 * their own to the rows (the revision history's implied ones): `unknown`
 * gets the rows no script defines, `pending` the heads no row reaches
 * through down_revision or depends_on. No overlap check, no symbols: the
 * verdict on a database's real rows is heads_judge's. */
void heads_compare(const struct heads *h, const struct strlist *rows, struct strlist *pending,
                   struct strlist *unknown);

#endif
