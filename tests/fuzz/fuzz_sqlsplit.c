/* libFuzzer target: sql_split (include/sqlfile.h), the splitter behind
 * `migration-sentry sql FILE`. The input is an exact-size buffer with no
 * terminator (the API takes text and length).
 * Invariants:
 *  - success: every statement is non-empty, starts with neither a blank nor
 *    ';', ends with no blank, is a piece of the input, and has a line number
 *    within the input that never goes backwards;
 *    round trip: the statements joined by "\n;\n" split back into the very
 *    same statements (nothing a statement holds can end it early or join it
 *    to the next);
 *  - inputs holding a NUL (refused by sqlfile_run before splitting) are
 *    only checked for memory safety;
 *  - failure: nothing is returned; the message is one non-empty line
 *    "line N: unterminated ...". */
#include "fuzz_common.h"

#include <ctype.h>

#include "err.h"
#include "sqlfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    char *text = fuzz_memdup(data, size);
    int lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += text[i] == '\n';
    struct sql_script s;
    struct err e = {{0}};
    int rc = sql_split(text, size, &s, &e);
    /* sqlfile_run refuses a file holding a NUL before splitting it: such an
     * input is only run for memory safety. */
    if (memchr(text, '\0', size)) {
        if (rc == 0)
            sql_script_free(&s);
        free(text);
        return 0;
    }
    if (rc == 0) {
        CHECK(s.n == 0 || s.v != NULL);
        int prev = 1;
        size_t total = 0;
        for (size_t i = 0; i < s.n; i++) {
            const char *t = s.v[i].text;
            size_t n = strlen(t);
            CHECKF(n > 0, "statement %zu is empty", i);
            CHECK(!isspace((unsigned char)t[0]) && t[0] != ';');
            CHECK(!isspace((unsigned char)t[n - 1]));
            CHECKF(memmem(text, size, t, n) != NULL, "statement %zu is not in the input", i);
            CHECKF(s.v[i].line >= prev && s.v[i].line <= lines, "statement %zu at line %d", i,
                   s.v[i].line);
            prev = s.v[i].line;
            total += n + 3;
        }
        char *joined = malloc(total + 1), *o = joined;
        if (!joined)
            abort();
        for (size_t i = 0; i < s.n; i++) {
            size_t n = strlen(s.v[i].text);
            memcpy(o, s.v[i].text, n);
            o += n;
            memcpy(o, "\n;\n", 3);
            o += 3;
        }
        struct sql_script back;
        struct err e2 = {{0}};
        int rc2 = sql_split(joined, (size_t)(o - joined), &back, &e2);
        CHECKF(rc2 == 0, "the joined statements do not split: %s", e2.msg);
        CHECKF(back.n == s.n, "round trip gave %zu statements, not %zu", back.n, s.n);
        for (size_t i = 0; i < s.n; i++)
            CHECKF(strcmp(back.v[i].text, s.v[i].text) == 0, "statement %zu changed in the round trip", i);
        sql_script_free(&back);
        free(joined);
        sql_script_free(&s);
    } else {
        CHECK(rc == -1);
        CHECK(s.n == 0 && s.v == NULL);
        CHECKF(fuzz_msg_ok(e.msg, sizeof e.msg), "bad message '%s'", e.msg);
        CHECKF(strncmp(e.msg, "line ", 5) == 0 && strstr(e.msg, ": unterminated "), "message '%s'",
               e.msg);
    }
    free(text);
    return 0;
}
