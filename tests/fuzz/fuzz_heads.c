/* libFuzzer target: heads_parse_script (include/heads.h), one Alembic
 * script's text. The input is passed as an exact-size buffer with no
 * terminator (the API takes text and length), so a read past the end is a
 * heap overflow.
 * Invariants:
 *  - success: why untouched (NULL); revision non-empty, no comma, and
 *    written in the text; down_revision was assigned; every id in
 *    down_revision / depends_on / branch_labels is non-empty printable ASCII
 *    with no comma or backslash and is written in the text;
 *  - failure: a non-empty one-line reason; the script is cleared;
 *  - the parse is deterministic, and text after a final newline that is
 *    only a comment does not change the result. */
#include "fuzz_common.h"

#include <string.h>

#include "heads.h"
#include "util.h"

static void check_id(const char *id, const char *text, size_t len, const char *what)
{
    CHECKF(id && *id, "%s: empty id", what);
    for (const char *p = id; *p; p++) {
        unsigned char c = (unsigned char)*p;
        CHECKF(c >= 0x20 && c < 0x7F && c != ',' && c != '\\',
               "%s: id '%s' has character 0x%02x", what, id, c);
    }
    CHECKF(memmem(text, len, id, strlen(id)) != NULL, "%s: id '%s' is not in the text", what, id);
}

static void check_list(const struct strlist *l, const char *text, size_t len, const char *what)
{
    for (size_t i = 0; i < l->n; i++)
        check_id(l->v[i], text, len, what);
}

static int same_list(const struct strlist *a, const struct strlist *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]) != 0)
            return 0;
    return 1;
}

static int same_script(const struct script *a, const struct script *b)
{
    return strcmp(a->rev, b->rev) == 0 &&
           same_list(&a->down, &b->down) && same_list(&a->deps, &b->deps) &&
           same_list(&a->labels, &b->labels);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    char *text = fuzz_memdup(data, size);
    struct script s;
    char *why = NULL;
    int rc = heads_parse_script(text, size, &s, &why);

    /* The same text followed by a comment line must parse the same way
     * (when it ends in a newline: otherwise the comment would join the
     * last line). */
    int rc2 = rc;
    struct script s2;
    char *why2 = NULL;
    if (size && text[size - 1] == '\n') {
        static const char tail[] = "# trailing comment, revision = 'zzz'\n";
        char *t2 = malloc(size + sizeof tail - 1);
        if (!t2)
            abort();
        memcpy(t2, text, size);
        memcpy(t2 + size, tail, sizeof tail - 1);
        rc2 = heads_parse_script(t2, size + sizeof tail - 1, &s2, &why2);
        free(t2);
        CHECKF(rc2 == rc, "a trailing comment changed the result (%d -> %d: %s)", rc, rc2,
               why2 ? why2 : (why ? why : ""));
    }

    if (rc == 0) {
        CHECK(why == NULL);
        check_id(s.rev, text, size, "revision");
        check_list(&s.down, text, size, "down_revision");
        check_list(&s.deps, text, size, "depends_on");
        check_list(&s.labels, text, size, "branch_labels");
        if (size && text[size - 1] == '\n') {
            CHECK(same_script(&s, &s2));
            script_free(&s2);
        }
        script_free(&s);
    } else {
        CHECK(rc == -1);
        CHECK(why != NULL);
        CHECKF(fuzz_msg_ok(why, 4096), "bad reason '%s'", why);
        CHECK(s.rev == NULL && s.down.n == 0 && s.deps.n == 0 && s.labels.n == 0);
        free(why);
        free(why2);
    }
    free(text);
    return 0;
}
