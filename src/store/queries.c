/* The storage core: every query and row reader of the storage interface, written once over
 * the driver layer of db.h (the SQL in the subset both SQLite and PostgreSQL accept, see
 * there). What differs between the databases is forwarded to the driver and lives in
 * sqlite.c / postgres.c only. See docs/internals/storage.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "store/db.h"

/* ---- reading columns ---- */

static void col_copy(struct store *st, struct db_stmt *q, int i, char *out, size_t outsz)
{
    const char *v = st->db->col_text(q, i);
    snprintf(out, outsz, "%s", v ? v : "");
}

static char *col_dup(struct store *st, struct db_stmt *q, int i)
{
    const char *v = st->db->col_text(q, i);
    return v ? strdup(v) : NULL;
}

static bool col_is(struct store *st, struct db_stmt *q, int i, const char *want)
{
    const char *v = st->db->col_text(q, i);
    return v && strcmp(v, want) == 0;
}

static int col_int(struct store *st, struct db_stmt *q, int i)
{
    return (int)st->db->col_int64(q, i);
}

/* an empty text binds as NULL (optional ids, notes, timestamps of 0) */
static void bind_opt_text(struct store *st, struct db_stmt *q, int i, const char *v)
{
    st->db->bind_text(q, i, v && *v ? v : NULL);
}

static void bind_opt_time(struct store *st, struct db_stmt *q, int i, int64_t v)
{
    if (v) st->db->bind_int64(q, i, v);
    else st->db->bind_text(q, i, NULL);
}

/* ---- running statements ---- */

/* Runs q to its end: PW_OK when it changed exactly one row, else `none`. */
static pw_err write_one(struct store *st, struct db_stmt *q, pw_err none)
{
    int n;
    pw_err e = st->db->write(q, &n, NULL);
    return e ? e : n == 1 ? PW_OK : none;
}

static pw_err write_any(struct store *st, struct db_stmt *q)
{
    return st->db->write(q, NULL, NULL);
}

/* Steps q to its first row: PW_OK (row readable until reset) or PW_ENOTFOUND. */
static pw_err first_row(struct store *st, struct db_stmt *q)
{
    return st->db->step(q);
}

/* The end of a loop of steps: e is the step that stopped it. */
static pw_err loop_end(struct store *st, struct db_stmt *q, pw_err e)
{
    st->db->reset(q);
    return e == PW_ENOTFOUND ? PW_OK : e;
}

/* A query that always yields one row (an aggregate): its first column. */
static pw_err scalar(struct store *st, struct db_stmt *q, int64_t *out)
{
    if (!q) return PW_ESTORE;
    pw_err e = st->db->step(q);
    if (!e) *out = st->db->col_int64(q, 0);
    st->db->reset(q);
    return e == PW_ENOTFOUND ? PW_ESTORE : e;
}

/* ---- what differs: the driver's ---- */

static void q_close(struct store *st)
{
    st->db->close(st);
}

static pw_err q_tx_begin(struct store *st)
{
    return st->db->tx_begin(st);
}

static pw_err q_tx_commit(struct store *st)
{
    return st->db->tx_commit(st);
}

static void q_tx_rollback(struct store *st)
{
    st->db->tx_rollback(st);
}

static pw_err q_events_write(struct store *st, struct store_event *evs, size_t n)
{
    const struct db_ops *d = st->db;
    struct db_stmt *q = d->events_lock_sql ? d->prepare(st, d->events_lock_sql) : NULL;
    pw_err e = !d->events_lock_sql ? PW_OK : q ? d->write_at_commit(q, NULL, NULL) : PW_ESTORE;
    for (size_t i = 0; !e && i < n; i++) {
        if (!(q = d->prepare(st, d->event_insert_sql))) return PW_ESTORE;
        d->bind_text(q, 1, evs[i].type);
        d->bind_text(q, 2, evs[i].channel);
        d->bind_text(q, 3, evs[i].payload);
        d->bind_int64(q, 4, evs[i].created_at);
        e = d->write_at_commit(q, NULL, &evs[i].seq);
    }
    return e;
}

static pw_err q_event_latest_seq(struct store *st, int64_t *seq)
{
    return scalar(st, st->db->prepare(st, st->db->latest_seq_sql), seq);
}

static int q_listen_fd(struct store *st, unsigned *generation)
{
    return st->db->listen_fd(st, generation);
}

static pw_err q_listen_poll(struct store *st, int64_t *newest_seq, bool *woke)
{
    return st->db->listen_poll(st, newest_seq, woke);
}

static pw_err q_vehicle_lock(struct store *st, const char *id, const char *owner_id)
{
    struct db_stmt *q = st->db->prepare(st, st->db->vehicle_lock_sql);
    if (!q) return PW_ESTORE;
    st->db->bind_text(q, 1, id);
    st->db->bind_text(q, 2, owner_id);
    return st->db->lock(q);
}

static pw_err q_user_lock(struct store *st, const char *id)
{
    struct db_stmt *q = st->db->prepare(st, st->db->user_lock_sql);
    if (!q) return PW_ESTORE;
    st->db->bind_text(q, 1, id);
    return st->db->lock(q);
}

static pw_err q_is_empty(struct store *st, bool *empty)
{
    int64_t v = 0;
    pw_err e = scalar(st,
                      st->db->prepare(st, "SELECT CASE WHEN EXISTS (SELECT 1 FROM users) "
                                          "THEN 0 ELSE 1 END"),
                      &v);
    *empty = v != 0;
    return e;
}

/* ---- users and logins ---- */

static pw_err q_user_insert(struct store *st, const struct pw_user *u)
{
    const struct db_ops *d = st->db;
    struct db_stmt *q = d->prepare(st, "INSERT INTO users (id, email, password_hash, name, role, "
                                       "city, credit_balance_cents, free_session_used, created_at) "
                                       "VALUES (?,?,?,?,?,?,?,?,?)");
    if (!q) return PW_ESTORE;
    d->bind_text(q, 1, u->id);
    d->bind_text(q, 2, u->email);
    d->bind_text(q, 3, u->password_hash);
    d->bind_text(q, 4, u->name);
    d->bind_text(q, 5, pw_role_name(u->role));
    d->bind_text(q, 6, u->city);
    d->bind_int64(q, 7, u->credit_balance_cents);
    d->bind_bool(q, 8, u->free_session_used);
    d->bind_int64(q, 9, u->created_at);
    pw_err e = write_any(st, q);
    return e == PW_ECONFLICT ? PW_EEMAILTAKEN : e;
}

#define USER_COLUMNS                                                                               \
    "u.id, u.email, u.password_hash, u.name, u.role, u.city, u.credit_balance_cents, "             \
    "u.free_session_used, u.created_at, coalesce(m.id, '') "                                       \
    "FROM users u LEFT JOIN mechanics m ON m.user_id = u.id "

