#include "presence/directory.h"

#include <stdlib.h>
#include <string.h>

#include "store/store.h"

/* Mechanics by lower-case city: a query with a city looks only at that city's members. */
struct pw_dir_city {
    char name[PW_CITY_MAX + 1];
    struct pw_dir_mechanic **members;
    size_t n, cap;
    UT_hash_handle hh;
};

struct pw_dir {
    struct pw_dir_mechanic *by_id;
    struct pw_dir_mechanic **all; /* every mechanic, in insertion order */
    size_t n, cap;
    struct pw_dir_mechanic **scratch; /* matches of one query */
    struct pw_dir_city *cities;
    uint64_t generation;
};

struct pw_dir *pw_dir_new(void)
{
    return calloc(1, sizeof(struct pw_dir));
}

void pw_dir_free(struct pw_dir *d)
{
    if (!d) return;
    HASH_CLEAR(hh, d->by_id);
    struct pw_dir_city *c, *tmp;
    HASH_ITER(hh, d->cities, c, tmp)
    {
        HASH_DEL(d->cities, c);
        free(c->members);
        free(c);
    }
    for (size_t i = 0; i < d->n; i++) {
        free(d->all[i]->json);
        free(d->all[i]);
    }
    free(d->all);
    free(d->scratch);
    free(d);
}

static void city_leave(struct pw_dir_mechanic *dm)
{
    struct pw_dir_city *c = dm->city;
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) {
        if (c->members[i] == dm) {
            c->members[i] = c->members[--c->n];
            break;
        }
    }
    dm->city = NULL;
}

static void city_join(struct pw_dir *d, struct pw_dir_mechanic *dm)
{
    struct pw_dir_city *c;
    HASH_FIND_STR(d->cities, dm->city_lc, c);
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c) return;
        snprintf(c->name, sizeof c->name, "%s", dm->city_lc);
        HASH_ADD_STR(d->cities, name, c);
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct pw_dir_mechanic **grown = realloc(c->members, cap * sizeof *grown);
        if (!grown) return;
        c->members = grown;
        c->cap = cap;
    }
    c->members[c->n++] = dm;
    dm->city = c;
}

/* Recomputes what is derived from the profile: lower-case keys, the city index, and the
 * version that invalidates the cached JSON. */
static void derive(struct pw_dir *d, struct pw_dir_mechanic *dm)
{
    city_leave(dm);
    pw_ascii_lower(dm->m.city, dm->city_lc, sizeof dm->city_lc);
    for (int i = 0; i < dm->m.n_brands; i++)
        pw_ascii_lower(dm->m.brands[i], dm->brands_lc[i], sizeof dm->brands_lc[i]);
    city_join(d, dm);
    dm->version++;
}

pw_err pw_dir_put(struct pw_dir *d, const struct pw_mechanic *m)
{
    struct pw_dir_mechanic *dm = pw_dir_get(d, m->id);
    if (!dm) {
        if (d->n == d->cap) {
            size_t cap = d->cap ? d->cap * 2 : 64;
            struct pw_dir_mechanic **all = realloc(d->all, cap * sizeof *all);
            if (!all) return PW_EINTERNAL;
            d->all = all;
            struct pw_dir_mechanic **scratch = realloc(d->scratch, cap * sizeof *scratch);
            if (!scratch) return PW_EINTERNAL;
            d->scratch = scratch;
            d->cap = cap;
        }
        dm = calloc(1, sizeof *dm);
        if (!dm) return PW_EINTERNAL;
        dm->m = *m;
        HASH_ADD_STR(d->by_id, m.id, dm);
        d->all[d->n++] = dm;
    } else {
        dm->m = *m;
    }
    derive(d, dm);
    d->generation++;
    return PW_OK;
}

static void load_one(void *ctx, const struct pw_mechanic *m)
{
    pw_dir_put(ctx, m);
}

struct delay_acc {
    struct pw_dir *d;
    char id[PW_ID_LEN + 1];
    int64_t delays[50];
    int n;
};

