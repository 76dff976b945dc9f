/* The SQLite driver under the storage core (queries.c): one connection, used only from the
 * event-loop thread, WAL journal. Statements are prepared once and cached by their SQL
 * text's address. Nested transactions are savepoints, so a store function that is one
 * transaction on its own also composes inside a caller's transaction (the demo loader).
 * What is SQLite's alone: the write lock that orders events and stands in for row locks,
 * sqlite_sequence, no notifications, PRAGMA user_version migrations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>
#include <uthash.h>

#include "core/log.h"
#include "store/db.h"
#include "store/schema_sqlite.h"

/* a cached statement: the handle queries.c gets */
struct db_stmt {
    const char *sql; /* key: the address of a string literal */
    sqlite3_stmt *stmt;
    struct sq *s;
    UT_hash_handle hh;
};

struct sq {
    struct store base;
    sqlite3 *db;
    struct db_stmt *stmts;
    int depth; /* open savepoints */
};

#define SQ(st) ((struct sq *)(st))

static pw_err fail(struct sq *s, const char *what)
{
    pw_log(PW_LOG_ERROR, "sqlite error",
           json_pack("{s:s, s:s}", "during", what, "error", sqlite3_errmsg(s->db)));
    return PW_ESTORE;
}

/* ---- the driver ---- */

static struct db_stmt *sq_prepare(struct store *st, const char *sql)
{
    struct sq *s = SQ(st);
    struct db_stmt *e;
    HASH_FIND_PTR(s->stmts, &sql, e);
    if (e) {
        sqlite3_reset(e->stmt);
        sqlite3_clear_bindings(e->stmt);
        return e;
    }
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK) {
        fail(s, sql);
        return NULL;
    }
    e = calloc(1, sizeof *e);
    if (!e) {
        sqlite3_finalize(stmt);
        return NULL;
    }
    e->sql = sql;
    e->stmt = stmt;
    e->s = s;
    HASH_ADD_PTR(s->stmts, sql, e);
    return e;
}

static void sq_bind_int64(struct db_stmt *q, int i, int64_t v)
{
    sqlite3_bind_int64(q->stmt, i, v);
}

static void sq_bind_text(struct db_stmt *q, int i, const char *v)
{
    sqlite3_bind_text(q->stmt, i, v, -1, SQLITE_STATIC); /* NULL binds NULL */
}

static void sq_bind_bool(struct db_stmt *q, int i, bool v)
{
    sqlite3_bind_int(q->stmt, i, v); /* SQLite's booleans are 0 and 1 */
}

static pw_err sq_step(struct db_stmt *q)
{
    int rc = sqlite3_step(q->stmt);
    return rc == SQLITE_ROW ? PW_OK : rc == SQLITE_DONE ? PW_ENOTFOUND : fail(q->s, q->sql);
}

static pw_err sq_write(struct db_stmt *q, int *changes, int64_t *returned)
{
    if (changes) *changes = 0;
    int rc = sqlite3_step(q->stmt);
    bool row = rc == SQLITE_ROW;
    if (row && returned) *returned = sqlite3_column_int64(q->stmt, 0);
    while (rc == SQLITE_ROW) rc = sqlite3_step(q->stmt);
    pw_err e = rc == SQLITE_DONE         ? PW_OK
               : rc == SQLITE_CONSTRAINT ? PW_ECONFLICT
                                         : fail(q->s, q->sql);
    sqlite3_reset(q->stmt);
    if (!e && changes) *changes = sqlite3_changes(q->s->db);
    if (!e && returned && !row) e = PW_ESTORE; /* cannot happen with a RETURNING clause */
    return e;
}

static int64_t sq_col_int64(struct db_stmt *q, int i)
{
    return sqlite3_column_int64(q->stmt, i);
}

static const char *sq_col_text(struct db_stmt *q, int i)
{
    return (const char *)sqlite3_column_text(q->stmt, i);
}

static bool sq_col_bool(struct db_stmt *q, int i)
{
    return sqlite3_column_int(q->stmt, i) != 0;
}

static void sq_reset(struct db_stmt *q)
{
    sqlite3_reset(q->stmt);
}

/* ---- transactions ---- */

static pw_err sq_tx_begin(struct store *st)
{
    struct sq *s = SQ(st);
    if (sqlite3_exec(s->db, "SAVEPOINT pw", NULL, NULL, NULL) != SQLITE_OK)
        return fail(s, "savepoint");
    s->depth++;
    return PW_OK;
}

static pw_err sq_tx_commit(struct store *st)
{
    struct sq *s = SQ(st);
    if (sqlite3_exec(s->db, "RELEASE pw", NULL, NULL, NULL) != SQLITE_OK) {
        pw_err e = fail(s, "release");
        /* the savepoint is still open: undo it so nothing is left half-written */
        sqlite3_exec(s->db, "ROLLBACK TO pw; RELEASE pw", NULL, NULL, NULL);
        s->depth--;
        return e;
    }
    s->depth--;
    return PW_OK;
}

