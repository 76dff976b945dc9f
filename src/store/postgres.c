/* The PostgreSQL backend (libpq): the same storage interface and the same semantics as
 * sqlite.c, for several nodes sharing one database (SPEC §6).
 *
 * One connection, used only from the event-loop thread, in blocking mode. Every statement is
 * prepared once (PQprepare, named by a counter, cached by the address of its SQL literal)
 * and run with PQexecPrepared; parameters go as text and results come back as text, parsed
 * here. Transactions nest like SQLite's: BEGIN at depth 0, SAVEPOINT deeper. PostgreSQL
 * aborts the whole transaction when one statement in it fails, where SQLite only undoes that
 * statement; so a write run inside a caller's transaction gets a savepoint of its own, and a
 * failed INSERT (say an email already taken) leaves the caller's transaction usable, as on
 * SQLite.
 *
 * A second connection only LISTENs: other nodes' commits of events wake the event loop
 * through its socket (see listen_fd); the rows are then read on the main connection. See
 * docs/internals/storage.md and docs/internals/cluster.md. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <uthash.h>

#include "core/clock.h"
#include "core/log.h"
#include "store/schema_postgres.h"
#include "store/store.h"

struct pg_stmt {
    const char *sql; /* key: the address of a string literal */
    char name[16];
    UT_hash_handle hh;
};

struct pg {
    struct store base;
    PGconn *conn;
    struct pg_stmt *stmts;
    int n_stmts;
    int depth; /* 0 = autocommit, 1 = in BEGIN, more = savepoints */
    char *url;
    PGconn *listen;        /* LISTEN only; NULL until asked for, or while lost */
    unsigned listen_gen;   /* moves with each new listening connection */
    int64_t listen_retry_at; /* monotonic ms: no reconnection attempt before */
};

/* Keys of the advisory locks (arbitrary, fixed) and the notification channel. */
#define MIGRATION_LOCK "7064857175059302764"
#define EVENTS_LOCK "7064857175059302765"
#define EVENTS_CHANNEL "pitwall_events"

#define PG(st) ((struct pg *)(st))

/* Parameters of one statement, as text; NULL is SQL NULL. */
#define PARAMS_MAX 24
struct params {
    int n;
    const char *v[PARAMS_MAX];
    char num[PARAMS_MAX][24];
};

static void p_text(struct params *p, const char *v)
{
    assert(p->n < PARAMS_MAX);
    p->v[p->n++] = v;
}

static void p_opt_text(struct params *p, const char *v)
{
    p_text(p, v && *v ? v : NULL);
}

static void p_int(struct params *p, int64_t v)
{
    assert(p->n < PARAMS_MAX);
    snprintf(p->num[p->n], sizeof p->num[p->n], "%lld", (long long)v);
    p->v[p->n] = p->num[p->n];
    p->n++;
}

static void p_bool(struct params *p, bool v)
{
    p_text(p, v ? "true" : "false");
}

static void p_opt_time(struct params *p, int64_t v)
{
    if (v)
        p_int(p, v);
    else
        p_text(p, NULL);
}

/* ---- reading text results ---- */

static const char *col(const PGresult *r, int row, int c)
{
    return PQgetvalue(r, row, c); /* "" for NULL, never NULL for a row that exists */
}

static int64_t col_i64(const PGresult *r, int row, int c)
{
    if (PQgetisnull(r, row, c)) return 0;
    const char *v = PQgetvalue(r, row, c);
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end) {
        pw_log(PW_LOG_ERROR, "postgres: not an integer", json_pack("{s:s}", "value", v));
        return 0;
    }
    return x;
}

static int col_int(const PGresult *r, int row, int c)
{
    return (int)col_i64(r, row, c);
}

static bool col_bool(const PGresult *r, int row, int c)
{
    return PQgetvalue(r, row, c)[0] == 't';
}

static void col_copy(const PGresult *r, int row, int c, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s", col(r, row, c));
}

static char *col_dup(const PGresult *r, int row, int c)
{
    return PQgetisnull(r, row, c) ? NULL : strdup(PQgetvalue(r, row, c));
}

/* ---- running statements ---- */

static void log_error(struct pg *s, const char *what, const PGresult *r)
{
    const char *msg = r ? PQresultErrorMessage(r) : "";
    if (!msg || !*msg) msg = PQerrorMessage(s->conn);
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    pw_log(
        PW_LOG_ERROR, "postgres error",
        json_pack("{s:s, s:s, s:s}", "during", what, "sqlstate", state ? state : "", "error", msg));
}

/* A failed statement's error code: a broken constraint (class 23: unique, foreign key, not
 * null, check) is PW_ECONFLICT as SQLITE_CONSTRAINT is in sqlite.c; the rest is logged. */
static pw_err result_error(struct pg *s, const char *what, const PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (state && strncmp(state, "23", 2) == 0) return PW_ECONFLICT;
    log_error(s, what, r);
    return PW_ESTORE;
}

/* Runs SQL without parameters (transaction control, migrations); false (logged) on error. */
static bool exec_simple(struct pg *s, const char *sql)
{
    PGresult *r = PQexec(s->conn, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) log_error(s, sql, r);
    PQclear(r);
    return ok;
}

static void stmts_forget(struct pg *s)
{
    struct pg_stmt *e, *tmp;
    HASH_ITER(hh, s->stmts, e, tmp)
    {
        HASH_DEL(s->stmts, e);
        free(e);
    }
}

/* The name of sql's prepared statement, preparing it on first use; NULL (logged) if not. */
static const char *prepared(struct pg *s, const char *sql, int n_params)
{
    struct pg_stmt *e;
    HASH_FIND_PTR(s->stmts, &sql, e);
    if (e) return e->name;
    e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->sql = sql;
    snprintf(e->name, sizeof e->name, "pw%d", ++s->n_stmts);
    PGresult *r = PQprepare(s->conn, e->name, sql, n_params, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        log_error(s, sql, r);
        PQclear(r);
        free(e);
        return NULL;
    }
    PQclear(r);
    HASH_ADD_PTR(s->stmts, sql, e);
    return e->name;
}

/* After the server went away (restart, failover): one new connection, once, and only
 * outside a transaction, whose work would be lost silently otherwise. Its prepared
 * statements went with the old connection. */
/* Set on every session, again after a reconnection. A node waits for a lock with its whole
 * event loop, and every event-writing commit of the cluster takes one lock, so a node
 * stopped inside a transaction (SIGSTOP, a frozen VM) must not hold the others for long:
 * PostgreSQL ends a session idle in a transaction after 5 s, which releases its locks.
 * pitwall never leaves a transaction open between statements for longer than a password
 * hash (the command line's import). */
static bool session_setup(struct pg *s)
{
    return exec_simple(s, "SET idle_in_transaction_session_timeout = '5s'");
}

static bool reconnect(struct pg *s)
{
    if (s->depth != 0 || PQstatus(s->conn) != CONNECTION_BAD) return false;
    pw_log(PW_LOG_WARN, "postgres connection lost, reconnecting", NULL);
    PQreset(s->conn);
    stmts_forget(s);
    return PQstatus(s->conn) == CONNECTION_OK && session_setup(s);
}

/* Runs a prepared statement; the result (to PQclear) on success, else NULL and *err. */
static PGresult *run_once(struct pg *s, const char *sql, const struct params *p, const char *what,
                          pw_err *err)
{
    const char *name = prepared(s, sql, p ? p->n : 0);
    if (!name) {
        *err = PW_ESTORE;
        return NULL;
    }
    PGresult *r = PQexecPrepared(s->conn, name, p ? p->n : 0, p ? p->v : NULL, NULL, NULL, 0);
    ExecStatusType status = PQresultStatus(r);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
        *err = PW_OK;
        return r;
    }
    *err = result_error(s, what, r);
    PQclear(r);
    return NULL;
}

/* A lost connection that could not be made again is "unavailable" (503, try again), not a
 * failed statement (500). */
static pw_err lost_or(struct pg *s, pw_err e)
{
    return e == PW_ESTORE && PQstatus(s->conn) == CONNECTION_BAD ? PW_EUNAVAILABLE : e;
}

static PGresult *run(struct pg *s, const char *sql, const struct params *p, const char *what,
                     pw_err *err)
{
    PGresult *r = run_once(s, sql, p, what, err);
    if (!r && *err == PW_ESTORE && reconnect(s)) r = run_once(s, sql, p, what, err);
    if (!r) *err = lost_or(s, *err);
    return r;
}

/* SAVEPOINT, the statement, RELEASE: sent together in one pipeline, one round trip. The
 * statement's result on success; else NULL, *err, and the savepoint left open for the
 * caller to roll back to (a failed statement makes the pipeline skip the RELEASE). */
