/* Routing (SPEC §4.3–§4.5, §4.7) against a real SQLite file and a fake clock: creation and
 * its payment, the priority offer, the window's end (timeout, decline, skip, busy), the
 * broadcast to the top matches, late joiners, accept (one winner), decline, cancel, expiry,
 * end, and the timers and presence repairs of a restart. Events are checked as the hub's
 * subscribers receive them and as the store holds them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/util.h"
#include "presence/directory.h"
#include "presence/presence.h"
#include "routing/routing.h"
#include "store/store.h"
#include "api/api.h"
#include "app.h"
#include "cluster/follow.h"
#include "stream/hub.h"
#include "fixture.h"

#define T0 FX_T0
#define TIMEOUT_MS (FX_PRESENCE_TIMEOUT_S * 1000)
#define WINDOW_MS (FX_PRIORITY_WINDOW_S * 1000LL)
#define TTL_MS (FX_REQUEST_TTL_S * 1000LL)
#define BROADCAST_SIZE FX_BROADCAST_SIZE
#define VIDEO 2999
#define VIDEO_SPEC 3999

/* ---- building the world ---- */

static void add_mechanic(struct store *st, const char *id, int rating_tenths, int completed,
                         const char *city, const char *brand1, const char *brand2,
                         enum pw_mechanic_status status, bool can_accept)
{
    struct pw_mechanic m = fx_mechanic(id);
    snprintf(m.city, sizeof m.city, "%s", city);
    m.rating_tenths = rating_tenths;
    m.completed_sessions = completed;
    m.years_of_experience = 5;
    if (brand1) {
        m.is_brand_specialist = true;
        snprintf(m.brands[m.n_brands++], PW_TAG_MAX + 1, "%s", brand1);
        if (brand2) snprintf(m.brands[m.n_brands++], PW_TAG_MAX + 1, "%s", brand2);
    }
    snprintf(m.keywords[m.n_keywords++], PW_TAG_MAX + 1, "Diagnostics");
    m.status = status;
    m.can_accept_sessions = can_accept;
    fx_add_mechanic(st, &m);
}

static void add_customer(struct store *st, const char *id, const char *name, int64_t credits)
{
    struct pw_user u = {0};
    snprintf(u.id, sizeof u.id, "%s", id);
    snprintf(u.email, sizeof u.email, "%s@test.invalid", id);
    snprintf(u.name, sizeof u.name, "%s", name);
    snprintf(u.password_hash, sizeof u.password_hash, "x");
    snprintf(u.city, sizeof u.city, "Toronto");
    u.role = PW_ROLE_CUSTOMER;
    u.credit_balance_cents = credits;
    u.created_at = T0;
    assert_int_equal(store_user_insert(st, &u), PW_OK);
}

static void add_vehicle(struct store *st, const char *id, const char *owner, int year,
                        const char *make, const char *model)
{
    struct pw_vehicle v = {0};
    snprintf(v.id, sizeof v.id, "%s", id);
    snprintf(v.owner_id, sizeof v.owner_id, "%s", owner);
    v.year = year;
    snprintf(v.make, sizeof v.make, "%s", make);
    snprintf(v.model, sizeof v.model, "%s", model);
    assert_int_equal(store_vehicle_insert(st, &v), PW_OK);
}

static void add_plan(struct store *st, const char *slug, const char *name, int64_t std,
                     int64_t spec, int sort)
{
    struct pw_plan p = {0};
    snprintf(p.slug, sizeof p.slug, "%s", slug);
    snprintf(p.name, sizeof p.name, "%s", name);
    p.standard_price_cents = std;
    p.specialist_price_cents = spec;
    assert_int_equal(store_plan_insert(st, &p, sort), PW_OK);
}

/* The rows every test starts from; the fixture opens the process over them. */
static void seed(struct store *st)
{
    /* directory order among the bookable: mx(50) ma(49) pref(48,90) mb(48,80) mc(47)
     * md(45,60) me(45,10) */
    add_mechanic(st, "pref", 48, 90, "Toronto", NULL, NULL, PW_MECH_APPROVED, true);
    add_mechanic(st, "ma", 49, 100, "Toronto", NULL, NULL, PW_MECH_APPROVED, true);
    add_mechanic(st, "mb", 48, 80, "Vancouver", "tesla", NULL, PW_MECH_APPROVED, true);
    add_mechanic(st, "mc", 47, 70, "Toronto", "BMW", NULL, PW_MECH_APPROVED, true);
    add_mechanic(st, "md", 45, 60, "Mississauga", NULL, NULL, PW_MECH_APPROVED, true);
    add_mechanic(st, "me", 45, 10, "Calgary", "Audi", "Tesla", PW_MECH_APPROVED, true);
    add_mechanic(st, "mx", 50, 300, "Toronto", "Tesla", NULL, PW_MECH_APPROVED, true);
    add_mechanic(st, "mpend", 50, 400, "Toronto", "Tesla", NULL, PW_MECH_PENDING, false);
    add_customer(st, "cust1", "Alex Rivera", 10000);
    add_customer(st, "cust2", "Sam Poor", 1000);
    add_customer(st, "cust3", "Jo Exact", VIDEO);
    add_vehicle(st, "veh-tesla", "cust1", 2020, "Tesla", "Model 3");
    add_vehicle(st, "veh-honda", "cust1", 2017, "Honda", "Civic");
    add_vehicle(st, "veh-2", "cust2", 2015, "Ford", "Focus");
    add_vehicle(st, "veh-3", "cust3", 2019, "BMW", "X3");
    /* more customers: one live session per customer, so tests that need several at once
     * book them for different customers */
    add_customer(st, "cust4", "Kim Second", 10000);
    add_customer(st, "cust5", "Lee Third", 10000);
    add_vehicle(st, "veh-4", "cust4", 2017, "Honda", "Civic");
    add_vehicle(st, "veh-4t", "cust4", 2020, "Tesla", "Model 3");
    add_vehicle(st, "veh-5", "cust5", 2017, "Honda", "Civic");
    add_vehicle(st, "veh-5t", "cust5", 2020, "Tesla", "Model 3");
    add_plan(st, "free", "Free Session", 0, 0, 0);
    add_plan(st, "video", "Standard Video", VIDEO, VIDEO_SPEC, 1);
}

/* the ring holds every event a test makes */
static const struct fx_options options = {
    .name = "pw_routing", .replay_events = 8192, .seed = seed};

static int setup(void **state)
{
    *state = fx_new(&options);
    return 0;
}

static struct pw_dir_mechanic *mech(struct fx *f, const char *id)
{
    struct pw_dir_mechanic *m = pw_dir_get(f->app.dir, id);
    assert_non_null(m);
    return m;
}

static void online(struct fx *f, const char *id)
{
    assert_int_equal(pw_presence_set_manual(&f->app.presence, mech(f, id), PW_ONLINE), PW_OK);
}

static void offline(struct fx *f, const char *id)
{
    assert_int_equal(pw_presence_set_manual(&f->app.presence, mech(f, id), PW_OFFLINE), PW_OK);
}

/* A session as the API fills it, with a fresh id. */
static void new_session(struct pw_session *s, const char *customer, const char *vehicle,
                        const char *plan, bool specialist, const char *preferred, int64_t price)
{
    memset(s, 0, sizeof *s);
    pw_uuid_random(s->id);
    snprintf(s->customer_id, sizeof s->customer_id, "%s", customer);
    snprintf(s->vehicle_id, sizeof s->vehicle_id, "%s", vehicle);
    snprintf(s->plan_slug, sizeof s->plan_slug, "%s", plan);
    s->is_specialist = specialist;
    if (preferred) {
        snprintf(s->preferred_mechanic_id, sizeof s->preferred_mechanic_id, "%s", preferred);
        s->priority_routing = true;
    }
    s->price_cents = price;
    s->intake_json = strdup("{\"concern\":\"The car makes a grinding noise when braking.\","
                            "\"symptoms\":[\"noise\"],\"urgency\":\"medium\"}");
    s->waiver_accepted_at = T0;
    s->rating_score = -1;
}

/* Creates a credits session (video plan) of customer and returns its id in out. */
static void create_credits_as(struct fx *f, const char *customer, const char *preferred,
                              bool specialist, const char *vehicle, char out[PW_ID_LEN + 1])
{
    struct pw_session s;
    new_session(&s, customer, vehicle, "video", specialist, preferred,
                specialist ? VIDEO_SPEC : VIDEO);
    assert_int_equal(pw_routing_create(&f->app.routing, &s, PW_PAY_CREDITS, NULL), PW_OK);
    snprintf(out, PW_ID_LEN + 1, "%s", s.id);
    pw_session_clear(&s);
}

/* The same for cust1. */
static void create_credits(struct fx *f, const char *preferred, bool specialist,
                           const char *vehicle, char out[PW_ID_LEN + 1])
{
    struct pw_session s;
    new_session(&s, "cust1", vehicle, "video", specialist, preferred,
                specialist ? VIDEO_SPEC : VIDEO);
    assert_int_equal(pw_routing_create(&f->app.routing, &s, PW_PAY_CREDITS, NULL), PW_OK);
    snprintf(out, PW_ID_LEN + 1, "%s", s.id);
    pw_session_clear(&s);
}

static struct pw_session get_session(struct fx *f, const char *id)
{
    struct pw_session s;
    assert_int_equal(store_session_get(f->app.store, id, &s), PW_OK);
    return s; /* the caller clears it */
}

static enum pw_session_state state_of(struct fx *f, const char *id)
{
    struct pw_session s = get_session(f, id);
    enum pw_session_state st = s.state;
    pw_session_clear(&s);
    return st;
}

static struct pw_user user(struct fx *f, const char *id)
{
    struct pw_user u;
    assert_int_equal(store_user_by_id(f->app.store, id, &u), PW_OK);
    return u;
}

static int64_t balance(struct fx *f, const char *id)
{
    return user(f, id).credit_balance_cents;
}

/* ---- offers as stored ---- */

struct offers {
    int n;
    struct pw_offer o[64];
};

static void collect_offer(void *ctx, const struct pw_offer *o)
{
    struct offers *os = ctx;
    assert_true(os->n < 64);
    os->o[os->n++] = *o;
}

static struct offers offers_of(struct fx *f, const char *session_id)
{
    struct offers os = {0};
    assert_int_equal(store_offers_of_session(f->app.store, session_id, collect_offer, &os), PW_OK);
    return os;
}

/* The offers of one kind, as "id,id,..." in stored order. */
static const char *offer_ids(const struct offers *os, int kind, int outcome)
{
    static char buf[1024];
    buf[0] = '\0';
    for (int i = 0; i < os->n; i++) {
        if (kind >= 0 && (int)os->o[i].kind != kind) continue;
        if (outcome >= 0 && (int)os->o[i].outcome != outcome) continue;
        if (buf[0]) strcat(buf, ",");
        strcat(buf, os->o[i].mechanic_id);
    }
    return buf;
}

static const struct pw_offer *offer_of(const struct offers *os, const char *mechanic, int kind)
{
    for (int i = 0; i < os->n; i++)
        if (!strcmp(os->o[i].mechanic_id, mechanic) && (int)os->o[i].kind == kind) return &os->o[i];
    return NULL;
}

/* ---- events as subscribers receive them ---- */

struct frame {
    int64_t id;
    char type[32];
    json_t *data;
};

struct frames {
    int n;
    struct frame f[128];
};

static void no_wake(void *ctx)
{
    (void)ctx;
}

static struct pw_hub_sub *sub(struct fx *f, const char *kind, const char *id)
{
    struct pw_hub_sub *s = pw_hub_sub_new(f->app.hub, no_wake, NULL, pw_clock_now(&f->app.clock));
    assert_non_null(s);
    char ch[PW_ID_LEN + 16];
    snprintf(ch, sizeof ch, "%s:%s", kind, id);
    assert_true(pw_hub_sub_add_channel(s, ch));
    return s;
}

