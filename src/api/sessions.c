/* Booking and routing over HTTP (SPEC §4.3–§4.6): creating a session, the customer's and the
 * mechanic's actions on it, its stream, and the mechanic's live offers. The rules live in
 * routing/routing.c; this file reads and checks requests and decides who may see what. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "app.h"
#include "core/log.h"
#include "routing/rollout.h"
#include "routing/routing.h"
#include "store/store.h"
#include "stream/hub.h"
#include "stream/sse.h"

#define SYMPTOMS_MAX 20
#define SYMPTOM_MAX 100

static bool text_ok(const char *s, size_t minc, size_t maxc)
{
    size_t len = strlen(s), chars = pw_utf8_chars(s, len);
    return pw_text_is_clean(s, len) && chars >= minc && chars <= maxc;
}

/* Multi-line text (concern, notes): tabs and newlines allowed, other controls not. */
static bool prose_ok(const char *s, size_t minc, size_t maxc)
{
    /* each run between tabs and newlines is clean text (no copy: out of memory, a copy made
     * a valid concern look invalid, a 400 for the server's failure) */
    size_t len = strlen(s), chars = pw_utf8_chars(s, len);
    for (const char *p = s; *p;) {
        size_t run = strcspn(p, "\n\r\t");
        if (!pw_text_is_clean(p, run)) return false;
        p += run;
        if (*p) p++;
    }
    return chars >= minc && chars <= maxc;
}

/* Validates the intake and returns it normalised as {"concern","symptoms","urgency"}. */
static json_t *read_intake(struct http_request *r, json_t *in)
{
    if (!json_is_object(in)) {
        http_error(r, PW_EINVAL,
                   "\"intake\" must be an object with concern, symptoms and urgency.");
        return NULL;
    }
    const char *concern = json_string_value(json_object_get(in, "concern"));
    if (!concern || !prose_ok(concern, PW_CONCERN_MIN, PW_CONCERN_MAX)) {
        http_errorf(r, PW_EINVAL, "\"intake.concern\" must be text of %d to %d characters.",
                    PW_CONCERN_MIN, PW_CONCERN_MAX);
        return NULL;
    }
    json_t *symptoms = json_object_get(in, "symptoms");
    if (symptoms && !json_is_null(symptoms) &&
        (!json_is_array(symptoms) || json_array_size(symptoms) > SYMPTOMS_MAX)) {
        http_errorf(r, PW_EINVAL, "\"intake.symptoms\" must be a list of at most %d texts.",
                    SYMPTOMS_MAX);
        return NULL;
    }
    json_t *clean = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(symptoms, i, v)
    {
        if (!json_is_string(v) || !text_ok(json_string_value(v), 1, SYMPTOM_MAX)) {
            json_decref(clean);
            http_errorf(r, PW_EINVAL, "Each symptom must be text of 1 to %d characters.",
                        SYMPTOM_MAX);
            return NULL;
        }
        if (json_array_append(clean, v) != 0) break; /* clean is NULL or short: 500 below */
    }
    if (!clean ||
        json_array_size(clean) != (json_is_array(symptoms) ? json_array_size(symptoms) : 0)) {
        json_decref(clean);
        http_error(r, PW_EINTERNAL, NULL);
        return NULL;
    }
    const char *urgency = json_string_value(json_object_get(in, "urgency"));
    if (!urgency ||
        (strcmp(urgency, "low") && strcmp(urgency, "medium") && strcmp(urgency, "high"))) {
        json_decref(clean);
        http_error(r, PW_EINVAL, "\"intake.urgency\" must be \"low\", \"medium\" or \"high\".");
        return NULL;
    }
    json_t *out =
        json_pack("{s:s, s:o, s:s}", "concern", concern, "symptoms", clean, "urgency", urgency);
    if (!out) http_error(r, PW_EINTERNAL, NULL);
    return out;
}

static void answer_session(struct http_request *r, const char *id, unsigned status);

