#include "core/request_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

const double pw_latency_bounds_s[PW_LATENCY_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                        0.05,   0.1,   0.25,   0.5,   1,    2.5};

struct pw_request_counter {
    char key[128]; /* route \x1f status */
    char route[112];
    unsigned status;
    uint64_t count;
    UT_hash_handle hh;
};

void pw_request_metrics_add(struct pw_request_metrics *m, const char *route, unsigned status,
                            int64_t duration_us)
{
    char key[128];
    snprintf(key, sizeof key, "%s\x1f%u", route ? route : "-", status);
    struct pw_request_counter *c;
    HASH_FIND_STR(m->counters, key, c);
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c) return;
        snprintf(c->key, sizeof c->key, "%s", key);
        snprintf(c->route, sizeof c->route, "%s", route ? route : "-");
        c->status = status;
        HASH_ADD_STR(m->counters, key, c);
    }
    c->count++;
    double s = (double)duration_us / 1e6;
    for (int i = 0; i < PW_LATENCY_BUCKETS; i++)
        if (s <= pw_latency_bounds_s[i]) m->buckets[i]++;
    m->observed++;
    m->sum_seconds += s;
}

void pw_request_metrics_each(const struct pw_request_metrics *m,
                             void (*fn)(void *ctx, const char *route, unsigned status,
                                        uint64_t count),
                             void *ctx)
{
    struct pw_request_counter *c, *tmp;
    HASH_ITER(hh, m->counters, c, tmp) fn(ctx, c->route, c->status, c->count);
}

void pw_request_metrics_latency(const struct pw_request_metrics *m,
                                uint64_t cumulative[PW_LATENCY_BUCKETS], double *sum_s,
                                uint64_t *count)
{
    memcpy(cumulative, m->buckets, sizeof m->buckets);
    *sum_s = m->sum_seconds;
    *count = m->observed;
}

void pw_request_metrics_reset(struct pw_request_metrics *m)
{
    struct pw_request_counter *c, *tmp;
    HASH_ITER(hh, m->counters, c, tmp)
    {
        HASH_DEL(m->counters, c);
        free(c);
    }
    *m = (struct pw_request_metrics){0};
}
