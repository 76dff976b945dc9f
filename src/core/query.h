/* The query-string parser: application/x-www-form-urlencoded, percent-decoding and '+'.
 * It only splits and decodes; what a parameter may contain is the endpoint's business. */
#ifndef PW_QUERY_H
#define PW_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#define PW_QUERY_MAX_PARAMS 32

struct pw_query_param {
    const char *key;
    const char *value;
    size_t value_len; /* the decoded length (a value may not contain NUL, so strlen agrees) */
};

struct pw_query {
    size_t n;
    struct pw_query_param *p; /* n of them, inside buf */
    char *buf; /* owns the params and the decoded text (sized to the query: streams keep it) */
};

/* Parses raw (not NUL-terminated, len bytes, without the leading '?'). On failure returns
 * false with a human reason in *why (static text) and leaves q empty. */
bool pw_query_parse(const char *raw, size_t len, struct pw_query *q, const char **why);

/* The first value of key, or NULL. */
const char *pw_query_get(const struct pw_query *q, const char *key);

void pw_query_free(struct pw_query *q);

#endif
