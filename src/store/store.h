/* The storage interface. Handlers, presence and routing call store_* and nothing else
 * writes SQL. The queries are written once (queries.c, which fills struct store_ops) over
 * a driver per database (store/db.h: sqlite.c, postgres.c). Every function returns PW_OK or an
 * error of core/error.h; a function that fails leaves the database as it was (each is one
 * transaction unless the caller holds one). */
#ifndef PW_STORE_H
#define PW_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/model.h"

struct store;

/* An event row: the sequence number is given by the database when the event commits. */
struct store_event {
    int64_t seq;
    const char *type;    /* "presence", "offer", ... */
    const char *channel; /* who it concerns: "presence:<id>", "mechanic:<id>", "session:<id>" */
    const char *payload; /* one JSON object */
    int64_t created_at;
};

typedef void (*store_mechanic_fn)(void *ctx, const struct pw_mechanic *m);
typedef void (*store_event_fn)(void *ctx, const struct store_event *ev);
typedef void (*store_plan_fn)(void *ctx, const struct pw_plan *p);
typedef void (*store_vehicle_fn)(void *ctx, const struct pw_vehicle *v);
typedef void (*store_delay_fn)(void *ctx, const char *mechanic_id, int64_t delay_ms);
typedef void (*store_session_fn)(void *ctx, const struct pw_session *s);
typedef void (*store_offer_fn)(void *ctx, const struct pw_offer *o);
/* kind: 0 = the priority window ended, 1 = the request lifetime ended */
typedef void (*store_due_fn)(void *ctx, const char *session_id, int kind);

/* One session's facts for the admin metrics (SPEC §4.6); times are ms, 0 = never. */
struct store_session_facts {
    char id[PW_ID_LEN + 1];
    bool priority_routing;  /* routing_type priority_broadcast */
    char rollout_group[16]; /* selection | control */
    enum pw_session_state state;
    int64_t created_at, routing_started_at, accepted_at;
    int64_t broadcast_at; /* first time it was broadcast (straight away or after priority) */
    char outcome[16];     /* resolved | escalated | unresolved | "" */
    int rating_score;     /* 0-10, -1 = not rated */
    bool has_priority_offer;
    enum pw_offer_outcome priority_outcome; /* of that offer; PW_OFFER_LIVE while open */
};
typedef void (*store_facts_fn)(void *ctx, const struct store_session_facts *f);

/* What a session transition sets besides the state. */
struct store_transition {
    unsigned from; /* mask of 1 << enum pw_session_state it may leave */
    enum pw_session_state to;
    int64_t at;                 /* stamps accepted_at / ended_at / routing_started_at */
    const char *assigned;       /* mechanic, when accepting */
    const char *payment_status; /* NULL = unchanged */
};

struct store_ops {
    const char *name;
    void (*close)(struct store *st);

    pw_err (*tx_begin)(struct store *st);
    pw_err (*tx_commit)(struct store *st);
    void (*tx_rollback)(struct store *st);

    pw_err (*is_empty)(struct store *st, bool *empty);

    pw_err (*user_insert)(struct store *st, const struct pw_user *u);
    pw_err (*user_by_email)(struct store *st, const char *email, struct pw_user *out);
    pw_err (*user_by_id)(struct store *st, const char *id, struct pw_user *out);

    pw_err (*auth_session_insert)(struct store *st, const struct pw_auth_session *s);
    pw_err (*auth_session_get)(struct store *st, const char *token_hash, int64_t now,
                               struct pw_auth_session *out);
    pw_err (*auth_session_delete)(struct store *st, const char *token_hash);

