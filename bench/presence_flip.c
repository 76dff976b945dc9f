/* presence_flip: how many presence changes per second a set of pitwall nodes accepts.
 *
 * Reads --mechanics FILE, one logged-in mechanic a line, tab-separated:
 *     PORT  MECHANIC_ID  COOKIE  CSRF_TOKEN
 * and opens one keep-alive connection per line to --host:PORT, on which it flips that mechanic
 * online/offline (POST /api/mechanic/presence) as fast as the answers come back, one request
 * in flight per connection, for --duration seconds. Each 200 answer is one accepted change.
 * The state asked for is always the other one: pitwall answers 200 without an event when the
 * state does not change, so the wanted state only flips after a 200. The mechanics must start
 * offline (cluster.sh sets them offline before the run).
 *
 * --watch PORT:SCOPE (up to 4) opens one presence stream (ids=...) on that node for the
 * flipped mechanics whose PORT is that node (SCOPE local), is another node (remote), or any
 * (all), and counts the 'event: presence' frames it gets from the start until --grace-ms after
 * the end (events_per_s: that count over the flipping time). It reports them beside the
 * changes accepted for those mechanics: what it should have got. A stream shows at most 100
 * mechanics (pitwall's limit), so at most 100 lines count for one watch.
 *
 * by_port=PORT:OK:MS,... gives each node's accepted changes and its slowest answer (ms).
 *
 * Bounded: --duration, then at most --grace-ms for answers in flight and late events, and
 * --max-seconds over all. Prints one key=value line on stdout, diagnostics on stderr.
 * Exit status: 0 when at least one change was accepted and none failed, 1 otherwise, 2 usage.
 *
 *   cc -O2 -o bench/bin/presence_flip bench/presence_flip.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1000
#define MAX_WATCH 4
#define STREAM_IDS_MAX 100    /* pitwall's limit per stream */
#define WATCH_TAG 0x40000000u /* epoll data of a watch: WATCH_TAG | index */

enum conn_st { C_IDLE, C_CONNECTING, C_WAIT_ANSWER };
enum scope { SCOPE_LOCAL, SCOPE_REMOTE, SCOPE_ALL };

struct conn {
    int port;
    char id[64];
    char *cookie, *csrf;
    int fd;
    int st;
    bool online; /* the state the mechanic is in, as far as the 200s tell */
    int64_t sent_at;
    char buf[4096];
    size_t len;
    long ok, failed;
    int64_t worst_ns; /* its slowest answer */
};

struct kmp {
    const char *p;
    size_t n;
    int *fail;
};

struct watch {
    int port;
    enum scope scope;
    int fd;
    bool ready;
    uint16_t rpos, epos;
    long events;   /* presence frames from the start until the end + grace */
    long expected; /* accepted changes of the mechanics it shows */
    int nids;
    bool shows[MAX_CONNS]; /* shows[i]: conns[i]'s mechanic is in its ids */
};

static struct {
    const char *host, *mechanics_file;
    double duration_s;
    int grace_ms, max_s;
} opt = {.host = "127.0.0.1", .duration_s = 10, .grace_ms = 2000, .max_s = 120};

static struct conn conns[MAX_CONNS];
static int nconns;
static struct watch watches[MAX_WATCH];
static int nwatches;
static int ep;
static struct sockaddr_in server;
static struct kmp kready, kevent;
static int64_t t_start, t_end, t_grace_end;
static long n_sent, n_ok, n_non200, n_errors;
static int first_bad_status;
static int32_t *lat_us; /* answer times of the accepted changes */
static size_t nlat, caplat;

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

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

static void usage(void)
{
    fprintf(stderr, "usage: presence_flip --mechanics FILE [--duration SEC] [--host ADDR]\n"
                    "  [--watch PORT:local|remote|all]... [--grace-ms MS] [--max-seconds SEC]\n");
    exit(2);
}

static void close_rst(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

static int connect_to(int port, bool nonblocking)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = server;
    a.sin_port = htons((uint16_t)port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool load_mechanics(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return false;
    }
    char line[2048];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!*line || *line == '#') continue;
        if (nconns == MAX_CONNS) {
            fprintf(stderr, "presence_flip: more than %d mechanics\n", MAX_CONNS);
            break;
        }
        char *save, *port = strtok_r(line, "\t", &save), *id = strtok_r(NULL, "\t", &save);
        char *cookie = strtok_r(NULL, "\t", &save), *csrf = strtok_r(NULL, "\t", &save);
        if (!port || !id || !cookie || !csrf || strlen(id) >= sizeof conns[0].id) {
            fprintf(stderr, "presence_flip: bad line in %s\n", path);
            continue;
        }
        struct conn *c = &conns[nconns++];
        c->port = atoi(port);
        snprintf(c->id, sizeof c->id, "%s", id);
        c->cookie = strdup(cookie);
        c->csrf = strdup(csrf);
        c->fd = -1;
    }
    fclose(f);
    return nconns > 0;
}

