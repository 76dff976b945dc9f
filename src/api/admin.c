/* The operator's API (SPEC §4.6): rollout of mechanic selection and mechanic approval.
 * (Metrics: api/success_metrics.c.) Admins only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "app.h"
#include "core/log.h"
#include "routing/rollout.h"
#include "store/store.h"

#define ADMIN (1u << PW_ROLE_ADMIN)

void api_admin_rollout_get(struct http_request *r)
{
    if (!http_auth(r, ADMIN)) return;
    http_json(r, 200, json_pack("{s:i}", "mechanic_selection_percent", r->app->rollout_percent));
}

void api_admin_rollout_put(struct http_request *r)
{
    if (!http_auth(r, ADMIN)) return;
    json_t *body = http_json_body(r);
    if (!body) return;
    json_t *p = json_object_get(body, "mechanic_selection_percent");
    if (!json_is_integer(p) || json_integer_value(p) < 0 || json_integer_value(p) > 100) {
        json_decref(body);
        http_error(r, PW_EINVAL,
                   "\"mechanic_selection_percent\" must be a whole number from 0 to 100.");
        return;
    }
    int percent = (int)json_integer_value(p);
    json_decref(body);
    char value[8];
    snprintf(value, sizeof value, "%d", percent);
    /* the setting and the event that tells the other nodes, in one transaction */
    struct store *st = r->app->store;
    pw_err e = store_tx_begin(st);
    if (!e) {
        e = store_setting_set(st, PW_ROLLOUT_KEY, value);
        if (!e) e = pw_follow_rollout_changed(st, percent, pw_clock_now(&r->app->clock));
        if (!e) e = store_tx_commit(st);
        else store_tx_rollback(st);
    }
    if (e) {
        http_error(r, e, NULL);
        return;
    }
    r->app->rollout_percent = percent; /* stored first: memory follows the database */
    pw_log(PW_LOG_INFO, "rollout",
           json_pack("{s:i, s:s}", "mechanic_selection_percent", percent, "by", r->user->email));
    http_json(r, 200, json_pack("{s:i}", "mechanic_selection_percent", percent));
}

struct list_ctx {
    json_t *list;
    enum pw_mechanic_status status;
    bool any;
};

static void add_mechanic(void *ctx, struct pw_dir_mechanic *m)
{
    struct list_ctx *c = ctx;
    if (!c->any && m->m.status != c->status) return;
    json_array_append_new(c->list, pw_dir_mechanic_json(m));
}

void api_admin_mechanics(struct http_request *r)
{
    if (!http_auth(r, ADMIN)) return;
    const char *status = pw_query_get(&r->query, "status");
    struct list_ctx c = {json_array(), PW_MECH_PENDING, status == NULL};
    if (status && !pw_mechanic_status_parse(status, &c.status)) {
        json_decref(c.list);
        http_error(r, PW_EINVAL, "status must be pending, approved or suspended.");
        return;
    }
    pw_dir_each(r->app->dir, add_mechanic, &c);
    http_json(r, 200, json_pack("{s:o}", "mechanics", c.list));
}

static void set_status(struct http_request *r, enum pw_mechanic_status status)
{
    if (!http_auth(r, ADMIN)) return;
    struct pw_app *app = r->app;
    struct pw_dir_mechanic *m = pw_dir_get(app->dir, r->param);
    if (!m) {
        http_error(r, PW_ENOTFOUND, "No such mechanic.");
        return;
    }
    bool can_accept = status == PW_MECH_APPROVED;
    pw_err e = store_tx_begin(app->store);
    if (!e) {
        e = store_mechanic_set_status(app->store, m->m.id, status, can_accept);
        if (!e) e = pw_follow_mechanic_changed(app->store, m->m.id, pw_clock_now(&app->clock));
        if (!e) e = store_tx_commit(app->store);
        else store_tx_rollback(app->store);
    }
    if (e) {
        http_error(r, e, NULL);
        return;
    }
    m->m.status = status;
    m->m.can_accept_sessions = can_accept;
    pw_dir_touch(app->dir);
    if (status == PW_MECH_SUSPENDED) pw_routing_mechanic_suspended(&app->routing, m);
    pw_log(PW_LOG_INFO, "mechanic status",
           json_pack("{s:s, s:s, s:s}", "mechanic_id", m->m.id, "status",
                     pw_mechanic_status_name(status), "by", r->user->email));
    http_json(r, 200, pw_dir_mechanic_json(m));
}

void api_admin_mechanic_approve(struct http_request *r)
{
    set_status(r, PW_MECH_APPROVED);
}

void api_admin_mechanic_suspend(struct http_request *r)
{
    set_status(r, PW_MECH_SUSPENDED);
}
