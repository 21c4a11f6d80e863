#include "heads.h"
#include "pyread.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- one script: Script(...) and Revision.__init__ ------------------------ */

/* Messages are one line whatever the names they quote hold. */
static char *tidy(char *s)
{
    for (char *p = s; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7F)
            *p = '?';
    return s;
}

__attribute__((format(printf, 2, 3)))
static int refuse(char **why, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    *why = tidy(xstrdup(buf));
    return -1;
}

/* A revision id this reader can spell everywhere it goes (a log line, the
 * status file, one line of `heads`): printable ASCII, no blank or comma;
 * and one Alembic accepts (verify_rev_id: no @, - or +). */
static const char *bad_id(const char *id)
{
    if (!*id)
        return "is empty";
    for (const char *p = id; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7F || c == ',')
            return "has a blank, comma or non-ASCII character this reader does not spell";
        if (c == '@' || c == '-' || c == '+')
            return "has a character Alembic refuses in revision ids (@, - or +)";
    }
    return NULL;
}

static int take_revision(const struct pyval *v, struct script *out, char **why)
{
    if (v->kind == PV_UNKNOWN)
        return refuse(why, "%s", v->why);
    if (v->kind == PV_ABSENT)
        return refuse(why, "no revision assignment");
    if (v->kind != PV_STR)
        return refuse(why, "line %d: revision is not a single string", v->line);
    const char *bad = bad_id(v->items.v[0]);
    if (bad)
        return refuse(why, "line %d: revision '%.80s' %s", v->line, v->items.v[0], bad);
    out->rev = xstrdup(v->items.v[0]);
    return 0;
}

/* util.to_tuple(x, default=()) of a literal. */
static void to_tuple(const struct pyval *v, struct strlist *out)
{
    if (v->kind == PV_STR || v->kind == PV_TUPLE || v->kind == PV_LIST)
        for (size_t i = 0; i < v->items.n; i++)
            strlist_push(out, v->items.v[i]);
}

static int take_down(const struct pyval *v, struct script *out, char **why)
{
    if (v->kind == PV_UNKNOWN)
        return refuse(why, "%s", v->why);
    if (v->kind == PV_ABSENT)
        return refuse(why, "no down_revision assignment (Alembic needs one)");
    struct strlist raw = {0};
    to_tuple(v, &raw);
    int rc = 0;
    if (strlist_contains(&raw, out->rev))
        rc = refuse(why, "line %d: revision %s revises itself", v->line, out->rev);
    /* tuple_rev_as_scalar: "" and empty sequences are None */
    bool none = raw.n == 0 || (v->kind == PV_STR && !*raw.v[0]);
    for (size_t i = 0; rc == 0 && !none && i < raw.n; i++) {
        if (!*raw.v[i])
            rc = refuse(why, "line %d: down_revision names an empty revision id", v->line);
        else if (strlist_contains(&out->down, raw.v[i]))
            rc = refuse(why, "line %d: down_revision names %.80s twice", v->line, raw.v[i]);
        else
            strlist_push(&out->down, raw.v[i]);
    }
    strlist_free(&raw);
    return rc;
}

static int take_deps(const struct pyval *v, struct script *out, char **why)
{
    if (v->kind == PV_UNKNOWN)
        return refuse(why, "%s", v->why);
    struct strlist raw = {0};
    to_tuple(v, &raw);
    int rc = 0;
    if (strlist_contains(&raw, out->rev))
        rc = refuse(why, "line %d: revision %s depends on itself", v->line, out->rev);
    /* tuple_rev_as_scalar(to_tuple(x)): one "" stays "", not None; Alembic
     * then no longer counts a revision with no down_revision as a base and
     * refuses the tree. */
    bool empty = raw.n == 1 && !*raw.v[0];
    if (rc == 0 && empty && out->down.n == 0)
        rc = refuse(why, "line %d: depends_on is '' on a revision with no down_revision, which "
                         "Alembic refuses (\"Dependency cycle is detected\")", v->line);
    for (size_t i = 0; rc == 0 && !empty && i < raw.n; i++) {
        if (!*raw.v[i])
            rc = refuse(why, "line %d: depends_on names an empty revision id", v->line);
        else if (!strlist_contains(&out->deps, raw.v[i]))
            strlist_push(&out->deps, raw.v[i]);
    }
    strlist_free(&raw);
    return rc;
}