static void conn_drop(struct conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close_rst(c->fd);
    }
    c->fd = -1;
    c->st = C_IDLE;
    c->len = 0;
}

static void conn_open(struct conn *c)
{
    c->fd = connect_to(c->port, true);
    if (c->fd < 0) {
        n_errors++;
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)(c - conns)};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    c->st = C_CONNECTING;
}

static void conn_send(struct conn *c)
{
    const char *body = c->online ? "{\"status\":\"offline\"}" : "{\"status\":\"online\"}";
    char req[2048];
    int n = snprintf(req, sizeof req,
                     "POST /api/mechanic/presence HTTP/1.1\r\nHost: %s:%d\r\nCookie: %s\r\n"
                     "X-CSRF-Token: %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     opt.host, c->port, c->cookie, c->csrf, strlen(body), body);
    c->sent_at = now_ns();
    if (n <= 0 || n >= (int)sizeof req || write(c->fd, req, (size_t)n) != n) {
        n_errors++;
        conn_drop(c);
        return;
    }
    n_sent++;
    c->st = C_WAIT_ANSWER;
    c->len = 0;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)(c - conns)};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* A whole answer in c->buf: 1 (and *status, *close) when complete, 0 when not yet. */
static int answer_complete(struct conn *c, int *status, bool *close_after)
{
    c->buf[c->len] = '\0';
    char *end = strstr(c->buf, "\r\n\r\n");
    if (!end) return 0;
    *status = 0;
    sscanf(c->buf, "HTTP/1.%*d %d", status);
    size_t head = (size_t)(end + 4 - c->buf), body = 0;
    char *cl = strcasestr(c->buf, "\r\nContent-Length:");
    if (cl && cl < end) body = strtoul(cl + 17, NULL, 10);
    char *conn = strcasestr(c->buf, "\r\nConnection: close");
    *close_after = conn && conn < end;
    return c->len >= head + body;
}

static void conn_event(struct conn *c, uint32_t events)
{
    if (c->st == C_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err || (events & (EPOLLERR | EPOLLHUP))) {
            n_errors++;
            conn_drop(c);
            return;
        }
        conn_send(c);
        return;
    }
    if (c->st != C_WAIT_ANSWER) return;
    ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (r <= 0) {
        n_errors++;
        c->failed++;
        conn_drop(c);
        return;
    }
    c->len += (size_t)r;
    int status;
    bool close_after;
    if (!answer_complete(c, &status, &close_after)) {
        if (c->len >= sizeof c->buf - 1) { /* an answer this big is not ours */
            n_errors++;
            conn_drop(c);
        }
        return;
    }
    int64_t now = now_ns();
    if (now - c->sent_at > c->worst_ns) c->worst_ns = now - c->sent_at;
    if (status == 200) {
        n_ok++;
        c->ok++;
        c->online = !c->online;
        if (nlat == caplat) {
            caplat = caplat ? caplat * 2 : 65536;
            lat_us = realloc(lat_us, caplat * sizeof *lat_us);
            if (!lat_us) exit(1);
        }
        lat_us[nlat++] = (int32_t)((now - c->sent_at) / 1000);
    } else {
        n_non200++;
        c->failed++;
        if (!first_bad_status) {
            first_bad_status = status;
            fprintf(stderr, "presence_flip: first answer that is not 200: %.300s\n", c->buf);
        }
    }
    if (close_after) {
        conn_drop(c);
        if (now < t_end) conn_open(c);
    } else if (now < t_end) {
        conn_send(c);
    } else {
        c->st = C_IDLE; /* done: the connection stays open until the end */
    }
}

static bool watch_parse(const char *v)
{
    if (nwatches == MAX_WATCH) return false;
    struct watch *w = &watches[nwatches];
    char scope[16] = "";
    if (sscanf(v, "%d:%15s", &w->port, scope) != 2) return false;
    if (!strcmp(scope, "local")) w->scope = SCOPE_LOCAL;
    else if (!strcmp(scope, "remote")) w->scope = SCOPE_REMOTE;
    else if (!strcmp(scope, "all")) w->scope = SCOPE_ALL;
    else return false;
    w->fd = -1;
    nwatches++;
    return true;
}

