/* The Alembic script parser and the heads it computes. */
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
    assert_string_equal(l, labels);
    free(d);
    free(p);
    free(l);
    script_free(&s);
}

static void refuses(const char *text, size_t len, const char *needle)
{
    struct script s;
    char *why = NULL;
    assert_int_equal(heads_parse_script(text, len, &s, &why), -1);
    if (!strstr(why, needle))
        fail_msg("'%s' not in '%s'", needle, why);
    free(why);
}

static const char untyped[] =
    "\"\"\"add column\n\nRevision ID: 2b3c\nRevises: 1a2b\n"
    "revision = 'fake-in-docstring'\n\"\"\"\n"
    "from alembic import op\nimport sqlalchemy as sa\n\n\n"
    "# revision identifiers, used by Alembic.\n"
    "revision = '2b3c'\ndown_revision = '1a2b'\nbranch_labels = None\ndepends_on = None\n\n\n"
    "def upgrade():\n    revision = 'not-top-level'\n    op.add_column('t', sa.Column('c', sa.Integer()))\n";

static const char typed[] =
    "\"\"\"merge\n\nRevision ID: m1\n\"\"\"\nfrom typing import Sequence, Union\n\n"
    "revision: str = \"m1\"\n"
    "down_revision: Union[str, Sequence[str], None] = (\"a1\",\n    \"b1\",  # two parents\n)\n"
    "branch_labels: Union[str, Sequence[str], None] = ('feature',)\n"
    "depends_on: Union[str, Sequence[str], None] = [\"x9\"]  # comment\n";

static void test_templates(void **state)
{
    (void)state;
    parses(untyped, "2b3c", "1a2b", "", "");
    parses(typed, "m1", "a1,b1", "x9", "feature");
    parses("revision = 'base'\ndown_revision = None\n", "base", "", "", "");
    parses("revision = u'r1'\r\ndown_revision = ()\r\n", "r1", "", "", "");
    parses("revision='r2'\ndown_revision=['r1']", "r2", "r1", "", "");
}

static void test_refusals(void **state)
{
    (void)state;
    refuses("down_revision = None\n", 21, "no revision");
    refuses("revision = 'a'\n", 15, "no down_revision");
    refuses("revision = 'a'\nrevision = 'b'\ndown_revision = None\n", 44, "more than once");
    refuses("revision = REV\ndown_revision = None\n", 36, "revision is not a plain string");
    refuses("revision = 'a' + 'b'\ndown_revision = None\n", 42, "expression");
    refuses("revision = None\ndown_revision = None\n", 37, "not a single string");
    refuses("revision = ('a', 'b')\ndown_revision = None\n", 43, "not a single string");
    refuses("revision = 'a\\x'\ndown_revision = None\n", 38, "does not read for certain");
    refuses("revision = \"\"\"a\"\"\"\ndown_revision = None\n", 40, "triple-quoted");
    refuses("revision = 'a\ndown_revision = None\n", 35, "does not read for certain");
    refuses("revision = 'a'\ndown_revision = ('b' 'c')\n", 41, "sequence");
    refuses("revision == 'a'\n", 16, "plain assignment");
    refuses("revision = 'a'\0\ndown_revision = None\n", 37, "binary");
    refuses("revision = ''\ndown_revision = None\n", 35, "empty id");
    refuses("revision = 'b'\ndown_revision = ''\n", 34, "empty id");
    refuses("revision = 'b'\ndown_revision = None\nbranch_labels = ('',)\n", 58, "empty id");
    refuses("revision = 'b-1'\ndown_revision = None\n", 38, "Alembic refuses");
    refuses("revision = 'b'\ndown_revision = 'a@x'\n", 37, "Alembic refuses");
}

/* --- folders ------------------------------------------------------------------ */

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