void api_sessions_create(struct http_request *r)
{
    struct pw_app *app = r->app;
    if (!http_auth(r, 1u << PW_ROLE_CUSTOMER)) return;
    json_t *body = http_json_body(r);
    if (!body) return;
    struct pw_session s = {0};
    json_t *intake = NULL;
    enum pw_payment pay;

    const char *vehicle_id = json_string_value(json_object_get(body, "vehicle_id"));
    const char *plan_slug = json_string_value(json_object_get(body, "plan"));
    json_t *spec = json_object_get(body, "is_specialist");
    json_t *pref = json_object_get(body, "preferred_mechanic_id");
    const char *routing = json_string_value(json_object_get(body, "routing_type"));
    const char *method = json_string_value(json_object_get(body, "payment_method"));
    struct pw_vehicle vehicle;
    struct pw_plan plan;

    if (!vehicle_id || strlen(vehicle_id) > PW_ID_LEN) {
        http_error(r, PW_EINVAL, "\"vehicle_id\" is required.");
        goto out;
    }
    if (!plan_slug || strlen(plan_slug) >= sizeof plan.slug) {
        http_error(r, PW_EINVAL, "\"plan\" is required: a plan slug from /api/plans.");
        goto out;
    }
    if (spec && !json_is_boolean(spec)) {
        http_error(r, PW_EINVAL, "\"is_specialist\" must be true or false.");
        goto out;
    }
    if (!routing || (strcmp(routing, "broadcast") && strcmp(routing, "priority_broadcast"))) {
        http_error(r, PW_EINVAL,
                   "\"routing_type\" must be \"priority_broadcast\" or \"broadcast\".");
        goto out;
    }
    if (pref && !json_is_null(pref) &&
        (!json_is_string(pref) || json_string_length(pref) > PW_ID_LEN)) {
        http_error(r, PW_EINVAL, "\"preferred_mechanic_id\" must be a mechanic id or null.");
        goto out;
    }
    bool has_pref = json_is_string(pref) && json_string_length(pref) > 0;
    if (!strcmp(routing, "priority_broadcast") && !has_pref) {
        http_error(r, PW_EINVAL, "priority_broadcast needs a preferred_mechanic_id.");
        goto out;
    }
    if (has_pref && !pw_rollout_selected(app->rollout_percent, r->user->id)) {
        http_error(r, PW_EINVAL,
                   "Choosing a mechanic is not available for your account yet; "
                   "use \"routing_type\": \"broadcast\".");
        goto out;
    }
    if (!strcmp(routing, "broadcast") && has_pref) {
        http_error(r, PW_EINVAL, "broadcast must not name a preferred_mechanic_id.");
        goto out;
    }
    if (!json_is_true(json_object_get(body, "waiver_accepted"))) {
        http_error(r, PW_EINVAL, "The waiver must be accepted (\"waiver_accepted\": true).");
        goto out;
    }
    if (!method ||
        (strcmp(method, "free") && strcmp(method, "credits") && strcmp(method, "card"))) {
        http_error(r, PW_EINVAL, "\"payment_method\" must be \"free\", \"credits\" or \"card\".");
        goto out;
    }
    pay = !strcmp(method, "free")      ? PW_PAY_FREE
          : !strcmp(method, "credits") ? PW_PAY_CREDITS
                                       : PW_PAY_CARD;
    if (!(intake = read_intake(r, json_object_get(body, "intake")))) goto out;

    pw_err e = store_vehicle_get(app->store, vehicle_id, &vehicle);
    if (e == PW_ENOTFOUND ||
        (!e && (strcmp(vehicle.owner_id, r->user->id) != 0 || vehicle.deleted_at != 0))) {
        http_error(r, PW_ENOTFOUND, "No such vehicle among yours.");
        goto out;
    }
    if (e) {
        http_error(r, e, NULL);
        goto out;
    }
    if ((e = store_plan_get(app->store, plan_slug, &plan))) {
        http_error(r, e == PW_ENOTFOUND ? PW_EINVAL : e,
                   e == PW_ENOTFOUND ? "\"plan\" is not a plan of /api/plans." : NULL);
        goto out;
    }
    if (has_pref) {
        const struct pw_dir_mechanic *m = pw_dir_get(app->dir, json_string_value(pref));
        if (!m || !pw_dir_listed(m)) {
            http_error(r, PW_EINVAL, "The preferred mechanic cannot be booked.");
            goto out;
        }
        snprintf(s.preferred_mechanic_id, sizeof s.preferred_mechanic_id, "%s", m->m.id);
    }
    s.is_specialist = json_is_true(spec);
    s.price_cents = s.is_specialist ? plan.specialist_price_cents : plan.standard_price_cents;
    if (pay == PW_PAY_FREE && s.price_cents != 0) {
        http_error(r, PW_EINVAL,
                   "Only the free plan can be booked with \"payment_method\": \"free\".");
        goto out;
    }
    if (pay != PW_PAY_FREE && s.price_cents == 0) {
        http_error(r, PW_EINVAL, "The free plan is booked with \"payment_method\": \"free\".");
        goto out;
    }
    if (pay == PW_PAY_CARD && !app->cfg.stripe_secret_key[0]) {
        http_error(r, PW_ECARD, "Card payments are not configured on this server; use credits.");
        goto out;
    }

    pw_uuid_random(s.id);
    snprintf(s.customer_id, sizeof s.customer_id, "%s", r->user->id);
    snprintf(s.vehicle_id, sizeof s.vehicle_id, "%s", vehicle.id);
    snprintf(s.plan_slug, sizeof s.plan_slug, "%s", plan.slug);
    s.priority_routing = has_pref;
    if (!(s.intake_json = json_dumps(intake, JSON_COMPACT))) { /* not a NULL intake for the store */
        http_error(r, PW_EINTERNAL, NULL);
        goto out;
    }
    s.waiver_accepted_at = pw_clock_now(&app->clock);
    snprintf(s.rollout_group, sizeof s.rollout_group, "%s",
             pw_rollout_selected(app->rollout_percent, r->user->id) ? "selection" : "control");
    char live_id[PW_ID_LEN + 1] = "";
    if ((e = pw_routing_create(&app->routing, &s, pay, live_id))) {
        if (e == PW_ELIVE) /* the id lets the page offer "Return to the waiting room" */
            http_json(r, pw_err_status(e),
                      json_pack("{s:s, s:s, s:s}", "error", pw_err_code(e), "message",
                                pw_err_message(e), "session_id", live_id));
        else if (e == PW_ENOTFOUND) /* deleted in the meantime */
            http_error(r, e, "No such vehicle among yours.");
        else http_error(r, e, NULL);
        goto out;
    }
    if (pay == PW_PAY_CARD) {
        api_card_checkout(r, s.id); /* answers when Stripe has answered */
        goto out;
    }
    answer_session(r, s.id, 201);
out:
    json_decref(intake);
    json_decref(body);
    pw_session_clear(&s);
}

