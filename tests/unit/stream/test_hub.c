/* The hub: fan-out by channel, shared event bytes, Last-Event-ID replay from the ring,
 * bounded subscriber queues, keep-alives, shutdown and unsubscribing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stream/hub.h"

/* ---- helpers ---- */

struct waker {
    int calls;
};

static void wake(void *ctx)
{
    ((struct waker *)ctx)->calls++;
}

static struct pw_hub_event *ev_on(int64_t seq, const char *channel)
{
    char payload[64];
    snprintf(payload, sizeof payload, "{\"n\":%lld}", (long long)seq);
    struct pw_hub_event *e = pw_hub_event_new(seq, "presence", channel, payload, 1000 + seq);
    assert_non_null(e);
    return e;
}

/* Publishes one event and drops the caller's reference; returns the fan-out count. */
static size_t publish(struct pw_hub *h, int64_t seq, const char *channel)
{
    struct pw_hub_event *e = ev_on(seq, channel);
    size_t n = pw_hub_publish(h, e);
    pw_hub_event_unref(e);
    return n;
}

/* Everything queued to s, NUL-terminated; the caller frees it. */
static char *drain(struct pw_hub_sub *s)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        if (cap - len < 1024) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        size_t n = pw_hub_sub_read(s, buf + len, cap - len - 1);
        if (n == 0) break;
        len += n;
    }
    buf[len] = '\0';
    assert_false(pw_hub_sub_has_data(s));
    return buf;
}

/* The "id: N" values of the frames in text, in order; returns how many. */
static int ids_of(const char *text, int64_t *ids, int max)
{
    int n = 0;
    const char *p = text;
    while ((p = strstr(p, "id: ")) != NULL) {
        if (p != text && p[-1] != '\n') {
            p += 4;
            continue;
        }
        assert_true(n < max);
        ids[n++] = strtoll(p + 4, NULL, 10);
        p += 4;
    }
    return n;
}

static void ids_are(const char *text, const int64_t *want, int nwant)
{
    int64_t got[256];
    int n = ids_of(text, got, 256);
    assert_int_equal(n, nwant);
    for (int i = 0; i < n; i++) assert_int_equal(got[i], want[i]);
}

/* ---- fan-out ---- */

static void test_publish_reaches_only_channel_subscribers(void **state)
{
    (void)state;
    struct pw_hub *h = pw_hub_new(16, 0);
    struct waker wa = {0}, wb = {0}, wc = {0};
    struct pw_hub_sub *a = pw_hub_sub_new(h, wake, &wa, 0);
    struct pw_hub_sub *b = pw_hub_sub_new(h, wake, &wb, 0);
    struct pw_hub_sub *c = pw_hub_sub_new(h, wake, &wc, 0);
    assert_true(pw_hub_sub_add_channel(a, "presence:a"));
    assert_true(pw_hub_sub_add_channel(b, "presence:b"));
    assert_true(pw_hub_sub_add_channel(c, "presence:a"));
    assert_true(pw_hub_sub_add_channel(c, "presence:b"));
    assert_int_equal(pw_hub_subscriber_count(h), 3);

    struct pw_hub_event *e = ev_on(1, "presence:a");
    assert_int_equal(pw_hub_publish(h, e), 2);
    assert_true(pw_hub_sub_has_data(a));
    assert_false(pw_hub_sub_has_data(b));
    assert_true(pw_hub_sub_has_data(c));
    assert_int_equal(wb.calls, 0);

    char *got = drain(a);
    assert_int_equal(strlen(got), e->len);
    assert_memory_equal(got, e->frame, e->len);
    assert_string_equal(got, "id: 1\nevent: presence\ndata: {\"n\":1}\n\n");
    free(got);
    got = drain(c);
    assert_string_equal(got, e->frame);
    free(got);
    pw_hub_event_unref(e);

    /* a channel nobody listens to reaches no one, but is still remembered */
    assert_int_equal(publish(h, 2, "presence:nobody"), 0);
    assert_int_equal(pw_hub_latest_seq(h), 2);
    assert_false(pw_hub_sub_has_data(a) || pw_hub_sub_has_data(b) || pw_hub_sub_has_data(c));

    pw_hub_sub_free(a);
    pw_hub_sub_free(b);
    pw_hub_sub_free(c);
    pw_hub_free(h);
}

