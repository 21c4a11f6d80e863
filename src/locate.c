#include "locate.h"
#include "ini.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INI_MAX (1024 * 1024)
#define FLASK_DIR "migrations"
#define FLASK_VERSIONS "migrations/versions"
#define FLASK_INI "migrations/alembic.ini"

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static bool has_dotdot(const char *p)
{
    for (const char *s = p; (s = strstr(s, "..")); s += 2)
        if ((s == p || s[-1] == '/') && (s[2] == '/' || s[2] == '\0'))
            return true;
    return false;
}

/* os.path.abspath: the working directory prepended, `.` and `..` taken
 * lexically (as Alembic 1.8.1 does; later versions leave `..` to the OS). */
static char *abspath(const char *p)
{
    char cwd[PATH_MAX];
    if (*p != '/' && !getcwd(cwd, sizeof cwd))
        return NULL;
    char *full = *p == '/' ? xstrdup(p) : xasprintf("%s/%s", cwd, p);
    char *out = xmalloc(strlen(full) + 2), *o = out;
    for (char *seg = strtok(full, "/"); seg; seg = strtok(NULL, "/")) {
        if (strcmp(seg, ".") == 0)
            continue;
        if (strcmp(seg, "..") == 0) {
            while (o > out && *--o != '/')
                ;
            continue;
        }
        o += sprintf(o, "/%s", seg);
    }
    if (o == out)
        *o++ = '/';
    *o = '\0';
    free(full);
    return out;
}

/* A path with `..` is the same folder to both Alembics only when the
 * lexical and the physical reading land in the same place. */
static bool same_both_ways(const char *p)
{
    if (!has_dotdot(p))
        return true;
    char *lex = abspath(p);
    char a[PATH_MAX], b[PATH_MAX];
    bool ra = lex && realpath(lex, a), rb = realpath(p, b) != NULL;
    bool same = lex && ra == rb && (!ra || strcmp(a, b) == 0);
    free(lex);
    return same;
}

/* --- the configuration ----------------------------------------------------- */

struct cfg {
    struct ini ini;
    struct scripts_at *at;
};

/* An option of [alembic] (or DEFAULT): 0 and *out, 1 when absent, -1 with
 * at->why. */
static int option(struct cfg *c, const char *key, char **out)
{
    char *why;
    int rc = ini_get(&c->ini, "alembic", key, out, &why);
    if (rc < 0) {
        c->at->why = xasprintf("%s: %s", c->at->ini, why);
        free(why);
    }
    return rc;
}

/* coerce_resource_to_filename: `package:path` is a package resource, which
 * only Python can resolve. A path with `..` is kept only when both Alembic
 * versions land in the same folder, and then made absolute. */
static int plain_path(struct cfg *c, const char *what, char **p)
{
    if (**p != '/' && strchr(*p, ':')) {
        c->at->why = xasprintf("%s: %s '%.200s' names a package resource", c->at->ini, what, *p);
        return -1;
    }
    if (!same_both_ways(*p)) {
        c->at->why = xasprintf("%s: %s '%.200s' has '..' after a symlink, which Alembic versions "
                               "resolve differently", c->at->ini, what, *p);
        return -1;
    }
    if (has_dotdot(*p)) {
        char *abs = abspath(*p);
        free(*p);
        *p = abs;
    }
    return 0;
}

/* _split_on_space_comma (", *|(?: +)"), empty pieces kept, as re.split. */
static void split_legacy(const char *s, struct strlist *out)
{
    const char *start = s;
    for (const char *p = s;;) {
        if (*p == ',' || *p == ' ' || *p == '\0') {
            strlist_push_owned(out, xstrndup(start, (size_t)(p - start)));
            if (!*p)
                return;
            char sep = *p++;
            while (*p == ' ' && (sep == ',' || p[-1] == ' '))
                p++;
            start = p;
        } else {
            p++;
        }
    }
}

/* Split on one character, empty pieces dropped; trimmed when Alembic 1.16+
 * reads the separator (path_separator); with version_path_separator, which
 * 1.8.1 does not trim, a piece that trimming would change is refused. */
