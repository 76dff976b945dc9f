/* Following the event table: how one node keeps its memory and its streams in step with
 * what every process on the same database commits (SPEC §6, docs/internals/cluster.md).
 *
 * Every event reaches the hub through here, in sequence order, once:
 *  - this node's own events come from the store's sink right after their commit; when an
 *    event of another process lies between the hub's newest and an own event, it is read
 *    from the table first;
 *  - other processes' events (other nodes on PostgreSQL, the command line on either
 *    backend) are read from the table when PostgreSQL notifies (LISTEN) and on every tick,
 *    and applied to memory (presence, mechanic status, avgResponseTime, rollout) before
 *    they are published.
 * Applying never writes: work another node's event asks of this one (withdrawing the offers
 * of a mechanic suspended elsewhere) waits for the next top-level call. */
#ifndef PW_FOLLOW_H
#define PW_FOLLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "core/model.h"

struct store;
struct store_event;
struct pw_hub;
struct pw_dir;
struct pw_routing;

struct pw_follow {
    struct store *store;
    struct pw_hub *hub;
    struct pw_dir *dir;
    struct pw_routing *routing;
    int *rollout_percent;
    /* mechanics suspended by another process: their live offers are withdrawn here too */
    char (*suspended)[PW_ID_LEN + 1];
    size_t n_suspended, cap_suspended;
    uint64_t applied;       /* other processes' events applied and published */
    uint64_t notifications; /* wake-ups from PostgreSQL */
    uint64_t reconnects;    /* listener reconnections (each followed by a catch-up) */
    unsigned listen_gen;    /* the listening connection's number when last polled */
};

/* The store's sink: one of this node's events has committed. */
void pw_follow_committed(void *ctx, const struct store_event *ev);
/* Reads, applies and publishes every committed event after the hub's newest. */
pw_err pw_follow_catch_up(struct pw_follow *f);
/* The listener's descriptor is readable. */
void pw_follow_notified(struct pw_follow *f);
/* Once a second: a lost listener is reconnected, anything missed is read, deferred work
 * runs. */
void pw_follow_tick(struct pw_follow *f);
void pw_follow_free(struct pw_follow *f);

/* Events that only tell other processes to re-read something, appended in the same
 * transaction as the change: a mechanic's row changed (status, or a new mechanic; NULL:
 * many rows, re-read them all); the rollout percentage changed. */
pw_err pw_follow_mechanic_changed(struct store *st, const char *mechanic_id, int64_t now);
pw_err pw_follow_rollout_changed(struct store *st, int percent, int64_t now);

#endif