static void frames_free(struct frames *fr)
{
    for (int i = 0; i < fr->n; i++) json_decref(fr->f[i].data);
    fr->n = 0;
}

/* Reads every queued frame of s (and forgets the earlier ones of fr). */
static void read_frames(struct pw_hub_sub *s, struct frames *fr)
{
    frames_free(fr);
    static char buf[256 * 1024];
    size_t len = 0, n;
    while (len < sizeof buf - 1 && (n = pw_hub_sub_read(s, buf + len, sizeof buf - 1 - len)) > 0)
        len += n;
    buf[len] = '\0';
    char *p = buf;
    while (*p) {
        char *end = strstr(p, "\n\n");
        assert_non_null(end);
        *end = '\0';
        struct frame fm = {0};
        char *line = p;
        while (line && *line) {
            char *nl = strchr(line, '\n');
            if (nl) *nl = '\0';
            if (!strncmp(line, "id: ", 4)) fm.id = strtoll(line + 4, NULL, 10);
            else if (!strncmp(line, "event: ", 7))
                snprintf(fm.type, sizeof fm.type, "%s", line + 7);
            else if (!strncmp(line, "data: ", 6)) {
                json_error_t jerr;
                fm.data = json_loads(line + 6, 0, &jerr);
                if (!fm.data) fail_msg("bad data line: %s", line);
            }
            line = nl ? nl + 1 : NULL;
        }
        if (fm.data) {
            assert_true(fr->n < 128);
            fr->f[fr->n++] = fm;
        }
        p = end + 2;
    }
}

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static int count_type(const struct frames *fr, const char *type)
{
    int n = 0;
    for (int i = 0; i < fr->n; i++)
        if (!strcmp(fr->f[i].type, type)) n++;
    return n;
}

/* "step,step,..." of the routing frames. */
static const char *steps(const struct frames *fr)
{
    static char buf[1024];
    buf[0] = '\0';
    for (int i = 0; i < fr->n; i++) {
        if (strcmp(fr->f[i].type, "routing") != 0) continue;
        if (buf[0]) strcat(buf, ",");
        strcat(buf, str(fr->f[i].data, "step"));
    }
    return buf;
}

static json_t *step_frame(const struct frames *fr, const char *name)
{
    for (int i = 0; i < fr->n; i++)
        if (!strcmp(fr->f[i].type, "routing") && !strcmp(str(fr->f[i].data, "step"), name))
            return fr->f[i].data;
    return NULL;
}

static json_t *frame_of(const struct frames *fr, const char *type, int nth)
{
    for (int i = 0; i < fr->n; i++)
        if (!strcmp(fr->f[i].type, type) && nth-- == 0) return fr->f[i].data;
    return NULL;
}

/* The routing step's shape of §4.7: session_id, step, at, and only the fields that apply. */
static void step_is(json_t *p, const char *session_id, const char *name, const char *mechanic,
                    int count, int64_t at)
{
    assert_non_null(p);
    assert_string_equal(str(p, "session_id"), session_id);
    assert_string_equal(str(p, "step"), name);
    char iso[PW_ISO_LEN + 1];
    pw_iso8601(at, iso);
    assert_string_equal(str(p, "at"), iso);
    if (mechanic) {
        assert_string_equal(str(p, "mechanic_id"), mechanic);
        char name_buf[64];
        snprintf(name_buf, sizeof name_buf, "Mechanic %s", mechanic);
        assert_string_equal(str(p, "mechanic_name"), name_buf);
    } else {
        assert_null(json_object_get(p, "mechanic_id"));
        assert_null(json_object_get(p, "mechanic_name"));
    }
    if (count >= 0) assert_int_equal(json_integer_value(json_object_get(p, "count")), count);
    else assert_null(json_object_get(p, "count"));
}

/* ---- what the store holds: events ---- */

struct stored {
    int n;
    int broadcast_steps;
    int routing;
    char last_step[32];
};

static void count_stored(void *ctx, const struct store_event *se)
{
    struct stored *c = ctx;
    c->n++;
    if (strcmp(se->type, "routing") != 0) return;
    c->routing++;
    json_t *p = json_loads(se->payload, 0, NULL);
    assert_non_null(p);
    if (!strcmp(str(p, "step"), "broadcast")) c->broadcast_steps++;
    snprintf(c->last_step, sizeof c->last_step, "%s", str(p, "step"));
    json_decref(p);
}

static struct stored stored_events(struct fx *f)
{
    struct stored c = {0};
    assert_int_equal(store_events_tail(f->app.store, 100000, count_stored, &c), PW_OK);
    return c;
}

struct session_count {
    int n;
};

static void count_session(void *ctx, const struct pw_session *s)
{
    (void)s;
    ((struct session_count *)ctx)->n++;
}

static int sessions_of(struct fx *f, const char *customer)
{
    struct session_count c = {0};
    assert_int_equal(store_sessions_list(f->app.store, customer, NULL, 1000, count_session, &c),
                     PW_OK);
    return c.n;
}

/* ======================= creation and payment ======================= */

static void test_create_free_once(void **state)
{
    struct fx *f = *state;
    online(f, "ma");
    assert_false(user(f, "cust1").free_session_used);
    struct pw_session s;
    new_session(&s, "cust1", "veh-honda", "free", false, NULL, 0);
    struct pw_hub_sub *ss = sub(f, "session", s.id);
    assert_int_equal(pw_routing_create(&f->app.routing, &s, PW_PAY_FREE, NULL), PW_OK);
    assert_true(user(f, "cust1").free_session_used);
    assert_int_equal(balance(f, "cust1"), 10000);
    struct pw_session got = get_session(f, s.id);
    assert_int_equal(got.state, PW_SESSION_BROADCAST);
    assert_string_equal(got.payment_method, "free");
    assert_string_equal(got.payment_status, "paid");
    assert_int_equal(got.price_cents, 0);
    assert_int_equal(got.created_at, T0);
    assert_int_equal(got.expires_at, T0 + TTL_MS);
    pw_session_clear(&got);
    struct frames fr = {0};
    read_frames(ss, &fr);
    assert_string_equal(steps(&fr), "broadcast");
    step_is(step_frame(&fr, "broadcast"), s.id, "broadcast", NULL, 1, T0);
    /* over (one live session per customer): the free session stays used */
    assert_int_equal(pw_routing_accept(&f->app.routing, s.id, mech(f, "ma")), PW_OK);
    assert_int_equal(pw_routing_end(&f->app.routing, s.id, mech(f, "ma"), NULL, NULL), PW_OK);
    pw_session_clear(&s);

    /* the second free session is refused, and nothing is written */
    int64_t seq = pw_hub_latest_seq(f->app.hub);
    struct stored before = stored_events(f);
    struct pw_session s2;
    new_session(&s2, "cust1", "veh-honda", "free", false, NULL, 0);
    assert_int_equal(pw_routing_create(&f->app.routing, &s2, PW_PAY_FREE, NULL), PW_EFREEUSED);
    struct pw_session none;
    assert_int_equal(store_session_get(f->app.store, s2.id, &none), PW_ENOTFOUND);
    assert_int_equal(sessions_of(f, "cust1"), 1);
    assert_int_equal(pw_hub_latest_seq(f->app.hub), seq);
    assert_int_equal(stored_events(f).n, before.n);
    assert_int_equal(offers_of(f, s2.id).n, 0);
    pw_session_clear(&s2);
    frames_free(&fr);
    pw_hub_sub_free(ss);
}

static void test_create_credits_debits_exactly(void **state)
{
    struct fx *f = *state;
    char id[PW_ID_LEN + 1];
    create_credits(f, NULL, false, "veh-honda", id);
    assert_int_equal(balance(f, "cust1"), 10000 - VIDEO);
    struct pw_session s = get_session(f, id);
    assert_string_equal(s.payment_method, "credits");
    assert_string_equal(s.payment_status, "paid");
    assert_int_equal(s.price_cents, VIDEO);
    assert_int_equal(s.state, PW_SESSION_BROADCAST); /* nobody online: broadcast to 0 */
    pw_session_clear(&s);
    assert_false(user(f, "cust1").free_session_used);

    create_credits_as(f, "cust4", NULL, true, "veh-4t", id);
    assert_int_equal(balance(f, "cust4"), 10000 - VIDEO_SPEC);

    /* exactly the balance is enough */
    struct pw_session e;
    new_session(&e, "cust3", "veh-3", "video", false, NULL, VIDEO);
    assert_int_equal(pw_routing_create(&f->app.routing, &e, PW_PAY_CREDITS, NULL), PW_OK);
    assert_int_equal(balance(f, "cust3"), 0);
    pw_session_clear(&e);
}

static void test_create_insufficient_credits_writes_nothing(void **state)
{
    struct fx *f = *state;
    online(f, "ma");
    int64_t seq = pw_hub_latest_seq(f->app.hub);
    struct stored before = stored_events(f);
    struct pw_session s;
    new_session(&s, "cust2", "veh-2", "video", false, NULL, VIDEO);
    assert_int_equal(pw_routing_create(&f->app.routing, &s, PW_PAY_CREDITS, NULL), PW_ECREDITS);
    assert_int_equal(balance(f, "cust2"), 1000);
    struct pw_session none;
    assert_int_equal(store_session_get(f->app.store, s.id, &none), PW_ENOTFOUND);
    assert_int_equal(sessions_of(f, "cust2"), 0);
    assert_int_equal(offers_of(f, s.id).n, 0);
    assert_int_equal(pw_hub_latest_seq(f->app.hub), seq);
    assert_int_equal(stored_events(f).n, before.n);
    assert_int_equal(f->app.routing.created, 0);
    pw_session_clear(&s);

    /* one cent short of a balance that is exactly enough for the cheaper one */
    struct pw_session sp;
    new_session(&sp, "cust3", "veh-3", "video", true, NULL, VIDEO_SPEC);
    assert_int_equal(pw_routing_create(&f->app.routing, &sp, PW_PAY_CREDITS, NULL), PW_ECREDITS);
    assert_int_equal(balance(f, "cust3"), VIDEO);
    pw_session_clear(&sp);
}

static void test_card_awaits_payment_then_routes_once(void **state)
{
    struct fx *f = *state;
    online(f, "pref");
    online(f, "ma");
    struct pw_session s;
    new_session(&s, "cust1", "veh-honda", "video", false, "pref", VIDEO);
    struct pw_hub_sub *ss = sub(f, "session", s.id), *ps = sub(f, "mechanic", "pref");
    assert_int_equal(pw_routing_create(&f->app.routing, &s, PW_PAY_CARD, NULL), PW_OK);
    struct pw_session got = get_session(f, s.id);
    assert_int_equal(got.state, PW_SESSION_AWAITING_PAYMENT);
    assert_string_equal(got.payment_method, "card");
    assert_string_equal(got.payment_status, "pending");
    pw_session_clear(&got);
    assert_int_equal(balance(f, "cust1"), 10000);
    assert_int_equal(offers_of(f, s.id).n, 0);
    struct frames fr = {0};
    read_frames(ss, &fr);
    assert_int_equal(count_type(&fr, "routing"), 0);
    read_frames(ps, &fr);
    assert_int_equal(fr.n, 0);

    f->fc.now = T0 + 5000;
    assert_int_equal(pw_routing_paid(&f->app.routing, s.id), PW_OK);
    got = get_session(f, s.id);
    assert_int_equal(got.state, PW_SESSION_PRIORITY);
    assert_string_equal(got.payment_status, "paid");
    assert_int_equal(got.priority_ends_at, T0 + WINDOW_MS); /* created + window */
    pw_session_clear(&got);
    read_frames(ss, &fr);
    assert_string_equal(steps(&fr), "priority_offered");
    read_frames(ps, &fr);
    assert_int_equal(count_type(&fr, "offer"), 1);

    /* paid again (a webhook delivered twice): nothing more */
    int64_t seq = pw_hub_latest_seq(f->app.hub);
    assert_int_equal(pw_routing_paid(&f->app.routing, s.id), PW_OK);
    assert_int_equal(pw_hub_latest_seq(f->app.hub), seq);
    assert_int_equal(offers_of(f, s.id).n, 1);
    assert_int_equal(state_of(f, s.id), PW_SESSION_PRIORITY);
    assert_int_equal(balance(f, "cust1"), 10000);
    frames_free(&fr);
    pw_hub_sub_free(ss);
    pw_hub_sub_free(ps);
    pw_session_clear(&s);
}

