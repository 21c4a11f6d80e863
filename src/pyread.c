#include "pyread.h"
#include "pylex.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const pyfield_names[PY_NFIELDS] = {"revision", "down_revision", "depends_on", "branch_labels"};

/* Names through which code reaches module globals without naming them: a
 * script using any of them is not read at all. */
static const char *const dynamic_names[] = {
    "globals", "locals", "vars", "exec", "eval", "setattr", "delattr", "__dict__", "__getattr__",
    "__setattr__", "__delattr__", "__builtins__", "__import__", "__globals__", "f_globals",
    "f_locals", "modules", "__class__",
};

/* Statements that open a block (the rest of their line is in it). */
static const char *const block_keywords[] = {
    "if", "elif", "else", "while", "for", "try", "except", "finally", "with", "def", "class", "async",
};

struct line {
    struct pytoken *t;
    int *depth; /* bracket depth at each token; a pair of brackets shares its outer depth */
    bool *bound; /* the token is the target of a module-level assignment */
    size_t n, cap;
    bool indented;
};

struct reader {
    struct pylex lx;
    struct pyscript *out;
    char *why;                /* fatal: the script is not read */
    char *taint[PY_NFIELDS];  /* the first other occurrence of each name */
    bool prev_colon;          /* the previous logical line opened a block */
    int level;                /* indentation level of the current line */
};

__attribute__((format(printf, 3, 4)))
static int fatal(struct reader *r, int line, const char *fmt, ...)
{
    if (!r->why) {
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        r->why = xasprintf("line %d: %s", line, msg);
    }
    return -1;
}

static bool tok_is(const struct pytoken *t, enum pytok kind, const char *text)
{
    size_t n = strlen(text);
    return t->kind == kind && t->len == n && memcmp(t->p, text, n) == 0;
}

static bool is_op(const struct pytoken *t, const char *op)
{
    return tok_is(t, PT_OP, op);
}

static bool name_in(const struct pytoken *t, const char *const *names, size_t n)
{
    for (size_t i = 0; t->kind == PT_NAME && i < n; i++)
        if (tok_is(t, PT_NAME, names[i]))
            return true;
    return false;
}

static int field_of(const struct pytoken *t)
{
    for (int f = 0; f < PY_NFIELDS; f++)
        if (tok_is(t, PT_NAME, pyfield_names[f]))
            return f;
    return -1;
}

/* --- values -------------------------------------------------------------- */

static void set_unknown(struct pyval *v, int line, const char *name, const char *what)
{
    strlist_free(&v->items);
    free(v->why);
    v->kind = PV_UNKNOWN;
    v->line = line;
    v->why = xasprintf("line %d: %s is %s", line, name, what);
}

/* First token in [a, b) at the depth of a that is the operator op, or b. */
static size_t find_top(const struct line *L, size_t a, size_t b, const char *op)
{
    for (size_t i = a; i < b; i++)
        if (L->depth[i] == L->depth[a] && is_op(&L->t[i], op))
            return i;
    return b;
}

/* The bracket closing the one opened at a. */
static size_t match(const struct line *L, size_t a)
{
    size_t i = a + 1;
    while (L->depth[i] != L->depth[a])
        i++;
    return i;
}

/* Adjacent string literals joined, as the compiler joins them. */
static int strings(struct reader *r, const struct line *L, size_t a, size_t b, struct pyval *v, const char *name)
{
    bool bytes = L->t[a].flags & PS_BYTES;
    struct strlist parts = {0};
    const char *why = NULL;
    int rc = 0;
    for (size_t i = a; i < b && rc == 0; i++) {
        if (!!(L->t[i].flags & PS_BYTES) != bytes) {
            strlist_free(&parts);
            return fatal(r, L->t[i].line, "cannot mix bytes and str literals");
        }
        char *s;
        rc = pylex_str_value(&L->t[i], &s, &why);
        if (rc == 0)
            strlist_push_owned(&parts, s);
    }
    if (rc < 0)
        fatal(r, L->t[a].line, "%s", why);
    else if (rc > 0)
        set_unknown(v, L->t[a].line, name, why);
    else {
        v->kind = PV_STR;
        strlist_push_owned(&v->items, strlist_join(&parts, ""));
    }
    strlist_free(&parts);
    return rc < 0 ? -1 : 0;
}

static int value(struct reader *r, const struct line *L, size_t a, size_t b, struct pyval *v, const char *name);

/* Elements separated by top-level commas in [a, b), each a str: appended
 * to v->items. A trailing comma is allowed; tuple tells whether any comma
 * was seen. */
