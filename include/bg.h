/* bg: a blocking library call the gate cannot make non-blocking (libc's
 * getaddrinfo, libpq's PQcancel) run in a thread of its own, waited for with
 * a deadline and the gate's signals through loop_wait. When the wait ends
 * first, the thread is abandoned: it finishes (or not) on its own, and the
 * last of the two to let go frees the job. The process ends or execs soon
 * enough that an abandoned thread never matters. */
#ifndef SENTRY_BG_H
#define SENTRY_BG_H

#include <stdint.h>
#include "loop.h"

struct bg_job;

/* Starts fn(arg) in a thread; NULL when no thread could be started (the
 * caller then calls fn itself). */
struct bg_job *bg_start(void (*fn)(void *arg), void *arg, void (*free_arg)(void *arg));
/* WAIT_READY: fn returned, and arg is the caller's again. Otherwise the job
 * is abandoned to the thread, and arg with it: free_arg(arg) is called once
 * the thread is done with it; the caller must not touch arg again. */
enum wait_rc bg_wait(struct bg_job *job, int64_t deadline, int signals);

#endif
