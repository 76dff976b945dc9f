/* Presence (SPEC §3) against a real SQLite file and a fake clock: manual switches, who may
 * switch, busy, the sweeper's timeout, "seen", open dashboard streams, the directory's
 * generation and the events subscribers receive. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/util.h"
#include "presence/directory.h"
#include "presence/presence.h"
#include "store/store.h"
#include "cluster/follow.h"
#include "stream/hub.h"
#include "fixture.h"

#define T0 FX_T0
#define TIMEOUT_MS (FX_PRESENCE_TIMEOUT_S * 1000)

static void add_mechanic(struct store *st, const char *id, enum pw_mechanic_status status,
                         bool can_accept)
{
    struct pw_mechanic m = fx_mechanic(id);
    m.status = status;
    m.can_accept_sessions = can_accept;
    fx_add_mechanic(st, &m);
}

static void seed(struct store *st)
{
    add_mechanic(st, "m1", PW_MECH_APPROVED, true);
    add_mechanic(st, "m2", PW_MECH_APPROVED, true);
    add_mechanic(st, "pending", PW_MECH_PENDING, false);
    add_mechanic(st, "suspended", PW_MECH_SUSPENDED, false);
    add_mechanic(st, "blocked", PW_MECH_APPROVED, false); /* approved, cannot accept */
}

static const struct fx_options options = {.name = "pw_presence", .seed = seed};

static int setup(void **state)
{
    struct fx *f = fx_new(&options);
    assert_int_equal(pw_dir_count(f->app.dir), 5);
    assert_int_equal(pw_hub_latest_seq(f->app.hub), 0);
    int64_t latest = -1;
    assert_int_equal(store_event_latest_seq(f->app.store, &latest), PW_OK);
    assert_int_equal(latest, 0);
    *state = f;
    return 0;
}

/* ---- what the database holds ---- */

struct stored_event {
    int64_t seq;
    char type[32];
    char channel[64];
    char payload[512];
};

struct events {
    int n;
    struct stored_event ev[64];
};

static void collect_event(void *ctx, const struct store_event *se)
{
    struct events *e = ctx;
    assert_true(e->n < 64);
    struct stored_event *o = &e->ev[e->n++];
    o->seq = se->seq;
    snprintf(o->type, sizeof o->type, "%s", se->type);
    snprintf(o->channel, sizeof o->channel, "%s", se->channel);
    snprintf(o->payload, sizeof o->payload, "%s", se->payload);
}

static void stored_events(struct fx *f, struct events *out)
{
    memset(out, 0, sizeof *out);
    assert_int_equal(store_events_tail(f->app.store, 64, collect_event, out), PW_OK);
}

struct row_query {
    const char *id;
    bool found;
    struct pw_mechanic m;
};

static void find_row(void *ctx, const struct pw_mechanic *m)
{
    struct row_query *q = ctx;
    if (strcmp(m->id, q->id) == 0) {
        q->found = true;
        q->m = *m;
    }
}

/* The mechanics row as stored, read through a second connection to the same file so
 * nothing cached in the first one can answer for it. */
static struct pw_mechanic stored_row(struct fx *f, const char *id)
{
    struct store *other = fx_store_open(f);
    struct row_query q = {.id = id};
    assert_int_equal(store_mechanics_each(other, find_row, &q), PW_OK);
    store_close(other);
    assert_true(q.found);
    return q.m;
}

/* One event's payload, checked field by field. */
static void payload_is(const char *payload, const char *id, const char *presence, int64_t last_seen,
                       const char *reason)
{
    json_error_t jerr;
    json_t *o = json_loads(payload, 0, &jerr);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "id")), id);
    assert_string_equal(json_string_value(json_object_get(o, "presence")), presence);
    assert_true(json_is_boolean(json_object_get(o, "is_available")));
    assert_int_equal(json_is_true(json_object_get(o, "is_available")),
                     strcmp(presence, "online") == 0);
    char iso[PW_ISO_LEN + 1];
    pw_iso8601(last_seen, iso);
    assert_string_equal(json_string_value(json_object_get(o, "last_seen_at")), iso);
    assert_string_equal(json_string_value(json_object_get(o, "reason")), reason);
    json_decref(o);
}

