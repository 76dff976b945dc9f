/* Stripe, without any HTTP-server code: checking a webhook's Stripe-Signature, and creating
 * a Checkout session through Stripe's REST API with libcurl (SPEC §4.5, §4.7).
 *
 * pw_stripe_checkout_create() blocks (up to 15 s) and so runs on a worker thread: it reads
 * only its own arguments and writes only its own result. pw_stripe_verify() is pure. */
#ifndef PW_STRIPE_H
#define PW_STRIPE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/util.h"

#define PW_STRIPE_TOLERANCE_S 300 /* a signature's timestamp may be this far from now */
#define PW_STRIPE_CONNECT_TIMEOUT_MS 5000L
#define PW_STRIPE_TIMEOUT_MS 15000L

/* Once at start-up (curl_global_init) / at exit (curl_global_cleanup). Balanced calls nest. */
bool pw_stripe_init(void);
void pw_stripe_cleanup(void);
/* The module's state, one per process (app->stripe): whether Checkout calls should stop.
 * Read by the worker threads that make the calls, hence atomic. */
struct pw_stripe {
    atomic_bool giving_up;
};
/* Makes Checkout calls in flight (and later ones) fail at once (true), or not (false): for a
 * server whose drain time is up. Any thread. */
void pw_stripe_give_up(struct pw_stripe *s, bool yes);

/* Stripe's documented scheme: header "t=<unix seconds>,v1=<hex>,v1=<hex>,v0=<hex>...";
 * v1 = HMAC-SHA256(secret, t + "." + payload) in lower- or upper-case hex. True when any
 * v1 matches (constant-time compare) and |now_s - t| <= tolerance_s. False for a missing or
 * malformed header, no t or more than one, no v1, a v1 that is not 64 hex digits, a
 * missing secret. Other schemes (v0, ...) are ignored. */
bool pw_stripe_verify(const char *header, const char *payload, size_t len, const char *secret,
                      int64_t now_s, int tolerance_s);

/* The signature header for payload at time t (what Stripe would send), for tests and tools:
 * out gets "t=<t>,v1=<64 hex>" and needs at least 96 bytes. */
bool pw_stripe_sign(const char *payload, size_t len, const char *secret, int64_t t, char *out,
                    size_t outsz);

/* Everything the Checkout call needs, copied in (no pointers into shared state but the
 * module's own flag). */
struct pw_stripe_checkout_req {
    const struct pw_stripe *stripe; /* giving up? (NULL: never) */
    char api_base[512];             /* https://api.stripe.com, or a local stand-in in tests */
    char secret_key[256];           /* sk_... */
    char public_url[512];           /* where the customer comes back, without a trailing slash */
    char session_id[PW_ID_LEN + 1];
    char product_name[160];
    int64_t amount_cents;
    char currency[8]; /* "cad" */
};

struct pw_stripe_checkout {
    char id[128];     /* cs_... */
    char *url;        /* owned; free with pw_stripe_checkout_clear */
    long http_status; /* Stripe's answer, 0 if none */
    char error[256];  /* why it failed, for the log (never shown to customers) */
};

/* The form-encoded body of POST /v1/checkout/sessions (malloc'd), or NULL without memory. */
char *pw_stripe_checkout_form(const struct pw_stripe_checkout_req *req);

/* POST {api_base}/v1/checkout/sessions; fills out->id and out->url. Any transport error,
 * timeout, non-2xx answer or answer without a usable id and url is PW_EUPSTREAM (with
 * out->error saying why). */
pw_err pw_stripe_checkout_create(const struct pw_stripe_checkout_req *req,
                                 struct pw_stripe_checkout *out);
void pw_stripe_checkout_clear(struct pw_stripe_checkout *c);

#endif
