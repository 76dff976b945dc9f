/* core/workers.c: jobs run on the pool's threads, their done() callbacks only when the owner
 * drains (signalled by the eventfd), and stopping finishes what was queued. */
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/workers.h"

#define N 64

struct job {
    struct pw_job base; /* first: run/done get the pw_job back */
    int input, output;
    pthread_t ran_on;
    bool done;
    int *done_count;
};

static void run(struct pw_job *j)
{
    struct job *job = (struct job *)j;
    job->output = job->input * job->input;
    job->ran_on = pthread_self();
}

static void done(struct pw_job *j)
{
    struct job *job = (struct job *)j;
    assert_false(job->done); /* once */
    job->done = true;
    (*job->done_count)++;
}

static void submit_all(struct pw_workers *w, struct job *jobs, int *count)
{
    for (int i = 0; i < N; i++) {
        jobs[i] = (struct job){.base = {.run = run, .done = done}, .input = i, .done_count = count};
        pw_workers_submit(w, &jobs[i].base);
    }
}

static void test_jobs_run_on_workers_done_on_drain(void **state)
{
    (void)state;
    struct pw_workers *w = pw_workers_start(2);
    assert_non_null(w);
    assert_true(pw_workers_fd(w) >= 0);
    static struct job jobs[N];
    int count = 0;
    submit_all(w, jobs, &count);
    /* done() runs only here, on this thread, in pw_workers_drain */
    int drained = 0;
    for (int tries = 0; drained < N && tries < 500; tries++) {
        struct pollfd p = {.fd = pw_workers_fd(w), .events = POLLIN};
        if (poll(&p, 1, 10) > 0) drained += pw_workers_drain(w);
    }
    assert_int_equal(drained, N);
    assert_int_equal(count, N);
    for (int i = 0; i < N; i++) {
        assert_true(jobs[i].done);
        assert_int_equal(jobs[i].output, i * i);
        assert_false(pthread_equal(jobs[i].ran_on, pthread_self()));
    }
    assert_int_equal(pw_workers_drain(w), 0); /* nothing twice */
    pw_workers_stop(w);
}

static void test_stop_finishes_queued_jobs(void **state)
{
    (void)state;
    struct pw_workers *w = pw_workers_start(1);
    assert_non_null(w);
    static struct job jobs[N];
    int count = 0;
    submit_all(w, jobs, &count);
    assert_int_equal(count, 0); /* never called without a drain */
    pw_workers_stop(w);         /* runs the rest and their done() callbacks */
    assert_int_equal(count, N);
    for (int i = 0; i < N; i++) assert_int_equal(jobs[i].output, i * i);
    pw_workers_stop(NULL); /* nothing to stop */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jobs_run_on_workers_done_on_drain),
        cmocka_unit_test(test_stop_finishes_queued_jobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