static struct pw_dir_mechanic *mech(struct fx *f, const char *id)
{
    struct pw_dir_mechanic *m = pw_dir_get(f->app.dir, id);
    assert_non_null(m);
    return m;
}

struct waker {
    int calls;
};

static void wake(void *ctx)
{
    ((struct waker *)ctx)->calls++;
}

/* ---- manual switch ---- */

static void test_manual_online_offline_write_events(void **state)
{
    struct fx *f = *state;
    struct pw_dir_mechanic *m = mech(f, "m1");

    assert_int_equal(pw_presence_set_manual(&f->app.presence, m, PW_ONLINE), PW_OK);
    assert_int_equal(m->m.presence, PW_ONLINE);
    assert_int_equal(m->m.last_seen_at, T0);
    assert_int_equal(pw_hub_latest_seq(f->app.hub), 1);
    struct events ev;
    stored_events(f, &ev);
    assert_int_equal(ev.n, 1);
    assert_int_equal(ev.ev[0].seq, 1);
    assert_string_equal(ev.ev[0].type, "presence");
    assert_string_equal(ev.ev[0].channel, "presence:m1");
    payload_is(ev.ev[0].payload, "m1", "online", T0, "manual");
    struct pw_mechanic row = stored_row(f, "m1");
    assert_int_equal(row.presence, PW_ONLINE);
    assert_int_equal(row.last_seen_at, T0);
    int64_t latest;
    assert_int_equal(store_event_latest_seq(f->app.store, &latest), PW_OK);
    assert_int_equal(latest, 1);

    f->fc.now = T0 + 5000;
    assert_int_equal(pw_presence_set_manual(&f->app.presence, m, PW_OFFLINE), PW_OK);
    assert_int_equal(m->m.presence, PW_OFFLINE);
    assert_int_equal(m->m.last_seen_at, T0 + 5000); /* a manual change is a sighting */
    assert_int_equal(pw_hub_latest_seq(f->app.hub), 2);
    stored_events(f, &ev);
    assert_int_equal(ev.n, 2);
    assert_int_equal(ev.ev[1].seq, 2);
    payload_is(ev.ev[1].payload, "m1", "offline", T0 + 5000, "manual");
    row = stored_row(f, "m1");
    assert_int_equal(row.presence, PW_OFFLINE);
    assert_int_equal(row.last_seen_at, T0 + 5000);
    assert_int_equal(f->app.presence.changes, 2);

    /* other mechanics untouched */
    assert_int_equal(stored_row(f, "m2").presence, PW_OFFLINE);
    assert_int_equal(mech(f, "m2")->m.presence, PW_OFFLINE);
}

static void test_same_state_is_no_event(void **state)
{
    struct fx *f = *state;
    struct pw_dir_mechanic *m = mech(f, "m1");
    uint64_t g = pw_dir_generation(f->app.dir);

    assert_int_equal(pw_presence_set_manual(&f->app.presence, m, PW_OFFLINE), PW_OK); /* already */
    assert_int_equal(pw_hub_latest_seq(f->app.hub), 0);
    struct events ev;
    stored_events(f, &ev);
    assert_int_equal(ev.n, 0);
    assert_int_equal(pw_dir_generation(f->app.dir), g);

    assert_int_equal(pw_presence_set_manual(&f->app.presence, m, PW_ONLINE), PW_OK);
    f->fc.now += 1000;
    assert_int_equal(pw_presence_set_manual(&f->app.presence, m, PW_ONLINE), PW_OK);
    assert_int_equal(pw_presence_change(&f->app.presence, m, PW_ONLINE, PW_REASON_MANUAL), PW_OK);
    stored_events(f, &ev);
    assert_int_equal(ev.n, 1);
    assert_int_equal(pw_hub_latest_seq(f->app.hub), 1);
    assert_int_equal(f->app.presence.changes, 1);

    /* busy is not a manual state */
    assert_int_not_equal(pw_presence_set_manual(&f->app.presence, m, PW_BUSY), PW_OK);
    assert_int_equal(m->m.presence, PW_ONLINE);
}