/* ======================= the priority window ======================= */

static void test_priority_offer_only_to_preferred(void **state)
{
    struct fx *f = *state;
    const char *all[] = {"pref", "ma", "mb", "mc", "md", "me"};
    struct pw_hub_sub *subs[6];
    for (int i = 0; i < 6; i++) {
        online(f, all[i]);
        subs[i] = sub(f, "mechanic", all[i]);
    }
    f->fc.now = T0 + 1000;
    struct pw_session s;
    new_session(&s, "cust1", "veh-honda", "video", false, "pref", VIDEO);
    struct pw_hub_sub *ss = sub(f, "session", s.id);
    assert_int_equal(pw_routing_create(&f->app.routing, &s, PW_PAY_CREDITS, NULL), PW_OK);

    struct pw_session got = get_session(f, s.id);
    assert_int_equal(got.state, PW_SESSION_PRIORITY);
    assert_int_equal(got.priority_ends_at, T0 + 1000 + WINDOW_MS);
    assert_int_equal(got.expires_at, T0 + 1000 + TTL_MS);
    assert_string_equal(got.preferred_mechanic_id, "pref");
    assert_true(got.priority_routing);
    pw_session_clear(&got);

    struct offers os = offers_of(f, s.id);
    assert_int_equal(os.n, 1);
    assert_string_equal(os.o[0].mechanic_id, "pref");
    assert_int_equal(os.o[0].kind, PW_OFFER_PRIORITY);
    assert_int_equal(os.o[0].outcome, PW_OFFER_LIVE);
    assert_int_equal(os.o[0].offered_at, T0 + 1000);
    assert_int_equal(os.o[0].expires_at, T0 + 1000 + WINDOW_MS);

    struct frames fr = {0};
    read_frames(subs[0], &fr);
    assert_int_equal(fr.n, 1);
    assert_string_equal(fr.f[0].type, "offer");
    json_t *o = fr.f[0].data;
    assert_string_equal(str(o, "session_id"), s.id);
    assert_string_equal(str(o, "kind"), "priority");
    char iso[PW_ISO_LEN + 1];
    pw_iso8601(T0 + 1000, iso);
    assert_string_equal(str(o, "offered_at"), iso);
    pw_iso8601(T0 + 1000 + WINDOW_MS, iso);
    assert_string_equal(str(o, "expires_at"), iso);
    json_t *v = json_object_get(o, "vehicle");
    assert_string_equal(str(v, "id"), "veh-honda");
    assert_int_equal(json_integer_value(json_object_get(v, "year")), 2017);
    assert_string_equal(str(v, "make"), "Honda");
    assert_string_equal(str(v, "model"), "Civic");
    json_t *plan = json_object_get(o, "plan");
    assert_string_equal(str(plan, "slug"), "video");
    assert_string_equal(str(plan, "name"), "Standard Video");
    assert_true(json_is_false(json_object_get(o, "is_specialist")));
    assert_string_equal(str(o, "concern"), "The car makes a grinding noise when braking.");
    assert_string_equal(str(o, "customer_first_name"), "Alex");
    assert_true(fr.f[0].id > 0);
    for (int i = 1; i < 6; i++) {
        read_frames(subs[i], &fr);
        assert_int_equal(fr.n, 0);
    }
    read_frames(ss, &fr);
    assert_string_equal(steps(&fr), "priority_offered");
    step_is(step_frame(&fr, "priority_offered"), s.id, "priority_offered", "pref", -1, T0 + 1000);

    /* nobody else can take it during the window */
    assert_int_equal(pw_routing_accept(&f->app.routing, s.id, mech(f, "ma")), PW_ENOTOFFERED);
    assert_int_equal(state_of(f, s.id), PW_SESSION_PRIORITY);
    frames_free(&fr);
    for (int i = 0; i < 6; i++) pw_hub_sub_free(subs[i]);
    pw_hub_sub_free(ss);
    pw_session_clear(&s);
}

static void test_window_timeout_broadcasts_top_n(void **state)
{
    struct fx *f = *state;
    const char *all[] = {"pref", "ma", "mb", "mc", "md", "me"};
    for (int i = 0; i < 6; i++) online(f, all[i]);
    /* a pending account forced online is still not bookable */
    assert_int_equal(
        pw_presence_change(&f->app.presence, mech(f, "mpend"), PW_ONLINE, PW_REASON_MANUAL), PW_OK);
    char id[PW_ID_LEN + 1];
    create_credits(f, "pref", false, "veh-honda", id);
    struct pw_hub_sub *ss = sub(f, "session", id), *ps = sub(f, "mechanic", "pref");
    struct pw_hub_sub *ms[6];
    for (int i = 0; i < 6; i++) ms[i] = sub(f, "mechanic", all[i]);

    f->fc.now = T0 + WINDOW_MS - 1;
    pw_routing_tick(&f->app.routing);
    assert_int_equal(state_of(f, id), PW_SESSION_PRIORITY);
    struct frames fr = {0};
    read_frames(ss, &fr);
    assert_int_equal(fr.n, 0);

    f->fc.now = T0 + WINDOW_MS;
    pw_routing_tick(&f->app.routing);
    assert_int_equal(state_of(f, id), PW_SESSION_BROADCAST);
    read_frames(ss, &fr);
    assert_string_equal(steps(&fr), "priority_expired,broadcast");
    step_is(step_frame(&fr, "priority_expired"), id, "priority_expired", "pref", -1,
            T0 + WINDOW_MS);
    step_is(step_frame(&fr, "broadcast"), id, "broadcast", NULL, BROADCAST_SIZE, T0 + WINDOW_MS);

    /* the top 3 online bookable matches in directory order, no city filter: the preferred
     * mechanic, whose window merely ended, takes part */
    struct offers os = offers_of(f, id);
    assert_string_equal(offer_ids(&os, PW_OFFER_BROADCAST, -1), "ma,pref,mb");
    assert_int_equal(offer_of(&os, "pref", PW_OFFER_PRIORITY)->outcome, PW_OFFER_WITHDRAWN);
    assert_int_equal(offer_of(&os, "pref", PW_OFFER_PRIORITY)->outcome_at, T0 + WINDOW_MS);
    for (int i = 0; i < os.n; i++)
        if (os.o[i].kind == PW_OFFER_BROADCAST) {
            assert_int_equal(os.o[i].outcome, PW_OFFER_LIVE);
            assert_int_equal(os.o[i].expires_at, T0 + TTL_MS);
            assert_int_equal(os.o[i].offered_at, T0 + WINDOW_MS);
        }
    /* the same as the directory's own ranking */
    struct pw_dir_result dr;
    pw_dir_search(f->app.dir, &(struct pw_dir_query){.limit = BROADCAST_SIZE}, &dr);
    assert_int_equal(dr.n, BROADCAST_SIZE);
    char want[256] = "";
    for (int i = 0; i < dr.n; i++) {
        if (i) strcat(want, ",");
        strcat(want, dr.items[i]->m.id);
    }
    assert_string_equal(offer_ids(&os, PW_OFFER_BROADCAST, -1), want);

    /* the preferred mechanic: offer_withdrawn (priority_ended), then a broadcast offer */
    read_frames(ps, &fr);
    assert_int_equal(fr.n, 2);
    assert_string_equal(fr.f[0].type, "offer_withdrawn");
    assert_string_equal(str(fr.f[0].data, "session_id"), id);
    assert_string_equal(str(fr.f[0].data, "reason"), "priority_ended");
    assert_string_equal(fr.f[1].type, "offer");
    assert_string_equal(str(fr.f[1].data, "kind"), "broadcast");
    /* ma and mb get an offer, mc, md, me nothing */
    int expect_offer[6] = {1, 1, 1, 0, 0, 0};
    for (int i = 1; i < 6; i++) {
        read_frames(ms[i], &fr);
        assert_int_equal(count_type(&fr, "offer"), expect_offer[i]);
        assert_int_equal(count_type(&fr, "offer_withdrawn"), 0);
    }
    /* the timer fires once */
    int64_t seq = pw_hub_latest_seq(f->app.hub);
    f->fc.now += 1000;
    pw_routing_tick(&f->app.routing);
    assert_int_equal(pw_hub_latest_seq(f->app.hub), seq);
    assert_int_equal(stored_events(f).broadcast_steps, 1);
    assert_int_equal(f->app.routing.broadcasts, 1);
    frames_free(&fr);
    for (int i = 0; i < 6; i++) pw_hub_sub_free(ms[i]);
    pw_hub_sub_free(ps);
    pw_hub_sub_free(ss);
}

static void test_specialist_broadcast_only_brand_specialists(void **state)
{
    struct fx *f = *state;
    const char *all[] = {"pref", "ma", "mb", "mc", "md", "me"};
    for (int i = 0; i < 6; i++) online(f, all[i]);
    char id[PW_ID_LEN + 1];
    create_credits(f, NULL, true, "veh-tesla", id);
    struct pw_session s = get_session(f, id);
    assert_int_equal(s.state, PW_SESSION_BROADCAST);
    assert_int_equal(s.price_cents, VIDEO_SPEC);
    pw_session_clear(&s);
    /* Tesla specialists only ("tesla" matches "Tesla"), in any city; mx is offline */
    struct offers os = offers_of(f, id);
    assert_string_equal(offer_ids(&os, -1, -1), "mb,me");
    /* a BMW specialist coming online later does not match; a Tesla one does */
    offline(f, "mc");
    online(f, "mc");
    assert_int_equal(offers_of(f, id).n, 2);
    online(f, "mx");
    os = offers_of(f, id);
    assert_string_equal(offer_ids(&os, -1, -1), "mb,me,mx");
    /* a standard session for the BMW goes to everyone, specialists included */
    struct pw_session b;
    new_session(&b, "cust3", "veh-3", "video", false, NULL, VIDEO);
    assert_int_equal(pw_routing_create(&f->app.routing, &b, PW_PAY_CREDITS, NULL), PW_OK);
    os = offers_of(f, b.id);
    assert_string_equal(offer_ids(&os, -1, -1), "mx,ma,pref");
    pw_session_clear(&b);
}

