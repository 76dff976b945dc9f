/* Stripe: webhook signatures and Checkout sessions (see stripe.h). No HTTP-server code here,
 * and no shared state but one flag: the Checkout call runs on a worker thread, and a server
 * shutting down tells calls still in flight to give up. */
#include "payments/stripe.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#define HEADER_MAX 8192         /* a longer Stripe-Signature is refused unread */
#define ANSWER_MAX (256 * 1024) /* Stripe's answer is a few KiB; more is not Stripe */
#define URL_MAX 2048

bool pw_stripe_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

void pw_stripe_cleanup(void)
{
    curl_global_cleanup();
}

void pw_stripe_give_up(struct pw_stripe *s, bool yes)
{
    atomic_store(&s->giving_up, yes);
}

static bool giving_up(const struct pw_stripe *s)
{
    return s && atomic_load(&s->giving_up);
}

/* curl's progress callback, several times a second during a transfer: non-zero aborts it */
static int progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                    curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return giving_up(ctx) ? 1 : 0;
}

/* ---- webhook signatures ---- */

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static unsigned hex_val(char c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

/* One "key=value" item of the header, spaces around it trimmed. */
struct item {
    const char *key, *val;
    size_t klen, vlen;
};

/* Splits the item at [p, end); false when it is not key=value with both parts non-empty. */
static bool parse_item(const char *p, const char *end, struct item *it)
{
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) end--;
    const char *eq = memchr(p, '=', (size_t)(end - p));
    if (!eq || eq == p || eq + 1 == end) return false;
    it->key = p;
    it->klen = (size_t)(eq - p);
    it->val = eq + 1;
    it->vlen = (size_t)(end - eq - 1);
    return true;
}

static bool key_is(const struct item *it, const char *k)
{
    return it->klen == strlen(k) && memcmp(it->key, k, it->klen) == 0;
}

/* Walks the items; calls fn for each (stops and returns false when fn or the syntax does). */
static bool each_item(const char *header, bool (*fn)(void *ctx, const struct item *it), void *ctx)
{
    const char *p = header;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        struct item it;
        if (!parse_item(p, end, &it) || !fn(ctx, &it)) return false;
        if (!comma) return true;
        p = comma + 1;
    }
}

struct scan {
    const char *t;
    size_t tlen;
    int t_count, v1_count;
};

static bool scan_item(void *ctx, const struct item *it)
{
    struct scan *s = ctx;
    for (size_t i = 0; i < it->klen; i++)
        if ((unsigned char)it->key[i] <= ' ' || it->key[i] == 0x7f) return false;
    if (key_is(it, "t")) {
        if (it->vlen > 12) return false; /* seconds since 1970 fit in 12 digits for 30,000 years */
        for (size_t i = 0; i < it->vlen; i++)
            if (it->val[i] < '0' || it->val[i] > '9') return false;
        s->t = it->val;
        s->tlen = it->vlen;
        s->t_count++;
    } else if (key_is(it, "v1")) {
        if (it->vlen != 2 * crypto_auth_hmacsha256_BYTES) return false;
        for (size_t i = 0; i < it->vlen; i++)
            if (!is_hex(it->val[i])) return false;
        s->v1_count++;
    }
    /* other schemes (v0, future ones) are ignored, as Stripe's own libraries do */
    return true;
}

struct match {
    const unsigned char *mac;
    bool ok;
};

static bool match_item(void *ctx, const struct item *it)
{
    struct match *m = ctx;
    if (!key_is(it, "v1")) return true;
    unsigned char sig[crypto_auth_hmacsha256_BYTES];
    for (size_t i = 0; i < sizeof sig; i++)
        sig[i] = (unsigned char)(hex_val(it->val[2 * i]) << 4 | hex_val(it->val[2 * i + 1]));
    /* every v1 is compared, in constant time; no early exit on a match */
    if (sodium_memcmp(sig, m->mac, sizeof sig) == 0) m->ok = true;
    return true;
}

static void hmac(const char *secret, const char *t, size_t tlen, const char *payload, size_t len,
                 unsigned char mac[crypto_auth_hmacsha256_BYTES])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)t, tlen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    if (len) crypto_auth_hmacsha256_update(&st, (const unsigned char *)payload, len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof st);
}

