/* Reading a request and answering it: JSON bodies, errors, cookies, login lookup. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "auth/auth.h"
#include "core/json.h"
#include "core/log.h"
#include "http/http.h"
#include "presence/presence.h"
#include "store/store.h"

const char *http_header(struct http_request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

struct header_join {
    const char *name;
    char *out;
    size_t size, used;
    bool any, overflow;
};

static enum MHD_Result join_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct header_join *j = cls;
    if (!key || strcasecmp(key, j->name) != 0 || !value) return MHD_YES;
    int n = snprintf(j->out + j->used, j->size - j->used, "%s%s", j->any ? ", " : "", value);
    if (n < 0 || (size_t)n >= j->size - j->used) {
        j->overflow = true;
        return MHD_NO;
    }
    j->used += (size_t)n;
    j->any = true;
    return MHD_YES;
}

bool http_header_list(struct http_request *r, const char *name, char *out, size_t outsz)
{
    if (outsz == 0) return false;
    out[0] = '\0';
    struct header_join j = {name, out, outsz, 0, false, false};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, join_header, &j);
    return j.any && !j.overflow;
}

static void peer_addr(struct http_request *r, char *out, size_t outsz)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = '\0';
    if (!ci || !ci->client_addr) return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)outsz);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)outsz);
}

void http_client_addr(struct http_request *r, char *out, size_t outsz)
{
    peer_addr(r, out, outsz);
    const char *trusted = r->app->cfg.trusted_proxies;
    if (*trusted && pw_config_addr_in(trusted, out))
        pw_forwarded_client(http_header(r, "X-Forwarded-For"), trusted, out, outsz);
}

static void common_headers(struct http_request *r, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
}

void http_respond(struct http_request *r, unsigned status, struct MHD_Response *resp)
{
    /* the last answer wins */
    if (r->response && !r->response_borrowed) MHD_destroy_response(r->response);
    r->response = resp;
    r->status = status;
    r->response_borrowed = false;
}

void http_respond_borrowed(struct http_request *r, unsigned status, struct MHD_Response *resp)
{
    http_respond(r, status, resp);
    r->response_borrowed = true;
}

void http_json(struct http_request *r, unsigned status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(3));
    json_decref(body);
    if (!text) {
        text = strdup("{\"error\":\"internal\",\"message\":\"Could not encode the answer.\"}");
        status = 500;
        if (!text) return;
    }
    http_json_text(r, status, text);
}

void http_json_text(struct http_request *r, unsigned status, char *text)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    common_headers(r, resp);
    http_respond(r, status, resp);
}

void http_error(struct http_request *r, pw_err e, const char *message)
{
    http_json(r, (unsigned)pw_err_status(e),
              json_pack("{s:s, s:s}", "error", pw_err_code(e), "message",
                        message ? message : pw_err_message(e)));
}

void http_errorf(struct http_request *r, pw_err e, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    http_error(r, e, msg);
}

void http_no_content(struct http_request *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (!resp) return;
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    common_headers(r, resp);
    http_respond(r, 204, resp);
}

void http_set_cache_control(struct http_request *r, const char *value)
{
    if (!r->response || r->response_borrowed) return;
    MHD_del_response_header(r->response, "Cache-Control", "no-store");
    MHD_add_response_header(r->response, "Cache-Control", value);
}

void http_redirect(struct http_request *r, const char *location)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (!resp) return;
    MHD_add_response_header(resp, "Location", location);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    common_headers(r, resp);
    http_respond(r, 302, resp);
}

json_t *http_json_body(struct http_request *r)
{
    char err[256];
    pw_err e;
    json_t *j = pw_json_parse_object(r->body, r->body_len, &e, err, sizeof err);
    if (!j) http_error(r, e, err);
    return j;
}

