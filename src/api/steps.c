/* The API's per-request steps, registered on the HTTP layer (struct http_steps): who is
 * logged in, from the session cookie and the store, and the presence rule that a
 * mechanic's request counts as "seen". */
#include <stdlib.h>

#include "api/api.h"
#include "app.h"
#include "auth/auth.h"
#include "presence/directory.h"
#include "presence/presence.h"
#include "store/store.h"

static void step_login(struct http_request *r)
{
    char token[PW_TOKEN_LEN + 8];
    if (!pw_auth_cookie_get(http_header(r, "Cookie"), "pitwall_session", token, sizeof token))
        return;
    char hash[PW_TOKEN_HASH_LEN + 1];
    pw_auth_token_hash(token, hash);
    struct pw_app *app = r->app;
    int64_t now = pw_clock_now(&app->clock);
    r->login = malloc(sizeof *r->login);
    r->user = malloc(sizeof *r->user);
    pw_err e = !r->login || !r->user ? PW_EINTERNAL
                                     : store_auth_session_get(app->store, hash, now, r->login);
    if (!e) e = store_user_by_id(app->store, r->login->user_id, r->user);
    if (e) {
        if (e != PW_ENOTFOUND) r->auth_error = e;
        free(r->login);
        free(r->user);
        r->login = NULL;
        r->user = NULL;
        return;
    }
    r->has_user = true;
}

static void step_seen(struct http_request *r)
{
    struct pw_app *app = r->app;
    if (r->user->role == PW_ROLE_MECHANIC && r->user->mechanic_id[0]) {
        struct pw_dir_mechanic *m = pw_dir_get(app->dir, r->user->mechanic_id);
        if (m) pw_presence_seen(&app->presence, m);
    }
}

pw_err api_register(struct http_server *s)
{
    s->steps = (struct http_steps){.login = step_login, .logged_in = step_seen};
    return api_routes_register(&s->router);
}
