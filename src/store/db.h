/* The driver layer under the storage core (like SQLite's VFS under its engine). queries.c
 * writes every query and row reader once, against these operations; sqlite.c and
 * postgres.c implement them and keep only what truly differs between the two databases:
 * transactions, the event-ordering lock and notifications, row locks, the sequence's
 * high-water mark, migrations. Private to src/store/. See docs/internals/storage.md.
 *
 * SQL is written once with `?` or `?N` placeholders (the PostgreSQL driver rewrites them to
 * `$n`), in the subset both dialects accept: CAST(? AS bigint) where PostgreSQL must be told
 * a parameter's type, TRUE/FALSE for booleans (SQLite stores them as 1/0), an alias on every
 * derived table. The SQL must have a fixed address (a string literal, or a driver's field):
 * drivers cache the prepared statement by it. */
#ifndef PW_STORE_DB_H
#define PW_STORE_DB_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

/* A prepared statement of one connection: bound, then run by step or write. At most
 * one use of a given SQL text at a time (the handle is the cached statement); text columns
 * stay valid until the next step or reset. */
struct db_stmt;

struct db_ops {
    /* sql's statement, reset and unbound; NULL (logged) when it does not prepare */
    struct db_stmt *(*prepare)(struct store *st, const char *sql);
    /* i counts from 1, as ?N does; a NULL text is SQL NULL */
    void (*bind_int64)(struct db_stmt *q, int i, int64_t v);
    void (*bind_text)(struct db_stmt *q, int i, const char *v);
    void (*bind_bool)(struct db_stmt *q, int i, bool v);
    /* runs a query (at its first step) and moves to the next row: PW_OK on a row,
     * PW_ENOTFOUND after the last, else the error (logged) */
    pw_err (*step)(struct db_stmt *q);
    /* runs a statement to its end: *changes (if given) rows changed, *returned (if given)
     * the one value of its RETURNING clause. A broken constraint is PW_ECONFLICT; inside a
     * transaction a failed write undoes only itself (SQLite's statement rollback, which
     * the PostgreSQL driver gives with a savepoint of its own). */
    pw_err (*write)(struct db_stmt *q, int *changes, int64_t *returned);
    /* i counts from 0; NULL reads as 0, false, or a NULL pointer */
    int64_t (*col_int64)(struct db_stmt *q, int i);
    const char *(*col_text)(struct db_stmt *q, int i);
    bool (*col_bool)(struct db_stmt *q, int i);
    void (*reset)(struct db_stmt *q); /* done with its rows */

    /* What differs, with the meaning of the store_ops entry of the same name. */
    void (*close)(struct store *st);
    pw_err (*tx_begin)(struct store *st);
    pw_err (*tx_commit)(struct store *st);
    void (*tx_rollback)(struct store *st);
    int (*listen_fd)(struct store *st, unsigned *generation);
    pw_err (*listen_poll)(struct store *st, int64_t *newest_seq, bool *woke);

    /* The statements that differ, run by queries.c. */
    /* Events commit in seq order (store_ops.events_write): events_lock_sql, when not NULL,
     * takes the lock that orders them, then event_insert_sql (type, channel, payload,
     * created_at; RETURNING seq) writes each, both through write_at_commit: a write just
     * before the outermost COMMIT, which needs no savepoint of its own (a failure there
     * rolls the whole transaction back). */
    const char *events_lock_sql, *event_insert_sql;
    pw_err (*write_at_commit)(struct db_stmt *q, int *changes, int64_t *returned);
    const char *latest_seq_sql; /* one row, one column: the newest event's seq */
    /* lock one row until the transaction ends: of a vehicle (id, owner_id; not deleted),
     * of a user (id) */
    const char *vehicle_lock_sql, *user_lock_sql;
    /* runs a bound lock statement: PW_OK when it locked the row, PW_ENOTFOUND without one */
    pw_err (*lock)(struct db_stmt *q);
};

/* The storage interface written once over db_ops (queries.c), one table per backend only
 * for store_ops.name. A backend's open sets st->ops to its table and st->db to its driver. */
extern const struct store_ops store_sql_ops_sqlite;
extern const struct store_ops store_sql_ops_postgres;

#endif
