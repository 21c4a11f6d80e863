#include "migrate.h"
#include "lines.h"
#include "url.h"
#include "log.h"
#include "child.h"
#include "loop.h"
#include "signals.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DRAIN_MS 1000
#define LAST_CHANCE_MS 2000

/* --- finding the program -------------------------------------------------- */

static bool executable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int migrate_find_program(const char *argv0, const char *what, struct err *e)
{
    if (strchr(argv0, '/')) {
        if (executable_file(argv0))
            return 0;
        err_set(e, "%s: '%.200s' is not an executable file", what, argv0);
        return -1;
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ":");
        char *cand = xasprintf("%.*s/%s", (int)n, n ? p : ".", argv0);
        bool ok = executable_file(cand);
        free(cand);
        if (ok)
            return 0;
        p += n + (p[n] == ':');
    }
    err_set(e, "%s: program '%.200s' not found on PATH", what, argv0);
    return -1;
}

/* Failures that another run, a little later, can get past, found in the
 * last lines of the output (where a failed run's traceback ends): a lock
 * timeout (PostgreSQL's words, psycopg's class name, SQLSTATE 55P03, also
 * what NOWAIT raises), and a server with no connection slot left (53300:
 * the waiting replicas' short tries can fill a small max_connections for a
 * moment; a run that could not connect did nothing). Its name, or NULL. */
static const char *healable(const struct strlist *tail)
{
    static const struct {
        const char *mark, *what;
    } marks[] = {
        {"due to lock timeout", "a lock timeout"},
        {"LockNotAvailable", "a lock timeout"},
        {"55P03", "a lock timeout"},
        {"too many clients already", "a full server (too many clients)"},
        {"remaining connection slots are reserved", "a full server (too many clients)"},
        {"TooManyConnections", "a full server (too many clients)"},
    };
    for (size_t i = tail->n; i-- > 0;)
        for (size_t k = 0; k < sizeof marks / sizeof *marks; k++)
            if (strstr(tail->v[i], marks[k].mark))
                return marks[k].what;
    return NULL;
}

/* --- supervising it --------------------------------------------------------- */

enum stage { RUNNING, TERMED, KILLED, DRAINING, DRAIN_KILLED };

struct run {
    pid_t pid;
    int out, chld;
    bool exited, eof;
    int status;
    enum stage stage;
    int64_t deadline;
    int signal;       /* the gate signal passed on, if any */
    bool timed_out;
    bool lost;        /* the watch said stop (the lock is lost) */
    const struct migrate_watch *watch;
    struct lines *out_lines; /* the output's log lines and tail */
};

static void stop_group(struct run *r, int sig, int64_t now)
{
    child_signal_group(r->pid, sig);
    if (r->stage == RUNNING || r->stage == DRAINING) {
        r->stage = r->stage == RUNNING ? TERMED : DRAIN_KILLED;
        r->deadline = now + (r->stage == TERMED ? MIGRATE_KILL_GRACE_S * 1000 : LAST_CHANCE_MS);
    }
}

static void escalate(struct run *r, int64_t now)
{
    switch (r->stage) {
    case RUNNING:
        r->timed_out = true;
        stop_group(r, SIGTERM, now);
        break;
    case TERMED:
        child_signal_group(r->pid, SIGKILL);
        r->stage = KILLED;
        r->deadline = now + LAST_CHANCE_MS;
        break;
    case DRAINING:
        stop_group(r, SIGKILL, now); /* a leftover still holds the output pipe */
        break;
    default:
        r->deadline = INT64_MAX; /* give up waiting: the loop ends */
        break;
    }
}

static void on_output(struct run *r)
{
    char buf[8192];
    ssize_t n = read(r->out, buf, sizeof buf);
    if (n > 0)
        lines_feed(r->out_lines, buf, (size_t)n);
    else if (n == 0 || (errno != EINTR && errno != EAGAIN))
        r->eof = true;
}

static void on_child(struct run *r, int64_t now)
{
    child_watch_drain(r->chld);
    if (!r->exited && child_reap(r->pid, &r->status)) {
        r->exited = true;
        if (!r->eof) {
            r->stage = DRAINING;
            r->deadline = now + DRAIN_MS;
        }
    }
}

/* A gate signal is passed to the whole group, also when the command itself
 * has exited and only a leftover holding its output is left: the gate then
 * stops, whatever the command's code was. */
static void on_gate_signal(struct run *r, int64_t now)
{
    r->signal = signals_gate_check();
    child_signal_group(r->pid, r->signal);
    if (r->stage == RUNNING || r->stage == DRAINING)
        stop_group(r, r->exited ? SIGKILL : r->signal, now);
}

