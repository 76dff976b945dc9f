/* GET /metrics: the Prometheus text exposition format (version 0.0.4). Every series is
 * prefixed pitwall_. Counters come from core/request_metrics.c and the modules' own counters;
 * gauges are read now. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "app.h"
#include "core/request_metrics.h"
#include "presence/directory.h"
#include "stream/hub.h"
#include "stream/sse.h"

struct buf {
    char *p;
    size_t len, cap;
    bool failed;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
    if (b->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

static void family(struct buf *b, const char *name, const char *type, const char *help)
{
    put(b, "# HELP pitwall_%s %s\n# TYPE pitwall_%s %s\n", name, help, name, type);
}

/* Label values: backslash, double quote and newline escaped as the format requires. */
static void label_value(struct buf *b, const char *v)
{
    for (const char *c = v; *c; c++) {
        if (*c == '\\') put(b, "\\\\");
        else if (*c == '"') put(b, "\\\"");
        else if (*c == '\n') put(b, "\\n");
        else put(b, "%c", *c);
    }
}

static void request_line(void *ctx, const char *route, unsigned status, uint64_t count)
{
    struct buf *b = ctx;
    put(b, "pitwall_http_requests_total{route=\"");
    label_value(b, route);
    put(b, "\",status=\"%u\"} %llu\n", status, (unsigned long long)count);
}

struct presence_counts {
    uint64_t by[3];
    uint64_t listed;
};

static void count_presence(void *ctx, struct pw_dir_mechanic *m)
{
    struct presence_counts *c = ctx;
    if (!pw_dir_listed(m)) return;
    c->listed++;
    c->by[m->m.presence]++;
}

void api_metrics(struct http_request *r)
{
    struct pw_app *app = r->app;
    struct buf b = {malloc(8192), 0, 8192, false};
    if (!b.p) {
        http_error(r, PW_EINTERNAL, NULL);
        return;
    }
    family(&b, "http_requests_total", "counter",
           "HTTP requests answered, by route pattern and status.");
    pw_request_metrics_each(&app->http.metrics, request_line, &b);

    uint64_t cum[PW_LATENCY_BUCKETS], count;
    double sum;
    pw_request_metrics_latency(&app->http.metrics, cum, &sum, &count);
    family(&b, "http_request_duration_seconds", "histogram",
           "Time from the request line to the end of the answer (streams: their lifetime).");
    for (int i = 0; i < PW_LATENCY_BUCKETS; i++)
        put(&b, "pitwall_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
            pw_latency_bounds_s[i], (unsigned long long)cum[i]);
    put(&b, "pitwall_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
        (unsigned long long)count);
    put(&b, "pitwall_http_request_duration_seconds_sum %.6f\n", sum);
    put(&b, "pitwall_http_request_duration_seconds_count %llu\n", (unsigned long long)count);

    family(&b, "connections_open", "gauge", "Client connections open now.");
    put(&b, "pitwall_connections_open %zu\n", http_open_connections(&app->http));
    family(&b, "streams_open", "gauge", "Server-Sent Event streams open now, by kind.");
    for (int k = 0; k < PW_CHANNEL_KINDS; k++)
        put(&b, "pitwall_streams_open{kind=\"%s\"} %zu\n", pw_channel_kind_name((enum pw_channel)k),
            pw_stream_open_count(&app->streams, (enum pw_channel)k));

    uint64_t published, delivered, dropped;
    pw_hub_counters(app->hub, &published, &delivered, &dropped);
    family(&b, "events_published_total", "counter", "Events published (each serialised once).");
    put(&b, "pitwall_events_published_total %llu\n", (unsigned long long)published);
    family(&b, "events_delivered_total", "counter", "Event frames queued to subscribers.");
    put(&b, "pitwall_events_delivered_total %llu\n", (unsigned long long)delivered);
    family(&b, "subscribers_dropped_total", "counter",
           "Subscribers cut off for not keeping up (they reconnect and replay).");
    put(&b, "pitwall_subscribers_dropped_total %llu\n", (unsigned long long)dropped);
    family(&b, "event_sequence", "gauge", "The latest event sequence number.");
    put(&b, "pitwall_event_sequence %lld\n", (long long)pw_hub_latest_seq(app->hub));
    family(&b, "followed_events_total", "counter",
           "Events committed by other processes (other nodes, the command line), applied here.");
    put(&b, "pitwall_followed_events_total %llu\n", (unsigned long long)app->follow.applied);
    family(&b, "db_notifications_total", "counter",
           "Wake-ups by PostgreSQL notifications (other nodes' commits).");
    put(&b, "pitwall_db_notifications_total %llu\n", (unsigned long long)app->follow.notifications);
    family(&b, "db_listener_reconnects_total", "counter",
           "New listening connections to PostgreSQL after one was lost (each followed by a "
           "catch-up).");
    put(&b, "pitwall_db_listener_reconnects_total %llu\n",
        (unsigned long long)app->follow.reconnects);

    struct presence_counts pc = {0};
    pw_dir_each(app->dir, count_presence, &pc);
    family(&b, "mechanics", "gauge", "Bookable mechanics, by presence.");
    for (int p = 0; p < 3; p++)
        put(&b, "pitwall_mechanics{presence=\"%s\"} %llu\n",
            pw_presence_name((enum pw_presence_state)p), (unsigned long long)pc.by[p]);
    family(&b, "presence_changes_total", "counter", "Presence changes, every reason.");
    put(&b, "pitwall_presence_changes_total %llu\n", (unsigned long long)app->presence.changes);
    family(&b, "presence_timeouts_total", "counter", "Mechanics set offline for not being seen.");
    put(&b, "pitwall_presence_timeouts_total %llu\n", (unsigned long long)app->presence.timeouts);

    const struct pw_routing *rt = &app->routing;
    family(&b, "routing_total", "counter", "Routing outcomes since start.");
    put(&b, "pitwall_routing_total{outcome=\"created\"} %llu\n", (unsigned long long)rt->created);
    put(&b, "pitwall_routing_total{outcome=\"broadcast\"} %llu\n",
        (unsigned long long)rt->broadcasts);
    put(&b, "pitwall_routing_total{outcome=\"accepted\"} %llu\n", (unsigned long long)rt->accepted);
    put(&b, "pitwall_routing_total{outcome=\"declined\"} %llu\n", (unsigned long long)rt->declined);
    put(&b, "pitwall_routing_total{outcome=\"cancelled\"} %llu\n",
        (unsigned long long)rt->cancelled);
    put(&b, "pitwall_routing_total{outcome=\"expired\"} %llu\n", (unsigned long long)rt->expired);

    family(&b, "start_time_seconds", "gauge",
           "When this process started, seconds since the epoch.");
    put(&b, "pitwall_start_time_seconds %.3f\n", (double)app->started_at / 1000.0);

    if (b.failed) {
        free(b.p);
        http_error(r, PW_EINTERNAL, NULL);
        return;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(b.len, b.p, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(b.p);
        http_error(r, PW_EINTERNAL, NULL);
        return;
    }
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    http_respond(r, 200, resp);
}
