/* Content negotiation of the static files: Accept-Encoding (q-values, "*", identity) and
 * If-None-Match (lists, weak comparison, "*"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "http/http.h"

static void gzip_yes(const char *v)
{
    if (!http_accepts_gzip(v))
        fail_msg("gzip should be accepted for \"%s\"", v ? v : "(no header)");
}

static void gzip_no(const char *v)
{
    if (http_accepts_gzip(v))
        fail_msg("gzip should not be accepted for \"%s\"", v ? v : "(no header)");
}

static void test_accept_encoding_browsers(void **state)
{
    (void)state;
    gzip_yes("gzip");
    gzip_yes("gzip, deflate, br");       /* Chromium */
    gzip_yes("gzip, deflate, br, zstd"); /* newer Chromium */
    gzip_yes("br;q=1.0, gzip;q=0.8, *;q=0.1");
    gzip_yes("deflate, gzip;q=1.0, *;q=0.5");
    gzip_yes("x-gzip"); /* the old name (RFC 9110 §8.4.1.3) */
    gzip_yes("GZIP");   /* codings are case-insensitive */
    gzip_yes("  gzip  ");
    gzip_yes("br,gzip");
    gzip_yes("gzip ; q=0.5"); /* OWS around ";" */
    gzip_yes("gzip;Q=0.5");   /* so is the parameter name */
    gzip_yes("gzip;q=0.001");
    gzip_yes("gzip;q=1.000");
    gzip_yes("*"); /* any coding */
    gzip_yes("br, *;q=0.3");
}

static void test_accept_encoding_refusals(void **state)
{
    (void)state;
    gzip_no(NULL); /* no header: identity */
    gzip_no("");
    gzip_no("identity");
    gzip_no("br, deflate"); /* gzip not named, no "*" */
    gzip_no("gzip;q=0");
    gzip_no("gzip;q=0.0");
    gzip_no("gzip;q=0.000");
    gzip_no("gzip; q=0");
    gzip_no("gzip;q=0, *"); /* named explicitly: "*" does not override it */
    gzip_no("*;q=0");
    gzip_no("*;q=0, br");
    gzip_no("gzip;q=0.5, identity"); /* identity (q=1) is preferred */
    gzip_no("gzip;q=0.2, *;q=0.9");  /* identity through "*" */
    gzip_no("gzipped");              /* not a prefix match */
    gzip_no("xgzip");
}

/* A malformed q makes its element count as not sent (RFC 9110 §12.4.2's grammar). */
static void test_accept_encoding_malformed_q(void **state)
{
    (void)state;
    gzip_no("gzip;q=2");
    gzip_no("gzip;q=1.5");
    gzip_no("gzip;q=0.0001");
    gzip_no("gzip;q=.5");
    gzip_no("gzip;q=");
    gzip_no("gzip;q");
    gzip_no("gzip;q=abc");
    gzip_no("gzip;q=-1");
    gzip_no("gzip junk");
    gzip_yes("gzip;q=oops, *"); /* the broken element is ignored, "*" stands */
    gzip_yes("gzip;level=9");   /* other parameters are ignored */
    gzip_yes(",, gzip ,");      /* empty list elements are allowed */
    gzip_no("gzip;q=0;q=1");    /* the q that came first counts... */
    gzip_yes("gzip, gzip;q=0"); /* ...and so does the first mention of a coding */
}

static void test_etag_matches(void **state)
{
    (void)state;
    const char *e = "\"1a-2b\"";
    assert_true(http_etag_matches("\"1a-2b\"", e));
    assert_true(http_etag_matches("W/\"1a-2b\"", e)); /* weak comparison */
    assert_true(http_etag_matches("\"1a-2b\"", "W/\"1a-2b\""));
    assert_true(http_etag_matches("\"x\", \"1a-2b\"", e));
    assert_true(http_etag_matches("\"x\",W/\"1a-2b\" ,\"y\"", e));
    assert_true(http_etag_matches("*", e));
    assert_false(http_etag_matches("\"1a-2b-gz\"", e)); /* the other variant */
    assert_false(http_etag_matches("\"1a-2b\"", "\"1a-2b-gz\""));
    assert_false(http_etag_matches("\"1a-2\"", e));
    assert_false(http_etag_matches("1a-2b", e)); /* not quoted: not an entity-tag */
    assert_false(http_etag_matches("", e));
    assert_false(http_etag_matches("\"1a-2b", e)); /* unterminated */
    assert_false(http_etag_matches(NULL, e));
    assert_false(http_etag_matches("\"a,b\"", "\"a\""));
    assert_true(http_etag_matches("\"a,b\"", "\"a,b\"")); /* a comma inside the quotes */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_encoding_browsers),
        cmocka_unit_test(test_accept_encoding_refusals),
        cmocka_unit_test(test_accept_encoding_malformed_q),
        cmocka_unit_test(test_etag_matches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