static int split_on(struct cfg *c, const char *s, char sep, bool trim, bool refuse_untrimmed, struct strlist *out)
{
    const char *start = s;
    for (const char *p = s;; p++) {
        if (*p != sep && *p)
            continue;
        const char *b = start, *e = p;
        if (e > b) {
            ini_strip(&b, &e, NULL);
            if (refuse_untrimmed && (b != start || e != p)) {
                c->at->why = xasprintf("%s: version_locations has a piece with blanks around it, "
                                       "which Alembic versions read differently", c->at->ini);
                return -1;
            }
            strlist_push_owned(out, trim ? xstrndup(b, (size_t)(e - b)) : xstrndup(start, (size_t)(p - start)));
        }
        if (!*p)
            return 0;
        start = p + 1;
    }
}

static int separator(struct cfg *c, const char *name, char *sep, bool *found)
{
    char *v;
    int rc = option(c, name, &v);
    *found = rc == 0;
    if (rc)
        return rc < 0 ? -1 : 0;
    static const char *const words[] = {"space", "newline", "os", ":", ";"};
    static const char chars[] = {' ', '\n', ':', ':', ';'};
    for (size_t i = 0; i < sizeof chars; i++)
        if (strcmp(v, words[i]) == 0) {
            *sep = chars[i];
            free(v);
            return 0;
        }
    c->at->why = xasprintf("%s: %s '%.40s' is not space, newline, os, ':' or ';'", c->at->ini, name, v);
    free(v);
    return -1;
}

static int version_locations(struct cfg *c, const char *locs)
{
    char sep = 0;
    bool newer = false, older = false;
    if (separator(c, "path_separator", &sep, &newer) ||
        (!newer && separator(c, "version_path_separator", &sep, &older)))
        return -1;
    int rc = 0;
    if (newer || older)
        rc = split_on(c, locs, sep, true, !newer, &c->at->dirs);
    else
        split_legacy(locs, &c->at->dirs);
    for (size_t i = 0; rc == 0 && i < c->at->dirs.n; i++) {
        if (!*c->at->dirs.v[i]) { /* os.path.abspath(""): the working directory */
            free(c->at->dirs.v[i]);
            c->at->dirs.v[i] = xstrdup(".");
        }
        rc = plain_path(c, "version_locations", &c->at->dirs.v[i]);
    }
    c->at->optional = true;
    return rc;
}

static int true_option(struct cfg *c, const char *key, bool *out)
{
    char *v;
    int rc = option(c, key, &v);
    *out = rc == 0 && strcmp(v, "true") == 0;
    if (rc == 0)
        free(v);
    return rc < 0 ? -1 : 0;
}

/* `here`: the configuration's folder, as ConfigParser(defaults) gets it. */
static int set_here(struct cfg *c)
{
    const char *slash = strrchr(c->at->ini, '/');
    char *dir = slash ? xstrndup(c->at->ini, (size_t)(slash - c->at->ini)) : xstrdup("");
    char *here = abspath(*dir || slash ? (*dir ? dir : "/") : ".");
    int rc = 0;
    if (!here || strchr(here, '%') || !same_both_ways(*dir ? dir : ".")) {
        c->at->why = xasprintf("%s: its folder's path %s", c->at->ini,
                               !here ? "cannot be read" : strchr(here, '%') ? "holds a '%', which ConfigParser refuses"
                                                                           : "has '..' after a symlink");
        rc = -1;
    } else {
        ini_set(&c->ini, "DEFAULT", "here", here, true);
    }
    free(here);
    free(dir);
    return rc;
}

static int read_ini(struct cfg *c)
{
    char *text, *why;
    size_t len;
    int err = read_whole_file(c->at->ini, INI_MAX, &text, &len);
    if (err) {
        c->at->why = xasprintf("cannot read %s: %s", c->at->ini, read_error(err));
        return -1;
    }
    int rc = ini_parse(&c->ini, text, len, &why);
    free(text);
    if (rc) {
        c->at->why = xasprintf("%s: %s", c->at->ini, why);
        free(why);
    }
    return rc;
}