static void test_event_bytes_are_shared(void **state)
{
    (void)state;
    struct pw_hub *h = pw_hub_new(16, 0);
    struct waker w = {0};
    struct pw_hub_sub *s[3];
    for (int i = 0; i < 3; i++) {
        s[i] = pw_hub_sub_new(h, wake, &w, 0);
        assert_true(pw_hub_sub_add_channel(s[i], "presence:x"));
    }
    struct pw_hub_event *e = ev_on(1, "presence:x");
    assert_int_equal(e->refs, 1);
    assert_int_equal(pw_hub_publish(h, e), 3);
    /* one copy: ours + the replay ring + one reference per queue, no duplicate buffers */
    assert_int_equal(e->refs, 1 + 1 + 3);
    for (int i = 0; i < 3; i++) {
        char *got = drain(s[i]);
        assert_string_equal(got, e->frame);
        free(got);
        assert_int_equal(e->refs, 1 + 1 + 3 - (i + 1)); /* written: that queue lets go */
    }
    for (int i = 0; i < 3; i++) pw_hub_sub_free(s[i]);
    assert_int_equal(e->refs, 2);
    pw_hub_free(h);
    assert_int_equal(e->refs, 1);
    pw_hub_event_unref(e);
}

/* ---- replay ---- */

static void test_replay_after_id_in_order_on_own_channels(void **state)
{
    (void)state;
    struct pw_hub *h = pw_hub_new(64, 0);
    const char *chans[] = {"presence:a", "presence:b", "presence:c"};
    for (int64_t seq = 1; seq <= 12; seq++) publish(h, seq, chans[(seq - 1) % 3]);
    /* a: 1 4 7 10; b: 2 5 8 11; c: 3 6 9 12 */

    struct waker w = {0};
    struct pw_hub_sub *s = pw_hub_sub_new(h, wake, &w, 0);
    assert_true(pw_hub_sub_add_channel(s, "presence:a"));
    assert_true(pw_hub_sub_add_channel(s, "presence:c"));

    assert_true(pw_hub_can_replay(h, 5));
    assert_int_equal(pw_hub_replay(h, s, 5), 5);
    char *got = drain(s);
    ids_are(got, (int64_t[]){6, 7, 9, 10, 12}, 5);
    assert_null(strstr(got, "{\"n\":8}")); /* b's events stay out */
    free(got);

    /* from the very start: all of a's and c's, each once */
    assert_int_equal(pw_hub_replay(h, s, 0), 8);
    got = drain(s);
    ids_are(got, (int64_t[]){1, 3, 4, 6, 7, 9, 10, 12}, 8);
    free(got);

    /* up to date: nothing */
    assert_int_equal(pw_hub_replay(h, s, 12), 0);
    assert_false(pw_hub_sub_has_data(s));

    /* an id that is not itself on the subscriber's channels (11 is b's) */
    assert_int_equal(pw_hub_replay(h, s, 11), 1);
    got = drain(s);
    ids_are(got, (int64_t[]){12}, 1);
    free(got);

    /* replay then live: the next event arrives once, after the replayed ones */
    assert_int_equal(pw_hub_replay(h, s, 9), 2);
    assert_int_equal(publish(h, 13, "presence:a"), 1);
    got = drain(s);
    ids_are(got, (int64_t[]){10, 12, 13}, 3);
    free(got);

    pw_hub_sub_free(s);
    pw_hub_free(h);
}

