/* GET /api/openapi.json: the OpenAPI 3.1 document of every endpoint (SPEC §4.7). The bytes of
 * docs/openapi.json are compiled in (meson.build runs scripts/embed.py), so the binary needs
 * no file at run time; tests/integration/openapi.test.mjs checks real answers against it. */
#include <stddef.h>

#include "api/api.h"

extern const unsigned char pw_openapi_json[];
extern const size_t pw_openapi_json_len;

void api_openapi(struct http_request *r)
{
    http_json_text(r, 200, (char *)pw_openapi_json, pw_openapi_json_len, MHD_RESPMEM_PERSISTENT);
    http_set_cache_control(r, "no-cache");
}
