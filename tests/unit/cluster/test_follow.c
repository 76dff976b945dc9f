/* Two processes on one database (the fixture's app and peer), each with its own store handle,
 * directory, hub and follower (cluster/follow.c): what one commits, the other reads, applies to
 * memory and publishes, and every hub sees one order, the table's. Runs on SQLite (two handles
 * on one file) and on PostgreSQL when PITWALL_TEST_PG_URL is set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/follow.h"
#include "core/clock.h"
#include "core/log.h"
#include "presence/directory.h"
#include "presence/presence.h"
#include "store/store.h"
#include "stream/hub.h"
#include "fixture.h"

#define T0 FX_T0

static void add_mechanic(struct store *st, const char *id)
{
    struct pw_mechanic m = fx_mechanic(id);
    fx_add_mechanic(st, &m);
}

static void seed(struct store *st)
{
    add_mechanic(st, "m1");
    add_mechanic(st, "m2");
}

/* two processes on one database: A is fx.app, B fx.peer */
static const struct fx_options options = {.name = "pw_follow", .peer = true, .seed = seed};

static int setup(void **state)
{
    *state = fx_new(&options);
    return 0;
}

struct got {
    int n;
    int64_t seq[16];
    char type[16][16];
};

static void wake(void *ctx)
{
    (void)ctx;
}

/* Everything queued to a subscriber, as the SSE text, parsed back into ids and types. */
static void drain(struct pw_hub_sub *s, struct got *g)
{
    char buf[16384];
    size_t n = pw_hub_sub_read(s, buf, sizeof buf - 1);
    buf[n] = '\0';
    for (char *p = buf; (p = strstr(p, "id: ")) != NULL; p++) {
        assert_true(g->n < 16);
        g->seq[g->n] = strtoll(p + 4, NULL, 10);
        char *t = strstr(p, "event: ");
        assert_non_null(t);
        sscanf(t + 7, "%15s", g->type[g->n]);
        g->n++;
    }
}

static void test_a_change_on_one_node_reaches_the_other(void **state)
{
    struct fx *f = *state;
    struct pw_hub_sub *sub = pw_hub_sub_new(f->peer.hub, wake, NULL, T0);
    assert_true(pw_hub_sub_add_channel(sub, "presence:m1"));
    uint64_t gen = pw_dir_generation(f->peer.dir);

    assert_int_equal(pw_presence_change(&f->app.presence, pw_dir_get(f->app.dir, "m1"), PW_ONLINE,
                                        PW_REASON_MANUAL),
                     PW_OK);
    int64_t seq = pw_hub_latest_seq(f->app.hub);
    assert_true(seq > 0);
    /* B knows nothing until it reads the table */
    assert_int_equal(pw_dir_get(f->peer.dir, "m1")->m.presence, PW_OFFLINE);
    assert_int_equal(pw_follow_catch_up(&f->peer.follow), PW_OK);
    struct pw_dir_mechanic *m = pw_dir_get(f->peer.dir, "m1");
    assert_int_equal(m->m.presence, PW_ONLINE);
    assert_int_equal(m->m.last_seen_at, T0);
    assert_true(pw_dir_generation(f->peer.dir) != gen);
    assert_int_equal(pw_hub_latest_seq(f->peer.hub), seq);
    struct got g = {0};
    drain(sub, &g);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.seq[0], seq);
    assert_string_equal(g.type[0], "presence");
    /* read again: nothing twice */
    assert_int_equal(pw_follow_catch_up(&f->peer.follow), PW_OK);
    assert_false(pw_hub_sub_has_data(sub));
    assert_int_equal(f->peer.follow.applied, 1);
    pw_hub_sub_free(sub);
}

static void test_own_events_wait_for_earlier_ones_of_others(void **state)
{
    struct fx *f = *state;
    struct pw_hub_sub *sub = pw_hub_sub_new(f->peer.hub, wake, NULL, T0);
    assert_true(pw_hub_sub_add_channel(sub, "presence:m1"));
    assert_true(pw_hub_sub_add_channel(sub, "presence:m2"));
    /* A commits first; B, not having read it, commits next */
    assert_int_equal(pw_presence_change(&f->app.presence, pw_dir_get(f->app.dir, "m1"), PW_ONLINE,
                                        PW_REASON_MANUAL),
                     PW_OK);
    f->fc.now += 1000;
    assert_int_equal(pw_presence_change(&f->peer.presence, pw_dir_get(f->peer.dir, "m2"), PW_ONLINE,
                                        PW_REASON_MANUAL),
                     PW_OK);
    /* B's hub got A's event first (read from the table on B's commit), then its own */
    struct got g = {0};
    drain(sub, &g);
    assert_int_equal(g.n, 2);
    assert_true(g.seq[0] < g.seq[1]);
    assert_int_equal(g.seq[0], pw_hub_latest_seq(f->app.hub));
    assert_int_equal(pw_dir_get(f->peer.dir, "m1")->m.presence, PW_ONLINE);
    assert_int_equal(pw_dir_get(f->peer.dir, "m2")->m.presence, PW_ONLINE);
    /* and A, reading, ends with the same sequence */
    assert_int_equal(pw_follow_catch_up(&f->app.follow), PW_OK);
    assert_int_equal(pw_hub_latest_seq(f->app.hub), pw_hub_latest_seq(f->peer.hub));
    assert_int_equal(pw_dir_get(f->app.dir, "m2")->m.presence, PW_ONLINE);
    pw_hub_sub_free(sub);
}

