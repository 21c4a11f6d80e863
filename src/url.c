#include "url.h"
#include "edge.h"
#include "redact.h"
#include "util.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

static void register_credentials(const char *userinfo, size_t len)
{
    const char *colon = memchr(userinfo, ':', len);
    redact_add_userinfo(userinfo, len);
    if (!colon)
        return;
    const char *pw = colon + 1, *end = userinfo + len;
    redact_add_url_part(pw, (size_t)(end - pw));
    /* libpq may split an unencoded '/' password into host and port and
     * quote a piece back ("invalid port"): mask the pieces too. */
    for (const char *p = pw; p < end;) {
        size_t n = strcspn(p, "/");
        if (p + n > end)
            n = (size_t)(end - p);
        redact_add_url_part(p, n);
        p += n + 1;
    }
}

static void register_params(const char *params)
{
    for (const char *p = params; *p;) {
        size_t n = strcspn(p, "&"), k = strcspn(p, "=");
        if (k < n) {
            char *key = url_decode(p, k);
            if (strcmp(key, "password") == 0) {
                redact_add_url_part(p + k + 1, n - k - 1);
                redact_add_url_part(p + k + 1, strcspn(p + k + 1, "&#"));
            }
            free(key);
        }
        p += n + (p[n] == '&');
    }
}

/* password= in the query, with the key percent-decoded as libpq does; from
 * every '?', as a malformed URL may hold several. */
static void register_query_passwords(const char *rest)
{
    for (const char *q = strchr(rest, '?'); q; q = strchr(q + 1, '?'))
        register_params(q + 1);
}

/* Registers every reading of the credentials before libpq sees the string,
 * so that its parse errors (which quote pieces of the input) are masked:
 * libpq's own (the userinfo ends at the first '@' met before any '/') and the
 * one a user with an unencoded '/', '?', '#' or '@' in the password meant
 * (up to the last '@'). */
static void register_uri_secrets(const char *rest)
{
    size_t first = strcspn(rest, "@/");
    if (rest[first] == '@')
        register_credentials(rest, first);
    const char *last = strrchr(rest, '@');
    if (last)
        register_credentials(rest, (size_t)(last - rest));
    register_query_passwords(rest);
}

/* password=VALUE in key=value conninfo, read as libpq reads it: blanks
 * around '=', a quoted value ending at the first unescaped quote, an unquoted
 * one at a blank, a backslash escaping the next byte in both. The value as
 * written and as read are registered, whatever their length. */
static void register_kv_secrets(const char *s)
{
    for (const char *q = strstr(s, "password"); q; q = strstr(q + 1, "password")) {
        const char *v = q + strlen("password");
        while (isspace((unsigned char)*v))
            v++;
        if (*v != '=')
            continue;
        v++;
        while (isspace((unsigned char)*v))
            v++;
        bool quoted = *v == '\'';
        v += quoted;
        char *val = xmalloc(strlen(v) + 1);
        size_t n = 0;
        const char *p = v;
        for (; *p && (quoted ? *p != '\'' : !isspace((unsigned char)*p)); p++) {
            if (*p == '\\' && p[1])
                p++;
            val[n++] = *p;
        }
        redact_add_password(v, (size_t)(p - v));
        redact_add_password(val, n);
        free(val);
    }
}

/* scheme:// prefixes: returns the length of the prefix to replace and sets
 * *driver when SQLAlchemy's +DRIVER suffix is present; 0 when not a URL. */
static size_t scheme_len(const char *s, char **driver, char **scheme)
{
    /* Anything shaped "word://" is a URL, valid scheme or not, so that its
     * userinfo is registered as a secret before any message can quote it. */
    const char *sep = strstr(s, "://");
    if (!sep || sep == s)
        return 0;
    for (const char *p = s; p < sep; p++)
        if (*p == '=' || isspace((unsigned char)*p))
            return 0;
    *scheme = xstrndup(s, (size_t)(sep - s));
    char *plus = strchr(*scheme, '+');
    if (plus) {
        *driver = xstrdup(plus + 1);
        *plus = '\0';
    }
    return (size_t)(sep - s) + 3;
}

static char *trim(const char *in)
{
    while (isspace((unsigned char)*in))
        in++;
    size_t n = strlen(in);
    while (n && isspace((unsigned char)in[n - 1]))
        n--;
    return xstrndup(in, n);
}

static char *to_conninfo(const char *s, const char *varname, char **driver, struct err *e)
{
    char *scheme = NULL;
    size_t plen = scheme_len(s, driver, &scheme);
    if (plen == 0) {
        if (!strchr(s, '=')) {
            err_set(e, "%s is not a PostgreSQL URL (postgres://, postgresql://, "
                       "postgresql+DRIVER://) nor key=value conninfo", varname);
            return NULL;
        }
        register_kv_secrets(s);
        /* A URL quoted inside key=value text still carries credentials. */
        for (const char *u = strstr(s, "://"); u; u = strstr(u + 3, "://"))
            register_uri_secrets(u + 3);
        return xstrdup(s);
    }
    register_uri_secrets(s + plen);
    bool ok = strcmp(scheme, "postgres") == 0 || strcmp(scheme, "postgresql") == 0;
    for (const char *d = *driver; ok && d && *d; d++)
        ok = isalnum((unsigned char)*d) || *d == '_';
    if (!ok || (*driver && !**driver)) {
        char *sch = edge_clip(scheme, 32), *drv = edge_clip(*driver ? *driver : "", 32);
        err_set(e, "%s has unsupported scheme '%s%s%s://' (expected postgres://, "
                   "postgresql:// or postgresql+DRIVER://)",
                varname, sch, *driver ? "+" : "", drv);
        free(sch);
        free(drv);
        free(scheme);
        return NULL;
    }
    free(scheme);
    return xasprintf("postgresql://%s", s + plen);
}