static const char *scope_name(enum scope s)
{
    return s == SCOPE_LOCAL ? "local" : s == SCOPE_REMOTE ? "remote" : "all";
}

/* Opens the watch's stream (blocking connect, before the clock starts). */
static bool watch_open(struct watch *w, int index)
{
    char ids[STREAM_IDS_MAX * 65] = "";
    size_t used = 0;
    for (int i = 0; i < nconns && w->nids < STREAM_IDS_MAX; i++) {
        bool mine =
            w->scope == SCOPE_ALL || (w->scope == SCOPE_LOCAL) == (conns[i].port == w->port);
        if (!mine) continue;
        w->shows[i] = true;
        w->nids++;
        used +=
            (size_t)snprintf(ids + used, sizeof ids - used, "%s%s", used ? "," : "", conns[i].id);
    }
    if (!w->nids) {
        fprintf(stderr, "presence_flip: watch %d:%s shows no mechanic\n", w->port,
                scope_name(w->scope));
        return true; /* nothing to watch is not an error: it reports 0 of 0 */
    }
    w->fd = connect_to(w->port, false);
    if (w->fd < 0) return false;
    char req[STREAM_IDS_MAX * 65 + 256];
    int n = snprintf(req, sizeof req,
                     "GET /api/presence/stream?ids=%s HTTP/1.1\r\nHost: %s:%d\r\n"
                     "Accept: text/event-stream\r\n\r\n",
                     ids, opt.host, w->port);
    if (write(w->fd, req, (size_t)n) != n) return false;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP,
                             .data.u32 = WATCH_TAG | (uint32_t)index};
    epoll_ctl(ep, EPOLL_CTL_ADD, w->fd, &ev);
    return true;
}

static void watch_event(struct watch *w)
{
    char buf[16384];
    for (int rounds = 0; rounds < 16; rounds++) {
        ssize_t r = recv(w->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (r <= 0) {
            fprintf(stderr, "presence_flip: watch %d:%s: the stream closed\n", w->port,
                    scope_name(w->scope));
            epoll_ctl(ep, EPOLL_CTL_DEL, w->fd, NULL);
            close(w->fd);
            w->fd = -1;
            return;
        }
        size_t off = 0;
        if (!w->ready) {
            long m = kmp_feed(&kready, &w->rpos, buf, (size_t)r);
            if (m < 0) continue;
            w->ready = true;
            off = (size_t)m;
        }
        bool counting = t_start && now_ns() <= t_grace_end;
        while (off < (size_t)r) {
            long m = kmp_feed(&kevent, &w->epos, buf + off, (size_t)r - off);
            if (m < 0) break;
            if (counting) w->events++;
            off += (size_t)m;
        }
    }
}

static void pump(int timeout_ms)
{
    struct epoll_event evs[256];
    int n = epoll_wait(ep, evs, 256, timeout_ms);
    for (int i = 0; i < n; i++) {
        uint32_t tag = evs[i].data.u32;
        if (tag & WATCH_TAG) {
            struct watch *w = &watches[tag & ~WATCH_TAG];
            if (w->fd >= 0) watch_event(w);
        } else if (conns[tag].fd >= 0) {
            conn_event(&conns[tag], evs[i].events);
        }
    }
}

static bool all_answered(void)
{
    for (int i = 0; i < nconns; i++)
        if (conns[i].st != C_IDLE) return false;
    return true;
}

/* What each watch should get: every accepted change of a mechanic it shows. */
static void watches_expect(void)
{
    for (int w = 0; w < nwatches; w++) {
        watches[w].expected = 0;
        for (int i = 0; i < nconns; i++)
            if (watches[w].shows[i]) watches[w].expected += conns[i].ok;
    }
}

static bool watches_complete(void)
{
    for (int i = 0; i < nwatches; i++)
        if (watches[i].fd >= 0 && watches[i].events < watches[i].expected) return false;
    return true;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && (i++, 1))
        if (ARG("--mechanics")) opt.mechanics_file = v;
        else if (ARG("--duration")) opt.duration_s = atof(v);
        else if (ARG("--host")) opt.host = v;
        else if (ARG("--grace-ms")) opt.grace_ms = atoi(v);
        else if (ARG("--max-seconds")) opt.max_s = atoi(v);
        else if (ARG("--watch")) {
            if (!watch_parse(v)) usage();
        } else usage();
#undef ARG
    }
    if (!opt.mechanics_file || opt.duration_s <= 0) usage();
    server = (struct sockaddr_in){.sin_family = AF_INET};
    if (inet_pton(AF_INET, opt.host, &server.sin_addr) != 1) usage();
    if (!load_mechanics(opt.mechanics_file)) return 2;
    int64_t hard_end = now_ns() + (int64_t)opt.max_s * 1000000000;
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return 1;
    kmp_init(&kready, "event: snapshot");
    kmp_init(&kevent, "event: presence");

    /* the watches first, each past its snapshot (at most 5 s), so none misses the start */
    for (int i = 0; i < nwatches; i++)
        if (!watch_open(&watches[i], i)) {
            fprintf(stderr, "presence_flip: cannot open watch %d\n", watches[i].port);
            return 1;
        }
    int64_t ready_end = now_ns() + 5000000000LL;
    for (;;) {
        bool all = true;
        for (int i = 0; i < nwatches; i++)
            if (watches[i].fd >= 0 && !watches[i].ready) all = false;
        if (all || now_ns() >= ready_end) break;
        pump(20);
    }

    t_start = now_ns();
    t_end = t_start + (int64_t)(opt.duration_s * 1e9);
    t_grace_end = t_end + (int64_t)opt.grace_ms * 1000000;
    for (int i = 0; i < nconns; i++) conn_open(&conns[i]);
    while (now_ns() < t_end && now_ns() < hard_end) {
        pump(20);
        for (int i = 0; i < nconns; i++) /* a connection the server closed comes back */
            if (conns[i].fd < 0 && now_ns() < t_end) conn_open(&conns[i]);
    }
    double elapsed = (double)(now_ns() - t_start) / 1e9;
    long ok_at_end = n_ok;
    /* the answers still in flight, then the events still on their way: both within grace */
    for (int i = 0; i < nconns; i++)
        if (conns[i].st == C_CONNECTING) conn_drop(&conns[i]);
    while (now_ns() < t_grace_end && now_ns() < hard_end) {
        watches_expect();
        if (all_answered() && watches_complete()) break;
        pump(20);
    }
    watches_expect();

    qsort(lat_us, nlat, sizeof *lat_us, cmp_i32);
