#include "core/config.h"

#include <arpa/inet.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

enum opt_type { OPT_STRING, OPT_INT, OPT_BOOL, OPT_LISTEN };

struct opt {
    const char *name; /* flag name; the variable is PITWALL_ + upper-case with '_' */
    enum opt_type type;
    size_t offset;
    size_t size;  /* for strings */
    int min, max; /* for ints */
    const char *arg;
    const char *help;
};

#define STR(field)                                                                                 \
    OPT_STRING, offsetof(struct pw_config, field), sizeof(((struct pw_config *)0)->field)
#define INT(field, lo, hi) OPT_INT, offsetof(struct pw_config, field), 0, lo, hi

static const struct opt opts[] = {
    {"listen", OPT_LISTEN, 0, 0, 0, 0, "HOST:PORT",
     "address to listen on (default 127.0.0.1:8080)"},
    {"db", STR(db_url), 0, 0, "URL",
     "database: sqlite:PATH (default sqlite:pitwall.db) or postgres://USER@HOST:PORT/DB"},
    {"demo", OPT_BOOL, offsetof(struct pw_config, demo), 0, 0, 0, NULL,
     "load the demo data into an empty database"},
    {"demo-mechanics", INT(demo_mechanics, 0, 1000000), "N",
     "also generate N mechanics (deterministic for a given N), for load tests"},
    {"presence-timeout", INT(presence_timeout_s, 1, 86400), "SEC",
     "an online mechanic not seen for this long goes offline (default 60)"},
    {"priority-window", INT(priority_window_s, 1, 86400), "SEC",
     "exclusive offer to the preferred mechanic (default 600)"},
    {"broadcast-size", INT(broadcast_size, 1, 1000), "N",
     "mechanics offered a broadcast (default 10)"},
    {"request-ttl", INT(request_ttl_s, 1, 604800), "SEC",
     "a request nobody accepts expires after this (default 1800)"},
    {"stripe-secret-key", STR(stripe_secret_key), 0, 0, "KEY", "Stripe secret key (enables card)"},
    {"stripe-webhook-secret", STR(stripe_webhook_secret), 0, 0, "SECRET",
     "Stripe webhook signing secret"},
    {"stripe-api-base", STR(stripe_api_base), 0, 0, "URL",
     "Stripe API base URL (default https://api.stripe.com)"},
    {"public-url", STR(public_url), 0, 0, "URL",
     "address customers use (default http:// + the listen address)"},
    {"web-root", STR(web_root), 0, 0, "DIR", "folder of the web UI's files (default web)"},
    {"vendor-root", STR(vendor_root), 0, 0, "DIR",
     "folder of the UI's third-party scripts (default node_modules beside the web root)"},
    {"log-level", STR(log_level), 0, 0, "LEVEL", "debug, info, warn, error or off (default info)"},
    {"max-connections", INT(max_connections, 16, 1000000), "N",
     "open connections at most (default 19500; keep under the descriptor limit)"},
    {"max-connections-per-address", INT(max_connections_per_address, 0, 1000000), "N",
     "open connections from one client address at most (default 256; 0: no limit)"},
    {"max-streams-per-address", INT(max_streams_per_address, 0, 1000000), "N",
     "open event streams from one client address at most (default 128; 0: no limit)"},
    {"reserved-connections", INT(reserved_percent, 0, 90), "PERCENT",
     "share of --max-connections anonymous streams never take (default 10)"},
    {"request-timeout", INT(request_timeout_s, 1, 3600), "SEC",
     "a request's headers and body must arrive within this, and a kept-alive connection "
     "is closed after this long without one (default 30)"},
    {"keepalive", INT(keepalive_s, 1, 3600), "SEC",
     "comment line on idle streams so proxies keep them open (default 15)"},
    {"replay-events", INT(replay_events, 1, 10000000), "N",
     "newest events kept for Last-Event-ID replay (default 16384)"},
    {"trusted-proxies", STR(trusted_proxies), 0, 0, "ADDR,...",
     "proxies (e.g. nginx at 127.0.0.1) whose X-Forwarded-For names the client (default none)"},
};
#define NOPTS (sizeof opts / sizeof opts[0])

