/* Fair shares of the connection table (docs/internals/connections.md). One address must not
 * take the server down: each client address may hold so many connections and so many
 * streams; a request's head and body must arrive within one deadline (not an idle timer that
 * any trickled byte resets); at the global limit a new connection is closed at once instead
 * of waiting in the listen backlog; anonymous streams never take the last share of the table,
 * which stays for logged-in users (the mechanics' dashboards). Lines about refused and
 * timed-out connections are rate-limited. Everything here runs on the event loop's thread. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <uthash.h>
#include <utlist.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "http/http.h"

/* One client address: its connections (by socket peer) and streams (by client address,
 * X-Forwarded-For included behind a trusted proxy). Freed when both reach zero. */
struct http_addr {
    char key[INET6_ADDRSTRLEN];
    unsigned conns, streams;
    UT_hash_handle hh;
};

/* The text of a socket address; IPv4-mapped IPv6 as IPv4, so that one client is one key. */
static void addr_text(const struct sockaddr *sa, char out[INET6_ADDRSTRLEN])
{
    out[0] = '\0';
    if (!sa) return;
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, INET6_ADDRSTRLEN);
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) inet_ntop(AF_INET, &a->s6_addr[12], out, INET6_ADDRSTRLEN);
        else inet_ntop(AF_INET6, a, out, INET6_ADDRSTRLEN);
    }
}

static struct http_addr *addr_find(struct http_server *s, const char *key)
{
    struct http_addr *a = NULL;
    HASH_FIND_STR(s->guard.addrs, key, a);
    return a;
}

static struct http_addr *addr_get(struct http_server *s, const char *key)
{
    struct http_addr *a = addr_find(s, key);
    if (a) return a;
    a = calloc(1, sizeof *a);
    if (!a) return NULL;
    snprintf(a->key, sizeof a->key, "%s", key);
    HASH_ADD_STR(s->guard.addrs, key, a);
    return a;
}

static void addr_put(struct http_server *s, struct http_addr *a)
{
    if (!a || a->conns || a->streams) return;
    HASH_DEL(s->guard.addrs, a);
    free(a);
}

bool http_log_allowed(struct http_server *s)
{
    struct http_log_budget *b = &s->guard.log;
    int64_t now = pw_monotonic_us() / 1000;
    if (now - b->window_start_ms >= HTTP_LOG_WINDOW_MS) {
        if (b->suppressed)
            pw_log(PW_LOG_WARN, "connection messages suppressed",
                   json_pack("{s:I, s:i}", "count", (json_int_t)b->suppressed, "seconds",
                             HTTP_LOG_WINDOW_MS / 1000));
        b->window_start_ms = now;
        b->logged = 0;
        b->suppressed = 0;
    }
    if (b->logged < HTTP_LOG_PER_WINDOW) {
        b->logged++;
        return true;
    }
    b->suppressed++;
    return false;
}

static void refused(struct http_server *s, const char *why, const char *addr)
{
    if (http_log_allowed(s))
        pw_log(PW_LOG_WARN, "connection refused",
               json_pack("{s:s, s:s}", "reason", why, "client", addr));
}

/* libmicrohttpd's accept policy: called for each accepted socket before it becomes a
 * connection; MHD_NO closes it at once. */
enum MHD_Result http_guard_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void)addrlen;
    struct http_server *s = cls;
    const struct pw_config *cfg = s->cfg;
    char key[INET6_ADDRSTRLEN];
    addr_text(addr, key);
    if (s->connection_count >= (size_t)cfg->max_connections) {
        s->guard.refused_full++;
        refused(s, "server full", key);
        return MHD_NO;
    }
    if (cfg->max_connections_per_address > 0 &&
        !(*cfg->trusted_proxies && pw_config_addr_in(cfg->trusted_proxies, key))) {
        struct http_addr *a = addr_find(s, key);
        if (a && a->conns >= (unsigned)cfg->max_connections_per_address) {
            s->guard.refused_address++;
            refused(s, "too many connections from this address", key);
            return MHD_NO;
        }
    }
    return MHD_YES;
}

