/* url: turns the database setting into a libpq connection string, and into
 * the redacted form shown everywhere else.
 * Accepted: postgres://, postgresql://, SQLAlchemy's postgresql+DRIVER://
 * (the driver is dropped and reported in .driver), and key=value conninfo.
 * Anything else is refused with a message naming `varname`. The password,
 * in every spelling found, is registered with redact before anything can
 * print it. */
#ifndef SENTRY_URL_H
#define SENTRY_URL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include "err.h"

struct dburl {
    char *conninfo; /* what libpq gets */
    char *display;  /* postgresql://[masked]@host:port/db: no password */
    char *driver;   /* the SQLAlchemy driver dropped, or NULL */
};

/* 0 on success, -1 with e set. */
int url_normalise(const char *in, const char *varname, struct dburl *out, struct err *e);
void url_free(struct dburl *u);

/* A parsed conninfo's value for key, or NULL when absent or empty. */
const char *url_opt(const PQconninfoOption *o, const char *key);
/* The same from a conninfo string, newly allocated, or NULL. */
char *url_value(const char *conninfo, const char *key);

#endif
