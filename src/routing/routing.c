#include "routing/routing.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "presence/directory.h"
#include "store/store.h"

#define MASK(s) (1u << (s))
#define OPEN_STATES                                                                                \
    (MASK(PW_SESSION_AWAITING_PAYMENT) | MASK(PW_SESSION_PRIORITY) | MASK(PW_SESSION_BROADCAST))
#define ROUTING_STATES (MASK(PW_SESSION_PRIORITY) | MASK(PW_SESSION_BROADCAST))

/* ---- events: appended inside the transaction; the store publishes them after its commit ---- */

static pw_err emit(struct pw_routing *r, const char *type, const char *channel, json_t *payload)
{
    char *text = json_dumps(payload, JSON_COMPACT | JSON_REAL_PRECISION(3));
    json_decref(payload);
    if (!text) return PW_EINTERNAL;
    struct store_event ev = {
        .type = type, .channel = channel, .payload = text, .created_at = pw_clock_now(r->clock)};
    pw_err e = store_event_append(r->store, &ev);
    free(text);
    return e;
}

/* Commits (the store then publishes the events), or rolls back and drops them. */
static pw_err finish(struct pw_routing *r, pw_err e)
{
    if (!e) return store_tx_commit(r->store);
    store_tx_rollback(r->store);
    return e;
}

/* ---- the offer payload (the API's offer list sends the same) ---- */

struct details {
    struct pw_vehicle vehicle;
    struct pw_plan plan;
    char first_name[PW_NAME_MAX + 1];
};

/* The vehicle, plan and customer of s. A failed read is an error, never blank details: an
 * offer without its vehicle would be sent as if it were complete. */
static pw_err load_details(struct pw_routing *r, const struct pw_session *s, struct details *d)
{
    memset(d, 0, sizeof *d);
    struct pw_user u;
    pw_err e = store_vehicle_get(r->store, s->vehicle_id, &d->vehicle);
    if (!e) e = store_plan_get(r->store, s->plan_slug, &d->plan);
    if (!e) e = store_user_by_id(r->store, s->customer_id, &u);
    if (e) return e;
    size_t n = strcspn(u.name, " ");
    snprintf(d->first_name, sizeof d->first_name, "%.*s", (int)n, u.name);
    return PW_OK;
}

static json_t *offer_json_with(const struct pw_session *s, const struct pw_offer *o,
                               const struct details *d)
{
    json_t *intake = pw_json_intake(s->intake_json);
    const char *concern = json_string_value(json_object_get(intake, "concern"));
    json_t *j = json_pack(
        "{s:s, s:s, s:o, s:o, s:o, s:{s:s, s:s}, s:b, s:s, s:s}", "session_id", s->id, "kind",
        pw_offer_kind_name(o->kind), "offered_at", pw_json_iso_or_null(o->offered_at), "expires_at",
        pw_json_iso_or_null(o->expires_at), "vehicle", pw_json_vehicle(&d->vehicle), "plan", "slug",
        d->plan.slug, "name", d->plan.name, "is_specialist", s->is_specialist, "concern",
        concern ? concern : "", "customer_first_name", d->first_name);
    json_decref(intake);
    return j;
}

json_t *pw_routing_offer_json(struct pw_routing *r, const struct pw_session *s,
                              const struct pw_offer *o)
{
    struct details d;
    if (load_details(r, s, &d) != PW_OK) return NULL;
    return offer_json_with(s, o, &d);
}

/* ---- steps ---- */