static pw_err read_user(struct store *st, struct db_stmt *q, const char *key, struct pw_user *out)
{
    if (!q) return PW_ESTORE;
    const struct db_ops *d = st->db;
    d->bind_text(q, 1, key);
    pw_err e = first_row(st, q);
    if (!e) {
        memset(out, 0, sizeof *out);
        col_copy(st, q, 0, out->id, sizeof out->id);
        col_copy(st, q, 1, out->email, sizeof out->email);
        col_copy(st, q, 2, out->password_hash, sizeof out->password_hash);
        col_copy(st, q, 3, out->name, sizeof out->name);
        pw_role_parse(d->col_text(q, 4), &out->role);
        col_copy(st, q, 5, out->city, sizeof out->city);
        out->credit_balance_cents = d->col_int64(q, 6);
        out->free_session_used = d->col_bool(q, 7);
        out->created_at = d->col_int64(q, 8);
        col_copy(st, q, 9, out->mechanic_id, sizeof out->mechanic_id);
    }
    d->reset(q);
    return e;
}

static pw_err q_user_by_email(struct store *st, const char *email, struct pw_user *out)
{
    return read_user(st, st->db->prepare(st, "SELECT " USER_COLUMNS "WHERE u.email = ?"), email,
                     out);
}

static pw_err q_user_by_id(struct store *st, const char *id, struct pw_user *out)
{
    return read_user(st, st->db->prepare(st, "SELECT " USER_COLUMNS "WHERE u.id = ?"), id, out);
}

static pw_err q_auth_session_insert(struct store *st, const struct pw_auth_session *a)
{
    const struct db_ops *d = st->db;
    struct db_stmt *q =
        d->prepare(st, "INSERT INTO auth_sessions (token_hash, user_id, csrf_token, "
                       "created_at, expires_at) VALUES (?,?,?,?,?)");
    if (!q) return PW_ESTORE;
    d->bind_text(q, 1, a->token_hash);
    d->bind_text(q, 2, a->user_id);
    d->bind_text(q, 3, a->csrf_token);
    d->bind_int64(q, 4, a->created_at);
    d->bind_int64(q, 5, a->expires_at);
    return write_any(st, q);
}

static pw_err q_auth_session_get(struct store *st, const char *token_hash, int64_t now,
                                 struct pw_auth_session *out)
{
    const struct db_ops *d = st->db;
    struct db_stmt *q =
        d->prepare(st, "SELECT user_id, csrf_token, created_at, expires_at "
                       "FROM auth_sessions WHERE token_hash = ? AND expires_at > ?");
    if (!q) return PW_ESTORE;
    d->bind_text(q, 1, token_hash);
    d->bind_int64(q, 2, now);
    pw_err e = first_row(st, q);
    if (!e) {
        memset(out, 0, sizeof *out);
        snprintf(out->token_hash, sizeof out->token_hash, "%s", token_hash);
        col_copy(st, q, 0, out->user_id, sizeof out->user_id);
        col_copy(st, q, 1, out->csrf_token, sizeof out->csrf_token);
        out->created_at = d->col_int64(q, 2);
        out->expires_at = d->col_int64(q, 3);
    }
    d->reset(q);
    return e;
}

static pw_err q_auth_session_delete(struct store *st, const char *token_hash)
{
    struct db_stmt *q = st->db->prepare(st, "DELETE FROM auth_sessions WHERE token_hash = ?");
    if (!q) return PW_ESTORE;
    st->db->bind_text(q, 1, token_hash);
    return write_any(st, q);
}

/* ---- mechanics and presence ---- */

static char *tags_json(const char tags[][PW_TAG_MAX + 1], int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_string(tags[i]));
    char *out = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return out;
}

/* A tag list as stored (a JSON array of strings). NULL and "" (a column written by hand or
 * by an old version) read as no tags, on both backends; so does anything that is not JSON. */
