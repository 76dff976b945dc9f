/* The rollout split (SPEC §4.6): stable per customer, and the share in the rollout within one
 * point of the percentage over 10,000 synthetic customer ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/util.h"
#include "routing/rollout.h"

#define N 10000

static char ids[N][PW_ID_LEN + 1];

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0) return -1;
    struct pw_rng rng = {42};
    for (int i = 0; i < N; i++) {
        uint8_t b[16];
        uint64_t x = pw_rng_next(&rng), y = pw_rng_next(&rng);
        for (int k = 0; k < 8; k++) {
            b[k] = (uint8_t)(x >> (8 * k));
            b[8 + k] = (uint8_t)(y >> (8 * k));
        }
        pw_uuid_from_bytes(b, ids[i]);
    }
    return 0;
}

static void test_share_within_one_point(void **state)
{
    (void)state;
    const int percents[] = {0, 1, 5, 10, 25, 33, 50, 75, 90, 99, 100};
    for (size_t p = 0; p < sizeof percents / sizeof percents[0]; p++) {
        int in = 0;
        for (int i = 0; i < N; i++) in += pw_rollout_selected(percents[p], ids[i]);
        double share = 100.0 * in / N;
        if (share < percents[p] - 1.0 || share > percents[p] + 1.0)
            fail_msg("at %d%% the share is %.2f%%", percents[p], share);
    }
}

static void test_stable_and_monotonic(void **state)
{
    (void)state;
    for (int i = 0; i < N; i++) {
        int b = pw_rollout_bucket(ids[i]);
        assert_in_range(b, 0, 99);
        assert_int_equal(b, pw_rollout_bucket(ids[i])); /* never flips while P stays */
        /* in at P means in at every larger P: raising the rollout only adds customers */
        assert_false(pw_rollout_selected(b, ids[i]));
        assert_true(pw_rollout_selected(b + 1, ids[i]));
        assert_false(pw_rollout_selected(0, ids[i]));
        assert_true(pw_rollout_selected(100, ids[i]));
    }
}

static void test_buckets_spread(void **state)
{
    (void)state;
    int count[100] = {0};
    for (int i = 0; i < N; i++) count[pw_rollout_bucket(ids[i])]++;
    for (int b = 0; b < 100; b++) assert_in_range(count[b], 50, 150); /* 100 expected each */
    /* ids that differ in one character land in unrelated buckets */
    int same = 0;
    char a[] = "00000000-0000-4000-8000-000000000000", c[sizeof a];
    for (int i = 0; i < 100; i++) {
        snprintf(c, sizeof c, "%s", a);
        c[35] = (char)('0' + i % 10);
        c[34] = (char)('0' + i / 10);
        same += pw_rollout_bucket(c) == pw_rollout_bucket(a);
    }
    assert_true(same < 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_share_within_one_point),
        cmocka_unit_test(test_stable_and_monotonic),
        cmocka_unit_test(test_buckets_spread),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
