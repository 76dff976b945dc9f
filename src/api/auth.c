/* Login, logout, register, me (SPEC §4.3, §4.7). Password hashing and checking run on the
 * worker pool: the request waits suspended while the event loop keeps serving. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api/api.h"
#include "app.h"
#include "auth/auth.h"
#include "auth/throttle.h"
#include "routing/rollout.h"
#include "core/log.h"
#include "store/store.h"

#define PASSWORD_MIN 8
#define PASSWORD_MAX 1024

json_t *api_me_json(struct pw_app *app, const struct pw_user *u, const char *csrf)
{
    json_t *me = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:b, s:s}", "id", u->id, "email",
                           u->email, "name", u->name, "role", pw_role_name(u->role), "city",
                           u->city, "credit_balance_cents", (json_int_t)u->credit_balance_cents,
                           "free_session_used", u->free_session_used, "csrf_token", csrf);
    if (u->role == PW_ROLE_MECHANIC)
        json_object_set_new(me, "mechanic_id", json_string(u->mechanic_id));
    if (u->role == PW_ROLE_CUSTOMER)
        json_object_set_new(me, "mechanic_selection",
                            json_boolean(pw_rollout_selected(app->rollout_percent, u->id)));
    return me;
}

/* Reads a required string field of at most max bytes; answers 400 and returns NULL if not. */
static const char *string_field(struct http_request *r, json_t *body, const char *key, size_t max)
{
    json_t *v = json_object_get(body, key);
    if (!json_is_string(v)) {
        http_errorf(r, PW_EINVAL, "\"%s\" is required and must be a string.", key);
        return NULL;
    }
    if (json_string_length(v) > max) {
        http_errorf(r, PW_EINVAL, "\"%s\" is longer than %zu characters.", key, max);
        return NULL;
    }
    return json_string_value(v);
}

static bool origin_ok(struct http_request *r)
{
    if (pw_auth_origin_allowed(http_header(r, "Origin"), r->app->cfg.public_url,
                               http_header(r, "Host")))
        return true;
    http_error(r, PW_EORIGIN, NULL);
    return false;
}

static bool valid_email(const char *e)
{
    size_t n = strlen(e);
    const char *at = strchr(e, '@');
    if (n < 3 || n > PW_EMAIL_MAX || !at || at == e || !at[1] || strchr(at + 1, '@')) return false;
    if (!strchr(at + 1, '.')) return false;
    for (const char *p = e; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '"' || *p == '<' || *p == '>')
            return false;
    return true;
}

/* Creates a login for u and answers with cookies and {"user","csrf_token"}. */
static void start_login(struct http_request *r, const struct pw_user *u, unsigned status)
{
    struct pw_app *app = r->app;
    char token[PW_TOKEN_LEN + 1];
    struct pw_auth_session s = {0};
    pw_auth_token_new(token);
    pw_auth_token_hash(token, s.token_hash);
    pw_auth_token_new(s.csrf_token);
    snprintf(s.user_id, sizeof s.user_id, "%s", u->id);
    s.created_at = pw_clock_now(&app->clock);
    s.expires_at = s.created_at + PW_LOGIN_TTL_MS;
    /* the answer first: once the login row is written, only a 2xx is true */
    json_t *answer = json_pack("{s:o, s:s}", "user", api_me_json(app, u, s.csrf_token),
                               "csrf_token", s.csrf_token);
    char *text = json_dumps(answer, JSON_COMPACT | JSON_REAL_PRECISION(3));
    json_decref(answer);
    if (!text) {
        http_error(r, PW_EINTERNAL, NULL);
        return;
    }
    pw_err e = store_auth_session_insert(app->store, &s);
    if (e) {
        free(text);
        http_error(r, e, NULL);
        return;
    }
    http_json_text(r, status, text, strlen(text), MHD_RESPMEM_MUST_FREE);
    if (r->response) http_set_login_cookies(r, r->response, token, s.csrf_token);
}

/* ---- login ---- */

struct login_job {
    struct pw_job job;
    struct http_request *r;
    char password[PASSWORD_MAX + 1];
    char email_key[PW_EMAIL_MAX + 8];
    char addr_key[64];
    bool found;
    struct pw_user user;
    bool ok;
};

static char dummy_hash[128];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void make_dummy_hash(void)
{
    char pw[PW_TOKEN_LEN + 1];
    pw_auth_token_new(pw); /* nobody knows it: checking against it always fails, as slowly */
    pw_auth_password_hash(pw, dummy_hash);
}

static void login_run(struct pw_job *job)
{
    struct login_job *j = (struct login_job *)job;
    if (j->found) {
        j->ok = pw_auth_password_verify(j->user.password_hash, j->password);
    } else {
        /* an unknown email costs the same time as a wrong password */
        pthread_once(&dummy_once, make_dummy_hash);
        pw_auth_password_verify(dummy_hash, j->password);
        j->ok = false;
    }
    sodium_memzero(j->password, sizeof j->password);
}

