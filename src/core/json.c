#include "core/json.h"

#include <stdio.h>
#include <string.h>

/* jansson reports a failed allocation inside its lexer as a syntax error ("invalid token"),
 * and only sometimes with json_error_out_of_memory. A body that fails differently on a second
 * parse did not fail for its syntax: that is PW_EINTERNAL (a 500), not the client's 400. */
json_t *pw_json_parse_object(const char *buf, size_t len, pw_err *e, char *err, size_t errlen)
{
    *e = PW_EJSON;
    if (len == 0) {
        snprintf(err, errlen, "The request body is empty; send a JSON object.");
        return NULL;
    }
    json_error_t jerr, again;
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j && json_error_code(&jerr) != json_error_out_of_memory)
        j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &again);
    if (!j) {
        if (json_error_code(&jerr) == json_error_out_of_memory || jerr.position != again.position ||
            strcmp(jerr.text, again.text) != 0) {
            *e = PW_EINTERNAL;
            snprintf(err, errlen, "The request body could not be read (out of memory).");
            return NULL;
        }
        snprintf(err, errlen, "The request body is not valid JSON: %s (at character %d).",
                 jerr.text, jerr.position);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        snprintf(err, errlen, "The request body must be a JSON object.");
        return NULL;
    }
    *e = PW_OK;
    return j;
}

void pw_json_set(json_t *o, const char *key, json_t *v, bool *ok)
{
    if (json_object_set_new(o, key, v) != 0) *ok = false;
}

json_t *pw_json_iso_or_null(int64_t ms)
{
    if (!ms) return json_null();
    char iso[PW_ISO_LEN + 1];
    pw_iso8601(ms, iso);
    return json_string(iso);
}

json_t *pw_json_vehicle(const struct pw_vehicle *v)
{
    return json_pack("{s:s, s:i, s:s, s:s}", "id", v->id, "year", v->year, "make", v->make, "model",
                     v->model);
}

json_t *pw_json_intake(const char *intake_json)
{
    return intake_json ? json_loads(intake_json, 0, NULL) : json_object();
}