static pw_err step(struct pw_routing *r, const struct pw_session *s, const char *name,
                   const struct pw_dir_mechanic *m, int count)
{
    char channel[PW_CHANNEL_LEN];
    pw_channel_name(PW_CHANNEL_SESSION, s->id, channel);
    char at[PW_ISO_LEN + 1];
    pw_iso8601(pw_clock_now(r->clock), at);
    json_t *p = json_pack("{s:s, s:s, s:s}", "session_id", s->id, "step", name, "at", at);
    bool ok = true;
    if (m) {
        pw_json_set(p, "mechanic_id", json_string(m->m.id), &ok);
        pw_json_set(p, "mechanic_name", json_string(m->m.name), &ok);
    }
    if (count >= 0) pw_json_set(p, "count", json_integer(count), &ok);
    if (!ok) { /* a step without its mechanic is not the step that happened */
        json_decref(p);
        return PW_EINTERNAL;
    }
    pw_log(PW_LOG_INFO, "routing",
           json_pack("{s:s, s:s, s:s?, s:i}", "session_id", s->id, "step", name, "mechanic_id",
                     m ? m->m.id : NULL, "count", count));
    return emit(r, "routing", channel, p);
}

static pw_err send_offer(struct pw_routing *r, const struct pw_session *s, const struct details *d,
                         struct pw_dir_mechanic *m, enum pw_offer_kind kind, int64_t expires_at)
{
    struct pw_offer o = {
        .kind = kind, .offered_at = pw_clock_now(r->clock), .expires_at = expires_at};
    snprintf(o.session_id, sizeof o.session_id, "%s", s->id);
    snprintf(o.mechanic_id, sizeof o.mechanic_id, "%s", m->m.id);
    pw_err e = store_offer_insert(r->store, &o);
    if (e) return e;
    char channel[PW_CHANNEL_LEN];
    pw_channel_name(PW_CHANNEL_MECHANIC, m->m.id, channel);
    return emit(r, "offer", channel, offer_json_with(s, &o, d));
}

static pw_err tell_holder(struct pw_routing *r, const char *mechanic_id, const char *session_id,
                          const char *type, const char *reason)
{
    char channel[PW_CHANNEL_LEN];
    pw_channel_name(PW_CHANNEL_MECHANIC, mechanic_id, channel);
    json_t *p = reason ? json_pack("{s:s, s:s}", "session_id", session_id, "reason", reason)
                       : json_pack("{s:s}", "session_id", session_id);
    return emit(r, type, channel, p);
}

/* A small set of ids (mechanics or sessions), collected from the store before acting. */
struct id_list {
    char (*ids)[PW_ID_LEN + 1];
    size_t n, cap;
    pw_err err; /* an id could not be added: the list is incomplete and must not be acted on */
};

static bool id_list_has(const struct id_list *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->ids[i], id) == 0) return true;
    return false;
}

/* Adds id once. Out of memory it records PW_EINTERNAL in l->err rather than drop the id
 * silently: a holder missing from the list would never hear of a cancel. */
static void id_list_add(struct id_list *l, const char *id)
{
    if (id_list_has(l, id)) return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        void *grown = realloc(l->ids, cap * sizeof *l->ids);
        if (!grown) {
            l->err = PW_EINTERNAL;
            return;
        }
        l->ids = grown;
        l->cap = cap;
    }
    snprintf(l->ids[l->n++], PW_ID_LEN + 1, "%s", id);
}

/* Who already holds or held an offer of this session: they are not offered it again
 * (a preferred mechanic whose priority offer merely ended may join the broadcast). */
static void collect_offer(void *ctx, const struct pw_offer *o)
{
    if (o->kind == PW_OFFER_PRIORITY && o->outcome != PW_OFFER_DECLINED &&
        o->outcome != PW_OFFER_LIVE)
        return;
    id_list_add(ctx, o->mechanic_id);
}

struct candidates {
    struct pw_dir_mechanic **list;
    size_t n, cap;
    const struct id_list *taken;
    bool is_specialist;
    const char *make;
    pw_err err; /* a candidate could not be kept: the ranking would be wrong */
};

static void consider(void *ctx, struct pw_dir_mechanic *m)
{
    struct candidates *c = ctx;
    if (!pw_dir_listed(m) || m->m.presence != PW_ONLINE) return;
    if (!pw_dir_matches(m, c->is_specialist, c->make) || id_list_has(c->taken, m->m.id)) return;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        void *grown = realloc(c->list, cap * sizeof *c->list);
        if (!grown) {
            c->err = PW_EINTERNAL;
            return;
        }
        c->list = grown;
        c->cap = cap;
    }
    c->list[c->n++] = m;
}

