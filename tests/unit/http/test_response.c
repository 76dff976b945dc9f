/* The HTTP layer's answers without a socket: the one error shape, the error list behind it,
 * the login steps http_auth runs, and X-Forwarded-For. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "http/http.h"

static void test_error_body_shape(void **state)
{
    (void)state;
    json_t *j = http_error_body(PW_ENOTFOUND, NULL);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 2);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "not_found");
    assert_string_equal(json_string_value(json_object_get(j, "message")),
                        pw_err_message(PW_ENOTFOUND));
    json_decref(j);
    j = http_error_body(PW_EURITOOLONG, "longer than 4096");
    assert_string_equal(json_string_value(json_object_get(j, "error")), "uri_too_long");
    assert_string_equal(json_string_value(json_object_get(j, "message")), "longer than 4096");
    json_decref(j);
}

/* Every error of the list has an HTTP status, a code and a message; codes are unique. */
static void test_error_list(void **state)
{
    (void)state;
    pw_err all[] = {
#define X(name, status, code, msg) name,
        PW_ERRORS(X)
#undef X
    };
    size_t n = sizeof all / sizeof all[0];
    for (size_t i = 0; i < n; i++) {
        int st = pw_err_status(all[i]);
        assert_true(st >= 200 && st <= 599);
        assert_true(pw_err_code(all[i])[0] && pw_err_message(all[i])[0]);
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(pw_err_code(all[i]), pw_err_code(all[k]));
    }
    assert_int_equal(pw_err_status(PW_ETOOLARGE), 413);
    assert_int_equal(pw_err_status(PW_EURITOOLONG), 414);
}

static struct pw_config cfg; /* the defaults: http://, so no HSTS */
static struct http_server server = {.cfg = &cfg};
static struct pw_user the_user;
static struct pw_auth_session the_login;
static int logins, seen;
static bool lookup_fails, nobody;

static void fake_login(struct http_request *r)
{
    logins++;
    if (lookup_fails) {
        r->auth_error = PW_ESTORE;
        return;
    }
    if (nobody) return;
    r->user = malloc(sizeof *r->user);
    r->login = malloc(sizeof *r->login);
    *r->user = the_user;
    *r->login = the_login;
    r->has_user = true;
}

static void fake_seen(struct http_request *r)
{
    (void)r;
    seen++;
}

static void request_init(struct http_request *r)
{
    memset(r, 0, sizeof *r);
    r->server = &server;
    r->method = HTTP_GET;
    strcpy(r->request_id, "0123456789abcdef");
}

static void request_done(struct http_request *r)
{
    if (r->response) MHD_destroy_response(r->response);
    free(r->user);
    free(r->login);
}

static int auth_setup(void **state)
{
    (void)state;
    server =
        (struct http_server){.cfg = &cfg, .steps = {.login = fake_login, .logged_in = fake_seen}};
    memset(&the_user, 0, sizeof the_user);
    the_user.role = PW_ROLE_CUSTOMER;
    logins = seen = 0;
    lookup_fails = nobody = false;
    return 0;
}

static void test_auth_runs_steps_once(void **state)
{
    (void)state;
    struct http_request r;
    request_init(&r);
    assert_true(http_auth(&r, 1u << PW_ROLE_CUSTOMER));
    assert_true(http_auth(&r, HTTP_ANY_ROLE));
    http_auth_optional(&r);
    assert_int_equal(logins, 1);
    assert_int_equal(seen, 1);
    assert_null(r.response);
    request_done(&r);
}

static void test_auth_wrong_role(void **state)
{
    (void)state;
    struct http_request r;
    request_init(&r);
    assert_false(http_auth(&r, 1u << PW_ROLE_MECHANIC));
    assert_int_equal(r.status, 403);
    assert_non_null(r.response);
    assert_string_equal(MHD_get_response_header(r.response, "Content-Type"), "application/json");
    assert_string_equal(MHD_get_response_header(r.response, "X-Request-Id"), "0123456789abcdef");
    request_done(&r);
}

static void test_auth_nobody(void **state)
{
    (void)state;
    nobody = true;
    struct http_request r;
    request_init(&r);
    http_auth_optional(&r);
    assert_false(r.has_user);
    assert_null(r.response); /* optional: no answer */
    assert_false(http_auth(&r, HTTP_ANY_ROLE));
    assert_int_equal(r.status, 401);
    assert_int_equal(seen, 0);
    request_done(&r);
}

