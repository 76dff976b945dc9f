#include "store/store.h"

#include <stdio.h>
#include <string.h>

pw_err store_open(const char *url, struct store **out, char *err, size_t errlen)
{
    if (strncmp(url, "sqlite:", 7) == 0) return store_sqlite_open(url + 7, out, err, errlen);
    snprintf(err, errlen, "no storage backend for '%s' yet (sqlite:PATH is supported)", url);
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