static int tags_parse(const char *text, char tags[][PW_TAG_MAX + 1])
{
    json_t *a = json_loads(text && *text ? text : "[]", 0, NULL);
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

/* created_at of a mechanic is informational (nothing reads it back): the process's wall
 * clock, in milliseconds, as both backends' SQL once computed it */
static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static pw_err q_mechanic_insert(struct store *st, const struct pw_mechanic *m)
{
    const struct db_ops *d = st->db;
    char *brands = tags_json(m->brands, m->n_brands);
    char *keywords = tags_json(m->keywords, m->n_keywords);
    pw_err e = PW_EINTERNAL;
    if (!brands || !keywords) goto out;
    struct db_stmt *q = d->prepare(st, "INSERT INTO mechanics (id, user_id, name, "
                                       "profile_photo_url, rating_tenths, completed_sessions, "
                                       "years_of_experience, is_brand_specialist, "
                                       "brand_specializations, service_keywords, city, country, "
                                       "status, can_accept_sessions, presence, last_seen_at, "
                                       "created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    e = PW_ESTORE;
    if (!q) goto out;
    d->bind_text(q, 1, m->id);
    d->bind_text(q, 2, m->user_id);
    d->bind_text(q, 3, m->name);
    d->bind_text(q, 4, m->profile_photo_url);
    d->bind_int64(q, 5, m->rating_tenths);
    d->bind_int64(q, 6, m->completed_sessions);
    d->bind_int64(q, 7, m->years_of_experience);
    d->bind_bool(q, 8, m->is_brand_specialist);
    d->bind_text(q, 9, brands);
    d->bind_text(q, 10, keywords);
    d->bind_text(q, 11, m->city);
    d->bind_text(q, 12, m->country);
    d->bind_text(q, 13, pw_mechanic_status_name(m->status));
    d->bind_bool(q, 14, m->can_accept_sessions);
    d->bind_text(q, 15, pw_presence_name(m->presence));
    bind_opt_time(st, q, 16, m->last_seen_at);
    d->bind_int64(q, 17, wall_ms());
    e = write_any(st, q);
out:
    free(brands);
    free(keywords);
    return e;
}

#define MECHANIC_COLUMNS                                                                           \
    "SELECT id, user_id, name, profile_photo_url, rating_tenths, completed_sessions, "             \
    "years_of_experience, is_brand_specialist, brand_specializations, service_keywords, city, "    \
    "country, status, can_accept_sessions, presence, coalesce(last_seen_at, 0) FROM mechanics "

static void read_mechanic(struct store *st, struct db_stmt *q, struct pw_mechanic *m)
{
    const struct db_ops *d = st->db;
    memset(m, 0, sizeof *m);
    col_copy(st, q, 0, m->id, sizeof m->id);
    col_copy(st, q, 1, m->user_id, sizeof m->user_id);
    col_copy(st, q, 2, m->name, sizeof m->name);
    col_copy(st, q, 3, m->profile_photo_url, sizeof m->profile_photo_url);
    m->rating_tenths = col_int(st, q, 4);
    m->completed_sessions = col_int(st, q, 5);
    m->years_of_experience = col_int(st, q, 6);
    m->is_brand_specialist = d->col_bool(q, 7);
    m->n_brands = tags_parse(d->col_text(q, 8), m->brands);
    m->n_keywords = tags_parse(d->col_text(q, 9), m->keywords);
    col_copy(st, q, 10, m->city, sizeof m->city);
    col_copy(st, q, 11, m->country, sizeof m->country);
    pw_mechanic_status_parse(d->col_text(q, 12), &m->status);
    m->can_accept_sessions = d->col_bool(q, 13);
    pw_presence_parse(d->col_text(q, 14), &m->presence);
    m->last_seen_at = d->col_int64(q, 15);
}

static pw_err q_mechanics_each(struct store *st, store_mechanic_fn fn, void *ctx)
{
    struct db_stmt *q = st->db->prepare(st, MECHANIC_COLUMNS "ORDER BY id");
    if (!q) return PW_ESTORE;
    struct pw_mechanic *m = malloc(sizeof *m);
    if (!m) return PW_EINTERNAL;
    pw_err e;
    while (!(e = st->db->step(q))) {
        read_mechanic(st, q, m);
        fn(ctx, m);
    }
    free(m);
    return loop_end(st, q, e);
}

static pw_err q_mechanic_get(struct store *st, const char *id, struct pw_mechanic *out)
{
    struct db_stmt *q = st->db->prepare(st, MECHANIC_COLUMNS "WHERE id = ?");
    if (!q) return PW_ESTORE;
    st->db->bind_text(q, 1, id);
    pw_err e = first_row(st, q);
    if (!e) read_mechanic(st, q, out);
    st->db->reset(q);
    return e;
}

static pw_err q_accept_delays_each(struct store *st, int per_mechanic, store_delay_fn fn, void *ctx)
{
    const struct db_ops *d = st->db;
    struct db_stmt *q = d->prepare(st, "SELECT mechanic_id, outcome_at - offered_at FROM ("
                                       "  SELECT mechanic_id, offered_at, outcome_at, row_number() "
                                       "  OVER (PARTITION BY mechanic_id ORDER BY outcome_at DESC) "
                                       "  AS n FROM offers WHERE outcome = 'accepted') AS recent "
                                       "WHERE n <= ?");
    if (!q) return PW_ESTORE;
    d->bind_int64(q, 1, per_mechanic);
    pw_err e;
    while (!(e = d->step(q))) fn(ctx, d->col_text(q, 0), d->col_int64(q, 1));
    return loop_end(st, q, e);
}

static pw_err q_presence_set(struct store *st, const char *mechanic_id,
                             enum pw_presence_state presence, int64_t last_seen_at,
                             int64_t unseen_before)
{
    const struct db_ops *d = st->db;
    struct db_stmt *q = d->prepare(st, "UPDATE mechanics SET presence = ?1, last_seen_at = ?2 "
                                       "WHERE id = ?3 AND (CAST(?4 AS bigint) = 0 OR "
                                       "(presence = 'online' AND "
                                       "coalesce(last_seen_at, 0) < CAST(?4 AS bigint)))");
    if (!q) return PW_ESTORE;
    d->bind_text(q, 1, pw_presence_name(presence));
    d->bind_int64(q, 2, last_seen_at);
    d->bind_text(q, 3, mechanic_id);
    d->bind_int64(q, 4, unseen_before);
    int n;
    pw_err e = d->write(q, &n, NULL);
    if (e || n == 1) return e;
    struct pw_mechanic m;
    if ((e = q_mechanic_get(st, mechanic_id, &m))) return e;
    return PW_ETAKEN;
}

static pw_err q_last_seen_save(struct store *st, const char *mechanic_id, int64_t last_seen_at)
{
    struct db_stmt *q = st->db->prepare(st, "UPDATE mechanics SET last_seen_at = ? WHERE id = ?");
    if (!q) return PW_ESTORE;
    st->db->bind_int64(q, 1, last_seen_at);
    st->db->bind_text(q, 2, mechanic_id);
    return write_any(st, q);
}

static pw_err q_mechanic_set_status(struct store *st, const char *id,
                                    enum pw_mechanic_status status, bool can_accept)
{
    const struct db_ops *d = st->db;
    struct db_stmt *q =
        d->prepare(st, "UPDATE mechanics SET status = ?, can_accept_sessions = ? WHERE id = ?");
    if (!q) return PW_ESTORE;
    d->bind_text(q, 1, pw_mechanic_status_name(status));
    d->bind_bool(q, 2, can_accept);
    d->bind_text(q, 3, id);
    return write_one(st, q, PW_ENOTFOUND);
}

/* ---- events ---- */

/* Runs q (bound), handing each row (seq, type, channel, payload, created_at) to fn. */
static pw_err each_event(struct store *st, struct db_stmt *q, store_event_fn fn, void *ctx)
{
    const struct db_ops *d = st->db;
    pw_err e;
    while (!(e = d->step(q))) {
        struct store_event ev = {
            .seq = d->col_int64(q, 0),
            .type = d->col_text(q, 1),
            .channel = d->col_text(q, 2),
            .payload = d->col_text(q, 3),
            .created_at = d->col_int64(q, 4),
        };
        fn(ctx, &ev);
    }
    return loop_end(st, q, e);
}

static pw_err q_events_tail(struct store *st, int limit, store_event_fn fn, void *ctx)
{
    struct db_stmt *q = st->db->prepare(st, "SELECT seq, type, channel, payload, created_at "
                                            "FROM (SELECT * FROM events ORDER BY seq DESC LIMIT ?) "
                                            "AS newest ORDER BY seq");
    if (!q) return PW_ESTORE;
    st->db->bind_int64(q, 1, limit);
    return each_event(st, q, fn, ctx);
}

static pw_err q_events_after(struct store *st, int64_t after, int limit, store_event_fn fn,
                             void *ctx)
{
    struct db_stmt *q = st->db->prepare(st, "SELECT seq, type, channel, payload, created_at "
                                            "FROM events WHERE seq > ? ORDER BY seq LIMIT ?");
    if (!q) return PW_ESTORE;
    st->db->bind_int64(q, 1, after);
    st->db->bind_int64(q, 2, limit);
    return each_event(st, q, fn, ctx);
}

static pw_err q_events_of_channel(struct store *st, const char *channel, const char *type,
                                  int64_t upto, store_event_fn fn, void *ctx)
{
    struct db_stmt *q = st->db->prepare(st, "SELECT seq, type, channel, payload, created_at "
                                            "FROM events WHERE channel = ? AND type = ? AND "
                                            "seq <= ? ORDER BY seq");
    if (!q) return PW_ESTORE;
    st->db->bind_text(q, 1, channel);
    st->db->bind_text(q, 2, type);
    st->db->bind_int64(q, 3, upto);
    return each_event(st, q, fn, ctx);
}

/* ---- catalogue and vehicles ---- */

static pw_err q_plan_insert(struct store *st, const struct pw_plan *p, int sort)
{
    const struct db_ops *d = st->db;
    struct db_stmt *q = d->prepare(st, "INSERT INTO plans (slug, name, standard_price_cents, "
                                       "specialist_price_cents, sort) VALUES (?,?,?,?,?)");
    if (!q) return PW_ESTORE;
    d->bind_text(q, 1, p->slug);
    d->bind_text(q, 2, p->name);
    d->bind_int64(q, 3, p->standard_price_cents);
    d->bind_int64(q, 4, p->specialist_price_cents);
    d->bind_int64(q, 5, sort);
    return write_any(st, q);
}

#define PLAN_COLUMNS "SELECT slug, name, standard_price_cents, specialist_price_cents FROM plans "

static void read_plan(struct store *st, struct db_stmt *q, struct pw_plan *p)
{
    col_copy(st, q, 0, p->slug, sizeof p->slug);
    col_copy(st, q, 1, p->name, sizeof p->name);
    p->standard_price_cents = st->db->col_int64(q, 2);
    p->specialist_price_cents = st->db->col_int64(q, 3);
}

static pw_err q_plans_each(struct store *st, store_plan_fn fn, void *ctx)
{
    struct db_stmt *q = st->db->prepare(st, PLAN_COLUMNS "ORDER BY sort, slug");
    if (!q) return PW_ESTORE;
    pw_err e;
    while (!(e = st->db->step(q))) {
        struct pw_plan p;
        read_plan(st, q, &p);
        fn(ctx, &p);
    }
    return loop_end(st, q, e);
}

static pw_err q_plan_get(struct store *st, const char *slug, struct pw_plan *out)
{
    struct db_stmt *q = st->db->prepare(st, PLAN_COLUMNS "WHERE slug = ?");
    if (!q) return PW_ESTORE;
    st->db->bind_text(q, 1, slug);
    pw_err e = first_row(st, q);
    if (!e) read_plan(st, q, out);
    st->db->reset(q);
    return e;
}

static pw_err q_vehicle_insert(struct store *st, const struct pw_vehicle *v)
{
    const struct db_ops *d = st->db;
    /* created_at only orders a customer's vehicles */
    struct db_stmt *q = d->prepare(st, "INSERT INTO vehicles (id, owner_id, year, make, model, "
                                       "created_at) VALUES (?,?,?,?,?, "
                                       "(SELECT coalesce(max(created_at), 0) + 1 FROM vehicles))");
    if (!q) return PW_ESTORE;
    d->bind_text(q, 1, v->id);
    d->bind_text(q, 2, v->owner_id);
    d->bind_int64(q, 3, v->year);
    d->bind_text(q, 4, v->make);
    d->bind_text(q, 5, v->model);
    return write_any(st, q);
}

#define VEHICLE_COLUMNS                                                                            \
    "SELECT id, owner_id, year, make, model, coalesce(deleted_at, 0) FROM vehicles "

static void read_vehicle(struct store *st, struct db_stmt *q, struct pw_vehicle *v)
{
    col_copy(st, q, 0, v->id, sizeof v->id);
    col_copy(st, q, 1, v->owner_id, sizeof v->owner_id);
    v->year = col_int(st, q, 2);
    col_copy(st, q, 3, v->make, sizeof v->make);
    col_copy(st, q, 4, v->model, sizeof v->model);
    v->deleted_at = st->db->col_int64(q, 5);
}

static pw_err q_vehicles_of(struct store *st, const char *owner_id, store_vehicle_fn fn, void *ctx)
{
    struct db_stmt *q = st->db->prepare(st, VEHICLE_COLUMNS "WHERE owner_id = ? AND "
                                                            "deleted_at IS NULL "
                                                            "ORDER BY created_at, id");
    if (!q) return PW_ESTORE;
    st->db->bind_text(q, 1, owner_id);
    pw_err e;
    while (!(e = st->db->step(q))) {
        struct pw_vehicle v;
        read_vehicle(st, q, &v);
        fn(ctx, &v);
    }
    return loop_end(st, q, e);
}

static pw_err q_vehicle_get(struct store *st, const char *id, struct pw_vehicle *out)
{
    struct db_stmt *q = st->db->prepare(st, VEHICLE_COLUMNS "WHERE id = ?");
    if (!q) return PW_ESTORE;
    st->db->bind_text(q, 1, id);
    pw_err e = first_row(st, q);
    if (!e) read_vehicle(st, q, out);
    st->db->reset(q);
    return e;
}

static pw_err q_vehicle_update(struct store *st, const struct pw_vehicle *v)
{
    const struct db_ops *d = st->db;
    struct db_stmt *q = d->prepare(st, "UPDATE vehicles SET year = ?, make = ?, model = ? "
                                       "WHERE id = ? AND deleted_at IS NULL");
    if (!q) return PW_ESTORE;
    d->bind_int64(q, 1, v->year);
    d->bind_text(q, 2, v->make);
    d->bind_text(q, 3, v->model);
    d->bind_text(q, 4, v->id);
    return write_one(st, q, PW_ENOTFOUND);
}

static pw_err q_vehicle_delete(struct store *st, const char *id, int64_t at)
{
    struct db_stmt *q = st->db->prepare(st, "UPDATE vehicles SET deleted_at = ? "
                                            "WHERE id = ? AND deleted_at IS NULL");
    if (!q) return PW_ESTORE;
    st->db->bind_int64(q, 1, at);
    st->db->bind_text(q, 2, id);
    return write_one(st, q, PW_ENOTFOUND);
}

/* ---- users: profile and credits ---- */

static pw_err q_user_update_profile(struct store *st, const char *id, const char *name,
                                    const char *city)
{
    const struct db_ops *d = st->db;
    struct db_stmt *q = d->prepare(st, "UPDATE users SET name = coalesce(?, name), "
                                       "city = coalesce(?, city) WHERE id = ?");
    if (!q) return PW_ESTORE;
    d->bind_text(q, 1, name);
    d->bind_text(q, 2, city);
    d->bind_text(q, 3, id);
    return write_one(st, q, PW_ENOTFOUND);
}

static pw_err q_user_debit(struct store *st, const char *user_id, int64_t cents)
{
    /* one conditional update: two concurrent debits (from any node) can never take the
     * balance below 0; on PostgreSQL the second waits for the first's row lock, then
     * re-checks */
    struct db_stmt *q = st->db->prepare(st, "UPDATE users SET credit_balance_cents = "
                                            "credit_balance_cents - CAST(?1 AS bigint) "
                                            "WHERE id = ?2 AND "
                                            "credit_balance_cents >= CAST(?1 AS bigint)");
    if (!q) return PW_ESTORE;
    st->db->bind_int64(q, 1, cents);
    st->db->bind_text(q, 2, user_id);
    return write_one(st, q, PW_ECREDITS);
}

static pw_err q_user_credit(struct store *st, const char *user_id, int64_t cents)
{
    struct db_stmt *q = st->db->prepare(st, "UPDATE users SET credit_balance_cents = "
                                            "credit_balance_cents + ? WHERE id = ?");
    if (!q) return PW_ESTORE;
    st->db->bind_int64(q, 1, cents);
    st->db->bind_text(q, 2, user_id);
    return write_one(st, q, PW_ENOTFOUND);
}

static pw_err q_user_use_free(struct store *st, const char *user_id)
{
    struct db_stmt *q = st->db->prepare(st, "UPDATE users SET free_session_used = TRUE "
                                            "WHERE id = ? AND NOT free_session_used");
    if (!q) return PW_ESTORE;
    st->db->bind_text(q, 1, user_id);
    return write_one(st, q, PW_EFREEUSED);
}

static pw_err q_user_release_free(struct store *st, const char *user_id)
{
    struct db_stmt *q =
        st->db->prepare(st, "UPDATE users SET free_session_used = FALSE WHERE id = ?");
    if (!q) return PW_ESTORE;
    st->db->bind_text(q, 1, user_id);
    return write_any(st, q);
}

/* ---- sessions ---- */

#define LIVE_STATES "('awaiting_payment','priority','broadcast','accepted')"

static pw_err q_session_live_find(struct store *st, const char *customer_id, const char *vehicle_id,
                                  char out[PW_ID_LEN + 1])
{
    struct db_stmt *q =
        customer_id
            ? st->db->prepare(st, "SELECT id FROM sessions WHERE customer_id = ? AND "
                                  "state IN " LIVE_STATES " ORDER BY created_at DESC, id LIMIT 1")
            : st->db->prepare(st, "SELECT id FROM sessions WHERE vehicle_id = ? AND "
                                  "state IN " LIVE_STATES " ORDER BY created_at DESC, id LIMIT 1");
    if (!q) return PW_ESTORE;
    st->db->bind_text(q, 1, customer_id ? customer_id : vehicle_id);
    pw_err e = first_row(st, q);
    if (!e) col_copy(st, q, 0, out, PW_ID_LEN + 1);
    st->db->reset(q);
    return e;
}

static pw_err q_session_insert(struct store *st, const struct pw_session *x)
{
    const struct db_ops *d = st->db;
    json_t *meta =
        json_pack("{s:s?, s:s}", "preferred_mechanic_id",
                  x->preferred_mechanic_id[0] ? x->preferred_mechanic_id : NULL, "routing_type",
                  x->priority_routing ? "priority_broadcast" : "broadcast");
    char *metadata = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
    json_decref(meta);
    if (!metadata) return PW_EINTERNAL;
    pw_err e = PW_ESTORE;
    struct db_stmt *q = d->prepare(st, "INSERT INTO sessions (id, customer_id, vehicle_id, "
                                       "plan_slug, is_specialist, preferred_mechanic_id, "
                                       "routing_type, intake, metadata, waiver_accepted_at, "
                                       "payment_method, payment_status, price_cents, state, "
                                       "created_at, routing_started_at, priority_ends_at, "
                                       "expires_at, rollout_group) "
                                       "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!q) goto out;
    d->bind_text(q, 1, x->id);
    d->bind_text(q, 2, x->customer_id);
    d->bind_text(q, 3, x->vehicle_id);
    d->bind_text(q, 4, x->plan_slug);
    d->bind_bool(q, 5, x->is_specialist);
    bind_opt_text(st, q, 6, x->preferred_mechanic_id);
    d->bind_text(q, 7, x->priority_routing ? "priority_broadcast" : "broadcast");
    d->bind_text(q, 8, x->intake_json);
    d->bind_text(q, 9, metadata);
    bind_opt_time(st, q, 10, x->waiver_accepted_at);
    d->bind_text(q, 11, x->payment_method);
    d->bind_text(q, 12, x->payment_status);
    d->bind_int64(q, 13, x->price_cents);
    d->bind_text(q, 14, pw_session_state_name(x->state));
    d->bind_int64(q, 15, x->created_at);
    bind_opt_time(st, q, 16, x->routing_started_at);
    bind_opt_time(st, q, 17, x->priority_ends_at);
    bind_opt_time(st, q, 18, x->expires_at);
    d->bind_text(q, 19, x->rollout_group[0] ? x->rollout_group : "selection");
    e = write_any(st, q);
out:
    free(metadata);
    return e;
}

#define SESSION_COLUMNS                                                                            \
    "SELECT id, customer_id, vehicle_id, plan_slug, is_specialist, "                               \
    "coalesce(preferred_mechanic_id, ''), routing_type, intake, coalesce(waiver_accepted_at, 0), " \
    "payment_method, payment_status, price_cents, state, coalesce(assigned_mechanic_id, ''), "     \
    "created_at, coalesce(routing_started_at, 0), coalesce(priority_ends_at, 0), "                 \
    "coalesce(expires_at, 0), coalesce(accepted_at, 0), coalesce(ended_at, 0), "                   \
    "coalesce(outcome, ''), outcome_notes, coalesce(rating_score, -1), rating_comment, "           \
    "coalesce(checkout_id, ''), checkout_url, rollout_group FROM sessions "

static void read_session(struct store *st, struct db_stmt *q, struct pw_session *x)
{
    const struct db_ops *d = st->db;
    memset(x, 0, sizeof *x);
    col_copy(st, q, 0, x->id, sizeof x->id);
    col_copy(st, q, 1, x->customer_id, sizeof x->customer_id);
    col_copy(st, q, 2, x->vehicle_id, sizeof x->vehicle_id);
    col_copy(st, q, 3, x->plan_slug, sizeof x->plan_slug);
    x->is_specialist = d->col_bool(q, 4);
    col_copy(st, q, 5, x->preferred_mechanic_id, sizeof x->preferred_mechanic_id);
    x->priority_routing = col_is(st, q, 6, "priority_broadcast");
    x->intake_json = col_dup(st, q, 7);
    x->waiver_accepted_at = d->col_int64(q, 8);
    col_copy(st, q, 9, x->payment_method, sizeof x->payment_method);
    col_copy(st, q, 10, x->payment_status, sizeof x->payment_status);
    x->price_cents = d->col_int64(q, 11);
    pw_session_state_parse(d->col_text(q, 12), &x->state);
    col_copy(st, q, 13, x->assigned_mechanic_id, sizeof x->assigned_mechanic_id);
    x->created_at = d->col_int64(q, 14);
    x->routing_started_at = d->col_int64(q, 15);
    x->priority_ends_at = d->col_int64(q, 16);
    x->expires_at = d->col_int64(q, 17);
    x->accepted_at = d->col_int64(q, 18);
    x->ended_at = d->col_int64(q, 19);
    col_copy(st, q, 20, x->outcome, sizeof x->outcome);
    x->outcome_notes = col_dup(st, q, 21);
    x->rating_score = col_int(st, q, 22);
    x->rating_comment = col_dup(st, q, 23);
    col_copy(st, q, 24, x->checkout_id, sizeof x->checkout_id);
    x->checkout_url = col_dup(st, q, 25);
    col_copy(st, q, 26, x->rollout_group, sizeof x->rollout_group);
}

static pw_err q_session_get(struct store *st, const char *id, struct pw_session *out)
{
    struct db_stmt *q = st->db->prepare(st, SESSION_COLUMNS "WHERE id = ?");
    if (!q) return PW_ESTORE;
    st->db->bind_text(q, 1, id);
    pw_err e = first_row(st, q);
    if (!e) read_session(st, q, out);
    st->db->reset(q);
    return e;
}

static pw_err q_session_transition(struct store *st, const char *id,
                                   const struct store_transition *t)
{
    const struct db_ops *d = st->db;
    /* The state test is in the WHERE clause: whoever changes the row first wins (on
     * PostgreSQL, on any node: a second UPDATE waits for the first's row lock, then
     * re-evaluates the WHERE on the new row), everyone after gets no row and PW_ETAKEN.
     * Never read-then-write. */
    struct db_stmt *q = d->prepare(
        st, "UPDATE sessions SET state = CAST(?1 AS text),"
            " assigned_mechanic_id = coalesce(CAST(?2 AS text), assigned_mechanic_id),"
            " accepted_at = CASE WHEN CAST(?1 AS text) = 'accepted' THEN CAST(?3 AS bigint)"
            "   ELSE accepted_at END,"
            " ended_at = CASE WHEN CAST(?1 AS text) = 'ended' THEN CAST(?3 AS bigint)"
            "   ELSE ended_at END,"
            " routing_started_at = CASE WHEN CAST(?1 AS text) IN ('priority','broadcast')"
            "   THEN coalesce(routing_started_at, CAST(?3 AS bigint)) ELSE routing_started_at END,"
            " broadcast_at = CASE WHEN CAST(?1 AS text) = 'broadcast'"
            "   THEN coalesce(broadcast_at, CAST(?3 AS bigint)) ELSE broadcast_at END,"
            " payment_status = coalesce(CAST(?4 AS text), payment_status)"
            " WHERE id = CAST(?5 AS text) AND ((1 << (CASE state WHEN 'awaiting_payment' THEN 0"
            "   WHEN 'priority' THEN 1 WHEN 'broadcast' THEN 2 WHEN 'accepted' THEN 3"
            "   WHEN 'ended' THEN 4 WHEN 'cancelled' THEN 5 WHEN 'expired' THEN 6 END))"
            "   & CAST(?6 AS integer)) <> 0");
    if (!q) return PW_ESTORE;
    d->bind_text(q, 1, pw_session_state_name(t->to));
    bind_opt_text(st, q, 2, t->assigned);
    d->bind_int64(q, 3, t->at);
    bind_opt_text(st, q, 4, t->payment_status);
    d->bind_text(q, 5, id);
    d->bind_int64(q, 6, (int64_t)t->from);
    return write_one(st, q, PW_ETAKEN);
}

static pw_err q_session_set_outcome(struct store *st, const char *id, const char *outcome,
                                    const char *notes)
{
    struct db_stmt *q =
        st->db->prepare(st, "UPDATE sessions SET outcome = ?, outcome_notes = ? WHERE id = ?");
    if (!q) return PW_ESTORE;
    bind_opt_text(st, q, 1, outcome);
    bind_opt_text(st, q, 2, notes);
    st->db->bind_text(q, 3, id);
    return write_any(st, q);
}

static pw_err q_session_set_rating(struct store *st, const char *id, int score, const char *comment,
                                   int64_t at)
{
    struct db_stmt *q = st->db->prepare(st, "UPDATE sessions SET rating_score = ?, "
                                            "rating_comment = ?, rated_at = ? WHERE id = ? AND "
                                            "rating_score IS NULL AND state = 'ended'");
    if (!q) return PW_ESTORE;
    st->db->bind_int64(q, 1, score);
    bind_opt_text(st, q, 2, comment);
    st->db->bind_int64(q, 3, at);
    st->db->bind_text(q, 4, id);
    return write_one(st, q, PW_ECONFLICT);
}

static pw_err q_session_set_checkout(struct store *st, const char *id, const char *checkout_id,
                                     const char *url)
{
    struct db_stmt *q = st->db->prepare(st, "UPDATE sessions SET checkout_id = ?, "
                                            "checkout_url = ? WHERE id = ?");
    if (!q) return PW_ESTORE;
    bind_opt_text(st, q, 1, checkout_id);
    bind_opt_text(st, q, 2, url);
    st->db->bind_text(q, 3, id);
    return write_any(st, q);
}

static pw_err each_session(struct store *st, struct db_stmt *q, store_session_fn fn, void *ctx)
{
    pw_err e;
    while (!(e = st->db->step(q))) {
        struct pw_session x;
        read_session(st, q, &x);
        fn(ctx, &x);
        pw_session_clear(&x);
    }
    return loop_end(st, q, e);
}

static pw_err q_sessions_list(struct store *st, const char *customer_id, const char *mechanic_id,
                              int limit, store_session_fn fn, void *ctx)
{
    struct db_stmt *q =
        customer_id ? st->db->prepare(st, SESSION_COLUMNS "WHERE customer_id = ? "
                                                          "ORDER BY created_at DESC, id LIMIT ?")
                    : st->db->prepare(st, SESSION_COLUMNS "WHERE assigned_mechanic_id = ? "
                                                          "ORDER BY created_at DESC, id LIMIT ?");
    if (!q) return PW_ESTORE;
    st->db->bind_text(q, 1, customer_id ? customer_id : mechanic_id);
    st->db->bind_int64(q, 2, limit);
    return each_session(st, q, fn, ctx);
}

static pw_err q_sessions_in_state(struct store *st, enum pw_session_state state,
                                  store_session_fn fn, void *ctx)
{
    struct db_stmt *q =
        st->db->prepare(st, SESSION_COLUMNS "WHERE state = ? ORDER BY created_at, id");
    if (!q) return PW_ESTORE;
    st->db->bind_text(q, 1, pw_session_state_name(state));
    return each_session(st, q, fn, ctx);
}

static pw_err q_sessions_due(struct store *st, int64_t now, store_due_fn fn, void *ctx)
{
    const struct db_ops *d = st->db;
    /* a window that ended after the whole lifetime did is not acted on: the expiry wins.
     * Every node sees the same due rows; what claims one is the conditional UPDATE that
     * acts on it (see docs/internals/cluster.md). */
    struct db_stmt *q = d->prepare(st, "SELECT id, 0 FROM sessions WHERE state = 'priority' AND "
                                       "priority_ends_at <= CAST(?1 AS bigint) AND "
                                       "expires_at > CAST(?1 AS bigint) "
                                       "UNION ALL SELECT id, 1 FROM sessions WHERE state IN "
                                       "('awaiting_payment','priority','broadcast') AND "
                                       "expires_at <= CAST(?1 AS bigint)");
    if (!q) return PW_ESTORE;
    d->bind_int64(q, 1, now);
    /* collect first: the callbacks write to the same tables */
    struct due {
        char id[PW_ID_LEN + 1];
        int kind;
    } *list = NULL;
    size_t n = 0, cap = 0;
    pw_err e;
    while (!(e = d->step(q))) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            struct due *grown = realloc(list, cap * sizeof *list);
            if (!grown) break;
            list = grown;
        }
        col_copy(st, q, 0, list[n].id, sizeof list[n].id);
        list[n++].kind = col_int(st, q, 1);
    }
    e = loop_end(st, q, e);
    for (size_t i = 0; i < n; i++) fn(ctx, list[i].id, list[i].kind);
    free(list);
    return e;
}

/* ---- offers ---- */

static pw_err q_offer_insert(struct store *st, struct pw_offer *o)
{
    const struct db_ops *d = st->db;
    struct db_stmt *q = d->prepare(st, "INSERT INTO offers (session_id, mechanic_id, kind, "
                                       "offered_at, expires_at) VALUES (?,?,?,?,?) RETURNING id");
    if (!q) return PW_ESTORE;
    d->bind_text(q, 1, o->session_id);
    d->bind_text(q, 2, o->mechanic_id);
    d->bind_text(q, 3, pw_offer_kind_name(o->kind));
    d->bind_int64(q, 4, o->offered_at);
    d->bind_int64(q, 5, o->expires_at);
    return d->write(q, NULL, &o->id);
}

static enum pw_offer_outcome outcome_parse(const char *v)
{
    return !v                        ? PW_OFFER_LIVE
           : !strcmp(v, "accepted")  ? PW_OFFER_ACCEPTED
           : !strcmp(v, "declined")  ? PW_OFFER_DECLINED
           : !strcmp(v, "expired")   ? PW_OFFER_EXPIRED
           : !strcmp(v, "withdrawn") ? PW_OFFER_WITHDRAWN
                                     : PW_OFFER_LIVE;
}

#define OFFER_COLUMNS                                                                              \
    "SELECT id, session_id, mechanic_id, kind, offered_at, expires_at, coalesce(outcome, ''), "    \
    "coalesce(outcome_at, 0) FROM offers "

static void read_offer(struct store *st, struct db_stmt *q, struct pw_offer *o)
{
    const struct db_ops *d = st->db;
    memset(o, 0, sizeof *o);
    o->id = d->col_int64(q, 0);
    col_copy(st, q, 1, o->session_id, sizeof o->session_id);
    col_copy(st, q, 2, o->mechanic_id, sizeof o->mechanic_id);
    o->kind = col_is(st, q, 3, "priority") ? PW_OFFER_PRIORITY : PW_OFFER_BROADCAST;
    o->offered_at = d->col_int64(q, 4);
    o->expires_at = d->col_int64(q, 5);
    o->outcome = outcome_parse(d->col_text(q, 6));
    o->outcome_at = d->col_int64(q, 7);
}

static pw_err q_offer_get(struct store *st, const char *session_id, const char *mechanic_id,
                          struct pw_offer *out)
{
    /* a mechanic may hold a priority and a broadcast offer: the live one, else the newest */
    struct db_stmt *q = st->db->prepare(st, OFFER_COLUMNS "WHERE session_id = ? AND "
                                                          "mechanic_id = ? ORDER BY outcome IS "
                                                          "NULL DESC, id DESC LIMIT 1");
    if (!q) return PW_ESTORE;
    st->db->bind_text(q, 1, session_id);
    st->db->bind_text(q, 2, mechanic_id);
    pw_err e = first_row(st, q);
    if (!e) read_offer(st, q, out);
    st->db->reset(q);
    return e;
}

static pw_err each_offer(struct store *st, struct db_stmt *q, store_offer_fn fn, void *ctx)
{
    /* collect first, so callbacks may write */
    struct pw_offer *list = NULL;
    size_t n = 0, cap = 0;
    pw_err e;
    while (!(e = st->db->step(q))) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            struct pw_offer *grown = realloc(list, cap * sizeof *list);
            if (!grown) break;
            list = grown;
        }
        read_offer(st, q, &list[n++]);
    }
    e = loop_end(st, q, e);
    for (size_t i = 0; i < n; i++) fn(ctx, &list[i]);
    free(list);
    return e;
}