static void sq_tx_rollback(struct store *st)
{
    struct sq *s = SQ(st);
    sqlite3_exec(s->db, "ROLLBACK TO pw; RELEASE pw", NULL, NULL, NULL);
    s->depth--;
}

static void sq_close(struct store *st)
{
    struct sq *s = SQ(st);
    struct db_stmt *e, *tmp;
    HASH_ITER(hh, s->stmts, e, tmp)
    {
        HASH_DEL(s->stmts, e);
        sqlite3_finalize(e->stmt);
        free(e);
    }
    sqlite3_close(s->db);
    free(s);
}

/* ---- what only SQLite does this way ---- */

/* SQLite has no notifications: a node follows other processes' events on its tick. */
static int sq_listen_fd(struct store *st, unsigned *generation)
{
    (void)st;
    *generation = 0;
    return -1;
}

static pw_err sq_listen_poll(struct store *st, int64_t *newest_seq, bool *woke)
{
    (void)st;
    *newest_seq = 0;
    *woke = false;
    return PW_OK;
}

/* SQLite has no row locks: a write is the lock. The first write of a transaction takes the
 * database's write lock (and, in WAL mode, a snapshot no older than it), so what the
 * transaction reads next is current and nobody else writes until it ends. */
static pw_err sq_lock(struct db_stmt *q)
{
    int n;
    pw_err e = sq_write(q, &n, NULL);
    return e ? e : n == 1 ? PW_OK : PW_ENOTFOUND;
}

static const struct db_ops sqlite_db = {
    .prepare = sq_prepare,
    .bind_int64 = sq_bind_int64,
    .bind_text = sq_bind_text,
    .bind_bool = sq_bind_bool,
    .step = sq_step,
    .write = sq_write,
    .col_int64 = sq_col_int64,
    .col_text = sq_col_text,
    .col_bool = sq_col_bool,
    .reset = sq_reset,
    .close = sq_close,
    .tx_begin = sq_tx_begin,
    .tx_commit = sq_tx_commit,
    .tx_rollback = sq_tx_rollback,
    .listen_fd = sq_listen_fd,
    .listen_poll = sq_listen_poll,
    /* One writer at a time holds SQLite's write lock until it commits, so events commit in
     * the order of their rowids: no one can see seq n+1 before seq n. No lock to take. */
    .events_lock_sql = NULL,
    .event_insert_sql = "INSERT INTO events (type, channel, payload, created_at) "
                        "VALUES (?,?,?,?) RETURNING seq",
    .write_at_commit = sq_write,
    /* sqlite_sequence keeps the high-water mark even when the newest rows are deleted */
    .latest_seq_sql = "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)",
    .vehicle_lock_sql = "UPDATE vehicles SET year = year "
                        "WHERE id = ? AND owner_id = ? AND deleted_at IS NULL",
    .user_lock_sql = "UPDATE users SET credit_balance_cents = credit_balance_cents WHERE id = ?",
    .lock = sq_lock,
};

static pw_err migrate(struct sq *s, char *err, size_t errlen)
{
    int have = 0;
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        have = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    int want = (int)(sizeof sqlite_migrations / sizeof sqlite_migrations[0]);
    if (have > want) {
        snprintf(err, errlen, "the database is at schema version %d, newer than this pitwall (%d)",
                 have, want);
        return PW_ESTORE;
    }
    for (int v = have; v < want; v++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        /* each migration and its version bump commit together, or not at all */
        if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(s->db, sqlite_migrations[v], NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(s->db, pragma, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            snprintf(err, errlen, "migration %d failed: %s", v + 1, sqlite3_errmsg(s->db));
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return PW_ESTORE;
        }
        pw_logf(PW_LOG_INFO, "applied sqlite migration %d", v + 1);
    }
    return PW_OK;
}

pw_err store_sqlite_open(const char *path, struct store **out, char *err, size_t errlen)
{
    struct sq *s = calloc(1, sizeof *s);
    if (!s) return PW_EINTERNAL;
    s->base.ops = &store_sql_ops_sqlite;
    s->base.db = &sqlite_db;
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path,
                 s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    /* WAL: readers never block the writer; NORMAL sync survives a crash of the process
     * (every committed transaction is in the WAL), which is what kill -9 tests check. */
    if (sqlite3_exec(s->db,
                     "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
                     "PRAGMA foreign_keys = ON;",
                     NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot set up %s: %s", path, sqlite3_errmsg(s->db));
        goto fail;
    }
    if (migrate(s, err, errlen) != PW_OK) goto fail;
    *out = &s->base;
    return PW_OK;
fail:
    sq_close(&s->base);
    return PW_ESTORE;
}
