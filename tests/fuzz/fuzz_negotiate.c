/* The static files' header readers: Accept-Encoding (q-values) and If-None-Match. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    (void)http_accepts_gzip(s);
    http_etag_matches(s, "\"3b86-18edceb66df1ad47-gz\"");
    http_etag_matches("\"x\", W/\"y\"", s);
    if (size && http_etag_matches(s, s) && s[0] != '"' && strncmp(s, "W/\"", 3) != 0 &&
        !strchr(s, '*') && !strchr(s, '"'))
        abort(); /* a match needs a quoted tag or "*" */
    free(s);
    return 0;
}