/* Who may see a session: its customer, its mechanic, a mechanic it was offered to, admins.
 * Anyone else gets 404, as if it did not exist. */
static bool may_see(struct http_request *r, const struct pw_session *s)
{
    const struct pw_user *u = r->user;
    if (u->role == PW_ROLE_ADMIN) return true;
    if (u->role == PW_ROLE_CUSTOMER) return strcmp(s->customer_id, u->id) == 0;
    if (!strcmp(s->assigned_mechanic_id, u->mechanic_id)) return true;
    struct pw_offer o;
    return store_offer_get(r->app->store, s->id, u->mechanic_id, &o) == PW_OK;
}

/* Loads the {id} session for the logged-in user; answers 401/403/404 and returns false. */
static bool load_session(struct http_request *r, unsigned roles, struct pw_session *s)
{
    if (!http_auth(r, roles)) return false;
    pw_err e = store_session_get(r->app->store, r->param, s);
    if (e == PW_OK && may_see(r, s)) return true;
    if (e == PW_OK || e == PW_ENOTFOUND) { /* someone else's session: as if it did not exist */
        if (e == PW_OK) pw_session_clear(s);
        http_error(r, PW_ENOTFOUND, "No such session.");
    } else {
        http_error(r, e, NULL);
    }
    return false;
}

