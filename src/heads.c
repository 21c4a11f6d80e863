#include "heads.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- one script --------------------------------------------------------- */

enum field { F_REVISION, F_DOWN, F_LABELS, F_DEPS, F_COUNT };
static const char *const field_names[F_COUNT] = {"revision", "down_revision", "branch_labels", "depends_on"};

struct cursor {
    const char *p, *end;
    char *why;
};

/* Records the first reason only: "<name> <what>". */
static int fail(struct cursor *c, const char *name, const char *what)
{
    if (!c->why)
        c->why = *name ? xasprintf("%s %s", name, what) : xstrdup(what);
    return -1;
}

static void skip_blank(struct cursor *c, bool newlines)
{
    while (c->p < c->end) {
        if (*c->p == ' ' || *c->p == '\t' || (newlines && (*c->p == '\n' || *c->p == '\r'))) {
            c->p++;
        } else if (newlines && *c->p == '#') {
            while (c->p < c->end && *c->p != '\n')
                c->p++;
        } else {
            break;
        }
    }
}

/* A plain string literal: optional r/u prefix, printable ASCII without
 * escapes or commas, not triple-quoted. */
static int string_literal(struct cursor *c, struct strlist *out, const char *name)
{
    if (c->p < c->end && strchr("rRuU", *c->p) && c->p + 1 < c->end && (c->p[1] == '\'' || c->p[1] == '"'))
        c->p++;
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return fail(c, name, "is not a plain string, tuple or None");
    char q = *c->p++;
    const char *s = c->p;
    if (c->end - s >= 2 && s[0] == q && s[1] == q)
        return fail(c, name, "uses a triple-quoted string");
    while (c->p < c->end && *c->p != q) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch == '\\' || ch < 0x20 || ch == ',' || ch >= 0x7F)
            return fail(c, name, "has a string the parser does not read for certain");
        c->p++;
    }
    if (c->p >= c->end)
        return fail(c, name, "has an unterminated string");
    size_t n = (size_t)(c->p - s);
    if (n == 0)
        return fail(c, name, "has an empty id");
    /* Alembic refuses these in revision ids; labels may hold them. */
    bool is_id = strcmp(name, "revision") == 0 || strcmp(name, "down_revision") == 0;
    if (is_id && (memchr(s, '@', n) || memchr(s, '-', n) || memchr(s, '+', n)))
        return fail(c, name, "has an id with a character Alembic refuses (@, - or +)");
    strlist_push_owned(out, xstrndup(s, n));
    c->p++;
    return 0;
}

static int sequence(struct cursor *c, struct strlist *out, const char *name)
{
    char close = *c->p == '(' ? ')' : ']';
    c->p++;
    for (;;) {
        skip_blank(c, true);
        if (c->p < c->end && *c->p == close)
            break;
        if (string_literal(c, out, name))
            return -1;
        skip_blank(c, true);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->end && *c->p == close)
            break;
        return fail(c, name, "has a sequence the parser does not read for certain");
    }
    c->p++;
    return 0;
}

/* value := None | string | (strings...) | [strings...], then only a comment. */
static int value(struct cursor *c, struct strlist *out, bool *is_none, const char *name)
{
    skip_blank(c, false);
    *is_none = false;
    int rc;
    if (c->end - c->p >= 4 && memcmp(c->p, "None", 4) == 0 &&
        (c->end - c->p == 4 || !(isalnum((unsigned char)c->p[4]) || c->p[4] == '_'))) {
        c->p += 4;
        *is_none = true;
        rc = 0;
    } else if (c->p < c->end && (*c->p == '(' || *c->p == '[')) {
        rc = sequence(c, out, name);
    } else {
        rc = string_literal(c, out, name);
    }
    if (rc)
        return rc;
    skip_blank(c, false);
    if (c->p < c->end && *c->p == '#')
        while (c->p < c->end && *c->p != '\n')
            c->p++;
    if (c->p < c->end && *c->p != '\n' && *c->p != '\r')
        return fail(c, name, "is an expression the parser does not read for certain");
    return 0;
}

