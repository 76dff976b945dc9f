/* Two processes on one database, each with its own store handle, directory, hub and
 * follower (cluster/follow.c): what one commits, the other reads, applies to memory and
 * publishes, and every hub sees one order, the table's. Runs on SQLite (two handles on one
 * file) and on PostgreSQL when PITWALL_TEST_PG_URL is set. */
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
#include "test_db.h"

#define T0 1767225600000LL

/* One process's view. */
struct node {
    struct store *st;
    struct pw_dir *d;
    struct pw_hub *hub;
    struct pw_follow follow;
    struct pw_presence p;
    int rollout_percent;
};

struct fx {
    struct test_db db;
    struct pw_fake_clock fc;
    struct pw_clock clock;
    struct node a, b;
};

static void add_mechanic(struct store *st, const char *id)
{
    struct pw_user u = {0};
    snprintf(u.id, sizeof u.id, "u-%s", id);
    snprintf(u.email, sizeof u.email, "%s@test.invalid", id);
    snprintf(u.name, sizeof u.name, "Mechanic %s", id);
    snprintf(u.password_hash, sizeof u.password_hash, "x");
    u.role = PW_ROLE_MECHANIC;
    u.created_at = T0;
    assert_int_equal(store_user_insert(st, &u), PW_OK);
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
    assert_int_equal(store_mechanic_insert(st, &m), PW_OK);
}

static void node_start(struct fx *f, struct node *n)
{
    char err[256] = "";
    if (store_open(f->db.url, &n->st, err, sizeof err) != PW_OK) fail_msg("store_open: %s", err);
    n->d = pw_dir_new();
    assert_int_equal(pw_dir_load(n->d, n->st), PW_OK);
    int64_t latest = -1;
    assert_int_equal(store_event_latest_seq(n->st, &latest), PW_OK);
    n->hub = pw_hub_new(1024, latest);
    n->rollout_percent = 100;
    n->follow = (struct pw_follow){
        .store = n->st, .hub = n->hub, .dir = n->d, .rollout_percent = &n->rollout_percent};
    store_set_sink(n->st, pw_follow_committed, &n->follow);
    n->p = (struct pw_presence){
        .store = n->st, .dir = n->d, .clock = &f->clock, .timeout_ms = 60000};
}

static void node_stop(struct node *n)
{
    pw_follow_free(&n->follow);
    pw_hub_free(n->hub);
    pw_dir_free(n->d);
    store_close(n->st);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_true(test_db_create(&f->db, "pw_follow"));
    f->fc.now = T0;
    f->clock = pw_fake_clock_make(&f->fc);
    struct store *st = NULL;
    char err[256] = "";
    if (store_open(f->db.url, &st, err, sizeof err) != PW_OK) fail_msg("store_open: %s", err);
    add_mechanic(st, "m1");
    add_mechanic(st, "m2");
    store_close(st);
    node_start(f, &f->a);
    node_start(f, &f->b);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    node_stop(&f->a);
    node_stop(&f->b);
    test_db_destroy(&f->db);
    free(f);
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
    struct pw_hub_sub *sub = pw_hub_sub_new(f->b.hub, wake, NULL, T0);
    assert_true(pw_hub_sub_add_channel(sub, "presence:m1"));
    uint64_t gen = pw_dir_generation(f->b.d);

    assert_int_equal(pw_presence_change(&f->a.p, pw_dir_get(f->a.d, "m1"), PW_ONLINE,
                                        PW_REASON_MANUAL),
                     PW_OK);
    int64_t seq = pw_hub_latest_seq(f->a.hub);
    assert_true(seq > 0);
    /* B knows nothing until it reads the table */
    assert_int_equal(pw_dir_get(f->b.d, "m1")->m.presence, PW_OFFLINE);
    assert_int_equal(pw_follow_catch_up(&f->b.follow), PW_OK);
    struct pw_dir_mechanic *m = pw_dir_get(f->b.d, "m1");
    assert_int_equal(m->m.presence, PW_ONLINE);
    assert_int_equal(m->m.last_seen_at, T0);
    assert_true(pw_dir_generation(f->b.d) != gen);
    assert_int_equal(pw_hub_latest_seq(f->b.hub), seq);
    struct got g = {0};
    drain(sub, &g);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.seq[0], seq);
    assert_string_equal(g.type[0], "presence");
    /* read again: nothing twice */
    assert_int_equal(pw_follow_catch_up(&f->b.follow), PW_OK);
    assert_false(pw_hub_sub_has_data(sub));
    assert_int_equal(f->b.follow.applied, 1);
    pw_hub_sub_free(sub);
}

static void test_own_events_wait_for_earlier_ones_of_others(void **state)
{
    struct fx *f = *state;
    struct pw_hub_sub *sub = pw_hub_sub_new(f->b.hub, wake, NULL, T0);
    assert_true(pw_hub_sub_add_channel(sub, "presence:m1"));
    assert_true(pw_hub_sub_add_channel(sub, "presence:m2"));
    /* A commits first; B, not having read it, commits next */
    assert_int_equal(pw_presence_change(&f->a.p, pw_dir_get(f->a.d, "m1"), PW_ONLINE,
                                        PW_REASON_MANUAL),
                     PW_OK);
    f->fc.now += 1000;
    assert_int_equal(pw_presence_change(&f->b.p, pw_dir_get(f->b.d, "m2"), PW_ONLINE,
                                        PW_REASON_MANUAL),
                     PW_OK);
    /* B's hub got A's event first (read from the table on B's commit), then its own */
    struct got g = {0};
    drain(sub, &g);
    assert_int_equal(g.n, 2);
    assert_true(g.seq[0] < g.seq[1]);
    assert_int_equal(g.seq[0], pw_hub_latest_seq(f->a.hub));
    assert_int_equal(pw_dir_get(f->b.d, "m1")->m.presence, PW_ONLINE);
    assert_int_equal(pw_dir_get(f->b.d, "m2")->m.presence, PW_ONLINE);
    /* and A, reading, ends with the same sequence */
    assert_int_equal(pw_follow_catch_up(&f->a.follow), PW_OK);
    assert_int_equal(pw_hub_latest_seq(f->a.hub), pw_hub_latest_seq(f->b.hub));
    assert_int_equal(pw_dir_get(f->a.d, "m2")->m.presence, PW_ONLINE);
    pw_hub_sub_free(sub);
}