static void test_replay_with_gaps_in_sequence(void **state)
{
    (void)state;
    /* sequence numbers of one node's ring need not be contiguous (rolled-back ids,
     * events of other nodes): replay goes by value, not by position */
    struct pw_hub *h = pw_hub_new(16, 0);
    int64_t seqs[] = {2, 5, 9, 10, 20};
    for (size_t i = 0; i < 5; i++) publish(h, seqs[i], "presence:a");
    struct waker w = {0};
    struct pw_hub_sub *s = pw_hub_sub_new(h, wake, &w, 0);
    assert_true(pw_hub_sub_add_channel(s, "presence:a"));
    for (int64_t last = 0; last <= 20; last++) {
        size_t want = 0;
        for (size_t i = 0; i < 5; i++) want += seqs[i] > last;
        assert_int_equal(pw_hub_replay(h, s, last), want);
        char *got = drain(s);
        int64_t ids[8];
        int n = ids_of(got, ids, 8);
        assert_int_equal((size_t)n, want);
        for (int i = 0; i < n; i++) {
            assert_true(ids[i] > last);
            if (i) assert_true(ids[i] > ids[i - 1]);
        }
        free(got);
    }
    pw_hub_sub_free(s);
    pw_hub_free(h);
}

static void test_can_replay_bounds(void **state)
{
    (void)state;
    struct pw_hub *h = pw_hub_new(16, 10);
    /* nothing published yet: only "up to date" is replayable */
    assert_int_equal(pw_hub_floor(h), 10);
    assert_int_equal(pw_hub_latest_seq(h), 10);
    assert_true(pw_hub_can_replay(h, 10));
    assert_false(pw_hub_can_replay(h, 9));
    assert_false(pw_hub_can_replay(h, 11));

    for (int64_t seq = 11; seq <= 15; seq++) publish(h, seq, "presence:a");
    assert_int_equal(pw_hub_floor(h), 10);
    assert_int_equal(pw_hub_latest_seq(h), 15);
    assert_false(pw_hub_can_replay(h, 0));
    assert_false(pw_hub_can_replay(h, 9)); /* 10 would be missing */
    for (int64_t id = 10; id <= 15; id++) assert_true(pw_hub_can_replay(h, id));
    assert_false(pw_hub_can_replay(h, 16)); /* from the future: snapshot */
    assert_false(pw_hub_can_replay(h, INT64_MAX));
    assert_false(pw_hub_can_replay(h, -1));
    pw_hub_free(h);
}

static void test_ring_eviction_moves_floor(void **state)
{
    (void)state;
    struct pw_hub *h = pw_hub_new(3, 0);
    for (int64_t seq = 1; seq <= 5; seq++) publish(h, seq, "presence:a");
    /* 3, 4, 5 are kept: replay possible from 2 on */
    assert_int_equal(pw_hub_floor(h), 2);
    assert_int_equal(pw_hub_latest_seq(h), 5);
    assert_false(pw_hub_can_replay(h, 0));
    assert_false(pw_hub_can_replay(h, 1));
    assert_true(pw_hub_can_replay(h, 2));
    assert_true(pw_hub_can_replay(h, 5));
    assert_false(pw_hub_can_replay(h, 6));

    struct waker w = {0};
    struct pw_hub_sub *s = pw_hub_sub_new(h, wake, &w, 0);
    assert_true(pw_hub_sub_add_channel(s, "presence:a"));
    assert_int_equal(pw_hub_replay(h, s, 2), 3);
    char *got = drain(s);
    ids_are(got, (int64_t[]){3, 4, 5}, 3);
    free(got);

    publish(h, 6, "presence:a"); /* evicts 3 */
    got = drain(s);
    free(got);
    assert_int_equal(pw_hub_floor(h), 3);
    assert_false(pw_hub_can_replay(h, 2));
    assert_true(pw_hub_can_replay(h, 3));
    pw_hub_sub_free(s);
    pw_hub_free(h);
}

