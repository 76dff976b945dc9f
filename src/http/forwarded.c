/* X-Forwarded-For: which client a request behind our own proxies comes from. */
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "http/http.h"

void http_forwarded_client(const char *xff, const char *trusted, char *out, size_t outsz)
{
    if (!xff) return;
    const char *end = xff + strlen(xff);
    while (end > xff) {
        const char *start = end;
        while (start > xff && start[-1] != ',') start--;
        unsigned char bin[16];
        int family;
        if (!pw_config_addr_parse(start, (size_t)(end - start), bin, &family)) return;
        const char *a = start, *b = end; /* the hop without its spaces, as text */
        while (*a == ' ' || *a == '\t') a++;
        while (b[-1] == ' ' || b[-1] == '\t') b--;
        snprintf(out, outsz, "%.*s", (int)(b - a), a);
        if (!pw_config_addr_in(trusted, out)) return;
        end = start > xff ? start - 1 : xff;
    }
}
