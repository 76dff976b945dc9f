/* libmicrohttpd in "external epoll" mode, driven by our own epoll loop on one thread.
 * The loop waits on MHD's epoll fd (which also carries MHD's inter-thread wake-up used by
 * MHD_resume_connection), a 1 s timerfd (the application's tick hook), a signalfd
 * (SIGTERM/SIGINT), the worker pools' eventfds and whatever the application adds through
 * its started hook (streams' sockets, PostgreSQL's listening connection): every descriptor's
 * epoll data is a struct pw_watch. One thread owns all state: no locks. This file knows
 * nothing of the product: routes, login and "seen" come from the application through
 * struct http_server (router, steps, hooks). */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <sodium.h>
#include <utlist.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/request_metrics.h"
#include "core/util.h"
#include "http/http.h"

#define DRAIN_MS 4000 /* SIGTERM: streams and in-flight requests get this long */

/* Every open connection (struct http_conn, http.h): draining shortens the idle ones'
 * timeout, guard.c counts each address's share and closes those past their deadline. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct http_conn *n = calloc(1, sizeof *n);
        if (!n) return;
        n->conn = conn;
        DL_APPEND(s->connections, n);
        s->connection_count++;
        http_guard_opened(s, n);
        *socket_context = n;
    } else if (*socket_context) {
        struct http_conn *n = *socket_context;
        http_guard_closed(s, n);
        DL_DELETE(s->connections, n);
        s->connection_count--;
        free(n);
        *socket_context = NULL;
    }
}

/* After SIGTERM a kept-alive connection with nothing in flight would hold the drain for its
 * whole idle timeout: give every connection a 1 s timeout (streams end on their own). */
size_t http_open_connections(const struct http_server *s)
{
    return s->connection_count;
}

static void shorten_timeouts(struct http_server *s)
{
    struct http_conn *n;
    DL_FOREACH(s->connections, n)
    MHD_set_connection_option(n->conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)1);
}

static struct http_request *request_new(struct http_server *s, struct MHD_Connection *conn,
                                        const char *uri)
{
    struct http_request *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->server = s;
    r->app = s->app;
    r->conn = conn;
    r->started_us = pw_monotonic_us();
    r->uri = strndup(uri ? uri : "/", HTTP_URI_MAX + 1);
    snprintf(r->request_id, sizeof r->request_id, "%08" PRIx32 "%08" PRIx64, s->request_prefix,
             ++s->request_counter & 0xffffffffu);
    return r;
}

static void request_free(struct http_request *r)
{
    if (!r) return;
    http_stream_release(r);
    if (r->state_free) r->state_free(r->state);
    if (r->response && !r->response_borrowed) MHD_destroy_response(r->response);
    pw_query_free(&r->query);
    free(r->user);
    free(r->login);
    free(r->uri);
    free(r->path);
    free(r->body);
    free(r);
}

/* The request line's target as libmicrohttpd hands it over (before it is split at '?' and
 * percent-decoded): in its read buffer, ended by the NUL written over the space before the
 * HTTP version, which ends the line. A byte of the target that is a control character
 * (a raw NUL included: it would cut the target short) breaks the framing. */
static const char *target_error(const char *uri)
{
    if (!uri) return NULL;
    for (const unsigned char *p = (const unsigned char *)uri; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return "The request line holds a control character or a space.";
    const char *end = uri + strlen(uri);
    /* a raw NUL: what follows the target's end is not the version and the line's end */
    if (strncmp(end + 1, "HTTP/1.", 7) != 0 || end[8] < '0' || end[8] > '9' || end[9] != '\0')
        return "The request line holds a control character.";
    return NULL;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct http_request *r = request_new(cls, conn, uri);
    if (r) r->framing_error = target_error(uri);
    return r;
}

struct head_check {
    int content_length, transfer_encoding;
    const char *te;
    const char *error;
};

static bool token_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* RFC 9112's framing, strictly: header names are tokens (no space before the colon, no
 * control byte), values hold no control byte but tab and are UTF-8, one Content-Length, and
 * Transfer-Encoding only as "chunked" and never with a Content-Length (§6.3). */