static void test_decline_priority_excludes_preferred(void **state)
{
    struct fx *f = *state;
    const char *all[] = {"pref", "ma", "mb", "mc"};
    for (int i = 0; i < 4; i++) online(f, all[i]);
    char id[PW_ID_LEN + 1];
    create_credits(f, "pref", false, "veh-honda", id);
    struct pw_hub_sub *ss = sub(f, "session", id), *ps = sub(f, "mechanic", "pref");
    f->fc.now = T0 + 30000;
    assert_int_equal(pw_routing_decline(&f->app.routing, id, mech(f, "pref")), PW_OK);
    assert_int_equal(state_of(f, id), PW_SESSION_BROADCAST);
    struct frames fr = {0};
    read_frames(ss, &fr);
    assert_string_equal(steps(&fr), "priority_declined,broadcast");
    step_is(step_frame(&fr, "priority_declined"), id, "priority_declined", "pref", -1, T0 + 30000);
    step_is(step_frame(&fr, "broadcast"), id, "broadcast", NULL, 3, T0 + 30000);
    struct offers os = offers_of(f, id);
    assert_int_equal(offer_of(&os, "pref", PW_OFFER_PRIORITY)->outcome, PW_OFFER_DECLINED);
    assert_null(offer_of(&os, "pref", PW_OFFER_BROADCAST));
    assert_string_equal(offer_ids(&os, PW_OFFER_BROADCAST, -1), "ma,mb,mc");
    /* they declined: no "withdrawn", no new offer */
    read_frames(ps, &fr);
    assert_int_equal(fr.n, 0);
    /* nor when they come back online during the broadcast */
    offline(f, "pref");
    online(f, "pref");
    os = offers_of(f, id);
    assert_null(offer_of(&os, "pref", PW_OFFER_BROADCAST));
    read_frames(ss, &fr);
    assert_int_equal(count_type(&fr, "routing"), 0);
    /* and the declined offer cannot be accepted */
    assert_int_equal(pw_routing_accept(&f->app.routing, id, mech(f, "pref")), PW_ETAKEN);
    /* the window timer has nothing left to do */
    f->fc.now = T0 + WINDOW_MS + 1;
    pw_routing_tick(&f->app.routing);
    assert_int_equal(stored_events(f).broadcast_steps, 1);
    assert_int_equal(f->app.routing.declined, 1);
    frames_free(&fr);
    pw_hub_sub_free(ps);
    pw_hub_sub_free(ss);
}

static void test_skip_priority_includes_preferred(void **state)
{
    struct fx *f = *state;
    const char *all[] = {"pref", "ma", "mb", "mc"};
    for (int i = 0; i < 4; i++) online(f, all[i]);
    char id[PW_ID_LEN + 1];
    create_credits(f, "pref", false, "veh-honda", id);
    struct pw_hub_sub *ss = sub(f, "session", id), *ps = sub(f, "mechanic", "pref");
    f->fc.now = T0 + 7000;
    assert_int_equal(pw_routing_skip(&f->app.routing, id), PW_OK);
    assert_int_equal(state_of(f, id), PW_SESSION_BROADCAST);
    struct frames fr = {0};
    read_frames(ss, &fr);
    assert_string_equal(steps(&fr), "priority_skipped,broadcast");
    step_is(step_frame(&fr, "priority_skipped"), id, "priority_skipped", "pref", -1, T0 + 7000);
    step_is(step_frame(&fr, "broadcast"), id, "broadcast", NULL, 3, T0 + 7000);
    struct offers os = offers_of(f, id);
    assert_int_equal(offer_of(&os, "pref", PW_OFFER_PRIORITY)->outcome, PW_OFFER_WITHDRAWN);
    assert_string_equal(offer_ids(&os, PW_OFFER_BROADCAST, -1), "ma,pref,mb");
    read_frames(ps, &fr);
    assert_int_equal(fr.n, 2);
    assert_string_equal(fr.f[0].type, "offer_withdrawn");
    assert_string_equal(str(fr.f[0].data, "reason"), "priority_ended");
    assert_string_equal(fr.f[1].type, "offer");
    assert_string_equal(str(fr.f[1].data, "kind"), "broadcast");
    /* a second skip is refused; so is a skip of a session without a window */
    assert_int_equal(pw_routing_skip(&f->app.routing, id), PW_ETAKEN);
    char plain[PW_ID_LEN + 1];
    create_credits_as(f, "cust4", NULL, false, "veh-4", plain);
    assert_int_equal(pw_routing_skip(&f->app.routing, plain), PW_ETAKEN);
    /* the preferred mechanic can take it through the broadcast offer */
    assert_int_equal(pw_routing_accept(&f->app.routing, id, mech(f, "pref")), PW_OK);
    struct pw_session s = get_session(f, id);
    assert_string_equal(s.assigned_mechanic_id, "pref");
    pw_session_clear(&s);
    frames_free(&fr);
    pw_hub_sub_free(ps);
    pw_hub_sub_free(ss);
}

static void test_preferred_becomes_busy_ends_window(void **state)
{
    struct fx *f = *state;
    const char *all[] = {"pref", "ma", "mb"};
    for (int i = 0; i < 3; i++) online(f, all[i]);
    /* pref holds a broadcast offer of another customer's session... */
    struct pw_session other;
    new_session(&other, "cust3", "veh-3", "video", false, NULL, VIDEO);
    assert_int_equal(pw_routing_create(&f->app.routing, &other, PW_PAY_CREDITS, NULL), PW_OK);
    /* ...and the priority offer of cust1's */
    f->fc.now = T0 + 1000;
    char id[PW_ID_LEN + 1];
    create_credits(f, "pref", false, "veh-honda", id);
    assert_int_equal(state_of(f, id), PW_SESSION_PRIORITY);
    struct pw_hub_sub *ss = sub(f, "session", id), *ps = sub(f, "mechanic", "pref");

    f->fc.now = T0 + 2000;
    assert_int_equal(pw_routing_accept(&f->app.routing, other.id, mech(f, "pref")), PW_OK);
    assert_int_equal(mech(f, "pref")->m.presence, PW_BUSY);
    assert_int_equal(state_of(f, id), PW_SESSION_BROADCAST);
    struct frames fr = {0};
    read_frames(ss, &fr);
    assert_string_equal(steps(&fr), "priority_expired,broadcast");
    step_is(step_frame(&fr, "priority_expired"), id, "priority_expired", "pref", -1, T0 + 2000);
    step_is(step_frame(&fr, "broadcast"), id, "broadcast", NULL, 2, T0 + 2000);
    struct offers os = offers_of(f, id);
    assert_int_equal(offer_of(&os, "pref", PW_OFFER_PRIORITY)->outcome, PW_OFFER_WITHDRAWN);
    assert_string_equal(offer_ids(&os, PW_OFFER_BROADCAST, -1), "ma,mb"); /* busy: not offered */
    read_frames(ps, &fr);
    int withdrawn_priority = 0;
    for (int i = 0; i < fr.n; i++)
        if (!strcmp(fr.f[i].type, "offer_withdrawn") &&
            !strcmp(str(fr.f[i].data, "session_id"), id)) {
            assert_string_equal(str(fr.f[i].data, "reason"), "priority_ended");
            withdrawn_priority++;
        }
    assert_int_equal(withdrawn_priority, 1);
    assert_int_equal(count_type(&fr, "offer"), 0);
    frames_free(&fr);
    pw_hub_sub_free(ps);
    pw_hub_sub_free(ss);
    pw_session_clear(&other);
}

static void test_preferred_busy_at_creation_goes_to_broadcast(void **state)
{
    struct fx *f = *state;
    const char *all[] = {"pref", "ma", "mb"};
    for (int i = 0; i < 3; i++) online(f, all[i]);
    assert_int_equal(
        pw_presence_change(&f->app.presence, mech(f, "pref"), PW_BUSY, PW_REASON_SESSION_ACCEPTED),
        PW_OK);
    struct pw_session s;
    new_session(&s, "cust1", "veh-honda", "video", false, "pref", VIDEO);
    struct pw_hub_sub *ss = sub(f, "session", s.id), *ps = sub(f, "mechanic", "pref");
    assert_int_equal(pw_routing_create(&f->app.routing, &s, PW_PAY_CREDITS, NULL), PW_OK);
    assert_int_equal(state_of(f, s.id), PW_SESSION_BROADCAST);
    struct frames fr = {0};
    read_frames(ss, &fr);
    assert_string_equal(steps(&fr), "priority_expired,broadcast");
    step_is(step_frame(&fr, "priority_expired"), s.id, "priority_expired", "pref", -1, T0);
    step_is(step_frame(&fr, "broadcast"), s.id, "broadcast", NULL, 2, T0);
    struct offers os = offers_of(f, s.id);
    assert_string_equal(offer_ids(&os, -1, -1), "ma,mb");
    read_frames(ps, &fr);
    assert_int_equal(fr.n, 0);
    /* the window timer later does nothing */
    f->fc.now = T0 + WINDOW_MS;
    pw_routing_tick(&f->app.routing);
    assert_int_equal(stored_events(f).broadcast_steps, 1);
    frames_free(&fr);
    pw_hub_sub_free(ps);
    pw_hub_sub_free(ss);
    pw_session_clear(&s);
}

/* ======================= broadcast: late joiners, decline ======================= */

static void test_late_joiner_gets_offer(void **state)
{
    struct fx *f = *state;
    online(f, "ma");
    char id[PW_ID_LEN + 1];
    create_credits(f, NULL, false, "veh-honda", id);
    struct pw_hub_sub *ss = sub(f, "session", id), *ds = sub(f, "mechanic", "md");
    struct offers os = offers_of(f, id);
    assert_string_equal(offer_ids(&os, -1, -1), "ma");

    f->fc.now = T0 + 60000;
    online(f, "md");
    os = offers_of(f, id);
    assert_string_equal(offer_ids(&os, -1, -1), "ma,md");
    const struct pw_offer *o = offer_of(&os, "md", PW_OFFER_BROADCAST);
    assert_non_null(o);
    assert_int_equal(o->offered_at, T0 + 60000);
    assert_int_equal(o->expires_at, T0 + TTL_MS);
    struct frames fr = {0};
    read_frames(ss, &fr);
    assert_string_equal(steps(&fr), "offer_added");
    step_is(step_frame(&fr, "offer_added"), id, "offer_added", "md", -1, T0 + 60000);
    read_frames(ds, &fr);
    assert_int_equal(fr.n, 1);
    assert_string_equal(fr.f[0].type, "offer");
    assert_string_equal(str(fr.f[0].data, "kind"), "broadcast");
    assert_string_equal(str(fr.f[0].data, "session_id"), id);

    /* going offline and online again does not offer it twice */
    offline(f, "md");
    online(f, "md");
    assert_int_equal(offers_of(f, id).n, 2);
    read_frames(ss, &fr);
    assert_int_equal(count_type(&fr, "routing"), 0);
    /* the joiner can win */
    assert_int_equal(pw_routing_accept(&f->app.routing, id, mech(f, "md")), PW_OK);
    /* after the accept, someone coming online gets nothing */
    online(f, "me");
    os = offers_of(f, id);
    assert_null(offer_of(&os, "me", PW_OFFER_BROADCAST));
    frames_free(&fr);
    pw_hub_sub_free(ds);
    pw_hub_sub_free(ss);
}

static void test_no_late_offer_during_priority(void **state)
{
    struct fx *f = *state;
    online(f, "pref");
    char id[PW_ID_LEN + 1];
    create_credits(f, "pref", false, "veh-honda", id);
    online(f, "ma");
    struct offers os = offers_of(f, id);
    assert_string_equal(offer_ids(&os, -1, -1), "pref");
}

