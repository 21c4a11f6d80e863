/* The migration output's line reader and tail (lines.h), and the log lines it
 * writes, in text and JSON (log.h): bounded, ordered, valid UTF-8, redacted,
 * long lines cut where no secret straddles the cut. The log is read back
 * from a temporary file (log_set_fd). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edge.h"
#include "lines.h"
#include "log.h"
#include "redact.h"

static int log_file = -1;

static int setup(void **state)
{
    (void)state;
    char path[] = "/tmp/sentry-test-lines-XXXXXX";
    log_file = mkstemp(path);
    assert_true(log_file >= 0);
    unlink(path);
    log_set_fd(log_file);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    log_set_fd(STDERR_FILENO);
    log_set_json(false);
    close(log_file);
    redact_clear();
    return 0;
}

/* Everything logged since the last call; the file starts over. */
static char *take_log(void)
{
    off_t n = lseek(log_file, 0, SEEK_END);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(pread(log_file, buf, (size_t)n, 0), n);
    buf[n] = '\0';
    assert_int_equal(ftruncate(log_file, 0), 0);
    lseek(log_file, 0, SEEK_SET);
    return buf;
}

static int fresh(void **state)
{
    (void)state;
    redact_clear();
    log_set_json(false);
    free(take_log());
    return 0;
}

static void no_piece(const char *text, const char *secret)
{
    for (size_t i = 0; i + 3 <= strlen(secret); i++) {
        char piece[4] = {secret[i], secret[i + 1], secret[i + 2], 0};
        if (strstr(text, piece))
            fail_msg("piece '%s' of the secret in: %.200s", piece, strstr(text, piece));
    }
}

static void test_keeps_last_lines(void **state)
{
    (void)state;
    struct lines *l = lines_new("migrate");
    char line[32];
    for (int i = 0; i < 120; i++) {
        int n = snprintf(line, sizeof line, "line %d\n", i);
        lines_feed(l, line, (size_t)n);
    }
    struct strlist out = {0};
    lines_take_tail(l, &out);
    assert_int_equal(out.n, LINES_TAIL);
    assert_string_equal(out.v[0], "line 70");
    assert_string_equal(out.v[LINES_TAIL - 1], "line 119");
    strlist_free(&out);
    lines_take_tail(l, &out);
    assert_int_equal(out.n, 0);
    lines_free(l);
    char *log = take_log();
    assert_non_null(strstr(log, "[migrate] line 0\n[migrate] line 1\n"));
    free(log);
}

static void test_cleans_lines(void **state)
{
    (void)state;
    redact_add("hunter22");
    struct lines *l = lines_new("migrate");
    static const char out[] = "ok \xc3\xa9 bad \xff\xfe ctl \x01 tab\t\r\n"
                              "password hunter22 here\n"
                              "nul\0after\n"
                              "\xed\xa0\x80 surrogate \x1b[2J\n"
                              "last, no newline";
    lines_feed(l, out, sizeof out - 1);
    lines_flush(l);
    struct strlist tail = {0};
    lines_take_tail(l, &tail);
    assert_int_equal(tail.n, 5);
    assert_string_equal(tail.v[0], "ok \xc3\xa9 bad \xEF\xBF\xBD\xEF\xBF\xBD ctl \\x01 tab\t");
    assert_string_equal(tail.v[1], "password ****** here");
    assert_string_equal(tail.v[2], "nul\\x00after");
    assert_string_equal(tail.v[3], "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD surrogate \\x1b[2J");
    assert_string_equal(tail.v[4], "last, no newline");
    strlist_free(&tail);
    lines_free(l);
    char *log = take_log();
    assert_non_null(strstr(log, "[migrate] nul\\x00after\n"));
    assert_null(strchr(log, '\x1b'));
    assert_true(utf8_valid(log, strlen(log)));
    free(log);
}