static enum MHD_Result check_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    struct head_check *h = cls;
    if (!key || !*key) {
        h->error = "A header has no name.";
        return MHD_NO;
    }
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        if (!token_char(*p)) {
            h->error = "A header name holds a character it may not (a space before the colon?).";
            return MHD_NO;
        }
    if (value) {
        for (const unsigned char *p = (const unsigned char *)value; *p; p++)
            if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
                h->error = "A header value holds a control character.";
                return MHD_NO;
            }
        if (!pw_utf8_valid(value, strlen(value))) {
            h->error = "A header value is not valid UTF-8.";
            return MHD_NO;
        }
    }
    if (strcasecmp(key, "Content-Length") == 0) h->content_length++;
    if (strcasecmp(key, "Transfer-Encoding") == 0) {
        h->transfer_encoding++;
        h->te = value;
    }
    return MHD_YES;
}

static const char *head_error(struct http_request *r, const char *version)
{
    if (!version || (strcmp(version, "HTTP/1.1") != 0 && strcmp(version, "HTTP/1.0") != 0))
        return "Only HTTP/1.0 and HTTP/1.1 are spoken here.";
    struct head_check h = {0};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, check_header, &h);
    if (h.error) return h.error;
    if (h.content_length > 1) return "The request has more than one Content-Length.";
    if (h.transfer_encoding && h.content_length)
        return "The request has both Content-Length and Transfer-Encoding.";
    if (h.transfer_encoding > 1 || (h.te && strcasecmp(h.te, "chunked") != 0))
        return "The only Transfer-Encoding accepted is \"chunked\".";
    return NULL;
}