static void test_decline_broadcast_offer(void **state)
{
    struct fx *f = *state;
    const char *all[] = {"ma", "mb", "mc"};
    for (int i = 0; i < 3; i++) online(f, all[i]);
    char id[PW_ID_LEN + 1];
    create_credits(f, NULL, false, "veh-honda", id);
    struct pw_hub_sub *ss = sub(f, "session", id);
    f->fc.now = T0 + 3000;
    assert_int_equal(pw_routing_decline(&f->app.routing, id, mech(f, "mb")), PW_OK);
    assert_int_equal(state_of(f, id), PW_SESSION_BROADCAST);
    struct offers os = offers_of(f, id);
    assert_int_equal(offer_of(&os, "mb", PW_OFFER_BROADCAST)->outcome, PW_OFFER_DECLINED);
    assert_int_equal(offer_of(&os, "mb", PW_OFFER_BROADCAST)->outcome_at, T0 + 3000);
    assert_int_equal(offer_of(&os, "ma", PW_OFFER_BROADCAST)->outcome, PW_OFFER_LIVE);
    assert_int_equal(offer_of(&os, "mc", PW_OFFER_BROADCAST)->outcome, PW_OFFER_LIVE);
    struct frames fr = {0};
    read_frames(ss, &fr);
    assert_int_equal(count_type(&fr, "routing"), 0); /* no step for a broadcast decline */
    /* declining twice, or accepting after declining, is refused */
    assert_int_equal(pw_routing_decline(&f->app.routing, id, mech(f, "mb")), PW_ETAKEN);
    assert_int_equal(pw_routing_accept(&f->app.routing, id, mech(f, "mb")), PW_ETAKEN);
    /* never offered */
    assert_int_equal(pw_routing_decline(&f->app.routing, id, mech(f, "md")), PW_ENOTOFFERED);
    /* the others still can */
    assert_int_equal(pw_routing_accept(&f->app.routing, id, mech(f, "mc")), PW_OK);
    assert_int_equal(f->app.routing.declined, 1);
    frames_free(&fr);
    pw_hub_sub_free(ss);
}

/* ======================= accept ======================= */

static void test_accept_exactly_one_winner(void **state)
{
    struct fx *f = *state;
    const char *all[] = {"ma", "mb", "mc", "md"};
    for (int i = 0; i < 4; i++) online(f, all[i]);
    char id[PW_ID_LEN + 1];
    create_credits(f, NULL, false, "veh-honda", id);
    struct offers os = offers_of(f, id);
    assert_string_equal(offer_ids(&os, -1, -1), "ma,mb,mc");
    struct pw_hub_sub *ss = sub(f, "session", id), *ms[4], *pres = sub(f, "presence", "mb");
    for (int i = 0; i < 4; i++) ms[i] = sub(f, "mechanic", all[i]);

    f->fc.now = T0 + 45000;
    assert_int_equal(pw_routing_accept(&f->app.routing, id, mech(f, "mb")), PW_OK);
    struct pw_session s = get_session(f, id);
    assert_int_equal(s.state, PW_SESSION_ACCEPTED);
    assert_string_equal(s.assigned_mechanic_id, "mb");
    assert_int_equal(s.accepted_at, T0 + 45000);
    pw_session_clear(&s);
    assert_int_equal(mech(f, "mb")->m.presence, PW_BUSY);
    os = offers_of(f, id);
    assert_int_equal(offer_of(&os, "mb", PW_OFFER_BROADCAST)->outcome, PW_OFFER_ACCEPTED);
    assert_int_equal(offer_of(&os, "ma", PW_OFFER_BROADCAST)->outcome, PW_OFFER_WITHDRAWN);
    assert_int_equal(offer_of(&os, "mc", PW_OFFER_BROADCAST)->outcome, PW_OFFER_WITHDRAWN);
    assert_string_equal(offer_ids(&os, -1, PW_OFFER_ACCEPTED), "mb");

    struct frames fr = {0};
    read_frames(ss, &fr);
    assert_string_equal(steps(&fr), "accepted");
    step_is(step_frame(&fr, "accepted"), id, "accepted", "mb", -1, T0 + 45000);
    int idx[] = {0, 2}; /* ma, mc */
    for (int k = 0; k < 2; k++) {
        read_frames(ms[idx[k]], &fr);
        assert_int_equal(fr.n, 1);
        assert_string_equal(fr.f[0].type, "offer_withdrawn");
        assert_string_equal(str(fr.f[0].data, "session_id"), id);
        assert_string_equal(str(fr.f[0].data, "reason"), "accepted_by_other");
    }
    read_frames(ms[1], &fr); /* the winner is not told it was withdrawn */
    assert_int_equal(count_type(&fr, "offer_withdrawn"), 0);
    read_frames(ms[3], &fr); /* md never had it */
    assert_int_equal(fr.n, 0);
    read_frames(pres, &fr);
    json_t *busy = frame_of(&fr, "presence", 0);
    assert_non_null(busy);
    assert_string_equal(str(busy, "presence"), "busy");
    assert_string_equal(str(busy, "reason"), "session_accepted");

    /* late accepts lose, never-offered is refused, nothing changes */
    int64_t seq = pw_hub_latest_seq(f->app.hub);
    assert_int_equal(pw_routing_accept(&f->app.routing, id, mech(f, "ma")), PW_ETAKEN);
    assert_int_equal(pw_routing_accept(&f->app.routing, id, mech(f, "mc")), PW_ETAKEN);
    assert_int_equal(pw_routing_accept(&f->app.routing, id, mech(f, "md")), PW_ENOTOFFERED);
    assert_int_equal(pw_routing_accept(&f->app.routing, id, mech(f, "mb")), PW_ETAKEN); /* twice */
    assert_int_equal(pw_routing_decline(&f->app.routing, id, mech(f, "ma")), PW_ETAKEN);
    assert_int_equal(pw_hub_latest_seq(f->app.hub), seq);
    s = get_session(f, id);
    assert_string_equal(s.assigned_mechanic_id, "mb");
    pw_session_clear(&s);
    assert_int_equal(f->app.routing.accepted, 1);
    /* cancel after accept is refused; credits stay spent */
    assert_int_equal(pw_routing_cancel(&f->app.routing, id), PW_ETAKEN);
    assert_int_equal(balance(f, "cust1"), 10000 - VIDEO);
    frames_free(&fr);
    for (int i = 0; i < 4; i++) pw_hub_sub_free(ms[i]);
    pw_hub_sub_free(pres);
    pw_hub_sub_free(ss);
}

static void test_accept_priority_offer(void **state)
{
    struct fx *f = *state;
    online(f, "pref");
    online(f, "ma");
    char id[PW_ID_LEN + 1];
    create_credits(f, "pref", false, "veh-honda", id);
    f->fc.now = T0 + 10000;
    assert_int_equal(pw_routing_accept(&f->app.routing, id, mech(f, "pref")), PW_OK);
    struct pw_session s = get_session(f, id);
    assert_int_equal(s.state, PW_SESSION_ACCEPTED);
    assert_string_equal(s.assigned_mechanic_id, "pref");
    pw_session_clear(&s);
    /* the window timer finds nothing to do */
    f->fc.now = T0 + WINDOW_MS + 1;
    pw_routing_tick(&f->app.routing);
    assert_int_equal(state_of(f, id), PW_SESSION_ACCEPTED);
    assert_int_equal(stored_events(f).broadcast_steps, 0);
    /* nor the lifetime timer */
    f->fc.now = T0 + TTL_MS + 1;
    pw_routing_tick(&f->app.routing);
    assert_int_equal(state_of(f, id), PW_SESSION_ACCEPTED);
    assert_int_equal(balance(f, "cust1"), 10000 - VIDEO);
}

static void test_accept_after_window_refused(void **state)
{
    /* the priority offer ends with the window even before the tick acts on it */
    struct fx *f = *state;
    online(f, "pref");
    char id[PW_ID_LEN + 1];
    create_credits(f, "pref", false, "veh-honda", id);
    f->fc.now = T0 + WINDOW_MS;
    assert_int_equal(pw_routing_accept(&f->app.routing, id, mech(f, "pref")), PW_ETAKEN);
    assert_int_equal(state_of(f, id), PW_SESSION_PRIORITY);
    assert_int_equal(mech(f, "pref")->m.presence, PW_ONLINE);
}

static void test_busy_mechanic_cannot_accept(void **state)
{
    struct fx *f = *state;
    online(f, "ma");
    online(f, "mb");
    char s1[PW_ID_LEN + 1], s2[PW_ID_LEN + 1];
    create_credits(f, NULL, false, "veh-honda", s1);
    create_credits_as(f, "cust4", NULL, false, "veh-4t", s2);
    assert_int_equal(pw_routing_accept(&f->app.routing, s1, mech(f, "ma")), PW_OK);
    assert_int_equal(mech(f, "ma")->m.presence, PW_BUSY);
    int64_t seq = pw_hub_latest_seq(f->app.hub);
    assert_int_equal(pw_routing_accept(&f->app.routing, s2, mech(f, "ma")), PW_EBUSY);
    assert_int_equal(state_of(f, s2), PW_SESSION_BROADCAST);
    assert_int_equal(pw_hub_latest_seq(f->app.hub), seq);
    /* a busy mechanic gets no new offers */
    char s3[PW_ID_LEN + 1];
    create_credits_as(f, "cust5", NULL, false, "veh-5", s3);
    struct offers os = offers_of(f, s3);
    assert_string_equal(offer_ids(&os, -1, -1), "mb");
    /* the other one still can */
    assert_int_equal(pw_routing_accept(&f->app.routing, s2, mech(f, "mb")), PW_OK);
}

/* ======================= end ======================= */

static void test_end_returns_connected_mechanic_online(void **state)
{
    struct fx *f = *state;
    online(f, "ma");
    char id[PW_ID_LEN + 1];
    create_credits(f, NULL, false, "veh-honda", id);
    pw_presence_stream_opened(&f->app.presence, mech(f, "ma"));
    assert_int_equal(pw_routing_accept(&f->app.routing, id, mech(f, "ma")), PW_OK);
    struct pw_hub_sub *ss = sub(f, "session", id), *pres = sub(f, "presence", "ma");
    /* long after the last sighting, but the dashboard stream is open */
    f->fc.now = T0 + 10 * TIMEOUT_MS;
    assert_int_equal(pw_routing_end(&f->app.routing, id, mech(f, "mb"), NULL, NULL), PW_EFORBIDDEN);
    assert_int_equal(
        pw_routing_end(&f->app.routing, id, mech(f, "ma"), "resolved", "Replaced the pads"), PW_OK);
    struct pw_session s = get_session(f, id);
    assert_int_equal(s.state, PW_SESSION_ENDED);
    assert_int_equal(s.ended_at, T0 + 10 * TIMEOUT_MS);
    assert_string_equal(s.outcome, "resolved");
    pw_session_clear(&s);
    assert_int_equal(mech(f, "ma")->m.presence, PW_ONLINE);
    struct frames fr = {0};
    read_frames(ss, &fr);
    assert_string_equal(steps(&fr), "ended");
    step_is(step_frame(&fr, "ended"), id, "ended", "ma", -1, T0 + 10 * TIMEOUT_MS);
    read_frames(pres, &fr);
    json_t *p = frame_of(&fr, "presence", 0);
    assert_non_null(p);
    assert_string_equal(str(p, "presence"), "online");
    assert_string_equal(str(p, "reason"), "session_ended");
    /* twice: refused */
    assert_int_equal(pw_routing_end(&f->app.routing, id, mech(f, "ma"), NULL, NULL), PW_ETAKEN);
    assert_int_equal(mech(f, "ma")->m.presence, PW_ONLINE);
    frames_free(&fr);
    pw_hub_sub_free(pres);
    pw_hub_sub_free(ss);
}

static void test_end_recently_seen_online_else_offline(void **state)
{
    struct fx *f = *state;
    online(f, "ma");
    online(f, "mb");
    char s1[PW_ID_LEN + 1], s2[PW_ID_LEN + 1];
    create_credits(f, NULL, false, "veh-honda", s1);
    assert_int_equal(pw_routing_accept(&f->app.routing, s1, mech(f, "ma")), PW_OK);
    create_credits_as(f, "cust4", NULL, false, "veh-4t", s2);
    assert_int_equal(pw_routing_accept(&f->app.routing, s2, mech(f, "mb")), PW_OK);
    /* ma was seen 10 s ago: online */
    f->fc.now = T0 + 20000;
    pw_presence_seen(&f->app.presence, mech(f, "ma"));
    f->fc.now = T0 + 30000;
    assert_int_equal(pw_routing_end(&f->app.routing, s1, mech(f, "ma"), NULL, NULL), PW_OK);
    assert_int_equal(mech(f, "ma")->m.presence, PW_ONLINE);
    /* mb was not seen for longer than the presence timeout and has no stream: offline */
    f->fc.now = T0 + TIMEOUT_MS + 5000;
    assert_int_equal(pw_routing_end(&f->app.routing, s2, mech(f, "mb"), "escalated", NULL), PW_OK);
    assert_int_equal(mech(f, "mb")->m.presence, PW_OFFLINE);
    assert_int_equal(state_of(f, s2), PW_SESSION_ENDED);
    /* a busy mechanic was not timed out by the sweeper meanwhile (the session holds them) */
    assert_int_equal(pw_presence_sweep(&f->app.presence), 0);
}

