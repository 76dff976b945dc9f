#include "stream/sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "core/watch.h"

void pw_streams_init(struct pw_streams *ss)
{
    *ss = (struct pw_streams){.epfd = -1};
}

size_t pw_stream_open_count(const struct pw_streams *ss, enum pw_channel kind)
{
    return ss->open_by_kind[kind];
}

struct pw_stream {
    struct pw_watch watch; /* the socket on the loop's epoll: the peer hanging up */
    struct pw_streams *owner;
    enum pw_channel kind;
    struct pw_hub_sub *sub;
    struct MHD_Connection *conn;
    int fd; /* the connection's socket, watched for the peer hanging up */
    bool suspended;
    bool peer_gone; /* the client closed: end the response at once */
    pw_stream_close_fn on_close;
    void *ctx;
};

size_t pw_stream_take_resumed(struct pw_streams *ss)
{
    size_t n = ss->resumed;
    ss->resumed = 0;
    return n;
}

void pw_stream_watch_init(struct pw_streams *ss, int epfd)
{
    ss->epfd = epfd;
}

size_t pw_stream_suspended_count(const struct pw_streams *ss)
{
    return ss->suspended;
}

static void stream_wake(void *ctx)
{
    struct pw_stream *s = ctx;
    if (s->suspended) {
        s->suspended = false;
        s->owner->suspended--;
        s->owner->resumed++;
        MHD_resume_connection(s->conn);
    }
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct pw_stream *s = cls;
    if (pw_hub_sub_overflowed(s->sub) || s->peer_gone) return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = pw_hub_sub_read(s->sub, buf, max);
    if (n > 0) return (ssize_t)n;
    if (pw_hub_sub_closing(s->sub)) return MHD_CONTENT_READER_END_OF_STREAM;
    /* nothing to send: park the connection until an event arrives (legal only from here
     * or the access handler, which is why waking goes through MHD_resume_connection) */
    s->suspended = true;
    s->owner->suspended++;
    MHD_suspend_connection(s->conn);
    return 0;
}

void pw_stream_peer_closed(struct pw_stream *s)
{
    s->peer_gone = true;
    stream_wake(s); /* a parked stream must run its reader to end */
}

static void stream_free(void *cls)
{
    struct pw_stream *s = cls;
    s->owner->open_by_kind[s->kind]--;
    if (s->fd >= 0 && s->owner->epfd >= 0) epoll_ctl(s->owner->epfd, EPOLL_CTL_DEL, s->fd, NULL);
    if (s->on_close) s->on_close(s->ctx);
    pw_hub_sub_free(s->sub);
    free(s);
}

static void on_hangup(struct pw_watch *w, uint32_t events)
{
    (void)events;
    pw_stream_peer_closed(pw_container_of(w, struct pw_stream, watch));
}

struct pw_stream *pw_stream_open(struct pw_streams *ss, struct pw_hub *hub, enum pw_channel kind,
                                 struct MHD_Connection *conn, int64_t now,
                                 pw_stream_close_fn on_close, void *ctx, struct MHD_Response **resp)
{
    struct pw_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->kind = kind;
    s->conn = conn;
    s->fd = -1;
    s->sub = pw_hub_sub_new(hub, stream_wake, s, now);
    if (!s->sub) {
        free(s);
        return NULL;
    }
    /* small blocks: the reader is called with what fits the connection's write buffer */
    *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, stream_read, s, stream_free);
    if (!*resp) {
        pw_hub_sub_free(s->sub);
        free(s);
        return NULL;
    }
    s->on_close = on_close;
    s->ctx = ctx;
    s->owner = ss;
    ss->open_by_kind[kind]++;
    /* A parked (suspended) connection is not watched by libmicrohttpd, so a client that
     * leaves would only be noticed at the next keep-alive write. Our own epoll watches the
     * socket for the peer's hang-up only (edge-triggered, no EPOLLIN), so a closed dashboard
     * is seen at once and "seen" stops then, not a keep-alive interval later. */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci && ss->epfd >= 0) {
        s->watch.cb = on_hangup;
        struct epoll_event ev = {.events = EPOLLRDHUP | EPOLLET, .data.ptr = &s->watch};
        if (epoll_ctl(ss->epfd, EPOLL_CTL_ADD, ci->connect_fd, &ev) == 0) s->fd = ci->connect_fd;
    }
    MHD_add_response_header(*resp, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(*resp, "Cache-Control", "no-store");
    MHD_add_response_header(*resp, "X-Accel-Buffering", "no"); /* nginx: do not buffer */
    struct pw_hub_event *retry = pw_hub_event_raw(PW_SSE_RETRY, sizeof PW_SSE_RETRY - 1);
    if (retry) {
        pw_hub_sub_push(s->sub, retry);
        pw_hub_event_unref(retry);
    }
    return s;
}

struct pw_hub_sub *pw_stream_sub(struct pw_stream *s)
{
    return s->sub;
}

bool pw_sse_parse_last_event_id(const char *s, int64_t *out)
{
    if (!s) return false;
    while (*s == ' ' || *s == '\t') s++;
    int64_t v = 0;
    int digits = 0;
    while (*s >= '0' && *s <= '9') {
        if (++digits > 18) return false;
        v = v * 10 + (*s - '0');
        s++;
    }
    while (*s == ' ' || *s == '\t') s++;
    if (*s || digits == 0) return false;
    *out = v;
    return true;
}

struct pw_hub_event *pw_sse_frame(int64_t seq, const char *type, const char *data)
{
    int n = snprintf(NULL, 0, "id: %lld\nevent: %s\ndata: %s\n\n", (long long)seq, type, data);
    char *buf = malloc((size_t)n + 1);
    if (!buf) return NULL;
    snprintf(buf, (size_t)n + 1, "id: %lld\nevent: %s\ndata: %s\n\n", (long long)seq, type, data);
    struct pw_hub_event *e = pw_hub_event_raw(buf, (size_t)n);
    free(buf);
    return e;
}
