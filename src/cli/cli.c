#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "cluster/follow.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "core/model.h"
#include "presence/presence.h"
#include "store/store.h"

static int64_t now_ms(void)
{
    return pw_clock_now(&pw_clock_system);
}

static const char *db_url(const char *flag)
{
    if (flag) return flag;
    const char *env = getenv("PITWALL_DB");
    return env ? env : "sqlite:pitwall.db";
}

static struct store *open_store(const char *url)
{
    char err[512];
    struct store *st = NULL;
    pw_log_set_level(PW_LOG_WARN);
    if (!pw_auth_init() || store_open(url, &st, err, sizeof err) != PW_OK) {
        fprintf(stderr, "pitwall: %s\n", st ? "cannot start" : err);
        return NULL;
    }
    return st;
}

/* Splits "a;b;c" into tags; false if one is empty, too long or not clean text. */
static bool parse_tags(const char *list, char tags[][PW_TAG_MAX + 1], int *n, const char *what)
{
    *n = 0;
    if (!list || !*list) return true;
    char *copy = strdup(list), *save = NULL;
    bool ok = copy != NULL;
    for (char *t = copy ? strtok_r(copy, ";", &save) : NULL; ok && t;
         t = strtok_r(NULL, ";", &save)) {
        while (*t == ' ') t++;
        size_t len = strlen(t);
        while (len && t[len - 1] == ' ') t[--len] = '\0';
        if (!len || len > PW_TAG_MAX || !pw_text_is_clean(t, len) || *n == PW_TAGS_MAX) {
            fprintf(stderr, "pitwall: bad %s '%s' (1-%d characters each, at most %d)\n", what, t,
                    PW_TAG_MAX, PW_TAGS_MAX);
            ok = false;
        } else {
            snprintf(tags[(*n)++], PW_TAG_MAX + 1, "%s", t);
        }
    }
    free(copy);
    return ok;
}

struct new_mechanic {
    const char *email, *name, *city, *country, *password, *brands, *keywords, *status;
    const char *years, *rating;
};

/* Checks one mechanic's fields and fills user + mechanic; prints why not. */
static bool build(const struct new_mechanic *in, struct pw_user *u, struct pw_mechanic *m,
                  const char *where)
{
    memset(u, 0, sizeof *u);
    memset(m, 0, sizeof *m);
    if (!in->email || !strchr(in->email, '@') || strlen(in->email) > PW_EMAIL_MAX) {
        fprintf(stderr, "pitwall: %s: an email address is required\n", where);
        return false;
    }
    if (!in->name || !*in->name || strlen(in->name) > PW_NAME_MAX ||
        !pw_text_is_clean(in->name, strlen(in->name))) {
        fprintf(stderr, "pitwall: %s: a name of 1-%d characters is required\n", where, PW_NAME_MAX);
        return false;
    }
    if (!in->city || !*in->city || strlen(in->city) > PW_CITY_MAX) {
        fprintf(stderr, "pitwall: %s: a city is required\n", where);
        return false;
    }
    int64_t years = 0, rating = 0;
    if (in->years && *in->years && (!pw_parse_digits(in->years, &years, NULL) || years > 80)) {
        fprintf(stderr, "pitwall: %s: years of experience must be 0-80\n", where);
        return false;
    }
    if (in->rating && *in->rating) {
        double r = atof(in->rating);
        if (r < 0 || r > 5 || strspn(in->rating, "0123456789.") != strlen(in->rating)) {
            fprintf(stderr, "pitwall: %s: rating must be 0.0-5.0\n", where);
            return false;
        }
        rating = (int64_t)(r * 10 + 0.5);
    }
    enum pw_mechanic_status status = PW_MECH_PENDING;
    if (in->status && *in->status && !pw_mechanic_status_parse(in->status, &status)) {
        fprintf(stderr, "pitwall: %s: status must be pending, approved or suspended\n", where);
        return false;
    }
    if (!parse_tags(in->brands, m->brands, &m->n_brands, "brand") ||
        !parse_tags(in->keywords, m->keywords, &m->n_keywords, "keyword"))
        return false;
    pw_uuid_random(u->id);
    pw_ascii_lower(in->email, u->email, sizeof u->email);
    snprintf(u->name, sizeof u->name, "%s", in->name);
    snprintf(u->city, sizeof u->city, "%s", in->city);
    u->role = PW_ROLE_MECHANIC;
    pw_uuid_random(m->id);
    snprintf(m->user_id, sizeof m->user_id, "%s", u->id);
    snprintf(m->name, sizeof m->name, "%s", in->name);
    snprintf(m->city, sizeof m->city, "%s", in->city);
    snprintf(m->country, sizeof m->country, "%s",
             in->country && *in->country ? in->country : "Canada");
    m->years_of_experience = (int)years;
    m->rating_tenths = (int)rating;
    m->is_brand_specialist = m->n_brands > 0;
    m->status = status;
    m->can_accept_sessions = status == PW_MECH_APPROVED;
    m->presence = PW_OFFLINE;
    return true;
}

