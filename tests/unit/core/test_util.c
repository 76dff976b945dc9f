/* Small helpers: ISO 8601 times, UUID layout, clean-text checks, digit parsing,
 * lower-casing, formatting and the demo PRNG. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/util.h"

/* ---- time ---- */

static void iso_is(int64_t ms, const char *want)
{
    char out[PW_ISO_LEN + 8];
    memset(out, '#', sizeof out);
    pw_iso8601(ms, out);
    assert_string_equal(out, want);
    assert_int_equal(strlen(out), PW_ISO_LEN);
    assert_int_equal(out[PW_ISO_LEN + 1], '#'); /* nothing written past the NUL */
}

static void test_iso8601(void **state)
{
    (void)state;
    iso_is(0, "1970-01-01T00:00:00.000Z");
    iso_is(1, "1970-01-01T00:00:00.001Z");
    iso_is(1234, "1970-01-01T00:00:01.234Z");
    iso_is(999, "1970-01-01T00:00:00.999Z");
    iso_is(1767225600000LL, "2026-01-01T00:00:00.000Z");
    iso_is(1709210096789LL, "2024-02-29T12:34:56.789Z"); /* a leap day */
    iso_is(1767225599999LL, "2025-12-31T23:59:59.999Z");
    iso_is(-1, "1969-12-31T23:59:59.999Z");
    iso_is(253402300799999LL, "9999-12-31T23:59:59.999Z");
}

/* ---- ids ---- */

static void check_uuid_layout(const char *u)
{
    assert_int_equal(strlen(u), PW_ID_LEN);
    for (int i = 0; i < PW_ID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            assert_int_equal(u[i], '-');
        } else {
            assert_true((u[i] >= '0' && u[i] <= '9') || (u[i] >= 'a' && u[i] <= 'f'));
        }
    }
    assert_int_equal(u[14], '4');           /* version 4 */
    assert_non_null(strchr("89ab", u[19])); /* RFC 4122 variant 10xx */
}

static void test_uuid_from_bytes(void **state)
{
    (void)state;
    char out[PW_ID_LEN + 1];
    uint8_t seq[16];
    for (int i = 0; i < 16; i++) seq[i] = (uint8_t)i;
    pw_uuid_from_bytes(seq, out);
    assert_string_equal(out, "00010203-0405-4607-8809-0a0b0c0d0e0f");
    check_uuid_layout(out);

    uint8_t ones[16];
    memset(ones, 0xff, sizeof ones);
    pw_uuid_from_bytes(ones, out);
    assert_string_equal(out, "ffffffff-ffff-4fff-bfff-ffffffffffff");
    check_uuid_layout(out);

    uint8_t zeros[16] = {0};
    pw_uuid_from_bytes(zeros, out);
    assert_string_equal(out, "00000000-0000-4000-8000-000000000000");

    /* the input is not modified */
    assert_int_equal(seq[6], 6);
    assert_int_equal(seq[8], 8);

    char a[PW_ID_LEN + 1], b[PW_ID_LEN + 1];
    pw_uuid_random(a);
    pw_uuid_random(b);
    check_uuid_layout(a);
    check_uuid_layout(b);
    assert_string_not_equal(a, b);
}

static void test_hex(void **state)
{
    (void)state;
    char out[16];
    pw_hex((const uint8_t *)"\x00\x7f\x80\xff\x1a", 5, out);
    assert_string_equal(out, "007f80ff1a");
    pw_hex((const uint8_t *)"", 0, out);
    assert_string_equal(out, "");
}

/* ---- clean text ---- */

static bool clean(const char *s)
{
    return pw_text_is_clean(s, strlen(s));
}

