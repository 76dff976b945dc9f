/* Parsing a request body: one JSON object, duplicate keys refused. Kept apart from the
 * HTTP layer so the fuzzer can drive it. */
#ifndef PW_JSON_H
#define PW_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "core/error.h"

/* Returns the object, or NULL with a human reason in err and in *e PW_EJSON (the client's
 * mistake) or PW_EINTERNAL (memory ran out while parsing). */
json_t *pw_json_parse_object(const char *buf, size_t len, pw_err *e, char *err, size_t errlen);

#endif