static void test_long_line_in_pieces(void **state)
{
    (void)state;
    struct lines *l = lines_new("migrate");
    size_t n = 2 * LINES_MAX + 100;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    big[n] = '\n';
    lines_feed(l, big, n + 1);
    struct strlist tail = {0};
    lines_take_tail(l, &tail);
    assert_int_equal(tail.n, 3);
    assert_int_equal(strlen(tail.v[0]), LINES_MAX);
    assert_int_equal(strlen(tail.v[1]), LINES_MAX);
    assert_int_equal(strlen(tail.v[2]), 100);
    strlist_free(&tail);
    /* a character is never split by a cut */
    memset(big, 'a', LINES_MAX - 1);
    memcpy(big + LINES_MAX - 1, "\xc3\xa9", 2);
    memset(big + LINES_MAX + 1, 'b', 10);
    lines_feed(l, big, LINES_MAX + 11);
    lines_flush(l);
    lines_take_tail(l, &tail);
    assert_int_equal(tail.n, 2);
    assert_int_equal(strlen(tail.v[0]), LINES_MAX - 1);
    assert_string_equal(tail.v[1], "\xc3\xa9" "bbbbbbbbbb");
    strlist_free(&tail);
    /* escapes count as printed: 5000 NUL bytes are 20000 bytes of "\x00" */
    memset(big, 0, 5000);
    lines_feed(l, big, 5000);
    lines_flush(l);
    lines_take_tail(l, &tail);
    assert_int_equal(tail.n, 5);
    for (size_t i = 0; i < tail.n; i++)
        assert_int_equal(strlen(tail.v[i]), i < 4 ? LINES_MAX : 20000 - 4 * LINES_MAX);
    strlist_free(&tail);
    lines_free(l);
    free(big);
    char *log = take_log();
    assert_null(memchr(log, '\0', strlen(log)));
    for (char *p = log, *nl; (nl = strchr(p, '\n')); p = nl + 1)
        assert_true((size_t)(nl - p) <= strlen("[migrate] ") + LINES_MAX);
    free(log);
}

/* The line 'o' * pad + text + '.' * 50, fed in chunks of `chunk` bytes. */
static void feed_padded(struct lines *l, size_t pad, const char *text, size_t chunk)
{
    size_t n = pad + strlen(text) + 51;
    char *buf = malloc(n);
    memset(buf, 'o', pad);
    memcpy(buf + pad, text, strlen(text));
    memset(buf + pad + strlen(text), '.', 50);
    buf[n - 1] = '\n';
    for (size_t i = 0; i < n; i += chunk)
        lines_feed(l, buf + i, n - i < chunk ? n - i : chunk);
    free(buf);
}

static void test_secret_never_split(void **state)
{
    (void)state;
    static const char pw[] = "Qz7Xj9Kv2WqZk";
    redact_add(pw);
    static const size_t chunks[] = {1, 7, 4096, 100000};
    for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
        struct lines *l = lines_new("migrate");
        for (size_t pad = LINES_MAX - sizeof pw - 2; pad <= LINES_MAX + 1; pad++)
            feed_padded(l, pad, pw, chunks[c]);
        struct strlist tail = {0};
        lines_take_tail(l, &tail);
        for (size_t i = 0; i < tail.n; i++)
            no_piece(tail.v[i], pw);
        strlist_free(&tail);
        lines_free(l);
        char *log = take_log();
        no_piece(log, pw);
        free(log);
    }
}

static void test_short_credential_never_split(void **state)
{
    (void)state;
    redact_add("Q");
    static const char *const forms[] = {" password=Q ", " password = 'Q' ", "?password=Q&",
                                        " postgresql://sentry:Q@h/db "};
    for (size_t f = 0; f < sizeof forms / sizeof *forms; f++) {
        struct lines *l = lines_new("migrate");
        size_t len = strlen(forms[f]);
        for (size_t pad = LINES_MAX - len - 1; pad <= LINES_MAX + 1; pad++)
            feed_padded(l, pad, forms[f], 4096);
        lines_free(l);
        char *log = take_log();
        assert_null(strstr(log, "Q"));
        free(log);
    }
}

static void test_safe_cut(void **state)
{
    (void)state;
    redact_add("SECRET");
    assert_int_equal(lines_safe_cut("aaaaSECRETbbbb", 14, 6), 4);
    assert_int_equal(lines_safe_cut("aaaaSECRETbbbb", 14, 10), 10);
    assert_int_equal(lines_safe_cut("SECRETbbbb", 10, 3), 6); /* longer than the limit: whole */
    assert_int_equal(lines_safe_cut("aa password=SECRET b", 20, 14), 3);
    /* "password=Q" is no credential when the value goes on ("QRST"): a cut
     * right after the Q would make the piece mask it; the cut moves before */
    redact_add("Q");
    assert_int_equal(lines_safe_cut("aaaa password=QRST", 18, 15), 5);
    assert_int_equal(lines_safe_cut("aaaa password=Q RST", 19, 15), 5); /* the mask is wider */
    assert_int_equal(lines_safe_cut("aaaa password=Q RST", 19, 20), 15);
    /* a short line with a credential in it is one piece */
    redact_add_userinfo("sentry:Zq9Kv2Wx", 15);
    redact_add("Zq9Kv2Wx");
    static const char url[] = "connecting to postgresql://sentry:Zq9Kv2Wx@127.0.0.1:5432/app";
    assert_int_equal(lines_safe_cut(url, sizeof url - 1, LINES_MAX), sizeof url - 1);
    /* the match "://sentry:Zq9Kv2Wx" (18 bytes, printed "://sentry:******", 16)
     * goes whole into a piece or not at all */
    assert_int_equal(lines_safe_cut(url, sizeof url - 1, 24 + 18), 24 + 18);
    assert_int_equal(lines_safe_cut(url, sizeof url - 1, 24 + 17), 24);
    redact_clear();
    redact_add("Q");
    static const char kw[] = "abc password=Q tail"; /* "abc password=******" is 19 */
    assert_int_equal(lines_safe_cut(kw, sizeof kw - 1, 20), 15);
    assert_int_equal(lines_safe_cut(kw, sizeof kw - 1, 19), 14);
    assert_int_equal(lines_safe_cut(kw, sizeof kw - 1, 18), 4);
    assert_int_equal(lines_safe_cut("aa\xe2\x82\xac" "bb", 7, 3), 2);
    assert_int_equal(lines_safe_cut("aa\xe2\x82\xac" "bb", 7, 4), 2);
    assert_int_equal(lines_safe_cut("aa\xe2\x82\xac" "bb", 7, 5), 5);
}

