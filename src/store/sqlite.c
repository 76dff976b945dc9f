/* The SQLite backend: one connection, used only from the event-loop thread, WAL journal.
 * Statements are prepared once and cached by their SQL text's address. Nested transactions
 * are savepoints, so a store function that is one transaction on its own also composes
 * inside a caller's transaction (the demo loader). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>
#include <uthash.h>

#include "core/log.h"
#include "store/schema_sqlite.h"
#include "store/store.h"

struct stmt_entry {
    const char *sql; /* key: the address of a string literal */
    sqlite3_stmt *stmt;
    UT_hash_handle hh;
};

struct sq {
    struct store base;
    sqlite3 *db;
    struct stmt_entry *stmts;
    int depth; /* open savepoints */
};

#define SQ(st) ((struct sq *)(st))

static pw_err fail(struct sq *s, const char *what)
{
    pw_log(PW_LOG_ERROR, "sqlite error",
           json_pack("{s:s, s:s}", "during", what, "error", sqlite3_errmsg(s->db)));
    return PW_ESTORE;
}

/* A cached statement, reset and ready to bind; NULL (logged) if it does not prepare. */
static sqlite3_stmt *prep(struct sq *s, const char *sql)
{
    struct stmt_entry *e;
    HASH_FIND_PTR(s->stmts, &sql, e);
    if (e) {
        sqlite3_reset(e->stmt);
        sqlite3_clear_bindings(e->stmt);
        return e->stmt;
    }
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK) {
        fail(s, sql);
        return NULL;
    }
    e = calloc(1, sizeof *e);
    if (!e) {
        sqlite3_finalize(stmt);
        return NULL;
    }
    e->sql = sql;
    e->stmt = stmt;
    HASH_ADD_PTR(s->stmts, sql, e);
    return stmt;
}

static void text(sqlite3_stmt *st, int i, const char *v)
{
    sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

static void copy_col(sqlite3_stmt *st, int i, char *out, size_t outsz)
{
    const unsigned char *v = sqlite3_column_text(st, i);
    snprintf(out, outsz, "%s", v ? (const char *)v : "");
}

/* Runs a statement that returns no rows. */
static pw_err exec_stmt(struct sq *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) return PW_OK;
    if (rc == SQLITE_CONSTRAINT) return PW_ECONFLICT;
    return fail(s, what);
}

static pw_err exec_changes(struct sq *s, sqlite3_stmt *q, const char *what, int *changes)
{
    pw_err e = exec_stmt(s, q, what);
    *changes = e ? 0 : sqlite3_changes(s->db);
    return e;
}

static pw_err sq_tx_begin(struct store *st)
{
    struct sq *s = SQ(st);
    if (sqlite3_exec(s->db, "SAVEPOINT pw", NULL, NULL, NULL) != SQLITE_OK)
        return fail(s, "savepoint");
    s->depth++;
    return PW_OK;
}

static pw_err sq_tx_commit(struct store *st)
{
    struct sq *s = SQ(st);
    if (sqlite3_exec(s->db, "RELEASE pw", NULL, NULL, NULL) != SQLITE_OK) {
        pw_err e = fail(s, "release");
        /* the savepoint is still open: undo it so nothing is left half-written */
        sqlite3_exec(s->db, "ROLLBACK TO pw; RELEASE pw", NULL, NULL, NULL);
        s->depth--;
        return e;
    }
    s->depth--;
    return PW_OK;
}

static void sq_tx_rollback(struct store *st)
{
    struct sq *s = SQ(st);
    sqlite3_exec(s->db, "ROLLBACK TO pw; RELEASE pw", NULL, NULL, NULL);
    s->depth--;
}

static void sq_close(struct store *st)
{
    struct sq *s = SQ(st);
    struct stmt_entry *e, *tmp;
    HASH_ITER(hh, s->stmts, e, tmp)
    {
        HASH_DEL(s->stmts, e);
        sqlite3_finalize(e->stmt);
        free(e);
    }
    sqlite3_close(s->db);
    free(s);
}

static pw_err sq_is_empty(struct store *st, bool *empty)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "SELECT NOT EXISTS (SELECT 1 FROM users)");
    if (!q || sqlite3_step(q) != SQLITE_ROW) return fail(s, "is_empty");
    *empty = sqlite3_column_int(q, 0) != 0;
    sqlite3_reset(q);
    return PW_OK;
}

/* ---- users and logins ---- */

static pw_err sq_user_insert(struct store *st, const struct pw_user *u)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "INSERT INTO users (id, email, password_hash, name, role, city, "
                              "credit_balance_cents, free_session_used, created_at) "
                              "VALUES (?,?,?,?,?,?,?,?,?)");
    if (!q) return PW_ESTORE;
    text(q, 1, u->id);
    text(q, 2, u->email);
    text(q, 3, u->password_hash);
    text(q, 4, u->name);
    text(q, 5, pw_role_name(u->role));
    text(q, 6, u->city);
    sqlite3_bind_int64(q, 7, u->credit_balance_cents);
    sqlite3_bind_int(q, 8, u->free_session_used);
    sqlite3_bind_int64(q, 9, u->created_at);
    pw_err e = exec_stmt(s, q, "user_insert");
    return e == PW_ECONFLICT ? PW_EEMAILTAKEN : e;
}

#define USER_COLUMNS                                                                               \
    "u.id, u.email, u.password_hash, u.name, u.role, u.city, u.credit_balance_cents, "             \
    "u.free_session_used, u.created_at, coalesce(m.id, '') "                                       \
    "FROM users u LEFT JOIN mechanics m ON m.user_id = u.id "

static pw_err read_user(struct sq *s, sqlite3_stmt *q, struct pw_user *out)
{
    int rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(q);
        return PW_ENOTFOUND;
    }
    if (rc != SQLITE_ROW) return fail(s, "read_user");
    memset(out, 0, sizeof *out);
    copy_col(q, 0, out->id, sizeof out->id);
    copy_col(q, 1, out->email, sizeof out->email);
    copy_col(q, 2, out->password_hash, sizeof out->password_hash);
    copy_col(q, 3, out->name, sizeof out->name);
    pw_role_parse((const char *)sqlite3_column_text(q, 4), &out->role);
    copy_col(q, 5, out->city, sizeof out->city);
    out->credit_balance_cents = sqlite3_column_int64(q, 6);
    out->free_session_used = sqlite3_column_int(q, 7) != 0;
    out->created_at = sqlite3_column_int64(q, 8);
    copy_col(q, 9, out->mechanic_id, sizeof out->mechanic_id);
    sqlite3_reset(q);
    return PW_OK;
}

static pw_err sq_user_by_email(struct store *st, const char *email, struct pw_user *out)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "SELECT " USER_COLUMNS "WHERE u.email = ?");
    if (!q) return PW_ESTORE;
    text(q, 1, email);
    return read_user(s, q, out);
}

static pw_err sq_user_by_id(struct store *st, const char *id, struct pw_user *out)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "SELECT " USER_COLUMNS "WHERE u.id = ?");
    if (!q) return PW_ESTORE;
    text(q, 1, id);
    return read_user(s, q, out);
}

