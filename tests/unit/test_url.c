/* URL normalisation and redaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"
#include "url.h"

static void normalises(const char *in, const char *conninfo, const char *display, const char *driver)
{
    struct dburl u;
    struct err e = {{0}};
    assert_int_equal(url_normalise(in, "DATABASE_URL", &u, &e), 0);
    assert_string_equal(u.conninfo, conninfo);
    assert_string_equal(u.display, display);
    if (driver)
        assert_string_equal(u.driver, driver);
    else
        assert_null(u.driver);
    url_free(&u);
}

static void refused(const char *in, const char *needle, const char *secret)
{
    struct dburl u;
    struct err e = {{0}};
    assert_int_equal(url_normalise(in, "DATABASE_URL", &u, &e), -1);
    assert_non_null(strstr(e.msg, "DATABASE_URL"));
    if (needle)
        assert_non_null(strstr(e.msg, needle));
    if (secret)
        assert_null(strstr(e.msg, secret));
    assert_null(strchr(e.msg, '\n'));
}

static void test_schemes(void **state)
{
    (void)state;
    normalises("postgres://u:pw1@db.internal:5432/app", "postgresql://u:pw1@db.internal:5432/app",
               "postgresql://******@db.internal:5432/app", NULL);
    normalises("postgresql://u:pw2@db/app", "postgresql://u:pw2@db/app", "postgresql://******@db/app", NULL);
    normalises("postgresql+psycopg2://u:pw3@db:6000/app?sslmode=require",
               "postgresql://u:pw3@db:6000/app?sslmode=require",
               "postgresql://******@db:6000/app?sslmode=require", "psycopg2");
    normalises("postgresql+asyncpg://db/app", "postgresql://db/app", "postgresql://db/app", "asyncpg");
    normalises("  postgres://db/app\n", "postgresql://db/app", "postgresql://db/app", NULL);
    redact_clear();
}

static void test_keyword_form(void **state)
{
    (void)state;
    normalises("host=db port=5433 dbname=app user=u password=kvsecret",
               "host=db port=5433 dbname=app user=u password=kvsecret",
               "postgresql://******@db:5433/app", NULL);
    normalises("postgresql://u:pw@[::1]:5433/app", "postgresql://u:pw@[::1]:5433/app",
               "postgresql://******@[::1]:5433/app", NULL);
    normalises("postgresql://db/app?sslmode=verify-full&target_session_attrs=read-write",
               "postgresql://db/app?sslmode=verify-full&target_session_attrs=read-write",
               "postgresql://db/app?sslmode=verify-full", NULL);
    normalises("host=/var/run/postgresql dbname=app", "host=/var/run/postgresql dbname=app",
               "postgresql://%2Fvar%2Frun%2Fpostgresql/app", NULL);
    redact_clear();
}

static void test_refused(void **state)
{
    (void)state;
    refused("mysql://u:topsecret@db/app", "mysql", "topsecret");
    refused("", "empty", NULL);
    refused("just-a-word", "not a PostgreSQL URL", NULL);
    refused("postgresql+://u:x@db/app", "unsupported scheme", NULL);
    /* libpq quotes the bad token back: the password must be masked in it. */
    refused("postgresql://u:pa%zzss@db/app", NULL, "pa%zzss");
    refused("postgresql://u:pw@db/app?bogus_option=1", "bogus_option", NULL);
    refused("postgresql://u:pw@db/app?sslmode=bogus", "invalid sslmode 'bogus'", NULL);
    refused("host=db gssencmode=maybe", "invalid gssencmode", NULL);
    refused("postgresql://u:pw@db:notaport/app", "invalid port 'notaport'", NULL);
    refused("postgresql://u:pw@db:70000/app", "invalid port", NULL);
    refused("x_y://u:longsecret@db/app?x=1", "unsupported scheme", "longsecret");
    refused("postgresql+bad-driver!://u:longsecret@db/app", "unsupported scheme", "longsecret");
    refused("host=db password='unterminated", NULL, "unterminated");
    refused("postgresql://u:pw%zz@db/app", NULL, "u:pw%zz"); /* short password, quoted back */
    redact_clear();
}

static void test_password_registered(void **state)
{
    (void)state;
    struct dburl u;
    struct err e = {{0}};
    assert_int_equal(url_normalise("postgresql://u:p%40ss%2Fword@db/app", "DATABASE_URL", &u, &e), 0);
    char *t = redact_text("auth failed for p@ss/word and p%40ss%2Fword");
    assert_string_equal(t, "auth failed for ****** and ******");
    free(t);
    url_free(&u);
    assert_int_equal(url_normalise("postgresql://db/app?password=qsecret&sslmode=disable", "DATABASE_URL", &u, &e), 0);
    t = redact_text("x qsecret y");
    assert_string_equal(t, "x ****** y");
    assert_null(strstr(u.display, "qsecret"));
    free(t);
    url_free(&u);
    redact_clear();
}

static void test_redact_longest_first(void **state)
{
    (void)state;
    redact_add("abcd");
    redact_add("abcdefgh");
    char *t = redact_text("xabcdefghy abcd");
    assert_string_equal(t, "x******y ******");
    free(t);
    redact_add("p"); /* too short to hunt for in free text */
    t = redact_text("/tmp");
    assert_string_equal(t, "/tmp");
    free(t);
    redact_add("");
    redact_add(NULL);
    t = redact_text("");
    assert_string_equal(t, "");
    free(t);
    redact_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schemes),
        cmocka_unit_test(test_keyword_form),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_password_registered),
        cmocka_unit_test(test_redact_longest_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
