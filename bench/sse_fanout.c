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
 * Several processes, one trigger (bench/cluster.sh): no process may see the others' sockets, so
 * they agree on one instant instead. Every arrival is stamped with CLOCK_MONOTONIC, which is one
 * clock for the whole machine.
 *   --ready-file F   once everyone is held (after the settle time), write "held=... n=..." to F
 *                    (written whole: a temporary name, then rename).
 *   --t0-file F      with --trigger: write "t0_ns=<monotonic ns>" to F just after the trigger
 *                    request is written. Without --trigger: do not trigger, wait (at most
 *                    --trigger-wait SEC) for F to appear and measure every arrival against the
 *                    t0 it holds; "t0_ns=0" there means "no trigger after all: finish now".
 *   --trigger-only   hold no subscriber (-n 0): send the --trigger request, write --t0-file,
 *                    read the answer's status (at most 5 s), print one line.
 *   --bind ADDR      source address of every socket (e.g. 127.0.0.7), bound with
 *                    IP_BIND_ADDRESS_NO_PORT so the port is picked at connect() for the whole
 *                    4-tuple: one source address then serves ~28,000 connections per server port.
 * Events that arrive before the trigger instant is known are kept (the newest EV_KEEP per
 * subscriber), so an event that beats the t0 file to a holder is still counted, and an unrelated
 * earlier event is counted as early, not as the answer. Events after the first one that
 * follows t0 are counted as dup_events (one presence change must give one event).
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

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum st { ST_IDLE, ST_CONNECTING, ST_WAIT_READY, ST_READY, ST_DONE, ST_DEAD };

/* Arrivals kept per subscriber while the trigger instant is not yet known. */
#define EV_KEEP 4

struct sub {
    int fd;
    uint8_t st;
    uint8_t tries;
    uint8_t nev;            /* events seen (saturates at 255) */
    uint8_t ring;           /* next slot of ev_ns (wraps; only ever used modulo EV_KEEP) */
    uint16_t rpos, epos;    /* KMP positions in the ready and event patterns */
    int64_t got_ns;         /* absolute arrival of the first event at or after t0; 0: none */
    int64_t ev_ns[EV_KEEP]; /* absolute arrivals before t0 was known, newest EV_KEEP */
};

struct kmp {
    const char *p;
    size_t n;
    int *fail;
};

static struct {
    const char *host, *path, *ready, *event, *trigger_file, *label, *times_file, *extra_header;
    const char *bind, *ready_file, *t0_file;
    bool trigger_only;
    int port, trigger_port, n, inflight, hold_s, max_s, settle_ms;
    double connect_s, event_s, trigger_wait_s;
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
         .event_s = 20,
         .trigger_wait_s = -1};

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
    fprintf(
        stderr,
        "usage: sse_fanout --port P --path PATH -n N [--trigger FILE --trigger-port P]\n"
        "  [--ready STR] [--event STR] [--rss-pid PID]... [--inflight K] [--hold SEC]\n"
        "  [--connect-timeout SEC] [--event-timeout SEC] [--max-seconds SEC]\n"
        "  [--settle-ms MS] [--label NAME] [--times FILE] [--header 'K: V']\n"
        "  [--bind ADDR] [--ready-file FILE] [--t0-file FILE] [--trigger-wait SEC]\n"
        "       sse_fanout --trigger-only --port P --trigger FILE --t0-file FILE [--bind ADDR]\n");
    exit(2);
}

static struct sockaddr_in inet_addr_of(const char *host, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        fprintf(stderr, "sse_fanout: bad IPv4 address %s\n", host);
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

/* Writes text to path whole: readers (the script) never see half a file. */
static bool write_file_atomic(const char *path, const char *text)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return false;
    bool ok = fputs(text, f) >= 0;
    ok = fclose(f) == 0 && ok;
    return ok && rename(tmp, path) == 0;
}

/* 1 and *t0 set when path holds "t0_ns=N"; 0 while it does not exist (yet). */
static int read_t0_file(const char *path, int64_t *t0)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    long long v = -1;
    int got = fscanf(f, "t0_ns=%lld", &v);
    fclose(f);
    if (got != 1 || v < 0) return 0;
    *t0 = v;
    return 1;
}