/* The password given, or a new random one printed for the operator to hand over. */
static bool set_password(struct pw_user *u, const char *given, char shown[PW_TOKEN_LEN + 1])
{
    if (given && strlen(given) < 8) {
        fprintf(stderr, "pitwall: %s: the password needs at least 8 characters\n", u->email);
        return false;
    }
    shown[0] = '\0';
    if (!given) {
        pw_auth_token_new(shown);
        given = shown;
    }
    return pw_auth_password_hash(given, u->password_hash);
}

static int mechanic_add(int argc, char **argv)
{
    struct new_mechanic in = {0};
    const char *db = NULL;
    static const struct option opts[] = {
        {"email", 1, 0, 'e'},    {"name", 1, 0, 'n'},     {"city", 1, 0, 'c'},
        {"country", 1, 0, 'C'},  {"password", 1, 0, 'p'}, {"brands", 1, 0, 'b'},
        {"keywords", 1, 0, 'k'}, {"years", 1, 0, 'y'},    {"rating", 1, 0, 'r'},
        {"approved", 0, 0, 'a'}, {"db", 1, 0, 'd'},       {0, 0, 0, 0}};
    int ch;
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'e': in.email = optarg; break;
        case 'n': in.name = optarg; break;
        case 'c': in.city = optarg; break;
        case 'C': in.country = optarg; break;
        case 'p': in.password = optarg; break;
        case 'b': in.brands = optarg; break;
        case 'k': in.keywords = optarg; break;
        case 'y': in.years = optarg; break;
        case 'r': in.rating = optarg; break;
        case 'a': in.status = "approved"; break;
        case 'd': db = optarg; break;
        default:
            fprintf(stderr, "pitwall: unknown or incomplete option %s\n", argv[optind - 1]);
            return 2;
        }
    }
    if (!in.password) in.password = getenv("PITWALL_PASSWORD");
    struct pw_user u;
    struct pw_mechanic m;
    char shown[PW_TOKEN_LEN + 1];
    if (!build(&in, &u, &m, "mechanic add") || !set_password(&u, in.password, shown)) return 2;
    struct store *st = open_store(db_url(db));
    if (!st) return 1;
    pw_err e = store_tx_begin(st);
    if (!e) e = store_user_insert(st, &u);
    if (!e) e = store_mechanic_insert(st, &m);
    if (!e) e = pw_follow_mechanic_changed(st, m.id, now_ms()); /* running nodes list them */
    if (!e) e = store_tx_commit(st);
    else store_tx_rollback(st);
    store_close(st);
    if (e) {
        fprintf(stderr, "pitwall: could not add %s: %s\n", u.email,
                e == PW_EEMAILTAKEN ? "the email is already used" : pw_err_message(e));
        return 1;
    }
    printf("%s\t%s\t%s%s%s\n", m.id, u.email, pw_mechanic_status_name(m.status),
           shown[0] ? "\tpassword=" : "", shown);
    return 0;
}

/* The status, and the events that tell running nodes: a suspension takes the mechanic
 * offline and off every list at once (announced like the admin API does); each node then
 * withdraws their live offers. */