static int elements(struct reader *r, const struct line *L, size_t a, size_t b, struct pyval *v,
                    const char *name, bool *tuple)
{
    *tuple = false;
    while (a < b) {
        size_t c = find_top(L, a, b, ",");
        if (c == a)
            return fatal(r, L->t[a].line, "invalid syntax (a stray comma)");
        struct pyval e = {0};
        if (value(r, L, a, c, &e, name)) {
            strlist_free(&e.items);
            free(e.why);
            return -1;
        }
        if (e.kind == PV_STR) {
            if (v->kind != PV_UNKNOWN)
                strlist_push(&v->items, e.items.v[0]);
        } else if (v->kind != PV_UNKNOWN) {
            set_unknown(v, L->t[a].line, name, e.kind == PV_UNKNOWN ? "not a literal" : "a sequence of other than strings");
        }
        strlist_free(&e.items);
        free(e.why);
        *tuple |= c < b;
        a = c + 1;
    }
    return 0;
}

/* One expression in [a, b): a literal, or PV_UNKNOWN. -1: not Python. */
static int atom(struct reader *r, const struct line *L, size_t a, size_t b, struct pyval *v, const char *name)
{
    const struct pytoken *t = L->t;
    bool all_strings = true;
    for (size_t i = a; i < b; i++)
        all_strings &= t[i].kind == PT_STRING;
    if (b - a == 1 && tok_is(&t[a], PT_NAME, "None")) {
        v->kind = PV_NONE;
        return 0;
    }
    if (all_strings)
        return strings(r, L, a, b, v, name);
    bool paren = is_op(&t[a], "("), list = is_op(&t[a], "[");
    if ((paren || list) && match(L, a) == b - 1) {
        if (paren && b - a > 2) /* grouping, or a tuple when it holds a comma */
            return value(r, L, a + 1, b - 1, v, name);
        bool tuple;
        v->kind = list ? PV_LIST : PV_TUPLE;
        return elements(r, L, a + 1, b - 1, v, name, &tuple);
    }
    set_unknown(v, t[a].line, name, "a computed expression");
    return 0;
}

static int value(struct reader *r, const struct line *L, size_t a, size_t b, struct pyval *v, const char *name)
{
    if (a >= b)
        return fatal(r, L->t[a > 0 ? a - 1 : 0].line, "invalid syntax (a missing value)");
    if (find_top(L, a, b, ",") == b)
        return atom(r, L, a, b, v, name);
    bool tuple;
    v->kind = PV_TUPLE;
    return elements(r, L, a, b, v, name, &tuple);
}

/* --- statements ------------------------------------------------------------ */

/* `name = v` or `name: T = v` at [a, b), a a watched name: binds it. */
static int assignment(struct reader *r, struct line *L, size_t a, size_t b)
{
    int f = field_of(&L->t[a]);
    if (f < 0 || a + 1 >= b)
        return 0;
    size_t eq = is_op(&L->t[a + 1], "=") ? a + 1 : is_op(&L->t[a + 1], ":") ? find_top(L, a + 1, b, "=") : b;
    if (eq >= b)
        return 0; /* augmented, annotation only, unpacking...: not a binding we read */
    L->bound[a] = true;
    struct pyval v = {0};
    int rc = 0;
    if (find_top(L, eq + 1, b, "=") < b)
        set_unknown(&v, L->t[a].line, pyfield_names[f], "assigned in a chained assignment");
    else
        rc = value(r, L, eq + 1, b, &v, pyfield_names[f]);
    struct pyval *dst = &r->out->v[f];
    strlist_free(&dst->items);
    free(dst->why);
    *dst = v;
    dst->line = L->t[a].line;
    return rc;
}

static bool opens_block(const struct line *L)
{
    return name_in(&L->t[0], block_keywords, sizeof block_keywords / sizeof block_keywords[0]) ||
           is_op(&L->t[0], "@") || is_op(&L->t[L->n - 1], ":");
}

/* Module-level simple statements, split at top-level semicolons. */
static int statements(struct reader *r, struct line *L)
{
    for (size_t a = 0; a < L->n;) {
        size_t b = find_top(L, a, L->n, ";");
        if (a == b)
            return fatal(r, L->t[a].line, "invalid syntax (an empty statement)");
        if (assignment(r, L, a, b))
            return -1;
        a = b + 1;
    }
    return 0;
}

/* `globals()[...](` inside a function: a global looked up by name and
 * called, as Flask-Migrate's multidb template does; the reader follows no
 * call anyway. */
