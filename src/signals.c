#include "signals.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

static int sfd = -1;
static int caught;
static sigset_t gate_set;
static bool pipe_was_ignored;

void signals_init(int pipe_ignored)
{
    struct sigaction old, ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    if (sigaction(SIGPIPE, &ign, &old) == 0)
        pipe_was_ignored = pipe_ignored >= 0 ? pipe_ignored != 0 : old.sa_handler == SIG_IGN;
}

bool signals_pipe_inherited_ignored(void)
{
    return pipe_was_ignored;
}

int signals_gate_begin(void)
{
    sigemptyset(&gate_set);
    sigaddset(&gate_set, SIGTERM);
    sigaddset(&gate_set, SIGINT);
    sigaddset(&gate_set, SIGHUP);
    sigaddset(&gate_set, SIGQUIT);
    if (sigprocmask(SIG_BLOCK, &gate_set, NULL) != 0)
        return -1;
    sfd = signalfd(-1, &gate_set, SFD_NONBLOCK | SFD_CLOEXEC);
    return sfd < 0 ? -1 : 0;
}

int signals_gate_fd(void)
{
    return sfd;
}

int signals_gate_check(void)
{
    struct signalfd_siginfo si;
    while (sfd >= 0) {
        ssize_t n = read(sfd, &si, sizeof si);
        if (n != (ssize_t)sizeof si)
            break;
        if (!caught)
            caught = (int)si.ssi_signo;
    }
    return caught;
}

void signals_gate_end(void)
{
    if (sfd >= 0) {
        close(sfd);
        sfd = -1;
    }
}

void signals_child_reset(void)
{
    sigset_t none;
    sigemptyset(&none);
    if (!pipe_was_ignored)
        signal(SIGPIPE, SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

const char *signals_name(int sig)
{
    static const struct { int sig; const char *name; } names[] = {
        {SIGHUP, "SIGHUP"}, {SIGINT, "SIGINT"}, {SIGQUIT, "SIGQUIT"}, {SIGILL, "SIGILL"},
        {SIGTRAP, "SIGTRAP"}, {SIGABRT, "SIGABRT"}, {SIGBUS, "SIGBUS"}, {SIGFPE, "SIGFPE"},
        {SIGKILL, "SIGKILL"}, {SIGUSR1, "SIGUSR1"}, {SIGSEGV, "SIGSEGV"}, {SIGUSR2, "SIGUSR2"},
        {SIGPIPE, "SIGPIPE"}, {SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"}, {SIGCHLD, "SIGCHLD"},
        {SIGCONT, "SIGCONT"}, {SIGSTOP, "SIGSTOP"}, {SIGTSTP, "SIGTSTP"}, {SIGTTIN, "SIGTTIN"},
        {SIGTTOU, "SIGTTOU"}, {SIGURG, "SIGURG"}, {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"},
        {SIGVTALRM, "SIGVTALRM"}, {SIGPROF, "SIGPROF"}, {SIGWINCH, "SIGWINCH"}, {SIGIO, "SIGIO"},
        {SIGPWR, "SIGPWR"}, {SIGSYS, "SIGSYS"},
    };
    static char buf[32];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].sig == sig)
            return names[i].name;
    if (sig >= SIGRTMIN && sig <= SIGRTMAX)
        snprintf(buf, sizeof buf, "SIGRTMIN+%d", sig - SIGRTMIN);
    else
        snprintf(buf, sizeof buf, "signal %d", sig);
    return buf;
}
