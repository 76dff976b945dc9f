/* The admin metrics: one pass over the window's facts per group of sessions. Every rate
 * keeps its numerator and denominator, so a reader can check it and a 0 denominator becomes
 * null instead of a made-up 0 %. */
#include "success/success_metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t pw_success_percentile(const int64_t *sorted, size_t n, double q)
{
    /* rank = ceil(q * n), 1-based; computed in integers so 0.9 * 10 is exactly 9 */
    long permille = (long)(q * 1000.0 + 0.5);
    size_t rank = (size_t)(((long long)n * permille + 999) / 1000);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return sorted[rank - 1];
}

double pw_success_nps(int64_t promoters, int64_t detractors, int64_t answers)
{
    return 100.0 * (double)(promoters - detractors) / (double)answers;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int group_of(const struct store_session_facts *f)
{
    if (strcmp(f->rollout_group, "selection") == 0) return PW_SUCCESS_SELECTION;
    if (strcmp(f->rollout_group, "control") == 0) return PW_SUCCESS_CONTROL;
    return -1;
}

static bool in_window(const struct store_session_facts *f, int64_t from, int64_t to)
{
    return f->created_at >= from && f->created_at < to;
}

/* Which block a fact belongs to besides the overall one. */
enum split { SPLIT_ALL, SPLIT_TYPE, SPLIT_GROUP };

static bool member(const struct store_session_facts *f, enum split split, int which)
{
    switch (split) {
    case SPLIT_ALL: return true;
    case SPLIT_TYPE:
        return (f->priority_routing ? PW_SUCCESS_PRIORITY_BROADCAST : PW_SUCCESS_BROADCAST) ==
               which;
    case SPLIT_GROUP: return group_of(f) == which;
    }
    return false;
}

/* scratch holds n values: the start times of the block's sessions, sorted for percentiles. */
static void block_compute(const struct store_session_facts *facts, size_t n, int64_t from,
                          int64_t to, enum split split, int which, int64_t *scratch,
                          struct pw_success_block *b)
{
    memset(b, 0, sizeof *b);
    size_t started = 0;
    for (size_t i = 0; i < n; i++) {
        const struct store_session_facts *f = &facts[i];
        if (!in_window(f, from, to) || !member(f, split, which)) continue;
        b->sessions++;
        if (f->priority_routing) b->priority_broadcast++;
        else b->broadcast++;

        if (f->has_priority_offer && f->priority_outcome != PW_OFFER_LIVE) {
            b->priority_acceptance.den++;
            if (f->priority_outcome == PW_OFFER_ACCEPTED) b->priority_acceptance.num++;
        }
        /* left priority: routing started and the session is no longer waiting for the
         * preferred mechanic (accepted by them, fell back, cancelled or expired) */
        if (f->priority_routing && f->routing_started_at && f->state != PW_SESSION_PRIORITY) {
            b->fallback.den++;
            bool accepted_by_preferred =
                f->has_priority_offer && f->priority_outcome == PW_OFFER_ACCEPTED;
            if (f->broadcast_at && !accepted_by_preferred) b->fallback.num++;
        }
        if (f->routing_started_at) {
            b->expiry.den++;
            if (f->state == PW_SESSION_EXPIRED) b->expiry.num++;
        }
        if (f->outcome[0]) {
            b->escalation.den++;
            if (strcmp(f->outcome, "escalated") == 0) b->escalation.num++;
        }
        if (f->accepted_at) {
            int64_t start = f->routing_started_at ? f->routing_started_at : f->created_at;
            int64_t d = f->accepted_at - start;
            scratch[started++] = d < 0 ? 0 : d;
        }
        if (f->rating_score >= 0 && f->rating_score <= 10) {
            b->nps_answers++;
            if (f->rating_score >= 9) b->promoters++;
            else if (f->rating_score >= 7) b->passives++;
            else b->detractors++;
        }
    }
    b->started = (int64_t)started;
    if (started) {
        qsort(scratch, started, sizeof *scratch, cmp_i64);
        b->p50_ms = pw_success_percentile(scratch, started, 0.5);
        b->p90_ms = pw_success_percentile(scratch, started, 0.9);
    }
}

pw_err pw_success_compute(const struct store_session_facts *facts, size_t n, int64_t from,
                          int64_t to, struct pw_success_metrics *m)
{
    if (from < 0 || to <= from || to - from > PW_SUCCESS_MAX_WINDOW_MS) return PW_EINVAL;
    memset(m, 0, sizeof *m);
    m->from = from;
    m->to = to;
    int64_t *scratch = malloc((n ? n : 1) * sizeof *scratch);
    if (!scratch) return PW_EINTERNAL;
    block_compute(facts, n, from, to, SPLIT_ALL, 0, scratch, &m->overall);
    for (int t = 0; t < PW_SUCCESS_TYPES; t++)
        block_compute(facts, n, from, to, SPLIT_TYPE, t, scratch, &m->by_type[t]);
    for (int g = 0; g < PW_SUCCESS_GROUPS; g++)
        block_compute(facts, n, from, to, SPLIT_GROUP, g, scratch, &m->by_group[g]);
    free(scratch);

    int64_t first = floor_div(from, PW_SUCCESS_DAY_MS);
    int64_t last = floor_div(to - 1, PW_SUCCESS_DAY_MS);
    m->first_day = first * PW_SUCCESS_DAY_MS;
    m->days = (int)(last - first + 1);
    if (m->days > PW_SUCCESS_MAX_DAYS) return PW_EINVAL; /* cannot happen within 366 days */
    for (size_t i = 0; i < n; i++) {
        const struct store_session_facts *f = &facts[i];
        if (!in_window(f, from, to)) continue;
        int64_t day = floor_div(f->created_at, PW_SUCCESS_DAY_MS) - first;
        m->daily[day][f->priority_routing ? PW_SUCCESS_PRIORITY_BROADCAST : PW_SUCCESS_BROADCAST]++;
    }
    return PW_OK;
}

/* ---- JSON ---- */

/* Rates are fractions rounded to 4 decimals (0.6667), NPS to 1 decimal: the exact counts
 * travel beside them. */
static json_t *ratio(int64_t num, int64_t den)
{
    return den ? json_real(round((double)num / (double)den * 10000.0) / 10000.0) : json_null();
}

static json_t *rate_json(const struct pw_success_rate *r, const char *num_name,
                         const char *den_name)
{
    return json_pack("{s:o, s:I, s:I}", "rate", ratio(r->num, r->den), num_name, (json_int_t)r->num,
                     den_name, (json_int_t)r->den);
}

static json_t *seconds(int64_t ms, bool valid)
{
    return valid ? json_real((double)ms / 1000.0) : json_null();
}

static json_t *block_json(const struct pw_success_block *b)
{
    json_t *o = json_object();
    json_object_set_new(o, "sessions",
                        json_pack("{s:I, s:I, s:I}", "total", (json_int_t)b->sessions, "broadcast",
                                  (json_int_t)b->broadcast, "priority_broadcast",
                                  (json_int_t)b->priority_broadcast));
    json_object_set_new(o, "share",
                        json_pack("{s:o, s:o}", "chosen_mechanic",
                                  ratio(b->priority_broadcast, b->sessions), "first_available",
                                  ratio(b->broadcast, b->sessions)));
    json_object_set_new(o, "priority_acceptance",
                        rate_json(&b->priority_acceptance, "accepted", "ended"));
    json_object_set_new(o, "fallback", rate_json(&b->fallback, "fell_back", "left_priority"));
    json_object_set_new(o, "expiry", rate_json(&b->expiry, "expired", "routed"));
    json_object_set_new(o, "time_to_start",
                        json_pack("{s:I, s:o, s:o}", "count", (json_int_t)b->started, "p50_seconds",
                                  seconds(b->p50_ms, b->started > 0), "p90_seconds",
                                  seconds(b->p90_ms, b->started > 0)));
    json_object_set_new(
        o, "nps",
        json_pack("{s:o, s:I, s:I, s:I, s:I}", "score",
                  b->nps_answers ? json_real(round(pw_success_nps(b->promoters, b->detractors,
                                                                  b->nps_answers) *
                                                   10.0) /
                                             10.0)
                                 : json_null(),
                  "answers", (json_int_t)b->nps_answers, "promoters", (json_int_t)b->promoters,
                  "passives", (json_int_t)b->passives, "detractors", (json_int_t)b->detractors));
    json_object_set_new(o, "escalation", rate_json(&b->escalation, "escalated", "with_outcome"));
    return o;
}

json_t *pw_success_json(const struct pw_success_metrics *m)
{
    char from[PW_ISO_LEN + 1], to[PW_ISO_LEN + 1];
    pw_iso8601(m->from, from);
    pw_iso8601(m->to, to);
    json_t *daily = json_array();
    for (int d = 0; d < m->days; d++) {
        char iso[PW_ISO_LEN + 1];
        pw_iso8601(m->first_day + d * PW_SUCCESS_DAY_MS, iso);
        iso[10] = '\0'; /* the date part */
        int64_t b = m->daily[d][PW_SUCCESS_BROADCAST],
                p = m->daily[d][PW_SUCCESS_PRIORITY_BROADCAST];
        json_array_append_new(daily, json_pack("{s:s, s:I, s:I, s:I}", "date", iso, "total",
                                               (json_int_t)(b + p), "broadcast", (json_int_t)b,
                                               "priority_broadcast", (json_int_t)p));
    }
    return json_pack("{s:s, s:s, s:o, s:{s:o, s:o}, s:{s:o, s:o}, s:o}", "from", from, "to", to,
                     "overall", block_json(&m->overall), "by_routing_type", "broadcast",
                     block_json(&m->by_type[PW_SUCCESS_BROADCAST]), "priority_broadcast",
                     block_json(&m->by_type[PW_SUCCESS_PRIORITY_BROADCAST]), "by_rollout_group",
                     "selection", block_json(&m->by_group[PW_SUCCESS_SELECTION]), "control",
                     block_json(&m->by_group[PW_SUCCESS_CONTROL]), "daily", daily);
}

/* ---- time parsing ---- */

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int mo, int d)
{
    y -= mo <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* n digits at *p as a number, advancing p; -1 when they are not all digits. */
static int digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    return v;
}

