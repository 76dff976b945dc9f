/* Server-Sent Events: the Last-Event-ID parser and the exact bytes of a frame. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "stream/sse.h"

static void test_last_event_id_accepts(void **state)
{
    (void)state;
    struct {
        const char *in;
        int64_t want;
    } ok[] = {
        {"0", 0},
        {"42", 42},
        {" 7 ", 7},
        {"\t9\t", 9},
        {"007", 7},
        {"123456789012345678", 123456789012345678LL}, /* 18 digits */
        {"999999999999999999", 999999999999999999LL}, /* the largest */
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t v = -1;
        if (!pw_sse_parse_last_event_id(ok[i].in, &v)) fail_msg("refused '%s'", ok[i].in);
        assert_int_equal(v, ok[i].want);
    }
}

static void test_last_event_id_refuses(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        " ",
        "-1",
        "+1",
        "1a",
        "a1",
        "0x10",
        "1 2",
        "1.0",
        "1e3",
        "1234567890123456789", /* 19 digits */
        "99999999999999999999999",
        "1\n",
        "\n1",
        "１", /* full-width digit */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = 12345;
        if (pw_sse_parse_last_event_id(bad[i], &v)) fail_msg("accepted '%s'", bad[i]);
        assert_int_equal(v, 12345); /* untouched */
    }
    int64_t v = 5;
    assert_false(pw_sse_parse_last_event_id(NULL, &v));
    assert_int_equal(v, 5);
}

static void test_frame_bytes(void **state)
{
    (void)state;
    struct pw_hub_event *e = pw_sse_frame(17, "snapshot", "{\"mechanics\":[]}");
    assert_non_null(e);
    const char *want = "id: 17\nevent: snapshot\ndata: {\"mechanics\":[]}\n\n";
    assert_int_equal(e->len, strlen(want));
    assert_memory_equal(e->frame, want, e->len);
    assert_int_equal(e->frame[e->len], '\0');
    assert_int_equal(e->refs, 1);
    pw_hub_event_unref(e);

    e = pw_sse_frame(0, "snapshot", "{}");
    assert_string_equal(e->frame, "id: 0\nevent: snapshot\ndata: {}\n\n");
    pw_hub_event_unref(e);
}

static void test_event_new_bytes_and_fields(void **state)
{
    (void)state;
    const char *payload = "{\"id\":\"m1\",\"presence\":\"online\",\"is_available\":true,"
                          "\"last_seen_at\":\"2026-01-01T00:00:00.000Z\",\"reason\":\"manual\"}";
    struct pw_hub_event *e =
        pw_hub_event_new(123456789012LL, "presence", "presence:m1", payload, 777);
    assert_non_null(e);
    char want[512];
    snprintf(want, sizeof want, "id: 123456789012\nevent: presence\ndata: %s\n\n", payload);
    assert_int_equal(e->len, strlen(want));
    assert_memory_equal(e->frame, want, e->len);
    assert_int_equal(e->seq, 123456789012LL);
    assert_int_equal(e->created_at, 777);
    assert_string_equal(e->type, "presence");
    assert_string_equal(e->channel, "presence:m1");
    assert_int_equal(e->refs, 1);
    pw_hub_event_ref(e);
    assert_int_equal(e->refs, 2);
    pw_hub_event_unref(e);
    assert_int_equal(e->refs, 1);
    pw_hub_event_unref(e);
}

static void test_raw_and_constants(void **state)
{
    (void)state;
    struct pw_hub_event *e = pw_hub_event_raw(PW_SSE_RETRY, sizeof PW_SSE_RETRY - 1);
    assert_string_equal(e->frame, "retry: 2000\n\n");
    assert_int_equal(e->len, 13);
    assert_int_equal(e->seq, 0);
    assert_null(e->type);
    assert_null(e->channel);
    pw_hub_event_unref(e);
    /* a comment line: starts with ':' and ends the block */
    assert_int_equal(PW_SSE_KEEPALIVE[0], ':');
    size_t n = strlen(PW_SSE_KEEPALIVE);
    assert_true(n >= 3);
    assert_string_equal(PW_SSE_KEEPALIVE + n - 2, "\n\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_last_event_id_accepts),
        cmocka_unit_test(test_last_event_id_refuses),
        cmocka_unit_test(test_frame_bytes),
        cmocka_unit_test(test_event_new_bytes_and_fields),
        cmocka_unit_test(test_raw_and_constants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
