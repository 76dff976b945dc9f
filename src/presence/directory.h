/* The directory: every mechanic in memory, kept in step with the database (loaded at
 * start, updated by whoever changes a mechanic) and with presence. GET
 * /api/mechanics/available and routing answer from here, never from SQL.
 *
 * generation changes whenever anything a directory answer shows changes, except the
 * "seen" refresh of last_seen_at, so answers can be cached per generation. */
#ifndef PW_DIRECTORY_H
#define PW_DIRECTORY_H

#include <jansson.h>
#include <uthash.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/model.h"

struct store;

struct pw_dir_mechanic {
    struct pw_mechanic m;
    char city_lc[PW_CITY_MAX + 1];
    char brands_lc[PW_TAGS_MAX][PW_TAG_MAX + 1];
    int64_t delays[50];       /* offer-to-accept times of the newest accepted offers (ms) */
    int accepted_count;       /* accepted offers counted, at most 50 */
    int response_min;         /* median offer-to-accept time, whole minutes rounded up */
    int open_streams;         /* dashboard streams open now: the mechanic counts as seen */
    bool seen_dirty;          /* last_seen_at moved without being written */
    struct pw_dir_city *city; /* the city index entry this mechanic is listed under */
    uint64_t version;         /* bumped when the profile is replaced */
    char *json;               /* pw_dir_mechanic_json() as text, cached; see pw_dir_mechanic_text */
    size_t json_len;
    uint64_t json_key[4]; /* what json was made from: version, presence, last seen, response */
    int64_t seen_written; /* when last_seen_at was last written */
    UT_hash_handle hh;    /* by id */
};

struct pw_dir;
struct pw_dir_city;

struct pw_dir_query {
    const char *city;   /* NULL or "" = any */
    const char *make;   /* NULL or "" = any */
    bool is_specialist; /* only brand specialists (for make, when given) */
    bool include_busy;
    int limit; /* 1..50 */
};

struct pw_dir_result {
    struct pw_dir_mechanic *items[50];
    int n;
    int total;  /* matches before the limit */
    int online; /* of those, online */
};

struct pw_dir *pw_dir_new(void);
void pw_dir_free(struct pw_dir *d);
pw_err pw_dir_load(struct pw_dir *d, struct store *st);
/* Adds or replaces one mechanic (after it was written to the database). */
pw_err pw_dir_put(struct pw_dir *d, const struct pw_mechanic *m);
struct pw_dir_mechanic *pw_dir_get(struct pw_dir *d, const char *id);
/* Takes a mechanic as stored by someone else (the command line): profile and status from m,
 * presence and last_seen_at stay this process's. Returns the entry; *old_status is what it
 * was (or m's status for a new one). */
struct pw_dir_mechanic *pw_dir_merge(struct pw_dir *d, const struct pw_mechanic *m,
                                     enum pw_mechanic_status *old_status);
size_t pw_dir_count(const struct pw_dir *d);
/* Visits every mechanic (any status). */
void pw_dir_each(struct pw_dir *d, void (*fn)(void *ctx, struct pw_dir_mechanic *m), void *ctx);

uint64_t pw_dir_generation(const struct pw_dir *d);
void pw_dir_touch(struct pw_dir *d); /* something shown changed */

/* Listed = what customers may see and book: approved and able to accept sessions. */
bool pw_dir_listed(const struct pw_dir_mechanic *m);
/* Directory order: online first, rating, completed sessions (both descending), then id. */
int pw_dir_rank_cmp(const struct pw_dir_mechanic *a, const struct pw_dir_mechanic *b);

void pw_dir_search(struct pw_dir *d, const struct pw_dir_query *q, struct pw_dir_result *out);
/* The whole answer of GET /api/mechanics/available as JSON text (malloc'd), built from the
 * mechanics' cached fragments: {"mechanics":[...],"total":N,"online":K}. */
char *pw_dir_answer(struct pw_dir *d, const struct pw_dir_query *q, size_t *len);

/* avgResponseTime of SPEC §4.1. */
int pw_dir_avg_response_min(const struct pw_dir_mechanic *m);
/* Up to 3 labels into out; returns how many. */
int pw_dir_specializations(const struct pw_dir_mechanic *m, char out[3][PW_TAG_MAX + 16]);
/* The public JSON of one mechanic (every §2 field but the account, and the derived ones). */
json_t *pw_dir_mechanic_json(const struct pw_dir_mechanic *m);
/* The same as compact JSON text, rendered once and reused until the mechanic changes. */
const char *pw_dir_mechanic_text(struct pw_dir_mechanic *m, size_t *len);
/* The presence part only: {"id","presence","is_available","last_seen_at"}. */
json_t *pw_dir_presence_json(const struct pw_dir_mechanic *m);

/* Records accepted-offer delays (from the store, newest first) to compute response_min. */
void pw_dir_set_delays(struct pw_dir *d, const char *id, const int64_t *delays_ms, int n);
/* One more accepted offer: the oldest of 50 drops out. */
void pw_dir_add_delay(struct pw_dir *d, const char *id, int64_t delay_ms);
/* Whether m may take a session for a vehicle of this make (specialist: a brand match). */
bool pw_dir_matches(const struct pw_dir_mechanic *m, bool is_specialist, const char *make);

#endif
