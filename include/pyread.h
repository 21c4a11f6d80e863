/* pyread: what a revision script binds to revision, down_revision,
 * depends_on and branch_labels once Python has run it, read from its tokens
 * (pylex) without running it.
 *
 * A name's value is known only when every binding of it is a module-level
 * simple assignment (`name = v` or `name: T = v`, alone or between `;` on a
 * line that is not a block header) of a literal: None, a str (prefixes,
 * escapes, adjacent literals joined), or a tuple or list of str (brackets
 * over lines, a bare `a, b`, trailing commas). The last such assignment
 * wins, as Python runs them in order. Any other occurrence of the name
 * (indented, in a block or one-line block, augmented, tuple-unpacking,
 * chained, walrus, `global`, `del`, `import ... as`, a for target, an
 * attribute, a read) or any other value makes it PV_UNKNOWN, with the line.
 *
 * The whole script is refused (-1) when it is not Python to the lexer, its
 * blocks are not indented as Python requires, or it reaches module globals
 * by other means (`globals()`, `vars()`, `exec`, `eval`, `setattr`,
 * `sys.modules`, `__dict__`, a module `__getattr__`, `from m import *`).
 * What it does not see: code in other modules that a script imports and
 * calls (the same holds for any reader short of running Python), and
 * grammar errors that do not bear on these names or on the lexical
 * structure. */
#ifndef SENTRY_PYREAD_H
#define SENTRY_PYREAD_H

#include <stddef.h>
#include "util.h"

enum pyval_kind { PV_ABSENT, PV_NONE, PV_STR, PV_TUPLE, PV_LIST, PV_UNKNOWN };

struct pyval {
    enum pyval_kind kind;
    struct strlist items; /* PV_STR: the string; PV_TUPLE, PV_LIST: the elements (all str) */
    int line;             /* where it was last assigned, or made unknown */
    char *why;            /* PV_UNKNOWN: "line N: ..." */
};

enum pyfield { PY_REVISION, PY_DOWN, PY_DEPS, PY_LABELS, PY_NFIELDS };

extern const char *const pyfield_names[PY_NFIELDS];

struct pyscript {
    struct pyval v[PY_NFIELDS];
};

/* 0, or -1 with *why (caller frees): the script cannot be read for certain
 * at all. On success each field is PV_ABSENT when never bound. */
int pyread_script(const char *text, size_t len, struct pyscript *out, char **why);
void pyscript_free(struct pyscript *s);

#endif
