/* Parsing a request body: one JSON object, duplicate keys refused (kept apart from the
 * HTTP layer so the fuzzer can drive it); and the small builders the API's objects and the
 * routing events' payloads share. */
#ifndef PW_JSON_H
#define PW_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "core/error.h"
#include "core/model.h"

/* Returns the object, or NULL with a human reason in err and in *e PW_EJSON (the client's
 * mistake) or PW_EINTERNAL (memory ran out while parsing). */
json_t *pw_json_parse_object(const char *buf, size_t len, pw_err *e, char *err, size_t errlen);

/* ---- building answers ---- */

/* Sets key of o to v (stolen), or clears *ok when v (or o) could not be made: one missing
 * member would be an answer that looks complete but is not. */
void pw_json_set(json_t *o, const char *key, json_t *v, bool *ok);
/* An ISO 8601 string, or null for 0 (not yet). */
json_t *pw_json_iso_or_null(int64_t ms);
/* {"id", "year", "make", "model"} */
json_t *pw_json_vehicle(const struct pw_vehicle *v);
/* A stored intake, {} when there is none; NULL when it cannot be parsed (memory). */
json_t *pw_json_intake(const char *intake_json);

#endif
