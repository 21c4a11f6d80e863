/* The schema file: its shape, held to the settings, and compared with a
 * live description (both given as text here; the real catalogs are the
 * integration suite's). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema_check.h"
#include "schema_dump.h"
#include "schema_file.h"

/* A document of one schema, public, with the enums and tables given. */
#define DOC(revs, enums, tables)                                                             \
    "{\"alembic_version\": [" revs "], \"format\": 1, \"postgresql\": 15, \"schemas\": "    \
    "{\"public\": {\"enums\": {" enums "}, \"tables\": {" tables "}}}}"

#define COL_ID(dflt) "\"id\": {\"default\": " dflt ", \"not_null\": true, \"type\": \"integer\"}"
#define COL_TITLE(nn, type) "\"title\": {\"default\": null, \"not_null\": " nn ", \"type\": " type "}"
#define PK "\"proposals_pkey\": \"PRIMARY KEY (id)\""
#define IX(def) "\"ix_title\": \"CREATE " def " ix_title ON public.proposals USING btree (title)\""
#define TABLE(cols, cons, idx) \
    "\"proposals\": {\"columns\": {" cols "}, \"constraints\": {" cons "}, \"indexes\": {" idx "}}"
#define SEQ "\"nextval('public.proposals_id_seq'::regclass)\""
#define PROPOSALS TABLE(COL_ID(SEQ) ", " COL_TITLE("true", "\"text\""), PK, IX("INDEX"))
#define MOOD(labels) "\"mood\": [" labels "]"

static void load(const char *text, struct schema_file *f)
{
    struct err e = {{0}};
    if (schema_file_parse(text, strlen(text), "schema.json", f, &e) != 0)
        fail_msg("did not load: %s\n%s", e.msg, text);
}

static void refused(const char *text, const char *msg)
{
    struct schema_file f;
    struct err e = {{0}};
    assert_int_equal(schema_file_parse(text, strlen(text), "x.json", &f, &e), -1);
    if (!strstr(e.msg, msg) || strncmp(e.msg, "schema file x.json: line ", 25) != 0)
        fail_msg("wanted '%s' in: %s", msg, e.msg);
    assert_null(f.path);
    assert_null(f.doc.v);
}

static void test_loads(void **state)
{
    (void)state;
    struct schema_file f;
    load(DOC("\"b2\", \"a1\"", MOOD("\"sad\""), PROPOSALS), &f);
    assert_string_equal(f.path, "schema.json");
    assert_int_equal(f.revisions.n, 2);
    assert_string_equal(f.revisions.v[0], "a1");
    assert_int_equal(f.schemas.n, 1);
    assert_string_equal(f.schemas.v[0], "public");
    assert_int_equal(f.postgresql, 15);
    assert_true(f.has_enums);
    schema_file_free(&f);
    load(DOC("", "", ""), &f);
    assert_false(f.has_enums);
    assert_int_equal(f.revisions.n, 0);
    schema_file_free(&f);
}

