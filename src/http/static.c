/* The web UI's files: GET/HEAD only, never outside the web root, a content type by
 * extension, and ETag revalidation ("no-cache": the browser asks each time, gets 304 when
 * the file did not change), since there is no build step to put hashes in file names.
 *
 * Text files (HTML, CSS, JS, JSON, SVG, the vendored chart library) go gzipped to clients
 * whose Accept-Encoding allows it. The compressed copy of a file is made once per version
 * of the file, by the first request that wants it, and kept in memory keyed by the file's
 * path and its (device, inode, size, mtime): a file edited while the server runs is
 * compressed again on its next request, and a file that changes while it is being read is
 * served uncompressed. Each variant has its own ETag ("-gz" suffix) and every answer for a
 * compressible file says Vary: Accept-Encoding, so caches keep the two apart. Why at run
 * time rather than at build time: docs/decisions.md. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uthash.h>

#include "http/http.h"

/* Files above this are sent as they are (none of the UI's comes near); the cache as a whole
 * stops taking new copies past GZ_CACHE_MAX (the web root is ours, but bounded anyway). */
#define GZ_FILE_MAX (8u << 20)
#define GZ_CACHE_MAX (64u << 20)

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

/* Worth gzipping: text, and SVG (XML). Images and fonts are compressed already. */
static bool compressible(const char *type)
{
    return strncmp(type, "text/", 5) == 0 || strncmp(type, "application/json", 16) == 0 ||
           strncmp(type, "image/svg+xml", 13) == 0;
}

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

static int open_file(const char *root, const char *path, struct stat *st, char *used, size_t usedsz)
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
    if (!slash) snprintf(out, outsz, "node_modules");
    else if (slash == web) snprintf(out, outsz, "/node_modules");
    else snprintf(out, outsz, "%.*s/node_modules", (int)(slash - web), web);
}

static int open_vendored(const struct pw_config *cfg, const char *path, struct stat *st, char *used,
                         size_t usedsz)
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

/* ---- the gzip copies ---- */

/* Compressed bytes, shared by the cache and every response still sending them (the MHD
 * response's free callback drops its reference). One thread runs MHD and this handler, so a
 * plain counter suffices. */
struct gz_blob {
    unsigned refs;
    size_t len;
    unsigned char *bytes; /* from http_gzip() */
};

struct gz_entry {
    char *path; /* the file opened (under the web or vendor root): the hash key */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtim;
    struct gz_blob *blob; /* NULL: gzip is not smaller for this version, send it as it is */
    UT_hash_handle hh;
};

struct http_static_cache {
    struct gz_entry *by_path;
    size_t bytes; /* compressed bytes held */
};

static void gz_blob_release(void *cls)
{
    struct gz_blob *b = cls;
    if (b && --b->refs == 0) {
        free(b->bytes);
        free(b);
    }
}