static void flush_delays(struct delay_acc *a)
{
    if (a->n) pw_dir_set_delays(a->d, a->id, a->delays, a->n);
    a->n = 0;
}

static void load_delay(void *ctx, const char *id, int64_t delay_ms)
{
    struct delay_acc *a = ctx;
    if (strcmp(a->id, id) != 0) {
        flush_delays(a);
        snprintf(a->id, sizeof a->id, "%s", id);
    }
    if (a->n < 50) a->delays[a->n++] = delay_ms;
}

pw_err pw_dir_load(struct pw_dir *d, struct store *st)
{
    pw_err e = store_mechanics_each(st, load_one, d);
    if (e) return e;
    struct delay_acc *acc = calloc(1, sizeof *acc);
    if (!acc) return PW_EINTERNAL;
    acc->d = d;
    e = store_accept_delays_each(st, 50, load_delay, acc);
    flush_delays(acc);
    free(acc);
    return e;
}

struct pw_dir_mechanic *pw_dir_get(struct pw_dir *d, const char *id)
{
    struct pw_dir_mechanic *dm;
    HASH_FIND_STR(d->by_id, id, dm);
    return dm;
}

size_t pw_dir_count(const struct pw_dir *d)
{
    return d->n;
}

void pw_dir_each(struct pw_dir *d, void (*fn)(void *ctx, struct pw_dir_mechanic *m), void *ctx)
{
    for (size_t i = 0; i < d->n; i++) fn(ctx, d->all[i]);
}

uint64_t pw_dir_generation(const struct pw_dir *d)
{
    return d->generation;
}

void pw_dir_touch(struct pw_dir *d)
{
    d->generation++;
}

bool pw_dir_listed(const struct pw_dir_mechanic *dm)
{
    return dm->m.status == PW_MECH_APPROVED && dm->m.can_accept_sessions;
}

int pw_dir_rank_cmp(const struct pw_dir_mechanic *a, const struct pw_dir_mechanic *b)
{
    int ao = a->m.presence == PW_ONLINE, bo = b->m.presence == PW_ONLINE;
    if (ao != bo) return bo - ao;
    if (a->m.rating_tenths != b->m.rating_tenths) return b->m.rating_tenths - a->m.rating_tenths;
    if (a->m.completed_sessions != b->m.completed_sessions)
        return b->m.completed_sessions > a->m.completed_sessions ? 1 : -1;
    return strcmp(a->m.id, b->m.id);
}

static int rank_qsort(const void *a, const void *b)
{
    return pw_dir_rank_cmp(*(struct pw_dir_mechanic *const *)a,
                           *(struct pw_dir_mechanic *const *)b);
}

static bool has_brand(const struct pw_dir_mechanic *dm, const char *make_lc)
{
    for (int i = 0; i < dm->m.n_brands; i++)
        if (strcmp(dm->brands_lc[i], make_lc) == 0) return true;
    return false;
}