void http_guard_opened(struct http_server *s, struct http_conn *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char key[INET6_ADDRSTRLEN];
    addr_text(ci ? ci->client_addr : NULL, key);
    const char *trusted = s->cfg->trusted_proxies;
    /* a trusted proxy's connections are its clients': the proxy limits them (limit_conn) */
    if (!(*trusted && pw_config_addr_in(trusted, key))) {
        c->peer = addr_get(s, key);
        if (c->peer) c->peer->conns++;
    }
    c->reading_since_ms = pw_monotonic_us() / 1000;
}

void http_guard_closed(struct http_server *s, struct http_conn *c)
{
    if (c->peer) {
        c->peer->conns--;
        addr_put(s, c->peer);
        c->peer = NULL;
    }
}

static struct http_conn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void http_guard_answering(struct MHD_Connection *conn)
{
    struct http_conn *c = conn_of(conn);
    if (c) c->reading_since_ms = 0;
}

void http_guard_waiting(struct MHD_Connection *conn)
{
    struct http_conn *c = conn_of(conn);
    if (c) c->reading_since_ms = pw_monotonic_us() / 1000;
}

/* Once a second: a connection whose request (or the next one on a kept-alive connection) has
 * not arrived whole within the deadline is shut down; libmicrohttpd then reads the end of the
 * stream and closes it as any other. */
void http_guard_sweep(struct http_server *s)
{
    int64_t limit_ms = (int64_t)s->cfg->request_timeout_s * 1000;
    int64_t now = pw_monotonic_us() / 1000;
    struct http_conn *c;
    DL_FOREACH(s->connections, c)
    {
        if (!c->reading_since_ms || now - c->reading_since_ms < limit_ms) continue;
        c->reading_since_ms = 0;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci) continue;
        shutdown(ci->connect_fd, SHUT_RDWR);
        s->guard.timed_out++;
        if (http_log_allowed(s))
            pw_log(PW_LOG_INFO, "connection timed out",
                   json_pack("{s:s, s:i}", "client", c->peer ? c->peer->key : "(proxy)",
                             "request_timeout_s", s->cfg->request_timeout_s));
    }
}

static void refuse_stream(struct http_request *r, pw_err e, const char *message)
{
    r->server->guard.streams_refused++;
    r->route = r->route ? r->route : "(stream refused)";
    http_error(r, e, message);
    if (r->response) MHD_add_response_header(r->response, "Retry-After", "10");
}

bool http_stream_admit(struct http_request *r)
{
    struct http_server *s = r->server;
    const struct pw_config *cfg = s->cfg;
    http_auth_optional(r);
    char key[INET6_ADDRSTRLEN + 8];
    http_client_addr(r, key, sizeof key);
    struct http_addr *a = addr_get(s, key);
    if (!a) {
        http_error(r, PW_EINTERNAL, NULL);
        return false;
    }
    if (cfg->max_streams_per_address > 0 && a->streams >= (unsigned)cfg->max_streams_per_address) {
        addr_put(s, a);
        refuse_stream(r, PW_ETHROTTLED, "Too many open streams from your address.");
        return false;
    }
    bool anonymous = !r->has_user;
    size_t anon_cap = (size_t)cfg->max_connections * (100 - (size_t)cfg->reserved_percent) / 100;
    if (anonymous && s->guard.anonymous_streams >= anon_cap) {
        addr_put(s, a);
        refuse_stream(r, PW_EUNAVAILABLE,
                      "The server is busy; live updates will come back in a moment.");
        return false;
    }
    a->streams++;
    if (anonymous) s->guard.anonymous_streams++;
    r->stream_addr = a;
    r->stream_anonymous = anonymous;
    return true;
}

void http_stream_release(struct http_request *r)
{
    struct http_addr *a = r->stream_addr;
    if (!a) return;
    a->streams--;
    if (r->stream_anonymous) r->server->guard.anonymous_streams--;
    r->stream_addr = NULL;
    addr_put(r->server, a);
}

void http_guard_free(struct http_server *s)
{
    struct http_addr *a, *tmp;
    HASH_ITER(hh, s->guard.addrs, a, tmp)
    {
        HASH_DEL(s->guard.addrs, a);
        free(a);
    }
}