const char *url_opt(const PQconninfoOption *o, const char *key)
{
    for (; o && o->keyword; o++)
        if (strcmp(o->keyword, key) == 0)
            return (o->val && *o->val) ? o->val : NULL;
    return NULL;
}

char *url_value(const char *conninfo, const char *key)
{
    PQconninfoOption *o = PQconninfoParse(conninfo, NULL);
    const char *v = url_opt(o, key);
    char *out = v ? xstrdup(v) : NULL;
    PQconninfoFree(o);
    return out;
}

/* A Unix-socket directory is written percent-encoded, as in a URL. */
static void append_host(char **out, const char *host)
{
    char *cur = *out;
    size_t n = strlen(cur);
    cur = xrealloc(cur, n + strlen(host) * 3 + 3);
    char *p = cur + n;
    bool v6 = strchr(host, ':') && !strchr(host, ',') && host[0] != '/';
    if (v6)
        *p++ = '[';
    for (const char *h = host; *h; h++) {
        if (*h == '/') {
            memcpy(p, "%2F", 3);
            p += 3;
        } else {
            *p++ = *h;
        }
    }
    if (v6)
        *p++ = ']';
    *p = '\0';
    *out = cur;
}

/* libpq checks ports only when it connects, where waiting cannot heal a
 * typo: refuse it now, as configuration. */
static bool ports_valid(const char *ports)
{
    for (const char *p = ports; p && *p;) {
        size_t n = strcspn(p, ",");
        char *end;
        long v = n ? strtol(p, &end, 10) : 0;
        if (n && (end != p + n || v < 1 || v > 65535 || !isdigit((unsigned char)*p)))
            return false;
        p += n + (p[n] == ',');
    }
    return true;
}

/* Options libpq checks only when connecting; a bad value is a typo that no
 * wait heals, so it is refused here as configuration. */
static const char *bad_enum_option(PQconninfoOption *o)
{
    static const struct { const char *key, *values; } enums[] = {
        {"sslmode", ",disable,allow,prefer,require,verify-ca,verify-full,"},
        {"gssencmode", ",disable,prefer,require,"},
        {"channel_binding", ",disable,prefer,require,"},
        {"target_session_attrs", ",any,read-write,read-only,primary,standby,prefer-standby,"},
    };
    for (size_t i = 0; i < sizeof enums / sizeof enums[0]; i++) {
        const char *v = url_opt(o, enums[i].key);
        if (!v)
            continue;
        char *needle = xasprintf(",%s,", v);
        bool known = !strchr(v, ',') && strstr(enums[i].values, needle);
        free(needle);
        if (!known)
            return enums[i].key;
    }
    return NULL;
}

static char *display_form(PQconninfoOption *o)
{
    const char *host = url_opt(o, "host") ? url_opt(o, "host") : url_opt(o, "hostaddr");
    const char *port = url_opt(o, "port");
    const char *db = url_opt(o, "dbname");
    const char *ssl = url_opt(o, "sslmode");
    bool creds = url_opt(o, "user") || url_opt(o, "password");
    char *out = xstrdup(creds ? "postgresql://" REDACTED "@" : "postgresql://");
    if (host)
        append_host(&out, host);
    char *tail = xasprintf("%s%s/%s%s%s", port ? ":" : "", port ? port : "",
                           db ? db : "", ssl ? "?sslmode=" : "", ssl ? ssl : "");
    char *all = xasprintf("%s%s", out, tail);
    free(out);
    free(tail);
    return all;
}

int url_normalise(const char *in, const char *varname, struct dburl *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    char *s = trim(in ? in : "");
    if (!*s) {
        err_set(e, "%s is empty", varname);
        free(s);
        return -1;
    }
    char *conninfo = to_conninfo(s, varname, &out->driver, e);
    free(s);
    if (!conninfo) {
        url_free(out);
        return -1;
    }
    char *perr = NULL;
    PQconninfoOption *o = PQconninfoParse(conninfo, &perr);
    if (!o) {
        err_set(e, "%s is not valid: %s", varname, perr ? perr : "out of memory");
        PQfreemem(perr);
        free(conninfo);
        url_free(out);
        return -1;
    }
    if (url_opt(o, "password"))
        redact_add_password(url_opt(o, "password"), strlen(url_opt(o, "password")));
    const char *bad = bad_enum_option(o);
    if (bad || !ports_valid(url_opt(o, "port"))) {
        /* Clipped after redaction: a cut must not leave a secret's piece. */
        char *v = edge_clip(url_opt(o, bad ? bad : "port"), 40);
        err_set(e, "%s has an invalid %s '%s'", varname, bad ? bad : "port", v);
        free(v);
        PQconninfoFree(o);
        free(conninfo);
        url_free(out);
        return -1;
    }
    out->conninfo = conninfo;
    out->display = display_form(o);
    PQconninfoFree(o);
    return 0;
}

void url_free(struct dburl *u)
{
    free(u->conninfo);
    free(u->display);
    free(u->driver);
    memset(u, 0, sizeof *u);
}
