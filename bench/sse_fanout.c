/* sse_fanout: an epoll load client for Server-Sent Events fan-out.
 *
 * Opens N subscriber connections (non-blocking connects, at most --inflight still waiting
 * for their first bytes at any time), waits until every one has received the --ready
 * pattern (pitwall: the snapshot frame; nchan: the end of the response headers), reads the
 * server's VmRSS (before connecting and once all are held), then sends one trigger request
 * (a raw HTTP request read from a file: pitwall's POST /api/mechanic/presence, or an nchan
 * publish) and records, per subscriber, the CLOCK_MONOTONIC time from just before the
 * trigger is written until the --event pattern has arrived on that connection.
 *
 * Bounded: every phase has a deadline and the whole run has --max-seconds; it always stops
 * by itself and closes its sockets with an RST (SO_LINGER 0) so no TIME_WAIT is left.
 * Prints one summary line of key=value pairs on stdout; diagnostics go to stderr.
 * Exit status: 0 when every subscriber was held and got the event, 1 otherwise, 2 on usage.
 *
 *   cc -O2 -o bench/bin/sse_fanout bench/sse_fanout.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum st { ST_IDLE, ST_CONNECTING, ST_WAIT_READY, ST_READY, ST_DONE, ST_DEAD };

struct sub {
    int fd;
    uint8_t st;
    uint8_t tries;
    uint16_t rpos, epos; /* KMP positions in the ready and event patterns */
    int64_t got_ns;      /* arrival of the event, relative to the trigger */
};

struct kmp {
    const char *p;
    size_t n;
    int *fail;
};

static struct {
    const char *host, *path, *ready, *event, *trigger_file, *label, *times_file, *extra_header;
    int port, trigger_port, n, inflight, hold_s, max_s, settle_ms;
    double connect_s, event_s;
    int rss_pids[8];
    int nrss;
} opt = {.host = "127.0.0.1",
         .ready = "\r\n\r\n",
         .event = "event: presence",
         .label = "run",
         .n = 1000,
         .inflight = 512,
         .hold_s = 0,
         .max_s = 180,
         .settle_ms = 1000,
         .connect_s = 90,
         .event_s = 20};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void kmp_init(struct kmp *k, const char *p)
{
    k->p = p;
    k->n = strlen(p);
    k->fail = calloc(k->n + 1, sizeof(int));
    if (!k->fail) exit(1);
    int j = 0;
    for (size_t i = 1; i < k->n; i++) {
        while (j > 0 && p[i] != p[j]) j = k->fail[j - 1];
        if (p[i] == p[j]) j++;
        k->fail[i] = j;
    }
}

/* Feeds bytes; returns the index just after the first complete match, or -1. */
static long kmp_feed(const struct kmp *k, uint16_t *pos, const char *b, size_t len)
{
    size_t j = *pos;
    for (size_t i = 0; i < len; i++) {
        while (j > 0 && b[i] != k->p[j]) j = (size_t)k->fail[j - 1];
        if (b[i] == k->p[j]) j++;
        if (j == k->n) {
            *pos = 0;
            return (long)i + 1;
        }
    }
    *pos = (uint16_t)j;
    return -1;
}

static long read_rss_kib(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
    fclose(f);
    return kib;
}

static long rss_total(void)
{
    long sum = 0;
    for (int i = 0; i < opt.nrss; i++) {
        long v = read_rss_kib(opt.rss_pids[i]);
        if (v < 0) return -1;
        sum += v;
    }
    return sum;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: sse_fanout --port P --path PATH -n N [--trigger FILE --trigger-port P]\n"
            "  [--ready STR] [--event STR] [--rss-pid PID]... [--inflight K] [--hold SEC]\n"
            "  [--connect-timeout SEC] [--event-timeout SEC] [--max-seconds SEC]\n"
            "  [--settle-ms MS] [--label NAME] [--times FILE] [--header 'K: V']\n");
    exit(2);
}

