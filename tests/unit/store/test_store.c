/* The storage interface on each backend: SQLite on a real file in a temporary folder, and
 * PostgreSQL (in a fresh schema) when PITWALL_TEST_PG_URL names a server: migrations,
 * accounts, logins, catalogue, vehicles, atomic presence writes, savepoint transactions and
 * event sequence numbers, profiles, soft-deleted vehicles, one live session per customer and
 * a session's events by channel. The same tests run against both. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "core/log.h"
#include "store/schema_postgres.h"
#include "store/schema_sqlite.h"
#include "store/store.h"
#include "fixture.h"

#define NOW 1767225600000LL

static const struct fx_options options = {.name = "pw_store", .store_only = true};

static void reopen(struct fx *f)
{
    fx_restart(f);
}

static int setup(void **state)
{
    *state = fx_new(&options);
    return 0;
}

static struct pw_user user(const char *id, const char *email, enum pw_role role)
{
    struct pw_user u = {0};
    snprintf(u.id, sizeof u.id, "%s", id);
    snprintf(u.email, sizeof u.email, "%s", email);
    snprintf(u.name, sizeof u.name, "Name of %s", id);
    snprintf(u.city, sizeof u.city, "Toronto");
    snprintf(u.password_hash, sizeof u.password_hash, "$argon2id$v=19$m=65536,t=2,p=1$fake");
    u.role = role;
    u.credit_balance_cents = 10000;
    u.free_session_used = false;
    u.created_at = NOW;
    return u;
}

static struct pw_mechanic mechanic(const char *id, const char *user_id)
{
    struct pw_mechanic m = {0};
    snprintf(m.id, sizeof m.id, "%s", id);
    snprintf(m.user_id, sizeof m.user_id, "%s", user_id);
    snprintf(m.name, sizeof m.name, "Mechanic %s", id);
    snprintf(m.city, sizeof m.city, "Toronto");
    snprintf(m.country, sizeof m.country, "Canada");
    m.rating_tenths = 47;
    m.completed_sessions = 12;
    m.years_of_experience = 9;
    m.is_brand_specialist = true;
    snprintf(m.brands[m.n_brands++], PW_TAG_MAX + 1, "Tesla");
    snprintf(m.brands[m.n_brands++], PW_TAG_MAX + 1, "BMW");
    snprintf(m.keywords[m.n_keywords++], PW_TAG_MAX + 1, "Electrical");
    m.status = PW_MECH_APPROVED;
    m.can_accept_sessions = true;
    m.presence = PW_OFFLINE;
    return m;
}

static void add_mechanic(struct fx *f, const char *id)
{
    char uid[PW_ID_LEN + 1], email[64];
    snprintf(uid, sizeof uid, "u-%s", id);
    snprintf(email, sizeof email, "%s@test.invalid", id);
    struct pw_user u = user(uid, email, PW_ROLE_MECHANIC);
    assert_int_equal(store_user_insert(f->app.store, &u), PW_OK);
    struct pw_mechanic m = mechanic(id, uid);
    assert_int_equal(store_mechanic_insert(f->app.store, &m), PW_OK);
}

/* The schema version the database records: PRAGMA user_version, or schema_version's row. */
static int user_version(struct fx *f)
{
    if (f->db.pg) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT version FROM %s.schema_version", f->db.schema);
        return (int)test_db_pg_int(sql);
    }
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(f->db.path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int v = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

/* ---- migrations ---- */

static void test_migrations_then_reopen(void **state)
{
    struct fx *f = *state;
    int want = (int)(sizeof sqlite_migrations / sizeof sqlite_migrations[0]);
    /* every SQLite migration has its PostgreSQL twin */
    assert_int_equal(want, (int)(sizeof postgres_migrations / sizeof postgres_migrations[0]));
    assert_int_equal(user_version(f), want);
    bool empty = false;
    assert_int_equal(store_is_empty(f->app.store, &empty), PW_OK);
    assert_true(empty);
    assert_string_equal(f->app.store->ops->name, f->db.pg ? "postgres" : "sqlite");

    struct pw_user u = user("u1", "a@test.invalid", PW_ROLE_CUSTOMER);
    assert_int_equal(store_user_insert(f->app.store, &u), PW_OK);
    assert_int_equal(store_is_empty(f->app.store, &empty), PW_OK);
    assert_false(empty);

    /* reopening does not run the migrations again (they would fail on existing tables)
     * and keeps the data */
    reopen(f);
    reopen(f);
    assert_int_equal(user_version(f), want);
    assert_int_equal(store_is_empty(f->app.store, &empty), PW_OK);
    assert_false(empty);
    struct pw_user got;
    assert_int_equal(store_user_by_id(f->app.store, "u1", &got), PW_OK);
    assert_string_equal(got.email, "a@test.invalid");
}

static void test_newer_schema_refused(void **state)
{
    struct fx *f = *state;
    store_close(f->app.store);
    f->app.store = NULL;
    if (f->db.pg) {
        char sql[128];
        snprintf(sql, sizeof sql, "UPDATE %s.schema_version SET version = 999", f->db.schema);
        assert_true(test_db_pg_exec(sql));
    } else {
        sqlite3 *db;
        assert_int_equal(sqlite3_open(f->db.path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(db);
    }
    char err[256] = "";
    struct store *st = NULL;
    assert_int_not_equal(store_open(f->db.url, &st, err, sizeof err), PW_OK);
    assert_true(strlen(err) > 0);
    assert_int_equal(user_version(f), 999); /* untouched */
}

static void test_unknown_url_refused(void **state)
{
    (void)state;
    char err[256] = "";
    struct store *st = NULL;
    assert_int_not_equal(store_open("mysql://localhost/x", &st, err, sizeof err), PW_OK);
    assert_true(strlen(err) > 0);
    assert_null(st);
    err[0] = '\0';
    assert_int_not_equal(store_open("sqlite:/nonexistent-dir-pw/x/y.db", &st, err, sizeof err),
                         PW_OK);
    assert_true(strlen(err) > 0);
    /* a PostgreSQL that does not answer (port 1 on loopback): refused with libpq's reason */
    err[0] = '\0';
    assert_int_not_equal(
        store_open("postgres://nobody@127.0.0.1:1/x?connect_timeout=2", &st, err, sizeof err),
        PW_OK);
    assert_non_null(strstr(err, "PostgreSQL"));
    assert_null(strchr(err, '\n'));
}

/* ---- accounts ---- */

static void test_user_insert_and_lookup(void **state)
{
    struct fx *f = *state;
    struct pw_user u = user("u1", "alex@test.invalid", PW_ROLE_CUSTOMER);
    u.credit_balance_cents = 12345;
    u.free_session_used = true;
    assert_int_equal(store_user_insert(f->app.store, &u), PW_OK);

    struct pw_user got;
    assert_int_equal(store_user_by_email(f->app.store, "alex@test.invalid", &got), PW_OK);
    assert_string_equal(got.id, "u1");
    assert_string_equal(got.email, "alex@test.invalid");
    assert_string_equal(got.name, "Name of u1");
    assert_string_equal(got.city, "Toronto");
    assert_string_equal(got.password_hash, u.password_hash);
    assert_int_equal(got.role, PW_ROLE_CUSTOMER);
    assert_int_equal(got.credit_balance_cents, 12345);
    assert_true(got.free_session_used);
    assert_int_equal(got.created_at, NOW);
    assert_string_equal(got.mechanic_id, "");

    memset(&got, 0x55, sizeof got);
    assert_int_equal(store_user_by_id(f->app.store, "u1", &got), PW_OK);
    assert_string_equal(got.email, "alex@test.invalid");
    assert_string_equal(got.mechanic_id, "");

    assert_int_equal(store_user_by_email(f->app.store, "nobody@test.invalid", &got), PW_ENOTFOUND);
    assert_int_equal(store_user_by_id(f->app.store, "nope", &got), PW_ENOTFOUND);

    /* a mechanic's account carries its mechanic id */
    add_mechanic(f, "m1");
    assert_int_equal(store_user_by_email(f->app.store, "m1@test.invalid", &got), PW_OK);
    assert_int_equal(got.role, PW_ROLE_MECHANIC);
    assert_string_equal(got.mechanic_id, "m1");
}

static void test_duplicate_email(void **state)
{
    struct fx *f = *state;
    struct pw_user a = user("u1", "same@test.invalid", PW_ROLE_CUSTOMER);
    struct pw_user b = user("u2", "same@test.invalid", PW_ROLE_CUSTOMER);
    assert_int_equal(store_user_insert(f->app.store, &a), PW_OK);
    assert_int_equal(store_user_insert(f->app.store, &b), PW_EEMAILTAKEN);
    struct pw_user got;
    assert_int_equal(store_user_by_id(f->app.store, "u2", &got), PW_ENOTFOUND);
    assert_int_equal(store_user_by_email(f->app.store, "same@test.invalid", &got), PW_OK);
    assert_string_equal(got.id, "u1");
    /* the failed insert left the connection usable */
    struct pw_user c = user("u3", "other@test.invalid", PW_ROLE_ADMIN);
    assert_int_equal(store_user_insert(f->app.store, &c), PW_OK);
    assert_int_equal(store_user_by_id(f->app.store, "u3", &got), PW_OK);
    assert_int_equal(got.role, PW_ROLE_ADMIN);
}

static void test_auth_sessions(void **state)
{
    struct fx *f = *state;
    struct pw_user u = user("u1", "a@test.invalid", PW_ROLE_CUSTOMER);
    assert_int_equal(store_user_insert(f->app.store, &u), PW_OK);

    struct pw_auth_session s = {0};
    memset(s.token_hash, 'a', 64);
    snprintf(s.user_id, sizeof s.user_id, "u1");
    snprintf(s.csrf_token, sizeof s.csrf_token, "csrf-token-1");
    s.created_at = NOW;
    s.expires_at = NOW + 1000;
    assert_int_equal(store_auth_session_insert(f->app.store, &s), PW_OK);

    struct pw_auth_session got;
    assert_int_equal(store_auth_session_get(f->app.store, s.token_hash, NOW + 999, &got), PW_OK);
    assert_string_equal(got.token_hash, s.token_hash);
    assert_string_equal(got.user_id, "u1");
    assert_string_equal(got.csrf_token, "csrf-token-1");
    assert_int_equal(got.created_at, NOW);
    assert_int_equal(got.expires_at, NOW + 1000);

    /* expired: not found */
    assert_int_equal(store_auth_session_get(f->app.store, s.token_hash, NOW + 1000, &got),
                     PW_ENOTFOUND);
    assert_int_equal(store_auth_session_get(f->app.store, s.token_hash, NOW + 5000, &got),
                     PW_ENOTFOUND);

    char other[65];
    memset(other, 'b', 64);
    other[64] = '\0';
    assert_int_equal(store_auth_session_get(f->app.store, other, NOW, &got), PW_ENOTFOUND);

    assert_int_equal(store_auth_session_delete(f->app.store, s.token_hash), PW_OK);
    assert_int_equal(store_auth_session_get(f->app.store, s.token_hash, NOW, &got), PW_ENOTFOUND);
    assert_int_equal(store_auth_session_delete(f->app.store, s.token_hash), PW_OK); /* idempotent */

    /* a login of an unknown user is refused (foreign key) */
    struct pw_auth_session bad = s;
    snprintf(bad.user_id, sizeof bad.user_id, "ghost");
    assert_int_not_equal(store_auth_session_insert(f->app.store, &bad), PW_OK);
}

/* ---- catalogue and vehicles ---- */

struct slugs {
    int n;
    char slug[8][32];
    struct pw_plan plan[8];
};

static void collect_plan(void *ctx, const struct pw_plan *p)
{
    struct slugs *s = ctx;
    assert_true(s->n < 8);
    s->plan[s->n] = *p;
    snprintf(s->slug[s->n++], 32, "%s", p->slug);
}

static void test_plans_in_order(void **state)
{
    struct fx *f = *state;
    struct pw_plan video = {"video", "Standard Video", 2999, 3999};
    struct pw_plan free_ = {"free", "Free", 0, 0};
    struct pw_plan diag = {"diagnostic", "Full Diagnostic", 4999, 5999};
    struct pw_plan extra = {"aaa", "Tie on sort", 1, 2};
    assert_int_equal(store_plan_insert(f->app.store, &diag, 2), PW_OK);
    assert_int_equal(store_plan_insert(f->app.store, &video, 1), PW_OK);
    assert_int_equal(store_plan_insert(f->app.store, &free_, 0), PW_OK);
    assert_int_equal(store_plan_insert(f->app.store, &extra, 2), PW_OK);
    assert_int_not_equal(store_plan_insert(f->app.store, &video, 5), PW_OK); /* slug taken */

    struct slugs s = {0};
    assert_int_equal(store_plans_each(f->app.store, collect_plan, &s), PW_OK);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.slug[0], "free");
    assert_string_equal(s.slug[1], "video");
    assert_string_equal(s.slug[2], "aaa"); /* same sort as diagnostic: by slug */
    assert_string_equal(s.slug[3], "diagnostic");
    assert_string_equal(s.plan[1].name, "Standard Video");
    assert_int_equal(s.plan[1].standard_price_cents, 2999);
    assert_int_equal(s.plan[1].specialist_price_cents, 3999);
}

struct vehicles {
    int n;
    struct pw_vehicle v[8];
};

static void collect_vehicle(void *ctx, const struct pw_vehicle *v)
{
    struct vehicles *s = ctx;
    assert_true(s->n < 8);
    s->v[s->n++] = *v;
}

static void test_vehicles_of_owner(void **state)
{
    struct fx *f = *state;
    struct pw_user a = user("ua", "a@test.invalid", PW_ROLE_CUSTOMER);
    struct pw_user b = user("ub", "b@test.invalid", PW_ROLE_CUSTOMER);
    assert_int_equal(store_user_insert(f->app.store, &a), PW_OK);
    assert_int_equal(store_user_insert(f->app.store, &b), PW_OK);
    struct pw_vehicle vs[] = {
        {"v-z", "ua", 2020, "Tesla", "Model 3", 0},
        {"v-b", "ub", 2015, "Ford", "Focus", 0},
        {"v-a", "ua", 2017, "Honda", "Civic", 0}, /* id sorts first, inserted later */
    };
    for (int i = 0; i < 3; i++) assert_int_equal(store_vehicle_insert(f->app.store, &vs[i]), PW_OK);

    struct vehicles got = {0};
    assert_int_equal(store_vehicles_of(f->app.store, "ua", collect_vehicle, &got), PW_OK);
    assert_int_equal(got.n, 2);
    assert_string_equal(got.v[0].id, "v-z"); /* in the order they were added */
    assert_string_equal(got.v[0].owner_id, "ua");
    assert_int_equal(got.v[0].year, 2020);
    assert_string_equal(got.v[0].make, "Tesla");
    assert_string_equal(got.v[0].model, "Model 3");
    assert_string_equal(got.v[1].id, "v-a");

    memset(&got, 0, sizeof got);
    assert_int_equal(store_vehicles_of(f->app.store, "ub", collect_vehicle, &got), PW_OK);
    assert_int_equal(got.n, 1);
    assert_string_equal(got.v[0].make, "Ford");

    memset(&got, 0, sizeof got);
    assert_int_equal(store_vehicles_of(f->app.store, "nobody", collect_vehicle, &got), PW_OK);
    assert_int_equal(got.n, 0);

    /* a vehicle of an unknown owner is refused (foreign key) */
    struct pw_vehicle orphan = {"v-o", "ghost", 2000, "Lada", "Niva", 0};
    assert_int_not_equal(store_vehicle_insert(f->app.store, &orphan), PW_OK);
}

/* ---- mechanics, presence and events ---- */

struct mechs {
    int n;
    struct pw_mechanic m[8];
};

static void collect_mechanic(void *ctx, const struct pw_mechanic *m)
{
    struct mechs *s = ctx;
    assert_true(s->n < 8);
    s->m[s->n++] = *m;
}

struct evs {
    int n;
    int64_t seq[16];
    char payload[16][64];
    char channel[16][64];
};

static void collect_event(void *ctx, const struct store_event *e)
{
    struct evs *s = ctx;
    assert_true(s->n < 16);
    s->seq[s->n] = e->seq;
    snprintf(s->payload[s->n], 64, "%s", e->payload);
    snprintf(s->channel[s->n++], 64, "%s", e->channel);
}

static int count_events(struct fx *f)
{
    struct evs e = {0};
    assert_int_equal(store_events_tail(f->app.store, 1000, collect_event, &e), PW_OK);
    return e.n;
}

static void test_mechanic_round_trip(void **state)
{
    struct fx *f = *state;
    add_mechanic(f, "m1");
    struct mechs got = {0};
    assert_int_equal(store_mechanics_each(f->app.store, collect_mechanic, &got), PW_OK);
    assert_int_equal(got.n, 1);
    struct pw_mechanic want = mechanic("m1", "u-m1");
    struct pw_mechanic *m = &got.m[0];
    assert_string_equal(m->id, want.id);
    assert_string_equal(m->user_id, want.user_id);
    assert_string_equal(m->name, want.name);
    assert_int_equal(m->rating_tenths, 47);
    assert_int_equal(m->completed_sessions, 12);
    assert_int_equal(m->years_of_experience, 9);
    assert_true(m->is_brand_specialist);
    assert_int_equal(m->n_brands, 2);
    assert_string_equal(m->brands[0], "Tesla");
    assert_string_equal(m->brands[1], "BMW");
    assert_int_equal(m->n_keywords, 1);
    assert_string_equal(m->keywords[0], "Electrical");
    assert_string_equal(m->city, "Toronto");
    assert_string_equal(m->country, "Canada");
    assert_int_equal(m->status, PW_MECH_APPROVED);
    assert_true(m->can_accept_sessions);
    assert_int_equal(m->presence, PW_OFFLINE);
    assert_int_equal(m->last_seen_at, 0);
}

static void test_presence_save_is_atomic(void **state)
{
    struct fx *f = *state;
    add_mechanic(f, "m1");

    /* an unknown mechanic: an error and no event row */
    struct store_event ev = {.type = "presence",
                             .channel = "presence:ghost",
                             .payload = "{\"id\":\"ghost\"}",
                             .created_at = NOW};
    assert_int_not_equal(store_presence_save(f->app.store, "ghost", PW_ONLINE, NOW, 0, &ev), PW_OK);
    assert_int_equal(count_events(f), 0);
    int64_t latest = -1;
    assert_int_equal(store_event_latest_seq(f->app.store, &latest), PW_OK);
    assert_int_equal(latest, 0);

    /* an event that cannot be written (payload NOT NULL): the presence row is not
     * changed either */
    struct store_event broken = {
        .type = "presence", .channel = "presence:m1", .payload = NULL, .created_at = NOW};
    assert_int_not_equal(store_presence_save(f->app.store, "m1", PW_ONLINE, NOW, 0, &broken),
                         PW_OK);
    struct mechs got = {0};
    assert_int_equal(store_mechanics_each(f->app.store, collect_mechanic, &got), PW_OK);
    assert_int_equal(got.m[0].presence, PW_OFFLINE);
    assert_int_equal(got.m[0].last_seen_at, 0);
    assert_int_equal(count_events(f), 0);

    /* the same inside a caller's transaction, which then commits */
    assert_int_equal(store_tx_begin(f->app.store), PW_OK);
    assert_int_not_equal(store_presence_save(f->app.store, "ghost", PW_ONLINE, NOW, 0, &ev), PW_OK);
    assert_int_equal(store_tx_commit(f->app.store), PW_OK);
    assert_int_equal(count_events(f), 0);

    /* and a good one: both written, seq given */
    struct store_event ok = {.type = "presence",
                             .channel = "presence:m1",
                             .payload = "{\"id\":\"m1\"}",
                             .created_at = NOW};
    assert_int_equal(store_presence_save(f->app.store, "m1", PW_ONLINE, NOW + 7, 0, &ok), PW_OK);
    assert_true(ok.seq > 0);
    memset(&got, 0, sizeof got);
    assert_int_equal(store_mechanics_each(f->app.store, collect_mechanic, &got), PW_OK);
    assert_int_equal(got.m[0].presence, PW_ONLINE);
    assert_int_equal(got.m[0].last_seen_at, NOW + 7);
    struct evs e = {0};
    assert_int_equal(store_events_tail(f->app.store, 10, collect_event, &e), PW_OK);
    assert_int_equal(e.n, 1);
    assert_int_equal(e.seq[0], ok.seq);
    assert_string_equal(e.channel[0], "presence:m1");
    assert_string_equal(e.payload[0], "{\"id\":\"m1\"}");

    /* last_seen_save writes only last_seen_at, no event */
    assert_int_equal(store_last_seen_save(f->app.store, "m1", NOW + 99), PW_OK);
    memset(&got, 0, sizeof got);
    assert_int_equal(store_mechanics_each(f->app.store, collect_mechanic, &got), PW_OK);
    assert_int_equal(got.m[0].presence, PW_ONLINE);
    assert_int_equal(got.m[0].last_seen_at, NOW + 99);
    assert_int_equal(count_events(f), 1);
}

static void test_event_sequence(void **state)
{
    struct fx *f = *state;
    add_mechanic(f, "m1");
    int64_t latest = -1;
    assert_int_equal(store_event_latest_seq(f->app.store, &latest), PW_OK);
    assert_int_equal(latest, 0);
    enum pw_presence_state states[] = {PW_ONLINE, PW_BUSY, PW_ONLINE, PW_OFFLINE};
    int64_t prev = 0;
    for (int i = 0; i < 4; i++) {
        char payload[32];
        snprintf(payload, sizeof payload, "{\"n\":%d}", i);
        struct store_event ev = {.type = "presence",
                                 .channel = "presence:m1",
                                 .payload = payload,
                                 .created_at = NOW + i};
        assert_int_equal(store_presence_save(f->app.store, "m1", states[i], NOW + i, 0, &ev),
                         PW_OK);
        assert_true(ev.seq > prev);
        prev = ev.seq;
    }
    assert_int_equal(store_event_latest_seq(f->app.store, &latest), PW_OK);
    assert_int_equal(latest, prev);
    assert_int_equal(latest, 4);

    /* the newest two, oldest first */
    struct evs e = {0};
    assert_int_equal(store_events_tail(f->app.store, 2, collect_event, &e), PW_OK);
    assert_int_equal(e.n, 2);
    assert_int_equal(e.seq[0], 3);
    assert_int_equal(e.seq[1], 4);
    assert_string_equal(e.payload[0], "{\"n\":2}");
    assert_string_equal(e.payload[1], "{\"n\":3}");

    /* the high-water mark survives a reopen */
    reopen(f);
    assert_int_equal(store_event_latest_seq(f->app.store, &latest), PW_OK);
    assert_int_equal(latest, 4);
}

/* ---- transactions ---- */

static void test_rollback_leaves_nothing(void **state)
{
    struct fx *f = *state;
    assert_int_equal(store_tx_begin(f->app.store), PW_OK);
    struct pw_user u = user("u1", "a@test.invalid", PW_ROLE_CUSTOMER);
    assert_int_equal(store_user_insert(f->app.store, &u), PW_OK);
    struct pw_user got;
    assert_int_equal(store_user_by_id(f->app.store, "u1", &got), PW_OK); /* visible inside */
    store_tx_rollback(f->app.store);
    assert_int_equal(store_user_by_id(f->app.store, "u1", &got), PW_ENOTFOUND);
    bool empty = false;
    assert_int_equal(store_is_empty(f->app.store, &empty), PW_OK);
    assert_true(empty);
    reopen(f);
    assert_int_equal(store_user_by_id(f->app.store, "u1", &got), PW_ENOTFOUND);

    /* and a commit keeps, across a reopen */
    assert_int_equal(store_tx_begin(f->app.store), PW_OK);
    assert_int_equal(store_user_insert(f->app.store, &u), PW_OK);
    assert_int_equal(store_tx_commit(f->app.store), PW_OK);
    reopen(f);
    assert_int_equal(store_user_by_id(f->app.store, "u1", &got), PW_OK);
}

static void test_nested_transactions(void **state)
{
    struct fx *f = *state;
    struct pw_user u1 = user("u1", "1@test.invalid", PW_ROLE_CUSTOMER);
    struct pw_user u2 = user("u2", "2@test.invalid", PW_ROLE_CUSTOMER);
    struct pw_user u3 = user("u3", "3@test.invalid", PW_ROLE_CUSTOMER);
    struct pw_user got;

    /* inner rolled back, outer committed: only the outer's work stays */
    assert_int_equal(store_tx_begin(f->app.store), PW_OK);
    assert_int_equal(store_user_insert(f->app.store, &u1), PW_OK);
    assert_int_equal(store_tx_begin(f->app.store), PW_OK);
    assert_int_equal(store_user_insert(f->app.store, &u2), PW_OK);
    store_tx_rollback(f->app.store);
    assert_int_equal(store_user_by_id(f->app.store, "u2", &got), PW_ENOTFOUND);
    assert_int_equal(store_user_by_id(f->app.store, "u1", &got), PW_OK);
    assert_int_equal(store_tx_commit(f->app.store), PW_OK);
    reopen(f);
    assert_int_equal(store_user_by_id(f->app.store, "u1", &got), PW_OK);
    assert_int_equal(store_user_by_id(f->app.store, "u2", &got), PW_ENOTFOUND);

    /* inner committed, outer rolled back: nothing stays */
    assert_int_equal(store_tx_begin(f->app.store), PW_OK);
    assert_int_equal(store_tx_begin(f->app.store), PW_OK);
    assert_int_equal(store_user_insert(f->app.store, &u3), PW_OK);
    assert_int_equal(store_tx_commit(f->app.store), PW_OK);
    store_tx_rollback(f->app.store);
    assert_int_equal(store_user_by_id(f->app.store, "u3", &got), PW_ENOTFOUND);

    /* a store function that is its own transaction composes inside a caller's one */
    add_mechanic(f, "m1");
    assert_int_equal(store_tx_begin(f->app.store), PW_OK);
    struct store_event ev = {
        .type = "presence", .channel = "presence:m1", .payload = "{}", .created_at = NOW};
    assert_int_equal(store_presence_save(f->app.store, "m1", PW_ONLINE, NOW, 0, &ev), PW_OK);
    store_tx_rollback(f->app.store);
    assert_int_equal(count_events(f), 0);
    struct mechs m = {0};
    assert_int_equal(store_mechanics_each(f->app.store, collect_mechanic, &m), PW_OK);
    assert_int_equal(m.m[0].presence, PW_OFFLINE);

    /* the connection is back to autocommit: a plain write is durable */
    assert_int_equal(store_user_insert(f->app.store, &u3), PW_OK);
    reopen(f);
    assert_int_equal(store_user_by_id(f->app.store, "u3", &got), PW_OK);
}

static void test_failed_write_keeps_transaction(void **state)
{
    /* a write that fails inside a caller's transaction undoes only itself: the transaction
     * goes on and commits the rest (SQLite does this per statement; PostgreSQL would abort
     * the whole transaction without the backend's statement savepoint) */
    struct fx *f = *state;
    struct pw_user u1 = user("u1", "1@test.invalid", PW_ROLE_CUSTOMER);
    struct pw_user dup = user("u2", "1@test.invalid", PW_ROLE_CUSTOMER);
    struct pw_user u3 = user("u3", "3@test.invalid", PW_ROLE_CUSTOMER);
    struct pw_user got;
    assert_int_equal(store_tx_begin(f->app.store), PW_OK);
    assert_int_equal(store_user_insert(f->app.store, &u1), PW_OK);
    assert_int_equal(store_user_insert(f->app.store, &dup), PW_EEMAILTAKEN);
    assert_int_equal(
        store_stripe_event_record(f->app.store, "evt_1", "checkout.session.completed", NOW), PW_OK);
    assert_int_equal(
        store_stripe_event_record(f->app.store, "evt_1", "checkout.session.completed", NOW),
        PW_ECONFLICT);
    assert_int_equal(store_user_insert(f->app.store, &u3), PW_OK);
    assert_int_equal(store_tx_commit(f->app.store), PW_OK);
    reopen(f);
    assert_int_equal(store_user_by_id(f->app.store, "u1", &got), PW_OK);
    assert_int_equal(store_user_by_id(f->app.store, "u2", &got), PW_ENOTFOUND);
    assert_int_equal(store_user_by_id(f->app.store, "u3", &got), PW_OK);
    assert_int_equal(store_stripe_event_record(f->app.store, "evt_1", "x", NOW), PW_ECONFLICT);
}

static void test_credits_and_free_session(void **state)
{
    /* conditional updates: a debit never takes the balance below zero, the free session is
     * used once until it is given back */
    struct fx *f = *state;
    struct pw_user u = user("u1", "1@test.invalid", PW_ROLE_CUSTOMER);
    u.credit_balance_cents = 3000;
    assert_int_equal(store_user_insert(f->app.store, &u), PW_OK);
    assert_int_equal(store_user_debit(f->app.store, "u1", 2999), PW_OK);
    assert_int_equal(store_user_debit(f->app.store, "u1", 2), PW_ECREDITS);
    assert_int_equal(store_user_debit(f->app.store, "u1", 1), PW_OK);
    assert_int_equal(store_user_debit(f->app.store, "u1", 1), PW_ECREDITS);
    assert_int_equal(store_user_credit(f->app.store, "u1", 4000), PW_OK);
    assert_int_equal(store_user_credit(f->app.store, "ghost", 1), PW_ENOTFOUND);
    assert_int_equal(store_user_debit(f->app.store, "ghost", 1), PW_ECREDITS);
    struct pw_user got;
    assert_int_equal(store_user_by_id(f->app.store, "u1", &got), PW_OK);
    assert_int_equal(got.credit_balance_cents, 4000);

    assert_int_equal(store_user_use_free(f->app.store, "u1"), PW_OK);
    assert_int_equal(store_user_use_free(f->app.store, "u1"), PW_EFREEUSED);
    assert_int_equal(store_user_release_free(f->app.store, "u1"), PW_OK);
    assert_int_equal(store_user_use_free(f->app.store, "u1"), PW_OK);
    assert_int_equal(store_user_by_id(f->app.store, "u1", &got), PW_OK);
    assert_true(got.free_session_used);

    /* settings: absent, set, replaced */
    char v[32];
    assert_int_equal(store_setting_get(f->app.store, "rollout", v, sizeof v), PW_ENOTFOUND);
    assert_int_equal(store_setting_set(f->app.store, "rollout", "50"), PW_OK);
    assert_int_equal(store_setting_set(f->app.store, "rollout", "25"), PW_OK);
    assert_int_equal(store_setting_get(f->app.store, "rollout", v, sizeof v), PW_OK);
    assert_string_equal(v, "25");

    /* a mechanic's status */
    add_mechanic(f, "m1");
    assert_int_equal(store_mechanic_set_status(f->app.store, "m1", PW_MECH_SUSPENDED, false),
                     PW_OK);
    assert_int_equal(store_mechanic_set_status(f->app.store, "ghost", PW_MECH_SUSPENDED, false),
                     PW_ENOTFOUND);
    struct mechs m = {0};
    assert_int_equal(store_mechanics_each(f->app.store, collect_mechanic, &m), PW_OK);
    assert_int_equal(m.m[0].status, PW_MECH_SUSPENDED);
    assert_false(m.m[0].can_accept_sessions);
}

static void test_two_connections_see_one_winner(void **state)
{
    /* two stores on one database (two nodes, or the command line beside the server): a
     * conditional update committed through one is seen by the other's */
    struct fx *f = *state;
    struct pw_user u = user("u1", "1@test.invalid", PW_ROLE_CUSTOMER);
    u.credit_balance_cents = 100;
    assert_int_equal(store_user_insert(f->app.store, &u), PW_OK);
    struct store *other = fx_store_open(f);
    assert_int_equal(store_user_debit(other, "u1", 100), PW_OK);
    assert_int_equal(store_user_debit(f->app.store, "u1", 1), PW_ECREDITS);
    assert_int_equal(store_user_use_free(f->app.store, "u1"), PW_OK);
    assert_int_equal(store_user_use_free(other, "u1"), PW_EFREEUSED);
    /* events appended through both share one sequence */
    add_mechanic(f, "m1");
    struct store_event a = {
        .type = "presence", .channel = "presence:m1", .payload = "{}", .created_at = NOW};
    struct store_event b = a;
    assert_int_equal(store_event_append(f->app.store, &a), PW_OK);
    assert_int_equal(store_event_append(other, &b), PW_OK);
    assert_true(b.seq > a.seq);
    int64_t latest = 0;
    assert_int_equal(store_event_latest_seq(f->app.store, &latest), PW_OK);
    assert_int_equal(latest, b.seq);
    store_close(other);
}

/* ---- events: written at the commit, handed to the sink after it, in order ---- */

static struct store_event ev_of(const char *payload)
{
    return (struct store_event){
        .type = "routing", .channel = "session:s1", .payload = payload, .created_at = NOW};
}

static void test_events_reach_the_sink_after_commit(void **state)
{
    struct fx *f = *state;
    struct evs got = {0};
    store_set_sink(f->app.store, collect_event, &got);

    /* outside a transaction: committed at once, seq given, sink told */
    struct store_event a = ev_of("{\"n\":1}");
    assert_int_equal(store_event_append(f->app.store, &a), PW_OK);
    assert_true(a.seq > 0);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.seq[0], a.seq);

    /* inside one: nothing is told (or visible) before the commit; then all, in order */
    assert_int_equal(store_tx_begin(f->app.store), PW_OK);
    struct store_event b = ev_of("{\"n\":2}"), c = ev_of("{\"n\":3}");
    assert_int_equal(store_event_append(f->app.store, &b), PW_OK);
    assert_int_equal(b.seq, 0);
    /* a savepoint rolled back takes its own events with it */
    assert_int_equal(store_tx_begin(f->app.store), PW_OK);
    struct store_event dropped = ev_of("{\"n\":\"dropped\"}");
    assert_int_equal(store_event_append(f->app.store, &dropped), PW_OK);
    store_tx_rollback(f->app.store);
    /* a savepoint released keeps them for the outer commit */
    assert_int_equal(store_tx_begin(f->app.store), PW_OK);
    assert_int_equal(store_event_append(f->app.store, &c), PW_OK);
    assert_int_equal(store_tx_commit(f->app.store), PW_OK);
    assert_int_equal(got.n, 1);
    assert_int_equal(count_events(f), 1);
    assert_int_equal(store_tx_commit(f->app.store), PW_OK);
    assert_int_equal(got.n, 3);
    assert_string_equal(got.payload[1], "{\"n\":2}");
    assert_string_equal(got.payload[2], "{\"n\":3}");
    assert_true(got.seq[1] > got.seq[0] && got.seq[2] > got.seq[1]);

    /* a transaction rolled back: no rows, nobody told */
    assert_int_equal(store_tx_begin(f->app.store), PW_OK);
    struct store_event d = ev_of("{\"n\":4}");
    assert_int_equal(store_event_append(f->app.store, &d), PW_OK);
    store_tx_rollback(f->app.store);
    assert_int_equal(got.n, 3);
    assert_int_equal(count_events(f), 3);

    /* an event missing a field is refused at once */
    struct store_event bad = ev_of(NULL);
    assert_int_equal(store_event_append(f->app.store, &bad), PW_EINVAL);

    /* events_after: committed rows after a seq, oldest first, at most limit */
    struct evs after = {0};
    assert_int_equal(store_events_after(f->app.store, got.seq[0], 10, collect_event, &after),
                     PW_OK);
    assert_int_equal(after.n, 2);
    assert_int_equal(after.seq[0], got.seq[1]);
    assert_int_equal(after.seq[1], got.seq[2]);
    memset(&after, 0, sizeof after);
    assert_int_equal(store_events_after(f->app.store, 0, 1, collect_event, &after), PW_OK);
    assert_int_equal(after.n, 1);
    assert_int_equal(after.seq[0], got.seq[0]);
    store_set_sink(f->app.store, NULL, NULL);
}

static void test_presence_timeout_is_conditional(void **state)
{
    struct fx *f = *state;
    add_mechanic(f, "m1");
    struct store_event ev = {
        .type = "presence", .channel = "presence:m1", .payload = "{}", .created_at = NOW};
    assert_int_equal(store_presence_save(f->app.store, "m1", PW_ONLINE, NOW, 0, &ev), PW_OK);
    /* a timeout for "not seen since NOW - 1": void, the stored sighting is newer */
    assert_int_equal(store_presence_save(f->app.store, "m1", PW_OFFLINE, NOW, NOW - 1, &ev),
                     PW_ETAKEN);
    assert_int_equal(count_events(f), 1);
    struct pw_mechanic m;
    assert_int_equal(store_mechanic_get(f->app.store, "m1", &m), PW_OK);
    assert_int_equal(m.presence, PW_ONLINE);
    /* "not seen since NOW + 1": it holds */
    assert_int_equal(store_presence_save(f->app.store, "m1", PW_OFFLINE, NOW, NOW + 1, &ev), PW_OK);
    assert_int_equal(count_events(f), 2);
    assert_int_equal(store_mechanic_get(f->app.store, "m1", &m), PW_OK);
    assert_int_equal(m.presence, PW_OFFLINE);
    /* and once offline, a second timeout (another node's) finds nothing to do */
    assert_int_equal(store_presence_save(f->app.store, "m1", PW_OFFLINE, NOW, NOW + 1, &ev),
                     PW_ETAKEN);
    assert_int_equal(count_events(f), 2);
    assert_int_equal(store_presence_save(f->app.store, "ghost", PW_OFFLINE, NOW, NOW + 1, &ev),
                     PW_ENOTFOUND);
    assert_int_equal(store_mechanic_get(f->app.store, "ghost", &m), PW_ENOTFOUND);
}

/* PostgreSQL: another connection's commit wakes the listener with its seq; SQLite has none. */
static void test_listen_sees_other_commits(void **state)
{
    struct fx *f = *state;
    unsigned gen = 0;
    int fd = store_listen_fd(f->app.store, &gen);
    if (!f->db.pg) {
        assert_int_equal(fd, -1);
        return;
    }
    assert_true(fd >= 0);
    struct store *other = fx_store_open(f);
    struct store_event a = ev_of("{}");
    assert_int_equal(store_event_append(other, &a), PW_OK);
    int64_t newest = 0;
    bool woke = false;
    for (int i = 0; i < 200 && !woke; i++) { /* up to 2 s */
        assert_int_equal(store_listen_poll(f->app.store, &newest, &woke), PW_OK);
        if (!woke) usleep(10000);
    }
    assert_true(woke);
    assert_int_equal(newest, a.seq);
    /* nothing more until the next commit */
    assert_int_equal(store_listen_poll(f->app.store, &newest, &woke), PW_OK);
    assert_false(woke);
    unsigned again = 0;
    assert_int_equal(store_listen_fd(f->app.store, &again), fd);
    assert_int_equal(again, gen);
    store_close(other);
}

/* PostgreSQL: a session left idle inside a transaction (a node stopped mid-transaction) is
 * ended by the server after 5 s, so its locks cannot hold the cluster; the handle connects
 * again on its next statement. */
static void test_idle_transaction_is_ended(void **state)
{
    struct fx *f = *state;
    if (!f->db.pg) return;
    struct pw_user u = user("u1", "1@test.invalid", PW_ROLE_CUSTOMER);
    assert_int_equal(store_tx_begin(f->app.store), PW_OK);
    assert_int_equal(store_user_insert(f->app.store, &u), PW_OK);
    sleep(6);
    assert_int_not_equal(store_tx_commit(f->app.store), PW_OK);
    struct pw_user got;
    assert_int_equal(store_user_by_id(f->app.store, "u1", &got), PW_ENOTFOUND); /* reconnected */
    assert_int_equal(store_user_insert(f->app.store, &u), PW_OK);
    assert_int_equal(store_user_by_id(f->app.store, "u1", &got), PW_OK);
}

/* ---- accounts (issue 11): profile, vehicles, live sessions ---- */

static void test_user_profile_update(void **state)
{
    struct fx *f = *state;
    struct pw_user u = user("u1", "1@test.invalid", PW_ROLE_CUSTOMER);
    assert_int_equal(store_user_insert(f->app.store, &u), PW_OK);
    struct pw_user got;
    assert_int_equal(store_user_update_profile(f->app.store, "u1", "Robin Hood", NULL), PW_OK);
    assert_int_equal(store_user_by_id(f->app.store, "u1", &got), PW_OK);
    assert_string_equal(got.name, "Robin Hood");
    assert_string_equal(got.city, "Toronto");
    assert_int_equal(store_user_update_profile(f->app.store, "u1", NULL, "Ottawa"), PW_OK);
    assert_int_equal(store_user_update_profile(f->app.store, "u1", NULL, NULL), PW_OK);
    assert_int_equal(store_user_by_id(f->app.store, "u1", &got), PW_OK);
    assert_string_equal(got.name, "Robin Hood");
    assert_string_equal(got.city, "Ottawa");
    assert_int_equal(got.credit_balance_cents, 10000);
    /* 100 characters of 4 bytes each round-trip whole */
    char longest[PW_PROFILE_BYTES + 1] = "";
    for (int i = 0; i < PW_PROFILE_CHARS; i++) strcat(longest, "\xf0\x9f\x9a\x97");
    assert_int_equal(store_user_update_profile(f->app.store, "u1", longest, longest), PW_OK);
    assert_int_equal(store_user_by_id(f->app.store, "u1", &got), PW_OK);
    assert_string_equal(got.name, longest);
    assert_string_equal(got.city, longest);
    assert_int_equal(store_user_update_profile(f->app.store, "ghost", "X", NULL), PW_ENOTFOUND);
}

/* The catalogue and a customer with one vehicle, for the session tests below. */
static void add_customer_with_vehicle(struct fx *f, const char *uid, const char *vid)
{
    char email[64];
    snprintf(email, sizeof email, "%s@test.invalid", uid);
    struct pw_user u = user(uid, email, PW_ROLE_CUSTOMER);
    assert_int_equal(store_user_insert(f->app.store, &u), PW_OK);
    struct pw_vehicle v = {0};
    snprintf(v.id, sizeof v.id, "%s", vid);
    snprintf(v.owner_id, sizeof v.owner_id, "%s", uid);
    v.year = 2017;
    snprintf(v.make, sizeof v.make, "Honda");
    snprintf(v.model, sizeof v.model, "Civic");
    assert_int_equal(store_vehicle_insert(f->app.store, &v), PW_OK);
}

static void add_video_plan(struct fx *f)
{
    struct pw_plan p = {.slug = "video",
                        .name = "Standard Video",
                        .standard_price_cents = 2999,
                        .specialist_price_cents = 3999};
    assert_int_equal(store_plan_insert(f->app.store, &p, 1), PW_OK);
}

static void add_session(struct fx *f, const char *id, const char *customer, const char *vehicle,
                        enum pw_session_state state, int64_t at)
{
    struct pw_session x = {0};
    snprintf(x.id, sizeof x.id, "%s", id);
    snprintf(x.customer_id, sizeof x.customer_id, "%s", customer);
    snprintf(x.vehicle_id, sizeof x.vehicle_id, "%s", vehicle);
    snprintf(x.plan_slug, sizeof x.plan_slug, "video");
    x.intake_json = "{}";
    snprintf(x.payment_method, sizeof x.payment_method, "credits");
    snprintf(x.payment_status, sizeof x.payment_status, "paid");
    x.price_cents = 2999;
    x.state = state;
    x.created_at = at;
    x.expires_at = at + 1800000;
    assert_int_equal(store_session_insert(f->app.store, &x), PW_OK);
}

static void set_state(struct fx *f, const char *id, enum pw_session_state from,
                      enum pw_session_state to)
{
    struct store_transition t = {.from = 1u << from, .to = to, .at = NOW + 5};
    assert_int_equal(store_session_transition(f->app.store, id, &t), PW_OK);
}

static void test_vehicle_change_and_soft_delete(void **state)
{
    struct fx *f = *state;
    add_video_plan(f);
    add_customer_with_vehicle(f, "u1", "v1");
    add_customer_with_vehicle(f, "u2", "v2");
    struct pw_vehicle edit = {
        .id = "v1", .owner_id = "u1", .year = 2018, .make = "Honda", .model = "Fit"};
    assert_int_equal(store_vehicle_change(f->app.store, &edit, false, NOW), PW_OK);
    struct pw_vehicle got;
    assert_int_equal(store_vehicle_get(f->app.store, "v1", &got), PW_OK);
    assert_int_equal(got.year, 2018);
    assert_string_equal(got.model, "Fit");
    assert_int_equal(got.deleted_at, 0);
    /* someone else's vehicle, an unknown one: not found, unchanged */
    struct pw_vehicle theirs = edit;
    snprintf(theirs.owner_id, sizeof theirs.owner_id, "u2");
    assert_int_equal(store_vehicle_change(f->app.store, &theirs, false, NOW), PW_ENOTFOUND);
    assert_int_equal(store_vehicle_change(f->app.store, &theirs, true, NOW), PW_ENOTFOUND);
    struct pw_vehicle ghost = edit;
    snprintf(ghost.id, sizeof ghost.id, "nope");
    assert_int_equal(store_vehicle_change(f->app.store, &ghost, true, NOW), PW_ENOTFOUND);

    /* each live state holds it; a session that is over does not */
    enum pw_session_state live[] = {PW_SESSION_AWAITING_PAYMENT, PW_SESSION_PRIORITY,
                                    PW_SESSION_BROADCAST, PW_SESSION_ACCEPTED};
    char id[16], found[PW_ID_LEN + 1];
    for (int i = 0; i < 4; i++) {
        snprintf(id, sizeof id, "s%d", i);
        add_session(f, id, "u1", "v1", live[i], NOW + i);
        assert_int_equal(store_session_live_find(f->app.store, NULL, "v1", found), PW_OK);
        assert_string_equal(found, id);
        assert_int_equal(store_vehicle_change(f->app.store, &edit, false, NOW), PW_EVEHICLEINUSE);
        assert_int_equal(store_vehicle_change(f->app.store, &edit, true, NOW), PW_EVEHICLEINUSE);
        set_state(f, id, live[i], i % 2 ? PW_SESSION_CANCELLED : PW_SESSION_ENDED);
    }
    assert_int_equal(store_session_live_find(f->app.store, NULL, "v1", found), PW_ENOTFOUND);
    assert_int_equal(store_vehicle_change(f->app.store, &edit, true, NOW + 10), PW_OK);
    /* deleted: out of the list, still readable for its past sessions, never changed again */
    struct vehicles list = {0};
    assert_int_equal(store_vehicles_of(f->app.store, "u1", collect_vehicle, &list), PW_OK);
    assert_int_equal(list.n, 0);
    assert_int_equal(store_vehicle_get(f->app.store, "v1", &got), PW_OK);
    assert_int_equal(got.deleted_at, NOW + 10);
    assert_string_equal(got.model, "Fit");
    assert_int_equal(store_vehicle_change(f->app.store, &edit, true, NOW), PW_ENOTFOUND);
    assert_int_equal(store_vehicle_change(f->app.store, &edit, false, NOW), PW_ENOTFOUND);
    assert_int_equal(store_vehicle_lock(f->app.store, "v1", "u1"), PW_ENOTFOUND);
    memset(&list, 0, sizeof list);
    assert_int_equal(store_vehicles_of(f->app.store, "u2", collect_vehicle, &list), PW_OK);
    assert_int_equal(list.n, 1);
}

static void test_session_claim(void **state)
{
    struct fx *f = *state;
    add_video_plan(f);
    add_customer_with_vehicle(f, "u1", "v1");
    add_customer_with_vehicle(f, "u2", "v2");
    char live[PW_ID_LEN + 1] = "";
    assert_int_equal(store_tx_begin(f->app.store), PW_OK);
    assert_int_equal(store_session_claim(f->app.store, "u1", "v1", live), PW_OK);
    add_session(f, "s1", "u1", "v1", PW_SESSION_BROADCAST, NOW);
    assert_int_equal(store_tx_commit(f->app.store), PW_OK);
    /* another live one of u1: refused with its id; u2 is not affected */
    assert_int_equal(store_tx_begin(f->app.store), PW_OK);
    assert_int_equal(store_session_claim(f->app.store, "u1", "v1", live), PW_ELIVE);
    assert_string_equal(live, "s1");
    assert_int_equal(store_session_claim(f->app.store, "u1", "v1", NULL), PW_ELIVE);
    assert_int_equal(store_session_claim(f->app.store, "u2", "v2", NULL), PW_OK);
    /* a vehicle not the customer's */
    assert_int_equal(store_session_claim(f->app.store, "u2", "v1", NULL), PW_ENOTFOUND);
    store_tx_rollback(f->app.store);
    assert_int_equal(store_session_live_find(f->app.store, "u1", NULL, live), PW_OK);
    assert_string_equal(live, "s1");
    assert_int_equal(store_session_live_find(f->app.store, "u2", NULL, live), PW_ENOTFOUND);
    /* over: allowed again; a deleted vehicle is not */
    set_state(f, "s1", PW_SESSION_BROADCAST, PW_SESSION_EXPIRED);
    assert_int_equal(store_tx_begin(f->app.store), PW_OK);
    assert_int_equal(store_session_claim(f->app.store, "u1", "v1", NULL), PW_OK);
    store_tx_rollback(f->app.store);
    struct pw_vehicle v = {.id = "v1", .owner_id = "u1"};
    assert_int_equal(store_vehicle_change(f->app.store, &v, true, NOW), PW_OK);
    assert_int_equal(store_tx_begin(f->app.store), PW_OK);
    assert_int_equal(store_session_claim(f->app.store, "u1", "v1", NULL), PW_ENOTFOUND);
    store_tx_rollback(f->app.store);
    assert_int_equal(store_session_claim(f->app.store, "ghost", "v1", NULL), PW_ENOTFOUND);
}

/* Migration 5 on a database from before issue 11, where a customer could hold two live
 * sessions: it applies (no constraint to break), both stay, and the next booking waits. */
static void test_migration_5_on_two_live_sessions(void **state)
{
    struct fx *f = *state;
    add_video_plan(f);
    add_customer_with_vehicle(f, "u1", "v1");
    add_session(f, "s1", "u1", "v1", PW_SESSION_BROADCAST, NOW);
    add_session(f, "s2", "u1", "v1", PW_SESSION_ACCEPTED, NOW + 1);
    int want = user_version(f);
    assert_int_equal(want, 5);
    store_close(f->app.store);
    f->app.store = NULL;
    /* back to version 4 */
    if (f->db.pg) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "DROP INDEX %s.events_channel; DROP INDEX %s.sessions_vehicle; "
                 "ALTER TABLE %s.vehicles DROP COLUMN deleted_at; "
                 "UPDATE %s.schema_version SET version = 4",
                 f->db.schema, f->db.schema, f->db.schema, f->db.schema);
        assert_true(test_db_pg_exec(sql));
    } else {
        sqlite3 *db;
        assert_int_equal(sqlite3_open(f->db.path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db,
                                      "DROP INDEX events_channel; DROP INDEX sessions_vehicle; "
                                      "ALTER TABLE vehicles DROP COLUMN deleted_at; "
                                      "PRAGMA user_version = 4",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(db);
    }
    assert_int_equal(user_version(f), 4);
    char err[256] = "";
    if (store_open(f->db.url, &f->app.store, err, sizeof err) != PW_OK)
        fail_msg("migration 5: %s", err);
    assert_int_equal(user_version(f), want);
    struct pw_session x;
    assert_int_equal(store_session_get(f->app.store, "s1", &x), PW_OK);
    pw_session_clear(&x);
    assert_int_equal(store_session_get(f->app.store, "s2", &x), PW_OK);
    pw_session_clear(&x);
    struct pw_vehicle v;
    assert_int_equal(store_vehicle_get(f->app.store, "v1", &v), PW_OK);
    assert_int_equal(v.deleted_at, 0);
    char live[PW_ID_LEN + 1];
    assert_int_equal(store_tx_begin(f->app.store), PW_OK);
    assert_int_equal(store_session_claim(f->app.store, "u1", "v1", live), PW_ELIVE);
    store_tx_rollback(f->app.store);
    struct pw_vehicle edit = {.id = "v1", .owner_id = "u1"};
    assert_int_equal(store_vehicle_change(f->app.store, &edit, true, NOW), PW_EVEHICLEINUSE);
}

/* A second node, blocked on a row lock the first holds (PostgreSQL only: SQLite has one
 * writer per database, and the event loop never waits inside a transaction). */
struct other_node {
    const char *url;
    int what; /* 0: claim for u1/v1, 1: delete v1 */
    pw_err e;
    char live[PW_ID_LEN + 1];
};

static void *other_node_run(void *arg)
{
    struct other_node *o = arg;
    struct store *st = NULL;
    char err[256] = "";
    if ((o->e = store_open(o->url, &st, err, sizeof err)) != PW_OK) return NULL;
    if (o->what == 0) {
        if (!(o->e = store_tx_begin(st))) {
            o->e = store_session_claim(st, "u1", "v1", o->live);
            store_tx_rollback(st);
        }
    } else {
        struct pw_vehicle v = {.id = "v1", .owner_id = "u1"};
        o->e = store_vehicle_change(st, &v, true, NOW);
    }
    store_close(st);
    return NULL;
}

static void test_claims_queue_across_nodes(void **state)
{
    struct fx *f = *state;
    if (!f->db.pg) skip();
    add_video_plan(f);
    add_customer_with_vehicle(f, "u1", "v1");
    for (int what = 0; what < 2; what++) {
        char id[8];
        snprintf(id, sizeof id, "s%d", what);
        /* this node creates a session; the other, at the same moment, another session of the
         * customer (what 0) or a delete of the vehicle (what 1) */
        assert_int_equal(store_tx_begin(f->app.store), PW_OK);
        assert_int_equal(store_session_claim(f->app.store, "u1", "v1", NULL), PW_OK);
        struct other_node o = {.url = f->db.url, .what = what};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, other_node_run, &o), 0);
        usleep(300 * 1000); /* it waits for the lock */
        add_session(f, id, "u1", "v1", PW_SESSION_BROADCAST, NOW + what);
        assert_int_equal(store_tx_commit(f->app.store), PW_OK);
        pthread_join(t, NULL);
        /* after the lock it read what was committed meanwhile */
        assert_int_equal(o.e, what == 0 ? PW_ELIVE : PW_EVEHICLEINUSE);
        if (what == 0) assert_string_equal(o.live, id);
        set_state(f, id, PW_SESSION_BROADCAST, PW_SESSION_CANCELLED);
    }
}