static pw_err set_status(struct store *st, const char *id, enum pw_mechanic_status status)
{
    struct pw_mechanic m;
    pw_err e = store_mechanic_get(st, id, &m);
    if (e) return e;
    int64_t now = now_ms();
    if ((e = store_tx_begin(st))) return e;
    e = store_mechanic_set_status(st, id, status, status == PW_MECH_APPROVED);
    if (!e && status == PW_MECH_SUSPENDED && m.status != PW_MECH_SUSPENDED) {
        char *payload = pw_presence_payload(id, PW_OFFLINE, m.last_seen_at, PW_REASON_SUSPENDED);
        char channel[PW_CHANNEL_LEN];
        pw_channel_name(PW_CHANNEL_PRESENCE, id, channel);
        struct store_event ev = {
            .type = "presence", .channel = channel, .payload = payload, .created_at = now};
        e = payload ? store_presence_save(st, id, PW_OFFLINE, m.last_seen_at, 0, &ev)
                    : PW_EINTERNAL;
        free(payload);
    }
    if (!e) e = pw_follow_mechanic_changed(st, id, now);
    if (!e) return store_tx_commit(st);
    store_tx_rollback(st);
    return e;
}

static int mechanic_status(const char *who, const char *db, enum pw_mechanic_status status)
{
    struct store *st = open_store(db_url(db));
    if (!st) return 1;
    struct pw_user u;
    char id[PW_ID_LEN + 1];
    snprintf(id, sizeof id, "%s", who);
    if (strchr(who, '@')) {
        char email[PW_EMAIL_MAX + 1];
        pw_ascii_lower(who, email, sizeof email);
        if (store_user_by_email(st, email, &u) != PW_OK || !u.mechanic_id[0]) {
            fprintf(stderr, "pitwall: no mechanic with the email %s\n", who);
            store_close(st);
            return 1;
        }
        snprintf(id, sizeof id, "%s", u.mechanic_id);
    }
    pw_err e = set_status(st, id, status);
    store_close(st);
    if (e) {
        fprintf(stderr, "pitwall: %s: %s\n", who,
                e == PW_ENOTFOUND ? "no such mechanic" : pw_err_message(e));
        return 1;
    }
    printf("%s\t%s\n", id, pw_mechanic_status_name(status));
    return 0;
}

static void mechanic_usage(void)
{
    fprintf(stderr,
            "usage: pitwall mechanic add --email E --name N --city C [--country C] [--password P]\n"
            "                            [--brands Tesla;BMW] [--keywords Electrical;Brakes]\n"
            "                            [--years N] [--rating 4.5] [--approved] [--db URL]\n"
            "       pitwall mechanic approve|suspend ID-or-EMAIL [--db URL]\n"
            "The password may also come from PITWALL_PASSWORD; without one a random password is\n"
            "printed. --db defaults to PITWALL_DB or sqlite:pitwall.db.\n");
}

int pw_cli_mechanic(int argc, char **argv)
{
    if (argc < 2) {
        mechanic_usage();
        return 2;
    }
    if (!strcmp(argv[1], "add")) return mechanic_add(argc - 1, argv + 1);
    if (!strcmp(argv[1], "approve") || !strcmp(argv[1], "suspend")) {
        const char *who = NULL, *db = NULL;
        for (int i = 2; i < argc; i++) {
            if (!strcmp(argv[i], "--db") && i + 1 < argc) db = argv[++i];
            else if (!strncmp(argv[i], "--db=", 5)) db = argv[i] + 5;
            else if (!who) who = argv[i];
        }
        if (!who) {
            mechanic_usage();
            return 2;
        }
        return mechanic_status(who, db,
                               !strcmp(argv[1], "approve") ? PW_MECH_APPROVED : PW_MECH_SUSPENDED);
    }
    mechanic_usage();
    return 2;
}

int pw_csv_split(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line, *out = line;
    for (;;) {
        if (n == max) return n;
        fields[n++] = out;
        if (*p == '"') {
            p++;
            for (;;) {
                if (!*p) return -1; /* unterminated quote */
                if (*p == '"' && p[1] == '"') {
                    *out++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *out++ = *p++;
                }
            }
        }
        while (*p && *p != ',' && *p != '\n' && *p != '\r') *out++ = *p++;
        if (*p == ',') {
            *out++ = '\0';
            p++;
            continue;
        }
        *out = '\0';
        return n;
    }
}

enum {
    C_EMAIL,
    C_NAME,
    C_CITY,
    C_COUNTRY,
    C_BRANDS,
    C_KEYWORDS,
    C_YEARS,
    C_RATING,
    C_STATUS,
    C_PASSWORD,
    C_COUNT
};
static const char *columns[C_COUNT] = {
    "email",  "name",   "city",    "country", "brands", "keywords", "years_of_experience",
    "rating", "status", "password"};