static void test_not_approved_cannot_go_online(void **state)
{
    struct fx *f = *state;
    const char *ids[] = {"pending", "suspended", "blocked"};
    for (int i = 0; i < 3; i++) {
        struct pw_dir_mechanic *m = mech(f, ids[i]);
        assert_int_equal(pw_presence_set_manual(&f->app.presence, m, PW_ONLINE), PW_ENOTAPPROVED);
        assert_int_equal(m->m.presence, PW_OFFLINE);
        assert_int_equal(stored_row(f, ids[i]).presence, PW_OFFLINE);
        /* going (staying) offline is allowed */
        assert_int_equal(pw_presence_set_manual(&f->app.presence, m, PW_OFFLINE), PW_OK);
    }
    struct events ev;
    stored_events(f, &ev);
    assert_int_equal(ev.n, 0);
    assert_int_equal(pw_hub_latest_seq(f->app.hub), 0);
}

static void test_busy_refuses_manual_change(void **state)
{
    struct fx *f = *state;
    struct pw_dir_mechanic *m = mech(f, "m1");
    assert_int_equal(pw_presence_set_manual(&f->app.presence, m, PW_ONLINE), PW_OK);
    f->fc.now += 1000;
    assert_int_equal(pw_presence_change(&f->app.presence, m, PW_BUSY, PW_REASON_SESSION_ACCEPTED),
                     PW_OK);
    assert_int_equal(pw_hub_latest_seq(f->app.hub), 2);
    assert_int_equal(stored_row(f, "m1").presence, PW_BUSY);

    assert_int_equal(pw_presence_set_manual(&f->app.presence, m, PW_ONLINE), PW_EBUSY);
    assert_int_equal(pw_presence_set_manual(&f->app.presence, m, PW_OFFLINE), PW_EBUSY);
    assert_int_equal(m->m.presence, PW_BUSY);
    assert_int_equal(pw_hub_latest_seq(f->app.hub), 2);
    struct events ev;
    stored_events(f, &ev);
    assert_int_equal(ev.n, 2);
    payload_is(ev.ev[1].payload, "m1", "busy", T0 + 1000, "session_accepted");
    assert_int_equal(stored_row(f, "m1").presence, PW_BUSY);

    /* a busy mechanic never times out: the session holds them */
    f->fc.now += 10 * TIMEOUT_MS;
    assert_int_equal(pw_presence_sweep(&f->app.presence), 0);
    assert_int_equal(m->m.presence, PW_BUSY);
}

/* ---- the sweeper ---- */

static void test_sweep_times_out_unseen(void **state)
{
    struct fx *f = *state;
    struct pw_dir_mechanic *m = mech(f, "m1");
    assert_int_equal(pw_presence_set_manual(&f->app.presence, m, PW_ONLINE), PW_OK);

    f->fc.now = T0 + TIMEOUT_MS - 1;
    assert_int_equal(pw_presence_sweep(&f->app.presence), 0);
    assert_int_equal(m->m.presence, PW_ONLINE);

    f->fc.now = T0 + TIMEOUT_MS + 1;
    assert_int_equal(pw_presence_sweep(&f->app.presence), 1);
    assert_int_equal(m->m.presence, PW_OFFLINE);
    assert_int_equal(m->m.last_seen_at, T0); /* the timeout is not a sighting */
    assert_int_equal(f->app.presence.timeouts, 1);
    struct events ev;
    stored_events(f, &ev);
    assert_int_equal(ev.n, 2);
    assert_string_equal(ev.ev[1].channel, "presence:m1");
    payload_is(ev.ev[1].payload, "m1", "offline", T0, "timeout");
    struct pw_mechanic row = stored_row(f, "m1");
    assert_int_equal(row.presence, PW_OFFLINE);
    assert_int_equal(row.last_seen_at, T0);

    /* once offline, later sweeps do nothing */
    f->fc.now += 10 * TIMEOUT_MS;
    assert_int_equal(pw_presence_sweep(&f->app.presence), 0);
    assert_int_equal(pw_hub_latest_seq(f->app.hub), 2);
}

