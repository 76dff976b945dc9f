#include "auth/throttle.h"

#include <stdlib.h>
#include <string.h>

#include <uthash.h>

struct bucket {
    char *key;
    int count; /* failures kept in ring (at most limit) */
    int head;  /* index of the oldest */
    UT_hash_handle hh;
    int64_t ring[]; /* failure times, oldest at head */
};

struct pw_throttle {
    int limit;
    int64_t window_ms;
    struct bucket *buckets;
};

struct pw_throttle *pw_throttle_new(int limit, int64_t window_ms)
{
    struct pw_throttle *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->limit = limit;
    t->window_ms = window_ms;
    return t;
}

static void drop(struct pw_throttle *t, struct bucket *b)
{
    HASH_DEL(t->buckets, b);
    free(b->key);
    free(b);
}

void pw_throttle_free(struct pw_throttle *t)
{
    if (!t) return;
    struct bucket *b, *tmp;
    HASH_ITER(hh, t->buckets, b, tmp) drop(t, b);
    free(t);
}

/* Forgets failures older than the window. */
static void expire(struct pw_throttle *t, struct bucket *b, int64_t now)
{
    while (b->count > 0 && b->ring[b->head] <= now - t->window_ms) {
        b->head = (b->head + 1) % t->limit;
        b->count--;
    }
}

bool pw_throttle_allowed(struct pw_throttle *t, const char *key, int64_t now, int *retry_after_s)
{
    struct bucket *b;
    HASH_FIND_STR(t->buckets, key, b);
    if (!b) return true;
    expire(t, b, now);
    if (b->count < t->limit) return true;
    int64_t wait_ms = b->ring[b->head] + t->window_ms - now;
    *retry_after_s = (int)((wait_ms + 999) / 1000);
    if (*retry_after_s < 1) *retry_after_s = 1;
    return false;
}

void pw_throttle_fail(struct pw_throttle *t, const char *key, int64_t now)
{
    struct bucket *b;
    HASH_FIND_STR(t->buckets, key, b);
    if (!b) {
        b = calloc(1, sizeof *b + (size_t)t->limit * sizeof(int64_t));
        if (!b) return;
        b->key = strdup(key);
        if (!b->key) {
            free(b);
            return;
        }
        HASH_ADD_KEYPTR(hh, t->buckets, b->key, strlen(b->key), b);
    }
    expire(t, b, now);
    if (b->count == t->limit) { /* full: the oldest makes room */
        b->head = (b->head + 1) % t->limit;
        b->count--;
    }
    b->ring[(b->head + b->count) % t->limit] = now;
    b->count++;
}

void pw_throttle_clear(struct pw_throttle *t, const char *key)
{
    struct bucket *b;
    HASH_FIND_STR(t->buckets, key, b);
    if (b) drop(t, b);
}

void pw_throttle_prune(struct pw_throttle *t, int64_t now)
{
    struct bucket *b, *tmp;
    HASH_ITER(hh, t->buckets, b, tmp)
    {
        expire(t, b, now);
        if (b->count == 0) drop(t, b);
    }
}

unsigned pw_throttle_size(const struct pw_throttle *t)
{
    return HASH_COUNT(t->buckets);
}
