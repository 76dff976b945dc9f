/* Routing (SPEC §4.4): from a paid request to one accepting mechanic.
 *
 *   awaiting_payment --paid--> priority --window ends--> broadcast --accept--> accepted --end-->
 * ended
 *                                  \______________________________________/
 *                                        cancel -> cancelled, lifetime ends -> expired
 *
 * Every step is one database transaction (state change, offers, event rows) and is then
 * published. The first accept wins by one conditional UPDATE. Timers are the rows' own
 * priority_ends_at / expires_at, checked every tick and at start, and fired through the same
 * conditional UPDATE, so a restart loses none and fires none twice. Presence follows after
 * the commit (busy on accept, back on end); pw_routing_init repairs the gap a crash there
 * could leave. See docs/internals/routing.md. */
#ifndef PW_ROUTING_H
#define PW_ROUTING_H

#include <jansson.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/model.h"
#include "presence/presence.h"

struct store;
struct pw_dir;

struct pw_routing {
    struct store *store;
    struct pw_dir *dir;
    struct pw_presence *presence;
    const struct pw_clock *clock;
    int64_t priority_window_ms;
    int64_t request_ttl_ms;
    int broadcast_size;
    /* counters for /metrics */
    uint64_t created, accepted, declined, expired, cancelled, broadcasts;
};

/* Repairs presence after a crash (assigned mechanics busy; busy ones without a session
 * back), then fires every timer that came due while the server was down. */
pw_err pw_routing_init(struct pw_routing *r);
/* Fires due timers (each second). */
void pw_routing_tick(struct pw_routing *r);

/* How a new request is paid. */
enum pw_payment { PW_PAY_FREE, PW_PAY_CREDITS, PW_PAY_CARD };

/* Creates the session s (filled and validated by the API: ids, plan, price, intake...) with
 * its payment in one transaction: the free session used, or the credits debited (PW_ECREDITS
 * / PW_EFREEUSED otherwise). Free and credits start routing at once; card waits in
 * awaiting_payment for pw_routing_paid(). One live request per customer: PW_ELIVE, nothing
 * charged, while another session of theirs is awaiting_payment, priority, broadcast or
 * accepted (its id in live_id, which may be NULL); PW_ENOTFOUND when the vehicle is not
 * theirs or was deleted. Both are checked under row locks in the same transaction, so they
 * hold against concurrent requests on any node. */
pw_err pw_routing_create(struct pw_routing *r, struct pw_session *s, enum pw_payment pay,
                         char live_id[PW_ID_LEN + 1]);
/* The card payment arrived: start routing (once; later calls are no-ops). */
pw_err pw_routing_paid(struct pw_routing *r, const char *session_id);

pw_err pw_routing_accept(struct pw_routing *r, const char *session_id, struct pw_dir_mechanic *m);
pw_err pw_routing_decline(struct pw_routing *r, const char *session_id, struct pw_dir_mechanic *m);
pw_err pw_routing_skip(struct pw_routing *r, const char *session_id);
pw_err pw_routing_cancel(struct pw_routing *r, const char *session_id);
/* outcome: "resolved" | "escalated" | "unresolved" | NULL; notes may be NULL */
pw_err pw_routing_end(struct pw_routing *r, const char *session_id, struct pw_dir_mechanic *m,
                      const char *outcome, const char *notes);

/* An operator suspended m (already stored): offline at once (announced with reason
 * "suspended", so every list drops them), live offers withdrawn (reason "suspended"), and a
 * priority window held for them ends. */
void pw_routing_mechanic_suspended(struct pw_routing *r, struct pw_dir_mechanic *m);
/* Only the withdrawals (m was suspended and announced by another process). */
void pw_routing_withdraw_offers(struct pw_routing *r, struct pw_dir_mechanic *m);

/* The presence hook: late joiners of broadcasts, and priority windows of a mechanic who
 * became busy or switched themself offline by hand (reason "manual": a decline; a timeout
 * leaves the window open). Only the process that made the change calls it. */
void pw_routing_presence_changed(void *ctx, struct pw_dir_mechanic *m, enum pw_presence_state from,
                                 enum pw_presence_state to, const char *reason);

/* The offer event payload of SPEC §4.7 (the API lists offers in the same shape). */
json_t *pw_routing_offer_json(struct pw_routing *r, const struct pw_session *s,
                              const struct pw_offer *o);

#endif
