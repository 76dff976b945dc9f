/* The HTTP layer's URL table on its own: routes registered by a caller (as the API does),
 * looked up with no socket and no server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http/http.h"

static void h_list(struct http_request *r)
{
    (void)r;
}
static void h_get(struct http_request *r)
{
    (void)r;
}
static void h_accept(struct http_request *r)
{
    (void)r;
}
static void h_create(struct http_request *r)
{
    (void)r;
}

static int setup(void **state)
{
    static struct http_router rt;
    rt = (struct http_router){0};
    assert_int_equal(http_router_add(&rt, HTTP_GET, "/api/sessions", h_list), PW_OK);
    assert_int_equal(http_router_add(&rt, HTTP_POST, "/api/sessions", h_create), PW_OK);
    assert_int_equal(http_router_add(&rt, HTTP_GET, "/api/sessions/{id}", h_get), PW_OK);
    assert_int_equal(http_router_add(&rt, HTTP_POST, "/api/sessions/{id}/accept", h_accept), PW_OK);
    *state = &rt;
    return 0;
}

static int teardown(void **state)
{
    http_router_free(*state);
    return 0;
}

static http_handler find(void **state, enum http_method m, const char *path, bool *known,
                         struct http_request *r)
{
    memset(r, 0, sizeof *r);
    r->method = m;
    r->path = (char *)path;
    return http_router_find(*state, r, known);
}

static void test_exact_and_method(void **state)
{
    struct http_request r;
    bool known;
    assert_ptr_equal(find(state, HTTP_GET, "/api/sessions", &known, &r), h_list);
    assert_true(known);
    assert_string_equal(r.route, "/api/sessions");
    assert_ptr_equal(find(state, HTTP_POST, "/api/sessions", &known, &r), h_create);
    /* HEAD is answered by the GET handler */
    assert_ptr_equal(find(state, HTTP_HEAD, "/api/sessions", &known, &r), h_list);
}

static void test_id_segment(void **state)
{
    struct http_request r;
    bool known;
    assert_ptr_equal(find(state, HTTP_GET, "/api/sessions/ab-C_9", &known, &r), h_get);
    assert_string_equal(r.param, "ab-C_9");
    assert_string_equal(r.route, "/api/sessions/{id}");
    assert_ptr_equal(find(state, HTTP_POST, "/api/sessions/x1/accept", &known, &r), h_accept);
    assert_string_equal(r.param, "x1");
}

static void test_id_rejects(void **state)
{
    struct http_request r;
    bool known;
    assert_null(find(state, HTTP_GET, "/api/sessions/a.b", &known, &r));
    assert_false(known);
    assert_null(find(state, HTTP_GET, "/api/sessions/", &known, &r)); /* empty segment */
    assert_false(known);
    char path[64 + PW_ID_LEN * 2];
    char id[PW_ID_LEN + 2];
    memset(id, 'a', PW_ID_LEN + 1);
    id[PW_ID_LEN + 1] = '\0';
    snprintf(path, sizeof path, "/api/sessions/%s", id); /* one longer than an id */
    assert_null(find(state, HTTP_GET, path, &known, &r));
    id[PW_ID_LEN] = '\0';
    snprintf(path, sizeof path, "/api/sessions/%s", id); /* exactly an id's length */
    assert_ptr_equal(find(state, HTTP_GET, path, &known, &r), h_get);
}

static void test_method_not_allowed(void **state)
{
    struct http_request r;
    bool known;
    assert_null(find(state, HTTP_DELETE, "/api/sessions", &known, &r));
    assert_true(known);
    assert_string_equal(r.route, "(method not allowed)");
    assert_null(find(state, HTTP_GET, "/api/sessions/x1/accept", &known, &r));
    assert_true(known);
}

static void test_unknown_and_prefixes(void **state)
{
    struct http_request r;
    bool known;
    assert_null(find(state, HTTP_GET, "/api/session", &known, &r));
    assert_false(known);
    assert_null(find(state, HTTP_GET, "/api/sessionsX", &known, &r));
    assert_false(known);
    assert_null(find(state, HTTP_GET, "/api/sessions/x1/accept/more", &known, &r));
    assert_false(known);
    assert_null(r.route);
}

static void test_empty_router(void **state)
{
    (void)state;
    struct http_router rt = {0};
    struct http_request r = {.method = HTTP_GET, .path = "/"};
    bool known = true;
    assert_null(http_router_find(&rt, &r, &known));
    assert_false(known);
    /* growing past the first allocation keeps every route */
    for (int i = 0; i < 100; i++) assert_int_equal(http_router_add(&rt, HTTP_GET, "/x", h_list), 0);
    assert_int_equal(rt.count, 100);
    r.path = "/x";
    assert_ptr_equal(http_router_find(&rt, &r, &known), h_list);
    http_router_free(&rt);
    assert_int_equal(rt.count, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exact_and_method, setup, teardown),
        cmocka_unit_test_setup_teardown(test_id_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_id_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_method_not_allowed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_and_prefixes, setup, teardown),
        cmocka_unit_test(test_empty_router),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