static void test_seen_postpones_timeout(void **state)
{
    struct fx *f = *state;
    struct pw_dir_mechanic *m = mech(f, "m1");
    assert_int_equal(pw_presence_set_manual(&f->app.presence, m, PW_ONLINE), PW_OK);
    uint64_t g = pw_dir_generation(f->app.dir);

    f->fc.now = T0 + 50000;
    pw_presence_seen(&f->app.presence, m);
    assert_int_equal(m->m.last_seen_at, T0 + 50000);
    assert_int_equal(pw_dir_generation(f->app.dir), g); /* a sighting is not a change */
    assert_int_equal(pw_hub_latest_seq(f->app.hub), 1); /* and not an event */

    f->fc.now = T0 + TIMEOUT_MS + 1;
    assert_int_equal(pw_presence_sweep(&f->app.presence), 0);
    assert_int_equal(m->m.presence, PW_ONLINE);
    assert_int_equal(pw_hub_latest_seq(f->app.hub), 1);
    /* the sweep writes the refreshed last_seen_at (without an event) */
    assert_int_equal(stored_row(f, "m1").last_seen_at, T0 + 50000);
    struct events ev;
    stored_events(f, &ev);
    assert_int_equal(ev.n, 1);

    f->fc.now = T0 + 50000 + TIMEOUT_MS - 1;
    assert_int_equal(pw_presence_sweep(&f->app.presence), 0);
    f->fc.now = T0 + 50000 + TIMEOUT_MS + 1;
    assert_int_equal(pw_presence_sweep(&f->app.presence), 1);
    assert_int_equal(m->m.presence, PW_OFFLINE);
    stored_events(f, &ev);
    assert_int_equal(ev.n, 2);
    payload_is(ev.ev[1].payload, "m1", "offline", T0 + 50000, "timeout");
    assert_int_equal(stored_row(f, "m1").last_seen_at, T0 + 50000);
}

static void test_open_stream_prevents_timeout(void **state)
{
    struct fx *f = *state;
    struct pw_dir_mechanic *m = mech(f, "m1");
    assert_int_equal(pw_presence_set_manual(&f->app.presence, m, PW_ONLINE), PW_OK);
    f->fc.now = T0 + 1000;
    pw_presence_stream_opened(&f->app.presence, m);
    pw_presence_stream_opened(&f->app.presence, m); /* a second tab */

    for (int minutes = 1; minutes <= 120; minutes += 7) {
        f->fc.now = T0 + (int64_t)minutes * 60000;
        assert_int_equal(pw_presence_sweep(&f->app.presence), 0);
        assert_int_equal(m->m.presence, PW_ONLINE);
    }
    f->fc.now = T0 + 3 * 3600 * 1000LL;
    pw_presence_stream_closed(&f->app.presence, m); /* one tab left open */
    f->fc.now += 10 * TIMEOUT_MS;
    assert_int_equal(pw_presence_sweep(&f->app.presence), 0);
    assert_int_equal(m->m.presence, PW_ONLINE);
    assert_int_equal(pw_hub_latest_seq(f->app.hub), 1); /* no events meanwhile */

    int64_t closed_at = f->fc.now + 1234;
    f->fc.now = closed_at;
    pw_presence_stream_closed(&f->app.presence, m); /* the last one: the timeout counts from now */
    f->fc.now = closed_at + TIMEOUT_MS - 1;
    assert_int_equal(pw_presence_sweep(&f->app.presence), 0);
    assert_int_equal(m->m.presence, PW_ONLINE);
    f->fc.now = closed_at + TIMEOUT_MS + 1;
    assert_int_equal(pw_presence_sweep(&f->app.presence), 1);
    assert_int_equal(m->m.presence, PW_OFFLINE);
    struct events ev;
    stored_events(f, &ev);
    assert_int_equal(ev.n, 2);
    payload_is(ev.ev[1].payload, "m1", "offline", closed_at, "timeout");
}

