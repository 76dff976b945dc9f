#include "core/json.h"

#include <stdio.h>

json_t *pw_json_parse_object(const char *buf, size_t len, char *err, size_t errlen)
{
    if (len == 0) {
        snprintf(err, errlen, "The request body is empty; send a JSON object.");
        return NULL;
    }
    json_error_t jerr;
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        snprintf(err, errlen, "The request body is not valid JSON: %s (at character %d).",
                 jerr.text, jerr.position);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        snprintf(err, errlen, "The request body must be a JSON object.");
        return NULL;
    }
    return j;
}
