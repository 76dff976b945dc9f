/* The admin metrics (success/success_metrics.c) over hand-built histories with known answers:
 * an empty window, windows that cut sessions in half, percentiles of 1, 2 and 10 values,
 * NPS edge cases, the splits by routing type and rollout group, the per-day series and the
 * ISO 8601 parsing of the window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "success/success_metrics.h"

#define SEC 1000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY PW_SUCCESS_DAY_MS

static int64_t t(const char *iso)
{
    int64_t ms = -1;
    assert_true(pw_success_parse_time(iso, &ms));
    return ms;
}

/* A session fact: broadcast or priority_broadcast, in a rollout group, created at c. */
static struct store_session_facts fact(bool priority, const char *group, int64_t c)
{
    struct store_session_facts f = {0};
    snprintf(f.id, sizeof f.id, "s-%lld", (long long)c);
    f.priority_routing = priority;
    snprintf(f.rollout_group, sizeof f.rollout_group, "%s", group);
    f.state = PW_SESSION_AWAITING_PAYMENT;
    f.created_at = c;
    f.rating_score = -1;
    return f;
}

static struct pw_success_metrics M; /* large: keep it off the stack */

static void compute(const struct store_session_facts *f, size_t n, int64_t from, int64_t to)
{
    assert_int_equal(pw_success_compute(f, n, from, to, &M), PW_OK);
}

static void rate_is(const struct pw_success_rate *r, int64_t num, int64_t den)
{
    assert_int_equal(r->num, num);
    assert_int_equal(r->den, den);
}

/* ---- empty window ---- */

static void test_empty_window(void **state)
{
    (void)state;
    int64_t from = t("2025-03-01"), to = t("2025-03-04");
    compute(NULL, 0, from, to);
    assert_int_equal(M.overall.sessions, 0);
    assert_int_equal(M.days, 3);
    json_t *j = pw_success_json(&M);
    assert_string_equal(json_string_value(json_object_get(j, "from")), "2025-03-01T00:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(j, "to")), "2025-03-04T00:00:00.000Z");
    const char *blocks[][2] = {{"overall", NULL},
                               {"by_routing_type", "broadcast"},
                               {"by_routing_type", "priority_broadcast"},
                               {"by_rollout_group", "selection"},
                               {"by_rollout_group", "control"}};
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
        json_t *b = json_object_get(j, blocks[i][0]);
        if (blocks[i][1]) b = json_object_get(b, blocks[i][1]);
        assert_non_null(b);
        assert_int_equal(
            json_integer_value(json_object_get(json_object_get(b, "sessions"), "total")), 0);
        assert_true(json_is_null(json_object_get(json_object_get(b, "share"), "chosen_mechanic")));
        assert_true(json_is_null(json_object_get(json_object_get(b, "share"), "first_available")));
        const char *rates[] = {"priority_acceptance", "fallback", "expiry", "escalation"};
        for (size_t k = 0; k < 4; k++)
            assert_true(json_is_null(json_object_get(json_object_get(b, rates[k]), "rate")));
        json_t *tts = json_object_get(b, "time_to_start");
        assert_int_equal(json_integer_value(json_object_get(tts, "count")), 0);
        assert_true(json_is_null(json_object_get(tts, "p50_seconds")));
        assert_true(json_is_null(json_object_get(tts, "p90_seconds")));
        json_t *nps = json_object_get(b, "nps");
        assert_true(json_is_null(json_object_get(nps, "score")));
        assert_int_equal(json_integer_value(json_object_get(nps, "answers")), 0);
    }
    json_t *daily = json_object_get(j, "daily");
    assert_int_equal(json_array_size(daily), 3);
    const char *dates[] = {"2025-03-01", "2025-03-02", "2025-03-03"};
    for (size_t i = 0; i < 3; i++) {
        json_t *d = json_array_get(daily, i);
        assert_string_equal(json_string_value(json_object_get(d, "date")), dates[i]);
        assert_int_equal(json_integer_value(json_object_get(d, "total")), 0);
        assert_int_equal(json_integer_value(json_object_get(d, "broadcast")), 0);
        assert_int_equal(json_integer_value(json_object_get(d, "priority_broadcast")), 0);
    }
    json_decref(j);
}