static pw_err q_offers_of_session(struct store *st, const char *session_id, store_offer_fn fn,
                                  void *ctx)
{
    struct db_stmt *q = st->db->prepare(st, OFFER_COLUMNS "WHERE session_id = ? ORDER BY id");
    if (!q) return PW_ESTORE;
    st->db->bind_text(q, 1, session_id);
    return each_offer(st, q, fn, ctx);
}

static pw_err q_offers_live_of_mechanic(struct store *st, const char *mechanic_id,
                                        store_offer_fn fn, void *ctx)
{
    struct db_stmt *q = st->db->prepare(st, OFFER_COLUMNS "WHERE mechanic_id = ? AND "
                                                          "outcome IS NULL ORDER BY id");
    if (!q) return PW_ESTORE;
    st->db->bind_text(q, 1, mechanic_id);
    return each_offer(st, q, fn, ctx);
}

static pw_err q_offers_close(struct store *st, const char *session_id, const char *mechanic_id,
                             enum pw_offer_outcome outcome, int64_t at, int *closed)
{
    const struct db_ops *d = st->db;
    struct db_stmt *q = d->prepare(st, "UPDATE offers SET outcome = ?1, outcome_at = ?2 WHERE "
                                       "session_id = ?3 AND (CAST(?4 AS text) IS NULL OR "
                                       "mechanic_id = CAST(?4 AS text)) AND outcome IS NULL");
    if (!q) return PW_ESTORE;
    d->bind_text(q, 1, pw_offer_outcome_name(outcome));
    d->bind_int64(q, 2, at);
    d->bind_text(q, 3, session_id);
    bind_opt_text(st, q, 4, mechanic_id);
    int n = 0;
    pw_err e = d->write(q, &n, NULL);
    if (closed) *closed = n;
    return e;
}

