/* jtree: the strict JSON reader (positions, duplicates, UTF-8) and the
 * canonical printer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "jtree.h"

static void parse_ok(const char *text, struct jt *v)
{
    struct jt_error e;
    int rc = jt_parse(text, strlen(text), false, v, &e);
    if (rc)
        fail_msg("'%s' did not parse: line %d, column %d: %s", text, e.line, e.col, e.msg);
}

static void parse_fails(const char *text, size_t len, int line, int col, const char *msg)
{
    struct jt v;
    struct jt_error e;
    assert_int_equal(jt_parse(text, len, false, &v, &e), -1);
    if (e.line != line || e.col != col || !strstr(e.msg, msg))
        fail_msg("'%.*s': got line %d, column %d: %s; wanted %d, %d: %s", (int)len, text, e.line, e.col,
                 e.msg, line, col, msg);
    assert_null(v.v);
    assert_int_equal(v.n, 0);
}

static void test_values_and_positions(void **state)
{
    (void)state;
    struct jt v;
    parse_ok("{\n  \"b\": [1, -2.5e+3, true, false, null],\n  \"a\": \"x\\u00e9\\ud83d\\ude00\\n\"\n}", &v);
    assert_int_equal(v.type, JT_OBJECT);
    assert_int_equal(v.n, 2);
    assert_string_equal(v.v[0].key, "a"); /* sorted */
    assert_int_equal(v.v[0].kline, 3);
    assert_int_equal(v.v[0].kcol, 3);
    assert_int_equal(v.v[0].line, 3);
    assert_int_equal(v.v[0].col, 8);
    assert_string_equal(v.v[0].s, "x\xc3\xa9\xf0\x9f\x98\x80\n");
    const struct jt *b = jt_get(&v, "b");
    assert_non_null(b);
    assert_int_equal(b->n, 5);
    assert_string_equal(b->v[1].s, "-2.5e+3");
    assert_int_equal(b->v[1].col, 12);
    assert_true(b->v[2].type == JT_BOOL && b->v[2].b);
    assert_int_equal(b->v[4].type, JT_NULL);
    assert_null(jt_get(&v, "c"));
    assert_null(jt_get(b, "a"));
    jt_free(&v);
}

static void test_columns_count_characters(void **state)
{
    (void)state;
    /* "é" is two bytes, one column; a tab is one column */
    parse_fails("{\"\xc3\xa9\":\t1,}", 11, 1, 9, "expected a member name");
    /* a BOM is skipped, not counted */
    struct jt v;
    parse_ok("\xef\xbb\xbf[1]", &v);
    jt_free(&v);
}

static void test_errors(void **state)
{
    (void)state;
    parse_fails("", 0, 1, 1, "found the end of the file");
    parse_fails("  \n ", 4, 2, 2, "found the end of the file");
    parse_fails("[1,]", 4, 1, 4, "expected a JSON value, found ']'");
    parse_fails("{\"a\" 1}", 7, 1, 6, "expected ':' after a member name, found '1'");
    parse_fails("{\"a\": 1 \"b\": 2}", 15, 1, 9, "expected '}' or ','");
    parse_fails("[1 2]", 5, 1, 4, "expected ']' or ','");
    parse_fails("{a: 1}", 6, 1, 2, "expected a member name in double quotes, found 'a'");
    parse_fails("\"abc", 4, 1, 5, "unterminated string");
    parse_fails("\"a\x01\"", 4, 1, 3, "control character (byte 0x01)");
    parse_fails("\"\\x\"", 4, 1, 3, "invalid escape");
    parse_fails("\"\\u12\"", 6, 1, 4, "four hexadecimal digits");
    parse_fails("\"\\u0000\"", 8, 1, 8, "\\u0000 is not allowed");
    parse_fails("\"\\ud800x\"", 9, 1, 8, "lone surrogate");
    parse_fails("\"\\udc00\"", 8, 1, 8, "lone surrogate");
    parse_fails("\"\xff\"", 3, 1, 2, "invalid UTF-8 (byte 0xFF)");
    parse_fails("\"\xc0\xaf\"", 4, 1, 2, "invalid UTF-8"); /* overlong */
    parse_fails("\"\xed\xa0\x80\"", 5, 1, 2, "invalid UTF-8"); /* a surrogate */
    parse_fails("\"\xe2\x82\"", 4, 1, 2, "invalid UTF-8");      /* cut short */
    parse_fails("01", 2, 1, 1, "cannot start with 0");
    parse_fails("-", 1, 1, 1, "digit after '-'");
    parse_fails("1.", 2, 1, 1, "digit after '.'");
    parse_fails("1e+", 3, 1, 1, "exponent");
    parse_fails("tru", 3, 1, 1, "expected a JSON value, found 't'");
    parse_fails("nul", 3, 1, 1, "expected a JSON value");
    parse_fails("[] x", 4, 1, 4, "'x' after the end of the JSON document");
    parse_fails("{} {}", 5, 1, 4, "after the end");
    parse_fails("\x80", 1, 1, 1, "byte 0x80");
    const char *dup = "{\"a\": 1,\n \"b\": 2,\n \"a\": 3}";
    parse_fails(dup, strlen(dup), 3, 2, "the name \"a\" is given twice");
    /* a NUL byte inside the length is a control character, never an end */
    parse_fails("\"a\0b\"", 5, 1, 3, "control character (byte 0x00)");
}

