#include "migrate.h"
#include "lines.h"
#include "log.h"
#include "signals.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DRAIN_MS 1000
#define LAST_CHANCE_MS 2000

/* --- finding the program -------------------------------------------------- */

static bool executable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int migrate_find_program(const char *argv0, const char *what, struct err *e)
{
    if (strchr(argv0, '/')) {
        if (executable_file(argv0))
            return 0;
        err_set(e, "%s: '%.200s' is not an executable file", what, argv0);
        return -1;
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ":");
        char *cand = xasprintf("%.*s/%s", (int)n, n ? p : ".", argv0);
        bool ok = executable_file(cand);
        free(cand);
        if (ok)
            return 0;
        p += n + (p[n] == ':');
    }
    err_set(e, "%s: program '%.200s' not found on PATH", what, argv0);
    return -1;
}

/* --- the child ------------------------------------------------------------ */

static pid_t spawn(char *const argv[], int out_w, struct err *e)
{
    pid_t pid = fork();
    if (pid < 0) {
        err_set(e, "cannot fork the migration command: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        signals_child_reset();
        int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (in < 0 || dup2(in, STDIN_FILENO) < 0 || dup2(out_w, STDOUT_FILENO) < 0 ||
            dup2(out_w, STDERR_FILENO) < 0)
            _exit(126);
        execvp(argv[0], argv);
        int err = errno;
        dprintf(STDERR_FILENO, "cannot run %s: %s\n", argv[0], strerror(err));
        _exit(err == ENOENT ? 127 : 126);
    }
    /* Both sides set the group, so that it exists before we may signal it. */
    if (setpgid(pid, pid) != 0 && errno != EACCES && errno != ESRCH)
        log_note("setpgid on the migration command failed: %s", strerror(errno));
    return pid;
}

/* --- supervising it --------------------------------------------------------- */

enum stage { RUNNING, TERMED, KILLED, DRAINING, DRAIN_KILLED };

struct run {
    pid_t pid;
    int out, chld;
    bool exited, eof;
    int status;
    enum stage stage;
    int64_t deadline;
    int signal; /* the gate signal passed on, if any */
    bool timed_out;
    struct lines *out_lines; /* the output's log lines and tail */
};

static void group_kill(struct run *r, int sig)
{
    if (kill(-r->pid, sig) != 0 && errno != ESRCH)
        log_note("cannot signal the migration command: %s", strerror(errno));
}

static void escalate(struct run *r, int64_t now)
{
    switch (r->stage) {
    case RUNNING:
        r->timed_out = true;
        group_kill(r, SIGTERM);
        r->stage = TERMED;
        r->deadline = now + MIGRATE_KILL_GRACE_S * 1000;
        break;
    case TERMED:
        group_kill(r, SIGKILL);
        r->stage = KILLED;
        r->deadline = now + LAST_CHANCE_MS;
        break;
    case DRAINING:
        group_kill(r, SIGKILL); /* a leftover still holds the output pipe */
        r->stage = DRAIN_KILLED;
        r->deadline = now + LAST_CHANCE_MS;
        break;
    default:
        r->deadline = INT64_MAX; /* give up waiting: the loop ends */
        break;
    }
}

static void on_output(struct run *r)
{
    char buf[8192];
    ssize_t n = read(r->out, buf, sizeof buf);
    if (n > 0)
        lines_feed(r->out_lines, buf, (size_t)n);
    else if (n == 0 || (errno != EINTR && errno != EAGAIN))
        r->eof = true;
}

static void on_child(struct run *r, int64_t now)
{
    struct signalfd_siginfo si;
    while (read(r->chld, &si, sizeof si) == (ssize_t)sizeof si)
        ;
    if (!r->exited && waitpid(r->pid, &r->status, WNOHANG) == r->pid) {
        r->exited = true;
        if (!r->eof) {
            r->stage = DRAINING;
            r->deadline = now + DRAIN_MS;
        }
    }
}

static void on_gate_signal(struct run *r, int64_t now)
{
    int sig = signals_gate_check();
    if (!sig || r->signal || r->exited)
        return;
    r->signal = sig;
    group_kill(r, sig);
    r->stage = TERMED;
    r->deadline = now + MIGRATE_KILL_GRACE_S * 1000;
}

static void supervise(struct run *r)
{
    while (!(r->exited && r->eof)) {
        int64_t now = now_ms();
        if (now >= r->deadline) {
            if (r->stage == KILLED || r->stage == DRAIN_KILLED)
                break;
            escalate(r, now);
            continue;
        }
        int64_t wait = r->deadline - now;
        struct pollfd p[3] = {
            {.fd = r->eof ? -1 : r->out, .events = POLLIN},
            {.fd = r->chld, .events = POLLIN},
            {.fd = signals_gate_fd(), .events = POLLIN},
        };
        int rc = poll(p, 3, wait > INT_MAX ? INT_MAX : (int)wait);
        if (rc < 0 && errno != EINTR)
            break;
        now = now_ms();
        if (p[0].revents)
            on_output(r);
        if (p[1].revents)
            on_child(r, now);
        if (p[2].revents)
            on_gate_signal(r, now);
    }
    group_kill(r, SIGKILL); /* nothing of the group outlives the step */
    if (!r->exited && waitpid(r->pid, &r->status, 0) == r->pid)
        r->exited = true;
}

static int block_sigchld(sigset_t *saved)
{
    sigset_t s;
    sigprocmask(SIG_BLOCK, NULL, saved);
    sigemptyset(&s);
    sigaddset(&s, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &s, saved) != 0)
        return -1;
    return signalfd(-1, &s, SFD_NONBLOCK | SFD_CLOEXEC);
}