/* The answer to a change that has committed (booking, accept, cancel, ...). The full session
 * object needs more reads and memory; when they fail the change still happened, so the client
 * gets its 2xx with the session's id (it can load the rest) instead of a 5xx that would tell
 * it the request failed and make it retry something already done. */
static void answer_session(struct http_request *r, const char *id, unsigned status)
{
    struct pw_session s;
    json_t *full = NULL;
    if (store_session_get(r->app->store, id, &s) == PW_OK) {
        full = api_session_json(r->app, &s);
        pw_session_clear(&s);
    }
    char minimal[PW_ID_LEN + 16];
    snprintf(minimal, sizeof minimal, "{\"id\":\"%s\"}", id);
    api_answer_committed(r, status, full, minimal);
}

void api_answer_committed(struct http_request *r, unsigned status, json_t *full,
                          const char *fallback)
{
    char *text = full ? json_dumps(full, JSON_COMPACT | JSON_REAL_PRECISION(3)) : NULL;
    json_decref(full);
    if (!text) {
        pw_log(PW_LOG_ERROR, "could not make the answer to a committed change; sent a short one",
               json_pack("{s:s}", "route", r->route ? r->route : ""));
        text = strdup(fallback);
    }
    if (text) http_json_text(r, status, text, strlen(text), MHD_RESPMEM_MUST_FREE);
    else http_error(r, PW_EINTERNAL, NULL); /* memory is gone twice over: nothing better */
}

void api_sessions_get(struct http_request *r)
{
    struct pw_session s;
    if (!load_session(r, HTTP_ANY_ROLE, &s)) return;
    http_json(r, 200, api_session_json(r->app, &s));
    pw_session_clear(&s);
}

struct list_ctx {
    struct pw_app *app;
    json_t *list;
    bool ok; /* every session made it into the list (a short list would look complete) */
};

static void add_session(void *ctx, const struct pw_session *s)
{
    struct list_ctx *c = ctx;
    if (json_array_append_new(c->list, api_session_json(c->app, s)) != 0) c->ok = false;
}

void api_sessions_list(struct http_request *r)
{
    if (!http_auth(r, (1u << PW_ROLE_CUSTOMER) | (1u << PW_ROLE_MECHANIC))) return;
    struct list_ctx c = {r->app, json_array(), true};
    bool customer = r->user->role == PW_ROLE_CUSTOMER;
    pw_err e = store_sessions_list(r->app->store, customer ? r->user->id : NULL,
                                   customer ? NULL : r->user->mechanic_id, 50, add_session, &c);
    if (!e && (!c.list || !c.ok)) e = PW_EINTERNAL;
    if (e) {
        json_decref(c.list);
        http_error(r, e, NULL);
        return;
    }
    http_json(r, 200, json_pack("{s:o}", "sessions", c.list));
}

static struct pw_dir_mechanic *me_mechanic(struct http_request *r)
{
    struct pw_dir_mechanic *m = pw_dir_get(r->app->dir, r->user->mechanic_id);
    if (!m) http_error(r, PW_ENOTFOUND, "This account has no mechanic profile.");
    return m;
}

static void routing_error(struct http_request *r, pw_err e)
{
    switch (e) {
    case PW_ETAKEN: http_error(r, e, NULL); break;
    case PW_EBUSY:
        http_error(r, e, "You are in a session; end it before accepting another.");
        break;
    default: http_error(r, e, NULL);
    }
}

static void mechanic_action(struct http_request *r, bool accept)
{
    if (!http_auth(r, 1u << PW_ROLE_MECHANIC)) return;
    struct pw_dir_mechanic *m = me_mechanic(r);
    if (!m) return;
    struct pw_session s;
    pw_err e = store_session_get(r->app->store, r->param, &s);
    if (e) {
        http_error(r, e == PW_ENOTFOUND ? PW_ENOTFOUND : e,
                   e == PW_ENOTFOUND ? "No such session." : NULL);
        return;
    }
    pw_session_clear(&s);
    e = accept ? pw_routing_accept(&r->app->routing, r->param, m)
               : pw_routing_decline(&r->app->routing, r->param, m);
    if (e) routing_error(r, e);
    else answer_session(r, r->param, 200);
}