static void test_remember_sets_floor_at_start(void **state)
{
    (void)state;
    /* start-up: the store's latest is 100 and its newest 10 events are loaded */
    struct pw_hub *h = pw_hub_new(16, 100);
    struct waker w = {0};
    struct pw_hub_sub *s = pw_hub_sub_new(h, wake, &w, 0);
    assert_true(pw_hub_sub_add_channel(s, "presence:a"));
    for (int64_t seq = 91; seq <= 100; seq++) {
        struct pw_hub_event *e = ev_on(seq, "presence:a");
        pw_hub_remember(h, e);
        pw_hub_event_unref(e);
    }
    assert_int_equal(pw_hub_floor(h), 90);
    assert_int_equal(pw_hub_latest_seq(h), 100);
    assert_false(pw_hub_sub_has_data(s)); /* remembered, not delivered */
    assert_int_equal(w.calls, 0);
    assert_false(pw_hub_can_replay(h, 89));
    assert_true(pw_hub_can_replay(h, 90));
    assert_true(pw_hub_can_replay(h, 100));
    assert_int_equal(pw_hub_replay(h, s, 90), 10);
    char *got = drain(s);
    ids_are(got, (int64_t[]){91, 92, 93, 94, 95, 96, 97, 98, 99, 100}, 10);
    free(got);
    pw_hub_sub_free(s);
    pw_hub_free(h);

    /* more stored events than the ring holds: the floor follows the evictions */
    h = pw_hub_new(3, 10);
    for (int64_t seq = 6; seq <= 10; seq++) {
        struct pw_hub_event *e = ev_on(seq, "presence:a");
        pw_hub_remember(h, e);
        pw_hub_event_unref(e);
    }
    assert_int_equal(pw_hub_floor(h), 7);
    assert_int_equal(pw_hub_latest_seq(h), 10);
    pw_hub_free(h);
}

/* ---- bounded queues ---- */

static void test_overflow_by_event_count(void **state)
{
    (void)state;
    struct pw_hub *h = pw_hub_new(PW_SUB_MAX_EVENTS + 8, 0);
    struct waker w = {0};
    struct pw_hub_sub *s = pw_hub_sub_new(h, wake, &w, 0);
    assert_true(pw_hub_sub_add_channel(s, "presence:a"));
    struct pw_hub_event *first = ev_on(1, "presence:a");
    pw_hub_publish(h, first);
    for (int64_t seq = 2; seq <= PW_SUB_MAX_EVENTS; seq++) publish(h, seq, "presence:a");
    assert_false(pw_hub_sub_overflowed(s));
    assert_true(pw_hub_sub_has_data(s));
    assert_int_equal(w.calls, 1);
    assert_int_equal(first->refs, 3); /* ours, the ring's, the queue's */

    publish(h, PW_SUB_MAX_EVENTS + 1, "presence:a");
    assert_true(pw_hub_sub_overflowed(s));
    assert_false(pw_hub_sub_has_data(s)); /* the queue was let go */
    assert_int_equal(first->refs, 2);
    assert_int_equal(w.calls, 2); /* woken so the stream ends */
    char buf[64];
    assert_int_equal(pw_hub_sub_read(s, buf, sizeof buf), 0);

    /* nothing more is queued to an overflowed subscriber */
    publish(h, PW_SUB_MAX_EVENTS + 2, "presence:a");
    assert_false(pw_hub_sub_has_data(s));
    assert_true(pw_hub_sub_overflowed(s));

    pw_hub_event_unref(first);
    pw_hub_sub_free(s);
    pw_hub_free(h);
}

static void test_overflow_by_bytes(void **state)
{
    (void)state;
    struct pw_hub *h = pw_hub_new(16, 0);
    struct waker w = {0};
    struct pw_hub_sub *s = pw_hub_sub_new(h, wake, &w, 0);
    size_t len = PW_SUB_MAX_BYTES / 4;
    char *bytes = malloc(len);
    assert_non_null(bytes);
    memset(bytes, 'x', len);
    struct pw_hub_event *big = pw_hub_event_raw(bytes, len);
    free(bytes);
    assert_non_null(big);
    for (int i = 0; i < 4; i++) pw_hub_sub_push(s, big); /* exactly the limit: still fine */
    assert_false(pw_hub_sub_overflowed(s));
    assert_int_equal(big->refs, 5);
    assert_int_equal(w.calls, 1);

    struct pw_hub_event *one = pw_hub_event_raw("!", 1);
    pw_hub_sub_push(s, one); /* one byte over */
    assert_true(pw_hub_sub_overflowed(s));
    assert_false(pw_hub_sub_has_data(s));
    assert_int_equal(big->refs, 1);
    assert_int_equal(one->refs, 1);
    assert_int_equal(w.calls, 2);

    pw_hub_event_unref(one);
    pw_hub_event_unref(big);
    pw_hub_sub_free(s);
    pw_hub_free(h);
}