static pw_err sq_auth_session_insert(struct store *st, const struct pw_auth_session *a)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "INSERT INTO auth_sessions (token_hash, user_id, csrf_token, "
                              "created_at, expires_at) VALUES (?,?,?,?,?)");
    if (!q) return PW_ESTORE;
    text(q, 1, a->token_hash);
    text(q, 2, a->user_id);
    text(q, 3, a->csrf_token);
    sqlite3_bind_int64(q, 4, a->created_at);
    sqlite3_bind_int64(q, 5, a->expires_at);
    return exec_stmt(s, q, "auth_session_insert");
}

static pw_err sq_auth_session_get(struct store *st, const char *token_hash, int64_t now,
                                  struct pw_auth_session *out)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "SELECT user_id, csrf_token, created_at, expires_at "
                              "FROM auth_sessions WHERE token_hash = ? AND expires_at > ?");
    if (!q) return PW_ESTORE;
    text(q, 1, token_hash);
    sqlite3_bind_int64(q, 2, now);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(q);
        return PW_ENOTFOUND;
    }
    if (rc != SQLITE_ROW) return fail(s, "auth_session_get");
    memset(out, 0, sizeof *out);
    snprintf(out->token_hash, sizeof out->token_hash, "%s", token_hash);
    copy_col(q, 0, out->user_id, sizeof out->user_id);
    copy_col(q, 1, out->csrf_token, sizeof out->csrf_token);
    out->created_at = sqlite3_column_int64(q, 2);
    out->expires_at = sqlite3_column_int64(q, 3);
    sqlite3_reset(q);
    return PW_OK;
}

static pw_err sq_auth_session_delete(struct store *st, const char *token_hash)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "DELETE FROM auth_sessions WHERE token_hash = ?");
    if (!q) return PW_ESTORE;
    text(q, 1, token_hash);
    return exec_stmt(s, q, "auth_session_delete");
}

/* ---- mechanics and presence ---- */

static char *tags_json(const char tags[][PW_TAG_MAX + 1], int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_string(tags[i]));
    char *out = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return out;
}

static int tags_parse(const char *text_, char tags[][PW_TAG_MAX + 1])
{
    json_t *a = json_loads(text_ ? text_ : "[]", 0, NULL);
    int n = 0;
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        if (n < PW_TAGS_MAX && json_is_string(v))
            snprintf(tags[n++], PW_TAG_MAX + 1, "%s", json_string_value(v));
    }
    json_decref(a);
    return n;
}

static pw_err sq_mechanic_insert(struct store *st, const struct pw_mechanic *m)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "INSERT INTO mechanics (id, user_id, name, profile_photo_url, "
                              "rating_tenths, completed_sessions, years_of_experience, "
                              "is_brand_specialist, brand_specializations, service_keywords, "
                              "city, country, status, can_accept_sessions, presence, "
                              "last_seen_at, created_at) "
                              "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?, strftime('%s', 'now') * 1000)");
    if (!q) return PW_ESTORE;
    char *brands = tags_json(m->brands, m->n_brands);
    char *keywords = tags_json(m->keywords, m->n_keywords);
    text(q, 1, m->id);
    text(q, 2, m->user_id);
    text(q, 3, m->name);
    text(q, 4, m->profile_photo_url);
    sqlite3_bind_int(q, 5, m->rating_tenths);
    sqlite3_bind_int(q, 6, m->completed_sessions);
    sqlite3_bind_int(q, 7, m->years_of_experience);
    sqlite3_bind_int(q, 8, m->is_brand_specialist);
    text(q, 9, brands);
    text(q, 10, keywords);
    text(q, 11, m->city);
    text(q, 12, m->country);
    text(q, 13, pw_mechanic_status_name(m->status));
    sqlite3_bind_int(q, 14, m->can_accept_sessions);
    text(q, 15, pw_presence_name(m->presence));
    if (m->last_seen_at)
        sqlite3_bind_int64(q, 16, m->last_seen_at);
    else
        sqlite3_bind_null(q, 16);
    pw_err e = exec_stmt(s, q, "mechanic_insert");
    free(brands);
    free(keywords);
    return e;
}

#define MECHANIC_COLUMNS                                                                         \
    "SELECT id, user_id, name, profile_photo_url, rating_tenths, completed_sessions, "            \
    "years_of_experience, is_brand_specialist, brand_specializations, service_keywords, city, "  \
    "country, status, can_accept_sessions, presence, coalesce(last_seen_at, 0) FROM mechanics "

static void read_mechanic(sqlite3_stmt *q, struct pw_mechanic *m)
{
    memset(m, 0, sizeof *m);
    copy_col(q, 0, m->id, sizeof m->id);
    copy_col(q, 1, m->user_id, sizeof m->user_id);
    copy_col(q, 2, m->name, sizeof m->name);
    copy_col(q, 3, m->profile_photo_url, sizeof m->profile_photo_url);
    m->rating_tenths = sqlite3_column_int(q, 4);
    m->completed_sessions = sqlite3_column_int(q, 5);
    m->years_of_experience = sqlite3_column_int(q, 6);
    m->is_brand_specialist = sqlite3_column_int(q, 7) != 0;
    m->n_brands = tags_parse((const char *)sqlite3_column_text(q, 8), m->brands);
    m->n_keywords = tags_parse((const char *)sqlite3_column_text(q, 9), m->keywords);
    copy_col(q, 10, m->city, sizeof m->city);
    copy_col(q, 11, m->country, sizeof m->country);
    pw_mechanic_status_parse((const char *)sqlite3_column_text(q, 12), &m->status);
    m->can_accept_sessions = sqlite3_column_int(q, 13) != 0;
    pw_presence_parse((const char *)sqlite3_column_text(q, 14), &m->presence);
    m->last_seen_at = sqlite3_column_int64(q, 15);
}

static pw_err sq_mechanics_each(struct store *st, store_mechanic_fn fn, void *ctx)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, MECHANIC_COLUMNS "ORDER BY id");
    if (!q) return PW_ESTORE;
    struct pw_mechanic *m = malloc(sizeof *m);
    if (!m) return PW_EINTERNAL;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        read_mechanic(q, m);
        fn(ctx, m);
    }
    free(m);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? PW_OK : fail(s, "mechanics_each");
}

static pw_err sq_mechanic_get(struct store *st, const char *id, struct pw_mechanic *out)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, MECHANIC_COLUMNS "WHERE id = ?");
    if (!q) return PW_ESTORE;
    text(q, 1, id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) read_mechanic(q, out);
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? PW_OK : rc == SQLITE_DONE ? PW_ENOTFOUND : fail(s, "mechanic_get");
}

static pw_err sq_accept_delays_each(struct store *st, int per_mechanic, store_delay_fn fn,
                                    void *ctx)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "SELECT mechanic_id, outcome_at - offered_at FROM ("
                              "  SELECT mechanic_id, offered_at, outcome_at, row_number() OVER ("
                              "    PARTITION BY mechanic_id ORDER BY outcome_at DESC) AS n"
                              "  FROM offers WHERE outcome = 'accepted') WHERE n <= ?");
    if (!q) return PW_ESTORE;
    sqlite3_bind_int(q, 1, per_mechanic);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        fn(ctx, (const char *)sqlite3_column_text(q, 0), sqlite3_column_int64(q, 1));
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? PW_OK : fail(s, "accept_delays_each");
}

