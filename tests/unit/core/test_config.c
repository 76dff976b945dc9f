/* Settings of `pitwall serve`: defaults, PITWALL_* variables, flags (which win), and the
 * values that are refused with a message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"

/* ---- a fake environment ---- */

static const char *const *fake_env; /* NULL-terminated "NAME", "value" pairs */

static const char *fake_getenv(const char *name)
{
    for (const char *const *p = fake_env; p && *p; p += 2)
        if (strcmp(p[0], name) == 0) return p[1];
    return NULL;
}

static const char *no_getenv(const char *name)
{
    (void)name;
    return NULL;
}

/* Loads argv (after the subcommand) with env; returns what pw_config_load returned. */
static bool load(struct pw_config *c, const char *const *env, const char *const *args, char *err,
                 size_t errlen)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"serve";
    static char copies[31][1100];
    for (const char *const *a = args; a && *a; a++) {
        assert_true(argc < 32);
        assert_true(strlen(*a) < sizeof copies[0]);
        snprintf(copies[argc - 1], sizeof copies[0], "%s", *a);
        argv[argc] = copies[argc - 1];
        argc++;
    }
    argv[argc] = NULL;
    fake_env = env;
    pw_config_defaults(c);
    err[0] = '\0';
    return pw_config_load(c, argc, argv, fake_getenv, err, errlen);
}

static void load_ok(struct pw_config *c, const char *const *env, const char *const *args)
{
    char err[256];
    if (!load(c, env, args, err, sizeof err)) fail_msg("refused: %s", err);
}

static void load_fails(const char *const *env, const char *const *args, const char *needle)
{
    struct pw_config c;
    char err[256];
    if (load(&c, env, args, err, sizeof err)) {
        char all[512] = "";
        for (const char *const *a = args; a && *a; a++) {
            strncat(all, *a, sizeof all - strlen(all) - 2);
            strcat(all, " ");
        }
        for (const char *const *e = env; e && *e; e++) {
            strncat(all, *e, sizeof all - strlen(all) - 2);
            strcat(all, " ");
        }
        fail_msg("accepted: %s", all);
    }
    assert_true(strlen(err) > 0);
    if (needle && !strstr(err, needle)) fail_msg("message '%s' does not mention '%s'", err, needle);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define ENV(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- tests ---- */

static void test_defaults(void **state)
{
    (void)state;
    struct pw_config c;
    pw_config_defaults(&c);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 8080);
    assert_string_equal(c.db_url, "sqlite:pitwall.db");
    assert_false(c.demo);
    assert_int_equal(c.demo_mechanics, 0);
    assert_int_equal(c.presence_timeout_s, 60);
    assert_int_equal(c.priority_window_s, 600);
    assert_int_equal(c.broadcast_size, 10);
    assert_int_equal(c.request_ttl_s, 1800);
    assert_int_equal(c.keepalive_s, 15);
    assert_int_equal(c.replay_events, 16384);
    assert_string_equal(c.stripe_api_base, "https://api.stripe.com");
    assert_string_equal(c.stripe_secret_key, "");

    /* loading nothing keeps them, and fills in the public URL */
    load_ok(&c, NULL, NULL);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 8080);
    assert_int_equal(c.presence_timeout_s, 60);
    assert_string_equal(c.public_url, "http://127.0.0.1:8080");

    char *argv[] = {(char *)"serve", NULL};
    char err[128];
    pw_config_defaults(&c);
    assert_true(pw_config_load(&c, 1, argv, no_getenv, err, sizeof err));
    assert_string_equal(c.public_url, "http://127.0.0.1:8080");
}

static void test_variables_then_flags(void **state)
{
    (void)state;
    struct pw_config c;
    const char *const *env =
        ENV("PITWALL_LISTEN", "0.0.0.0:9000", "PITWALL_PRESENCE_TIMEOUT", "30",
            "PITWALL_PRIORITY_WINDOW", "120", "PITWALL_DB", "sqlite:/tmp/from-env.db",
            "PITWALL_DEMO", "true", "PITWALL_BROADCAST_SIZE", "5");
    load_ok(&c, env, NULL);
    assert_string_equal(c.listen_host, "0.0.0.0");
    assert_int_equal(c.listen_port, 9000);
    assert_int_equal(c.presence_timeout_s, 30);
    assert_int_equal(c.priority_window_s, 120);
    assert_string_equal(c.db_url, "sqlite:/tmp/from-env.db");
    assert_true(c.demo);
    assert_int_equal(c.broadcast_size, 5);

    /* flags win over variables; variables not overridden stay */
    load_ok(&c, env,
            ARGS("--listen", "127.0.0.1:7000", "--presence-timeout=45", "--db",
                 "sqlite:/tmp/from-flag.db"));
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 7000);
    assert_int_equal(c.presence_timeout_s, 45);
    assert_string_equal(c.db_url, "sqlite:/tmp/from-flag.db");
    assert_int_equal(c.priority_window_s, 120);
    assert_true(c.demo);
    assert_string_equal(c.public_url, "http://127.0.0.1:7000");

    /* a bad variable is refused too, naming the setting */
    load_fails(ENV("PITWALL_PRESENCE_TIMEOUT", "soon"), NULL, "presence-timeout");
}

