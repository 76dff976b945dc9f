/* The whole state of one pitwall process, in one place that tests can build and throw
 * away: configuration, clock, storage, the in-memory directory, the event hub, presence,
 * login throttles, the worker pools and the HTTP server (app->http), whose routes, per-request
 * steps and loop hooks the application registers (pw_app_init). */
#ifndef PW_APP_H
#define PW_APP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/config.h"
#include "cluster/follow.h"
#include "core/error.h"
#include "core/log.h"
#include "http/http.h"
#include "payments/stripe.h"
#include "presence/presence.h"
#include "routing/routing.h"
#include "stream/sse.h"

struct store;
struct pw_hub;
struct pw_dir;
struct pw_throttle;
struct pw_workers;
struct pw_hub_event;
struct pw_dir_cache;

struct pw_app {
    struct pw_config cfg;
    struct pw_log log;       /* bound (pw_log_bind) from pw_app_init to pw_app_free */
    struct http_server http; /* the transport; the API's routes are registered on it */
    struct pw_clock clock;
    struct store *store;
    struct pw_dir *dir;
    struct pw_hub *hub;
    struct pw_follow follow; /* other processes' events in, every event to the hub */
    struct pw_presence presence;
    struct pw_routing routing;
    struct pw_streams streams; /* open SSE streams: counts, parked ones, the loop's epoll */
    struct pw_stripe stripe;   /* Checkout calls in flight give up when the server stops */
    struct pw_throttle *login_by_email;
    struct pw_throttle *login_by_addr;
    struct pw_workers *workers; /* CPU work: password hashing */
    struct pw_workers
        *io_workers; /* slow network calls (Stripe), apart so they never hold logins */
    struct pw_dir_cache *dir_cache;
    struct pw_hub_event *keepalive;
    int rollout_percent; /* mechanic selection shown to this % of customers */
    int64_t started_at;
    /* the event loop's epoll while http_serve runs (-1 otherwise), and PostgreSQL's
     * listening connection on it (other nodes' events), re-added when the store replaces it */
    int loop_fd;
    int listen_fd;
    unsigned listen_gen;
    struct pw_watch listen_watch;
};

#define PW_LOGIN_FAILS_PER_EMAIL 10 /* within PW_LOGIN_WINDOW_MS */
#define PW_LOGIN_FAILS_PER_ADDR 50
#define PW_LOGIN_WINDOW_MS (15 * 60 * 1000)
#define PW_LOGIN_TTL_MS (30LL * 24 * 3600 * 1000) /* a login lasts 30 days */

/* Opens the store (migrating it), loads demo data when asked and the database is empty,
 * fills the directory and the replay ring, and wires the follower, presence and routing over
 * them; routing is not resumed yet (pw_routing_init). pw_app_init's first part: the unit tests
 * build a process from it (tests/unit/fixture.c), without the worker threads or the HTTP
 * server. pw_app_free frees it. */
pw_err pw_app_open(struct pw_app *app, const struct pw_config *cfg, const struct pw_clock *clock,
                   char *err, size_t errlen);
/* pw_app_open, then resumes routing (its timers, presence repairs), creates the login
 * throttles and the worker pools and registers the API on app->http (not yet serving). */
pw_err pw_app_init(struct pw_app *app, const struct pw_config *cfg, const struct pw_clock *clock,
                   char *err, size_t errlen);
/* Once a second from the event loop: other processes' events, presence sweep, timers,
 * keep-alives, throttle pruning. */
void pw_app_tick(struct pw_app *app);
void pw_app_free(struct pw_app *app);

#endif