static enum migrate_rc outcome(struct run *r, long timeout_s, struct migrate_result *res, struct err *e)
{
    if (WIFEXITED(r->status))
        res->exit_code = WEXITSTATUS(r->status);
    else if (WIFSIGNALED(r->status))
        res->exit_code = 128 + WTERMSIG(r->status);
    if (r->signal) {
        err_set(e, "interrupted by %s", signals_name(r->signal));
        return MIG_INTERRUPTED;
    }
    if (r->timed_out) {
        err_set(e, "migration command timed out after %lds; its process group was killed", timeout_s);
        return MIG_FAILED;
    }
    if (WIFSIGNALED(r->status)) {
        err_set(e, "migration command killed by signal %d (%s)", WTERMSIG(r->status),
                signals_name(WTERMSIG(r->status)));
        return MIG_FAILED;
    }
    if (res->exit_code != 0) {
        err_set(e, "migration command exited with code %d", res->exit_code);
        return MIG_FAILED;
    }
    return MIG_OK;
}

enum migrate_rc migrate_run(char *const argv[], long timeout_s, struct migrate_result *res, struct err *e)
{
    memset(res, 0, sizeof *res);
    res->exit_code = -1;
    int64_t start = now_ms();
    int fds[2];
    sigset_t saved;
    if (pipe2(fds, O_CLOEXEC) != 0) {
        err_set(e, "cannot create a pipe for the migration command: %s", strerror(errno));
        return MIG_FAILED;
    }
    struct run *r = xcalloc(1, sizeof *r);
    r->out = fds[0];
    r->out_lines = lines_new("migrate");
    r->chld = block_sigchld(&saved);
    r->deadline = timeout_s ? start + timeout_s * 1000 : INT64_MAX;
    r->pid = r->chld < 0 ? -1 : spawn(argv, fds[1], e);
    close(fds[1]);
    enum migrate_rc rc = MIG_FAILED;
    if (r->chld < 0)
        err_set(e, "cannot watch the migration command: %s", strerror(errno));
    if (r->pid > 0) {
        res->ran = true;
        supervise(r);
        lines_flush(r->out_lines);
        rc = outcome(r, timeout_s, res, e);
    }
    lines_take_tail(r->out_lines, &res->tail);
    lines_free(r->out_lines);
    res->timed_out = r->timed_out;
    res->duration_ms = now_ms() - start;
    close(r->out);
    if (r->chld >= 0)
        close(r->chld);
    sigprocmask(SIG_SETMASK, &saved, NULL);
    free(r);
    return rc;
}

void migrate_result_free(struct migrate_result *r)
{
    strlist_free(&r->tail);
}