/* One writer at a time holds SQLite's write lock until it commits, so events commit in the
 * order of their rowids: no one can see seq n+1 before seq n. */
static pw_err sq_events_write(struct store *st, struct store_event *evs, size_t n)
{
    struct sq *s = SQ(st);
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *q = prep(s, "INSERT INTO events (type, channel, payload, created_at) "
                                  "VALUES (?,?,?,?)");
        if (!q) return PW_ESTORE;
        text(q, 1, evs[i].type);
        text(q, 2, evs[i].channel);
        text(q, 3, evs[i].payload);
        sqlite3_bind_int64(q, 4, evs[i].created_at);
        pw_err e = exec_stmt(s, q, "events_write");
        if (e) return e;
        evs[i].seq = sqlite3_last_insert_rowid(s->db);
    }
    return PW_OK;
}

static pw_err sq_presence_set(struct store *st, const char *mechanic_id, enum pw_state presence,
                              int64_t last_seen_at, int64_t unseen_before)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "UPDATE mechanics SET presence = ?1, last_seen_at = ?2 WHERE id = ?3 "
                              "AND (?4 = 0 OR (presence = 'online' AND "
                              "coalesce(last_seen_at, 0) < ?4))");
    if (!q) return PW_ESTORE;
    text(q, 1, pw_presence_name(presence));
    sqlite3_bind_int64(q, 2, last_seen_at);
    text(q, 3, mechanic_id);
    sqlite3_bind_int64(q, 4, unseen_before);
    int n;
    pw_err e = exec_changes(s, q, "presence_set", &n);
    if (e || n == 1) return e;
    struct pw_mechanic m;
    if ((e = sq_mechanic_get(st, mechanic_id, &m))) return e;
    return PW_ETAKEN;
}

static pw_err sq_last_seen_save(struct store *st, const char *mechanic_id, int64_t last_seen_at)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "UPDATE mechanics SET last_seen_at = ? WHERE id = ?");
    if (!q) return PW_ESTORE;
    sqlite3_bind_int64(q, 1, last_seen_at);
    text(q, 2, mechanic_id);
    return exec_stmt(s, q, "last_seen_save");
}

/* ---- events ---- */

/* Runs q (bound), handing each row (seq, type, channel, payload, created_at) to fn. */
static pw_err each_event(struct sq *s, sqlite3_stmt *q, store_event_fn fn, void *ctx,
                         const char *what)
{
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct store_event ev = {
            .seq = sqlite3_column_int64(q, 0),
            .type = (const char *)sqlite3_column_text(q, 1),
            .channel = (const char *)sqlite3_column_text(q, 2),
            .payload = (const char *)sqlite3_column_text(q, 3),
            .created_at = sqlite3_column_int64(q, 4),
        };
        fn(ctx, &ev);
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? PW_OK : fail(s, what);
}

static pw_err sq_events_tail(struct store *st, int limit, store_event_fn fn, void *ctx)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "SELECT seq, type, channel, payload, created_at FROM ("
                              "  SELECT * FROM events ORDER BY seq DESC LIMIT ?) ORDER BY seq");
    if (!q) return PW_ESTORE;
    sqlite3_bind_int(q, 1, limit);
    return each_event(s, q, fn, ctx, "events_tail");
}

static pw_err sq_events_after(struct store *st, int64_t after, int limit, store_event_fn fn,
                              void *ctx)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "SELECT seq, type, channel, payload, created_at FROM events "
                              "WHERE seq > ? ORDER BY seq LIMIT ?");
    if (!q) return PW_ESTORE;
    sqlite3_bind_int64(q, 1, after);
    sqlite3_bind_int(q, 2, limit);
    return each_event(s, q, fn, ctx, "events_after");
}

static pw_err sq_events_of_channel(struct store *st, const char *channel, const char *type,
                                   int64_t upto, store_event_fn fn, void *ctx)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "SELECT seq, type, channel, payload, created_at FROM events "
                              "WHERE channel = ? AND type = ? AND seq <= ? ORDER BY seq");
    if (!q) return PW_ESTORE;
    text(q, 1, channel);
    text(q, 2, type);
    sqlite3_bind_int64(q, 3, upto);
    return each_event(s, q, fn, ctx, "events_of_channel");
}

/* SQLite has no notifications: a node follows other processes' events on its tick. */
static int sq_listen_fd(struct store *st, unsigned *generation)
{
    (void)st;
    *generation = 0;
    return -1;
}

static pw_err sq_listen_poll(struct store *st, int64_t *newest_seq, bool *woke)
{
    (void)st;
    *newest_seq = 0;
    *woke = false;
    return PW_OK;
}

static pw_err sq_event_latest_seq(struct store *st, int64_t *seq)
{
    struct sq *s = SQ(st);
    /* sqlite_sequence keeps the high-water mark even when the newest rows are deleted */
    sqlite3_stmt *q = prep(s, "SELECT coalesce((SELECT seq FROM sqlite_sequence "
                              "WHERE name = 'events'), 0)");
    if (!q || sqlite3_step(q) != SQLITE_ROW) return fail(s, "event_latest_seq");
    *seq = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    return PW_OK;
}

/* ---- catalogue ---- */

static pw_err sq_plan_insert(struct store *st, const struct pw_plan *p, int sort)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "INSERT INTO plans (slug, name, standard_price_cents, "
                              "specialist_price_cents, sort) VALUES (?,?,?,?,?)");
    if (!q) return PW_ESTORE;
    text(q, 1, p->slug);
    text(q, 2, p->name);
    sqlite3_bind_int64(q, 3, p->standard_price_cents);
    sqlite3_bind_int64(q, 4, p->specialist_price_cents);
    sqlite3_bind_int(q, 5, sort);
    return exec_stmt(s, q, "plan_insert");
}

static pw_err sq_plans_each(struct store *st, store_plan_fn fn, void *ctx)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "SELECT slug, name, standard_price_cents, specialist_price_cents "
                              "FROM plans ORDER BY sort, slug");
    if (!q) return PW_ESTORE;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct pw_plan p;
        copy_col(q, 0, p.slug, sizeof p.slug);
        copy_col(q, 1, p.name, sizeof p.name);
        p.standard_price_cents = sqlite3_column_int64(q, 2);
        p.specialist_price_cents = sqlite3_column_int64(q, 3);
        fn(ctx, &p);
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? PW_OK : fail(s, "plans_each");
}

static pw_err sq_vehicle_insert(struct store *st, const struct pw_vehicle *v)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "INSERT INTO vehicles (id, owner_id, year, make, model, created_at) "
                              "VALUES (?,?,?,?,?, (SELECT coalesce(max(created_at), 0) + 1 "
                              "FROM vehicles))");
    if (!q) return PW_ESTORE;
    text(q, 1, v->id);
    text(q, 2, v->owner_id);
    sqlite3_bind_int(q, 3, v->year);
    text(q, 4, v->make);
    text(q, 5, v->model);
    return exec_stmt(s, q, "vehicle_insert");
}

