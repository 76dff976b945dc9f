/* A fresh database for one test, on either backend: a SQLite file in a new temporary folder,
 * or a new schema in the PostgreSQL named by PITWALL_TEST_PG_URL (scripts/pg.sh starts a
 * private one for `make test`), reached through a URL whose search_path is that schema.
 * Test files that run against both run their group with test_db_run_both; the shared fixture
 * (fixture.h) creates the database. */
#ifndef PW_TEST_DB_H
#define PW_TEST_DB_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

struct test_db {
    bool pg;
    char dir[64]; /* SQLite: the temporary folder and the file in it */
    char path[128];
    char schema[64]; /* PostgreSQL: the test's own schema */
    char url[640];   /* what store_open gets */
};

/* Which backend the group being run uses (defined in fixture.c, which creates the
 * databases). */
extern bool test_db_pg;

/* meson's exit code for a test that did not run */
#define TEST_DB_SKIP 77

/* Runs a cmocka group on SQLite, then on PostgreSQL (PITWALL_TEST_PG_URL); the exit code of
 * the test. PITWALL_TEST_BACKEND=sqlite or =postgres runs one half only (tests/unit/meson.build
 * registers each database test once per backend). A PostgreSQL half that cannot run (no URL,
 * or no server there) is SKIP (77), never a pass; with PITWALL_TEST_PG_REQUIRED=1 (make test,
 * which starts PostgreSQL) it is a failure. A macro: cmocka sizes the group itself. */
#define test_db_run_both(label, group)                                                             \
    __extension__({                                                                                \
        int sqlite_failed_ = 0, pg_failed_ = 0;                                                    \
        test_db_pg = false;                                                                        \
        if (test_db_wanted("sqlite"))                                                              \
            sqlite_failed_ = cmocka_run_group_tests_name(label " (sqlite)", group, NULL, NULL);    \
        if (test_db_wanted("postgres")) {                                                          \
            if (test_db_pg_ready(label)) {                                                         \
                test_db_pg = true;                                                                 \
                pg_failed_ = cmocka_run_group_tests_name(label " (postgres)", group, NULL, NULL);  \
            } else {                                                                               \
                pg_failed_ = -1;                                                                   \
            }                                                                                      \
        }                                                                                          \
        test_db_result(sqlite_failed_, pg_failed_);                                                \
    })

static inline const char *test_db_pg_url(void)
{
    const char *url = getenv("PITWALL_TEST_PG_URL");
    return url && *url ? url : NULL;
}

static inline bool test_db_wanted(const char *backend)
{
    const char *only = getenv("PITWALL_TEST_BACKEND");
    return !only || !*only || strcmp(only, backend) == 0;
}

/* Whether the PostgreSQL half can run: a URL, and a server that answers there. */
static inline bool test_db_pg_ready(const char *label)
{
    const char *url = test_db_pg_url();
    if (!url) {
        printf("%s (postgres): skipped, PITWALL_TEST_PG_URL is not set\n", label);
        return false;
    }
    PGconn *c = PQconnectdb(url);
    bool ok = PQstatus(c) == CONNECTION_OK;
    if (!ok) printf("%s (postgres): skipped, cannot connect: %s", label, PQerrorMessage(c));
    PQfinish(c);
    return ok;
}

/* The exit code from the failures of the SQLite half and of the PostgreSQL half (-1: it
 * could not run). A count of failures that would read as 77 is reported as 1. */
static inline int test_db_result(int sqlite_failed, int pg_failed)
{
    int failed = sqlite_failed + (pg_failed > 0 ? pg_failed : 0);
    if (failed) return failed == TEST_DB_SKIP ? 1 : failed;
    if (pg_failed < 0) {
        const char *required = getenv("PITWALL_TEST_PG_REQUIRED");
        return required && strcmp(required, "1") == 0 ? 1 : TEST_DB_SKIP;
    }
    return 0;
}

static inline void test_db_quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* "drop cascades to ..." */
}

/* Runs SQL on the PostgreSQL server as the test's administrator; false (printed) on error. */
static inline bool test_db_pg_exec(const char *sql)
{
    PGconn *c = PQconnectdb(test_db_pg_url());
    PQsetNoticeProcessor(c, test_db_quiet, NULL);
    bool ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
        PGresult *r = PQexec(c, sql);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
        if (!ok) fprintf(stderr, "test_db: %s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
    } else {
        fprintf(stderr, "test_db: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return ok;
}

/* The first column of the first row of a query, as an integer (-1 when there is none). */
static inline long long test_db_pg_int(const char *sql)
{
    PGconn *c = PQconnectdb(test_db_pg_url());
    long long v = -1;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
            v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
    }
    PQfinish(c);
    return v;
}

static inline bool test_db_create(struct test_db *db, const char *prefix)
{
    memset(db, 0, sizeof *db);
    db->pg = test_db_pg;
    if (!db->pg) {
        snprintf(db->dir, sizeof db->dir, "/tmp/%s_XXXXXX", prefix);
        if (!mkdtemp(db->dir)) return false;
        snprintf(db->path, sizeof db->path, "%s/pitwall.db", db->dir);
        snprintf(db->url, sizeof db->url, "sqlite:%s", db->path);
        return true;
    }
    static unsigned counter;
    snprintf(db->schema, sizeof db->schema, "t_%s_%ld_%u_%u", prefix, (long)getpid(), ++counter,
             (unsigned)rand() % 100000);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", db->schema);
    if (!test_db_pg_exec(sql)) return false;
    const char *base = test_db_pg_url();
    snprintf(db->url, sizeof db->url, "%s%soptions=-csearch_path%%3D%s", base,
             strchr(base, '?') ? "&" : "?", db->schema);
    return true;
}

static inline void test_db_destroy(struct test_db *db)
{
    if (!db->pg) {
        const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
        for (int i = 0; i < 4; i++) {
            char p[160];
            snprintf(p, sizeof p, "%s%s", db->path, suffixes[i]);
            unlink(p);
        }
        rmdir(db->dir);
        return;
    }
    char sql[128];
    snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", db->schema);
    test_db_pg_exec(sql);
}

#endif
