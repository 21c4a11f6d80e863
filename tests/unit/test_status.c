/* The status JSON: keys in the contract's order, types, atomic write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "edge.h"
#include "redact.h"
#include "status.h"

static const char *const top_keys[] = {
    "migrated", "alembic_current", "checks", "alembic_heads", "alembic_ahead", "phase", "error",
    "migration", "schema", "database", "server_version", "started_at", "finished_at", "duration_ms",
    "sentry_version", "format",
};
static const char *const migration_keys[] = {"ran", "skipped", "exit_code", "recovered", "duration_ms",
                                             "attempts", "output_tail"};
static const char *const schema_keys[] = {"file", "checked", "differences"};

static void keys_in_order(cJSON *o, const char *const *keys, size_t n)
{
    size_t i = 0;
    for (cJSON *it = o->child; it; it = it->next, i++) {
        assert_true(i < n);
        assert_string_equal(it->string, keys[i]);
    }
    assert_int_equal(i, n);
}

static void test_success_shape(void **state)
{
    (void)state;
    struct status s;
    status_init(&s);
    struct strlist items = {0};
    strlist_push(&items, "proposals.visitor_session_id");
    strlist_push(&items, "conversions.proposal_id");
    struct columns cols;
    struct err e;
    assert_int_equal(columns_parse(&items, "x", &cols, &e), 0);
    bool present[2] = {true, false};
    struct strlist current = {0}, heads = {0}, diffs = {0};
    s.migrated = true;
    strlist_push(&current, "bbb");
    strlist_push(&current, "aaa");
    strlist_sort(&current);
    s.current = &current;
    s.cols = &cols;
    s.present = present;
    strlist_push(&heads, "aaa");
    s.heads = &heads;
    for (int i = 0; i < STATUS_MAX_DIFFERENCES + 5; i++)
        strlist_push_owned(&diffs, xasprintf("index ix_%d missing", i));
    s.schema.file = "migrations/schema.json";
    s.schema.checked = 12;
    s.schema.differences = &diffs;
    s.phase = "done";
    s.migration.skipped = "database already at heads";
    s.database = "postgresql://******@db/app";
    s.server_version = "15.18";
    s.started_wall = 1795467600123;
    s.finished_wall = 1795467600141;
    s.duration_ms = 18;
    char *text = status_render(&s);
    cJSON *o = cJSON_Parse(text);
    assert_non_null(o);
    keys_in_order(o, top_keys, sizeof top_keys / sizeof *top_keys);
    keys_in_order(cJSON_GetObjectItem(o, "migration"), migration_keys, 7);
    keys_in_order(cJSON_GetObjectItem(o, "schema"), schema_keys, 3);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "schema"), "differences")),
                     STATUS_MAX_DIFFERENCES);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "alembic_ahead")), 0);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "migrated")));
    assert_string_equal(cJSON_GetObjectItem(o, "alembic_current")->valuestring, "aaa,bbb");
    cJSON *checks = cJSON_GetObjectItem(o, "checks");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(checks, "proposals.visitor_session_id")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(checks, "conversions.proposal_id")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "error")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "migration"), "exit_code")));
    assert_string_equal(cJSON_GetObjectItem(o, "started_at")->valuestring, "2026-11-23T21:00:00.123Z");
    assert_string_equal(cJSON_GetObjectItem(o, "finished_at")->valuestring, "2026-11-23T21:00:00.141Z");
    assert_int_equal(cJSON_GetObjectItem(o, "duration_ms")->valueint, 18);
    assert_int_equal(cJSON_GetObjectItem(o, "format")->valueint, 1);
    assert_string_equal(cJSON_GetObjectItem(o, "sentry_version")->valuestring, SENTRY_VERSION);
    cJSON_Delete(o);
    free(text);
    strlist_free(&current);
    strlist_free(&heads);
    strlist_free(&diffs);
    columns_free(&cols);
    strlist_free(&items);
}

static void test_failure_nulls(void **state)
{
    (void)state;
    struct status s;
    status_init(&s);
    s.phase = "connect";
    s.error = "database unreachable \"quoted\"";
    char *text = status_render(&s);
    cJSON *o = cJSON_Parse(text);
    assert_non_null(o);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(o, "migrated")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "alembic_current")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "alembic_heads")), 0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "server_version")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "database")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "checks")), 0);
    assert_string_equal(cJSON_GetObjectItem(o, "phase")->valuestring, "connect");
    assert_string_equal(cJSON_GetObjectItem(o, "error")->valuestring, "database unreachable \"quoted\"");
    cJSON_Delete(o);
    free(text);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *de; (de = readdir(d));)
        n += de->d_name[0] != '.' || (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."));
    closedir(d);
    return n;
}

static void test_atomic_write(void **state)
{
    (void)state;
    char dir[] = "/tmp/sentry-status-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *path = xasprintf("%s/status.json", dir);
    char *link_target = xasprintf("%s/target", dir);
    struct status s;
    status_init(&s);
    s.phase = "done";
    s.migrated = true;
    /* A link planted at the path is replaced, not followed. */
    assert_int_equal(symlink(link_target, path), 0);
    struct err e = {{0}};
    assert_int_equal(status_write(path, &s, &e), 0);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_not_equal(access(link_target, F_OK), 0);
    assert_int_equal(count_entries(dir), 1); /* no temporary file left */
    char *text = NULL;
    assert_int_equal(status_read(path, &text, &e), STATUS_MIGRATED);
    free(text);
    /* A missing folder: an error naming the file, nothing written. */
    char *bad = xasprintf("%s/missing/status.json", dir);
    assert_int_equal(status_write(bad, &s, &e), -1);
    assert_non_null(strstr(e.msg, bad));
    assert_int_equal(status_read(bad, &text, &e), STATUS_MISSING);
    assert_null(text);
    unlink(path);
    rmdir(dir);
    free(bad);
    free(path);
    free(link_target);
}