static bool same_version(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static bool entry_is(const struct gz_entry *e, const struct stat *st)
{
    return e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
           e->mtim.tv_sec == st->st_mtim.tv_sec && e->mtim.tv_nsec == st->st_mtim.tv_nsec;
}

/* Reads the whole file through fd (pread: the fd stays at offset 0 for an identity answer)
 * and gzips it at level 9. *ok=false when the file could not be read as the version st
 * describes (changed meanwhile) or zlib failed; otherwise the copy, or NULL with *ok=true
 * when gzip would not be smaller. */
static struct gz_blob *gz_make(int fd, const struct stat *st, bool *ok)
{
    *ok = false;
    size_t size = (size_t)st->st_size;
    unsigned char *raw = malloc(size ? size : 1);
    struct gz_blob *b = NULL;
    if (!raw) goto out;
    for (size_t got = 0; got < size;) {
        ssize_t n = pread(fd, raw + got, size - got, (off_t)got);
        if (n <= 0) goto out; /* shorter than it was: it is being rewritten */
        got += (size_t)n;
    }
    struct stat after;
    if (fstat(fd, &after) != 0 || !same_version(st, &after)) goto out;
    size_t len;
    unsigned char *gz = http_gzip(raw, size, 9, &len);
    if (!gz) goto out;
    *ok = true;
    if (len >= size) { /* tiny files: the wrapper costs more than it saves */
        free(gz);
        goto out;
    }
    b = malloc(sizeof *b);
    if (!b) {
        free(gz);
        *ok = false;
        goto out;
    }
    *b = (struct gz_blob){.refs = 1, .len = len, .bytes = gz};
out:
    free(raw);
    return b;
}

/* The gzip copy of the file open as fd (version st), with a reference for the caller, or
 * NULL: send the file as it is. */
static struct gz_blob *gz_get(struct http_server *s, const char *path, int fd,
                              const struct stat *st)
{
    if (st->st_size > (off_t)GZ_FILE_MAX) return NULL;
    if (!s->static_cache && !(s->static_cache = calloc(1, sizeof *s->static_cache))) return NULL;
    struct http_static_cache *c = s->static_cache;
    struct gz_entry *e = NULL;
    HASH_FIND_STR(c->by_path, path, e);
    if (e && entry_is(e, st)) {
        if (e->blob) e->blob->refs++;
        return e->blob;
    }
    bool ok;
    struct gz_blob *b = gz_make(fd, st, &ok);
    if (!ok) return NULL;
    size_t old = e && e->blob ? e->blob->len : 0, add = b ? b->len : 0;
    if (c->bytes - old + add > GZ_CACHE_MAX) {
        gz_blob_release(b);
        return NULL;
    }
    if (!e) {
        e = calloc(1, sizeof *e);
        if (e && !(e->path = strdup(path))) {
            free(e);
            e = NULL;
        }
        if (!e) {
            gz_blob_release(b);
            return NULL;
        }
        HASH_ADD_KEYPTR(hh, c->by_path, e->path, strlen(e->path), e);
    }
    gz_blob_release(e->blob); /* responses still sending the old version keep theirs */
    c->bytes = c->bytes - old + add;
    e->blob = b;
    e->dev = st->st_dev;
    e->ino = st->st_ino;
    e->size = st->st_size;
    e->mtim = st->st_mtim;
    if (b) b->refs++; /* the cache's, and the caller's */
    return b;
}

void http_static_cache_free(struct http_static_cache *c)
{
    if (!c) return;
    struct gz_entry *e, *tmp;
    HASH_ITER(hh, c->by_path, e, tmp)
    {
        HASH_DEL(c->by_path, e);
        gz_blob_release(e->blob);
        free(e->path);
        free(e);
    }
    free(c);
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
                 ? open_vendored(r->server->cfg, path, &st, file, sizeof file)
                 : open_file(r->server->cfg->web_root, path, &st, file, sizeof file);
    if (fd < 0) {
        http_error(r, PW_ENOTFOUND, "No such page.");
        return;
    }
    const char *type = content_type(file);
    bool varies = compressible(type);
    struct gz_blob *gz = NULL;
    if (varies) {
        char accept[512];
        if (http_header_list(r, "Accept-Encoding", accept, sizeof accept) &&
            http_accepts_gzip(accept))
            gz = gz_get(r->server, file, fd, &st);
    }
    char etag[80];
    snprintf(etag, sizeof etag, "\"%llx-%llx%s\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
                 (unsigned long long)st.st_mtim.tv_nsec,
             gz ? "-gz" : "");
    char inm[1024];
    bool has_inm = http_header_list(r, "If-None-Match", inm, sizeof inm);
    struct MHD_Response *resp;
    unsigned status;
    if (has_inm && http_etag_matches(inm, etag)) {
        close(fd);
        gz_blob_release(gz);
        gz = NULL;
        resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        status = 304;
    } else if (gz) {
        close(fd);
        resp = MHD_create_response_from_buffer_with_free_callback_cls(gz->len, gz->bytes,
                                                                      gz_blob_release, gz);
        if (!resp) gz_blob_release(gz);
        status = 200;
    } else {
        resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
        if (!resp) close(fd);
        status = 200;
    }
    if (!resp) {
        http_error(r, PW_EINTERNAL, NULL);
        return;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    if (gz && status == 200) MHD_add_response_header(resp, "Content-Encoding", "gzip");
    if (varies) MHD_add_response_header(resp, "Vary", "Accept-Encoding");
    MHD_add_response_header(resp, "ETag", etag);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    http_security_headers(r, resp);
    MHD_add_response_header(resp, "X-Request-Id", r->request_id);
    if (strstr(type, "text/html"))
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data: https:; "
                                "object-src 'none'; base-uri 'none'; frame-ancestors 'none'");
    http_respond(r, status, resp);
}
