/* A mechanic's own presence, and the two live streams of this issue (SPEC §3, §4.2). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "app.h"
#include "core/log.h"
#include "presence/presence.h"
#include "stream/hub.h"
#include "stream/sse.h"

#define STREAM_IDS_MAX 100

/* The logged-in mechanic's directory entry, or an error answer and NULL. */
static struct pw_dir_mechanic *own_mechanic(struct http_request *r)
{
    if (!http_auth(r, 1u << PW_ROLE_MECHANIC)) return NULL;
    struct pw_dir_mechanic *m = pw_dir_get(r->app->dir, r->user->mechanic_id);
    if (!m) http_error(r, PW_ENOTFOUND, "This account has no mechanic profile.");
    return m;
}

static json_t *own_presence_json(const struct pw_dir_mechanic *m)
{
    json_t *o = pw_dir_presence_json(m);
    if (json_object_set_new(o, "status", json_string(pw_mechanic_status_name(m->m.status))) ||
        json_object_set_new(o, "can_accept_sessions", json_boolean(m->m.can_accept_sessions))) {
        json_decref(o); /* not an answer with members missing */
        return NULL;
    }
    return o;
}

void api_presence_get(struct http_request *r)
{
    struct pw_dir_mechanic *m = own_mechanic(r);
    if (m) http_json(r, 200, own_presence_json(m));
}

void api_presence_set(struct http_request *r)
{
    struct pw_dir_mechanic *m = own_mechanic(r);
    if (!m) return;
    json_t *body = http_json_body(r);
    if (!body) return;
    const char *status = json_string_value(json_object_get(body, "status"));
    enum pw_presence_state to;
    if (!status || !pw_presence_parse(status, &to) || to == PW_BUSY) {
        json_decref(body);
        http_error(r, PW_EINVAL, "\"status\" must be \"online\" or \"offline\".");
        return;
    }
    json_decref(body);
    pw_err e = pw_presence_set_manual(&r->app->presence, m, to);
    if (e == PW_ENOTAPPROVED)
        http_errorf(r, e, "Your account is %s: only approved mechanics can go online.",
                    pw_mechanic_status_name(m->m.status));
    else if (e) http_error(r, e, NULL);
    else /* committed: the short answer still says where the mechanic now is */
        api_answer_committed(r, 200, own_presence_json(m),
                             to == PW_ONLINE ? "{\"presence\":\"online\"}"
                                             : "{\"presence\":\"offline\"}");
}

/* Last-Event-ID from the header, or from ?last_event_id= (for clients that reopen an
 * EventSource themselves, which cannot set headers). */
bool api_stream_can_replay(struct http_request *r, int64_t *last)
{
    const char *h = http_header(r, "Last-Event-ID");
    const char *q = pw_query_get(&r->query, "last_event_id");
    if (!(h && pw_sse_parse_last_event_id(h, last)) && !(q && pw_sse_parse_last_event_id(q, last)))
        return false;
    /* the client was on a node further ahead: catch up to where it was before replaying */
    if (*last > pw_hub_latest_seq(r->app->hub)) pw_follow_catch_up(&r->app->follow);
    return pw_hub_can_replay(r->app->hub, *last);
}

