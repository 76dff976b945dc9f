/* The fault injector of pitwall-torture (docs/internals/torture.md).
 *
 * Linked into the torture executable only, with -Wl,--wrap for malloc, calloc, realloc,
 * strdup, strndup and http_router_find. A request that carries "X-Pitwall-Fault: alloc=N" (or
 * store=N) arms the injector when it is routed: from then on the Nth allocation made by
 * pitwall's own code or by jansson (or the Nth store call through store.c's dispatch point)
 * fails, once. GET /__torture/status disarms and tells the harness whether the fault fired
 * and how many allocations and store calls were counted, so that it knows when N went past
 * the end of the request. Start-up is never armed.
 *
 * The counters are process-wide atomics, not per thread: a login's job runs on a worker. The
 * event loop's 1 s timer may therefore take the failure instead of the request; the harness
 * only sees a request that succeeded although the fault fired, and goes on to N + 1. */
#include <errno.h>
#include <execinfo.h>
#include <unistd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/fault.h"
#include "http/http.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
http_handler __real_http_router_find(const struct http_router *rt, struct http_request *r,
                                     bool *path_known);
json_t *__real_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *error);
json_t *__real_json_loads(const char *text, size_t flags, json_error_t *error);
json_t *__wrap_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *error);
json_t *__wrap_json_loads(const char *text, size_t flags, json_error_t *error);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
http_handler __wrap_http_router_find(const struct http_router *rt, struct http_request *r,
                                     bool *path_known);

enum mode { OFF, ALLOC, STORE };

static _Atomic int mode = OFF;
static _Atomic long target; /* the call that fails, 1-based */
static _Atomic long allocs; /* counted since armed */
static _Atomic long stores;
static _Atomic bool fired;
static bool backtraces;

/* Inside jansson's parser no allocation fails: jansson 2.14 (Debian 12) crashes (SEGV in
 * json_loadb) or returns a damaged object when its allocator fails there, which pitwall
 * cannot repair from outside (docs/internals/torture.md). */
static _Thread_local int in_parser;

static bool hit(enum mode m, _Atomic long *count)
{
    if (atomic_load_explicit(&mode, memory_order_relaxed) == OFF || in_parser) return false;
    long k = atomic_fetch_add(count, 1) + 1;
    if (atomic_load(&mode) != (int)m || k != atomic_load(&target)) return false;
    atomic_store(&fired, true);
    if (backtraces) { /* PITWALL_FAULT_BACKTRACE=1: where it failed, for addr2line */
        void *frames[24];
        int n = backtrace(frames, 24);
        write(2, "fault fired at:\n", 16);
        backtrace_symbols_fd(frames, n, 2);
    }
    return true;
}

void *__wrap_malloc(size_t n)
{
    if (hit(ALLOC, &allocs)) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    if (hit(ALLOC, &allocs)) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    if (hit(ALLOC, &allocs)) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    if (hit(ALLOC, &allocs)) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    if (hit(ALLOC, &allocs)) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_strndup(s, n);
}

json_t *__wrap_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *error)
{
    in_parser++;
    json_t *j = __real_json_loadb(buf, len, flags, error);
    in_parser--;
    return j;
}

json_t *__wrap_json_loads(const char *text, size_t flags, json_error_t *error)
{
    in_parser++;
    json_t *j = __real_json_loads(text, flags, error);
    in_parser--;
    return j;
}

pw_err pw_fault_store(void)
{
    return hit(STORE, &stores) ? PW_ESTORE : PW_OK;
}

static void *json_malloc(size_t n)
{
    return __wrap_malloc(n);
}

/* Before main: every json_t made later (none exists yet) comes through the counter. */
__attribute__((constructor)) static void fault_init(void)
{
    json_set_alloc_funcs(json_malloc, free);
    const char *bt = getenv("PITWALL_FAULT_BACKTRACE");
    if (bt && *bt == '1') {
        void *warm[1];
        backtrace(warm, 1); /* loads libgcc now, not inside a failing malloc */
        backtraces = true;
    }
}

/* GET /__torture/status: disarms, then reports. Made while disarmed, so it cannot fail. */
static void fault_status(struct http_request *r)
{
    int m = atomic_exchange(&mode, OFF);
    http_json(r, 200,
              json_pack("{s:s, s:I, s:b, s:I, s:I}", "mode",
                        m == ALLOC   ? "alloc"
                        : m == STORE ? "store"
                                     : "off",
                        "n", (json_int_t)atomic_load(&target), "fired", atomic_load(&fired),
                        "allocs", (json_int_t)atomic_load(&allocs), "stores",
                        (json_int_t)atomic_load(&stores)));
}

static void fault_arm(const char *spec)
{
    enum mode m = !strncmp(spec, "alloc=", 6) ? ALLOC : !strncmp(spec, "store=", 6) ? STORE : OFF;
    long n = m == OFF ? 0 : strtol(spec + 6, NULL, 10);
    if (n <= 0) return;
    atomic_store(&mode, OFF);
    atomic_store(&target, n);
    atomic_store(&allocs, 0);
    atomic_store(&stores, 0);
    atomic_store(&fired, false);
    atomic_store(&mode, m);
}

http_handler __wrap_http_router_find(const struct http_router *rt, struct http_request *r,
                                     bool *path_known)
{
    if (!strcmp(r->path, "/__torture/status")) {
        *path_known = true;
        r->route = "/__torture/status";
        return fault_status;
    }
    const char *spec = http_header(r, "X-Pitwall-Fault");
    if (spec) fault_arm(spec);
    return __real_http_router_find(rt, r, path_known);
}
