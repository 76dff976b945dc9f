#include "auth/auth.h"

#include <string.h>

#include <sodium.h>

bool pw_auth_init(void)
{
    return sodium_init() >= 0;
}

bool pw_auth_password_hash(const char *password, char out[128])
{
    _Static_assert(crypto_pwhash_STRBYTES <= 128, "hash string fits");
    return crypto_pwhash_str_alg(
               out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
               crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) == 0;
}

bool pw_auth_password_verify(const char *hash, const char *password)
{
    if (!hash || !*hash) return false;
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

void pw_auth_token_new(char out[PW_TOKEN_LEN + 1])
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(out, PW_TOKEN_LEN + 1, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void pw_auth_token_hash(const char *token, char out[PW_TOKEN_HASH_LEN + 1])
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, (const unsigned char *)token, strlen(token));
    sodium_bin2hex(out, PW_TOKEN_HASH_LEN + 1, digest, sizeof digest);
}

bool pw_auth_token_equal(const char *a, const char *b)
{
    if (!a || !b) return false;
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb || la == 0) return false;
    return sodium_memcmp(a, b, la) == 0;
}

bool pw_auth_cookie_get(const char *header, const char *name, char *out, size_t outsz)
{
    if (!header) return false;
    size_t nlen = strlen(name);
    const char *p = header;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ';') p++;
        const char *pair = p;
        while (*p && *p != ';') p++;
        const char *end = p;
        while (end > pair && (end[-1] == ' ' || end[-1] == '\t')) end--;
        const char *eq = memchr(pair, '=', (size_t)(end - pair));
        if (!eq) continue;
        const char *kend = eq;
        while (kend > pair && (kend[-1] == ' ' || kend[-1] == '\t')) kend--;
        if ((size_t)(kend - pair) != nlen || memcmp(pair, name, nlen) != 0) continue;
        const char *v = eq + 1;
        while (v < end && (*v == ' ' || *v == '\t')) v++;
        if (v < end && *v == '"' && end - v >= 2 && end[-1] == '"') { /* quoted value */
            v++;
            end--;
        }
        size_t vlen = (size_t)(end - v);
        if (vlen == 0 || vlen >= outsz) return false;
        memcpy(out, v, vlen);
        out[vlen] = '\0';
        return true;
    }
    return false;
}

/* The origin part (scheme://host[:port]) of a URL, or the whole string if it has no path. */
static size_t origin_len(const char *url)
{
    const char *scheme_end = strstr(url, "://");
    if (!scheme_end) return strlen(url);
    const char *slash = strchr(scheme_end + 3, '/');
    return slash ? (size_t)(slash - url) : strlen(url);
}

bool pw_auth_origin_allowed(const char *origin, const char *public_url, const char *host)
{
    if (!origin) return true;
    size_t ol = strlen(origin);
    if (public_url && origin_len(public_url) == ol && strncasecmp(origin, public_url, ol) == 0)
        return true;
    if (host && *host) {
        const char *prefixes[] = {"http://", "https://"};
        for (int i = 0; i < 2; i++) {
            size_t pl = strlen(prefixes[i]);
            if (ol == pl + strlen(host) && strncasecmp(origin, prefixes[i], pl) == 0 &&
                strcasecmp(origin + pl, host) == 0)
                return true;
        }
    }
    return false;
}
