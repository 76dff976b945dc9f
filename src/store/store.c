#include "store/store.h"

#include "core/fault.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

pw_err store_open(const char *url, struct store **out, char *err, size_t errlen)
{
    if (strncmp(url, "sqlite:", 7) == 0) return store_sqlite_open(url + 7, out, err, errlen);
    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
        return store_postgres_open(url, out, err, errlen);
    snprintf(err, errlen, "no storage backend for '%s' (sqlite:PATH or postgres://...)", url);
    return PW_EINVAL;
}

static void pending_free(struct store_event *evs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)evs[i].type);
        free((char *)evs[i].channel);
        free((char *)evs[i].payload);
    }
}

/* Drops the events appended after the level that began with `mark` entries. */
static void pending_truncate(struct store *st, size_t mark)
{
    pending_free(st->pending + mark, st->n_pending - mark);
    st->n_pending = mark;
}

void store_close(struct store *st)
{
    if (!st) return;
    pending_truncate(st, 0);
    free(st->pending);
    st->ops->close(st);
}

void store_set_sink(struct store *st, store_event_fn fn, void *ctx)
{
    st->sink = fn;
    st->sink_ctx = ctx;
}

/* ---- transactions and their events ---- */

pw_err store_tx_begin(struct store *st)
{
    if (st->depth >= STORE_DEPTH_MAX) return PW_EINTERNAL;
    pw_err e = PW_FAULT_STORE_ERR();
    if (!e) e = st->ops->tx_begin(st);
    if (e) return e;
    st->marks[st->depth++] = st->n_pending;
    return PW_OK;
}

void store_tx_rollback(struct store *st)
{
    assert(st->depth > 0);
    st->ops->tx_rollback(st);
    pending_truncate(st, st->marks[--st->depth]);
}

/* Hands the committed events to the sink. The list is taken off the handle first: the
 * sink may use the store (to read what other nodes committed before these). */
static void deliver(struct store *st)
{
    struct store_event *evs = st->pending;
    size_t n = st->n_pending;
    st->pending = NULL;
    st->n_pending = st->cap_pending = 0;
    if (n) st->last_seq = evs[n - 1].seq;
    for (size_t i = 0; i < n && st->sink; i++) st->sink(st->sink_ctx, &evs[i]);
    pending_free(evs, n);
    free(evs);
}

pw_err store_tx_commit(struct store *st)
{
    assert(st->depth > 0);
    if (st->depth > 1) {
        pw_err e = st->ops->tx_commit(st); /* a savepoint: its events wait for the outer commit */
        st->depth--;
        if (e) pending_truncate(st, st->marks[st->depth]);
        return e;
    }
    /* the torture build may fail the outermost commit here, as a failed events write would */
    pw_err e = PW_FAULT_STORE_ERR();
    if (!e && st->n_pending) e = st->ops->events_write(st, st->pending, st->n_pending);
    if (e) {
        st->ops->tx_rollback(st);
    } else {
        e = st->ops->tx_commit(st);
    }
    st->depth = 0;
    if (e) {
        pending_truncate(st, 0);
        return e;
    }
    deliver(st);
    return PW_OK;
}

pw_err store_event_append(struct store *st, struct store_event *ev)
{
    if (!ev->type || !ev->channel || !ev->payload) return PW_EINVAL;
    bool own = st->depth == 0;
    pw_err e = own ? store_tx_begin(st) : PW_OK;
    if (e) return e;
    if (st->n_pending == st->cap_pending) {
        size_t cap = st->cap_pending ? st->cap_pending * 2 : 8;
        struct store_event *grown = realloc(st->pending, cap * sizeof *grown);
        if (!grown) e = PW_EINTERNAL;
        else {
            st->pending = grown;
            st->cap_pending = cap;
        }
    }
    char *type = NULL, *channel = NULL, *payload = NULL;
    if (!e && (!(type = strdup(ev->type)) || !(channel = strdup(ev->channel)) ||
               !(payload = strdup(ev->payload))))
        e = PW_EINTERNAL;
    if (e) {
        free(type);
        free(channel);
        free(payload);
        if (own) store_tx_rollback(st);
        return e;
    }
    st->pending[st->n_pending++] = (struct store_event){
        .type = type, .channel = channel, .payload = payload, .created_at = ev->created_at};
    ev->seq = 0;
    if (!own) return PW_OK;
    if ((e = store_tx_commit(st))) return e;
    ev->seq = st->last_seq;
    return PW_OK;
}

pw_err store_presence_save(struct store *st, const char *mechanic_id,
                           enum pw_presence_state presence, int64_t last_seen_at,
                           int64_t unseen_before, struct store_event *ev)
{
    bool outermost = st->depth == 0;
    pw_err e = store_tx_begin(st);
    if (e) return e;
    e = st->ops->presence_set(st, mechanic_id, presence, last_seen_at, unseen_before);
    if (!e) e = store_event_append(st, ev);
    if (e) {
        store_tx_rollback(st);
        return e;
    }
    if ((e = store_tx_commit(st))) return e;
    ev->seq = outermost ? st->last_seq : 0;
    return PW_OK;
}

