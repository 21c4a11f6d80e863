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

/* The printed width of s[0..n) (a match's kept key, masked in turn). */
static size_t width_of(const char *s, size_t n)
{
    size_t total = 0, w, len;
    char *masked = redact_mem(s, n, &len);
    for (size_t i = 0; i < len; total += w)
        i += edge_step(masked + i, len - i, &w);
    free(masked);
    return total;
}

/* A piece ending at `at` is masked on its own, where the end of the text
 * ends a credential's value: it must not mask what the whole line does not
 * (a short password's spelling cut off from the letters that follow it,
 * which would also print wider than counted). The cut moves before such a
 * match; the whole line's matches end at `from` or before. */
static size_t no_new_match(const char *s, size_t at, size_t from)
{
    struct redact_match m;
    for (; redact_find(s, at, from, &m); from = m.start + m.len)
        if (m.start + m.len == at && m.start > 0)
            return m.start;
    return at;
}

/* Walks s as the edge will print it: whole characters, and every match as
 * its key plus the mask, so that no cut falls inside either; stops before
 * the piece would print more than max bytes or hold more than max bytes of
 * output. A first step wider than max (a very long secret) is taken whole. */
size_t lines_safe_cut(const char *s, size_t n, size_t max)
{
    struct redact_match m;
    bool have = redact_find(s, n, 0, &m);
    size_t at = 0, width = 0, matched = 0;
    while (at < n) {
        size_t adv, w;
        if (have && m.start == at) {
            adv = m.len;
            w = width_of(s + at, m.keep) + sizeof REDACTED - 1;
        } else {
            adv = edge_step(s + at, n - at, &w);
            if (have && m.start < at + adv) /* a match inside a broken sequence */
                adv = m.start - at;
        }
        if (at > 0 && (at + adv > max || width + w > max))
            break;
        at += adv;
        width += w;
        if (have && at >= m.start + m.len) {
            matched = at;
            have = redact_find(s, n, at, &m);
        }
    }
    return at < n ? no_new_match(s, at, matched) : at;
}

/* Emits the first `at` bytes of the buffer as a piece. */
static void emit_piece(struct lines *l, size_t at)
{
    emit(l, l->buf, at);
    memmove(l->buf, l->buf + at, l->len - at);
    l->len -= at;
}

static void cut_piece(struct lines *l)
{
    emit_piece(l, lines_safe_cut(l->buf, l->len, LINES_MAX));
}

/* The whole line is known: pieces as long as they fit, then the rest. */
static void end_line(struct lines *l, bool newline)
{
    if (newline && l->len && l->buf[l->len - 1] == '\r')
        l->len--;
    for (size_t at; (at = lines_safe_cut(l->buf, l->len, LINES_MAX)) < l->len;)
        emit_piece(l, at);
    emit(l, l->buf, l->len);
    l->len = 0;
}

/* Holding LINES_MAX plus the longest possible match before cutting means
 * every match that starts before the cut (at most LINES_MAX bytes in) is
 * wholly in the buffer. */
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
