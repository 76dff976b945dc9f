#include "store/demo.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/model.h"
#include "core/util.h"
#include "store/store.h"

struct demo_mechanic {
    const char *first, *last;
    int rating_tenths, sessions, years;
    const char *brands[3];
    const char *keywords[3];
    const char *city;
    const char *country;
    enum pw_mechanic_status status;
};

/* The seed's mechanics: 8 in and near Toronto, a few elsewhere, one pending, one suspended. */
// clang-format off
static const struct demo_mechanic seed_mechanics[] = {
    {"John", "Smith", 49, 247, 8, {"Tesla", "BMW", "Audi"}, {"Electrical", "Diagnostics"},
     "Toronto", "Canada", PW_MECH_APPROVED},
    {"Maria", "Garcia", 48, 189, 10, {"Honda"}, {"General", "Brakes"}, "Toronto", "Canada",
     PW_MECH_APPROVED},
    {"Mike", "Chen", 47, 156, 5, {NULL}, {"Electrical", "Diagnostics"}, "Mississauga", "Canada",
     PW_MECH_APPROVED},
    {"Sarah", "Johnson", 48, 212, 12, {"BMW", "Audi"}, {"Engine", "Transmission"}, "Toronto",
     "Canada", PW_MECH_APPROVED},
    {"David", "Kim", 46, 98, 6, {"Tesla"}, {"EV Battery", "Electrical"}, "Toronto", "Canada",
     PW_MECH_APPROVED},
    {"Emily", "Davis", 45, 74, 4, {NULL}, {"Brakes", "Suspension"}, "Toronto", "Canada",
     PW_MECH_APPROVED},
    {"Carlos", "Rodriguez", 47, 133, 9, {"Honda", "Toyota"}, {"Hybrid", "Diagnostics"},
     "Brampton", "Canada", PW_MECH_APPROVED},
    {"Aisha", "Khan", 44, 61, 3, {NULL}, {"Maintenance", "Diagnostics"}, "Markham", "Canada",
     PW_MECH_APPROVED},
    {"Liam", "Obrien", 48, 201, 11, {"Tesla"}, {"EV Battery"}, "Vancouver", "Canada",
     PW_MECH_APPROVED},
    {"Sophie", "Tremblay", 46, 120, 7, {"Audi", "Volkswagen"}, {"Diagnostics"}, "Montreal",
     "Canada", PW_MECH_APPROVED},
    {"Noah", "Williams", 45, 88, 6, {NULL}, {"Engine", "Cooling"}, "Calgary", "Canada",
     PW_MECH_APPROVED},
    {"Priya", "Patel", 0, 0, 2, {NULL}, {"Diagnostics"}, "Toronto", "Canada", PW_MECH_PENDING},
    {"Tom", "Baker", 39, 40, 15, {"Ford"}, {"Engine"}, "Toronto", "Canada", PW_MECH_SUSPENDED},
};
// clang-format on

static const char *first_names[] = {
    "James",  "Olivia", "Liam",   "Emma",   "Noah",  "Ava",   "Lucas", "Mia",  "Ethan", "Chloe",
    "Arjun",  "Mei",    "Omar",   "Fatima", "Diego", "Lucia", "Kenji", "Yuki", "Andre", "Nadia",
    "Victor", "Grace",  "Samuel", "Leah",   "Mateo", "Zara",  "Owen",  "Hana", "Ryan",  "Ines"};
static const char *last_names[] = {
    "Brown",   "Tremblay", "Martin",   "Roy",      "Wilson",   "Lee",     "Taylor",
    "Singh",   "Nguyen",   "Wong",     "Campbell", "Anderson", "Gagnon",  "Thompson",
    "Moore",   "Ali",      "Kowalski", "Silva",    "Rossi",    "Haddad",  "Okafor",
    "Ivanova", "Sato",     "Murphy",   "Dubois",   "Costa",    "Fischer", "Park"};
static const struct {
    const char *city;
    int weight;
} cities[] = {{"Toronto", 30}, {"Mississauga", 8}, {"Brampton", 6},  {"Markham", 5},
              {"Vaughan", 4},  {"Vancouver", 12},  {"Montreal", 12}, {"Calgary", 8},
              {"Ottawa", 7},   {"Edmonton", 5},    {"Winnipeg", 2},  {"Halifax", 1}};
