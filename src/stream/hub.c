#include "stream/hub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>
#include <utlist.h>

struct channel;

struct link { /* one subscriber on one channel */
    struct channel *ch;
    struct pw_hub_sub *sub;
    struct link *prev, *next; /* in ch->links */
};

struct channel {
    char *name;
    struct link *links;
    UT_hash_handle hh;
};

struct pw_hub_sub {
    struct pw_hub *hub;
    pw_hub_wake_fn wake;
    void *wake_ctx;
    struct link *links; /* array of nlinks */
    unsigned nlinks, caplinks;
    struct pw_hub_event **q; /* ring of queued events */
    unsigned qhead, qlen, qcap;
    size_t qoffset; /* bytes of q[qhead] already read */
    size_t qbytes;  /* bytes not yet read */
    int64_t last_push;
    bool overflowed, closing;
    struct pw_hub_sub *prev, *next; /* in hub->subs */
};

struct pw_hub {
    struct channel *channels;
    struct pw_hub_sub *subs;
    size_t nsubs;
    struct pw_hub_event **ring;
    size_t ring_cap, ring_head, ring_len;
    int64_t floor, latest;
    int64_t now; /* the last tick's time: when a subscriber last had something queued */
    uint64_t published, delivered, dropped;
};

/* ---- events ---- */

struct pw_hub_event *pw_hub_event_new(int64_t seq, const char *type, const char *channel,
                                      const char *payload, int64_t created_at)
{
    int n = snprintf(NULL, 0, "id: %lld\nevent: %s\ndata: %s\n\n", (long long)seq, type, payload);
    struct pw_hub_event *e = malloc(sizeof *e + (size_t)n + 1);
    if (!e) return NULL;
    snprintf(e->frame, (size_t)n + 1, "id: %lld\nevent: %s\ndata: %s\n\n", (long long)seq, type,
             payload);
    e->len = (size_t)n;
    e->refs = 1;
    e->seq = seq;
    e->created_at = created_at;
    e->type = strdup(type);
    e->channel = strdup(channel);
    if (!e->type || !e->channel) {
        free(e->type);
        free(e->channel);
        free(e);
        return NULL;
    }
    return e;
}

struct pw_hub_event *pw_hub_event_raw(const char *bytes, size_t len)
{
    struct pw_hub_event *e = malloc(sizeof *e + len + 1);
    if (!e) return NULL;
    memcpy(e->frame, bytes, len);
    e->frame[len] = '\0';
    e->len = len;
    e->refs = 1;
    e->seq = 0;
    e->created_at = 0;
    e->type = NULL;
    e->channel = NULL;
    return e;
}

void pw_hub_event_ref(struct pw_hub_event *e)
{
    e->refs++;
}

void pw_hub_event_unref(struct pw_hub_event *e)
{
    if (!e || --e->refs > 0) return;
    free(e->type);
    free(e->channel);
    free(e);
}

/* ---- hub ---- */

struct pw_hub *pw_hub_new(size_t ring_capacity, int64_t floor)
{
    struct pw_hub *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->ring = calloc(ring_capacity ? ring_capacity : 1, sizeof *h->ring);
    if (!h->ring) {
        free(h);
        return NULL;
    }
    h->ring_cap = ring_capacity ? ring_capacity : 1;
    h->floor = floor;
    h->latest = floor;
    return h;
}

void pw_hub_free(struct pw_hub *h)
{
    if (!h) return;
    while (h->subs) pw_hub_sub_free(h->subs);
    for (size_t i = 0; i < h->ring_len; i++)
        pw_hub_event_unref(h->ring[(h->ring_head + i) % h->ring_cap]);
    free(h->ring);
    free(h);
}

static void ring_append(struct pw_hub *h, struct pw_hub_event *ev)
{
    if (h->ring_len == h->ring_cap) { /* the oldest leaves: replay now starts after it */
        struct pw_hub_event *old = h->ring[h->ring_head];
        h->floor = old->seq;
        pw_hub_event_unref(old);
        h->ring_head = (h->ring_head + 1) % h->ring_cap;
        h->ring_len--;
    }
    pw_hub_event_ref(ev);
    h->ring[(h->ring_head + h->ring_len) % h->ring_cap] = ev;
    h->ring_len++;
    if (ev->seq > h->latest) h->latest = ev->seq;
}