static pw_err q_sessions_facts(struct store *st, int64_t from, int64_t to, store_facts_fn fn,
                               void *ctx)
{
    const struct db_ops *d = st->db;
    /* a session has at most one priority offer (only the preferred mechanic gets one) */
    struct db_stmt *q = d->prepare(
        st, "SELECT s.id, s.routing_type, s.rollout_group, s.state, s.created_at,"
            " coalesce(s.routing_started_at, 0), coalesce(s.accepted_at, 0),"
            " coalesce(s.broadcast_at, 0), coalesce(s.outcome, ''), coalesce(s.rating_score, -1),"
            " (SELECT coalesce(o.outcome, 'live') FROM offers o WHERE o.session_id = s.id"
            "   AND o.kind = 'priority' ORDER BY o.id LIMIT 1)"
            " FROM sessions s WHERE s.created_at >= ?1 AND s.created_at < ?2"
            " ORDER BY s.created_at, s.id");
    if (!q) return PW_ESTORE;
    d->bind_int64(q, 1, from);
    d->bind_int64(q, 2, to);
    pw_err e;
    while (!(e = d->step(q))) {
        struct store_session_facts f = {0};
        col_copy(st, q, 0, f.id, sizeof f.id);
        f.priority_routing = col_is(st, q, 1, "priority_broadcast");
        col_copy(st, q, 2, f.rollout_group, sizeof f.rollout_group);
        pw_session_state_parse(d->col_text(q, 3), &f.state);
        f.created_at = d->col_int64(q, 4);
        f.routing_started_at = d->col_int64(q, 5);
        f.accepted_at = d->col_int64(q, 6);
        f.broadcast_at = d->col_int64(q, 7);
        col_copy(st, q, 8, f.outcome, sizeof f.outcome);
        f.rating_score = col_int(st, q, 9);
        const char *po = d->col_text(q, 10);
        f.has_priority_offer = po != NULL;
        f.priority_outcome = outcome_parse(po);
        fn(ctx, &f);
    }
    return loop_end(st, q, e);
}

