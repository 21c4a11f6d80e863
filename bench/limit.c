/* bench/limit: the floor the no-op gate is measured against, linked exactly
 * as build/static/migration-sentry is (mk/static.mk's STATIC_LINK).
 *
 *     build/bench/limit [-- GATE ARGS...]   < commands
 *
 * One command a line on stdin, one answer a line on stdout, so that one
 * long-lived process times everything and bench/gate.py interleaves:
 *
 *     C CONNINFO   connect (as the gate does: PQconnectdbParams with the URL
 *                  expanded, application_name, connect_timeout), SELECT 1,
 *                  PQfinish; "ok TOTAL_MS CONNECT_MS CPU_MS" (CPU: user +
 *                  system time of this process meanwhile)
 *     G CONNINFO   run GATE ARGS with DATABASE_URL=CONNINFO (stdin, stdout
 *                  and stderr /dev/null), from posix_spawn to wait4;
 *                  "ok MS EXIT_CODE CPU_MS" (the child's user + system time)
 *     S ITERATIONS libpq's SCRAM client key derivation (PBKDF2 with
 *                  HMAC-SHA-256, ITERATIONS rounds) in-process; "ok MS"
 *
 * Failures answer "err MESSAGE". The connections after the first are warm:
 * OpenSSL is initialised and the process's memory is mapped, which is what
 * makes this the part no start-up can avoid. */
#include <libpq-fe.h>

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* libpgcommon's PBKDF2 (src/common/scram-common.c of PostgreSQL 15, the
 * version scripts/build-static-deps.sh builds): the SaltedPassword that
 * libpq's SCRAM client computes at every login. */
int scram_SaltedPassword(const char *password, const char *salt, int saltlen, int iterations,
                         uint8_t *result, const char **errstr);

static double tv_ms(struct timeval tv)
{
    return (double)tv.tv_sec * 1000.0 + (double)tv.tv_usec / 1000.0;
}

static double cpu_ms(const struct rusage *ru)
{
    return tv_ms(ru->ru_utime) + tv_ms(ru->ru_stime);
}

static double self_cpu_ms(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        perror("limit: getrusage");
        exit(1);
    }
    return cpu_ms(&ru);
}

static double now_ms(void)
{
    struct timespec t;
    if (clock_gettime(CLOCK_MONOTONIC, &t) != 0) {
        perror("limit: clock_gettime");
        exit(1);
    }
    return (double)t.tv_sec * 1000.0 + (double)t.tv_nsec / 1e6;
}

/* The gate's own connect call (src/db.c attempt()), so that both sides send
 * the same startup packet. */
static PGconn *gate_like_connect(const char *conninfo)
{
    const char *keys[] = {"application_name", "dbname", "connect_timeout", NULL};
    const char *vals[] = {"migration-sentry", conninfo, "10", NULL};
    return PQconnectdbParams(keys, vals, 1);
}

static void cmd_connect(const char *conninfo)
{
    double c0 = self_cpu_ms();
    double t0 = now_ms();
    PGconn *c = gate_like_connect(conninfo);
    double t1 = now_ms();
    if (!c || PQstatus(c) != CONNECTION_OK) {
        printf("err connect: %.*s\n", (int)strcspn(c ? PQerrorMessage(c) : "out of memory", "\n"),
               c ? PQerrorMessage(c) : "out of memory");
        PQfinish(c);
        return;
    }
    PGresult *r = PQexec(c, "SELECT 1");
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    PQclear(r);
    if (!ok) {
        printf("err SELECT 1: %.*s\n", (int)strcspn(PQerrorMessage(c), "\n"), PQerrorMessage(c));
        PQfinish(c);
        return;
    }
    PQfinish(c);
    double ms = now_ms() - t0;
    printf("ok %.4f %.4f %.4f\n", ms, t1 - t0, self_cpu_ms() - c0);
}

static void cmd_gate(char **argv, const char *conninfo, int devnull)
{
    if (!argv || !argv[0]) {
        printf("err no gate command after --\n");
        return;
    }
    if (setenv("DATABASE_URL", conninfo, 1) != 0) {
        printf("err setenv: %s\n", strerror(errno));
        return;
    }
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0) {
        printf("err posix_spawn_file_actions_init\n");
        return;
    }
    for (int fd = 0; fd <= 2; fd++)
        if (posix_spawn_file_actions_adddup2(&fa, devnull, fd) != 0) {
            printf("err posix_spawn_file_actions_adddup2\n");
            posix_spawn_file_actions_destroy(&fa);
            return;
        }
    pid_t pid;
    double t0 = now_ms();
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        printf("err posix_spawn %s: %s\n", argv[0], strerror(rc));
        return;
    }
    int st;
    struct rusage ru;
    while (wait4(pid, &st, 0, &ru) < 0)
        if (errno != EINTR) {
            printf("err wait4: %s\n", strerror(errno));
            return;
        }
    double ms = now_ms() - t0;
    printf("ok %.4f %d %.4f\n", ms, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
           cpu_ms(&ru));
}

static void cmd_scram(const char *arg)
{
    char *end;
    long n = strtol(arg, &end, 10);
    if (*end || n < 1 || n > 10000000) {
        printf("err bad iteration count '%s'\n", arg);
        return;
    }
    static const char salt[16] = "0123456789abcdef";
    uint8_t key[32];
    const char *why = NULL;
    double t0 = now_ms();
    int rc = scram_SaltedPassword("s3cret-Pa55w0rd", salt, (int)sizeof salt, (int)n, key, &why);
    double ms = now_ms() - t0;
    if (rc != 0)
        printf("err scram_SaltedPassword: %s\n", why ? why : "failed");
    else
        printf("ok %.4f\n", ms);
}

int main(int argc, char **argv)
{
    char **gate = NULL;
    if (argc > 1) {
        if (strcmp(argv[1], "--") != 0 || argc < 3) {
            fprintf(stderr, "usage: limit [-- GATE ARGS...] < commands (C|G CONNINFO, S N)\n");
            return 64;
        }
        gate = argv + 2;
    }
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0) {
        perror("limit: /dev/null");
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] && line[1] == ' ' && line[0] == 'C')
            cmd_connect(line + 2);
        else if (line[0] && line[1] == ' ' && line[0] == 'G')
            cmd_gate(gate, line + 2, devnull);
        else if (line[0] && line[1] == ' ' && line[0] == 'S')
            cmd_scram(line + 2);
        else
            printf("err unknown command (C|G CONNINFO, S N)\n");
        if (fflush(stdout) != 0) {
            perror("limit: stdout");
            return 1;
        }
    }
    free(line);
    close(devnull);
    return ferror(stdin) ? 1 : 0;
}