static int rank_cmp(const void *a, const void *b)
{
    return pw_dir_rank_cmp(*(struct pw_dir_mechanic *const *)a,
                           *(struct pw_dir_mechanic *const *)b);
}

/* Offers s to the top matches, ranked as the directory ranks them, without a city filter. */
static pw_err broadcast(struct pw_routing *r, const struct pw_session *s)
{
    if (s->expires_at <= pw_clock_now(r->clock)) return PW_OK; /* its expiry comes next */
    struct details d;
    pw_err e = load_details(r, s, &d);
    if (e) return e;
    struct id_list taken = {0};
    e = store_offers_of_session(r->store, s->id, collect_offer, &taken);
    if (!e) e = taken.err;
    struct candidates c = {
        .taken = &taken, .is_specialist = s->is_specialist, .make = d.vehicle.make};
    if (!e) pw_dir_each(r->dir, consider, &c);
    if (!e) e = c.err;
    if (c.n) qsort(c.list, c.n, sizeof *c.list, rank_cmp); /* nobody online: list is NULL */
    int count = 0;
    for (size_t i = 0; !e && i < c.n && count < r->broadcast_size; i++, count++)
        e = send_offer(r, s, &d, c.list[i], PW_OFFER_BROADCAST, s->expires_at);
    if (!e) e = step(r, s, "broadcast", NULL, count);
    free(c.list);
    free(taken.ids);
    r->broadcasts++;
    return e;
}

/* Moves s from awaiting_payment into routing: the priority offer, or the broadcast. */
static pw_err start_routing(struct pw_routing *r, struct pw_session *s)
{
    int64_t now = pw_clock_now(r->clock);
    struct pw_dir_mechanic *pref =
        s->priority_routing ? pw_dir_get(r->dir, s->preferred_mechanic_id) : NULL;
    bool priority = pref && pref->m.presence != PW_BUSY && pw_dir_listed(pref);
    struct store_transition t = {.from = MASK(PW_SESSION_AWAITING_PAYMENT),
                                 .to = priority ? PW_SESSION_PRIORITY : PW_SESSION_BROADCAST,
                                 .at = now,
                                 .payment_status = "paid"};
    pw_err e = store_session_transition(r->store, s->id, &t);
    if (e) return e;
    s->state = t.to;
    snprintf(s->payment_status, sizeof s->payment_status, "paid");
    if (priority) {
        struct details d;
        e = load_details(r, s, &d);
        if (!e) e = send_offer(r, s, &d, pref, PW_OFFER_PRIORITY, s->priority_ends_at);
        if (!e) e = step(r, s, "priority_offered", pref, -1);
        return e;
    }
    /* a preferred mechanic who is busy (or no longer bookable) ends the window at once */
    if (s->priority_routing) e = step(r, s, "priority_expired", pref, -1);
    return e ? e : broadcast(r, s);
}

pw_err pw_routing_create(struct pw_routing *r, struct pw_session *s, enum pw_payment pay,
                         char live_id[PW_ID_LEN + 1])
{
    int64_t now = pw_clock_now(r->clock);
    s->created_at = now;
    s->priority_ends_at = now + r->priority_window_ms;
    s->expires_at = now + r->request_ttl_ms;
    s->state = PW_SESSION_AWAITING_PAYMENT;
    snprintf(s->payment_method, sizeof s->payment_method, "%s",
             pay == PW_PAY_FREE      ? "free"
             : pay == PW_PAY_CREDITS ? "credits"
                                     : "card");
    snprintf(s->payment_status, sizeof s->payment_status, "pending");
    pw_err e = store_tx_begin(r->store);
    if (e) return e;
    /* before any charge: another live session of the customer, or a vehicle deleted since */
    e = store_session_claim(r->store, s->customer_id, s->vehicle_id, live_id);
    if (!e && pay == PW_PAY_FREE) e = store_user_use_free(r->store, s->customer_id);
    if (!e && pay == PW_PAY_CREDITS) e = store_user_debit(r->store, s->customer_id, s->price_cents);
    if (!e) e = store_session_insert(r->store, s);
    if (!e && pay != PW_PAY_CARD) e = start_routing(r, s);
    e = finish(r, e);
    if (!e) r->created++;
    return e;
}