void api_sessions_accept(struct http_request *r)
{
    mechanic_action(r, true);
}

void api_sessions_decline(struct http_request *r)
{
    mechanic_action(r, false);
}

void api_sessions_skip(struct http_request *r)
{
    struct pw_session s;
    if (!load_session(r, 1u << PW_ROLE_CUSTOMER, &s)) return;
    pw_session_clear(&s);
    pw_err e = pw_routing_skip(&r->app->routing, r->param);
    if (e == PW_ETAKEN)
        http_error(r, PW_ECONFLICT,
                   "The session is not waiting for the preferred mechanic any more.");
    else if (e) http_error(r, e, NULL);
    else answer_session(r, r->param, 200);
}

void api_sessions_cancel(struct http_request *r)
{
    struct pw_session s;
    if (!load_session(r, 1u << PW_ROLE_CUSTOMER, &s)) return;
    pw_session_clear(&s);
    pw_err e = pw_routing_cancel(&r->app->routing, r->param);
    if (e == PW_ETAKEN)
        http_error(r, e, "The session was already accepted, ended, cancelled or expired.");
    else if (e) http_error(r, e, NULL);
    else answer_session(r, r->param, 200);
}

void api_sessions_end(struct http_request *r)
{
    struct pw_session s;
    if (!load_session(r, 1u << PW_ROLE_MECHANIC, &s)) return;
    bool assigned = !strcmp(s.assigned_mechanic_id, r->user->mechanic_id);
    pw_session_clear(&s);
    if (!assigned) {
        http_error(r, PW_EFORBIDDEN, "Only the mechanic in this session can end it.");
        return;
    }
    const char *outcome = NULL, *notes = NULL;
    json_t *body = NULL;
    if (r->body_len > 0) {
        if (!(body = http_json_body(r))) return;
        json_t *o = json_object_get(body, "outcome"), *n = json_object_get(body, "notes");
        if (o && !json_is_null(o)) {
            outcome = json_string_value(o);
            if (!outcome || (strcmp(outcome, "resolved") && strcmp(outcome, "escalated") &&
                             strcmp(outcome, "unresolved"))) {
                http_error(r, PW_EINVAL,
                           "\"outcome\" must be \"resolved\", \"escalated\" or \"unresolved\".");
                json_decref(body);
                return;
            }
        }
        if (n && !json_is_null(n)) {
            notes = json_string_value(n);
            if (!notes || !prose_ok(notes, 0, PW_NOTES_MAX)) {
                http_errorf(r, PW_EINVAL, "\"notes\" must be text of at most %d characters.",
                            PW_NOTES_MAX);
                json_decref(body);
                return;
            }
        }
    }
    struct pw_dir_mechanic *m = me_mechanic(r);
    pw_err e = m ? pw_routing_end(&r->app->routing, r->param, m, outcome, notes) : PW_OK;
    if (m) {
        if (e == PW_ETAKEN) http_error(r, PW_ECONFLICT, "Only a session in progress can be ended.");
        else if (e) http_error(r, e, NULL);
        else answer_session(r, r->param, 200);
    }
    json_decref(body);
}

