/* Server-Sent Events over libmicrohttpd: one open stream = one hub subscriber + one MHD
 * response whose content reader drains the subscriber's queue. With nothing to send the
 * reader suspends the connection; a queued event resumes it (MHD's event fd wakes the
 * loop). See docs/internals/streams.md. */
#ifndef PW_SSE_H
#define PW_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "core/model.h"
#include "stream/hub.h"

struct pw_stream;

/* A stream's kind is the kind of channel it follows (core/model.h). */

typedef void (*pw_stream_close_fn)(void *ctx);

/* The streams' own state, one per server (app->streams), the event loop's thread only. */
struct pw_streams {
    size_t open_by_kind[PW_CHANNEL_KINDS]; /* for /metrics */
    size_t suspended;                      /* streams parked now */
    size_t resumed;                        /* streams woken since the loop last asked */
    int epfd;                              /* the loop's epoll (-1 outside it): peers hanging up */
};
void pw_streams_init(struct pw_streams *ss);

/* Streams open now, by kind (for /metrics). */
size_t pw_stream_open_count(const struct pw_streams *ss, enum pw_channel kind);

/* Opens a stream on conn: the response (to queue with status 200) is in *resp; the stream
 * starts with `retry: 2000`. on_close(ctx) runs once when the connection is gone. */
struct pw_stream *pw_stream_open(struct pw_streams *ss, struct pw_hub *hub, enum pw_channel kind,
                                 struct MHD_Connection *conn, int64_t now,
                                 pw_stream_close_fn on_close, void *ctx,
                                 struct MHD_Response **resp);
struct pw_hub_sub *pw_stream_sub(struct pw_stream *s);
/* The event loop's epoll fd: streams register their socket there for EPOLLRDHUP, with the
 * stream's struct pw_watch (core/watch.h) as data.ptr; it calls pw_stream_peer_closed(). */
void pw_stream_watch_init(struct pw_streams *ss, int epfd);
void pw_stream_peer_closed(struct pw_stream *s);
/* How many streams were woken since the last call (the loop runs MHD again for them). */
size_t pw_stream_take_resumed(struct pw_streams *ss);
/* How many streams are parked (suspended) right now. */
size_t pw_stream_suspended_count(const struct pw_streams *ss);

/* Parses a Last-Event-ID header: a decimal sequence number of at most 18 digits (surrounding
 * spaces allowed). False for anything else, which callers treat as "no id". */
bool pw_sse_parse_last_event_id(const char *s, int64_t *out);

/* The frame of an event built for one connection (a snapshot): id, event name, data. */
struct pw_hub_event *pw_sse_frame(int64_t seq, const char *type, const char *data);

#define PW_SSE_RETRY "retry: 2000\n\n"
#define PW_SSE_KEEPALIVE ": keep-alive\n\n"

#endif