static void login_done(struct pw_job *job)
{
    struct login_job *j = (struct login_job *)job;
    struct http_request *r = j->r;
    struct pw_app *app = r->app;
    int64_t now = pw_clock_now(&app->clock);
    if (j->ok) {
        pw_throttle_clear(app->login_by_email, j->email_key);
        start_login(r, &j->user, 200);
    } else {
        pw_throttle_fail(app->login_by_email, j->email_key, now);
        pw_throttle_fail(app->login_by_addr, j->addr_key, now);
        http_error(r, PW_ECREDENTIALS, NULL);
    }
    http_resume(r);
}

static void throttled(struct http_request *r, int retry_after)
{
    http_errorf(r, PW_ETHROTTLED, "Too many failed logins; try again in %d seconds.", retry_after);
    char v[16];
    snprintf(v, sizeof v, "%d", retry_after);
    if (r->response) MHD_add_response_header(r->response, "Retry-After", v);
}

void api_auth_login(struct http_request *r)
{
    struct pw_app *app = r->app;
    if (!origin_ok(r)) return;
    json_t *body = http_json_body(r);
    if (!body) return;
    const char *email = string_field(r, body, "email", PW_EMAIL_MAX);
    const char *password = email ? string_field(r, body, "password", PASSWORD_MAX) : NULL;
    if (!password) {
        json_decref(body);
        return;
    }
    struct login_job *j = calloc(1, sizeof *j);
    if (!j) {
        json_decref(body);
        http_error(r, PW_EINTERNAL, NULL);
        return;
    }
    r->state = j;
    r->state_free = free;
    j->r = r;
    char lower[PW_EMAIL_MAX + 1];
    pw_ascii_lower(email, lower, sizeof lower);
    snprintf(j->email_key, sizeof j->email_key, "e:%s", lower);
    char addr[48];
    http_client_addr(r, addr, sizeof addr);
    snprintf(j->addr_key, sizeof j->addr_key, "a:%s", addr);
    snprintf(j->password, sizeof j->password, "%s", password);
    json_decref(body);

    int64_t now = pw_clock_now(&app->clock);
    int retry_after = 0;
    if (!pw_throttle_allowed(app->login_by_email, j->email_key, now, &retry_after) ||
        !pw_throttle_allowed(app->login_by_addr, j->addr_key, now, &retry_after)) {
        sodium_memzero(j->password, sizeof j->password);
        throttled(r, retry_after);
        return;
    }
    pw_err e = store_user_by_email(app->store, lower, &j->user);
    if (e != PW_OK && e != PW_ENOTFOUND) {
        http_error(r, e, NULL);
        return;
    }
    j->found = e == PW_OK;
    j->job.run = login_run;
    j->job.done = login_done;
    http_defer(r, &j->job);
}

/* ---- register ---- */

struct register_job {
    struct pw_job job;
    struct http_request *r;
    char password[PASSWORD_MAX + 1];
    struct pw_user user;
    bool ok;
};

static void register_run(struct pw_job *job)
{
    struct register_job *j = (struct register_job *)job;
    j->ok = pw_auth_password_hash(j->password, j->user.password_hash);
    sodium_memzero(j->password, sizeof j->password);
}

static void register_done(struct pw_job *job)
{
    struct register_job *j = (struct register_job *)job;
    struct http_request *r = j->r;
    struct store *st = r->app->store;
    if (!j->ok) {
        http_error(r, PW_EINTERNAL, "Could not hash the password.");
    } else {
        /* the account and its first login are written together or not at all */
        pw_err e = store_tx_begin(st);
        if (!e) {
            e = store_user_insert(st, &j->user);
            if (!e) {
                start_login(r, &j->user, 201);
                if (r->status != 201) e = PW_ESTORE;
            }
            if (!e) e = store_tx_commit(st);
            else store_tx_rollback(st);
        }
        if (e) http_error(r, e, NULL);
    }
    http_resume(r);
}

static bool clean_text(struct http_request *r, const char *key, const char *v, size_t min)
{
    if (strlen(v) < min || !pw_text_is_clean(v, strlen(v))) {
        http_errorf(r, PW_EINVAL, "\"%s\" must be %s text without control characters.", key,
                    min ? "non-empty" : "plain");
        return false;
    }
    return true;
}

