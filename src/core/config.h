/* Every setting of `pitwall serve`: a flag, and the same as a PITWALL_<NAME> variable.
 * Flags win over variables; variables win over defaults. */
#ifndef PW_CONFIG_H
#define PW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct pw_config {
    char listen_host[64];
    int listen_port;
    char db_url[1024];
    bool demo;
    int demo_mechanics;
    int presence_timeout_s;
    int priority_window_s;
    int broadcast_size;
    int request_ttl_s;
    char stripe_secret_key[256];
    char stripe_webhook_secret[256];
    char stripe_api_base[512];
    char public_url[512];
    char web_root[1024];
    char vendor_root[1024]; /* "" = node_modules beside the web root */
    char log_level[16];
    int max_connections;
    int max_connections_per_address; /* 0: no limit */
    int max_streams_per_address;     /* 0: no limit */
    int reserved_percent;            /* of max_connections, never taken by anonymous streams */
    int request_timeout_s;           /* a request's head and body arrive within this */
    int keepalive_s;                 /* SSE comment interval */
    int replay_events;               /* events kept in memory for Last-Event-ID */
    char trusted_proxies[512]; /* comma-separated addresses whose X-Forwarded-For is believed */
};

void pw_config_defaults(struct pw_config *c);

/* Applies PITWALL_* variables (getenv_fn lets tests supply their own), then the flags of
 * argv (argv[0] is the subcommand). On a bad value returns false with a message in err. */
bool pw_config_load(struct pw_config *c, int argc, char **argv,
                    const char *(*getenv_fn)(const char *), char *err, size_t errlen);

/* The manual page pitwall(1), in roff, from the same table as --help. */
void pw_config_man(FILE *out, const char *version);

/* Whether addr is one of the comma-separated addresses of list (text compared after
 * parsing both, so "::1" and "0:0::1" match). */
bool pw_config_addr_in(const char *list, const char *addr);

/* Parses the n bytes at s (spaces around allowed) as an IPv4 or IPv6 address into bin
 * (4 or 16 bytes used) and *family (AF_INET / AF_INET6). */
bool pw_config_addr_parse(const char *s, size_t n, unsigned char bin[16], int *family);

/* The usage text of `pitwall --help`. */
void pw_config_usage(FILE *out);

#endif
