/* One descriptor on the event loop's epoll: its epoll_event.data.ptr is a struct pw_watch,
 * and the loop calls cb with the events that fired. A module embeds the watch in its own
 * struct and finds itself again with pw_container_of (libuv's handles, reduced). */
#ifndef PW_WATCH_H
#define PW_WATCH_H

#include <stddef.h>
#include <stdint.h>

struct pw_watch {
    void (*cb)(struct pw_watch *w, uint32_t events);
};

#define pw_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif
