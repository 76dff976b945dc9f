/* One list of everything that can go wrong, with the HTTP status and the public code that
 * the API layer turns into {"error","message"} in one place (http/response.c). */
#ifndef PW_ERROR_H
#define PW_ERROR_H

#define PW_ERRORS(X)                                                                               \
    X(PW_OK, 200, "ok", "OK")                                                                      \
    X(PW_EINVAL, 400, "bad_request", "The request is not valid.")                                  \
    X(PW_EJSON, 400, "invalid_json", "The request body is not valid JSON.")                        \
    X(PW_EUNAUTH, 401, "unauthorized", "You need to log in.")                                      \
    X(PW_ECREDENTIALS, 401, "invalid_credentials", "Wrong email or password.")                     \
    X(PW_EFORBIDDEN, 403, "forbidden", "You are not allowed to do this.")                          \
    X(PW_ECSRF, 403, "csrf", "Missing or wrong X-CSRF-Token header.")                              \
    X(PW_EORIGIN, 403, "bad_origin", "The request comes from another origin.")                     \
    X(PW_ENOTAPPROVED, 403, "not_approved", "This mechanic account is not approved to work.")      \
    X(PW_ENOTFOUND, 404, "not_found", "Not found.")                                                \
    X(PW_EMETHOD, 405, "method_not_allowed", "Method not allowed.")                                \
    X(PW_ECONFLICT, 409, "conflict", "The request conflicts with the current state.")              \
    X(PW_EEMAILTAKEN, 409, "email_taken", "An account with this email already exists.")            \
    X(PW_EBUSY, 409, "busy", "You are in a session; end it first.")                                \
    X(PW_ETAKEN, 409, "taken", "This session was already taken, cancelled or expired.")            \
    X(PW_EFREEUSED, 409, "free_session_used", "The free session was already used.")                \
    X(PW_EVEHICLEINUSE, 409, "vehicle_in_use",                                                     \
      "A session of this vehicle is in progress; change it once the session is over.")             \
    X(PW_ELIVE, 409, "session_in_progress",                                                        \
      "You already have a session request in progress; finish or cancel it first.")                \
    X(PW_ENOTOFFERED, 403, "not_offered", "This session was not offered to you.")                  \
    X(PW_ECREDITS, 402, "insufficient_credits", "Not enough credits for this session.")            \
    X(PW_ECARD, 400, "card_unavailable", "Card payments are not configured on this server.")       \
    X(PW_EBADSIG, 400, "bad_signature", "Missing or invalid Stripe-Signature.")                    \
    X(PW_EUPSTREAM, 502, "payment_provider", "The payment provider did not answer as expected.")   \
    X(PW_ETOOLARGE, 413, "payload_too_large", "The request body is too large.")                    \
    X(PW_EURITOOLONG, 414, "uri_too_long", "The request line is too long.")                        \
    X(PW_ETHROTTLED, 429, "too_many_requests", "Too many attempts; try again later.")              \
    X(PW_EINTERNAL, 500, "internal", "Something went wrong on our side.")                          \
    X(PW_ESTORE, 500, "storage", "The database could not complete the request.")                   \
    X(PW_EUNAVAILABLE, 503, "unavailable",                                                         \
      "The server is not ready (shutting down, or its database is out of reach); try again "       \
      "shortly.")

typedef enum {
#define PW_ERROR_ENUM(name, status, code, message) name,
    PW_ERRORS(PW_ERROR_ENUM)
#undef PW_ERROR_ENUM
        PW_ERROR_COUNT
} pw_err;

int pw_err_status(pw_err e);
const char *pw_err_code(pw_err e);
const char *pw_err_message(pw_err e);

#endif
