/* Stripe: webhook signatures (known answers, tolerance edges, several v1, v0 only, malformed
 * headers, tampering), the Checkout form body, and the Checkout call's failure paths that
 * need no server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "payments/stripe.h"

#define T0 1700000000LL
#define SECRET "whsec_test_secret"
#define BODY "{\"id\":\"evt_test_1\",\"type\":\"checkout.session.completed\"}"
/* printf '%s' '1700000000.{"id":"evt_test_1","type":"checkout.session.completed"}' |
 *   openssl dgst -sha256 -hmac 'whsec_test_secret' */
#define BODY_SIG "960f1b7cc268e13539aa9f2812d1318abc8e0b0940e0cbdcc1631970e11bd667"
/* printf '%s' '1700000000.' | openssl dgst -sha256 -hmac 'whsec_test_secret' */
#define EMPTY_SIG "316b9ab98c15bfa039d243f3196acee619cf29749a91a634e6a8154e2f7b6727"
#define WRONG_SIG "0000000000000000000000000000000000000000000000000000000000000000"

static bool verify(const char *header, const char *body, int64_t now)
{
    return pw_stripe_verify(header, body, body ? strlen(body) : 0, SECRET, now,
                            PW_STRIPE_TOLERANCE_S);
}

static int setup(void **state)
{
    (void)state;
    return sodium_init() < 0 || !pw_stripe_init() ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    pw_stripe_cleanup();
    return 0;
}

/* ---- known answers ---- */

static void test_openssl_vector(void **state)
{
    (void)state;
    assert_true(verify("t=1700000000,v1=" BODY_SIG, BODY, T0));
    /* hex digits in upper case are the same bytes */
    char upper[] = "t=1700000000,v1=" BODY_SIG;
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A');
    assert_true(verify(upper, BODY, T0));
    /* an empty body is signed as "t." */
    assert_true(pw_stripe_verify("t=1700000000,v1=" EMPTY_SIG, "", 0, SECRET, T0, 300));
    assert_true(pw_stripe_verify("t=1700000000,v1=" EMPTY_SIG, NULL, 0, SECRET, T0, 300));
}

static void test_second_openssl_vector(void **state)
{
    (void)state;
    /* a multi-line body, another secret and time:
     * printf '%s' '1492774577.{\n  "id": "evt_test_webhook",\n  "object": "event"\n}' |
     *   openssl dgst -sha256 -hmac 'whsec_plop' */
    const char *body = "{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\"\n}";
    const char *h =
        "t=1492774577,v1=632f400753660204d63a7f904c4ee431d2109febf7889285701f17ed1da9f1de";
    assert_true(pw_stripe_verify(h, body, strlen(body), "whsec_plop", 1492774577, 300));
    assert_false(pw_stripe_verify(h, body, strlen(body), "whsec_plo", 1492774577, 300));
    assert_false(pw_stripe_verify(h, body, strlen(body) - 1, "whsec_plop", 1492774577, 300));
}

/* The HMAC computed here by hand, over a literal "t.payload", with libsodium's one-shot API. */
static void test_hand_built_hmac(void **state)
{
    (void)state;
    const char *body = "{\"type\":\"checkout.session.completed\",\"amount\":2999}";
    const char *message = "1712345678.{\"type\":\"checkout.session.completed\",\"amount\":2999}";
    unsigned char key[crypto_auth_hmacsha256_KEYBYTES] = {0};
    /* crypto_auth_hmacsha256 takes a 32-byte key: use a 32-byte secret so both agree */
    const char *secret = "whsec_0123456789abcdef0123456789";
    assert_int_equal(strlen(secret), sizeof key);
    memcpy(key, secret, sizeof key);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, (const unsigned char *)message, strlen(message), key);
    char hex[2 * sizeof mac + 1], header[128];
    sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
    snprintf(header, sizeof header, "t=1712345678,v1=%s", hex);
    assert_true(pw_stripe_verify(header, body, strlen(body), secret, 1712345678, 300));

    /* pw_stripe_sign writes exactly that header */
    char signed_header[128];
    assert_true(pw_stripe_sign(body, strlen(body), secret, 1712345678, signed_header,
                               sizeof signed_header));
    assert_string_equal(signed_header, header);
    /* and agrees with openssl on the first vector */
    assert_true(
        pw_stripe_sign(BODY, strlen(BODY), SECRET, T0, signed_header, sizeof signed_header));
    assert_string_equal(signed_header, "t=1700000000,v1=" BODY_SIG);
    /* too small an output buffer is refused, not truncated */
    assert_false(pw_stripe_sign(BODY, strlen(BODY), SECRET, T0, signed_header, 40));
}

