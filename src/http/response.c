/* Reading a request and answering it: JSON bodies, errors, cookies. Who is logged in is
 * not known here: the application's login step (r->server->steps) answers that. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>
#include <zlib.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "http/http.h"

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
    const char *trusted = r->server->cfg->trusted_proxies;
    if (*trusted && pw_config_addr_in(trusted, out))
        http_forwarded_client(http_header(r, "X-Forwarded-For"), trusted, out, outsz);
}

void http_security_headers(struct http_request *r, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    /* a page's address (a session id in /session/{id}) never leaves the site */
    MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
    if (strncmp(r->server->cfg->public_url, "https://", 8) == 0)
        MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
}

static void common_headers(struct http_request *r, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    http_security_headers(r, resp);
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

unsigned char *http_gzip(const void *in, size_t len, int level, size_t *out_len)
{
    z_stream z = {0};
    /* windowBits 15 + 16: a gzip wrapper; no name or time in its header, so the bytes depend
     * on the content only */
    if (len > UINT32_MAX ||
        deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t bound = deflateBound(&z, (uLong)len);
    unsigned char *out = malloc(bound);
    if (out) {
        z.next_in = (Bytef *)in;
        z.avail_in = (uInt)len;
        z.next_out = out;
        z.avail_out = (uInt)bound;
        if (deflate(&z, Z_FINISH) == Z_STREAM_END) {
            *out_len = bound - z.avail_out;
        } else {
            free(out);
            out = NULL;
        }
    }
    deflateEnd(&z);
    return out;
}

struct MHD_Response *http_json_response(char *text, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, mode);
    if (!resp) return NULL;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
    return resp;
}

void http_json_text(struct http_request *r, unsigned status, char *text, size_t len,
                    enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *resp = text ? http_json_response(text, len, mode) : NULL;
    if (!resp) {
        if (mode == MHD_RESPMEM_MUST_FREE) free(text);
        if (status != 500) http_error(r, PW_EINTERNAL, NULL); /* a smaller answer may fit */
        return;
    }
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    http_respond(r, status, resp);
}

/* A JSON answer gzipped when it is worth it and the client accepts gzip (Vary either way).
 * Only for answers that hold no secret: a compressed secret beside reflected input leaks
 * through the length (BREACH). text is malloc'd and owned from here on. */
void http_json_gzipped(struct http_request *r, unsigned status, char *text)
{
    if (!text) {
        http_error(r, PW_EINTERNAL, NULL);
        return;
    }
    size_t len = strlen(text);
    bool big = len >= HTTP_GZIP_MIN;
    char accept[512];
    if (big && http_header_list(r, "Accept-Encoding", accept, sizeof accept) &&
        http_accepts_gzip(accept)) {
        size_t gz_len;
        unsigned char *gz = http_gzip(text, len, 6, &gz_len);
        if (gz && gz_len < len) {
            free(text);
            struct MHD_Response *resp =
                http_json_response((char *)gz, gz_len, MHD_RESPMEM_MUST_FREE);
            if (!resp) {
                free(gz);
                http_error(r, PW_EINTERNAL, NULL);
                return;
            }
            MHD_add_response_header(resp, "Content-Encoding", "gzip");
            MHD_add_response_header(resp, "Vary", "Accept-Encoding");
            MHD_add_response_header(resp, "X-Request-Id", r->request_id);
            http_respond(r, status, resp);
            return;
        }
        free(gz);
    }
    struct MHD_Response *resp = http_json_response(text, len, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        http_error(r, PW_EINTERNAL, NULL);
        return;
    }
    if (big) MHD_add_response_header(resp, "Vary", "Accept-Encoding");
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    http_respond(r, status, resp);
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
    http_json_text(r, status, text, strlen(text), MHD_RESPMEM_MUST_FREE);
}

json_t *http_error_body(pw_err e, const char *message)
{
    const char *text = message ? message : pw_err_message(e);
    char safe[512];
    /* a message that quotes the client's bytes (or was cut inside a character) must still be
     * JSON: such bytes become '?' rather than turning a 400 into a 500 */
    if (!pw_utf8_valid(text, strlen(text))) {
        snprintf(safe, sizeof safe, "%s", text);
        pw_utf8_scrub(safe);
        text = safe;
    }
    return json_pack("{s:s, s:s}", "error", pw_err_code(e), "message", text);
}

void http_error(struct http_request *r, pw_err e, const char *message)
{
    http_json(r, (unsigned)pw_err_status(e), http_error_body(e, message));
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
    const struct http_steps *st = &r->server->steps;
    if (!st->login) return;
    st->login(r);
    if (r->has_user && st->logged_in) st->logged_in(r);
}

/* A CSRF token compared in constant time (false for NULL, empty or different lengths). */
static bool token_equal(const char *a, const char *b)
{
    if (!a || !b) return false;
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb || la == 0) return false;
    return sodium_memcmp(a, b, la) == 0;
}

bool http_auth(struct http_request *r, unsigned roles)
{
    http_auth_optional(r);
    if (!r->has_user) {
        http_error(r, r->auth_error ? r->auth_error : PW_EUNAUTH, NULL);
        return false;
    }
    if (r->method != HTTP_GET && r->method != HTTP_HEAD &&
        !token_equal(http_header(r, "X-CSRF-Token"), r->login->csrf_token)) {
        http_error(r, PW_ECSRF, NULL);
        return false;
    }
    if (!(roles & (1u << r->user->role))) {
        http_errorf(r, PW_EFORBIDDEN, "This needs a %s account.",
                    roles == (1u << PW_ROLE_MECHANIC)   ? "mechanic"
                    : roles == (1u << PW_ROLE_ADMIN)    ? "admin"
                    : roles == (1u << PW_ROLE_CUSTOMER) ? "customer"
                                                        : "different");
        return false;
    }
    return true;
}

static bool secure_cookies(struct http_request *r)
{
    return strncmp(r->server->cfg->public_url, "https://", 8) == 0;
}

void http_set_login_cookies(struct http_request *r, struct MHD_Response *resp, const char *token,
                            const char *csrf)
{
    char c[256];
    long max_age = (long)(r->server->login_ttl_ms / 1000);
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
    pw_workers_submit(r->server->workers, job);
}

void http_defer_io(struct http_request *r, struct pw_job *job)
{
    r->suspended = true;
    MHD_suspend_connection(r->conn);
    pw_workers_submit(r->server->io_workers, job);
}

void http_resume(struct http_request *r)
{
    if (!r->suspended) return;
    r->suspended = false;
    MHD_resume_connection(r->conn);
}
