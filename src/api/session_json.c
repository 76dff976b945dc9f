/* The session object of SPEC §4.7, as GET /api/sessions/{id}, the session lists and the
 * session stream's snapshot send it. The offer object is the routing engine's offer event
 * payload (pw_routing_offer_json), so that a listed offer and a streamed one are the same. */
#include <stdint.h>

#include "api/api.h"
#include "app.h"
#include "core/json.h"
#include "core/log.h"
#include "presence/directory.h"
#include "store/store.h"

struct steps {
    json_t *list;
    bool ok; /* every step was read back */
};

static void add_step(void *ctx, const struct store_event *ev)
{
    struct steps *st = ctx;
    if (json_array_append_new(st->list, json_loads(ev->payload, 0, NULL)) != 0) st->ok = false;
}

/* Every routing step of s up to event upto: exactly what its stream sent, read back from the
 * events (which are never pruned), oldest first. */
static json_t *steps_json(struct pw_app *app, const struct pw_session *s, int64_t upto)
{
    char channel[PW_CHANNEL_LEN];
    pw_channel_name(PW_CHANNEL_SESSION, s->id, channel);
    struct steps st = {json_array(), true};
    if (!st.list) return NULL;
    if (store_events_of_channel(app->store, channel, "routing", upto, add_step, &st) != PW_OK ||
        !st.ok) {
        pw_log(PW_LOG_ERROR, "could not read the steps of a session",
               json_pack("{s:s}", "session_id", s->id));
        json_decref(st.list);
        return NULL;
    }
    return st.list;
}

/* The assigned mechanic's card, null when there is none; NULL when it cannot be made. */
static json_t *assigned_json(struct pw_app *app, const struct pw_session *s)
{
    if (!s->assigned_mechanic_id[0]) return json_null();
    const struct pw_dir_mechanic *m = pw_dir_get(app->dir, s->assigned_mechanic_id);
    if (!m) return NULL;
    return json_pack("{s:s, s:s, s:s?, s:f}", "id", m->m.id, "name", m->m.name, "profile_photo_url",
                     m->m.profile_photo_url[0] ? m->m.profile_photo_url : NULL, "rating",
                     m->m.rating_tenths / 10.0);
}

json_t *api_session_json(struct pw_app *app, const struct pw_session *s)
{
    return api_session_json_upto(app, s, INT64_MAX);
}

json_t *api_session_json_upto(struct pw_app *app, const struct pw_session *s, int64_t upto)
{
    /* a failed read is an error, never a session with a blank vehicle or plan */
    struct pw_vehicle vehicle;
    struct pw_plan plan;
    if (store_vehicle_get(app->store, s->vehicle_id, &vehicle) != PW_OK ||
        store_plan_get(app->store, s->plan_slug, &plan) != PW_OK)
        return NULL;
    const char *routing = s->priority_routing ? "priority_broadcast" : "broadcast";
    const char *preferred = s->preferred_mechanic_id[0] ? s->preferred_mechanic_id : NULL;
    /* a NULL member (memory) makes json_pack fail, so the whole answer does */
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:o, s:{s:s, s:s}, s:b, s:I, s:{s:s, s:s, s:I}, s:s?, s:s,"
        " s:{s:s?, s:s}, s:o, s:o}",
        "id", s->id, "state", pw_session_state_name(s->state), "customer_id", s->customer_id,
        "vehicle", pw_json_vehicle(&vehicle), "plan", "slug", s->plan_slug, "name", plan.name,
        "is_specialist", s->is_specialist, "price_cents", (json_int_t)s->price_cents, "payment",
        "method", s->payment_method, "status", s->payment_status, "amount_cents",
        (json_int_t)s->price_cents, "preferred_mechanic_id", preferred, "routing_type", routing,
        "metadata", "preferred_mechanic_id", preferred, "routing_type", routing, "intake",
        pw_json_intake(s->intake_json), "assigned_mechanic", assigned_json(app, s));
    bool ok = true;
    pw_json_set(o, "created_at", pw_json_iso_or_null(s->created_at), &ok);
    pw_json_set(o, "priority_ends_at",
                pw_json_iso_or_null(s->priority_routing ? s->priority_ends_at : 0), &ok);
    pw_json_set(o, "expires_at", pw_json_iso_or_null(s->expires_at), &ok);
    pw_json_set(o, "accepted_at", pw_json_iso_or_null(s->accepted_at), &ok);
    pw_json_set(o, "ended_at", pw_json_iso_or_null(s->ended_at), &ok);
    pw_json_set(o, "checkout_url",
                s->state == PW_SESSION_AWAITING_PAYMENT && s->checkout_url
                    ? json_string(s->checkout_url)
                    : json_null(),
                &ok);
    pw_json_set(o, "outcome", s->outcome[0] ? json_string(s->outcome) : json_null(), &ok);
    pw_json_set(o, "rating", s->rating_score >= 0 ? json_integer(s->rating_score) : json_null(),
                &ok);
    pw_json_set(o, "steps", steps_json(app, s, upto), &ok);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}
