/* jtree: a small strict JSON reader (RFC 8259) and a canonical printer, for
 * the schema file. cJSON tells neither where a value stands nor about a
 * repeated name, and does not check UTF-8; the schema file needs all three,
 * so that a hand-edited or damaged file is refused with its line and column.
 *
 * Reading: every value and member name remembers where it starts (line and
 * column, 1-based; columns count characters, not bytes). Objects come back
 * with their members sorted by name (bytewise: code point order for UTF-8);
 * a name given twice is an error. Strings are valid UTF-8 without NUL. A
 * leading UTF-8 byte order mark is skipped. Nesting deeper than
 * JT_DEPTH_MAX is refused, so no input can exhaust the stack.
 * In lenient mode (text from the server, not from a file), bytes that are
 * not UTF-8 and escapes of NUL or lone surrogates become U+FFFD instead.
 *
 * Printing: jt_render gives exactly what Python's
 *   json.dumps(v, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
 * gives for the same document, so the file is stable to the byte and any
 * tool can reproduce it. Numbers are printed as written. */
#ifndef SENTRY_JTREE_H
#define SENTRY_JTREE_H

#include <stdbool.h>
#include <stddef.h>

#define JT_DEPTH_MAX 32

enum jt_type { JT_NULL, JT_BOOL, JT_NUMBER, JT_STRING, JT_ARRAY, JT_OBJECT };

struct jt {
    enum jt_type type;
    int line, col;   /* where the value starts (0 for built values) */
    char *key;       /* its name in the parent object, or NULL */
    int kline, kcol; /* where that name starts */
    bool b;          /* JT_BOOL */
    char *s;         /* JT_STRING: the text; JT_NUMBER: as written */
    struct jt *v;    /* JT_ARRAY items, JT_OBJECT members */
    size_t n, cap;
};

struct jt_error {
    int line, col;
    char msg[160];
};

/* 0 with *out filled (caller frees), or -1 with *err set and *out empty. */
int jt_parse(const char *text, size_t len, bool lenient, struct jt *out, struct jt_error *err);
void jt_free(struct jt *v);

/* The member named key, or NULL (also when obj is not an object). Objects
 * must be sorted (as jt_parse leaves them, or after jt_sort). */
const struct jt *jt_get(const struct jt *obj, const char *key);
/* True when v is an array whose items are all strings. */
bool jt_is_string_array(const struct jt *v);

/* Building documents in C: values own their strings; jt_add moves value
 * into obj (or array, key NULL). jt_sort orders one object's members. */
struct jt jt_null(void);
struct jt jt_bool(bool b);
struct jt jt_string(const char *s);
struct jt jt_integer(long n);
struct jt jt_object(void);
struct jt jt_array(void);
void jt_add(struct jt *container, const char *key, struct jt value);
void jt_sort(struct jt *obj);

/* The canonical text (see above), newly allocated. */
char *jt_render(const struct jt *v);
/* One string as a JSON literal, escaped as jt_render does. */
char *jt_quote(const char *s);

/* A string of the document for a message, in buf (n bytes): at most max
 * bytes of it (never half a UTF-8 character; "..." when cut short), each
 * control character shown as '?', so that the message stays one line. */
const char *jt_shown(const char *s, size_t max, char *buf, size_t n);
/* The same in place, on a message built whole (no cutting). */
void jt_one_line(char *s);

#endif
