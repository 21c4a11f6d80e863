#include "lines.h"
#include "edge.h"
#include "log.h"
#include "redact.h"

#include <stdlib.h>
#include <string.h>

struct lines {
    char *stream;
    char *buf;
    size_t len, cap;
    char *tail[LINES_TAIL]; /* a ring: next is the oldest once full */
    size_t next, count;
};

struct lines *lines_new(const char *stream)
{
    struct lines *l = xcalloc(1, sizeof *l);
    l->stream = xstrdup(stream);
    return l;
}

static void tail_push(struct lines *l, const char *p, size_t n)
{
    free(l->tail[l->next]);
    l->tail[l->next] = edge_clean(p, n, EDGE_LINE, NULL);
    l->next = (l->next + 1) % LINES_TAIL;
    if (l->count < LINES_TAIL)
        l->count++;
}

static void emit(struct lines *l, const char *p, size_t n)
{
    log_stream(l->stream, p, n);
    tail_push(l, p, n);
}

/* A cut at `at` that does not split a well-formed UTF-8 character. */
static size_t char_boundary(const char *s, size_t n, size_t at)
{
    for (size_t back = 1; back <= 3 && back <= at; back++) {
        size_t k = utf8_valid_at((const unsigned char *)s + at - back, n - (at - back));
        if (k > back)
            return at - back;
        if (k)
            break;
    }
    return at;
}

size_t lines_safe_cut(const char *s, size_t n, size_t max)
{
    size_t at = char_boundary(s, n, max);
    struct redact_match m;
    for (size_t from = 0; redact_find(s, n, from, &m) && m.start < at; from = m.start + m.len) {
        if (m.start + m.len > at) /* the match would be cut: keep it whole */
            return m.start > 0 ? m.start : m.start + m.len;
    }
    return at;
}

static void cut_piece(struct lines *l)
{
    size_t at = lines_safe_cut(l->buf, l->len, LINES_MAX);
    emit(l, l->buf, at);
    memmove(l->buf, l->buf + at, l->len - at);
    l->len -= at;
}

/* The whole line is known: pieces of LINES_MAX, then the rest. */
static void end_line(struct lines *l, bool newline)
{
    while (l->len > LINES_MAX)
        cut_piece(l);
    size_t n = l->len;
    if (newline && n && l->buf[n - 1] == '\r')
        n--;
    emit(l, l->buf, n);
    l->len = 0;
}

/* Holding LINES_MAX plus the longest possible secret before cutting means
 * every match that could cross the cut is wholly in the buffer. */
static void append(struct lines *l, const char *p, size_t n)
{
    size_t limit = LINES_MAX + redact_span_max();
    if (l->cap < limit) {
        l->buf = xrealloc(l->buf, limit);
        l->cap = limit;
    }
    while (l->len >= limit) /* the secrets changed since the last feed */
        cut_piece(l);
    while (n) {
        size_t take = limit - l->len < n ? limit - l->len : n;
        memcpy(l->buf + l->len, p, take);
        l->len += take;
        p += take;
        n -= take;
        if (l->len == limit)
            cut_piece(l);
    }
}

void lines_feed(struct lines *l, const char *p, size_t n)
{
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t k = nl ? (size_t)(nl - p) : n;
        append(l, p, k);
        if (nl) {
            end_line(l, true);
            k++;
        }
        p += k;
        n -= k;
    }
}

void lines_flush(struct lines *l)
{
    if (l->len)
        end_line(l, false);
}

void lines_take_tail(struct lines *l, struct strlist *out)
{
    size_t first = (l->next + LINES_TAIL - l->count) % LINES_TAIL;
    for (size_t i = 0; i < l->count; i++) {
        size_t k = (first + i) % LINES_TAIL;
        strlist_push_owned(out, l->tail[k]);
        l->tail[k] = NULL;
    }
    l->next = l->count = 0;
}

void lines_free(struct lines *l)
{
    if (!l)
        return;
    for (size_t k = 0; k < LINES_TAIL; k++)
        free(l->tail[k]);
    free(l->buf);
    free(l->stream);
    free(l);
}
