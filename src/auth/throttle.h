/* Login throttling: failures counted per key (an email, or a client address) in a sliding
 * window. Kept in the database, so every node of a cluster counts the same failures (one
 * client spread over several nodes gets no more tries); keys are stored as SHA-256, never
 * as the email or address itself. */
#ifndef PW_THROTTLE_H
#define PW_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

struct store;
struct pw_throttle;

/* limit failures within window_ms block the key until the oldest of the newest `limit`
 * leaves the window. */
struct pw_throttle *pw_throttle_new(struct store *st, int limit, int64_t window_ms);
void pw_throttle_free(struct pw_throttle *t);

/* True when key may try now; otherwise *retry_after_s says when it may. A storage error
 * allows (a login is not refused because the counter cannot be read). */
bool pw_throttle_allowed(struct pw_throttle *t, const char *key, int64_t now, int *retry_after_s);
void pw_throttle_fail(struct pw_throttle *t, const char *key, int64_t now);
void pw_throttle_clear(struct pw_throttle *t, const char *key);
/* Forgets failures that have left the window (shared by every throttle on the store: call
 * it with the longest window). */
void pw_throttle_prune(struct pw_throttle *t, int64_t now);
/* Keys with failures on record. */
unsigned pw_throttle_size(const struct pw_throttle *t);

#endif