static struct sockaddr_in target(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, opt.host, &a.sin_addr) != 1) {
        fprintf(stderr, "sse_fanout: bad host %s\n", opt.host);
        exit(2);
    }
    return a;
}

static void close_rst(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

/* ---- state shared by the loop ---- */
static struct sub *subs;
static int ep;
static struct kmp kready, kevent;
static char req[2048];
static size_t reqlen;
static struct sockaddr_in addr;
static int n_ready, n_got, n_dead, n_failed_connects, n_early, n_inflight, next_open;
static int64_t t0; /* trigger time, 0 before it */

static void sub_kill(struct sub *s, bool count)
{
    if (s->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
        close_rst(s->fd);
        s->fd = -1;
    }
    if (s->st == ST_CONNECTING || s->st == ST_WAIT_READY) n_inflight--;
    if (s->st == ST_READY || s->st == ST_DONE) n_ready--;
    if (count) n_dead++;
    s->st = ST_DEAD;
}

static bool sub_open(struct sub *s)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "sse_fanout: socket: %s\n", strerror(errno));
        return false;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    s->fd = fd;
    s->rpos = s->epos = 0;
    s->tries++;
    int rc = connect(fd, (struct sockaddr *)&addr, sizeof addr);
    if (rc < 0 && errno != EINPROGRESS) {
        close_rst(fd);
        s->fd = -1;
        return false;
    }
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)(s - subs)};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    s->st = ST_CONNECTING;
    n_inflight++;
    return true;
}

/* A connect that failed before the subscriber was held is retried (up to 3 tries). */
static void sub_retry(struct sub *s)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
    close_rst(s->fd);
    s->fd = -1;
    n_inflight--;
    s->st = ST_IDLE;
    if (s->tries >= 3 || !sub_open(s)) {
        s->st = ST_DEAD;
        n_failed_connects++;
    }
}

static void on_event(struct sub *s, uint32_t events)
{
    if (s->st == ST_CONNECTING) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
            int err = 0;
            socklen_t el = sizeof err;
            getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
            if (err) {
                sub_retry(s);
                return;
            }
            ssize_t w = write(s->fd, req, reqlen);
            if (w != (ssize_t)reqlen) {
                sub_retry(s);
                return;
            }
            struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP,
                                     .data.u32 = (uint32_t)(s - subs)};
            epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
            s->st = ST_WAIT_READY;
        }
        return;
    }
    char buf[8192];
    for (int rounds = 0; rounds < 16; rounds++) {
        ssize_t r = read(s->fd, buf, sizeof buf);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (r <= 0) {
            if (s->st == ST_WAIT_READY && s->tries < 3)
                sub_retry(s);
            else
                sub_kill(s, true);
            return;
        }
        size_t off = 0;
        if (s->st == ST_WAIT_READY) {
            long m = kmp_feed(&kready, &s->rpos, buf, (size_t)r);
            if (m < 0) continue;
            s->st = ST_READY;
            n_inflight--;
            n_ready++;
            off = (size_t)m;
        }
        if (s->st == ST_READY && off < (size_t)r) {
            long m = kmp_feed(&kevent, &s->epos, buf + off, (size_t)r - off);
            if (m >= 0) {
                if (!t0) {
                    n_early++; /* an event before the trigger: not ours */
                } else {
                    s->got_ns = now_ns() - t0;
                    s->st = ST_DONE;
                    n_got++;
                }
            }
        }
    }
}