    pw_err (*mechanic_insert)(struct store *st, const struct pw_mechanic *m);
    pw_err (*mechanic_get)(struct store *st, const char *id, struct pw_mechanic *out);
    pw_err (*mechanics_each)(struct store *st, store_mechanic_fn fn, void *ctx);
    /* Up to `per_mechanic` newest accepted-offer delays of every mechanic. */
    pw_err (*accept_delays_each)(struct store *st, int per_mechanic, store_delay_fn fn, void *ctx);
    /* Sets presence and last_seen_at (the event is store.c's). With unseen_before > 0 only
     * an online mechanic last seen before it changes, else PW_ETAKEN (a timeout that another
     * node's sighting has made void). */
    pw_err (*presence_set)(struct store *st, const char *mechanic_id,
                           enum pw_presence_state presence, int64_t last_seen_at,
                           int64_t unseen_before);
    pw_err (*last_seen_save)(struct store *st, const char *mechanic_id, int64_t last_seen_at);

    pw_err (*events_tail)(struct store *st, int limit, store_event_fn fn, void *ctx);
    /* committed events with seq > after, oldest first, at most limit */
    pw_err (*events_after)(struct store *st, int64_t after, int limit, store_event_fn fn,
                           void *ctx);
    pw_err (*event_latest_seq)(struct store *st, int64_t *seq);
    /* the events of one channel and type with seq <= upto, oldest first */
    pw_err (*events_of_channel)(struct store *st, const char *channel, const char *type,
                                int64_t upto, store_event_fn fn, void *ctx);
    /* Writes the events of the transaction being committed, inside it, just before COMMIT;
     * sets each seq. Events commit in sequence order: no event becomes visible after one
     * with a higher seq (PostgreSQL: an advisory lock held from here to the commit). */
    pw_err (*events_write)(struct store *st, struct store_event *evs, size_t n);
    /* A descriptor that becomes readable when another connection committed events (-1 when
     * the backend has none: SQLite). *generation changes when it is a new descriptor. */
    int (*listen_fd)(struct store *st, unsigned *generation);
    /* Reads what arrived on it; *woke = events may be waiting (also after a reconnection,
     * when notifications may have been missed). Reconnects a lost listener. */
    pw_err (*listen_poll)(struct store *st, int64_t *newest_seq, bool *woke);

    pw_err (*plan_insert)(struct store *st, const struct pw_plan *p, int sort);
    pw_err (*plans_each)(struct store *st, store_plan_fn fn, void *ctx);
    pw_err (*vehicle_insert)(struct store *st, const struct pw_vehicle *v);
    pw_err (*vehicles_of)(struct store *st, const char *owner_id, store_vehicle_fn fn, void *ctx);
    /* also a deleted vehicle (its deleted_at set): past sessions show it */
    pw_err (*vehicle_get)(struct store *st, const char *id, struct pw_vehicle *out);
    /* Locks the row of owner's vehicle id (not deleted) until the transaction ends;
     * PW_ENOTFOUND when there is none. A session insert and a vehicle change both take it
     * first, so neither can slip in between the other's check and its write. */
    pw_err (*vehicle_lock)(struct store *st, const char *id, const char *owner_id);
    pw_err (*vehicle_update)(struct store *st, const struct pw_vehicle *v); /* year, make, model */
    pw_err (*vehicle_delete)(struct store *st, const char *id, int64_t at); /* soft */
    /* Locks the user's row until the transaction ends: one customer's session creations
     * queue here, on every node */
    pw_err (*user_lock)(struct store *st, const char *id);
    /* name and/or city (NULL = unchanged); PW_ENOTFOUND without such a user */
    pw_err (*user_update_profile)(struct store *st, const char *id, const char *name,
                                  const char *city);
    /* The id of a live session (awaiting_payment, priority, broadcast, accepted) of the
     * customer, or (customer_id NULL) of the vehicle; PW_ENOTFOUND when none */
    pw_err (*session_live_find)(struct store *st, const char *customer_id, const char *vehicle_id,
                                char out[PW_ID_LEN + 1]);
    pw_err (*plan_get)(struct store *st, const char *slug, struct pw_plan *out);

    /* credits: debit fails with PW_ECREDITS rather than going below zero */
    pw_err (*user_debit)(struct store *st, const char *user_id, int64_t cents);
    pw_err (*user_credit)(struct store *st, const char *user_id, int64_t cents);
    /* the free session: PW_EFREEUSED when already used */
    pw_err (*user_use_free)(struct store *st, const char *user_id);
    pw_err (*user_release_free)(struct store *st, const char *user_id); /* given back */