static const char *makes[] = {"Tesla", "BMW",       "Audi",          "Honda",      "Toyota",
                              "Ford",  "Chevrolet", "Mercedes-Benz", "Volkswagen", "Hyundai",
                              "Kia",   "Nissan",    "Subaru",        "Mazda"};
static const char *keywords[] = {"Electrical",   "Diagnostics", "Brakes",     "Engine",
                                 "Transmission", "Suspension",  "EV Battery", "Hybrid",
                                 "Cooling",      "Maintenance", "HVAC",       "Exhaust"};

#define N_OF(a) ((uint32_t)(sizeof a / sizeof a[0]))

static void make_id(struct pw_rng *rng, char out[PW_ID_LEN + 1])
{
    uint8_t b[16];
    uint64_t x = pw_rng_next(rng), y = pw_rng_next(rng);
    memcpy(b, &x, 8);
    memcpy(b + 8, &y, 8);
    pw_uuid_from_bytes(b, out);
}

static pw_err add_account(struct store *st, struct pw_rng *rng, const char *hash, const char *email,
                          const char *name, enum pw_role role, const char *city, int64_t credits,
                          int64_t now, struct pw_user *out)
{
    struct pw_user u = {0};
    make_id(rng, u.id);
    snprintf(u.email, sizeof u.email, "%s", email);
    snprintf(u.name, sizeof u.name, "%s", name);
    snprintf(u.city, sizeof u.city, "%s", city);
    snprintf(u.password_hash, sizeof u.password_hash, "%s", hash);
    u.role = role;
    u.credit_balance_cents = credits;
    u.created_at = now;
    if (out) *out = u;
    return store_user_insert(st, &u);
}

static pw_err add_mechanic(struct store *st, struct pw_rng *rng, const char *hash,
                           const char *email, struct pw_mechanic *m, int64_t now)
{
    struct pw_user u;
    pw_err e = add_account(st, rng, hash, email, m->name, PW_ROLE_MECHANIC, m->city, 0, now, &u);
    if (e) return e;
    make_id(rng, m->id);
    snprintf(m->user_id, sizeof m->user_id, "%s", u.id);
    m->can_accept_sessions = m->status == PW_MECH_APPROVED;
    m->presence = PW_OFFLINE;
    m->is_brand_specialist = m->n_brands > 0;
    return store_mechanic_insert(st, m);
}

static pw_err load_seed(struct store *st, struct pw_rng *rng, const char *hash, int64_t now)
{
    static const struct pw_plan plans[] = {{"free", "Free Session", 0, 0},
                                           {"video", "Standard Video", 2999, 3999},
                                           {"diagnostic", "Full Diagnostic", 4999, 5999}};
    pw_err e;
    for (int i = 0; i < 3; i++)
        if ((e = store_plan_insert(st, &plans[i], i))) return e;
    if ((e = add_account(st, rng, hash, "admin@demo.test", "Pat Operator", PW_ROLE_ADMIN, "Toronto",
                         0, now, NULL)))
        return e;
    struct pw_user alex;
    if ((e = add_account(st, rng, hash, "alex@demo.test", "Alex Morgan", PW_ROLE_CUSTOMER,
                         "Toronto", 10000, now, &alex)))
        return e;
    const struct {
        int year;
        const char *make, *model;
    } cars[] = {{2020, "Tesla", "Model 3"}, {2017, "Honda", "Civic"}};
    for (int i = 0; i < 2; i++) {
        struct pw_vehicle v = {.year = cars[i].year};
        make_id(rng, v.id);
        snprintf(v.owner_id, sizeof v.owner_id, "%s", alex.id);
        snprintf(v.make, sizeof v.make, "%s", cars[i].make);
        snprintf(v.model, sizeof v.model, "%s", cars[i].model);
        if ((e = store_vehicle_insert(st, &v))) return e;
    }
    for (uint32_t i = 0; i < N_OF(seed_mechanics); i++) {
        const struct demo_mechanic *d = &seed_mechanics[i];
        struct pw_mechanic m = {0};
        snprintf(m.name, sizeof m.name, "%s %s", d->first, d->last);
        m.rating_tenths = d->rating_tenths;
        m.completed_sessions = d->sessions;
        m.years_of_experience = d->years;
        for (int k = 0; k < 3 && d->brands[k]; k++)
            snprintf(m.brands[m.n_brands++], PW_TAG_MAX + 1, "%s", d->brands[k]);
        for (int k = 0; k < 3 && d->keywords[k]; k++)
            snprintf(m.keywords[m.n_keywords++], PW_TAG_MAX + 1, "%s", d->keywords[k]);
        snprintf(m.city, sizeof m.city, "%s", d->city);
        snprintf(m.country, sizeof m.country, "%s", d->country);
        m.status = d->status;
        char email[PW_EMAIL_MAX + 1], first[32], last[32];
        pw_ascii_lower(d->first, first, sizeof first);
        pw_ascii_lower(d->last, last, sizeof last);
        snprintf(email, sizeof email, "%s.%s@demo.test", first, last);
        if ((e = add_mechanic(st, rng, hash, email, &m, now))) return e;
    }
    return PW_OK;
}

