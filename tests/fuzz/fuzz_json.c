/* Request bodies: one JSON object, duplicates refused, and the field reads handlers do. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    pw_err e;
    json_t *j = pw_json_parse_object((const char *)data, size, &e, err, sizeof err);
    if (!j) {
        if (!err[0]) abort(); /* a refusal always says why */
        return 0;
    }
    if (!json_is_object(j)) abort();
    const char *status = json_string_value(json_object_get(j, "status"));
    enum pw_presence_state st;
    if (status) pw_presence_parse(status, &st);
    const char *email = json_string_value(json_object_get(j, "email"));
    if (email) pw_text_is_clean(email, strlen(email));
    char *again = json_dumps(j, JSON_COMPACT);
    free(again);
    json_decref(j);
    return 0;
}