pw_err store_vehicle_change(struct store *st, const struct pw_vehicle *v, bool remove, int64_t at)
{
    pw_err e = store_tx_begin(st);
    if (e) return e;
    char live[PW_ID_LEN + 1];
    e = st->ops->vehicle_lock(st, v->id, v->owner_id);
    if (!e) {
        /* read after the lock: a session insert that held it has committed and is seen */
        e = st->ops->session_live_find(st, NULL, v->id, live);
        e = e == PW_OK ? PW_EVEHICLEINUSE : e == PW_ENOTFOUND ? PW_OK : e;
    }
    if (!e) e = remove ? st->ops->vehicle_delete(st, v->id, at) : st->ops->vehicle_update(st, v);
    if (e) {
        store_tx_rollback(st);
        return e;
    }
    return store_tx_commit(st);
}

pw_err store_session_claim(struct store *st, const char *customer_id, const char *vehicle_id,
                           char live_id[PW_ID_LEN + 1])
{
    char live[PW_ID_LEN + 1];
    pw_err e = st->ops->user_lock(st, customer_id);
    if (e) return e;
    /* read after the lock: a concurrent creation of this customer has committed by now */
    e = st->ops->session_live_find(st, customer_id, NULL, live);
    if (e == PW_OK) {
        if (live_id) memcpy(live_id, live, sizeof live);
        return PW_ELIVE;
    }
    if (e != PW_ENOTFOUND) return e;
    return st->ops->vehicle_lock(st, vehicle_id, customer_id);
}

/* Each public function forwards to the backend's table. The torture build may fail the
 * call here instead (core/fault.h); elsewhere PW_FAULT_STORE() is empty. */
#define FORWARD(name, params, args)                                                                \
    pw_err store_##name params                                                                     \
    {                                                                                              \
        PW_FAULT_STORE();                                                                          \
        return st->ops->name args;                                                                 \
    }

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
FORWARD(mechanic_get, (struct store * st, const char *id, struct pw_mechanic *out), (st, id, out))
FORWARD(last_seen_save, (struct store * st, const char *mechanic_id, int64_t last_seen_at),
        (st, mechanic_id, last_seen_at))
FORWARD(events_tail, (struct store * st, int limit, store_event_fn fn, void *ctx),
        (st, limit, fn, ctx))
FORWARD(event_latest_seq, (struct store * st, int64_t *seq), (st, seq))
FORWARD(events_after, (struct store * st, int64_t after, int limit, store_event_fn fn, void *ctx),
        (st, after, limit, fn, ctx))
FORWARD(listen_poll, (struct store * st, int64_t *newest_seq, bool *woke), (st, newest_seq, woke))
FORWARD(plan_insert, (struct store * st, const struct pw_plan *p, int sort), (st, p, sort))
FORWARD(plans_each, (struct store * st, store_plan_fn fn, void *ctx), (st, fn, ctx))
FORWARD(vehicle_insert, (struct store * st, const struct pw_vehicle *v), (st, v))
FORWARD(vehicles_of, (struct store * st, const char *owner_id, store_vehicle_fn fn, void *ctx),
        (st, owner_id, fn, ctx))

FORWARD(vehicle_get, (struct store * st, const char *id, struct pw_vehicle *out), (st, id, out))
FORWARD(vehicle_lock, (struct store * st, const char *id, const char *owner_id), (st, id, owner_id))
FORWARD(vehicle_update, (struct store * st, const struct pw_vehicle *v), (st, v))
FORWARD(vehicle_delete, (struct store * st, const char *id, int64_t at), (st, id, at))
FORWARD(user_lock, (struct store * st, const char *id), (st, id))
FORWARD(user_update_profile,
        (struct store * st, const char *id, const char *name, const char *city),
        (st, id, name, city))
FORWARD(session_live_find,
        (struct store * st, const char *customer_id, const char *vehicle_id,
         char out[PW_ID_LEN + 1]),
        (st, customer_id, vehicle_id, out))
FORWARD(events_of_channel,
        (struct store * st, const char *channel, const char *type, int64_t upto, store_event_fn fn,
         void *ctx),
        (st, channel, type, upto, fn, ctx))
FORWARD(plan_get, (struct store * st, const char *slug, struct pw_plan *out), (st, slug, out))
FORWARD(user_debit, (struct store * st, const char *user_id, int64_t cents), (st, user_id, cents))
FORWARD(user_credit, (struct store * st, const char *user_id, int64_t cents), (st, user_id, cents))
FORWARD(user_use_free, (struct store * st, const char *user_id), (st, user_id))
FORWARD(user_release_free, (struct store * st, const char *user_id), (st, user_id))
FORWARD(session_insert, (struct store * st, const struct pw_session *s), (st, s))
FORWARD(session_get, (struct store * st, const char *id, struct pw_session *out), (st, id, out))
FORWARD(session_transition, (struct store * st, const char *id, const struct store_transition *t),
        (st, id, t))
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
FORWARD(sessions_facts, (struct store * st, int64_t from, int64_t to, store_facts_fn fn, void *ctx),
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

int store_listen_fd(struct store *st, unsigned *generation)
{
    return st->ops->listen_fd(st, generation);
}
FORWARD(login_failure_add, (struct store * st, const char *key, int64_t at), (st, key, at))
FORWARD(login_failure_nth_newest,
        (struct store * st, const char *key, int64_t after, int n, int64_t *at),
        (st, key, after, n, at))
FORWARD(login_failures_clear, (struct store * st, const char *key), (st, key))
FORWARD(login_failures_prune, (struct store * st, int64_t upto), (st, upto))
FORWARD(login_failure_keys, (struct store * st, int64_t *keys), (st, keys))