static void test_end_online_mechanic_joins_running_broadcast(void **state)
{
    /* back online after a session = a late joiner of broadcasts still running */
    struct fx *f = *state;
    online(f, "ma");
    char s1[PW_ID_LEN + 1];
    create_credits(f, NULL, false, "veh-honda", s1);
    assert_int_equal(pw_routing_accept(&f->app.routing, s1, mech(f, "ma")), PW_OK);
    char s2[PW_ID_LEN + 1];
    create_credits_as(f, "cust4", NULL, false, "veh-4t", s2);
    assert_int_equal(offers_of(f, s2).n, 0);
    pw_presence_stream_opened(&f->app.presence, mech(f, "ma"));
    assert_int_equal(pw_routing_end(&f->app.routing, s1, mech(f, "ma"), NULL, NULL), PW_OK);
    struct offers os = offers_of(f, s2);
    assert_string_equal(offer_ids(&os, -1, -1), "ma");
}

/* ======================= cancel ======================= */

static void test_cancel_in_priority_refunds(void **state)
{
    struct fx *f = *state;
    online(f, "pref");
    char id[PW_ID_LEN + 1];
    create_credits(f, "pref", false, "veh-honda", id);
    assert_int_equal(balance(f, "cust1"), 10000 - VIDEO);
    struct pw_hub_sub *ss = sub(f, "session", id), *ps = sub(f, "mechanic", "pref");
    f->fc.now = T0 + 9000;
    assert_int_equal(pw_routing_cancel(&f->app.routing, id), PW_OK);
    assert_int_equal(balance(f, "cust1"), 10000);
    struct pw_session s = get_session(f, id);
    assert_int_equal(s.state, PW_SESSION_CANCELLED);
    assert_string_equal(s.payment_status, "refunded");
    pw_session_clear(&s);
    struct frames fr = {0};
    read_frames(ps, &fr);
    assert_int_equal(fr.n, 1);
    assert_string_equal(fr.f[0].type, "session_cancelled");
    assert_string_equal(str(fr.f[0].data, "session_id"), id);
    read_frames(ss, &fr);
    assert_string_equal(steps(&fr), "cancelled");
    step_is(step_frame(&fr, "cancelled"), id, "cancelled", NULL, -1, T0 + 9000);
    struct offers os = offers_of(f, id);
    assert_int_equal(os.o[0].outcome, PW_OFFER_WITHDRAWN);
    /* refunded once: a second cancel, the window and the lifetime do nothing */
    assert_int_equal(pw_routing_cancel(&f->app.routing, id), PW_ETAKEN);
    f->fc.now = T0 + TTL_MS + 1;
    pw_routing_tick(&f->app.routing);
    assert_int_equal(balance(f, "cust1"), 10000);
    assert_int_equal(state_of(f, id), PW_SESSION_CANCELLED);
    assert_int_equal(stored_events(f).broadcast_steps, 0);
    assert_int_equal(pw_routing_accept(&f->app.routing, id, mech(f, "pref")), PW_ETAKEN);
    assert_int_equal(f->app.routing.cancelled, 1);
    frames_free(&fr);
    pw_hub_sub_free(ps);
    pw_hub_sub_free(ss);
}

static void test_cancel_in_broadcast_tells_every_holder(void **state)
{
    struct fx *f = *state;
    const char *all[] = {"ma", "mb", "mc"};
    for (int i = 0; i < 3; i++) online(f, all[i]);
    char id[PW_ID_LEN + 1];
    create_credits(f, NULL, true, "veh-tesla", id); /* specialist: mb only among these */
    online(f, "me");                                /* a late joiner holds one too */
    struct offers os = offers_of(f, id);
    assert_string_equal(offer_ids(&os, -1, -1), "mb,me");
    assert_int_equal(pw_routing_decline(&f->app.routing, id, mech(f, "me")), PW_OK);
    struct pw_hub_sub *mb = sub(f, "mechanic", "mb"), *me = sub(f, "mechanic", "me"),
                      *ma = sub(f, "mechanic", "ma");
    assert_int_equal(pw_routing_cancel(&f->app.routing, id), PW_OK);
    assert_int_equal(balance(f, "cust1"), 10000);
    struct frames fr = {0};
    read_frames(mb, &fr);
    assert_int_equal(fr.n, 1);
    assert_string_equal(fr.f[0].type, "session_cancelled");
    assert_string_equal(str(fr.f[0].data, "session_id"), id);
    assert_null(json_object_get(fr.f[0].data, "reason"));
    read_frames(me, &fr); /* declined: no live offer, nothing to tell */
    assert_int_equal(fr.n, 0);
    read_frames(ma, &fr);
    assert_int_equal(fr.n, 0);
    os = offers_of(f, id);
    assert_int_equal(offer_of(&os, "mb", PW_OFFER_BROADCAST)->outcome, PW_OFFER_WITHDRAWN);
    assert_int_equal(offer_of(&os, "me", PW_OFFER_BROADCAST)->outcome, PW_OFFER_DECLINED);
    frames_free(&fr);
    pw_hub_sub_free(mb);
    pw_hub_sub_free(me);
    pw_hub_sub_free(ma);
}

static void test_cancel_awaiting_payment_no_refund(void **state)
{
    struct fx *f = *state;
    struct pw_session s;
    new_session(&s, "cust1", "veh-honda", "video", false, NULL, VIDEO);
    assert_int_equal(pw_routing_create(&f->app.routing, &s, PW_PAY_CARD, NULL), PW_OK);
    assert_int_equal(pw_routing_cancel(&f->app.routing, s.id), PW_OK);
    struct pw_session got = get_session(f, s.id);
    assert_int_equal(got.state, PW_SESSION_CANCELLED);
    assert_string_equal(got.payment_status, "pending"); /* nothing was paid, nothing refunded */
    pw_session_clear(&got);
    assert_int_equal(balance(f, "cust1"), 10000);
    /* a payment arriving afterwards does not route it */
    assert_int_equal(pw_routing_paid(&f->app.routing, s.id), PW_OK);
    assert_int_equal(state_of(f, s.id), PW_SESSION_CANCELLED);
    assert_int_equal(offers_of(f, s.id).n, 0);
    pw_session_clear(&s);
}

static void test_cancel_free_session(void **state)
{
    struct fx *f = *state;
    struct pw_session s;
    new_session(&s, "cust1", "veh-honda", "free", false, NULL, 0);
    assert_int_equal(pw_routing_create(&f->app.routing, &s, PW_PAY_FREE, NULL), PW_OK);
    assert_true(user(f, "cust1").free_session_used);
    assert_int_equal(pw_routing_cancel(&f->app.routing, s.id), PW_OK);
    assert_int_equal(balance(f, "cust1"), 10000); /* nothing to refund in credits */
    assert_int_equal(state_of(f, s.id), PW_SESSION_CANCELLED);
    /* the free session is given back (docs/decisions.md), once */
    assert_false(user(f, "cust1").free_session_used);
    struct pw_session got = get_session(f, s.id);
    assert_string_equal(got.payment_status, "refunded");
    pw_session_clear(&got);
    assert_int_equal(pw_routing_cancel(&f->app.routing, s.id), PW_ETAKEN);
    pw_session_clear(&s);
    new_session(&s, "cust1", "veh-honda", "free", false, NULL, 0);
    assert_int_equal(pw_routing_create(&f->app.routing, &s, PW_PAY_FREE, NULL), PW_OK);
    assert_true(user(f, "cust1").free_session_used);
    /* an expired one too */
    f->fc.now = T0 + TTL_MS;
    pw_routing_tick(&f->app.routing);
    assert_int_equal(state_of(f, s.id), PW_SESSION_EXPIRED);
    assert_false(user(f, "cust1").free_session_used);
    assert_int_equal(balance(f, "cust1"), 10000);
    pw_session_clear(&s);
}

/* ======================= expiry ======================= */

static void test_expiry_in_each_open_state(void **state)
{
    struct fx *f = *state;
    online(f, "pref");
    online(f, "ma");
    online(f, "mb");
    /* awaiting payment (card) */
    struct pw_session card;
    new_session(&card, "cust1", "veh-honda", "video", false, NULL, VIDEO);
    assert_int_equal(pw_routing_create(&f->app.routing, &card, PW_PAY_CARD, NULL), PW_OK);
    /* priority: a window longer than the lifetime keeps it there */
    f->app.routing.priority_window_ms = TTL_MS + 60000;
    char prio[PW_ID_LEN + 1];
    create_credits_as(f, "cust4", "pref", false, "veh-4", prio);
    f->app.routing.priority_window_ms = WINDOW_MS;
    /* broadcast */
    char bc[PW_ID_LEN + 1];
    create_credits_as(f, "cust5", NULL, true, "veh-5t", bc);
    assert_int_equal(balance(f, "cust4"), 10000 - VIDEO);
    assert_int_equal(balance(f, "cust5"), 10000 - VIDEO_SPEC);
    assert_int_equal(state_of(f, card.id), PW_SESSION_AWAITING_PAYMENT);
    assert_int_equal(state_of(f, prio), PW_SESSION_PRIORITY);
    assert_int_equal(state_of(f, bc), PW_SESSION_BROADCAST);
    struct pw_hub_sub *s_card = sub(f, "session", card.id), *s_prio = sub(f, "session", prio),
                      *s_bc = sub(f, "session", bc), *ps = sub(f, "mechanic", "pref"),
                      *mbs = sub(f, "mechanic", "mb");

    f->fc.now = T0 + TTL_MS - 1;
    pw_routing_tick(&f->app.routing);
    assert_int_equal(state_of(f, prio), PW_SESSION_PRIORITY);
    assert_int_equal(state_of(f, bc), PW_SESSION_BROADCAST);

    f->fc.now = T0 + TTL_MS;
    pw_routing_tick(&f->app.routing);
    assert_int_equal(state_of(f, card.id), PW_SESSION_EXPIRED);
    assert_int_equal(state_of(f, prio), PW_SESSION_EXPIRED);
    assert_int_equal(state_of(f, bc), PW_SESSION_EXPIRED);
    assert_int_equal(balance(f, "cust4"), 10000); /* both credit payments refunded */
    assert_int_equal(balance(f, "cust5"), 10000);
    struct pw_session got = get_session(f, prio);
    assert_string_equal(got.payment_status, "refunded");
    pw_session_clear(&got);
    got = get_session(f, card.id);
    assert_string_equal(got.payment_status, "pending");
    pw_session_clear(&got);

    struct frames fr = {0};
    struct pw_hub_sub *subs[] = {s_card, s_prio, s_bc};
    const char *ids[] = {card.id, prio, bc};
    for (int i = 0; i < 3; i++) {
        read_frames(subs[i], &fr);
        assert_string_equal(steps(&fr), "expired");
        step_is(step_frame(&fr, "expired"), ids[i], "expired", NULL, -1, T0 + TTL_MS);
    }
    read_frames(ps, &fr);
    assert_int_equal(fr.n, 1);
    assert_string_equal(fr.f[0].type, "offer_withdrawn");
    assert_string_equal(str(fr.f[0].data, "session_id"), prio);
    assert_string_equal(str(fr.f[0].data, "reason"), "expired");
    read_frames(mbs, &fr);
    assert_int_equal(fr.n, 1);
    assert_string_equal(fr.f[0].type, "offer_withdrawn");
    assert_string_equal(str(fr.f[0].data, "session_id"), bc);
    assert_string_equal(str(fr.f[0].data, "reason"), "expired");
    struct offers os = offers_of(f, prio);
    assert_int_equal(os.n, 1);
    assert_int_equal(os.o[0].outcome, PW_OFFER_EXPIRED);
    os = offers_of(f, bc);
    assert_int_equal(os.n, 1);
    assert_int_equal(os.o[0].outcome, PW_OFFER_EXPIRED);
    /* no broadcast was started for the priority session on the way out */
    assert_int_equal(stored_events(f).broadcast_steps, 1);
    assert_int_equal(f->app.routing.expired, 3);

    /* refunded exactly once */
    f->fc.now += 60000;
    pw_routing_tick(&f->app.routing);
    assert_int_equal(balance(f, "cust1"), 10000);
    assert_int_equal(f->app.routing.expired, 3);
    assert_int_equal(pw_routing_cancel(&f->app.routing, bc), PW_ETAKEN);
    assert_int_equal(pw_routing_accept(&f->app.routing, bc, mech(f, "mb")), PW_ETAKEN);
    assert_int_equal(pw_routing_paid(&f->app.routing, card.id), PW_OK);
    assert_int_equal(state_of(f, card.id), PW_SESSION_EXPIRED);
    frames_free(&fr);
    pw_hub_sub_free(s_card);
    pw_hub_sub_free(s_prio);
    pw_hub_sub_free(s_bc);
    pw_hub_sub_free(ps);
    pw_hub_sub_free(mbs);
    pw_session_clear(&card);
}

