/* Configuration: flags > environment > defaults, and the errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "redact.h"

static void clean_env(void)
{
    const char *vars[] = {"DATABASE_URL", "FLASK_APP", "SENTRY_REQUIRED_ENV", "SENTRY_DB_WAIT",
                          "SENTRY_LOCK_KEY", "SENTRY_LOCK_WAIT", "SENTRY_MIGRATIONS_DIR", "SENTRY_RECOVER",
                          "SENTRY_MIGRATE_CMD", "SENTRY_MIGRATE_TIMEOUT", "SENTRY_REQUIRE_COLUMNS",
                          "SENTRY_STATUS_FILE", "SENTRY_GRACE", "SENTRY_NO_MIGRATE", "SENTRY_INIT",
                          "SENTRY_LOG_FORMAT", "SENTRY_ALEMBIC_CONFIG", "ALEMBIC_CONFIG",
                          "SENTRY_VERSION_TABLE", "SENTRY_VERSION_TABLE_SCHEMA", "SENTRY_AHEAD",
                          "SENTRY_HISTORY", "SENTRY_MIGRATE_LOCK_TIMEOUT", "SENTRY_MIGRATE_RETRIES",
                          "SENTRY_SCHEMA_FILE", "SENTRY_SCHEMAS"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        unsetenv(vars[i]);
    setenv("DATABASE_URL", "postgresql://u:envpw@db/app", 1);
    setenv("FLASK_APP", "app.py", 1);
    redact_clear();
}

static int load(struct config *c, struct err *e, int argc, char **argv)
{
    return config_load(c, argc, argv, e);
}

#define LOAD(c, e, ...)                                                    \
    load(c, e, (int)(sizeof((char *[]){"migration-sentry", __VA_ARGS__}) / \
                     sizeof(char *)), (char *[]){"migration-sentry", __VA_ARGS__, NULL})

static void test_defaults(void **state)
{
    (void)state;
    clean_env();
    struct config c;
    struct err e = {{0}};
    assert_int_equal(load(&c, &e, 1, (char *[]){"migration-sentry", NULL}), 0);
    assert_int_equal(c.cmd, CMD_GATE);
    assert_int_equal(c.db_wait, 60);
    assert_int_equal(c.lock_wait, 900);
    assert_int_equal(c.migrate_timeout, 1500);
    assert_int_equal(c.grace, 5);
    assert_true(c.lock_key == DEFAULT_LOCK_KEY);
    assert_string_equal(c.status_file, "/tmp/migration_status.json");
    assert_int_equal(c.migrate_argv.n, 3);
    assert_string_equal(c.migrate_argv.v[0], "flask");
    assert_int_equal(c.src[S_DB_WAIT], SRC_DEFAULT);
    assert_int_equal(c.src[S_DATABASE_URL], SRC_ENV);
    assert_false(c.no_migrate);
    assert_false(c.init); /* the test runner is not PID 1 */
    assert_null(c.command);
    /* the settings this round added, at the contract's defaults */
    assert_int_equal(c.migrate_lock_timeout, 5);
    assert_int_equal(c.migrate_retries, 5);
    assert_false(c.log_json);
    assert_false(c.recover_stamp);
    assert_false(c.ahead_fail);
    assert_true(c.history);
    assert_string_equal(c.version_table, "alembic_version");
    assert_null(c.version_table_schema);
    assert_int_equal(c.schemas.n, 1);
    assert_string_equal(c.schemas.v[0], "public");
    config_free(&c);
}

static void test_precedence(void **state)
{
    (void)state;
    clean_env();
    setenv("SENTRY_DB_WAIT", "7", 1);
    setenv("SENTRY_LOCK_WAIT", "8", 1);
    setenv("SENTRY_REQUIRE_COLUMNS", "a.b,c.d", 1);
    setenv("SENTRY_GRACE", "", 1); /* empty scalar: unset */
    struct config c;
    struct err e = {{0}};
    assert_int_equal(LOAD(&c, &e, "--db-wait=3", "--require-column", "x.y", "--require-column=s.t.u",
                          "--no-migrate", "--", "gunicorn", "app:app"), 0);
    assert_int_equal(c.db_wait, 3);
    assert_int_equal(c.src[S_DB_WAIT], SRC_FLAG);
    assert_int_equal(c.lock_wait, 8);
    assert_int_equal(c.src[S_LOCK_WAIT], SRC_ENV);
    assert_int_equal(c.grace, 5);
    assert_int_equal(c.src[S_GRACE], SRC_DEFAULT);
    assert_int_equal(c.columns.n, 2); /* the flags' list replaces the variable's */
    assert_string_equal(c.columns.v[0].label, "x.y");
    assert_string_equal(c.columns.v[1].schema, "s");
    assert_true(c.no_migrate);
    assert_non_null(c.command);
    assert_string_equal(c.command[0], "gunicorn");
    assert_string_equal(c.command[1], "app:app");
    assert_null(c.command[2]);
    config_free(&c);
}

