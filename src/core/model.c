#include "core/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *role_names[] = {"customer", "mechanic", "admin"};
static const char *presence_names[] = {"offline", "online", "busy"};
static const char *status_names[] = {"pending", "approved", "suspended"};

static bool parse(const char *const *names, int n, const char *s, int *out)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i], s) == 0) {
            *out = i;
            return true;
        }
    }
    return false;
}

const char *pw_role_name(enum pw_role r)
{
    return role_names[r];
}

bool pw_role_parse(const char *s, enum pw_role *out)
{
    int v;
    if (!parse(role_names, 3, s, &v)) return false;
    *out = (enum pw_role)v;
    return true;
}

static const char *const channel_kinds[PW_CHANNEL_KINDS] = {"presence", "mechanic", "session"};

const char *pw_channel_kind_name(enum pw_channel kind)
{
    return channel_kinds[kind];
}

void pw_channel_name(enum pw_channel kind, const char *id, char out[PW_CHANNEL_LEN])
{
    snprintf(out, PW_CHANNEL_LEN, "%s:%s", channel_kinds[kind], id);
}

const char *pw_presence_name(enum pw_presence_state p)
{
    return presence_names[p];
}

bool pw_presence_parse(const char *s, enum pw_presence_state *out)
{
    int v;
    if (!parse(presence_names, 3, s, &v)) return false;
    *out = (enum pw_presence_state)v;
    return true;
}

const char *pw_mechanic_status_name(enum pw_mechanic_status s)
{
    return status_names[s];
}

bool pw_mechanic_status_parse(const char *s, enum pw_mechanic_status *out)
{
    int v;
    if (!parse(status_names, 3, s, &v)) return false;
    *out = (enum pw_mechanic_status)v;
    return true;
}

static const char *session_names[] = {
    "awaiting_payment", "priority", "broadcast", "accepted", "ended", "cancelled", "expired"};

const char *pw_session_state_name(enum pw_session_state s)
{
    return session_names[s];
}

bool pw_session_state_parse(const char *s, enum pw_session_state *out)
{
    int v;
    if (!parse(session_names, 7, s, &v)) return false;
    *out = (enum pw_session_state)v;
    return true;
}

const char *pw_offer_kind_name(enum pw_offer_kind k)
{
    return k == PW_OFFER_PRIORITY ? "priority" : "broadcast";
}

const char *pw_offer_outcome_name(enum pw_offer_outcome o)
{
    static const char *names[] = {NULL, "accepted", "declined", "expired", "withdrawn"};
    return names[o];
}

void pw_session_clear(struct pw_session *s)
{
    free(s->intake_json);
    free(s->outcome_notes);
    free(s->rating_comment);
    free(s->checkout_url);
    memset(s, 0, sizeof *s);
}