static void test_bytes_read_make_room(void **state)
{
    (void)state;
    /* the byte bound counts what is still unwritten, not what was ever queued */
    struct pw_hub *h = pw_hub_new(16, 0);
    struct waker w = {0};
    struct pw_hub_sub *s = pw_hub_sub_new(h, wake, &w, 0);
    size_t len = PW_SUB_MAX_BYTES / 4;
    char *bytes = calloc(1, len);
    assert_non_null(bytes);
    struct pw_hub_event *big = pw_hub_event_raw(bytes, len);
    for (int i = 0; i < 4; i++) pw_hub_sub_push(s, big);
    size_t got = pw_hub_sub_read(s, bytes, len); /* one event written */
    assert_int_equal(got, len);
    pw_hub_sub_push(s, big);
    assert_false(pw_hub_sub_overflowed(s));
    free(bytes);
    pw_hub_event_unref(big);
    pw_hub_sub_free(s);
    pw_hub_free(h);
}

static void test_read_in_small_pieces(void **state)
{
    (void)state;
    struct pw_hub *h = pw_hub_new(16, 0);
    struct waker w = {0};
    struct pw_hub_sub *s = pw_hub_sub_new(h, wake, &w, 0);
    assert_true(pw_hub_sub_add_channel(s, "presence:a"));
    struct pw_hub_event *retry = pw_hub_event_raw("retry: 2000\n\n", 13);
    pw_hub_sub_push(s, retry);

    char want[4096];
    size_t wlen = 0;
    memcpy(want, retry->frame, retry->len);
    wlen += retry->len;
    pw_hub_event_unref(retry);
    const char *payloads[] = {"{}", "{\"id\":\"abc\",\"presence\":\"online\"}", "{\"x\":1}",
                              "{\"long\":\"0123456789012345678901234567890123456789\"}"};
    for (int i = 0; i < 4; i++) {
        struct pw_hub_event *e = pw_hub_event_new(i + 1, "presence", "presence:a", payloads[i], 0);
        pw_hub_publish(h, e);
        memcpy(want + wlen, e->frame, e->len);
        wlen += e->len;
        pw_hub_event_unref(e);
    }

    char got[4096];
    size_t glen = 0, n;
    char piece[7];
    while ((n = pw_hub_sub_read(s, piece, sizeof piece)) > 0) {
        assert_true(n <= sizeof piece);
        memcpy(got + glen, piece, n);
        glen += n;
    }
    assert_int_equal(glen, wlen);
    assert_memory_equal(got, want, wlen);
    assert_false(pw_hub_sub_has_data(s));

    /* byte by byte, across a frame being queued meanwhile */
    publish(h, 5, "presence:a");
    char c;
    assert_int_equal(pw_hub_sub_read(s, &c, 1), 1);
    assert_int_equal(c, 'i');
    publish(h, 6, "presence:a");
    char *rest = drain(s);
    assert_string_equal(rest, "d: 5\nevent: presence\ndata: {\"n\":5}\n\n"
                              "id: 6\nevent: presence\ndata: {\"n\":6}\n\n");
    free(rest);
    assert_int_equal(pw_hub_sub_read(s, piece, sizeof piece), 0);

    pw_hub_sub_free(s);
    pw_hub_free(h);
}