/* ---- time ---- */

static void test_tolerance_edges(void **state)
{
    (void)state;
    const char *h = "t=1700000000,v1=" BODY_SIG;
    assert_true(verify(h, BODY, T0 + 300));  /* exactly 300 s old */
    assert_false(verify(h, BODY, T0 + 301)); /* 301 s old */
    assert_true(verify(h, BODY, T0 - 300));  /* 300 s in the future */
    assert_false(verify(h, BODY, T0 - 301)); /* 301 s in the future */
    assert_false(verify(h, BODY, T0 + 86400));
    assert_false(verify(h, BODY, 0));
    /* a tolerance of its own */
    assert_true(pw_stripe_verify(h, BODY, strlen(BODY), SECRET, T0 + 10, 10));
    assert_false(pw_stripe_verify(h, BODY, strlen(BODY), SECRET, T0 + 11, 10));
    assert_false(pw_stripe_verify(h, BODY, strlen(BODY), SECRET, T0, -1));
    /* the signed time is the header's: a fresh t with the old signature does not pass */
    assert_false(verify("t=1700000100,v1=" BODY_SIG, BODY, T0 + 100));
}

/* ---- several signatures ---- */

static void test_several_v1(void **state)
{
    (void)state;
    assert_true(verify("t=1700000000,v1=" WRONG_SIG ",v1=" BODY_SIG, BODY, T0));
    assert_true(verify("t=1700000000,v1=" BODY_SIG ",v1=" WRONG_SIG, BODY, T0));
    assert_true(verify(
        "v1=" WRONG_SIG ",t=1700000000,v1=" WRONG_SIG ",v1=" BODY_SIG ",v0=" WRONG_SIG, BODY, T0));
    assert_false(verify("t=1700000000,v1=" WRONG_SIG ",v1=" EMPTY_SIG, BODY, T0));
    /* unknown schemes are ignored */
    assert_true(verify("t=1700000000,v2=whatever,v1=" BODY_SIG, BODY, T0));
    /* spaces around items, as some proxies write them */
    assert_true(verify("t=1700000000, v1=" BODY_SIG, BODY, T0));
}

static void test_v0_only(void **state)
{
    (void)state;
    assert_false(verify("t=1700000000,v0=" BODY_SIG, BODY, T0));
    assert_false(verify("t=1700000000,v0=" BODY_SIG ",v0=" EMPTY_SIG, BODY, T0));
    assert_false(verify("t=1700000000,V1=" BODY_SIG, BODY, T0)); /* scheme names are exact */
}

/* ---- malformed ---- */