/* status_read of a file holding content[0..len): its verdict, whether the
 * text is kept for printing, and the message. */
static void read_case(const char *content, size_t len, enum status_read_rc want, bool shown,
                      const char *msg_part)
{
    char path[] = "/tmp/sentry-status-read-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    close(fd);
    char *text = NULL;
    struct err e;
    assert_int_equal(status_read(path, &text, &e), want);
    if (shown)
        assert_memory_equal(text, content, len);
    else
        assert_null(text);
    if (msg_part) {
        assert_non_null(strstr(e.msg, msg_part));
        assert_non_null(strstr(e.msg, path));
    } else {
        assert_string_equal(e.msg, "");
    }
    free(text);
    unlink(path);
}

#define READ_CASE(lit, want, shown, msg) read_case(lit, sizeof lit - 1, want, shown, msg)

static void test_read_not_migrated(void **state)
{
    (void)state;
    READ_CASE("not json", STATUS_NOT_MIGRATED, false, "is not valid JSON: not migrated");
    READ_CASE("", STATUS_NOT_MIGRATED, false, "is empty: not migrated");
    READ_CASE(" \n\t\n", STATUS_NOT_MIGRATED, false, "is empty: not migrated");
    READ_CASE("{\"migrated\": true, \"x\": \"\xff\"}", STATUS_NOT_MIGRATED, false,
              "is not valid UTF-8");
    READ_CASE("{\"migrated\": true}\0junk", STATUS_NOT_MIGRATED, false, "is not valid JSON");
    READ_CASE("{\"migrated\": \"true\"}", STATUS_NOT_MIGRATED, true, "no boolean \"migrated\"");
    READ_CASE("null", STATUS_NOT_MIGRATED, true, "no boolean \"migrated\"");
    READ_CASE("{\"migrated\": false}\n", STATUS_NOT_MIGRATED, true, NULL);
    READ_CASE("{\"migrated\": true, \"e\": \"\xc3\xa9\"}\n", STATUS_MIGRATED, true, NULL);
}

/* Every string of the record, whatever bytes it holds, comes out valid UTF-8
 * and redacted. */
static void test_render_cleans_every_string(void **state)
{
    (void)state;
    static const char bad[] = "x\xff\xc0\xaf\xed\xa0\x80\xe2\x82\x1b[2J Kq9ZsecretPw y";
    redact_add("Kq9ZsecretPw");
    struct strlist items = {0}, list = {0};
    strlist_push(&items, "\"t\xff\".\"c\x1b\"");
    struct columns cols;
    struct err e;
    assert_int_equal(columns_parse(&items, "x", &cols, &e), 0);
    bool present[1] = {false};
    for (int i = 0; i < 3; i++)
        strlist_push(&list, bad);
    struct status s;
    status_init(&s);
    s.current = s.heads = s.ahead = s.migration.tail = s.schema.differences = &list;
    s.cols = &cols;
    s.present = present;
    s.phase = s.error = s.migration.skipped = s.schema.file = s.database = s.server_version = bad;
    char *text = status_render(&s);
    assert_true(utf8_valid(text, strlen(text)));
    assert_null(strstr(text, "secret"));
    assert_null(strchr(text, '\x1b'));
    cJSON *o = cJSON_Parse(text);
    assert_non_null(o);
    const char *err = cJSON_GetObjectItem(o, "error")->valuestring;
    assert_string_equal(err, "x\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                             "\xEF\xBF\xBD\xEF\xBF\xBD\\x1b[2J ****** y");
    cJSON *checks = cJSON_GetObjectItem(o, "checks");
    assert_non_null(checks->child);
    assert_true(utf8_valid(checks->child->string, strlen(checks->child->string)));
    cJSON_Delete(o);
    free(text);
    strlist_free(&list);
    strlist_free(&items);
    columns_free(&cols);
    redact_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_success_shape),
        cmocka_unit_test(test_failure_nulls),
        cmocka_unit_test(test_atomic_write),
        cmocka_unit_test(test_read_not_migrated),
        cmocka_unit_test(test_render_cleans_every_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
