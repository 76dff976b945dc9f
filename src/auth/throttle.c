#include "auth/throttle.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store/store.h"

struct pw_throttle {
    struct store *st;
    int limit;
    int64_t window_ms;
};

struct pw_throttle *pw_throttle_new(struct store *st, int limit, int64_t window_ms)
{
    struct pw_throttle *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->st = st;
    t->limit = limit;
    t->window_ms = window_ms;
    return t;
}

void pw_throttle_free(struct pw_throttle *t)
{
    free(t);
}

static void hashed(const char *key, char out[crypto_hash_sha256_BYTES * 2 + 1])
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, (const unsigned char *)key, strlen(key));
    sodium_bin2hex(out, crypto_hash_sha256_BYTES * 2 + 1, digest, sizeof digest);
}

bool pw_throttle_allowed(struct pw_throttle *t, const char *key, int64_t now, int *retry_after_s)
{
    char h[crypto_hash_sha256_BYTES * 2 + 1];
    hashed(key, h);
    int64_t at;
    /* blocked while `limit` failures are in the window: until the oldest of them leaves */
    if (store_login_failure_nth_newest(t->st, h, now - t->window_ms, t->limit, &at) != PW_OK)
        return true;
    int64_t wait_ms = at + t->window_ms - now;
    *retry_after_s = (int)((wait_ms + 999) / 1000);
    if (*retry_after_s < 1) *retry_after_s = 1;
    return false;
}

void pw_throttle_fail(struct pw_throttle *t, const char *key, int64_t now)
{
    char h[crypto_hash_sha256_BYTES * 2 + 1];
    hashed(key, h);
    store_login_failure_add(t->st, h, now);
}

void pw_throttle_clear(struct pw_throttle *t, const char *key)
{
    char h[crypto_hash_sha256_BYTES * 2 + 1];
    hashed(key, h);
    store_login_failures_clear(t->st, h);
}

void pw_throttle_prune(struct pw_throttle *t, int64_t now)
{
    store_login_failures_prune(t->st, now - t->window_ms);
}

unsigned pw_throttle_size(const struct pw_throttle *t)
{
    int64_t n = 0;
    store_login_failure_keys(t->st, &n);
    return (unsigned)n;
}
