#include "log.h"
#include "edge.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum level { L_INFO, L_WARNING, L_ERROR };

static const char *const level_name[] = {"info", "warning", "error"};
static const char *current_phase = "config";
static bool json;
static int log_fd = STDERR_FILENO;

void log_set_fd(int fd)
{
    log_fd = fd;
}

void log_set_json(bool on)
{
    json = on;
}

bool log_is_json(void)
{
    return json;
}

void log_phase(const char *phase)
{
    current_phase = phase;
}

static void write_all(const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(log_fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* stderr gone: nothing better to do than go on quietly */
        p += w;
        n -= (size_t)w;
    }
}

/* One event: its text line "<pre><body><post>", or its JSON object. */
struct event {
    enum level level;
    const char *pre, *post; /* the text format's decoration */
    const char *stream;     /* NULL but for a child's output */
};

static void write_text(const struct event *ev, const char *body, size_t len)
{
    size_t pl = strlen(ev->pre), ql = strlen(ev->post), n;
    char *raw = xmalloc(pl + len + ql + 1);
    memcpy(raw, ev->pre, pl);
    memcpy(raw + pl, body, len);
    memcpy(raw + pl + len, ev->post, ql);
    char *line = edge_clean(raw, pl + len + ql, EDGE_LINE, &n);
    free(raw);
    line = xrealloc(line, n + 2);
    line[n++] = '\n';
    write_all(line, n);
    free(line);
}

static void write_json(const struct event *ev, const char *body, size_t len)
{
    char now[32];
    iso8601_ms(wall_ms(), now, sizeof now);
    char *msg = edge_clean(body, len, EDGE_LINE, NULL);
    char *qmsg = edge_json_string(msg), *qphase = edge_json_string(current_phase);
    char *qstream = ev->stream ? edge_json_string(ev->stream) : NULL;
    char *obj = xasprintf("{\"time\":\"%s\",\"level\":\"%s\",\"phase\":%s,\"msg\":%s%s%s}\n", now,
                          level_name[ev->level], qphase, qmsg, qstream ? ",\"stream\":" : "",
                          qstream ? qstream : "");
    write_all(obj, strlen(obj));
    free(obj);
    free(qstream);
    free(qphase);
    free(qmsg);
    free(msg);
}

static void emit(const struct event *ev, const char *body, size_t len)
{
    if (json)
        write_json(ev, body, len);
    else
        write_text(ev, body, len);
}

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

enum kind { K_BANNER, K_NOTE, K_WARN, K_PLAIN, K_ERROR };

/* The level and decoration of each kind; the JSON msg drops what the level
 * already says ("warning: " of a note). */
static void log_body(enum kind k, const char *body)
{
    struct event ev = {L_INFO, "", "", NULL};
    const char *drop = NULL;
    switch (k) {
    case K_BANNER:
        ev.level = starts(body, "FAILED") ? L_ERROR : starts(body, "RECOVERED") ? L_WARNING : L_INFO;
        ev.pre = "=== MIGRATION SENTRY: ";
        ev.post = " ===";
        break;
    case K_NOTE:
        ev.level = starts(body, "warning: ") ? L_WARNING : L_INFO;
        ev.pre = "[SENTRY] ";
        drop = "warning: ";
        break;
    case K_WARN:
        ev.level = L_WARNING;
        ev.pre = "[SENTRY] warning: ";
        break;
    case K_PLAIN:
        break;
    case K_ERROR:
        ev.level = L_ERROR;
        ev.pre = "[SENTRY] error: ";
        break;
    }
    if (json && drop && starts(body, drop))
        body += strlen(drop);
    emit(&ev, body, strlen(body));
}

__attribute__((format(printf, 2, 0)))
static void vlog(enum kind k, const char *fmt, va_list ap)
{
    char *body = xvasprintf(fmt, ap);
    log_body(k, body);
    free(body);
}

void log_banner(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(K_BANNER, fmt, ap);
    va_end(ap);
}

void log_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(K_NOTE, fmt, ap);
    va_end(ap);
}

void log_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(K_WARN, fmt, ap);
    va_end(ap);
}

void log_plain(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(K_PLAIN, fmt, ap);
    va_end(ap);
}

void log_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(K_ERROR, fmt, ap);
    va_end(ap);
}

void log_stream(const char *stream, const char *line, size_t len)
{
    char *pre = xasprintf("[%s] ", stream);
    struct event ev = {L_INFO, pre, "", stream};
    emit(&ev, line, len);
    free(pre);
}

/* A server notice ("NOTICE:  ...", "WARNING:  ..."). */
void log_output(const char *prefix, const char *line, size_t len)
{
    bool warning = len >= 8 && strncmp(line, "WARNING:", 8) == 0;
    struct event ev = {warning ? L_WARNING : L_INFO, prefix, "", NULL};
    emit(&ev, line, len);
}
