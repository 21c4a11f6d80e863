/* libFuzzer target: strlist_split_csv (include/util.h) then columns_parse
 * (include/verify.h), as SENTRY_REQUIRE_COLUMNS is read.
 * Invariants:
 *  - the CSV items are non-empty, comma-free and trimmed of blanks;
 *  - success: one column per item; schema, table and name non-empty; the
 *    label is the item as written; a two-part item gets schema "public";
 *    round trip: "schema"."table"."name" (quotes doubled) parses back to the
 *    same three names;
 *  - failure: the columns are freed; the message is one non-empty line
 *    naming the setting. */
#include "fuzz_common.h"

#include "err.h"
#include "util.h"
#include "verify.h"

static char *quoted(const char *s)
{
    char *out = malloc(strlen(s) * 2 + 3), *o = out;
    if (!out)
        abort();
    *o++ = '"';
    for (; *s; s++) {
        if (*s == '"')
            *o++ = '"';
        *o++ = *s;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *in = fuzz_strdup(data, size);
    struct strlist items = {0};
    strlist_split_csv(&items, in);
    for (size_t i = 0; i < items.n; i++) {
        const char *it = items.v[i];
        size_t n = strlen(it);
        CHECK(n > 0);
        CHECK(!strchr(it, ','));
        CHECK(!blank(it[0]) && !blank(it[n - 1]));
    }
    struct columns c;
    struct err e = {{0}};
    int rc = columns_parse(&items, "SENTRY_REQUIRE_COLUMNS", &c, &e);
    if (rc == 0) {
        CHECK(c.n == items.n);
        for (size_t i = 0; i < c.n; i++) {
            struct column *col = &c.v[i];
            CHECK(col->schema && *col->schema);
            CHECK(col->table && *col->table);
            CHECK(col->name && *col->name);
            CHECK(col->label && strcmp(col->label, items.v[i]) == 0);

            char *qs = quoted(col->schema), *qt = quoted(col->table), *qn = quoted(col->name);
            size_t len = strlen(qs) + strlen(qt) + strlen(qn) + 3;
            char *item = malloc(len);
            if (!item)
                abort();
            snprintf(item, len, "%s.%s.%s", qs, qt, qn);
            struct strlist one = {0};
            strlist_push(&one, item);
            struct columns back;
            struct err e2 = {{0}};
            int rc2 = columns_parse(&one, "ROUNDTRIP", &back, &e2);
            CHECKF(rc2 == 0, "re-quoted column %s does not parse: %s", item, e2.msg);
            CHECK(back.n == 1);
            CHECKF(strcmp(back.v[0].schema, col->schema) == 0 &&
                       strcmp(back.v[0].table, col->table) == 0 &&
                       strcmp(back.v[0].name, col->name) == 0,
                   "round trip of %s changed the names", item);
            columns_free(&back);
            strlist_free(&one);
            free(item);
            free(qs);
            free(qt);
            free(qn);
        }
        columns_free(&c);
    } else {
        CHECK(rc == -1);
        CHECK(c.n == 0 && c.v == NULL);
        CHECKF(fuzz_msg_ok(e.msg, sizeof e.msg), "bad message '%s'", e.msg);
        CHECK(strncmp(e.msg, "SENTRY_REQUIRE_COLUMNS", 22) == 0);
    }
    strlist_free(&items);
    free(in);
    return 0;
}
