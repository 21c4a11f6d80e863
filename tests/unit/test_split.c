/* Command splitting: like a shell, with no shell. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "split.h"

static void splits(const char *in, size_t n, const char *const *want)
{
    struct strlist l = {0};
    struct err e = {{0}};
    assert_int_equal(split_command(in, "SENTRY_MIGRATE_CMD", &l, &e), 0);
    assert_int_equal(l.n, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(l.v[i], want[i]);
    strlist_free(&l);
}

static void refuses(const char *in, const char *needle)
{
    struct strlist l = {0};
    struct err e = {{0}};
    assert_int_equal(split_command(in, "SENTRY_MIGRATE_CMD", &l, &e), -1);
    assert_int_equal(l.n, 0);
    assert_non_null(strstr(e.msg, "SENTRY_MIGRATE_CMD"));
    assert_non_null(strstr(e.msg, needle));
    strlist_free(&l);
}

static void test_words(void **state)
{
    (void)state;
    splits("flask db upgrade", 3, (const char *[]){"flask", "db", "upgrade"});
    splits("  flask\tdb \n upgrade  ", 3, (const char *[]){"flask", "db", "upgrade"});
    splits("x", 1, (const char *[]){"x"});
}

static void test_quotes(void **state)
{
    (void)state;
    splits("sh -c 'echo a; exit 3'", 3, (const char *[]){"sh", "-c", "echo a; exit 3"});
    splits("a \"b c\" d", 3, (const char *[]){"a", "b c", "d"});
    splits("a \"x\\\"y\\\\z\"", 2, (const char *[]){"a", "x\"y\\z"});
    splits("a \"\\n\"", 2, (const char *[]){"a", "\\n"});
    splits("'' \"\"", 2, (const char *[]){"", ""});
    splits("pre'fix 'mid\"dle\"end", 1, (const char *[]){"prefix middleend"});
    splits("a\\ b c\\'d", 2, (const char *[]){"a b", "c'd"});
    splits("'$HOME' '`x`'", 2, (const char *[]){"$HOME", "`x`"});
}

static void test_refused(void **state)
{
    (void)state;
    refuses("", "empty");
    refuses("   ", "empty");
    refuses("'open", "unterminated single quote");
    refuses("\"open", "unterminated double quote");
    refuses("a \\", "lone backslash");
    refuses("flask db upgrade && echo hi", "'&'");
    refuses("a | b", "'|'");
    refuses("a; b", "';'");
    refuses("a > f", "'>'");
    refuses("echo $HOME", "'$'");
    refuses("echo \"$HOME\"", "'$'");
    refuses("echo `id`", "'`'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words),
        cmocka_unit_test(test_quotes),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
