/* The gradual rollout of mechanic selection (SPEC §4.6): a customer is in it when their
 * stable bucket (0..99, from a hash of their id) is below the percentage. Changing the
 * percentage moves only the customers between the old and the new value. */
#ifndef PW_ROLLOUT_H
#define PW_ROLLOUT_H

#include <stdbool.h>

#define PW_ROLLOUT_KEY "mechanic_selection_percent"

int pw_rollout_bucket(const char *customer_id);
bool pw_rollout_selected(int percent, const char *customer_id);

#endif
