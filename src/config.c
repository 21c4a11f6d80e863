#include "config.h"
#include "edge.h"
#include "redact.h"
#include "split.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

enum kind { K_STRING, K_SECONDS, K_COUNT, K_INT64, K_BOOL, K_LIST };

struct def {
    const char *env, *flag, *dflt;
    enum kind kind;
};

static const struct def defs[S_COUNT] = {
    [S_LOG_FORMAT] = {"SENTRY_LOG_FORMAT", "log-format", "text", K_STRING},
    [S_DATABASE_URL] = {"DATABASE_URL", "database-url", NULL, K_STRING},
    [S_REQUIRED_ENV] = {"SENTRY_REQUIRED_ENV", "require-env", "DATABASE_URL,FLASK_APP", K_LIST},
    [S_DB_WAIT] = {"SENTRY_DB_WAIT", "db-wait", "60", K_SECONDS},
    [S_LOCK_KEY] = {"SENTRY_LOCK_KEY", "lock-key", "7886758897530337569", K_INT64},
    [S_LOCK_WAIT] = {"SENTRY_LOCK_WAIT", "lock-wait", "900", K_SECONDS},
    [S_MIGRATIONS_DIR] = {"SENTRY_MIGRATIONS_DIR", "migrations-dir", DEFAULT_MIGRATIONS_DIR, K_STRING},
    [S_ALEMBIC_CONFIG] = {"SENTRY_ALEMBIC_CONFIG", "alembic-config", "alembic.ini", K_STRING},
    [S_VERSION_TABLE] = {"SENTRY_VERSION_TABLE", "version-table", "alembic_version", K_STRING},
    [S_VERSION_TABLE_SCHEMA] = {"SENTRY_VERSION_TABLE_SCHEMA", "version-table-schema", "", K_STRING},
    [S_RECOVER] = {"SENTRY_RECOVER", "recover", "", K_STRING},
    [S_AHEAD] = {"SENTRY_AHEAD", "ahead", "verify", K_STRING},
    [S_HISTORY] = {"SENTRY_HISTORY", "history", "on", K_BOOL},
    [S_MIGRATE_CMD] = {"SENTRY_MIGRATE_CMD", "migrate-cmd", "flask db upgrade", K_STRING},
    [S_MIGRATE_TIMEOUT] = {"SENTRY_MIGRATE_TIMEOUT", "migrate-timeout", "1500", K_SECONDS},
    [S_MIGRATE_LOCK_TIMEOUT] = {"SENTRY_MIGRATE_LOCK_TIMEOUT", "migrate-lock-timeout", "5", K_SECONDS},
    [S_MIGRATE_RETRIES] = {"SENTRY_MIGRATE_RETRIES", "migrate-retries", "5", K_COUNT},
    [S_REQUIRE_COLUMNS] = {"SENTRY_REQUIRE_COLUMNS", "require-column", "", K_LIST},
    [S_SCHEMA_FILE] = {"SENTRY_SCHEMA_FILE", "schema-file", DEFAULT_SCHEMA_FILE, K_STRING},
    [S_SCHEMAS] = {"SENTRY_SCHEMAS", "schemas", "public", K_LIST},
    [S_STATUS_FILE] = {"SENTRY_STATUS_FILE", "status-file", "/tmp/migration_status.json", K_STRING},
    [S_GRACE] = {"SENTRY_GRACE", "grace", "5", K_SECONDS},
    [S_NO_MIGRATE] = {"SENTRY_NO_MIGRATE", "no-migrate", "0", K_BOOL},
    [S_INIT] = {"SENTRY_INIT", "init", NULL, K_BOOL},
};

#define MAX_SECONDS 31536000L /* a year: anything longer is a typo */

const char *config_name(const struct config *c, enum setting s)
{
    static char buf[64];
    if (c->src[s] == SRC_FLAG) {
        snprintf(buf, sizeof buf, "--%s", defs[s].flag);
        return buf;
    }
    return defs[s].env;
}

