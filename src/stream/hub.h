/* Events and their subscribers: the publish side of every stream.
 *
 * An event is serialised once, as the exact SSE bytes, and the same bytes (refcounted) are
 * queued to every subscriber of its channel. Channels are strings ("presence:<mechanic>",
 * "mechanic:<mechanic>", "session:<id>"); the hub keeps a two-way index, channel ->
 * subscribers and subscriber -> channels, so publishing touches only interested subscribers
 * and unsubscribing costs only the subscriber's own channels.
 *
 * The hub also keeps the newest events in a ring for Last-Event-ID replay. Every event with
 * seq > floor is in the ring; a client asking from before the floor gets a fresh snapshot.
 *
 * A subscriber's queue is bounded (events and bytes): one that cannot keep up is marked
 * overflowed and its stream is ended, so it reconnects and replays instead of growing
 * memory. Single-threaded: everything here runs on the event loop. */
#ifndef PW_HUB_H
#define PW_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pw_hub_event {
    int refs;
    int64_t seq; /* 0 for comments and per-connection frames */
    int64_t created_at;
    char *type;    /* NULL for comments */
    char *channel; /* NULL for comments */
    size_t len;
    char frame[]; /* the SSE bytes */
};

/* A published event: "id: <seq>\nevent: <type>\ndata: <payload>\n\n". payload is one line of
 * JSON (no newline). Returns a reference the caller owns. */
struct pw_hub_event *pw_hub_event_new(int64_t seq, const char *type, const char *channel,
                                      const char *payload, int64_t created_at);
/* Raw bytes sent as they are (retry:, comments, a snapshot built for one connection). */
struct pw_hub_event *pw_hub_event_raw(const char *bytes, size_t len);
void pw_hub_event_ref(struct pw_hub_event *e);
void pw_hub_event_unref(struct pw_hub_event *e);

#define PW_SUB_MAX_EVENTS 1024
#define PW_SUB_MAX_BYTES (256 * 1024)

struct pw_hub;
struct pw_hub_sub;

typedef void (*pw_hub_wake_fn)(void *ctx);

struct pw_hub *pw_hub_new(size_t ring_capacity, int64_t floor);
void pw_hub_free(struct pw_hub *h); /* every subscriber must be gone */

/* Appends ev (the hub takes its own reference) to the replay ring and queues it to the
 * subscribers of ev->channel. Returns how many subscribers it was queued to. */
size_t pw_hub_publish(struct pw_hub *h, struct pw_hub_event *ev);
/* Loads an already-stored event into the ring without delivering it (start-up). */
void pw_hub_remember(struct pw_hub *h, struct pw_hub_event *ev);
int64_t pw_hub_latest_seq(const struct pw_hub *h);
int64_t pw_hub_floor(const struct pw_hub *h);
size_t pw_hub_subscriber_count(const struct pw_hub *h);
/* Counters for /metrics: events published, frames queued to subscribers, subscribers cut
 * off for not keeping up. */
void pw_hub_counters(const struct pw_hub *h, uint64_t *published, uint64_t *delivered,
                     uint64_t *dropped);

/* Whether every event after last_id is still known (so a replay has no gap). */
bool pw_hub_can_replay(const struct pw_hub *h, int64_t last_id);
/* Queues to sub, in order, every remembered event after last_id on one of its channels.
 * Call only when pw_hub_can_replay(). Returns how many. */
size_t pw_hub_replay(struct pw_hub *h, struct pw_hub_sub *sub, int64_t last_id);

/* Queues ev to every subscriber that has had nothing queued since `idle_since` (keep-alive
 * comments; also how dead peers of idle streams are found). */
void pw_hub_push_idle(struct pw_hub *h, struct pw_hub_event *ev, int64_t now, int64_t idle_ms);
/* Marks every subscriber closing and wakes it: streams end once their queue is written. */
void pw_hub_close_all(struct pw_hub *h);

struct pw_hub_sub *pw_hub_sub_new(struct pw_hub *h, pw_hub_wake_fn wake, void *ctx, int64_t now);
bool pw_hub_sub_add_channel(struct pw_hub_sub *s, const char *channel);
/* Queues an event to this subscriber alone (snapshots, retry:). */
void pw_hub_sub_push(struct pw_hub_sub *s, struct pw_hub_event *ev);
/* Copies up to max queued bytes into buf, advancing the queue. */
size_t pw_hub_sub_read(struct pw_hub_sub *s, char *buf, size_t max);
bool pw_hub_sub_has_data(const struct pw_hub_sub *s);
bool pw_hub_sub_overflowed(const struct pw_hub_sub *s);
bool pw_hub_sub_closing(const struct pw_hub_sub *s);
void pw_hub_sub_free(struct pw_hub_sub *s);

#endif
