/* The domain of SPEC §2 as plain structures shared by storage, presence and the API. */
#ifndef PW_MODEL_H
#define PW_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/util.h"

enum pw_role { PW_ROLE_CUSTOMER, PW_ROLE_MECHANIC, PW_ROLE_ADMIN };
enum pw_presence_state { PW_OFFLINE, PW_ONLINE, PW_BUSY };
enum pw_mechanic_status { PW_MECH_PENDING, PW_MECH_APPROVED, PW_MECH_SUSPENDED };

const char *pw_role_name(enum pw_role r);
bool pw_role_parse(const char *s, enum pw_role *out);
const char *pw_presence_name(enum pw_presence_state p);
bool pw_presence_parse(const char *s, enum pw_presence_state *out);
const char *pw_mechanic_status_name(enum pw_mechanic_status s);
bool pw_mechanic_status_parse(const char *s, enum pw_mechanic_status *out);

/* The stream channels an event is published on (SPEC §4.4): "presence:<mechanic id>",
 * "mechanic:<mechanic id>" (that mechanic's offers), "session:<session id>". Every name is
 * made here; "admin" (the rollout) has no id. */
enum pw_channel { PW_CHANNEL_PRESENCE, PW_CHANNEL_MECHANIC, PW_CHANNEL_SESSION, PW_CHANNEL_KINDS };
#define PW_CHANNEL_LEN (PW_ID_LEN + 16)
void pw_channel_name(enum pw_channel kind, const char *id, char out[PW_CHANNEL_LEN]);
/* "presence", "mechanic", "session": also the kinds of stream (sse.h), one per channel kind */
const char *pw_channel_kind_name(enum pw_channel kind);

#define PW_EMAIL_MAX 254
#define PW_NAME_MAX 120
#define PW_CITY_MAX 80
#define PW_URL_MAX 500
#define PW_TAGS_MAX 8
#define PW_TAG_MAX 40
/* An account's own name and city (PUT /api/me): characters, and the bytes they may take */
#define PW_PROFILE_CHARS 100
#define PW_PROFILE_BYTES (PW_PROFILE_CHARS * 4)

struct pw_user {
    char id[PW_ID_LEN + 1];
    char email[PW_EMAIL_MAX + 1];    /* stored lower-case */
    char name[PW_PROFILE_BYTES + 1]; /* register takes PW_NAME_MAX bytes, PUT /api/me more */
    enum pw_role role;
    char city[PW_PROFILE_BYTES + 1];
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
    enum pw_presence_state presence;
    int64_t last_seen_at; /* ms since the epoch, 0 = never */
};

struct pw_vehicle {
    char id[PW_ID_LEN + 1];
    char owner_id[PW_ID_LEN + 1];
    int year;
    char make[PW_TAG_MAX + 1];
    char model[PW_TAG_MAX + 1];
    int64_t deleted_at; /* 0 = not deleted; a deleted vehicle stays for its past sessions */
};

struct pw_plan {
    char slug[32];
    char name[64];
    int64_t standard_price_cents;
    int64_t specialist_price_cents;
};

enum pw_session_state {
    PW_SESSION_AWAITING_PAYMENT,
    PW_SESSION_PRIORITY,
    PW_SESSION_BROADCAST,
    PW_SESSION_ACCEPTED,
    PW_SESSION_ENDED,
    PW_SESSION_CANCELLED,
    PW_SESSION_EXPIRED,
};
const char *pw_session_state_name(enum pw_session_state s);
bool pw_session_state_parse(const char *s, enum pw_session_state *out);

enum pw_offer_kind { PW_OFFER_PRIORITY, PW_OFFER_BROADCAST };
enum pw_offer_outcome {
    PW_OFFER_LIVE,
    PW_OFFER_ACCEPTED,
    PW_OFFER_DECLINED,
    PW_OFFER_EXPIRED,
    PW_OFFER_WITHDRAWN
};
const char *pw_offer_kind_name(enum pw_offer_kind k);
const char *pw_offer_outcome_name(enum pw_offer_outcome o); /* NULL for live */

#define PW_CONCERN_MIN 10
#define PW_CONCERN_MAX 2000
#define PW_NOTES_MAX 2000

/* A session request (SPEC §2, §4.7). Text fields hold what the customer typed. */
struct pw_session {
    char id[PW_ID_LEN + 1];
    char customer_id[PW_ID_LEN + 1];
    char vehicle_id[PW_ID_LEN + 1];
    char plan_slug[32];
    bool is_specialist;
    char preferred_mechanic_id[PW_ID_LEN + 1]; /* "" = none */
    bool priority_routing;                     /* routing_type priority_broadcast */
    char *intake_json;                         /* {"concern","symptoms","urgency"}; owned */
    int64_t waiver_accepted_at;
    char payment_method[16]; /* free | credits | card */
    char payment_status[16]; /* paid | pending | refunded */
    int64_t price_cents;
    enum pw_session_state state;
    char assigned_mechanic_id[PW_ID_LEN + 1];
    int64_t created_at, routing_started_at, priority_ends_at, expires_at, accepted_at, ended_at;
    char outcome[16];     /* resolved | escalated | unresolved | "" */
    char *outcome_notes;  /* owned, may be NULL */
    int rating_score;     /* -1 = not rated */
    char *rating_comment; /* owned, may be NULL */
    char checkout_id[128];
    char *checkout_url; /* owned, may be NULL */
    char rollout_group[16];
};
void pw_session_clear(struct pw_session *s); /* frees the owned strings */

struct pw_offer {
    int64_t id;
    char session_id[PW_ID_LEN + 1];
    char mechanic_id[PW_ID_LEN + 1];
    enum pw_offer_kind kind;
    int64_t offered_at, expires_at;
    enum pw_offer_outcome outcome;
    int64_t outcome_at;
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