void pw_dir_search(struct pw_dir *d, const struct pw_dir_query *q, struct pw_dir_result *out)
{
    char city_lc[PW_CITY_MAX + 1] = "", make_lc[PW_TAG_MAX + 1] = "";
    bool by_city = q->city && *q->city, by_make = q->make && *q->make;
    memset(out, 0, sizeof *out);
    /* a filter longer than any stored value matches nothing */
    if (by_city && !pw_ascii_lower(q->city, city_lc, sizeof city_lc)) return;
    if (q->is_specialist && by_make && !pw_ascii_lower(q->make, make_lc, sizeof make_lc)) return;

    struct pw_dir_mechanic **pool = d->all;
    size_t pool_n = d->n, nm = 0;
    if (by_city) { /* only that city's members */
        struct pw_dir_city *c;
        HASH_FIND_STR(d->cities, city_lc, c);
        if (!c) return;
        pool = c->members;
        pool_n = c->n;
    }
    for (size_t i = 0; i < pool_n; i++) {
        struct pw_dir_mechanic *dm = pool[i];
        if (!pw_dir_listed(dm)) continue;
        if (dm->m.presence == PW_BUSY && !q->include_busy) continue;
        if (q->is_specialist) {
            if (!dm->m.is_brand_specialist) continue;
            if (by_make && !has_brand(dm, make_lc)) continue;
        }
        d->scratch[nm++] = dm;
        if (dm->m.presence == PW_ONLINE) out->online++;
    }
    out->total = (int)nm;
    qsort(d->scratch, nm, sizeof *d->scratch, rank_qsort);
    int limit = q->limit < 1 ? 1 : q->limit > 50 ? 50 : q->limit;
    out->n = (int)nm < limit ? (int)nm : limit;
    for (int i = 0; i < out->n; i++) out->items[i] = d->scratch[i];
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void pw_dir_set_delays(struct pw_dir *d, const char *id, const int64_t *delays_ms, int n)
{
    struct pw_dir_mechanic *dm = pw_dir_get(d, id);
    if (!dm) return;
    int64_t sorted[50];
    if (n > 50) n = 50;
    memcpy(sorted, delays_ms, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_i64);
    dm->accepted_count = n;
    memmove(dm->delays, delays_ms, (size_t)n * sizeof *delays_ms); /* newest first */
    if (n == 0) {
        dm->response_min = 0;
    } else {
        /* the median of an even count is the mean of the middle two */
        int64_t med2 = n % 2 ? 2 * sorted[n / 2] : sorted[n / 2 - 1] + sorted[n / 2];
        int64_t minutes = (med2 + 2 * 60000 - 1) / (2 * 60000);
        dm->response_min = minutes < 1 ? 1 : (int)minutes;
    }
    d->generation++;
}

int pw_dir_avg_response_min(const struct pw_dir_mechanic *dm)
{
    if (dm->accepted_count >= 3) return dm->response_min;
    return dm->m.presence == PW_ONLINE ? 2 : 5;
}

int pw_dir_specializations(const struct pw_dir_mechanic *dm, char out[3][PW_TAG_MAX + 16])
{
    int n = 0;
    if (dm->m.is_brand_specialist)
        for (int i = 0; i < dm->m.n_brands && n < 3; i++)
            snprintf(out[n++], PW_TAG_MAX + 16, "%s", dm->m.brands[i]);
    for (int i = 0; i < dm->m.n_keywords && n < 3; i++)
        snprintf(out[n++], PW_TAG_MAX + 16, "%s", dm->m.keywords[i]);
    if (n < 3) snprintf(out[n++], PW_TAG_MAX + 16, "%d yrs exp", dm->m.years_of_experience);
    return n;
}

static json_t *time_or_null(int64_t ms)
{
    if (!ms) return json_null();
    char iso[PW_ISO_LEN + 1];
    pw_iso8601(ms, iso);
    return json_string(iso);
}

static json_t *tags(const char t[][PW_TAG_MAX + 1], int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_string(t[i]));
    return a;
}

json_t *pw_dir_presence_json(const struct pw_dir_mechanic *dm)
{
    return json_pack("{s:s, s:s, s:b, s:o}", "id", dm->m.id, "presence",
                     pw_presence_name(dm->m.presence), "is_available", dm->m.presence == PW_ONLINE,
                     "last_seen_at", time_or_null(dm->m.last_seen_at));
}

json_t *pw_dir_mechanic_json(const struct pw_dir_mechanic *dm)
{
    const struct pw_mechanic *m = &dm->m;
    char labels[3][PW_TAG_MAX + 16];
    int nl = pw_dir_specializations(dm, labels);
    json_t *spec = json_array();
    for (int i = 0; i < nl; i++) json_array_append_new(spec, json_string(labels[i]));
    json_t *o = pw_dir_presence_json(dm);
    json_object_update_new(
        o, json_pack("{s:s, s:s?, s:f, s:i, s:i, s:b, s:o, s:o, s:s, s:s, s:s, s:b, s:i, s:o}",
                     "name", m->name, "profile_photo_url",
                     m->profile_photo_url[0] ? m->profile_photo_url : NULL, "rating",
                     m->rating_tenths / 10.0, "completed_sessions", m->completed_sessions,
                     "years_of_experience", m->years_of_experience, "is_brand_specialist",
                     m->is_brand_specialist, "brand_specializations", tags(m->brands, m->n_brands),
                     "service_keywords", tags(m->keywords, m->n_keywords), "city", m->city,
                     "country", m->country, "status", pw_mechanic_status_name(m->status),
                     "can_accept_sessions", m->can_accept_sessions, "avgResponseTime",
                     pw_dir_avg_response_min(dm), "specializations", spec));
    return o;
}

