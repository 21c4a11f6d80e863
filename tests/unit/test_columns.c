/* The required-column list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "verify.h"

static void test_forms(void **state)
{
    (void)state;
    struct strlist items = {0};
    strlist_split_csv(&items, " proposals.visitor_session_id, billing.Invoices.Total ,,"
                              "\"MyTable\".\"Odd.Col\" ");
    assert_int_equal(items.n, 3);
    struct columns c;
    struct err e = {{0}};
    assert_int_equal(columns_parse(&items, "SENTRY_REQUIRE_COLUMNS", &c, &e), 0);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.v[0].schema, "public");
    assert_string_equal(c.v[0].table, "proposals");
    assert_string_equal(c.v[0].name, "visitor_session_id");
    assert_string_equal(c.v[0].label, "proposals.visitor_session_id");
    assert_string_equal(c.v[1].schema, "billing");
    assert_string_equal(c.v[1].table, "invoices");
    assert_string_equal(c.v[1].name, "total");
    assert_string_equal(c.v[1].label, "billing.Invoices.Total");
    assert_string_equal(c.v[2].table, "MyTable");
    assert_string_equal(c.v[2].name, "Odd.Col");
    columns_free(&c);
    strlist_free(&items);
}

static void refused(const char *spec)
{
    struct strlist items = {0};
    strlist_push(&items, spec);
    struct columns c;
    struct err e = {{0}};
    assert_int_equal(columns_parse(&items, "--require-column", &c, &e), -1);
    assert_non_null(strstr(e.msg, "--require-column"));
    assert_int_equal(c.n, 0);
    strlist_free(&items);
}

static void test_refused(void **state)
{
    (void)state;
    refused("nodot");
    refused("a.b.c.d");
    refused(".col");
    refused("table.");
    refused("a..b");
    refused("\"unterminated.col");
    refused("tab le.col");
    refused("x'; DROP TABLE y; --.col");
}

static void test_empty_list(void **state)
{
    (void)state;
    struct strlist items = {0};
    strlist_split_csv(&items, " , ,");
    struct columns c;
    struct err e = {{0}};
    assert_int_equal(columns_parse(&items, "X", &c, &e), 0);
    assert_int_equal(c.n, 0);
    columns_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_empty_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
