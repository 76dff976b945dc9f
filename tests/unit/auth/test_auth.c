/* Credentials: password hashes, tokens, cookies, the same-origin check, and login
 * throttling with its sliding window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth/auth.h"
#include "auth/throttle.h"
#include "core/log.h"
#include "store/store.h"
#include "fixture.h"

/* ---- passwords (Argon2id is slow: two hashes in all) ---- */

static void test_password_hash_and_verify(void **state)
{
    (void)state;
    char h1[128], h2[128];
    assert_true(pw_auth_password_hash("correct horse battery", h1));
    assert_true(strncmp(h1, "$argon2id$", 10) == 0);
    assert_true(strlen(h1) < 128);
    assert_true(pw_auth_password_verify(h1, "correct horse battery"));
    assert_false(pw_auth_password_verify(h1, "correct horse batterY"));
    assert_false(pw_auth_password_verify(h1, ""));
    assert_false(pw_auth_password_verify(h1, "correct horse battery "));

    /* same password, another salt */
    assert_true(pw_auth_password_hash("correct horse battery", h2));
    assert_string_not_equal(h1, h2);
    assert_true(pw_auth_password_verify(h2, "correct horse battery"));

    /* no hash, or garbage, never verifies */
    assert_false(pw_auth_password_verify("", "correct horse battery"));
    assert_false(pw_auth_password_verify(NULL, "correct horse battery"));
    assert_false(pw_auth_password_verify("$argon2id$v=19$garbage", "correct horse battery"));
}

/* ---- tokens ---- */

static bool is_base64url(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_'))
            return false;
    return true;
}

static void test_tokens(void **state)
{
    (void)state;
    char seen[16][PW_TOKEN_LEN + 1];
    for (int i = 0; i < 16; i++) {
        memset(seen[i], '#', sizeof seen[i]);
        pw_auth_token_new(seen[i]);
        assert_int_equal(strlen(seen[i]), PW_TOKEN_LEN);
        assert_int_equal(PW_TOKEN_LEN, 43);
        assert_true(is_base64url(seen[i]));
        for (int j = 0; j < i; j++) assert_string_not_equal(seen[i], seen[j]);
    }
}

