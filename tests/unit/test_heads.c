/* heads: one script as Alembic's Script takes it, a tree as RevisionMap
 * builds it, and alembic_version rows as `upgrade heads` judges them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "heads.h"

static void parses(const char *text, const char *rev, const char *down, const char *deps, const char *labels)
{
    struct script s;
    char *why = NULL;
    if (heads_parse_script(text, strlen(text), &s, &why) != 0)
        fail_msg("refused: %s", why);
    assert_string_equal(s.rev, rev);
    char *d = strlist_join(&s.down, ","), *p = strlist_join(&s.deps, ","), *l = strlist_join(&s.labels, ",");
    assert_string_equal(d, down);
    assert_string_equal(p, deps);
    if (labels)
        assert_string_equal(l, labels);
    else
        assert_false(s.labels_known);
    free(d);
    free(p);
    free(l);
    script_free(&s);
}

static void refuses(const char *text, const char *needle)
{
    struct script s;
    char *why = NULL;
    assert_int_equal(heads_parse_script(text, strlen(text), &s, &why), -1);
    if (!strstr(why, needle))
        fail_msg("'%s' not in '%s'", needle, why);
    assert_null(s.rev);
    free(why);
}

static void test_script_values(void **state)
{
    (void)state;
    parses("revision = 'a'\ndown_revision = None\n", "a", "", "", "");
    parses("revision = 'b'\ndown_revision = ''\ndepends_on = None\n", "b", "", "", "");
    parses("revision = 'b'\ndown_revision = ()\n", "b", "", "", "");
    parses("revision = 'b'\ndown_revision = []\n", "b", "", "", "");
    parses("revision = 'b'\ndown_revision = ('a',)\n", "b", "a", "", "");
    parses("revision = 'm'\ndown_revision = ['a', 'b']\n", "m", "a,b", "", "");
    /* depends_on '' is none on a revision that has a down_revision */
    parses("revision = 'b'\ndown_revision = 'a'\ndepends_on = ''\n", "b", "a", "", "");
    parses("revision = 'b'\ndown_revision = 'a'\ndepends_on = ('',)\n", "b", "a", "", "");
    parses("revision = 'b'\ndown_revision = 'a'\ndepends_on = ('x', 'x')\n", "b", "a", "x", "");
    parses("revision = 'b'\ndown_revision = 'a'\nbranch_labels = 'feature'\n", "b", "a", "", "feature");
    parses("revision = 'b'\ndown_revision = 'a'\nbranch_labels = ''\n", "b", "a", "", "");
    parses("revision = 'b'\ndown_revision = 'a'\nbranch_labels = (cli.EXPAND_BRANCH,)\n", "b", "a", "", NULL);
}

static void test_script_refusals(void **state)
{
    (void)state;
    refuses("down_revision = None\n", "no revision");
    refuses("revision = 'a'\n", "no down_revision");
    refuses("revision = None\ndown_revision = None\n", "not a single string");
    refuses("revision = ('a', 'b')\ndown_revision = None\n", "not a single string");
    refuses("revision = ''\ndown_revision = None\n", "is empty");
    refuses("revision = 'a-1'\ndown_revision = None\n", "Alembic refuses");
    refuses("revision = 'a@b'\ndown_revision = None\n", "Alembic refuses");
    refuses("revision = 'a b'\ndown_revision = None\n", "blank, comma");
    refuses("revision = 'a,b'\ndown_revision = None\n", "blank, comma");
    refuses("revision = 'a\\n'\ndown_revision = None\n", "blank, comma");
    refuses("revision = 'a'\ndown_revision = 'a'\n", "revises itself");
    refuses("revision = 'a'\ndown_revision = None\ndepends_on = 'a'\n", "depends on itself");
    refuses("revision = 'a'\ndown_revision = ('',)\n", "empty revision id");
    refuses("revision = 'a'\ndown_revision = ('x', '')\n", "empty revision id");
    refuses("revision = 'a'\ndown_revision = ('x', 'x')\n", "twice");
    refuses("revision = 'a'\ndown_revision = 'x'\ndepends_on = ('y', '')\n", "empty revision id");
    /* Alembic: a base with depends_on '' is no "real base": Dependency cycle */
    refuses("revision = 'a'\ndown_revision = None\ndepends_on = ''\n", "Dependency cycle");
    refuses("revision = 'a'\ndown_revision = ''\ndepends_on = ('',)\n", "Dependency cycle");
    refuses("revision = 'a'\ndown_revision = REVS[0]\n", "computed");
    refuses("revision = 'a'\nif x:\n    down_revision = 'b'\ndown_revision = None\n", "line 3");
    refuses("revision = 'a'\ndown_revision = None\nexec('x')\n", "exec");
}

/* --- trees ------------------------------------------------------------------ */

static char dir[64];

