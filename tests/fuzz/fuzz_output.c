/* libFuzzer target: the output path (redact.h, edge.h, lines.h, log.h).
 * Input: byte 0 picks the options (cut limit, chunk size, JSON log), byte 1
 * the number of secrets (0-3), then each secret as a length byte (1-24) and
 * that many bytes mapped onto ALPHABET; the rest is the text. The secrets'
 * letters are ones no step of the edge produces ("\xHH" escapes, U+FFFD,
 * the mask "******"), so a secret found in any output came from the input,
 * unmasked: a leak.
 * Invariants checked on every input:
 *  - edge_clean, each mode: valid UTF-8; no control character but tab (and
 *    newline in EDGE_TEXT); no secret of REDACT_MIN bytes or more; cleaning
 *    the result again changes nothing;
 *  - every secret, short ones included, written as a credential's value
 *    ("password=S" after a newline) is masked;
 *  - lines_safe_cut at a limit from 16 to 271: past the start of a
 *    non-empty text; within the limit (bytes and printed width) unless a
 *    single wider match starts the text; never inside a match of the whole
 *    text nor inside a well-formed character;
 *  - the text fed to lines (text or JSON log, in chunks): every tail line
 *    and every log line valid UTF-8, without control characters or secret
 *    (in what follows the log's own "[migrate] ", or in the JSON msg), at
 *    most LINES_MAX bytes of line (JSON: every line one object). */
#include "fuzz_common.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <unistd.h>

#include "edge.h"
#include "lines.h"
#include "log.h"
#include "redact.h"
#include "util.h"

/* No hex digit and no 'x' (escapes), no 'n', 't' or 'u' (JSON's \n, \t,
 * \u), no '*' (the mask), nothing outside ASCII (U+FFFD). */
static const char ALPHABET[] = "ghijklmopqrsvwyzGHIJKLMNOPQRSTUVWXYZ";

struct input {
    unsigned flags;
    char secrets[3][25];
    size_t nsecrets;
    const char *text;
    size_t len;
};

static bool parse(const uint8_t *d, size_t n, struct input *in)
{
    if (n < 2)
        return false;
    in->flags = d[0];
    in->nsecrets = d[1] % 4;
    size_t i = 2;
    for (size_t k = 0; k < in->nsecrets; k++) {
        if (i >= n)
            return false;
        size_t len = (size_t)d[i++] % 24 + 1;
        if (i + len > n)
            return false;
        for (size_t j = 0; j < len; j++)
            in->secrets[k][j] = ALPHABET[d[i + j] % (sizeof ALPHABET - 1)];
        in->secrets[k][len] = '\0';
        i += len;
    }
    in->text = (const char *)d + i;
    in->len = n - i;
    return true;
}

static void check_no_secret(const struct input *in, const char *out, size_t n, const char *where)
{
    for (size_t k = 0; k < in->nsecrets; k++) {
        const char *s = in->secrets[k];
        if (strlen(s) >= REDACT_MIN)
            CHECKF(!memmem(out, n, s, strlen(s)), "secret '%s' in %s: %.*s", s, where, (int)n, out);
    }
}

static void check_clean(const char *out, size_t n, enum edge_mode mode, const char *where)
{
    CHECKF(utf8_valid(out, n), "%s is not valid UTF-8", where);
    for (size_t i = 0, w, k; i < n; i += k) {
        k = edge_step(out + i, n - i, &w);
        bool kept = out[i] == '\t' || (out[i] == '\n' && mode == EDGE_TEXT);
        CHECKF(w == k || kept, "%s holds a control character at %zu", where, i);
    }
}

static void check_edge(const struct input *in)
{
    static const enum edge_mode modes[] = {EDGE_LINE, EDGE_TEXT, EDGE_FOLD};
    for (size_t m = 0; m < 3; m++) {
        size_t n, again_n;
        char *out = edge_clean(in->text, in->len, modes[m], &n);
        CHECK(strlen(out) == n);
        check_clean(out, n, modes[m], "edge_clean");
        check_no_secret(in, out, n, "edge_clean");
        char *again = edge_clean(out, n, modes[m], &again_n);
        CHECKF(again_n == n && memcmp(again, out, n) == 0, "cleaning twice changed '%s'", out);
        free(again);
        free(out);
    }
}

static void check_credentials(const struct input *in)
{
    static const char tail[] = "=" REDACTED "\\x0a";
    for (size_t k = 0; k < in->nsecrets; k++) {
        char *text = xmalloc(in->len + 40);
        memcpy(text, in->text, in->len);
        int extra = sprintf(text + in->len, "\npassword=%s\n", in->secrets[k]);
        size_t n;
        char *out = edge_clean(text, in->len + (size_t)extra, EDGE_LINE, &n);
        CHECKF(n >= sizeof tail - 1 && strcmp(out + n - (sizeof tail - 1), tail) == 0,
               "password=%s not masked: ...%s", in->secrets[k], out + (n > 60 ? n - 60 : 0));
        free(out);
        free(text);
    }
}