/* ScriptDirectory.from_config, for the options that say where the files are. */
static void from_config(struct scripts_at *at, bool flask)
{
    struct cfg c = {{0}, at};
    char *loc = NULL, *locs = NULL;
    if (set_here(&c) || ((!flask || exists(at->ini)) && read_ini(&c)))
        goto out;
    if (flask)
        ini_set(&c.ini, "alembic", "script_location", FLASK_DIR, false);
    if (!ini_has_section(&c.ini, "alembic")) {
        at->why = xasprintf("%s has no [alembic] section", at->ini);
        goto out;
    }
    int rc = option(&c, "script_location", &loc);
    if (rc) {
        if (rc > 0)
            at->why = xasprintf("%s has no script_location", at->ini);
        goto out;
    }
    if (plain_path(&c, "script_location", &loc))
        goto out;
    if (!exists(loc)) {
        at->why = xasprintf("%s: script_location %.200s does not exist", at->ini, loc);
        goto out;
    }
    if ((rc = option(&c, "version_locations", &locs)) < 0 || true_option(&c, "recursive_version_locations", &at->recursive) ||
        true_option(&c, "sourceless", &at->sourceless))
        goto out;
    if (rc == 0 && *locs)
        version_locations(&c, locs);
    else
        strlist_push_owned(&at->dirs, xasprintf("%s/versions", loc));
out:
    free(loc);
    free(locs);
    ini_free(&c.ini);
}

void locate_project(const struct strlist *dirs, const char *ini, bool ini_explicit, struct scripts_at *at)
{
    memset(at, 0, sizeof *at);
    bool ini_here = ini && exists(ini);
    if (!ini_explicit && is_dir(FLASK_VERSIONS) && (exists(FLASK_INI) || !ini_here))
        at->kind = PROJECT_FLASK;
    else if (ini_here)
        at->kind = PROJECT_ALEMBIC;
    if (dirs) {
        at->configured = true;
        for (size_t i = 0; i < dirs->n; i++)
            strlist_push(&at->dirs, dirs->v[i]);
        return;
    }
    if (at->kind == PROJECT_NONE) {
        at->why = xasprintf("no %s folder and no %s here", FLASK_VERSIONS, ini ? ini : "alembic.ini");
        return;
    }
    at->ini = xstrdup(at->kind == PROJECT_FLASK ? FLASK_INI : ini);
    from_config(at, at->kind == PROJECT_FLASK);
}

char *locate_shown(const struct scripts_at *at)
{
    return strlist_join(&at->dirs, ":");
}

void scripts_at_free(struct scripts_at *at)
{
    strlist_free(&at->dirs);
    free(at->ini);
    free(at->why);
    memset(at, 0, sizeof *at);
}

/* --- the files --------------------------------------------------------------- */

enum name_verdict { N_SKIP, N_SCRIPT, N_FAILS };

/* _only_source_rev_file, r"(?!\.\#|__init__)(.*\.py)$" matched: `$` also
 * matches before a final newline, and then 1.8.1's load_python_file fails. */
static enum name_verdict script_name(const char *name)
{
    size_t n = strlen(name);
    if (strncmp(name, ".#", 2) == 0 || strncmp(name, "__init__", 8) == 0)
        return N_SKIP;
    const char *nl = strchr(name, '\n');
    if (!nl)
        return n >= 3 && strcmp(name + n - 3, ".py") == 0 ? N_SCRIPT : N_SKIP;
    if (nl == name + n - 1 && n >= 4 && memcmp(name + n - 4, ".py", 3) == 0)
        return N_FAILS;
    return N_SKIP;
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && strcmp(s + n - k, tail) == 0;
}

