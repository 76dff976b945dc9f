#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/util.h"

static struct pw_log builtin = {.min_level = PW_LOG_INFO};
static struct pw_log *current = &builtin;

void pw_log_bind(struct pw_log *log)
{
    struct pw_log *next = log ? log : &builtin;
    next->min_level = current->min_level;
    next->request = NULL;
    current = next;
}

void pw_log_set_request(const char *request_id)
{
    current->request = request_id;
}
static const char *names[] = {"debug", "info", "warn", "error", "off"};

void pw_log_set_level(enum pw_log_level level)
{
    current->min_level = level;
}

bool pw_log_enabled(enum pw_log_level level)
{
    return level >= current->min_level && level < PW_LOG_OFF;
}

bool pw_log_parse_level(const char *s, enum pw_log_level *out)
{
    for (int i = 0; i <= PW_LOG_OFF; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum pw_log_level)i;
            return true;
        }
    }
    return false;
}

void pw_log(enum pw_log_level level, const char *msg, json_t *fields)
{
    if (!pw_log_enabled(level)) {
        json_decref(fields);
        return;
    }
    char ts[PW_ISO_LEN + 1];
    pw_iso8601(pw_clock_now(&pw_clock_system), ts);
    json_t *line = json_pack("{s:s, s:s, s:s}", "ts", ts, "level", names[level], "msg", msg);
    const char *request = current->request;
    if (request && !json_object_get(fields, "request_id"))
        json_object_set_new(line, "request_id", json_string(request));
    if (fields) json_object_update(line, fields);
    json_decref(fields);
    char *text = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(6));
    if (text) {
        fprintf(stderr, "%s\n", text);
        free(text);
    }
    json_decref(line);
}

void pw_logf(enum pw_log_level level, const char *fmt, ...)
{
    if (!pw_log_enabled(level)) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    pw_log(level, buf, NULL);
}
