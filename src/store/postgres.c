/* The PostgreSQL driver under the storage core (queries.c), libpq: the same semantics as
 * sqlite.c, for several nodes sharing one database (SPEC §6).
 *
 * One connection, used only from the event-loop thread, in blocking mode. Every statement is
 * prepared once (PQprepare, named by a counter, cached by the address of its SQL literal,
 * its `?` placeholders rewritten to `$n`) and run with PQexecPrepared; parameters go as text
 * and results come back as text, parsed here. A query's rows are all in memory after its
 * first step. Transactions nest like SQLite's: BEGIN at depth 0, SAVEPOINT deeper. PostgreSQL
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
#include "store/db.h"
#include "store/schema_postgres.h"

/* Parameters of one statement, as text; NULL is SQL NULL. */
#define PARAMS_MAX 24
struct params {
    int n;
    const char *v[PARAMS_MAX];
    char num[PARAMS_MAX][24];
};

/* A cached statement: the handle queries.c gets; its parameters and, once run, its rows. */
struct db_stmt {
    const char *sql; /* key: the address of a string literal, `?` placeholders */
    char *text;      /* the same with `$n` */
    char name[16];
    bool prepared; /* on the current connection */
    struct pg *s;
    struct params p;
    PGresult *res; /* NULL until the first step */
    int row;
    UT_hash_handle hh;
};

struct pg {
    struct store base;
    PGconn *conn;
    struct db_stmt *stmts;
    int n_stmts;
    int depth; /* 0 = autocommit, 1 = in BEGIN, more = savepoints */
    char *url;
    PGconn *listen;          /* LISTEN only; NULL until asked for, or while lost */
    unsigned listen_gen;     /* moves with each new listening connection */
    int64_t listen_retry_at; /* monotonic ms: no reconnection attempt before */
};

/* Keys of the advisory locks (arbitrary, fixed: "pitwall" in ASCII, then +1) and the
 * notification channel. */
#define MIGRATION_LOCK "7064857175059302764"
#define EVENTS_LOCK "7064857175059302765"
#define EVENTS_CHANNEL "pitwall_events"

#define PG(st) ((struct pg *)(st))

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

/* ---- statements ---- */

/* `?N` becomes `$N`, each bare `?` the next `$n`; quoted literals are left alone. */
static char *placeholders_rewrite(const char *sql)
{
    char *out = malloc(strlen(sql) * 3 + 1), *o = out;
    if (!out) return NULL;
    int next = 0;
    bool quoted = false;
    for (const char *c = sql; *c; c++) {
        if (*c == '\'') quoted = !quoted;
        if (*c != '?' || quoted) {
            *o++ = *c;
        } else if (c[1] >= '0' && c[1] <= '9') {
            *o++ = '$';
        } else {
            o += sprintf(o, "$%d", ++next);
        }
    }
    *o = '\0';
    return out;
}

static void stmt_clear(struct db_stmt *q)
{
    PQclear(q->res);
    q->res = NULL;
    q->row = -1;
}

/* The statements of a lost connection went with it: each is prepared again on first use. */
static void stmts_forget(struct pg *s)
{
    struct db_stmt *e, *tmp;
    HASH_ITER(hh, s->stmts, e, tmp) e->prepared = false;
}

static void stmts_free(struct pg *s)
{
    struct db_stmt *e, *tmp;
    HASH_ITER(hh, s->stmts, e, tmp)
    {
        HASH_DEL(s->stmts, e);
        stmt_clear(e);
        free(e->text);
        free(e);
    }
}

static struct db_stmt *pg_prepare(struct store *st, const char *sql)
{
    struct pg *s = PG(st);
    struct db_stmt *e;
    HASH_FIND_PTR(s->stmts, &sql, e);
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e || !(e->text = placeholders_rewrite(sql))) {
            free(e);
            return NULL;
        }
        e->sql = sql;
        e->s = s;
        snprintf(e->name, sizeof e->name, "pw%d", ++s->n_stmts);
        HASH_ADD_PTR(s->stmts, sql, e);
    }
    stmt_clear(e);
    memset(&e->p, 0, sizeof e->p);
    return e;
}

/* Prepares q on the server the first time it runs on this connection. */
static bool prepared(struct db_stmt *q)
{
    if (q->prepared) return true;
    PGresult *r = PQprepare(q->s->conn, q->name, q->text, 0, NULL);
    q->prepared = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!q->prepared) log_error(q->s, q->sql, r);
    PQclear(r);
    return q->prepared;
}

static void pg_bind_text(struct db_stmt *q, int i, const char *v)
{
    assert(i >= 1 && i <= PARAMS_MAX);
    q->p.v[i - 1] = v;
    if (i > q->p.n) q->p.n = i;
}

static void pg_bind_int64(struct db_stmt *q, int i, int64_t v)
{
    assert(i >= 1 && i <= PARAMS_MAX);
    snprintf(q->p.num[i - 1], sizeof q->p.num[i - 1], "%lld", (long long)v);
    pg_bind_text(q, i, q->p.num[i - 1]);
}

