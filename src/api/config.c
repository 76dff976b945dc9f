/* GET /api/config: the figures the pages show ("the 10-minute priority", countdowns) come
 * from the server's own flags, so that no page hard-codes them. */
#include "api/api.h"
#include "app.h"

void api_config(struct http_request *r)
{
    const struct pw_config *c = &r->app->cfg;
    http_json(r, 200,
              json_pack("{s:i, s:i, s:i, s:i}", "priority_window_seconds", c->priority_window_s,
                        "request_ttl_seconds", c->request_ttl_s, "presence_timeout_seconds",
                        c->presence_timeout_s, "broadcast_size", c->broadcast_size));
    /* the flags change only with a restart: a page may keep them, but asks again each load */
    http_set_cache_control(r, "no-cache");
}