static pw_err sq_vehicles_of(struct store *st, const char *owner_id, store_vehicle_fn fn,
                             void *ctx)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "SELECT id, owner_id, year, make, model FROM vehicles "
                              "WHERE owner_id = ? AND deleted_at IS NULL ORDER BY created_at, id");
    if (!q) return PW_ESTORE;
    text(q, 1, owner_id);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct pw_vehicle v;
        copy_col(q, 0, v.id, sizeof v.id);
        copy_col(q, 1, v.owner_id, sizeof v.owner_id);
        v.year = sqlite3_column_int(q, 2);
        copy_col(q, 3, v.make, sizeof v.make);
        copy_col(q, 4, v.model, sizeof v.model);
        v.deleted_at = 0;
        fn(ctx, &v);
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? PW_OK : fail(s, "vehicles_of");
}

static pw_err sq_vehicle_get(struct store *st, const char *id, struct pw_vehicle *out)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "SELECT id, owner_id, year, make, model, coalesce(deleted_at, 0) "
                              "FROM vehicles WHERE id = ?");
    if (!q) return PW_ESTORE;
    text(q, 1, id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        copy_col(q, 0, out->id, sizeof out->id);
        copy_col(q, 1, out->owner_id, sizeof out->owner_id);
        out->year = sqlite3_column_int(q, 2);
        copy_col(q, 3, out->make, sizeof out->make);
        copy_col(q, 4, out->model, sizeof out->model);
        out->deleted_at = sqlite3_column_int64(q, 5);
    }
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? PW_OK : rc == SQLITE_DONE ? PW_ENOTFOUND : fail(s, "vehicle_get");
}

/* SQLite has no row locks: a write is the lock. The first write of a transaction takes the
 * database's write lock (and, in WAL mode, a snapshot no older than it), so what the
 * transaction reads next is current and nobody else writes until it ends. */
static pw_err sq_vehicle_lock(struct store *st, const char *id, const char *owner_id)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "UPDATE vehicles SET year = year "
                              "WHERE id = ? AND owner_id = ? AND deleted_at IS NULL");
    if (!q) return PW_ESTORE;
    text(q, 1, id);
    text(q, 2, owner_id);
    int n;
    pw_err e = exec_changes(s, q, "vehicle_lock", &n);
    return e ? e : n == 1 ? PW_OK : PW_ENOTFOUND;
}

static pw_err sq_vehicle_update(struct store *st, const struct pw_vehicle *v)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "UPDATE vehicles SET year = ?, make = ?, model = ? "
                              "WHERE id = ? AND deleted_at IS NULL");
    if (!q) return PW_ESTORE;
    sqlite3_bind_int(q, 1, v->year);
    text(q, 2, v->make);
    text(q, 3, v->model);
    text(q, 4, v->id);
    int n;
    pw_err e = exec_changes(s, q, "vehicle_update", &n);
    return e ? e : n == 1 ? PW_OK : PW_ENOTFOUND;
}

static pw_err sq_vehicle_delete(struct store *st, const char *id, int64_t at)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "UPDATE vehicles SET deleted_at = ? "
                              "WHERE id = ? AND deleted_at IS NULL");
    if (!q) return PW_ESTORE;
    sqlite3_bind_int64(q, 1, at);
    text(q, 2, id);
    int n;
    pw_err e = exec_changes(s, q, "vehicle_delete", &n);
    return e ? e : n == 1 ? PW_OK : PW_ENOTFOUND;
}

static pw_err sq_user_lock(struct store *st, const char *id)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "UPDATE users SET credit_balance_cents = credit_balance_cents "
                              "WHERE id = ?");
    if (!q) return PW_ESTORE;
    text(q, 1, id);
    int n;
    pw_err e = exec_changes(s, q, "user_lock", &n);
    return e ? e : n == 1 ? PW_OK : PW_ENOTFOUND;
}

static pw_err sq_user_update_profile(struct store *st, const char *id, const char *name,
                                     const char *city)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "UPDATE users SET name = coalesce(?, name), city = coalesce(?, city) "
                              "WHERE id = ?");
    if (!q) return PW_ESTORE;
    if (name) text(q, 1, name);
    else sqlite3_bind_null(q, 1);
    if (city) text(q, 2, city);
    else sqlite3_bind_null(q, 2);
    text(q, 3, id);
    int n;
    pw_err e = exec_changes(s, q, "user_update_profile", &n);
    return e ? e : n == 1 ? PW_OK : PW_ENOTFOUND;
}

#define LIVE_STATES "('awaiting_payment','priority','broadcast','accepted')"

static pw_err sq_session_live_find(struct store *st, const char *customer_id,
                                   const char *vehicle_id, char out[PW_ID_LEN + 1])
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = customer_id
                          ? prep(s, "SELECT id FROM sessions WHERE customer_id = ? AND state IN "
                                    LIVE_STATES " ORDER BY created_at DESC, id LIMIT 1")
                          : prep(s, "SELECT id FROM sessions WHERE vehicle_id = ? AND state IN "
                                    LIVE_STATES " ORDER BY created_at DESC, id LIMIT 1");
    if (!q) return PW_ESTORE;
    text(q, 1, customer_id ? customer_id : vehicle_id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) copy_col(q, 0, out, PW_ID_LEN + 1);
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? PW_OK : rc == SQLITE_DONE ? PW_ENOTFOUND : fail(s, "session_live_find");
}

static pw_err sq_plan_get(struct store *st, const char *slug, struct pw_plan *out)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "SELECT slug, name, standard_price_cents, specialist_price_cents "
                              "FROM plans WHERE slug = ?");
    if (!q) return PW_ESTORE;
    text(q, 1, slug);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        copy_col(q, 0, out->slug, sizeof out->slug);
        copy_col(q, 1, out->name, sizeof out->name);
        out->standard_price_cents = sqlite3_column_int64(q, 2);
        out->specialist_price_cents = sqlite3_column_int64(q, 3);
    }
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? PW_OK : rc == SQLITE_DONE ? PW_ENOTFOUND : fail(s, "plan_get");
}

/* Runs an UPDATE and tells how many rows it changed. */

static pw_err sq_user_debit(struct store *st, const char *user_id, int64_t cents)
{
    struct sq *s = SQ(st);
    /* one conditional update: two concurrent debits can never take the balance below 0 */
    sqlite3_stmt *q = prep(s, "UPDATE users SET credit_balance_cents = credit_balance_cents - ?1 "
                              "WHERE id = ?2 AND credit_balance_cents >= ?1");
    if (!q) return PW_ESTORE;
    sqlite3_bind_int64(q, 1, cents);
    text(q, 2, user_id);
    int n;
    pw_err e = exec_changes(s, q, "user_debit", &n);
    return e ? e : n == 1 ? PW_OK : PW_ECREDITS;
}

static pw_err sq_user_credit(struct store *st, const char *user_id, int64_t cents)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "UPDATE users SET credit_balance_cents = credit_balance_cents + ? "
                              "WHERE id = ?");
    if (!q) return PW_ESTORE;
    sqlite3_bind_int64(q, 1, cents);
    text(q, 2, user_id);
    int n;
    pw_err e = exec_changes(s, q, "user_credit", &n);
    return e ? e : n == 1 ? PW_OK : PW_ENOTFOUND;
}

