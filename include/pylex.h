/* pylex: Python 3's tokenizer, as far as it decides where strings, comments,
 * brackets, logical lines and blocks begin and end, so that nothing a script
 * quotes or comments out is ever read as code, and nothing it codes is ever
 * skipped. Follows CPython 3.11's tokenizer (and agrees with 3.12's on every
 * text it accepts): the source is decoded as Python decodes it (UTF-8 BOM,
 * `coding` cookie, universal newlines, no NUL), string prefixes in any case
 * (r, u, b, f, br, rb, fr, rf), single and triple quotes, backslash escapes
 * and continuations, brackets spanning lines, indentation with tabs and form
 * feeds (TabError and dedent checks), f-string replacement fields.
 *
 * Where the two Pythons could split a text differently (an f-string field
 * holding its own quote, a comment or a backslash), where a text is not
 * Python at all (unterminated string, unbalanced bracket, bad indentation,
 * an invalid character) or uses what this module does not model (non-ASCII
 * identifiers, whose NFKC form could be any name; another encoding), it
 * fails with the reason: the caller then knows nothing, rather than
 * something false. */
#ifndef SENTRY_PYLEX_H
#define SENTRY_PYLEX_H

#include <stdbool.h>
#include <stddef.h>

enum pytok {
    PT_NAME, PT_NUMBER, PT_STRING, PT_OP,
    PT_NEWLINE,  /* end of a logical line */
    PT_INDENT, PT_DEDENT,
    PT_END,
};

/* String prefix flags. */
#define PS_RAW 1u
#define PS_BYTES 2u
#define PS_FSTRING 4u
#define PS_FIELDS 8u /* an f-string with at least one replacement field */

struct pytoken {
    enum pytok kind;
    const char *p; /* the token's text (in the decoded source) */
    size_t len;
    int line;      /* physical line it starts on, from 1 */
    /* PT_STRING: prefix flags and the text between the quotes */
    unsigned flags;
    const char *body;
    size_t body_len;
};

#define PYLEX_MAX_DEPTH 200  /* CPython's MAXLEVEL: nested brackets */
#define PYLEX_MAX_INDENT 100 /* CPython's MAXINDENT */

struct pylex {
    char *src; /* decoded: no BOM, '\n' newlines, ends with '\n' */
    size_t len, pos;
    int line;
    char brackets[PYLEX_MAX_DEPTH];
    int depth;
    int indent[PYLEX_MAX_INDENT], alt[PYLEX_MAX_INDENT]; /* alt: tabs as one column */
    int nindent;     /* levels above column 0 */
    int pending;     /* > 0: INDENTs to emit; < 0: DEDENTs */
    bool at_bol;     /* at the start of a logical line */
    bool has_tokens; /* the current logical line has tokens */
    char *why;
};

/* Decodes the source as Python would; 0, or -1 with *why (caller frees). */
int pylex_open(struct pylex *lx, const char *text, size_t len, char **why);
/* The next token; 0, or -1 with lx->why set (then the source is not Python,
 * or not for certain). After PT_END, returns PT_END again. */
int pylex_next(struct pylex *lx, struct pytoken *t);
void pylex_close(struct pylex *lx);

/* The value of a str literal as UTF-8, escapes decoded: 0 and a new string
 * in *out; 1 with *why (static) when it is not a str or not one this module
 * can spell for certain (bytes, an f-string with fields, \N{...}, a NUL or
 * a lone surrogate); -1 with *why when the escape is invalid Python. */
int pylex_str_value(const struct pytoken *t, char **out, const char **why);

#endif