static bool parse_bool(const char *v, bool *out)
{
    static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return (*out = true);
        if (strcasecmp(v, no[i]) == 0)
            return !(*out = false);
    }
    return false;
}

static int parse_seconds(const struct config *c, enum setting s, long *out, struct err *e)
{
    const char *v = c->raw[s];
    char *end;
    errno = 0;
    long n = isdigit((unsigned char)v[0]) ? strtol(v, &end, 10) : -1;
    if (n < 0 || errno || *end || n > MAX_SECONDS) {
        err_set(e, "%s must be a whole number of seconds from 0 to %ld, got '%.40s'",
                config_name(c, s), MAX_SECONDS, v);
        return -1;
    }
    *out = n;
    return 0;
}

static int parse_count(const struct config *c, enum setting s, long max, long *out, struct err *e)
{
    const char *v = c->raw[s];
    char *end;
    errno = 0;
    long n = isdigit((unsigned char)v[0]) ? strtol(v, &end, 10) : -1;
    if (n < 0 || errno || *end || n > max) {
        err_set(e, "%s must be a whole number from 0 to %ld, got '%.40s'", config_name(c, s), max, v);
        return -1;
    }
    *out = n;
    return 0;
}

/* A value that must be one of a few words: its index, or -1 with e set. */
static int parse_choice(const struct config *c, enum setting s, const char *const *words, size_t n,
                        struct err *e)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(c->raw[s], words[i]) == 0)
            return (int)i;
    char *list = xstrdup("");
    for (size_t i = 0; i < n; i++) {
        char *next = xasprintf("%s%s'%s'", list, i == 0 ? "" : i + 1 == n ? " or " : ", ", words[i]);
        free(list);
        list = next;
    }
    err_set(e, "%s must be %s, got '%.40s'", config_name(c, s), list, c->raw[s]);
    free(list);
    return -1;
}

static int parse_int64(const struct config *c, enum setting s, int64_t *out, struct err *e)
{
    const char *v = c->raw[s];
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (!*v || isspace((unsigned char)*v) || errno || *end) {
        err_set(e, "%s must be a signed 64-bit integer, got '%.40s'", config_name(c, s), v);
        return -1;
    }
    *out = (int64_t)n;
    return 0;
}

static int parse_flag_bool(const struct config *c, enum setting s, bool *out, struct err *e)
{
    if (!parse_bool(c->raw[s], out)) {
        err_set(e, "%s must be 1/0, true/false, yes/no or on/off, got '%.40s'",
                config_name(c, s), c->raw[s]);
        return -1;
    }
    return 0;
}

/* --- command line ------------------------------------------------------- */

struct flags {
    char *value[S_COUNT];
    struct strlist list[S_COUNT];
};

static int find_flag(const char *name, size_t len)
{
    for (int s = 0; s < S_COUNT; s++)
        if (strlen(defs[s].flag) == len && strncmp(defs[s].flag, name, len) == 0)
            return s;
    return -1;
}

static void set_flag(struct flags *f, int s, const char *v)
{
    if (defs[s].kind == K_LIST) {
        strlist_push(&f->list[s], v);
    } else {
        free(f->value[s]);
        f->value[s] = xstrdup(v);
    }
}

/* One "--name[=value]" at argv[*i]; consumes the next argument as the value
 * when the flag takes one and has no "=". */
