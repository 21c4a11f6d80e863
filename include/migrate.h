/* migrate: runs the migration command with no shell, in its own process
 * group, stdin from /dev/null, stdout and stderr streamed line by line to the
 * log with the "[migrate] " prefix; the last MIGRATE_TAIL lines are kept for
 * the status file (both by lines.h: redacted, valid UTF-8, pieces of at most
 * MIGRATE_LINE_MAX bytes of output), so memory stays bounded whatever the
 * command prints.
 * After timeout_s seconds (0: no limit) the whole group gets SIGTERM, then
 * SIGKILL after MIGRATE_KILL_GRACE_S; a gate signal is passed to the group
 * the same way. No process of the group outlives migrate_run. */
#ifndef SENTRY_MIGRATE_H
#define SENTRY_MIGRATE_H

#include <stdbool.h>
#include <stdint.h>
#include "err.h"
#include "lines.h"
#include "util.h"

#define MIGRATE_TAIL LINES_TAIL
#define MIGRATE_LINE_MAX LINES_MAX
#define MIGRATE_KILL_GRACE_S 5

enum migrate_rc { MIG_OK, MIG_FAILED, MIG_INTERRUPTED };

struct migrate_result {
    bool ran;
    int exit_code;     /* -1 when it never ran; 128+N when killed by N */
    bool timed_out;
    int64_t duration_ms;
    struct strlist tail; /* oldest first */
};

/* 0 when argv0 names an executable file (directly, or found on PATH). */
int migrate_find_program(const char *argv0, const char *what, struct err *e);
enum migrate_rc migrate_run(char *const argv[], long timeout_s, struct migrate_result *r, struct err *e);
void migrate_result_free(struct migrate_result *r);

#endif