static void test_depth_is_bounded(void **state)
{
    (void)state;
    char deep[2 * (JT_DEPTH_MAX + 1) + 1];
    for (int i = 0; i <= JT_DEPTH_MAX; i++) {
        deep[i] = '[';
        deep[2 * (JT_DEPTH_MAX + 1) - 1 - i] = ']';
    }
    deep[2 * (JT_DEPTH_MAX + 1)] = '\0';
    parse_fails(deep, strlen(deep), 1, JT_DEPTH_MAX + 1, "nested more than");
    struct jt v;
    struct jt_error e;
    /* one level less: fine */
    assert_int_equal(jt_parse(deep + 1, strlen(deep) - 2, false, &v, &e), 0);
    jt_free(&v);
}

static void test_lenient_replaces_what_strict_refuses(void **state)
{
    (void)state;
    const char text[] = "[\"a\xff" "b\", \"\\u0000\", \"\\ud800\"]";
    struct jt v;
    struct jt_error e;
    assert_int_equal(jt_parse(text, sizeof text - 1, false, &v, &e), -1);
    assert_int_equal(jt_parse(text, sizeof text - 1, true, &v, &e), 0);
    assert_string_equal(v.v[0].s, "a\xef\xbf\xbd" "b");
    assert_string_equal(v.v[1].s, "\xef\xbf\xbd");
    assert_string_equal(v.v[2].s, "\xef\xbf\xbd");
    jt_free(&v);
    /* structure errors stay errors */
    assert_int_equal(jt_parse("[1,]", 4, true, &v, &e), -1);
}

/* What Python's json.dumps(indent=2, sort_keys=True, ensure_ascii=False) prints. */
static void test_canonical_text(void **state)
{
    (void)state;
    struct jt v;
    parse_ok("{\"z\": {}, \"a\": [], \"m\": [1, {\"y\": null, \"x\": true}], "
             "\"s\": \"q\\\" b\\\\ \\n\\r\\t\\b\\f\\u0001\\u001f\x7f \xc3\xa9 /\"}", &v);
    char *text = jt_render(&v);
    assert_string_equal(text, "{\n"
                              "  \"a\": [],\n"
                              "  \"m\": [\n"
                              "    1,\n"
                              "    {\n"
                              "      \"x\": true,\n"
                              "      \"y\": null\n"
                              "    }\n"
                              "  ],\n"
                              "  \"s\": \"q\\\" b\\\\ \\n\\r\\t\\b\\f\\u0001\\u001f\x7f \xc3\xa9 /\",\n"
                              "  \"z\": {}\n"
                              "}\n");
    /* the text reads back to itself */
    struct jt again;
    parse_ok(text, &again);
    char *text2 = jt_render(&again);
    assert_string_equal(text, text2);
    free(text);
    free(text2);
    jt_free(&v);
    jt_free(&again);
}

static void test_building(void **state)
{
    (void)state;
    struct jt o = jt_object(), a = jt_array();
    jt_add(&a, NULL, jt_integer(-3));
    jt_add(&a, NULL, jt_string("x\"y"));
    jt_add(&o, "b", a);
    jt_add(&o, "a", jt_bool(false));
    jt_add(&o, "c", jt_null());
    jt_sort(&o);
    assert_true(jt_get(&o, "a")->type == JT_BOOL);
    assert_true(jt_is_string_array(&(struct jt){.type = JT_ARRAY}));
    assert_false(jt_is_string_array(jt_get(&o, "b")));
    char *text = jt_render(&o);
    assert_string_equal(text, "{\n  \"a\": false,\n  \"b\": [\n    -3,\n    \"x\\\"y\"\n  ],\n  \"c\": null\n}\n");
    free(text);
    char *q = jt_quote("a\nb");
    assert_string_equal(q, "\"a\\nb\"");
    free(q);
    jt_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_and_positions),
        cmocka_unit_test(test_columns_count_characters),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_depth_is_bounded),
        cmocka_unit_test(test_lenient_replaces_what_strict_refuses),
        cmocka_unit_test(test_canonical_text),
        cmocka_unit_test(test_building),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