static void take_labels(const struct pyval *v, struct script *out)
{
    out->labels_known = v->kind != PV_UNKNOWN;
    to_tuple(v, &out->labels);
}

int heads_parse_script(const char *text, size_t len, struct script *out, char **why)
{
    struct pyscript ps;
    memset(out, 0, sizeof *out);
    *why = NULL;
    if (pyread_script(text, len, &ps, why) != 0)
        return -1;
    int rc = take_revision(&ps.v[PY_REVISION], out, why);
    if (rc == 0)
        rc = take_down(&ps.v[PY_DOWN], out, why);
    if (rc == 0)
        rc = take_deps(&ps.v[PY_DEPS], out, why);
    if (rc == 0)
        take_labels(&ps.v[PY_LABELS], out);
    else
        script_free(out);
    pyscript_free(&ps);
    return rc;
}

void script_free(struct script *s)
{
    free(s->rev);
    strlist_free(&s->down);
    strlist_free(&s->deps);
    strlist_free(&s->labels);
    free(s->parents);
    memset(s, 0, sizeof *s);
}

/* --- the tree: RevisionMap._revision_map ---------------------------------- */

static int cmp_script(const void *a, const void *b)
{
    return strcmp(((const struct script *)a)->rev, ((const struct script *)b)->rev);
}

static const struct script *find(const struct heads *h, const char *rev)
{
    struct script key = {.rev = (char *)rev};
    return h->n ? bsearch(&key, h->s, h->n, sizeof *h->s, cmp_script) : NULL;
}

static const struct script *labelled(const struct heads *h, const char *label)
{
    for (size_t i = 0; i < h->n; i++)
        if (strlist_contains(&h->s[i].labels, label))
            return &h->s[i];
    return NULL;
}

static int load_one(struct heads *h, const char *path)
{
    char *text, *why = NULL;
    size_t len;
    int err = read_whole_file(path, HEADS_FILE_MAX, &text, &len);
    if (err) {
        h->why = xasprintf("%s: %s", path, err == EFBIG ? "larger than 1 MiB" : read_error(err));
        return -1;
    }
    struct script s;
    int rc = heads_parse_script(text, len, &s, &why);
    free(text);
    if (rc) {
        h->why = xasprintf("%s: %s", path, why);
        free(why);
        return -1;
    }
    h->s = xrealloc(h->s, (h->n + 1) * sizeof *h->s);
    h->s[h->n++] = s;
    return 0;
}

/* _map_branch_labels: a label may name one revision only, and no id. The
 * labels that are known are checked even when others are computed. */
static int check_labels(struct heads *h)
{
    h->labels_known = true;
    for (size_t i = 0; i < h->n; i++)
        h->labels_known &= h->s[i].labels_known;
    for (size_t i = 0; i < h->n; i++) {
        const struct strlist *l = &h->s[i].labels;
        for (size_t k = 0; h->s[i].labels_known && k < l->n; k++) {
            const struct script *other = find(h, l->v[k]);
            for (size_t j = 0; !other && j <= i; j++)
                for (size_t m = 0; h->s[j].labels_known && !other && m < (j == i ? k : h->s[j].labels.n); m++)
                    if (strcmp(h->s[j].labels.v[m], l->v[k]) == 0)
                        other = &h->s[j];
            if (other)
                return (h->why = xasprintf("branch label '%.80s' of %s is already used by revision %s "
                                           "(Alembic refuses it)", l->v[k], h->s[i].rev, other->rev)), -1;
        }
    }
    return 0;
}

static void add_parent(struct script *s, size_t p)
{
    for (size_t k = 0; k < s->nparents; k++)
        if (s->parents[k] == p)
            return;
    s->parents = xrealloc(s->parents, (s->nparents + 1) * sizeof *s->parents);
    s->parents[s->nparents++] = p;
}

/* Every down_revision an id; every depends_on an id or a branch label
 * (only when every label is known: a computed one could be any name). */
