#include "app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

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
    struct pw_hub_event *ev =
        pw_hub_event_new(se->seq, se->type, se->channel, se->payload, se->created_at);
    if (!ev) return;
    pw_hub_remember(ctx, ev);
    pw_hub_event_unref(ev);
}

static pw_err load_demo(struct pw_app *app, char *err, size_t errlen)
{
    bool empty;
    pw_err e = store_is_empty(app->store, &empty);
    if (e || !empty) return e;
    char hash[128];
    if (!pw_auth_password_hash(PW_DEMO_PASSWORD, hash)) {
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
    if ((e == PW_ECONFLICT || e == PW_EEMAILTAKEN) && store_is_empty(app->store, &empty) == PW_OK &&
        !empty) {
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

/* ---- the application's part of the HTTP server's event loop (struct http_hooks) ---- */

/* PostgreSQL's listening connection: (re)registered whenever the store has a new one. */
static void listen_register(struct pw_app *app)
{
    if (app->loop_fd < 0) return;
    unsigned gen = 0;
    int fd = store_listen_fd(app->store, &gen);
    if (fd == app->listen_fd && gen == app->listen_gen) return;
    if (app->listen_fd >= 0) /* gone already if closed */
        epoll_ctl(app->loop_fd, EPOLL_CTL_DEL, app->listen_fd, NULL);
    app->listen_fd = -1;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &app->listen_watch};
    if (fd >= 0 && epoll_ctl(app->loop_fd, EPOLL_CTL_ADD, fd, &ev) == 0) app->listen_fd = fd;
    app->listen_gen = gen;
}

static void on_listen(struct pw_watch *w, uint32_t events)
{
    (void)events;
    struct pw_app *app = pw_container_of(w, struct pw_app, listen_watch);
    pw_follow_notified(&app->follow);
    listen_register(app); /* a lost one was replaced */
}

static void loop_started(void *ctx, int epfd)
{
    struct pw_app *app = ctx;
    app->loop_fd = epfd;
    pw_stream_watch_init(&app->streams, epfd);
    listen_register(app);
}

static void loop_tick(void *ctx)
{
    struct pw_app *app = ctx;
    pw_app_tick(app);
    listen_register(app);
}

static void loop_drain(void *ctx)
{
    struct pw_app *app = ctx;
    pw_hub_close_all(app->hub); /* streams end once their queue is written */
}

static size_t loop_woken(void *ctx)
{
    struct pw_app *app = ctx;
    return pw_stream_take_resumed(&app->streams);
}

static size_t loop_parked(void *ctx)
{
    const struct pw_app *app = ctx;
    return pw_stream_suspended_count(&app->streams);
}

/* Worker jobs finish (and resume their requests) in pw_workers_stop. A Stripe call still
 * waiting for its answer would hold that up to its 15 s timeout: it fails now instead (the
 * session is cancelled, nothing was charged). */
static void loop_stop(void *ctx)
{
    struct pw_app *app = ctx;
    pw_stripe_give_up(&app->stripe, true);
    pw_workers_stop(app->workers);
    pw_workers_stop(app->io_workers);
    app->workers = NULL;
    app->io_workers = NULL;
}

static void loop_stopped(void *ctx)
{
    struct pw_app *app = ctx;
    pw_stream_watch_init(&app->streams, -1);
    app->loop_fd = -1;
    app->listen_fd = -1;
}

static pw_err app_http_init(struct pw_app *app)
{
    app->listen_watch.cb = on_listen;
    struct http_server *s = &app->http;
    s->cfg = &app->cfg;
    s->app = app;
    s->workers = app->workers;
    s->io_workers = app->io_workers;
    s->login_ttl_ms = PW_LOGIN_TTL_MS;
    s->hooks = (struct http_hooks){.ctx = app,
                                   .started = loop_started,
                                   .tick = loop_tick,
                                   .drain = loop_drain,
                                   .woken = loop_woken,
                                   .parked = loop_parked,
                                   .stop = loop_stop,
                                   .stopped = loop_stopped};
    return api_register(s);
}

/* pw_app_open, and the newest event in the database when it opened (the "ready" line's) */
static pw_err app_open(struct pw_app *app, const struct pw_config *cfg,
                       const struct pw_clock *clock, int64_t *latest_out, char *err, size_t errlen)
{
    memset(app, 0, sizeof *app);
    pw_log_bind(&app->log); /* before any thread starts */
    pw_streams_init(&app->streams);
    app->loop_fd = app->listen_fd = -1;
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

    app->dir = pw_dir_new();
    if (!app->dir) return PW_EINTERNAL;
    if ((e = pw_dir_load(app->dir, app->store))) {
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
    *latest_out = latest;
    return PW_OK;
}

pw_err pw_app_open(struct pw_app *app, const struct pw_config *cfg, const struct pw_clock *clock,
                   char *err, size_t errlen)
{
    int64_t latest;
    return app_open(app, cfg, clock, &latest, err, errlen);
}

pw_err pw_app_init(struct pw_app *app, const struct pw_config *cfg, const struct pw_clock *clock,
                   char *err, size_t errlen)
{
    int64_t latest;
    pw_err e = app_open(app, cfg, clock, &latest, err, errlen);
    if (e) return e;
    if ((e = pw_routing_init(&app->routing))) {
        snprintf(err, errlen, "could not resume routing");
        return e;
    }
    app->login_by_email = pw_throttle_new(app->store, PW_LOGIN_FAILS_PER_EMAIL, PW_LOGIN_WINDOW_MS);
    app->login_by_addr = pw_throttle_new(app->store, PW_LOGIN_FAILS_PER_ADDR, PW_LOGIN_WINDOW_MS);
    app->workers = pw_workers_start(2);
    app->io_workers = pw_workers_start(2);
    app->dir_cache = api_directory_cache_new();
    if ((e = app_http_init(app))) {
        snprintf(err, errlen, "out of memory");
        return e;
    }
    app->keepalive = pw_hub_event_raw(PW_SSE_KEEPALIVE, sizeof PW_SSE_KEEPALIVE - 1);
    if (!app->login_by_email || !app->login_by_addr || !app->workers || !app->io_workers ||
        !app->dir_cache || !app->keepalive) {
        snprintf(err, errlen, "out of memory or threads");
        return PW_EINTERNAL;
    }
    pw_log(PW_LOG_INFO, "ready",
           json_pack("{s:s, s:I, s:I, s:I}", "storage", app->store->ops->name, "mechanics",
                     (json_int_t)pw_dir_count(app->dir), "latest_event", (json_int_t)latest,
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
    pw_request_metrics_reset(&app->http.metrics);
    pw_hub_event_unref(app->keepalive);
    pw_throttle_free(app->login_by_email);
    pw_throttle_free(app->login_by_addr);
    pw_follow_free(&app->follow);
    pw_hub_free(app->hub);
    pw_dir_free(app->dir);
    store_close(app->store);
    pw_stripe_cleanup();
    pw_log_bind(NULL); /* the threads that logged are stopped */
    memset(app, 0, sizeof *app);
}