/* ---- windows that cut sessions ---- */

static void test_window_cuts_sessions(void **state)
{
    (void)state;
    int64_t from = t("2025-03-10"), to = t("2025-03-11");
    struct store_session_facts f[5];
    /* created before from, accepted inside: not counted */
    f[0] = fact(false, "selection", from - HOUR);
    f[0].routing_started_at = from - HOUR;
    f[0].accepted_at = from + HOUR;
    f[0].state = PW_SESSION_ACCEPTED;
    /* created inside, accepted after to: counted, with its start time */
    f[1] = fact(false, "selection", to - HOUR);
    f[1].routing_started_at = to - HOUR + 2 * SEC;
    f[1].accepted_at = to + HOUR;
    f[1].state = PW_SESSION_ACCEPTED;
    /* exactly at from: in; exactly at to: out */
    f[2] = fact(true, "control", from);
    f[3] = fact(true, "control", to);
    /* no routing start recorded: measured from creation */
    f[4] = fact(false, "control", from + 2 * HOUR);
    f[4].accepted_at = from + 2 * HOUR + 90 * SEC;
    f[4].state = PW_SESSION_ACCEPTED;
    compute(f, 5, from, to);
    assert_int_equal(M.overall.sessions, 3);
    assert_int_equal(M.overall.broadcast, 2);
    assert_int_equal(M.overall.priority_broadcast, 1);
    assert_int_equal(M.overall.started, 2);
    /* sorted [90 s, 2 h - 2 s] */
    assert_int_equal(M.overall.p50_ms, 90 * SEC);
    assert_int_equal(M.overall.p90_ms, 2 * HOUR - 2 * SEC);
    assert_int_equal(M.days, 1);
    assert_int_equal(M.daily[0][PW_SUCCESS_BROADCAST], 2);
    assert_int_equal(M.daily[0][PW_SUCCESS_PRIORITY_BROADCAST], 1);

    /* the same history seen from a window that starts earlier and ends later: all 5 */
    compute(f, 5, from - DAY, to + DAY);
    assert_int_equal(M.overall.sessions, 5);
    assert_int_equal(M.days, 3);
    assert_int_equal(M.daily[0][PW_SUCCESS_BROADCAST], 1);
    assert_int_equal(M.daily[2][PW_SUCCESS_PRIORITY_BROADCAST], 1);
}

/* ---- percentiles ---- */

