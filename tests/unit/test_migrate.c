/* Finding the migration command's program (its output: test_lines.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "migrate.h"

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
        cmocka_unit_test(test_find_program),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