void http_auth_optional(struct http_request *r)
{
    if (r->auth_checked) return;
    r->auth_checked = true;
    char token[PW_TOKEN_LEN + 8];
    if (!pw_cookie_get(http_header(r, "Cookie"), "pitwall_session", token, sizeof token)) return;
    char hash[PW_TOKEN_HASH_LEN + 1];
    pw_token_hash(token, hash);
    struct pw_app *app = r->app;
    int64_t now = pw_clock_now(&app->clock);
    r->login = malloc(sizeof *r->login);
    r->user = malloc(sizeof *r->user);
    pw_err e = !r->login || !r->user ? PW_EINTERNAL
                                     : store_auth_session_get(app->store, hash, now, r->login);
    if (!e) e = store_user_by_id(app->store, r->login->user_id, r->user);
    if (e) {
        if (e != PW_ENOTFOUND) r->auth_error = e;
        free(r->login);
        free(r->user);
        r->login = NULL;
        r->user = NULL;
        return;
    }
    r->has_user = true;
    if (r->user->role == PW_ROLE_MECHANIC && r->user->mechanic_id[0]) {
        struct pw_dir_mechanic *m = pw_directory_get(app->dir, r->user->mechanic_id);
        if (m) pw_presence_seen(&app->presence, m);
    }
}

bool http_auth(struct http_request *r, unsigned roles)
{
    http_auth_optional(r);
    if (!r->has_user) {
        http_error(r, r->auth_error ? r->auth_error : PW_EUNAUTH, NULL);
        return false;
    }
    if (r->method != HTTP_GET && r->method != HTTP_HEAD &&
        !pw_token_equal(http_header(r, "X-CSRF-Token"), r->login->csrf_token)) {
        http_error(r, PW_ECSRF, NULL);
        return false;
    }
    if (!(roles & (1u << r->user->role))) {
        http_errorf(r, PW_EFORBIDDEN, "This needs a %s account.",
                    roles == (1u << PW_ROLE_MECHANIC)  ? "mechanic"
                    : roles == (1u << PW_ROLE_ADMIN)   ? "admin"
                    : roles == (1u << PW_ROLE_CUSTOMER) ? "customer"
                                                        : "different");
        return false;
    }
    return true;
}

static bool secure_cookies(struct http_request *r)
{
    return strncmp(r->app->cfg.public_url, "https://", 8) == 0;
}

void http_set_login_cookies(struct http_request *r, struct MHD_Response *resp, const char *token,
                            const char *csrf)
{
    char c[256];
    long max_age = (long)(PW_LOGIN_TTL_MS / 1000);
    const char *secure = secure_cookies(r) ? "; Secure" : "";
    snprintf(c, sizeof c, "pitwall_session=%s; Path=/; Max-Age=%ld; HttpOnly; SameSite=Lax%s",
             token, max_age, secure);
    MHD_add_response_header(resp, "Set-Cookie", c);
    snprintf(c, sizeof c, "pitwall_csrf=%s; Path=/; Max-Age=%ld; SameSite=Lax%s", csrf, max_age,
             secure);
    MHD_add_response_header(resp, "Set-Cookie", c);
}

void http_clear_login_cookies(struct http_request *r, struct MHD_Response *resp)
{
    (void)r;
    MHD_add_response_header(resp, "Set-Cookie",
                            "pitwall_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
    MHD_add_response_header(resp, "Set-Cookie", "pitwall_csrf=; Path=/; Max-Age=0; SameSite=Lax");
}

void http_defer(struct http_request *r, struct pw_job *job)
{
    r->suspended = true;
    MHD_suspend_connection(r->conn);
    pw_workers_submit(r->app->workers, job);
}

void http_defer_io(struct http_request *r, struct pw_job *job)
{
    r->suspended = true;
    MHD_suspend_connection(r->conn);
    pw_workers_submit(r->app->io_workers, job);
}

void http_resume(struct http_request *r)
{
    if (!r->suspended) return;
    r->suspended = false;
    MHD_resume_connection(r->conn);
}
