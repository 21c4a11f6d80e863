/* The Python tokenizer (pylex): where strings, comments, brackets, logical
 * lines and blocks begin and end, and the values of str literals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pylex.h"
#include "util.h"

/* The token stream as one string: NAME/OP/NUMBER text as is, strings as
 * S<flags>[body], NEWLINE as '|', INDENT '>' and DEDENT '<'; or "ERR: why". */
static char *tokens(const char *text, size_t len)
{
    struct pylex lx;
    char *why;
    if (pylex_open(&lx, text, len, &why) != 0) {
        char *r = xasprintf("ERR: %s", why);
        free(why);
        return r;
    }
    char *out = xstrdup("");
    struct pytoken t;
    for (;;) {
        char *piece;
        if (pylex_next(&lx, &t) != 0) {
            piece = xasprintf("ERR: %s", lx.why);
            free(out);
            pylex_close(&lx);
            return piece;
        }
        if (t.kind == PT_END)
            break;
        switch (t.kind) {
        case PT_NEWLINE: piece = xstrdup("|"); break;
        case PT_INDENT: piece = xstrdup(">"); break;
        case PT_DEDENT: piece = xstrdup("<"); break;
        case PT_STRING:
            piece = xasprintf("S%s%s%s%s[%.*s]", t.flags & PS_RAW ? "r" : "", t.flags & PS_BYTES ? "b" : "",
                              t.flags & PS_FSTRING ? "f" : "", t.flags & PS_FIELDS ? "{}" : "",
                              (int)t.body_len, t.body);
            break;
        default: piece = xasprintf("%.*s", (int)t.len, t.p); break;
        }
        char *next = xasprintf("%s%s%s", out, *out && piece[0] != '|' ? " " : "", piece);
        free(out);
        free(piece);
        out = next;
    }
    pylex_close(&lx);
    return out;
}