pw_err pw_routing_paid(struct pw_routing *r, const char *session_id)
{
    struct pw_session s;
    pw_err e = store_session_get(r->store, session_id, &s);
    if (e) return e;
    if (s.state == PW_SESSION_AWAITING_PAYMENT && !(e = store_tx_begin(r->store))) {
        e = start_routing(r, &s);
        if (e == PW_ETAKEN) e = PW_OK; /* paid twice at once: the first one routed it */
        e = finish(r, e);
    }
    pw_session_clear(&s);
    return e;
}

/* Ends the priority window of s (in the caller's transaction): the preferred mechanic's
 * offer, unless they declined it, is closed as close_as and withdrawn (reason
 * "priority_ended"), and the session is broadcast. Closed as declined (they went offline by
 * hand), the offer keeps them out of this session's broadcast, also when they come back. */
static pw_err end_priority(struct pw_routing *r, struct pw_session *s, const char *why,
                           enum pw_offer_outcome close_as)
{
    struct store_transition t = {.from = MASK(PW_SESSION_PRIORITY),
                                 .to = PW_SESSION_BROADCAST,
                                 .at = pw_clock_now(r->clock)};
    pw_err e = store_session_transition(r->store, s->id, &t);
    if (e) return e; /* PW_ETAKEN: someone else ended it first */
    s->state = PW_SESSION_BROADCAST;
    struct pw_dir_mechanic *pref = pw_dir_get(r->dir, s->preferred_mechanic_id);
    int closed = 0;
    e = store_offers_close(r->store, s->id, s->preferred_mechanic_id, close_as, t.at, &closed);
    if (!e && closed)
        e = tell_holder(r, s->preferred_mechanic_id, s->id, "offer_withdrawn", "priority_ended");
    if (!e) e = step(r, s, why, pref, -1);
    return e ? e : broadcast(r, s);
}

/* Runs the priority end for one session in its own transaction. */
static pw_err priority_end_tx(struct pw_routing *r, const char *id, const char *why,
                              enum pw_offer_outcome close_as)
{
    struct pw_session s;
    pw_err e = store_session_get(r->store, id, &s);
    if (e) return e;
    if (s.state != PW_SESSION_PRIORITY) {
        pw_session_clear(&s);
        return PW_ETAKEN;
    }
    if (!(e = store_tx_begin(r->store))) e = finish(r, end_priority(r, &s, why, close_as));
    pw_session_clear(&s);
    return e;
}

/* The holders of live offers (told when the session closes or is taken). */
static void collect_live(void *ctx, const struct pw_offer *o)
{
    if (o->outcome == PW_OFFER_LIVE) id_list_add(ctx, o->mechanic_id);
}

