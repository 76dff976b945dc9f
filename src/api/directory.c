/* GET /api/mechanics/available (SPEC §4.1, §4.7), answered from the in-memory directory.
 *
 * Answers are cached per normalised query and reused byte for byte until the directory's
 * generation changes (any presence or profile change) or they are a second old (so a
 * "seen" refresh of last_seen_at shows within a second). The cache is what makes a hot
 * directory cost about as much as a static file; see BENCHMARKS.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "api/api.h"
#include "app.h"
#include "presence/directory.h"

#define PARAM_MAX 200 /* characters */
#define CACHE_MAX 4096
#define CACHE_TTL_MS 1000

struct cache_entry {
    char key[8 * PARAM_MAX + 32];
    struct MHD_Response *resp;
    uint64_t generation;
    int64_t made_at;
    UT_hash_handle hh;
};

struct pw_dir_cache {
    struct cache_entry *entries;
    uint64_t hits, misses;
};

struct pw_dir_cache *api_directory_cache_new(void)
{
    return calloc(1, sizeof(struct pw_dir_cache));
}

static void cache_clear(struct pw_dir_cache *c)
{
    struct cache_entry *e, *tmp;
    HASH_ITER(hh, c->entries, e, tmp)
    {
        HASH_DEL(c->entries, e);
        MHD_destroy_response(e->resp);
        free(e);
    }
}

void api_directory_cache_free(struct pw_dir_cache *c)
{
    if (!c) return;
    cache_clear(c);
    free(c);
}

/* "true"/"false" only; absent = false. */
static bool parse_bool(struct http_request *r, const char *name, bool *out)
{
    const char *v = pw_query_get(&r->query, name);
    *out = false;
    if (!v) return true;
    if (strcmp(v, "true") == 0) {
        *out = true;
        return true;
    }
    if (strcmp(v, "false") == 0) return true;
    http_errorf(r, PW_EINVAL, "%s must be true or false.", name);
    return false;
}

static bool parse_limit(struct http_request *r, int *out)
{
    const char *v = pw_query_get(&r->query, "limit");
    *out = 10;
    if (!v) return true;
    int64_t n;
    if (!pw_parse_digits(v, &n, NULL) || n < 1) {
        http_error(r, PW_EINVAL, "limit must be a positive whole number.");
        return false;
    }
    *out = n > 50 ? 50 : (int)n;
    return true;
}

void api_directory_available(struct http_request *r)
{
    struct pw_app *app = r->app;
    if (r->query_error) {
        http_errorf(r, PW_EINVAL, "Bad query string: %s.", r->query_error);
        return;
    }
    for (size_t i = 0; i < r->query.n; i++) {
        const struct pw_query_param *p = &r->query.p[i];
        size_t klen = strlen(p->key);
        if (!pw_text_is_clean(p->value, p->value_len) || !pw_text_is_clean(p->key, klen)) {
            http_errorf(r, PW_EINVAL, "Parameter %.40s contains control characters or bad UTF-8.",
                        p->key);
            return;
        }
        /* the limit is in characters, as a person counts them, not bytes */
        if (pw_utf8_chars(p->value, p->value_len) > PARAM_MAX ||
            pw_utf8_chars(p->key, klen) > PARAM_MAX) {
            http_errorf(r, PW_EINVAL, "Parameter %.40s is longer than %d characters.", p->key,
                        PARAM_MAX);
            return;
        }
    }
    struct pw_dir_query q = {.city = pw_query_get(&r->query, "city"),
                             .make = pw_query_get(&r->query, "vehicle_make")};
    if (!parse_bool(r, "is_specialist", &q.is_specialist) ||
        !parse_bool(r, "include_busy", &q.include_busy) || !parse_limit(r, &q.limit))
        return;

    struct pw_dir_cache *c = app->dir_cache;
    char city_lc[4 * PARAM_MAX + 1] = "", make_lc[4 * PARAM_MAX + 1] = "";
    if (q.city) pw_ascii_lower(q.city, city_lc, sizeof city_lc);
    if (q.make && q.is_specialist) pw_ascii_lower(q.make, make_lc, sizeof make_lc);
    char key[sizeof((struct cache_entry *)0)->key];
    snprintf(key, sizeof key, "%s\x1f%s\x1f%d%d\x1f%d", city_lc, make_lc, q.is_specialist,
             q.include_busy, q.limit);

    int64_t now = pw_clock_now(&app->clock);
    uint64_t gen = pw_dir_generation(app->dir);
    struct cache_entry *e;
    HASH_FIND_STR(c->entries, key, e);
    if (e && e->generation == gen && now - e->made_at < CACHE_TTL_MS) {
        c->hits++;
        http_respond_borrowed(r, 200, e->resp);
        return;
    }
    c->misses++;
    size_t text_len = 0;
    char *text = pw_dir_answer(app->dir, &q, &text_len);
    if (!text) {
        http_error(r, PW_EINTERNAL, NULL);
        return;
    }
    struct MHD_Response *resp = http_json_response(text, text_len, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        http_error(r, PW_EINTERNAL, NULL);
        return;
    }
    if (!e) {
        if (HASH_COUNT(c->entries) >= CACHE_MAX) cache_clear(c);
        e = calloc(1, sizeof *e);
        if (!e) {
            http_respond(r, 200, resp);
            return;
        }
        snprintf(e->key, sizeof e->key, "%s", key);
        HASH_ADD_STR(c->entries, key, e);
    } else {
        MHD_destroy_response(e->resp);
    }
    e->resp = resp;
    e->generation = gen;
    e->made_at = now;
    http_respond_borrowed(r, 200, resp);
}

/* GET /api/mechanics/{id}: one listed mechanic, as the directory shows them (the intake
 * page names the chosen mechanic with it). Unlisted ones are as unknown as missing ones. */
void api_directory_mechanic(struct http_request *r)
{
    const struct pw_dir_mechanic *m = pw_dir_get(r->app->dir, r->param);
    if (!m || !pw_dir_listed(m)) {
        http_error(r, PW_ENOTFOUND, "No such mechanic.");
        return;
    }
    http_json(r, 200, pw_dir_mechanic_json(m));
}