void api_sessions_rate(struct http_request *r)
{
    struct pw_session s;
    if (!load_session(r, 1u << PW_ROLE_CUSTOMER, &s)) return;
    bool ended = s.state == PW_SESSION_ENDED;
    pw_session_clear(&s);
    json_t *body = http_json_body(r);
    if (!body) return;
    json_t *score = json_object_get(body, "score"), *comment = json_object_get(body, "comment");
    const char *text = json_string_value(comment);
    if (!json_is_integer(score) || json_integer_value(score) < 0 ||
        json_integer_value(score) > 10) {
        http_error(r, PW_EINVAL, "\"score\" must be a whole number from 0 to 10.");
    } else if (comment && !json_is_null(comment) && (!text || !prose_ok(text, 0, PW_NOTES_MAX))) {
        http_errorf(r, PW_EINVAL, "\"comment\" must be text of at most %d characters.",
                    PW_NOTES_MAX);
    } else if (!ended) {
        http_error(r, PW_ECONFLICT, "A session can be rated once it has ended.");
    } else {
        pw_err e = store_session_set_rating(r->app->store, r->param, (int)json_integer_value(score),
                                            text, pw_clock_now(&r->app->clock));
        if (e == PW_ECONFLICT) http_error(r, e, "This session was already rated.");
        else if (e) http_error(r, e, NULL);
        else answer_session(r, r->param, 200);
    }
    json_decref(body);
}

void api_sessions_stream(struct http_request *r)
{
    struct pw_app *app = r->app;
    struct pw_session s;
    if (!load_session(r, 1u << PW_ROLE_CUSTOMER, &s)) return;
    if (!http_stream_admit(r)) {
        pw_session_clear(&s);
        return;
    }
    struct MHD_Response *resp;
    struct pw_stream *st = pw_stream_open(&app->streams, app->hub, PW_CHANNEL_SESSION, r->conn,
                                          pw_clock_now(&app->clock), NULL, NULL, &resp);
    if (!st) {
        pw_session_clear(&s);
        http_error(r, PW_EINTERNAL, "Could not open the stream.");
        return;
    }
    struct pw_hub_sub *sub = pw_stream_sub(st);
    char channel[PW_CHANNEL_LEN];
    pw_channel_name(PW_CHANNEL_SESSION, s.id, channel);
    pw_hub_sub_add_channel(sub, channel);
    int64_t last;
    if (api_stream_can_replay(r, &last)) {
        pw_hub_replay(app->hub, sub, last);
    } else {
        /* the steps up to the snapshot's id; the later ones follow as events */
        json_t *obj = api_session_json_upto(app, &s, pw_hub_latest_seq(app->hub));
        char *text = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(3));
        json_decref(obj);
        struct pw_hub_event *snap =
            text ? pw_sse_frame(pw_hub_latest_seq(app->hub), "snapshot", text) : NULL;
        free(text);
        if (snap) {
            pw_hub_sub_push(sub, snap);
            pw_hub_event_unref(snap);
        }
    }
    pw_session_clear(&s);
    r->is_stream = true;
    http_respond(r, 200, resp);
}

struct offers_ctx {
    struct pw_app *app;
    json_t *list;
    int64_t now;
    pw_err err; /* an offer could not be read or made: the list would miss it */
};

static void add_offer(void *ctx, const struct pw_offer *o)
{
    struct offers_ctx *c = ctx;
    if (o->expires_at <= c->now || c->err) return;
    struct pw_session s;
    pw_err e = store_session_get(c->app->store, o->session_id, &s);
    if (e) {
        c->err = e;
        return;
    }
    if ((s.state == PW_SESSION_PRIORITY || s.state == PW_SESSION_BROADCAST) &&
        json_array_append_new(c->list, pw_routing_offer_json(&c->app->routing, &s, o)) != 0)
        c->err = PW_EINTERNAL;
    pw_session_clear(&s);
}

/* The live offers of the logged-in mechanic (the dashboard loads them, then follows its
 * stream). */
void api_mechanic_offers(struct http_request *r)
{
    if (!http_auth(r, 1u << PW_ROLE_MECHANIC)) return;
    struct offers_ctx c = {r->app, json_array(), pw_clock_now(&r->app->clock), PW_OK};
    pw_err e = store_offers_live_of_mechanic(r->app->store, r->user->mechanic_id, add_offer, &c);
    if (!e) e = c.list ? c.err : PW_EINTERNAL;
    if (e) {
        json_decref(c.list);
        http_error(r, e, NULL);
        return;
    }
    http_json(r, 200, json_pack("{s:o}", "offers", c.list));
}
