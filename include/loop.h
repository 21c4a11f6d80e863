/* loop: the gate's one way to wait. Every wait of the gate (a socket to
 * become readable or writable, the migration command's output, a backoff
 * pause, a deadline) goes through loop_wait, which also watches the gate's
 * signals, so that a TERM is acted on within a second whatever the gate is
 * waiting for. Deadlines are now_ms() values (the monotonic clock);
 * LOOP_FOREVER means none. */
#ifndef SENTRY_LOOP_H
#define SENTRY_LOOP_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#define LOOP_FOREVER INT64_MAX
#define LOOP_MAX_FDS 8

enum wait_rc { WAIT_READY, WAIT_TIMEOUT, WAIT_SIGNAL };

/* Waits until one of fds[0..n) is ready (revents set; fd < 0 entries are
 * ignored), the deadline passes, or, with `signals` true, a gate signal is
 * pending (one caught earlier counts: the gate is stopping). Waits that must
 * finish after a signal (releasing the lock, killing the migration) pass
 * false, and are bounded by their deadline. */
enum wait_rc loop_wait(struct pollfd *fds, size_t n, int64_t deadline, int signals);
/* A pause: WAIT_TIMEOUT when it passed, WAIT_SIGNAL when a signal ended it. */
enum wait_rc loop_sleep(int64_t deadline);
/* The deadline ms milliseconds from now (LOOP_FOREVER for a negative ms). */
int64_t loop_after(int64_t ms);

#endif
