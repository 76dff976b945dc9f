/* The URL table: method + path pattern -> handler. The HTTP layer knows no handler: the API
 * registers its routes here at start-up (api_routes_register), as h2o's handlers register on
 * paths, and the server looks each request up. A "{id}" segment matches one path segment of
 * an id's length and characters and lands in r->param. */
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

pw_err http_router_add(struct http_router *rt, enum http_method method, const char *pattern,
                       http_handler handler)
{
    if (rt->count == rt->cap) {
        size_t cap = rt->cap ? rt->cap * 2 : 32;
        struct http_route *n = realloc(rt->routes, cap * sizeof *n);
        if (!n) return PW_EINTERNAL;
        rt->routes = n;
        rt->cap = cap;
    }
    rt->routes[rt->count++] = (struct http_route){method, pattern, handler};
    return PW_OK;
}

void http_router_free(struct http_router *rt)
{
    free(rt->routes);
    *rt = (struct http_router){0};
}

/* Matches path against pattern; copies a {id} segment into param. */
static bool match(const char *pattern, const char *path, char *param, size_t paramsz)
{
    while (*pattern && *path) {
        if (strncmp(pattern, "{id}", 4) == 0) {
            size_t n = strcspn(path, "/");
            if (n == 0 || n >= paramsz) return false;
            for (size_t i = 0; i < n; i++) {
                char c = path[i];
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      c == '-' || c == '_'))
                    return false;
            }
            memcpy(param, path, n);
            param[n] = '\0';
            pattern += 4;
            path += n;
            continue;
        }
        if (*pattern != *path) return false;
        pattern++;
        path++;
    }
    return *pattern == '\0' && *path == '\0';
}

http_handler http_router_find(const struct http_router *rt, struct http_request *r,
                              bool *path_known)
{
    *path_known = false;
    enum http_method m = r->method == HTTP_HEAD ? HTTP_GET : r->method;
    for (size_t i = 0; i < rt->count; i++) {
        if (!match(rt->routes[i].pattern, r->path, r->param, sizeof r->param)) continue;
        *path_known = true;
        if (rt->routes[i].method == m) {
            r->route = rt->routes[i].pattern;
            return rt->routes[i].handler;
        }
    }
    if (*path_known) r->route = "(method not allowed)";
    return NULL;
}
