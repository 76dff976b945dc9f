/* The HTTP layer's view of one request, and the helpers handlers use to read it and to
 * answer. Handlers never touch libmicrohttpd's response calls for JSON: every error goes
 * through http_error(), which is the one place the {"error","message"} shape is made. */
#ifndef PW_HTTP_H
#define PW_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "core/config.h"
#include "core/error.h"
#include "core/request_metrics.h"
#include "core/model.h"
#include "core/query.h"
#include "core/watch.h"
#include "core/workers.h"

struct pw_app;

#define HTTP_BODY_MAX (64 * 1024)
#define HTTP_URI_MAX 4096

enum http_method { HTTP_GET, HTTP_HEAD, HTTP_POST, HTTP_PUT, HTTP_PATCH, HTTP_DELETE, HTTP_OTHER };

struct http_server;

struct http_request {
    struct http_server *server;
    struct pw_app *app; /* the application's, for its handlers (never read by http/) */
    struct MHD_Connection *conn;
    enum http_method method;
    char *uri;  /* raw, with the query string */
    char *path; /* decoded-free path part of uri (owned) */
    struct pw_query query;
    const char *query_error; /* set when the query string did not parse */
    char *body;
    size_t body_len, body_cap;
    bool body_too_large;
    const char *route;         /* the matched route's pattern, for logs and metrics */
    char param[PW_ID_LEN + 1]; /* the {id} of a route like /api/x/{id}/y */

    /* the logged-in user, once http_auth*() looked */
    bool auth_checked;
    bool has_user;
    pw_err auth_error;    /* the login could not be looked up (not "no login"): 503/500, not 401 */
    struct pw_user *user; /* set with has_user (allocated: streams should stay small) */
    struct pw_auth_session *login;

    /* the answer */
    struct MHD_Response *response;
    unsigned status;
    bool response_borrowed; /* a cached response: queue it but do not destroy it */
    bool suspended;         /* waiting for a worker; resumed with http_resume() */
    bool is_stream;
    struct http_addr *stream_addr; /* the address whose stream share it holds (guard.c) */
    bool stream_anonymous;
    const char *framing_error; /* the request's head breaks HTTP's framing rules: 400, closed */
    char request_id[17];
    int64_t started_us;

    /* per-handler state that outlives a suspension (freed with the request) */
    void *state;
    void (*state_free)(void *state);
};

typedef void (*http_handler)(struct http_request *r);

/* ---- reading ---- */
const char *http_header(struct http_request *r, const char *name);
/* Every occurrence of a list-valued header joined with ", " (a client may send it as several
 * lines); false when there is none or it does not fit outsz. */
bool http_header_list(struct http_request *r, const char *name, char *out, size_t outsz);
/* The client's address as text (for throttling). */
void http_client_addr(struct http_request *r, char *out, size_t outsz);
/* Parses the body as one JSON object; on failure answers 400 and returns NULL. */
json_t *http_json_body(struct http_request *r);

/* Loads the logged-in user through the server's login step, once per request (no error if
 * there is no login). */
void http_auth_optional(struct http_request *r);
/* Requires a logged-in user whose role is in roles (a mask of 1 << PW_ROLE_*), and for
 * POST/PUT/PATCH/DELETE a matching X-CSRF-Token. Answers 401/403 and returns false
 * otherwise. A mechanic's request counts as "seen". */
bool http_auth(struct http_request *r, unsigned roles);
#define HTTP_ANY_ROLE ((1u << PW_ROLE_CUSTOMER) | (1u << PW_ROLE_MECHANIC) | (1u << PW_ROLE_ADMIN))

/* ---- answering (each sets r->response once) ---- */
void http_json(struct http_request *r, unsigned status, json_t *body); /* steals body */
/* The same for a body already encoded (mode as libmicrohttpd's: MUST_FREE hands text over,
 * also on failure, which answers 500). Every JSON answer goes through these two. */
void http_json_text(struct http_request *r, unsigned status, char *text, size_t len,
                    enum MHD_ResponseMemoryMode mode);
/* A JSON response with its headers (Content-Type, no-store, nosniff) but none of one
 * request's: for a cache that answers many requests with it (http_respond_borrowed). */