bool pw_stripe_verify(const char *header, const char *payload, size_t len, const char *secret,
                      int64_t now_s, int tolerance_s)
{
    if (!header || !secret || !secret[0] || (!payload && len) || tolerance_s < 0) return false;
    size_t hlen = strnlen(header, HEADER_MAX + 1);
    if (hlen == 0 || hlen > HEADER_MAX) return false;

    struct scan s = {0};
    if (!each_item(header, scan_item, &s) || s.t_count != 1 || s.v1_count == 0) return false;

    char tbuf[16];
    memcpy(tbuf, s.t, s.tlen);
    tbuf[s.tlen] = '\0';
    int64_t t = strtoll(tbuf, NULL, 10);
    int64_t skew = now_s - t;
    if (skew < 0) skew = -skew;
    if (skew > tolerance_s) return false;

    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    hmac(secret, s.t, s.tlen, payload, len, mac);
    struct match m = {mac, false};
    each_item(header, match_item, &m);
    sodium_memzero(mac, sizeof mac);
    return m.ok;
}

bool pw_stripe_sign(const char *payload, size_t len, const char *secret, int64_t t, char *out,
                    size_t outsz)
{
    if (!secret || !secret[0] || t < 0 || (!payload && len)) return false;
    char ts[24];
    int tlen = snprintf(ts, sizeof ts, "%" PRId64, t);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    hmac(secret, ts, (size_t)tlen, payload, len, mac);
    char hex[2 * crypto_auth_hmacsha256_BYTES + 1];
    sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
    int n = snprintf(out, outsz, "t=%s,v1=%s", ts, hex);
    return n > 0 && (size_t)n < outsz;
}

/* ---- Checkout ---- */

struct buf {
    char *p;
    size_t len, cap;
    bool failed;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 512;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* Percent-encodes all but RFC 3986's unreserved characters. */
static void buf_encode(struct buf *b, const char *s)
{
    static const char hexd[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            buf_add(b, (const char *)&c, 1);
        } else {
            char e[3] = {'%', hexd[c >> 4], hexd[c & 15]};
            buf_add(b, e, 3);
        }
    }
}

static void field(struct buf *b, const char *key, const char *value)
{
    if (b->len) buf_add(b, "&", 1);
    buf_encode(b, key);
    buf_add(b, "=", 1);
    buf_encode(b, value);
}

char *pw_stripe_checkout_form(const struct pw_stripe_checkout_req *req)
{
    struct buf b = {0};
    char amount[24], success[URL_MAX], cancel[URL_MAX];
    snprintf(amount, sizeof amount, "%" PRId64, req->amount_cents);
    snprintf(success, sizeof success, "%s/waiting?session=%s", req->public_url, req->session_id);
    snprintf(cancel, sizeof cancel, "%s/waiting?session=%s&checkout=cancelled", req->public_url,
             req->session_id);
    field(&b, "mode", "payment");
    field(&b, "payment_method_types[0]", "card");
    field(&b, "client_reference_id", req->session_id);
    field(&b, "line_items[0][price_data][currency]", req->currency);
    field(&b, "line_items[0][price_data][unit_amount]", amount);
    field(&b, "line_items[0][price_data][product_data][name]", req->product_name);
    field(&b, "line_items[0][quantity]", "1");
    field(&b, "success_url", success);
    field(&b, "cancel_url", cancel);
    field(&b, "metadata[pitwall_session_id]", req->session_id);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static size_t collect(char *data, size_t size, size_t nmemb, void *userp)
{
    struct buf *b = userp;
    size_t n = size * nmemb;
    if (b->len + n > ANSWER_MAX) return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    buf_add(b, data, n);
    return b->failed ? 0 : n;
}

/* Header-safe: printable ASCII without spaces (a key with CR/LF could forge headers). */
static bool token_ok(const char *s)
{
    if (!s[0]) return false;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f) return false;
    return true;
}

static bool clean_string(json_t *v, size_t maxlen)
{
    if (!json_is_string(v)) return false;
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    return n > 0 && n < maxlen && strlen(s) == n && pw_text_is_clean(s, n);
}