static void test_text_is_clean(void **state)
{
    (void)state;
    /* accepted: ASCII, and every length of valid UTF-8 */
    assert_true(clean(""));
    assert_true(clean("Toronto, ON ~ 100%"));
    assert_true(clean("Montr\xc3\xa9"
                      "al"));                       /* é */
    assert_true(clean("\xe2\x82\xac"));             /* € */
    assert_true(clean("\xf0\x9f\x98\x80"));         /* 😀 */
    assert_true(clean("\xe6\x97\xa5\xe6\x9c\xac")); /* 日本 */
    assert_true(clean("\xc2\xa0"));                 /* U+00A0, just past C1 */
    assert_true(clean("\xed\x9f\xbf"));             /* U+D7FF, just below surrogates */
    assert_true(clean("\xee\x80\x80"));             /* U+E000, just past them */
    assert_true(clean("\xf4\x8f\xbf\xbf"));         /* U+10FFFF, the last */
    assert_true(clean("\xef\xbf\xbd"));             /* U+FFFD */

    /* overlong forms */
    assert_false(clean("\xc0\x80"));
    assert_false(clean("\xc0\xaf"));
    assert_false(clean("\xc1\xbf"));
    assert_false(clean("\xe0\x80\x80"));
    assert_false(clean("\xe0\x9f\xbf"));
    assert_false(clean("\xf0\x80\x80\x80"));
    assert_false(clean("\xf0\x8f\xbf\xbf"));
    /* surrogates */
    assert_false(clean("\xed\xa0\x80"));
    assert_false(clean("\xed\xbf\xbf"));
    /* beyond U+10FFFF, and bytes that never start a character */
    assert_false(clean("\xf4\x90\x80\x80"));
    assert_false(clean("\xf5\x80\x80\x80"));
    assert_false(clean("\xf8\x88\x80\x80\x80"));
    assert_false(clean("\xfe"));
    assert_false(clean("\xff"));
    /* controls: C0 (tab and newline too), DEL, C1 */
    assert_false(clean("a\x01"
                       "b"));
    assert_false(clean("a\tb"));
    assert_false(clean("a\nb"));
    assert_false(clean("a\rb"));
    assert_false(clean("\x1f"));
    assert_false(clean("\x1b[31m"));
    assert_false(clean("a\x7f"));
    assert_false(clean("\xc2\x80"));
    assert_false(clean("\xc2\x85")); /* NEL */
    assert_false(clean("\xc2\x9f"));
    /* truncated and stray bytes */
    assert_false(clean("\xc3"));
    assert_false(clean("ab\xe2\x82"));
    assert_false(clean("\xf0\x9f\x98"));
    assert_false(clean("\x80"));
    assert_false(clean("a\xbf"
                       "b"));
    assert_false(clean("\xc3"
                       "A"));
    assert_false(clean("\xe2\x28\xa1"));

    /* len is what counts, not the NUL */
    assert_true(pw_text_is_clean("abc\x01", 3));
    assert_false(pw_text_is_clean("ab\0cd", 5));   /* NUL inside is a control */
    assert_false(pw_text_is_clean("\xc3\xa9", 1)); /* a character cut by len */
    assert_true(pw_text_is_clean("\x01", 0));      /* nothing to look at */
}

/* ---- digits ---- */

static void test_parse_digits(void **state)
{
    (void)state;
    int64_t v;
    bool over = true;
    assert_true(pw_parse_digits("0", &v, &over));
    assert_int_equal(v, 0);
    assert_false(over);
    assert_true(pw_parse_digits("00042", &v, &over));
    assert_int_equal(v, 42);
    assert_true(pw_parse_digits("9223372036854775807", &v, &over)); /* INT64_MAX */
    assert_int_equal(v, INT64_MAX);
    assert_false(over);
    assert_true(pw_parse_digits("9223372036854775806", &v, &over));
    assert_int_equal(v, INT64_MAX - 1);
    assert_false(over);

    /* beyond: saturates and says so */
    assert_true(pw_parse_digits("9223372036854775808", &v, &over));
    assert_int_equal(v, INT64_MAX);
    assert_true(over);
    over = false;
    assert_true(pw_parse_digits("99999999999999999999999999999999", &v, &over));
    assert_int_equal(v, INT64_MAX);
    assert_true(over);
    /* the flag is cleared by a later good parse */
    assert_true(pw_parse_digits("7", &v, &over));
    assert_false(over);
    /* without a flag to set */
    assert_true(pw_parse_digits("92233720368547758070", &v, NULL));
    assert_int_equal(v, INT64_MAX);

    const char *bad[] = {
        "", "-1", "+1", " 1", "1 ", "1a", "a1", "0x10", "1.0", "1,000", "99999999999999999999999x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 12345;
        if (pw_parse_digits(bad[i], &v, &over)) fail_msg("accepted '%s'", bad[i]);
    }
    assert_false(pw_parse_digits(NULL, &v, &over));
}