static void test_json_log(void **state)
{
    (void)state;
    log_set_json(true);
    log_phase("migrate");
    redact_add("Zk9QvLongPw");
    log_banner("starting");
    log_note("DB OK: %s", "app\xff");
    log_note("warning: looks pooled");
    log_warn("careful");
    log_error("it broke: Zk9QvLongPw \"quoted\"");
    log_banner("FAILED (phase: %s)", "migrate");
    log_stream("migrate", "INFO  \x1b[1mbold\x00", 15);
    log_output("[SENTRY] ", "WARNING:  skipping", 18);
    char *log = take_log();
    static const char *const want[][4] = {
        {"info", "starting", NULL},
        {"info", "DB OK: app\xEF\xBF\xBD", NULL},
        {"warning", "looks pooled", NULL},
        {"warning", "careful", NULL},
        {"error", "it broke: ****** \"quoted\"", NULL},
        {"error", "FAILED (phase: migrate)", NULL},
        {"info", "INFO  \\x1b[1mbold\\x00", "migrate"},
        {"warning", "WARNING:  skipping", NULL},
    };
    char *save = NULL, *line = strtok_r(log, "\n", &save);
    for (size_t i = 0; i < sizeof want / sizeof *want; i++, line = strtok_r(NULL, "\n", &save)) {
        assert_non_null(line);
        cJSON *o = cJSON_Parse(line);
        assert_non_null(o);
        static const char *const keys[] = {"time", "level", "phase", "msg", "stream"};
        size_t k = 0;
        for (cJSON *it = o->child; it; it = it->next, k++)
            assert_string_equal(it->string, keys[k]);
        assert_int_equal(k, want[i][2] ? 5 : 4);
        const char *t = cJSON_GetObjectItem(o, "time")->valuestring;
        assert_int_equal(strlen(t), 24);
        assert_true(t[4] == '-' && t[10] == 'T' && t[19] == '.' && t[23] == 'Z');
        assert_string_equal(cJSON_GetObjectItem(o, "level")->valuestring, want[i][0]);
        assert_string_equal(cJSON_GetObjectItem(o, "phase")->valuestring, "migrate");
        assert_string_equal(cJSON_GetObjectItem(o, "msg")->valuestring, want[i][1]);
        if (want[i][2])
            assert_string_equal(cJSON_GetObjectItem(o, "stream")->valuestring, want[i][2]);
        cJSON_Delete(o);
    }
    assert_null(line);
    free(log);
}

static void test_text_log(void **state)
{
    (void)state;
    log_banner("starting");
    log_note("warning: x");
    log_warn("y");
    log_error("z\nsecond line");
    log_plain("FLASK_APP=%s", "app\xc0.py");
    log_stream("migrate", "out", 3);
    char *log = take_log();
    assert_string_equal(log, "=== MIGRATION SENTRY: starting ===\n"
                             "[SENTRY] warning: x\n"
                             "[SENTRY] warning: y\n"
                             "[SENTRY] error: z\\x0asecond line\n"
                             "FLASK_APP=app\xEF\xBF\xBD.py\n"
                             "[migrate] out\n");
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_keeps_last_lines, fresh),
        cmocka_unit_test_setup(test_cleans_lines, fresh),
        cmocka_unit_test_setup(test_long_line_in_pieces, fresh),
        cmocka_unit_test_setup(test_secret_never_split, fresh),
        cmocka_unit_test_setup(test_short_credential_never_split, fresh),
        cmocka_unit_test_setup(test_safe_cut, fresh),
        cmocka_unit_test_setup(test_json_log, fresh),
        cmocka_unit_test_setup(test_text_log, fresh),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