static bool valid_id(const char *s, size_t n)
{
    if (n == 0 || n > PW_ID_LEN) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

void api_presence_stream(struct http_request *r)
{
    struct pw_app *app = r->app;
    if (r->query_error) {
        http_errorf(r, PW_EINVAL, "Bad query string: %s.", r->query_error);
        return;
    }
    const char *ids = pw_query_get(&r->query, "ids");
    if (!ids || !*ids) {
        http_error(r, PW_EINVAL, "ids is required: up to 100 mechanic ids, comma-separated.");
        return;
    }
    char list[STREAM_IDS_MAX][PW_ID_LEN + 1];
    int n = 0;
    for (const char *p = ids;;) {
        size_t len = strcspn(p, ",");
        if (len > 0) {
            if (!valid_id(p, len)) {
                http_errorf(r, PW_EINVAL, "ids: '%.*s' is not a mechanic id.",
                            (int)(len > 40 ? 40 : len), p);
                return;
            }
            bool dup = false;
            for (int i = 0; i < n && !dup; i++)
                dup = strlen(list[i]) == len && memcmp(list[i], p, len) == 0;
            if (!dup) {
                if (n == STREAM_IDS_MAX) {
                    http_error(r, PW_EINVAL, "ids: at most 100 mechanics per stream.");
                    return;
                }
                memcpy(list[n], p, len);
                list[n++][len] = '\0';
            }
        }
        if (!p[len]) break;
        p += len + 1;
    }
    if (n == 0) {
        http_error(r, PW_EINVAL, "ids is required: up to 100 mechanic ids, comma-separated.");
        return;
    }

    if (!http_stream_admit(r)) return;
    struct MHD_Response *resp;
    struct pw_stream *s = pw_stream_open(&app->streams, app->hub, PW_CHANNEL_PRESENCE, r->conn,
                                         pw_clock_now(&app->clock), NULL, NULL, &resp);
    if (!s) {
        http_error(r, PW_EINTERNAL, "Could not open the stream.");
        return;
    }
    struct pw_hub_sub *sub = pw_stream_sub(s);
    for (int i = 0; i < n; i++) {
        char channel[PW_CHANNEL_LEN];
        pw_channel_name(PW_CHANNEL_PRESENCE, list[i], channel);
        pw_hub_sub_add_channel(sub, channel);
    }
    int64_t last;
    if (api_stream_can_replay(r, &last)) {
        pw_hub_replay(app->hub, sub, last);
    } else {
        /* a fresh connection, or one whose missed events are gone: the state as it is */
        json_t *mechanics = json_array();
        for (int i = 0; i < n; i++) {
            struct pw_dir_mechanic *m = pw_dir_get(app->dir, list[i]);
            if (m && pw_dir_listed(m)) json_array_append_new(mechanics, pw_dir_presence_json(m));
        }
        json_t *data = json_pack("{s:o}", "mechanics", mechanics);
        char *text = json_dumps(data, JSON_COMPACT);
        json_decref(data);
        struct pw_hub_event *snap =
            text ? pw_sse_frame(pw_hub_latest_seq(app->hub), "snapshot", text) : NULL;
        free(text);
        if (snap) {
            pw_hub_sub_push(sub, snap);
            pw_hub_event_unref(snap);
        }
    }
    r->is_stream = true;
    http_respond(r, 200, resp);
}

/* While a mechanic's dashboard stream is open the mechanic counts as seen. */
struct dashboard {
    struct pw_presence *presence;
    struct pw_dir_mechanic *m; /* directory entries live as long as the process */
};

static void dashboard_closed(void *ctx)
{
    struct dashboard *d = ctx;
    pw_presence_stream_closed(d->presence, d->m);
    free(d);
}

void api_mechanic_stream(struct http_request *r)
{
    struct pw_app *app = r->app;
    struct pw_dir_mechanic *m = own_mechanic(r);
    if (!m) return;
    if (!http_stream_admit(r)) return;
    struct dashboard *d = malloc(sizeof *d);
    if (!d) {
        http_error(r, PW_EINTERNAL, NULL);
        return;
    }
    d->presence = &app->presence;
    d->m = m;
    struct MHD_Response *resp;
    struct pw_stream *s = pw_stream_open(&app->streams, app->hub, PW_CHANNEL_MECHANIC, r->conn,
                                         pw_clock_now(&app->clock), dashboard_closed, d, &resp);
    if (!s) {
        free(d);
        http_error(r, PW_EINTERNAL, "Could not open the stream.");
        return;
    }
    pw_presence_stream_opened(&app->presence, m);
    struct pw_hub_sub *sub = pw_stream_sub(s);
    char channel[PW_CHANNEL_LEN];
    pw_channel_name(PW_CHANNEL_MECHANIC, m->m.id, channel);
    pw_hub_sub_add_channel(sub, channel);
    int64_t last;
    if (api_stream_can_replay(r, &last)) pw_hub_replay(app->hub, sub, last);
    r->is_stream = true;
    http_respond(r, 200, resp);
}
