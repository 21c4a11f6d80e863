/* child: the one way the sentry runs another program, for the migration
 * command and the supervised command alike, with one set of rules:
 *   - its own process group, so that signals and kills reach the whole of
 *     it (a shell and what it started);
 *   - PR_SET_PDEATHSIG(SIGKILL): no child outlives a killed sentry (a
 *     preDeployCommand or CI job killed mid-migration must not leave the
 *     migration running without the lock), and for the migration a guard
 *     (below) that extends this to the whole group;
 *   - an empty signal mask and the dispositions the sentry inherited;
 *   - stdin, stdout and stderr as asked, the terminal's foreground if asked;
 *   - a failed exec reported through a close-on-exec pipe (errno), so the
 *     caller can tell 127 (not found) from 126 (cannot run).
 * And the means to wait for it and clean up after it: SIGCHLD as a
 * descriptor, reaping, and the sentry's whole subtree of leftovers (a
 * subreaper's orphans and their own children), signalled and waited for
 * within a bound. */
#ifndef SENTRY_CHILD_H
#define SENTRY_CHILD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "err.h"

struct child_spec {
    char *const *argv;
    char *const *envp;   /* NULL: the sentry's own environment */
    int in, out, err;    /* descriptors for 0, 1, 2; -1: inherited */
    bool take_terminal;  /* make its group the terminal's foreground */
    bool guard;          /* run it under a guard (below) */
    int lifeline;        /* set by child_spawn: the guard's, closed by child_release */
};

/* The child's pid, running the program; -1 with *exec_errno set when the
 * program could not be started (the child is reaped), or with e set when
 * no process could be made.
 * With spec->guard, the child is a guard of ours leading the group, and the
 * program its child: when the sentry is gone (killed, for whatever reason)
 * the guard kills the whole group, not only its direct child; it exits as
 * the program did. child_release, once it has been reaped. */
pid_t child_spawn(struct child_spec *spec, int *exec_errno, struct err *e);
void child_release(struct child_spec *spec);

/* SIGCHLD blocked and readable from the returned descriptor (-1 on
 * failure); child_watch_end restores the mask and closes it. */
int child_watch_begin(void);
void child_watch_drain(int fd);
void child_watch_end(int fd);

/* Reaps every exited child without waiting; true when `pid` was among them
 * (its status in *status). */
bool child_reap(pid_t pid, int *status);
/* Signals a process group; ESRCH (gone already) is not an error. */
void child_signal_group(pid_t pgid, int sig);
/* Signals every descendant of the sentry (all processes, as PID 1). */
void child_signal_subtree(int sig);
/* Whether any child of the sentry is left (reaping the exited ones). */
bool child_any_left(void);
/* Waits up to deadline (now_ms clock) for every child to be gone, reaping;
 * true when none is left. */
bool child_wait_all(int64_t deadline);

#endif
