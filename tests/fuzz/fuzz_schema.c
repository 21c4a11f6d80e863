/* libFuzzer target: the schema file's reader, schema_file_parse
 * (include/schema_file.h) over jt_parse (include/jtree.h), and the
 * comparison (include/schema_check.h).
 * Invariants:
 *  - failure: the message is one line naming the file and the position
 *    ("schema file fuzz: line L, column C: ..."), and valid UTF-8;
 *  - success: the canonical text (jt_render) is valid UTF-8 and reads back
 *    as a schema file that renders to the same bytes; the file compared with
 *    itself has no difference, and counts at least one object per table;
 *    revisions and schemas come out sorted;
 *  - lenient reading (the server's text) never fails on encoding: what it
 *    reads renders as valid UTF-8 and reads back strictly. */
#include "fuzz_common.h"

#include "jtree.h"
#include "schema_check.h"
#include "schema_file.h"

static int valid_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
                   : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (!len || i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
        if ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] > 0x9F) ||
            (c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] > 0x8F))
            return 0;
        i += len;
    }
    return 1;
}

static void check_sorted(const struct strlist *l)
{
    for (size_t i = 1; i < l->n; i++)
        CHECK(strcmp(l->v[i - 1], l->v[i]) < 0);
}

static void check_file(const struct schema_file *f)
{
    char *text = jt_render(&f->doc);
    CHECK(valid_utf8((const unsigned char *)text, strlen(text)));
    check_sorted(&f->revisions);
    check_sorted(&f->schemas);
    struct schema_file again;
    struct err e = {{0}};
    CHECKF(schema_file_parse(text, strlen(text), "again", &again, &e) == 0, "rendered file refused: %s", e.msg);
    char *text2 = jt_render(&again.doc);
    CHECK(strcmp(text, text2) == 0);
    struct strlist diffs = {0};
    long checked = -1;
    schema_compare(f, &again.doc, &diffs, &checked);
    CHECKF(diffs.n == 0, "a file differs from itself: %s", diffs.v[0]);
    CHECK(checked >= 0);
    strlist_free(&diffs);
    schema_file_free(&again);
    free(text);
    free(text2);
}

static void check_lenient(const char *in, size_t size)
{
    struct jt v;
    struct jt_error je;
    if (jt_parse(in, size, true, &v, &je) != 0) {
        CHECK(je.line >= 1 && je.col >= 1 && je.msg[0]);
        return;
    }
    char *text = jt_render(&v);
    CHECK(valid_utf8((const unsigned char *)text, strlen(text)));
    struct jt w;
    CHECKF(jt_parse(text, strlen(text), false, &w, &je) == 0, "rendered text refused: %s", je.msg);
    jt_free(&w);
    jt_free(&v);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    char *in = fuzz_memdup(data, size);
    struct schema_file f;
    struct err e = {{0}};
    if (schema_file_parse(in, size, "fuzz", &f, &e) == 0) {
        check_file(&f);
        schema_file_free(&f);
    } else {
        CHECK(fuzz_msg_ok(e.msg, sizeof e.msg));
        CHECKF(strncmp(e.msg, "schema file fuzz: line ", 23) == 0, "no position: %s", e.msg);
        CHECKF(valid_utf8((const unsigned char *)e.msg, strlen(e.msg)), "message not UTF-8: %s", e.msg);
        CHECK(f.path == NULL && f.doc.v == NULL);
    }
    check_lenient(in, size);
    free(in);
    return 0;
}