static void test_wake_only_on_empty_to_non_empty(void **state)
{
    (void)state;
    struct pw_hub *h = pw_hub_new(16, 0);
    struct waker w = {0};
    struct pw_hub_sub *s = pw_hub_sub_new(h, wake, &w, 0);
    assert_true(pw_hub_sub_add_channel(s, "presence:a"));
    assert_int_equal(w.calls, 0);
    publish(h, 1, "presence:a");
    assert_int_equal(w.calls, 1);
    publish(h, 2, "presence:a");
    publish(h, 3, "presence:a");
    assert_int_equal(w.calls, 1);

    char buf[8];
    assert_int_equal(pw_hub_sub_read(s, buf, sizeof buf), sizeof buf); /* partly written */
    publish(h, 4, "presence:a");
    assert_int_equal(w.calls, 1); /* still not empty: no wake */

    free(drain(s));
    publish(h, 5, "presence:a");
    assert_int_equal(w.calls, 2);
    struct pw_hub_event *raw = pw_hub_event_raw(": x\n\n", 5);
    pw_hub_sub_push(s, raw);
    assert_int_equal(w.calls, 2);
    free(drain(s));
    pw_hub_sub_push(s, raw);
    assert_int_equal(w.calls, 3);
    pw_hub_event_unref(raw);

    free(drain(s));
    pw_hub_sub_free(s);
    pw_hub_free(h);
}

/* ---- keep-alives and shutdown ---- */

static void test_push_idle_only_to_idle_subscribers(void **state)
{
    (void)state;
    struct pw_hub *h = pw_hub_new(16, 0);
    struct waker wa = {0}, wb = {0};
    struct pw_hub_sub *a = pw_hub_sub_new(h, wake, &wa, 0);
    struct pw_hub_sub *b = pw_hub_sub_new(h, wake, &wb, 5000); /* opened later */
    struct pw_hub_event *ka = pw_hub_event_raw(": keep-alive\n\n", 14);

    pw_hub_push_idle(h, ka, 14999, 15000);
    assert_false(pw_hub_sub_has_data(a));
    assert_false(pw_hub_sub_has_data(b));

    pw_hub_push_idle(h, ka, 15000, 15000); /* a idle exactly 15 s, b only 10 s */
    assert_true(pw_hub_sub_has_data(a));
    assert_false(pw_hub_sub_has_data(b));
    char *got = drain(a);
    assert_string_equal(got, ": keep-alive\n\n");
    free(got);

    pw_hub_push_idle(h, ka, 20000, 15000); /* b now; a just had one */
    assert_false(pw_hub_sub_has_data(a));
    assert_true(pw_hub_sub_has_data(b));
    free(drain(b));

    pw_hub_push_idle(h, ka, 29999, 15000);
    assert_false(pw_hub_sub_has_data(a));
    pw_hub_push_idle(h, ka, 30000, 15000);
    assert_true(pw_hub_sub_has_data(a));
    assert_false(pw_hub_sub_has_data(b));
    assert_int_equal(ka->refs, 2);
    free(drain(a));
    assert_int_equal(ka->refs, 1);

    pw_hub_event_unref(ka);
    pw_hub_sub_free(a);
    pw_hub_sub_free(b);
    pw_hub_free(h);
}

/* Two subscribers and a keep-alive event, freed by the teardown even when an assertion
 * fails half-way (the sanitizer run must stay leak-free either way). */
struct idle_fx {
    struct pw_hub *h;
    struct waker wa, wb;
    struct pw_hub_sub *a, *b;
    struct pw_hub_event *ka;
};

static int idle_setup(void **state)
{
    struct idle_fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->h = pw_hub_new(16, 0);
    f->a = pw_hub_sub_new(f->h, wake, &f->wa, 0);
    f->b = pw_hub_sub_new(f->h, wake, &f->wb, 0);
    assert_true(pw_hub_sub_add_channel(f->a, "presence:a"));
    assert_true(pw_hub_sub_add_channel(f->b, "presence:b"));
    f->ka = pw_hub_event_raw(": keep-alive\n\n", 14);
    *state = f;
    return 0;
}

static int idle_teardown(void **state)
{
    struct idle_fx *f = *state;
    pw_hub_sub_free(f->a);
    pw_hub_sub_free(f->b);
    pw_hub_event_unref(f->ka);
    pw_hub_free(f->h);
    free(f);
    return 0;
}