struct walk {
    const struct scripts_at *at;
    struct strlist *files;
    struct strlist seen; /* real paths */
    char *why;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int names(struct walk *w, const char *dir, struct strlist *out)
{
    DIR *d = opendir(dir);
    if (!d) {
        w->why = xasprintf("cannot read %s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *de;
    int err;
    for (;;) {
        errno = 0;
        if (!(de = readdir(d)))
            break;
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            strlist_push(out, de->d_name);
    }
    err = errno;
    closedir(d);
    if (err) {
        w->why = xasprintf("cannot read %s: %s", dir, strerror(err));
        return -1;
    }
    if (out->n)
        qsort(out->v, out->n, sizeof *out->v, cmp_str);
    return 0;
}

static bool bytecode_name(const char *n)
{
    return ends_with(n, ".pyc") || ends_with(n, ".pyo");
}

/* sourceless = true: bytecode would be loaded, which this reader cannot. */
static int check_sourceless(struct walk *w, const char *dir, const struct strlist *ls)
{
    bool found = false;
    for (size_t i = 0; i < ls->n && !found; i++)
        found = bytecode_name(ls->v[i]);
    char *cache = xasprintf("%s/__pycache__", dir);
    struct strlist cl = {0};
    if (!found && is_dir(cache) && names(w, cache, &cl) == 0)
        for (size_t i = 0; i < cl.n && !found; i++)
            found = bytecode_name(cl.v[i]);
    strlist_free(&cl);
    free(cache);
    if (found && !w->why)
        w->why = xasprintf("%s: sourceless is on and bytecode is there, which only Python reads", dir);
    return w->why ? -1 : 0;
}

static int walk_dir(struct walk *w, const char *dir, int depth, bool skip_files);

/* One entry of a folder. */
static int entry(struct walk *w, const char *dir, const char *name, int depth, bool skip_files)
{
    char *path = xasprintf("%s/%s", dir, name);
    struct stat lst, st;
    int rc = 0;
    if (lstat(path, &lst) != 0) {
        w->why = xasprintf("cannot read %s: %s", path, strerror(errno));
        rc = -1;
        goto out;
    }
    /* 1.8.1 matches the listed name; later versions the resolved one. */
    char real[PATH_MAX];
    bool resolved = realpath(path, real) != NULL;
    const char *target = S_ISLNK(lst.st_mode) && resolved ? strrchr(real, '/') + 1 : name;
    enum name_verdict v1 = script_name(name), v2 = script_name(target);
    bool reg = stat(path, &st) == 0 && S_ISREG(st.st_mode);
    if (!resolved) {
        /* a broken symlink: Alembic 1.8.1 matches its name, later versions its target's */
        w->why = xasprintf("%s: %s", path, S_ISLNK(lst.st_mode) ? "a broken symlink" : "cannot be resolved");
        rc = -1;
    } else if (v1 == N_FAILS || v2 == N_FAILS || v1 != v2 || (v1 == N_SCRIPT && !reg)) {
        w->why = xasprintf("%s: %s", path, v1 != v2 ? "a symlink whose name and target disagree on being a script"
                                        : v1 == N_FAILS ? "a name ending in a newline, which Alembic fails on"
                                                        : "named like a script but not a regular file");
        rc = -1;
    } else if (v1 == N_SCRIPT && !skip_files) {
        if (!strlist_contains(&w->seen, real)) { /* "loaded twice! ignoring" */
            strlist_push(&w->seen, real);
            if (w->files->n >= LOCATE_FILES_MAX) {
                w->why = xasprintf("more than %d scripts", LOCATE_FILES_MAX);
                rc = -1;
            } else {
                strlist_push(w->files, path);
            }
        }
    } else if (v1 == N_SKIP && w->at->recursive && S_ISDIR(lst.st_mode)) {
        rc = walk_dir(w, path, depth + 1, ends_with(name, "__pycache__"));
    }
out:
    free(path);
    return rc;
}

static int walk_dir(struct walk *w, const char *dir, int depth, bool skip_files)
{
    if (depth > LOCATE_DEPTH_MAX) {
        w->why = xasprintf("%s: folders nested more than %d deep", dir, LOCATE_DEPTH_MAX);
        return -1;
    }
    struct strlist ls = {0};
    int rc = names(w, dir, &ls);
    if (rc == 0 && w->at->sourceless && !skip_files)
        rc = check_sourceless(w, dir, &ls);
    for (size_t i = 0; rc == 0 && i < ls.n; i++)
        rc = entry(w, dir, ls.v[i], depth, skip_files);
    strlist_free(&ls);
    return rc;
}

static int one_location(struct walk *w, const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT && w->at->optional)
            return 0; /* Alembic skips a version location that is not there */
        w->why = xasprintf("cannot read %s: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        w->why = xasprintf("%s is not a folder", dir);
        return -1;
    }
    const char *base = strrchr(dir, '/');
    if (ends_with(base ? base + 1 : dir, "__pycache__")) {
        w->why = xasprintf("%s: a version location named like __pycache__, which Alembic versions read differently", dir);
        return -1;
    }
    return walk_dir(w, dir, 0, false);
}

int locate_files(const struct scripts_at *at, struct strlist *files, char **why)
{
    struct walk w = {at, files, {0}, NULL};
    *why = NULL;
    if (at->why) {
        *why = xstrdup(at->why);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < at->dirs.n; i++)
        rc = one_location(&w, at->dirs.v[i]);
    strlist_free(&w.seen);
    if (rc == 0 && files->n == 0) {
        char *where = locate_shown(at);
        w.why = xasprintf("no revision scripts in %s", *where ? where : "(no folder)");
        free(where);
        rc = -1;
    }
    if (rc) {
        strlist_free(files);
        *why = w.why;
        return -1;
    }
    strlist_sort(files);
    return 0;
}
