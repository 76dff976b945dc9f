/* The seed's success metrics (SPEC §4.6) over the sessions created in a window, computed
 * in C from one row of facts per session (store_sessions_facts). Pure functions over an
 * array, so the unit tests hand-build histories with known answers; the HTTP side is
 * api/success_metrics.c. The JSON shape is documented in docs/decisions.md. */
#ifndef PW_SUCCESS_METRICS_H
#define PW_SUCCESS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/error.h"
#include "store/store.h"

#define PW_SUCCESS_DAY_MS (86400LL * 1000)
#define PW_SUCCESS_MAX_WINDOW_MS (366 * PW_SUCCESS_DAY_MS)
#define PW_SUCCESS_DEFAULT_WINDOW_MS (30 * PW_SUCCESS_DAY_MS)
/* a window of at most 366 days touches at most 367 UTC days */
#define PW_SUCCESS_MAX_DAYS 367

/* A rate num / den; null in JSON when den is 0. */
struct pw_success_rate {
    int64_t num, den;
};

/* Every metric for one group of sessions (all of them, one routing type, one rollout group). */
struct pw_success_block {
    int64_t sessions, broadcast, priority_broadcast;
    struct pw_success_rate priority_acceptance; /* priority offers accepted / ended */
    struct pw_success_rate fallback;            /* broadcast after priority / left priority */
    struct pw_success_rate expiry;              /* expired / routed */
    struct pw_success_rate escalation;          /* escalated / with an outcome */
    int64_t started;                            /* sessions with a start time (accepted) */
    int64_t p50_ms, p90_ms;                     /* time to start; valid when started > 0 */
    int64_t nps_answers, promoters, passives, detractors;
};

enum { PW_SUCCESS_BROADCAST, PW_SUCCESS_PRIORITY_BROADCAST, PW_SUCCESS_TYPES };
enum { PW_SUCCESS_SELECTION, PW_SUCCESS_CONTROL, PW_SUCCESS_GROUPS };

struct pw_success_metrics {
    int64_t from, to; /* [from, to), ms */
    struct pw_success_block overall;
    struct pw_success_block by_type[PW_SUCCESS_TYPES];
    struct pw_success_block by_group[PW_SUCCESS_GROUPS];
    int64_t first_day; /* ms of the UTC midnight starting daily[0] */
    int days;
    int64_t daily[PW_SUCCESS_MAX_DAYS][PW_SUCCESS_TYPES]; /* sessions created that day */
};

/* Computes m from n facts; facts created outside [from, to) are ignored. PW_EINVAL when
 * the window is empty or longer than 366 days, PW_EINTERNAL when out of memory. */
pw_err pw_success_compute(const struct store_session_facts *facts, size_t n, int64_t from,
                          int64_t to, struct pw_success_metrics *m);

/* The nearest-rank percentile (0 < q <= 1) of n values sorted ascending: the smallest value
 * with at least q·n values at or below it. n must be > 0. */
int64_t pw_success_percentile(const int64_t *sorted, size_t n, double q);

/* NPS from the counts: % promoters minus % detractors, -100..100 (answers > 0). */
double pw_success_nps(int64_t promoters, int64_t detractors, int64_t answers);

/* The JSON answer of GET /api/admin/metrics (a new reference). Send it with
 * PW_SUCCESS_JSON_FLAGS: the HTTP layer's default of 3 significant digits would turn
 * 1234.5 s into 1.23e+03. */
#define PW_SUCCESS_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(12))
json_t *pw_success_json(const struct pw_success_metrics *m);

/* Parses an ISO 8601 UTC time: "YYYY-MM-DD" (midnight) or "YYYY-MM-DDTHH:MM[:SS[.fff]]"
 * followed by "Z" or "+00:00". Years 1970-9999. False on anything else. */
bool pw_success_parse_time(const char *s, int64_t *ms);

#endif