static void test_auth_lookup_failed(void **state)
{
    (void)state;
    lookup_fails = true;
    struct http_request r;
    request_init(&r);
    assert_false(http_auth(&r, HTTP_ANY_ROLE));
    assert_int_equal(r.status, 500); /* the store's failure, not a 401 */
    request_done(&r);
}

static void test_no_steps(void **state)
{
    (void)state;
    server = (struct http_server){.cfg = &cfg};
    struct http_request r;
    request_init(&r);
    assert_false(http_auth(&r, HTTP_ANY_ROLE));
    assert_int_equal(r.status, 401);
    request_done(&r);
}

static void test_last_answer_wins(void **state)
{
    (void)state;
    struct http_request r;
    request_init(&r);
    http_error(&r, PW_EINVAL, NULL);
    http_errorf(&r, PW_EURITOOLONG, "longer than %d", HTTP_URI_MAX);
    assert_int_equal(r.status, 414);
    http_no_content(&r);
    assert_int_equal(r.status, 204);
    assert_string_equal(MHD_get_response_header(r.response, "Cache-Control"), "no-store");
    http_json(&r, 200, json_pack("{s:i}", "a", 1));
    http_set_cache_control(&r, "max-age=60");
    assert_string_equal(MHD_get_response_header(r.response, "Cache-Control"), "max-age=60");
    assert_string_equal(MHD_get_response_header(r.response, "Referrer-Policy"), "same-origin");
    assert_null(MHD_get_response_header(r.response, "Strict-Transport-Security"));
    request_done(&r);
    /* an https public URL: browsers are told to come back over https only */
    strcpy(cfg.public_url, "https://pitwall.example");
    request_init(&r);
    http_no_content(&r);
    assert_non_null(MHD_get_response_header(r.response, "Strict-Transport-Security"));
    request_done(&r);
    cfg.public_url[0] = '\0';
}

static void forwarded(const char *xff, const char *trusted, const char *want)
{
    char out[64] = "127.0.0.1"; /* the peer: a trusted proxy */
    http_forwarded_client(xff, trusted, out, sizeof out);
    if (strcmp(out, want) != 0)
        fail_msg("X-Forwarded-For '%s': got '%s', want '%s'", xff, out, want);
}

static void test_forwarded_client(void **state)
{
    (void)state;
    const char *t = "127.0.0.1,10.0.0.5";
    forwarded(NULL, t, "127.0.0.1");
    forwarded("", t, "127.0.0.1");
    forwarded("203.0.113.7", t, "203.0.113.7");
    /* from the right: what the client wrote further left does not count */
    forwarded("1.1.1.1, 203.0.113.7", t, "203.0.113.7");
    forwarded("1.1.1.1,203.0.113.7", t, "203.0.113.7");
    /* our own proxies are skipped */
    forwarded("203.0.113.7, 10.0.0.5", t, "203.0.113.7");
    forwarded("203.0.113.7,\t10.0.0.5 , 127.0.0.1", t, "203.0.113.7");
    forwarded("2001:db8::1, 10.0.0.5", t, "2001:db8::1");
    /* not an address: the walk stops at the last hop believed */
    forwarded("unknown, 203.0.113.7", t, "203.0.113.7");
    forwarded("203.0.113.7, garbage", t, "127.0.0.1");
    forwarded("203.0.113.7,", t, "127.0.0.1");
    forwarded(",,,", t, "127.0.0.1");
    forwarded("203.0.113.7:4711", t, "127.0.0.1");
    forwarded("10.0.0.5, 10.0.0.5", t, "10.0.0.5"); /* only proxies: the leftmost */
    char longer[200];
    memset(longer, '1', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    forwarded(longer, t, "127.0.0.1");
}

int main(void)
{
    pw_config_defaults(&cfg);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_body_shape),
        cmocka_unit_test(test_error_list),
        cmocka_unit_test_setup(test_auth_runs_steps_once, auth_setup),
        cmocka_unit_test_setup(test_auth_wrong_role, auth_setup),
        cmocka_unit_test_setup(test_auth_nobody, auth_setup),
        cmocka_unit_test_setup(test_auth_lookup_failed, auth_setup),
        cmocka_unit_test_setup(test_no_steps, auth_setup),
        cmocka_unit_test(test_last_answer_wins),
        cmocka_unit_test(test_forwarded_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
