/* signals: the gate's view of TERM, INT, HUP and QUIT. While the gate runs
 * they are blocked and read from a signalfd, so every wait in the gate (the
 * backoff sleep, the lock wait, the migration command's output) can watch
 * for them in the same poll(2) and stop cleanly; the first one caught is
 * remembered for the status file and the 128+N exit code.
 * Children must call signals_child_reset() between fork and exec: they start
 * with an empty signal mask and the dispositions the sentry inherited. */
#ifndef SENTRY_SIGNALS_H
#define SENTRY_SIGNALS_H

#include <stdbool.h>

/* 0, or -1 with errno set. */
int signals_gate_begin(void);
/* The signalfd to poll, or -1 before signals_gate_begin. */
int signals_gate_fd(void);
/* Reads pending gate signals; returns the first signal ever caught, or 0. */
int signals_gate_check(void);
/* Sleeps up to ms milliseconds, returning early (with the signal) when one
 * arrives; 0 when the time passed quietly. */
int signals_gate_sleep(long ms);
/* Closes the signalfd. The gate's signals stay blocked, so that one arriving
 * now waits for the supervisor (which forwards it) instead of killing the
 * sentry; whatever starts a command clears the mask in it. */
void signals_gate_end(void);
void signals_child_reset(void);
/* "SIGTERM", "SIGRTMIN+3", or "signal 99": names for messages. */
const char *signals_name(int sig);

#endif
