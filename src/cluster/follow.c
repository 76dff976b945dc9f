#include "cluster/follow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/log.h"
#include "core/util.h"
#include "presence/directory.h"
#include "routing/routing.h"
#include "store/store.h"
#include "stream/hub.h"

#define PAGE 1000 /* events read per query while catching up */

static void publish(struct pw_follow *f, const struct store_event *ev)
{
    struct pw_hub_event *pe =
        pw_hub_event_new(ev->seq, ev->type, ev->channel, ev->payload, ev->created_at);
    if (!pe) return;
    pw_hub_publish(f->hub, pe);
    pw_hub_event_unref(pe);
}

/* ---- applying other processes' events to memory ---- */

static struct pw_dir_mechanic *mechanic_reload(struct pw_follow *f, const char *id,
                                               enum pw_mechanic_status *was)
{
    struct pw_mechanic m;
    if (store_mechanic_get(f->store, id, &m) != PW_OK) return NULL;
    struct pw_dir_mechanic *dm = pw_dir_merge(f->dir, &m, was);
    if (dm) pw_dir_touch(f->dir);
    return dm;
}

static void apply_presence(struct pw_follow *f, json_t *p)
{
    const char *id = json_string_value(json_object_get(p, "id"));
    enum pw_presence_state to;
    if (!id || !pw_presence_parse(json_string_value(json_object_get(p, "presence")), &to)) return;
    enum pw_mechanic_status was;
    struct pw_dir_mechanic *m = pw_dir_get(f->dir, id);
    if (!m && !(m = mechanic_reload(f, id, &was))) return;
    int64_t seen = 0;
    /* a sighting here may be newer than the one the event carries: keep the newest */
    if (pw_iso8601_parse(json_string_value(json_object_get(p, "last_seen_at")), &seen) &&
        seen > m->m.last_seen_at)
        m->m.last_seen_at = seen;
    if (m->m.presence != to) {
        m->m.presence = to;
        pw_dir_touch(f->dir);
    }
}

static void merge_one(void *ctx, const struct pw_mechanic *m)
{
    struct pw_follow *f = ctx;
    enum pw_mechanic_status was;
    pw_dir_merge(f->dir, m, &was);
}

static void apply_mechanic(struct pw_follow *f, json_t *p)
{
    const char *id = json_string_value(json_object_get(p, "id"));
    if (!id) { /* many at once (the demo data): every row */
        store_mechanics_each(f->store, merge_one, f);
        pw_dir_touch(f->dir);
        return;
    }
    enum pw_mechanic_status was;
    struct pw_dir_mechanic *m = mechanic_reload(f, id, &was);
    if (!m || was == PW_MECH_SUSPENDED || m->m.status != PW_MECH_SUSPENDED) return;
    if (f->n_suspended == f->cap_suspended) {
        size_t cap = f->cap_suspended ? f->cap_suspended * 2 : 8;
        void *grown = realloc(f->suspended, cap * sizeof *f->suspended);
        if (!grown) return;
        f->suspended = grown;
        f->cap_suspended = cap;
    }
    snprintf(f->suspended[f->n_suspended++], PW_ID_LEN + 1, "%s", id);
}

/* An accept on another node counts towards the mechanic's avgResponseTime here too. */
static void apply_routing(struct pw_follow *f, json_t *p)
{
    const char *step = json_string_value(json_object_get(p, "step"));
    const char *session = json_string_value(json_object_get(p, "session_id"));
    const char *mechanic = json_string_value(json_object_get(p, "mechanic_id"));
    if (!step || strcmp(step, "accepted") != 0 || !session || !mechanic) return;
    struct pw_offer o;
    if (store_offer_get(f->store, session, mechanic, &o) == PW_OK && o.outcome == PW_OFFER_ACCEPTED)
        pw_dir_add_delay(f->dir, mechanic, o.outcome_at - o.offered_at);
}

static void apply_rollout(struct pw_follow *f, json_t *p)
{
    json_t *percent = json_object_get(p, "mechanic_selection_percent");
    if (json_is_integer(percent)) *f->rollout_percent = (int)json_integer_value(percent);
}

static void apply(struct pw_follow *f, const struct store_event *ev)
{
    json_t *p = json_loads(ev->payload, 0, NULL);
    if (!p) return;
    if (strcmp(ev->type, "presence") == 0) apply_presence(f, p);
    else if (strcmp(ev->type, "mechanic") == 0) apply_mechanic(f, p);
    else if (strcmp(ev->type, "routing") == 0) apply_routing(f, p);
    else if (strcmp(ev->type, "rollout") == 0) apply_rollout(f, p);
    json_decref(p);
}

