/* The API handlers, one file per resource. Each reads its request, validates everything it
 * reads, and answers through http/http.h. */
#ifndef PW_API_H
#define PW_API_H

#include "core/model.h"
#include "http/http.h"

/* steps.c: the routes and the per-request steps (login lookup, "seen") on the server */
pw_err api_register(struct http_server *s);

/* routes.c: every route below, added to the HTTP layer's router */
pw_err api_routes_register(struct http_router *rt);

/* health.c */
void api_healthz(struct http_request *r);
void api_readyz(struct http_request *r);

/* auth.c */
void api_auth_login(struct http_request *r);
void api_auth_logout(struct http_request *r);
void api_auth_register(struct http_request *r);
void api_me(struct http_request *r);
void api_me_update(struct http_request *r);
/* Answers a change that has committed: full (stolen) serialised, or, when it or its
 * serialisation could not be made, the small fallback text (a JSON object the client can
 * act on). Never a 5xx: that would tell the client the change did not happen. */
void api_answer_committed(struct http_request *r, unsigned status, json_t *full,
                          const char *fallback);
json_t *api_me_json(struct pw_app *app, const struct pw_user *u, const char *csrf);

/* catalog.c */
void api_plans_list(struct http_request *r);
void api_vehicles_list(struct http_request *r);
void api_vehicles_create(struct http_request *r);
void api_vehicles_update(struct http_request *r);
void api_vehicles_delete(struct http_request *r);

/* config.c: the server's routing figures, for the pages */
void api_config(struct http_request *r);

/* directory.c */
void api_directory_available(struct http_request *r);
void api_directory_mechanic(struct http_request *r);
struct pw_dir_cache *api_directory_cache_new(void);
void api_directory_cache_free(struct pw_dir_cache *c);

/* presence.c */
/* A stream's Last-Event-ID (header, or ?last_event_id=): true when every event after it can
 * be replayed; false (send a snapshot) when there is none or the gap is too old. */
bool api_stream_can_replay(struct http_request *r, int64_t *last);
void api_presence_get(struct http_request *r);
void api_presence_set(struct http_request *r);
void api_presence_stream(struct http_request *r);
void api_mechanic_stream(struct http_request *r);

/* session_json.c: the session object of SPEC §4.7 (checkout_url only while unpaid), with
 * its "steps", the payloads of its routing events, oldest first; _upto: only the steps up to
 * event upto (a stream's snapshot: the later ones follow as events). NULL on failure. */
json_t *api_session_json(struct pw_app *app, const struct pw_session *s);
json_t *api_session_json_upto(struct pw_app *app, const struct pw_session *s, int64_t upto);

/* sessions.c */
void api_sessions_create(struct http_request *r);
void api_sessions_list(struct http_request *r);
void api_sessions_get(struct http_request *r);
void api_sessions_accept(struct http_request *r);
void api_sessions_decline(struct http_request *r);
void api_sessions_skip(struct http_request *r);
void api_sessions_cancel(struct http_request *r);
void api_sessions_end(struct http_request *r);
void api_sessions_rate(struct http_request *r);
void api_sessions_stream(struct http_request *r);
void api_mechanic_offers(struct http_request *r);

/* admin.c */
void api_admin_rollout_get(struct http_request *r);
void api_admin_rollout_put(struct http_request *r);
void api_admin_mechanics(struct http_request *r);
void api_admin_mechanic_approve(struct http_request *r);
void api_admin_mechanic_suspend(struct http_request *r);

/* success_metrics.c: the operator's success metrics */
void api_admin_metrics(struct http_request *r);

/* prometheus.c: GET /metrics */
void api_metrics(struct http_request *r);

/* openapi.c: the embedded docs/openapi.json */
void api_openapi(struct http_request *r);

/* payments.c */
void api_card_checkout(struct http_request *r, const char *session_id);
void api_stripe_webhook(struct http_request *r);
void api_payments_config(struct http_request *r);

#endif