    pw_err (*session_insert)(struct store *st, const struct pw_session *s);
    pw_err (*session_get)(struct store *st, const char *id, struct pw_session *out);
    /* one conditional update: PW_ETAKEN when the session is not in a `from` state */
    pw_err (*session_transition)(struct store *st, const char *id,
                                 const struct store_transition *t);
    pw_err (*session_set_outcome)(struct store *st, const char *id, const char *outcome,
                                  const char *notes);
    /* PW_ECONFLICT when already rated */
    pw_err (*session_set_rating)(struct store *st, const char *id, int score, const char *comment,
                                 int64_t at);
    pw_err (*session_set_checkout)(struct store *st, const char *id, const char *checkout_id,
                                   const char *url);
    /* customer_id or mechanic_id (the other NULL): newest first, at most limit */
    pw_err (*sessions_list)(struct store *st, const char *customer_id, const char *mechanic_id,
                            int limit, store_session_fn fn, void *ctx);
    pw_err (*sessions_in_state)(struct store *st, enum pw_session_state state, store_session_fn fn,
                                void *ctx);
    pw_err (*sessions_due)(struct store *st, int64_t now, store_due_fn fn, void *ctx);

    pw_err (*offer_insert)(struct store *st, struct pw_offer *o); /* sets o->id */
    pw_err (*offer_get)(struct store *st, const char *session_id, const char *mechanic_id,
                        struct pw_offer *out);
    pw_err (*offers_of_session)(struct store *st, const char *session_id, store_offer_fn fn,
                                void *ctx);
    pw_err (*offers_live_of_mechanic)(struct store *st, const char *mechanic_id, store_offer_fn fn,
                                      void *ctx);
    /* closes live offers of a session (of one mechanic, or all when mechanic_id is NULL);
     * *closed says how many */
    pw_err (*offers_close)(struct store *st, const char *session_id, const char *mechanic_id,
                           enum pw_offer_outcome outcome, int64_t at, int *closed);

    /* the facts of every session created in [from, to), oldest first (fn must not write) */
    pw_err (*sessions_facts)(struct store *st, int64_t from, int64_t to, store_facts_fn fn,
                             void *ctx);
    /* run-time settings (PW_ENOTFOUND when never set) */
    pw_err (*setting_get)(struct store *st, const char *key, char *out, size_t outsz);
    pw_err (*setting_set)(struct store *st, const char *key, const char *value);
    pw_err (*mechanic_set_status)(struct store *st, const char *id, enum pw_mechanic_status status,
                                  bool can_accept_sessions);
    /* failed logins (auth/throttle.c): nth_newest gives the time of the n-th newest failure
     * of key after `after`, PW_ENOTFOUND when there are fewer */
    pw_err (*login_failure_add)(struct store *st, const char *key, int64_t at);
    pw_err (*login_failure_nth_newest)(struct store *st, const char *key, int64_t after, int n,
                                       int64_t *at);
    pw_err (*login_failures_clear)(struct store *st, const char *key);
    pw_err (*login_failures_prune)(struct store *st, int64_t upto); /* at <= upto */
    pw_err (*login_failure_keys)(struct store *st, int64_t *keys);
    /* PW_ECONFLICT when the event id was handled before */
    pw_err (*stripe_event_record)(struct store *st, const char *id, const char *type, int64_t at);
};

#define STORE_DEPTH_MAX 16

/* The part of every backend's handle that store.c keeps: transactions and their events.
 * Events appended inside a transaction wait here and are written at its commit; once
 * committed they are handed to the sink, in sequence order. */
struct db_ops;
struct store {
    const struct store_ops *ops;
    const struct db_ops *db; /* the backend's driver under queries.c (store/db.h) */
    int depth;
    struct store_event *pending; /* owned copies */
    size_t n_pending, cap_pending;
    size_t marks[STORE_DEPTH_MAX]; /* n_pending when each level began */
    int64_t last_seq;              /* of the newest event this handle committed */
    store_event_fn sink;
    void *sink_ctx;
};