static void test_shape_errors(void **state)
{
    (void)state;
    refused("{", "line 1, column 2: expected a member name");
    refused("[]", "line 1, column 1: the schema file must be a JSON object, not an array");
    refused("{\"format\": 1, \"postgresql\": 15, \"schemas\": {}}",
            "line 1, column 1: the schema file has no member \"alembic_version\"");
    refused("{\"alembic_version\": [], \"format\": 1, \"postgresql\": 15, \"schemas\": {}, \"x\": 1}",
            "line 1, column 71: unknown member \"x\" in the schema file");
    refused("{\"alembic_version\": [], \"format\": 2, \"postgresql\": 15, \"schemas\": {}}",
            "column 35: \"format\" must be 1");
    refused("{\"alembic_version\": [], \"format\": 1.0, \"postgresql\": 15, \"schemas\": {}}",
            "\"format\" must be 1");
    refused("{\"alembic_version\": [], \"format\": 1, \"postgresql\": \"15\", \"schemas\": {}}",
            "\"postgresql\" must be a major version number");
    refused("{\"alembic_version\": [\"\"], \"format\": 1, \"postgresql\": 15, \"schemas\": {}}",
            "column 22: an item must not be empty");
    refused("{\"alembic_version\": {}, \"format\": 1, \"postgresql\": 15, \"schemas\": {}}",
            "\"alembic_version\" must be an array, not an object");
    refused("{\"alembic_version\": [], \"format\": 1, \"postgresql\": 15, \"schemas\": {\"\": {}}}",
            "an empty name in \"schemas\"");
    refused("{\"alembic_version\": [], \"format\": 1, \"postgresql\": 15, \"schemas\": {\"s\": {\"tables\": {}}}}",
            "schema \"s\" has no member \"enums\"");
    refused(DOC("", MOOD("\"a\", \"a\""), ""), "label \"a\" given twice");
    refused(DOC("", MOOD("1"), ""), "an item must be a string, not a number");
    refused(DOC("", "", "\"t\": []"), "\"t\" must be an object, not an array");
    refused(DOC("", "", "\"t\": {\"columns\": {}, \"constraints\": {}}"), "table \"t\" has no member \"indexes\"");
    refused(DOC("", "", "\"t\": {\"columns\": {}, \"constraints\": {\"k\": null}, \"indexes\": {}}"),
            "\"k\" must be a string, not null");
    refused(DOC("", "", TABLE("\"c\": {\"default\": null, \"not_null\": 1, \"type\": \"t\"}", "", "")),
            "\"not_null\" must be true or false, not a number");
    refused(DOC("", "", TABLE("\"c\": {\"default\": false, \"not_null\": true, \"type\": \"t\"}", "", "")),
            "\"default\" must be a string or null, not true or false");
    refused(DOC("", "", TABLE("\"c\": {\"default\": null, \"not_null\": true, \"type\": \"\"}", "", "")),
            "\"type\" must not be empty");
    refused(DOC("", "", TABLE("\"c\": {\"default\": null, \"not_null\": true}", "", "")),
            "column \"c\" has no member \"type\"");
    refused(DOC("", "", TABLE("\"c\": {\"default\": null, \"not_null\": true, \"type\": \"t\", \"size\": 1}", "", "")),
            "unknown member \"size\" in column \"c\"");
    refused(DOC("", "", TABLE("\"c\": {\"default\": null, \"not_null\": true, \"type\": \"t\", \"identity\": 1}", "", "")),
            "\"identity\" must be a string, not a number");
    refused("{\"alembic_version\": [], \"alembic_version\": [], \"format\": 1, \"postgresql\": 15, \"schemas\": {}}",
            "line 1, column 25: the name \"alembic_version\" is given twice");
    refused("{\"alembic_version\": [\"\xff\"]}", "line 1, column 23: invalid UTF-8");
}

static void test_read_errors(void **state)
{
    (void)state;
    struct schema_file f;
    struct err e = {{0}};
    assert_int_equal(schema_file_load("/nonexistent/schema.json", &f, &e), -1);
    assert_string_equal(e.msg, "cannot read schema file /nonexistent/schema.json: No such file or directory");
    assert_int_equal(schema_file_load("/", &f, &e), -1);
    assert_string_equal(e.msg, "cannot read schema file /: not a regular file");
}

static void test_match(void **state)
{
    (void)state;
    struct schema_file f;
    struct strlist schemas = {0}, heads = {0}, other = {0};
    struct err e = {{0}};
    load(DOC("\"abc\"", "", ""), &f);
    strlist_push(&schemas, "public");
    strlist_push(&heads, "abc");
    assert_int_equal(schema_file_match(&f, &schemas, "SENTRY_SCHEMAS", &heads, &e), 0);
    assert_int_equal(schema_file_match(&f, &schemas, "SENTRY_SCHEMAS", NULL, &e), 0);
    strlist_push(&other, "def");
    strlist_push(&other, "abc");
    strlist_sort(&other);
    assert_int_equal(schema_file_match(&f, &schemas, "SENTRY_SCHEMAS", &other, &e), -1);
    assert_string_equal(e.msg, "schema file schema.json was taken at revision abc, but the script heads "
                               "are abc,def: make it again from a database migrated to the heads");
    strlist_push(&schemas, "billing");
    strlist_sort(&schemas);
    assert_int_equal(schema_file_match(&f, &schemas, "--schemas", &heads, &e), -1);
    assert_string_equal(e.msg, "schema file schema.json describes schemas public, but --schemas is "
                               "billing,public: give both the same schemas (or make the file again)");
    schema_file_free(&f);
    load(DOC("", "", ""), &f);
    struct strlist none = {0};
    assert_int_equal(schema_file_match(&f, &heads, "S", NULL, &e), -1);
    assert_int_equal(schema_file_match(&f, &none, "S", NULL, &e), -1);
    assert_non_null(strstr(e.msg, "describes schemas public, but S is (none)"));
    strlist_free(&schemas);
    strlist_push(&schemas, "public");
    assert_int_equal(schema_file_match(&f, &schemas, "S", &heads, &e), -1);
    assert_non_null(strstr(e.msg, "taken at revision (none), but the script heads are abc"));
    schema_file_free(&f);
    strlist_free(&schemas);
    strlist_free(&heads);
    strlist_free(&other);
}