void pw_hub_remember(struct pw_hub *h, struct pw_hub_event *ev)
{
    /* the oldest event loaded defines what can be replayed */
    if (h->ring_len == 0) h->floor = ev->seq - 1;
    ring_append(h, ev);
}

void pw_hub_counters(const struct pw_hub *h, uint64_t *published, uint64_t *delivered,
                     uint64_t *dropped)
{
    *published = h->published;
    *delivered = h->delivered;
    *dropped = h->dropped;
}

size_t pw_hub_publish(struct pw_hub *h, struct pw_hub_event *ev)
{
    h->published++;
    ring_append(h, ev);
    struct channel *ch;
    HASH_FIND_STR(h->channels, ev->channel, ch);
    if (!ch) return 0;
    size_t n = 0;
    struct link *l;
    DL_FOREACH(ch->links, l)
    {
        pw_hub_sub_push(l->sub, ev);
        n++;
    }
    return n;
}

int64_t pw_hub_latest_seq(const struct pw_hub *h)
{
    return h->latest;
}

int64_t pw_hub_floor(const struct pw_hub *h)
{
    return h->floor;
}

size_t pw_hub_subscriber_count(const struct pw_hub *h)
{
    return h->nsubs;
}

bool pw_hub_can_replay(const struct pw_hub *h, int64_t last_id)
{
    return last_id >= h->floor && last_id <= h->latest;
}

static bool sub_on_channel(const struct pw_hub_sub *s, const char *name)
{
    for (unsigned i = 0; i < s->nlinks; i++)
        if (strcmp(s->links[i].ch->name, name) == 0) return true;
    return false;
}

size_t pw_hub_replay(struct pw_hub *h, struct pw_hub_sub *sub, int64_t last_id)
{
    /* binary search for the first remembered event after last_id */
    size_t lo = 0, hi = h->ring_len;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (h->ring[(h->ring_head + mid) % h->ring_cap]->seq <= last_id) lo = mid + 1;
        else hi = mid;
    }
    size_t n = 0;
    for (size_t i = lo; i < h->ring_len; i++) {
        struct pw_hub_event *ev = h->ring[(h->ring_head + i) % h->ring_cap];
        if (sub_on_channel(sub, ev->channel)) {
            pw_hub_sub_push(sub, ev);
            n++;
        }
    }
    return n;
}

void pw_hub_push_idle(struct pw_hub *h, struct pw_hub_event *ev, int64_t now, int64_t idle_ms)
{
    h->now = now;
    struct pw_hub_sub *s;
    DL_FOREACH(h->subs, s)
    {
        if (now - s->last_push >= idle_ms) {
            pw_hub_sub_push(s, ev);
            s->last_push = now;
        }
    }
}

void pw_hub_close_all(struct pw_hub *h)
{
    struct pw_hub_sub *s, *tmp;
    DL_FOREACH_SAFE(h->subs, s, tmp)
    {
        s->closing = true;
        s->wake(s->wake_ctx);
    }
}

/* ---- subscribers ---- */

struct pw_hub_sub *pw_hub_sub_new(struct pw_hub *h, pw_hub_wake_fn wake, void *ctx, int64_t now)
{
    struct pw_hub_sub *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->hub = h;
    s->wake = wake;
    s->wake_ctx = ctx;
    s->last_push = now;
    DL_APPEND(h->subs, s);
    h->nsubs++;
    return s;
}

bool pw_hub_sub_add_channel(struct pw_hub_sub *s, const char *name)
{
    if (sub_on_channel(s, name)) return true;
    if (s->nlinks == s->caplinks) {
        /* links are pointed to from channel lists: move them only while none is linked */
        unsigned cap = s->caplinks ? s->caplinks * 2 : 4;
        struct link *grown = malloc(cap * sizeof *grown);
        if (!grown) return false;
        for (unsigned i = 0; i < s->nlinks; i++) {
            struct channel *ch = s->links[i].ch;
            grown[i] = s->links[i];
            DL_REPLACE_ELEM(ch->links, &s->links[i], &grown[i]);
        }
        free(s->links);
        s->links = grown;
        s->caplinks = cap;
    }
    struct pw_hub *h = s->hub;
    struct channel *ch;
    HASH_FIND_STR(h->channels, name, ch);
    if (!ch) {
        ch = calloc(1, sizeof *ch);
        if (!ch) return false;
        ch->name = strdup(name);
        if (!ch->name) {
            free(ch);
            return false;
        }
        HASH_ADD_KEYPTR(hh, h->channels, ch->name, strlen(ch->name), ch);
    }
    struct link *l = &s->links[s->nlinks++];
    *l = (struct link){.ch = ch, .sub = s};
    DL_APPEND(ch->links, l);
    return true;
}