/* After the name: an optional annotation (`: Union[str, None]`) and '='. */
static int assignment_op(struct cursor *c, const char *name)
{
    skip_blank(c, false);
    if (c->p < c->end && *c->p == ':') {
        int depth = 0;
        for (c->p++; c->p < c->end && *c->p != '\n'; c->p++) {
            if (*c->p == '[' || *c->p == '(')
                depth++;
            else if (*c->p == ']' || *c->p == ')')
                depth--;
            else if (*c->p == '=' && depth == 0)
                break;
        }
    }
    if (c->p >= c->end || *c->p != '=' || (c->p + 1 < c->end && c->p[1] == '='))
        return fail(c, name, "is not a plain assignment");
    c->p++;
    return 0;
}

static int field_at(const char *p, const char *end)
{
    for (int f = 0; f < F_COUNT; f++) {
        size_t n = strlen(field_names[f]);
        if ((size_t)(end - p) >= n && memcmp(p, field_names[f], n) == 0 &&
            ((size_t)(end - p) == n || !(isalnum((unsigned char)p[n]) || p[n] == '_')))
            return f;
    }
    return -1;
}

/* Skips a line of ordinary code, following triple-quoted strings (docstrings
 * quote "Revision ID:" lines that must not be read as assignments). */
static void skip_line(struct cursor *c, char *in_triple)
{
    while (c->p < c->end && *c->p != '\n') {
        char ch = *c->p;
        bool triple = (ch == '"' || ch == '\'') && c->end - c->p >= 3 && c->p[1] == ch && c->p[2] == ch;
        if (*in_triple) {
            if (triple && ch == *in_triple) {
                *in_triple = 0;
                c->p += 3;
            } else {
                c->p++;
            }
        } else if (triple) {
            *in_triple = ch;
            c->p += 3;
        } else if (ch == '#') {
            while (c->p < c->end && *c->p != '\n')
                c->p++;
        } else if (ch == '"' || ch == '\'') {
            for (c->p++; c->p < c->end && *c->p != ch && *c->p != '\n'; c->p++)
                if (*c->p == '\\' && c->p + 1 < c->end)
                    c->p++;
            if (c->p < c->end && *c->p == ch)
                c->p++;
        } else {
            c->p++;
        }
    }
    if (c->p < c->end)
        c->p++;
}

static struct strlist *field_list(struct script *s, int f, struct strlist *rev)
{
    return f == F_REVISION ? rev : f == F_DOWN ? &s->down : f == F_LABELS ? &s->labels : &s->deps;
}

static int parse_field(struct cursor *c, struct script *s, int f, struct strlist *rev, bool *seen)
{
    const char *name = field_names[f];
    if (seen[f])
        return fail(c, name, "is assigned more than once");
    seen[f] = true;
    c->p += strlen(name);
    bool is_none;
    if (assignment_op(c, name) || value(c, field_list(s, f, rev), &is_none, name))
        return -1;
    if (f == F_REVISION && (is_none || rev->n != 1))
        return fail(c, name, "is not a single string");
    return 0;
}

int heads_parse_script(const char *text, size_t len, struct script *out, char **why)
{
    struct cursor c = {text, text + len, NULL};
    struct strlist rev = {0};
    bool seen[F_COUNT] = {false};
    char in_triple = 0;
    memset(out, 0, sizeof *out);
    if (memchr(text, '\0', len))
        fail(&c, "", "binary content");
    while (!c.why && c.p < c.end) {
        int f = in_triple ? -1 : field_at(c.p, c.end);
        if (f < 0)
            skip_line(&c, &in_triple);
        else
            parse_field(&c, out, f, &rev, seen);
    }
    if (!c.why && !seen[F_REVISION])
        fail(&c, "", "no revision assignment");
    if (!c.why && !seen[F_DOWN])
        fail(&c, "", "no down_revision assignment");
    if (c.why) {
        strlist_free(&rev);
        script_free(out);
        *why = c.why;
        return -1;
    }
    out->rev = rev.v[0];
    free(rev.v);
    return 0;
}

