/* Content negotiation for the static files, as pure functions of header values (unit-tested
 * in tests/unit/test_negotiate.c): which content coding an Accept-Encoding allows, and
 * whether an If-None-Match names an ETag. Grammar: RFC 9110 §12.4.2 (qvalue), §12.5.3
 * (Accept-Encoding), §13.1.2 (If-None-Match, weak comparison). */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "http/http.h"

#define OWS " \t"

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths; -1 when the
 * text is not one (the element carrying it is then ignored, as a sender's mistake). */
static int parse_qvalue(const char *s, size_t n)
{
    if (n == 0 || (s[0] != '0' && s[0] != '1')) return -1;
    int q = (s[0] - '0') * 1000;
    if (n == 1) return q;
    if (s[1] != '.' || n > 5) return -1;
    int scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (s[i] < '0' || s[i] > '9') return -1;
        if (s[0] == '1' && s[i] != '0') return -1;
        q += (s[i] - '0') * scale;
    }
    return q;
}

static bool token_is(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

/* One list element "coding *( OWS ; OWS param )": its coding and its q (1000 without one,
 * the first one if repeated); false when its q is malformed. */
static bool parse_element(const char *s, size_t n, const char **coding, size_t *coding_len, int *q)
{
    size_t i = 0;
    while (i < n && !strchr(OWS ";", s[i])) i++;
    *coding = s;
    *coding_len = i;
    *q = 1000;
    bool seen_q = false;
    while (i < n) {
        while (i < n && strchr(OWS, s[i])) i++;
        if (i == n) break;
        if (s[i] != ';') return false;
        i++;
        while (i < n && strchr(OWS, s[i])) i++;
        size_t name = i;
        while (i < n && s[i] != '=' && s[i] != ';' && !strchr(OWS, s[i])) i++;
        size_t name_len = i - name;
        if (i == n || s[i] != '=') {
            if (token_is(s + name, name_len, "q")) return false; /* "q" without a value */
            continue;
        }
        i++;
        size_t value = i;
        while (i < n && s[i] != ';' && !strchr(OWS, s[i])) i++;
        if (token_is(s + name, name_len, "q") && !seen_q) {
            *q = parse_qvalue(s + value, i - value);
            if (*q < 0) return false;
            seen_q = true;
        }
    }
    return true;
}

bool http_accepts_gzip(const char *accept_encoding)
{
    if (!accept_encoding) return false; /* no header: identity, the safe reading */
    int gzip_q = -1, identity_q = -1, star_q = -1;
    const char *s = accept_encoding;
    for (;;) {
        const char *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        while (n && strchr(OWS, *s)) s++, n--;
        while (n && strchr(OWS, s[n - 1])) n--;
        const char *coding;
        size_t len;
        int q;
        if (n && parse_element(s, n, &coding, &len, &q)) {
            /* the first mention of a coding counts; x-gzip is gzip (RFC 9110 §8.4.1.3) */
            if ((token_is(coding, len, "gzip") || token_is(coding, len, "x-gzip")) && gzip_q < 0)
                gzip_q = q;
            else if (token_is(coding, len, "identity") && identity_q < 0) identity_q = q;
            else if (token_is(coding, len, "*") && star_q < 0) star_q = q;
        }
        if (!end) break;
        s = end + 1;
    }
    if (gzip_q < 0) gzip_q = star_q; /* "*" stands for every coding not named */
    if (gzip_q <= 0) return false;   /* not named, or q=0: not acceptable */
    if (identity_q < 0) identity_q = star_q;
    return gzip_q >= identity_q; /* a tie goes to the smaller answer */
}

/* Weak comparison: W/"x" and "x" match. */
bool http_etag_matches(const char *if_none_match, const char *etag)
{
    if (!if_none_match || !etag) return false;
    if (strncmp(etag, "W/", 2) == 0) etag += 2;
    size_t etag_len = strlen(etag);
    const char *s = if_none_match;
    while (*s) {
        while (*s && strchr(OWS ",", *s)) s++;
        if (*s == '*') return true;
        if (strncmp(s, "W/", 2) == 0) s += 2;
        if (*s != '"') { /* not an entity-tag: skip to the next element */
            s = strchr(s, ',');
            if (!s) break;
            continue;
        }
        const char *close = strchr(s + 1, '"');
        if (!close) break;
        size_t n = (size_t)(close - s) + 1;
        if (n == etag_len && memcmp(s, etag, n) == 0) return true;
        s = close + 1;
    }
    return false;
}