/* Closes s for good (cancel or expiry): refund, offers closed, holders told. */
static pw_err close_session(struct pw_routing *r, struct pw_session *s, enum pw_session_state to)
{
    int64_t now = pw_clock_now(r->clock);
    bool refund = !strcmp(s->payment_status, "paid") && s->price_cents > 0 &&
                  strcmp(s->payment_method, "free") != 0;
    bool free_back = !strcmp(s->payment_method, "free");
    struct store_transition t = {.from = OPEN_STATES,
                                 .to = to,
                                 .at = now,
                                 .payment_status = refund || free_back ? "refunded" : NULL};
    struct id_list h = {0};
    pw_err e = store_tx_begin(r->store);
    if (e) return e;
    e = store_session_transition(r->store, s->id, &t);
    /* credits and card payments come back as credits; a free session is given back */
    if (!e && refund) e = store_user_credit(r->store, s->customer_id, s->price_cents);
    if (!e && !strcmp(s->payment_method, "free"))
        e = store_user_release_free(r->store, s->customer_id);
    if (!e) e = store_offers_of_session(r->store, s->id, collect_live, &h);
    if (!e) e = h.err;
    if (!e)
        e = store_offers_close(r->store, s->id, NULL,
                               to == PW_SESSION_EXPIRED ? PW_OFFER_EXPIRED : PW_OFFER_WITHDRAWN,
                               now, NULL);
    for (size_t i = 0; !e && i < h.n; i++)
        e = to == PW_SESSION_EXPIRED ? tell_holder(r, h.ids[i], s->id, "offer_withdrawn", "expired")
                                     : tell_holder(r, h.ids[i], s->id, "session_cancelled", NULL);
    if (!e) e = step(r, s, to == PW_SESSION_EXPIRED ? "expired" : "cancelled", NULL, -1);
    free(h.ids);
    e = finish(r, e);
    if (!e) {
        if (to == PW_SESSION_EXPIRED) r->expired++;
        else r->cancelled++;
    }
    return e;
}

pw_err pw_routing_cancel(struct pw_routing *r, const char *session_id)
{
    struct pw_session s;
    pw_err e = store_session_get(r->store, session_id, &s);
    if (e) return e;
    e = (MASK(s.state) & OPEN_STATES) ? close_session(r, &s, PW_SESSION_CANCELLED) : PW_ETAKEN;
    pw_session_clear(&s);
    return e;
}

pw_err pw_routing_skip(struct pw_routing *r, const char *session_id)
{
    return priority_end_tx(r, session_id, "priority_skipped", PW_OFFER_WITHDRAWN);
}

/* The offer m holds for s, checked: PW_ENOTOFFERED if never offered, PW_ETAKEN if it ended. */
static pw_err live_offer(struct pw_routing *r, const struct pw_session *s,
                         const struct pw_dir_mechanic *m, struct pw_offer *o)
{
    pw_err e = store_offer_get(r->store, s->id, m->m.id, o);
    if (e == PW_ENOTFOUND) return PW_ENOTOFFERED;
    if (e) return e;
    if (o->outcome != PW_OFFER_LIVE || !(MASK(s->state) & ROUTING_STATES) ||
        o->expires_at <= pw_clock_now(r->clock))
        return PW_ETAKEN;
    return PW_OK;
}

pw_err pw_routing_accept(struct pw_routing *r, const char *session_id, struct pw_dir_mechanic *m)
{
    struct pw_session s;
    pw_err e = store_session_get(r->store, session_id, &s);
    if (e) return e;
    struct pw_offer o;
    if ((e = live_offer(r, &s, m, &o))) goto out;
    if (m->m.presence == PW_BUSY) {
        e = PW_EBUSY;
        goto out;
    }
    int64_t now = pw_clock_now(r->clock);
    struct id_list h = {0};
    if ((e = store_tx_begin(r->store))) goto out;
    /* the one conditional UPDATE that decides the winner */
    struct store_transition t = {
        .from = ROUTING_STATES, .to = PW_SESSION_ACCEPTED, .at = now, .assigned = m->m.id};
    e = store_session_transition(r->store, s.id, &t);
    if (!e) e = store_offers_close(r->store, s.id, m->m.id, PW_OFFER_ACCEPTED, now, NULL);
    if (!e) e = store_offers_of_session(r->store, s.id, collect_live, &h);
    if (!e) e = h.err;
    if (!e) e = store_offers_close(r->store, s.id, NULL, PW_OFFER_WITHDRAWN, now, NULL);
    for (size_t i = 0; !e && i < h.n; i++)
        e = tell_holder(r, h.ids[i], s.id, "offer_withdrawn", "accepted_by_other");
    if (!e) {
        snprintf(s.assigned_mechanic_id, sizeof s.assigned_mechanic_id, "%s", m->m.id);
        e = step(r, &s, "accepted", m, -1);
    }
    free(h.ids);
    if ((e = finish(r, e))) goto out;
    r->accepted++;
    pw_dir_add_delay(r->dir, m->m.id, now - o.offered_at);
    /* presence follows the committed accept (pw_routing_init repairs a crash in between) */
    pw_presence_change(r->presence, m, PW_BUSY, PW_REASON_SESSION_ACCEPTED);
out:
    pw_session_clear(&s);
    return e;
}

