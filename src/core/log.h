/* Structured logs: one JSON object per line on stderr. */
#ifndef PW_LOG_H
#define PW_LOG_H

#include <jansson.h>
#include <stdbool.h>

enum pw_log_level { PW_LOG_DEBUG, PW_LOG_INFO, PW_LOG_WARN, PW_LOG_ERROR, PW_LOG_OFF };

/* The log's state. A server owns one (app->log) and binds it with pw_log_bind for its
 * lifetime; before that (the command line, unit tests) a built-in one at "info" is used.
 * Every layer logs without a context argument, so the binding is the one pointer kept
 * here (see docs/decisions.md). */
struct pw_log {
    enum pw_log_level min_level;
    const char *request; /* the request being handled (the event loop's thread only) */
};
/* Makes log the current state (NULL: back to the built-in one); the level carries over. */
void pw_log_bind(struct pw_log *log);

void pw_log_set_level(enum pw_log_level level);
bool pw_log_enabled(enum pw_log_level level);
/* Parses "debug|info|warn|error|off"; returns false for anything else. */
bool pw_log_parse_level(const char *s, enum pw_log_level *out);

/* The request being handled, added as "request_id" to every line logged meanwhile (routing
 * steps, presence changes); NULL outside a request. */
void pw_log_set_request(const char *request_id);

/* Logs a message; fields (may be NULL) is stolen and merged into the line. */
void pw_log(enum pw_log_level level, const char *msg, json_t *fields);
void pw_logf(enum pw_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
