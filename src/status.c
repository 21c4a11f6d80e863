#include "status.h"
#include "edge.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATUS_READ_MAX (1 << 20)

void status_init(struct status *s)
{
    memset(s, 0, sizeof *s);
    s->phase = "config";
    s->migration.exit_code = -1;
}

/* Every string of the record goes through the edge: whatever bytes its
 * source held (a column name, a libpq message, a revision read from the
 * database), the file is valid UTF-8 and holds no secret. */
static cJSON *string(const char *v)
{
    char *clean = edge_line(v);
    cJSON *j = cJSON_CreateString(clean);
    free(clean);
    return j;
}

static cJSON *string_or_null(const char *v)
{
    return v ? string(v) : cJSON_CreateNull();
}

static cJSON *string_array(const struct strlist *l, size_t max)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; l && i < l->n && i < max; i++)
        cJSON_AddItemToArray(a, string(l->v[i]));
    return a;
}

static cJSON *checks_object(const struct status *s)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; s->cols && s->present && i < s->cols->n; i++) {
        char *key = edge_line(s->cols->v[i].label);
        cJSON_AddItemToObject(o, key, cJSON_CreateBool(s->present[i]));
        free(key);
    }
    return o;
}

static cJSON *migration_object(const struct status *s)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddItemToObject(m, "ran", cJSON_CreateBool(s->migration.ran));
    cJSON_AddItemToObject(m, "skipped", string_or_null(s->migration.skipped));
    cJSON_AddItemToObject(m, "exit_code", s->migration.exit_code < 0 ? cJSON_CreateNull()
                                                  : cJSON_CreateNumber(s->migration.exit_code));
    cJSON_AddItemToObject(m, "recovered", cJSON_CreateBool(s->migration.recovered));
    cJSON_AddItemToObject(m, "duration_ms", cJSON_CreateNumber((double)s->migration.duration_ms));
    cJSON_AddItemToObject(m, "attempts", cJSON_CreateNumber(s->migration.attempts));
    cJSON_AddItemToObject(m, "output_tail", string_array(s->migration.tail, SIZE_MAX));
    return m;
}

static cJSON *schema_object(const struct status *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "file", string_or_null(s->schema.file));
    cJSON_AddItemToObject(o, "checked", cJSON_CreateNumber((double)s->schema.checked));
    cJSON_AddItemToObject(o, "differences", string_array(s->schema.differences, STATUS_MAX_DIFFERENCES));
    return o;
}

char *status_render(const struct status *s)
{
    char started[32], finished[32];
    iso8601_ms(s->started_wall, started, sizeof started);
    iso8601_ms(s->finished_wall, finished, sizeof finished);
    char *current = s->current && s->current->n ? strlist_join(s->current, ",") : NULL;

    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "migrated", cJSON_CreateBool(s->migrated));
    cJSON_AddItemToObject(o, "alembic_current", string_or_null(current));
    cJSON_AddItemToObject(o, "checks", checks_object(s));
    cJSON_AddItemToObject(o, "alembic_heads", string_array(s->heads, SIZE_MAX));
    cJSON_AddItemToObject(o, "alembic_ahead", string_array(s->ahead, SIZE_MAX));
    cJSON_AddItemToObject(o, "phase", string(s->phase));
    cJSON_AddItemToObject(o, "error", string_or_null(s->error));
    cJSON_AddItemToObject(o, "migration", migration_object(s));
    cJSON_AddItemToObject(o, "schema", schema_object(s));
    cJSON_AddItemToObject(o, "database", string_or_null(s->database));
    cJSON_AddItemToObject(o, "server_version", string_or_null(s->server_version));
    cJSON_AddItemToObject(o, "started_at", cJSON_CreateString(started));
    cJSON_AddItemToObject(o, "finished_at", cJSON_CreateString(finished));
    cJSON_AddItemToObject(o, "duration_ms", cJSON_CreateNumber((double)s->duration_ms));
    cJSON_AddItemToObject(o, "sentry_version", cJSON_CreateString(SENTRY_VERSION));
    cJSON_AddItemToObject(o, "format", cJSON_CreateNumber(STATUS_FORMAT));
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    free(current);
    if (!text)
        return xstrdup("{}");
    char *out = xstrdup(text);
    cJSON_free(text);
    return out;
}

/* --- the atomic write ------------------------------------------------------ */

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

static int write_temp(int fd, const char *text)
{
    size_t n = strlen(text);
    if (write_all(fd, text, n) || write_all(fd, "\n", 1) || fchmod(fd, 0644) || fsync(fd))
        return -1;
    return 0;
}

int status_write(const char *path, const struct status *s, struct err *e)
{
    char *text = status_render(s);
    char *dir = dir_of(path);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char *tmp = xasprintf("%s/.%s.XXXXXX", dir, base);
    int rc = -1;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        err_set(e, "cannot write status file %s: %s", path, strerror(errno));
        goto out;
    }
    int werr = write_temp(fd, text) ? errno : 0;
    if (close(fd) != 0 && !werr)
        werr = errno;
    if (werr || rename(tmp, path) != 0) {
        err_set(e, "cannot write status file %s: %s", path, strerror(werr ? werr : errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    free(text);
    free(dir);
    free(tmp);
    return rc;
}

/* --- reading it back -------------------------------------------------------- */

/* Whether text holds a status record, and if not, why (e set). */
static enum status_read_rc judge(const char *path, const char *text, size_t len, bool *show,
                                 struct err *e)
{
    *show = false;
    if (strspn(text, " \t\r\n") == len) {
        err_set(e, "status file %s is empty: not migrated", path);
        return STATUS_NOT_MIGRATED;
    }
    if (!utf8_valid(text, len)) {
        err_set(e, "status file %s is not valid UTF-8 (not written by migration-sentry): "
                   "not migrated", path);
        return STATUS_NOT_MIGRATED;
    }
    cJSON *o = memchr(text, '\0', len) ? NULL : cJSON_Parse(text);
    if (!o) {
        err_set(e, "status file %s is not valid JSON: not migrated", path);
        return STATUS_NOT_MIGRATED;
    }
    cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "migrated");
    bool ok = cJSON_IsTrue(m);
    if (!cJSON_IsBool(m))
        err_set(e, "status file %s has no boolean \"migrated\": not migrated", path);
    cJSON_Delete(o);
    *show = true;
    return ok ? STATUS_MIGRATED : STATUS_NOT_MIGRATED;
}

enum status_read_rc status_read(const char *path, char **text, struct err *e)
{
    size_t len;
    e->msg[0] = '\0';
    int rc = read_whole_file(path, STATUS_READ_MAX, text, &len);
    if (rc == EFBIG) { /* a file is there, but not one of ours */
        err_set(e, "status file %s is larger than 1 MiB: not migrated", path);
        return STATUS_NOT_MIGRATED;
    }
    if (rc) {
        if (rc == ENOENT)
            err_set(e, "no status file at %s (the gate has not run here)", path);
        else
            err_set(e, "cannot read the status file %s: %s", path, read_error(rc));
        return STATUS_MISSING;
    }
    bool show;
    enum status_read_rc r = judge(path, *text, len, &show, e);
    if (!show) {
        free(*text);
        *text = NULL;
    }
    return r;
}
