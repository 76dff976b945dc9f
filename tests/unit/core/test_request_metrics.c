/* core/request_metrics.c directly: per (route, status) counters and the latency histogram live in a
 * struct the caller owns, so two servers (or two tests) never share counts. Also the log's
 * state binding (core/log.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/log.h"
#include "core/request_metrics.h"

struct seen {
    int lines;
    uint64_t total;
    uint64_t ok_count;
};

static void visit(void *ctx, const char *route, unsigned status, uint64_t count)
{
    struct seen *s = ctx;
    s->lines++;
    s->total += count;
    if (strcmp(route, "/api/me") == 0 && status == 200) s->ok_count = count;
}

static void test_counters_per_route_and_status(void **state)
{
    (void)state;
    struct pw_request_metrics m = {0};
    pw_request_metrics_add(&m, "/api/me", 200, 100);
    pw_request_metrics_add(&m, "/api/me", 200, 100);
    pw_request_metrics_add(&m, "/api/me", 401, 100);
    pw_request_metrics_add(&m, NULL, 404, 100); /* no route: "-" */
    struct seen s = {0};
    pw_request_metrics_each(&m, visit, &s);
    assert_int_equal(s.lines, 3);
    assert_int_equal(s.total, 4);
    assert_int_equal(s.ok_count, 2);
    pw_request_metrics_reset(&m);
    s = (struct seen){0};
    pw_request_metrics_each(&m, visit, &s);
    assert_int_equal(s.lines, 0);
}

static void test_histogram_is_cumulative(void **state)
{
    (void)state;
    struct pw_request_metrics m = {0};
    pw_request_metrics_add(&m, "/a", 200, 400);          /* 0.4 ms: every bucket */
    pw_request_metrics_add(&m, "/a", 200, 20 * 1000);    /* 20 ms: from 0.025 s */
    pw_request_metrics_add(&m, "/a", 200, 10 * 1000000); /* 10 s: beyond the last bound */
    uint64_t cum[PW_LATENCY_BUCKETS];
    double sum;
    uint64_t count;
    pw_request_metrics_latency(&m, cum, &sum, &count);
    assert_int_equal(count, 3);
    assert_true(sum > 10.02 && sum < 10.021);
    assert_int_equal(cum[0], 1);
    for (int i = 0; i < PW_LATENCY_BUCKETS; i++) {
        uint64_t want = pw_latency_bounds_s[i] >= 0.025 ? 2 : 1;
        if (cum[i] != want)
            fail_msg("bucket %d (<= %g s): %llu, want %llu", i, pw_latency_bounds_s[i],
                     (unsigned long long)cum[i], (unsigned long long)want);
    }
    pw_request_metrics_reset(&m);
}

static void test_two_instances_apart(void **state)
{
    (void)state;
    struct pw_request_metrics a = {0}, b = {0};
    pw_request_metrics_add(&a, "/x", 200, 1);
    struct seen s = {0};
    pw_request_metrics_each(&b, visit, &s);
    assert_int_equal(s.lines, 0);
    uint64_t cum[PW_LATENCY_BUCKETS];
    double sum;
    uint64_t count;
    pw_request_metrics_latency(&b, cum, &sum, &count);
    assert_int_equal(count, 0);
    pw_request_metrics_reset(&a);
    pw_request_metrics_reset(&b);
}

static void test_log_binding(void **state)
{
    (void)state;
    pw_log_set_level(PW_LOG_WARN);
    struct pw_log mine = {0};
    pw_log_bind(&mine); /* the level carries over into the bound state */
    assert_int_equal(mine.min_level, PW_LOG_WARN);
    assert_false(pw_log_enabled(PW_LOG_INFO));
    pw_log_set_level(PW_LOG_DEBUG);
    assert_int_equal(mine.min_level, PW_LOG_DEBUG);
    pw_log_set_request("abc");
    assert_string_equal(mine.request, "abc");
    pw_log_bind(NULL); /* back to the built-in state, with the level */
    assert_true(pw_log_enabled(PW_LOG_DEBUG));
    pw_log_set_level(PW_LOG_OFF);
    assert_false(pw_log_enabled(PW_LOG_ERROR));
    assert_int_equal(mine.min_level, PW_LOG_DEBUG); /* unbound: untouched */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_per_route_and_status),
        cmocka_unit_test(test_histogram_is_cumulative),
        cmocka_unit_test(test_two_instances_apart),
        cmocka_unit_test(test_log_binding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