static void test_lists_and_bools(void **state)
{
    (void)state;
    clean_env();
    setenv("SENTRY_REQUIRED_ENV", "DATABASE_URL", 1);
    setenv("SENTRY_NO_MIGRATE", "yes", 1);
    setenv("SENTRY_INIT", "1", 1);
    setenv("SENTRY_LOCK_KEY", "-9223372036854775808", 1);
    unsetenv("FLASK_APP"); /* no longer required */
    struct config c;
    struct err e = {{0}};
    assert_int_equal(LOAD(&c, &e, "--migrate-cmd", "sh -c 'exit 0'"), 0);
    assert_true(c.no_migrate);
    assert_true(c.init);
    assert_true(c.lock_key == INT64_MIN);
    assert_int_equal(c.migrate_argv.n, 3);
    assert_string_equal(c.migrate_argv.v[2], "exit 0");
    config_free(&c);
    assert_int_equal(LOAD(&c, &e, "--no-init"), 0);
    assert_false(c.init);
    config_free(&c);
}

static void refused(const char *needle, int argc, char **argv)
{
    struct config c;
    struct err e = {{0}};
    assert_int_equal(config_load(&c, argc, argv, &e), -1);
    if (!strstr(e.msg, needle))
        fail_msg("'%s' not in '%s'", needle, e.msg);
    assert_null(strstr(e.msg, "envpw"));
    config_free(&c);
}

#define REFUSED(needle, ...)                                                         \
    refused(needle, (int)(sizeof((char *[]){"migration-sentry", __VA_ARGS__}) /     \
                          sizeof(char *)), (char *[]){"migration-sentry", __VA_ARGS__, NULL})

static void test_errors(void **state)
{
    (void)state;
    clean_env();
    REFUSED("unknown option '--nope'", "--nope");
    REFUSED("--db-wait needs a value", "--db-wait");
    REFUSED("--db-wait must be a whole number", "--db-wait=abc");
    REFUSED("--db-wait must be a whole number", "--db-wait=-1");
    REFUSED("--grace must be a whole number", "--grace=99999999999999999999");
    REFUSED("--lock-key must be a signed 64-bit integer", "--lock-key=9223372036854775808");
    REFUSED("--lock-key must be a signed 64-bit integer", "--lock-key=12abc");
    REFUSED("--recover must be 'stamp'", "--recover=yes");
    REFUSED("--no-migrate takes no value", "--no-migrate=1");
    REFUSED("unexpected argument 'gunicorn'", "gunicorn");
    REFUSED("--migrate-cmd uses the shell operator", "--migrate-cmd", "a && b");
    REFUSED("--migrations-dir: '/nonexistent/x' is not a directory", "--migrations-dir=/nonexistent/x");
    REFUSED("goes with the gate only", "check", "--", "true");
    REFUSED("--status-file is empty", "--status-file=");
    setenv("SENTRY_DB_WAIT", "soon", 1);
    REFUSED("SENTRY_DB_WAIT must be a whole number", "config");
    unsetenv("SENTRY_DB_WAIT");
    unsetenv("FLASK_APP");
    REFUSED("required environment variable FLASK_APP is not set", "check");
    setenv("FLASK_APP", "", 1);
    REFUSED("required environment variable FLASK_APP is empty", "config");
    setenv("FLASK_APP", "app.py", 1);
    setenv("DATABASE_URL", "mysql://u:envpw@db/app", 1);
    REFUSED("DATABASE_URL has unsupported scheme", "config");
    REFUSED("--database-url has unsupported scheme", "--database-url=sqlite://x");
    setenv("SENTRY_REQUIRED_ENV", "BAD-NAME", 1);
    REFUSED("'BAD-NAME' is not a variable name", "check");
}

static void test_status_needs_no_database(void **state)
{
    (void)state;
    clean_env();
    unsetenv("DATABASE_URL");
    unsetenv("FLASK_APP");
    struct config c;
    struct err e = {{0}};
    assert_int_equal(LOAD(&c, &e, "status"), 0);
    assert_int_equal(c.cmd, CMD_STATUS);
    config_free(&c);
    assert_int_equal(LOAD(&c, &e, "--version"), 0);
    assert_int_equal(c.cmd, CMD_VERSION);
    config_free(&c);
    /* --database-url satisfies the DATABASE_URL requirement. */
    setenv("FLASK_APP", "a", 1);
    assert_int_equal(LOAD(&c, &e, "--database-url", "postgresql://db/app", "config"), 0);
    assert_int_equal(c.src[S_DATABASE_URL], SRC_FLAG);
    config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_lists_and_bools),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_status_needs_no_database),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