static PGresult *run_guarded(struct pg *s, const char *sql, const struct params *p,
                             const char *what, pw_err *err)
{
    const char *name = prepared(s, sql, p ? p->n : 0);
    *err = PW_ESTORE;
    if (!name || !PQenterPipelineMode(s->conn)) return NULL;
    PGresult *out = NULL;
    bool sent = PQsendQueryParams(s->conn, "SAVEPOINT pw_stmt", 0, NULL, NULL, NULL, NULL, 0) &&
                PQsendQueryPrepared(s->conn, name, p ? p->n : 0, p ? p->v : NULL, NULL, NULL, 0) &&
                PQsendQueryParams(s->conn, "RELEASE pw_stmt", 0, NULL, NULL, NULL, NULL, 0) &&
                PQpipelineSync(s->conn);
    if (!sent) {
        log_error(s, what, NULL);
        /* whatever was queued is read below up to the sync, or the connection is broken */
    }
    /* results: one per query, each followed by NULL, then the sync */
    bool ok[3] = {false, false, false};
    for (int q = 0; sent && q < 3; q++) {
        PGresult *r;
        while ((r = PQgetResult(s->conn)) != NULL) {
            ExecStatusType st = PQresultStatus(r);
            if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
                ok[q] = true;
                if (q == 1) {
                    out = r;
                    continue;
                }
            } else if (q == 1 && st != PGRES_PIPELINE_ABORTED) {
                *err = result_error(s, what, r);
            } else if (st != PGRES_PIPELINE_ABORTED) {
                log_error(s, q == 0 ? "savepoint" : "release", r);
            }
            PQclear(r);
        }
    }
    PGresult *r;
    while ((r = PQgetResult(s->conn)) != NULL && PQresultStatus(r) != PGRES_PIPELINE_SYNC)
        PQclear(r);
    PQclear(r);
    if (!PQexitPipelineMode(s->conn)) log_error(s, "pipeline", NULL);
    if (ok[0] && ok[1] && ok[2]) {
        *err = PW_OK;
        return out;
    }
    PQclear(out);
    return NULL;
}

/* Runs a write. *changes (if given) gets the number of rows it changed, *returned (if
 * given) the one value of its RETURNING clause. With `guard`, a write inside a caller's
 * transaction runs under a savepoint of its own, so that its failure undoes only itself
 * (SQLite's statement-level rollback) instead of aborting the caller's transaction; a
 * function that holds its own transaction around its writes needs no guard. */
static pw_err write_ex(struct pg *s, bool guard, const char *sql, const struct params *p,
                       const char *what, int *changes, int64_t *returned)
{
    if (changes) *changes = 0;
    pw_err e;
    PGresult *r;
    if (guard && s->depth > 0) {
        r = run_guarded(s, sql, p, what, &e);
        if (!r) {
            exec_simple(s, "ROLLBACK TO pw_stmt; RELEASE pw_stmt");
            e = lost_or(s, e);
        }
    } else {
        r = run(s, sql, p, what, &e);
    }
    if (!r) return e;
    if (changes) *changes = atoi(PQcmdTuples(r));
    if (returned) {
        if (PQntuples(r) == 1 && PQnfields(r) == 1)
            *returned = col_i64(r, 0, 0);
        else
            e = PW_ESTORE; /* cannot happen with a RETURNING of one column */
    }
    PQclear(r);
    return e;
}

static pw_err pg_write(struct pg *s, const char *sql, const struct params *p, const char *what,
                       int *changes)
{
    return write_ex(s, true, sql, p, what, changes, NULL);
}

/* Runs a query that yields at most one row: PW_OK with *out set, PW_ENOTFOUND without. */
static pw_err query_row(struct pg *s, const char *sql, const struct params *p, const char *what,
                        PGresult **out)
{
    pw_err e;
    *out = run(s, sql, p, what, &e);
    if (!*out) return e;
    if (PQntuples(*out) == 0) {
        PQclear(*out);
        *out = NULL;
        return PW_ENOTFOUND;
    }
    return PW_OK;
}

/* ---- transactions ---- */

static pw_err pg_tx_begin(struct store *st)
{
    struct pg *s = PG(st);
    if (s->depth == 0) reconnect(s);
    if (!exec_simple(s, s->depth == 0 ? "BEGIN" : "SAVEPOINT pw")) return lost_or(s, PW_ESTORE);
    s->depth++;
    return PW_OK;
}

static pw_err pg_tx_commit(struct store *st)
{
    struct pg *s = PG(st);
    assert(s->depth > 0);
    if (s->depth > 1) {
        s->depth--;
        if (exec_simple(s, "RELEASE pw")) return PW_OK;
        /* the savepoint is still open: undo it so nothing is left half-written */
        exec_simple(s, "ROLLBACK TO pw; RELEASE pw");
        return PW_ESTORE;
    }
    s->depth = 0;
    PGresult *r = PQexec(s->conn, "COMMIT");
    /* COMMIT of a transaction that had failed answers "ROLLBACK" without an error */
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK && strcmp(PQcmdStatus(r), "COMMIT") == 0;
    if (!ok) {
        log_error(s, "commit", r);
        if (PQtransactionStatus(s->conn) != PQTRANS_IDLE) exec_simple(s, "ROLLBACK");
    }
    PQclear(r);
    return ok ? PW_OK : lost_or(s, PW_ESTORE);
}

static void pg_tx_rollback(struct store *st)
{
    struct pg *s = PG(st);
    assert(s->depth > 0);
    exec_simple(s, s->depth > 1 ? "ROLLBACK TO pw; RELEASE pw" : "ROLLBACK");
    s->depth--;
}

static void pg_close(struct store *st)
{
    struct pg *s = PG(st);
    stmts_forget(s);
    PQfinish(s->conn);
    PQfinish(s->listen);
    free(s->url);
    free(s);
}

static pw_err pg_is_empty(struct store *st, bool *empty)
{
    struct pg *s = PG(st);
    PGresult *r;
    pw_err e = query_row(s, "SELECT NOT EXISTS (SELECT 1 FROM users)", NULL, "is_empty", &r);
    if (e) return e == PW_ENOTFOUND ? PW_ESTORE : e;
    *empty = col_bool(r, 0, 0);
    PQclear(r);
    return PW_OK;
}

/* ---- users and logins ---- */

static pw_err pg_user_insert(struct store *st, const struct pw_user *u)
{
    struct params p = {0};
    p_text(&p, u->id);
    p_text(&p, u->email);
    p_text(&p, u->password_hash);
    p_text(&p, u->name);
    p_text(&p, pw_role_name(u->role));
    p_text(&p, u->city);
    p_int(&p, u->credit_balance_cents);
    p_bool(&p, u->free_session_used);
    p_int(&p, u->created_at);
    pw_err e = pg_write(PG(st),
                        "INSERT INTO users (id, email, password_hash, name, role, city, "
                        "credit_balance_cents, free_session_used, created_at) "
                        "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
                        &p, "user_insert", NULL);
    return e == PW_ECONFLICT ? PW_EEMAILTAKEN : e;
}

#define USER_COLUMNS                                                                               \
    "u.id, u.email, u.password_hash, u.name, u.role, u.city, u.credit_balance_cents, "             \
    "u.free_session_used, u.created_at, coalesce(m.id, '') "                                       \
    "FROM users u LEFT JOIN mechanics m ON m.user_id = u.id "

static pw_err read_user(struct pg *s, const char *sql, const char *key, struct pw_user *out)
{
    struct params p = {0};
    p_text(&p, key);
    PGresult *r;
    pw_err e = query_row(s, sql, &p, "read_user", &r);
    if (e) return e;
    memset(out, 0, sizeof *out);
    col_copy(r, 0, 0, out->id, sizeof out->id);
    col_copy(r, 0, 1, out->email, sizeof out->email);
    col_copy(r, 0, 2, out->password_hash, sizeof out->password_hash);
    col_copy(r, 0, 3, out->name, sizeof out->name);
    pw_role_parse(col(r, 0, 4), &out->role);
    col_copy(r, 0, 5, out->city, sizeof out->city);
    out->credit_balance_cents = col_i64(r, 0, 6);
    out->free_session_used = col_bool(r, 0, 7);
    out->created_at = col_i64(r, 0, 8);
    col_copy(r, 0, 9, out->mechanic_id, sizeof out->mechanic_id);
    PQclear(r);
    return PW_OK;
}

static pw_err pg_user_by_email(struct store *st, const char *email, struct pw_user *out)
{
    return read_user(PG(st), "SELECT " USER_COLUMNS "WHERE u.email = $1", email, out);
}

static pw_err pg_user_by_id(struct store *st, const char *id, struct pw_user *out)
{
    return read_user(PG(st), "SELECT " USER_COLUMNS "WHERE u.id = $1", id, out);
}

static pw_err pg_auth_session_insert(struct store *st, const struct pw_auth_session *a)
{
    struct params p = {0};
    p_text(&p, a->token_hash);
    p_text(&p, a->user_id);
    p_text(&p, a->csrf_token);
    p_int(&p, a->created_at);
    p_int(&p, a->expires_at);
    return pg_write(PG(st),
                    "INSERT INTO auth_sessions (token_hash, user_id, csrf_token, created_at, "
                    "expires_at) VALUES ($1,$2,$3,$4,$5)",
                    &p, "auth_session_insert", NULL);
}

