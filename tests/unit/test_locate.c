/* The finder: alembic.ini as configparser reads it (ini), the project's
 * layout, its version locations as Alembic splits them, and the files
 * Alembic counts (locate). Each test runs in a fresh working directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ini.h"
#include "locate.h"

/* --- ini ------------------------------------------------------------------ */

static struct ini parsed(const char *text)
{
    struct ini ini = {0};
    char *why;
    ini_set(&ini, "DEFAULT", "here", "/proj", true);
    if (ini_parse(&ini, text, strlen(text), &why) != 0)
        fail_msg("refused: %s", why);
    return ini;
}

static void option_is(const char *text, const char *key, const char *expect)
{
    struct ini ini = parsed(text);
    char *v, *why;
    int rc = ini_get(&ini, "alembic", key, &v, &why);
    if (expect == NULL) {
        assert_int_equal(rc, 1);
    } else {
        if (rc != 0)
            fail_msg("%s: rc %d (%s)", key, rc, rc < 0 ? why : "absent");
        if (strcmp(v, expect) != 0)
            fail_msg("%s: got '%s', expected '%s'", key, v, expect);
        free(v);
    }
    ini_free(&ini);
}

static void parse_refused(const char *text, const char *needle)
{
    struct ini ini = {0};
    char *why;
    assert_int_equal(ini_parse(&ini, text, strlen(text), &why), -1);
    if (!strstr(why, needle))
        fail_msg("'%s' not in '%s'", needle, why);
    free(why);
    ini_free(&ini);
}

static void get_refused(const char *text, const char *key, const char *needle)
{
    struct ini ini = parsed(text);
    char *v, *why;
    assert_int_equal(ini_get(&ini, "alembic", key, &v, &why), -1);
    if (!strstr(why, needle))
        fail_msg("'%s' not in '%s'", needle, why);
    free(why);
    ini_free(&ini);
}

static void test_ini(void **state)
{
    (void)state;
    option_is("[alembic]\nscript_location = alembic\n", "script_location", "alembic");
    option_is("[alembic]\nScript_Location:alembic  \n", "script_location", "alembic");
    option_is("[alembic]\nx = a = b\n", "x", "a = b");
    option_is("[alembic]\nx : a=b\n", "x", "a=b");
    option_is("[alembic]\n# script_location = no\n; also no\nscript_location = yes\n", "script_location", "yes");
    option_is("[alembic]\nx = a # not a comment\n", "x", "a # not a comment");
    option_is("[alembic]\nx = a\n  b\n\n  c\n\n\n", "x", "a\nb\n\nc");
    option_is("[alembic]\nx =\n  a\n", "x", "\na");
    option_is("[alembic]\nx = a\n  # a comment inside\n  b\n", "x", "a\nb");
    option_is("[alembic]\n  x = a\n  y = b\n", "y", "b"); /* same indentation: a new option */
    option_is("[DEFAULT]\nroot = /r\n[alembic]\nx = %(root)s/v\n", "x", "/r/v");
    option_is("[alembic]\nx = %(here)s/versions\n", "x", "/proj/versions");
    option_is("[alembic]\nx = %(HERE)s/v\n", "x", "/proj/v");
    option_is("[alembic]\nx = 100%%\n", "x", "100%");
    option_is("[alembic]\na = %(b)s\nb = %(here)s\nx = %(a)s/v\n", "x", "/proj/v");
    option_is("[DEFAULT]\nhere = /other\n[alembic]\nx = %(here)s\n", "x", "/other");
    option_is("[alembic]\n", "x", NULL);
    option_is("[other]\nx = 1\n[alembic]\ny = 2\n", "x", NULL);
    option_is("[alembic]\nx = a\r\ny = b\r\n", "y", "b");
    option_is("[alembic] trailing\nx = 1\n", "x", "1");
    get_refused("[alembic]\nx = 100%\n", "x", "bad interpolation");
    get_refused("[alembic]\nx = %(nope)s\n", "x", "not set");
    get_refused("[alembic]\nx = %(x)s\n", "x", "nested more than 10");
    get_refused("[alembic]\nx = %(y\n", "x", "bad interpolation");
    parse_refused("x = 1\n[alembic]\n", "before any [section]");
    parse_refused("[alembic]\nx = 1\nx = 2\n", "appears twice");
    parse_refused("[alembic]\n[alembic]\n", "appears twice");
    parse_refused("[alembic]\njust words\n", "neither a section");
    parse_refused("[alembic]\n= 1\n", "no name");
    parse_refused("\xef\xbb\xbf[alembic]\n", "before any [section]"); /* Python keeps the BOM */
    parse_refused("[alembic]\nx = \xff\n", "UTF-8");
    parse_refused("[al\xc3\xa9mbic]\n", "non-ASCII");
}

