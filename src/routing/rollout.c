#include "routing/rollout.h"

#include <stdint.h>
#include <string.h>

#include <sodium.h>

int pw_rollout_bucket(const char *customer_id)
{
    /* SHA-256 mixes ids that differ in one character as well as random ones; the salt keeps
     * this rollout's buckets independent of any other experiment's */
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)"mechanic_selection:", 19);
    crypto_hash_sha256_update(&st, (const unsigned char *)customer_id, strlen(customer_id));
    crypto_hash_sha256_final(&st, digest);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | digest[i];
    return (int)(v % 100);
}

bool pw_rollout_selected(int percent, const char *customer_id)
{
    return pw_rollout_bucket(customer_id) < percent;
}
