/* The migration output tail: bounded, ordered, valid UTF-8, redacted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "migrate.h"
#include "redact.h"

static void test_keeps_last_lines(void **state)
{
    (void)state;
    struct tail_buf t = {0};
    char line[32];
    for (int i = 0; i < 120; i++) {
        int n = snprintf(line, sizeof line, "line %d", i);
        tail_push(&t, line, (size_t)n);
    }
    struct strlist out = {0};
    tail_collect(&t, &out);
    assert_int_equal(out.n, MIGRATE_TAIL);
    assert_string_equal(out.v[0], "line 70");
    assert_string_equal(out.v[MIGRATE_TAIL - 1], "line 119");
    strlist_free(&out);
    tail_collect(&t, &out);
    assert_int_equal(out.n, 0);
}

static void test_cleans_lines(void **state)
{
    (void)state;
    struct tail_buf t = {0};
    redact_add("hunter2");
    tail_push(&t, "ok \xc3\xa9 bad \xff\xfe ctl \x01 tab\t", 23);
    tail_push(&t, "password hunter2 here", 21);
    tail_push(&t, "nul\0after", 9);
    tail_push(&t, "\xed\xa0\x80 surrogate", 13);
    struct strlist out = {0};
    tail_collect(&t, &out);
    assert_int_equal(out.n, 4);
    assert_string_equal(out.v[0], "ok \xc3\xa9 bad ?? ctl ? tab\t");
    assert_string_equal(out.v[1], "password ****** here");
    assert_string_equal(out.v[2], "nul?after");
    assert_string_equal(out.v[3], "??? surrogate");
    strlist_free(&out);
    redact_clear();
}

static void test_find_program(void **state)
{
    (void)state;
    struct err e = {{0}};
    assert_int_equal(migrate_find_program("sh", "SENTRY_MIGRATE_CMD", &e), 0);
    assert_int_equal(migrate_find_program("/bin/sh", "SENTRY_MIGRATE_CMD", &e), 0);
    assert_int_equal(migrate_find_program("no-such-program-xyz", "SENTRY_MIGRATE_CMD", &e), -1);
    assert_non_null(strstr(e.msg, "SENTRY_MIGRATE_CMD: program 'no-such-program-xyz' not found on PATH"));
    assert_int_equal(migrate_find_program("/etc/passwd", "--migrate-cmd", &e), -1);
    assert_non_null(strstr(e.msg, "not an executable file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keeps_last_lines),
        cmocka_unit_test(test_cleans_lines),
        cmocka_unit_test(test_find_program),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