static void test_push_idle_skips_recently_active(void **state)
{
    /* "idle" means nothing queued for the interval: a stream that carried an event a
     * moment ago needs no keep-alive (the header: "every subscriber that has had nothing
     * queued since idle_since") */
    struct idle_fx *f = *state;

    pw_hub_push_idle(f->h, f->ka, 1000, 15000); /* a tick: nobody idle yet */
    assert_false(pw_hub_sub_has_data(f->a) || pw_hub_sub_has_data(f->b));
    publish(f->h, 1, "presence:a"); /* a is active after the t=1000 tick */
    free(drain(f->a));

    pw_hub_push_idle(f->h, f->ka, 15000, 15000);
    assert_true(pw_hub_sub_has_data(f->b));  /* b: nothing for 15 s */
    assert_false(pw_hub_sub_has_data(f->a)); /* a: an event less than 15 s ago */
    free(drain(f->b));

    /* once a has been quiet long enough it gets one too */
    pw_hub_push_idle(f->h, f->ka, 31000, 15000);
    assert_true(pw_hub_sub_has_data(f->a));
    assert_true(pw_hub_sub_has_data(f->b));
    free(drain(f->a));
    free(drain(f->b));
}

static void test_close_all_marks_closing_and_wakes(void **state)
{
    (void)state;
    struct pw_hub *h = pw_hub_new(16, 0);
    struct waker wa = {0}, wb = {0};
    struct pw_hub_sub *a = pw_hub_sub_new(h, wake, &wa, 0);
    struct pw_hub_sub *b = pw_hub_sub_new(h, wake, &wb, 0);
    assert_true(pw_hub_sub_add_channel(a, "presence:a"));
    publish(h, 1, "presence:a");
    assert_int_equal(wa.calls, 1);
    assert_false(pw_hub_sub_closing(a));
    assert_false(pw_hub_sub_closing(b));

    pw_hub_close_all(h);
    assert_true(pw_hub_sub_closing(a));
    assert_true(pw_hub_sub_closing(b));
    assert_int_equal(wa.calls, 2);
    assert_int_equal(wb.calls, 1);
    /* what was queued is still written before the stream ends */
    assert_true(pw_hub_sub_has_data(a));
    char *got = drain(a);
    ids_are(got, (int64_t[]){1}, 1);
    free(got);
    assert_false(pw_hub_sub_overflowed(a));

    pw_hub_sub_free(a);
    pw_hub_sub_free(b);
    pw_hub_free(h);
}

/* ---- unsubscribing and many channels ---- */

static void test_unsubscribe_removes_from_every_channel(void **state)
{
    (void)state;
    struct pw_hub *h = pw_hub_new(16, 0);
    struct waker w = {0};
    struct pw_hub_sub *a = pw_hub_sub_new(h, wake, &w, 0);
    struct pw_hub_sub *b = pw_hub_sub_new(h, wake, &w, 0);
    struct pw_hub_sub *c = pw_hub_sub_new(h, wake, &w, 0);
    assert_true(pw_hub_sub_add_channel(a, "x"));
    assert_true(pw_hub_sub_add_channel(b, "x")); /* b in the middle of x's list */
    assert_true(pw_hub_sub_add_channel(c, "x"));
    assert_true(pw_hub_sub_add_channel(b, "y"));
    assert_true(pw_hub_sub_add_channel(b, "z"));
    assert_true(pw_hub_sub_add_channel(b, "y")); /* twice: still one subscription */
    assert_int_equal(publish(h, 1, "y"), 1);
    free(drain(b));

    pw_hub_sub_free(b);
    assert_int_equal(pw_hub_subscriber_count(h), 2);
    assert_int_equal(publish(h, 2, "y"), 0);
    assert_int_equal(publish(h, 3, "z"), 0);
    assert_int_equal(publish(h, 4, "x"), 2);
    free(drain(a));
    free(drain(c));

    pw_hub_sub_free(a); /* the head of x's list */
    assert_int_equal(publish(h, 5, "x"), 1);
    char *got = drain(c);
    ids_are(got, (int64_t[]){5}, 1);
    free(got);
    pw_hub_sub_free(c);
    assert_int_equal(pw_hub_subscriber_count(h), 0);
    assert_int_equal(publish(h, 6, "x"), 0);

    /* a channel left empty can be subscribed again */
    struct pw_hub_sub *d = pw_hub_sub_new(h, wake, &w, 0);
    assert_true(pw_hub_sub_add_channel(d, "x"));
    assert_int_equal(publish(h, 7, "x"), 1);
    free(drain(d));
    pw_hub_sub_free(d);
    pw_hub_free(h);
}

