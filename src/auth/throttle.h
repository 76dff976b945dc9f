/* Login throttling: failures counted per key (an email, or a client address) in a sliding
 * window. Kept in memory: one node's view, which is what SQLite deployments have. */
#ifndef PW_THROTTLE_H
#define PW_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

struct pw_throttle;

/* limit failures within window_ms block the key until the oldest of them leaves the window. */
struct pw_throttle *pw_throttle_new(int limit, int64_t window_ms);
void pw_throttle_free(struct pw_throttle *t);

/* True when key may try now; otherwise *retry_after_s says when it may. */
bool pw_throttle_allowed(struct pw_throttle *t, const char *key, int64_t now, int *retry_after_s);
void pw_throttle_fail(struct pw_throttle *t, const char *key, int64_t now);
void pw_throttle_clear(struct pw_throttle *t, const char *key);
/* Forgets keys whose failures have all left the window (bounded memory). */
void pw_throttle_prune(struct pw_throttle *t, int64_t now);
unsigned pw_throttle_size(const struct pw_throttle *t);

#endif
