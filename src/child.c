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
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* In the child, between fork and exec: only async-signal-safe calls. */
static void become(const struct child_spec *s, pid_t parent, int report)
{
    setpgid(0, 0);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(126); /* the sentry is gone already: nothing to run for */
    /* SIGTTOU is still blocked here, so taking the terminal cannot stop us. */
    if (s->take_terminal && isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgid(parent))
        (void)tcsetpgrp(STDIN_FILENO, getpid());
    if ((s->in >= 0 && dup2(s->in, STDIN_FILENO) < 0) || (s->out >= 0 && dup2(s->out, STDOUT_FILENO) < 0) ||
        (s->err >= 0 && dup2(s->err, STDERR_FILENO) < 0))
        _exit(126);
    signals_child_reset();
    if (s->envp)
        environ = (char **)s->envp;
    execvp(s->argv[0], s->argv);
    int err = errno;
    ssize_t w = write(report, &err, sizeof err);
    (void)w;
    _exit(err == ENOENT ? 127 : 126);
}

pid_t child_spawn(const struct child_spec *s, int *exec_errno, struct err *e)
{
    *exec_errno = 0;
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        err_set(e, "cannot start %s: %s", s->argv[0], strerror(errno));
        return -1;
    }
    pid_t parent = getpid(), pid = fork();
    if (pid == 0)
        become(s, parent, p[1]);
    int fork_errno = errno;
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        err_set(e, "cannot start %s: %s", s->argv[0], strerror(fork_errno));
        return -1;
    }
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
        err_set(e, "cannot run %s: %s", s->argv[0], strerror(err));
        return -1;
    }
    return pid;
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