void script_free(struct script *s)
{
    free(s->rev);
    strlist_free(&s->down);
    strlist_free(&s->deps);
    strlist_free(&s->labels);
    memset(s, 0, sizeof *s);
}

/* --- the folder ---------------------------------------------------------- */

static bool alembic_file(const char *name)
{
    size_t n = strlen(name);
    return n > 3 && strcmp(name + n - 3, ".py") == 0 && strncmp(name, "__init__", 8) != 0 &&
           strncmp(name, ".#", 2) != 0;
}

static char *read_script(const char *path, size_t *len, char **why)
{
    char *buf;
    int rc = read_whole_file(path, HEADS_FILE_MAX, &buf, len);
    if (rc)
        *why = xasprintf("%s: %s", path, rc == EFBIG ? "larger than 1 MiB" : read_error(rc));
    return buf;
}

static int load_one(const char *dir, const char *name, struct heads *h)
{
    char *path = xasprintf("%s/%s", dir, name), *why = NULL;
    size_t len = 0;
    char *text = read_script(path, &len, &why);
    struct script s;
    if (text && heads_parse_script(text, len, &s, &why) == 0) {
        h->s = xrealloc(h->s, (h->n + 1) * sizeof *h->s);
        h->s[h->n++] = s;
    } else if (text) {
        char *full = xasprintf("%s: %s", path, why);
        free(why);
        why = full;
    }
    free(text);
    free(path);
    h->why = why;
    return why ? -1 : 0;
}

static int cmp_script(const void *a, const void *b)
{
    return strcmp(((const struct script *)a)->rev, ((const struct script *)b)->rev);
}

static const struct script *find(const struct heads *h, const char *rev)
{
    struct script key = {.rev = (char *)rev};
    if (!h->n)
        return NULL;
    return bsearch(&key, h->s, h->n, sizeof *h->s, cmp_script);
}

/* depends_on may name a branch label instead of a revision. */
static const struct script *resolve(const struct heads *h, const char *ident)
{
    const struct script *s = find(h, ident);
    for (size_t i = 0; !s && i < h->n; i++)
        if (strlist_contains(&h->s[i].labels, ident))
            s = &h->s[i];
    return s;
}

/* Alembic refuses a graph that loops (a revision that is its own ancestor
 * through down_revision or depends_on); so do we, rather than compute heads
 * Alembic would not. Iterative depth-first search with three colours. */
static const char *find_cycle(const struct heads *h)
{
    enum { WHITE, GREY, BLACK };
    unsigned char *colour = xcalloc(h->n, 1);
    size_t *stack = xmalloc((h->n + 1) * sizeof *stack), *edge = xcalloc(h->n, sizeof *edge);
    const char *looped = NULL;
    for (size_t root = 0; root < h->n && !looped; root++) {
        if (colour[root] != WHITE)
            continue;
        size_t top = 0;
        stack[top++] = root;
        colour[root] = GREY;
        while (top && !looped) {
            size_t cur = stack[top - 1];
            const struct script *s = &h->s[cur];
            size_t k = edge[cur]++;
            if (k >= s->down.n + s->deps.n) {
                colour[cur] = BLACK;
                top--;
                continue;
            }
            const char *ref = k < s->down.n ? s->down.v[k] : s->deps.v[k - s->down.n];
            size_t next = (size_t)(resolve(h, ref) - h->s);
            if (colour[next] == GREY)
                looped = s->rev;
            else if (colour[next] == WHITE) {
                colour[next] = GREY;
                stack[top++] = next;
            }
        }
    }
    free(colour);
    free(stack);
    free(edge);
    return looped;
}

