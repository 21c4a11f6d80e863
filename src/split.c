#include "split.h"

#include <stdlib.h>
#include <string.h>

struct word {
    char *buf;
    size_t len, cap;
    int started; /* "" is a word; nothing at all is not */
};

static void put(struct word *w, char c)
{
    if (w->len + 1 >= w->cap) {
        w->cap = w->cap ? w->cap * 2 : 32;
        w->buf = xrealloc(w->buf, w->cap);
    }
    w->buf[w->len++] = c;
    w->started = 1;
}

static void finish(struct word *w, struct strlist *out)
{
    if (!w->started)
        return;
    strlist_push_owned(out, xstrndup(w->buf ? w->buf : "", w->len));
    w->len = 0;
    w->started = 0;
}

/* Returns the index after the closing quote, or 0 with e set. */
static size_t single_quoted(const char *s, size_t i, struct word *w, const char *what, struct err *e)
{
    w->started = 1;
    for (i++; s[i] && s[i] != '\''; i++)
        put(w, s[i]);
    if (!s[i]) {
        err_set(e, "%s has an unterminated single quote", what);
        return 0;
    }
    return i + 1;
}

static size_t double_quoted(const char *s, size_t i, struct word *w, const char *what, struct err *e)
{
    w->started = 1;
    for (i++; s[i] && s[i] != '"'; i++) {
        if (s[i] == '\\' && s[i + 1] && strchr("\"\\$`\n", s[i + 1])) {
            if (s[i + 1] != '\n')
                put(w, s[i + 1]);
            i++;
        } else if (s[i] == '$' || s[i] == '`') {
            err_set(e, "%s uses '%c' inside double quotes: no shell expands it here "
                       "(use single quotes, or sh -c '...')", what, s[i]);
            return 0;
        } else {
            put(w, s[i]);
        }
    }
    if (!s[i]) {
        err_set(e, "%s has an unterminated double quote", what);
        return 0;
    }
    return i + 1;
}

int split_command(const char *s, const char *what, struct strlist *out, struct err *e)
{
    struct word w = {0};
    size_t start_n = out->n;
    for (size_t i = 0; s[i];) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            finish(&w, out);
            i++;
        } else if (c == '\'') {
            i = single_quoted(s, i, &w, what, e);
        } else if (c == '"') {
            i = double_quoted(s, i, &w, what, e);
        } else if (c == '\\') {
            if (!s[i + 1]) {
                err_set(e, "%s ends with a lone backslash", what);
                i = 0;
            } else {
                if (s[i + 1] != '\n')
                    put(&w, s[i + 1]);
                i += 2;
            }
        } else if (strchr(";|&<>()`$", c)) {
            err_set(e, "%s uses the shell operator '%c': no shell runs it "
                       "(quote it, or use sh -c '...')", what, c);
            i = 0;
        } else {
            put(&w, c);
            i++;
        }
        if (i == 0)
            goto fail;
    }
    finish(&w, out);
    free(w.buf);
    if (out->n == start_n) {
        err_set(e, "%s is empty", what);
        return -1;
    }
    return 0;
fail:
    free(w.buf);
    while (out->n > start_n)
        free(out->v[--out->n]);
    return -1;
}