static void test_malformed(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "t=1700000000",               /* no v1 */
        "v1=" BODY_SIG,               /* no t */
        "t=,v1=" BODY_SIG,            /* empty t */
        "t=abc,v1=" BODY_SIG,         /* t not a number */
        "t=-1700000000,v1=" BODY_SIG, /* signed */
        "t=+1700000000,v1=" BODY_SIG,
        "t=1700000000.5,v1=" BODY_SIG,
        "t=1700 000000,v1=" BODY_SIG,
        "t=0000000001700000000,v1=" BODY_SIG,     /* more than 12 digits */
        "t=1700000000,t=1700000000,v1=" BODY_SIG, /* two t */
        "t=1700000000,v1=",                       /* empty v1 */
        "t=1700000000,v1=" BODY_SIG "0",          /* 65 hex digits */
        "t=1700000000,v1=960f1b7cc268e13539aa9f2812d1318abc8e0b0940e0cbdcc1631970e11bd66",
        "t=1700000000,v1=960f1b7cc268e13539aa9f2812d1318abc8e0b0940e0cbdcc1631970e11bd66g",
        "t=1700000000,v1=" WRONG_SIG
        ",v1=zz0f1b7cc268e13539aa9f2812d1318abc8e0b0940e0cbdcc1631970e11bd667"
        ",v1=" BODY_SIG,                     /* one non-hex v1 spoils it */
        "t=1700000000,v1=" BODY_SIG ",",     /* trailing comma */
        ",t=1700000000,v1=" BODY_SIG,        /* leading comma */
        "t=1700000000,,v1=" BODY_SIG,        /* empty item */
        "t=1700000000,garbage,v1=" BODY_SIG, /* item without = */
        "t=1700000000,=x,v1=" BODY_SIG,      /* empty key */
        "t=1700000000;v1=" BODY_SIG,         /* wrong separator */
        "t 1700000000,v1 " BODY_SIG,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (verify(bad[i], BODY, T0)) fail_msg("accepted malformed header %zu: %s", i, bad[i]);
    }
    assert_false(verify(NULL, BODY, T0));
    /* a huge header is refused unread */
    size_t n = 20000;
    char *huge = malloc(n + 1);
    assert_non_null(huge);
    memset(huge, 'a', n);
    memcpy(huge, "t=1700000000,v1=" BODY_SIG ",x=", 19 + 64);
    huge[n] = '\0';
    assert_false(verify(huge, BODY, T0));
    free(huge);
    /* no secret, no check */
    assert_false(pw_stripe_verify("t=1700000000,v1=" BODY_SIG, BODY, strlen(BODY), "", T0, 300));
    assert_false(pw_stripe_verify("t=1700000000,v1=" BODY_SIG, BODY, strlen(BODY), NULL, T0, 300));
    assert_false(pw_stripe_verify("t=1700000000,v1=" BODY_SIG, NULL, 5, SECRET, T0, 300));
}

/* ---- tampering ---- */

static void test_tampered(void **state)
{
    (void)state;
    const char *h = "t=1700000000,v1=" BODY_SIG;
    char body[] = BODY;
    assert_true(verify(h, body, T0));
    for (size_t i = 0; i < strlen(BODY); i += 7) {
        body[i] ^= 1;
        assert_false(verify(h, body, T0));
        body[i] ^= 1;
    }
    assert_false(pw_stripe_verify(h, BODY, strlen(BODY) - 1, SECRET, T0, 300)); /* truncated */
    assert_false(verify(h, BODY " ", T0));                                      /* extended */
    assert_false(pw_stripe_verify(h, BODY, strlen(BODY), "whsec_test_secreT", T0, 300));
    /* a body with a NUL inside is signed over all its bytes */
    const char raw[] = "{\"a\":1}\0tail";
    char hdr[128];
    assert_true(pw_stripe_sign(raw, sizeof raw - 1, SECRET, T0, hdr, sizeof hdr));
    assert_true(pw_stripe_verify(hdr, raw, sizeof raw - 1, SECRET, T0, 300));
    assert_false(pw_stripe_verify(hdr, raw, strlen(raw), SECRET, T0, 300));
    /* one flipped bit in the signature */
    char flipped[] = "t=1700000000,v1=" BODY_SIG;
    flipped[sizeof flipped - 2] = flipped[sizeof flipped - 2] == '7' ? '6' : '7';
    assert_false(verify(flipped, BODY, T0));
}

/* ---- Checkout ---- */

static struct pw_stripe_checkout_req sample_req(void)
{
    struct pw_stripe_checkout_req q;
    memset(&q, 0, sizeof q);
    snprintf(q.api_base, sizeof q.api_base, "http://127.0.0.1:1");
    snprintf(q.secret_key, sizeof q.secret_key, "sk_test_x");
    snprintf(q.public_url, sizeof q.public_url, "http://localhost:8080");
    snprintf(q.session_id, sizeof q.session_id, "0b6f1c2e-6a57-4b7e-9a51-3f0c1d2e3f40");
    snprintf(q.product_name, sizeof q.product_name, "Standard Video - Brand Specialist & more");
    snprintf(q.currency, sizeof q.currency, "cad");
    q.amount_cents = 3999;
    return q;
}