static void on_watch(struct run *r, short revents, int64_t now)
{
    if (r->watch->step(r->watch->arg, revents))
        return;
    r->lost = true;
    if (!r->exited)
        stop_group(r, SIGTERM, now);
}

static void supervise(struct run *r)
{
    while (!(r->exited && r->eof)) {
        int64_t now = now_ms();
        if (now >= r->deadline) {
            if (r->stage == KILLED || r->stage == DRAIN_KILLED)
                break;
            escalate(r, now);
            continue;
        }
        struct pollfd p[3] = {
            {.fd = r->eof ? -1 : r->out, .events = POLLIN},
            {.fd = r->chld, .events = POLLIN},
            {.fd = -1},
        };
        int64_t until = r->deadline, watch_until = LOOP_FOREVER;
        bool watching = r->watch && !r->lost;
        if (watching)
            p[2].fd = r->watch->fd(r->watch->arg, &p[2].events, &watch_until);
        enum wait_rc w = loop_wait(p, 3, watching && watch_until < until ? watch_until : until, !r->signal);
        now = now_ms();
        if (w == WAIT_SIGNAL) {
            on_gate_signal(r, now);
            continue;
        }
        if (p[0].revents)
            on_output(r);
        if (p[1].revents)
            on_child(r, now);
        if (watching && (p[2].revents || now >= watch_until))
            on_watch(r, p[2].revents, now);
    }
    child_signal_group(r->pid, SIGKILL); /* nothing of the group outlives the step */
    for (int64_t end = now_ms() + LAST_CHANCE_MS; !r->exited && now_ms() < end;) {
        if (child_reap(r->pid, &r->status))
            r->exited = true;
        else
            loop_wait(&(struct pollfd){.fd = r->chld, .events = POLLIN}, 1, now_ms() + 100, 0);
    }
}

static enum migrate_rc outcome(struct run *r, long timeout_s, struct migrate_result *res, struct err *e)
{
    if (WIFEXITED(r->status))
        res->exit_code = WEXITSTATUS(r->status);
    else if (WIFSIGNALED(r->status))
        res->exit_code = 128 + WTERMSIG(r->status);
    if (r->signal) {
        err_set(e, "interrupted by %s", signals_name(r->signal));
        return MIG_INTERRUPTED;
    }
    if (r->lost)
        return MIG_LOST; /* the watch's own message says why */
    if (r->timed_out) {
        err_set(e, "migration command timed out after %lds; its process group was killed", timeout_s);
        return MIG_FAILED;
    }
    if (!r->exited) {
        err_set(e, "the migration command did not end after SIGKILL");
        return MIG_FAILED;
    }
    if (WIFSIGNALED(r->status)) {
        err_set(e, "migration command killed by signal %d (%s)", WTERMSIG(r->status),
                signals_name(WTERMSIG(r->status)));
        return MIG_FAILED;
    }
    if (res->exit_code != 0) {
        err_set(e, "migration command exited with code %d", res->exit_code);
        return MIG_FAILED;
    }
    return MIG_OK;
}

static pid_t start(char *const argv[], char *const envp[], int out_w, int *lifeline, struct err *e)
{
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        err_set(e, "cannot open /dev/null: %s", strerror(errno));
        return -1;
    }
    struct child_spec spec = {argv, envp, in, out_w, out_w, false, true, -1};
    int exec_errno;
    pid_t pid = child_spawn(&spec, &exec_errno, e);
    close(in);
    *lifeline = spec.lifeline;
    return pid;
}

/* One run of the command, until `deadline`. */
static enum migrate_rc run_once(const struct migrate_plan *p, int64_t deadline, struct migrate_result *res,
                                const char **again, struct err *e)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        err_set(e, "cannot create a pipe for the migration command: %s", strerror(errno));
        return MIG_FAILED;
    }
    struct run *r = xcalloc(1, sizeof *r);
    r->out = fds[0];
    r->out_lines = lines_new("migrate");
    r->watch = p->watch;
    r->chld = child_watch_begin();
    r->deadline = deadline;
    int lifeline = -1;
    r->pid = r->chld < 0 ? -1 : start(p->argv, p->envp, fds[1], &lifeline, e);
    close(fds[1]);
    enum migrate_rc rc = MIG_FAILED;
    if (r->chld < 0)
        err_set(e, "cannot watch the migration command: %s", strerror(errno));
    if (r->pid > 0) {
        res->ran = true;
        res->attempts++;
        supervise(r);
        lines_flush(r->out_lines);
        rc = outcome(r, p->timeout_s, res, e);
    }
    strlist_free(&res->tail);
    lines_take_tail(r->out_lines, &res->tail);
    lines_free(r->out_lines);
    res->timed_out = r->timed_out;
    *again = healable(&res->tail);
    if (lifeline >= 0)
        close(lifeline);
    close(r->out);
    child_watch_end(r->chld);
    free(r);
    return rc;
}

