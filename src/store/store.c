#include "store/store.h"

#include <stdio.h>
#include <string.h>

pw_err store_open(const char *url, struct store **out, char *err, size_t errlen)
{
    if (strncmp(url, "sqlite:", 7) == 0) return store_sqlite_open(url + 7, out, err, errlen);
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
        return store_postgres_open(url, out, err, errlen);
    snprintf(err, errlen, "no storage backend for '%s' (sqlite:PATH or postgres://...)", url);
    return PW_EINVAL;
}

void store_close(struct store *st)
{
    if (st) st->ops->close(st);
}

/* Each public function forwards to the backend's table. */
#define FORWARD(name, params, args)                                                                \
    pw_err store_##name params                                                                     \
    {                                                                                              \
        return st->ops->name args;                                                                 \
    }

FORWARD(tx_begin, (struct store * st), (st))
FORWARD(tx_commit, (struct store * st), (st))
FORWARD(is_empty, (struct store * st, bool *empty), (st, empty))
FORWARD(user_insert, (struct store * st, const struct pw_user *u), (st, u))
FORWARD(user_by_email, (struct store * st, const char *email, struct pw_user *out),
        (st, email, out))
FORWARD(user_by_id, (struct store * st, const char *id, struct pw_user *out), (st, id, out))
FORWARD(auth_session_insert, (struct store * st, const struct pw_auth_session *s), (st, s))
FORWARD(auth_session_get,
        (struct store * st, const char *token_hash, int64_t now, struct pw_auth_session *out),
        (st, token_hash, now, out))
FORWARD(auth_session_delete, (struct store * st, const char *token_hash), (st, token_hash))
FORWARD(mechanic_insert, (struct store * st, const struct pw_mechanic *m), (st, m))
FORWARD(mechanics_each, (struct store * st, store_mechanic_fn fn, void *ctx), (st, fn, ctx))
FORWARD(accept_delays_each, (struct store * st, int per_mechanic, store_delay_fn fn, void *ctx),
        (st, per_mechanic, fn, ctx))
FORWARD(presence_save,
        (struct store * st, const char *mechanic_id, enum pw_state presence,
         int64_t last_seen_at, struct store_event *ev),
        (st, mechanic_id, presence, last_seen_at, ev))
FORWARD(last_seen_save, (struct store * st, const char *mechanic_id, int64_t last_seen_at),
        (st, mechanic_id, last_seen_at))
FORWARD(events_tail, (struct store * st, int limit, store_event_fn fn, void *ctx),
        (st, limit, fn, ctx))
FORWARD(event_latest_seq, (struct store * st, int64_t *seq), (st, seq))
FORWARD(plan_insert, (struct store * st, const struct pw_plan *p, int sort), (st, p, sort))
FORWARD(plans_each, (struct store * st, store_plan_fn fn, void *ctx), (st, fn, ctx))
FORWARD(vehicle_insert, (struct store * st, const struct pw_vehicle *v), (st, v))
FORWARD(vehicles_of, (struct store * st, const char *owner_id, store_vehicle_fn fn, void *ctx),
        (st, owner_id, fn, ctx))

void store_tx_rollback(struct store *st)
{
    st->ops->tx_rollback(st);
}
FORWARD(vehicle_get, (struct store * st, const char *id, struct pw_vehicle *out), (st, id, out))
FORWARD(plan_get, (struct store * st, const char *slug, struct pw_plan *out), (st, slug, out))
FORWARD(user_debit, (struct store * st, const char *user_id, int64_t cents), (st, user_id, cents))
FORWARD(user_credit, (struct store * st, const char *user_id, int64_t cents), (st, user_id, cents))
FORWARD(user_use_free, (struct store * st, const char *user_id), (st, user_id))
FORWARD(user_release_free, (struct store * st, const char *user_id), (st, user_id))
FORWARD(session_insert, (struct store * st, const struct pw_session *s), (st, s))
FORWARD(session_get, (struct store * st, const char *id, struct pw_session *out), (st, id, out))
FORWARD(session_transition,
        (struct store * st, const char *id, const struct store_transition *t), (st, id, t))
FORWARD(session_set_outcome,
        (struct store * st, const char *id, const char *outcome, const char *notes),
        (st, id, outcome, notes))
FORWARD(session_set_rating,
        (struct store * st, const char *id, int score, const char *comment, int64_t at),
        (st, id, score, comment, at))
FORWARD(session_set_checkout,
        (struct store * st, const char *id, const char *checkout_id, const char *url),
        (st, id, checkout_id, url))
FORWARD(sessions_list,
        (struct store * st, const char *customer_id, const char *mechanic_id, int limit,
         store_session_fn fn, void *ctx),
        (st, customer_id, mechanic_id, limit, fn, ctx))
FORWARD(sessions_in_state,
        (struct store * st, enum pw_session_state state, store_session_fn fn, void *ctx),
        (st, state, fn, ctx))
FORWARD(sessions_due, (struct store * st, int64_t now, store_due_fn fn, void *ctx),
        (st, now, fn, ctx))
FORWARD(offer_insert, (struct store * st, struct pw_offer *o), (st, o))
FORWARD(offer_get,
        (struct store * st, const char *session_id, const char *mechanic_id, struct pw_offer *out),
        (st, session_id, mechanic_id, out))
FORWARD(offers_of_session,
        (struct store * st, const char *session_id, store_offer_fn fn, void *ctx),
        (st, session_id, fn, ctx))
FORWARD(offers_live_of_mechanic,
        (struct store * st, const char *mechanic_id, store_offer_fn fn, void *ctx),
        (st, mechanic_id, fn, ctx))
FORWARD(offers_close,
        (struct store * st, const char *session_id, const char *mechanic_id,
         enum pw_offer_outcome outcome, int64_t at, int *closed),
        (st, session_id, mechanic_id, outcome, at, closed))
FORWARD(event_append, (struct store * st, struct store_event *ev), (st, ev))
FORWARD(sessions_facts,
        (struct store * st, int64_t from, int64_t to, store_facts_fn fn, void *ctx),
        (st, from, to, fn, ctx))
FORWARD(stripe_event_record, (struct store * st, const char *id, const char *type, int64_t at),
        (st, id, type, at))
FORWARD(setting_get, (struct store * st, const char *key, char *out, size_t outsz),
        (st, key, out, outsz))
FORWARD(setting_set, (struct store * st, const char *key, const char *value), (st, key, value))
FORWARD(mechanic_set_status,
        (struct store * st, const char *id, enum pw_mechanic_status status,
         bool can_accept_sessions),
        (st, id, status, can_accept_sessions))
FORWARD(data_changed, (struct store * st, bool *changed), (st, changed))
