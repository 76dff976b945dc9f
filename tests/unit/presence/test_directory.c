/* Directory filtering, ranking, counts and the derived fields of SPEC §4.1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "presence/directory.h"

static struct pw_mechanic mech(const char *id, const char *city, int rating, int sessions,
                               enum pw_presence_state presence, const char *brand)
{
    struct pw_mechanic m = {0};
    snprintf(m.id, sizeof m.id, "%s", id);
    snprintf(m.name, sizeof m.name, "Mechanic %s", id);
    snprintf(m.city, sizeof m.city, "%s", city);
    snprintf(m.country, sizeof m.country, "Canada");
    m.rating_tenths = rating;
    m.completed_sessions = sessions;
    m.years_of_experience = 7;
    m.presence = presence;
    m.status = PW_MECH_APPROVED;
    m.can_accept_sessions = true;
    if (brand) {
        m.is_brand_specialist = true;
        snprintf(m.brands[m.n_brands++], PW_TAG_MAX + 1, "%s", brand);
    }
    return m;
}

static struct pw_dir *fixture(void)
{
    struct pw_dir *d = pw_dir_new();
    struct pw_mechanic ms[] = {
        mech("a", "Toronto", 45, 10, PW_OFFLINE, "Tesla"),
        mech("b", "toronto", 49, 5, PW_OFFLINE, NULL),
        mech("c", "Toronto", 40, 1, PW_ONLINE, "tesla"),
        mech("d", "Toronto", 45, 10, PW_OFFLINE, NULL),  /* ties with a: id decides */
        mech("e", "Toronto", 45, 20, PW_OFFLINE, "BMW"), /* beats a and d on sessions */
        mech("f", "Ottawa", 50, 99, PW_ONLINE, "Tesla"),
        mech("g", "Toronto", 50, 99, PW_BUSY, "Tesla"),
    };
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) pw_dir_put(d, &ms[i]);
    struct pw_mechanic pending = mech("h", "Toronto", 50, 1, PW_OFFLINE, NULL);
    pending.status = PW_MECH_PENDING;
    pw_dir_put(d, &pending);
    struct pw_mechanic blocked = mech("i", "Toronto", 50, 1, PW_ONLINE, NULL);
    blocked.can_accept_sessions = false;
    pw_dir_put(d, &blocked);
    return d;
}

static void order_is(const struct pw_dir_result *r, const char *ids)
{
    char got[64] = "";
    for (int i = 0; i < r->n; i++) strcat(got, r->items[i]->m.id);
    assert_string_equal(got, ids);
}

static void test_order_online_rating_sessions_id(void **state)
{
    (void)state;
    struct pw_dir *d = fixture();
    struct pw_dir_result r;
    pw_dir_search(d, &(struct pw_dir_query){.city = "TORONTO", .limit = 50}, &r);
    order_is(&r, "cbead"); /* online first, then 4.9, then 4.5 by sessions, then id */
    assert_int_equal(r.total, 5);
    assert_int_equal(r.online, 1);
    pw_dir_free(d);
}

static void test_limit_keeps_counts(void **state)
{
    (void)state;
    struct pw_dir *d = fixture();
    struct pw_dir_result r;
    pw_dir_search(d, &(struct pw_dir_query){.city = "Toronto", .limit = 2}, &r);
    order_is(&r, "cb");
    assert_int_equal(r.total, 5);
    assert_int_equal(r.online, 1);
    pw_dir_free(d);
}

static void test_specialist_make_case_insensitive(void **state)
{
    (void)state;
    struct pw_dir *d = fixture();
    struct pw_dir_result r;
    pw_dir_search(d,
                  &(struct pw_dir_query){
                      .city = "Toronto", .make = "TESLA", .is_specialist = true, .limit = 10},
                  &r);
    order_is(&r, "ca");
    /* without a city, Ottawa's specialist leads (online, 5.0) */
    pw_dir_search(d, &(struct pw_dir_query){.make = "tesla", .is_specialist = true, .limit = 10},
                  &r);
    order_is(&r, "fca");
    /* standard: make is ignored */
    pw_dir_search(d, &(struct pw_dir_query){.make = "tesla", .limit = 10}, &r);
    assert_int_equal(r.total, 6);
    pw_dir_free(d);
}

static void test_busy_only_when_asked(void **state)
{
    (void)state;
    struct pw_dir *d = fixture();
    struct pw_dir_result r;
    pw_dir_search(d, &(struct pw_dir_query){.city = "Toronto", .include_busy = true, .limit = 50},
                  &r);
    order_is(&r, "cgbead"); /* busy is not online: ranks among the rest by rating */
    assert_int_equal(r.total, 6);
    assert_int_equal(r.online, 1);
    pw_dir_free(d);
}

static void test_avg_response_time(void **state)
{
    (void)state;
    struct pw_dir *d = fixture();
    struct pw_dir_mechanic *c = pw_dir_get(d, "c"), *a = pw_dir_get(d, "a");
    assert_int_equal(pw_dir_avg_response_min(c), 2); /* online, no history */
    assert_int_equal(pw_dir_avg_response_min(a), 5); /* offline, no history */
    int64_t two[] = {60000, 60000};
    pw_dir_set_delays(d, "a", two, 2); /* fewer than 3: still the default */
    assert_int_equal(pw_dir_avg_response_min(a), 5);
    int64_t delays[] = {30000, 200000, 61000}; /* median 61 s -> 2 min (rounded up) */
    pw_dir_set_delays(d, "a", delays, 3);
    assert_int_equal(pw_dir_avg_response_min(a), 2);
    int64_t quick[] = {1000, 2000, 3000, 4000}; /* median 2.5 s -> at least 1 */
    pw_dir_set_delays(d, "a", quick, 4);
    assert_int_equal(pw_dir_avg_response_min(a), 1);
    pw_dir_free(d);
}

static void test_specializations_labels(void **state)
{
    (void)state;
    struct pw_dir *d = pw_dir_new();
    struct pw_mechanic m = mech("x", "Toronto", 45, 1, PW_OFFLINE, "Tesla");
    snprintf(m.keywords[m.n_keywords++], PW_TAG_MAX + 1, "Electrical");
    pw_dir_put(d, &m);
    char labels[3][PW_TAG_MAX + 16];
    int n = pw_dir_specializations(pw_dir_get(d, "x"), labels);
    assert_int_equal(n, 3);
    assert_string_equal(labels[0], "Tesla");
    assert_string_equal(labels[1], "Electrical");
    assert_string_equal(labels[2], "7 yrs exp");
    pw_dir_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_online_rating_sessions_id),
        cmocka_unit_test(test_limit_keeps_counts),
        cmocka_unit_test(test_specialist_make_case_insensitive),
        cmocka_unit_test(test_busy_only_when_asked),
        cmocka_unit_test(test_avg_response_time),
        cmocka_unit_test(test_specializations_labels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
