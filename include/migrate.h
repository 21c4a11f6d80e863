/* migrate: runs the migration command with no shell, in its own process
 * group, stdin from /dev/null, stdout and stderr streamed line by line to the
 * log with the "[migrate] " prefix; the last MIGRATE_TAIL lines (redacted,
 * made valid UTF-8, each at most MIGRATE_LINE_MAX bytes) are kept for the
 * status file, so memory stays bounded whatever the command prints.
 * After timeout_s seconds (0: no limit) the whole group gets SIGTERM, then
 * SIGKILL after MIGRATE_KILL_GRACE_S; a gate signal is passed to the group
 * the same way. No process of the group outlives migrate_run. */
#ifndef SENTRY_MIGRATE_H
#define SENTRY_MIGRATE_H

#include <stdbool.h>
#include <stdint.h>
#include "err.h"
#include "util.h"

#define MIGRATE_TAIL 50
#define MIGRATE_LINE_MAX 4096
#define MIGRATE_KILL_GRACE_S 5

enum migrate_rc { MIG_OK, MIG_FAILED, MIG_INTERRUPTED, MIG_LOST };

/* Something the gate keeps watching while the command runs (the lock
 * keeper): fd() says what to poll for it and until when (fd -1: nothing to
 * poll, only the deadline); step() is called when that fd is ready or the
 * deadline has passed, and returns false to stop the command (MIG_LOST). */
struct migrate_watch {
    int (*fd)(void *arg, short *events, int64_t *deadline);
    bool (*step)(void *arg, short revents);
    void *arg;
};

struct migrate_result {
    bool ran;
    int exit_code;     /* -1 when it never ran; 128+N when killed by N */
    bool timed_out;
    int64_t duration_ms;
    struct strlist tail; /* oldest first */
};

/* 0 when argv0 names an executable file (directly, or found on PATH). */
int migrate_find_program(const char *argv0, const char *what, struct err *e);
/* envp: the command's environment (NULL: the sentry's); watch may be NULL.
 * Fills r (its tail replaced); r must be zeroed before the first run. */
enum migrate_rc migrate_run(char *const argv[], char *const envp[], long timeout_s,
                            const struct migrate_watch *watch, struct migrate_result *r, struct err *e);
void migrate_result_free(struct migrate_result *r);

/* The line-keeping half, on its own for the unit tests. */
struct tail_buf {
    char *lines[MIGRATE_TAIL];
    size_t next, count;
};
void tail_push(struct tail_buf *t, const char *line, size_t len);
void tail_collect(struct tail_buf *t, struct strlist *out); /* empties t */

#endif
