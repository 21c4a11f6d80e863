/* status: the status JSON of the contract, keys in the contract's order, and
 * its atomic write: a temporary file created exclusively in the same folder
 * (never following a link), written, fsync'd and renamed over the target; on
 * any failure the temporary file is removed, so readers see the old file or
 * the new one, never half of one. (The folder is not fsync'd: a crash may
 * keep the old file, which the next gate replaces; every start is spared
 * a second disk flush.)
 * struct status is a view, not a store: main fills it at the end from what
 * the gate did (every pointer borrowed), and status_render turns it into
 * text, every string through the edge (edge.h: redacted, valid UTF-8, control
 * characters escaped). */
#ifndef SENTRY_STATUS_H
#define SENTRY_STATUS_H

#include <stdbool.h>
#include <stdint.h>
#include "err.h"
#include "util.h"
#include "verify.h"

#define STATUS_FORMAT 1
#define STATUS_MAX_DIFFERENCES 50

struct status {
    bool migrated;
    const struct strlist *current; /* sorted; NULL: no version table ("alembic_current": null) */
    const struct columns *cols;
    const bool *present;           /* NULL until verify has run */
    const struct strlist *heads;   /* NULL or empty when unknown */
    const struct strlist *ahead;   /* revisions a newer release applied; NULL: none */
    const char *phase;             /* "done" or the failed phase */
    const char *error;             /* NULL on success */
    struct {
        bool ran, recovered;
        const char *skipped;       /* why it did not run, or NULL */
        int exit_code;             /* -1: null */
        int attempts;              /* runs of the command */
        int64_t duration_ms;
        const struct strlist *tail; /* NULL: none */
    } migration;
    struct {
        const char *file;          /* NULL: no schema file in use */
        long checked;              /* objects compared */
        const struct strlist *differences; /* at most STATUS_MAX_DIFFERENCES are written */
    } schema;
    const char *database;          /* redacted */
    const char *server_version;    /* NULL: null */
    int64_t started_wall, finished_wall, duration_ms;
};

/* Defaults: phase "config", nothing known yet. */
void status_init(struct status *s);
/* The JSON text, newly allocated. */
char *status_render(const struct status *s);
/* 0, or -1 with e set. */
int status_write(const char *path, const struct status *s, struct err *e);

enum status_read_rc { STATUS_MIGRATED, STATUS_NOT_MIGRATED, STATUS_MISSING };
/* Reads an existing status file for `migration-sentry status`. *text gets
 * its contents (caller frees) when they are a JSON text in valid UTF-8, else
 * NULL. A file that is empty, larger than 1 MiB, not valid UTF-8 or not JSON
 * counts as not migrated, as does a JSON text without a boolean "migrated";
 * STATUS_MISSING when it cannot be read at all. e says what is wrong in each
 * of those cases, and is "" otherwise. */
enum status_read_rc status_read(const char *path, char **text, struct err *e);

#endif