#define TOKS(text, expect)                                                                     \
    do {                                                                                       \
        char *got_ = tokens(text, sizeof(text) - 1);                                           \
        if (strcmp(got_, expect) != 0)                                                         \
            fail_msg("%s\n  got:    %s\n  expect: %s", #text, got_, expect);                   \
        free(got_);                                                                            \
    } while (0)

#define REFUSED(text, needle)                                                                  \
    do {                                                                                       \
        char *got_ = tokens(text, sizeof(text) - 1);                                           \
        if (strncmp(got_, "ERR: ", 5) != 0 || !strstr(got_, needle))                           \
            fail_msg("%s\n  got: %s\n  expected an error with '%s'", #text, got_, needle);     \
        free(got_);                                                                            \
    } while (0)

static void test_logical_lines(void **state)
{
    (void)state;
    TOKS("x = 1\ny = 2\n", "x = 1| y = 2|");
    TOKS("x = 1", "x = 1|"); /* no final newline */
    TOKS("x = (1,\n  2)\n", "x = ( 1 , 2 )|");
    TOKS("x = [1, # c\n 2]\n", "x = [ 1 , 2 ]|");
    TOKS("x = 1 + \\\n  2\n", "x = 1 + 2|");
    TOKS("a = 1; b = 2\n", "a = 1 ; b = 2|");
    TOKS("\n\n# only a comment\n   \nx = 1\n", "x = 1|");
    TOKS("x = 1\r\ny = 2\rz = 3\n", "x = 1| y = 2| z = 3|");
    TOKS("x = a.b[c](d) ** -e // f\n", "x = a . b [ c ] ( d ) ** - e // f|");
    TOKS("x: int = 5\ny += 1\nz := 2\nf -> g\n", "x : int = 5| y += 1| z := 2| f -> g|");
    TOKS("x = 1 if y else 2\n", "x = 1 if y else 2|");
    TOKS("x = 0x1F + 0o7 + 0b1 + 1_000 + 1.5e-3j + .5\n", "x = 0x1F + 0o7 + 0b1 + 1_000 + 1.5e-3j + .5|");
    TOKS("x = ...\n", "x = ...|");
}

static void test_indentation(void **state)
{
    (void)state;
    TOKS("if x:\n    y = 1\nz = 2\n", "if x :| > y = 1| < z = 2|");
    TOKS("def f():\n    if x:\n        y\n    z\n", "def f ( ) :| > if x :| > y| < z| <");
    TOKS("if x:\n\ty = 1\n\tz = 2\n", "if x :| > y = 1| z = 2| <");
    TOKS("if x:\n    y = (1,\n2)\n    z\n", "if x :| > y = ( 1 , 2 )| z| <");
    TOKS("if x:\n    y\n\n  # comment at another depth\n    z\n", "if x :| > y| z| <");
    TOKS("\fx = 1\n", "x = 1|");
    REFUSED("if x:\n        y\n    z\n", "unindent does not match");
    REFUSED("if x:\n\ty\n        z\n", "tabs and spaces");
    REFUSED("if x:\n        y\n\tz\n", "tabs and spaces");
    REFUSED("x = 1\n\\\ny = 2\n", "backslash continuation");
}

static void test_strings(void **state)
{
    (void)state;
    TOKS("x = 'a' \"b\"\n", "x = S[a] S[b]|");
    TOKS("x = r'a\\'b' R\"c\" u'd' U'e' b'f' B'g' br'h' Rb'i' bR'j' rB'k'\n",
         "x = Sr[a\\'b] Sr[c] S[d] S[e] Sb[f] Sb[g] Srb[h] Srb[i] Srb[j] Srb[k]|");
    TOKS("x = f'a' F'b' rf'c' fR'd' Rf'e'\n", "x = Sf[a] Sf[b] Srf[c] Srf[d] Srf[e]|");
    TOKS("x = 'it\\'s' \"say \\\"hi\\\"\"\n", "x = S[it\\'s] S[say \\\"hi\\\"]|");
    TOKS("x = '''a\n'b'\n\\''''\n", "x = S[a\n'b'\n\\']|");
    /* an escaped quote does not close a triple-quoted docstring */
    TOKS("\"\"\"doc \\\"\"\"\nrevision = 'decoy'\n\"\"\"\nrevision = 'real'\n",
         "S[doc \\\"\"\"\nrevision = 'decoy'\n]| revision = S[real]|");
    TOKS("x = 'a\\\nb'\n", "x = S[a\\\nb]|");
    TOKS("x = ur\n", "x = ur|"); /* not a prefix: a name */
    TOKS("x = ub'a'\n", "x = ub S[a]|"); /* ub is no prefix: a name, then a string */
    REFUSED("x = 'abc\n", "unterminated string");
    REFUSED("x = '''abc\n", "unterminated triple-quoted");
    REFUSED("x = r'\\'\n", "unterminated");
    REFUSED("x = 'a\\\n", "unterminated");
}

static void test_fstrings(void **state)
{
    (void)state;
    TOKS("x = f'a{b}c'\n", "x = Sf{}[a{b}c]|");
    TOKS("x = f'{{literal}}'\n", "x = Sf[{{literal}}]|");
    TOKS("x = f\"{d['k']}\"\n", "x = Sf{}[{d['k']}]|");
    TOKS("x = f'{a!r:>{w}}'\n", "x = Sf{}[{a!r:>{w}}]|");
    TOKS("x = f'''{a +\n b}'''\n", "x = Sf{}[{a +\n b}]|");
    REFUSED("x = f'{d['k']}'\n", "its own");
    REFUSED("x = f'{a # c}'\n", "comment");
    REFUSED("x = f'{a\\n}'\n", "backslash");
    REFUSED("x = f'a}b'\n", "single '}'");
    REFUSED("x = f'{a'\n", "quote like its own");
    REFUSED("x = f'{a\n}'\n", "unterminated");
    REFUSED("x = f'{(a]}'\n", "mismatched");
}

static void test_refusals(void **state)
{
    (void)state;
    REFUSED("x = (1,\n", "never closed");
    REFUSED("x = 1)\n", "unmatched ')'");
    REFUSED("x = (1]\n", "does not match");
    REFUSED("x = 1 \\ y\n", "after a line continuation");
    REFUSED("x = 1 \\\n", "end of file after a line continuation");
    REFUSED("x = 1if y else 2\n", "invalid number");
    REFUSED("x = 0x1for\n", "invalid number");
    REFUSED("x = $\n", "invalid character");
    REFUSED("x = a ! b\n", "invalid character");
    REFUSED("r\xc3\xa9vision = 'x'\n", "non-ASCII identifier");
    REFUSED("x = 1 \xc2\xa0\n", "non-ASCII");
    REFUSED("x = '\xff'\n", "not valid UTF-8");
    REFUSED("x = '\xed\xa0\x80'\n", "not valid UTF-8"); /* an encoded surrogate */
    REFUSED("x = 1\0\n", "NUL");
    REFUSED("# -*- coding: latin-1 -*-\nx = 1\n", "encoding 'latin-1'");
    REFUSED("#!/usr/bin/python\n# vim: set fileencoding=cp1252 :\nx = 1\n", "cp1252");
    TOKS("# -*- coding: utf-8 -*-\nx = 1\n", "x = 1|");
    TOKS("# coding=UTF_8\nx = 1\n", "x = 1|");
    TOKS("\xef\xbb\xbfx = 1\n", "x = 1|");
    char deep[PYLEX_MAX_DEPTH * 2 + 16];
    memset(deep, '(', PYLEX_MAX_DEPTH + 1);
    strcpy(deep + PYLEX_MAX_DEPTH + 1, "\n");
    char *got = tokens(deep, strlen(deep));
    assert_non_null(strstr(got, "too many nested brackets"));
    free(got);
}

static void value_is(const char *text, const char *expect)
{
    struct pylex lx;
    char *why;
    assert_int_equal(pylex_open(&lx, text, strlen(text), &why), 0);
    struct pytoken t;
    assert_int_equal(pylex_next(&lx, &t), 0);
    assert_int_equal(t.kind, PT_STRING);
    char *v;
    const char *vwhy;
    int rc = pylex_str_value(&t, &v, &vwhy);
    if (rc != 0)
        fail_msg("%s: not read (%s)", text, vwhy);
    if (strcmp(v, expect) != 0)
        fail_msg("%s: got '%s', expected '%s'", text, v, expect);
    free(v);
    pylex_close(&lx);
}

static void value_refused(const char *text, int expect_rc, const char *needle)
{
    struct pylex lx;
    char *why;
    assert_int_equal(pylex_open(&lx, text, strlen(text), &why), 0);
    struct pytoken t;
    assert_int_equal(pylex_next(&lx, &t), 0);
    char *v;
    const char *vwhy = NULL;
    assert_int_equal(pylex_str_value(&t, &v, &vwhy), expect_rc);
    assert_null(v);
    if (!strstr(vwhy, needle))
        fail_msg("%s: '%s' not in '%s'", text, needle, vwhy);
    pylex_close(&lx);
}

static void test_values(void **state)
{
    (void)state;
    value_is("'abc'", "abc");
    value_is("'a\\x62c'", "abc");
    value_is("'\\141\\142c'", "abc");
    value_is("'\\u0061b\\U00000063'", "abc");
    value_is("'a\\\nb'", "ab");
    value_is("'a\\'b\\\"c\\\\d'", "a'b\"c\\d");
    value_is("'\\t\\n'", "\t\n");
    value_is("'a\\qb'", "a\\qb"); /* an unknown escape keeps its backslash */
    value_is("r'a\\x62'", "a\\x62");
    value_is("'''a\nb'''", "a\nb");
    value_is("f'a{{b}}c'", "a{b}c");
    value_is("rf'\\d{{x'", "\\d{x");
    value_is("'\\u00e9'", "\xc3\xa9");
    value_is("'\\777'", "\xc7\xbf");
    value_refused("b'abc'", 1, "bytes");
    value_refused("f'{x}'", 1, "f-string");
    value_refused("'\\N{DASH}'", 1, "\\N");
    value_refused("'a\\x00'", 1, "NUL");
    value_refused("'\\ud800'", 1, "surrogate");
    value_refused("'\\x6'", -1, "invalid");
    value_refused("'\\U00110000'", -1, "invalid");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logical_lines), cmocka_unit_test(test_indentation),
        cmocka_unit_test(test_strings),       cmocka_unit_test(test_fstrings),
        cmocka_unit_test(test_refusals),      cmocka_unit_test(test_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