#define PCT(p) (nlat ? (double)lat_us[(size_t)((double)(nlat - 1) * (p) + 0.5)] / 1e3 : -1.0)
    char by_port[1024] = "";
    size_t used = 0;
    for (int i = 0; i < nconns; i++) {
        bool seen = false;
        for (int j = 0; j < i && !seen; j++) seen = conns[j].port == conns[i].port;
        if (seen) continue;
        long ok = 0;
        int64_t worst = 0;
        for (int j = i; j < nconns; j++)
            if (conns[j].port == conns[i].port) {
                ok += conns[j].ok;
                if (conns[j].worst_ns > worst) worst = conns[j].worst_ns;
            }
        used += (size_t)snprintf(by_port + used, sizeof by_port - used, "%s%d:%ld:%.0f",
                                 used ? "," : "", conns[i].port, ok, (double)worst / 1e6);
        if (used >= sizeof by_port) break;
    }
    printf("conns=%d duration_s=%.2f sent=%ld ok=%ld ok_in_window=%ld non200=%ld errors=%ld "
           "changes_per_s=%.1f answer_p50_ms=%.2f answer_p99_ms=%.2f answer_max_ms=%.2f "
           "by_port=%s",
           nconns, elapsed, n_sent, n_ok, ok_at_end, n_non200, n_errors,
           (double)ok_at_end / elapsed, PCT(0.50), PCT(0.99), nlat ? lat_us[nlat - 1] / 1e3 : -1.0,
           by_port);
    for (int w = 0; w < nwatches; w++) {
        const struct watch *x = &watches[w];
        const char *s = scope_name(x->scope);
        printf(" watch_%s_port=%d watch_%s_mechanics=%d watch_%s_events=%ld watch_%s_expected=%ld "
               "watch_%s_events_per_s=%.1f",
               s, x->port, s, x->nids, s, x->events, s, x->expected, s,
               (double)x->events / elapsed);
    }
    printf("\n");
    fflush(stdout);
    for (int i = 0; i < nconns; i++) conn_drop(&conns[i]);
    for (int w = 0; w < nwatches; w++)
        if (watches[w].fd >= 0) close_rst(watches[w].fd);
    return n_ok > 0 && !n_non200 && !n_errors ? 0 : 1;
}
