/* resolve: the database's host names looked up before libpq connects,
 * bounded by the connect deadline and interruptible by the gate's signals.
 * libpq resolves names synchronously inside PQconnectPoll, where a DNS
 * server that does not answer holds the process for the resolver's own
 * timeouts (glibc and musl: 5 s per try, several tries) deaf to SIGTERM. So
 * the names are looked up in an abandonable thread (bg.h) and libpq gets the
 * addresses as `hostaddr`, one host entry per address, with `host` kept for
 * TLS verification and messages. Sockets, numeric addresses and a given
 * hostaddr are left to libpq as they are. */
#ifndef SENTRY_RESOLVE_H
#define SENTRY_RESOLVE_H

#include <stdint.h>
#include "loop.h"

/* libpq parameters to add after the conninfo (each NULL when not to set). */
struct resolved {
    char *host, *hostaddr, *port;
};

enum resolve_rc {
    RESOLVE_OK,          /* out filled, or nothing to resolve (all NULL) */
    RESOLVE_FAILED,      /* no name resolved: why says so, in libpq's words */
    RESOLVE_TIMEOUT,     /* the deadline passed first */
    RESOLVE_INTERRUPTED, /* a gate signal */
};

enum resolve_rc resolve_conninfo(const char *conninfo, int64_t deadline, struct resolved *out,
                                 char **why);
void resolved_free(struct resolved *r);

#endif