static int check_graph(struct heads *h)
{
    for (size_t i = 0; i + 1 < h->n; i++)
        if (strcmp(h->s[i].rev, h->s[i + 1].rev) == 0)
            return (h->why = xasprintf("revision %s is defined twice", h->s[i].rev)), -1;
    for (size_t i = 0; i < h->n; i++) {
        for (size_t k = 0; k < h->s[i].down.n; k++)
            if (!find(h, h->s[i].down.v[k]))
                return (h->why = xasprintf("revision %s revises %s, which no script defines",
                                           h->s[i].rev, h->s[i].down.v[k])), -1;
        for (size_t k = 0; k < h->s[i].deps.n; k++)
            if (!resolve(h, h->s[i].deps.v[k]))
                return (h->why = xasprintf("revision %s depends on %s, which no script defines",
                                           h->s[i].rev, h->s[i].deps.v[k])), -1;
    }
    const char *looped = find_cycle(h);
    if (looped)
        return (h->why = xasprintf("revision %s is its own ancestor (a loop in the graph)", looped)), -1;
    return 0;
}

static void compute_heads(struct heads *h)
{
    bool *revised = xcalloc(h->n, sizeof *revised);
    for (size_t i = 0; i < h->n; i++)
        for (size_t k = 0; k < h->s[i].down.n; k++)
            revised[find(h, h->s[i].down.v[k]) - h->s] = true;
    for (size_t i = 0; i < h->n; i++)
        if (!revised[i])
            strlist_push(&h->heads, h->s[i].rev);
    strlist_sort(&h->heads);
    free(revised);
}

void heads_load(const char *dir, struct heads *h)
{
    memset(h, 0, sizeof *h);
    DIR *d = opendir(dir);
    if (!d) {
        h->why = xasprintf("cannot read %s: %s", dir, strerror(errno));
        return;
    }
    struct dirent *de;
    size_t files = 0;
    while (!h->why && (de = readdir(d))) {
        if (!alembic_file(de->d_name))
            continue;
        if (++files > HEADS_FILES_MAX)
            h->why = xasprintf("more than %d scripts in %s", HEADS_FILES_MAX, dir);
        else
            load_one(dir, de->d_name, h);
    }
    closedir(d);
    if (h->why)
        return;
    if (h->n)
        qsort(h->s, h->n, sizeof *h->s, cmp_script);
    if (check_graph(h) == 0) {
        compute_heads(h);
        h->known = true;
    }
}

void heads_free(struct heads *h)
{
    for (size_t i = 0; i < h->n; i++)
        script_free(&h->s[i]);
    free(h->s);
    free(h->why);
    strlist_free(&h->heads);
    memset(h, 0, sizeof *h);
}

/* --- judging a database -------------------------------------------------- */

static void mark(const struct heads *h, const struct script *s, bool *reached)
{
    /* An explicit stack: chains can be thousands deep. */
    const struct script **stack = xmalloc((h->n + 1) * sizeof *stack);
    size_t top = 0;
    if (!reached[s - h->s]) {
        reached[s - h->s] = true;
        stack[top++] = s;
    }
    while (top) {
        const struct script *cur = stack[--top];
        for (int pass = 0; pass < 2; pass++) {
            const struct strlist *l = pass ? &cur->deps : &cur->down;
            for (size_t k = 0; k < l->n; k++) {
                const struct script *next = resolve(h, l->v[k]);
                if (next && !reached[next - h->s]) {
                    reached[next - h->s] = true;
                    stack[top++] = next;
                }
            }
        }
    }
    free(stack);
}

void heads_compare(const struct heads *h, const struct strlist *current,
                   struct strlist *pending, struct strlist *unknown)
{
    bool *reached = xcalloc(h->n, sizeof *reached);
    for (size_t i = 0; i < current->n; i++) {
        const struct script *s = find(h, current->v[i]);
        if (s)
            mark(h, s, reached);
        else
            strlist_push(unknown, current->v[i]);
    }
    for (size_t i = 0; i < h->heads.n; i++)
        if (!reached[find(h, h->heads.v[i]) - h->s])
            strlist_push(pending, h->heads.v[i]);
    free(reached);
}