int pw_cli_import_mechanics(int argc, char **argv)
{
    const char *file = NULL, *db = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--db") && i + 1 < argc) db = argv[++i];
        else if (!strncmp(argv[i], "--db=", 5)) db = argv[i] + 5;
        else if (!file) file = argv[i];
    }
    if (!file) {
        fprintf(stderr, "usage: pitwall import-mechanics FILE.csv [--db URL]\n"
                        "Header row with columns (any order): email,name,city and optionally\n"
                        "country,brands,keywords,years_of_experience,rating,status,password;\n"
                        "brands and keywords separated by ';'. All rows or none are imported.\n");
        return 2;
    }
    FILE *f = strcmp(file, "-") ? fopen(file, "r") : stdin;
    if (!f) {
        perror(file);
        return 1;
    }
    char line[8192];
    int index[C_COUNT];
    for (int i = 0; i < C_COUNT; i++) index[i] = -1;
    char *fields[32];
    if (!fgets(line, sizeof line, f)) {
        fprintf(stderr, "pitwall: %s is empty\n", file);
        return 2;
    }
    int nh = pw_csv_split(line, fields, 32);
    for (int i = 0; i < nh; i++)
        for (int c = 0; c < C_COUNT; c++)
            if (!strcasecmp(fields[i], columns[c])) index[c] = i;
    if (index[C_EMAIL] < 0 || index[C_NAME] < 0 || index[C_CITY] < 0) {
        fprintf(stderr, "pitwall: the header needs at least email,name,city\n");
        if (f != stdin) fclose(f);
        return 2;
    }
    struct store *st = open_store(db_url(db));
    if (!st) return 1;
    int rc = 0, rows = 0, lineno = 1;
    char *report = NULL; /* printed only if everything commits */
    size_t report_len = 0;
    FILE *out = open_memstream(&report, &report_len);
    pw_err e = out ? store_tx_begin(st) : PW_EINTERNAL;
    while (!e && rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        if (strspn(line, " \t\r\n") == strlen(line)) continue;
        int n = pw_csv_split(line, fields, 32);
        char where[64];
        snprintf(where, sizeof where, "%s line %d", file, lineno);
        if (n < 0) {
            fprintf(stderr, "pitwall: %s: unterminated quote\n", where);
            rc = 2;
            break;
        }
        const char *v[C_COUNT] = {0};
        for (int c = 0; c < C_COUNT; c++)
            v[c] = index[c] >= 0 && index[c] < n ? fields[index[c]] : NULL;
        struct new_mechanic in = {v[C_EMAIL],
                                  v[C_NAME],
                                  v[C_CITY],
                                  v[C_COUNTRY],
                                  v[C_PASSWORD] && *v[C_PASSWORD] ? v[C_PASSWORD] : NULL,
                                  v[C_BRANDS],
                                  v[C_KEYWORDS],
                                  v[C_STATUS],
                                  v[C_YEARS],
                                  v[C_RATING]};
        struct pw_user u;
        struct pw_mechanic m;
        char shown[PW_TOKEN_LEN + 1];
        if (!build(&in, &u, &m, where) || !set_password(&u, in.password, shown)) {
            rc = 2;
            break;
        }
        if ((e = store_user_insert(st, &u)) || (e = store_mechanic_insert(st, &m)) ||
            (e = pw_follow_mechanic_changed(st, m.id, now_ms()))) {
            fprintf(stderr, "pitwall: %s: %s\n", where,
                    e == PW_EEMAILTAKEN ? "the email is already used" : pw_err_message(e));
            rc = 1;
            break;
        }
        fprintf(out, "%s\t%s\t%s%s%s\n", m.id, u.email, pw_mechanic_status_name(m.status),
                shown[0] ? "\tpassword=" : "", shown);
        rows++;
    }
    if (f != stdin) fclose(f);
    if (!e && rc == 0) e = store_tx_commit(st);
    else store_tx_rollback(st);
    store_close(st);
    if (out) fclose(out);
    if (e || rc) {
        free(report);
        fprintf(stderr, "pitwall: nothing imported\n");
        return rc ? rc : 1;
    }
    fwrite(report, 1, report_len, stdout);
    free(report);
    fprintf(stderr, "pitwall: imported %d mechanics\n", rows);
    return 0;
}
