/* The query-string parser: splitting, percent-decoding, and what it refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "core/query.h"

static void parse_ok(const char *raw, struct pw_query *q)
{
    const char *why = NULL;
    assert_true(pw_query_parse(raw, strlen(raw), q, &why));
    assert_null(why);
}

static void test_splits_and_decodes(void **state)
{
    (void)state;
    struct pw_query q;
    parse_ok("city=New+York&vehicle_make=Mercedes%2DBenz&limit=10", &q);
    assert_int_equal(q.n, 3);
    assert_string_equal(pw_query_get(&q, "city"), "New York");
    assert_string_equal(pw_query_get(&q, "vehicle_make"), "Mercedes-Benz");
    assert_string_equal(pw_query_get(&q, "limit"), "10");
    assert_null(pw_query_get(&q, "missing"));
    pw_query_free(&q);
}

static void test_empty_pairs_and_values(void **state)
{
    (void)state;
    struct pw_query q;
    parse_ok("&&a=&b&&c=1&", &q);
    assert_int_equal(q.n, 3);
    assert_string_equal(pw_query_get(&q, "a"), "");
    assert_string_equal(pw_query_get(&q, "b"), "");
    assert_string_equal(pw_query_get(&q, "c"), "1");
    pw_query_free(&q);
    parse_ok("", &q);
    assert_int_equal(q.n, 0);
    pw_query_free(&q);
}

static void test_first_value_wins(void **state)
{
    (void)state;
    struct pw_query q;
    parse_ok("city=Toronto&city=Ottawa", &q);
    assert_string_equal(pw_query_get(&q, "city"), "Toronto");
    pw_query_free(&q);
}

static void test_refuses_bad_escapes(void **state)
{
    (void)state;
    /* ... and names that are not clean text, values that are not UTF-8 */
    const char *bad[] = {"a=%",    "a=%4",    "a=%zz", "a=%00",  "%=1",     "a=1%2",
                         "x%FF=1", "ids=%FF", "a=%C3", "a%01=1", "a=%C0%AF"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct pw_query q;
        const char *why = NULL;
        assert_false(pw_query_parse(bad[i], strlen(bad[i]), &q, &why));
        assert_non_null(why);
        assert_int_equal(q.n, 0);
    }
}

static void test_utf8_values(void **state)
{
    (void)state;
    struct pw_query q;
    const char *why = NULL;
    const char *raw = "city=Montr%C3%A9al&note=a%0Ab";
    assert_true(pw_query_parse(raw, strlen(raw), &q, &why));
    assert_string_equal(pw_query_get(&q, "city"), "Montr\xc3\xa9"
                                                  "al");
    assert_string_equal(pw_query_get(&q, "note"), "a\nb"); /* a value may hold a newline */
    pw_query_free(&q);
}

static void test_too_many_params(void **state)
{
    (void)state;
    char raw[1024] = "";
    for (int i = 0; i < PW_QUERY_MAX_PARAMS + 1; i++) strcat(raw, "k=v&");
    struct pw_query q;
    const char *why = NULL;
    assert_false(pw_query_parse(raw, strlen(raw), &q, &why));
    assert_string_equal(why, "too many query parameters");
}

static void test_not_nul_terminated(void **state)
{
    (void)state;
    const char raw[] = {'a', '=', '1', '&', 'b', '=', '2'};
    struct pw_query q;
    const char *why = NULL;
    assert_true(pw_query_parse(raw, 5, &q, &why)); /* only "a=1&b" */
    assert_string_equal(pw_query_get(&q, "a"), "1");
    assert_string_equal(pw_query_get(&q, "b"), "");
    pw_query_free(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_splits_and_decodes), cmocka_unit_test(test_empty_pairs_and_values),
        cmocka_unit_test(test_first_value_wins),   cmocka_unit_test(test_refuses_bad_escapes),
        cmocka_unit_test(test_too_many_params),    cmocka_unit_test(test_not_nul_terminated),
        cmocka_unit_test(test_utf8_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
