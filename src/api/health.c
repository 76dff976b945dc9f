#include "api/api.h"
#include "app.h"
#include "store/store.h"

void api_healthz(struct http_request *r)
{
    http_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

/* Ready = the database answers and we are not shutting down. */
void api_readyz(struct http_request *r)
{
    bool empty;
    if (r->server->draining) {
        http_error(r, PW_EUNAVAILABLE, "Shutting down.");
    } else if (store_is_empty(r->app->store, &empty) != PW_OK) {
        http_error(r, PW_EUNAVAILABLE, "The database does not answer.");
    } else {
        http_json(r, 200,
                  json_pack("{s:s, s:s}", "status", "ready", "storage", r->app->store->ops->name));
    }
}