static int month_days(int y, int mo)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return mo == 2 && leap ? 29 : days[mo - 1];
}

bool pw_success_parse_time(const char *s, int64_t *ms)
{
    if (!s) return false;
    const char *p = s;
    int y = digits(&p, 4);
    if (y < 1970 || *p++ != '-') return false;
    int mo = digits(&p, 2);
    if (mo < 1 || mo > 12 || *p++ != '-') return false;
    int d = digits(&p, 2);
    if (d < 1 || d > month_days(y, mo)) return false;
    int h = 0, mi = 0, sec = 0, milli = 0;
    if (*p == 'T') {
        p++;
        h = digits(&p, 2);
        if (h < 0 || h > 23 || *p++ != ':') return false;
        mi = digits(&p, 2);
        if (mi < 0 || mi > 59) return false;
        if (*p == ':') {
            p++;
            sec = digits(&p, 2);
            if (sec < 0 || sec > 59) return false;
            if (*p == '.') {
                p++;
                int n = 0;
                milli = 0;
                while (*p >= '0' && *p <= '9') {
                    if (n < 3) milli = milli * 10 + (*p - '0');
                    n++;
                    p++;
                }
                if (n == 0 || n > 9) return false;
                for (; n < 3; n++) milli *= 10;
            }
        }
        if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0) return false;
    } else if (*p) {
        return false;
    }
    *ms = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000LL + sec * 1000LL + milli;
    return true;
}
