#include "core/workers.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct pw_workers {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct pw_job *queue_head, *queue_tail; /* waiting to run */
    struct pw_job *finished;                /* waiting for done(), newest first */
    int efd;
    int nthreads;
    int stopping;
    pthread_t threads[];
};

static void *worker_main(void *arg)
{
    struct pw_workers *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->queue_head && !w->stopping) pthread_cond_wait(&w->wake, &w->lock);
        struct pw_job *job = w->queue_head;
        if (!job) break; /* stopping and nothing left */
        w->queue_head = job->next;
        if (!w->queue_head) w->queue_tail = NULL;
        pthread_mutex_unlock(&w->lock);

        job->run(job);

        pthread_mutex_lock(&w->lock);
        job->next = w->finished;
        w->finished = job;
        uint64_t one = 1;
        ssize_t n = write(w->efd, &one, sizeof one);
        (void)n; /* an eventfd write only fails when the counter would overflow */
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

struct pw_workers *pw_workers_start(int nthreads)
{
    struct pw_workers *w = calloc(1, sizeof *w + (size_t)nthreads * sizeof(pthread_t));
    if (!w) return NULL;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->efd < 0) goto fail;
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0) goto fail;
        w->nthreads++;
    }
    return w;
fail:
    pw_workers_stop(w);
    return NULL;
}

int pw_workers_fd(const struct pw_workers *w)
{
    return w->efd;
}

void pw_workers_submit(struct pw_workers *w, struct pw_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->queue_tail) w->queue_tail->next = job;
    else w->queue_head = job;
    w->queue_tail = job;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

int pw_workers_drain(struct pw_workers *w)
{
    uint64_t count;
    ssize_t n = read(w->efd, &count, sizeof count);
    (void)n;
    pthread_mutex_lock(&w->lock);
    struct pw_job *list = w->finished;
    w->finished = NULL;
    pthread_mutex_unlock(&w->lock);

    /* reverse to finish in the order they completed */
    struct pw_job *ordered = NULL;
    while (list) {
        struct pw_job *next = list->next;
        list->next = ordered;
        ordered = list;
        list = next;
    }
    int done = 0;
    while (ordered) {
        struct pw_job *next = ordered->next;
        ordered->done(ordered);
        ordered = next;
        done++;
    }
    return done;
}

void pw_workers_stop(struct pw_workers *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    for (int i = 0; i < w->nthreads; i++) pthread_join(w->threads[i], NULL);
    if (w->efd >= 0) {
        pw_workers_drain(w);
        close(w->efd);
    }
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