static int parse_long_flag(struct config *c, struct flags *f, int argc, char **argv, int *i, struct err *e)
{
    const char *arg = argv[*i] + 2;
    const char *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    if (!eq && (strcmp(arg, "help") == 0 || strcmp(arg, "version") == 0)) {
        c->cmd = arg[0] == 'h' ? CMD_HELP : CMD_VERSION;
        return 0;
    }
    int s = find_flag(arg, len);
    bool negated = false;
    if (s < 0 && len > 3 && strncmp(arg, "no-", 3) == 0) { /* --no-init, --no-history */
        s = find_flag(arg + 3, len - 3);
        negated = s >= 0 && defs[s].kind == K_BOOL;
        s = negated ? s : -1;
    }
    if (s < 0) {
        err_set(e, "unknown option '--%.*s' (see --help)", (int)(len > 60 ? 60 : len), arg);
        return -1;
    }
    if (defs[s].kind == K_BOOL) {
        if (eq) {
            err_set(e, "option --%s%s takes no value", negated ? "no-" : "", defs[s].flag);
            return -1;
        }
        set_flag(f, s, negated ? "0" : "1");
        return 0;
    }
    if (eq) {
        set_flag(f, s, eq + 1);
    } else if (*i + 1 < argc) {
        set_flag(f, s, argv[++*i]);
    } else {
        err_set(e, "option --%s needs a value", defs[s].flag);
        return -1;
    }
    return 0;
}

static int parse_word(struct config *c, const char *word, bool *have_cmd, struct err *e)
{
    static const struct { const char *name; enum command cmd; } words[] = {
        {"check", CMD_CHECK}, {"status", CMD_STATUS}, {"heads", CMD_HEADS},
        {"config", CMD_CONFIG}, {"schema", CMD_SCHEMA}, {"sql", CMD_SQL},
    };
    if (*have_cmd && c->cmd == CMD_SQL && !c->sql_file) {
        c->sql_file = word;
        return 0;
    }
    for (size_t k = 0; !*have_cmd && k < sizeof words / sizeof words[0]; k++) {
        if (strcmp(word, words[k].name) == 0) {
            c->cmd = words[k].cmd;
            *have_cmd = true;
            return 0;
        }
    }
    err_set(e, "unexpected argument '%.60s' (the command to start goes after --)", word);
    return -1;
}

static int parse_argv(struct config *c, struct flags *f, int argc, char **argv, struct err *e)
{
    bool have_cmd = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            c->command = argv[i + 1] ? &argv[i + 1] : NULL;
            break;
        }
        int rc;
        if (strcmp(a, "-h") == 0)
            c->cmd = CMD_HELP, rc = 0;
        else if (strcmp(a, "-V") == 0)
            c->cmd = CMD_VERSION, rc = 0;
        else if (strncmp(a, "--", 2) == 0)
            rc = parse_long_flag(c, f, argc, argv, &i, e);
        else if (a[0] == '-' && a[1])
            err_set(e, "unknown option '%.60s' (see --help)", a), rc = -1;
        else
            rc = parse_word(c, a, &have_cmd, e);
        if (rc)
            return -1;
        if (c->cmd == CMD_HELP || c->cmd == CMD_VERSION)
            return 0;
    }
    if (c->cmd == CMD_SQL && !c->sql_file) {
        err_set(e, "sql needs a FILE to run");
        return -1;
    }
    if (c->command && c->cmd != CMD_GATE) {
        err_set(e, "a command after -- goes with the gate only, not with a subcommand");
        return -1;
    }
    return 0;
}

/* --- resolution: flag > environment > default ---------------------------- */

static void resolve(struct config *c, struct flags *f)
{
    for (int s = 0; s < S_COUNT; s++) {
        const char *env = getenv(defs[s].env);
        if (f->list[s].n) {
            c->raw[s] = strlist_join(&f->list[s], ",");
            c->src[s] = SRC_FLAG;
        } else if (f->value[s]) {
            c->raw[s] = xstrdup(f->value[s]);
            c->src[s] = SRC_FLAG;
        } else if (env && (*env || defs[s].kind == K_LIST)) {
            /* An empty scalar variable means "unset" (compose files write
             * VAR= freely); an empty list is a deliberate empty list. */
            c->raw[s] = xstrdup(env);
            c->src[s] = SRC_ENV;
        } else if (defs[s].dflt) {
            c->raw[s] = xstrdup(defs[s].dflt);
            c->src[s] = SRC_DEFAULT;
        }
        free(f->value[s]);
        strlist_free(&f->list[s]);
    }
}