void pw_config_defaults(struct pw_config *c)
{
    memset(c, 0, sizeof *c);
    strcpy(c->listen_host, "127.0.0.1");
    c->listen_port = 8080;
    strcpy(c->db_url, "sqlite:pitwall.db");
    c->presence_timeout_s = 60;
    c->priority_window_s = 600;
    c->broadcast_size = 10;
    c->request_ttl_s = 1800;
    strcpy(c->stripe_api_base, "https://api.stripe.com");
    strcpy(c->web_root, "web");
    strcpy(c->log_level, "info");
    c->max_connections = 19500;
    c->max_connections_per_address = 256;
    c->max_streams_per_address = 128;
    c->reserved_percent = 10;
    c->request_timeout_s = 30;
    c->keepalive_s = 15;
    c->replay_events = 16384;
}

static bool parse_listen(struct pw_config *c, const char *v, char *err, size_t errlen)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v || (size_t)(colon - v) >= sizeof c->listen_host) {
        snprintf(err, errlen, "--listen wants HOST:PORT, got '%s'", v);
        return false;
    }
    int64_t port;
    if (!pw_parse_digits(colon + 1, &port, NULL) || port < 1 || port > 65535) {
        snprintf(err, errlen, "--listen: '%s' is not a port from 1 to 65535", colon + 1);
        return false;
    }
    memcpy(c->listen_host, v, (size_t)(colon - v));
    c->listen_host[colon - v] = '\0';
    c->listen_port = (int)port;
    return true;
}

static bool apply(struct pw_config *c, const struct opt *o, const char *v, char *err, size_t errlen)
{
    char *field = (char *)c + o->offset;
    switch (o->type) {
    case OPT_LISTEN: return parse_listen(c, v, err, errlen);
    case OPT_STRING:
        if (strlen(v) >= o->size) {
            snprintf(err, errlen, "--%s: value too long", o->name);
            return false;
        }
        strcpy(field, v);
        return true;
    case OPT_BOOL:
        if (!v || !strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes")) {
            *(bool *)field = true;
        } else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no") || !*v) {
            *(bool *)field = false;
        } else {
            snprintf(err, errlen, "--%s: '%s' is not true or false", o->name, v);
            return false;
        }
        return true;
    case OPT_INT: {
        int64_t n;
        if (!pw_parse_digits(v, &n, NULL) || n < o->min || n > o->max) {
            snprintf(err, errlen, "--%s: '%s' is not a whole number from %d to %d", o->name, v,
                     o->min, o->max);
            return false;
        }
        *(int *)field = (int)n;
        return true;
    }
    }
    return false;
}

static void env_name(const char *flag, char *out, size_t outsz)
{
    size_t o = (size_t)snprintf(out, outsz, "PITWALL_");
    for (const char *p = flag; *p && o + 1 < outsz; p++)
        out[o++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    out[o] = '\0';
}

/* Parses one address of a list (s .. s+n) into bin; false when it is not one. */
bool pw_config_addr_parse(const char *s, size_t n, unsigned char bin[16], int *family)
{
    char one[64];
    while (n > 0 && (*s == ' ' || *s == '\t')) s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    if (n == 0 || n >= sizeof one) return false;
    memcpy(one, s, n);
    one[n] = '\0';
    if (inet_pton(AF_INET, one, bin) == 1) *family = AF_INET;
    else if (inet_pton(AF_INET6, one, bin) == 1) *family = AF_INET6;
    else return false;
    return true;
}

/* Walks a comma-separated list of addresses: false if one is not an address; *found says
 * whether want (parsed, may be NULL) is among them. */
static bool scan_addr_list(const char *list, const char *want, bool *found)
{
    unsigned char w[16], bin[16];
    int want_family = 0, family;
    *found = false;
    if (want && !pw_config_addr_parse(want, strlen(want), w, &want_family)) want = NULL;
    if (!*list) return true;
    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (!pw_config_addr_parse(p, n, bin, &family)) return false;
        if (want && family == want_family && memcmp(bin, w, family == AF_INET ? 4 : 16) == 0)
            *found = true;
        if (!comma) return true;
        p = comma + 1;
    }
}

