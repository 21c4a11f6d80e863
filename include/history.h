/* history: the revision history table, migration_sentry_revisions, in the
 * schema of the version table. Alembic's revision ids carry no order, so a
 * release cannot tell "a newer release migrated this database" from "the
 * chain is broken" by itself; every gate that passes verify with known
 * script heads therefore records the revisions its scripts define, with
 * their down_revision and depends_on parents (labels resolved to ids), and
 * an older release looks up the revisions it does not know there.
 *
 * Rows are only added, never changed (INSERT ... ON CONFLICT DO NOTHING),
 * always under the gate's advisory lock, inside its transaction, in a
 * savepoint: a role that may not create or write the table gets a warning,
 * and the gate goes on. The no-op path asks only whether the script heads
 * are recorded, in its first round trip; the whole table is read only when
 * the version table holds revisions the scripts do not define. */
#ifndef SENTRY_HISTORY_H
#define SENTRY_HISTORY_H

#include <stdbool.h>
#include "db.h"
#include "heads.h"
#include "util.h"

#define HISTORY_TABLE "migration_sentry_revisions"

struct history {
    char *qualified;            /* "schema"."migration_sentry_revisions" or unqualified */
    char *heads_sql, *rows_sql, *create_sql, *insert_sql;
    char *heads_array;          /* the script heads as a text[] literal */
    const char *heads_params[1];
    char *insert_arrays[3];     /* revisions, down_revisions, depends_on */
    const char *insert_params[4];
    bool recorded;              /* the first round trip found every head recorded */
    PGresult *rows;             /* the table as read, once a gate (history_judge) */
};

/* For the given version table schema (NULL: the search path's) and the
 * scripts (heads known). */
void history_init(struct history *h, const char *schema, const struct heads *scripts);
void history_free(struct history *h);

/* The first round trip's question: which script heads are recorded. */
struct db_stmt history_heads_stmt(struct history *h);
/* Its answer (a missing table: none recorded). */
void history_take_heads(struct history *h, const PGresult *r, size_t nheads);

/* Records the scripts' revisions when the heads were not all recorded, in
 * the lock's transaction; warns (never fails) when that is refused. The
 * connection may be lost: DBQ_OK or the round trip's failure. */
enum dbq_rc history_record(struct history *h, struct db *d, struct err *e);
/* The same on a short connection of its own (like `like`), committed at
 * once: before a migration runs, whose revisions are visible to others as
 * soon as it commits, long before the gate's own transaction ends. */
enum dbq_rc history_record_apart(struct history *h, const struct db *like, struct err *e);

/* The judgement for revisions no script defines: each of `unknown` whose
 * recorded ancestry reaches a revision the scripts define is ahead (a newer
 * release applied it); `reached` gets the scripts' revisions that the ahead
 * ones imply applied. `behind` gets the others: a broken chain.
 * DBQ_OK, or the round trip's failure (a missing table: nothing ahead). */
enum dbq_rc history_judge(struct history *h, struct db *d, const struct heads *scripts,
                          const struct strlist *unknown, struct strlist *ahead,
                          struct strlist *reached, struct strlist *behind, struct err *e);

#endif