/* Opens the database named by url ("sqlite:PATH", or "postgres://..." / "postgresql://..."
 * as libpq reads it) and applies pending migrations. */
pw_err store_open(const char *url, struct store **out, char *err, size_t errlen);
void store_close(struct store *st);

pw_err store_tx_begin(struct store *st);
pw_err store_tx_commit(struct store *st);
void store_tx_rollback(struct store *st);
pw_err store_is_empty(struct store *st, bool *empty);
pw_err store_user_insert(struct store *st, const struct pw_user *u);
pw_err store_user_by_email(struct store *st, const char *email, struct pw_user *out);
pw_err store_user_by_id(struct store *st, const char *id, struct pw_user *out);
pw_err store_auth_session_insert(struct store *st, const struct pw_auth_session *s);
pw_err store_auth_session_get(struct store *st, const char *token_hash, int64_t now,
                              struct pw_auth_session *out);
pw_err store_auth_session_delete(struct store *st, const char *token_hash);
pw_err store_mechanic_insert(struct store *st, const struct pw_mechanic *m);
pw_err store_mechanics_each(struct store *st, store_mechanic_fn fn, void *ctx);
pw_err store_accept_delays_each(struct store *st, int per_mechanic, store_delay_fn fn, void *ctx);
/* A presence change and its event, in one transaction (see presence_set for unseen_before). */
pw_err store_presence_save(struct store *st, const char *mechanic_id,
                           enum pw_presence_state presence, int64_t last_seen_at,
                           int64_t unseen_before, struct store_event *ev);
pw_err store_mechanic_get(struct store *st, const char *id, struct pw_mechanic *out);
pw_err store_last_seen_save(struct store *st, const char *mechanic_id, int64_t last_seen_at);
pw_err store_events_tail(struct store *st, int limit, store_event_fn fn, void *ctx);
pw_err store_event_latest_seq(struct store *st, int64_t *seq);
pw_err store_events_after(struct store *st, int64_t after, int limit, store_event_fn fn, void *ctx);
int store_listen_fd(struct store *st, unsigned *generation);
pw_err store_listen_poll(struct store *st, int64_t *newest_seq, bool *woke);
pw_err store_plan_insert(struct store *st, const struct pw_plan *p, int sort);
pw_err store_plans_each(struct store *st, store_plan_fn fn, void *ctx);
pw_err store_vehicle_insert(struct store *st, const struct pw_vehicle *v);
pw_err store_vehicles_of(struct store *st, const char *owner_id, store_vehicle_fn fn, void *ctx);

pw_err store_vehicle_get(struct store *st, const char *id, struct pw_vehicle *out);
pw_err store_vehicle_lock(struct store *st, const char *id, const char *owner_id);
pw_err store_vehicle_update(struct store *st, const struct pw_vehicle *v);
pw_err store_vehicle_delete(struct store *st, const char *id, int64_t at);
/* PUT/DELETE /api/vehicles/{id}: v's id and owner_id name the vehicle; with remove it is
 * deleted (at), else its year, make and model replace the stored ones. One transaction:
 * the vehicle's row locked, then PW_EVEHICLEINUSE while a session of it is live, PW_ENOTFOUND
 * when it is not owner's or already deleted. */
pw_err store_vehicle_change(struct store *st, const struct pw_vehicle *v, bool remove, int64_t at);
pw_err store_user_lock(struct store *st, const char *id);
pw_err store_user_update_profile(struct store *st, const char *id, const char *name,
                                 const char *city);
pw_err store_session_live_find(struct store *st, const char *customer_id, const char *vehicle_id,
                               char out[PW_ID_LEN + 1]);
/* Inside the transaction that creates a session of customer_id for vehicle_id, before
 * anything is charged: the customer's row locked, then PW_ELIVE (live_id set, when given)
 * while another session of theirs is live, and the vehicle's row locked, PW_ENOTFOUND when
 * it is not theirs or was deleted. */