static void test_a_newer_sighting_here_is_kept(void **state)
{
    struct fx *f = *state;
    struct pw_dir_mechanic *mb = pw_dir_get(f->b.d, "m1");
    f->fc.now = T0 + 5000;
    pw_presence_seen(&f->b.p, mb); /* B saw m1 at T0 + 5 s */
    f->fc.now = T0;
    assert_int_equal(pw_presence_change(&f->a.p, pw_dir_get(f->a.d, "m1"), PW_ONLINE,
                                        PW_REASON_MANUAL),
                     PW_OK);
    assert_int_equal(pw_follow_catch_up(&f->b.follow), PW_OK);
    assert_int_equal(mb->m.presence, PW_ONLINE);
    assert_int_equal(mb->m.last_seen_at, T0 + 5000);
}

static void test_status_and_rollout_changes_are_followed(void **state)
{
    struct fx *f = *state;
    /* as the admin API does: the row and the event, in one transaction */
    assert_int_equal(store_tx_begin(f->a.st), PW_OK);
    assert_int_equal(store_mechanic_set_status(f->a.st, "m2", PW_MECH_SUSPENDED, false), PW_OK);
    assert_int_equal(pw_follow_mechanic_changed(f->a.st, "m2", T0), PW_OK);
    assert_int_equal(pw_follow_rollout_changed(f->a.st, 25, T0), PW_OK);
    assert_int_equal(store_tx_commit(f->a.st), PW_OK);

    /* and a mechanic added by another process (the command line) */
    struct store *cli = NULL;
    char err[256] = "";
    if (store_open(f->db.url, &cli, err, sizeof err) != PW_OK) fail_msg("store_open: %s", err);
    assert_int_equal(store_tx_begin(cli), PW_OK);
    add_mechanic(cli, "m3");
    assert_int_equal(pw_follow_mechanic_changed(cli, "m3", T0), PW_OK);
    assert_int_equal(store_tx_commit(cli), PW_OK);
    store_close(cli);

    assert_null(pw_dir_get(f->b.d, "m3"));
    assert_int_equal(pw_follow_catch_up(&f->b.follow), PW_OK);
    struct pw_dir_mechanic *m2 = pw_dir_get(f->b.d, "m2");
    assert_int_equal(m2->m.status, PW_MECH_SUSPENDED);
    assert_false(pw_dir_listed(m2));
    assert_int_equal(f->b.rollout_percent, 25);
    assert_non_null(pw_dir_get(f->b.d, "m3"));
    /* the suspension's withdrawals wait for the next top-level call (applying never writes) */
    assert_int_equal(f->b.follow.n_suspended, 1);
    /* a process that made the change itself does not apply it again */
    assert_int_equal(f->a.rollout_percent, 100);
    assert_int_equal(f->a.follow.applied, 0);
}

/* More than a page (1,000) of other processes' events, a hole in the sequence (a commit
 * that failed after taking its seq: made here on PostgreSQL by drawing one), then an own
 * event: B's hub ends with every event, in order, and its own last. */
static void test_long_catch_up_with_a_hole(void **state)
{
    struct fx *f = *state;
    struct pw_hub_sub *sub = pw_hub_sub_new(f->b.hub, wake, NULL, T0);
    assert_true(pw_hub_sub_add_channel(sub, "session:s1"));
    assert_int_equal(store_tx_begin(f->a.st), PW_OK);
    for (int i = 0; i < 1500; i++) {
        struct store_event ev = {.type = "routing", .channel = "session:s1", .payload = "{}",
                                 .created_at = T0};
        assert_int_equal(store_event_append(f->a.st, &ev), PW_OK);
    }
    assert_int_equal(store_tx_commit(f->a.st), PW_OK);
    int64_t a_last = pw_hub_latest_seq(f->a.hub);
    if (f->db.pg) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT nextval(pg_get_serial_sequence('%s.events', 'seq'))", f->db.schema);
        assert_true(test_db_pg_int(sql) == a_last + 1);
    }
    struct store_event own = {.type = "routing", .channel = "session:s1", .payload = "{\"own\":1}",
                              .created_at = T0};
    assert_int_equal(store_event_append(f->b.st, &own), PW_OK);
    assert_int_equal(own.seq, a_last + (f->db.pg ? 2 : 1));
    assert_int_equal(pw_hub_latest_seq(f->b.hub), own.seq);
    assert_int_equal(f->b.follow.applied, 1500);
    /* the subscriber's queue is bounded: it overflowed, which ends its stream (it would
     * reconnect and replay); the ring has the newest of them, in order */
    assert_true(pw_hub_sub_overflowed(sub));
    assert_true(pw_hub_can_replay(f->b.hub, a_last - 10));
    pw_hub_sub_free(sub);
}

int main(void)
{
    pw_log_set_level(PW_LOG_OFF);
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
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
