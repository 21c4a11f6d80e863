#include "supervise.h"
#include "log.h"
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
    signals_child_reset();
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
    char **args = xcalloc(n + 4, sizeof *args);
    args[0] = "migration-sentry";
    args[1] = xasprintf(SUPERVISE_FLAG "%ld", grace_s);
    args[2] = "--";
    memcpy(args + 3, argv, n * sizeof *args);
    execv("/proc/self/exe", args);
    log_note("cannot re-execute as a bare supervisor (%s); supervising in place", strerror(errno));
    free(args[1]);
    free(args);
}

/* The child reports a failed exec through a close-on-exec pipe: nothing
 * arrives when exec worked, errno when it did not. */
static pid_t spawn(char *const argv[], int *exec_errno)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        setpgid(0, 0);
        /* SIGTTOU is still blocked here, so taking the terminal cannot stop us. */
        if (isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgid(getppid()))
            (void)tcsetpgrp(STDIN_FILENO, getpid());
        signals_child_reset();
        execvp(argv[0], argv);
        int err = errno;
        ssize_t w = write(p[1], &err, sizeof err);
        (void)w;
        _exit(err == ENOENT ? 127 : 126);
    }
    close(p[1]);
    if (pid > 0) {
        setpgid(pid, pid);
        int err = 0;
        ssize_t n;
        do
            n = read(p[0], &err, sizeof err);
        while (n < 0 && errno == EINTR);
        *exec_errno = n == (ssize_t)sizeof err ? err : 0;
    }
    close(p[0]);
    return pid;
}

/* Reaps every zombie; returns true when `child` was among them. */
static bool reap(pid_t child, int *status)
{
    bool found = false;
    for (;;) {
        int st;
        pid_t p = waitpid(-1, &st, WNOHANG);
        if (p <= 0)
            return found;
        if (p == child) {
            *status = st;
            found = true;
        }
    }
}

static void forward(pid_t child, int sig)
{
    if (kill(child, sig) != 0 && errno != ESRCH)
        log_note("cannot forward %s: %s", signals_name(sig), strerror(errno));
}

/* As a subreaper (not PID 1) kill(-1) would reach far beyond our own tree,
 * so only the processes whose parent we are get the signal. */
static void signal_leftovers(int sig)
{
    if (getpid() == 1) {
        if (kill(-1, sig) != 0 && errno != ESRCH)
            log_note("cannot signal leftovers: %s", strerror(errno));
        return;
    }
    DIR *d = opendir("/proc");
    if (!d)
        return;
    pid_t self = getpid();
    struct dirent *de;
    while ((de = readdir(d))) {
        int pid = atoi(de->d_name);
        if (pid <= 0)
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *rp = strrchr(buf, ')');
        int ppid = 0;
        if (rp && sscanf(rp + 1, " %*c %d", &ppid) == 1 && ppid == self)
            kill(pid, sig);
    }
    closedir(d);
}

static bool children_left(void)
{
    pid_t p = waitpid(-1, NULL, WNOHANG);
    return p != -1 || errno != ECHILD;
}

static void finish_leftovers(int sfd, long grace_s)
{
    int status;
    reap(-1, &status);
    if (!children_left())
        return;
    log_note("command exited; giving the processes left %lds after SIGTERM", grace_s);
    signal_leftovers(SIGTERM);
    signal_leftovers(SIGCONT);
    int64_t deadline = now_ms() + grace_s * 1000;
    while (children_left() && now_ms() < deadline) {
        struct pollfd p = {.fd = sfd, .events = POLLIN};
        /* One read per wake-up: the descriptor blocks, and poll says
         * there is at least one signal to take. */
        if (poll(&p, 1, (int)(deadline - now_ms())) > 0) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof si) < 0 && errno != EINTR)
                break;
        }
        reap(-1, &status);
    }
    if (children_left()) {
        log_note("processes still left after %lds: SIGKILL", grace_s);
        signal_leftovers(SIGKILL);
        while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
            ;
    }
}

static int loop(int sfd, pid_t child)
{
    int status = 0;
    for (;;) {
        struct signalfd_siginfo si;
        ssize_t n = read(sfd, &si, sizeof si);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof si)
            return -1;
        if (si.ssi_signo == SIGCHLD) {
            if (reap(child, &status))
                return status;
        } else {
            forward(child, (int)si.ssi_signo);
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
    int exec_errno = 0;
    pid_t child = sfd < 0 ? -1 : spawn(argv, &exec_errno);
    if (child < 0) {
        err_set(e, "cannot start %s: %s", argv[0], strerror(errno));
        return -1;
    }
    if (exec_errno) {
        exec_failed(argv[0], exec_errno, r, e);
        int st;
        waitpid(child, &st, 0);
        close(sfd);
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