static int resolve(struct heads *h)
{
    for (size_t i = 0; i < h->n; i++) {
        struct script *s = &h->s[i];
        for (size_t k = 0; k < s->down.n; k++) {
            const struct script *p = find(h, s->down.v[k]);
            if (!p)
                return (h->why = xasprintf("revision %s revises %.80s, which %s", s->rev, s->down.v[k],
                                           h->labels_known && labelled(h, s->down.v[k])
                                               ? "is a branch label (not followed by this reader)"
                                               : "no script defines")), -1;
            add_parent(s, (size_t)(p - h->s));
        }
        s->ndown = s->nparents;
        for (size_t k = 0; k < s->deps.n; k++) {
            const struct script *p = find(h, s->deps.v[k]);
            if (!p && h->labels_known)
                p = labelled(h, s->deps.v[k]);
            if (!p)
                return (h->why = xasprintf("revision %s depends on %.80s, which %s", s->rev, s->deps.v[k],
                                           h->labels_known ? "no script defines"
                                                           : "is no revision id (and some branch_labels are computed)")), -1;
            add_parent(s, (size_t)(p - h->s));
        }
    }
    return 0;
}

/* Alembic refuses a loop through down_revision or depends_on; so do we.
 * Iterative depth-first search with three colours. */
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
            if (edge[cur] >= h->s[cur].nparents) {
                colour[cur] = BLACK;
                top--;
                continue;
            }
            size_t next = h->s[cur].parents[edge[cur]++];
            if (colour[next] == GREY)
                looped = h->s[cur].rev;
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

static void compute_heads(struct heads *h)
{
    bool *revised = xcalloc(h->n, sizeof *revised), *needed = xcalloc(h->n, sizeof *needed);
    for (size_t i = 0; i < h->n; i++)
        for (size_t k = 0; k < h->s[i].nparents; k++) {
            revised[h->s[i].parents[k]] |= k < h->s[i].ndown;
            needed[h->s[i].parents[k]] = true;
        }
    for (size_t i = 0; i < h->n; i++) {
        if (!revised[i])
            strlist_push(&h->heads, h->s[i].rev);
        if (!needed[i])
            strlist_push(&h->stamp, h->s[i].rev);
    }
    free(revised);
    free(needed);
}

static int load_tree(const struct scripts_at *at, struct heads *h)
{
    struct strlist files = {0};
    if (locate_files(at, &files, &h->why) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < files.n; i++)
        rc = load_one(h, files.v[i]);
    strlist_free(&files);
    if (rc)
        return -1;
    qsort(h->s, h->n, sizeof *h->s, cmp_script);
    for (size_t i = 0; i + 1 < h->n; i++)
        if (strcmp(h->s[i].rev, h->s[i + 1].rev) == 0)
            return (h->why = xasprintf("revision %s is defined twice", h->s[i].rev)), -1;
    if (check_labels(h) || resolve(h))
        return -1;
    const char *looped = find_cycle(h);
    if (looped)
        return (h->why = xasprintf("revision %s is its own ancestor (a loop in the graph)", looped)), -1;
    return 0;
}

void heads_load(const struct scripts_at *at, struct heads *h)
{
    memset(h, 0, sizeof *h);
    if (load_tree(at, h) == 0) {
        compute_heads(h);
        strlist_sort(&h->heads);
        strlist_sort(&h->stamp);
        h->known = true;
    }
    tidy(h->why);
}

void heads_free(struct heads *h)
{
    for (size_t i = 0; i < h->n; i++)
        script_free(&h->s[i]);
    free(h->s);
    free(h->why);
    strlist_free(&h->heads);
    strlist_free(&h->stamp);
    memset(h, 0, sizeof *h);
}

/* --- judging a database: _collect_upgrade_revisions ------------------------- */

/* Marks s's ancestors (through down_revision and depends_on, s itself when
 * self), with an explicit stack: chains can be thousands deep. */
static void mark(const struct heads *h, size_t s, bool self, bool *reached)
{
    size_t *stack = xmalloc((h->n + 1) * sizeof *stack), top = 0;
    if (self)
        reached[s] = true;
    stack[top++] = s;
    while (top) {
        const struct script *cur = &h->s[stack[--top]];
        for (size_t k = 0; k < cur->nparents; k++)
            if (!reached[cur->parents[k]]) {
                reached[cur->parents[k]] = true;
                stack[top++] = cur->parents[k];
            }
    }
    free(stack);
}