static pw_err pg_auth_session_get(struct store *st, const char *token_hash, int64_t now,
                                  struct pw_auth_session *out)
{
    struct params p = {0};
    p_text(&p, token_hash);
    p_int(&p, now);
    PGresult *r;
    pw_err e = query_row(PG(st),
                         "SELECT user_id, csrf_token, created_at, expires_at FROM auth_sessions "
                         "WHERE token_hash = $1 AND expires_at > $2",
                         &p, "auth_session_get", &r);
    if (e) return e;
    memset(out, 0, sizeof *out);
    snprintf(out->token_hash, sizeof out->token_hash, "%s", token_hash);
    col_copy(r, 0, 0, out->user_id, sizeof out->user_id);
    col_copy(r, 0, 1, out->csrf_token, sizeof out->csrf_token);
    out->created_at = col_i64(r, 0, 2);
    out->expires_at = col_i64(r, 0, 3);
    PQclear(r);
    return PW_OK;
}

static pw_err pg_auth_session_delete(struct store *st, const char *token_hash)
{
    struct params p = {0};
    p_text(&p, token_hash);
    return pg_write(PG(st), "DELETE FROM auth_sessions WHERE token_hash = $1", &p,
                    "auth_session_delete", NULL);
}

/* ---- mechanics and presence ---- */

static char *tags_json(const char tags[][PW_TAG_MAX + 1], int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_string(tags[i]));
    char *out = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return out;
}

static int tags_parse(const char *text, char tags[][PW_TAG_MAX + 1])
{
    json_t *a = json_loads(text && *text ? text : "[]", 0, NULL);
    int n = 0;
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        if (n < PW_TAGS_MAX && json_is_string(v))
            snprintf(tags[n++], PW_TAG_MAX + 1, "%s", json_string_value(v));
    }
    json_decref(a);
    return n;
}

static pw_err pg_mechanic_insert(struct store *st, const struct pw_mechanic *m)
{
    char *brands = tags_json(m->brands, m->n_brands);
    char *keywords = tags_json(m->keywords, m->n_keywords);
    pw_err e = PW_EINTERNAL;
    if (!brands || !keywords) goto out;
    struct params p = {0};
    p_text(&p, m->id);
    p_text(&p, m->user_id);
    p_text(&p, m->name);
    p_text(&p, m->profile_photo_url);
    p_int(&p, m->rating_tenths);
    p_int(&p, m->completed_sessions);
    p_int(&p, m->years_of_experience);
    p_bool(&p, m->is_brand_specialist);
    p_text(&p, brands);
    p_text(&p, keywords);
    p_text(&p, m->city);
    p_text(&p, m->country);
    p_text(&p, pw_mechanic_status_name(m->status));
    p_bool(&p, m->can_accept_sessions);
    p_text(&p, pw_presence_name(m->presence));
    p_opt_time(&p, m->last_seen_at);
    e = pg_write(PG(st),
                 "INSERT INTO mechanics (id, user_id, name, profile_photo_url, rating_tenths, "
                 "completed_sessions, years_of_experience, is_brand_specialist, "
                 "brand_specializations, service_keywords, city, country, status, "
                 "can_accept_sessions, presence, last_seen_at, created_at) "
                 "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16, "
                 "(extract(epoch FROM now()) * 1000)::bigint)",
                 &p, "mechanic_insert", NULL);
out:
    free(brands);
    free(keywords);
    return e;
}

#define MECHANIC_COLUMNS                                                                         \
    "SELECT id, user_id, name, profile_photo_url, rating_tenths, completed_sessions, "            \
    "years_of_experience, is_brand_specialist, brand_specializations, service_keywords, city, "  \
    "country, status, can_accept_sessions, presence, coalesce(last_seen_at, 0) FROM mechanics "

static void read_mechanic(const PGresult *r, int i, struct pw_mechanic *m)
{
    memset(m, 0, sizeof *m);
    col_copy(r, i, 0, m->id, sizeof m->id);
    col_copy(r, i, 1, m->user_id, sizeof m->user_id);
    col_copy(r, i, 2, m->name, sizeof m->name);
    col_copy(r, i, 3, m->profile_photo_url, sizeof m->profile_photo_url);
    m->rating_tenths = col_int(r, i, 4);
    m->completed_sessions = col_int(r, i, 5);
    m->years_of_experience = col_int(r, i, 6);
    m->is_brand_specialist = col_bool(r, i, 7);
    m->n_brands = tags_parse(col(r, i, 8), m->brands);
    m->n_keywords = tags_parse(col(r, i, 9), m->keywords);
    col_copy(r, i, 10, m->city, sizeof m->city);
    col_copy(r, i, 11, m->country, sizeof m->country);
    pw_mechanic_status_parse(col(r, i, 12), &m->status);
    m->can_accept_sessions = col_bool(r, i, 13);
    pw_presence_parse(col(r, i, 14), &m->presence);
    m->last_seen_at = col_i64(r, i, 15);
}

static pw_err pg_mechanics_each(struct store *st, store_mechanic_fn fn, void *ctx)
{
    pw_err e;
    PGresult *r = run(PG(st), MECHANIC_COLUMNS "ORDER BY id", NULL, "mechanics_each", &e);
    if (!r) return e;
    struct pw_mechanic *m = malloc(sizeof *m);
    if (!m) {
        PQclear(r);
        return PW_EINTERNAL;
    }
    for (int i = 0, n = PQntuples(r); i < n; i++) {
        read_mechanic(r, i, m);
        fn(ctx, m);
    }
    free(m);
    PQclear(r);
    return PW_OK;
}

static pw_err pg_mechanic_get(struct store *st, const char *id, struct pw_mechanic *out)
{
    struct params p = {0};
    p_text(&p, id);
    PGresult *r;
    pw_err e = query_row(PG(st), MECHANIC_COLUMNS "WHERE id = $1", &p, "mechanic_get", &r);
    if (e) return e;
    read_mechanic(r, 0, out);
    PQclear(r);
    return PW_OK;
}

static pw_err pg_accept_delays_each(struct store *st, int per_mechanic, store_delay_fn fn,
                                    void *ctx)
{
    struct params p = {0};
    p_int(&p, per_mechanic);
    pw_err e;
    PGresult *r = run(PG(st),
                      "SELECT mechanic_id, outcome_at - offered_at FROM ("
                      "  SELECT mechanic_id, offered_at, outcome_at, row_number() OVER ("
                      "    PARTITION BY mechanic_id ORDER BY outcome_at DESC) AS n"
                      "  FROM offers WHERE outcome = 'accepted') AS recent WHERE n <= $1",
                      &p, "accept_delays_each", &e);
    if (!r) return e;
    for (int i = 0, n = PQntuples(r); i < n; i++)
        fn(ctx, col(r, i, 0), col_i64(r, i, 1));
    PQclear(r);
    return PW_OK;
}

/* Events must become visible in sequence order, or a node that has read up to seq n would
 * never see an n-1 that committed after n. A sequence alone does not give that (values are
 * taken at insert, commits land in any order), so every transaction that writes events
 * takes one advisory lock first and holds it to its commit: the writes and their commits
 * are serialised, and a seq that is skipped (a failed commit) is skipped for good. The lock
 * is taken here, after all the transaction's other writes (store.c writes events just
 * before COMMIT), so it never waits while holding a row lock another writer needs.
 * Each event is announced with NOTIFY on "pitwall_events.<schema>", delivered at the
 * commit: "<seq> <type>". */
static pw_err pg_events_write(struct store *st, struct store_event *evs, size_t n)
{
    struct pg *s = PG(st);
    pw_err e = write_ex(s, false, "SELECT pg_advisory_xact_lock(" EVENTS_LOCK ")", NULL,
                        "events_lock", NULL, NULL);
    for (size_t i = 0; !e && i < n; i++) {
        struct params p = {0};
        p_text(&p, evs[i].type);
        p_text(&p, evs[i].channel);
        p_text(&p, evs[i].payload);
        p_int(&p, evs[i].created_at);
        e = write_ex(s, false,
                     "WITH e AS (INSERT INTO events (type, channel, payload, created_at) "
                     "VALUES ($1,$2,$3,$4) RETURNING seq) "
                     "SELECT seq FROM e, pg_notify('" EVENTS_CHANNEL ".' || current_schema(), "
                     "seq || ' ' || $1)",
                     &p, "events_write", NULL, &evs[i].seq);
    }
    return e;
}

static pw_err pg_presence_set(struct store *st, const char *mechanic_id, enum pw_state presence,
                              int64_t last_seen_at, int64_t unseen_before)
{
    struct pg *s = PG(st);
    struct params p = {0};
    p_text(&p, pw_presence_name(presence));
    p_int(&p, last_seen_at);
    p_text(&p, mechanic_id);
    p_int(&p, unseen_before);
    int n;
    pw_err e = pg_write(s,
                        "UPDATE mechanics SET presence = $1, last_seen_at = $2 WHERE id = $3 "
                        "AND ($4::bigint = 0 OR (presence = 'online' AND "
                        "coalesce(last_seen_at, 0) < $4::bigint))",
                        &p, "presence_set", &n);
    if (e || n == 1) return e;
    struct pw_mechanic m;
    if ((e = pg_mechanic_get(st, mechanic_id, &m))) return e;
    return PW_ETAKEN;
}

