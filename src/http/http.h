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

#include "core/error.h"
#include "core/model.h"
#include "core/query.h"
#include "core/workers.h"

struct pw_app;

#define HTTP_BODY_MAX (64 * 1024)
#define HTTP_URI_MAX 4096

enum http_method { HTTP_GET, HTTP_HEAD, HTTP_POST, HTTP_PUT, HTTP_PATCH, HTTP_DELETE, HTTP_OTHER };

struct http_request {
    struct pw_app *app;
    struct MHD_Connection *conn;
    enum http_method method;
    char *uri;         /* raw, with the query string */
    char *path;        /* decoded-free path part of uri (owned) */
    struct pw_query query;
    const char *query_error; /* set when the query string did not parse */
    char *body;
    size_t body_len, body_cap;
    bool body_too_large;
    const char *route; /* the matched route's pattern, for logs and metrics */
    char param[PW_ID_LEN + 1]; /* the {id} of a route like /api/x/{id}/y */

    /* the logged-in user, once http_auth*() looked */
    bool auth_checked;
    bool has_user;
    pw_err auth_error; /* the login could not be looked up (not "no login"): 503/500, not 401 */
    struct pw_user *user; /* set with has_user (allocated: streams should stay small) */
    struct pw_auth_session *login;

    /* the answer */
    struct MHD_Response *response;
    unsigned status;
    bool response_borrowed; /* a cached response: queue it but do not destroy it */
    bool suspended;   /* waiting for a worker; resumed with http_resume() */
    bool is_stream;
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

/* Loads the logged-in user from the session cookie if there is one (no error if not). */
void http_auth_optional(struct http_request *r);
/* Requires a logged-in user whose role is in roles (a mask of 1 << PW_ROLE_*), and for
 * POST/PUT/PATCH/DELETE a matching X-CSRF-Token. Answers 401/403 and returns false
 * otherwise. A mechanic's request counts as "seen". */
bool http_auth(struct http_request *r, unsigned roles);
#define HTTP_ANY_ROLE ((1u << PW_ROLE_CUSTOMER) | (1u << PW_ROLE_MECHANIC) | (1u << PW_ROLE_ADMIN))

/* ---- answering (each sets r->response once) ---- */
void http_json(struct http_request *r, unsigned status, json_t *body); /* steals body */
/* The same with the body already serialised (steals text, which may not be NULL): a handler
 * whose change has committed serialises first, so that no failure is left to turn its answer
 * into a 500. */
void http_json_text(struct http_request *r, unsigned status, char *text);
void http_error(struct http_request *r, pw_err e, const char *message); /* message may be NULL */
void http_errorf(struct http_request *r, pw_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void http_respond(struct http_request *r, unsigned status, struct MHD_Response *resp); /* owned */
/* Answers with a response someone else keeps (a cache); it must outlive the queueing. */
void http_respond_borrowed(struct http_request *r, unsigned status, struct MHD_Response *resp);
void http_redirect(struct http_request *r, const char *location);
void http_no_content(struct http_request *r); /* 204 */
/* Replaces the "no-store" of a JSON answer just made (an answer that may be kept). */
void http_set_cache_control(struct http_request *r, const char *value);

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

/* ---- the server ---- */
/* Open client connections now (for /metrics). */
size_t http_open_connections(void);
/* Serves until SIGTERM/SIGINT; returns the process exit code. */
int http_serve(struct pw_app *app);

/* Route table lookup (router.c). Sets r->route and r->param; returns NULL for no route
 * and sets *method_allowed=false when the path exists under another method. */
http_handler http_route(struct http_request *r, bool *path_known);

/* Static files of the web UI (static.c), gzipped for the clients that accept it: the
 * compressed copies are kept in app->static_cache, made by the first request for each
 * version of a file; http_serve frees them when it stops. */
void http_static(struct http_request *r);
struct http_static_cache;
void http_static_cache_free(struct http_static_cache *c);

/* ---- negotiation (negotiate.c: pure functions of header values) ---- */
/* Whether an Accept-Encoding value asks for gzip (or x-gzip) with q > 0, directly or through
 * "*", at least as much as identity. NULL (no header) → false. */
bool http_accepts_gzip(const char *accept_encoding);
/* Whether an If-None-Match value ("*" or a list of entity-tags) matches etag, by weak
 * comparison. */
bool http_etag_matches(const char *if_none_match, const char *etag);

#endif
