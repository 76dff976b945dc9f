/* A small pool of threads for CPU-heavy work (Argon2id password hashing), so that one slow
 * job never stalls the event loop and its streams. Jobs run on a worker; their done()
 * callbacks run back on the event-loop thread, in pw_workers_drain(), when the eventfd
 * returned by pw_workers_fd() is readable. Nothing else crosses threads. */
#ifndef PW_WORKERS_H
#define PW_WORKERS_H

struct pw_job {
    void (*run)(struct pw_job *job);  /* on a worker thread: touch only the job's own data */
    void (*done)(struct pw_job *job); /* on the event-loop thread */
    struct pw_job *next;
};

struct pw_workers;

struct pw_workers *pw_workers_start(int nthreads);
int pw_workers_fd(const struct pw_workers *w);
void pw_workers_submit(struct pw_workers *w, struct pw_job *job);
/* Runs done() for every finished job; returns how many. */
int pw_workers_drain(struct pw_workers *w);
/* Finishes queued jobs, joins the threads, runs the last done() callbacks, frees. */
void pw_workers_stop(struct pw_workers *w);

#endif
