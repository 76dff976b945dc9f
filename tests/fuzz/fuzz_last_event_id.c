/* Last-Event-ID: only a bounded decimal is accepted, and it round-trips. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    int64_t v;
    if (pw_sse_parse_last_event_id(s, &v)) {
        if (v < 0) abort();
        char back[32];
        snprintf(back, sizeof back, "%" PRId64, v);
        int64_t again;
        if (!pw_sse_parse_last_event_id(back, &again) || again != v) abort();
    }
    free(s);
    return 0;
}
