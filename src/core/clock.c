#include "core/clock.h"

#include <time.h>

static int64_t system_now_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const struct pw_clock pw_clock_system = {system_now_ms, 0};

static int64_t fake_now_ms(void *ctx)
{
    return ((struct pw_fake_clock *)ctx)->now;
}

struct pw_clock pw_fake_clock_make(struct pw_fake_clock *fc)
{
    return (struct pw_clock){fake_now_ms, fc};
}

int64_t pw_monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