static bool valid_env_name(const char *n)
{
    if (!isalpha((unsigned char)*n) && *n != '_')
        return false;
    for (; *n; n++)
        if (!isalnum((unsigned char)*n) && *n != '_')
            return false;
    return true;
}

static int check_required_env(struct config *c, struct err *e)
{
    for (size_t i = 0; i < c->required_env.n; i++) {
        const char *name = c->required_env.v[i];
        if (!valid_env_name(name)) {
            err_set(e, "%s: '%.60s' is not a variable name", config_name(c, S_REQUIRED_ENV), name);
            return -1;
        }
        if (strcmp(name, "DATABASE_URL") == 0 && c->src[S_DATABASE_URL] == SRC_FLAG)
            continue;
        const char *v = getenv(name);
        if (!v || !*v) {
            err_set(e, "required environment variable %s is %s", name, v ? "empty" : "not set");
            return -1;
        }
    }
    return 0;
}

static bool needs_db(enum command cmd)
{
    return cmd == CMD_GATE || cmd == CMD_CHECK || cmd == CMD_CONFIG || cmd == CMD_SCHEMA ||
           cmd == CMD_SQL;
}

static int load_database(struct config *c, struct err *e)
{
    if (!needs_db(c->cmd))
        return 0;
    if (!c->raw[S_DATABASE_URL]) {
        err_set(e, "DATABASE_URL is not set (nor --database-url)");
        return -1;
    }
    return url_normalise(c->raw[S_DATABASE_URL], config_name(c, S_DATABASE_URL), &c->db, e);
}

static int load_numbers(struct config *c, struct err *e)
{
    if (parse_seconds(c, S_DB_WAIT, &c->db_wait, e) || parse_seconds(c, S_LOCK_WAIT, &c->lock_wait, e) ||
        parse_seconds(c, S_MIGRATE_TIMEOUT, &c->migrate_timeout, e) ||
        parse_seconds(c, S_MIGRATE_LOCK_TIMEOUT, &c->migrate_lock_timeout, e) ||
        parse_count(c, S_MIGRATE_RETRIES, MAX_RETRIES, &c->migrate_retries, e) ||
        parse_seconds(c, S_GRACE, &c->grace, e) || parse_int64(c, S_LOCK_KEY, &c->lock_key, e) ||
        parse_flag_bool(c, S_NO_MIGRATE, &c->no_migrate, e) ||
        parse_flag_bool(c, S_HISTORY, &c->history, e))
        return -1;
    if (!c->raw[S_INIT]) {
        c->init = getpid() == 1;
        return 0;
    }
    return parse_flag_bool(c, S_INIT, &c->init, e);
}

/* A PostgreSQL identifier as written (no quoting: it is quoted when used). */
static int parse_identifier(const struct config *c, enum setting s, bool may_be_empty, struct err *e)
{
    size_t n = strlen(c->raw[s]);
    if ((n == 0 && !may_be_empty) || n > 63) {
        err_set(e, "%s must be a table or schema name of 1 to 63 bytes, got '%.80s'",
                config_name(c, s), c->raw[s]);
        return -1;
    }
    return 0;
}

static int load_choices(struct config *c, struct err *e)
{
    static const char *const ahead[] = {"verify", "fail"};
    int a = parse_choice(c, S_AHEAD, ahead, 2, e);
    if (a < 0 || parse_identifier(c, S_VERSION_TABLE, false, e) ||
        parse_identifier(c, S_VERSION_TABLE_SCHEMA, true, e))
        return -1;
    c->ahead_fail = a == 1;
    c->version_table = c->raw[S_VERSION_TABLE];
    c->version_table_schema = *c->raw[S_VERSION_TABLE_SCHEMA] ? c->raw[S_VERSION_TABLE_SCHEMA] : NULL;
    return 0;
}