/* The differences between a file and a live description, both as text. */
static void compare(const char *file, const char *live, long checked, const char *const *want)
{
    struct schema_file f, l;
    struct strlist d = {0};
    long n = -1;
    load(file, &f);
    load(live, &l);
    schema_compare(&f, &l.doc, &d, &n);
    size_t count = 0;
    while (want[count])
        count++;
    if (d.n != count) {
        char *all = strlist_join(&d, "\n  ");
        fail_msg("wanted %zu differences, got %zu:\n  %s", count, d.n, all);
    }
    for (size_t i = 0; i < count; i++)
        assert_string_equal(d.v[i], want[i]);
    assert_int_equal(n, checked);
    strlist_free(&d);
    schema_file_free(&f);
    schema_file_free(&l);
}

static const char *const NONE[] = {NULL};

static void test_same_and_additions(void **state)
{
    (void)state;
    const char *file = DOC("", MOOD("\"sad\", \"ok\""), PROPOSALS);
    compare(file, file, 6, NONE); /* enum, table, 2 columns, 1 constraint, 1 index */
    const char *more = DOC("", MOOD("\"sad\", \"meh\", \"ok\", \"glad\"") ", \"color\": []",
                           TABLE(COL_ID(SEQ) ", " COL_TITLE("true", "\"text\"")
                                 ", \"note\": {\"default\": null, \"not_null\": false, \"type\": \"text\"}",
                                 PK ", \"ck\": \"CHECK (true)\"", IX("INDEX") ", \"ix2\": \"CREATE INDEX ix2\"")
                           ", \"extra\": {\"columns\": {}, \"constraints\": {}, \"indexes\": {}}");
    compare(file, more, 6, NONE);
}

static void test_each_difference(void **state)
{
    (void)state;
    const char *file = DOC("", MOOD("\"sad\", \"ok\", \"happy\""), PROPOSALS);
    const char *live = DOC("", MOOD("\"ok\", \"sad\"") ,
                           TABLE(COL_ID("null") ", " COL_TITLE("false", "\"character varying(64)\""),
                                 "", IX("UNIQUE INDEX")));
    static const char *const want[] = {
        "enum type mood: label 'happy' missing",
        "column proposals.id: default none, expected nextval('public.proposals_id_seq'::regclass)",
        "column proposals.title: type character varying(64), expected text",
        "column proposals.title: nullable, expected not null",
        "constraint proposals_pkey on proposals missing",
        "index ix_title: CREATE UNIQUE INDEX ix_title ON public.proposals USING btree (title), "
        "expected CREATE INDEX ix_title ON public.proposals USING btree (title)",
        NULL,
    };
    compare(file, live, 6, want);
    static const char *const order[] = {
        "enum type mood: labels in the order 'ok', 'sad', expected 'sad', 'ok'", NULL};
    compare(DOC("", MOOD("\"sad\", \"ok\""), ""), DOC("", MOOD("\"x\", \"ok\", \"y\", \"sad\""), ""), 1, order);
    static const char *const gone[] = {"enum type mood missing", "table proposals missing", NULL};
    compare(file, DOC("", "", ""), 6, gone); /* a missing table: one line, its parts counted */
}

