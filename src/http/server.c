/* libmicrohttpd in "external epoll" mode, driven by our own epoll loop on one thread.
 * The loop waits on MHD's epoll fd (which also carries MHD's inter-thread wake-up used by
 * MHD_resume_connection), a 1 s timerfd (presence sweep, keep-alives), a signalfd
 * (SIGTERM/SIGINT), the worker pools' eventfds and, on PostgreSQL, the listening
 * connection's socket (other nodes' events). One thread owns all state: no locks. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <sodium.h>
#include <utlist.h>

#include "app.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "http/http.h"
#include "payments/stripe.h"
#include "store/store.h"
#include "stream/hub.h"
#include "stream/sse.h"

#define DRAIN_MS 4000 /* SIGTERM: streams and in-flight requests get this long */

/* Every open connection, so that draining can shorten the idle ones' timeout. */
struct conn_node {
    struct MHD_Connection *conn;
    struct conn_node *prev, *next;
};
static struct conn_node *connections;
static size_t connection_count;

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn_node *n = calloc(1, sizeof *n);
        if (!n) return;
        n->conn = conn;
        DL_APPEND(connections, n);
        connection_count++;
        *socket_context = n;
    } else if (*socket_context) {
        struct conn_node *n = *socket_context;
        DL_DELETE(connections, n);
        connection_count--;
        free(n);
        *socket_context = NULL;
    }
}

/* After SIGTERM a kept-alive connection with nothing in flight would hold the drain for its
 * whole idle timeout: give every connection a 1 s timeout (streams end on their own). */
size_t http_open_connections(void)
{
    return connection_count;
}

static void shorten_timeouts(void)
{
    struct conn_node *n;
    DL_FOREACH(connections, n)
    MHD_set_connection_option(n->conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)1);
}

static uint64_t request_counter;
static uint32_t request_prefix;

static struct http_request *request_new(struct pw_app *app, struct MHD_Connection *conn,
                                        const char *uri)
{
    struct http_request *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->app = app;
    r->conn = conn;
    r->started_us = pw_monotonic_us();
    r->uri = strndup(uri ? uri : "/", HTTP_URI_MAX + 1);
    snprintf(r->request_id, sizeof r->request_id, "%08" PRIx32 "%08" PRIx64, request_prefix,
             ++request_counter & 0xffffffffu);
    return r;
}

static void request_free(struct http_request *r)
{
    if (!r) return;
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

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    return request_new(cls, conn, uri);
}

