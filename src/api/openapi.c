/* GET /api/openapi.json: the OpenAPI 3.1 document of every endpoint (SPEC §4.7). The bytes of
 * docs/openapi.json are compiled in (meson.build runs scripts/embed.py), so the binary needs
 * no file at run time; tests/integration/openapi.test.mjs checks real answers against it. */
#include <stddef.h>

#include "api/api.h"

extern const unsigned char pw_openapi_json[];
extern const size_t pw_openapi_json_len;

void api_openapi(struct http_request *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        pw_openapi_json_len, (void *)pw_openapi_json, MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        http_error(r, PW_EINTERNAL, NULL);
        return;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    http_respond(r, 200, resp);
}