static void put(const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(path);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/sentry-heads-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char *cmd = xasprintf("rm -rf '%s'", dir);
    int rc = system(cmd);
    free(cmd);
    return rc;
}

static void load(struct heads *h)
{
    struct scripts_at at;
    struct strlist dirs = {0};
    strlist_push(&dirs, dir);
    locate_project(&dirs, "alembic.ini", false, &at);
    heads_load(&at, h);
    scripts_at_free(&at);
    strlist_free(&dirs);
}

/* "heads / stamp rows", or NULL when unknown (h kept for the caller). */
static char *tree(struct heads *h)
{
    load(h);
    if (!h->known)
        return NULL;
    char *a = strlist_join(&h->heads, ","), *b = strlist_join(&h->stamp, ",");
    char *r = xasprintf("%s / %s", a, b);
    free(a);
    free(b);
    return r;
}

static void tree_is(const char *expect)
{
    struct heads h;
    char *got = tree(&h);
    if (!got || strcmp(got, expect) != 0)
        fail_msg("got %s (%s), expected %s", got ? got : "unknown", h.why ? h.why : "", expect);
    free(got);
    heads_free(&h);
}

static void tree_unknown(const char *needle)
{
    struct heads h;
    char *got = tree(&h);
    if (got)
        fail_msg("known (%s), expected unknown with '%s'", got, needle);
    if (!strstr(h.why, needle))
        fail_msg("'%s' not in '%s'", needle, h.why);
    heads_free(&h);
}

/* The verdict on rows "a,b" as one word: UP, PENDING x,y, UNKNOWN x,
 * OVERLAP x, UNJUDGED. */
static char *judge(const char *rows)
{
    struct heads h;
    load(&h);
    struct strlist r = {0};
    if (*rows)
        strlist_split_csv(&r, rows);
    strlist_sort(&r);
    struct verdict v;
    heads_judge(&h, &r, &v);
    char *p = strlist_join(&v.pending, ","), *u = strlist_join(&v.unknown, ","), *o = strlist_join(&v.overlapping, ",");
    char *out = !v.known ? xstrdup("UNJUDGED") : v.up_to_date ? xstrdup("UP")
              : v.unknown.n ? xasprintf("UNKNOWN %s", u) : v.overlapping.n ? xasprintf("OVERLAP %s", o)
              : xasprintf("PENDING %s", p);
    free(p);
    free(u);
    free(o);
    verdict_free(&v);
    strlist_free(&r);
    heads_free(&h);
    return out;
}

static void judged(const char *rows, const char *expect)
{
    char *got = judge(rows);
    if (strcmp(got, expect) != 0)
        fail_msg("rows '%s': got %s, expected %s", rows, got, expect);
    free(got);
}

static void test_branches_and_merge(void **state)
{
    (void)state;
    put("a.py", "revision = 'a'\ndown_revision = None\n");
    put("b.py", "revision = 'b'\ndown_revision = 'a'\n");
    put("c.py", "revision = 'c'\ndown_revision = 'a'\n");
    put("__init__.py", "junk that is not a script");
    put(".#b.py", "editor lock file");
    put("notes.txt", "not python");
    tree_is("b,c / b,c");
    judged("b", "PENDING c");
    judged("b,c", "UP");
    judged("", "PENDING b,c");
    judged("zzz", "UNKNOWN zzz");
    judged("a,b", "OVERLAP a");   /* a is an ancestor of b: Alembic refuses */
    judged("a,b,c", "OVERLAP a");
    judged("head", "UNJUDGED");    /* symbols Alembic resolves itself */
    judged("x@b", "UNJUDGED");
    judged("-1", "UNJUDGED");
    put("m.py", "revision = 'merge1'\ndown_revision = ('b', 'c')\n");
    tree_is("merge1 / merge1");
    judged("merge1", "UP");
    judged("merg", "UNJUDGED");    /* a unique prefix: Alembic takes it for merge1 */
    judged("b,merge1", "OVERLAP b");
}

static void test_depends_on(void **state)
{
    (void)state;
    put("a.py", "revision = 'a'\ndown_revision = None\n");
    put("x.py", "revision = 'x'\ndown_revision = None\nbranch_labels = ('other',)\n");
    put("b.py", "revision = 'b'\ndown_revision = 'a'\ndepends_on = 'other'\n");
    /* heads follow down_revision only; the stamp skips x, which b depends on */
    tree_is("b,x / b");
    judged("b", "UP");
    judged("x", "PENDING b");
    judged("b,x", "OVERLAP x");    /* x is an ancestor of b through depends_on */
    /* heads_compare: the same reach, no overlap check (for the history's use) */
    struct heads h;
    load(&h);
    struct strlist r = {0}, pending = {0}, unknown = {0};
    strlist_push(&r, "b");
    strlist_push(&r, "x");
    strlist_push(&r, "zz");
    heads_compare(&h, &r, &pending, &unknown);
    assert_int_equal(pending.n, 0);
    assert_int_equal(unknown.n, 1);
    assert_string_equal(unknown.v[0], "zz");
    strlist_free(&r);
    strlist_free(&unknown);
    strlist_push(&r, "a");
    heads_compare(&h, &r, &pending, &unknown);
    assert_int_equal(pending.n, 2); /* b and x */
    strlist_free(&r);
    strlist_free(&pending);
    heads_free(&h);
    judged("other", "UNJUDGED");   /* a branch label: Alembic resolves it */
    put("b.py", "revision = 'b'\ndown_revision = 'a'\ndepends_on = 'x'\n");
    tree_is("b,x / b");
    put("b.py", "revision = 'b'\ndown_revision = 'a'\ndepends_on = 'nowhere'\n");
    tree_unknown("depends on nowhere, which no script defines");
}

