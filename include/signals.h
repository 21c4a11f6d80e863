/* signals: the sentry's signal dispositions and the gate's view of TERM,
 * INT, HUP and QUIT.
 * signals_init, first thing in main: SIGPIPE is ignored, so that a log
 * reader gone away (stderr closed) is a failed write, not the sentry's
 * death; the disposition it inherited is remembered for the children.
 * While the gate runs, TERM, INT, HUP and QUIT are blocked and read from a
 * signalfd that loop_wait watches, so every wait in the gate can stop
 * cleanly; the first one caught is remembered for the status file and the
 * 128+N exit code. A signal the sentry inherited as ignored (nohup's HUP,
 * a shell's & for INT and QUIT) stays ignored, as the one who started it
 * asked.
 * Children call signals_child_reset() between fork and exec: they start
 * with an empty signal mask and the dispositions the sentry inherited. */
#ifndef SENTRY_SIGNALS_H
#define SENTRY_SIGNALS_H

#include <stdbool.h>

/* pipe_ignored: how SIGPIPE was inherited, when the caller knows better
 * than the current disposition (the re-executed supervisor, whose parent
 * image already ignored it); -1: take it from the current disposition. */
void signals_init(int pipe_ignored);
/* Whether SIGPIPE was inherited as ignored (for the re-exec). */
bool signals_pipe_inherited_ignored(void);
/* 0, or -1 with errno set. */
int signals_gate_begin(void);
/* The signalfd to poll, or -1 before signals_gate_begin. */
int signals_gate_fd(void);
/* Reads pending gate signals; returns the first signal ever caught, or 0. */
int signals_gate_check(void);
/* Closes the signalfd. The gate's signals stay blocked, so that one arriving
 * now waits for the supervisor (which forwards it) instead of killing the
 * sentry; whatever starts a command clears the mask in it. */
void signals_gate_end(void);
void signals_child_reset(void);
/* "SIGTERM", "SIGRTMIN+3", or "signal 99": names for messages. */
const char *signals_name(int sig);

#endif