static void pump(int timeout_ms)
{
    struct epoll_event evs[512];
    int n = epoll_wait(ep, evs, 512, timeout_ms);
    for (int i = 0; i < n; i++) {
        uint32_t idx = evs[i].data.u32;
        if (idx >= (uint32_t)opt.n) continue; /* the trigger connection: read elsewhere */
        struct sub *s = &subs[idx];
        if (s->st == ST_DEAD || s->fd < 0) continue;
        on_event(s, evs[i].events);
    }
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && (i++, 1))
        if (ARG("--host")) opt.host = v;
        else if (ARG("--port")) opt.port = atoi(v);
        else if (ARG("--path")) opt.path = v;
        else if (ARG("-n")) opt.n = atoi(v);
        else if (ARG("--ready")) opt.ready = v;
        else if (ARG("--event")) opt.event = v;
        else if (ARG("--trigger")) opt.trigger_file = v;
        else if (ARG("--trigger-port")) opt.trigger_port = atoi(v);
        else if (ARG("--rss-pid")) {
            if (opt.nrss < 8) opt.rss_pids[opt.nrss++] = atoi(v);
        } else if (ARG("--inflight")) opt.inflight = atoi(v);
        else if (ARG("--hold")) opt.hold_s = atoi(v);
        else if (ARG("--connect-timeout")) opt.connect_s = atof(v);
        else if (ARG("--event-timeout")) opt.event_s = atof(v);
        else if (ARG("--max-seconds")) opt.max_s = atoi(v);
        else if (ARG("--settle-ms")) opt.settle_ms = atoi(v);
        else if (ARG("--label")) opt.label = v;
        else if (ARG("--times")) opt.times_file = v;
        else if (ARG("--header")) opt.extra_header = v;
        else usage();
#undef ARG
    }
    if (!opt.port || !opt.path || opt.n < 1 || opt.inflight < 1) usage();
    if (!opt.trigger_port) opt.trigger_port = opt.port;
    int64_t start = now_ns();
    int64_t hard_end = start + (int64_t)opt.max_s * 1000000000;

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if ((rlim_t)opt.n + 16 > rl.rlim_cur) {
        fprintf(stderr, "sse_fanout: %d subscribers need more than the fd limit %llu\n", opt.n,
                (unsigned long long)rl.rlim_cur);
        return 2;
    }

    char trig[8192];
    size_t triglen = 0;
    if (opt.trigger_file) {
        FILE *f = fopen(opt.trigger_file, "rb");
        if (!f) {
            perror(opt.trigger_file);
            return 2;
        }
        triglen = fread(trig, 1, sizeof trig, f);
        fclose(f);
    }

    reqlen = (size_t)snprintf(req, sizeof req,
                              "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n"
                              "Cache-Control: no-cache\r\n%s%s",
                              opt.path, opt.host, opt.port, opt.extra_header ? opt.extra_header : "",
                              opt.extra_header ? "\r\n\r\n" : "\r\n");
    kmp_init(&kready, opt.ready);
    kmp_init(&kevent, opt.event);
    addr = target(opt.port);
    subs = calloc((size_t)opt.n, sizeof *subs);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (!subs || ep < 0) return 1;
    for (int i = 0; i < opt.n; i++) subs[i].fd = -1;

    long rss_before = rss_total();

    /* phase 1: connect everyone, at most `inflight` not yet ready */
    int64_t connect_end = start + (int64_t)(opt.connect_s * 1e9);
    while (n_ready + n_failed_connects + n_dead < opt.n && now_ns() < connect_end &&
           now_ns() < hard_end) {
        while (next_open < opt.n && n_inflight < opt.inflight) {
            struct sub *s = &subs[next_open++];
            if (!sub_open(s)) {
                s->st = ST_DEAD;
                n_failed_connects++;
            }
        }
        pump(50);
    }
    double connect_secs = (double)(now_ns() - start) / 1e9;
    int held = n_ready;
    fprintf(stderr, "sse_fanout[%s]: %d/%d ready in %.2f s (%d failed connects, %d dropped)\n",
            opt.label, n_ready, opt.n, connect_secs, n_failed_connects, n_dead);

    /* phase 2: settle, then the server's memory with everyone held */
    int64_t settle_end = now_ns() + (int64_t)opt.settle_ms * 1000000;
    while (now_ns() < settle_end) pump(20);
    long rss_after = rss_total();
    held = n_ready;

    /* phase 3: one trigger, then wait for the event on every held subscriber */
    int tstatus = 0;
    int64_t last_ns = 0, tresp_ns = -1;
    if (triglen > 0 && n_ready > 0) {
        struct sockaddr_in ta = target(opt.trigger_port);
        int tfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct timeval tv = {.tv_sec = 5};
        setsockopt(tfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        int one = 1;
        setsockopt(tfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(tfd, (struct sockaddr *)&ta, sizeof ta) == 0) {
            t0 = now_ns();
            if (write(tfd, trig, triglen) == (ssize_t)triglen) {
                /* the trigger's answer is read while subscribers are served */
                fcntl(tfd, F_SETFL, fcntl(tfd, F_GETFL) | O_NONBLOCK);
                struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)opt.n};
                epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
            }
        } else {
            fprintf(stderr, "sse_fanout: trigger connect: %s\n", strerror(errno));
        }
        int64_t event_end = (t0 ? t0 : now_ns()) + (int64_t)(opt.event_s * 1e9);
        char tb[4096];
        size_t tblen = 0;
        while (t0 && n_got < n_ready && now_ns() < event_end && now_ns() < hard_end) {
            pump(20);
            if (!tstatus) {
                ssize_t r = read(tfd, tb + tblen, sizeof tb - 1 - tblen);
                if (r > 0) {
                    tblen += (size_t)r;
                    tb[tblen] = '\0';
                    sscanf(tb, "HTTP/1.%*d %d", &tstatus);
                    if (tstatus) tresp_ns = now_ns() - t0;
                }
            }
        }
        for (int k = 0; k < 50 && !tstatus; k++) { /* bounded: at most ~1 s more */
            pump(20);
            ssize_t r = read(tfd, tb + tblen, sizeof tb - 1 - tblen);
            if (r > 0) {
                tblen += (size_t)r;
                tb[tblen] = '\0';
                sscanf(tb, "HTTP/1.%*d %d", &tstatus);
                if (tstatus) tresp_ns = now_ns() - t0;
            }
        }
        close_rst(tfd);
    }

    /* phase 4: hold everyone a while longer, counting drops */
    int64_t hold_end = now_ns() + (int64_t)opt.hold_s * 1000000000;
    while (now_ns() < hold_end && now_ns() < hard_end) pump(50);

    /* results */
    int64_t *t = malloc(sizeof(int64_t) * (size_t)(n_got ? n_got : 1));
    int k = 0;
    for (int i = 0; i < opt.n; i++)
        if (subs[i].got_ns > 0) t[k++] = subs[i].got_ns;
    qsort(t, (size_t)k, sizeof *t, cmp_i64);
    if (k) last_ns = t[k - 1];