static pw_err pg_last_seen_save(struct store *st, const char *mechanic_id, int64_t last_seen_at)
{
    struct params p = {0};
    p_int(&p, last_seen_at);
    p_text(&p, mechanic_id);
    return pg_write(PG(st), "UPDATE mechanics SET last_seen_at = $1 WHERE id = $2", &p,
                    "last_seen_save", NULL);
}

/* ---- events ---- */

/* Hands each row (seq, type, channel, payload, created_at) of r to fn, then clears r. */
static pw_err each_event(PGresult *r, store_event_fn fn, void *ctx)
{
    for (int i = 0, n = PQntuples(r); i < n; i++) {
        struct store_event ev = {
            .seq = col_i64(r, i, 0),
            .type = col(r, i, 1),
            .channel = col(r, i, 2),
            .payload = col(r, i, 3),
            .created_at = col_i64(r, i, 4),
        };
        fn(ctx, &ev);
    }
    PQclear(r);
    return PW_OK;
}

static pw_err pg_events_tail(struct store *st, int limit, store_event_fn fn, void *ctx)
{
    struct params p = {0};
    p_int(&p, limit);
    pw_err e;
    PGresult *r = run(PG(st),
                      "SELECT seq, type, channel, payload, created_at FROM ("
                      "  SELECT * FROM events ORDER BY seq DESC LIMIT $1) AS newest ORDER BY seq",
                      &p, "events_tail", &e);
    return r ? each_event(r, fn, ctx) : e;
}

static pw_err pg_events_after(struct store *st, int64_t after, int limit, store_event_fn fn,
                              void *ctx)
{
    struct params p = {0};
    p_int(&p, after);
    p_int(&p, limit);
    pw_err e;
    PGresult *r = run(PG(st),
                      "SELECT seq, type, channel, payload, created_at FROM events "
                      "WHERE seq > $1 ORDER BY seq LIMIT $2",
                      &p, "events_after", &e);
    return r ? each_event(r, fn, ctx) : e;
}

static pw_err pg_events_of_channel(struct store *st, const char *channel, const char *type,
                                   int64_t upto, store_event_fn fn, void *ctx)
{
    struct params p = {0};
    p_text(&p, channel);
    p_text(&p, type);
    p_int(&p, upto);
    pw_err e;
    PGresult *r = run(PG(st),
                      "SELECT seq, type, channel, payload, created_at FROM events "
                      "WHERE channel = $1 AND type = $2 AND seq <= $3 ORDER BY seq",
                      &p, "events_of_channel", &e);
    return r ? each_event(r, fn, ctx) : e;
}

static pw_err pg_event_latest_seq(struct store *st, int64_t *seq)
{
    /* the newest committed event. Unlike SQLite's sqlite_sequence this is not the
     * sequence's own high-water mark: a sequence value is taken even by a transaction that
     * then rolls back, or that another node has not committed yet, and neither is an event
     * anyone can see. Events are never deleted, so the two agree on what has committed. */
    PGresult *r;
    pw_err e =
        query_row(PG(st), "SELECT coalesce(max(seq), 0) FROM events", NULL, "event_latest_seq", &r);
    if (e) return e == PW_ENOTFOUND ? PW_ESTORE : e;
    *seq = col_i64(r, 0, 0);
    PQclear(r);
    return PW_OK;
}

/* ---- catalogue ---- */

static pw_err pg_plan_insert(struct store *st, const struct pw_plan *pl, int sort)
{
    struct params p = {0};
    p_text(&p, pl->slug);
    p_text(&p, pl->name);
    p_int(&p, pl->standard_price_cents);
    p_int(&p, pl->specialist_price_cents);
    p_int(&p, sort);
    return pg_write(PG(st),
                    "INSERT INTO plans (slug, name, standard_price_cents, specialist_price_cents, "
                    "sort) VALUES ($1,$2,$3,$4,$5)",
                    &p, "plan_insert", NULL);
}

static void read_plan(const PGresult *r, int i, struct pw_plan *pl)
{
    col_copy(r, i, 0, pl->slug, sizeof pl->slug);
    col_copy(r, i, 1, pl->name, sizeof pl->name);
    pl->standard_price_cents = col_i64(r, i, 2);
    pl->specialist_price_cents = col_i64(r, i, 3);
}

static pw_err pg_plans_each(struct store *st, store_plan_fn fn, void *ctx)
{
    pw_err e;
    PGresult *r = run(PG(st),
                      "SELECT slug, name, standard_price_cents, specialist_price_cents "
                      "FROM plans ORDER BY sort, slug",
                      NULL, "plans_each", &e);
    if (!r) return e;
    for (int i = 0, n = PQntuples(r); i < n; i++) {
        struct pw_plan pl;
        read_plan(r, i, &pl);
        fn(ctx, &pl);
    }
    PQclear(r);
    return PW_OK;
}

static pw_err pg_plan_get(struct store *st, const char *slug, struct pw_plan *out)
{
    struct params p = {0};
    p_text(&p, slug);
    PGresult *r;
    pw_err e = query_row(PG(st),
                         "SELECT slug, name, standard_price_cents, specialist_price_cents "
                         "FROM plans WHERE slug = $1",
                         &p, "plan_get", &r);
    if (e) return e;
    read_plan(r, 0, out);
    PQclear(r);
    return PW_OK;
}

static pw_err pg_vehicle_insert(struct store *st, const struct pw_vehicle *v)
{
    struct params p = {0};
    p_text(&p, v->id);
    p_text(&p, v->owner_id);
    p_int(&p, v->year);
    p_text(&p, v->make);
    p_text(&p, v->model);
    /* created_at only orders a customer's vehicles (as sqlite.c does) */
    return pg_write(PG(st),
                    "INSERT INTO vehicles (id, owner_id, year, make, model, created_at) "
                    "VALUES ($1,$2,$3,$4,$5, (SELECT coalesce(max(created_at), 0) + 1 "
                    "FROM vehicles))",
                    &p, "vehicle_insert", NULL);
}

static void read_vehicle(const PGresult *r, int i, struct pw_vehicle *v)
{
    col_copy(r, i, 0, v->id, sizeof v->id);
    col_copy(r, i, 1, v->owner_id, sizeof v->owner_id);
    v->year = col_int(r, i, 2);
    col_copy(r, i, 3, v->make, sizeof v->make);
    col_copy(r, i, 4, v->model, sizeof v->model);
    v->deleted_at = col_i64(r, i, 5); /* NULL reads as 0 */
}

static pw_err pg_vehicles_of(struct store *st, const char *owner_id, store_vehicle_fn fn, void *ctx)
{
    struct params p = {0};
    p_text(&p, owner_id);
    pw_err e;
    PGresult *r = run(PG(st),
                      "SELECT id, owner_id, year, make, model, deleted_at FROM vehicles "
                      "WHERE owner_id = $1 AND deleted_at IS NULL ORDER BY created_at, id",
                      &p, "vehicles_of", &e);
    if (!r) return e;
    for (int i = 0, n = PQntuples(r); i < n; i++) {
        struct pw_vehicle v;
        read_vehicle(r, i, &v);
        fn(ctx, &v);
    }
    PQclear(r);
    return PW_OK;
}

static pw_err pg_vehicle_get(struct store *st, const char *id, struct pw_vehicle *out)
{
    struct params p = {0};
    p_text(&p, id);
    PGresult *r;
    pw_err e = query_row(PG(st),
                         "SELECT id, owner_id, year, make, model, deleted_at FROM vehicles "
                         "WHERE id = $1",
                         &p, "vehicle_get", &r);
    if (e) return e;
    read_vehicle(r, 0, out);
    PQclear(r);
    return PW_OK;
}

/* A row lock held to the end of the transaction. FOR NO KEY UPDATE: two lockers of one
 * row queue (on any node), while inserts that only reference the row (FOR KEY SHARE) do
 * not wait. Under READ COMMITTED each later statement of the transaction reads with a new
 * snapshot, so it sees whatever the previous holder committed. */
static pw_err lock_row(struct pg *s, const char *sql, const struct params *p, const char *what)
{
    PGresult *r;
    pw_err e = query_row(s, sql, p, what, &r);
    if (!e) PQclear(r);
    return e;
}

static pw_err pg_vehicle_lock(struct store *st, const char *id, const char *owner_id)
{
    struct params p = {0};
    p_text(&p, id);
    p_text(&p, owner_id);
    return lock_row(PG(st),
                    "SELECT 1 FROM vehicles WHERE id = $1 AND owner_id = $2 "
                    "AND deleted_at IS NULL FOR NO KEY UPDATE",
                    &p, "vehicle_lock");
}

static pw_err pg_vehicle_update(struct store *st, const struct pw_vehicle *v)
{
    struct params p = {0};
    p_int(&p, v->year);
    p_text(&p, v->make);
    p_text(&p, v->model);
    p_text(&p, v->id);
    int n;
    pw_err e = pg_write(PG(st),
                        "UPDATE vehicles SET year = $1, make = $2, model = $3 "
                        "WHERE id = $4 AND deleted_at IS NULL",
                        &p, "vehicle_update", &n);
    return e ? e : n == 1 ? PW_OK : PW_ENOTFOUND;
}