void api_auth_register(struct http_request *r)
{
    struct pw_app *app = r->app;
    if (!origin_ok(r)) return;
    json_t *body = http_json_body(r);
    if (!body) return;
    const char *email = string_field(r, body, "email", PW_EMAIL_MAX);
    const char *password = email ? string_field(r, body, "password", PASSWORD_MAX) : NULL;
    const char *name = password ? string_field(r, body, "name", PW_NAME_MAX) : NULL;
    const char *city = name ? string_field(r, body, "city", PW_CITY_MAX) : NULL;
    if (!city || !clean_text(r, "name", name, 1) || !clean_text(r, "city", city, 1)) {
        json_decref(body);
        return;
    }
    if (!valid_email(email)) {
        json_decref(body);
        http_error(r, PW_EINVAL, "\"email\" is not an email address.");
        return;
    }
    if (strlen(password) < PASSWORD_MIN) {
        json_decref(body);
        http_errorf(r, PW_EINVAL, "\"password\" must have at least %d characters.", PASSWORD_MIN);
        return;
    }
    struct register_job *j = calloc(1, sizeof *j);
    if (!j) {
        json_decref(body);
        http_error(r, PW_EINTERNAL, NULL);
        return;
    }
    r->state = j;
    r->state_free = free;
    j->r = r;
    struct pw_user *u = &j->user;
    pw_uuid_random(u->id);
    pw_ascii_lower(email, u->email, sizeof u->email);
    snprintf(u->name, sizeof u->name, "%s", name);
    snprintf(u->city, sizeof u->city, "%s", city);
    u->role = PW_ROLE_CUSTOMER;
    u->created_at = pw_clock_now(&app->clock);
    snprintf(j->password, sizeof j->password, "%s", password);
    json_decref(body);

    struct pw_user existing;
    pw_err e = store_user_by_email(app->store, u->email, &existing);
    if (e == PW_OK) {
        sodium_memzero(j->password, sizeof j->password);
        http_error(r, PW_EEMAILTAKEN, NULL);
        return;
    }
    if (e != PW_ENOTFOUND) {
        http_error(r, e, NULL);
        return;
    }
    j->job.run = register_run;
    j->job.done = register_done;
    http_defer(r, &j->job);
}

/* ---- logout, me ---- */

void api_auth_logout(struct http_request *r)
{
    http_auth_optional(r);
    if (r->has_user) {
        if (!http_auth(r, HTTP_ANY_ROLE)) return; /* the CSRF check */
        if (store_auth_session_delete(r->app->store, r->login->token_hash) != PW_OK) {
            http_error(r, PW_ESTORE, NULL);
            return;
        }
    }
    http_json(r, 200, json_pack("{s:b}", "ok", 1));
    if (r->response) http_clear_login_cookies(r, r->response);
}

void api_me(struct http_request *r)
{
    if (!http_auth(r, HTTP_ANY_ROLE)) return;
    http_json(r, 200, api_me_json(r->app, r->user, r->login->csrf_token));
}

/* An optional profile field of PUT /api/me: absent or null = unchanged (*out NULL), else
 * clean text of 1 to PW_PROFILE_CHARS characters. Answers 400 and returns false if not. */
static bool profile_field(struct http_request *r, json_t *body, const char *key, const char **out)
{
    json_t *v = json_object_get(body, key);
    *out = NULL;
    if (!v || json_is_null(v)) return true;
    const char *s = json_string_value(v);
    size_t n = s ? strlen(s) : 0;
    if (!s || n != json_string_length(v) || !pw_text_is_clean(s, n) || pw_utf8_chars(s, n) < 1 ||
        pw_utf8_chars(s, n) > PW_PROFILE_CHARS) {
        http_errorf(r, PW_EINVAL,
                    "\"%s\" must be text of 1 to %d characters without control "
                    "characters.",
                    key, PW_PROFILE_CHARS);
        return false;
    }
    *out = s;
    return true;
}

/* PUT /api/me {"name","city"}: a customer's (or admin's) own account. A mechanic's name and
 * city are those of their mechanic profile, which the directory shows: not changed here. */
void api_me_update(struct http_request *r)
{
    if (!http_auth(r, HTTP_ANY_ROLE)) return;
    if (r->user->role == PW_ROLE_MECHANIC) {
        http_error(r, PW_EFORBIDDEN,
                   "A mechanic's name and city are part of the mechanic "
                   "profile; change them there.");
        return;
    }
    json_t *body = http_json_body(r);
    if (!body) return;
    const char *name, *city;
    if (profile_field(r, body, "name", &name) && profile_field(r, body, "city", &city)) {
        struct pw_user u;
        pw_err e = store_user_update_profile(r->app->store, r->user->id, name, city);
        if (!e) e = store_user_by_id(r->app->store, r->user->id, &u);
        if (e) http_error(r, e, NULL);
        else http_json(r, 200, api_me_json(r->app, &u, r->login->csrf_token));
    }
    json_decref(body);
}
