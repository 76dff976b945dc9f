/* The one fixture of the unit tests that need a running process: a test database (test_db.h,
 * either backend), a fake clock, and a real struct pw_app over them, opened by pw_app_open —
 * the way pw_app_init wires the store, directory, hub, follower, presence and routing — but
 * without worker threads or the HTTP server. Options cover what tests need besides: the
 * storage core alone, a second process on the same database, a smaller replay ring, rows in
 * place before the processes start. Every failure fails the test (cmocka). */
#ifndef PW_TEST_FIXTURE_H
#define PW_TEST_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "core/clock.h"
#include "core/model.h"
#include "test_db.h"

#define FX_T0 1767225600000LL /* the fake clock's start: 2026-01-01T00:00:00.000Z */
/* the configuration the processes start with (pw_config's names, in its units) */
#define FX_PRESENCE_TIMEOUT_S 60
#define FX_PRIORITY_WINDOW_S 600
#define FX_REQUEST_TTL_S 1800
#define FX_BROADCAST_SIZE 3
#define FX_REPLAY_EVENTS 1024

struct store;

struct fx_options {
    const char *name;  /* names the test database (test_db_create's prefix) */
    bool store_only;   /* the storage core alone: app.store, nothing over it */
    bool peer;         /* a second process on the same database: fx.peer */
    int replay_events; /* the hub's ring (cfg.replay_events); 0: FX_REPLAY_EVENTS */
    /* rows the processes find when they start, written through a handle of their own */
    void (*seed)(struct store *st);
};

struct fx {
    struct test_db db;
    struct fx_options opt;
    struct pw_config cfg;    /* what the processes are opened with */
    struct pw_fake_clock fc; /* every process's clock (app.clock reads it); starts at FX_T0 */
    struct pw_app app;
    struct pw_app peer; /* opt.peer */
};

/* A fresh database, seeded, and the process(es) on it, routing resumed (pw_routing_init). */
struct fx *fx_new(const struct fx_options *opt);
void fx_free(struct fx *f);
/* As cmocka teardowns: *state is the fixture. */
int fx_teardown(void **state);

/* One process on the fixture's database: pw_app_open, then pw_routing_init. */
void fx_start(struct fx *f, struct pw_app *app);
/* A restart of f->app: everything in memory thrown away, the store closed and opened again.
 * Routing is not resumed, so that a test can look at the state before pw_routing_init. With
 * store_only, the store alone is closed and reopened. */
void fx_restart(struct fx *f);

/* Another handle on the fixture's database (another process, the command line); the caller
 * closes it. */
struct store *fx_store_open(const struct fx *f);

/* A mechanic with the tests' defaults: user "u-<id>", Toronto, 4.5, approved, able to accept
 * sessions, offline. */
struct pw_mechanic fx_mechanic(const char *id);
/* Inserts the mechanic and the user account behind it ("<id>@test.invalid"). */
void fx_add_mechanic(struct store *st, const struct pw_mechanic *m);

#endif