static void test_a_newer_sighting_here_is_kept(void **state)
{
    struct fx *f = *state;
    struct pw_dir_mechanic *mb = pw_dir_get(f->peer.dir, "m1");
    f->fc.now = T0 + 5000;
    pw_presence_seen(&f->peer.presence, mb); /* B saw m1 at T0 + 5 s */
    f->fc.now = T0;
    assert_int_equal(pw_presence_change(&f->app.presence, pw_dir_get(f->app.dir, "m1"), PW_ONLINE,
                                        PW_REASON_MANUAL),
                     PW_OK);
    assert_int_equal(pw_follow_catch_up(&f->peer.follow), PW_OK);
    assert_int_equal(mb->m.presence, PW_ONLINE);
    assert_int_equal(mb->m.last_seen_at, T0 + 5000);
}

static void test_status_and_rollout_changes_are_followed(void **state)
{
    struct fx *f = *state;
    /* as the admin API does: the row and the event, in one transaction */
    assert_int_equal(store_tx_begin(f->app.store), PW_OK);
    assert_int_equal(store_mechanic_set_status(f->app.store, "m2", PW_MECH_SUSPENDED, false),
                     PW_OK);
    assert_int_equal(pw_follow_mechanic_changed(f->app.store, "m2", T0), PW_OK);
    assert_int_equal(pw_follow_rollout_changed(f->app.store, 25, T0), PW_OK);
    assert_int_equal(store_tx_commit(f->app.store), PW_OK);

    /* and a mechanic added by another process (the command line) */
    struct store *cli = fx_store_open(f);
    assert_int_equal(store_tx_begin(cli), PW_OK);
    add_mechanic(cli, "m3");
    assert_int_equal(pw_follow_mechanic_changed(cli, "m3", T0), PW_OK);
    assert_int_equal(store_tx_commit(cli), PW_OK);
    store_close(cli);

    assert_null(pw_dir_get(f->peer.dir, "m3"));
    assert_int_equal(pw_follow_catch_up(&f->peer.follow), PW_OK);
    struct pw_dir_mechanic *m2 = pw_dir_get(f->peer.dir, "m2");
    assert_int_equal(m2->m.status, PW_MECH_SUSPENDED);
    assert_false(pw_dir_listed(m2));
    assert_int_equal(f->peer.rollout_percent, 25);
    assert_non_null(pw_dir_get(f->peer.dir, "m3"));
    /* the suspension's withdrawals wait for the next top-level call (applying never writes) */
    assert_int_equal(f->peer.follow.n_suspended, 1);
    /* a process that made the change itself does not apply it again */
    assert_int_equal(f->app.rollout_percent, 100);
    assert_int_equal(f->app.follow.applied, 0);
}

/* More than a page (1,000) of other processes' events, a hole in the sequence (a commit
 * that failed after taking its seq: made here on PostgreSQL by drawing one), then an own
 * event: B's hub ends with every event, in order, and its own last. */
static void test_long_catch_up_with_a_hole(void **state)
{
    struct fx *f = *state;
    struct pw_hub_sub *sub = pw_hub_sub_new(f->peer.hub, wake, NULL, T0);
    assert_true(pw_hub_sub_add_channel(sub, "session:s1"));
    assert_int_equal(store_tx_begin(f->app.store), PW_OK);
    for (int i = 0; i < 1500; i++) {
        struct store_event ev = {
            .type = "routing", .channel = "session:s1", .payload = "{}", .created_at = T0};
        assert_int_equal(store_event_append(f->app.store, &ev), PW_OK);
    }
    assert_int_equal(store_tx_commit(f->app.store), PW_OK);
    int64_t a_last = pw_hub_latest_seq(f->app.hub);
    if (f->db.pg) {
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT nextval(pg_get_serial_sequence('%s.events', 'seq'))",
                 f->db.schema);
        assert_true(test_db_pg_int(sql) == a_last + 1);
    }
    struct store_event own = {
        .type = "routing", .channel = "session:s1", .payload = "{\"own\":1}", .created_at = T0};
    assert_int_equal(store_event_append(f->peer.store, &own), PW_OK);
    assert_int_equal(own.seq, a_last + (f->db.pg ? 2 : 1));
    assert_int_equal(pw_hub_latest_seq(f->peer.hub), own.seq);
    assert_int_equal(f->peer.follow.applied, 1500);
    /* the subscriber's queue is bounded: it overflowed, which ends its stream (it would
     * reconnect and replay); the ring has the newest of them, in order */
    assert_true(pw_hub_sub_overflowed(sub));
    assert_true(pw_hub_can_replay(f->peer.hub, a_last - 10));
    pw_hub_sub_free(sub);
}

int main(void)
{
    pw_log_set_level(PW_LOG_OFF);
#define T(name) cmocka_unit_test_setup_teardown(name, setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_a_change_on_one_node_reaches_the_other),
        T(test_own_events_wait_for_earlier_ones_of_others),
        T(test_a_newer_sighting_here_is_kept),
        T(test_status_and_rollout_changes_are_followed),
        T(test_long_catch_up_with_a_hole),
    };
#undef T
    return test_db_run_both("follow", tests);
}