pw_err pw_routing_decline(struct pw_routing *r, const char *session_id, struct pw_dir_mechanic *m)
{
    struct pw_session s;
    pw_err e = store_session_get(r->store, session_id, &s);
    if (e) return e;
    struct pw_offer o;
    if ((e = live_offer(r, &s, m, &o))) goto out;
    if ((e = store_tx_begin(r->store))) goto out;
    int closed = 0;
    e = store_offers_close(r->store, s.id, m->m.id, PW_OFFER_DECLINED, pw_clock_now(r->clock),
                           &closed);
    if (!e && !closed) e = PW_ETAKEN;
    if (!e && o.kind == PW_OFFER_PRIORITY && s.state == PW_SESSION_PRIORITY)
        e = end_priority(r, &s, "priority_declined", PW_OFFER_WITHDRAWN);
    e = finish(r, e);
    if (!e) r->declined++;
out:
    pw_session_clear(&s);
    return e;
}

pw_err pw_routing_end(struct pw_routing *r, const char *session_id, struct pw_dir_mechanic *m,
                      const char *outcome, const char *notes)
{
    struct pw_session s;
    pw_err e = store_session_get(r->store, session_id, &s);
    if (e) return e;
    if (strcmp(s.assigned_mechanic_id, m->m.id) != 0) {
        e = PW_EFORBIDDEN;
        goto out;
    }
    if ((e = store_tx_begin(r->store))) goto out;
    struct store_transition t = {
        .from = MASK(PW_SESSION_ACCEPTED), .to = PW_SESSION_ENDED, .at = pw_clock_now(r->clock)};
    e = store_session_transition(r->store, s.id, &t);
    if (!e) e = store_session_set_outcome(r->store, s.id, outcome, notes);
    if (!e) e = step(r, &s, "ended", m, -1);
    if ((e = finish(r, e))) goto out;
    /* back to work if still connected, otherwise offline */
    int64_t now = pw_clock_now(r->clock);
    bool connected = m->open_streams > 0 || now - m->m.last_seen_at < r->presence->timeout_ms;
    pw_presence_change(r->presence, m, connected ? PW_ONLINE : PW_OFFLINE, PW_REASON_SESSION_ENDED);
out:
    pw_session_clear(&s);
    return e;
}

/* ---- presence hook: late joiners and busy preferred mechanics ---- */

struct presence_ctx {
    struct pw_dir_mechanic *m;
    struct id_list sessions;
};

static void collect_session(void *ctx, const struct pw_session *s)
{
    struct presence_ctx *c = ctx;
    id_list_add(&c->sessions, s->id);
}

/* A background step (presence hook, timer, suspension) that failed: nobody waits for its
 * answer, so it is logged where an operator sees it. The state is as before the step (its
 * transaction rolled back); the next presence change or timer tick tries again. */
static void report(const char *what, pw_err e, const char *session_id, const char *mechanic_id)
{
    pw_log(PW_LOG_ERROR, what,
           json_pack("{s:s, s:s?, s:s?}", "error", pw_err_code(e), "session_id", session_id,
                     "mechanic_id", mechanic_id));
}

