/* ini: alembic.ini read as Python's configparser.ConfigParser reads it with
 * the defaults Alembic uses (Python 3.11's _read): `[section]` headers
 * (case-sensitive; the last `]` closes), `key = value` or `key: value` split
 * at the first delimiter, keys folded to lower case, full-line `#` and `;`
 * comments (no inline comments), values continued on lines indented deeper
 * than their key (joined with newlines, blank lines kept, trailing blanks
 * dropped), values stripped of Unicode whitespace, [DEFAULT] options seen
 * from every section; a duplicate section or option, a line before any
 * section, or a line that is neither is an error, as in Python (strict).
 * Values are read through BasicInterpolation: `%%` and `%(name)s` (the
 * section's options, then DEFAULT's; nested at most 10 deep); any other `%`
 * is an error. Anything non-ASCII in a key or section name is refused
 * rather than case-folded by guess. */
#ifndef SENTRY_INI_H
#define SENTRY_INI_H

#include <stdbool.h>
#include <stddef.h>

struct ini_opt {
    char *section; /* "DEFAULT" for the defaults */
    char *key;     /* lower case */
    char *value;   /* raw (not interpolated) */
    bool preset;   /* given before the file was read (ConfigParser(defaults)) */
};

struct ini {
    struct ini_opt *v;
    size_t n;
    char **sections; /* in file order, without DEFAULT */
    size_t nsections;
};

/* Before ini_parse: a default, as Alembic passes `here`. After: an option
 * as Config.set_main_option sets it (the section is created if missing). */
void ini_set(struct ini *ini, const char *section, const char *key, const char *value, bool preset);
/* 0, or -1 with *why (caller frees). */
int ini_parse(struct ini *ini, const char *text, size_t len, char **why);
bool ini_has_section(const struct ini *ini, const char *section);
/* The option's interpolated value: 0 and a new string in *out; 1 when
 * neither the section nor DEFAULT has it; -1 with *why (caller frees). */
int ini_get(const struct ini *ini, const char *section, const char *key, char **out, char **why);
void ini_free(struct ini *ini);
/* [*b, *e) without the whitespace Python's str.strip() removes; the number
 * of characters removed at the start in *lead (may be NULL). */
void ini_strip(const char **b, const char **e, size_t *lead);

#endif