static pw_err sq_user_use_free(struct store *st, const char *user_id)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "UPDATE users SET free_session_used = 1 "
                              "WHERE id = ? AND free_session_used = 0");
    if (!q) return PW_ESTORE;
    text(q, 1, user_id);
    int n;
    pw_err e = exec_changes(s, q, "user_use_free", &n);
    return e ? e : n == 1 ? PW_OK : PW_EFREEUSED;
}

static pw_err sq_user_release_free(struct store *st, const char *user_id)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "UPDATE users SET free_session_used = 0 WHERE id = ?");
    if (!q) return PW_ESTORE;
    text(q, 1, user_id);
    return exec_stmt(s, q, "user_release_free");
}

static void bind_opt_text(sqlite3_stmt *q, int i, const char *v)
{
    if (v && *v)
        text(q, i, v);
    else
        sqlite3_bind_null(q, i);
}

static void bind_opt_time(sqlite3_stmt *q, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(q, i, v);
    else
        sqlite3_bind_null(q, i);
}

static pw_err sq_session_insert(struct store *st, const struct pw_session *x)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "INSERT INTO sessions (id, customer_id, vehicle_id, plan_slug, "
                              "is_specialist, preferred_mechanic_id, routing_type, intake, metadata, "
                              "waiver_accepted_at, payment_method, payment_status, price_cents, state, "
                              "created_at, routing_started_at, priority_ends_at, expires_at, "
                              "rollout_group) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!q) return PW_ESTORE;
    json_t *meta = json_pack("{s:s?, s:s}", "preferred_mechanic_id",
                             x->preferred_mechanic_id[0] ? x->preferred_mechanic_id : NULL,
                             "routing_type", x->priority_routing ? "priority_broadcast" : "broadcast");
    char *metadata = json_dumps(meta, JSON_COMPACT);
    json_decref(meta);
    text(q, 1, x->id);
    text(q, 2, x->customer_id);
    text(q, 3, x->vehicle_id);
    text(q, 4, x->plan_slug);
    sqlite3_bind_int(q, 5, x->is_specialist);
    bind_opt_text(q, 6, x->preferred_mechanic_id);
    text(q, 7, x->priority_routing ? "priority_broadcast" : "broadcast");
    text(q, 8, x->intake_json);
    text(q, 9, metadata);
    bind_opt_time(q, 10, x->waiver_accepted_at);
    text(q, 11, x->payment_method);
    text(q, 12, x->payment_status);
    sqlite3_bind_int64(q, 13, x->price_cents);
    text(q, 14, pw_session_state_name(x->state));
    sqlite3_bind_int64(q, 15, x->created_at);
    bind_opt_time(q, 16, x->routing_started_at);
    bind_opt_time(q, 17, x->priority_ends_at);
    bind_opt_time(q, 18, x->expires_at);
    text(q, 19, x->rollout_group[0] ? x->rollout_group : "selection");
    pw_err e = exec_stmt(s, q, "session_insert");
    free(metadata);
    return e;
}

#define SESSION_COLUMNS                                                                            \
    "id, customer_id, vehicle_id, plan_slug, is_specialist, coalesce(preferred_mechanic_id, ''), " \
    "routing_type, intake, coalesce(waiver_accepted_at, 0), payment_method, payment_status, "      \
    "price_cents, state, coalesce(assigned_mechanic_id, ''), created_at, "                         \
    "coalesce(routing_started_at, 0), coalesce(priority_ends_at, 0), coalesce(expires_at, 0), "    \
    "coalesce(accepted_at, 0), coalesce(ended_at, 0), coalesce(outcome, ''), outcome_notes, "      \
    "coalesce(rating_score, -1), rating_comment, coalesce(checkout_id, ''), checkout_url, "        \
    "rollout_group "

static char *dup_col(sqlite3_stmt *q, int i)
{
    const unsigned char *v = sqlite3_column_text(q, i);
    return v ? strdup((const char *)v) : NULL;
}

static void read_session(sqlite3_stmt *q, struct pw_session *x)
{
    memset(x, 0, sizeof *x);
    copy_col(q, 0, x->id, sizeof x->id);
    copy_col(q, 1, x->customer_id, sizeof x->customer_id);
    copy_col(q, 2, x->vehicle_id, sizeof x->vehicle_id);
    copy_col(q, 3, x->plan_slug, sizeof x->plan_slug);
    x->is_specialist = sqlite3_column_int(q, 4) != 0;
    copy_col(q, 5, x->preferred_mechanic_id, sizeof x->preferred_mechanic_id);
    x->priority_routing = strcmp((const char *)sqlite3_column_text(q, 6), "priority_broadcast") == 0;
    x->intake_json = dup_col(q, 7);
    x->waiver_accepted_at = sqlite3_column_int64(q, 8);
    copy_col(q, 9, x->payment_method, sizeof x->payment_method);
    copy_col(q, 10, x->payment_status, sizeof x->payment_status);
    x->price_cents = sqlite3_column_int64(q, 11);
    pw_session_state_parse((const char *)sqlite3_column_text(q, 12), &x->state);
    copy_col(q, 13, x->assigned_mechanic_id, sizeof x->assigned_mechanic_id);
    x->created_at = sqlite3_column_int64(q, 14);
    x->routing_started_at = sqlite3_column_int64(q, 15);
    x->priority_ends_at = sqlite3_column_int64(q, 16);
    x->expires_at = sqlite3_column_int64(q, 17);
    x->accepted_at = sqlite3_column_int64(q, 18);
    x->ended_at = sqlite3_column_int64(q, 19);
    copy_col(q, 20, x->outcome, sizeof x->outcome);
    x->outcome_notes = dup_col(q, 21);
    x->rating_score = sqlite3_column_int(q, 22);
    x->rating_comment = dup_col(q, 23);
    copy_col(q, 24, x->checkout_id, sizeof x->checkout_id);
    x->checkout_url = dup_col(q, 25);
    copy_col(q, 26, x->rollout_group, sizeof x->rollout_group);
}

static pw_err sq_session_get(struct store *st, const char *id, struct pw_session *out)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "SELECT " SESSION_COLUMNS "FROM sessions WHERE id = ?");
    if (!q) return PW_ESTORE;
    text(q, 1, id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) read_session(q, out);
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? PW_OK : rc == SQLITE_DONE ? PW_ENOTFOUND : fail(s, "session_get");
}