static void pg_bind_bool(struct db_stmt *q, int i, bool v)
{
    pg_bind_text(q, i, v ? "true" : "false");
}

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

/* After the server went away (restart, failover): one new connection, once, and only
 * outside a transaction, whose work would be lost silently otherwise. Its prepared
 * statements went with the old connection. */
static bool reconnect(struct pg *s)
{
    if (s->depth != 0 || PQstatus(s->conn) != CONNECTION_BAD) return false;
    pw_log(PW_LOG_WARN, "postgres connection lost, reconnecting", NULL);
    PQreset(s->conn);
    stmts_forget(s);
    return PQstatus(s->conn) == CONNECTION_OK && session_setup(s);
}

/* Runs q; the result (to PQclear) on success, else NULL and *err. */
static PGresult *run_once(struct db_stmt *q, pw_err *err)
{
    if (!prepared(q)) {
        *err = PW_ESTORE;
        return NULL;
    }
    PGresult *r = PQexecPrepared(q->s->conn, q->name, q->p.n, q->p.v, NULL, NULL, 0);
    ExecStatusType status = PQresultStatus(r);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
        *err = PW_OK;
        return r;
    }
    *err = result_error(q->s, q->sql, r);
    PQclear(r);
    return NULL;
}

/* A lost connection that could not be made again is "unavailable" (503, try again), not a
 * failed statement (500). */
static pw_err lost_or(struct pg *s, pw_err e)
{
    return e == PW_ESTORE && PQstatus(s->conn) == CONNECTION_BAD ? PW_EUNAVAILABLE : e;
}

static PGresult *run(struct db_stmt *q, pw_err *err)
{
    struct pg *s = q->s;
    PGresult *r = run_once(q, err);
    if (!r && *err == PW_ESTORE && reconnect(s)) r = run_once(q, err);
    if (!r) *err = lost_or(s, *err);
    return r;
}

/* SAVEPOINT, the statement, RELEASE: sent together in one pipeline, one round trip. The
 * statement's result on success; else NULL, *err, and the savepoint left open for the
 * caller to roll back to (a failed statement makes the pipeline skip the RELEASE). */
