/* The storage interface. Handlers, presence and routing call store_* and nothing else
 * writes SQL: a backend is one file that fills struct store_ops (sqlite.c now, postgres.c
 * later). Every function returns PW_OK or an error of core/error.h; a function that fails
 * leaves the database as it was (each is one transaction unless the caller holds one). */
#ifndef PW_STORE_H
#define PW_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/model.h"

struct store;

/* An event row: the sequence number is given by the database when it is appended. */
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
    pw_err (*mechanics_each)(struct store *st, store_mechanic_fn fn, void *ctx);
    /* Up to `per_mechanic` newest accepted-offer delays of every mechanic. */
    pw_err (*accept_delays_each)(struct store *st, int per_mechanic, store_delay_fn fn, void *ctx);
    /* Writes a presence change and its event in one transaction; ev->seq is set. */
    pw_err (*presence_save)(struct store *st, const char *mechanic_id, enum pw_state presence,
                            int64_t last_seen_at, struct store_event *ev);
    pw_err (*last_seen_save)(struct store *st, const char *mechanic_id, int64_t last_seen_at);

    pw_err (*events_tail)(struct store *st, int limit, store_event_fn fn, void *ctx);
    pw_err (*event_latest_seq)(struct store *st, int64_t *seq);

    pw_err (*plan_insert)(struct store *st, const struct pw_plan *p, int sort);
    pw_err (*plans_each)(struct store *st, store_plan_fn fn, void *ctx);
    pw_err (*vehicle_insert)(struct store *st, const struct pw_vehicle *v);
    pw_err (*vehicles_of)(struct store *st, const char *owner_id, store_vehicle_fn fn, void *ctx);
};

struct store {
    const struct store_ops *ops;
};

/* Opens the database named by url ("sqlite:PATH") and applies pending migrations. */
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
pw_err store_presence_save(struct store *st, const char *mechanic_id, enum pw_state presence,
                           int64_t last_seen_at, struct store_event *ev);
pw_err store_last_seen_save(struct store *st, const char *mechanic_id, int64_t last_seen_at);
pw_err store_events_tail(struct store *st, int limit, store_event_fn fn, void *ctx);
pw_err store_event_latest_seq(struct store *st, int64_t *seq);
pw_err store_plan_insert(struct store *st, const struct pw_plan *p, int sort);
pw_err store_plans_each(struct store *st, store_plan_fn fn, void *ctx);
pw_err store_vehicle_insert(struct store *st, const struct pw_vehicle *v);
pw_err store_vehicles_of(struct store *st, const char *owner_id, store_vehicle_fn fn, void *ctx);

/* Backends */
pw_err store_sqlite_open(const char *path, struct store **out, char *err, size_t errlen);

#endif
