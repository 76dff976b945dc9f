#include "core/query.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes src[0..n) into dst, returns the decoded length or -1 on a bad escape or NUL. */
static long decode(const char *src, size_t n, char *dst, const char **why)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= n) {
                *why = "incomplete percent-escape in the query string";
                return -1;
            }
            int a = hexval(src[i + 1]), b = hexval(src[i + 2]);
            if (a < 0 || b < 0) {
                *why = "bad percent-escape in the query string";
                return -1;
            }
            c = (char)(a * 16 + b);
            i += 2;
        }
        if (c == '\0') {
            *why = "the query string contains a NUL character";
            return -1;
        }
        dst[o++] = c;
    }
    dst[o] = '\0';
    return (long)o;
}

bool pw_query_parse(const char *raw, size_t len, struct pw_query *q, const char **why)
{
    memset(q, 0, sizeof *q);
    if (len == 0) return true;
    size_t pairs = 1;
    for (size_t i = 0; i < len; i++) pairs += raw[i] == '&';
    if (pairs > PW_QUERY_MAX_PARAMS) pairs = PW_QUERY_MAX_PARAMS + 1; /* enough to refuse */
    /* the params first, then the text: decoded text never grows; each pair needs two NULs */
    size_t head = pairs * sizeof *q->p;
    q->buf = malloc(head + len + 2 * pairs + 2);
    if (!q->buf) {
        *why = "out of memory";
        return false;
    }
    q->p = (struct pw_query_param *)(void *)q->buf;
    char *out = q->buf + head;
    size_t i = 0;
    while (i <= len) {
        size_t end = i;
        while (end < len && raw[end] != '&') end++;
        if (end > i) { /* skip empty pairs such as "a=1&&b=2" */
            if (q->n == PW_QUERY_MAX_PARAMS || q->n == pairs) {
                *why = "too many query parameters";
                goto fail;
            }
            size_t eq = i;
            while (eq < end && raw[eq] != '=') eq++;
            char *key = out;
            long kl = decode(raw + i, eq - i, key, why);
            if (kl < 0) goto fail;
            out += kl + 1;
            char *value = out;
            long vl = eq < end ? decode(raw + eq + 1, end - eq - 1, value, why) : 0;
            if (vl < 0) goto fail;
            if (eq >= end) value[0] = '\0';
            /* names are plain text; values may hold any character, but as UTF-8 */
            if (!pw_text_is_clean(key, (size_t)kl) || !pw_utf8_valid(value, (size_t)(vl))) {
                *why = "the query string is not valid UTF-8 text";
                goto fail;
            }
            out += vl + 1;
            q->p[q->n++] = (struct pw_query_param){key, value, (size_t)vl};
        }
        i = end + 1;
    }
    return true;
fail:
    pw_query_free(q);
    return false;
}

const char *pw_query_get(const struct pw_query *q, const char *key)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->p[i].key, key) == 0) return q->p[i].value;
    return NULL;
}

void pw_query_free(struct pw_query *q)
{
    free(q->buf);
    memset(q, 0, sizeof *q);
}
