/* Card payments through Stripe Checkout, and Stripe's webhook (SPEC §4.5, §4.7).
 *
 * Checkout: the session is already stored in awaiting_payment; the call to Stripe (blocking
 * libcurl, up to 15 s) runs on the worker pool while the request waits suspended, and its
 * done() answers on the event-loop thread: 201 with checkout_url, or 502 with the session
 * cancelled (nothing was charged).
 *
 * Webhook: authenticated by its Stripe-Signature only (no cookie, no CSRF). The effect of an
 * event is applied first and its id recorded after: the effect is idempotent by the session's
 * state (only an awaiting_payment session starts routing; a late payment is credited only while
 * payment_status is pending), so a redelivery changes nothing, and a failure between the two
 * leaves the event unrecorded for Stripe's retry rather than recorded but lost. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "api/api.h"
#include "app.h"
#include "core/log.h"
#include "payments/stripe.h"
#include "routing/routing.h"
#include "store/store.h"

#define CARD_DISABLED_REASON "Card payments are not configured on this server."
#define EVENT_ID_MAX 255

/* ---- Checkout ---- */

struct checkout_job {
    struct pw_job job;
    struct http_request *r;
    struct pw_stripe_checkout_req req;
    struct pw_stripe_checkout res;
    pw_err e;
};

static void checkout_job_free(void *p)
{
    struct checkout_job *j = p;
    pw_stripe_checkout_clear(&j->res);
    free(j);
}

static void checkout_run(struct pw_job *job)
{
    struct checkout_job *j = (struct checkout_job *)job;
    j->e = pw_stripe_checkout_create(&j->req, &j->res);
}

/* Nothing is left half-written: a session whose checkout could not start is cancelled (a
 * card session that was never paid is not refunded: nothing was charged). */
static void checkout_failed(struct http_request *r, const char *session_id, pw_err answer,
                            const char *message)
{
    pw_err c = pw_routing_cancel(&r->app->routing, session_id);
    if (c && c != PW_ETAKEN)
        pw_log(PW_LOG_ERROR, "could not cancel a session after a failed checkout",
               json_pack("{s:s, s:s}", "session_id", session_id, "error", pw_err_code(c)));
    http_error(r, answer, message);
}

static void checkout_done(struct pw_job *job)
{
    struct checkout_job *j = (struct checkout_job *)job;
    struct http_request *r = j->r;
    struct pw_app *app = r->app;
    const char *id = j->req.session_id;
    if (j->e) {
        pw_log(PW_LOG_WARN, "stripe checkout failed",
               json_pack("{s:s, s:I, s:s}", "session_id", id, "http_status",
                         (json_int_t)j->res.http_status, "error", j->res.error));
        checkout_failed(r, id, PW_EUPSTREAM,
                        "The payment provider could not start the checkout; nothing was charged "
                        "and the request was cancelled. Try again, or pay with credits.");
    } else {
        pw_err e = store_session_set_checkout(app->store, id, j->res.id, j->res.url);
        struct pw_session s;
        if (!e) e = store_session_get(app->store, id, &s);
        if (e) {
            checkout_failed(r, id, e, NULL);
        } else {
            pw_log(PW_LOG_INFO, "stripe checkout created",
                   json_pack("{s:s, s:s}", "session_id", id, "checkout_id", j->res.id));
            http_json(r, 201, api_session_json(app, &s));
            pw_session_clear(&s);
        }
    }
    sodium_memzero(j->req.secret_key, sizeof j->req.secret_key);
    http_resume(r);
}

void api_card_checkout(struct http_request *r, const char *session_id)
{
    struct pw_app *app = r->app;
    struct pw_session s;
    struct pw_plan plan;
    pw_err e = store_session_get(app->store, session_id, &s);
    if (e) {
        checkout_failed(r, session_id, e, NULL);
        return;
    }
    e = store_plan_get(app->store, s.plan_slug, &plan);
    struct checkout_job *j = e ? NULL : calloc(1, sizeof *j);
    if (!j) {
        pw_session_clear(&s);
        checkout_failed(r, session_id, e ? e : PW_EINTERNAL, NULL);
        return;
    }
    /* the worker touches only the job: copy in everything it needs */
    struct pw_stripe_checkout_req *q = &j->req;
    q->stripe = &app->stripe;
    snprintf(q->api_base, sizeof q->api_base, "%s", app->cfg.stripe_api_base);
    snprintf(q->secret_key, sizeof q->secret_key, "%s", app->cfg.stripe_secret_key);
    snprintf(q->public_url, sizeof q->public_url, "%s", app->cfg.public_url);
    snprintf(q->session_id, sizeof q->session_id, "%s", s.id);
    snprintf(q->product_name, sizeof q->product_name, "%s - %s", plan.name,
             s.is_specialist ? "Brand Specialist" : "Standard");
    snprintf(q->currency, sizeof q->currency, "cad");
    q->amount_cents = s.price_cents;
    pw_session_clear(&s);

    j->r = r;
    j->job.run = checkout_run;
    j->job.done = checkout_done;
    r->state = j;
    r->state_free = checkout_job_free;
    http_defer_io(r, &j->job);
}

/* ---- configuration for the UI ---- */

void api_payments_config(struct http_request *r)
{
    bool on = r->app->cfg.stripe_secret_key[0] != '\0';
    http_json(r, 200,
              json_pack("{s:b, s:s?}", "card_enabled", on, "card_disabled_reason",
                        on ? NULL : CARD_DISABLED_REASON));
}

/* ---- webhook ---- */

static bool clean_id(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    return n > 0 && n <= max && pw_text_is_clean(s, n);
}