static void test_percentiles(void **state)
{
    (void)state;
    int64_t one[] = {7};
    assert_int_equal(pw_success_percentile(one, 1, 0.5), 7);
    assert_int_equal(pw_success_percentile(one, 1, 0.9), 7);
    int64_t two[] = {10, 20};
    assert_int_equal(pw_success_percentile(two, 2, 0.5), 10);
    assert_int_equal(pw_success_percentile(two, 2, 0.9), 20);
    int64_t ten[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    assert_int_equal(pw_success_percentile(ten, 10, 0.5), 5);
    assert_int_equal(pw_success_percentile(ten, 10, 0.9), 9);
    assert_int_equal(pw_success_percentile(ten, 10, 1.0), 10);

    /* the same through compute, with the times given out of order */
    int64_t from = t("2025-01-01"), to = t("2025-01-02");
    struct store_session_facts f[10];
    const int order[] = {4, 9, 1, 7, 3, 10, 2, 8, 6, 5};
    for (int i = 0; i < 10; i++) {
        f[i] = fact(i % 2, "selection", from + i * MIN);
        f[i].routing_started_at = f[i].created_at;
        f[i].accepted_at = f[i].created_at + order[i] * SEC;
        f[i].state = PW_SESSION_ENDED;
    }
    compute(f, 1, from, to);
    assert_int_equal(M.overall.p50_ms, 4 * SEC);
    assert_int_equal(M.overall.p90_ms, 4 * SEC);
    compute(f, 2, from, to);
    assert_int_equal(M.overall.p50_ms, 4 * SEC);
    assert_int_equal(M.overall.p90_ms, 9 * SEC);
    compute(f, 10, from, to);
    assert_int_equal(M.overall.started, 10);
    assert_int_equal(M.overall.p50_ms, 5 * SEC);
    assert_int_equal(M.overall.p90_ms, 9 * SEC);
    /* per routing type: even i broadcast {4,1,3,2,6}, odd i priority {9,7,10,8,5} */
    assert_int_equal(M.by_type[PW_SUCCESS_BROADCAST].p50_ms, 3 * SEC);
    assert_int_equal(M.by_type[PW_SUCCESS_BROADCAST].p90_ms, 6 * SEC);
    assert_int_equal(M.by_type[PW_SUCCESS_PRIORITY_BROADCAST].p50_ms, 8 * SEC);
    assert_int_equal(M.by_type[PW_SUCCESS_PRIORITY_BROADCAST].p90_ms, 10 * SEC);
    json_t *j = pw_success_json(&M);
    json_t *tts = json_object_get(json_object_get(j, "overall"), "time_to_start");
    assert_true(json_real_value(json_object_get(tts, "p50_seconds")) == 5.0);
    assert_true(json_real_value(json_object_get(tts, "p90_seconds")) == 9.0);
    json_decref(j);
}

/* ---- NPS ---- */

static void nps_of(const int *scores, int n, int64_t promoters, int64_t passives,
                   int64_t detractors, double score)
{
    int64_t from = t("2025-01-01");
    struct store_session_facts f[16];
    for (int i = 0; i < n; i++) {
        f[i] = fact(false, "control", from + i * SEC);
        f[i].state = PW_SESSION_ENDED;
        f[i].rating_score = scores[i];
    }
    compute(f, (size_t)n, from, from + DAY);
    assert_int_equal(M.overall.nps_answers, n);
    assert_int_equal(M.overall.promoters, promoters);
    assert_int_equal(M.overall.passives, passives);
    assert_int_equal(M.overall.detractors, detractors);
    json_t *j = pw_success_json(&M);
    json_t *s = json_object_get(json_object_get(json_object_get(j, "overall"), "nps"), "score");
    if (n == 0) {
        assert_true(json_is_null(s));
    } else {
        assert_true(json_is_real(s));
        double got = json_real_value(s);
        assert_true(got > score - 0.05 && got < score + 0.05); /* one decimal */
    }
    json_decref(j);
}

static void test_nps(void **state)
{
    (void)state;
    nps_of(NULL, 0, 0, 0, 0, 0);
    nps_of((int[]){10, 9}, 2, 2, 0, 0, 100);
    nps_of((int[]){0, 6, 3}, 3, 0, 0, 3, -100);
    nps_of((int[]){7}, 1, 0, 1, 0, 0);
    nps_of((int[]){6, 7, 8, 9}, 4, 1, 2, 1, 0); /* the boundaries: 6 detracts, 9 promotes */
    nps_of((int[]){10, 10, 10, 0}, 4, 3, 0, 1, 50);
    nps_of((int[]){10, 0, 8}, 3, 1, 1, 1, 0);
    nps_of((int[]){9, 8, 8}, 3, 1, 2, 0, 100.0 / 3);
    /* unrated sessions are not answers */
    int64_t from = t("2025-01-01");
    struct store_session_facts f[2] = {fact(false, "control", from), fact(true, "control", from)};
    f[1].rating_score = 9;
    compute(f, 2, from, from + DAY);
    assert_int_equal(M.overall.nps_answers, 1);
    assert_true(pw_success_nps(1, 0, 1) == 100.0);
}

/* ---- a mixed history, and its splits ---- */

static void test_splits(void **state)
{
    (void)state;
    int64_t from = t("2025-06-01"), to = t("2025-06-08");
    int64_t c = from + HOUR;
    struct store_session_facts f[9];
    /* S1: priority accepted by the preferred mechanic after 60 s, resolved, rated 10 */
    f[0] = fact(true, "selection", c);
    f[0].routing_started_at = c;
    f[0].has_priority_offer = true;
    f[0].priority_outcome = PW_OFFER_ACCEPTED;
    f[0].accepted_at = c + 60 * SEC;
    f[0].state = PW_SESSION_ENDED;
    snprintf(f[0].outcome, sizeof f[0].outcome, "resolved");
    f[0].rating_score = 10;
    /* S2: declined, fell back, accepted after 300 s, escalated, rated 6 */
    f[1] = fact(true, "selection", c + DAY);
    f[1].routing_started_at = f[1].created_at;
    f[1].has_priority_offer = true;
    f[1].priority_outcome = PW_OFFER_DECLINED;
    f[1].broadcast_at = f[1].created_at + 20 * SEC;
    f[1].accepted_at = f[1].created_at + 300 * SEC;
    f[1].state = PW_SESSION_ENDED;
    snprintf(f[1].outcome, sizeof f[1].outcome, "escalated");
    f[1].rating_score = 6;
    /* S3: the window ran out, fell back, nobody accepted: expired */
    f[2] = fact(true, "selection", c + DAY);
    f[2].routing_started_at = f[2].created_at;
    f[2].has_priority_offer = true;
    f[2].priority_outcome = PW_OFFER_WITHDRAWN;
    f[2].broadcast_at = f[2].created_at + 10 * MIN;
    f[2].state = PW_SESSION_EXPIRED;
    /* S4: still waiting for the preferred mechanic */
    f[3] = fact(true, "selection", c + 2 * DAY);
    f[3].routing_started_at = f[3].created_at;
    f[3].has_priority_offer = true;
    f[3].priority_outcome = PW_OFFER_LIVE;
    f[3].state = PW_SESSION_PRIORITY;
    /* S5: first available, control, accepted after 30 s, escalated, rated 9 */
    f[4] = fact(false, "control", c + 2 * DAY);
    f[4].routing_started_at = f[4].created_at;
    f[4].broadcast_at = f[4].created_at;
    f[4].accepted_at = f[4].created_at + 30 * SEC;
    f[4].state = PW_SESSION_ENDED;
    snprintf(f[4].outcome, sizeof f[4].outcome, "escalated");
    f[4].rating_score = 9;
    /* S6: first available, control, expired */
    f[5] = fact(false, "control", c + 3 * DAY);
    f[5].routing_started_at = f[5].created_at;
    f[5].broadcast_at = f[5].created_at;
    f[5].state = PW_SESSION_EXPIRED;
    /* S7: card, never paid, cancelled: not routed */
    f[6] = fact(false, "selection", c + 3 * DAY);
    f[6].state = PW_SESSION_CANCELLED;
    /* S8: cancelled by the customer inside the priority window: left priority, no fallback */
    f[7] = fact(true, "selection", c + 6 * DAY);
    f[7].routing_started_at = f[7].created_at;
    f[7].has_priority_offer = true;
    f[7].priority_outcome = PW_OFFER_WITHDRAWN;
    f[7].state = PW_SESSION_CANCELLED;
    /* S9: an unknown rollout group counts only overall; outside the window anyway */
    f[8] = fact(false, "", to + HOUR);
    compute(f, 9, from, to);

    const struct pw_success_block *o = &M.overall;
    assert_int_equal(o->sessions, 8);
    assert_int_equal(o->broadcast, 3);
    assert_int_equal(o->priority_broadcast, 5);
    rate_is(&o->priority_acceptance, 1, 4);
    rate_is(&o->fallback, 2, 4);
    rate_is(&o->expiry, 2, 7);
    rate_is(&o->escalation, 2, 3);
    assert_int_equal(o->started, 3);
    assert_int_equal(o->p50_ms, 60 * SEC);
    assert_int_equal(o->p90_ms, 300 * SEC);
    assert_int_equal(o->nps_answers, 3);
    assert_int_equal(o->promoters, 2);
    assert_int_equal(o->detractors, 1);

    const struct pw_success_block *pb = &M.by_type[PW_SUCCESS_PRIORITY_BROADCAST];
    assert_int_equal(pb->sessions, 5);
    rate_is(&pb->priority_acceptance, 1, 4);
    rate_is(&pb->fallback, 2, 4);
    rate_is(&pb->expiry, 1, 5);
    rate_is(&pb->escalation, 1, 2);
    assert_int_equal(pb->p50_ms, 60 * SEC);
    assert_int_equal(pb->p90_ms, 300 * SEC);

    const struct pw_success_block *bb = &M.by_type[PW_SUCCESS_BROADCAST];
    assert_int_equal(bb->sessions, 3);
    rate_is(&bb->priority_acceptance, 0, 0);
    rate_is(&bb->fallback, 0, 0);
    rate_is(&bb->expiry, 1, 2);
    rate_is(&bb->escalation, 1, 1);
    assert_int_equal(bb->started, 1);
    assert_int_equal(bb->p50_ms, 30 * SEC);
    assert_int_equal(bb->p90_ms, 30 * SEC);

    const struct pw_success_block *sel = &M.by_group[PW_SUCCESS_SELECTION];
    assert_int_equal(sel->sessions, 6);
    assert_int_equal(sel->priority_broadcast, 5);
    rate_is(&sel->expiry, 1, 5);
    rate_is(&sel->escalation, 1, 2);
    assert_int_equal(sel->nps_answers, 2);
    const struct pw_success_block *ctl = &M.by_group[PW_SUCCESS_CONTROL];
    assert_int_equal(ctl->sessions, 2);
    assert_int_equal(ctl->priority_broadcast, 0);
    rate_is(&ctl->priority_acceptance, 0, 0);
    rate_is(&ctl->expiry, 1, 2);
    rate_is(&ctl->escalation, 1, 1);
    assert_int_equal(ctl->promoters, 1);

    /* the JSON of the same numbers */
    json_t *j = pw_success_json(&M);
    json_t *jo = json_object_get(j, "overall");
    assert_true(json_real_value(json_object_get(json_object_get(jo, "share"), "chosen_mechanic")) ==
                5.0 / 8);
    assert_true(json_real_value(json_object_get(json_object_get(jo, "share"), "first_available")) ==
                3.0 / 8);
    assert_true(json_real_value(json_object_get(json_object_get(jo, "fallback"), "rate")) == 0.5);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(jo, "fallback"), "fell_back")), 2);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(jo, "fallback"), "left_priority")), 4);
    double nps = json_real_value(json_object_get(json_object_get(jo, "nps"), "score"));
    assert_true(nps == 33.3); /* rounded to one decimal */
    assert_true(json_real_value(json_object_get(json_object_get(jo, "expiry"), "rate")) == 0.2857);
    json_t *jc = json_object_get(json_object_get(j, "by_rollout_group"), "control");
    assert_true(json_real_value(json_object_get(json_object_get(jc, "share"), "chosen_mechanic")) ==
                0.0);
    assert_true(json_is_null(json_object_get(json_object_get(jc, "fallback"), "rate")));
    json_t *daily = json_object_get(j, "daily");
    assert_int_equal(json_array_size(daily), 7);
    int64_t want[7][2] = {{0, 1}, {0, 2}, {1, 1}, {2, 0}, {0, 0}, {0, 0}, {0, 1}};
    for (size_t d = 0; d < 7; d++) {
        json_t *row = json_array_get(daily, d);
        assert_int_equal(json_integer_value(json_object_get(row, "broadcast")), want[d][0]);
        assert_int_equal(json_integer_value(json_object_get(row, "priority_broadcast")),
                         want[d][1]);
        assert_int_equal(json_integer_value(json_object_get(row, "total")),
                         want[d][0] + want[d][1]);
    }
    json_decref(j);
}

