/* Demo data (SPEC §6): the seed's mechanics, plans and accounts, and optionally N generated
 * mechanics for load tests. Written through the storage interface in one transaction. */
#ifndef PW_DEMO_H
#define PW_DEMO_H

#include <stdint.h>

#include "core/error.h"

struct store;

#define PW_DEMO_PASSWORD "pitwall-demo"

/* password_hash: the Argon2id hash of PW_DEMO_PASSWORD, shared by every demo account so
 * that loading 10,000 generated mechanics does not take 10,000 hashes. */
pw_err pw_demo_load(struct store *st, const char *password_hash, int generated, int64_t now);

#endif
