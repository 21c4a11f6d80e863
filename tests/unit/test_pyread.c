/* pyread: what a script's module binds to the four names, or why not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyread.h"
#include "util.h"

/* One field as text: "-" absent, "None", 's' a string, ('a','b') a tuple,
 * ['a'] a list, "?" unknown. */
static char *shown(const struct pyval *v)
{
    if (v->kind == PV_ABSENT)
        return xstrdup("-");
    if (v->kind == PV_NONE)
        return xstrdup("None");
    if (v->kind == PV_UNKNOWN)
        return xstrdup("?");
    char *items = strlist_join(&v->items, "','");
    char *r = v->kind == PV_STR ? xasprintf("'%s'", items)
            : xasprintf(v->kind == PV_TUPLE ? "(%s%s%s)" : "[%s%s%s]", v->items.n ? "'" : "", items,
                        v->items.n ? "'" : "");
    free(items);
    return r;
}

/* "rev|down|deps|labels", or "ERR: why". */
static char *read_all(const char *text)
{
    struct pyscript ps;
    char *why;
    if (pyread_script(text, strlen(text), &ps, &why) != 0) {
        char *r = xasprintf("ERR: %s", why);
        free(why);
        return r;
    }
    char *f[PY_NFIELDS];
    for (int i = 0; i < PY_NFIELDS; i++)
        f[i] = shown(&ps.v[i]);
    char *r = xasprintf("%s|%s|%s|%s", f[0], f[1], f[2], f[3]);
    for (int i = 0; i < PY_NFIELDS; i++)
        free(f[i]);
    pyscript_free(&ps);
    return r;
}

