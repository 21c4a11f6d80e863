#include "resolve.h"
#include "bg.h"
#include "url.h"
#include "util.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct lookup {
    struct strlist names;            /* host entries, as given */
    struct strlist ports;            /* one per entry, or one for all, or none */
    struct strlist host, addr, port; /* the answer: one entry per address */
    char *why;                       /* the last failure */
};

static void lookup_free(void *p)
{
    struct lookup *l = p;
    strlist_free(&l->names);
    strlist_free(&l->ports);
    strlist_free(&l->host);
    strlist_free(&l->addr);
    strlist_free(&l->port);
    free(l->why);
    free(l);
}

static bool numeric(const char *h)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

static void add(struct lookup *l, const char *host, const char *addr, const char *port)
{
    strlist_push(&l->host, host);
    strlist_push(&l->addr, addr);
    strlist_push(&l->port, port);
}

/* One entry: sockets and numbers as they are, a name as its addresses. */
static void look_up_one(struct lookup *l, const char *name, const char *port)
{
    if (!*name || name[0] == '/' || name[0] == '@' || numeric(name)) {
        add(l, name, "", port);
        return;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(name, NULL, &hints, &res);
    if (rc != 0 || !res) {
        free(l->why);
        l->why = xasprintf("could not translate host name \"%s\" to address: %s", name, gai_strerror(rc));
        return;
    }
    struct strlist seen = {0};
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        char ip[INET6_ADDRSTRLEN];
        const void *src = a->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
                                                  : (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
        if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) ||
            !inet_ntop(a->ai_family, src, ip, sizeof ip) || strlist_contains(&seen, ip))
            continue;
        strlist_push(&seen, ip);
        add(l, name, ip, port);
    }
    strlist_free(&seen);
    freeaddrinfo(res);
}

static void look_up(void *p)
{
    struct lookup *l = p;
    for (size_t i = 0; i < l->names.n; i++) {
        const char *port = l->ports.n == 0 ? "" : l->ports.n == 1 ? l->ports.v[0]
                         : i < l->ports.n ? l->ports.v[i] : "";
        look_up_one(l, l->names.v[i], port);
    }
}

static const char *opt(PQconninfoOption *o, const char *key, const char *env)
{
    const char *v = url_opt(o, key);
    if (v)
        return v;
    v = getenv(env);
    return v && *v ? v : NULL;
}

static void split_list(struct strlist *l, const char *s)
{
    for (const char *p = s;; p++) {
        size_t n = strcspn(p, ",");
        strlist_push_owned(l, xstrndup(p, n));
        p += n;
        if (!*p)
            break;
    }
}

/* The entries to look up, or NULL when libpq can be left alone. */
static struct lookup *plan(const char *conninfo)
{
    PQconninfoOption *o = PQconninfoParse(conninfo, NULL);
    const char *host = opt(o, "host", "PGHOST"), *port = opt(o, "port", "PGPORT");
    struct lookup *l = NULL;
    if (host && !opt(o, "hostaddr", "PGHOSTADDR")) {
        l = xcalloc(1, sizeof *l);
        split_list(&l->names, host);
        if (port)
            split_list(&l->ports, port);
        bool any_name = false;
        for (size_t i = 0; i < l->names.n; i++) {
            const char *h = l->names.v[i];
            any_name |= *h && h[0] != '/' && h[0] != '@' && !numeric(h);
        }
        if (!any_name) {
            lookup_free(l);
            l = NULL;
        }
    }
    PQconninfoFree(o);
    return l;
}

static enum resolve_rc answer(struct lookup *l, struct resolved *out, char **why)
{
    if (!l->addr.n) {
        *why = xstrdup(l->why ? l->why : "no address for the host");
        return RESOLVE_FAILED;
    }
    out->host = strlist_join(&l->host, ",");
    out->hostaddr = strlist_join(&l->addr, ",");
    out->port = l->ports.n ? strlist_join(&l->port, ",") : NULL;
    return RESOLVE_OK;
}

enum resolve_rc resolve_conninfo(const char *conninfo, int64_t deadline, struct resolved *out, char **why)
{
    memset(out, 0, sizeof *out);
    *why = NULL;
    struct lookup *l = plan(conninfo);
    if (!l)
        return RESOLVE_OK;
    /* Named now: once the job is abandoned, l belongs to its thread. */
    char *names = strlist_join(&l->names, ",");
    struct bg_job *job = bg_start(look_up, l, lookup_free);
    if (!job) {
        look_up(l); /* no thread to be had: look up in line, unbounded */
    } else {
        enum wait_rc w = bg_wait(job, deadline, 1);
        if (w != WAIT_READY) {
            *why = xasprintf("could not translate host name \"%s\" to address: "
                             "no answer from the resolver in time", names);
            free(names);
            return w == WAIT_SIGNAL ? RESOLVE_INTERRUPTED : RESOLVE_TIMEOUT;
        }
    }
    free(names);
    enum resolve_rc rc = answer(l, out, why);
    lookup_free(l);
    return rc;
}

void resolved_free(struct resolved *r)
{
    free(r->host);
    free(r->hostaddr);
    free(r->port);
    memset(r, 0, sizeof *r);
}