struct MHD_Response *http_json_response(char *text, size_t len, enum MHD_ResponseMemoryMode mode);
void http_error(struct http_request *r, pw_err e, const char *message); /* message may be NULL */
/* The one {"error": code, "message": text} shape of every error (NULL message: the list's). */
json_t *http_error_body(pw_err e, const char *message);
void http_errorf(struct http_request *r, pw_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void http_respond(struct http_request *r, unsigned status, struct MHD_Response *resp); /* owned */
/* Answers with a response someone else keeps (a cache); it must outlive the queueing. */
void http_respond_borrowed(struct http_request *r, unsigned status, struct MHD_Response *resp);
void http_redirect(struct http_request *r, const char *location);
void http_no_content(struct http_request *r); /* 204 */
/* Replaces the "no-store" of a JSON answer just made (an answer that may be kept). */
void http_set_cache_control(struct http_request *r, const char *value);
/* nosniff, Referrer-Policy, and HSTS when the public URL is https: on every answer */
void http_security_headers(struct http_request *r, struct MHD_Response *resp);
/* The gzip (RFC 1952) of len bytes at a zlib level, malloc'd, its size in *out_len; NULL when
 * out of memory. */
unsigned char *http_gzip(const void *in, size_t len, int level, size_t *out_len);
/* A JSON answer (malloc'd text, owned from here on) gzipped when it is at least
 * HTTP_GZIP_MIN bytes and the client accepts gzip (with Vary: Accept-Encoding either way).
 * Only for answers that hold no secret, since a compressed secret beside reflected input
 * leaks through the length (BREACH). */
#define HTTP_GZIP_MIN 1024
void http_json_gzipped(struct http_request *r, unsigned status, char *text);

/* Runs job on a worker thread; the request waits (its connection suspended) until the
 * job's done() answers and calls http_resume(). */
void http_defer(struct http_request *r, struct pw_job *job);
/* The same on the pool for slow network calls. */
void http_defer_io(struct http_request *r, struct pw_job *job);
void http_resume(struct http_request *r);

/* Set-Cookie for a new login (session + CSRF cookies). */
void http_set_login_cookies(struct http_request *r, struct MHD_Response *resp, const char *token,
                            const char *csrf);
void http_clear_login_cookies(struct http_request *r, struct MHD_Response *resp);

/* ---- the URL table (router.c) ---- */
/* The HTTP layer includes no handler: the API adds its routes at start-up. Patterns are
 * borrowed (string literals), kept in the order added; the first match wins. */
struct http_route {
    enum http_method method;
    const char *pattern;
    http_handler handler;
};
struct http_router {
    struct http_route *routes;
    size_t count, cap;
};
pw_err http_router_add(struct http_router *rt, enum http_method method, const char *pattern,
                       http_handler handler);
void http_router_free(struct http_router *rt);
/* Looks r's method and path up. Sets r->route and r->param; returns NULL for no route and
 * sets *path_known when the path exists under another method (a 405). */
http_handler http_router_find(const struct http_router *rt, struct http_request *r,
                              bool *path_known);

/* ---- the server ---- */
/* Per-request steps the application registers: the transport itself knows no login and no
 * product rule. Each may be NULL. */
struct http_steps {
    /* Who is logged in: sets r->has_user with r->user and r->login (allocated, freed with the
     * request), or r->auth_error when the login could not be looked up. Run at most once per
     * request, the first time a handler asks (http_auth_optional / http_auth). */
    void (*login)(struct http_request *r);
    /* Runs after login found someone (pitwall: a mechanic's request counts as "seen"). */
    void (*logged_in)(struct http_request *r);
};

/* What the event loop tells the application, and asks it. Each may be NULL; ctx is passed
 * to every one. All run on the loop's thread. */
struct http_hooks {
    void *ctx;
    /* The loop is up: epfd is its epoll, where the application may add descriptors whose
     * epoll data is a struct pw_watch (see core/watch.h). */
    void (*started)(void *ctx, int epfd);
    void (*tick)(void *ctx); /* once a second, not while draining */
    /* SIGTERM (and again while stopping): end long-lived answers; new requests get 503. */
    void (*drain)(void *ctx);
    /* Suspended answers woken since the last call (MHD runs again for them at once). */
    size_t (*woken)(void *ctx);
    /* Suspended answers now: the stop waits until there are none. */
    size_t (*parked)(void *ctx);
    /* The loop ended: finish deferred work (its jobs resume their requests); the worker pools
     * are not used by the server after this. */
    void (*stop)(void *ctx);
    void (*stopped)(void *ctx); /* MHD is stopped; the epoll fd closes next */
};

struct http_addr;
struct http_static_cache;

/* One open connection (server.c keeps the list; guard.c its share and its deadline). */
struct http_conn {
    struct MHD_Connection *conn;
    struct http_conn *prev, *next;
    struct http_addr *peer;   /* its address's counts; NULL for a trusted proxy's */
    int64_t reading_since_ms; /* its request's head and body began (monotonic); 0: answering */
};

/* Rate limit of the lines about refused and timed-out connections. */
#define HTTP_LOG_WINDOW_MS 10000
#define HTTP_LOG_PER_WINDOW 10
struct http_log_budget {
    int64_t window_start_ms;
    unsigned logged;
    uint64_t suppressed;
};

/* The fair shares of the connection table (guard.c). */
struct http_guard {
    struct http_addr *addrs; /* by client address: connections and streams */
    size_t anonymous_streams;
    uint64_t refused_full, refused_address, timed_out, streams_refused; /* for /metrics */
    struct http_log_budget log;
};

/* The transport's own state, one per server (owned by struct pw_app as app->http): what it
 * knows is requests, routes, connections and the event loop, never the product. The
 * application fills the first block before http_serve; the rest is the server's. */
struct http_server {
    const struct pw_config *cfg;   /* listen address, limits, public URL, web root */
    struct pw_app *app;            /* handed to handlers as r->app; never read here */
    struct pw_workers *workers;    /* http_defer's pool */
    struct pw_workers *io_workers; /* http_defer_io's pool */
    int64_t login_ttl_ms;          /* Max-Age of the login cookies */
    struct http_router router;     /* the application's routes */
    struct http_steps steps;       /* its per-request steps */
    struct http_hooks hooks;       /* its part of the event loop */

    bool draining;                     /* SIGTERM received: no new work, streams are ending */
    struct pw_request_metrics metrics; /* per route and status, latency (GET /metrics) */
    struct http_conn *connections;     /* every open connection (draining shortens their timeout) */
    size_t connection_count;
    struct http_guard guard;
    uint64_t request_counter; /* request ids: a random prefix per process + this */
    uint32_t request_prefix;
    /* gzip copies of the web UI's files (static.c): made on first use, freed by http_serve
     * when it stops */
    struct http_static_cache *static_cache;
    /* the loop (http_serve) */
    struct MHD_Daemon *daemon;
    int timer_fd, signal_fd;
    int64_t drain_deadline_ms;
    struct pw_watch mhd_watch, timer_watch, signal_watch, workers_watch, io_workers_watch;
};

/* X-Forwarded-For (forwarded.c). Behind a trusted proxy: the client named by xff (may be
 * NULL), read from the right, skipping addresses in trusted; only hops our proxies appended
 * can be believed (anything further left is whatever the client sent). out holds the peer on
 * entry and is replaced by each hop believed; anything that is not an address stops the walk. */
void http_forwarded_client(const char *xff, const char *trusted, char *out, size_t outsz);

/* ---- fair shares (guard.c) ---- */
/* Before a handler opens a stream: checks the client address's share of streams and, for an
 * anonymous client, the share anonymous streams may take (the rest is kept for logged-in
 * users); on refusal answers 429 or 503 with Retry-After and returns false. The share is
 * given back when the request ends. */
bool http_stream_admit(struct http_request *r);
void http_stream_release(struct http_request *r);
/* Whether a line about connections may be logged now (HTTP_LOG_PER_WINDOW per window; the
 * count of the others is logged when the window ends). */
bool http_log_allowed(struct http_server *s);
/* server.c's calls into guard.c */
enum MHD_Result http_guard_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);
void http_guard_opened(struct http_server *s, struct http_conn *c);
void http_guard_closed(struct http_server *s, struct http_conn *c);
void http_guard_answering(struct MHD_Connection *conn);
void http_guard_waiting(struct MHD_Connection *conn);
void http_guard_sweep(struct http_server *s);
void http_guard_free(struct http_server *s);

/* Open client connections now (for /metrics). */
size_t http_open_connections(const struct http_server *s);
/* Serves until SIGTERM/SIGINT; returns the process exit code. */
int http_serve(struct http_server *s);

/* Static files of the web UI (static.c), gzipped for the clients that accept it: the
 * compressed copies are kept in server->static_cache, made by the first request for each
 * version of a file; http_serve frees them when it stops. */
void http_static(struct http_request *r);
void http_static_cache_free(struct http_static_cache *c);

/* ---- negotiation (negotiate.c: pure functions of header values) ---- */
/* Whether an Accept-Encoding value asks for gzip (or x-gzip) with q > 0, directly or through
 * "*", at least as much as identity. NULL (no header) → false. */
bool http_accepts_gzip(const char *accept_encoding);
/* Whether an If-None-Match value ("*" or a list of entity-tags) matches etag, by weak
 * comparison. */
bool http_etag_matches(const char *if_none_match, const char *etag);

#endif