/* The schema file: the setting's file, or the default one when it exists. */
static int load_schema_file(struct config *c, struct err *e)
{
    const char *f = c->raw[S_SCHEMA_FILE];
    if (c->src[S_SCHEMA_FILE] == SRC_DEFAULT) {
        c->schema_file = access(f, F_OK) == 0 ? f : NULL;
        return 0;
    }
    if (!*f) {
        err_set(e, "%s is empty", config_name(c, S_SCHEMA_FILE));
        return -1;
    }
    c->schema_file = f;
    return 0;
}

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* SENTRY_MIGRATIONS_DIR: folders separated by ':'. */
static int split_dirs(const struct config *c, bool check, struct strlist *dirs, struct err *e)
{
    const char *v = c->raw[S_MIGRATIONS_DIR];
    for (const char *p = v; *p;) {
        size_t n = strcspn(p, ":");
        if (n)
            strlist_push_owned(dirs, xstrndup(p, n));
        p += n + (p[n] == ':');
    }
    if (!dirs->n) {
        err_set(e, "%s names no folder", config_name(c, S_MIGRATIONS_DIR));
        return -1;
    }
    for (size_t i = 0; check && i < dirs->n; i++)
        if (!is_dir(dirs->v[i])) {
            err_set(e, "%s: '%.200s' is not a directory", config_name(c, S_MIGRATIONS_DIR), dirs->v[i]);
            return -1;
        }
    return 0;
}

static void set_default(struct config *c, enum setting s, const char *v)
{
    if (c->src[s] != SRC_DEFAULT)
        return;
    free(c->raw[s]);
    c->raw[s] = xstrdup(v);
}

/* Where the revision scripts are (locate.h), and what kind of project this
 * is: in a plain Alembic project the migration command defaults to
 * `alembic upgrade heads` and FLASK_APP is not required. Settings naming
 * what is not there fail only the commands that read the scripts. */
static int load_project(struct config *c, struct err *e)
{
    bool check = c->cmd == CMD_GATE || c->cmd == CMD_CHECK || c->cmd == CMD_HEADS;
    bool dirs_set = c->src[S_MIGRATIONS_DIR] != SRC_DEFAULT;
    bool ini_set = c->src[S_ALEMBIC_CONFIG] != SRC_DEFAULT;
    struct strlist dirs = {0};
    if (dirs_set && split_dirs(c, check, &dirs, e)) {
        strlist_free(&dirs);
        return -1;
    }
    const char *env = getenv("ALEMBIC_CONFIG"); /* the alembic command's own default */
    if (!ini_set && env && *env) {
        set_default(c, S_ALEMBIC_CONFIG, env);
        c->alembic_config_env = true;
    }
    const char *ini = c->raw[S_ALEMBIC_CONFIG];
    if (ini_set && check && access(ini, F_OK) != 0) {
        err_set(e, "%s: '%.200s' does not exist", config_name(c, S_ALEMBIC_CONFIG), ini);
        strlist_free(&dirs);
        return -1;
    }
    locate_project(dirs_set ? &dirs : NULL, ini, ini_set, &c->scripts);
    strlist_free(&dirs);
    if (c->scripts.kind == PROJECT_ALEMBIC) {
        set_default(c, S_MIGRATE_CMD, "alembic upgrade heads");
        set_default(c, S_REQUIRED_ENV, "DATABASE_URL");
    }
    return 0;
}

static int load_migrations(struct config *c, struct err *e)
{
    const char *rec = c->raw[S_RECOVER];
    if (*rec && strcmp(rec, "stamp") != 0) {
        err_set(e, "%s must be 'stamp' (or empty), got '%.40s'", config_name(c, S_RECOVER), rec);
        return -1;
    }
    c->recover_stamp = *rec != '\0';
    return split_command(c->raw[S_MIGRATE_CMD], config_name(c, S_MIGRATE_CMD), &c->migrate_argv, e);
}

