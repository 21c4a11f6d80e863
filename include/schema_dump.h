/* schema_dump: the live schema of some PostgreSQL schemas, read from the
 * catalogs in one query, in the shape of the schema file (docs/operators.md,
 * "The schema file"):
 *
 *   {"format": 1, "postgresql": 15, "schemas": {NAME: {
 *      "enums":  {TYPE: [label, ...in enumsortorder]},
 *      "tables": {TABLE: {
 *         "columns":     {COLUMN: {"type": format_type, "not_null": bool,
 *                                  "default": pg_get_expr or null,
 *                                  ["identity": "always" | "by default"],
 *                                  ["generated": "stored" | "virtual"],
 *                                  ["collation": when not "default"]}},
 *         "constraints": {NAME: pg_get_constraintdef},   (p, u, f, c, x)
 *         "indexes":     {NAME: pg_get_indexdef},        (none behind a constraint)
 *         ["partition_by": pg_get_partkeydef], ["partition_of": "ROOT BOUND"]}}}}}
 *
 * Tables are ordinary and partitioned tables (partitions included); the
 * version table and migration_sentry_revisions are left out. The query runs
 * with an empty search_path (set for that statement only), so every name
 * outside pg_catalog is schema-qualified whatever the role's search_path:
 * the same database gives the same text from any connection.
 * Names reach PostgreSQL only as query parameters. */
#ifndef SENTRY_SCHEMA_DUMP_H
#define SENTRY_SCHEMA_DUMP_H

#include <libpq-fe.h>
#include "db.h"
#include <stdbool.h>
#include "err.h"
#include "jtree.h"
#include "util.h"

#define SCHEMA_FORMAT 1
#define SCHEMA_MIN_SERVER 130000 /* regcollation, pg_partition_root */

enum schema_rc {
    SCHEMA_OK,
    SCHEMA_FAILED,     /* the query failed, or the server is too old */
    SCHEMA_PRIVILEGE,  /* SQLSTATE 42501 */
    SCHEMA_CONNECTION, /* the connection was lost */
};

/* SENTRY_SCHEMAS as PostgreSQL stores the names: unquoted names fold to
 * lower case, "Quoted" ones keep theirs ("" for a quote); sorted, each once.
 * 0, or -1 with e naming `what` and the bad item. */
int schema_names_parse(const struct strlist *items, const char *what, struct strlist *out, struct err *e);

/* Describes the schemas `names` into *doc ("format", "postgresql",
 * "schemas"; a schema that does not exist is simply absent). Enum types are
 * read only when `enums` is set (verify skips them when its file lists
 * none). Must run outside a transaction block. */
enum schema_rc schema_describe(struct db *d, const struct strlist *names, const char *version_table,
                               bool enums, struct jt *doc, struct err *e);

/* `migration-sentry schema`'s document: doc with "alembic_version" (the
 * rows, sorted) added, as canonical text (jt_render). */
char *schema_document(struct jt *doc, const struct strlist *alembic_version);

#endif