/* m came online while s is being broadcast: they get the offer too. */
static pw_err join_broadcast(struct pw_routing *r, struct pw_dir_mechanic *m, const char *id)
{
    struct pw_session s;
    pw_err e = store_session_get(r->store, id, &s);
    if (e == PW_ENOTFOUND) return PW_OK;
    if (e) return e;
    struct details d;
    struct id_list taken = {0};
    if (s.state != PW_SESSION_BROADCAST) goto out;
    if ((e = load_details(r, &s, &d))) goto out;
    if (!pw_dir_matches(m, s.is_specialist, d.vehicle.make)) goto out;
    e = store_offers_of_session(r->store, s.id, collect_offer, &taken);
    if (!e) e = taken.err;
    if (e || id_list_has(&taken, m->m.id)) goto out;
    if ((e = store_tx_begin(r->store))) goto out;
    e = send_offer(r, &s, &d, m, PW_OFFER_BROADCAST, s.expires_at);
    if (!e) e = step(r, &s, "offer_added", m, -1);
    e = finish(r, e);
out:
    free(taken.ids);
    pw_session_clear(&s);
    return e;
}

static void collect_preferred(void *ctx, const struct pw_session *s)
{
    struct presence_ctx *c = ctx;
    if (strcmp(s->preferred_mechanic_id, c->m->m.id) == 0) collect_session(ctx, s);
}

void pw_routing_presence_changed(void *ctx, struct pw_dir_mechanic *m, enum pw_presence_state from,
                                 enum pw_presence_state to, const char *reason)
{
    (void)from;
    struct pw_routing *r = ctx;
    struct presence_ctx c = {.m = m};
    pw_err e = PW_OK;
    if (to == PW_ONLINE && pw_dir_listed(m)) {
        e = store_sessions_in_state(r->store, PW_SESSION_BROADCAST, collect_session, &c);
        if (!e) e = c.sessions.err;
        for (size_t i = 0; !e && i < c.sessions.n; i++) {
            pw_err je = join_broadcast(r, m, c.sessions.ids[i]);
            if (je)
                report("could not offer a broadcast session to a mechanic who came online", je,
                       c.sessions.ids[i], m->m.id);
        }
        if (e) report("could not list the sessions being broadcast", e, NULL, m->m.id);
    } else if (to == PW_BUSY ||
               (to == PW_OFFLINE && reason && strcmp(reason, PW_REASON_MANUAL) == 0)) {
        /* busy: the preferred mechanic's windows end now. Offline by hand is a decline (SPEC
         * §4.4 rule 2); a timeout is not: they may be back before the window ends. Each end is
         * one conditional UPDATE, so it happens once even if another node ends the same window
         * at the same moment (PW_ETAKEN then). */
        bool busy = to == PW_BUSY;
        e = store_sessions_in_state(r->store, PW_SESSION_PRIORITY, collect_preferred, &c);
        if (!e) e = c.sessions.err;
        for (size_t i = 0; !e && i < c.sessions.n; i++) {
            pw_err pe = priority_end_tx(r, c.sessions.ids[i],
                                        busy ? "priority_expired" : "priority_declined",
                                        busy ? PW_OFFER_WITHDRAWN : PW_OFFER_DECLINED);
            if (pe && pe != PW_ETAKEN)
                report("could not end a priority window", pe, c.sessions.ids[i], m->m.id);
        }
        if (e) report("could not list the priority windows of a mechanic", e, NULL, m->m.id);
    }
    free(c.sessions.ids);
}

struct withdraw_ctx {
    struct pw_routing *r;
    struct pw_dir_mechanic *m;
};

