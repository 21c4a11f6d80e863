/* The output edge: redaction (every spelling, short passwords as credential
 * values), UTF-8 cleaning, control escapes, cuts at character boundaries,
 * and err_set built on it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge.h"
#include "err.h"
#include "redact.h"
#include "util.h"

#define FFFD "\xEF\xBF\xBD"

static int reset(void **state)
{
    (void)state;
    redact_clear();
    return 0;
}

static void clean_is(const char *in, size_t len, enum edge_mode mode, const char *want)
{
    size_t n;
    char *out = edge_clean(in, len, mode, &n);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
    assert_true(utf8_valid(out, n));
    /* cleaning clean text changes nothing */
    char *again = edge_clean(out, n, mode, NULL);
    assert_string_equal(again, out);
    free(again);
    free(out);
}

#define CLEANM(lit, mode, want) clean_is(lit, sizeof lit - 1, mode, want)
#define CLEAN(lit, want) CLEANM(lit, EDGE_LINE, want)

static void test_invalid_utf8(void **state)
{
    (void)state;
    CLEAN("ok \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "ok \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    CLEAN("\xff", FFFD);
    CLEAN("a\x80z", "a" FFFD "z");                       /* lone continuation byte */
    CLEAN("\xc0\xaf", FFFD FFFD);                         /* overlong '/' */
    CLEAN("\xe0\x80\xaf", FFFD FFFD FFFD);                /* overlong, 3 bytes */
    CLEAN("\xed\xa0\x80 x", FFFD FFFD FFFD " x");         /* UTF-16 surrogate */
    CLEAN("\xe2\x82x", FFFD "x");                         /* truncated: one U+FFFD */
    CLEAN("end \xf0\x9f\x98", "end " FFFD);               /* truncated at the end */
    CLEAN("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD);       /* above U+10FFFF */
    CLEAN("\xf8\x88\x80\x80\x80", FFFD FFFD FFFD FFFD FFFD);
    CLEAN("\xfe\xff", FFFD FFFD);
}

static void test_controls(void **state)
{
    (void)state;
    CLEAN("esc \x1b[31mred", "esc \\x1b[31mred");
    CLEAN("nul\0after", "nul\\x00after");
    CLEAN("del\x7f bell\a", "del\\x7f bell\\x07");
    CLEAN("csi \xc2\x9b" "31m", "csi \\x9b31m");          /* C1 control U+009B */
    CLEAN("tab\tkept", "tab\tkept");
    CLEAN("two\nlines\r", "two\\x0alines\\x0d");
    CLEANM("two\nlines\r\n", EDGE_TEXT, "two\nlines\\x0d\n");
    CLEANM("a\tb\nc\rd\x1b", EDGE_FOLD, "a b c d\\x1b");
}

static void test_redacts_before_cleaning(void **state)
{
    (void)state;
    redact_add("pw\xff\x1b" "long");
    CLEAN("x pw\xff\x1blong y \xff", "x ****** y " FFFD);
}

static void redacted_is(const char *in, const char *want)
{
    char *out = redact_text(in);
    assert_string_equal(out, want);
    free(out);
}

static void test_short_password_as_credential(void **state)
{
    (void)state;
    redact_add("q");
    redacted_is("host=h password=q dbname=d", "host=h password=****** dbname=d");
    redacted_is("password = 'q' x", "password = '******' x");
    redacted_is("password=\"q\"", "password=\"******\"");
    redacted_is("postgresql://u@h/d?sslmode=require&password=q&x=1",
                "postgresql://u@h/d?sslmode=require&password=******&x=1");
    redacted_is("PGPASSWORD=q", "PGPASSWORD=******");
    redacted_is("postgresql://sentry:q@h/d", "postgresql://sentry:******@h/d");
    redacted_is("postgres://:q@h", "postgres://:******@h");
    redacted_is("password=q", "password=******");         /* the end counts as the value's end */
    redacted_is("PGPASSWORD=q. password=q-x", "PGPASSWORD=******. password=******-x");
    /* not as a credential's value: left alone */
    redacted_is("q is a letter; /tmp/q; password=qq; password=q2", "q is a letter; /tmp/q; password=qq; password=q2");
    redacted_is("postgresql://u:qq@h", "postgresql://u:qq@h");
}

static void test_long_password_everywhere(void **state)
{
    (void)state;
    const char pw[] = "Kv9 Z'q\\w@x/y";
    redact_add_password(pw, strlen(pw));
    redacted_is("plain Kv9 Z'q\\w@x/y here", "plain ****** here");
    redacted_is("url Kv9%20Z%27q%5Cw%40x%2Fy", "url ******");
    redacted_is("password='Kv9 Z\\'q\\\\w@x/y'", "password='******'");
}

static void test_url_part_spellings(void **state)
{
    (void)state;
    const char raw[] = "p%40ss%2Fw0rd";
    redact_add_url_part(raw, strlen(raw));
    redacted_is("a p%40ss%2Fw0rd b p@ss/w0rd c", "a ****** b ****** c");
    redact_clear();
    redact_add_userinfo("sentry", 6); /* a user alone is no secret */
    redacted_is("migration-sentry", "migration-sentry");
    redact_add_userinfo("u:p", 3);
    redacted_is("postgresql://u:p@h", "postgresql://******@h");
}

static void test_longest_wins_and_spans(void **state)
{
    (void)state;
    redact_add("abcd");
    redact_add("abcdef");
    redacted_is("xabcdefx abcdx", "x******x ******x");
    struct redact_match m;
    const char t[] = "0123 password = 'abcd' z";
    assert_true(redact_find(t, strlen(t), 0, &m));
    assert_int_equal(m.start, 5);
    assert_int_equal(m.keep, strlen("password = '"));
    assert_int_equal(m.len, strlen("password = 'abcd"));
    assert_true(redact_span_max() >= m.len);
    assert_false(redact_find(t, strlen(t), m.start + m.len, &m));
}

static void test_cut_and_clip(void **state)
{
    (void)state;
    const char s[] = "ab\xc3\xa9" "cd\xe2\x82\xac";
    assert_int_equal(edge_cut(s, 9, 100), 9);
    assert_int_equal(edge_cut(s, 9, 3), 2);  /* not inside the é */
    assert_int_equal(edge_cut(s, 9, 4), 4);
    assert_int_equal(edge_cut(s, 9, 7), 6);  /* not inside the € */
    redact_add("SECRETVALUE");
    char *c = edge_clip("xxxxxxSECRETVALUEyyyy", 10);
    assert_string_equal(c, "xxxxxx*...");
    free(c);
    c = edge_clip("short", 10);
    assert_string_equal(c, "short");
    free(c);
}

static void test_json_string(void **state)
{
    (void)state;
    char *j = edge_json_string("a\"b\\c\td\ne\x01 \xc3\xa9");
    assert_string_equal(j, "\"a\\\"b\\\\c\\td\\ne\\u0001 \xc3\xa9\"");
    free(j);
}

static void test_err_redacts_before_cutting(void **state)
{
    (void)state;
    struct err e;
    const char pw[] = "Qz7Xj9Kv2WqZ";
    redact_add(pw);
    for (size_t pad = ERR_MAX - 20; pad < ERR_MAX + 2; pad++) {
        char *fill = xmalloc(pad + 1);
        memset(fill, 'o', pad);
        fill[pad] = '\0';
        err_set(&e, "%s%s tail", fill, pw);
        assert_true(strlen(e.msg) <= ERR_MAX - 1);
        for (size_t i = 0; i + 3 <= strlen(pw); i++) {
            char piece[4] = {pw[i], pw[i + 1], pw[i + 2], 0};
            assert_null(strstr(e.msg, piece));
        }
        free(fill);
    }
}

static void test_err_one_line_valid_utf8(void **state)
{
    (void)state;
    struct err e;
    err_set(&e, "FATAL:  database \"%s\" does not exist\nDETAIL:  x\t\n", "\xff\xfe" "db\x1b");
    assert_string_equal(e.msg, "FATAL:  database \"" FFFD FFFD "db\\x1b\" does not exist DETAIL:  x");
    char *fill = xmalloc(ERR_MAX);
    memset(fill, 'o', ERR_MAX - 2);
    fill[ERR_MAX - 2] = '\0';
    err_set(&e, "%s\xc3\xa9", fill); /* the cut at ERR_MAX - 1 falls inside the é */
    assert_int_equal(strlen(e.msg), ERR_MAX - 2);
    assert_true(utf8_valid(e.msg, strlen(e.msg)));
    free(fill);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_invalid_utf8, reset),
        cmocka_unit_test_setup(test_controls, reset),
        cmocka_unit_test_setup(test_redacts_before_cleaning, reset),
        cmocka_unit_test_setup(test_short_password_as_credential, reset),
        cmocka_unit_test_setup(test_long_password_everywhere, reset),
        cmocka_unit_test_setup(test_url_part_spellings, reset),
        cmocka_unit_test_setup(test_longest_wins_and_spans, reset),
        cmocka_unit_test_setup(test_cut_and_clip, reset),
        cmocka_unit_test_setup(test_json_string, reset),
        cmocka_unit_test_setup(test_err_redacts_before_cutting, reset),
        cmocka_unit_test_setup(test_err_one_line_valid_utf8, reset),
    };
    return cmocka_run_group_tests(tests, NULL, reset);
}