static void test_booleans(void **state)
{
    (void)state;
    struct pw_config c;
    load_ok(&c, NULL, ARGS("--demo"));
    assert_true(c.demo);
    load_ok(&c, ENV("PITWALL_DEMO", "1"), ARGS("--demo=false"));
    assert_false(c.demo);
    load_ok(&c, ENV("PITWALL_DEMO", "no"), NULL);
    assert_false(c.demo);
    load_fails(ENV("PITWALL_DEMO", "maybe"), NULL, "demo");
    load_fails(NULL, ARGS("--demo=sure"), "demo");
}

static void test_listen_parsing(void **state)
{
    (void)state;
    struct pw_config c;
    load_ok(&c, NULL, ARGS("--listen", "localhost:1"));
    assert_string_equal(c.listen_host, "localhost");
    assert_int_equal(c.listen_port, 1);
    load_ok(&c, NULL, ARGS("--listen=10.1.2.3:65535"));
    assert_string_equal(c.listen_host, "10.1.2.3");
    assert_int_equal(c.listen_port, 65535);
    assert_string_equal(c.public_url, "http://10.1.2.3:65535");

    const char *bad[] = {"8080",          ":8080",
                         "localhost",     "localhost:",
                         "localhost:0",   "localhost:65536",
                         "localhost:80a", "localhost:-1",
                         "localhost: 80", "localhost:99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256];
        if (load(&c, NULL, ARGS("--listen", bad[i]), err, sizeof err))
            fail_msg("--listen '%s' accepted", bad[i]);
        if (!strstr(err, "listen")) fail_msg("message for '%s': '%s'", bad[i], err);
    }
    /* a host too long for the buffer */
    char host[sizeof c.listen_host + 16];
    memset(host, 'h', sizeof host - 6);
    snprintf(host + sizeof host - 6, 6, ":8080");
    load_fails(NULL, ARGS("--listen", host), "listen");
}

static void test_integer_ranges(void **state)
{
    (void)state;
    struct pw_config c;
    load_ok(&c, NULL,
            ARGS("--presence-timeout", "1", "--broadcast-size", "1000", "--request-ttl", "604800",
                 "--priority-window", "86400"));
    assert_int_equal(c.presence_timeout_s, 1);
    assert_int_equal(c.broadcast_size, 1000);
    assert_int_equal(c.request_ttl_s, 604800);
    assert_int_equal(c.priority_window_s, 86400);

    load_fails(NULL, ARGS("--presence-timeout", "0"), "presence-timeout");
    load_fails(NULL, ARGS("--presence-timeout", "86401"), "presence-timeout");
    load_fails(NULL, ARGS("--presence-timeout", "-5"), "presence-timeout");
    load_fails(NULL, ARGS("--presence-timeout", "1.5"), "presence-timeout");
    load_fails(NULL, ARGS("--presence-timeout", ""), "presence-timeout");
    load_fails(NULL, ARGS("--presence-timeout", "99999999999999999999999"), "presence-timeout");
    load_fails(NULL, ARGS("--broadcast-size", "1001"), "broadcast-size");
    load_fails(NULL, ARGS("--request-ttl", "604801"), "request-ttl");
    load_fails(NULL, ARGS("--priority-window", "0"), "priority-window");
    load_fails(NULL, ARGS("--demo-mechanics", "x"), "demo-mechanics");
    load_fails(NULL, ARGS("--presence-timeout"), NULL); /* no value */
}

static void test_unknown_flag_and_arguments(void **state)
{
    (void)state;
    load_fails(NULL, ARGS("--no-such-flag"), "no-such-flag");
    load_fails(NULL, ARGS("--listen", "127.0.0.1:80", "--bogus=1"), "bogus");
    load_fails(NULL, ARGS("stray"), "stray");
    /* after a refusal, a fresh load works again */
    struct pw_config c;
    load_ok(&c, NULL, ARGS("--presence-timeout", "12"));
    assert_int_equal(c.presence_timeout_s, 12);
}

