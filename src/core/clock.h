/* Time is injectable: presence timeouts and the routing timers (priority windows, offer
 * expiry) read the clock through this handle, so tests can step through minutes in microseconds. */
#ifndef PW_CLOCK_H
#define PW_CLOCK_H

#include <stdint.h>

struct pw_clock {
    int64_t (*now_ms)(void *ctx); /* wall clock, milliseconds since the Unix epoch */
    void *ctx;
};

extern const struct pw_clock pw_clock_system;

static inline int64_t pw_clock_now(const struct pw_clock *c)
{
    return c->now_ms(c->ctx);
}

/* A clock that only moves when told to: for tests. */
struct pw_fake_clock {
    int64_t now;
};
struct pw_clock pw_fake_clock_make(struct pw_fake_clock *fc);

/* Monotonic microseconds, for measuring durations (never for stored times). */
int64_t pw_monotonic_us(void);

#endif
