#include "out.h"
#include "edge.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int failed; /* the first write error, or 0 */
static bool stdout_closed;

void out_init(void)
{
    for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
            continue;
        /* The lowest free number: fd itself, the ones below being open. */
        int null = open("/dev/null", fd == STDIN_FILENO ? O_RDONLY : O_WRONLY);
        if (null >= 0 && null != fd) {
            dup2(null, fd);
            close(null);
        }
        if (fd == STDOUT_FILENO)
            stdout_closed = true;
    }
}

/* write(2) until done; a non-blocking descriptor is waited for. */
static int write_all(const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pf = {.fd = STDOUT_FILENO, .events = POLLOUT};
            if (poll(&pf, 1, -1) < 0 && errno != EINTR)
                return errno;
            continue;
        }
        if (w < 0)
            return errno;
        if (w == 0)
            return EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* SIGPIPE blocked, so that a reader gone is EPIPE; the signal that the
 * write raised is taken out of the pending set before the mask comes back. */
static int write_no_sigpipe(const char *p, size_t n)
{
    sigset_t pipe_set, saved, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    if (sigprocmask(SIG_BLOCK, &pipe_set, &saved) != 0)
        return errno;
    bool was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
    int rc = write_all(p, n);
    if (rc == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    sigprocmask(SIG_SETMASK, &saved, NULL);
    return rc;
}

void out_mem(const char *p, size_t n)
{
    if (failed)
        return;
    if (stdout_closed) {
        failed = EBADF;
        return;
    }
    size_t len;
    char *clean = edge_clean(p, n, EDGE_TEXT, &len);
    failed = write_no_sigpipe(clean, len);
    free(clean);
}

void out_text(const char *s)
{
    out_mem(s, strlen(s));
}

int out_finish(void)
{
    /* Nothing should use stdio's stdout, but if anything did, it counts. */
    if (fflush(stdout) != 0 && !failed)
        failed = errno ? errno : EIO;
    return failed;
}