/* ---- state shared by the loop ---- */
static struct sub *subs;
static int ep;
static struct kmp kready, kevent;
static char req[2048];
static size_t reqlen;
static struct sockaddr_in addr, src_addr;
static int n_ready, n_got, n_dead, n_failed_connects, n_early, n_dups, n_inflight, next_open;
static int first_connect_errno;
static int64_t t0; /* trigger instant (absolute CLOCK_MONOTONIC), 0 while unknown */

/* A TCP socket, bound to --bind if given (the port is chosen later, by connect()). */
static int socket_new(int flags)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (opt.bind) {
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&src_addr, sizeof src_addr) < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
    }
    return fd;
}

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
    int fd = socket_new(SOCK_NONBLOCK);
    if (fd < 0) {
        if (!first_connect_errno) first_connect_errno = errno;
        return false;
    }
    s->fd = fd;
    s->rpos = s->epos = 0;
    s->tries++;
    int rc = connect(fd, (struct sockaddr *)&addr, sizeof addr);
    if (rc < 0 && errno != EINPROGRESS) {
        if (!first_connect_errno) first_connect_errno = errno;
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

/* An --event match on a held subscriber, arrived at `at`. */
static void sub_event(struct sub *s, int64_t at)
{
    if (s->nev < 255) s->nev++;
    if (!t0) { /* not yet known whether this is ours: keep it, judge it in trigger_known() */
        s->ev_ns[s->ring++ % EV_KEEP] = at;
        return;
    }
    if (s->got_ns) {
        n_dups++;
        return;
    }
    s->got_ns = at;
    s->st = ST_DONE;
    n_got++;
}

/* t0 has just become known: sorts the arrivals kept so far into early / ours / duplicate. */
static void trigger_known(void)
{
    for (int i = 0; i < opt.n; i++) {
        struct sub *s = &subs[i];
        int kept = s->nev < EV_KEEP ? s->nev : EV_KEEP, after = 0;
        int64_t first = 0;
        for (int k = 0; k < kept; k++) {
            int64_t at = s->ev_ns[k];
            if (at < t0) continue;
            after++;
            if (!first || at < first) first = at;
        }
        n_early += s->nev - after;
        if (!after) continue;
        n_dups += after - 1;
        if (s->st == ST_READY) { /* a subscriber dropped since has no arrival to report */
            s->got_ns = first;
            s->st = ST_DONE;
            n_got++;
        }
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
            if (s->st == ST_WAIT_READY && s->tries < 3) sub_retry(s);
            else sub_kill(s, true);
            return;
        }
        int64_t at = now_ns();
        size_t off = 0;
        if (s->st == ST_WAIT_READY) {
            long m = kmp_feed(&kready, &s->rpos, buf, (size_t)r);
            if (m < 0) continue;
            s->st = ST_READY;
            n_inflight--;
            n_ready++;
            off = (size_t)m;
        }
        while ((s->st == ST_READY || s->st == ST_DONE) && off < (size_t)r) {
            long m = kmp_feed(&kevent, &s->epos, buf + off, (size_t)r - off);
            if (m < 0) break;
            sub_event(s, at);
            off += (size_t)m;
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

/* ---- the trigger: one request on its own connection, its answer read while we pump ---- */
static char trig[8192];
static size_t triglen;
static int tfd = -1, tstatus;
static int64_t tresp_ns = -1;
static char tb[4096];
static size_t tblen;

/* Connects, notes t0 and writes the request; the answer is collected by trigger_poll(). */
static bool trigger_send(void)
{
    struct sockaddr_in ta = inet_addr_of(opt.host, opt.trigger_port);
    tfd = socket_new(0);
    if (tfd < 0) {
        fprintf(stderr, "sse_fanout: trigger socket: %s\n", strerror(errno));
        return false;
    }
    struct timeval tv = {.tv_sec = 5};
    setsockopt(tfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(tfd, (struct sockaddr *)&ta, sizeof ta) != 0) {
        fprintf(stderr, "sse_fanout: trigger connect: %s\n", strerror(errno));
        close(tfd);
        tfd = -1;
        return false;
    }
    int64_t at = now_ns();
    if (write(tfd, trig, triglen) != (ssize_t)triglen) {
        fprintf(stderr, "sse_fanout: trigger write: %s\n", strerror(errno));
        close_rst(tfd);
        tfd = -1;
        return false;
    }
    t0 = at;
    fcntl(tfd, F_SETFL, fcntl(tfd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)opt.n};
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
    return true;
}

static void trigger_poll(void)
{
    if (tfd < 0 || tstatus) return;
    ssize_t r = read(tfd, tb + tblen, sizeof tb - 1 - tblen);
    if (r <= 0) return;
    tblen += (size_t)r;
    tb[tblen] = '\0';
    sscanf(tb, "HTTP/1.%*d %d", &tstatus);
    if (tstatus) tresp_ns = now_ns() - t0;
}

static void write_t0_file(int64_t value)
{
    char line[64];
    snprintf(line, sizeof line, "t0_ns=%lld\n", (long long)value);
    if (!write_file_atomic(opt.t0_file, line))
        fprintf(stderr, "sse_fanout: cannot write %s: %s\n", opt.t0_file, strerror(errno));
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
        else if (ARG("--bind")) opt.bind = v;
        else if (ARG("--ready-file")) opt.ready_file = v;
        else if (ARG("--t0-file")) opt.t0_file = v;
        else if (ARG("--trigger-wait")) opt.trigger_wait_s = atof(v);
        else if (strcmp(a, "--trigger-only") == 0) opt.trigger_only = true;
        else usage();
#undef ARG
    }
    if (opt.trigger_only) {
        opt.n = 0;
        if (!opt.port || !opt.trigger_file || !opt.t0_file) usage();
    } else if (!opt.port || !opt.path || opt.n < 1 || opt.inflight < 1) {
        usage();
    }
    if (!opt.trigger_port) opt.trigger_port = opt.port;
    if (opt.bind) src_addr = inet_addr_of(opt.bind, 0);
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

    if (opt.trigger_file) {
        FILE *f = fopen(opt.trigger_file, "rb");
        if (!f) {
            perror(opt.trigger_file);
            return 2;
        }
        triglen = fread(trig, 1, sizeof trig, f);
        fclose(f);
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return 1;

    if (opt.trigger_only) {
        bool sent = triglen > 0 && trigger_send();
        write_t0_file(sent ? t0 : 0);                       /* 0: the holders stop waiting */
        for (int k = 0; sent && k < 250 && !tstatus; k++) { /* bounded: 5 s */
            pump(20);
            trigger_poll();
        }
        if (tfd >= 0) close_rst(tfd);
        printf("label=%s trigger_status=%d trigger_answer_ms=%.2f t0_ns=%lld\n", opt.label, tstatus,
               tresp_ns >= 0 ? (double)tresp_ns / 1e6 : -1.0, (long long)t0);
        return tstatus / 100 == 2 ? 0 : 1;
    }

    reqlen =
        (size_t)snprintf(req, sizeof req,
                         "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n"
                         "Cache-Control: no-cache\r\n%s%s",
                         opt.path, opt.host, opt.port, opt.extra_header ? opt.extra_header : "",
                         opt.extra_header ? "\r\n\r\n" : "\r\n");
    kmp_init(&kready, opt.ready);
    kmp_init(&kevent, opt.event);
    addr = inet_addr_of(opt.host, opt.port);
    subs = calloc((size_t)opt.n, sizeof *subs);
    if (!subs) return 1;
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
    fprintf(stderr, "sse_fanout[%s]: %d/%d ready in %.2f s (%d failed connects%s%s, %d dropped)\n",
            opt.label, n_ready, opt.n, connect_secs, n_failed_connects,
            first_connect_errno ? ", first: " : "",
            first_connect_errno ? strerror(first_connect_errno) : "", n_dead);

    /* phase 2: settle, then the server's memory with everyone held */
    int64_t settle_end = now_ns() + (int64_t)opt.settle_ms * 1000000;
    while (now_ns() < settle_end) pump(20);
    long rss_after = rss_total();
    held = n_ready;
    if (opt.ready_file) {
        char line[256];
        snprintf(line, sizeof line, "held=%d n=%d failed_connects=%d dropped=%d connect_s=%.2f\n",
                 held, opt.n, n_failed_connects, n_dead, connect_secs);
        if (!write_file_atomic(opt.ready_file, line))
            fprintf(stderr, "sse_fanout: cannot write %s: %s\n", opt.ready_file, strerror(errno));
    }

    /* phase 3: one trigger (ours, or another process's instant from --t0-file), then wait
     * for the event on every held subscriber */
    if (triglen > 0 && n_ready > 0) {
        if (trigger_send()) trigger_known();
        if (opt.t0_file) write_t0_file(t0);
    } else if (opt.t0_file) {
        int64_t wait_end =
            opt.trigger_wait_s >= 0 ? now_ns() + (int64_t)(opt.trigger_wait_s * 1e9) : hard_end;
        int64_t value = -1;
        while (now_ns() < wait_end && now_ns() < hard_end) {
            pump(20);
            if (read_t0_file(opt.t0_file, &value)) break;
        }
        if (value > 0) {
            t0 = value;
            trigger_known();
        } else {
            fprintf(stderr, "sse_fanout[%s]: %s\n", opt.label,
                    value == 0 ? "no trigger was sent" : "no trigger instant in time");
        }
    }
    int64_t event_end = t0 + (int64_t)(opt.event_s * 1e9);
    while (t0 && n_got < n_ready && now_ns() < event_end && now_ns() < hard_end) {
        pump(20);
        trigger_poll();
    }
    for (int k = 0; k < 50 && tfd >= 0 && !tstatus; k++) { /* bounded: at most ~1 s more */
        pump(20);
        trigger_poll();
    }
    if (tfd >= 0) close_rst(tfd);

    /* phase 4: hold everyone a while longer, counting drops */
    int64_t hold_end = now_ns() + (int64_t)opt.hold_s * 1000000000;
    while (now_ns() < hold_end && now_ns() < hard_end) pump(50);

    /* results: every time is measured from the one trigger instant t0 */
    int64_t *t = malloc(sizeof(int64_t) * (size_t)(n_got ? n_got : 1));
    int k = 0;
    for (int i = 0; i < opt.n; i++)
        if (subs[i].got_ns > 0) t[k++] = subs[i].got_ns - t0;
    qsort(t, (size_t)k, sizeof *t, cmp_i64);
    int64_t last_ns = k ? t[k - 1] : 0;
#define PCT(p) (k ? (double)t[(size_t)((double)(k - 1) * (p) + 0.5)] / 1e6 : -1.0)
    if (opt.times_file) { /* written even when empty: "nobody got it" is a result too */
        FILE *f = fopen(opt.times_file, "w");
        if (f) {
            for (int i = 0; i < k; i++) fprintf(f, "%.3f\n", (double)t[i] / 1e6);
            fclose(f);
        }
    }
    double per_sub = (rss_before >= 0 && rss_after >= 0 && held > 0 && opt.nrss > 0)
                         ? (double)(rss_after - rss_before) / held
                         : -1.0;
    printf("label=%s n=%d held=%d got=%d dropped=%d failed_connects=%d early_events=%d "
           "connect_s=%.2f trigger_status=%d trigger_answer_ms=%.2f first_ms=%.2f p50_ms=%.2f "
           "p90_ms=%.2f p99_ms=%.2f max_ms=%.2f "
           "rss_before_kib=%ld rss_after_kib=%ld kib_per_sub=%.2f dup_events=%d\n",
           opt.label, opt.n, held, k, n_dead, n_failed_connects, n_early, connect_secs, tstatus,
           tresp_ns >= 0 ? (double)tresp_ns / 1e6 : -1.0, PCT(0.0), PCT(0.50), PCT(0.90), PCT(0.99),
           (double)last_ns / 1e6, rss_before, rss_after, per_sub, n_dups);
    fflush(stdout);
    for (int i = 0; i < opt.n; i++)
        if (subs[i].fd >= 0) close_rst(subs[i].fd);
    bool measured = opt.trigger_file || opt.t0_file;
    bool ok = held == opt.n && n_dead == 0 && (!measured || k == opt.n) &&
              (!opt.trigger_file || tstatus / 100 == 2);
    return ok ? 0 : 1;
}