static int load_lists(struct config *c, struct err *e)
{
    strlist_split_csv(&c->required_env, c->raw[S_REQUIRED_ENV]);
    strlist_split_csv(&c->schemas, c->raw[S_SCHEMAS]);
    if (!c->schemas.n) {
        err_set(e, "%s names no schema", config_name(c, S_SCHEMAS));
        return -1;
    }
    struct strlist cols = {0};
    strlist_split_csv(&cols, c->raw[S_REQUIRE_COLUMNS]);
    int rc = columns_parse(&cols, config_name(c, S_REQUIRE_COLUMNS), &c->columns, e);
    strlist_free(&cols);
    return rc;
}

int config_load(struct config *c, int argc, char **argv, struct err *e)
{
    struct flags f = {0};
    memset(c, 0, sizeof *c);
    int rc = parse_argv(c, &f, argc, argv, e);
    resolve(c, &f);
    static const char *const formats[] = {"text", "json"};
    int fmt = parse_choice(c, S_LOG_FORMAT, formats, 2, rc ? NULL : e);
    c->log_json = fmt == 1; /* known first: the config error itself is logged in it */
    if (rc || fmt < 0 || c->cmd == CMD_HELP || c->cmd == CMD_VERSION)
        return fmt < 0 ? -1 : rc;
    if (!*c->raw[S_STATUS_FILE]) {
        err_set(e, "%s is empty", config_name(c, S_STATUS_FILE));
        return -1;
    }
    c->status_file = c->raw[S_STATUS_FILE];
    if (load_project(c, e) || load_lists(c, e) || load_numbers(c, e) || load_choices(c, e) || load_migrations(c, e) ||
        load_schema_file(c, e))
        return -1;
    if (c->cmd != CMD_STATUS && c->cmd != CMD_HEADS && c->cmd != CMD_SQL &&
        check_required_env(c, e))
        return -1;
    return load_database(c, e);
}

/* --- output -------------------------------------------------------------- */

static const char *source_word(enum source s)
{
    switch (s) {
    case SRC_FLAG: return "flag";
    case SRC_ENV: return "environment";
    case SRC_DEFAULT: return "default";
    default: return "unset";
    }
}

/* The folders the scripts are read from, and from where that is known. */
static char *shown_dirs(const struct config *c)
{
    const struct scripts_at *at = &c->scripts;
    if (at->configured || (at->kind == PROJECT_NONE && !at->why))
        return xstrdup(c->raw[S_MIGRATIONS_DIR]);
    if (at->kind == PROJECT_NONE)
        return xasprintf("%s (not found: heads unknown)", c->raw[S_MIGRATIONS_DIR]);
    char *dirs = locate_shown(at);
    char *v = xasprintf("%s (%s%s%s%s)", *dirs ? dirs : c->raw[S_MIGRATIONS_DIR],
                        at->kind == PROJECT_FLASK ? "Flask-Migrate" : "Alembic", at->ini ? ", " : "",
                        at->ini ? at->ini : "", at->why ? "; heads unknown" : "");
    free(dirs);
    return v;
}

static char *shown_value(const struct config *c, int s)
{
    if (s == S_DATABASE_URL)
        return xstrdup(c->db.display ? c->db.display : c->raw[s] ? "(not valid)" : "");
    if (s == S_MIGRATIONS_DIR)
        return shown_dirs(c);
    if (s == S_ALEMBIC_CONFIG && c->alembic_config_env)
        return xasprintf("%s (from ALEMBIC_CONFIG)", c->raw[s]);
    if (s == S_SCHEMA_FILE && !c->schema_file)
        return xasprintf("%s (not found: none in use)", c->raw[s]);
    if (s == S_INIT && !c->raw[s])
        return xstrdup(c->init ? "1 (PID 1)" : "0 (not PID 1)");
    return redact_text(c->raw[s] ? c->raw[s] : "");
}

void config_print(const struct config *c, FILE *out)
{
    for (int s = 0; s < S_COUNT; s++) {
        char *raw = shown_value(c, s);
        char *v = edge_line(raw); /* output helper's hook: a newline in a value stays in its line */
        free(raw);
        fprintf(out, "%s=%s (%s)\n", defs[s].env, v,
                c->src[s] == SRC_NONE && s == S_INIT ? "default" : source_word(c->src[s]));
        free(v);
    }
}