/* ---- settings, payments, failed logins ---- */

static pw_err q_stripe_event_record(struct store *st, const char *id, const char *type, int64_t at)
{
    struct db_stmt *q = st->db->prepare(st, "INSERT INTO stripe_events (id, type, received_at) "
                                            "VALUES (?,?,?)");
    if (!q) return PW_ESTORE;
    st->db->bind_text(q, 1, id);
    st->db->bind_text(q, 2, type);
    st->db->bind_int64(q, 3, at);
    return write_any(st, q);
}

static pw_err q_setting_get(struct store *st, const char *key, char *out, size_t outsz)
{
    struct db_stmt *q = st->db->prepare(st, "SELECT value FROM settings WHERE key = ?");
    if (!q) return PW_ESTORE;
    st->db->bind_text(q, 1, key);
    pw_err e = first_row(st, q);
    if (!e) col_copy(st, q, 0, out, outsz);
    st->db->reset(q);
    return e;
}

static pw_err q_setting_set(struct store *st, const char *key, const char *value)
{
    struct db_stmt *q = st->db->prepare(st, "INSERT INTO settings (key, value) VALUES (?, ?) "
                                            "ON CONFLICT (key) DO UPDATE "
                                            "SET value = excluded.value");
    if (!q) return PW_ESTORE;
    st->db->bind_text(q, 1, key);
    st->db->bind_text(q, 2, value);
    return write_any(st, q);
}

