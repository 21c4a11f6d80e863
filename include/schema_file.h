/* schema_file: SENTRY_SCHEMA_FILE, read and checked at config, before
 * anything connects. The file is what `migration-sentry schema` prints
 * (shape in schema_dump.h): JSON, checked member by member; anything else
 * (bad JSON, an unknown or missing member, a value of the wrong type, a name
 * given twice, text that is not UTF-8) is refused with its line and column.
 * schema_file_match then holds it to the configuration: taken of the same
 * schemas as SENTRY_SCHEMAS, at the revisions of the script heads. */
#ifndef SENTRY_SCHEMA_FILE_H
#define SENTRY_SCHEMA_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include "err.h"
#include "jtree.h"
#include "util.h"

#define SCHEMA_FILE_MAX (16 * 1024 * 1024)

struct schema_file {
    char *path;               /* NULL: none in use */
    struct jt doc;            /* the whole document, members sorted */
    struct strlist revisions; /* its alembic_version, sorted */
    struct strlist schemas;   /* the schemas it describes, sorted */
    long postgresql;          /* the major version it was taken on */
    bool has_enums;           /* it lists at least one enum type */
};

/* 0, or -1 with e set: "schema file PATH: line L, column C: what is wrong"
 * (or why it cannot be read). `name` is the path shown in messages. */
int schema_file_parse(const char *text, size_t len, const char *name, struct schema_file *f, struct err *e);
int schema_file_load(const char *path, struct schema_file *f, struct err *e);

/* The file's schemas are `schemas` (sorted, as schema_names_parse gives
 * them; `setting` names where they came from) and, when heads is not NULL,
 * its revisions are the script heads. 0, or -1 with e naming both sides. */
int schema_file_match(const struct schema_file *f, const struct strlist *schemas, const char *setting,
                      const struct strlist *heads, struct err *e);

void schema_file_free(struct schema_file *f);

#endif