/* A pause between runs that keeps the watch going (the lock's keeper beats
 * on) and gives way to a gate signal: MIG_OK when it passed. */
static enum migrate_rc pause_watched(const struct migrate_plan *p, int64_t until, struct err *e)
{
    while (now_ms() < until) {
        struct pollfd fd = {.fd = -1};
        int64_t watch_until = LOOP_FOREVER;
        if (p->watch)
            fd.fd = p->watch->fd(p->watch->arg, &fd.events, &watch_until);
        enum wait_rc w = loop_wait(&fd, 1, watch_until < until ? watch_until : until, 1);
        if (w == WAIT_SIGNAL) {
            err_set(e, "interrupted by %s", signals_name(signals_gate_check()));
            return MIG_INTERRUPTED;
        }
        if (p->watch && (fd.revents || now_ms() >= watch_until) && !p->watch->step(p->watch->arg, fd.revents))
            return MIG_LOST;
    }
    return MIG_OK;
}

/* 0.5 s, then twice as long each time up to MIGRATE_PAUSE_CAP_MS, each
 * 0.75 to 1.25 of that, so that the blocker has room to finish. */
static int64_t retry_pause(int retry)
{
    int64_t base = MIGRATE_PAUSE_FIRST_MS;
    for (int i = 1; i < retry && base < MIGRATE_PAUSE_CAP_MS; i++)
        base *= 2;
    base = base > MIGRATE_PAUSE_CAP_MS ? MIGRATE_PAUSE_CAP_MS : base;
    return jittered(base);
}

enum migrate_rc migrate_run(const struct migrate_plan *p, struct migrate_result *res, struct err *e)
{
    int64_t start_ms = now_ms(), deadline = p->timeout_s ? start_ms + p->timeout_s * 1000 : LOOP_FOREVER;
    res->ran = false;
    res->exit_code = -1;
    res->timed_out = false;
    res->attempts = 0;
    enum migrate_rc rc;
    for (int retry = 0;; retry++) {
        const char *again = NULL;
        rc = run_once(p, deadline, res, &again, e);
        if (rc != MIG_FAILED || !again || res->timed_out || retry >= p->retries)
            break;
        int64_t pause = retry_pause(retry + 1);
        if (now_ms() + pause >= deadline)
            break; /* no time left for another run: the failure stands */
        log_note("the migration failed on %s (run %d of at most %ld); running it again "
                 "in %.1fs, still under the advisory lock", again, retry + 1, p->retries + 1,
                 (double)pause / 1000.0);
        if ((rc = pause_watched(p, now_ms() + pause, e)) != MIG_OK)
            break;
    }
    res->duration_ms = now_ms() - start_ms;
    return rc;
}

void migrate_result_free(struct migrate_result *r)
{
    strlist_free(&r->tail);
}

/* --- its environment --------------------------------------------------------- */

extern char **environ;

char *migrate_appname(const char *conninfo)
{
    char *own = url_value(conninfo, "application_name");
    const char *v = getenv("PGAPPNAME");
    return own ? own : xstrdup(v && *v ? v : MIGRATE_APPNAME);
}

static bool names(const char *entry, const char *var)
{
    size_t n = strlen(var);
    return strncmp(entry, var, n) == 0 && entry[n] == '=';
}

char **migrate_env(long lock_timeout_s, bool primary)
{
    const char *opts = getenv("PGOPTIONS"), *app = getenv("PGAPPNAME");
    bool set_opts = lock_timeout_s > 0, set_app = !app || !*app;
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = xcalloc(n + 4, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) /* the ones set below are left out: one entry each */
        if (!(set_opts && names(environ[i], "PGOPTIONS")) && !(set_app && names(environ[i], "PGAPPNAME")) &&
            !(primary && names(environ[i], "PGTARGETSESSIONATTRS")))
            env[k++] = xstrdup(environ[i]);
    if (set_opts)
        env[k++] = xasprintf("PGOPTIONS=%s%s-c lock_timeout=%lds", opts ? opts : "",
                             opts && *opts ? " " : "", lock_timeout_s);
    if (set_app)
        env[k++] = xstrdup("PGAPPNAME=" MIGRATE_APPNAME);
    if (primary) /* the URL names several hosts: the migration, like the gate, wants the primary */
        env[k++] = xstrdup("PGTARGETSESSIONATTRS=read-write");
    env[k] = NULL;
    return env;
}

void migrate_env_free(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}