static void test_checkout_form(void **state)
{
    (void)state;
    struct pw_stripe_checkout_req q = sample_req();
    char *form = pw_stripe_checkout_form(&q);
    assert_non_null(form);
    const char *want[] = {
        "mode=payment",
        "client_reference_id=0b6f1c2e-6a57-4b7e-9a51-3f0c1d2e3f40",
        "line_items%5B0%5D%5Bprice_data%5D%5Bcurrency%5D=cad",
        "line_items%5B0%5D%5Bprice_data%5D%5Bunit_amount%5D=3999",
        "line_items%5B0%5D%5Bprice_data%5D%5Bproduct_data%5D%5Bname%5D="
        "Standard%20Video%20-%20Brand%20Specialist%20%26%20more",
        "line_items%5B0%5D%5Bquantity%5D=1",
        "success_url=http%3A%2F%2Flocalhost%3A8080%2Fwaiting%3Fsession%3D"
        "0b6f1c2e-6a57-4b7e-9a51-3f0c1d2e3f40",
        "cancel_url=http%3A%2F%2Flocalhost%3A8080%2Fwaiting%3Fsession%3D"
        "0b6f1c2e-6a57-4b7e-9a51-3f0c1d2e3f40%26checkout%3Dcancelled",
        "metadata%5Bpitwall_session_id%5D=0b6f1c2e-6a57-4b7e-9a51-3f0c1d2e3f40",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        /* each as a whole field: preceded by start or '&', followed by end or '&' */
        const char *p = strstr(form, want[i]);
        if (!p) fail_msg("missing %s in %s", want[i], form);
        assert_true(p == form || p[-1] == '&');
        char after = p[strlen(want[i])];
        assert_true(after == '\0' || after == '&');
    }
    assert_null(strchr(form, ' '));
    free(form);
}

static void test_checkout_failures_without_server(void **state)
{
    (void)state;
    struct pw_stripe_checkout out;
    struct pw_stripe_checkout_req q = sample_req();

    /* nobody listens on port 1: a transport error, reported, nothing allocated */
    assert_int_equal(pw_stripe_checkout_create(&q, &out), PW_EUPSTREAM);
    assert_null(out.url);
    assert_true(out.error[0] != '\0');
    assert_int_equal(out.http_status, 0);
    pw_stripe_checkout_clear(&out);

    /* a key that could forge headers is refused before any connection */
    q = sample_req();
    snprintf(q.secret_key, sizeof q.secret_key, "sk_test_x\r\nX-Evil: 1");
    assert_int_equal(pw_stripe_checkout_create(&q, &out), PW_EUPSTREAM);
    assert_non_null(strstr(out.error, "secret key"));
    pw_stripe_checkout_clear(&out);

    q = sample_req();
    q.secret_key[0] = '\0';
    assert_int_equal(pw_stripe_checkout_create(&q, &out), PW_EUPSTREAM);
    pw_stripe_checkout_clear(&out);

    q = sample_req();
    q.amount_cents = 0;
    assert_int_equal(pw_stripe_checkout_create(&q, &out), PW_EUPSTREAM);
    pw_stripe_checkout_clear(&out);

    /* only http and https */
    q = sample_req();
    snprintf(q.api_base, sizeof q.api_base, "file:///etc");
    assert_int_equal(pw_stripe_checkout_create(&q, &out), PW_EUPSTREAM);
    assert_null(out.url);
    pw_stripe_checkout_clear(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openssl_vector),
        cmocka_unit_test(test_second_openssl_vector),
        cmocka_unit_test(test_hand_built_hmac),
        cmocka_unit_test(test_tolerance_edges),
        cmocka_unit_test(test_several_v1),
        cmocka_unit_test(test_v0_only),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_checkout_form),
        cmocka_unit_test(test_checkout_failures_without_server),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
