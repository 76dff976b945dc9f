/* GET /api/admin/metrics?from=&to= (SPEC §4.6): the seed's success metrics over the
 * sessions created in [from, to). The store hands one row of facts per session; the
 * numbers are computed by success/success_metrics.c. Admins only. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "app.h"
#include "success/success_metrics.h"
#include "store/store.h"

struct facts {
    struct store_session_facts *list;
    size_t n, cap;
    bool oom;
};

static void collect(void *ctx, const struct store_session_facts *f)
{
    struct facts *c = ctx;
    if (c->oom) return;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        void *grown = realloc(c->list, cap * sizeof *c->list);
        if (!grown) {
            c->oom = true;
            return;
        }
        c->list = grown;
        c->cap = cap;
    }
    c->list[c->n++] = *f;
}

/* Answers 200 with the metrics, encoded with enough digits for seconds and rates. */
static void respond(struct http_request *r, const struct pw_success_metrics *m)
{
    json_t *body = pw_success_json(m);
    char *text = json_dumps(body, PW_SUCCESS_JSON_FLAGS);
    json_decref(body);
    /* gzipped when asked for: ~4.6 KB of numbers, no secret in it */
    http_json_gzipped(r, 200, text);
}

/* Reads the time parameter name into *ms (left as is when absent); false after answering 400. */
static bool time_param(struct http_request *r, const char *name, int64_t *ms)
{
    const char *v = pw_query_get(&r->query, name);
    if (!v) return true;
    if (!pw_success_parse_time(v, ms)) {
        http_errorf(r, PW_EINVAL,
                    "\"%s\" must be an ISO 8601 UTC time like 2025-01-31T00:00:00Z or a date "
                    "like 2025-01-31.",
                    name);
        return false;
    }
    return true;
}

void api_admin_metrics(struct http_request *r)
{
    if (!http_auth(r, 1u << PW_ROLE_ADMIN)) return;
    if (r->query_error) {
        http_errorf(r, PW_EINVAL, "Bad query string: %s.", r->query_error);
        return;
    }
    int64_t to = pw_clock_now(&r->app->clock), from;
    bool has_from = pw_query_get(&r->query, "from") != NULL;
    if (!time_param(r, "to", &to)) return;
    from = to - PW_SUCCESS_DEFAULT_WINDOW_MS;
    if (has_from && !time_param(r, "from", &from)) return;
    if (from >= to) {
        http_error(r, PW_EINVAL, "\"from\" must be before \"to\".");
        return;
    }
    if (to - from > PW_SUCCESS_MAX_WINDOW_MS) {
        http_error(r, PW_EINVAL, "The window can be at most 366 days.");
        return;
    }

    struct facts c = {0};
    pw_err e = store_sessions_facts(r->app->store, from, to, collect, &c);
    if (!e && c.oom) e = PW_EINTERNAL;
    struct pw_success_metrics *m = NULL;
    if (!e && !(m = malloc(sizeof *m))) e = PW_EINTERNAL;
    if (!e) e = pw_success_compute(c.list, c.n, from, to, m);
    if (e) http_error(r, e, NULL);
    else respond(r, m);
    free(m);
    free(c.list);
}