static void test_accept_at_expiry_refused(void **state)
{
    struct fx *f = *state;
    online(f, "ma");
    char id[PW_ID_LEN + 1];
    create_credits(f, NULL, false, "veh-honda", id);
    f->fc.now = T0 + TTL_MS; /* the offer ends with the lifetime, tick or not */
    assert_int_equal(pw_routing_accept(&f->app.routing, id, mech(f, "ma")), PW_ETAKEN);
    assert_int_equal(mech(f, "ma")->m.presence, PW_ONLINE);
}

/* ======================= restarts ======================= */

static void test_window_timer_survives_restart(void **state)
{
    struct fx *f = *state;
    online(f, "pref");
    online(f, "ma");
    char id[PW_ID_LEN + 1];
    create_credits(f, "pref", false, "veh-honda", id);
    assert_int_equal(state_of(f, id), PW_SESSION_PRIORITY);

    /* the server goes down; the window ends while it is down */
    fx_restart(f);
    f->fc.now = T0 + WINDOW_MS + 30000;
    assert_int_equal(stored_events(f).broadcast_steps, 0);
    struct pw_hub_sub *ss = sub(f, "session", id), *ma = sub(f, "mechanic", "ma");
    assert_int_equal(pw_routing_init(&f->app.routing), PW_OK);
    assert_int_equal(state_of(f, id), PW_SESSION_BROADCAST);
    struct stored c = stored_events(f);
    assert_int_equal(c.broadcast_steps, 1);
    struct frames fr = {0};
    read_frames(ss, &fr);
    assert_string_equal(steps(&fr), "priority_expired,broadcast");
    step_is(step_frame(&fr, "broadcast"), id, "broadcast", NULL, 2, T0 + WINDOW_MS + 30000);
    read_frames(ma, &fr);
    assert_int_equal(count_type(&fr, "offer"), 1);
    struct offers os = offers_of(f, id);
    assert_string_equal(offer_ids(&os, PW_OFFER_BROADCAST, -1), "ma,pref");

    /* ticks and another start do not fire it again */
    pw_routing_tick(&f->app.routing);
    f->fc.now += 5000;
    pw_routing_tick(&f->app.routing);
    pw_hub_sub_free(ss);
    pw_hub_sub_free(ma);
    fx_restart(f);
    assert_int_equal(pw_routing_init(&f->app.routing), PW_OK);
    pw_routing_tick(&f->app.routing);
    c = stored_events(f);
    assert_int_equal(c.broadcast_steps, 1);
    os = offers_of(f, id);
    assert_string_equal(offer_ids(&os, PW_OFFER_BROADCAST, -1), "ma,pref");
    assert_int_equal(state_of(f, id), PW_SESSION_BROADCAST);
    frames_free(&fr);
}

static void test_expiry_timer_survives_restart(void **state)
{
    struct fx *f = *state;
    online(f, "ma");
    char id[PW_ID_LEN + 1];
    create_credits(f, NULL, false, "veh-honda", id);
    assert_int_equal(balance(f, "cust1"), 10000 - VIDEO);
    fx_restart(f);
    f->fc.now = T0 + TTL_MS + 1;
    assert_int_equal(pw_routing_init(&f->app.routing), PW_OK);
    assert_int_equal(state_of(f, id), PW_SESSION_EXPIRED);
    assert_int_equal(balance(f, "cust1"), 10000);
    fx_restart(f);
    assert_int_equal(pw_routing_init(&f->app.routing), PW_OK);
    pw_routing_tick(&f->app.routing);
    assert_int_equal(balance(f, "cust1"), 10000); /* refunded once */
    assert_string_equal(stored_events(f).last_step, "expired");
}

static void test_restart_past_window_and_lifetime_expires_without_broadcast(void **state)
{
    /* down across both the window and the lifetime: the request is dead, so it expires
     * (refunded) without first being broadcast to mechanics who could no longer take it */
    struct fx *f = *state;
    online(f, "pref");
    online(f, "ma");
    online(f, "mb");
    char id[PW_ID_LEN + 1];
    create_credits(f, "pref", false, "veh-honda", id);
    fx_restart(f);
    f->fc.now = T0 + TTL_MS + 5000;
    struct pw_hub_sub *ma = sub(f, "mechanic", "ma"), *ss = sub(f, "session", id);
    assert_int_equal(pw_routing_init(&f->app.routing), PW_OK);
    assert_int_equal(state_of(f, id), PW_SESSION_EXPIRED);
    assert_int_equal(balance(f, "cust1"), 10000);
    struct frames fr = {0};
    read_frames(ss, &fr);
    assert_string_equal(steps(&fr), "expired");
    read_frames(ma, &fr);
    assert_int_equal(fr.n, 0);
    struct offers os = offers_of(f, id);
    assert_string_equal(offer_ids(&os, -1, -1), "pref");
    assert_int_equal(stored_events(f).broadcast_steps, 0);
    frames_free(&fr);
    pw_hub_sub_free(ma);
    pw_hub_sub_free(ss);
}

static void test_init_repairs_presence(void **state)
{
    struct fx *f = *state;
    online(f, "ma");
    online(f, "mb");
    char id[PW_ID_LEN + 1];
    create_credits(f, NULL, false, "veh-honda", id);
    assert_int_equal(pw_routing_accept(&f->app.routing, id, mech(f, "ma")), PW_OK);
    assert_int_equal(mech(f, "ma")->m.presence, PW_BUSY);
    /* a crash between the accept's commit and the presence change: the row says online */
    struct store_event ev = {.type = "presence",
                             .channel = "presence:ma",
                             .payload = "{\"id\":\"ma\",\"presence\":\"online\"}",
                             .created_at = T0};
    assert_int_equal(store_presence_save(f->app.store, "ma", PW_ONLINE, T0, 0, &ev), PW_OK);
    /* and mb is busy with no session at all (its end committed, the crash came before) */
    ev.channel = "presence:mb";
    ev.payload = "{\"id\":\"mb\",\"presence\":\"busy\"}";
    assert_int_equal(store_presence_save(f->app.store, "mb", PW_BUSY, T0, 0, &ev), PW_OK);
    fx_restart(f);
    assert_int_equal(mech(f, "ma")->m.presence, PW_ONLINE);
    assert_int_equal(mech(f, "mb")->m.presence, PW_BUSY);
    assert_int_equal(pw_routing_init(&f->app.routing), PW_OK);
    assert_int_equal(mech(f, "ma")->m.presence, PW_BUSY);
    assert_int_equal(mech(f, "mb")->m.presence, PW_OFFLINE);
    /* and it is written */
    fx_restart(f);
    assert_int_equal(mech(f, "ma")->m.presence, PW_BUSY);
    assert_int_equal(mech(f, "mb")->m.presence, PW_OFFLINE);
    assert_int_equal(pw_routing_init(&f->app.routing), PW_OK);
    assert_int_equal(mech(f, "ma")->m.presence, PW_BUSY);
}

/* ======================= JSON ======================= */

/* The API's session object, as the process's API builds it. */
static json_t *session_json_upto(struct fx *f, const struct pw_session *s, int64_t upto)
{
    return api_session_json_upto(&f->app, s, upto);
}

static json_t *session_json(struct fx *f, const struct pw_session *s)
{
    return session_json_upto(f, s, INT64_MAX);
}

