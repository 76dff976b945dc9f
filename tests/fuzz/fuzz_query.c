/* The query-string parser and the text checks the directory applies to each value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/query.h"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pw_query q;
    const char *why;
    if (pw_query_parse((const char *)data, size, &q, &why)) {
        for (size_t i = 0; i < q.n; i++) {
            /* decoded values never contain NUL, so strlen agrees with the recorded length */
            if (strlen(q.p[i].value) != q.p[i].value_len) abort();
            pw_text_is_clean(q.p[i].value, q.p[i].value_len);
            if (pw_query_get(&q, q.p[i].key) == NULL) abort();
            int64_t n;
            pw_parse_digits(q.p[i].value, &n, NULL);
        }
        pw_query_free(&q);
    } else if (q.n != 0 || q.buf != NULL) {
        abort(); /* a refused query leaves nothing behind */
    }
    return 0;
}