/* A card payment that arrives after its session was cancelled or expired unpaid (the
 * Checkout page outlives both) comes back as credits, once: payment_status pending ->
 * refunded, in one transaction with the credit. */
static pw_err credit_late_payment(struct pw_app *app, const struct pw_session *s)
{
    struct store_transition t = {.from = 1u << s->state,
                                 .to = s->state,
                                 .at = pw_clock_now(&app->clock),
                                 .payment_status = "refunded"};
    pw_err e = store_tx_begin(app->store);
    if (e) return e;
    e = store_session_transition(app->store, s->id, &t);
    if (!e) e = store_user_credit(app->store, s->customer_id, s->price_cents);
    if (!e) e = store_tx_commit(app->store);
    else store_tx_rollback(app->store);
    if (e == PW_ETAKEN) e = PW_OK; /* changed under us: nothing to do */
    if (!e)
        pw_log(PW_LOG_WARN, "late card payment credited",
               json_pack("{s:s, s:s, s:I}", "session_id", s->id, "state",
                         pw_session_state_name(s->state), "cents", (json_int_t)s->price_cents));
    return e;
}

/* checkout.session.completed (paid) or checkout.session.async_payment_succeeded. */
static pw_err checkout_paid(struct pw_app *app, json_t *obj, const char *event_id)
{
    const char *sid = json_string_value(json_object_get(obj, "client_reference_id"));
    if (!sid)
        sid = json_string_value(
            json_object_get(json_object_get(obj, "metadata"), "pitwall_session_id"));
    if (!clean_id(sid, PW_ID_LEN)) return PW_OK; /* not one of ours */

    struct pw_session s;
    pw_err e = store_session_get(app->store, sid, &s);
    if (e == PW_ENOTFOUND) {
        pw_log(PW_LOG_INFO, "stripe event for an unknown session ignored",
               json_pack("{s:s, s:s}", "event_id", event_id, "session_id", sid));
        return PW_OK;
    }
    if (e) return e;
    const char *cs = json_string_value(json_object_get(obj, "id"));
    if (strcmp(s.payment_method, "card") != 0) {
        pw_log(PW_LOG_WARN, "stripe event for a session not paid by card ignored",
               json_pack("{s:s, s:s}", "event_id", event_id, "session_id", sid));
    } else if (s.checkout_id[0] && cs && strcmp(cs, s.checkout_id) != 0) {
        pw_log(PW_LOG_WARN, "stripe event for another checkout of the session ignored",
               json_pack("{s:s, s:s, s:s}", "event_id", event_id, "session_id", sid, "checkout_id",
                         cs));
    } else if (s.state == PW_SESSION_AWAITING_PAYMENT) {
        e = pw_routing_paid(&app->routing, sid); /* a no-op unless still awaiting payment */
    } else if ((s.state == PW_SESSION_CANCELLED || s.state == PW_SESSION_EXPIRED) &&
               !strcmp(s.payment_status, "pending")) {
        e = credit_late_payment(app, &s);
    }
    pw_session_clear(&s);
    return e;
}

static pw_err handle_event(struct pw_app *app, const char *id, const char *type, json_t *obj)
{
    if (!strcmp(type, "checkout.session.completed")) {
        /* with delayed payment methods "unpaid" comes first and async_payment_succeeded later */
        const char *ps = json_string_value(json_object_get(obj, "payment_status"));
        if (ps && strcmp(ps, "paid") != 0 && strcmp(ps, "no_payment_required") != 0) return PW_OK;
        return checkout_paid(app, obj, id);
    }
    if (!strcmp(type, "checkout.session.async_payment_succeeded"))
        return checkout_paid(app, obj, id);
    return PW_OK; /* a type pitwall does not act on */
}

void api_stripe_webhook(struct http_request *r)
{
    struct pw_app *app = r->app;
    const char *secret = app->cfg.stripe_webhook_secret;
    if (!secret[0]) {
        http_error(r, PW_EBADSIG, "Stripe webhooks are not configured on this server.");
        return;
    }
    int64_t now_ms = pw_clock_now(&app->clock);
    if (!pw_stripe_verify(http_header(r, "Stripe-Signature"), r->body, r->body_len, secret,
                          now_ms / 1000, PW_STRIPE_TOLERANCE_S)) {
        pw_log(PW_LOG_WARN, "stripe webhook with a bad signature refused", NULL);
        http_error(r, PW_EBADSIG, NULL);
        return;
    }
    json_error_t jerr;
    json_t *ev =
        r->body_len ? json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!json_is_object(ev)) {
        json_decref(ev);
        http_error(r, PW_EJSON, "The event is not a JSON object.");
        return;
    }
    const char *id = json_string_value(json_object_get(ev, "id"));
    const char *type = json_string_value(json_object_get(ev, "type"));
    if (!clean_id(id, EVENT_ID_MAX) || !clean_id(type, EVENT_ID_MAX)) {
        json_decref(ev);
        http_error(r, PW_EINVAL, "The event needs an \"id\" and a \"type\".");
        return;
    }
    json_t *obj = json_object_get(json_object_get(ev, "data"), "object");
    pw_err e = handle_event(app, id, type, json_is_object(obj) ? obj : NULL);
    if (!e) e = store_stripe_event_record(app->store, id, type, now_ms);
    if (e == PW_ECONFLICT) {
        http_json(r, 200, json_pack("{s:b, s:b}", "received", 1, "duplicate", 1));
    } else if (e) {
        /* not recorded: Stripe retries, and the effect is idempotent */
        http_error(r, e, NULL);
    } else {
        http_json(r, 200, json_pack("{s:b}", "received", 1));
    }
    json_decref(ev);
}