static enum http_method parse_method(const char *m)
{
    static const char *names[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"};
    for (int i = 0; i < 6; i++)
        if (strcmp(m, names[i]) == 0) return (enum http_method)i;
    return HTTP_OTHER;
}

static void first_call(struct http_request *r, const char *url, const char *method)
{
    r->method = parse_method(method);
    r->path = strdup(url ? url : "/");
    const char *q = r->uri ? strchr(r->uri, '?') : NULL;
    if (q && !pw_query_parse(q + 1, strlen(q + 1), &r->query, &r->query_error) &&
        !r->query_error)
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
    struct pw_app *app = r->app;
    app->stats.requests++;
    if (r->body_too_large) {
        r->route = "(too large)";
        http_error(r, PW_ETOOLARGE, NULL);
        return;
    }
    if (r->uri && strlen(r->uri) > HTTP_URI_MAX) {
        r->route = "(uri too long)";
        http_json(r, 414,
                  json_pack("{s:s, s:s}", "error", "uri_too_long", "message",
                            "The request line is longer than 4096 characters."));
        return;
    }
    if (app->draining) {
        /* a request on a kept-alive connection after SIGTERM: no new work, and above all no
         * new stream (a suspended connection must not outlive the drain) */
        r->route = "(draining)";
        http_error(r, PW_EUNAVAILABLE, "The server is restarting; try again in a moment.");
        if (r->response) MHD_add_response_header(r->response, "Connection", "close");
        return;
    }
    bool path_known = false;
    http_handler h = http_router_find(&app->http.router, r, &path_known);
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
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    struct http_request *r = *con_cls;
    if (!r) {
        r = request_new(cls, conn, url);
        if (!r) return MHD_NO;
        *con_cls = r;
    }
    if (!r->path) {
        first_call(r, url, method);
        if (!r->body_too_large) return MHD_YES;
        /* refuse a declared oversize body before reading it */
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
    (void)conn;
    struct http_request *r = *con_cls;
    if (!r) return;
    if (r->path) pw_metrics_request(r->route, r->status, pw_monotonic_us() - r->started_us);
    if (r->path && pw_log_enabled(PW_LOG_INFO)) {
        static const char *methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OTHER"};
        double ms = (double)(pw_monotonic_us() - r->started_us) / 1000.0;
        char client[64];
        http_client_addr(r, client, sizeof client);
        pw_log(PW_LOG_INFO, "request",
               json_pack("{s:s, s:s, s:s, s:s, s:i, s:f, s:b, s:s}", "request_id", r->request_id,
                         "method", methods[r->method], "path", r->path, "route",
                         r->route ? r->route : "-", "status", (int)r->status, "ms", ms,
                         "completed", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK, "client",
                         client));
    }
    request_free(r);
    *con_cls = NULL;
}

static bool listen_addr(const struct pw_config *c, struct sockaddr_storage *ss, bool *v6)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
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
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = '\0';
    pw_log(PW_LOG_WARN, "libmicrohttpd", json_pack("{s:s}", "detail", buf));
}

/* The loop's own descriptors carry these markers as data.ptr; any other pointer is a
 * stream whose peer hung up (see pw_stream_watch_init). */
static char mark_mhd, mark_timer, mark_signal, mark_workers, mark_io_workers, mark_listen;

static int add_fd(int ep, int fd, void *mark)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = mark};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* PostgreSQL's listening connection: (re)registered whenever the store has a new one. */
struct listen_reg {
    int fd;
    unsigned gen;
};

static void listen_register(int ep, struct pw_app *app, struct listen_reg *reg)
{
    unsigned gen = 0;
    int fd = store_listen_fd(app->store, &gen);
    if (fd == reg->fd && gen == reg->gen) return;
    if (reg->fd >= 0) epoll_ctl(ep, EPOLL_CTL_DEL, reg->fd, NULL); /* gone already if closed */
    reg->fd = -1;
    if (fd >= 0 && add_fd(ep, fd, &mark_listen) == 0) reg->fd = fd;
    reg->gen = gen;
}