static void collect_payload(void *ctx, const struct store_event *ev)
{
    char *out = ctx;
    if (*out) strcat(out, ",");
    strcat(out, ev->payload);
}

static void test_events_of_channel(void **state)
{
    struct fx *f = *state;
    const char *rows[][3] = {
        {"routing", "session:a", "1"},   {"routing", "session:b", "2"},
        {"offer", "session:a", "3"},     {"routing", "session:a", "4"},
        {"presence", "presence:m", "5"}, {"routing", "session:a", "6"},
    };
    int64_t seqs[6];
    for (int i = 0; i < 6; i++) {
        struct store_event ev = {.type = rows[i][0],
                                 .channel = rows[i][1],
                                 .payload = rows[i][2],
                                 .created_at = NOW + i};
        assert_int_equal(store_event_append(f->app.store, &ev), PW_OK);
        seqs[i] = ev.seq;
    }
    char got[64] = "";
    assert_int_equal(store_events_of_channel(f->app.store, "session:a", "routing", INT64_MAX,
                                             collect_payload, got),
                     PW_OK);
    assert_string_equal(got, "1,4,6"); /* oldest first, that channel and type only */
    got[0] = '\0';
    assert_int_equal(store_events_of_channel(f->app.store, "session:a", "routing", seqs[3],
                                             collect_payload, got),
                     PW_OK);
    assert_string_equal(got, "1,4");
    got[0] = '\0';
    assert_int_equal(store_events_of_channel(f->app.store, "session:zz", "routing", INT64_MAX,
                                             collect_payload, got),
                     PW_OK);
    assert_string_equal(got, "");
}

