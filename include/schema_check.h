/* schema_check: the schema file held against the live description
 * (schema_describe). Every object the file lists must exist as listed:
 * schemas, enum types (each label, in the file's order), tables (partition
 * key and parent), columns (type, not null, default, identity, generated,
 * collation: an attribute the file leaves out means "none"), constraints
 * and indexes (by their definition). What the file does not list is allowed:
 * a newer release may have added it. Each difference is one line of text:
 *   column proposals.visitor_session_id: type text, expected character varying(64)
 *   index ix_proposals_visitor_session_id missing
 * in a fixed order (by schema, then enums, then tables by name; in a table:
 * partitioning, columns, constraints, indexes). Names are shown as SQL would
 * write them ("Quoted" when they need it), qualified by their schema unless
 * it is public. */
#ifndef SENTRY_SCHEMA_CHECK_H
#define SENTRY_SCHEMA_CHECK_H

#include "jtree.h"
#include "schema_file.h"
#include "util.h"

/* Appends the differences to *differences; *checked gets the number of
 * objects the file lists (tables, columns, constraints, indexes, enum
 * types), each held against the database. */
void schema_compare(const struct schema_file *f, const struct jt *live, struct strlist *differences,
                    long *checked);

/* name as SQL writes it: bare when it is lower case letters, digits, _ and $
 * (not first), otherwise "double-quoted". Newly allocated. */
char *schema_ident(const char *name);

#endif
