/* The URL table: method + path pattern -> handler. A "{id}" segment matches one path
 * segment of an id's length and characters and lands in r->param. */
#include <string.h>

#include "api/api.h"
#include "http/http.h"

struct route {
    enum http_method method;
    const char *pattern;
    http_handler handler;
};

static const struct route routes[] = {
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

/* Matches path against pattern; copies a {id} segment into param. */
static bool match(const char *pattern, const char *path, char *param, size_t paramsz)
{
    while (*pattern && *path) {
        if (strncmp(pattern, "{id}", 4) == 0) {
            size_t n = strcspn(path, "/");
            if (n == 0 || n >= paramsz) return false;
            for (size_t i = 0; i < n; i++) {
                char c = path[i];
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      c == '-' || c == '_'))
                    return false;
            }
            memcpy(param, path, n);
            param[n] = '\0';
            pattern += 4;
            path += n;
            continue;
        }
        if (*pattern != *path) return false;
        pattern++;
        path++;
    }
    return *pattern == '\0' && *path == '\0';
}

http_handler http_route(struct http_request *r, bool *path_known)
{
    *path_known = false;
    enum http_method m = r->method == HTTP_HEAD ? HTTP_GET : r->method;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (!match(routes[i].pattern, r->path, r->param, sizeof r->param)) continue;
        *path_known = true;
        if (routes[i].method == m) {
            r->route = routes[i].pattern;
            return routes[i].handler;
        }
    }
    if (*path_known) r->route = "(method not allowed)";
    return NULL;
}