static void test_session_json_fields(void **state)
{
    struct fx *f = *state;
    online(f, "pref");
    f->fc.now = T0 + 500;
    char id[PW_ID_LEN + 1];
    create_credits(f, "pref", false, "veh-honda", id);
    struct pw_session s = get_session(f, id);
    json_t *j = session_json(f, &s);
    pw_session_clear(&s);
    const char *keys[] = {"id",
                          "state",
                          "customer_id",
                          "vehicle",
                          "plan",
                          "is_specialist",
                          "price_cents",
                          "payment",
                          "preferred_mechanic_id",
                          "routing_type",
                          "metadata",
                          "intake",
                          "assigned_mechanic",
                          "created_at",
                          "priority_ends_at",
                          "expires_at",
                          "accepted_at",
                          "ended_at",
                          "checkout_url"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (!json_object_get(j, keys[i])) fail_msg("missing key %s", keys[i]);
    assert_string_equal(str(j, "state"), "priority");
    assert_string_equal(str(j, "routing_type"), "priority_broadcast");
    assert_string_equal(str(j, "preferred_mechanic_id"), "pref");
    json_t *meta = json_object_get(j, "metadata");
    assert_string_equal(str(meta, "preferred_mechanic_id"), "pref");
    assert_string_equal(str(meta, "routing_type"), "priority_broadcast");
    json_t *pay = json_object_get(j, "payment");
    assert_string_equal(str(pay, "method"), "credits");
    assert_string_equal(str(pay, "status"), "paid");
    assert_int_equal(json_integer_value(json_object_get(pay, "amount_cents")), VIDEO);
    char iso[PW_ISO_LEN + 1];
    pw_iso8601(T0 + 500, iso);
    assert_string_equal(str(j, "created_at"), iso);
    pw_iso8601(T0 + 500 + WINDOW_MS, iso);
    assert_string_equal(str(j, "priority_ends_at"), iso);
    pw_iso8601(T0 + 500 + TTL_MS, iso);
    assert_string_equal(str(j, "expires_at"), iso);
    assert_true(json_is_null(json_object_get(j, "assigned_mechanic")));
    assert_true(json_is_null(json_object_get(j, "accepted_at")));
    assert_true(json_is_null(json_object_get(j, "ended_at")));
    assert_true(json_is_null(json_object_get(j, "checkout_url")));
    json_decref(j);

    assert_int_equal(pw_routing_accept(&f->app.routing, id, mech(f, "pref")), PW_OK);
    s = get_session(f, id);
    j = session_json(f, &s);
    pw_session_clear(&s);
    json_t *am = json_object_get(j, "assigned_mechanic");
    assert_string_equal(str(am, "id"), "pref");
    assert_string_equal(str(am, "name"), "Mechanic pref");
    assert_true(json_is_number(json_object_get(am, "rating")));
    assert_true(json_number_value(json_object_get(am, "rating")) > 4.79 &&
                json_number_value(json_object_get(am, "rating")) < 4.81);
    assert_string_equal(str(j, "state"), "accepted");
    json_decref(j);

    /* a broadcast session has no window */
    char bc[PW_ID_LEN + 1];
    create_credits_as(f, "cust4", NULL, false, "veh-4", bc);
    s = get_session(f, bc);
    j = session_json(f, &s);
    pw_session_clear(&s);
    assert_true(json_is_null(json_object_get(j, "priority_ends_at")));
    assert_true(json_is_null(json_object_get(j, "preferred_mechanic_id")));
    assert_string_equal(str(j, "routing_type"), "broadcast");
    meta = json_object_get(j, "metadata");
    assert_true(json_is_null(json_object_get(meta, "preferred_mechanic_id")));
    assert_string_equal(str(meta, "routing_type"), "broadcast");
    json_decref(j);
}

/* SPEC §4.4 rule 2: offline by hand in the window is a decline, told to the mechanic as a
 * withdrawal; they get no broadcast offer, now or when they return. */
static void test_offline_by_hand_ends_window(void **state)
{
    struct fx *f = *state;
    const char *all[] = {"pref", "ma", "mb", "mc"};
    for (int i = 0; i < 4; i++) online(f, all[i]);
    char id[PW_ID_LEN + 1];
    create_credits(f, "pref", false, "veh-honda", id);
    struct pw_hub_sub *ss = sub(f, "session", id), *ps = sub(f, "mechanic", "pref");
    f->fc.now = T0 + 30000;
    offline(f, "pref");
    assert_int_equal(state_of(f, id), PW_SESSION_BROADCAST);
    struct frames fr = {0};
    read_frames(ss, &fr);
    assert_string_equal(steps(&fr), "priority_declined,broadcast");
    step_is(step_frame(&fr, "priority_declined"), id, "priority_declined", "pref", -1, T0 + 30000);
    step_is(step_frame(&fr, "broadcast"), id, "broadcast", NULL, 3, T0 + 30000);
    struct offers os = offers_of(f, id);
    assert_int_equal(offer_of(&os, "pref", PW_OFFER_PRIORITY)->outcome, PW_OFFER_DECLINED);
    assert_string_equal(offer_ids(&os, PW_OFFER_BROADCAST, -1), "ma,mb,mc");
    read_frames(ps, &fr);
    assert_int_equal(fr.n, 1);
    assert_string_equal(fr.f[0].type, "offer_withdrawn");
    assert_string_equal(str(fr.f[0].data, "session_id"), id);
    assert_string_equal(str(fr.f[0].data, "reason"), "priority_ended");
    /* back online during the broadcast: nothing for them */
    online(f, "pref");
    os = offers_of(f, id);
    assert_null(offer_of(&os, "pref", PW_OFFER_BROADCAST));
    read_frames(ss, &fr);
    assert_int_equal(count_type(&fr, "routing"), 0);
    read_frames(ps, &fr);
    assert_int_equal(fr.n, 0);
    assert_int_equal(pw_routing_accept(&f->app.routing, id, mech(f, "pref")), PW_ETAKEN);
    /* offline by hand again: the window is long over, nothing happens */
    offline(f, "pref");
    f->fc.now = T0 + WINDOW_MS + 1;
    pw_routing_tick(&f->app.routing);
    assert_int_equal(stored_events(f).broadcast_steps, 1);
    frames_free(&fr);
    pw_hub_sub_free(ps);
    pw_hub_sub_free(ss);
}

/* A presence timeout is not a decision: the window stays, the offer stays live. */
static void test_timeout_keeps_window(void **state)
{
    struct fx *f = *state;
    online(f, "pref");
    online(f, "ma");
    char id[PW_ID_LEN + 1];
    create_credits(f, "pref", false, "veh-honda", id);
    struct pw_hub_sub *ss = sub(f, "session", id), *ps = sub(f, "mechanic", "pref");
    pw_presence_stream_opened(&f->app.presence, mech(f, "ma")); /* ma stays seen */
    f->fc.now = T0 + TIMEOUT_MS + 1000;
    assert_int_equal(pw_presence_sweep(&f->app.presence), 1);
    assert_int_equal(mech(f, "pref")->m.presence, PW_OFFLINE);
    assert_int_equal(state_of(f, id), PW_SESSION_PRIORITY);
    struct frames fr = {0};
    read_frames(ss, &fr);
    assert_int_equal(count_type(&fr, "routing"), 0);
    read_frames(ps, &fr);
    assert_int_equal(fr.n, 0);
    struct offers os = offers_of(f, id);
    assert_int_equal(offer_of(&os, "pref", PW_OFFER_PRIORITY)->outcome, PW_OFFER_LIVE);
    /* back before the window ends: they take it */
    online(f, "pref");
    assert_int_equal(pw_routing_accept(&f->app.routing, id, mech(f, "pref")), PW_OK);
    frames_free(&fr);
    pw_hub_sub_free(ps);
    pw_hub_sub_free(ss);
}

/* One live request per customer: refused before anything is charged or written. */
static void test_one_live_session_per_customer(void **state)
{
    struct fx *f = *state;
    char first[PW_ID_LEN + 1];
    create_credits(f, NULL, false, "veh-honda", first);
    int64_t seq = pw_hub_latest_seq(f->app.hub);
    struct stored before = stored_events(f);
    enum pw_payment pays[] = {PW_PAY_CREDITS, PW_PAY_FREE, PW_PAY_CARD};
    for (int i = 0; i < 3; i++) {
        struct pw_session s;
        new_session(&s, "cust1", "veh-tesla", pays[i] == PW_PAY_FREE ? "free" : "video", false,
                    NULL, pays[i] == PW_PAY_FREE ? 0 : VIDEO);
        char live[PW_ID_LEN + 1] = "";
        assert_int_equal(pw_routing_create(&f->app.routing, &s, pays[i], live), PW_ELIVE);
        assert_string_equal(live, first);
        struct pw_session none;
        assert_int_equal(store_session_get(f->app.store, s.id, &none), PW_ENOTFOUND);
        pw_session_clear(&s);
    }
    assert_int_equal(balance(f, "cust1"), 10000 - VIDEO);
    assert_false(user(f, "cust1").free_session_used);
    assert_int_equal(pw_hub_latest_seq(f->app.hub), seq);
    assert_int_equal(stored_events(f).n, before.n);
    assert_int_equal(sessions_of(f, "cust1"), 1);
    /* other customers are not held up; once it is over, the next one is allowed */
    char other[PW_ID_LEN + 1];
    create_credits_as(f, "cust4", NULL, false, "veh-4", other);
    assert_int_equal(pw_routing_cancel(&f->app.routing, first), PW_OK);
    char next[PW_ID_LEN + 1];
    create_credits(f, NULL, false, "veh-tesla", next);
    assert_int_equal(balance(f, "cust1"), 10000 - VIDEO);
    /* a vehicle deleted since the API looked at it: not found, nothing charged */
    assert_int_equal(pw_routing_cancel(&f->app.routing, next), PW_OK);
    struct pw_vehicle v = {.id = "veh-honda", .owner_id = "cust1"};
    assert_int_equal(store_vehicle_change(f->app.store, &v, true, T0), PW_OK);
    struct pw_session s;
    new_session(&s, "cust1", "veh-honda", "video", false, NULL, VIDEO);
    assert_int_equal(pw_routing_create(&f->app.routing, &s, PW_PAY_CREDITS, NULL), PW_ENOTFOUND);
    pw_session_clear(&s);
    assert_int_equal(balance(f, "cust1"), 10000);
}

/* The session object's steps: the payloads the session stream carried, oldest first. */
static void test_session_json_steps(void **state)
{
    struct fx *f = *state;
    online(f, "pref");
    online(f, "ma");
    struct pw_hub_sub *all = NULL;
    char id[PW_ID_LEN + 1];
    int64_t before = pw_hub_latest_seq(f->app.hub);
    create_credits(f, "pref", false, "veh-honda", id);
    all = sub(f, "session", id);
    pw_hub_replay(f->app.hub, all,
                  before); /* every event of the session, as a reconnecting stream */
    f->fc.now = T0 + 1000;
    assert_int_equal(pw_routing_decline(&f->app.routing, id, mech(f, "pref")), PW_OK);
    assert_int_equal(pw_routing_accept(&f->app.routing, id, mech(f, "ma")), PW_OK);
    struct frames fr = {0};
    read_frames(all, &fr);
    assert_string_equal(steps(&fr), "priority_offered,priority_declined,broadcast,accepted");
    struct pw_session s = get_session(f, id);
    json_t *j = session_json(f, &s);
    json_t *st = json_object_get(j, "steps");
    assert_true(json_is_array(st));
    size_t k = 0;
    for (int i = 0; i < fr.n; i++) {
        if (strcmp(fr.f[i].type, "routing") != 0) continue;
        assert_true(k < json_array_size(st));
        assert_true(json_equal(json_array_get(st, k), fr.f[i].data));
        k++;
    }
    assert_int_equal(k, json_array_size(st));
    json_decref(j);
    /* up to a sequence number: only the steps the snapshot stands for */
    int64_t upto = 0;
    for (int i = 0; i < fr.n; i++)
        if (!strcmp(fr.f[i].type, "routing") &&
            !strcmp(str(fr.f[i].data, "step"), "priority_declined"))
            upto = fr.f[i].id;
    j = session_json_upto(f, &s, upto);
    st = json_object_get(j, "steps");
    assert_int_equal(json_array_size(st), 2);
    assert_string_equal(str(json_array_get(st, 1), "step"), "priority_declined");
    json_decref(j);
    pw_session_clear(&s);
    frames_free(&fr);
    pw_hub_sub_free(all);
}

int main(void)
{
    pw_log_set_level(PW_LOG_OFF);
#define T(name) cmocka_unit_test_setup_teardown(name, setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_create_free_once),
        T(test_create_credits_debits_exactly),
        T(test_create_insufficient_credits_writes_nothing),
        T(test_card_awaits_payment_then_routes_once),
        T(test_priority_offer_only_to_preferred),
        T(test_window_timeout_broadcasts_top_n),
        T(test_specialist_broadcast_only_brand_specialists),
        T(test_decline_priority_excludes_preferred),
        T(test_skip_priority_includes_preferred),
        T(test_preferred_becomes_busy_ends_window),
        T(test_preferred_busy_at_creation_goes_to_broadcast),
        T(test_late_joiner_gets_offer),
        T(test_no_late_offer_during_priority),
        T(test_decline_broadcast_offer),
        T(test_accept_exactly_one_winner),
        T(test_accept_priority_offer),
        T(test_accept_after_window_refused),
        T(test_busy_mechanic_cannot_accept),
        T(test_end_returns_connected_mechanic_online),
        T(test_end_recently_seen_online_else_offline),
        T(test_end_online_mechanic_joins_running_broadcast),
        T(test_cancel_in_priority_refunds),
        T(test_cancel_in_broadcast_tells_every_holder),
        T(test_cancel_awaiting_payment_no_refund),
        T(test_cancel_free_session),
        T(test_expiry_in_each_open_state),
        T(test_accept_at_expiry_refused),
        T(test_window_timer_survives_restart),
        T(test_expiry_timer_survives_restart),
        T(test_restart_past_window_and_lifetime_expires_without_broadcast),
        T(test_init_repairs_presence),
        T(test_session_json_fields),
        T(test_offline_by_hand_ends_window),
        T(test_timeout_keeps_window),
        T(test_one_live_session_per_customer),
        T(test_session_json_steps),
    };
#undef T
    return test_db_run_both("routing", tests);
}
