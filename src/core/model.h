/* The domain of SPEC §2 as plain structures shared by storage, presence and the API. */
#ifndef PW_MODEL_H
#define PW_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/util.h"

enum pw_role { PW_ROLE_CUSTOMER, PW_ROLE_MECHANIC, PW_ROLE_ADMIN };
enum pw_state { PW_OFFLINE, PW_ONLINE, PW_BUSY };
enum pw_mechanic_status { PW_MECH_PENDING, PW_MECH_APPROVED, PW_MECH_SUSPENDED };

const char *pw_role_name(enum pw_role r);
bool pw_role_parse(const char *s, enum pw_role *out);
const char *pw_presence_name(enum pw_state p);
bool pw_presence_parse(const char *s, enum pw_state *out);
const char *pw_mechanic_status_name(enum pw_mechanic_status s);
bool pw_mechanic_status_parse(const char *s, enum pw_mechanic_status *out);

#define PW_EMAIL_MAX 254
#define PW_NAME_MAX 120
#define PW_CITY_MAX 80
#define PW_URL_MAX 500
#define PW_TAGS_MAX 8
#define PW_TAG_MAX 40

struct pw_user {
    char id[PW_ID_LEN + 1];
    char email[PW_EMAIL_MAX + 1]; /* stored lower-case */
    char name[PW_NAME_MAX + 1];
    enum pw_role role;
    char city[PW_CITY_MAX + 1];
    int64_t credit_balance_cents;
    bool free_session_used;
    char mechanic_id[PW_ID_LEN + 1]; /* "" unless role is mechanic */
    char password_hash[128];         /* Argon2id string, as libsodium writes it */
    int64_t created_at;
};

struct pw_mechanic {
    char id[PW_ID_LEN + 1];
    char user_id[PW_ID_LEN + 1];
    char name[PW_NAME_MAX + 1];
    char profile_photo_url[PW_URL_MAX + 1];
    int rating_tenths; /* 0..50: one decimal, kept exact */
    int completed_sessions;
    int years_of_experience;
    bool is_brand_specialist;
    int n_brands;
    char brands[PW_TAGS_MAX][PW_TAG_MAX + 1];
    int n_keywords;
    char keywords[PW_TAGS_MAX][PW_TAG_MAX + 1];
    char city[PW_CITY_MAX + 1];
    char country[PW_CITY_MAX + 1];
    enum pw_mechanic_status status;
    bool can_accept_sessions;
    enum pw_state presence;
    int64_t last_seen_at; /* ms since the epoch, 0 = never */
};

struct pw_vehicle {
    char id[PW_ID_LEN + 1];
    char owner_id[PW_ID_LEN + 1];
    int year;
    char make[PW_TAG_MAX + 1];
    char model[PW_TAG_MAX + 1];
};

struct pw_plan {
    char slug[32];
    char name[64];
    int64_t standard_price_cents;
    int64_t specialist_price_cents;
};

/* A login: the cookie holds a random token, the database only its SHA-256. */
struct pw_auth_session {
    char token_hash[65];
    char user_id[PW_ID_LEN + 1];
    char csrf_token[64];
    int64_t created_at;
    int64_t expires_at;
};

#endif