/* A tag column written by hand or by another version as '' (or not JSON) reads as no tags,
 * the same on both backends (tags_parse in store/queries.c, once). */
static void test_empty_tags_read_as_none(void **state)
{
    struct fx *f = *state;
    add_mechanic(f, "m1");
    const char *sql = "UPDATE mechanics SET brand_specializations = '', "
                      "service_keywords = 'not json' WHERE id = 'm1'";
    if (f->db.pg) {
        char scoped[256];
        snprintf(scoped, sizeof scoped, "SET search_path = %s; %s", f->db.schema, sql);
        assert_true(test_db_pg_exec(scoped));
    } else {
        sqlite3 *db;
        assert_int_equal(sqlite3_open(f->db.path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
    }
    struct pw_mechanic m;
    assert_int_equal(store_mechanic_get(f->app.store, "m1", &m), PW_OK);
    assert_int_equal(m.n_brands, 0);
    assert_int_equal(m.n_keywords, 0);
    assert_string_equal(m.name, "Mechanic m1"); /* the rest of the row is read */
}

int main(void)
{
    pw_log_set_level(PW_LOG_OFF);

#define T(name) cmocka_unit_test_setup_teardown(name, setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_migrations_then_reopen),
        T(test_newer_schema_refused),
        T(test_unknown_url_refused),
        T(test_user_insert_and_lookup),
        T(test_duplicate_email),
        T(test_auth_sessions),
        T(test_plans_in_order),
        T(test_vehicles_of_owner),
        T(test_mechanic_round_trip),
        T(test_presence_save_is_atomic),
        T(test_event_sequence),
        T(test_rollback_leaves_nothing),
        T(test_nested_transactions),
        T(test_failed_write_keeps_transaction),
        T(test_credits_and_free_session),
        T(test_two_connections_see_one_winner),
        T(test_events_reach_the_sink_after_commit),
        T(test_presence_timeout_is_conditional),
        T(test_listen_sees_other_commits),
        T(test_idle_transaction_is_ended),
        T(test_user_profile_update),
        T(test_vehicle_change_and_soft_delete),
        T(test_session_claim),
        T(test_claims_queue_across_nodes),
        T(test_events_of_channel),
        T(test_migration_5_on_two_live_sessions),
        T(test_empty_tags_read_as_none),
    };
#undef T
    return test_db_run_both("store", tests);
}