int http_serve(struct pw_app *app)
{
    int rc = 1;
    request_prefix = randombytes_random();
    struct sockaddr_storage ss;
    bool v6 = false;
    if (!listen_addr(&app->cfg, &ss, &v6)) {
        pw_logf(PW_LOG_ERROR, "cannot resolve listen address %s", app->cfg.listen_host);
        return 1;
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);

    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
                     (v6 ? MHD_USE_IPv6 : 0);
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)app->cfg.listen_port, NULL, NULL, on_request, app,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, /* first, so every message goes through it */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, app,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, app,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, app,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)app->cfg.max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
        /* a small pool per connection keeps idle streams cheap (8 KiB: see BENCHMARKS.md); it
         * also bounds the request line and headers (MHD answers 414/431 beyond it) */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)8192,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096,
        MHD_OPTION_END);
    if (!d) {
        pw_logf(PW_LOG_ERROR, "cannot listen on %s:%d (%s)", app->cfg.listen_host,
                app->cfg.listen_port, strerror(errno));
        return 1;
    }

    int ep = epoll_create1(EPOLL_CLOEXEC);
    int mhd_fd = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD)->epoll_fd;
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct itimerspec its = {.it_interval = {1, 0}, .it_value = {1, 0}};
    timerfd_settime(tfd, 0, &its, NULL);
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    int wfd = pw_workers_fd(app->workers), iofd = pw_workers_fd(app->io_workers);
    if (ep < 0 || tfd < 0 || sfd < 0 || add_fd(ep, mhd_fd, &mark_mhd) ||
        add_fd(ep, tfd, &mark_timer) || add_fd(ep, sfd, &mark_signal) ||
        add_fd(ep, wfd, &mark_workers) || add_fd(ep, iofd, &mark_io_workers)) {
        pw_logf(PW_LOG_ERROR, "cannot set up the event loop: %s", strerror(errno));
        goto out;
    }
    pw_stream_watch_init(ep);
    struct listen_reg listen_reg = {-1, 0};
    listen_register(ep, app, &listen_reg);
    pw_log(PW_LOG_INFO, "listening",
           json_pack("{s:s, s:i, s:s}", "host", app->cfg.listen_host, "port",
                     app->cfg.listen_port, "public_url", app->cfg.public_url));

    int64_t drain_deadline = 0;
    for (;;) {
        int timeout = 1000;
        MHD_UNSIGNED_LONG_LONG mhd_to;
        if (MHD_get_timeout(d, &mhd_to) == MHD_YES && mhd_to < (MHD_UNSIGNED_LONG_LONG)timeout)
            timeout = (int)mhd_to;
        if (drain_deadline) timeout = timeout > 100 ? 100 : timeout;
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, timeout);
        for (int i = 0; i < n; i++) {
            void *mark = evs[i].data.ptr;
            if (mark == &mark_mhd) {
                /* handled by MHD_run below */
            } else if (mark == &mark_timer) {
                uint64_t ticks;
                if (read(tfd, &ticks, sizeof ticks) > 0 && !app->draining) {
                    pw_app_tick(app);
                    listen_register(ep, app, &listen_reg);
                }
            } else if (mark == &mark_listen) {
                pw_follow_notified(&app->follow);
                listen_register(ep, app, &listen_reg); /* a lost one was replaced */
            } else if (mark == &mark_signal) {
                struct signalfd_siginfo si;
                while (read(sfd, &si, sizeof si) == sizeof si) {
                    if (app->draining) continue;
                    pw_log(PW_LOG_INFO, "draining", json_pack("{s:i}", "signal", (int)si.ssi_signo));
                    app->draining = true;
                    drain_deadline = pw_monotonic_us() / 1000 + DRAIN_MS;
                    MHD_socket ls = MHD_quiesce_daemon(d); /* accept no new connections */
                    if (ls != MHD_INVALID_SOCKET) close(ls);
                    pw_hub_close_all(app->hub); /* streams end once their queue is written */
                    shorten_timeouts();
                }
            } else if (mark == &mark_workers) {
                pw_workers_drain(app->workers);
            } else if (mark == &mark_io_workers) {
                pw_workers_drain(app->io_workers);
            } else {
                pw_stream_peer_closed(mark);
            }
        }
        MHD_run(d);
        /* streams woken inside MHD_run (an event published by a request) are only picked up
         * by the next MHD_run: run it now rather than after the next wake-up of epoll */
        for (int again = 0; again < 4 && pw_stream_take_resumed() > 0; again++) MHD_run(d);
        if (drain_deadline) {
            const union MHD_DaemonInfo *info =
                MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
            if ((info && info->num_connections == 0) ||
                pw_monotonic_us() / 1000 >= drain_deadline)
                break;
        }
    }
    rc = 0;
out:
    /* every stream was resumed by pw_hub_close_all, and worker jobs finish (and resume their
     * requests) in pw_workers_stop: MHD_stop_daemon must see no suspended connection. A
     * Stripe call still waiting for its answer would hold that up to its 15 s timeout: it
     * fails now instead (the session is cancelled, nothing was charged). */
    pw_stripe_give_up(true);
    pw_workers_stop(app->workers);
    pw_workers_stop(app->io_workers);
    app->workers = NULL;
    app->io_workers = NULL;
    for (int i = 0; i < 100; i++) { /* resumed connections leave MHD's suspended list in MHD_run */
        pw_hub_close_all(app->hub);
        MHD_run(d);
        if (pw_stream_suspended_count() == 0) break;
    }
    MHD_run(d);
    MHD_stop_daemon(d);
    http_static_cache_free(app->static_cache); /* no response holds its bytes any more */
    app->static_cache = NULL;
    pw_stream_watch_init(-1);
    if (ep >= 0) close(ep);
    if (tfd >= 0) close(tfd);
    if (sfd >= 0) close(sfd);
    pw_log(PW_LOG_INFO, "stopped", NULL);
    return rc;
}