static pw_err sq_session_transition(struct store *st, const char *id,
                                    const struct store_transition *t)
{
    struct sq *s = SQ(st);
    /* The state test is in the WHERE clause: whoever changes the row first wins, everyone
     * after gets no row and PW_ETAKEN. Never read-then-write. */
    sqlite3_stmt *q = prep(
        s, "UPDATE sessions SET state = ?1,"
           " assigned_mechanic_id = coalesce(?2, assigned_mechanic_id),"
           " accepted_at = CASE WHEN ?1 = 'accepted' THEN ?3 ELSE accepted_at END,"
           " ended_at = CASE WHEN ?1 = 'ended' THEN ?3 ELSE ended_at END,"
           " routing_started_at = CASE WHEN ?1 IN ('priority','broadcast')"
           "   THEN coalesce(routing_started_at, ?3) ELSE routing_started_at END,"
           " broadcast_at = CASE WHEN ?1 = 'broadcast'"
           "   THEN coalesce(broadcast_at, ?3) ELSE broadcast_at END,"
           " payment_status = coalesce(?4, payment_status)"
           " WHERE id = ?5 AND ((1 << CASE state WHEN 'awaiting_payment' THEN 0"
           "   WHEN 'priority' THEN 1 WHEN 'broadcast' THEN 2 WHEN 'accepted' THEN 3"
           "   WHEN 'ended' THEN 4 WHEN 'cancelled' THEN 5 WHEN 'expired' THEN 6 END) & ?6) != 0");
    if (!q) return PW_ESTORE;
    text(q, 1, pw_session_state_name(t->to));
    bind_opt_text(q, 2, t->assigned);
    sqlite3_bind_int64(q, 3, t->at);
    bind_opt_text(q, 4, t->payment_status);
    text(q, 5, id);
    sqlite3_bind_int(q, 6, (int)t->from);
    int n;
    pw_err e = exec_changes(s, q, "session_transition", &n);
    return e ? e : n == 1 ? PW_OK : PW_ETAKEN;
}

static pw_err sq_session_set_outcome(struct store *st, const char *id, const char *outcome,
                                     const char *notes)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "UPDATE sessions SET outcome = ?, outcome_notes = ? WHERE id = ?");
    if (!q) return PW_ESTORE;
    bind_opt_text(q, 1, outcome);
    bind_opt_text(q, 2, notes);
    text(q, 3, id);
    return exec_stmt(s, q, "session_set_outcome");
}

static pw_err sq_session_set_rating(struct store *st, const char *id, int score,
                                    const char *comment, int64_t at)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "UPDATE sessions SET rating_score = ?, rating_comment = ?, "
                              "rated_at = ? WHERE id = ? AND rating_score IS NULL AND state = 'ended'");
    if (!q) return PW_ESTORE;
    sqlite3_bind_int(q, 1, score);
    bind_opt_text(q, 2, comment);
    sqlite3_bind_int64(q, 3, at);
    text(q, 4, id);
    int n;
    pw_err e = exec_changes(s, q, "session_set_rating", &n);
    return e ? e : n == 1 ? PW_OK : PW_ECONFLICT;
}

static pw_err sq_session_set_checkout(struct store *st, const char *id, const char *checkout_id,
                                      const char *url)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "UPDATE sessions SET checkout_id = ?, checkout_url = ? WHERE id = ?");
    if (!q) return PW_ESTORE;
    bind_opt_text(q, 1, checkout_id);
    bind_opt_text(q, 2, url);
    text(q, 3, id);
    return exec_stmt(s, q, "session_set_checkout");
}

static pw_err each_session(struct sq *s, sqlite3_stmt *q, store_session_fn fn, void *ctx,
                           const char *what)
{
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct pw_session x;
        read_session(q, &x);
        fn(ctx, &x);
        pw_session_clear(&x);
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? PW_OK : fail(s, what);
}

static pw_err sq_sessions_list(struct store *st, const char *customer_id, const char *mechanic_id,
                               int limit, store_session_fn fn, void *ctx)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = customer_id
                          ? prep(s, "SELECT " SESSION_COLUMNS "FROM sessions WHERE customer_id = ? "
                                    "ORDER BY created_at DESC, id LIMIT ?")
                          : prep(s, "SELECT " SESSION_COLUMNS "FROM sessions "
                                    "WHERE assigned_mechanic_id = ? "
                                    "ORDER BY created_at DESC, id LIMIT ?");
    if (!q) return PW_ESTORE;
    text(q, 1, customer_id ? customer_id : mechanic_id);
    sqlite3_bind_int(q, 2, limit);
    return each_session(s, q, fn, ctx, "sessions_list");
}

static pw_err sq_sessions_in_state(struct store *st, enum pw_session_state state,
                                   store_session_fn fn, void *ctx)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "SELECT " SESSION_COLUMNS "FROM sessions WHERE state = ? "
                              "ORDER BY created_at, id");
    if (!q) return PW_ESTORE;
    text(q, 1, pw_session_state_name(state));
    return each_session(s, q, fn, ctx, "sessions_in_state");
}

static pw_err sq_sessions_due(struct store *st, int64_t now, store_due_fn fn, void *ctx)
{
    struct sq *s = SQ(st);
    /* a window that ended after the whole lifetime did is not acted on: the expiry wins */
    sqlite3_stmt *q = prep(s, "SELECT id, 0 FROM sessions WHERE state = 'priority' AND "
                              "priority_ends_at <= ?1 AND expires_at > ?1 "
                              "UNION ALL SELECT id, 1 FROM sessions WHERE state IN "
                              "('awaiting_payment','priority','broadcast') AND expires_at <= ?1");
    if (!q) return PW_ESTORE;
    sqlite3_bind_int64(q, 1, now);
    /* collect first: the callbacks write to the same tables */
    struct due {
        char id[PW_ID_LEN + 1];
        int kind;
    } *list = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            struct due *grown = realloc(list, cap * sizeof *list);
            if (!grown) break;
            list = grown;
        }
        copy_col(q, 0, list[n].id, sizeof list[n].id);
        list[n++].kind = sqlite3_column_int(q, 1);
    }
    sqlite3_reset(q);
    for (size_t i = 0; i < n; i++) fn(ctx, list[i].id, list[i].kind);
    free(list);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? PW_OK : fail(s, "sessions_due");
}

static pw_err sq_offer_insert(struct store *st, struct pw_offer *o)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "INSERT INTO offers (session_id, mechanic_id, kind, offered_at, "
                              "expires_at) VALUES (?,?,?,?,?)");
    if (!q) return PW_ESTORE;
    text(q, 1, o->session_id);
    text(q, 2, o->mechanic_id);
    text(q, 3, pw_offer_kind_name(o->kind));
    sqlite3_bind_int64(q, 4, o->offered_at);
    sqlite3_bind_int64(q, 5, o->expires_at);
    pw_err e = exec_stmt(s, q, "offer_insert");
    if (!e) o->id = sqlite3_last_insert_rowid(s->db);
    return e;
}

#define OFFER_COLUMNS "id, session_id, mechanic_id, kind, offered_at, expires_at, " \
                      "coalesce(outcome, ''), coalesce(outcome_at, 0) "

static void read_offer(sqlite3_stmt *q, struct pw_offer *o)
{
    memset(o, 0, sizeof *o);
    o->id = sqlite3_column_int64(q, 0);
    copy_col(q, 1, o->session_id, sizeof o->session_id);
    copy_col(q, 2, o->mechanic_id, sizeof o->mechanic_id);
    o->kind = strcmp((const char *)sqlite3_column_text(q, 3), "priority") == 0 ? PW_OFFER_PRIORITY
                                                                              : PW_OFFER_BROADCAST;
    o->offered_at = sqlite3_column_int64(q, 4);
    o->expires_at = sqlite3_column_int64(q, 5);
    const char *out = (const char *)sqlite3_column_text(q, 6);
    o->outcome = !strcmp(out, "accepted")   ? PW_OFFER_ACCEPTED
                 : !strcmp(out, "declined") ? PW_OFFER_DECLINED
                 : !strcmp(out, "expired")  ? PW_OFFER_EXPIRED
                 : !strcmp(out, "withdrawn") ? PW_OFFER_WITHDRAWN
                                             : PW_OFFER_LIVE;
    o->outcome_at = sqlite3_column_int64(q, 7);
}