/* ---- reading the table ---- */

struct page {
    struct pw_follow *f;
    int64_t upto; /* 0 = no bound */
    int rows;
    bool beyond; /* a row past upto was seen: everything up to it has been read */
};

static void on_row(void *ctx, const struct store_event *ev)
{
    struct page *pg = ctx;
    pg->rows++;
    if (pg->upto && ev->seq > pg->upto) pg->beyond = true;
    if (pg->beyond || ev->seq <= pw_hub_latest_seq(pg->f->hub)) return;
    apply(pg->f, ev);
    publish(pg->f, ev);
    pg->f->applied++;
}

/* Everything committed after the hub's newest, up to `upto` (0: all). */
static pw_err catch_up(struct pw_follow *f, int64_t upto)
{
    for (;;) {
        struct page pg = {f, upto, 0, false};
        pw_err e = store_events_after(f->store, pw_hub_latest_seq(f->hub), PAGE, on_row, &pg);
        if (e) return e;
        if (pg.rows < PAGE || pg.beyond) return PW_OK;
    }
}

pw_err pw_follow_catch_up(struct pw_follow *f)
{
    return catch_up(f, 0);
}

void pw_follow_committed(void *ctx, const struct store_event *ev)
{
    struct pw_follow *f = ctx;
    int64_t latest = pw_hub_latest_seq(f->hub);
    if (ev->seq <= latest) return; /* cannot happen: a seq is committed once */
    /* events of other processes committed in between go first, so every stream sees one
     * order, the table's; a hole (a seq whose commit failed) reads as nothing. If they
     * cannot be read now, this one waits too: the next catch-up reads all of them, in order */
    if (ev->seq > latest + 1 && catch_up(f, ev->seq - 1) != PW_OK) return;
    publish(f, ev);
}

/* Withdrawals for mechanics another process suspended (each is a conditional write: when
 * several nodes do it, each offer is withdrawn once). */
static void run_deferred(struct pw_follow *f)
{
    for (size_t i = 0; i < f->n_suspended; i++) {
        struct pw_dir_mechanic *m = pw_dir_get(f->dir, f->suspended[i]);
        if (m) pw_routing_withdraw_offers(f->routing, m);
    }
    f->n_suspended = 0;
}

static void poll_listener(struct pw_follow *f)
{
    int64_t newest = 0;
    bool woke = false;
    pw_err e = store_listen_poll(f->store, &newest, &woke);
    unsigned gen = 0;
    store_listen_fd(f->store, &gen);
    if (f->listen_gen && gen != f->listen_gen) f->reconnects++; /* each new one is numbered */
    f->listen_gen = gen;
    if (e || !woke) return;
    f->notifications++;
    /* our own commits notify us too: nothing to read when the hub already has them */
    if (newest && newest <= pw_hub_latest_seq(f->hub)) return;
    if (catch_up(f, 0) != PW_OK)
        pw_log(PW_LOG_WARN, "could not read the events of other nodes", NULL);
}

void pw_follow_notified(struct pw_follow *f)
{
    poll_listener(f);
    run_deferred(f);
}

void pw_follow_tick(struct pw_follow *f)
{
    poll_listener(f);
    /* also without a notification: SQLite has none, and one may have been lost */
    catch_up(f, 0);
    run_deferred(f);
}

void pw_follow_free(struct pw_follow *f)
{
    free(f->suspended);
    f->suspended = NULL;
    f->n_suspended = f->cap_suspended = 0;
}

pw_err pw_follow_mechanic_changed(struct store *st, const char *mechanic_id, int64_t now)
{
    json_t *p = mechanic_id ? json_pack("{s:s}", "id", mechanic_id) : json_pack("{s:b}", "all", 1);
    char *text = p ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    if (!text) return PW_EINTERNAL;
    struct store_event ev = {
        .type = "mechanic", .channel = "mechanics", .payload = text, .created_at = now};
    pw_err e = store_event_append(st, &ev);
    free(text);
    return e;
}

pw_err pw_follow_rollout_changed(struct store *st, int percent, int64_t now)
{
    char text[64];
    snprintf(text, sizeof text, "{\"mechanic_selection_percent\":%d}", percent);
    struct store_event ev = {
        .type = "rollout", .channel = "admin", .payload = text, .created_at = now};
    return store_event_append(st, &ev);
}
