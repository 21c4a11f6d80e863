#include "supervise.h"
#include "child.h"
#include "log.h"
#include "loop.h"
#include "signals.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define KILL_WAIT_MS 2000

/* Faults are the sentry's own and must kill it, never be forwarded. */
static const int synchronous[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT};

static void exec_failed(const char *prog, int err, struct start_result *r, struct err *e)
{
    r->started = false;
    r->not_found = err == ENOENT;
    err_set(e, "cannot run %s: %s", prog, strerror(err));
}

void supervise_exec(char *const argv[], struct start_result *r, struct err *e)
{
    signals_child_reset(); /* the command gets the mask and dispositions we inherited */
    execvp(argv[0], argv);
    exec_failed(argv[0], errno, r, e);
}

static void forwardable_set(sigset_t *s)
{
    sigfillset(s);
    for (size_t i = 0; i < sizeof synchronous / sizeof synchronous[0]; i++)
        sigdelset(s, synchronous[i]);
}

void supervise_reexec(char *const argv[], long grace_s)
{
    sigset_t all;
    forwardable_set(&all);
    if (sigprocmask(SIG_BLOCK, &all, NULL) != 0)
        return;
    size_t n = 0;
    while (argv[n])
        n++;
    char **args = xcalloc(n + 5, sizeof *args);
    size_t k = 0;
    args[k++] = "migration-sentry";
    args[k++] = xasprintf(SUPERVISE_FLAG "%ld%s", grace_s,
                          signals_pipe_inherited_ignored() ? SUPERVISE_PIPE_IGNORED : "");
    if (log_is_json()) /* the log format goes along */
        args[k++] = SUPERVISE_JSON_FLAG;
    args[k++] = "--";
    memcpy(args + k, argv, n * sizeof *args);
    execv("/proc/self/exe", args);
    log_note("cannot re-execute as a bare supervisor (%s); supervising in place", strerror(errno));
    free(args[1]);
    free(args);
}

static void forward(pid_t child, int sig)
{
    if (kill(child, sig) != 0 && errno != ESRCH)
        log_note("cannot forward %s: %s", signals_name(sig), strerror(errno));
}

/* One signal from the descriptor, waiting at most until deadline: its
 * number, 0 when none came, -1 when the descriptor failed. */
static int next_signal(int sfd, int64_t deadline)
{
    struct pollfd p = {.fd = sfd, .events = POLLIN};
    if (loop_wait(&p, 1, deadline, 0) != WAIT_READY)
        return 0;
    struct signalfd_siginfo si;
    ssize_t n = read(sfd, &si, sizeof si);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    return n == (ssize_t)sizeof si ? (int)si.ssi_signo : -1;
}

/* When the command has exited: every process left in our tree (however
 * deep) gets SIGTERM, grace_s seconds to go, then SIGKILL; the waits are
 * bounded, so a process that cannot die (uninterruptible sleep) does not
 * keep the supervisor from exiting. */
static void finish_leftovers(int sfd, long grace_s)
{
    if (!child_any_left())
        return;
    log_note("command exited; giving the processes left %lds after SIGTERM", grace_s);
    child_signal_subtree(SIGTERM);
    child_signal_subtree(SIGCONT);
    int64_t deadline = now_ms() + grace_s * 1000;
    while (child_any_left() && now_ms() < deadline)
        if (next_signal(sfd, deadline) < 0)
            break;
    if (!child_any_left())
        return;
    log_note("processes still left after %lds: SIGKILL", grace_s);
    for (int64_t end = now_ms() + KILL_WAIT_MS; child_any_left() && now_ms() < end;) {
        child_signal_subtree(SIGKILL); /* again: orphans reparented to us meanwhile */
        child_wait_all(now_ms() + 100 < end ? now_ms() + 100 : end);
    }
    if (child_any_left())
        log_note("processes still left after SIGKILL; exiting without them");
}

static int loop(int sfd, pid_t child)
{
    int status = 0;
    for (;;) {
        int sig = next_signal(sfd, LOOP_FOREVER);
        if (sig < 0)
            return -1;
        if (sig == SIGCHLD) {
            if (child_reap(child, &status))
                return status;
        } else if (sig > 0) {
            forward(child, sig);
        }
    }
}

/* Packaging hook (issue 15): exec of /proc/self/exe names the process
 * "exe" in /proc/PID/comm, ps and docker top; give it its own name back
 * (the kernel keeps 15 bytes: "migration-sentr", as for any exec of the
 * binary). */
static void name_self(void)
{
    if (prctl(PR_SET_NAME, "migration-sentry", 0, 0, 0) != 0)
        log_note("cannot set the process name: %s", strerror(errno));
}

int supervise_init(char *const argv[], long grace_s, struct start_result *r, struct err *e)
{
    name_self();
    sigset_t all;
    forwardable_set(&all);
    if (sigprocmask(SIG_BLOCK, &all, NULL) != 0) {
        err_set(e, "cannot block signals: %s", strerror(errno));
        return -1;
    }
    if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
        log_note("cannot become a child subreaper: %s", strerror(errno));
    int sfd = signalfd(-1, &all, SFD_CLOEXEC);
    if (sfd < 0) {
        err_set(e, "cannot watch signals: %s", strerror(errno));
        return -1;
    }
    struct child_spec spec = {argv, NULL, -1, -1, -1, true, false, -1};
    int exec_errno = 0;
    pid_t child = child_spawn(&spec, &exec_errno, e);
    if (child < 0) {
        close(sfd);
        if (!exec_errno)
            return -1;
        exec_failed(argv[0], exec_errno, r, e);
        return 0;
    }
    int status = loop(sfd, child);
    if (status < 0) {
        err_set(e, "lost the signal descriptor: %s", strerror(errno));
        return -1;
    }
    finish_leftovers(sfd, grace_s);
    close(sfd);
    r->started = true;
    r->signaled = WIFSIGNALED(status);
    r->code = r->signaled ? WTERMSIG(status) : WEXITSTATUS(status);
    return 0;
}