static pw_err pg_vehicle_delete(struct store *st, const char *id, int64_t at)
{
    struct params p = {0};
    p_int(&p, at);
    p_text(&p, id);
    int n;
    pw_err e = pg_write(PG(st),
                        "UPDATE vehicles SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL",
                        &p, "vehicle_delete", &n);
    return e ? e : n == 1 ? PW_OK : PW_ENOTFOUND;
}

static pw_err pg_user_lock(struct store *st, const char *id)
{
    struct params p = {0};
    p_text(&p, id);
    return lock_row(PG(st), "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE", &p,
                    "user_lock");
}

static pw_err pg_user_update_profile(struct store *st, const char *id, const char *name,
                                     const char *city)
{
    struct params p = {0};
    p_text(&p, name);
    p_text(&p, city);
    p_text(&p, id);
    int n;
    pw_err e = pg_write(PG(st),
                        "UPDATE users SET name = coalesce($1, name), city = coalesce($2, city) "
                        "WHERE id = $3",
                        &p, "user_update_profile", &n);
    return e ? e : n == 1 ? PW_OK : PW_ENOTFOUND;
}

#define LIVE_STATES "('awaiting_payment','priority','broadcast','accepted')"

static pw_err pg_session_live_find(struct store *st, const char *customer_id,
                                   const char *vehicle_id, char out[PW_ID_LEN + 1])
{
    struct params p = {0};
    p_text(&p, customer_id ? customer_id : vehicle_id);
    PGresult *r;
    pw_err e = customer_id
                   ? query_row(PG(st),
                               "SELECT id FROM sessions WHERE customer_id = $1 AND state IN "
                               LIVE_STATES " ORDER BY created_at DESC, id LIMIT 1",
                               &p, "session_live_find", &r)
                   : query_row(PG(st),
                               "SELECT id FROM sessions WHERE vehicle_id = $1 AND state IN "
                               LIVE_STATES " ORDER BY created_at DESC, id LIMIT 1",
                               &p, "session_live_find", &r);
    if (e) return e;
    col_copy(r, 0, 0, out, PW_ID_LEN + 1);
    PQclear(r);
    return PW_OK;
}

/* ---- credits ---- */

static pw_err pg_user_debit(struct store *st, const char *user_id, int64_t cents)
{
    struct params p = {0};
    p_int(&p, cents);
    p_text(&p, user_id);
    int n;
    /* one conditional update: two concurrent debits (from any node) can never take the
     * balance below 0; the second waits for the first's row lock, then re-checks */
    pw_err e = pg_write(PG(st),
                        "UPDATE users SET credit_balance_cents = credit_balance_cents - $1::bigint "
                        "WHERE id = $2 AND credit_balance_cents >= $1::bigint",
                        &p, "user_debit", &n);
    return e ? e : n == 1 ? PW_OK : PW_ECREDITS;
}

static pw_err pg_user_credit(struct store *st, const char *user_id, int64_t cents)
{
    struct params p = {0};
    p_int(&p, cents);
    p_text(&p, user_id);
    int n;
    pw_err e = pg_write(PG(st),
                        "UPDATE users SET credit_balance_cents = credit_balance_cents + $1 "
                        "WHERE id = $2",
                        &p, "user_credit", &n);
    return e ? e : n == 1 ? PW_OK : PW_ENOTFOUND;
}

static pw_err pg_user_use_free(struct store *st, const char *user_id)
{
    struct params p = {0};
    p_text(&p, user_id);
    int n;
    pw_err e = pg_write(PG(st),
                        "UPDATE users SET free_session_used = true "
                        "WHERE id = $1 AND NOT free_session_used",
                        &p, "user_use_free", &n);
    return e ? e : n == 1 ? PW_OK : PW_EFREEUSED;
}

static pw_err pg_user_release_free(struct store *st, const char *user_id)
{
    struct params p = {0};
    p_text(&p, user_id);
    return pg_write(PG(st), "UPDATE users SET free_session_used = false WHERE id = $1", &p,
                    "user_release_free", NULL);
}

/* ---- sessions ---- */

static pw_err pg_session_insert(struct store *st, const struct pw_session *x)
{
    json_t *meta =
        json_pack("{s:s?, s:s}", "preferred_mechanic_id",
                  x->preferred_mechanic_id[0] ? x->preferred_mechanic_id : NULL, "routing_type",
                  x->priority_routing ? "priority_broadcast" : "broadcast");
    char *metadata = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
    json_decref(meta);
    if (!metadata) return PW_EINTERNAL;
    struct params p = {0};
    p_text(&p, x->id);
    p_text(&p, x->customer_id);
    p_text(&p, x->vehicle_id);
    p_text(&p, x->plan_slug);
    p_bool(&p, x->is_specialist);
    p_opt_text(&p, x->preferred_mechanic_id);
    p_text(&p, x->priority_routing ? "priority_broadcast" : "broadcast");
    p_text(&p, x->intake_json);
    p_text(&p, metadata);
    p_opt_time(&p, x->waiver_accepted_at);
    p_text(&p, x->payment_method);
    p_text(&p, x->payment_status);
    p_int(&p, x->price_cents);
    p_text(&p, pw_session_state_name(x->state));
    p_int(&p, x->created_at);
    p_opt_time(&p, x->routing_started_at);
    p_opt_time(&p, x->priority_ends_at);
    p_opt_time(&p, x->expires_at);
    p_text(&p, x->rollout_group[0] ? x->rollout_group : "selection");
    pw_err e = pg_write(PG(st),
                        "INSERT INTO sessions (id, customer_id, vehicle_id, plan_slug, "
                        "is_specialist, preferred_mechanic_id, routing_type, intake, metadata, "
                        "waiver_accepted_at, payment_method, payment_status, price_cents, state, "
                        "created_at, routing_started_at, priority_ends_at, expires_at, "
                        "rollout_group) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,"
                        "$15,$16,$17,$18,$19)",
                        &p, "session_insert", NULL);
    free(metadata);
    return e;
}

#define SESSION_COLUMNS                                                                            \
    "id, customer_id, vehicle_id, plan_slug, is_specialist, coalesce(preferred_mechanic_id, ''), " \
    "routing_type, intake, coalesce(waiver_accepted_at, 0), payment_method, payment_status, "      \
    "price_cents, state, coalesce(assigned_mechanic_id, ''), created_at, "                         \
    "coalesce(routing_started_at, 0), coalesce(priority_ends_at, 0), coalesce(expires_at, 0), "    \
    "coalesce(accepted_at, 0), coalesce(ended_at, 0), coalesce(outcome, ''), outcome_notes, "      \
    "coalesce(rating_score, -1), rating_comment, coalesce(checkout_id, ''), checkout_url, "        \
    "rollout_group "

static void read_session(const PGresult *r, int i, struct pw_session *x)
{
    memset(x, 0, sizeof *x);
    col_copy(r, i, 0, x->id, sizeof x->id);
    col_copy(r, i, 1, x->customer_id, sizeof x->customer_id);
    col_copy(r, i, 2, x->vehicle_id, sizeof x->vehicle_id);
    col_copy(r, i, 3, x->plan_slug, sizeof x->plan_slug);
    x->is_specialist = col_bool(r, i, 4);
    col_copy(r, i, 5, x->preferred_mechanic_id, sizeof x->preferred_mechanic_id);
    x->priority_routing = strcmp(col(r, i, 6), "priority_broadcast") == 0;
    x->intake_json = col_dup(r, i, 7);
    x->waiver_accepted_at = col_i64(r, i, 8);
    col_copy(r, i, 9, x->payment_method, sizeof x->payment_method);
    col_copy(r, i, 10, x->payment_status, sizeof x->payment_status);
    x->price_cents = col_i64(r, i, 11);
    pw_session_state_parse(col(r, i, 12), &x->state);
    col_copy(r, i, 13, x->assigned_mechanic_id, sizeof x->assigned_mechanic_id);
    x->created_at = col_i64(r, i, 14);
    x->routing_started_at = col_i64(r, i, 15);
    x->priority_ends_at = col_i64(r, i, 16);
    x->expires_at = col_i64(r, i, 17);
    x->accepted_at = col_i64(r, i, 18);
    x->ended_at = col_i64(r, i, 19);
    col_copy(r, i, 20, x->outcome, sizeof x->outcome);
    x->outcome_notes = col_dup(r, i, 21);
    x->rating_score = col_int(r, i, 22);
    x->rating_comment = col_dup(r, i, 23);
    col_copy(r, i, 24, x->checkout_id, sizeof x->checkout_id);
    x->checkout_url = col_dup(r, i, 25);
    col_copy(r, i, 26, x->rollout_group, sizeof x->rollout_group);
}

static pw_err pg_session_get(struct store *st, const char *id, struct pw_session *out)
{
    struct params p = {0};
    p_text(&p, id);
    PGresult *r;
    pw_err e = query_row(PG(st), "SELECT " SESSION_COLUMNS "FROM sessions WHERE id = $1", &p,
                         "session_get", &r);
    if (e) return e;
    read_session(r, 0, out);
    PQclear(r);
    return PW_OK;
}