static bool globals_call(const struct reader *r, const struct line *L, size_t i)
{
    if (r->level == 0 || !tok_is(&L->t[i], PT_NAME, "globals") || i + 3 >= L->n ||
        (i > 0 && tok_is(&L->t[i - 1], PT_NAME, "del")) || !is_op(&L->t[i + 1], "(") ||
        !is_op(&L->t[i + 2], ")") || !is_op(&L->t[i + 3], "["))
        return false;
    size_t close = match(L, i + 3);
    return close + 1 < L->n && is_op(&L->t[close + 1], "(");
}

static int check_tokens(struct reader *r, const struct line *L)
{
    for (size_t i = 0; i < L->n; i++) {
        const struct pytoken *t = &L->t[i];
        if (name_in(t, dynamic_names, sizeof dynamic_names / sizeof dynamic_names[0]) && !globals_call(r, L, i))
            return fatal(r, t->line, "uses %.*s, through which code can set any module global",
                         (int)t->len, t->p);
        if (tok_is(t, PT_NAME, "import") && i + 1 < L->n && is_op(&L->t[i + 1], "*"))
            return fatal(r, t->line, "imports * from a module, which can bind any name");
    }
    return 0;
}

static void depths(struct line *L)
{
    int d = 0;
    for (size_t i = 0; i < L->n; i++) {
        const struct pytoken *t = &L->t[i];
        bool open = is_op(t, "(") || is_op(t, "[") || is_op(t, "{");
        bool close = is_op(t, ")") || is_op(t, "]") || is_op(t, "}");
        d -= close;
        L->depth[i] = d;
        d += open;
        L->bound[i] = false;
    }
}

static int logical_line(struct reader *r, struct line *L)
{
    int line = L->t[0].line;
    if (L->indented && !r->prev_colon)
        return fatal(r, line, "unexpected indent");
    if (!L->indented && r->prev_colon)
        return fatal(r, line, "expected an indented block");
    r->prev_colon = is_op(&L->t[L->n - 1], ":");
    depths(L);
    if (check_tokens(r, L))
        return -1;
    if (r->level == 0 && !opens_block(L) && statements(r, L))
        return -1;
    for (size_t i = 0; i < L->n; i++) {
        int f = field_of(&L->t[i]);
        if (f >= 0 && !L->bound[i] && !r->taint[f])
            r->taint[f] = xasprintf("line %d: %s is bound or used other than by a module-level "
                                    "assignment", L->t[i].line, pyfield_names[f]);
    }
    return 0;
}

static void push(struct line *L, const struct pytoken *t)
{
    if (L->n == L->cap) {
        L->cap = L->cap ? L->cap * 2 : 64;
        L->t = xrealloc(L->t, L->cap * sizeof *L->t);
        L->depth = xrealloc(L->depth, L->cap * sizeof *L->depth);
        L->bound = xrealloc(L->bound, L->cap * sizeof *L->bound);
    }
    L->t[L->n++] = *t;
}

static int read_lines(struct reader *r)
{
    struct line L = {0};
    struct pytoken t;
    int rc = 0;
    while (rc == 0) {
        if (pylex_next(&r->lx, &t)) {
            r->why = xstrdup(r->lx.why);
            rc = -1;
            break;
        }
        if (t.kind == PT_END)
            break;
        if (t.kind == PT_INDENT)
            r->level++, L.indented = true;
        else if (t.kind == PT_DEDENT)
            r->level--;
        else if (t.kind != PT_NEWLINE)
            push(&L, &t);
        else {
            rc = logical_line(r, &L);
            L.n = 0;
            L.indented = false;
        }
    }
    if (rc == 0 && r->prev_colon)
        rc = fatal(r, r->lx.line, "expected an indented block");
    free(L.t);
    free(L.depth);
    free(L.bound);
    return rc;
}

int pyread_script(const char *text, size_t len, struct pyscript *out, char **why)
{
    struct reader r;
    memset(&r, 0, sizeof r);
    memset(out, 0, sizeof *out);
    r.out = out;
    *why = NULL;
    if (pylex_open(&r.lx, text, len, why) != 0)
        return -1;
    int rc = read_lines(&r);
    for (int f = 0; f < PY_NFIELDS; f++) {
        if (rc == 0 && r.taint[f]) {
            strlist_free(&out->v[f].items);
            free(out->v[f].why);
            out->v[f].kind = PV_UNKNOWN;
            out->v[f].why = r.taint[f];
            out->v[f].line = atoi(r.taint[f] + 5);
        } else {
            free(r.taint[f]);
        }
    }
    pylex_close(&r.lx);
    if (rc) {
        pyscript_free(out);
        *why = r.why;
        return -1;
    }
    return 0;
}

void pyscript_free(struct pyscript *s)
{
    for (int f = 0; f < PY_NFIELDS; f++) {
        strlist_free(&s->v[f].items);
        free(s->v[f].why);
    }
    memset(s, 0, sizeof *s);
}