static void test_optional_attributes(void **state)
{
    (void)state;
#define ODD(extra) TABLE("\"c\": {\"default\": null, \"not_null\": true, \"type\": \"int\"" extra "}", "", "")
    const char *file = DOC("", "", ODD(", \"identity\": \"always\", \"collation\": \"\\\"C\\\"\""));
    static const char *const want[] = {
        "column proposals.c: identity none, expected always",
        "column proposals.c: collation default, expected \"C\"",
        NULL,
    };
    compare(file, DOC("", "", ODD("")), 2, want);
    static const char *const gen[] = {"column proposals.c: generated stored, expected none", NULL};
    compare(DOC("", "", ODD("")), DOC("", "", ODD(", \"generated\": \"stored\"")), 2, gen);
    const char *parted = DOC("", "", "\"p\": {\"columns\": {}, \"constraints\": {}, \"indexes\": {}, "
                                     "\"partition_by\": \"RANGE (a)\"}");
    static const char *const part[] = {"table p: partition_by none, expected RANGE (a)", NULL};
    compare(parted, DOC("", "", "\"p\": {\"columns\": {}, \"constraints\": {}, \"indexes\": {}}"), 1, part);
}

static void test_other_schemas_and_quoting(void **state)
{
    (void)state;
    const char *file =
        "{\"alembic_version\": [], \"format\": 1, \"postgresql\": 15, \"schemas\": {"
        "\"Odd Schema\": {\"enums\": {\"Mood\": [\"it's\"]}, \"tables\": {\"User Table\": {\"columns\": {"
        "\"ID\": {\"default\": null, \"not_null\": true, \"type\": \"int\"}}, \"constraints\": {\"a\\\"b\": \"CHECK (x)\"}, "
        "\"indexes\": {\"Expr Idx\": \"CREATE INDEX\"}}}}, \"gone\": {\"enums\": {}, \"tables\": {\"t\": "
        "{\"columns\": {\"a\": {\"default\": null, \"not_null\": true, \"type\": \"int\"}}, \"constraints\": {}, "
        "\"indexes\": {}}}}}}";
    const char *live =
        "{\"alembic_version\": [], \"format\": 1, \"postgresql\": 15, \"schemas\": {"
        "\"Odd Schema\": {\"enums\": {\"Mood\": []}, \"tables\": {\"User Table\": {\"columns\": {}, "
        "\"constraints\": {}, \"indexes\": {}}}}}}";
    static const char *const want[] = {
        "enum type \"Odd Schema\".\"Mood\": label 'it's' missing",
        "column \"Odd Schema\".\"User Table\".\"ID\" missing",
        "constraint \"a\"\"b\" on \"Odd Schema\".\"User Table\" missing",
        "index \"Odd Schema\".\"Expr Idx\" missing",
        "schema gone missing",
        NULL,
    };
    compare(file, live, 7, want);
}

static void test_names(void **state)
{
    (void)state;
    struct strlist in = {0}, out;
    struct err e = {{0}};
    strlist_split_csv(&in, "Public, \"Odd Schema\", public, \"q\"\"t\", billing");
    assert_int_equal(schema_names_parse(&in, "SENTRY_SCHEMAS", &out, &e), 0);
    assert_int_equal(out.n, 4);
    assert_string_equal(out.v[0], "Odd Schema");
    assert_string_equal(out.v[1], "billing");
    assert_string_equal(out.v[2], "public");
    assert_string_equal(out.v[3], "q\"t");
    strlist_free(&out);
    strlist_free(&in);
    static const char *const bad[] = {"\"open", "a b", "\"a\"b", "\"\"", "a\"b",
                                      "a123456789012345678901234567890123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        strlist_push(&in, bad[i]);
        assert_int_equal(schema_names_parse(&in, "SENTRY_SCHEMAS", &out, &e), -1);
        assert_non_null(strstr(e.msg, "SENTRY_SCHEMAS: '"));
        assert_int_equal(out.n, 0);
        strlist_free(&in);
    }
    char *s = schema_ident("plain_name$1");
    assert_string_equal(s, "plain_name$1");
    free(s);
    s = schema_ident("1st");
    assert_string_equal(s, "\"1st\"");
    free(s);
    s = schema_ident("Say \"hi\"");
    assert_string_equal(s, "\"Say \"\"hi\"\"\"");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loads),
        cmocka_unit_test(test_shape_errors),
        cmocka_unit_test(test_read_errors),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_same_and_additions),
        cmocka_unit_test(test_each_difference),
        cmocka_unit_test(test_optional_attributes),
        cmocka_unit_test(test_other_schemas_and_quoting),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