static void test_stream_close_starts_timeout(void **state)
{
    /* the same without moving the clock backwards: open, long wait, close, timeout */
    struct fx *f = *state;
    struct pw_dir_mechanic *m = mech(f, "m1");
    assert_int_equal(pw_presence_set_manual(&f->app.presence, m, PW_ONLINE), PW_OK);
    pw_presence_stream_opened(&f->app.presence, m);
    f->fc.now = T0 + 30 * 60000;
    assert_int_equal(pw_presence_sweep(&f->app.presence), 0);
    int64_t closed_at = T0 + 40 * 60000;
    f->fc.now = closed_at;
    pw_presence_stream_closed(&f->app.presence, m);
    assert_int_equal(m->m.last_seen_at, closed_at);
    f->fc.now = closed_at + TIMEOUT_MS - 1;
    assert_int_equal(pw_presence_sweep(&f->app.presence), 0);
    f->fc.now = closed_at + TIMEOUT_MS + 1;
    assert_int_equal(pw_presence_sweep(&f->app.presence), 1);
    struct events ev;
    stored_events(f, &ev);
    assert_int_equal(ev.n, 2);
    payload_is(ev.ev[1].payload, "m1", "offline", closed_at, "timeout");
    assert_int_equal(stored_row(f, "m1").last_seen_at, closed_at);
}

static void test_suspension_keeps_last_seen(void **state)
{
    struct fx *f = *state;
    struct pw_dir_mechanic *m = mech(f, "m1");
    assert_int_equal(pw_presence_set_manual(&f->app.presence, m, PW_ONLINE), PW_OK);
    f->fc.now = T0 + 5000;
    assert_int_equal(pw_presence_change(&f->app.presence, m, PW_OFFLINE, PW_REASON_SUSPENDED),
                     PW_OK);
    assert_int_equal(m->m.last_seen_at, T0); /* an operator's act is not a sighting */
    struct events ev;
    stored_events(f, &ev);
    assert_int_equal(ev.n, 2);
    payload_is(ev.ev[1].payload, "m1", "offline", T0, "suspended");
    assert_int_equal(stored_row(f, "m1").last_seen_at, T0);
}

static void test_failed_write_changes_nothing(void **state)
{
    /* the database first, then memory and subscribers: a mechanic the database does not
     * know cannot change (the write fails), and nothing else moves either */
    struct fx *f = *state;
    struct pw_mechanic ghost = mech(f, "m1")->m;
    snprintf(ghost.id, sizeof ghost.id, "ghost");
    assert_int_equal(pw_dir_put(f->app.dir, &ghost), PW_OK);
    struct pw_dir_mechanic *g = mech(f, "ghost");
    struct waker w = {0};
    struct pw_hub_sub *s = pw_hub_sub_new(f->app.hub, wake, &w, T0);
    assert_true(pw_hub_sub_add_channel(s, "presence:ghost"));
    uint64_t gen = pw_dir_generation(f->app.dir);

    assert_int_not_equal(pw_presence_set_manual(&f->app.presence, g, PW_ONLINE), PW_OK);
    assert_int_equal(g->m.presence, PW_OFFLINE);
    assert_int_equal(pw_dir_generation(f->app.dir), gen);
    assert_int_equal(pw_hub_latest_seq(f->app.hub), 0);
    assert_false(pw_hub_sub_has_data(s));
    assert_int_equal(w.calls, 0);
    assert_int_equal(f->app.presence.changes, 0);
    struct events ev;
    stored_events(f, &ev);
    assert_int_equal(ev.n, 0);
    pw_hub_sub_free(s);

    /* the others still work afterwards */
    assert_int_equal(pw_presence_set_manual(&f->app.presence, mech(f, "m1"), PW_ONLINE), PW_OK);
    assert_int_equal(pw_hub_latest_seq(f->app.hub), 1);
}