static pw_err pg_session_transition(struct store *st, const char *id,
                                    const struct store_transition *t)
{
    struct params p = {0};
    p_text(&p, pw_session_state_name(t->to));
    p_opt_text(&p, t->assigned);
    p_int(&p, t->at);
    p_opt_text(&p, t->payment_status);
    p_text(&p, id);
    p_int(&p, (int64_t)t->from);
    int n;
    /* The state test is in the WHERE clause: whoever changes the row first wins (on any
     * node: a second UPDATE waits for the first's row lock, then re-evaluates the WHERE on
     * the new row), everyone after gets no row and PW_ETAKEN. Never read-then-write. */
    pw_err e = pg_write(
        PG(st),
        "UPDATE sessions SET state = $1::text,"
        " assigned_mechanic_id = coalesce($2::text, assigned_mechanic_id),"
        " accepted_at = CASE WHEN $1::text = 'accepted' THEN $3::bigint ELSE accepted_at END,"
        " ended_at = CASE WHEN $1::text = 'ended' THEN $3::bigint ELSE ended_at END,"
        " routing_started_at = CASE WHEN $1::text IN ('priority','broadcast')"
        "   THEN coalesce(routing_started_at, $3::bigint) ELSE routing_started_at END,"
        " broadcast_at = CASE WHEN $1::text = 'broadcast'"
        "   THEN coalesce(broadcast_at, $3::bigint) ELSE broadcast_at END,"
        " payment_status = coalesce($4::text, payment_status)"
        " WHERE id = $5::text AND ((1 << (CASE state WHEN 'awaiting_payment' THEN 0"
        "   WHEN 'priority' THEN 1 WHEN 'broadcast' THEN 2 WHEN 'accepted' THEN 3"
        "   WHEN 'ended' THEN 4 WHEN 'cancelled' THEN 5 WHEN 'expired' THEN 6 END))"
        "   & $6::integer) <> 0",
        &p, "session_transition", &n);
    return e ? e : n == 1 ? PW_OK : PW_ETAKEN;
}

static pw_err pg_session_set_outcome(struct store *st, const char *id, const char *outcome,
                                     const char *notes)
{
    struct params p = {0};
    p_opt_text(&p, outcome);
    p_opt_text(&p, notes);
    p_text(&p, id);
    return pg_write(PG(st), "UPDATE sessions SET outcome = $1, outcome_notes = $2 WHERE id = $3",
                    &p, "session_set_outcome", NULL);
}

static pw_err pg_session_set_rating(struct store *st, const char *id, int score,
                                    const char *comment, int64_t at)
{
    struct params p = {0};
    p_int(&p, score);
    p_opt_text(&p, comment);
    p_int(&p, at);
    p_text(&p, id);
    int n;
    pw_err e = pg_write(PG(st),
                        "UPDATE sessions SET rating_score = $1, rating_comment = $2, rated_at = $3 "
                        "WHERE id = $4 AND rating_score IS NULL AND state = 'ended'",
                        &p, "session_set_rating", &n);
    return e ? e : n == 1 ? PW_OK : PW_ECONFLICT;
}

static pw_err pg_session_set_checkout(struct store *st, const char *id, const char *checkout_id,
                                      const char *url)
{
    struct params p = {0};
    p_opt_text(&p, checkout_id);
    p_opt_text(&p, url);
    p_text(&p, id);
    return pg_write(PG(st), "UPDATE sessions SET checkout_id = $1, checkout_url = $2 WHERE id = $3",
                    &p, "session_set_checkout", NULL);
}

/* The whole result is in memory before the first callback, so callbacks may write. */
static pw_err each_session(struct pg *s, const char *sql, const struct params *p,
                           store_session_fn fn, void *ctx, const char *what)
{
    pw_err e;
    PGresult *r = run(s, sql, p, what, &e);
    if (!r) return e;
    for (int i = 0, n = PQntuples(r); i < n; i++) {
        struct pw_session x;
        read_session(r, i, &x);
        fn(ctx, &x);
        pw_session_clear(&x);
    }
    PQclear(r);
    return PW_OK;
}

static pw_err pg_sessions_list(struct store *st, const char *customer_id, const char *mechanic_id,
                               int limit, store_session_fn fn, void *ctx)
{
    struct params p = {0};
    p_text(&p, customer_id ? customer_id : mechanic_id);
    p_int(&p, limit);
    return each_session(PG(st),
                        customer_id ? "SELECT " SESSION_COLUMNS "FROM sessions "
                                      "WHERE customer_id = $1 "
                                      "ORDER BY created_at DESC, id LIMIT $2"
                                    : "SELECT " SESSION_COLUMNS "FROM sessions "
                                      "WHERE assigned_mechanic_id = $1 "
                                      "ORDER BY created_at DESC, id LIMIT $2",
                        &p, fn, ctx, "sessions_list");
}

static pw_err pg_sessions_in_state(struct store *st, enum pw_session_state state,
                                   store_session_fn fn, void *ctx)
{
    struct params p = {0};
    p_text(&p, pw_session_state_name(state));
    return each_session(PG(st),
                        "SELECT " SESSION_COLUMNS "FROM sessions WHERE state = $1 "
                        "ORDER BY created_at, id",
                        &p, fn, ctx, "sessions_in_state");
}

static pw_err pg_sessions_due(struct store *st, int64_t now, store_due_fn fn, void *ctx)
{
    struct params p = {0};
    p_int(&p, now);
    pw_err e;
    /* a window that ended after the whole lifetime did is not acted on: the expiry wins.
     * Every node sees the same due rows; what claims one is the conditional UPDATE that
     * acts on it (a second node waits for the first's row lock, then finds the state moved
     * on and does nothing): see docs/internals/cluster.md. */
    PGresult *r = run(PG(st),
                      "SELECT id, 0 FROM sessions WHERE state = 'priority' AND "
                      "priority_ends_at <= $1::bigint AND expires_at > $1::bigint "
                      "UNION ALL SELECT id, 1 FROM sessions WHERE state IN "
                      "('awaiting_payment','priority','broadcast') AND expires_at <= $1::bigint",
                      &p, "sessions_due", &e);
    if (!r) return e;
    for (int i = 0, n = PQntuples(r); i < n; i++)
        fn(ctx, col(r, i, 0), col_int(r, i, 1));
    PQclear(r);
    return PW_OK;
}

/* ---- offers ---- */

static pw_err pg_offer_insert(struct store *st, struct pw_offer *o)
{
    struct params p = {0};
    p_text(&p, o->session_id);
    p_text(&p, o->mechanic_id);
    p_text(&p, pw_offer_kind_name(o->kind));
    p_int(&p, o->offered_at);
    p_int(&p, o->expires_at);
    return write_ex(PG(st), true,
                    "INSERT INTO offers (session_id, mechanic_id, kind, offered_at, expires_at) "
                    "VALUES ($1,$2,$3,$4,$5) RETURNING id",
                    &p, "offer_insert", NULL, &o->id);
}

#define OFFER_COLUMNS                                                                              \
    "id, session_id, mechanic_id, kind, offered_at, expires_at, coalesce(outcome, ''), "           \
    "coalesce(outcome_at, 0) "

static enum pw_offer_outcome outcome_parse(const char *v)
{
    return !strcmp(v, "accepted")    ? PW_OFFER_ACCEPTED
           : !strcmp(v, "declined")  ? PW_OFFER_DECLINED
           : !strcmp(v, "expired")   ? PW_OFFER_EXPIRED
           : !strcmp(v, "withdrawn") ? PW_OFFER_WITHDRAWN
                                     : PW_OFFER_LIVE;
}

static void read_offer(const PGresult *r, int i, struct pw_offer *o)
{
    memset(o, 0, sizeof *o);
    o->id = col_i64(r, i, 0);
    col_copy(r, i, 1, o->session_id, sizeof o->session_id);
    col_copy(r, i, 2, o->mechanic_id, sizeof o->mechanic_id);
    o->kind = strcmp(col(r, i, 3), "priority") == 0 ? PW_OFFER_PRIORITY : PW_OFFER_BROADCAST;
    o->offered_at = col_i64(r, i, 4);
    o->expires_at = col_i64(r, i, 5);
    o->outcome = outcome_parse(col(r, i, 6));
    o->outcome_at = col_i64(r, i, 7);
}

static pw_err pg_offer_get(struct store *st, const char *session_id, const char *mechanic_id,
                           struct pw_offer *out)
{
    struct params p = {0};
    p_text(&p, session_id);
    p_text(&p, mechanic_id);
    PGresult *r;
    /* a mechanic may hold a priority and a broadcast offer: the live one, else the newest */
    pw_err e = query_row(PG(st),
                         "SELECT " OFFER_COLUMNS "FROM offers WHERE session_id = $1 AND "
                         "mechanic_id = $2 ORDER BY outcome IS NULL DESC, id DESC LIMIT 1",
                         &p, "offer_get", &r);
    if (e) return e;
    read_offer(r, 0, out);
    PQclear(r);
    return PW_OK;
}

static pw_err each_offer(struct pg *s, const char *sql, const struct params *p, store_offer_fn fn,
                         void *ctx, const char *what)
{
    pw_err e;
    PGresult *r = run(s, sql, p, what, &e);
    if (!r) return e;
    for (int i = 0, n = PQntuples(r); i < n; i++) {
        struct pw_offer o;
        read_offer(r, i, &o);
        fn(ctx, &o);
    }
    PQclear(r);
    return PW_OK;
}

