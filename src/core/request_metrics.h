/* Request counters and the latency histogram for GET /metrics (Prometheus text format).
 * One struct per server (app->http.metrics), touched only by the event-loop thread. Gauges
 * (streams, presence, routing) are read from their owners when /metrics is rendered
 * (api/prometheus.c). */
#ifndef PW_REQUEST_METRICS_H
#define PW_REQUEST_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define PW_LATENCY_BUCKETS 12
extern const double pw_latency_bounds_s[PW_LATENCY_BUCKETS]; /* upper bounds, seconds */

struct pw_request_counter;

/* Zero-initialised is empty; pw_request_metrics_reset frees what it holds. */
struct pw_request_metrics {
    struct pw_request_counter *counters; /* (route, status) -> count */
    uint64_t buckets[PW_LATENCY_BUCKETS];
    uint64_t observed;
    double sum_seconds;
};

/* Counts one finished request: its route pattern (not the raw path: bounded cardinality). */
void pw_request_metrics_add(struct pw_request_metrics *m, const char *route, unsigned status,
                            int64_t duration_us);

/* Visits each (route, status) counter. */
void pw_request_metrics_each(const struct pw_request_metrics *m,
                             void (*fn)(void *ctx, const char *route, unsigned status,
                                        uint64_t count),
                             void *ctx);
/* The histogram: cumulative counts per bucket, the sum of seconds, the count. */
void pw_request_metrics_latency(const struct pw_request_metrics *m,
                                uint64_t cumulative[PW_LATENCY_BUCKETS], double *sum_s,
                                uint64_t *count);
void pw_request_metrics_reset(struct pw_request_metrics *m); /* for tests and shutdown */

#endif
