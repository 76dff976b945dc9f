#include "presence/presence.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/log.h"
#include "store/store.h"

char *pw_presence_payload(const char *mechanic_id, enum pw_presence_state to, int64_t last_seen,
                          const char *reason)
{
    char iso[PW_ISO_LEN + 1];
    pw_iso8601(last_seen, iso);
    json_t *payload = json_pack("{s:s, s:s, s:b, s:s?, s:s}", "id", mechanic_id, "presence",
                                pw_presence_name(to), "is_available", to == PW_ONLINE,
                                "last_seen_at", last_seen ? iso : NULL, "reason", reason);
    char *text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    json_decref(payload);
    return text;
}

/* unseen_before > 0: a timeout, which only happens if no node has seen the mechanic since
 * (the stored last_seen_at is checked in the same UPDATE); PW_ETAKEN otherwise. */
static pw_err change(struct pw_presence *p, struct pw_dir_mechanic *m, enum pw_presence_state to,
                     const char *reason, bool force, int64_t unseen_before)
{
    if (m->m.presence == to && !force) return PW_OK;
    int64_t now = pw_clock_now(p->clock);
    /* a change the mechanic made (or a session they are in) is a sighting; a timeout or an
     * operator's suspension is not, so last_seen_at keeps the real last sighting */
    bool sighting =
        strcmp(reason, PW_REASON_TIMEOUT) != 0 && strcmp(reason, PW_REASON_SUSPENDED) != 0;
    int64_t last_seen = sighting ? now : m->m.last_seen_at;

    char *text = pw_presence_payload(m->m.id, to, last_seen, reason);
    if (!text) return PW_EINTERNAL;
    char channel[PW_CHANNEL_LEN];
    pw_channel_name(PW_CHANNEL_PRESENCE, m->m.id, channel);
    struct store_event ev = {
        .type = "presence", .channel = channel, .payload = text, .created_at = now};
    /* committed, the event is published by the store's sink (cluster/follow.c) */
    pw_err e = store_presence_save(p->store, m->m.id, to, last_seen, unseen_before, &ev);
    free(text);
    if (e) return e;
    /* the database has it: now memory follows */
    enum pw_presence_state from = m->m.presence;
    m->m.presence = to;
    m->m.last_seen_at = last_seen;
    m->seen_dirty = false;
    m->seen_written = now;
    pw_dir_touch(p->dir);
    p->changes++;
    pw_log(PW_LOG_INFO, "presence",
           json_pack("{s:s, s:s, s:s, s:I}", "mechanic_id", m->m.id, "presence",
                     pw_presence_name(to), "reason", reason, "seq", (json_int_t)ev.seq));
    if (p->on_change && from != to) p->on_change(p->on_change_ctx, m, from, to, reason);
    return PW_OK;
}

pw_err pw_presence_change(struct pw_presence *p, struct pw_dir_mechanic *m,
                          enum pw_presence_state to, const char *reason)
{
    return change(p, m, to, reason, false, 0);
}

pw_err pw_presence_announce(struct pw_presence *p, struct pw_dir_mechanic *m,
                            enum pw_presence_state to, const char *reason)
{
    return change(p, m, to, reason, true, 0);
}

pw_err pw_presence_set_manual(struct pw_presence *p, struct pw_dir_mechanic *m,
                              enum pw_presence_state to)
{
    if (to == PW_BUSY) return PW_EINVAL;
    pw_presence_seen(p, m);
    if (m->m.presence == PW_BUSY) return PW_EBUSY;
    if (to == PW_ONLINE && !pw_dir_listed(m)) return PW_ENOTAPPROVED;
    return pw_presence_change(p, m, to, PW_REASON_MANUAL);
}

void pw_presence_seen(struct pw_presence *p, struct pw_dir_mechanic *m)
{
    m->m.last_seen_at = pw_clock_now(p->clock);
    m->seen_dirty = true;
}

void pw_presence_stream_opened(struct pw_presence *p, struct pw_dir_mechanic *m)
{
    m->open_streams++;
    pw_presence_seen(p, m);
}

void pw_presence_stream_closed(struct pw_presence *p, struct pw_dir_mechanic *m)
{
    if (m->open_streams > 0) m->open_streams--;
    pw_presence_seen(p, m); /* the timeout counts from the moment the stream went away */
}

struct sweep {
    struct pw_presence *p;
    int64_t now;
    int timed_out;
};

static void sweep_timeout(void *ctx, struct pw_dir_mechanic *m)
{
    struct sweep *s = ctx;
    if (m->open_streams > 0) pw_presence_seen(s->p, m);
    if (m->m.presence != PW_ONLINE || m->open_streams > 0 ||
        s->now - m->m.last_seen_at < s->p->timeout_ms)
        return;
    pw_err e = change(s->p, m, PW_OFFLINE, PW_REASON_TIMEOUT, false, s->now - s->p->timeout_ms + 1);
    if (e == PW_OK) {
        s->timed_out++;
        s->p->timeouts++;
    } else if (e == PW_ETAKEN) {
        /* seen through another node (its stored sighting is newer): take that one */
        struct pw_mechanic stored;
        if (store_mechanic_get(s->p->store, m->m.id, &stored) == PW_OK &&
            stored.last_seen_at > m->m.last_seen_at)
            m->m.last_seen_at = stored.last_seen_at;
    }
}

/* last_seen_at refreshes are written at most every PW_SEEN_WRITE_MS per mechanic (a third
 * of the timeout when that is shorter): the in-memory value is this node's truth, the
 * stored one is how other nodes know the mechanic is still here, well before they would
 * time them out. */
#define PW_SEEN_WRITE_MS 10000

static void sweep_seen(void *ctx, struct pw_dir_mechanic *m)
{
    struct sweep *s = ctx;
    int64_t every =
        s->p->timeout_ms / 3 < PW_SEEN_WRITE_MS ? s->p->timeout_ms / 3 : PW_SEEN_WRITE_MS;
    if (!m->seen_dirty || s->now - m->seen_written < every) return;
    if (store_last_seen_save(s->p->store, m->m.id, m->m.last_seen_at) == PW_OK) {
        m->seen_dirty = false;
        m->seen_written = s->now;
    }
}

int pw_presence_sweep(struct pw_presence *p)
{
    struct sweep s = {p, pw_clock_now(p->clock), 0};
    pw_dir_each(p->dir, sweep_timeout, &s);  /* each change is its own transaction */
    if (store_tx_begin(p->store) == PW_OK) { /* the refreshes share one */
        pw_dir_each(p->dir, sweep_seen, &s);
        if (store_tx_commit(p->store) != PW_OK)
            pw_log(PW_LOG_ERROR, "presence sweep could not write last_seen_at", NULL);
    }
    return s.timed_out;
}
