/* core/clock.c: the fake clock moves only when told, the system clock is the wall clock, the
 * monotonic one never goes back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "core/clock.h"

static void test_fake_clock(void **state)
{
    (void)state;
    struct pw_fake_clock fc = {.now = 1767225600000LL};
    struct pw_clock c = pw_fake_clock_make(&fc);
    assert_int_equal(pw_clock_now(&c), 1767225600000LL);
    assert_int_equal(pw_clock_now(&c), 1767225600000LL); /* reading does not move it */
    fc.now += 60000;
    assert_int_equal(pw_clock_now(&c), 1767225600000LL + 60000);
    /* a copy reads the same fake clock (struct pw_app keeps a copy of the one it is given) */
    struct pw_clock copy = c;
    fc.now = 5;
    assert_int_equal(pw_clock_now(&copy), 5);
    /* and two fake clocks are apart */
    struct pw_fake_clock other = {.now = 7};
    struct pw_clock o = pw_fake_clock_make(&other);
    assert_int_equal(pw_clock_now(&o), 7);
    assert_int_equal(pw_clock_now(&c), 5);
}

static void test_system_clock(void **state)
{
    (void)state;
    int64_t before = (int64_t)time(NULL) * 1000;
    int64_t now = pw_clock_now(&pw_clock_system);
    int64_t after = (int64_t)time(NULL) * 1000 + 1000;
    assert_true(now >= before && now < after);
}

static void test_monotonic(void **state)
{
    (void)state;
    int64_t prev = pw_monotonic_us();
    for (int i = 0; i < 1000; i++) {
        int64_t t = pw_monotonic_us();
        assert_true(t >= prev);
        prev = t;
    }
    struct timespec ten_ms = {0, 10 * 1000 * 1000};
    int64_t start = pw_monotonic_us();
    nanosleep(&ten_ms, NULL);
    assert_true(pw_monotonic_us() - start >= 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fake_clock),
        cmocka_unit_test(test_system_clock),
        cmocka_unit_test(test_monotonic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
