/* The API's URL table, registered on the HTTP layer's router at start-up. */
#include "api/api.h"

static const struct http_route routes[] = {
    {HTTP_GET, "/healthz", api_healthz},
    {HTTP_GET, "/readyz", api_readyz},
    {HTTP_GET, "/metrics", api_metrics},
    {HTTP_GET, "/api/openapi.json", api_openapi},
    {HTTP_POST, "/api/auth/login", api_auth_login},
    {HTTP_POST, "/api/auth/logout", api_auth_logout},
    {HTTP_POST, "/api/auth/register", api_auth_register},
    {HTTP_GET, "/api/config", api_config},
    {HTTP_GET, "/api/me", api_me},
    {HTTP_PUT, "/api/me", api_me_update},
    {HTTP_GET, "/api/plans", api_plans_list},
    {HTTP_GET, "/api/vehicles", api_vehicles_list},
    {HTTP_POST, "/api/vehicles", api_vehicles_create},
    {HTTP_PUT, "/api/vehicles/{id}", api_vehicles_update},
    {HTTP_DELETE, "/api/vehicles/{id}", api_vehicles_delete},
    {HTTP_GET, "/api/mechanics/available", api_directory_available},
    {HTTP_GET, "/api/mechanics/{id}", api_directory_mechanic},
    {HTTP_GET, "/api/mechanic/presence", api_presence_get},
    {HTTP_POST, "/api/mechanic/presence", api_presence_set},
    {HTTP_GET, "/api/mechanic/stream", api_mechanic_stream},
    {HTTP_GET, "/api/presence/stream", api_presence_stream},
    {HTTP_GET, "/api/mechanic/offers", api_mechanic_offers},
    {HTTP_POST, "/api/sessions", api_sessions_create},
    {HTTP_GET, "/api/sessions", api_sessions_list},
    {HTTP_GET, "/api/sessions/{id}", api_sessions_get},
    {HTTP_POST, "/api/sessions/{id}/accept", api_sessions_accept},
    {HTTP_POST, "/api/sessions/{id}/decline", api_sessions_decline},
    {HTTP_POST, "/api/sessions/{id}/skip-priority", api_sessions_skip},
    {HTTP_POST, "/api/sessions/{id}/cancel", api_sessions_cancel},
    {HTTP_POST, "/api/sessions/{id}/end", api_sessions_end},
    {HTTP_POST, "/api/sessions/{id}/rating", api_sessions_rate},
    {HTTP_GET, "/api/sessions/{id}/stream", api_sessions_stream},
    {HTTP_POST, "/api/webhooks/stripe", api_stripe_webhook},
    {HTTP_GET, "/api/admin/metrics", api_admin_metrics},
    {HTTP_GET, "/api/admin/rollout", api_admin_rollout_get},
    {HTTP_PUT, "/api/admin/rollout", api_admin_rollout_put},
    {HTTP_GET, "/api/admin/mechanics", api_admin_mechanics},
    {HTTP_POST, "/api/admin/mechanics/{id}/approve", api_admin_mechanic_approve},
    {HTTP_POST, "/api/admin/mechanics/{id}/suspend", api_admin_mechanic_suspend},
    {HTTP_GET, "/api/payments/config", api_payments_config},
};

pw_err api_routes_register(struct http_router *rt)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        pw_err e = http_router_add(rt, routes[i].method, routes[i].pattern, routes[i].handler);
        if (e) return e;
    }
    return PW_OK;
}
