/* The web UI's files: GET/HEAD only, never outside the web root, a content type by
 * extension, and ETag revalidation ("no-cache": the browser asks each time, gets 304 when
 * the file did not change), since there is no build step to put hashes in file names. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "http/http.h"

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".webp", "image/webp"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
    {".woff2", "font/woff2"},
};

static const char *content_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot, types[i].ext) == 0) return types[i].type;
    return "application/octet-stream";
}

/* Only plain segments: no "..", no ".", no hidden files, no backslashes. */
static bool safe_path(const char *p)
{
    if (p[0] != '/' || strchr(p, '\\') || strstr(p, "//")) return false;
    for (const char *s = p; *s; s++)
        if (s[0] == '/' && s[1] == '.') return false;
    return true;
}

static int open_file(const char *root, const char *path, struct stat *st, char *used,
                     size_t usedsz)
{
    const char *candidates[3] = {"%s%s", "%s%s.html", "%s%s/index.html"};
    for (int i = 0; i < 3; i++) {
        if (snprintf(used, usedsz, candidates[i], root, path) >= (int)usedsz) return -1;
        int fd = open(used, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) continue;
        if (fstat(fd, st) == 0 && S_ISREG(st->st_mode)) return fd;
        close(fd);
    }
    return -1;
}

/* Third-party files the UI needs, installed by npm (package.json): a fixed allow-list, so
 * nothing of the request's path reaches the filesystem under /vendor/. */
static const struct {
    const char *url;  /* /vendor/<name> */
    const char *file; /* under the vendor root */
} vendored[] = {
    {"/vendor/chart.umd.js", "chart.js/dist/chart.umd.js"},
};

/* The vendor root: --vendor-root, else node_modules in the web root's parent folder. */
static void vendor_root(const struct pw_config *cfg, char *out, size_t outsz)
{
    if (cfg->vendor_root[0]) {
        snprintf(out, outsz, "%s", cfg->vendor_root);
        return;
    }
    char web[sizeof cfg->web_root];
    snprintf(web, sizeof web, "%s", cfg->web_root);
    size_t n = strlen(web);
    while (n > 1 && web[n - 1] == '/') web[--n] = '\0';
    char *slash = strrchr(web, '/');
    if (!slash)
        snprintf(out, outsz, "node_modules");
    else if (slash == web)
        snprintf(out, outsz, "/node_modules");
    else
        snprintf(out, outsz, "%.*s/node_modules", (int)(slash - web), web);
}

static int open_vendored(const struct pw_config *cfg, const char *path, struct stat *st,
                         char *used, size_t usedsz)
{
    for (size_t i = 0; i < sizeof vendored / sizeof vendored[0]; i++) {
        if (strcmp(path, vendored[i].url) != 0) continue;
        char root[PATH_MAX];
        vendor_root(cfg, root, sizeof root);
        if (snprintf(used, usedsz, "%s/%s", root, vendored[i].file) >= (int)usedsz) return -1;
        int fd = open(used, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return -1;
        if (fstat(fd, st) == 0 && S_ISREG(st->st_mode)) return fd;
        close(fd);
        return -1;
    }
    return -1;
}

void http_static(struct http_request *r)
{
    if (r->method != HTTP_GET && r->method != HTTP_HEAD) {
        http_error(r, PW_EMETHOD, NULL);
        return;
    }
    if (strcmp(r->path, "/") == 0) {
        /* the home page is the logged-in person's dashboard: a visitor logs in first */
        http_auth_optional(r);
        if (!r->has_user) {
            http_redirect(r, "/login");
            return;
        }
    }
    const char *path = strcmp(r->path, "/") == 0 ? "/index.html" : r->path;
    if (!safe_path(path) || strlen(path) > 512) {
        http_error(r, PW_ENOTFOUND, NULL);
        return;
    }
    char file[PATH_MAX];
    struct stat st;
    int fd = strncmp(path, "/vendor/", 8) == 0
                 ? open_vendored(&r->app->cfg, path, &st, file, sizeof file)
                 : open_file(r->app->cfg.web_root, path, &st, file, sizeof file);
    if (fd < 0) {
        http_error(r, PW_ENOTFOUND, "No such page.");
        return;
    }
    char etag[64];
    snprintf(etag, sizeof etag, "\"%llx-%llx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
                 (unsigned long long)st.st_mtim.tv_nsec);
    const char *inm = http_header(r, "If-None-Match");
    struct MHD_Response *resp;
    unsigned status;
    if (inm && strcmp(inm, etag) == 0) {
        close(fd);
        resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        status = 304;
    } else {
        resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
        status = 200;
    }
    if (!resp) {
        if (status == 200) close(fd);
        http_error(r, PW_EINTERNAL, NULL);
        return;
    }
    MHD_add_response_header(resp, "Content-Type", content_type(file));
    MHD_add_response_header(resp, "ETag", etag);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    if (strstr(content_type(file), "text/html"))
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data: https:; "
                                "object-src 'none'; base-uri 'none'; frame-ancestors 'none'");
    http_respond(r, status, resp);
}