static void queue_clear(struct pw_hub_sub *s)
{
    for (unsigned i = 0; i < s->qlen; i++) pw_hub_event_unref(s->q[(s->qhead + i) % s->qcap]);
    s->qhead = s->qlen = 0;
    s->qoffset = s->qbytes = 0;
}

void pw_hub_sub_push(struct pw_hub_sub *s, struct pw_hub_event *ev)
{
    if (s->overflowed) return;
    bool was_empty = s->qlen == 0;
    if (s->qlen >= PW_SUB_MAX_EVENTS || s->qbytes + ev->len > PW_SUB_MAX_BYTES) {
        /* cannot keep up: end the stream; the client reconnects and replays */
        queue_clear(s);
        s->overflowed = true;
        s->hub->dropped++;
        s->wake(s->wake_ctx);
        return;
    }
    if (s->qlen == s->qcap) {
        unsigned cap = s->qcap ? s->qcap * 2 : 4;
        struct pw_hub_event **q = malloc(cap * sizeof *q);
        if (!q) {
            queue_clear(s);
            s->overflowed = true;
            s->wake(s->wake_ctx);
            return;
        }
        for (unsigned i = 0; i < s->qlen; i++) q[i] = s->q[(s->qhead + i) % s->qcap];
        free(s->q);
        s->q = q;
        s->qcap = cap;
        s->qhead = 0;
    }
    pw_hub_event_ref(ev);
    s->hub->delivered++;
    if (s->hub->now > s->last_push) s->last_push = s->hub->now; /* accurate to one tick */
    s->q[(s->qhead + s->qlen) % s->qcap] = ev;
    s->qlen++;
    s->qbytes += ev->len;
    if (was_empty) s->wake(s->wake_ctx);
}

size_t pw_hub_sub_read(struct pw_hub_sub *s, char *buf, size_t max)
{
    size_t out = 0;
    while (s->qlen > 0 && out < max) {
        struct pw_hub_event *ev = s->q[s->qhead];
        size_t left = ev->len - s->qoffset;
        size_t n = left < max - out ? left : max - out;
        memcpy(buf + out, ev->frame + s->qoffset, n);
        out += n;
        s->qoffset += n;
        s->qbytes -= n;
        if (s->qoffset == ev->len) {
            pw_hub_event_unref(ev);
            s->qhead = (s->qhead + 1) % s->qcap;
            s->qlen--;
            s->qoffset = 0;
        }
    }
    if (s->qlen == 0 && s->qcap > 16) { /* give back memory after a burst */
        free(s->q);
        s->q = NULL;
        s->qcap = 0;
        s->qhead = 0;
    }
    return out;
}

bool pw_hub_sub_has_data(const struct pw_hub_sub *s)
{
    return s->qlen > 0;
}

bool pw_hub_sub_overflowed(const struct pw_hub_sub *s)
{
    return s->overflowed;
}

bool pw_hub_sub_closing(const struct pw_hub_sub *s)
{
    return s->closing;
}

void pw_hub_sub_free(struct pw_hub_sub *s)
{
    if (!s) return;
    struct pw_hub *h = s->hub;
    for (unsigned i = 0; i < s->nlinks; i++) {
        struct channel *ch = s->links[i].ch;
        DL_DELETE(ch->links, &s->links[i]);
        if (!ch->links) {
            HASH_DEL(h->channels, ch);
            free(ch->name);
            free(ch);
        }
    }
    free(s->links);
    queue_clear(s);
    free(s->q);
    DL_DELETE(h->subs, s);
    h->nsubs--;
    free(s);
}