static pw_err q_login_failure_add(struct store *st, const char *key, int64_t at)
{
    struct db_stmt *q = st->db->prepare(st, "INSERT INTO login_failures (key, at) VALUES (?, ?)");
    if (!q) return PW_ESTORE;
    st->db->bind_text(q, 1, key);
    st->db->bind_int64(q, 2, at);
    return write_any(st, q);
}

static pw_err q_login_failure_nth_newest(struct store *st, const char *key, int64_t after, int n,
                                         int64_t *at)
{
    struct db_stmt *q = st->db->prepare(st, "SELECT at FROM login_failures WHERE key = ? AND "
                                            "at > ? ORDER BY at DESC LIMIT 1 OFFSET ?");
    if (!q) return PW_ESTORE;
    st->db->bind_text(q, 1, key);
    st->db->bind_int64(q, 2, after);
    st->db->bind_int64(q, 3, n - 1);
    pw_err e = first_row(st, q);
    if (!e) *at = st->db->col_int64(q, 0);
    st->db->reset(q);
    return e;
}

static pw_err q_login_failures_clear(struct store *st, const char *key)
{
    struct db_stmt *q = st->db->prepare(st, "DELETE FROM login_failures WHERE key = ?");
    if (!q) return PW_ESTORE;
    st->db->bind_text(q, 1, key);
    return write_any(st, q);
}