/* ---- the window ---- */

static void test_window_limits(void **state)
{
    (void)state;
    int64_t from = t("2025-01-01");
    assert_int_equal(pw_success_compute(NULL, 0, from, from, &M), PW_EINVAL);
    assert_int_equal(pw_success_compute(NULL, 0, from, from - 1, &M), PW_EINVAL);
    assert_int_equal(pw_success_compute(NULL, 0, from, from + 366 * DAY + 1, &M), PW_EINVAL);
    assert_int_equal(pw_success_compute(NULL, 0, from, from + 366 * DAY, &M), PW_OK);
    assert_int_equal(M.days, 366);
    /* not aligned to midnight: the partial first and last days are both present */
    assert_int_equal(pw_success_compute(NULL, 0, from + HOUR, from + HOUR + 366 * DAY, &M), PW_OK);
    assert_int_equal(M.days, 367);
    assert_int_equal(M.first_day, from);
    assert_int_equal(pw_success_compute(NULL, 0, from + HOUR, from + 2 * HOUR, &M), PW_OK);
    assert_int_equal(M.days, 1);
}

static void test_parse_time(void **state)
{
    (void)state;
    int64_t ms;
    assert_true(pw_success_parse_time("1970-01-01", &ms));
    assert_int_equal(ms, 0);
    assert_true(pw_success_parse_time("2025-01-31T00:00:00Z", &ms));
    assert_int_equal(ms, 1738281600000LL);
    assert_true(pw_success_parse_time("2025-01-31T10:20Z", &ms));
    assert_int_equal(ms, 1738281600000LL + 10 * HOUR + 20 * MIN);
    assert_true(pw_success_parse_time("2025-01-31T10:20:30.5Z", &ms));
    assert_int_equal(ms, 1738281600000LL + 10 * HOUR + 20 * MIN + 30 * SEC + 500);
    assert_true(pw_success_parse_time("2025-01-31T10:20:30.123456Z", &ms));
    assert_int_equal(ms % 1000, 123);
    assert_true(pw_success_parse_time("2025-01-31T10:20:30+00:00", &ms));
    assert_true(pw_success_parse_time("2024-02-29", &ms)); /* leap year */
    /* pw_iso8601 and the parser agree */
    char iso[PW_ISO_LEN + 1];
    pw_iso8601(1750000123456LL, iso);
    assert_true(pw_success_parse_time(iso, &ms));
    assert_int_equal(ms, 1750000123456LL);

    const char *bad[] = {"",
                         "2025",
                         "2025-1-01",
                         "2025-13-01",
                         "2025-02-29",
                         "2025-04-31",
                         "1969-12-31",
                         "2025-01-01T",
                         "2025-01-01T10:00",
                         "2025-01-01T24:00Z",
                         "2025-01-01T10:60Z",
                         "2025-01-01T10:00:61Z",
                         "2025-01-01T10:00:00.Z",
                         "2025-01-01T10:00:00+01:00",
                         "2025-01-01 ",
                         "2025-01-01Z",
                         "now",
                         "2025-01-01T10:00:00Zjunk",
                         "+2025-01-01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (pw_success_parse_time(bad[i], &ms)) fail_msg("accepted '%s'", bad[i]);
    }
    assert_false(pw_success_parse_time(NULL, &ms));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_window), cmocka_unit_test(test_window_cuts_sessions),
        cmocka_unit_test(test_percentiles),  cmocka_unit_test(test_nps),
        cmocka_unit_test(test_splits),       cmocka_unit_test(test_window_limits),
        cmocka_unit_test(test_parse_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
