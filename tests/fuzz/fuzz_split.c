/* libFuzzer target: split_command (include/split.h), a command string as
 * SENTRY_MIGRATE_CMD or the command after `--` in a setting.
 * Invariants:
 *  - words are appended after what the list already held, which is kept;
 *  - success: at least one word;
 *    round trip: the words, each single-quoted ('\'' for a quote) and joined
 *    by blanks, split back to exactly the same words;
 *    with no quote, backslash or operator in the input, the words are its
 *    blank-separated fields;
 *  - failure: nothing is appended, and the message is one non-empty line
 *    naming the setting. */
#include "fuzz_common.h"

#include "err.h"
#include "split.h"
#include "util.h"

static char *quote_words(const struct strlist *l, size_t from)
{
    size_t cap = 16;
    for (size_t i = from; i < l->n; i++)
        cap += strlen(l->v[i]) * 4 + 3;
    char *out = malloc(cap), *o = out;
    if (!out)
        abort();
    for (size_t i = from; i < l->n; i++) {
        if (i > from)
            *o++ = ' ';
        *o++ = '\'';
        for (const char *c = l->v[i]; *c; c++) {
            if (*c == '\'') {
                memcpy(o, "'\\''", 4);
                o += 4;
            } else {
                *o++ = *c;
            }
        }
        *o++ = '\'';
    }
    *o = '\0';
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *in = fuzz_strdup(data, size);
    struct strlist out = {0};
    strlist_push(&out, "pre-existing");
    struct err e = {{0}};
    int rc = split_command(in, "SENTRY_MIGRATE_CMD", &out, &e);
    CHECK(out.n >= 1 && strcmp(out.v[0], "pre-existing") == 0);
    if (rc == 0) {
        CHECKF(out.n >= 2, "success with no word for '%s'", in);
        char *q = quote_words(&out, 1);
        struct strlist back = {0};
        struct err e2 = {{0}};
        int rc2 = split_command(q, "ROUNDTRIP", &back, &e2);
        CHECKF(rc2 == 0, "re-quoted words do not split: %s (%s)", e2.msg, q);
        CHECKF(back.n == out.n - 1, "round trip gave %zu words, not %zu", back.n, out.n - 1);
        for (size_t i = 0; i < back.n; i++)
            CHECKF(strcmp(back.v[i], out.v[i + 1]) == 0, "word %zu '%s' came back as '%s'", i,
                   out.v[i + 1], back.v[i]);
        strlist_free(&back);
        free(q);

        if (!strpbrk(in, "'\"\\;|&<>()`$")) {
            size_t w = 1;
            const char *p = in;
            for (;;) {
                p += strspn(p, " \t\r\n");
                if (!*p)
                    break;
                size_t n = strcspn(p, " \t\r\n");
                CHECK(w < out.n);
                CHECKF(strlen(out.v[w]) == n && memcmp(out.v[w], p, n) == 0,
                       "plain word %zu is '%s', not '%.*s'", w, out.v[w], (int)n, p);
                w++;
                p += n;
            }
            CHECK(w == out.n);
        }
    } else {
        CHECK(rc == -1);
        CHECKF(out.n == 1, "failure left %zu words appended", out.n - 1);
        CHECKF(fuzz_msg_ok(e.msg, sizeof e.msg), "bad message '%s'", e.msg);
        CHECK(strncmp(e.msg, "SENTRY_MIGRATE_CMD", 18) == 0);
    }
    strlist_free(&out);
    free(in);
    return 0;
}
