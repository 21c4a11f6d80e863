/* Splitting a SQL file into statements, with their lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "sqlfile.h"

static void test_statements_and_lines(void **state)
{
    (void)state;
    static const char text[] =
        "-- header; not a statement\n"
        "ALTER TABLE t ADD COLUMN IF NOT EXISTS c text; /* trailing; */\n"
        "\n"
        "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n"
        "SELECT 'it''s;', E'a\\';b', \"we;ird\", $1 FROM x;;\n"
        "/* nested /* ; */ still */ SELECT $$;$$\n";
    struct sql_script s;
    struct err e = {{0}};
    assert_int_equal(sql_split(text, strlen(text), &s, &e), 0);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.v[0].text, "ALTER TABLE t ADD COLUMN IF NOT EXISTS c text");
    assert_int_equal(s.v[0].line, 2);
    assert_string_equal(s.v[1].text, "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql");
    assert_int_equal(s.v[1].line, 4);
    assert_string_equal(s.v[2].text, "SELECT 'it''s;', E'a\\';b', \"we;ird\", $1 FROM x");
    assert_int_equal(s.v[2].line, 5);
    assert_string_equal(s.v[3].text, "SELECT $$;$$");
    assert_int_equal(s.v[3].line, 6);
    sql_script_free(&s);
}

static void unterminated(const char *text, const char *needle)
{
    struct sql_script s;
    struct err e = {{0}};
    assert_int_equal(sql_split(text, strlen(text), &s, &e), -1);
    if (!strstr(e.msg, needle))
        fail_msg("'%s' not in '%s'", needle, e.msg);
}

static void test_unterminated(void **state)
{
    (void)state;
    unterminated("SELECT 1;\nSELECT 'open", "line 2: unterminated string");
    unterminated("SELECT \"open", "quoted identifier");
    unterminated("/* open /* */", "comment");
    unterminated("SELECT $x$ open $y$", "dollar-quoted");
}

static void test_empty(void **state)
{
    (void)state;
    struct sql_script s;
    struct err e = {{0}};
    assert_int_equal(sql_split(" ;; -- nothing\n", 15, &s, &e), 0);
    assert_int_equal(s.n, 0);
    sql_script_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statements_and_lines),
        cmocka_unit_test(test_unterminated),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