/* What _resolve_revision_number takes for a symbol before any id. */
static bool symbol(const char *row)
{
    return strcmp(row, "head") == 0 || strcmp(row, "heads") == 0 || strcmp(row, "base") == 0;
}

static bool negative_int(const char *r)
{
    while (isspace((unsigned char)*r))
        r++;
    return r[0] == '-' && isdigit((unsigned char)r[1]);
}

/* A row no revision id equals that Alembic still resolves somehow
 * (_resolve_revision_number, _revision_for_ident): a symbol, branch@rev, a
 * negative step, a branch label, a unique prefix of at least one character
 * of a key longer than 3. Or a label we cannot see. */
static bool alembic_may_resolve(const struct heads *h, const char *row)
{
    if (!h->labels_known || !*row || strchr(row, '@') || negative_int(row) || symbol(row) || labelled(h, row))
        return true;
    size_t n = strlen(row);
    for (size_t i = 0; i < h->n; i++) {
        if (strlen(h->s[i].rev) > 3 && strncmp(h->s[i].rev, row, n) == 0)
            return true;
        for (size_t k = 0; k < h->s[i].labels.n; k++)
            if (strlen(h->s[i].labels.v[k]) > 3 && strncmp(h->s[i].labels.v[k], row, n) == 0)
                return true;
    }
    return false;
}

/* Rows that are ancestors of other rows: Alembic's check=True traversal
 * raises "overlaps with other requested revisions". */
static void overlaps(const struct heads *h, const size_t *idx, size_t n, struct strlist *out)
{
    bool *below = xcalloc(h->n ? h->n : 1, sizeof *below);
    for (size_t i = 0; i < n; i++) {
        memset(below, 0, h->n * sizeof *below);
        mark(h, idx[i], false, below);
        for (size_t j = 0; j < n; j++)
            if (below[idx[j]] && !strlist_contains(out, h->s[idx[j]].rev))
                strlist_push(out, h->s[idx[j]].rev);
    }
    free(below);
    strlist_sort(out);
}

void heads_judge(const struct heads *h, const struct strlist *rows, struct verdict *v)
{
    memset(v, 0, sizeof *v);
    if (!h->known) {
        v->why = xstrdup(h->why ? h->why : "script heads unknown");
        return;
    }
    size_t *idx = xmalloc((rows->n + 1) * sizeof *idx), n = 0;
    for (size_t i = 0; i < rows->n && !v->why; i++) {
        const struct script *s = symbol(rows->v[i]) ? NULL : find(h, rows->v[i]);
        if (s)
            idx[n++] = (size_t)(s - h->s);
        else if (alembic_may_resolve(h, rows->v[i]))
            v->why = xasprintf("alembic_version holds '%.80s', which is no revision id but which Alembic "
                               "may still resolve (a prefix, a branch label or a symbol)", rows->v[i]);
        else
            strlist_push(&v->unknown, rows->v[i]);
    }
    if (!v->why) {
        v->known = true;
        overlaps(h, idx, n, &v->overlapping);
        struct strlist ignored = {0};
        heads_compare(h, rows, &v->pending, &ignored);
        strlist_free(&ignored);
        v->up_to_date = !v->pending.n && !v->unknown.n && !v->overlapping.n;
    } else {
        strlist_free(&v->unknown);
        tidy(v->why);
    }
    free(idx);
}

void heads_compare(const struct heads *h, const struct strlist *rows, struct strlist *pending,
                   struct strlist *unknown)
{
    bool *applied = xcalloc(h->n ? h->n : 1, sizeof *applied);
    for (size_t i = 0; i < rows->n; i++) {
        const struct script *s = find(h, rows->v[i]);
        if (s)
            mark(h, (size_t)(s - h->s), true, applied);
        else
            strlist_push(unknown, rows->v[i]);
    }
    for (size_t i = 0; h->known && i < h->heads.n; i++)
        if (!applied[find(h, h->heads.v[i]) - h->s])
            strlist_push(pending, h->heads.v[i]);
    free(applied);
}

void verdict_free(struct verdict *v)
{
    free(v->why);
    strlist_free(&v->pending);
    strlist_free(&v->unknown);
    strlist_free(&v->overlapping);
    memset(v, 0, sizeof *v);
}