/* ---- the directory and subscribers follow ---- */

static void test_generation_changes_on_every_change(void **state)
{
    struct fx *f = *state;
    struct pw_dir_mechanic *m = mech(f, "m1");
    uint64_t g0 = pw_dir_generation(f->app.dir);
    assert_int_equal(pw_presence_set_manual(&f->app.presence, m, PW_ONLINE), PW_OK);
    uint64_t g1 = pw_dir_generation(f->app.dir);
    assert_true(g1 != g0);
    assert_int_equal(pw_presence_change(&f->app.presence, m, PW_BUSY, PW_REASON_SESSION_ACCEPTED),
                     PW_OK);
    uint64_t g2 = pw_dir_generation(f->app.dir);
    assert_true(g2 != g1);
    assert_int_equal(pw_presence_change(&f->app.presence, m, PW_ONLINE, PW_REASON_SESSION_ENDED),
                     PW_OK);
    uint64_t g3 = pw_dir_generation(f->app.dir);
    assert_true(g3 != g2);
    f->fc.now += TIMEOUT_MS + 1;
    assert_int_equal(pw_presence_sweep(&f->app.presence), 1);
    uint64_t g4 = pw_dir_generation(f->app.dir);
    assert_true(g4 != g3);
    /* no change, no new generation */
    assert_int_equal(pw_presence_sweep(&f->app.presence), 0);
    assert_int_equal(pw_presence_set_manual(&f->app.presence, m, PW_OFFLINE), PW_OK);
    assert_true(pw_dir_generation(f->app.dir) == g4);

    /* the directory's answer reflects it */
    struct pw_dir_result r;
    assert_int_equal(pw_presence_set_manual(&f->app.presence, mech(f, "m2"), PW_ONLINE), PW_OK);
    pw_dir_search(f->app.dir, &(struct pw_dir_query){.limit = 10}, &r);
    assert_int_equal(r.total, 2);
    assert_int_equal(r.online, 1);
    assert_string_equal(r.items[0]->m.id, "m2");
}

static char *drain(struct pw_hub_sub *s)
{
    static char buf[8192];
    size_t len = 0, n;
    while ((n = pw_hub_sub_read(s, buf + len, sizeof buf - 1 - len)) > 0) len += n;
    buf[len] = '\0';
    return buf;
}