static void check_cut(const struct input *in)
{
    const char *s = in->text;
    size_t n = in->len, max = 16 + (in->flags & 0xFF);
    if (!n)
        return;
    size_t at = lines_safe_cut(s, n, max);
    CHECK(at > 0 && at <= n);
    struct redact_match m;
    bool first = redact_find(s, n, 0, &m) && m.start == 0;
    size_t printed;
    char *piece = edge_clean(s, at, EDGE_LINE, &printed);
    free(piece);
    CHECKF((at <= max && printed <= max) || (first && at == m.len),
           "cut at %zu (printed %zu) over the limit %zu", at, printed, max);
    for (size_t from = 0; redact_find(s, n, from, &m); from = m.start + m.len)
        CHECKF(!(m.start < at && at < m.start + m.len), "cut at %zu inside the match [%zu, %zu)", at,
               m.start, m.start + m.len);
    for (size_t back = 1; back <= 3 && back <= at && at < n; back++) {
        size_t k = utf8_valid_at((const unsigned char *)s + at - back, n - (at - back));
        CHECKF(k <= back, "cut at %zu inside a character", at);
        if (k)
            break;
    }
}

static int log_fd = -1;

static void check_log(const struct input *in, bool json)
{
    off_t size = lseek(log_fd, 0, SEEK_END);
    char *log = xmalloc((size_t)size + 1);
    CHECK(pread(log_fd, log, (size_t)size, 0) == size);
    log[size] = '\0';
    CHECK(ftruncate(log_fd, 0) == 0 && lseek(log_fd, 0, SEEK_SET) == 0);
    CHECKF(strlen(log) == (size_t)size, "a NUL byte in the log");
    check_clean(log, (size_t)size, EDGE_TEXT, "the log");
    for (char *p = log, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
        *nl = '\0';
        if (json) {
            cJSON *o = cJSON_Parse(p);
            CHECKF(o && cJSON_IsString(cJSON_GetObjectItem(o, "msg")), "log line not JSON: %s", p);
            const char *msg = cJSON_GetObjectItem(o, "msg")->valuestring;
            CHECKF(strlen(msg) <= LINES_MAX, "JSON msg of %zu bytes", strlen(msg));
            check_no_secret(in, msg, strlen(msg), "a JSON msg");
            cJSON_Delete(o);
        } else {
            /* the text after the prefix, which is the log's own wording */
            size_t pre = strlen("[migrate] ");
            CHECKF(strncmp(p, "[migrate] ", pre) == 0, "log line without its prefix: %s", p);
            CHECKF(strlen(p) <= pre + LINES_MAX, "log line of %zu bytes", strlen(p));
            check_no_secret(in, p + pre, strlen(p + pre), "a log line");
        }
    }
    free(log);
}

static void check_lines(const struct input *in)
{
    bool json = in->flags & 0x80;
    size_t chunk = (size_t[]){1, 3, 4096, 1 << 20}[(in->flags >> 5) & 3];
    log_set_json(json);
    struct lines *l = lines_new("migrate");
    for (size_t i = 0; i < in->len; i += chunk)
        lines_feed(l, in->text + i, in->len - i < chunk ? in->len - i : chunk);
    lines_flush(l);
    struct strlist tail = {0};
    lines_take_tail(l, &tail);
    lines_free(l);
    CHECK(tail.n <= LINES_TAIL);
    for (size_t i = 0; i < tail.n; i++) {
        size_t n = strlen(tail.v[i]);
        CHECKF(n <= LINES_MAX, "tail line of %zu bytes", n);
        check_clean(tail.v[i], n, EDGE_LINE, "a tail line");
        check_no_secret(in, tail.v[i], n, "a tail line");
    }
    strlist_free(&tail);
    check_log(in, json);
    log_set_json(false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (log_fd < 0) {
        log_fd = memfd_create("fuzz-log", 0);
        CHECK(log_fd >= 0);
        log_set_fd(log_fd);
    }
    struct input in;
    if (!parse(data, size, &in))
        return 0;
    for (size_t k = 0; k < in.nsecrets; k++)
        redact_add_password(in.secrets[k], strlen(in.secrets[k]));
    check_edge(&in);
    check_credentials(&in);
    check_cut(&in);
    check_lines(&in);
    redact_clear();
    return 0;
}