static void test_token_hash(void **state)
{
    (void)state;
    char h1[PW_TOKEN_HASH_LEN + 1], h2[PW_TOKEN_HASH_LEN + 1], h3[PW_TOKEN_HASH_LEN + 1];
    pw_auth_token_hash("abc", h1);
    /* SHA-256("abc"), the FIPS 180-2 test vector */
    assert_string_equal(h1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    char tok[PW_TOKEN_LEN + 1];
    pw_auth_token_new(tok);
    pw_auth_token_hash(tok, h2);
    pw_auth_token_hash(tok, h3);
    assert_int_equal(strlen(h2), 64);
    assert_string_equal(h2, h3); /* stable */
    for (const char *p = h2; *p; p++)
        assert_true((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
    assert_string_not_equal(h1, h2);
}

static void test_token_equal(void **state)
{
    (void)state;
    char a[PW_TOKEN_LEN + 1], b[PW_TOKEN_LEN + 1];
    pw_auth_token_new(a);
    memcpy(b, a, sizeof a);
    assert_true(pw_auth_token_equal(a, b));
    b[PW_TOKEN_LEN - 1] = b[PW_TOKEN_LEN - 1] == 'A' ? 'B' : 'A';
    assert_false(pw_auth_token_equal(a, b));
    assert_false(pw_auth_token_equal("abcdef", "abcde")); /* prefix */
    assert_false(pw_auth_token_equal("abcde", "abcdef"));
    assert_false(pw_auth_token_equal(a, NULL));
    assert_false(pw_auth_token_equal(NULL, a));
    assert_false(pw_auth_token_equal(NULL, NULL));
    assert_false(pw_auth_token_equal("", "x"));
    assert_true(pw_auth_token_equal("same", "same"));
}

/* ---- cookies ---- */

static void cookie_is(const char *header, const char *name, const char *want)
{
    char out[64];
    memset(out, '#', sizeof out);
    if (!pw_auth_cookie_get(header, name, out, sizeof out))
        fail_msg("no %s in '%s'", name, header ? header : "(null)");
    assert_string_equal(out, want);
}

static void no_cookie(const char *header, const char *name)
{
    char out[64] = "untouched";
    if (pw_auth_cookie_get(header, name, out, sizeof out))
        fail_msg("found %s in '%s': '%s'", name, header ? header : "(null)", out);
}

static void test_cookie_get(void **state)
{
    (void)state;
    cookie_is("pitwall_session=abc", "pitwall_session", "abc");
    cookie_is("a=1; pitwall_session=abc; b=2", "pitwall_session", "abc");
    cookie_is("a=1;pitwall_session=abc;b=2", "pitwall_session", "abc");
    cookie_is("  a=1 ;   pitwall_session =  abc  ; b=2", "pitwall_session", "abc");
    cookie_is("a=1; b=2; pitwall_csrf=tok-_123", "pitwall_csrf", "tok-_123");
    cookie_is("pitwall_session=\"quoted\"", "pitwall_session", "quoted");
    cookie_is("x=1; pitwall_session=\"q\"; y=2", "pitwall_session", "q");
    cookie_is("pitwall_session=a=b", "pitwall_session", "a=b"); /* '=' in a value */
    cookie_is("junk; pitwall_session=abc", "pitwall_session", "abc");
    /* a name that ends with ours is another cookie */
    cookie_is("xpitwall_session=1; pitwall_session=2", "pitwall_session", "2");
    cookie_is("pitwall_session_old=1; pitwall_session=3", "pitwall_session", "3");
    no_cookie("xpitwall_session=1", "pitwall_session");
    no_cookie("pitwall_sessionx=1", "pitwall_session");
    no_cookie("pitwall=1", "pitwall_session");

    no_cookie("a=1; b=2", "pitwall_session");
    no_cookie("", "pitwall_session");
    no_cookie(NULL, "pitwall_session");
    no_cookie("pitwall_session=", "pitwall_session");
    no_cookie("pitwall_session=; a=1", "pitwall_session");
    no_cookie("pitwall_session=\"\"", "pitwall_session");
    no_cookie("pitwall_session", "pitwall_session");
    no_cookie(";;;", "pitwall_session");
    no_cookie("a=1; pitwall_session value", "pitwall_session");

    /* the value must fit with its NUL */
    char small[4];
    assert_true(pw_auth_cookie_get("k=abc", "k", small, sizeof small));
    assert_string_equal(small, "abc");
    assert_false(pw_auth_cookie_get("k=abcd", "k", small, sizeof small));
    char big[PW_TOKEN_LEN + 1];
    char header[128];
    char tok[PW_TOKEN_LEN + 1];
    pw_auth_token_new(tok);
    snprintf(header, sizeof header, "pitwall_session=%s; pitwall_csrf=x", tok);
    assert_true(pw_auth_cookie_get(header, "pitwall_session", big, sizeof big));
    assert_string_equal(big, tok);
    snprintf(header, sizeof header, "pitwall_session=%sX", tok);
    assert_false(pw_auth_cookie_get(header, "pitwall_session", big, sizeof big));
}

/* ---- same origin ---- */

static void test_origin_allowed(void **state)
{
    (void)state;
    const char *pub = "https://pitwall.example.com";
    assert_true(pw_auth_origin_allowed(NULL, pub, "pitwall.example.com"));
    assert_true(pw_auth_origin_allowed("https://pitwall.example.com", pub, "internal:8080"));
    assert_true(pw_auth_origin_allowed("https://pitwall.example.com",
                                       "https://pitwall.example.com/app", NULL));
    assert_true(pw_auth_origin_allowed("http://127.0.0.1:8080", "http://127.0.0.1:8080", "x"));
    /* http://<Host> */
    assert_true(pw_auth_origin_allowed("http://localhost:8080", pub, "localhost:8080"));

    assert_false(pw_auth_origin_allowed("https://evil.example.com", pub, "pitwall.example.com"));
    assert_false(pw_auth_origin_allowed("https://pitwall.example.com.evil.net", pub, "a"));
    assert_false(pw_auth_origin_allowed("https://pitwall.example.co", pub, "a"));
    assert_false(pw_auth_origin_allowed("null", pub, "pitwall.example.com"));
    assert_false(pw_auth_origin_allowed("", pub, "pitwall.example.com"));
    /* port mismatch */
    assert_false(
        pw_auth_origin_allowed("https://pitwall.example.com:8443", pub, "pitwall.example.com"));
    assert_false(pw_auth_origin_allowed("http://localhost:9999", pub, "localhost:8080"));
    assert_false(
        pw_auth_origin_allowed("http://127.0.0.1:8081", "http://127.0.0.1:8080", "127.0.0.1:8080"));
    assert_false(pw_auth_origin_allowed("http://localhost", pub, "localhost:8080"));
    /* a Host that is only a prefix */
    assert_false(pw_auth_origin_allowed("http://localhost:80801", pub, "localhost:8080"));
    /* no Host and a foreign origin */
    assert_false(pw_auth_origin_allowed("http://localhost:8080", pub, NULL));
    assert_false(pw_auth_origin_allowed("http://localhost:8080", pub, ""));
}

/* ---- throttle: in the database, on each backend ---- */

static const struct fx_options throttle_options = {.name = "pw_throttle", .store_only = true};

static int throttle_setup(void **state)
{
    *state = fx_new(&throttle_options);
    return 0;
}

static void test_throttle_blocks_after_limit(void **state)
{
    struct fx *f = *state;
    struct pw_throttle *t = pw_throttle_new(f->app.store, 3, 60000);
    int retry = -1;
    assert_true(pw_throttle_allowed(t, "a@x", 0, &retry));
    pw_throttle_fail(t, "a@x", 0);
    pw_throttle_fail(t, "a@x", 1000);
    assert_true(pw_throttle_allowed(t, "a@x", 1500, &retry)); /* limit - 1 */
    pw_throttle_fail(t, "a@x", 2000);
    assert_false(pw_throttle_allowed(t, "a@x", 2500, &retry));
    assert_int_equal(retry, 58); /* the first failure leaves at 60 s: 57.5 s, rounded up */
    assert_false(pw_throttle_allowed(t, "a@x", 59999, &retry));
    assert_int_equal(retry, 1);
    /* other keys are not affected */
    assert_true(pw_throttle_allowed(t, "b@x", 2500, &retry));
    assert_int_equal(pw_throttle_size(t), 1);
    pw_throttle_free(t);
}

static void test_throttle_window_slides(void **state)
{
    struct fx *f = *state;
    struct pw_throttle *t = pw_throttle_new(f->app.store, 3, 60000);
    int retry = -1;
    pw_throttle_fail(t, "k", 0);
    pw_throttle_fail(t, "k", 10000);
    pw_throttle_fail(t, "k", 20000);
    assert_false(pw_throttle_allowed(t, "k", 30000, &retry));
    assert_int_equal(retry, 30);
    /* the failure at 0 leaves the window */
    assert_true(pw_throttle_allowed(t, "k", 60000, &retry));
    pw_throttle_fail(t, "k", 60000); /* 10 s, 20 s, 60 s */
    assert_false(pw_throttle_allowed(t, "k", 60000, &retry));
    assert_int_equal(retry, 10); /* until 10 s + 60 s */
    assert_true(pw_throttle_allowed(t, "k", 70000, &retry));
    /* failures while blocked keep it blocked, the oldest making room */
    pw_throttle_fail(t, "k", 70000);
    pw_throttle_fail(t, "k", 71000);
    assert_false(pw_throttle_allowed(t, "k", 72000, &retry));
    assert_true(retry > 0);
    assert_true(retry <= 60);
    pw_throttle_free(t);
}

static void test_throttle_clear_and_prune(void **state)
{
    struct fx *f = *state;
    struct pw_throttle *t = pw_throttle_new(f->app.store, 2, 60000);
    int retry;
    pw_throttle_fail(t, "a", 0);
    pw_throttle_fail(t, "a", 1);
    assert_false(pw_throttle_allowed(t, "a", 2, &retry));
    pw_throttle_clear(t, "a"); /* a successful login */
    assert_true(pw_throttle_allowed(t, "a", 3, &retry));
    assert_int_equal(pw_throttle_size(t), 0);
    pw_throttle_clear(t, "never-seen");

    pw_throttle_fail(t, "old", 0);
    pw_throttle_fail(t, "new", 50000);
    pw_throttle_fail(t, "mixed", 10000);
    pw_throttle_fail(t, "mixed", 55000);
    assert_int_equal(pw_throttle_size(t), 3);
    pw_throttle_prune(t, 59999);
    assert_int_equal(pw_throttle_size(t), 3);
    pw_throttle_prune(t, 60000); /* old's only failure leaves */
    assert_int_equal(pw_throttle_size(t), 2);
    pw_throttle_prune(t, 110000); /* new's leaves; mixed keeps 55 s */
    assert_int_equal(pw_throttle_size(t), 1);
    assert_true(pw_throttle_allowed(t, "mixed", 110000, &retry));
    pw_throttle_prune(t, 115000);
    assert_int_equal(pw_throttle_size(t), 0);
    /* a pruned key starts afresh */
    pw_throttle_fail(t, "old", 200000);
    assert_true(pw_throttle_allowed(t, "old", 200000, &retry));
    pw_throttle_free(t);
}

static void test_throttle_limit_one_and_many_keys(void **state)
{
    struct fx *f = *state;
    struct pw_throttle *t = pw_throttle_new(f->app.store, 1, 1000);
    int retry;
    pw_throttle_fail(t, "k", 0);
    assert_false(pw_throttle_allowed(t, "k", 0, &retry));
    assert_int_equal(retry, 1);
    assert_true(pw_throttle_allowed(t, "k", 1000, &retry));
    char key[32];
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof key, "10.0.%d.%d", i / 256, i % 256);
        pw_throttle_fail(t, key, 2000);
    }
    assert_int_equal(pw_throttle_size(t), 501);
    pw_throttle_prune(t, 3000);
    assert_int_equal(pw_throttle_size(t), 0);
    pw_throttle_free(t);
}

/* Two nodes on one database count the same failures. */
static void test_throttle_shared_by_two_handles(void **state)
{
    struct fx *f = *state;
    struct store *other = fx_store_open(f);
    struct pw_throttle *a = pw_throttle_new(f->app.store, 4, 60000);
    struct pw_throttle *b = pw_throttle_new(other, 4, 60000);
    int retry = -1;
    pw_throttle_fail(a, "e:x@y", 0);
    pw_throttle_fail(b, "e:x@y", 1);
    pw_throttle_fail(a, "e:x@y", 2);
    assert_true(pw_throttle_allowed(b, "e:x@y", 3, &retry));
    pw_throttle_fail(b, "e:x@y", 3);
    assert_false(pw_throttle_allowed(a, "e:x@y", 4, &retry));
    assert_false(pw_throttle_allowed(b, "e:x@y", 4, &retry));
    assert_int_equal(retry, 60);
    pw_throttle_clear(a, "e:x@y"); /* a login on node A clears it for B too */
    assert_true(pw_throttle_allowed(b, "e:x@y", 5, &retry));
    pw_throttle_free(a);
    pw_throttle_free(b);
    store_close(other);
}

int main(void)
{
    assert_true(pw_auth_init());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_password_hash_and_verify),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_token_hash),
        cmocka_unit_test(test_token_equal),
        cmocka_unit_test(test_cookie_get),
        cmocka_unit_test(test_origin_allowed),
    };
#define T(name) cmocka_unit_test_setup_teardown(name, throttle_setup, fx_teardown)
    const struct CMUnitTest throttle[] = {
        T(test_throttle_blocks_after_limit),    T(test_throttle_window_slides),
        T(test_throttle_clear_and_prune),       T(test_throttle_limit_one_and_many_keys),
        T(test_throttle_shared_by_two_handles),
    };
#undef T
    pw_log_set_level(PW_LOG_OFF);
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    int db = test_db_run_both("throttle", throttle);
    return failed ? failed + (db == TEST_DB_SKIP ? 0 : db) : db;
}