static enum http_method parse_method(const char *m)
{
    static const char *names[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"};
    for (int i = 0; i < 6; i++)
        if (strcmp(m, names[i]) == 0) return (enum http_method)i;
    return HTTP_OTHER;
}

static void first_call(struct http_request *r, const char *url, const char *method,
                       const char *version)
{
    r->method = parse_method(method);
    r->path = strdup(url ? url : "/");
    if (!r->framing_error) r->framing_error = head_error(r, version);
    const char *q = r->uri ? strchr(r->uri, '?') : NULL;
    if (q && !pw_query_parse(q + 1, strlen(q + 1), &r->query, &r->query_error) && !r->query_error)
        r->query_error = "the query string could not be read";
    const char *cl = http_header(r, "Content-Length");
    int64_t n;
    bool over;
    if (cl && pw_parse_digits(cl, &n, &over) && (over || n > HTTP_BODY_MAX))
        r->body_too_large = true;
}

static void append_body(struct http_request *r, const char *data, size_t len)
{
    if (r->body_too_large) return;
    if (r->body_len + len > HTTP_BODY_MAX) {
        r->body_too_large = true;
        return;
    }
    if (r->body_len + len + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 1024;
        while (cap < r->body_len + len + 1) cap *= 2;
        char *b = realloc(r->body, cap);
        if (!b) {
            r->body_too_large = true;
            return;
        }
        r->body = b;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
}

static void dispatch(struct http_request *r)
{
    struct http_server *s = r->server;
    http_guard_answering(r->conn); /* the request is in: its deadline no longer runs */
    if (r->framing_error) {
        /* the rest of the connection cannot be trusted to be what it seems (a request hidden
         * in a body): answer and close */
        r->route = "(bad framing)";
        http_error(r, PW_EINVAL, r->framing_error);
        if (r->response) MHD_add_response_header(r->response, "Connection", "close");
        return;
    }
    /* the decoded path: text (a %00 would cut it, bytes that are not UTF-8 are not a path) */
    if (!pw_utf8_valid(r->path, strlen(r->path)) || (r->uri && strstr(r->uri, "%00"))) {
        r->route = "(bad path)";
        http_error(r, PW_EINVAL, "The path is not valid UTF-8 text.");
        return;
    }
    if (r->body_too_large) {
        r->route = "(too large)";
        /* the limits come from the constants, the code and status from the one error list */
        http_errorf(r, PW_ETOOLARGE, "The request body is larger than %d KiB.",
                    HTTP_BODY_MAX / 1024);
        return;
    }
    if (r->uri && strlen(r->uri) > HTTP_URI_MAX) {
        r->route = "(uri too long)";
        http_errorf(r, PW_EURITOOLONG, "The request line is longer than %d characters.",
                    HTTP_URI_MAX);
        return;
    }
    if (s->draining) {
        /* a request on a kept-alive connection after SIGTERM: no new work, and above all no
         * new stream (a suspended connection must not outlive the drain) */
        r->route = "(draining)";
        http_error(r, PW_EUNAVAILABLE, "The server is restarting; try again in a moment.");
        if (r->response) MHD_add_response_header(r->response, "Connection", "close");
        return;
    }
    bool path_known = false;
    http_handler h = http_router_find(&s->router, r, &path_known);
    if (h) {
        pw_log_set_request(r->request_id); /* routing steps logged by the handler carry it */
        h(r);
        pw_log_set_request(NULL);
    } else if (path_known) {
        http_error(r, PW_EMETHOD, NULL);
    } else if (strncmp(r->path, "/api/", 5) == 0 || strcmp(r->path, "/api") == 0) {
        r->route = "(unknown api)";
        http_error(r, PW_ENOTFOUND, "No such endpoint.");
    } else {
        r->route = "(static)";
        http_static(r);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct http_request *r = *con_cls;
    if (!r) {
        r = request_new(cls, conn, url);
        if (!r) return MHD_NO;
        *con_cls = r;
    }
    if (!r->path) {
        first_call(r, url, method, version);
        if (!r->body_too_large && !r->framing_error) return MHD_YES;
        /* refuse a declared oversize body, or a broken head, before reading the body */
        dispatch(r);
    } else if (*upload_data_size) {
        append_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    } else if (!r->response) {
        dispatch(r);
    }
    if (r->suspended) return MHD_YES; /* a worker will answer; we are called again then */
    if (!r->response) http_error(r, PW_EINTERNAL, "The handler gave no answer.");
    if (!r->response) return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(conn, r->status, r->response);
    if (!r->response_borrowed) MHD_destroy_response(r->response);
    r->response = NULL;
    if (r->is_stream) { /* a stream lives long: keep only what the final log line needs */
        pw_query_free(&r->query);
        free(r->user);
        free(r->login);
        r->user = NULL;
        r->login = NULL;
        r->has_user = false;
        free(r->uri);
        r->uri = NULL;
        free(r->body);
        r->body = NULL;
        r->body_cap = r->body_len = 0;
    }
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    http_guard_waiting(conn); /* the next request on this connection has its deadline */
    struct http_request *r = *con_cls;
    if (!r) return;
    if (r->path)
        pw_request_metrics_add(&r->server->metrics, r->route, r->status,
                               pw_monotonic_us() - r->started_us);
    if (r->path && pw_log_enabled(PW_LOG_INFO)) {
        static const char *methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OTHER"};
        double ms = (double)(pw_monotonic_us() - r->started_us) / 1000.0;
        char client[64];
        http_client_addr(r, client, sizeof client);
        pw_log(PW_LOG_INFO, "request",
               json_pack("{s:s, s:s, s:s, s:s, s:i, s:f, s:b, s:s}", "request_id", r->request_id,
                         "method", methods[r->method], "path", r->path, "route",
                         r->route ? r->route : "-", "status", (int)r->status, "ms", ms, "completed",
                         toe == MHD_REQUEST_TERMINATED_COMPLETED_OK, "client", client));
    }
    request_free(r);
    *con_cls = NULL;
}

static bool listen_addr(const struct pw_config *c, struct sockaddr_storage *ss, bool *v6)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *res;
    char port[8];
    snprintf(port, sizeof port, "%d", c->listen_port);
    if (getaddrinfo(c->listen_host, port, &hints, &res) != 0) return false;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return true;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    /* mostly about one connection (refused, reset, timed out): an attacker's many would
     * fill the disk */
    if (!http_log_allowed(cls)) return;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = '\0';
    pw_log(PW_LOG_WARN, "libmicrohttpd", json_pack("{s:s}", "detail", buf));
}

static int add_fd(int ep, int fd, struct pw_watch *w)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = w};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* The loop's own descriptors. MHD's epoll fd needs nothing here: MHD_run follows. */
static void on_mhd(struct pw_watch *w, uint32_t events)
{
    (void)w;
    (void)events;
}

static void on_timer(struct pw_watch *w, uint32_t events)
{
    (void)events;
    struct http_server *s = pw_container_of(w, struct http_server, timer_watch);
    uint64_t ticks;
    if (read(s->timer_fd, &ticks, sizeof ticks) <= 0) return;
    http_guard_sweep(s);
    if (!s->draining && s->hooks.tick) s->hooks.tick(s->hooks.ctx);
}

static void on_signal(struct pw_watch *w, uint32_t events)
{
    (void)events;
    struct http_server *s = pw_container_of(w, struct http_server, signal_watch);
    struct signalfd_siginfo si;
    while (read(s->signal_fd, &si, sizeof si) == sizeof si) {
        if (s->draining) continue;
        pw_log(PW_LOG_INFO, "draining", json_pack("{s:i}", "signal", (int)si.ssi_signo));
        s->draining = true;
        s->drain_deadline_ms = pw_monotonic_us() / 1000 + DRAIN_MS;
        MHD_socket ls = MHD_quiesce_daemon(s->daemon); /* accept no new connections */
        if (ls != MHD_INVALID_SOCKET) close(ls);
        if (s->hooks.drain) s->hooks.drain(s->hooks.ctx); /* streams end once written */
        shorten_timeouts(s);
    }
}

static void on_workers(struct pw_watch *w, uint32_t events)
{
    (void)events;
    struct http_server *s = pw_container_of(w, struct http_server, workers_watch);
    pw_workers_drain(s->workers);
}

static void on_io_workers(struct pw_watch *w, uint32_t events)
{
    (void)events;
    struct http_server *s = pw_container_of(w, struct http_server, io_workers_watch);
    pw_workers_drain(s->io_workers);
}

static size_t hook_count(struct http_server *s, size_t (*fn)(void *ctx))
{
    return fn ? fn(s->hooks.ctx) : 0;
}

int http_serve(struct http_server *s)
{
    int rc = 1;
    const struct pw_config *cfg = s->cfg;
    s->request_prefix = randombytes_random();
    struct sockaddr_storage ss;
    bool v6 = false;
    if (!listen_addr(cfg, &ss, &v6)) {
        pw_logf(PW_LOG_ERROR, "cannot resolve listen address %s", cfg->listen_host);
        return 1;
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);

    unsigned flags =
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)cfg->listen_port, http_guard_accept, s, on_request, s,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, /* first, so every message goes through it */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        /* guard.c closes new connections at max_connections, so that MHD's own limit (where
         * it would stop accepting and leave clients in the backlog) is never reached */
        s, MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections + 64,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
        /* a small pool per connection keeps idle streams cheap (8 KiB: see BENCHMARKS.md); it
         * also bounds the request line and headers (MHD answers 414/431 beyond it) */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)8192, MHD_OPTION_LISTEN_BACKLOG_SIZE,
        (unsigned)4096, MHD_OPTION_END);
    if (!d) {
        pw_logf(PW_LOG_ERROR, "cannot listen on %s:%d (%s)", cfg->listen_host, cfg->listen_port,
                strerror(errno));
        return 1;
    }
    s->daemon = d;

    s->mhd_watch.cb = on_mhd;
    s->timer_watch.cb = on_timer;
    s->signal_watch.cb = on_signal;
    s->workers_watch.cb = on_workers;
    s->io_workers_watch.cb = on_io_workers;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int mhd_fd = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD)->epoll_fd;
    int tfd = s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct itimerspec its = {.it_interval = {1, 0}, .it_value = {1, 0}};
    timerfd_settime(tfd, 0, &its, NULL);
    int sfd = s->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    int wfd = pw_workers_fd(s->workers), iofd = pw_workers_fd(s->io_workers);
    if (ep < 0 || tfd < 0 || sfd < 0 || add_fd(ep, mhd_fd, &s->mhd_watch) ||
        add_fd(ep, tfd, &s->timer_watch) || add_fd(ep, sfd, &s->signal_watch) ||
        add_fd(ep, wfd, &s->workers_watch) || add_fd(ep, iofd, &s->io_workers_watch)) {
        pw_logf(PW_LOG_ERROR, "cannot set up the event loop: %s", strerror(errno));
        goto out;
    }
    if (s->hooks.started) s->hooks.started(s->hooks.ctx, ep);
    pw_log(PW_LOG_INFO, "listening",
           json_pack("{s:s, s:i, s:s}", "host", cfg->listen_host, "port", cfg->listen_port,
                     "public_url", cfg->public_url));

    for (;;) {
        int timeout = 1000;
        MHD_UNSIGNED_LONG_LONG mhd_to;
        if (MHD_get_timeout(d, &mhd_to) == MHD_YES && mhd_to < (MHD_UNSIGNED_LONG_LONG)timeout)
            timeout = (int)mhd_to;
        if (s->drain_deadline_ms) timeout = timeout > 100 ? 100 : timeout;
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, timeout);
        for (int i = 0; i < n; i++) {
            struct pw_watch *w = evs[i].data.ptr;
            w->cb(w, evs[i].events);
        }
        MHD_run(d);
        /* streams woken inside MHD_run (an event published by a request) are only picked up
         * by the next MHD_run: run it now rather than after the next wake-up of epoll */
        for (int again = 0; again < 4 && hook_count(s, s->hooks.woken) > 0; again++) MHD_run(d);
        if (s->drain_deadline_ms) {
            const union MHD_DaemonInfo *info =
                MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
            if ((info && info->num_connections == 0) ||
                pw_monotonic_us() / 1000 >= s->drain_deadline_ms)
                break;
        }
    }
    rc = 0;
out:
    /* the application finishes its deferred work (worker jobs resume their requests) in its
     * stop hook, and every stream is resumed by the drain hook: MHD_stop_daemon must see no
     * suspended connection. */
    if (s->hooks.stop) s->hooks.stop(s->hooks.ctx);
    s->workers = NULL;
    s->io_workers = NULL;
    for (int i = 0; i < 100; i++) { /* resumed connections leave MHD's suspended list in MHD_run */
        if (s->hooks.drain) s->hooks.drain(s->hooks.ctx);
        MHD_run(d);
        if (hook_count(s, s->hooks.parked) == 0) break;
    }
    MHD_run(d);
    MHD_stop_daemon(d);
    s->daemon = NULL;
    http_guard_free(s);
    http_static_cache_free(s->static_cache); /* no response holds its bytes any more */
    s->static_cache = NULL;
    if (s->hooks.stopped) s->hooks.stopped(s->hooks.ctx);
    if (ep >= 0) close(ep);
    if (tfd >= 0) close(tfd);
    if (sfd >= 0) close(sfd);
    pw_log(PW_LOG_INFO, "stopped", NULL);
    return rc;
}
