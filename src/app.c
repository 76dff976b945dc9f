#include "app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "routing/rollout.h"
#include "auth/auth.h"
#include "auth/throttle.h"
#include "cluster/follow.h"
#include "core/log.h"
#include "core/workers.h"
#include "payments/stripe.h"
#include "presence/directory.h"
#include "store/demo.h"
#include "store/store.h"
#include "stream/hub.h"
#include "stream/sse.h"

static void remember_event(void *ctx, const struct store_event *se)
{
    struct pw_event *ev = pw_event_new(se->seq, se->type, se->channel, se->payload, se->created_at);
    if (!ev) return;
    pw_hub_remember(ctx, ev);
    pw_event_unref(ev);
}

static pw_err load_demo(struct pw_app *app, char *err, size_t errlen)
{
    bool empty;
    pw_err e = store_is_empty(app->store, &empty);
    if (e || !empty) return e;
    char hash[128];
    if (!pw_password_hash(PW_DEMO_PASSWORD, hash)) {
        snprintf(err, errlen, "could not hash the demo password");
        return PW_EINTERNAL;
    }
    /* with the event that makes nodes already running on this database list them */
    int64_t now = pw_clock_now(&app->clock);
    if (!(e = store_tx_begin(app->store))) {
        e = pw_demo_load(app->store, hash, app->cfg.demo_mechanics, now);
        if (!e) e = pw_follow_mechanic_changed(app->store, NULL, now);
        if (!e) e = store_tx_commit(app->store);
        else store_tx_rollback(app->store);
    }
    /* several nodes started with --demo on one empty PostgreSQL: one loads, the others'
     * inserts conflict with it (and are rolled back) */
    if ((e == PW_ECONFLICT || e == PW_EEMAILTAKEN) && store_is_empty(app->store, &empty) == PW_OK && !empty) {
        pw_log(PW_LOG_INFO, "demo data loaded by another node", NULL);
        return PW_OK;
    }
    if (e) {
        snprintf(err, errlen, "could not load the demo data (%s)", pw_err_code(e));
        return e;
    }
    pw_log(PW_LOG_INFO, "demo data loaded",
           json_pack("{s:i}", "generated_mechanics", app->cfg.demo_mechanics));
    return PW_OK;
}

pw_err pw_app_init(struct pw_app *app, const struct pw_config *cfg, const struct pw_clock *clock,
                   char *err, size_t errlen)
{
    memset(app, 0, sizeof *app);
    app->cfg = *cfg;
    app->clock = *clock;
    app->started_at = pw_clock_now(clock);
    if (!pw_auth_init()) {
        snprintf(err, errlen, "libsodium could not start");
        return PW_EINTERNAL;
    }
    if (!pw_stripe_init()) {
        snprintf(err, errlen, "libcurl could not start");
        return PW_EINTERNAL;
    }
    pw_err e = store_open(cfg->db_url, &app->store, err, errlen);
    if (e) return e;
    if ((cfg->demo || cfg->demo_mechanics > 0) && (e = load_demo(app, err, errlen))) return e;

    app->dir = pw_directory_new();
    if (!app->dir) return PW_EINTERNAL;
    if ((e = pw_directory_load(app->dir, app->store))) {
        snprintf(err, errlen, "could not load the mechanics");
        return e;
    }
    int64_t latest;
    if ((e = store_event_latest_seq(app->store, &latest))) return e;
    app->hub = pw_hub_new((size_t)cfg->replay_events, latest);
    if (!app->hub) return PW_EINTERNAL;
    if ((e = store_events_tail(app->store, cfg->replay_events, remember_event, app->hub))) return e;

    /* from here on, every event this process commits reaches the hub through the follower */
    app->follow = (struct pw_follow){.store = app->store,
                                     .hub = app->hub,
                                     .dir = app->dir,
                                     .routing = &app->routing,
                                     .rollout_percent = &app->rollout_percent};
    store_set_sink(app->store, pw_follow_committed, &app->follow);

    app->presence = (struct pw_presence){.store = app->store,
                                         .dir = app->dir,
                                         .clock = &app->clock,
                                         .timeout_ms = (int64_t)cfg->presence_timeout_s * 1000};
    char percent[16];
    app->rollout_percent = 100; /* SPEC: the demo starts at 100%; so does a new database */
    if (store_setting_get(app->store, PW_ROLLOUT_KEY, percent, sizeof percent) == PW_OK)
        app->rollout_percent = atoi(percent);
    app->routing = (struct pw_routing){.store = app->store,
                                       .dir = app->dir,
                                       .presence = &app->presence,
                                       .clock = &app->clock,
                                       .priority_window_ms = (int64_t)cfg->priority_window_s * 1000,
                                       .request_ttl_ms = (int64_t)cfg->request_ttl_s * 1000,
                                       .broadcast_size = cfg->broadcast_size};
    app->presence.on_change = pw_routing_presence_changed;
    app->presence.on_change_ctx = &app->routing;
    if ((e = pw_routing_init(&app->routing))) {
        snprintf(err, errlen, "could not resume routing");
        return e;
    }
    app->login_by_email = pw_throttle_new(app->store, PW_LOGIN_FAILS_PER_EMAIL, PW_LOGIN_WINDOW_MS);
    app->login_by_addr = pw_throttle_new(app->store, PW_LOGIN_FAILS_PER_ADDR, PW_LOGIN_WINDOW_MS);
    app->workers = pw_workers_start(2);
    app->io_workers = pw_workers_start(2);
    app->dir_cache = api_directory_cache_new();
    if ((e = api_routes_register(&app->http.router))) {
        snprintf(err, errlen, "out of memory");
        return e;
    }
    app->keepalive = pw_event_raw(PW_SSE_KEEPALIVE, sizeof PW_SSE_KEEPALIVE - 1);
    if (!app->login_by_email || !app->login_by_addr || !app->workers || !app->io_workers || !app->dir_cache ||
        !app->keepalive) {
        snprintf(err, errlen, "out of memory or threads");
        return PW_EINTERNAL;
    }
    pw_log(PW_LOG_INFO, "ready",
           json_pack("{s:s, s:I, s:I, s:I}", "storage", app->store->ops->name, "mechanics",
                     (json_int_t)pw_directory_count(app->dir), "latest_event", (json_int_t)latest,
                     "replay_floor", (json_int_t)pw_hub_floor(app->hub)));
    return PW_OK;
}

void pw_app_tick(struct pw_app *app)
{
    pw_follow_tick(&app->follow); /* other nodes, the command line */
    int64_t now = pw_clock_now(&app->clock);
    pw_presence_sweep(&app->presence);
    pw_routing_tick(&app->routing);
    pw_hub_push_idle(app->hub, app->keepalive, now, (int64_t)app->cfg.keepalive_s * 1000);
    pw_throttle_prune(app->login_by_email, now); /* one table, one window for both */
}

void pw_app_free(struct pw_app *app)
{
    pw_workers_stop(app->workers);
    pw_workers_stop(app->io_workers);
    api_directory_cache_free(app->dir_cache);
    http_router_free(&app->http.router);
    pw_event_unref(app->keepalive);
    pw_throttle_free(app->login_by_email);
    pw_throttle_free(app->login_by_addr);
    pw_follow_free(&app->follow);
    pw_hub_free(app->hub);
    pw_directory_free(app->dir);
    store_close(app->store);
    pw_stripe_cleanup();
    memset(app, 0, sizeof *app);
}
