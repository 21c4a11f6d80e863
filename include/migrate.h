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
#define MIGRATE_PAUSE_FIRST_MS 500
#define MIGRATE_PAUSE_CAP_MS 15000

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
    int attempts;      /* runs of the command */
    int exit_code;     /* -1 when it never ran; 128+N when killed by N */
    bool timed_out;
    int64_t duration_ms;
    struct strlist tail; /* oldest first */
};

/* 0 when argv0 names an executable file (directly, or found on PATH). */
int migrate_find_program(const char *argv0, const char *what, struct err *e);
struct migrate_plan {
    char *const *argv;
    char *const *envp;  /* the command's environment (NULL: the sentry's) */
    long timeout_s;     /* for all runs together; 0: no limit */
    long retries;       /* more runs after a failure another run can get past */
    const struct migrate_watch *watch; /* or NULL */
};

/* Runs the command; when it fails on a lock timeout (PostgreSQL's message
 * or SQLSTATE 55P03 in its output) or on a server with no connection slot
 * left (too many clients), runs it again after a growing, jittered pause
 * (logged), up to p->retries more times, all within p->timeout_s; any other
 * failure is final. Fills r (its tail replaced, from the last
 * run); r must be zeroed before the first call. */
enum migrate_rc migrate_run(const struct migrate_plan *p, struct migrate_result *r, struct err *e);

/* The command's environment: the sentry's, with PGAPPNAME set to
 * MIGRATE_APPNAME unless set (an empty one is not), when lock_timeout_s > 0
 * "-c lock_timeout=Ns" added to PGOPTIONS, and with `primary`
 * PGTARGETSESSIONATTRS=read-write. NULL-terminated; free with
 * migrate_env_free. */
#define MIGRATE_APPNAME "migration-sentry/migrate"
char **migrate_env(long lock_timeout_s, bool primary);
void migrate_env_free(char **env);
/* The application_name the command's sessions have (newly allocated): the
 * database URL's own, which libpq prefers to PGAPPNAME, else PGAPPNAME,
 * else MIGRATE_APPNAME. */
char *migrate_appname(const char *conninfo);
void migrate_result_free(struct migrate_result *r);

#endif