static bool valid_addr_list(const char *list)
{
    bool found;
    return scan_addr_list(list, NULL, &found);
}

bool pw_config_addr_in(const char *list, const char *addr)
{
    bool found;
    return scan_addr_list(list, addr, &found) && found;
}

bool pw_config_load(struct pw_config *c, int argc, char **argv,
                    const char *(*getenv_fn)(const char *), char *err, size_t errlen)
{
    for (size_t i = 0; i < NOPTS; i++) {
        char name[64];
        env_name(opts[i].name, name, sizeof name);
        const char *v = getenv_fn ? getenv_fn(name) : NULL;
        if (v && !apply(c, &opts[i], v, err, errlen)) return false;
    }

    struct option longopts[NOPTS + 1];
    for (size_t i = 0; i < NOPTS; i++) {
        longopts[i] = (struct option){
            opts[i].name, opts[i].type == OPT_BOOL ? optional_argument : required_argument, NULL,
            (int)(i + 256)};
    }
    longopts[NOPTS] = (struct option){0, 0, 0, 0};

    optind = 0; /* 0, not 1: glibc then also forgets its state from an earlier parse */
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        if (ch >= 256 && ch < (int)(256 + NOPTS)) {
            if (!apply(c, &opts[ch - 256], optarg, err, errlen)) return false;
        } else if (ch == ':') {
            snprintf(err, errlen, "option %s needs a value", argv[optind - 1]);
            return false;
        } else {
            snprintf(err, errlen, "unknown option %s (see pitwall --help)", argv[optind - 1]);
            return false;
        }
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
        return false;
    }
    if (!valid_addr_list(c->trusted_proxies)) {
        snprintf(err, errlen,
                 "--trusted-proxies: '%s' is not a comma-separated list of IP addresses",
                 c->trusted_proxies);
        return false;
    }
    enum pw_log_level lvl;
    if (!pw_log_parse_level(c->log_level, &lvl)) {
        snprintf(err, errlen, "--log-level: '%s' is not debug, info, warn, error or off",
                 c->log_level);
        return false;
    }
    if (strncmp(c->db_url, "sqlite:", 7) != 0 && strncmp(c->db_url, "postgres://", 11) != 0 &&
        strncmp(c->db_url, "postgresql://", 13) != 0) {
        snprintf(err, errlen, "--db: '%s' is neither sqlite:PATH nor postgres://...", c->db_url);
        return false;
    }
    if (!c->public_url[0])
        snprintf(c->public_url, sizeof c->public_url, "http://%s:%d", c->listen_host,
                 c->listen_port);
    size_t n = strlen(c->public_url);
    while (n > 0 && c->public_url[n - 1] == '/') c->public_url[--n] = '\0';
    return true;
}

void pw_config_usage(FILE *out)
{
    fprintf(out,
            "pitwall - mechanic selection with live presence\n\n"
            "Usage:\n"
            "  pitwall serve [OPTIONS]   run the server\n"
            "  pitwall mechanic add|approve|suspend ...   manage mechanics (see pitwall mechanic)\n"
            "  pitwall import-mechanics FILE.csv           add mechanics from a CSV file\n"
            "  pitwall --help            this text\n"
            "  pitwall --version         the version\n\n"
            "Options of serve (each also a variable PITWALL_<NAME>, e.g. PITWALL_LISTEN):\n");
    for (size_t i = 0; i < NOPTS; i++) {
        char flag[64], envn[64];
        snprintf(flag, sizeof flag, "--%s%s%s", opts[i].name, opts[i].arg ? " " : "",
                 opts[i].arg ? opts[i].arg : "");
        env_name(opts[i].name, envn, sizeof envn);
        fprintf(out, "  %-30s %s\n  %-30s [%s]\n", flag, opts[i].help, "", envn);
    }
}