static pw_err sq_offer_get(struct store *st, const char *session_id, const char *mechanic_id,
                           struct pw_offer *out)
{
    struct sq *s = SQ(st);
    /* a mechanic may hold a priority and a broadcast offer: the live one, else the newest */
    sqlite3_stmt *q = prep(s, "SELECT " OFFER_COLUMNS "FROM offers WHERE session_id = ? AND "
                              "mechanic_id = ? ORDER BY outcome IS NULL DESC, id DESC LIMIT 1");
    if (!q) return PW_ESTORE;
    text(q, 1, session_id);
    text(q, 2, mechanic_id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) read_offer(q, out);
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? PW_OK : rc == SQLITE_DONE ? PW_ENOTFOUND : fail(s, "offer_get");
}

static pw_err each_offer(struct sq *s, sqlite3_stmt *q, store_offer_fn fn, void *ctx,
                         const char *what)
{
    /* collect first, so callbacks may write */
    struct pw_offer *list = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            struct pw_offer *grown = realloc(list, cap * sizeof *list);
            if (!grown) break;
            list = grown;
        }
        read_offer(q, &list[n++]);
    }
    sqlite3_reset(q);
    for (size_t i = 0; i < n; i++) fn(ctx, &list[i]);
    free(list);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? PW_OK : fail(s, what);
}

static pw_err sq_offers_of_session(struct store *st, const char *session_id, store_offer_fn fn,
                                   void *ctx)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "SELECT " OFFER_COLUMNS "FROM offers WHERE session_id = ? ORDER BY id");
    if (!q) return PW_ESTORE;
    text(q, 1, session_id);
    return each_offer(s, q, fn, ctx, "offers_of_session");
}

static pw_err sq_offers_live_of_mechanic(struct store *st, const char *mechanic_id,
                                         store_offer_fn fn, void *ctx)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "SELECT " OFFER_COLUMNS "FROM offers WHERE mechanic_id = ? AND "
                              "outcome IS NULL ORDER BY id");
    if (!q) return PW_ESTORE;
    text(q, 1, mechanic_id);
    return each_offer(s, q, fn, ctx, "offers_live_of_mechanic");
}

static pw_err sq_offers_close(struct store *st, const char *session_id, const char *mechanic_id,
                              enum pw_offer_outcome outcome, int64_t at, int *closed)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "UPDATE offers SET outcome = ?1, outcome_at = ?2 WHERE "
                              "session_id = ?3 AND (?4 IS NULL OR mechanic_id = ?4) AND "
                              "outcome IS NULL");
    if (!q) return PW_ESTORE;
    text(q, 1, pw_offer_outcome_name(outcome));
    sqlite3_bind_int64(q, 2, at);
    text(q, 3, session_id);
    bind_opt_text(q, 4, mechanic_id);
    int n;
    pw_err e = exec_changes(s, q, "offers_close", &n);
    if (closed) *closed = n;
    return e;
}

static pw_err sq_sessions_facts(struct store *st, int64_t from, int64_t to, store_facts_fn fn,
                                void *ctx)
{
    struct sq *s = SQ(st);
    /* a session has at most one priority offer (only the preferred mechanic gets one) */
    sqlite3_stmt *q = prep(
        s, "SELECT s.id, s.routing_type, s.rollout_group, s.state, s.created_at,"
           " coalesce(s.routing_started_at, 0), coalesce(s.accepted_at, 0),"
           " coalesce(s.broadcast_at, 0), coalesce(s.outcome, ''), coalesce(s.rating_score, -1),"
           " (SELECT coalesce(o.outcome, 'live') FROM offers o WHERE o.session_id = s.id"
           "   AND o.kind = 'priority' ORDER BY o.id LIMIT 1)"
           " FROM sessions s WHERE s.created_at >= ?1 AND s.created_at < ?2"
           " ORDER BY s.created_at, s.id");
    if (!q) return PW_ESTORE;
    sqlite3_bind_int64(q, 1, from);
    sqlite3_bind_int64(q, 2, to);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct store_session_facts f = {0};
        copy_col(q, 0, f.id, sizeof f.id);
        f.priority_routing = strcmp((const char *)sqlite3_column_text(q, 1), "priority_broadcast") == 0;
        copy_col(q, 2, f.rollout_group, sizeof f.rollout_group);
        pw_session_state_parse((const char *)sqlite3_column_text(q, 3), &f.state);
        f.created_at = sqlite3_column_int64(q, 4);
        f.routing_started_at = sqlite3_column_int64(q, 5);
        f.accepted_at = sqlite3_column_int64(q, 6);
        f.broadcast_at = sqlite3_column_int64(q, 7);
        copy_col(q, 8, f.outcome, sizeof f.outcome);
        f.rating_score = sqlite3_column_int(q, 9);
        const char *po = (const char *)sqlite3_column_text(q, 10);
        f.has_priority_offer = po != NULL;
        f.priority_outcome = !po                         ? PW_OFFER_LIVE
                             : !strcmp(po, "accepted")   ? PW_OFFER_ACCEPTED
                             : !strcmp(po, "declined")   ? PW_OFFER_DECLINED
                             : !strcmp(po, "expired")    ? PW_OFFER_EXPIRED
                             : !strcmp(po, "withdrawn")  ? PW_OFFER_WITHDRAWN
                                                         : PW_OFFER_LIVE;
        fn(ctx, &f);
    }
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? PW_OK : fail(s, "sessions_facts");
}

static pw_err sq_stripe_event_record(struct store *st, const char *id, const char *type,
                                     int64_t at)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "INSERT INTO stripe_events (id, type, received_at) VALUES (?,?,?)");
    if (!q) return PW_ESTORE;
    text(q, 1, id);
    text(q, 2, type);
    sqlite3_bind_int64(q, 3, at);
    return exec_stmt(s, q, "stripe_event_record");
}

static pw_err sq_setting_get(struct store *st, const char *key, char *out, size_t outsz)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "SELECT value FROM settings WHERE key = ?");
    if (!q) return PW_ESTORE;
    text(q, 1, key);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) copy_col(q, 0, out, outsz);
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? PW_OK : rc == SQLITE_DONE ? PW_ENOTFOUND : fail(s, "setting_get");
}

static pw_err sq_setting_set(struct store *st, const char *key, const char *value)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "INSERT INTO settings (key, value) VALUES (?1, ?2) "
                              "ON CONFLICT (key) DO UPDATE SET value = ?2");
    if (!q) return PW_ESTORE;
    text(q, 1, key);
    text(q, 2, value);
    return exec_stmt(s, q, "setting_set");
}

