/* libFuzzer target: heads_parse_script (include/heads.h), one Alembic
 * script's text, through the tokenizer (pylex) and the reader (pyread). The
 * input is passed as an exact-size buffer with no terminator (the API takes
 * text and length), so a read past the end is a heap overflow.
 * Invariants:
 *  - success: why untouched (NULL); revision a non-empty printable-ASCII id
 *    with no blank, comma, @, - or +; every down_revision and depends_on
 *    entry non-empty;
 *  - failure: a non-empty one-line reason; the script is cleared;
 *  - the parse is deterministic;
 *  - no accepted decoy: once a text parses, appending (after a newline)
 *    code that binds nothing it reads (a comment, strings and docstrings
 *    quoting assignments with escaped quotes, f-strings, brackets with
 *    comments, a function or a dead block) leaves the result exactly as it
 *    was; appending code that binds revision, down_revision or depends_on
 *    any other way (in a block, one-line block, augmented, unpacking,
 *    walrus, global, for target, import as, class body) makes the parse
 *    fail; and appending a module-level assignment makes its value the
 *    one read (the last assignment wins). */
#include "fuzz_common.h"

#include <string.h>

#include "heads.h"
#include "util.h"

static void check_id(const char *id, const char *what)
{
    CHECKF(id && *id, "%s: empty id", what);
    for (const char *p = id; *p; p++) {
        unsigned char c = (unsigned char)*p;
        CHECKF(c > 0x20 && c < 0x7F && !strchr(",@-+", c), "%s: id '%s' has character 0x%02x", what, id, c);
    }
}

static void check_entries(const struct strlist *l, const char *what)
{
    for (size_t i = 0; i < l->n; i++)
        CHECKF(l->v[i] && *l->v[i], "%s: an empty entry", what);
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
    return strcmp(a->rev, b->rev) == 0 && same_list(&a->down, &b->down) && same_list(&a->deps, &b->deps) &&
           same_list(&a->labels, &b->labels) && a->labels_known == b->labels_known;
}

/* text + "\n" + tail, parsed. */
static int parse_with(const char *text, size_t size, const char *tail, struct script *s, char **why)
{
    size_t n = strlen(tail);
    char *t = malloc(size + 1 + n);
    if (!t)
        abort();
    memcpy(t, text, size);
    t[size] = '\n';
    memcpy(t + size + 1, tail, n);
    int rc = heads_parse_script(t, size + 1 + n, s, why);
    free(t);
    return rc;
}

static const char *const neutral[] = {
    "# revision = 'decoy'\n",
    "'''\nrevision = 'decoy'\n'''\n",
    "_x = \"revision = 'decoy' \\\" down_revision = 'decoy'\"\n",
    "\"\"\"doc \\\"\"\" still doc\nrevision = 'decoy'\n\"\"\"\n",
    "r'''\\'''\ndown_revision = 'decoy'\n'''\n",
    "def _f():\n    return f\"{1} revision = 'decoy'\"\n",
    "_y = ('revision = 1',\n      # down_revision = 'decoy'\n      'x')\n",
    "if False:\n    _z = 'depends_on = 1'\n",
    "_w = 1 + \\\n    2  # revision = 'decoy'\n",
    "class _K:\n    _v = \"\"\"\nrevision = 'decoy'\n\"\"\"\n",
};

static const char *const binding[] = {
    "if False:\n    revision = 'decoy'\n",
    "if 1: down_revision = 'decoy'\n",
    "revision += 'decoy'\n",
    "for down_revision in ():\n    pass\n",
    "(depends_on := 'decoy')\n",
    "def _g():\n    global revision\n",
    "_a, down_revision = 1, 'decoy'\n",
    "import decoy as depends_on\n",
    "class _C:\n    revision = 'decoy'\n",
    "_b = revision = 'decoy'\n",
    "with _m as depends_on:\n    pass\n",
};

static void metamorphic(const char *text, size_t size, const struct script *s)
{
    struct script s2;
    char *why2;
    for (size_t i = 0; i < sizeof neutral / sizeof neutral[0]; i++) {
        int rc = parse_with(text, size, neutral[i], &s2, &why2);
        CHECKF(rc == 0, "a neutral tail %zu made the script unreadable: %s", i, why2 ? why2 : "");
        CHECKF(same_script(s, &s2), "a neutral tail %zu changed what is read (revision %s -> %s)", i, s->rev, s2.rev);
        script_free(&s2);
    }
    for (size_t i = 0; i < sizeof binding / sizeof binding[0]; i++) {
        int rc = parse_with(text, size, binding[i], &s2, &why2);
        CHECKF(rc == -1, "a decoy binding %zu was not noticed (revision %s)", i, rc == 0 ? s2.rev : "");
        free(why2);
    }
    if (strcmp(s->rev, "zzdecoy") != 0 && strcmp(s->rev, "zzd1") != 0 && strcmp(s->rev, "zzd2") != 0 &&
        !strlist_contains(&s->deps, "zzdecoy")) {
        int rc = parse_with(text, size, "revision = 'zzdecoy'\ndown_revision = ('zzd1', 'zzd2')\n", &s2, &why2);
        CHECKF(rc == 0, "a last assignment made the script unreadable: %s", why2 ? why2 : "");
        CHECKF(strcmp(s2.rev, "zzdecoy") == 0 && s2.down.n == 2 && strcmp(s2.down.v[0], "zzd1") == 0,
               "the last assignment is not the one read (revision %s)", s2.rev);
        script_free(&s2);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    char *text = fuzz_memdup(data, size);
    struct script s, again;
    char *why = NULL, *why_again = NULL;
    int rc = heads_parse_script(text, size, &s, &why);
    int rc_again = heads_parse_script(text, size, &again, &why_again);
    CHECKF(rc == rc_again, "not deterministic (%d, %d)", rc, rc_again);
    if (rc == 0) {
        CHECK(why == NULL);
        CHECK(same_script(&s, &again));
        check_id(s.rev, "revision");
        check_entries(&s.down, "down_revision");
        check_entries(&s.deps, "depends_on");
        metamorphic(text, size, &s);
        script_free(&s);
        script_free(&again);
    } else {
        CHECK(rc == -1);
        CHECK(why != NULL);
        CHECKF(fuzz_msg_ok(why, 4096), "bad reason '%s'", why);
        CHECK(s.rev == NULL && s.down.n == 0 && s.deps.n == 0 && s.labels.n == 0);
        free(why);
        free(why_again);
    }
    free(text);
    return 0;
}