static pw_err load_generated(struct store *st, const char *hash, int count, int64_t now)
{
    struct pw_rng rng = {0x5eed0000u + (uint64_t)count};
    int total_weight = 0;
    for (uint32_t i = 0; i < N_OF(cities); i++) total_weight += cities[i].weight;
    for (int i = 0; i < count; i++) {
        struct pw_mechanic m = {0};
        snprintf(m.name, sizeof m.name, "%s %s", first_names[pw_rng_below(&rng, N_OF(first_names))],
                 last_names[pw_rng_below(&rng, N_OF(last_names))]);
        /* ratings cluster high, as on real marketplaces: 3.5 to 5.0, most above 4.3 */
        uint32_t a = pw_rng_below(&rng, 16), b = pw_rng_below(&rng, 16);
        m.rating_tenths = 35 + (int)(a > b ? a : b);
        m.completed_sessions = (int)(pw_rng_below(&rng, 25) * pw_rng_below(&rng, 25));
        m.years_of_experience = 1 + (int)pw_rng_below(&rng, 30);
        if (pw_rng_below(&rng, 100) < 40) {
            int nb = 1 + (int)pw_rng_below(&rng, 3);
            uint32_t first = pw_rng_below(&rng, N_OF(makes));
            for (int k = 0; k < nb; k++)
                snprintf(m.brands[m.n_brands++], PW_TAG_MAX + 1, "%s",
                         makes[(first + (uint32_t)k * 5) % N_OF(makes)]);
        }
        int nk = 1 + (int)pw_rng_below(&rng, 3);
        uint32_t kfirst = pw_rng_below(&rng, N_OF(keywords));
        for (int k = 0; k < nk; k++)
            snprintf(m.keywords[m.n_keywords++], PW_TAG_MAX + 1, "%s",
                     keywords[(kfirst + (uint32_t)k * 7) % N_OF(keywords)]);
        int pick = (int)pw_rng_below(&rng, (uint32_t)total_weight);
        uint32_t c = 0;
        while (pick >= cities[c].weight) pick -= cities[c++].weight;
        snprintf(m.city, sizeof m.city, "%s", cities[c].city);
        snprintf(m.country, sizeof m.country, "Canada");
        uint32_t st_pick = pw_rng_below(&rng, 100);
        m.status = st_pick < 95   ? PW_MECH_APPROVED
                   : st_pick < 98 ? PW_MECH_PENDING
                                  : PW_MECH_SUSPENDED;
        char email[64];
        snprintf(email, sizeof email, "mechanic%d@gen.demo.test", i + 1);
        pw_err e = add_mechanic(st, &rng, hash, email, &m, now);
        if (e) return e;
    }
    return PW_OK;
}

pw_err pw_demo_load(struct store *st, const char *password_hash, int generated, int64_t now)
{
    struct pw_rng rng = {0xd3e0};
    pw_err e = store_tx_begin(st);
    if (e) return e;
    if ((e = load_seed(st, &rng, password_hash, now)) ||
        (e = load_generated(st, password_hash, generated, now))) {
        store_tx_rollback(st);
        return e;
    }
    return store_tx_commit(st);
}