static PGresult *run_guarded(struct db_stmt *q, pw_err *err)
{
    struct pg *s = q->s;
    *err = PW_ESTORE;
    if (!prepared(q) || !PQenterPipelineMode(s->conn)) return NULL;
    PGresult *out = NULL;
    bool sent = PQsendQueryParams(s->conn, "SAVEPOINT pw_stmt", 0, NULL, NULL, NULL, NULL, 0) &&
                PQsendQueryPrepared(s->conn, q->name, q->p.n, q->p.v, NULL, NULL, 0) &&
                PQsendQueryParams(s->conn, "RELEASE pw_stmt", 0, NULL, NULL, NULL, NULL, 0) &&
                PQpipelineSync(s->conn);
    if (!sent) {
        log_error(s, q->sql, NULL);
        /* whatever was queued is read below up to the sync, or the connection is broken */
    }
    /* results: one per query, each followed by NULL, then the sync */
    bool ok[3] = {false, false, false};
    for (int i = 0; sent && i < 3; i++) {
        PGresult *r;
        while ((r = PQgetResult(s->conn)) != NULL) {
            ExecStatusType st = PQresultStatus(r);
            if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
                ok[i] = true;
                if (i == 1) {
                    out = r;
                    continue;
                }
            } else if (i == 1 && st != PGRES_PIPELINE_ABORTED) {
                *err = result_error(s, q->sql, r);
            } else if (st != PGRES_PIPELINE_ABORTED) {
                log_error(s, i == 0 ? "savepoint" : "release", r);
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

/* ---- the driver: reading text results ---- */

static int64_t pg_col_int64(struct db_stmt *q, int c)
{
    if (PQgetisnull(q->res, q->row, c)) return 0;
    const char *v = PQgetvalue(q->res, q->row, c);
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end) {
        pw_log(PW_LOG_ERROR, "postgres: not an integer", json_pack("{s:s}", "value", v));
        return 0;
    }
    return x;
}

static const char *pg_col_text(struct db_stmt *q, int c)
{
    return PQgetisnull(q->res, q->row, c) ? NULL : PQgetvalue(q->res, q->row, c);
}

static bool pg_col_bool(struct db_stmt *q, int c)
{
    return PQgetvalue(q->res, q->row, c)[0] == 't';
}

static pw_err pg_step(struct db_stmt *q)
{
    if (!q->res) {
        pw_err e;
        if (!(q->res = run(q, &e))) return e;
        q->row = -1;
    }
    return ++q->row < PQntuples(q->res) ? PW_OK : PW_ENOTFOUND;
}

static void pg_reset(struct db_stmt *q)
{
    stmt_clear(q);
}

/* Runs a write. With `guard`, a write inside a caller's transaction runs under a savepoint
 * of its own, so that its failure undoes only itself (SQLite's statement-level rollback)
 * instead of aborting the caller's transaction; a function that holds its own transaction
 * around its writes needs no guard. */
static pw_err write_ex(struct db_stmt *q, bool guard, int *changes, int64_t *returned)
{
    struct pg *s = q->s;
    if (changes) *changes = 0;
    pw_err e;
    PGresult *r;
    if (guard && s->depth > 0) {
        r = run_guarded(q, &e);
        if (!r) {
            exec_simple(s, "ROLLBACK TO pw_stmt; RELEASE pw_stmt");
            e = lost_or(s, e);
        }
    } else {
        r = run(q, &e);
    }
    if (!r) return e;
    if (changes) *changes = atoi(PQcmdTuples(r));
    if (returned) {
        q->res = r;
        q->row = 0;
        if (PQntuples(r) == 1 && PQnfields(r) == 1) *returned = pg_col_int64(q, 0);
        else e = PW_ESTORE; /* cannot happen with a RETURNING of one column */
    } else {
        PQclear(r);
    }
    stmt_clear(q);
    return e;
}

static pw_err pg_write(struct db_stmt *q, int *changes, int64_t *returned)
{
    return write_ex(q, true, changes, returned);
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
    stmts_free(s);
    PQfinish(s->conn);
    PQfinish(s->listen);
    free(s->url);
    free(s);
}

/* ---- what only PostgreSQL does this way ---- */

static pw_err pg_write_at_commit(struct db_stmt *q, int *changes, int64_t *returned)
{
    return write_ex(q, false, changes, returned);
}

/* A row lock held to the end of the transaction. FOR NO KEY UPDATE: two lockers of one
 * row queue (on any node), while inserts that only reference the row (FOR KEY SHARE) do
 * not wait. Under READ COMMITTED each later statement of the transaction reads with a new
 * snapshot, so it sees whatever the previous holder committed. */
static pw_err pg_lock(struct db_stmt *q)
{
    pw_err e = pg_step(q);
    pg_reset(q);
    return e;
}

/* Notices ("relation already exists, skipping") go to the log, not to stderr. */
static void on_notice(void *arg, const char *message)
{
    (void)arg;
    pw_log(PW_LOG_DEBUG, "postgres notice", json_pack("{s:s}", "message", message));
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
        pw_log(
            PW_LOG_WARN, "postgres listener cannot connect",
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

static const struct db_ops postgres_db = {
    .prepare = pg_prepare,
    .bind_int64 = pg_bind_int64,
    .bind_text = pg_bind_text,
    .bind_bool = pg_bind_bool,
    .step = pg_step,
    .write = pg_write,
    .col_int64 = pg_col_int64,
    .col_text = pg_col_text,
    .col_bool = pg_col_bool,
    .reset = pg_reset,
    .close = pg_close,
    .tx_begin = pg_tx_begin,
    .tx_commit = pg_tx_commit,
    .tx_rollback = pg_tx_rollback,
    .listen_fd = pg_listen_fd,
    .listen_poll = pg_listen_poll,
    /* Events must become visible in sequence order, or a node that has read up to seq n would
     * never see an n-1 that committed after n. A sequence alone does not give that (values are
     * taken at insert, commits land in any order), so every transaction that writes events
     * takes one advisory lock first and holds it to its commit: the writes and their commits
     * are serialised, and a seq that is skipped (a failed commit) is skipped for good. The lock
     * is taken at the end, after all the transaction's other writes (store.c writes events just
     * before COMMIT), so it never waits while holding a row lock another writer needs.
     * Each event is announced with NOTIFY on "pitwall_events.<schema>", delivered at the
     * commit: "<seq> <type>". */
    .events_lock_sql = "SELECT pg_advisory_xact_lock(" EVENTS_LOCK ")",
    .event_insert_sql = "WITH e AS (INSERT INTO events (type, channel, payload, created_at) "
                        "VALUES (?1,?2,?3,?4) RETURNING seq) "
                        "SELECT seq FROM e, pg_notify('" EVENTS_CHANNEL ".' || "
                        "current_schema(), seq || ' ' || ?1)",
    .write_at_commit = pg_write_at_commit,
    /* the newest committed event. Unlike SQLite's sqlite_sequence this is not the
     * sequence's own high-water mark: a sequence value is taken even by a transaction that
     * then rolls back, or that another node has not committed yet, and neither is an event
     * anyone can see. Events are never deleted, so the two agree on what has committed. */
    .latest_seq_sql = "SELECT coalesce(max(seq), 0) FROM events",
    .vehicle_lock_sql = "SELECT 1 FROM vehicles WHERE id = ? AND owner_id = ? "
                        "AND deleted_at IS NULL FOR NO KEY UPDATE",
    .user_lock_sql = "SELECT 1 FROM users WHERE id = ? FOR NO KEY UPDATE",
    .lock = pg_lock,
};

/* ---- opening and migrations ---- */

static int schema_version(struct pg *s, char *err, size_t errlen)
{
    PGresult *r = PQexec(s->conn, "SELECT version FROM schema_version");
    int v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) v = atoi(PQgetvalue(r, 0, 0));
    else snprintf(err, errlen, "cannot read schema_version: %s", PQerrorMessage(s->conn));
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
    s->base.ops = &store_sql_ops_postgres;
    s->base.db = &postgres_db;
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
        while (n > 0 && err[n - 1] == ' ') err[--n] = '\0';
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