#define PCT(p) (k ? (double)t[(size_t)((double)(k - 1) * (p) + 0.5)] / 1e6 : -1.0)
    if (opt.times_file && k) {
        FILE *f = fopen(opt.times_file, "w");
        if (f) {
            for (int i = 0; i < k; i++) fprintf(f, "%.3f\n", (double)t[i] / 1e6);
            fclose(f);
        }
    }
    double per_sub = (rss_before >= 0 && rss_after >= 0 && held > 0)
                         ? (double)(rss_after - rss_before) / held
                         : -1.0;
    printf("label=%s n=%d held=%d got=%d dropped=%d failed_connects=%d early_events=%d "
           "connect_s=%.2f trigger_status=%d trigger_answer_ms=%.2f first_ms=%.2f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f "
           "rss_before_kib=%ld rss_after_kib=%ld kib_per_sub=%.2f\n",
           opt.label, opt.n, held, k, n_dead, n_failed_connects, n_early, connect_secs, tstatus,
           tresp_ns >= 0 ? (double)tresp_ns / 1e6 : -1.0, PCT(0.0), PCT(0.50), PCT(0.90), PCT(0.99), (double)last_ns / 1e6, rss_before, rss_after,
           per_sub);
    fflush(stdout);
    for (int i = 0; i < opt.n; i++)
        if (subs[i].fd >= 0) close_rst(subs[i].fd);
    bool ok = held == opt.n && n_dead == 0 &&
              (!opt.trigger_file || (k == opt.n && tstatus / 100 == 2));
    return ok ? 0 : 1;
}