static void withdraw_for_suspension(void *ctx, const struct pw_offer *o)
{
    struct withdraw_ctx *c = ctx;
    struct pw_routing *r = c->r;
    struct pw_session s;
    pw_err e = store_session_get(r->store, o->session_id, &s);
    if (e) {
        report("could not withdraw the offer of a suspended mechanic", e, o->session_id,
               c->m->m.id);
        return;
    }
    if (!(e = store_tx_begin(r->store))) {
        int closed = 0;
        e = store_offers_close(r->store, s.id, c->m->m.id, PW_OFFER_WITHDRAWN,
                               pw_clock_now(r->clock), &closed);
        if (!e && closed) e = tell_holder(r, c->m->m.id, s.id, "offer_withdrawn", "suspended");
        if (!e && o->kind == PW_OFFER_PRIORITY && s.state == PW_SESSION_PRIORITY)
            e = end_priority(r, &s, "priority_expired", PW_OFFER_WITHDRAWN);
        e = finish(r, e);
    }
    /* the offer stays live until it expires; the suspended mechanic can no longer accept it */
    if (e) report("could not withdraw the offer of a suspended mechanic", e, s.id, c->m->m.id);
    pw_session_clear(&s);
}

void pw_routing_withdraw_offers(struct pw_routing *r, struct pw_dir_mechanic *m)
{
    struct withdraw_ctx c = {r, m};
    pw_err e = store_offers_live_of_mechanic(r->store, m->m.id, withdraw_for_suspension, &c);
    if (e) report("could not list the offers of a suspended mechanic", e, NULL, m->m.id);
}

void pw_routing_mechanic_suspended(struct pw_routing *r, struct pw_dir_mechanic *m)
{
    pw_presence_announce(r->presence, m, PW_OFFLINE, PW_REASON_SUSPENDED);
    pw_routing_withdraw_offers(r, m);
}

/* ---- timers ---- */

static void fire(void *ctx, const char *session_id, int kind)
{
    struct pw_routing *r = ctx;
    pw_err e;
    if (kind == 0) {
        e = priority_end_tx(r, session_id, "priority_expired", PW_OFFER_WITHDRAWN);
    } else {
        struct pw_session s;
        e = store_session_get(r->store, session_id, &s);
        if (!e) {
            if (MASK(s.state) & OPEN_STATES) e = close_session(r, &s, PW_SESSION_EXPIRED);
            pw_session_clear(&s);
        }
    }
    /* still due: the next tick tries again */
    if (e && e != PW_ETAKEN && e != PW_ENOTFOUND)
        report(kind == 0 ? "could not end a priority window" : "could not expire a session", e,
               session_id, NULL);
}

void pw_routing_tick(struct pw_routing *r)
{
    pw_err e = store_sessions_due(r->store, pw_clock_now(r->clock), fire, r);
    if (e) report("could not read the due sessions", e, NULL, NULL);
}

struct repair {
    struct pw_routing *r;
    struct id_list busy; /* mechanics of accepted sessions */
};

static void repair_accepted(void *ctx, const struct pw_session *s)
{
    struct repair *rp = ctx;
    struct pw_dir_mechanic *m = pw_dir_get(rp->r->dir, s->assigned_mechanic_id);
    if (!m) return;
    if (m->m.presence != PW_BUSY)
        pw_presence_change(rp->r->presence, m, PW_BUSY, PW_REASON_SESSION_ACCEPTED);
    id_list_add(&rp->busy, m->m.id);
}

static void repair_idle(void *ctx, struct pw_dir_mechanic *m)
{
    struct repair *rp = ctx;
    if (m->m.presence != PW_BUSY || id_list_has(&rp->busy, m->m.id)) return;
    /* busy without a session: the end committed but the crash came before presence */
    pw_presence_change(rp->r->presence, m, PW_OFFLINE, PW_REASON_SESSION_ENDED);
}

pw_err pw_routing_init(struct pw_routing *r)
{
    struct repair rp = {.r = r};
    pw_err e = store_sessions_in_state(r->store, PW_SESSION_ACCEPTED, repair_accepted, &rp);
    if (!e) e = rp.busy.err; /* an incomplete list would set a working mechanic offline */
    if (!e) pw_dir_each(r->dir, repair_idle, &rp);
    free(rp.busy.ids);
    if (!e) pw_routing_tick(r);
    return e;
}