/* Escapes text for roff: backslashes and leading dots/quotes. */
static void roff(FILE *out, const char *s)
{
    if (*s == '.' || *s == '\'') fputs("\\&", out);
    for (; *s; s++) {
        if (*s == '\\') fputs("\\e", out);
        else if (*s == '-') fputs("\\-", out);
        else fputc(*s, out);
    }
}

void pw_config_man(FILE *out, const char *version)
{
    fprintf(out, ".TH PITWALL 1 \"\" \"pitwall %s\" \"User Commands\"\n", version);
    fputs(".SH NAME\npitwall \\- mechanic selection with live presence for a video car\\-repair "
          "marketplace\n"
          ".SH SYNOPSIS\n.B pitwall serve\n[\\fIOPTIONS\\fR]\n.br\n"
          ".B pitwall mechanic add\n\\-\\-email \\fIE\\fR \\-\\-name \\fIN\\fR \\-\\-city "
          "\\fIC\\fR [\\fIOPTIONS\\fR]\n.br\n"
          ".B pitwall mechanic approve\n|\n.B suspend\n\\fIID\\fR|\\fIEMAIL\\fR\n.br\n"
          ".B pitwall import\\-mechanics\n\\fIFILE.csv\\fR\n"
          ".SH DESCRIPTION\n"
          "pitwall serves the marketplace's API, its live streams (Server\\-Sent Events) and its "
          "web UI from one process. "
          "Customers pick a mechanic and see who is online, offline or busy; the chosen mechanic "
          "gets an exclusive priority "
          "offer, then the request is broadcast to the best matches and the first to accept wins.\n"
          ".PP\nOne node runs on SQLite. SIGTERM stops accepting connections, ends open streams "
          "(clients reconnect "
          "and replay with Last\\-Event\\-ID) and exits within five seconds.\n"
          ".SH OPTIONS\nEvery option of \\fBserve\\fR is also read from the environment variable "
          "shown; the option wins.\n",
          out);
    for (size_t i = 0; i < NOPTS; i++) {
        char envn[64];
        env_name(opts[i].name, envn, sizeof envn);
        fputs(".TP\n.BR \\-\\-", out);
        roff(out, opts[i].name);
        if (opts[i].arg) {
            fputs(" \" \\fI", out);
            roff(out, opts[i].arg);
            fputs("\\fR\"", out);
        }
        fputs("\n", out);
        roff(out, opts[i].help);
        fprintf(out, ". Environment: \\fB%s\\fR.\n", envn);
    }
    fputs(".SH COMMANDS\n.TP\n.B mechanic add\nCreates a mechanic account (pending unless "
          "\\-\\-approved). "
          "Options: \\-\\-email, \\-\\-name, \\-\\-city, \\-\\-country, \\-\\-password (or "
          "PITWALL_PASSWORD; "
          "without one a random password is printed), \\-\\-brands A;B, \\-\\-keywords A;B, "
          "\\-\\-years N, "
          "\\-\\-rating 0.0\\-5.0, \\-\\-approved, \\-\\-db URL.\n"
          ".TP\n.B mechanic approve|suspend\nApproves or suspends a mechanic by id or email. A "
          "running server on the same "
          "database follows within a second: a suspended mechanic goes offline and leaves every "
          "list.\n"
          ".TP\n.B import\\-mechanics\nAdds mechanics from a CSV file with a header row: email, "
          "name, city and optionally "
          "country, brands, keywords (separated by semicolons), years_of_experience, rating, "
          "status, password. "
          "All rows are imported or none.\n"
          ".SH FILES\n.TP\n.I pitwall.db\nThe default SQLite database (\\-\\-db sqlite:PATH).\n"
          ".SH SEE ALSO\nThe HTTP API is described by GET /api/openapi.json; metrics in the "
          "Prometheus format are at GET /metrics.\n",
          out);
}