/* Kept last in the list: when it fails, getopt's leftover state breaks later loads. */
static void test_reload_after_short_option_refused(void **state)
{
    (void)state;
    load_fails(NULL, ARGS("-x"), NULL);
    /* the loader must reset getopt completely (glibc: optind = 0), or this parse starts
     * from the previous call's leftovers */
    struct pw_config c;
    load_ok(&c, NULL, ARGS("--presence-timeout", "12"));
    assert_int_equal(c.presence_timeout_s, 12);
    load_ok(&c, NULL, NULL);
    assert_int_equal(c.presence_timeout_s, 60);
}

static void test_db_url(void **state)
{
    (void)state;
    struct pw_config c;
    load_ok(&c, NULL, ARGS("--db", "sqlite:/var/lib/pitwall.db"));
    assert_string_equal(c.db_url, "sqlite:/var/lib/pitwall.db");
    load_ok(&c, NULL, ARGS("--db", "postgres://user@db/pitwall"));
    assert_string_equal(c.db_url, "postgres://user@db/pitwall");
    load_fails(NULL, ARGS("--db", "mysql://x/y"), "db");
    load_fails(NULL, ARGS("--db", "pitwall.db"), "db");
    load_fails(NULL, ARGS("--db", ""), "db");
    load_fails(ENV("PITWALL_DB", "redis://x"), NULL, "db");
    /* too long for the buffer */
    char longurl[sizeof c.db_url + 8];
    memcpy(longurl, "sqlite:", 7);
    memset(longurl + 7, 'a', sizeof longurl - 8);
    longurl[sizeof longurl - 1] = '\0';
    load_fails(NULL, ARGS("--db", longurl), "db");
}

static void test_public_url(void **state)
{
    (void)state;
    struct pw_config c;
    load_ok(&c, NULL, ARGS("--listen", "0.0.0.0:8443"));
    assert_string_equal(c.public_url, "http://0.0.0.0:8443");
    load_ok(&c, NULL, ARGS("--public-url", "https://pitwall.example.com/"));
    assert_string_equal(c.public_url, "https://pitwall.example.com"); /* no trailing slash */
    load_ok(&c, ENV("PITWALL_PUBLIC_URL", "https://env.example.com"), NULL);
    assert_string_equal(c.public_url, "https://env.example.com");
}

static void test_usage_lists_flags(void **state)
{
    (void)state;
    char buf[8192] = "";
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    assert_non_null(f);
    pw_config_usage(f);
    fclose(f);
    const char *flags[] = {"--listen",
                           "--db",
                           "--demo",
                           "--presence-timeout",
                           "--priority-window",
                           "--broadcast-size",
                           "--request-ttl",
                           "--stripe-secret-key",
                           "--stripe-webhook-secret",
                           "--stripe-api-base",
                           "--public-url",
                           "--demo-mechanics",
                           "PITWALL_LISTEN",
                           "PITWALL_PRESENCE_TIMEOUT"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (!strstr(buf, flags[i])) fail_msg("usage does not mention %s", flags[i]);
}

static void test_trusted_proxies(void **state)
{
    (void)state;
    assert_true(pw_config_addr_in("127.0.0.1", "127.0.0.1"));
    assert_true(pw_config_addr_in("10.0.0.1, 127.0.0.1 ,::1", "127.0.0.1"));
    assert_true(pw_config_addr_in("10.0.0.1,::1", "0:0::1"));
    assert_false(pw_config_addr_in("10.0.0.1,::1", "127.0.0.1"));
    assert_false(pw_config_addr_in("", "127.0.0.1"));
    assert_false(pw_config_addr_in("127.0.0.1", "not-an-address"));
    assert_false(pw_config_addr_in("127.0.0.1", "127.0.0.10"));
    struct pw_config c;
    load_ok(&c, NULL, (const char *const[]){"--trusted-proxies", "127.0.0.1,::1", NULL});
    assert_string_equal(c.trusted_proxies, "127.0.0.1,::1");
    load_fails(NULL, (const char *const[]){"--trusted-proxies", "nginx", NULL}, "trusted-proxies");
    load_fails(NULL, (const char *const[]){"--trusted-proxies", "127.0.0.1,", NULL},
               "trusted-proxies");
    load_fails(ENV("PITWALL_TRUSTED_PROXIES", "10.0.0.0/8"), NULL, "trusted-proxies");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_variables_then_flags),
        cmocka_unit_test(test_booleans),
        cmocka_unit_test(test_listen_parsing),
        cmocka_unit_test(test_integer_ranges),
        cmocka_unit_test(test_unknown_flag_and_arguments),
        cmocka_unit_test(test_db_url),
        cmocka_unit_test(test_public_url),
        cmocka_unit_test(test_usage_lists_flags),
        cmocka_unit_test(test_reload_after_short_option_refused),
        cmocka_unit_test(test_trusted_proxies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
