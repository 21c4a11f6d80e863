#include "child.h"
#include "loop.h"
#include "signals.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Between fork and exec only async-signal-safe calls: the sentry may have
 * threads (an abandoned name lookup), whose locks a fork copies held. */

static void set_stdio(const struct child_spec *s)
{
    if ((s->in >= 0 && dup2(s->in, STDIN_FILENO) < 0) || (s->out >= 0 && dup2(s->out, STDOUT_FILENO) < 0) ||
        (s->err >= 0 && dup2(s->err, STDERR_FILENO) < 0))
        _exit(126);
}

/* The program itself, in a process whose parent is `parent`. */
static void run_program(const struct child_spec *s, pid_t parent, int report)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(126); /* its parent is gone already: nothing to run for */
    signals_child_reset();
    if (s->envp)
        environ = (char **)s->envp;
    execvp(s->argv[0], s->argv);
    int err = errno;
    ssize_t w = write(report, &err, sizeof err);
    (void)w;
    _exit(err == ENOENT ? 127 : 126);
}

static void become(const struct child_spec *s, pid_t parent, int report)
{
    setpgid(0, 0);
    /* SIGTTOU is still blocked here, so taking the terminal cannot stop us. */
    if (s->take_terminal && isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgid(parent))
        (void)tcsetpgrp(STDIN_FILENO, getpid());
    set_stdio(s);
    run_program(s, parent, report);
}

/* Ends the guard the way its program ended, so that the sentry reads the
 * program's status as its own child's. */
static void exit_like(int status)
{
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, sig);
        signal(sig, SIG_DFL);
        raise(sig);
        sigprocmask(SIG_UNBLOCK, &one, NULL);
        _exit(128 + sig);
    }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 126);
}

/* The guard: a process of ours that leads the program's process group and
 * outlives nothing. PR_SET_PDEATHSIG reaches only a direct child, so a
 * program that starts others (`sh -c '...'`) would leave them running
 * without the sentry's lock if the sentry were killed. The guard holds the
 * read end of a pipe whose only writer is the sentry: when the sentry is
 * gone, for whatever reason, the pipe says so, and the guard kills the whole
 * group. It passes the program's exit status on as its own. */
static void guard(const struct child_spec *s, pid_t parent, int lifeline, int report)
{
    setpgid(0, 0);
    set_stdio(s);
    if (dup2(lifeline, 3) < 0 || dup2(report, 4) < 0 || fcntl(4, F_SETFD, FD_CLOEXEC) != 0)
        _exit(126);
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 5U, ~0U, 0) != 0)
#endif
        for (int fd = 5; fd < 4096; fd++)
            close(fd); /* the sentry's database socket must not live on in here */
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL); /* the group's signals are the program's */
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    pid_t me = getpid(), pid = sfd < 0 || getppid() != parent ? -1 : fork();
    if (pid == 0) {
        close(3);
        run_program(s, me, 4);
    }
    close(4);
    for (int status; pid > 0;) {
        struct pollfd p[2] = {{.fd = 3, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[0].revents) /* the sentry is gone: so is everything it started */
            kill(0, SIGKILL);
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof si) > 0)
            ;
        if (waitpid(pid, &status, WNOHANG) == pid)
            exit_like(status);
    }
    kill(0, SIGKILL);
    _exit(126);
}

pid_t child_spawn(struct child_spec *s, int *exec_errno, struct err *e)
{
    *exec_errno = 0;
    s->lifeline = -1;
    int p[2], life[2] = {-1, -1};
    if (pipe2(p, O_CLOEXEC) != 0 || (s->guard && pipe2(life, O_CLOEXEC) != 0)) {
        err_set(e, "cannot start %s: %s", s->argv[0], strerror(errno));
        return -1;
    }
    pid_t parent = getpid(), pid = fork();
    if (pid == 0 && s->guard)
        guard(s, parent, life[0], p[1]);
    else if (pid == 0)
        become(s, parent, p[1]);
    int fork_errno = errno;
    close(p[1]);
    if (s->guard)
        close(life[0]);
    if (pid < 0) {
        close(p[0]);
        if (s->guard)
            close(life[1]);
        err_set(e, "cannot start %s: %s", s->argv[0], strerror(fork_errno));
        return -1;
    }
    s->lifeline = life[1];
    /* Both sides set the group, so that it exists before we may signal it;
     * EACCES (it has exec'd) means its own call came first. */
    (void)setpgid(pid, pid);
    int err = 0;
    ssize_t n;
    do
        n = read(p[0], &err, sizeof err);
    while (n < 0 && errno == EINTR);
    close(p[0]);
    if (n == (ssize_t)sizeof err) {
        *exec_errno = err;
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        child_release(s);
        err_set(e, "cannot run %s: %s", s->argv[0], strerror(err));
        return -1;
    }
    return pid;
}

