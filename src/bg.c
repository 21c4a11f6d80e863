#include "bg.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct bg_job {
    void (*fn)(void *), (*free_arg)(void *);
    void *arg;
    int done_fd;       /* eventfd: written once fn has returned */
    atomic_int owners;    /* the thread and the waiter */
    atomic_bool abandoned; /* the waiter gave up: arg is the job's to free */
};

static void let_go(struct bg_job *j)
{
    if (atomic_fetch_sub(&j->owners, 1) != 1)
        return;
    if (atomic_load(&j->abandoned) && j->free_arg)
        j->free_arg(j->arg);
    close(j->done_fd);
    free(j);
}

static void *run(void *p)
{
    struct bg_job *j = p;
    j->fn(j->arg);
    uint64_t one = 1;
    ssize_t w = write(j->done_fd, &one, sizeof one);
    (void)w; /* an eventfd write of 1 cannot fail short of overflow */
    let_go(j);
    return NULL;
}

struct bg_job *bg_start(void (*fn)(void *), void *arg, void (*free_arg)(void *))
{
    struct bg_job *j = xcalloc(1, sizeof *j);
    j->fn = fn;
    j->arg = arg;
    j->free_arg = free_arg;
    atomic_init(&j->owners, 2);
    atomic_init(&j->abandoned, false);
    j->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_attr_t a;
    pthread_t t;
    bool ok = j->done_fd >= 0 && pthread_attr_init(&a) == 0;
    if (ok) {
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&a, 256 * 1024);
        ok = pthread_create(&t, &a, run, j) == 0;
        pthread_attr_destroy(&a);
    }
    if (!ok) {
        if (j->done_fd >= 0)
            close(j->done_fd);
        free(j);
        return NULL;
    }
    return j;
}

enum wait_rc bg_wait(struct bg_job *j, int64_t deadline, int signals)
{
    struct pollfd p = {.fd = j->done_fd, .events = POLLIN};
    enum wait_rc rc = loop_wait(&p, 1, deadline, signals);
    if (rc != WAIT_READY)
        atomic_store(&j->abandoned, true);
    let_go(j);
    return rc;
}
