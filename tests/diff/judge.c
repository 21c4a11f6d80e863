/* The differential test's C side (see tests/diff/run.py): the sentry's own
 * finder (locate.c), reader (heads.c) and verdict (heads_judge), linked as
 * the binary links them, answering one request per line on stdin:
 *
 *     CWD \t MODE \t ARG \t ROWSETS
 *
 * MODE is `dirs` (ARG: SENTRY_MIGRATIONS_DIR's value), `project` (ARG: the
 * alembic.ini path, or "" for the default alembic.ini; found as the gate
 * finds them) or `ini` (ARG: SENTRY_ALEMBIC_CONFIG given explicitly);
 * ROWSETS are alembic_version row sets separated by '|', rows by ','.
 * Answers, one line each, then END:
 *
 *     FILES \t path...         the scripts, as located (absolute)
 *     HEADS \t a,b | UNKNOWN \t why
 *     STAMP \t a,b
 *     V \t UP | PENDING \t a,b | OVERLAP \t a,b | UNKROWS \t a,b | UNJUDGED \t why
 */
#include "heads.h"
#include "locate.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void split(const char *s, char sep, struct strlist *out)
{
    for (const char *p = s;;) {
        size_t n = strcspn(p, (char[]){sep, '\0'});
        strlist_push_owned(out, xstrndup(p, n));
        if (!p[n])
            return;
        p += n + 1;
    }
}

static void print_list(const char *tag, const struct strlist *l, const char *sep)
{
    char *j = strlist_join(l, sep);
    printf("%s\t%s\n", tag, j);
    free(j);
}

static void verdicts(const struct heads *h, const char *rowsets)
{
    struct strlist sets = {0};
    split(rowsets, '|', &sets);
    for (size_t i = 0; i < sets.n; i++) {
        struct strlist rows = {0};
        if (*sets.v[i])
            split(sets.v[i], ',', &rows);
        strlist_sort(&rows);
        struct verdict v;
        heads_judge(h, &rows, &v);
        if (!v.known)
            printf("V\tUNJUDGED\t%s\n", v.why);
        else if (v.up_to_date)
            printf("V\tUP\n");
        else if (v.unknown.n)
            print_list("V\tUNKROWS", &v.unknown, ",");
        else if (v.overlapping.n)
            print_list("V\tOVERLAP", &v.overlapping, ",");
        else
            print_list("V\tPENDING", &v.pending, ",");
        verdict_free(&v);
        strlist_free(&rows);
    }
    strlist_free(&sets);
}

static void answer(char *line)
{
    struct strlist f = {0};
    split(line, '\t', &f);
    if (f.n != 4 || chdir(f.v[0]) != 0) {
        printf("ERROR\tbad request or cwd\nEND\n");
        strlist_free(&f);
        return;
    }
    struct scripts_at at;
    struct strlist dirs = {0};
    if (strcmp(f.v[1], "dirs") == 0)
        split(f.v[2], ':', &dirs);
    if (strcmp(f.v[1], "dirs") == 0)
        locate_project(&dirs, "alembic.ini", false, &at);
    else
        locate_project(NULL, *f.v[2] ? f.v[2] : "alembic.ini", strcmp(f.v[1], "ini") == 0, &at);
    struct strlist files = {0};
    char *why = NULL;
    if (locate_files(&at, &files, &why) == 0)
        print_list("FILES", &files, "\t");
    free(why);
    struct heads h;
    heads_load(&at, &h);
    if (h.known) {
        print_list("HEADS", &h.heads, ",");
        print_list("STAMP", &h.stamp, ",");
    } else {
        printf("UNKNOWN\t%s\n", h.why);
    }
    verdicts(&h, f.v[3]);
    printf("END\n");
    fflush(stdout);
    heads_free(&h);
    strlist_free(&files);
    strlist_free(&dirs);
    scripts_at_free(&at);
    strlist_free(&f);
}

int main(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n')
            line[n - 1] = '\0';
        answer(line);
    }
    free(line);
    return 0;
}
