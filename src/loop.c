#include "loop.h"
#include "signals.h"
#include "util.h"

#include <errno.h>
#include <limits.h>

int64_t loop_after(int64_t ms)
{
    int64_t now = now_ms();
    return ms < 0 || ms > LOOP_FOREVER - now ? LOOP_FOREVER : now + ms;
}

static int poll_timeout(int64_t deadline)
{
    if (deadline == LOOP_FOREVER)
        return -1;
    int64_t left = deadline - now_ms();
    return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

enum wait_rc loop_wait(struct pollfd *fds, size_t n, int64_t deadline, int signals)
{
    struct pollfd p[LOOP_MAX_FDS + 1];
    size_t k = 0;
    for (size_t i = 0; i < n && k < LOOP_MAX_FDS; i++) {
        fds[i].revents = 0;
        p[k++] = fds[i];
    }
    int sfd = signals ? signals_gate_fd() : -1;
    p[k] = (struct pollfd){.fd = sfd, .events = POLLIN};
    for (;;) {
        if (signals && signals_gate_check())
            return WAIT_SIGNAL;
        int rc = poll(p, k + 1, poll_timeout(deadline));
        if (rc < 0 && errno != EINTR && errno != EAGAIN)
            return WAIT_TIMEOUT; /* poll itself failing is unheard of; do not spin */
        if (rc > 0 && p[k].revents && signals && signals_gate_check())
            return WAIT_SIGNAL;
        if (rc > 0) {
            bool any = false;
            for (size_t i = 0; i < k; i++)
                any |= (fds[i].revents = p[i].revents) != 0;
            if (any)
                return WAIT_READY;
        }
        if (now_ms() >= deadline)
            return WAIT_TIMEOUT;
    }
}

enum wait_rc loop_sleep(int64_t deadline)
{
    return loop_wait(NULL, 0, deadline, 1) == WAIT_SIGNAL ? WAIT_SIGNAL : WAIT_TIMEOUT;
}
