/* supervise: starts the real command once the gate has passed.
 * supervise_exec replaces the sentry with the command (same PID), with an
 * empty signal mask; it returns only when exec failed.
 * supervise_init is the init for PID 1 (or --init, as a child subreaper):
 * it forks the command into its own process group (handing it the terminal's
 * foreground when there is one), forwards every catchable signal to it,
 * reaps every zombie as SIGCHLD arrives (signalfd, no polling), and when the
 * command has exited gives every process left SIGTERM, grace_s seconds, then
 * SIGKILL. The command inherits the sentry's signal dispositions and starts
 * with an empty mask. */
#ifndef SENTRY_SUPERVISE_H
#define SENTRY_SUPERVISE_H

#include <stdbool.h>
#include "err.h"

struct start_result {
    bool started;   /* false: exec failed, see not_found */
    bool not_found; /* ENOENT: 127; otherwise 126 */
    bool signaled;
    int code;       /* exit code, or the signal number when signaled */
};

/* The hidden first argument of the bare supervisor: after the gate, an init
 * re-executes itself as `migration-sentry --supervise-only=GRACE -- CMD...`,
 * so that while the app runs it holds no database connection and none of the
 * gate's memory. */
#define SUPERVISE_FLAG "--supervise-only="
/* Appended to GRACE when the sentry inherited SIGPIPE ignored: the re-exec
 * inherits it ignored either way (the sentry ignores it), so it is told. */
#define SUPERVISE_PIPE_IGNORED ",sigpipe-ignored"
/* Right after it when the gate logs JSON, so the supervisor does too (a
 * --log-format flag is not in the environment it inherits). */
#define SUPERVISE_JSON_FLAG "--log-format=json"

/* Blocks every forwardable signal (none is lost across the exec: the mask
 * and pending signals survive it) and re-executes; returns only when that
 * was impossible, and the caller supervises in-process instead. */
void supervise_reexec(char *const argv[], long grace_s);

/* Returns only on failure, with r and e filled. */
void supervise_exec(char *const argv[], struct start_result *r, struct err *e);
/* 0 with r filled once the command and its leftovers are gone; -1 with e set
 * when supervision could not be set up. */
int supervise_init(char *const argv[], long grace_s, struct start_result *r, struct err *e);

#endif