static void test_computed_labels(void **state)
{
    (void)state;
    put("a.py", "revision = 'a'\ndown_revision = None\nbranch_labels = (cli.EXPAND_BRANCH,)\n");
    put("b.py", "revision = 'b'\ndown_revision = 'a'\ndepends_on = ''\n");
    tree_is("b / b");
    judged("b", "UP");
    judged("zzz", "UNJUDGED"); /* could be the computed label */
    put("c.py", "revision = 'c'\ndown_revision = None\ndepends_on = 'expand'\n");
    tree_unknown("some branch_labels are computed");
    put("c.py", "revision = 'c'\ndown_revision = None\ndepends_on = 'a'\n");
    tree_is("b,c / b,c");
    /* a known label is still checked */
    put("c.py", "revision = 'c'\ndown_revision = None\nbranch_labels = 'a'\n");
    tree_unknown("already used");
}

static void test_alembic_refuses(void **state)
{
    (void)state;
    put("a.py", "revision = 'a'\ndown_revision = 'missing'\n");
    tree_unknown("missing, which no script defines");
    put("a.py", "revision = 'a'\ndown_revision = None\n");
    put("a2.py", "revision = 'a'\ndown_revision = None\n");
    tree_unknown("defined twice");
    put("a.py", "revision = 'a'\ndown_revision = 'b'\n");
    put("a2.py", "revision = 'b'\ndown_revision = 'a'\n");
    tree_unknown("own ancestor");
    put("a.py", "revision = 'a'\ndown_revision = None\ndepends_on = 'a2'\n");
    put("a2.py", "revision = 'a2'\ndown_revision = 'a'\n");
    tree_unknown("own ancestor");
    put("a.py", "revision = 'a'\ndown_revision = None\nbranch_labels = ('l', 'l')\n");
    put("a2.py", "revision = 'a2'\ndown_revision = 'a'\n");
    tree_unknown("already used");
    put("a.py", "revision = 'a'\ndown_revision = None\nbranch_labels = 'a2'\n");
    tree_unknown("already used by revision a2");
    put("a.py", "revision = 'a'\ndown_revision = None\nbranch_labels = 'l'\n");
    put("a2.py", "revision = 'a2'\ndown_revision = 'l'\n");
    tree_unknown("a branch label");
    put("a2.py", "revision = 'a2'\ndown_revision = 'a'\nbranch_labels = 'l'\n");
    tree_unknown("already used");
}

static void test_unknown_folders(void **state)
{
    (void)state;
    tree_unknown("no revision scripts"); /* an empty tree is unknown, not "no heads" */
    struct heads h;
    struct scripts_at at;
    struct strlist dirs = {0};
    strlist_push(&dirs, "/nonexistent-sentry-dir");
    locate_project(&dirs, "alembic.ini", false, &at);
    heads_load(&at, &h);
    assert_false(h.known);
    struct verdict v;
    heads_judge(&h, &dirs, &v);
    assert_false(v.known);
    verdict_free(&v);
    heads_free(&h);
    scripts_at_free(&at);
    strlist_free(&dirs);
    put("bad.py", "revision = 'a'\ndown_revision = None\n  x = 1\n");
    tree_unknown("bad.py: line 3: unexpected indent");
}

static void test_long_chain(void **state)
{
    (void)state;
    /* thousands deep: no recursion */
    char name[32], text[128];
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof name, "r%d.py", i);
        if (i == 0)
            snprintf(text, sizeof text, "revision = 'r0'\ndown_revision = None\n");
        else
            snprintf(text, sizeof text, "revision = 'r%d'\ndown_revision = 'r%d'\n", i, i - 1);
        put(name, text);
    }
    tree_is("r2999 / r2999");
    judged("r2999", "UP");
    judged("r0", "PENDING r2999");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_script_values),
        cmocka_unit_test(test_script_refusals),
        cmocka_unit_test_setup_teardown(test_branches_and_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_depends_on, setup, teardown),
        cmocka_unit_test_setup_teardown(test_computed_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alembic_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_folders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_chain, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