static char *load_heads(struct heads *h)
{
    heads_load(dir, h);
    return h->known ? strlist_join(&h->heads, ",") : NULL;
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
    struct heads h;
    char *got = load_heads(&h);
    assert_non_null(got);
    assert_string_equal(got, "b,c");
    free(got);

    struct strlist cur = {0}, pending = {0}, unknown = {0};
    strlist_push(&cur, "b");
    heads_compare(&h, &cur, &pending, &unknown);
    assert_int_equal(pending.n, 1);
    assert_string_equal(pending.v[0], "c");
    assert_int_equal(unknown.n, 0);
    strlist_free(&pending);
    strlist_push(&cur, "c");
    heads_compare(&h, &cur, &pending, &unknown);
    assert_int_equal(pending.n + unknown.n, 0);
    strlist_free(&cur);
    strlist_push(&cur, "zzz");
    heads_compare(&h, &cur, &pending, &unknown);
    assert_int_equal(unknown.n, 1);
    assert_string_equal(unknown.v[0], "zzz");
    assert_int_equal(pending.n, 2);
    strlist_free(&cur);
    strlist_free(&pending);
    strlist_free(&unknown);
    heads_free(&h);

    put("m.py", "revision = 'm'\ndown_revision = ('b', 'c')\n");
    got = load_heads(&h);
    assert_string_equal(got, "m");
    free(got);
    heads_free(&h);
}

static void test_depends_on_counts_as_applied(void **state)
{
    (void)state;
    put("a.py", "revision = 'a'\ndown_revision = None\n");
    put("x.py", "revision = 'x'\ndown_revision = None\nbranch_labels = ('other',)\n");
    put("b.py", "revision = 'b'\ndown_revision = 'a'\ndepends_on = 'other'\n");
    struct heads h;
    char *got = load_heads(&h);
    assert_string_equal(got, "b,x"); /* heads follow down_revision only */
    free(got);
    struct strlist cur = {0}, pending = {0}, unknown = {0};
    strlist_push(&cur, "b");
    heads_compare(&h, &cur, &pending, &unknown);
    assert_int_equal(pending.n + unknown.n, 0); /* x is reached through depends_on */
    strlist_free(&cur);
    heads_free(&h);
}

static void test_unknown_folders(void **state)
{
    (void)state;
    struct heads h;
    put("a.py", "revision = 'a'\ndown_revision = 'missing'\n");
    assert_null(load_heads(&h));
    assert_non_null(strstr(h.why, "missing"));
    heads_free(&h);
    put("a.py", "revision = 'a'\ndown_revision = None\n");
    put("a2.py", "revision = 'a'\ndown_revision = None\n");
    assert_null(load_heads(&h));
    assert_non_null(strstr(h.why, "defined twice"));
    heads_free(&h);
    put("a.py", "revision = 'a'\ndown_revision = 'b'\n");
    put("a2.py", "revision = 'b'\ndown_revision = 'a'\n");
    assert_null(load_heads(&h));
    assert_non_null(strstr(h.why, "own ancestor"));
    heads_free(&h);
    put("a.py", "revision = 'a'\ndown_revision = None\ndepends_on = 'a'\n");
    put("a2.py", "revision = 'a2'\ndown_revision = 'a'\n");
    assert_null(load_heads(&h));
    assert_non_null(strstr(h.why, "own ancestor"));
    heads_free(&h);
    heads_load("/nonexistent-sentry-dir", &h);
    assert_false(h.known);
    heads_free(&h);
}

static void test_empty_folder(void **state)
{
    (void)state;
    struct heads h;
    char *got = load_heads(&h);
    assert_non_null(got);
    assert_string_equal(got, "");
    free(got);
    struct strlist cur = {0}, pending = {0}, unknown = {0};
    heads_compare(&h, &cur, &pending, &unknown);
    assert_int_equal(pending.n + unknown.n, 0);
    strlist_push(&cur, "x");
    heads_compare(&h, &cur, &pending, &unknown);
    assert_int_equal(unknown.n, 1);
    strlist_free(&cur);
    strlist_free(&unknown);
    heads_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_templates),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test_setup_teardown(test_branches_and_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_depends_on_counts_as_applied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_folders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_folder, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