/* ---- lower-casing and formatting ---- */

static void test_ascii_lower(void **state)
{
    (void)state;
    char out[16];
    assert_true(pw_ascii_lower("HeLLo-World 42", out, sizeof out));
    assert_string_equal(out, "hello-world 42");
    assert_true(pw_ascii_lower("", out, sizeof out));
    assert_string_equal(out, "");
    /* only ASCII letters change: UTF-8 bytes pass through */
    assert_true(pw_ascii_lower("\xc3\x89"
                               "COLE",
                               out, sizeof out));
    assert_string_equal(out, "\xc3\x89"
                             "cole");

    /* exactly fits (with the NUL) / one too long */
    char buf[8];
    memset(buf, '#', sizeof buf);
    assert_true(pw_ascii_lower("ABCD", buf, 5));
    assert_string_equal(buf, "abcd");
    assert_int_equal(buf[5], '#');
    memset(buf, '#', sizeof buf);
    assert_false(pw_ascii_lower("ABCDE", buf, 5));
    for (int i = 5; i < 8; i++) assert_int_equal(buf[i], '#'); /* nothing past outsz */
    assert_false(pw_ascii_lower("A", buf, 1));
    assert_false(pw_ascii_lower("", buf, 0));
}

static void test_fmt(void **state)
{
    (void)state;
    char out[8];
    assert_true(pw_fmt(out, sizeof out, "%s-%d", "ab", 42));
    assert_string_equal(out, "ab-42");
    assert_true(pw_fmt(out, sizeof out, "%s", "1234567"));
    assert_false(pw_fmt(out, sizeof out, "%s", "12345678"));
    assert_string_equal(out, "1234567"); /* truncated, still terminated */
}

static void test_rng(void **state)
{
    (void)state;
    struct pw_rng a = {42}, b = {42}, c = {43};
    bool differs = false;
    for (int i = 0; i < 100; i++) {
        uint64_t x = pw_rng_next(&a);
        assert_true(x == pw_rng_next(&b));
        differs |= x != pw_rng_next(&c);
    }
    assert_true(differs);
    int seen[7] = {0};
    for (int i = 0; i < 7000; i++) {
        uint32_t r = pw_rng_below(&a, 7);
        assert_true(r < 7);
        seen[r]++;
    }
    for (int i = 0; i < 7; i++) assert_true(seen[i] > 700); /* roughly uniform */
    assert_int_equal(pw_rng_below(&a, 1), 0);
    assert_int_equal(pw_rng_below(&a, 0), 0);
}

static void test_utf8_valid_and_scrub(void **state)
{
    (void)state;
    assert_true(pw_utf8_valid("caf\xc3\xa9 \t\n", 8)); /* controls allowed here */
    assert_false(pw_utf8_valid("\xff", 1));            /* not a lead byte */
    assert_false(pw_utf8_valid("\xc3", 1));            /* cut short */
    assert_false(pw_utf8_valid("\xc0\xaf", 2));        /* overlong '/' */
    assert_false(pw_utf8_valid("\xed\xa0\x80", 3));    /* a surrogate */
    assert_true(pw_utf8_valid("\xf0\x9f\x9a\x97", 4)); /* a car, U+1F697 */
    char s[] = "ab\xff"
               "c\xc3\xa9"
               "d\xc3";
    pw_utf8_scrub(s);
    assert_string_equal(s, "ab?c\xc3\xa9"
                           "d?"); /* valid sequences kept */
    assert_true(pw_utf8_valid(s, strlen(s)));
    char cut[] = "\xe2\x82"; /* the first two bytes of the euro sign */
    pw_utf8_scrub(cut);
    assert_string_equal(cut, "??");
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iso8601),
        cmocka_unit_test(test_uuid_from_bytes),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_text_is_clean),
        cmocka_unit_test(test_parse_digits),
        cmocka_unit_test(test_ascii_lower),
        cmocka_unit_test(test_fmt),
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_utf8_valid_and_scrub),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