void child_release(struct child_spec *s)
{
    if (s->lifeline >= 0)
        close(s->lifeline);
    s->lifeline = -1;
}

int child_watch_begin(void)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &s, NULL) != 0)
        return -1;
    return signalfd(-1, &s, SFD_NONBLOCK | SFD_CLOEXEC);
}

void child_watch_drain(int fd)
{
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof si) == (ssize_t)sizeof si)
        ;
}

void child_watch_end(int fd)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGCHLD);
    if (fd >= 0)
        close(fd);
    sigprocmask(SIG_UNBLOCK, &s, NULL);
}

bool child_reap(pid_t pid, int *status)
{
    bool found = false;
    for (;;) {
        int st;
        pid_t p = waitpid(-1, &st, WNOHANG);
        if (p < 0 && errno == EINTR)
            continue;
        if (p <= 0)
            return found;
        if (p == pid) {
            *status = st;
            found = true;
        }
    }
}

void child_signal_group(pid_t pgid, int sig)
{
    if (pgid > 0)
        (void)kill(-pgid, sig); /* ESRCH: the group is gone, which is what we wanted */
}

/* The parent of pid as /proc says, or 0. */
static pid_t parent_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *rp = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
    int ppid = 0;
    return rp && sscanf(rp + 1, " %*c %d", &ppid) == 1 ? (pid_t)ppid : 0;
}

struct proc { pid_t pid, ppid; };

static size_t list_processes(struct proc **out)
{
    DIR *d = opendir("/proc");
    size_t n = 0, cap = 0;
    *out = NULL;
    for (struct dirent *de; d && (de = readdir(d));) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        if (n == cap)
            *out = xrealloc(*out, (cap = cap ? cap * 2 : 64) * sizeof **out);
        (*out)[n++] = (struct proc){(pid_t)pid, parent_of((pid_t)pid)};
    }
    if (d)
        closedir(d);
    return n;
}

/* As PID 1 every process is ours. As a subreaper kill(-1) would reach far
 * beyond our own tree, so the tree is walked: every process whose chain of
 * parents leads to us, however deep. */
void child_signal_subtree(int sig)
{
    if (getpid() == 1) {
        (void)kill(-1, sig);
        return;
    }
    struct proc *p;
    size_t n = list_processes(&p);
    pid_t *todo = xmalloc((n + 1) * sizeof *todo);
    size_t head = 0, tail = 0;
    todo[tail++] = getpid();
    while (head < tail) {
        pid_t parent = todo[head++];
        for (size_t i = 0; i < n; i++) {
            if (p[i].ppid != parent || p[i].pid == parent)
                continue;
            (void)kill(p[i].pid, sig);
            todo[tail++] = p[i].pid;
            p[i].ppid = 0; /* listed once */
        }
    }
    free(todo);
    free(p);
}

bool child_any_left(void)
{
    int st;
    child_reap(-1, &st);
    pid_t p = waitpid(-1, NULL, WNOHANG);
    return p > 0 || (p == 0) || (p < 0 && errno != ECHILD);
}

bool child_wait_all(int64_t deadline)
{
    while (child_any_left()) {
        if (now_ms() >= deadline)
            return false;
        /* No SIGCHLD descriptor here: a short sleep between looks. */
        struct pollfd none = {.fd = -1};
        int64_t next = now_ms() + 20;
        loop_wait(&none, 1, next < deadline ? next : deadline, 0);
    }
    return true;
}