static pw_err pg_offers_of_session(struct store *st, const char *session_id, store_offer_fn fn,
                                   void *ctx)
{
    struct params p = {0};
    p_text(&p, session_id);
    return each_offer(PG(st),
                      "SELECT " OFFER_COLUMNS "FROM offers WHERE session_id = $1 "
                      "ORDER BY id",
                      &p, fn, ctx, "offers_of_session");
}

static pw_err pg_offers_live_of_mechanic(struct store *st, const char *mechanic_id,
                                         store_offer_fn fn, void *ctx)
{
    struct params p = {0};
    p_text(&p, mechanic_id);
    return each_offer(PG(st),
                      "SELECT " OFFER_COLUMNS "FROM offers WHERE mechanic_id = $1 AND "
                      "outcome IS NULL ORDER BY id",
                      &p, fn, ctx, "offers_live_of_mechanic");
}

static pw_err pg_offers_close(struct store *st, const char *session_id, const char *mechanic_id,
                              enum pw_offer_outcome outcome, int64_t at, int *closed)
{
    struct params p = {0};
    p_text(&p, pw_offer_outcome_name(outcome));
    p_int(&p, at);
    p_text(&p, session_id);
    p_opt_text(&p, mechanic_id);
    int n;
    pw_err e = pg_write(PG(st),
                        "UPDATE offers SET outcome = $1, outcome_at = $2 WHERE session_id = $3 AND "
                        "($4::text IS NULL OR mechanic_id = $4::text) AND outcome IS NULL",
                        &p, "offers_close", &n);
    if (closed) *closed = n;
    return e;
}

static pw_err pg_sessions_facts(struct store *st, int64_t from, int64_t to, store_facts_fn fn,
                                void *ctx)
{
    struct params p = {0};
    p_int(&p, from);
    p_int(&p, to);
    pw_err e;
    /* a session has at most one priority offer (only the preferred mechanic gets one) */
    PGresult *r =
        run(PG(st),
            "SELECT s.id, s.routing_type, s.rollout_group, s.state, s.created_at,"
            " coalesce(s.routing_started_at, 0), coalesce(s.accepted_at, 0),"
            " coalesce(s.broadcast_at, 0), coalesce(s.outcome, ''), coalesce(s.rating_score, -1),"
            " (SELECT coalesce(o.outcome, 'live') FROM offers o WHERE o.session_id = s.id"
            "   AND o.kind = 'priority' ORDER BY o.id LIMIT 1)"
            " FROM sessions s WHERE s.created_at >= $1 AND s.created_at < $2"
            " ORDER BY s.created_at, s.id",
            &p, "sessions_facts", &e);
    if (!r) return e;
    for (int i = 0, n = PQntuples(r); i < n; i++) {
        struct store_session_facts f = {0};
        col_copy(r, i, 0, f.id, sizeof f.id);
        f.priority_routing = strcmp(col(r, i, 1), "priority_broadcast") == 0;
        col_copy(r, i, 2, f.rollout_group, sizeof f.rollout_group);
        pw_session_state_parse(col(r, i, 3), &f.state);
        f.created_at = col_i64(r, i, 4);
        f.routing_started_at = col_i64(r, i, 5);
        f.accepted_at = col_i64(r, i, 6);
        f.broadcast_at = col_i64(r, i, 7);
        col_copy(r, i, 8, f.outcome, sizeof f.outcome);
        f.rating_score = col_int(r, i, 9);
        f.has_priority_offer = !PQgetisnull(r, i, 10);
        f.priority_outcome = f.has_priority_offer ? outcome_parse(col(r, i, 10)) : PW_OFFER_LIVE;
        fn(ctx, &f);
    }
    PQclear(r);
    return PW_OK;
}

static pw_err pg_stripe_event_record(struct store *st, const char *id, const char *type, int64_t at)
{
    struct params p = {0};
    p_text(&p, id);
    p_text(&p, type);
    p_int(&p, at);
    return pg_write(PG(st), "INSERT INTO stripe_events (id, type, received_at) VALUES ($1,$2,$3)",
                    &p, "stripe_event_record", NULL);
}

static pw_err pg_setting_get(struct store *st, const char *key, char *out, size_t outsz)
{
    struct params p = {0};
    p_text(&p, key);
    PGresult *r;
    pw_err e =
        query_row(PG(st), "SELECT value FROM settings WHERE key = $1", &p, "setting_get", &r);
    if (e) return e;
    col_copy(r, 0, 0, out, outsz);
    PQclear(r);
    return PW_OK;
}

static pw_err pg_setting_set(struct store *st, const char *key, const char *value)
{
    struct params p = {0};
    p_text(&p, key);
    p_text(&p, value);
    return pg_write(PG(st),
                    "INSERT INTO settings (key, value) VALUES ($1, $2) "
                    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    &p, "setting_set", NULL);
}

static pw_err pg_mechanic_set_status(struct store *st, const char *id,
                                     enum pw_mechanic_status status, bool can_accept)
{
    struct params p = {0};
    p_text(&p, pw_mechanic_status_name(status));
    p_bool(&p, can_accept);
    p_text(&p, id);
    int n;
    pw_err e =
        pg_write(PG(st), "UPDATE mechanics SET status = $1, can_accept_sessions = $2 WHERE id = $3",
                 &p, "mechanic_set_status", &n);
    return e ? e : n == 1 ? PW_OK : PW_ENOTFOUND;
}

/* Notices ("relation already exists, skipping") go to the log, not to stderr. */
static void on_notice(void *arg, const char *message)
{
    (void)arg;
    pw_log(PW_LOG_DEBUG, "postgres notice", json_pack("{s:s}", "message", message));
}

/* ---- failed logins ---- */

static pw_err pg_login_failure_add(struct store *st, const char *key, int64_t at)
{
    struct params p = {0};
    p_text(&p, key);
    p_int(&p, at);
    return pg_write(PG(st), "INSERT INTO login_failures (key, at) VALUES ($1, $2)", &p,
                    "login_failure_add", NULL);
}

static pw_err pg_login_failure_nth_newest(struct store *st, const char *key, int64_t after, int n,
                                          int64_t *at)
{
    struct params p = {0};
    p_text(&p, key);
    p_int(&p, after);
    p_int(&p, n - 1);
    PGresult *r;
    pw_err e = query_row(PG(st),
                         "SELECT at FROM login_failures WHERE key = $1 AND at > $2 "
                         "ORDER BY at DESC LIMIT 1 OFFSET $3",
                         &p, "login_failure_nth_newest", &r);
    if (e) return e;
    *at = col_i64(r, 0, 0);
    PQclear(r);
    return PW_OK;
}

static pw_err pg_login_failures_clear(struct store *st, const char *key)
{
    struct params p = {0};
    p_text(&p, key);
    return pg_write(PG(st), "DELETE FROM login_failures WHERE key = $1", &p,
                    "login_failures_clear", NULL);
}

static pw_err pg_login_failures_prune(struct store *st, int64_t upto)
{
    struct params p = {0};
    p_int(&p, upto);
    return pg_write(PG(st), "DELETE FROM login_failures WHERE at <= $1", &p,
                    "login_failures_prune", NULL);
}

static pw_err pg_login_failure_keys(struct store *st, int64_t *keys)
{
    PGresult *r;
    pw_err e = query_row(PG(st), "SELECT count(DISTINCT key) FROM login_failures", NULL,
                         "login_failure_keys", &r);
    if (e) return e == PW_ENOTFOUND ? PW_ESTORE : e;
    *keys = col_i64(r, 0, 0);
    PQclear(r);
    return PW_OK;
}

/* ---- notifications ---- */

static PGconn *connect_url(const char *url)
{
    /* the URL is expanded by libpq in place of dbname: it may override connect_timeout (a
     * connection attempt blocks the event loop, so not forever by default) but not the
     * encoding, a connection option so that it holds after a reconnection too */
    const char *const keys[] = {"connect_timeout", "dbname", "client_encoding",
                                "fallback_application_name", NULL};
    const char *const values[] = {"5", url, "UTF8", "pitwall", NULL};
    return PQconnectdbParams(keys, values, 1);
}

static void listen_drop(struct pg *s)
{
    PQfinish(s->listen);
    s->listen = NULL;
    s->listen_retry_at = pw_monotonic_us() / 1000 + 1000; /* at most one attempt a second */
}