void pw_dir_add_delay(struct pw_dir *d, const char *id, int64_t delay_ms)
{
    struct pw_dir_mechanic *dm = pw_dir_get(d, id);
    if (!dm) return;
    int64_t newest[50];
    int n = dm->accepted_count < 50 ? dm->accepted_count + 1 : 50;
    newest[0] = delay_ms;
    memcpy(newest + 1, dm->delays, (size_t)(n - 1) * sizeof *newest);
    pw_dir_set_delays(d, id, newest, n);
}

bool pw_dir_matches(const struct pw_dir_mechanic *m, bool is_specialist, const char *make)
{
    if (!is_specialist) return true;
    if (!m->m.is_brand_specialist) return false;
    char make_lc[PW_TAG_MAX + 1];
    if (!make || !pw_ascii_lower(make, make_lc, sizeof make_lc)) return false;
    return has_brand(m, make_lc);
}

struct pw_dir_mechanic *pw_dir_merge(struct pw_dir *d, const struct pw_mechanic *m,
                                     enum pw_mechanic_status *old_status)
{
    struct pw_dir_mechanic *dm = pw_dir_get(d, m->id);
    *old_status = dm ? dm->m.status : m->status;
    if (!dm) {
        if (pw_dir_put(d, m) != PW_OK) return NULL;
        return pw_dir_get(d, m->id);
    }
    struct pw_mechanic merged = *m;
    merged.presence = dm->m.presence;
    merged.last_seen_at = dm->m.last_seen_at;
    if (memcmp(&merged, &dm->m, sizeof merged) != 0) {
        dm->m = merged;
        derive(d, dm);
        d->generation++;
    }
    return dm;
}

const char *pw_dir_mechanic_text(struct pw_dir_mechanic *m, size_t *len)
{
    uint64_t key[4] = {m->version, (uint64_t)m->m.presence, (uint64_t)m->m.last_seen_at,
                       (uint64_t)pw_dir_avg_response_min(m)};
    if (!m->json || memcmp(key, m->json_key, sizeof key) != 0) {
        json_t *j = pw_dir_mechanic_json(m);
        char *text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(3));
        json_decref(j);
        if (!text) return NULL;
        free(m->json);
        m->json = text;
        m->json_len = strlen(text);
        memcpy(m->json_key, key, sizeof key);
    }
    *len = m->json_len;
    return m->json;
}

char *pw_dir_answer(struct pw_dir *d, const struct pw_dir_query *q, size_t *len)
{
    struct pw_dir_result res;
    pw_dir_search(d, q, &res);
    size_t cap = 64, used = 0;
    const char *parts[50];
    size_t lens[50];
    for (int i = 0; i < res.n; i++) {
        parts[i] = pw_dir_mechanic_text(res.items[i], &lens[i]);
        if (!parts[i]) return NULL;
        cap += lens[i] + 1;
    }
    char *out = malloc(cap);
    if (!out) return NULL;
    used = (size_t)snprintf(out, cap, "{\"mechanics\":[");
    for (int i = 0; i < res.n; i++) {
        if (i) out[used++] = ',';
        memcpy(out + used, parts[i], lens[i]);
        used += lens[i];
    }
    used += (size_t)snprintf(out + used, cap - used, "],\"total\":%d,\"online\":%d}", res.total,
                             res.online);
    *len = used;
    return out;
}