static void test_subscriber_receives_each_change(void **state)
{
    struct fx *f = *state;
    struct waker w1 = {0}, w2 = {0};
    struct pw_hub_sub *s1 = pw_hub_sub_new(f->app.hub, wake, &w1, T0);
    struct pw_hub_sub *s2 = pw_hub_sub_new(f->app.hub, wake, &w2, T0);
    char ch[PW_ID_LEN + 16];
    pw_channel_name(PW_CHANNEL_PRESENCE, "m1", ch);
    assert_string_equal(ch, "presence:m1");
    assert_true(pw_hub_sub_add_channel(s1, ch));
    pw_channel_name(PW_CHANNEL_PRESENCE, "m2", ch);
    assert_true(pw_hub_sub_add_channel(s2, ch));

    struct pw_dir_mechanic *m = mech(f, "m1");
    assert_int_equal(pw_presence_set_manual(&f->app.presence, m, PW_ONLINE), PW_OK);
    f->fc.now += 1000;
    assert_int_equal(pw_presence_change(&f->app.presence, m, PW_BUSY, PW_REASON_SESSION_ACCEPTED),
                     PW_OK);
    f->fc.now += 1000;
    assert_int_equal(pw_presence_change(&f->app.presence, m, PW_ONLINE, PW_REASON_SESSION_ENDED),
                     PW_OK);
    f->fc.now += TIMEOUT_MS + 1;
    assert_int_equal(pw_presence_sweep(&f->app.presence), 1);
    pw_presence_seen(&f->app.presence, m); /* no event */

    assert_int_equal(w1.calls, 1);
    assert_false(pw_hub_sub_has_data(s2));
    assert_int_equal(w2.calls, 0);

    /* exactly the stored events, as SSE frames, in order */
    struct events ev;
    stored_events(f, &ev);
    assert_int_equal(ev.n, 4);
    char want[4096] = "";
    for (int i = 0; i < ev.n; i++) {
        char frame[1024];
        snprintf(frame, sizeof frame, "id: %lld\nevent: presence\ndata: %s\n\n",
                 (long long)ev.ev[i].seq, ev.ev[i].payload);
        strcat(want, frame);
    }
    assert_string_equal(drain(s1), want);
    payload_is(ev.ev[0].payload, "m1", "online", T0, "manual");
    payload_is(ev.ev[1].payload, "m1", "busy", T0 + 1000, "session_accepted");
    payload_is(ev.ev[2].payload, "m1", "online", T0 + 2000, "session_ended");
    payload_is(ev.ev[3].payload, "m1", "offline", T0 + 2000, "timeout");

    pw_hub_sub_free(s1);
    pw_hub_sub_free(s2);
}

static void test_reopened_store_matches(void **state)
{
    /* the hub, the directory and the database agree after a restart */
    struct fx *f = *state;
    assert_int_equal(pw_presence_set_manual(&f->app.presence, mech(f, "m1"), PW_ONLINE), PW_OK);
    assert_int_equal(pw_presence_set_manual(&f->app.presence, mech(f, "m2"), PW_ONLINE), PW_OK);
    f->fc.now += 2000;
    assert_int_equal(pw_presence_set_manual(&f->app.presence, mech(f, "m2"), PW_OFFLINE), PW_OK);

    struct store *st2 = fx_store_open(f);
    struct pw_dir *d2 = pw_dir_new();
    assert_int_equal(pw_dir_load(d2, st2), PW_OK);
    assert_int_equal(pw_dir_get(d2, "m1")->m.presence, PW_ONLINE);
    assert_int_equal(pw_dir_get(d2, "m1")->m.last_seen_at, T0);
    assert_int_equal(pw_dir_get(d2, "m2")->m.presence, PW_OFFLINE);
    assert_int_equal(pw_dir_get(d2, "m2")->m.last_seen_at, T0 + 2000);
    int64_t latest;
    assert_int_equal(store_event_latest_seq(st2, &latest), PW_OK);
    assert_int_equal(latest, pw_hub_latest_seq(f->app.hub));
    assert_int_equal(latest, 3);
    pw_dir_free(d2);
    store_close(st2);
}

int main(void)
{
    pw_log_set_level(PW_LOG_OFF);
#define T(name) cmocka_unit_test_setup_teardown(name, setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_manual_online_offline_write_events),
        T(test_same_state_is_no_event),
        T(test_not_approved_cannot_go_online),
        T(test_busy_refuses_manual_change),
        T(test_sweep_times_out_unseen),
        T(test_seen_postpones_timeout),
        T(test_open_stream_prevents_timeout),
        T(test_stream_close_starts_timeout),
        T(test_suspension_keeps_last_seen),
        T(test_failed_write_changes_nothing),
        T(test_generation_changes_on_every_change),
        T(test_subscriber_receives_each_change),
        T(test_reopened_store_matches),
    };
#undef T
    return test_db_run_both("presence", tests);
}