/* A new listening connection (blocking while it connects; then non-blocking reads). */
static bool listen_start(struct pg *s)
{
    if (s->listen) return true;
    if (pw_monotonic_us() / 1000 < s->listen_retry_at) return false;
    s->listen = connect_url(s->url);
    /* one channel per schema: databases shared by several deployments (or by tests, each
     * in its own schema) do not wake each other */
    PGresult *r = NULL, *name = NULL;
    char *ident = NULL, sql[256];
    bool ok = s->listen && PQstatus(s->listen) == CONNECTION_OK &&
              PQresultStatus(name = PQexec(s->listen, "SELECT '" EVENTS_CHANNEL ".' || "
                                                      "current_schema()")) == PGRES_TUPLES_OK &&
              PQntuples(name) == 1 &&
              (ident = PQescapeIdentifier(s->listen, PQgetvalue(name, 0, 0),
                                          strlen(PQgetvalue(name, 0, 0)))) != NULL &&
              snprintf(sql, sizeof sql, "LISTEN %s", ident) < (int)sizeof sql &&
              PQresultStatus(r = PQexec(s->listen, sql)) == PGRES_COMMAND_OK &&
              PQsetnonblocking(s->listen, 1) == 0;
    PQfreemem(ident);
    PQclear(name);
    PQclear(r);
    if (!ok) {
        pw_log(PW_LOG_WARN, "postgres listener cannot connect",
               json_pack("{s:s}", "error", s->listen ? PQerrorMessage(s->listen) : "out of memory"));
        listen_drop(s);
        return false;
    }
    PQsetNoticeProcessor(s->listen, on_notice, NULL);
    s->listen_gen++;
    return true;
}

static int pg_listen_fd(struct store *st, unsigned *generation)
{
    struct pg *s = PG(st);
    listen_start(s);
    *generation = s->listen_gen;
    return s->listen ? PQsocket(s->listen) : -1;
}

static pw_err pg_listen_poll(struct store *st, int64_t *newest_seq, bool *woke)
{
    struct pg *s = PG(st);
    *newest_seq = 0;
    *woke = false;
    if (!s->listen) {
        /* lost (or never started): a new listener may have missed notifications, so the
         * caller reads the event table whatever happens */
        *woke = listen_start(s);
        return s->listen ? PW_OK : PW_ESTORE;
    }
    if (!PQconsumeInput(s->listen) || PQstatus(s->listen) != CONNECTION_OK) {
        pw_log(PW_LOG_WARN, "postgres listener lost, reconnecting",
               json_pack("{s:s}", "error", PQerrorMessage(s->listen)));
        listen_drop(s);
        s->listen_retry_at = 0; /* once straight away */
        *woke = listen_start(s);
        return s->listen ? PW_OK : PW_ESTORE;
    }
    PGnotify *n;
    while ((n = PQnotifies(s->listen)) != NULL) {
        int64_t seq = strtoll(n->extra, NULL, 10);
        if (seq > *newest_seq) *newest_seq = seq;
        *woke = true;
        PQfreemem(n);
    }
    return PW_OK;
}

static const struct store_ops postgres_ops = {
    .name = "postgres",
    .close = pg_close,
    .tx_begin = pg_tx_begin,
    .tx_commit = pg_tx_commit,
    .tx_rollback = pg_tx_rollback,
    .is_empty = pg_is_empty,
    .user_insert = pg_user_insert,
    .user_by_email = pg_user_by_email,
    .user_by_id = pg_user_by_id,
    .auth_session_insert = pg_auth_session_insert,
    .auth_session_get = pg_auth_session_get,
    .auth_session_delete = pg_auth_session_delete,
    .mechanic_insert = pg_mechanic_insert,
    .mechanics_each = pg_mechanics_each,
    .accept_delays_each = pg_accept_delays_each,
    .mechanic_get = pg_mechanic_get,
    .presence_set = pg_presence_set,
    .last_seen_save = pg_last_seen_save,
    .events_tail = pg_events_tail,
    .event_latest_seq = pg_event_latest_seq,
    .events_after = pg_events_after,
    .events_of_channel = pg_events_of_channel,
    .events_write = pg_events_write,
    .listen_fd = pg_listen_fd,
    .listen_poll = pg_listen_poll,
    .plan_insert = pg_plan_insert,
    .plans_each = pg_plans_each,
    .vehicle_insert = pg_vehicle_insert,
    .vehicles_of = pg_vehicles_of,
    .vehicle_get = pg_vehicle_get,
    .vehicle_lock = pg_vehicle_lock,
    .vehicle_update = pg_vehicle_update,
    .vehicle_delete = pg_vehicle_delete,
    .user_lock = pg_user_lock,
    .user_update_profile = pg_user_update_profile,
    .session_live_find = pg_session_live_find,
    .plan_get = pg_plan_get,
    .user_debit = pg_user_debit,
    .user_credit = pg_user_credit,
    .user_use_free = pg_user_use_free,
    .user_release_free = pg_user_release_free,
    .session_insert = pg_session_insert,
    .session_get = pg_session_get,
    .session_transition = pg_session_transition,
    .session_set_outcome = pg_session_set_outcome,
    .session_set_rating = pg_session_set_rating,
    .session_set_checkout = pg_session_set_checkout,
    .sessions_list = pg_sessions_list,
    .sessions_in_state = pg_sessions_in_state,
    .sessions_due = pg_sessions_due,
    .offer_insert = pg_offer_insert,
    .offer_get = pg_offer_get,
    .offers_of_session = pg_offers_of_session,
    .offers_live_of_mechanic = pg_offers_live_of_mechanic,
    .offers_close = pg_offers_close,
    .sessions_facts = pg_sessions_facts,
    .setting_get = pg_setting_get,
    .setting_set = pg_setting_set,
    .mechanic_set_status = pg_mechanic_set_status,
    .stripe_event_record = pg_stripe_event_record,
    .login_failure_add = pg_login_failure_add,
    .login_failure_nth_newest = pg_login_failure_nth_newest,
    .login_failures_clear = pg_login_failures_clear,
    .login_failures_prune = pg_login_failures_prune,
    .login_failure_keys = pg_login_failure_keys,
};

/* ---- opening and migrations ---- */

/* Any number (here: "pitwall" in ASCII) that no other user of the database takes: it
 * serialises the migrations of nodes that start together. */
#define MIGRATION_LOCK "7064857175059302764"

static int schema_version(struct pg *s, char *err, size_t errlen)
{
    PGresult *r = PQexec(s->conn, "SELECT version FROM schema_version");
    int v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = col_int(r, 0, 0);
    else
        snprintf(err, errlen, "cannot read schema_version: %s", PQerrorMessage(s->conn));
    PQclear(r);
    return v;
}

/* Each migration runs in one transaction with its version bump; a transaction-scoped
 * advisory lock makes nodes starting at once apply each migration exactly once. */
static pw_err migrate(struct pg *s, char *err, size_t errlen)
{
    int want = (int)(sizeof postgres_migrations / sizeof postgres_migrations[0]);
    for (;;) {
        if (!exec_simple(s, "BEGIN") ||
            !exec_simple(s, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK ")") ||
            !exec_simple(s, "CREATE TABLE IF NOT EXISTS schema_version ("
                            "  one boolean PRIMARY KEY DEFAULT true CHECK (one),"
                            "  version integer NOT NULL);"
                            "INSERT INTO schema_version (version) VALUES (0) "
                            "ON CONFLICT DO NOTHING")) {
            snprintf(err, errlen, "cannot prepare the migrations: %s", PQerrorMessage(s->conn));
            goto fail;
        }
        int have = schema_version(s, err, errlen);
        if (have < 0) goto fail;
        if (have > want) {
            snprintf(err, errlen,
                     "the database is at schema version %d, newer than this pitwall (%d)", have,
                     want);
            goto fail;
        }
        if (have == want) return exec_simple(s, "COMMIT") ? PW_OK : PW_ESTORE;
        char bump[64];
        snprintf(bump, sizeof bump, "UPDATE schema_version SET version = %d", have + 1);
        PGresult *r = PQexec(s->conn, postgres_migrations[have]);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            snprintf(err, errlen, "migration %d failed: %s", have + 1, PQresultErrorMessage(r));
        PQclear(r);
        if (!ok) goto fail;
        if (!exec_simple(s, bump) || !exec_simple(s, "COMMIT")) {
            snprintf(err, errlen, "migration %d failed: %s", have + 1, PQerrorMessage(s->conn));
            goto fail;
        }
        pw_logf(PW_LOG_INFO, "applied postgres migration %d", have + 1);
    }
fail:
    exec_simple(s, "ROLLBACK");
    return PW_ESTORE;
}


pw_err store_postgres_open(const char *url, struct store **out, char *err, size_t errlen)
{
    struct pg *s = calloc(1, sizeof *s);
    if (!s) return PW_EINTERNAL;
    s->base.ops = &postgres_ops;
    s->url = strdup(url);
    s->conn = s->url ? connect_url(url) : NULL;
    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
        /* libpq's message names host and port, never the password */
        snprintf(err, errlen, "cannot connect to PostgreSQL: %s",
                 s->conn ? PQerrorMessage(s->conn) : "out of memory");
        /* one line: libpq's message has several ("Is the server running ...") */
        for (char *c = err; *c; c++)
            if (*c == '\n' || *c == '\t') *c = ' ';
        size_t n = strlen(err);
        while (n > 0 && err[n - 1] == ' ')
            err[--n] = '\0';
        goto fail;
    }
    PQsetNoticeProcessor(s->conn, on_notice, NULL);
    if (!session_setup(s)) {
        snprintf(err, errlen, "cannot set up the PostgreSQL session: %s", PQerrorMessage(s->conn));
        goto fail;
    }
    if (migrate(s, err, errlen) != PW_OK) goto fail;
    *out = &s->base;
    return PW_OK;
fail:
    pg_close(&s->base);
    return PW_ESTORE;
}
