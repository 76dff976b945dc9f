#include "core/util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

void pw_iso8601(int64_t ms, char out[PW_ISO_LEN + 1])
{
    time_t secs = (time_t)(ms / 1000);
    int millis = (int)(ms % 1000);
    if (millis < 0) {
        millis += 1000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    char buf[64]; /* roomy: the compiler cannot see that every field is in range */
    snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
    memcpy(out, buf, PW_ISO_LEN);
    out[PW_ISO_LEN] = '\0';
}

void pw_uuid_from_bytes(const uint8_t in[16], char out[PW_ID_LEN + 1])
{
    uint8_t b[16];
    memcpy(b, in, 16);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    static const char *hexd = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
        out[o++] = hexd[b[i] >> 4];
        out[o++] = hexd[b[i] & 15];
    }
    out[o] = '\0';
}

bool pw_iso8601_parse(const char *s, int64_t *ms)
{
    struct tm tm = {0};
    int millis = 0, used = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6)
        return false;
    const char *rest = s + used;
    if (*rest == '.') {
        int digits = 0;
        for (rest++; *rest >= '0' && *rest <= '9'; rest++, digits++)
            if (digits < 3) millis = millis * 10 + (*rest - '0');
        if (digits == 0) return false;
        for (; digits < 3; digits++) millis *= 10;
    }
    if (strcmp(rest, "Z") != 0 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
        tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *ms = (int64_t)timegm(&tm) * 1000 + millis;
    return true;
}

void pw_uuid_random(char out[PW_ID_LEN + 1])
{
    uint8_t b[16];
    randombytes_buf(b, sizeof b);
    pw_uuid_from_bytes(b, out);
}

void pw_hex(const uint8_t *in, size_t n, char *out)
{
    static const char *hexd = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexd[in[i] >> 4];
        out[2 * i + 1] = hexd[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF); with
 * no_controls, also no C0, DEL or C1 control character. */
static bool utf8_check(const char *str, size_t len, bool no_controls)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (no_controls && (c < 0x20 || c == 0x7f)) return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned cp;
        if ((c & 0xe0) == 0xc0) {
            n = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n > len) return false;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return false;
        if (no_controls && cp >= 0x80 && cp <= 0x9f) return false;
        i += n;
    }
    return true;
}

bool pw_text_is_clean(const char *s, size_t len)
{
    return utf8_check(s, len, true);
}

bool pw_utf8_valid(const char *s, size_t len)
{
    return utf8_check(s, len, false);
}

void pw_utf8_scrub(char *s)
{
    size_t len = strlen(s);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) continue;
        /* the longest valid sequence starting here, else one byte replaced */
        size_t n = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 1;
        if (n > 1 && i + n <= len && utf8_check(s + i, n, false)) {
            i += n - 1;
            continue;
        }
        s[i] = '?';
    }
}

size_t pw_utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += ((unsigned char)s[i] & 0xc0) != 0x80;
    return n;
}

bool pw_ascii_lower(const char *s, char *out, size_t outsz)
{
    size_t n = strlen(s);
    if (n + 1 > outsz) return false;
    for (size_t i = 0; i <= n; i++) out[i] = (char)tolower((unsigned char)s[i]);
    return true;
}

bool pw_fmt(char *out, size_t outsz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, outsz, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < outsz;
}

bool pw_parse_digits(const char *s, int64_t *out, bool *overflow)
{
    if (!s || !*s) return false;
    int64_t v = 0;
    bool over = false;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return false;
        int d = *p - '0';
        if (v > (INT64_MAX - d) / 10) over = true;
        if (!over) v = v * 10 + d;
    }
    *out = over ? INT64_MAX : v;
    if (overflow) *overflow = over;
    return true;
}

uint64_t pw_rng_next(struct pw_rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint32_t pw_rng_below(struct pw_rng *r, uint32_t n)
{
    return n ? (uint32_t)(pw_rng_next(r) % n) : 0;
}
