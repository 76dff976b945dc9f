/* core/json.c: a request body is one JSON object with no duplicate keys (anything else is the
 * client's PW_EJSON, with a reason), and the builders the API's objects share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/json.h"

static json_t *parse(const char *body, pw_err *e, char *err, size_t errlen)
{
    err[0] = '\0';
    return pw_json_parse_object(body, strlen(body), e, err, errlen);
}

static void test_parse_object(void **state)
{
    (void)state;
    char err[256];
    pw_err e = PW_EINTERNAL;
    json_t *j = parse("{\"a\": 1, \"b\": {\"a\": 2}}", &e, err, sizeof err);
    assert_non_null(j);
    assert_int_equal(e, PW_OK);
    assert_int_equal(json_integer_value(json_object_get(j, "a")), 1);
    json_decref(j);
    /* the length is the body's, not the string's: trailing bytes beyond it are not read */
    j = pw_json_parse_object("{}garbage", 2, &e, err, sizeof err);
    assert_non_null(j);
    assert_int_equal(e, PW_OK);
    json_decref(j);
}

static void test_duplicates_are_refused(void **state)
{
    (void)state;
    char err[256];
    pw_err e = PW_OK;
    assert_null(parse("{\"role\": \"customer\", \"role\": \"admin\"}", &e, err, sizeof err));
    assert_int_equal(e, PW_EJSON);
    assert_non_null(strstr(err, "not valid JSON"));
    assert_non_null(strstr(err, "role"));
    /* the same key in different objects is not a duplicate */
    json_t *j = parse("{\"a\": {\"x\": 1}, \"b\": {\"x\": 2}}", &e, err, sizeof err);
    assert_non_null(j);
    assert_int_equal(e, PW_OK);
    json_decref(j);
}

static void test_not_an_object_is_the_clients_error(void **state)
{
    (void)state;
    const char *bad[] = {"[1, 2]", "\"text\"", "42", "null", "{\"a\": 1", "{\"a\" 1}", "{} {}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char err[256];
        pw_err e = PW_OK;
        assert_null(parse(bad[i], &e, err, sizeof err));
        assert_int_equal(e, PW_EJSON);
        assert_true(strlen(err) > 0);
    }
    char err[256];
    pw_err e = PW_OK;
    assert_null(pw_json_parse_object("", 0, &e, err, sizeof err));
    assert_int_equal(e, PW_EJSON);
    assert_non_null(strstr(err, "empty"));
    assert_null(parse("[]", &e, err, sizeof err));
    assert_non_null(strstr(err, "must be a JSON object"));
    assert_null(parse("{\"a\": tru}", &e, err, sizeof err));
    assert_non_null(strstr(err, "at character"));
}

static void test_set(void **state)
{
    (void)state;
    json_t *o = json_object();
    bool ok = true;
    pw_json_set(o, "a", json_integer(1), &ok);
    pw_json_set(o, "b", json_null(), &ok);
    assert_true(ok);
    assert_int_equal(json_object_size(o), 2);
    /* a value that could not be made clears ok and adds nothing */
    pw_json_set(o, "c", NULL, &ok);
    assert_false(ok);
    assert_null(json_object_get(o, "c"));
    /* ok stays cleared */
    pw_json_set(o, "d", json_true(), &ok);
    assert_false(ok);
    json_decref(o);
    /* no object: the value is freed (stolen), ok cleared */
    ok = true;
    pw_json_set(NULL, "a", json_string("x"), &ok);
    assert_false(ok);
}

static void test_iso_or_null(void **state)
{
    (void)state;
    json_t *j = pw_json_iso_or_null(0);
    assert_true(json_is_null(j));
    json_decref(j);
    j = pw_json_iso_or_null(1767225600123LL);
    assert_string_equal(json_string_value(j), "2026-01-01T00:00:00.123Z");
    json_decref(j);
}

static void test_vehicle(void **state)
{
    (void)state;
    struct pw_vehicle v = {.id = "veh-1", .year = 2020, .make = "Tesla", .model = "Model 3"};
    json_t *j = pw_json_vehicle(&v);
    assert_int_equal(json_object_size(j), 4);
    assert_string_equal(json_string_value(json_object_get(j, "id")), "veh-1");
    assert_int_equal(json_integer_value(json_object_get(j, "year")), 2020);
    assert_string_equal(json_string_value(json_object_get(j, "make")), "Tesla");
    assert_string_equal(json_string_value(json_object_get(j, "model")), "Model 3");
    json_decref(j);
}

static void test_intake(void **state)
{
    (void)state;
    json_t *j = pw_json_intake(NULL);
    assert_true(json_is_object(j));
    assert_int_equal(json_object_size(j), 0);
    json_decref(j);
    j = pw_json_intake("{\"concern\":\"Noise when braking\",\"urgency\":\"high\"}");
    assert_string_equal(json_string_value(json_object_get(j, "concern")), "Noise when braking");
    assert_string_equal(json_string_value(json_object_get(j, "urgency")), "high");
    json_decref(j);
    assert_null(pw_json_intake("{not json"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_object),
        cmocka_unit_test(test_duplicates_are_refused),
        cmocka_unit_test(test_not_an_object_is_the_clients_error),
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_iso_or_null),
        cmocka_unit_test(test_vehicle),
        cmocka_unit_test(test_intake),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