static void test_hundred_channels_survive_growth(void **state)
{
    (void)state;
    struct pw_hub *h = pw_hub_new(256, 0);
    struct waker w = {0}, ws = {0};
    /* neighbours on ch0 on both sides of s, so moving s's links must relink them */
    struct pw_hub_sub *before = pw_hub_sub_new(h, wake, &w, 0);
    assert_true(pw_hub_sub_add_channel(before, "ch0"));
    struct pw_hub_sub *s = pw_hub_sub_new(h, wake, &ws, 0);
    assert_true(pw_hub_sub_add_channel(s, "ch0"));
    struct pw_hub_sub *after = pw_hub_sub_new(h, wake, &w, 0);
    assert_true(pw_hub_sub_add_channel(after, "ch0"));
    /* a second growing subscriber interleaved with s on the same channels */
    struct pw_hub_sub *twin = pw_hub_sub_new(h, wake, &w, 0);

    char name[16];
    for (int i = 1; i < 100; i++) {
        snprintf(name, sizeof name, "ch%d", i);
        assert_true(pw_hub_sub_add_channel(s, name));
        assert_true(pw_hub_sub_add_channel(twin, name));
    }
    assert_true(pw_hub_sub_add_channel(twin, "ch0")); /* last on ch0 */

    assert_int_equal(publish(h, 1, "ch0"), 4);
    char *got = drain(s);
    ids_are(got, (int64_t[]){1}, 1);
    free(got);
    int64_t seq = 2;
    for (int i = 1; i < 100; i++) {
        snprintf(name, sizeof name, "ch%d", i);
        assert_int_equal(publish(h, seq++, name), 2);
    }
    got = drain(s);
    int64_t ids[128];
    assert_int_equal(ids_of(got, ids, 128), 99);
    free(got);
    free(drain(before));
    free(drain(after));
    free(drain(twin));

    /* replay walks all 100 channels */
    assert_int_equal(pw_hub_replay(h, s, 0), 100);
    free(drain(s));

    /* unsubscribing after growth unlinks the moved links */
    pw_hub_sub_free(before);
    assert_int_equal(publish(h, seq++, "ch0"), 3);
    free(drain(s));
    free(drain(after));
    free(drain(twin));
    pw_hub_sub_free(s);
    assert_int_equal(publish(h, seq++, "ch0"), 2);
    assert_int_equal(publish(h, seq++, "ch50"), 1);
    pw_hub_sub_free(twin);
    assert_int_equal(publish(h, seq++, "ch50"), 0);
    assert_int_equal(publish(h, seq++, "ch0"), 1);
    got = drain(after);
    int64_t last[4];
    assert_int_equal(ids_of(got, last, 4), 2);
    free(got);
    pw_hub_sub_free(after);
    pw_hub_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_reaches_only_channel_subscribers),
        cmocka_unit_test(test_event_bytes_are_shared),
        cmocka_unit_test(test_replay_after_id_in_order_on_own_channels),
        cmocka_unit_test(test_replay_with_gaps_in_sequence),
        cmocka_unit_test(test_can_replay_bounds),
        cmocka_unit_test(test_ring_eviction_moves_floor),
        cmocka_unit_test(test_remember_sets_floor_at_start),
        cmocka_unit_test(test_overflow_by_event_count),
        cmocka_unit_test(test_overflow_by_bytes),
        cmocka_unit_test(test_bytes_read_make_room),
        cmocka_unit_test(test_read_in_small_pieces),
        cmocka_unit_test(test_wake_only_on_empty_to_non_empty),
        cmocka_unit_test(test_push_idle_only_to_idle_subscribers),
        cmocka_unit_test_setup_teardown(test_push_idle_skips_recently_active, idle_setup,
                                        idle_teardown),
        cmocka_unit_test(test_close_all_marks_closing_and_wakes),
        cmocka_unit_test(test_unsubscribe_removes_from_every_channel),
        cmocka_unit_test(test_hundred_channels_survive_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