static pw_err sq_mechanic_set_status(struct store *st, const char *id,
                                     enum pw_mechanic_status status, bool can_accept)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "UPDATE mechanics SET status = ?, can_accept_sessions = ? WHERE id = ?");
    if (!q) return PW_ESTORE;
    text(q, 1, pw_mechanic_status_name(status));
    sqlite3_bind_int(q, 2, can_accept);
    text(q, 3, id);
    int n;
    pw_err e = exec_changes(s, q, "mechanic_set_status", &n);
    return e ? e : n == 1 ? PW_OK : PW_ENOTFOUND;
}

/* ---- failed logins ---- */

static pw_err sq_login_failure_add(struct store *st, const char *key, int64_t at)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "INSERT INTO login_failures (key, at) VALUES (?, ?)");
    if (!q) return PW_ESTORE;
    text(q, 1, key);
    sqlite3_bind_int64(q, 2, at);
    return exec_stmt(s, q, "login_failure_add");
}

static pw_err sq_login_failure_nth_newest(struct store *st, const char *key, int64_t after, int n,
                                          int64_t *at)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "SELECT at FROM login_failures WHERE key = ? AND at > ? "
                              "ORDER BY at DESC LIMIT 1 OFFSET ?");
    if (!q) return PW_ESTORE;
    text(q, 1, key);
    sqlite3_bind_int64(q, 2, after);
    sqlite3_bind_int(q, 3, n - 1);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) *at = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    return rc == SQLITE_ROW ? PW_OK : rc == SQLITE_DONE ? PW_ENOTFOUND : fail(s, "login_failure_nth_newest");
}

static pw_err sq_login_failures_clear(struct store *st, const char *key)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "DELETE FROM login_failures WHERE key = ?");
    if (!q) return PW_ESTORE;
    text(q, 1, key);
    return exec_stmt(s, q, "login_failures_clear");
}

static pw_err sq_login_failures_prune(struct store *st, int64_t upto)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "DELETE FROM login_failures WHERE at <= ?");
    if (!q) return PW_ESTORE;
    sqlite3_bind_int64(q, 1, upto);
    return exec_stmt(s, q, "login_failures_prune");
}

static pw_err sq_login_failure_keys(struct store *st, int64_t *keys)
{
    struct sq *s = SQ(st);
    sqlite3_stmt *q = prep(s, "SELECT count(DISTINCT key) FROM login_failures");
    if (!q || sqlite3_step(q) != SQLITE_ROW) return fail(s, "login_failure_keys");
    *keys = sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    return PW_OK;
}

static const struct store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .tx_begin = sq_tx_begin,
    .tx_commit = sq_tx_commit,
    .tx_rollback = sq_tx_rollback,
    .is_empty = sq_is_empty,
    .user_insert = sq_user_insert,
    .user_by_email = sq_user_by_email,
    .user_by_id = sq_user_by_id,
    .auth_session_insert = sq_auth_session_insert,
    .auth_session_get = sq_auth_session_get,
    .auth_session_delete = sq_auth_session_delete,
    .mechanic_insert = sq_mechanic_insert,
    .mechanics_each = sq_mechanics_each,
    .accept_delays_each = sq_accept_delays_each,
    .mechanic_get = sq_mechanic_get,
    .presence_set = sq_presence_set,
    .last_seen_save = sq_last_seen_save,
    .events_tail = sq_events_tail,
    .event_latest_seq = sq_event_latest_seq,
    .events_after = sq_events_after,
    .events_of_channel = sq_events_of_channel,
    .events_write = sq_events_write,
    .listen_fd = sq_listen_fd,
    .listen_poll = sq_listen_poll,
    .plan_insert = sq_plan_insert,
    .plans_each = sq_plans_each,
    .vehicle_insert = sq_vehicle_insert,
    .vehicles_of = sq_vehicles_of,
    .vehicle_get = sq_vehicle_get,
    .vehicle_lock = sq_vehicle_lock,
    .vehicle_update = sq_vehicle_update,
    .vehicle_delete = sq_vehicle_delete,
    .user_lock = sq_user_lock,
    .user_update_profile = sq_user_update_profile,
    .session_live_find = sq_session_live_find,
    .plan_get = sq_plan_get,
    .user_debit = sq_user_debit,
    .user_credit = sq_user_credit,
    .user_use_free = sq_user_use_free,
    .user_release_free = sq_user_release_free,
    .session_insert = sq_session_insert,
    .session_get = sq_session_get,
    .session_transition = sq_session_transition,
    .session_set_outcome = sq_session_set_outcome,
    .session_set_rating = sq_session_set_rating,
    .session_set_checkout = sq_session_set_checkout,
    .sessions_list = sq_sessions_list,
    .sessions_in_state = sq_sessions_in_state,
    .sessions_due = sq_sessions_due,
    .offer_insert = sq_offer_insert,
    .offer_get = sq_offer_get,
    .offers_of_session = sq_offers_of_session,
    .offers_live_of_mechanic = sq_offers_live_of_mechanic,
    .offers_close = sq_offers_close,
    .sessions_facts = sq_sessions_facts,
    .setting_get = sq_setting_get,
    .setting_set = sq_setting_set,
    .mechanic_set_status = sq_mechanic_set_status,
    .stripe_event_record = sq_stripe_event_record,
    .login_failure_add = sq_login_failure_add,
    .login_failure_nth_newest = sq_login_failure_nth_newest,
    .login_failures_clear = sq_login_failures_clear,
    .login_failures_prune = sq_login_failures_prune,
    .login_failure_keys = sq_login_failure_keys,
};

static pw_err migrate(struct sq *s, char *err, size_t errlen)
{
    int have = 0;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        have = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    int want = (int)(sizeof sqlite_migrations / sizeof sqlite_migrations[0]);
    if (have > want) {
        snprintf(err, errlen, "the database is at schema version %d, newer than this pitwall (%d)",
                 have, want);
        return PW_ESTORE;
    }
    for (int v = have; v < want; v++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        /* each migration and its version bump commit together, or not at all */
        if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(s->db, sqlite_migrations[v], NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(s->db, pragma, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            snprintf(err, errlen, "migration %d failed: %s", v + 1, sqlite3_errmsg(s->db));
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return PW_ESTORE;
        }
        pw_logf(PW_LOG_INFO, "applied sqlite migration %d", v + 1);
    }
    return PW_OK;
}

pw_err store_sqlite_open(const char *path, struct store **out, char *err, size_t errlen)
{
    struct sq *s = calloc(1, sizeof *s);
    if (!s) return PW_EINTERNAL;
    s->base.ops = &sqlite_ops;
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path,
                 s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    /* WAL: readers never block the writer; NORMAL sync survives a crash of the process
     * (every committed transaction is in the WAL), which is what kill -9 tests check. */
    if (sqlite3_exec(s->db,
                     "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
                     "PRAGMA foreign_keys = ON;",
                     NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot set up %s: %s", path, sqlite3_errmsg(s->db));
        goto fail;
    }
    if (migrate(s, err, errlen) != PW_OK) goto fail;
    *out = &s->base;
    return PW_OK;
fail:
    sq_close(&s->base);
    return PW_ESTORE;
}
