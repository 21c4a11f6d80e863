/* locate: where a project's revision scripts are and which files there
 * Alembic loads, found as the project's own tool finds them.
 *
 * The project: Flask-Migrate when `migrations/versions` is a folder (and no
 * alembic.ini of its own beside it says otherwise: a plain Alembic project
 * made with `alembic init migrations` keeps alembic.ini in the working
 * directory and none in migrations/); a plain Alembic project when its
 * configuration (alembic.ini, or the file SENTRY_ALEMBIC_CONFIG names) is
 * there; otherwise none.
 *
 * The folders: SENTRY_MIGRATIONS_DIR's when set; otherwise the
 * configuration's as Alembic reads it (ScriptDirectory.from_config):
 * Flask-Migrate's script_location is `migrations` with migrations/alembic.ini
 * read for the rest; version_locations split by path_separator (Alembic
 * 1.16+), else version_path_separator (space, os, `:`, `;`, newline), else
 * on commas and spaces as 1.8.1 does; else script_location's `versions`;
 * `%(here)s` is the configuration's folder; relative paths are relative to
 * the working directory; recursive_version_locations (1.10+) walks
 * sub-folders (not __pycache__, not symlinked folders).
 *
 * The files, as ScriptDirectory._load_revisions counts them: names ending
 * in `.py`, not starting with `__init__` or `.#`; a file reached twice
 * (through a symlink or two folders) once. Wherever Alembic 1.8.1 and later
 * versions would load different files (a symlink whose name and target
 * disagree, a folder named *.py, `..` after a symlink, untrimmed
 * separators) or Alembic would fail (no [alembic] section, a package
 * resource path, `sourceless` with bytecode present), the answer is
 * "unknown", with the reason. */
#ifndef SENTRY_LOCATE_H
#define SENTRY_LOCATE_H

#include <stdbool.h>
#include "util.h"

#define LOCATE_FILES_MAX 10000
#define LOCATE_DEPTH_MAX 32

enum project { PROJECT_NONE, PROJECT_FLASK, PROJECT_ALEMBIC };

struct scripts_at {
    enum project kind;   /* sets the default migration command */
    bool configured;     /* the folders are SENTRY_MIGRATIONS_DIR's */
    struct strlist dirs; /* the version locations, in order */
    bool optional;       /* a missing folder is skipped (version_locations) */
    bool recursive, sourceless;
    char *ini;           /* the configuration read, or NULL */
    char *why;           /* set: the scripts cannot be found for certain */
};

/* dirs: SENTRY_MIGRATIONS_DIR's folders, or NULL when it is not set (the
 * caller checked they are folders); ini: the configuration's path;
 * ini_explicit: named by a flag or the environment (the caller checked it
 * exists). Never fails: a configuration it cannot read sets why. */
void locate_project(const struct strlist *dirs, const char *ini, bool ini_explicit, struct scripts_at *at);
/* The folders, joined by ':' (for `config` and messages). */
char *locate_shown(const struct scripts_at *at);
/* The files Alembic would load, sorted: 0, or -1 with *why (caller frees). */
int locate_files(const struct scripts_at *at, struct strlist *files, char **why);
void scripts_at_free(struct scripts_at *at);

#endif
