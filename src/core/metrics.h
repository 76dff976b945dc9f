/* Request counters and the latency histogram for GET /metrics (Prometheus text format).
 * Process-wide, touched only by the event-loop thread. Gauges (streams, presence, routing)
 * are read from their owners when /metrics is rendered (api/metrics.c). */
#ifndef PW_METRICS_H
#define PW_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define PW_LATENCY_BUCKETS 12
extern const double pw_latency_bounds_s[PW_LATENCY_BUCKETS]; /* upper bounds, seconds */

/* Counts one finished request: its route pattern (not the raw path: bounded cardinality). */
void pw_metrics_request(const char *route, unsigned status, int64_t duration_us);

/* Visits each (route, status) counter. */
void pw_metrics_each_request(void (*fn)(void *ctx, const char *route, unsigned status,
                                        uint64_t count),
                             void *ctx);
/* The histogram: cumulative counts per bucket, the sum of seconds, the count. */
void pw_metrics_latency(uint64_t cumulative[PW_LATENCY_BUCKETS], double *sum_s, uint64_t *count);
void pw_metrics_reset(void); /* for tests and shutdown */

#endif
