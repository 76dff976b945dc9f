/* The Cookie header reader and the origin check. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char out[64];
    if (pw_auth_cookie_get(s, "pitwall_session", out, sizeof out)) {
        size_t n = strlen(out);
        if (n == 0 || n >= sizeof out) abort();
    }
    pw_auth_origin_allowed(s, "http://127.0.0.1:8080", "127.0.0.1:8080");
    pw_auth_origin_allowed("http://127.0.0.1:8080", s, s);
    free(s);
    return 0;
}
