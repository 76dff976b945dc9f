/* Presence (SPEC §3): online / offline / busy, who may change it, "seen" and the sweeper
 * that turns unseen mechanics offline. Every change is written with its event in one
 * transaction (the store publishes the event once committed) and then reflected in the
 * directory. With several nodes, a timeout is a conditional write that another node's
 * stored sighting voids. */
#ifndef PW_PRESENCE_H
#define PW_PRESENCE_H

#include <stdint.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/model.h"
#include "presence/directory.h"

struct store;

struct pw_presence {
    struct store *store;
    struct pw_dir *dir;
    const struct pw_clock *clock;
    int64_t timeout_ms;
    uint64_t changes; /* counters for /metrics */
    uint64_t timeouts;
    /* told after every change is stored and published (routing: late joiners, busy, a
     * preferred mechanic going offline by hand), with the reason the event carries */
    void (*on_change)(void *ctx, struct pw_dir_mechanic *m, enum pw_presence_state from,
                      enum pw_presence_state to, const char *reason);
    void *on_change_ctx;
};

/* The reasons a presence event carries. */
#define PW_REASON_MANUAL "manual"
#define PW_REASON_TIMEOUT "timeout"
#define PW_REASON_SESSION_ACCEPTED "session_accepted"
#define PW_REASON_SESSION_ENDED "session_ended"
#define PW_REASON_SUSPENDED "suspended"

/* The payload of a presence event (SPEC §4.7), malloc'd. */
char *pw_presence_payload(const char *mechanic_id, enum pw_presence_state to, int64_t last_seen,
                          const char *reason);

/* Any change, for any reason: no-op when unchanged (only changes are events). */
pw_err pw_presence_change(struct pw_presence *p, struct pw_dir_mechanic *m,
                          enum pw_presence_state to, const char *reason);
/* The same, but announced even when the presence stays (a suspension of an offline mechanic
 * still takes them off every list, so subscribers must hear of it). */
pw_err pw_presence_announce(struct pw_presence *p, struct pw_dir_mechanic *m,
                            enum pw_presence_state to, const char *reason);

/* The mechanic's own switch: only online/offline, only when approved and able to accept
 * sessions (PW_ENOTAPPROVED), not while busy (PW_EBUSY). */
pw_err pw_presence_set_manual(struct pw_presence *p, struct pw_dir_mechanic *m,
                              enum pw_presence_state to);

/* The mechanic did something: refreshes last_seen_at in memory (written by the sweep). */
void pw_presence_seen(struct pw_presence *p, struct pw_dir_mechanic *m);
void pw_presence_stream_opened(struct pw_presence *p, struct pw_dir_mechanic *m);
void pw_presence_stream_closed(struct pw_presence *p, struct pw_dir_mechanic *m);

/* Turns online mechanics unseen for the timeout offline (reason "timeout") and writes
 * pending last_seen_at refreshes. Returns how many timed out. */
int pw_presence_sweep(struct pw_presence *p);

#endif