pw_err store_session_claim(struct store *st, const char *customer_id, const char *vehicle_id,
                           char live_id[PW_ID_LEN + 1]);
pw_err store_events_of_channel(struct store *st, const char *channel, const char *type,
                               int64_t upto, store_event_fn fn, void *ctx);
pw_err store_plan_get(struct store *st, const char *slug, struct pw_plan *out);
pw_err store_user_debit(struct store *st, const char *user_id, int64_t cents);
pw_err store_user_credit(struct store *st, const char *user_id, int64_t cents);
pw_err store_user_use_free(struct store *st, const char *user_id);
pw_err store_user_release_free(struct store *st, const char *user_id);
pw_err store_session_insert(struct store *st, const struct pw_session *s);
pw_err store_session_get(struct store *st, const char *id, struct pw_session *out);
pw_err store_session_transition(struct store *st, const char *id, const struct store_transition *t);
pw_err store_session_set_outcome(struct store *st, const char *id, const char *outcome,
                                 const char *notes);
pw_err store_session_set_rating(struct store *st, const char *id, int score, const char *comment,
                                int64_t at);
pw_err store_session_set_checkout(struct store *st, const char *id, const char *checkout_id,
                                  const char *url);
pw_err store_sessions_list(struct store *st, const char *customer_id, const char *mechanic_id,
                           int limit, store_session_fn fn, void *ctx);
pw_err store_sessions_in_state(struct store *st, enum pw_session_state state, store_session_fn fn,
                               void *ctx);
pw_err store_sessions_due(struct store *st, int64_t now, store_due_fn fn, void *ctx);
pw_err store_offer_insert(struct store *st, struct pw_offer *o);
pw_err store_offer_get(struct store *st, const char *session_id, const char *mechanic_id,
                       struct pw_offer *out);
pw_err store_offers_of_session(struct store *st, const char *session_id, store_offer_fn fn,
                               void *ctx);
pw_err store_offers_live_of_mechanic(struct store *st, const char *mechanic_id, store_offer_fn fn,
                                     void *ctx);
pw_err store_offers_close(struct store *st, const char *session_id, const char *mechanic_id,
                          enum pw_offer_outcome outcome, int64_t at, int *closed);
/* Appends an event (copied). Inside a transaction it is written at the outermost commit
 * and ev->seq stays 0; outside one it commits now and ev->seq is set. Either way the sink
 * gets it once it has committed. */
pw_err store_event_append(struct store *st, struct store_event *ev);
/* Who is told of every event this handle commits, after the commit, oldest first. The sink
 * may read from the store but must not write to it. */
void store_set_sink(struct store *st, store_event_fn fn, void *ctx);
pw_err store_sessions_facts(struct store *st, int64_t from, int64_t to, store_facts_fn fn,
                            void *ctx);
pw_err store_setting_get(struct store *st, const char *key, char *out, size_t outsz);
pw_err store_setting_set(struct store *st, const char *key, const char *value);
pw_err store_mechanic_set_status(struct store *st, const char *id, enum pw_mechanic_status status,
                                 bool can_accept_sessions);
pw_err store_login_failure_add(struct store *st, const char *key, int64_t at);
pw_err store_login_failure_nth_newest(struct store *st, const char *key, int64_t after, int n,
                                      int64_t *at);
pw_err store_login_failures_clear(struct store *st, const char *key);
pw_err store_login_failures_prune(struct store *st, int64_t upto);
pw_err store_login_failure_keys(struct store *st, int64_t *keys);
pw_err store_stripe_event_record(struct store *st, const char *id, const char *type, int64_t at);

/* Backends */
pw_err store_sqlite_open(const char *path, struct store **out, char *err, size_t errlen);
/* url: a libpq connection URI, passed whole (user, host, port, database, ?options) */
pw_err store_postgres_open(const char *url, struct store **out, char *err, size_t errlen);

#endif