/* Reads {id, url} from a 2xx answer. */
static pw_err read_answer(const struct buf *b, struct pw_stripe_checkout *out)
{
    json_error_t jerr;
    json_t *root = b->p ? json_loadb(b->p, b->len, 0, &jerr) : NULL;
    if (!json_is_object(root)) {
        snprintf(out->error, sizeof out->error, "the answer is not a JSON object");
        json_decref(root);
        return PW_EUPSTREAM;
    }
    json_t *id = json_object_get(root, "id"), *url = json_object_get(root, "url");
    const char *u = json_string_value(url);
    pw_err e = PW_EUPSTREAM;
    if (!clean_string(id, sizeof out->id)) {
        snprintf(out->error, sizeof out->error, "the answer has no usable \"id\"");
    } else if (!clean_string(url, URL_MAX) ||
               (strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0)) {
        snprintf(out->error, sizeof out->error, "the answer has no usable \"url\"");
    } else if (!(out->url = strdup(u))) {
        snprintf(out->error, sizeof out->error, "out of memory");
    } else {
        snprintf(out->id, sizeof out->id, "%s", json_string_value(id));
        e = PW_OK;
    }
    json_decref(root);
    return e;
}

/* Stripe's own reason from an error answer {"error": {"type","code","message"}}, for the log. */
static void describe_error(const struct buf *b, long status, char *out, size_t outsz)
{
    json_error_t jerr;
    json_t *root = b->p ? json_loadb(b->p, b->len, 0, &jerr) : NULL;
    json_t *err = json_object_get(root, "error");
    const char *type = json_string_value(json_object_get(err, "type"));
    const char *msg = json_string_value(json_object_get(err, "message"));
    snprintf(out, outsz, "HTTP %ld%s%s%s%.160s", status, type ? " " : "", type ? type : "",
             msg ? ": " : "", msg ? msg : "");
    json_decref(root);
}

pw_err pw_stripe_checkout_create(const struct pw_stripe_checkout_req *req,
                                 struct pw_stripe_checkout *out)
{
    memset(out, 0, sizeof *out);
    if (!token_ok(req->secret_key)) {
        snprintf(out->error, sizeof out->error, "the secret key is empty or not a plain token");
        return PW_EUPSTREAM;
    }
    if (req->amount_cents <= 0) {
        snprintf(out->error, sizeof out->error, "the amount must be positive");
        return PW_EUPSTREAM;
    }
    char url[URL_MAX];
    size_t blen = strlen(req->api_base);
    while (blen > 0 && req->api_base[blen - 1] == '/') blen--;
    if (!pw_fmt(url, sizeof url, "%.*s/v1/checkout/sessions", (int)blen, req->api_base)) {
        snprintf(out->error, sizeof out->error, "the API base URL is too long");
        return PW_EUPSTREAM;
    }

    pw_err e = PW_EUPSTREAM;
    char *form = pw_stripe_checkout_form(req);
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = NULL, *h;
    struct buf answer = {0};
    char auth[300], idem[80], curl_err[CURL_ERROR_SIZE] = "";
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", req->secret_key);
    /* the same pitwall session never makes two Checkout sessions, even if a call is repeated */
    snprintf(idem, sizeof idem, "Idempotency-Key: pitwall-checkout-%s", req->session_id);
    const char *lines[] = {auth, idem, "Content-Type: application/x-www-form-urlencoded",
                           "Accept: application/json", "Expect:"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        if (!(h = curl_slist_append(headers, lines[i]))) {
            snprintf(out->error, sizeof out->error, "out of memory");
            goto out;
        }
        headers = h;
    }
    if (!form || !curl) {
        snprintf(out->error, sizeof out->error, "out of memory");
        goto out;
    }
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* we are on a worker thread */
    curl_easy_setopt(curl, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(form));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "pitwall/0.1");
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, PW_STRIPE_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, PW_STRIPE_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, (void *)req->stripe);

    CURLcode rc = giving_up(req->stripe) ? CURLE_ABORTED_BY_CALLBACK : curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        snprintf(out->error, sizeof out->error, "%s",
                 curl_err[0] ? curl_err : curl_easy_strerror(rc));
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->http_status);
    if (answer.failed) {
        snprintf(out->error, sizeof out->error, "out of memory");
    } else if (out->http_status < 200 || out->http_status > 299) {
        describe_error(&answer, out->http_status, out->error, sizeof out->error);
    } else {
        e = read_answer(&answer, out);
    }
out:
    sodium_memzero(auth, sizeof auth);
    curl_slist_free_all(headers);
    if (curl) curl_easy_cleanup(curl);
    free(form);
    free(answer.p);
    return e;
}

void pw_stripe_checkout_clear(struct pw_stripe_checkout *c)
{
    free(c->url);
    c->url = NULL;
}
