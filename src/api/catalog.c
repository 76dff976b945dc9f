/* Plans and the customer's vehicles (SPEC §4.3, §4.7). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "app.h"
#include "store/store.h"

static void add_plan(void *ctx, const struct pw_plan *p)
{
    json_array_append_new(
        ctx, json_pack("{s:s, s:s, s:I, s:I}", "slug", p->slug, "name", p->name,
                       "standard_price_cents", (json_int_t)p->standard_price_cents,
                       "specialist_price_cents", (json_int_t)p->specialist_price_cents));
}

void api_plans_list(struct http_request *r)
{
    json_t *plans = json_array();
    pw_err e = store_plans_each(r->app->store, add_plan, plans);
    if (e) {
        json_decref(plans);
        http_error(r, e, NULL);
        return;
    }
    http_json(r, 200, json_pack("{s:o}", "plans", plans));
}

static json_t *vehicle_json(const struct pw_vehicle *v)
{
    return json_pack("{s:s, s:i, s:s, s:s}", "id", v->id, "year", v->year, "make", v->make, "model",
                     v->model);
}

static void add_vehicle(void *ctx, const struct pw_vehicle *v)
{
    json_array_append_new(ctx, vehicle_json(v));
}

void api_vehicles_list(struct http_request *r)
{
    if (!http_auth(r, 1u << PW_ROLE_CUSTOMER)) return;
    json_t *list = json_array();
    pw_err e = store_vehicles_of(r->app->store, r->user->id, add_vehicle, list);
    if (e) {
        json_decref(list);
        http_error(r, e, NULL);
        return;
    }
    http_json(r, 200, json_pack("{s:o}", "vehicles", list));
}

static bool text_field(struct http_request *r, json_t *body, const char *key, char *out,
                       size_t outsz)
{
    json_t *v = json_object_get(body, key);
    const char *s = json_string_value(v);
    size_t n = s ? strlen(s) : 0;
    if (!json_is_string(v) || n == 0 || n >= outsz || !pw_text_is_clean(s, n) ||
        n != json_string_length(v)) {
        http_errorf(r, PW_EINVAL, "\"%s\" must be text of 1 to %zu characters.", key, outsz - 1);
        return false;
    }
    memcpy(out, s, n + 1);
    return true;
}

/* The {"year","make","model"} of POST and PUT, validated into v; answers 400 if not. */
static bool read_vehicle(struct http_request *r, json_t *body, struct pw_vehicle *v)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    int max_year = tm.tm_year + 1900 + 1;
    json_t *year = json_object_get(body, "year");
    if (!json_is_integer(year) || json_integer_value(year) < 1900 ||
        json_integer_value(year) > max_year) {
        http_errorf(r, PW_EINVAL, "\"year\" must be a whole number from 1900 to %d.", max_year);
        return false;
    }
    if (!text_field(r, body, "make", v->make, sizeof v->make) ||
        !text_field(r, body, "model", v->model, sizeof v->model))
        return false;
    v->year = (int)json_integer_value(year);
    return true;
}

void api_vehicles_create(struct http_request *r)
{
    if (!http_auth(r, 1u << PW_ROLE_CUSTOMER)) return;
    json_t *body = http_json_body(r);
    if (!body) return;
    struct pw_vehicle v = {0};
    if (read_vehicle(r, body, &v)) {
        pw_uuid_random(v.id);
        snprintf(v.owner_id, sizeof v.owner_id, "%s", r->user->id);
        pw_err e = store_vehicle_insert(r->app->store, &v);
        if (e) http_error(r, e, NULL);
        else http_json(r, 201, vehicle_json(&v));
    }
    json_decref(body);
}

/* PUT and DELETE of /api/vehicles/{id}: the check (is a session of it live?) and the change
 * are one transaction under the vehicle's row lock, which a new session takes too. */
static void vehicle_change(struct http_request *r, const struct pw_vehicle *v, bool remove)
{
    pw_err e = store_vehicle_change(r->app->store, v, remove, pw_clock_now(&r->app->clock));
    if (e == PW_ENOTFOUND) /* someone else's, unknown or deleted: all look the same */
        http_error(r, e, "No such vehicle among yours.");
    else if (e) http_error(r, e, NULL);
    else if (remove) http_no_content(r);
    else http_json(r, 200, vehicle_json(v));
}

void api_vehicles_update(struct http_request *r)
{
    if (!http_auth(r, 1u << PW_ROLE_CUSTOMER)) return;
    json_t *body = http_json_body(r);
    if (!body) return;
    struct pw_vehicle v = {0};
    snprintf(v.id, sizeof v.id, "%s", r->param);
    snprintf(v.owner_id, sizeof v.owner_id, "%s", r->user->id);
    if (read_vehicle(r, body, &v)) vehicle_change(r, &v, false);
    json_decref(body);
}

void api_vehicles_delete(struct http_request *r)
{
    if (!http_auth(r, 1u << PW_ROLE_CUSTOMER)) return;
    struct pw_vehicle v = {0};
    snprintf(v.id, sizeof v.id, "%s", r->param);
    snprintf(v.owner_id, sizeof v.owner_id, "%s", r->user->id);
    vehicle_change(r, &v, true);
}