#define READS(text, expect)                                                                    \
    do {                                                                                       \
        char *got_ = read_all(text);                                                           \
        if (strcmp(got_, expect) != 0)                                                         \
            fail_msg("%s\n  got:    %s\n  expect: %s", #text, got_, expect);                   \
        free(got_);                                                                            \
    } while (0)

static void why_of(const char *text, enum pyfield f, const char *needle)
{
    struct pyscript ps;
    char *why;
    assert_int_equal(pyread_script(text, strlen(text), &ps, &why), 0);
    assert_int_equal(ps.v[f].kind, PV_UNKNOWN);
    if (!strstr(ps.v[f].why, needle))
        fail_msg("'%s' not in '%s'", needle, ps.v[f].why);
    pyscript_free(&ps);
}

static const char flask_template[] =
    "\"\"\"add a column\n\nRevision ID: 2b3c4d5e6f70\nRevises: 1a2b3c4d5e6f\n"
    "Create Date: 2024-01-01 12:00:00\n\n\"\"\"\n"
    "from alembic import op\nimport sqlalchemy as sa\n\n\n"
    "# revision identifiers, used by Alembic.\n"
    "revision = '2b3c4d5e6f70'\ndown_revision = '1a2b3c4d5e6f'\nbranch_labels = None\n"
    "depends_on = None\n\n\n"
    "def upgrade():\n    op.add_column('t', sa.Column('c', sa.Integer()))\n\n\n"
    "def downgrade():\n    op.drop_column('t', 'c')\n";

static const char typed_template[] =
    "\"\"\"merge\n\nRevision ID: m1\nRevises: a1, b1\n\"\"\"\n"
    "from typing import Sequence, Union\n\nfrom alembic import op\nimport sqlalchemy as sa\n\n\n"
    "# revision identifiers, used by Alembic.\n"
    "revision: str = \"m1\"\n"
    "down_revision: Union[str, Sequence[str], None] = (\"a1\", \"b1\")\n"
    "branch_labels: Union[str, Sequence[str], None] = None\n"
    "depends_on: Union[str, Sequence[str], None] = None\n\n\n"
    "def upgrade() -> None:\n    \"\"\"Upgrade schema.\"\"\"\n    pass\n";

static const char multidb_template[] =
    "\"\"\"multidb\n\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\n\n\n"
    "revision = 'md1'\ndown_revision = None\nbranch_labels = None\ndepends_on = None\n\n\n"
    "def upgrade(engine_name):\n    globals()[\"upgrade_%s\" % engine_name]()\n\n\n"
    "def downgrade(engine_name):\n    globals()[\"downgrade_%s\" % engine_name]()\n\n\n"
    "def upgrade_():\n    pass\n\n\ndef downgrade_():\n    pass\n";

static void test_templates(void **state)
{
    (void)state;
    READS(flask_template, "'2b3c4d5e6f70'|'1a2b3c4d5e6f'|None|None");
    READS(typed_template, "'m1'|('a1','b1')|None|None");
    READS(multidb_template, "'md1'|None|None|None");
    READS("revision = 'a'\n", "'a'|-|-|-");
}

static void test_values(void **state)
{
    (void)state;
    READS("revision = 'a' 'b'\n", "'ab'|-|-|-");
    READS("revision = ('a'\n    'b')  # joined\n", "'ab'|-|-|-");
    READS("revision = \\\n    'ab'\n", "'ab'|-|-|-");
    READS("revision = r'a\\b'\n", "'a\\b'|-|-|-");
    READS("revision = u'\\x61b'\n", "'ab'|-|-|-");
    READS("revision = f'ab'\n", "'ab'|-|-|-");
    READS("revision = '''ab'''\n", "'ab'|-|-|-");
    READS("down_revision = 'a', 'b'\n", "-|('a','b')|-|-");
    READS("down_revision = 'a',\n", "-|('a')|-|-");
    READS("down_revision = ('a',)\n", "-|('a')|-|-");
    READS("down_revision = ('a')\n", "-|'a'|-|-");
    READS("down_revision = (('a'))\n", "-|'a'|-|-");
    READS("down_revision = [\n    'a',  # one\n    'b',\n]\n", "-|['a','b']|-|-");
    READS("down_revision = ()\ndepends_on = []\n", "-|()|[]|-");
    READS("down_revision = ''\n", "-|''|-|-");
    READS("down_revision = (None)\n", "-|None|-|-");
    READS("down_revision: Union[str, None] = None\n", "-|None|-|-");
    READS("revision = 'a'; down_revision = 'b'\n", "'a'|'b'|-|-");
    READS("import os; revision = 'a';\n", "'a'|-|-|-");
    READS("down_revision = 'x'\ndown_revision = 'y'\n", "-|'y'|-|-"); /* the last one wins */
    /* computed: unknown, the rest still read */
    READS("revision = 'a' + 'b'\ndown_revision = None\n", "?|None|-|-");
    READS("down_revision = REVS[0]\n", "-|?|-|-");
    READS("down_revision = ('a', None)\n", "-|?|-|-");
    READS("down_revision = (('a', 'b'),)\n", "-|?|-|-");
    READS("down_revision = b'a'\n", "-|?|-|-");
    READS("down_revision = f'{x}'\n", "-|?|-|-");
    READS("down_revision = '\\N{DIGIT ONE}'\n", "-|?|-|-");
    READS("down_revision = x = 'a'\n", "-|?|-|-");
    READS("down_revision = lambda x=1: x\n", "-|?|-|-");
    READS("branch_labels = (cli.EXPAND_BRANCH,)\nrevision = 'a'\n", "'a'|-|-|?");
    READS("down_revision = [*a]\n", "-|?|-|-");
}

static void test_other_bindings(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "revision = 'a'\nif x:\n    revision = 'b'\n",
        "revision = 'a'\nif x: revision = 'b'\n",
        "revision = 'a'\ndef f():\n    global revision\n    revision = 'b'\n",
        "revision = 'a'\nrevision += 'b'\n",
        "revision = 'a'\nrevision, x = 'b', 1\n",
        "revision = 'a'\nx, revision = 1, 'b'\n",
        "revision = 'a'\n(revision := 'b')\n",
        "revision = 'a'\nfor revision in ['b']:\n    pass\n",
        "revision = 'a'\nimport revision\n",
        "revision = 'a'\nfrom m import b as revision\n",
        "revision = 'a'\ndel revision\n",
        "revision = 'a'\nwith x as revision:\n    pass\n",
        "revision = 'a'\nclass M:\n    revision = 'b'\n",
        "revision = 'a'\nm.revision = 'b'\n",
        "revision = 'a'\nx = revision\n",
        "revision: str\nrevision = 'a'\n",
        "x = revision = 'a'\n",
        "revision = 'a'\ntry:\n    pass\nexcept E as revision:\n    pass\n",
        "revision = 'a'\ndef f(revision='b'):\n    pass\n",
        "revision = 'a'\nmatch x:\n    case revision:\n        pass\n",
        "revision = 'a'\n@d(revision='b')\ndef f():\n    pass\n",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        why_of(cases[i], PY_REVISION, "other than by a module-level assignment");
    why_of("branch_labels = None\nif x:\n    branch_labels = ('y',)\n", PY_LABELS, "line 3");
    why_of("if x:\n    down_revision = ('a', 'b')\ndown_revision = 'a'\n", PY_DOWN, "line 2");
}

static void test_decoys(void **state)
{
    (void)state;
    /* an escaped quote inside a docstring does not close it */
    READS("\"\"\"doc \\\"\"\" still doc\nrevision = 'decoy'\ndown_revision = 'decoy'\n\"\"\"\n"
          "revision = 'real'\ndown_revision = None\n",
          "'real'|None|-|-");
    READS("'''\nrevision = 'decoy'\n'''\nrevision = 'real'\n", "'real'|-|-|-");
    READS("r'''\\'''\nrevision = 'decoy'\n'''\nrevision = 'real'\n", "'real'|-|-|-");
    READS("# revision = 'decoy'\nrevision = 'real'  # revision = 'decoy'\n", "'real'|-|-|-");
    READS("x = \"revision = 'decoy'\"\nrevision = 'real'\n", "'real'|-|-|-");
    READS("x = f\"{y} revision = 'decoy'\"\nrevision = 'real'\n", "'real'|-|-|-");
    READS("x = ('a',\n'revision = 1')\nrevision = 'real'\n", "'real'|-|-|-");
    READS("def upgrade():\n    op.execute(\"\"\"\nrevision = 'decoy'\n\"\"\")\nrevision = 'real'\n",
          "'real'|-|-|-");
    READS("x = 'a\\\nrevision = 1'\nrevision = 'real'\n", "'real'|-|-|-");
    READS("x = 1 + \\\n    2\nrevision = 'real'\n", "'real'|-|-|-");
    READS("if x:\n\tpass\n\frevision = 'real'\n", "'real'|-|-|-");
    READS("class A:\n    x = 1\nrevision = 'real'\n", "'real'|-|-|-");
}

static void test_refused(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"revision = 'a'\nglobals()['revision'] = 'b'\n", "globals"},
        {"revision = 'a'\nvars()['revision'] = 'b'\n", "vars"},
        {"revision = 'a'\nexec(\"revision = 'b'\")\n", "exec"},
        {"revision = 'a'\nsetattr(sys.modules[__name__], 'revision', 'b')\n", "setattr"},
        {"revision = 'a'\nsys.modules[__name__].x = 1\n", "modules"},
        {"revision = 'a'\ndef __getattr__(name):\n    return 'b'\n", "__getattr__"},
        {"revision = 'a'\nfrom m import *\n", "imports *"},
        {"def f():\n    globals()['x'] = 1\n", "globals"},
        {"def f():\n    del globals()['x']()\n", "globals"},
        {"revision = 'a'\n  down_revision = 'b'\n", "unexpected indent"},
        {"if x:\nrevision = 'a'\n", "expected an indented block"},
        {"if x:\n", "expected an indented block"},
        {"def f():\n    '''\n", "unterminated"},
        {"revision = ('a'\n", "never closed"},
        {"revision = 'a' b'c'\n", "mix bytes"},
        {"revision = \n", "missing value"},
        {"revision = ('a',,)\n", "stray comma"},
        {"revision = 'a';;\n", "empty statement"},
        {"revision = '\\x1'\n", "invalid"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = read_all(cases[i][0]);
        if (strncmp(got, "ERR: ", 5) != 0 || !strstr(got, cases[i][1]))
            fail_msg("%s\n  got: %s\n  expected an error with '%s'", cases[i][0], got, cases[i][1]);
        free(got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_templates), cmocka_unit_test(test_values),
        cmocka_unit_test(test_other_bindings), cmocka_unit_test(test_decoys),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