static pw_err q_login_failures_prune(struct store *st, int64_t upto)
{
    struct db_stmt *q = st->db->prepare(st, "DELETE FROM login_failures WHERE at <= ?");
    if (!q) return PW_ESTORE;
    st->db->bind_int64(q, 1, upto);
    return write_any(st, q);
}

static pw_err q_login_failure_keys(struct store *st, int64_t *keys)
{
    return scalar(st, st->db->prepare(st, "SELECT count(DISTINCT key) FROM login_failures"), keys);
}

/* One table per backend, the same but for the name (store_ops.name tells them apart). */
#define SQL_OPS(backend)                                                                           \
    {                                                                                              \
        .name = backend, .close = q_close, .tx_begin = q_tx_begin, .tx_commit = q_tx_commit,       \
        .tx_rollback = q_tx_rollback, .is_empty = q_is_empty, .user_insert = q_user_insert,        \
        .user_by_email = q_user_by_email, .user_by_id = q_user_by_id,                              \
        .auth_session_insert = q_auth_session_insert, .auth_session_get = q_auth_session_get,      \
        .auth_session_delete = q_auth_session_delete, .mechanic_insert = q_mechanic_insert,        \
        .mechanics_each = q_mechanics_each, .accept_delays_each = q_accept_delays_each,            \
        .mechanic_get = q_mechanic_get, .presence_set = q_presence_set,                            \
        .last_seen_save = q_last_seen_save, .events_tail = q_events_tail,                          \
        .event_latest_seq = q_event_latest_seq, .events_after = q_events_after,                    \
        .events_of_channel = q_events_of_channel, .events_write = q_events_write,                  \
        .listen_fd = q_listen_fd, .listen_poll = q_listen_poll, .plan_insert = q_plan_insert,      \
        .plans_each = q_plans_each, .vehicle_insert = q_vehicle_insert,                            \
        .vehicles_of = q_vehicles_of, .vehicle_get = q_vehicle_get,                                \
        .vehicle_lock = q_vehicle_lock, .vehicle_update = q_vehicle_update,                        \
        .vehicle_delete = q_vehicle_delete, .user_lock = q_user_lock,                              \
        .user_update_profile = q_user_update_profile, .session_live_find = q_session_live_find,    \
        .plan_get = q_plan_get, .user_debit = q_user_debit, .user_credit = q_user_credit,          \
        .user_use_free = q_user_use_free, .user_release_free = q_user_release_free,                \
        .session_insert = q_session_insert, .session_get = q_session_get,                          \
        .session_transition = q_session_transition, .session_set_outcome = q_session_set_outcome,  \
        .session_set_rating = q_session_set_rating,                                                \
        .session_set_checkout = q_session_set_checkout, .sessions_list = q_sessions_list,          \
        .sessions_in_state = q_sessions_in_state, .sessions_due = q_sessions_due,                  \
        .offer_insert = q_offer_insert, .offer_get = q_offer_get,                                  \
        .offers_of_session = q_offers_of_session,                                                  \
        .offers_live_of_mechanic = q_offers_live_of_mechanic, .offers_close = q_offers_close,      \
        .sessions_facts = q_sessions_facts, .setting_get = q_setting_get,                          \
        .setting_set = q_setting_set, .mechanic_set_status = q_mechanic_set_status,                \
        .stripe_event_record = q_stripe_event_record, .login_failure_add = q_login_failure_add,    \
        .login_failure_nth_newest = q_login_failure_nth_newest,                                    \
        .login_failures_clear = q_login_failures_clear,                                            \
        .login_failures_prune = q_login_failures_prune,                                            \
        .login_failure_keys = q_login_failure_keys,                                                \
    }

const struct store_ops store_sql_ops_sqlite = SQL_OPS("sqlite");
const struct store_ops store_sql_ops_postgres = SQL_OPS("postgres");
