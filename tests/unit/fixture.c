#include "fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "routing/routing.h"
#include "store/store.h"

/* test_db.h's backend flag, one for the whole test program: test_db_run_both sets it in the
 * test's file, the fixture reads it here */
bool test_db_pg;

void fx_start(struct fx *f, struct pw_app *app)
{
    char err[256] = "";
    struct pw_clock clock = pw_fake_clock_make(&f->fc);
    pw_err e = pw_app_open(app, &f->cfg, &clock, err, sizeof err);
    if (e) fail_msg("pw_app_open: %s (%s)", err, pw_err_code(e));
    if ((e = pw_routing_init(&app->routing))) fail_msg("pw_routing_init: %s", pw_err_code(e));
}

struct store *fx_store_open(const struct fx *f)
{
    struct store *st = NULL;
    char err[256] = "";
    if (store_open(f->db.url, &st, err, sizeof err) != PW_OK) fail_msg("store_open: %s", err);
    return st;
}

struct fx *fx_new(const struct fx_options *opt)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->opt = *opt;
    if (!test_db_create(&f->db, opt->name)) fail_msg("test_db_create %s", opt->name);
    f->fc.now = FX_T0;
    pw_config_defaults(&f->cfg);
    snprintf(f->cfg.db_url, sizeof f->cfg.db_url, "%s", f->db.url);
    f->cfg.presence_timeout_s = FX_PRESENCE_TIMEOUT_S;
    f->cfg.priority_window_s = FX_PRIORITY_WINDOW_S;
    f->cfg.request_ttl_s = FX_REQUEST_TTL_S;
    f->cfg.broadcast_size = FX_BROADCAST_SIZE;
    f->cfg.replay_events = opt->replay_events > 0 ? opt->replay_events : FX_REPLAY_EVENTS;
    if (opt->store_only) {
        f->app.store = fx_store_open(f);
        return f;
    }
    if (opt->seed) {
        struct store *st = fx_store_open(f);
        opt->seed(st);
        store_close(st);
    }
    fx_start(f, &f->app);
    if (opt->peer) fx_start(f, &f->peer);
    return f;
}

void fx_restart(struct fx *f)
{
    if (f->opt.store_only) {
        store_close(f->app.store);
        f->app.store = fx_store_open(f);
        return;
    }
    pw_app_free(&f->app);
    char err[256] = "";
    struct pw_clock clock = pw_fake_clock_make(&f->fc);
    pw_err e = pw_app_open(&f->app, &f->cfg, &clock, err, sizeof err);
    if (e) fail_msg("pw_app_open: %s (%s)", err, pw_err_code(e));
}

void fx_free(struct fx *f)
{
    if (!f) return;
    if (f->opt.store_only) {
        store_close(f->app.store);
    } else {
        if (f->opt.peer) pw_app_free(&f->peer);
        pw_app_free(&f->app);
    }
    test_db_destroy(&f->db);
    free(f);
}

int fx_teardown(void **state)
{
    fx_free(*state);
    return 0;
}

struct pw_mechanic fx_mechanic(const char *id)
{
    struct pw_mechanic m = {0};
    snprintf(m.id, sizeof m.id, "%s", id);
    snprintf(m.user_id, sizeof m.user_id, "u-%s", id);
    snprintf(m.name, sizeof m.name, "Mechanic %s", id);
    snprintf(m.city, sizeof m.city, "Toronto");
    snprintf(m.country, sizeof m.country, "Canada");
    m.rating_tenths = 45;
    m.status = PW_MECH_APPROVED;
    m.can_accept_sessions = true;
    m.presence = PW_OFFLINE;
    return m;
}

void fx_add_mechanic(struct store *st, const struct pw_mechanic *m)
{
    struct pw_user u = {0};
    snprintf(u.id, sizeof u.id, "%s", m->user_id);
    snprintf(u.email, sizeof u.email, "%s@test.invalid", m->id);
    snprintf(u.name, sizeof u.name, "%s", m->name);
    snprintf(u.password_hash, sizeof u.password_hash, "x");
    u.role = PW_ROLE_MECHANIC;
    u.created_at = FX_T0;
    assert_int_equal(store_user_insert(st, &u), PW_OK);
    assert_int_equal(store_mechanic_insert(st, m), PW_OK);
}