/* --- the finder ---------------------------------------------------------------- */

static char home[PATH_MAX], work[PATH_MAX];

static int setup(void **state)
{
    (void)state;
    if (!getcwd(home, sizeof home))
        return -1;
    snprintf(work, sizeof work, "/tmp/sentry-locate-XXXXXX");
    return mkdtemp(work) && chdir(work) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char *cmd = xasprintf("rm -rf '%s'", work);
    int rc = chdir(home) || system(cmd);
    free(cmd);
    return rc;
}

static void put(const char *path, const char *text)
{
    char *dir = xstrdup(path), *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        char *cmd = xasprintf("mkdir -p '%s'", dir);
        assert_int_equal(system(cmd), 0);
        free(cmd);
    }
    free(dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void mkdirs(const char *path)
{
    char *cmd = xasprintf("mkdir -p '%s'", path);
    assert_int_equal(system(cmd), 0);
    free(cmd);
}

static const char script[] = "revision = 'x'\ndown_revision = None\n";

/* The files found, relative to the work folder, joined by " "; or
 * "UNKNOWN: why". kind receives the project kind. */
static char *found(const char *dirs_setting, const char *ini, bool explicit_ini, enum project *kind)
{
    struct strlist dirs = {0};
    if (dirs_setting)
        strlist_split_csv(&dirs, dirs_setting);
    struct scripts_at at;
    locate_project(dirs_setting ? &dirs : NULL, ini, explicit_ini, &at);
    if (kind)
        *kind = at.kind;
    struct strlist files = {0};
    char *why, *out;
    if (locate_files(&at, &files, &why) != 0) {
        out = xasprintf("UNKNOWN: %s", why);
        free(why);
    } else {
        for (size_t i = 0; i < files.n; i++)
            if (strncmp(files.v[i], work, strlen(work)) == 0)
                memmove(files.v[i], files.v[i] + strlen(work) + 1, strlen(files.v[i] + strlen(work)));
        out = strlist_join(&files, " ");
    }
    strlist_free(&files);
    strlist_free(&dirs);
    scripts_at_free(&at);
    return out;
}

/* expect: the files, or "UNKNOWN: <a piece of the reason>". */
static void found_is(const char *dirs, const char *ini, bool explicit_ini, const char *expect)
{
    char *got = found(dirs, ini, explicit_ini, NULL);
    bool unknown = strncmp(expect, "UNKNOWN: ", 9) == 0;
    bool ok = unknown ? strncmp(got, "UNKNOWN: ", 9) == 0 && strstr(got, &expect[9]) != NULL
                      : strcmp(got, expect) == 0;
    if (!ok)
        fail_msg("got:    %s\nexpect: %s", got, expect);
    free(got);
}

#define FOUND(dirs, ini, explicit_ini, expect) found_is(dirs, ini, explicit_ini, expect)

static void test_layouts(void **state)
{
    (void)state;
    enum project kind;
    char *got = found(NULL, "alembic.ini", false, &kind);
    assert_int_equal(kind, PROJECT_NONE);
    assert_non_null(strstr(got, "no migrations/versions folder and no alembic.ini"));
    free(got);
    /* Flask-Migrate */
    put("migrations/versions/a.py", script);
    put("migrations/alembic.ini", "[alembic]\n");
    got = found(NULL, "alembic.ini", false, &kind);
    assert_int_equal(kind, PROJECT_FLASK);
    assert_string_equal(got, "migrations/versions/a.py");
    free(got);
    /* Flask-Migrate's own alembic.ini wins over one in the working directory */
    put("alembic.ini", "[alembic]\nscript_location = elsewhere\n");
    got = found(NULL, "alembic.ini", false, &kind);
    assert_int_equal(kind, PROJECT_FLASK);
    free(got);
    /* `alembic init migrations`: alembic.ini here, none in migrations/ */
    unlink("migrations/alembic.ini");
    put("alembic.ini", "[alembic]\nscript_location = migrations\n");
    got = found(NULL, "alembic.ini", false, &kind);
    assert_int_equal(kind, PROJECT_ALEMBIC);
    assert_string_equal(got, "migrations/versions/a.py");
    free(got);
    /* an explicit configuration names a plain Alembic project */
    put("conf/alembic.ini", "[alembic]\nscript_location = %(here)s/../alembic\n");
    put("alembic/versions/b.py", script);
    put("migrations/alembic.ini", "[alembic]\n");
    got = found(NULL, "conf/alembic.ini", true, &kind);
    assert_int_equal(kind, PROJECT_ALEMBIC);
    assert_string_equal(got, "alembic/versions/b.py");
    free(got);
    /* SENTRY_MIGRATIONS_DIR: the folders given, the kind still from the layout */
    got = found("alembic/versions,migrations/versions", "alembic.ini", false, &kind);
    assert_int_equal(kind, PROJECT_FLASK);
    assert_string_equal(got, "alembic/versions/b.py migrations/versions/a.py");
    free(got);
}

static void test_version_locations(void **state)
{
    (void)state;
    put("a/one.py", script);
    put("b/two.py", script);
    put("c d/three.py", script);
    mkdirs("alembic/versions");
    const char *loc = "[alembic]\nscript_location = alembic\n";
    char ini[512];
#define WITH(rest, expect)                                                         \
    do {                                                                           \
        snprintf(ini, sizeof ini, "%s%s", loc, rest);                              \
        put("alembic.ini", ini);                                                   \
        FOUND(NULL, "alembic.ini", false, expect);                                 \
    } while (0)
    WITH("version_locations = a b\n", "a/one.py b/two.py");
    WITH("version_locations = a, b\n", "a/one.py b/two.py");
    WITH("version_locations = a,b\n", "a/one.py b/two.py");
    WITH("version_locations = %(here)s/a  %(here)s/b\n", "a/one.py b/two.py");
    WITH("version_locations = a:b\n", "UNKNOWN: package resource"); /* legacy: one path, "a:b" */
    WITH("version_locations = a:b\nversion_path_separator = os\n", "a/one.py b/two.py");
    WITH("version_locations = a:b\nversion_path_separator = :\n", "a/one.py b/two.py");
    WITH("version_locations = a;c d\nversion_path_separator = ;\n", "a/one.py c d/three.py");
    WITH("version_locations = a b\nversion_path_separator = space\n", "a/one.py b/two.py");
    WITH("version_locations = a\n  b\nversion_path_separator = newline\n", "a/one.py b/two.py");
    WITH("version_locations = a ; b\nversion_path_separator = ;\n", "UNKNOWN: blanks around it");
    WITH("version_locations = a ; b\npath_separator = ;\n", "a/one.py b/two.py");
    WITH("version_locations = a:b\npath_separator = os\nversion_path_separator = ;\n", "a/one.py b/two.py");
    WITH("version_locations = a\nversion_path_separator = tab\n", "UNKNOWN: is not space");
    WITH("version_locations = a nowhere\n", "a/one.py"); /* a missing location is skipped */
    WITH("version_locations = nowhere\n", "UNKNOWN: no revision scripts");
    WITH("version_locations = pkg:versions\n", "UNKNOWN: package resource");
    WITH("version_locations = a\n  b\n", "UNKNOWN: no revision scripts"); /* legacy: "a\nb" is one path */
    WITH("version_locations =\n", "UNKNOWN: no revision scripts in alembic/versions");
    put("alembic/versions/v.py", script);
    WITH("version_locations =\n", "alembic/versions/v.py");
    /* legacy splitting keeps an empty piece: os.path.abspath("") is the working directory */
    put("top.py", script);
    WITH("version_locations = a,,b\n", "./top.py a/one.py b/two.py");
    WITH("version_locations = a ,b\n", "./top.py a/one.py b/two.py");
#undef WITH
}

static void test_config_problems(void **state)
{
    (void)state;
    put("alembic/versions/v.py", script);
    put("alembic.ini", "[alembic]\nscript_location = alembic\n");
    FOUND(NULL, "alembic.ini", false, "alembic/versions/v.py");
    put("alembic.ini", "[other]\nscript_location = alembic\n");
    FOUND(NULL, "alembic.ini", false, "UNKNOWN: no [alembic] section");
    put("alembic.ini", "[alembic]\nsqlalchemy.url = x\n");
    FOUND(NULL, "alembic.ini", false, "UNKNOWN: no script_location");
    put("alembic.ini", "[alembic]\nscript_location = nowhere\n");
    FOUND(NULL, "alembic.ini", false, "UNKNOWN: does not exist");
    put("bare/env.py", "# no versions folder in here\n");
    put("alembic.ini", "[alembic]\nscript_location = bare\n");
    FOUND(NULL, "alembic.ini", false, "UNKNOWN: cannot read bare/versions");
    put("alembic.ini", "[alembic]\nscript_location = myapp:migrations\n");
    FOUND(NULL, "alembic.ini", false, "UNKNOWN: package resource");
    put("alembic.ini", "[alembic]\nscript_location = alembic\nscript_location = again\n");
    FOUND(NULL, "alembic.ini", false, "UNKNOWN: appears twice");
    put("alembic.ini", "[alembic]\nscript_location = %(nope)s\n");
    FOUND(NULL, "alembic.ini", false, "UNKNOWN: not set");
    put("alembic.ini", "[alembic]\nscript_location = alembic\nsourceless = true\n");
    FOUND(NULL, "alembic.ini", false, "alembic/versions/v.py");
    put("alembic/versions/__pycache__/v.cpython-311.pyc", "bytecode");
    FOUND(NULL, "alembic.ini", false, "UNKNOWN: sourceless");
    put("alembic.ini", "[alembic]\nscript_location = alembic\nsourceless = false\n");
    FOUND(NULL, "alembic.ini", false, "alembic/versions/v.py");
    /* Flask-Migrate's folder is `migrations` whatever its alembic.ini says */
    put("migrations/versions/f.py", script);
    put("migrations/alembic.ini", "[alembic]\nscript_location = elsewhere\n");
    FOUND(NULL, "alembic.ini", false, "migrations/versions/f.py");
    put("migrations/alembic.ini", "[alembic]\nversion_locations = %(script_location)s/versions %(here)s/more\n");
    put("migrations/more/g.py", script);
    FOUND(NULL, "alembic.ini", false, "migrations/more/g.py migrations/versions/f.py");
    put("migrations/alembic.ini", "[alembic]\nversion_locations = %(here)s/more\n");
    FOUND(NULL, "alembic.ini", false, "migrations/more/g.py");
}

static void test_files(void **state)
{
    (void)state;
    put("v/a.py", script);
    put("v/__init__.py", script);
    put("v/__init__x.py", script);
    put("v/.#b.py", script);
    put("v/.hidden.py", script);
    put("v/c.PY", script);
    put("v/d.pyc", script);
    put("v/e.py.txt", script);
    put("v/__pycache__/f.py", script);
    put("v/sub/g.py", script);
    FOUND("v", "alembic.ini", false, "v/.hidden.py v/a.py");
    /* the same file through a second folder is read once */
    mkdirs("w");
    assert_int_equal(symlink("../v/a.py", "w/a.py"), 0);
    FOUND("v,w", "alembic.ini", false, "v/.hidden.py v/a.py");
    /* names and targets that disagree between Alembic versions */
    assert_int_equal(symlink("../v/a.py", "w/link.txt"), 0);
    FOUND("w", "alembic.ini", false, "UNKNOWN: disagree");
    unlink("w/link.txt");
    assert_int_equal(symlink("nowhere.py", "w/broken.py"), 0);
    FOUND("w", "alembic.ini", false, "UNKNOWN: broken symlink");
    unlink("w/broken.py");
    mkdirs("w/dir.py");
    FOUND("w", "alembic.ini", false, "UNKNOWN: not a regular file");
    rmdir("w/dir.py");
    put("w/nl.py\n", script);
    FOUND("w", "alembic.ini", false, "UNKNOWN: newline");
    unlink("w/nl.py\n");
    put("w/n\nl.py", script); /* not matched by Alembic's pattern: skipped */
    FOUND("w", "alembic.ini", false, "w/a.py");
}

static void test_recursive(void **state)
{
    (void)state;
    put("alembic/versions/a.py", script);
    put("alembic/versions/sub/b.py", script);
    put("alembic/versions/sub/deeper/c.py", script);
    put("alembic/versions/__pycache__/d.py", script);
    put("alembic/versions/__pycache__/inner/e.py", script); /* Alembic's walk goes on below */
    put("outside/f.py", script);
    assert_int_equal(symlink("../../outside", "alembic/versions/linked"), 0);
    put("alembic.ini", "[alembic]\nscript_location = alembic\n");
    FOUND(NULL, "alembic.ini", false, "alembic/versions/a.py");
    put("alembic.ini", "[alembic]\nscript_location = alembic\nrecursive_version_locations = true\n");
    FOUND(NULL, "alembic.ini", false,
          "alembic/versions/__pycache__/inner/e.py alembic/versions/a.py alembic/versions/sub/b.py "
          "alembic/versions/sub/deeper/c.py");
    put("alembic.ini", "[alembic]\nscript_location = alembic\nrecursive_version_locations = True\n");
    FOUND(NULL, "alembic.ini", false, "alembic/versions/a.py"); /* only "true" is true */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ini),
        cmocka_unit_test_setup_teardown(test_layouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_locations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_problems, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recursive, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
