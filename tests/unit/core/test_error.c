/* The one error table (core/error.h): every pw_err has an HTTP status, a public code and a
 * message; codes are distinct; a value outside the table reads as internal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"

static void test_every_error_has_status_code_and_message(void **state)
{
    (void)state;
    for (int i = 0; i < PW_ERROR_COUNT; i++) {
        pw_err e = (pw_err)i;
        int status = pw_err_status(e);
        const char *code = pw_err_code(e), *message = pw_err_message(e);
        assert_non_null(code);
        assert_non_null(message);
        assert_true(strlen(code) > 0);
        assert_true(strlen(message) > 0);
        /* codes are the API's "error" field: lower snake case */
        for (const char *c = code; *c; c++) assert_true((*c >= 'a' && *c <= 'z') || *c == '_');
        /* only success is 2xx; every failure is a client or a server error */
        if (e == PW_OK) assert_int_equal(status, 200);
        else assert_true(status >= 400 && status <= 599);
        for (int k = 0; k < i; k++) assert_string_not_equal(pw_err_code((pw_err)k), code);
    }
}

static void test_known_rows(void **state)
{
    (void)state;
    assert_string_equal(pw_err_code(PW_OK), "ok");
    assert_int_equal(pw_err_status(PW_EJSON), 400);
    assert_string_equal(pw_err_code(PW_EJSON), "invalid_json");
    assert_int_equal(pw_err_status(PW_EUNAUTH), 401);
    assert_int_equal(pw_err_status(PW_ENOTFOUND), 404);
    assert_int_equal(pw_err_status(PW_ETAKEN), 409);
    assert_int_equal(pw_err_status(PW_ECREDITS), 402);
    assert_int_equal(pw_err_status(PW_ETHROTTLED), 429);
    assert_int_equal(pw_err_status(PW_EUNAVAILABLE), 503);
    assert_string_equal(pw_err_code(PW_ESTORE), "storage");
}

static void test_out_of_range_is_internal(void **state)
{
    (void)state;
    pw_err bad[] = {PW_ERROR_COUNT, (pw_err)(PW_ERROR_COUNT + 7), (pw_err)-1};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(pw_err_status(bad[i]), 500);
        assert_string_equal(pw_err_code(bad[i]), pw_err_code(PW_EINTERNAL));
        assert_string_equal(pw_err_message(bad[i]), pw_err_message(PW_EINTERNAL));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_error_has_status_code_and_message),
        cmocka_unit_test(test_known_rows),
        cmocka_unit_test(test_out_of_range_is_internal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