const char *config_usage(void)
{
    return "usage: migration-sentry [OPTIONS] [-- COMMAND [ARGS...]]\n"
           "       migration-sentry [OPTIONS] check | status | heads | config | schema\n"
           "       migration-sentry [OPTIONS] sql FILE\n"
           "       migration-sentry --help | --version\n"
           "\n"
           "Gates COMMAND on a migrated PostgreSQL schema: config, connect, lock,\n"
           "migrate, verify, status; then execs COMMAND (or supervises it as PID 1).\n"
           "\n"
           "options (a flag wins over its environment variable):\n"
           "  --database-url URL          DATABASE_URL                 (required)\n"
           "  --require-env NAME          SENTRY_REQUIRED_ENV          DATABASE_URL,FLASK_APP (*)\n"
           "  --db-wait SECONDS           SENTRY_DB_WAIT               60\n"
           "  --lock-key INT64            SENTRY_LOCK_KEY              7886758897530337569\n"
           "  --lock-wait SECONDS         SENTRY_LOCK_WAIT             900\n"
           "  --migrations-dir DIR[:DIR]  SENTRY_MIGRATIONS_DIR        migrations/versions, or alembic.ini's\n"
           "  --alembic-config FILE       SENTRY_ALEMBIC_CONFIG        alembic.ini ($ALEMBIC_CONFIG)\n"
           "  --version-table NAME        SENTRY_VERSION_TABLE         alembic_version\n"
           "  --version-table-schema NAME SENTRY_VERSION_TABLE_SCHEMA  (search path)\n"
           "  --recover=stamp             SENTRY_RECOVER               (off)\n"
           "  --ahead=verify|fail         SENTRY_AHEAD                 verify\n"
           "  --history | --no-history    SENTRY_HISTORY               on\n"
           "  --migrate-cmd CMD           SENTRY_MIGRATE_CMD           flask db upgrade (*)\n"
           "  --migrate-timeout SECS      SENTRY_MIGRATE_TIMEOUT       1500\n"
           "  --migrate-lock-timeout SECS SENTRY_MIGRATE_LOCK_TIMEOUT  5 (0: unset)\n"
           "  --migrate-retries N         SENTRY_MIGRATE_RETRIES       5\n"
           "  --require-column T.C        SENTRY_REQUIRE_COLUMNS       (none)\n"
           "  --schema-file FILE          SENTRY_SCHEMA_FILE           migrations/schema.json\n"
           "  --schemas NAME              SENTRY_SCHEMAS               public\n"
           "  --status-file PATH          SENTRY_STATUS_FILE           /tmp/migration_status.json\n"
           "  --grace SECONDS             SENTRY_GRACE                 5\n"
           "  --log-format text|json      SENTRY_LOG_FORMAT            text\n"
           "  --no-migrate                SENTRY_NO_MIGRATE            0\n"
           "  --init | --no-init          SENTRY_INIT                  init when PID 1\n"
           "--require-env, --require-column and --schemas repeat to build one list.\n"
           "(*) in a plain Alembic project (an alembic.ini and no migrations/versions):\n"
           "    alembic upgrade heads, and DATABASE_URL only.\n"
           "\n"
           "exit codes: 0 ok, 64 config, 65 verify, 66 no status file, 69 database\n"
           "unreachable, 70 migration, 73 status file, 74 stdout not writable,\n"
           "75 lock timeout, 77 auth or privilege refused, 126/127 command not\n"
           "runnable/found, 128+N signal N.\n";
}

void config_free(struct config *c)
{
    for (int s = 0; s < S_COUNT; s++)
        free(c->raw[s]);
    url_free(&c->db);
    strlist_free(&c->required_env);
    strlist_free(&c->migrate_argv);
    strlist_free(&c->schemas);
    columns_free(&c->columns);
    scripts_at_free(&c->scripts);
}
