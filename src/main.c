/* pitwall: the command line. `pitwall serve` runs the server; see pw_config_usage(). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cli/cli.h"
#include "core/config.h"
#include "core/log.h"
#include "http/http.h"

static const char *env(const char *name)
{
    return getenv(name);
}

static int serve(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            pw_config_usage(stdout);
            return 0;
        }
    }
    struct pw_config cfg;
    char err[512];
    pw_config_defaults(&cfg);
    if (!pw_config_load(&cfg, argc, argv, env, err, sizeof err)) {
        fprintf(stderr, "pitwall: %s\n", err);
        return 2;
    }
    enum pw_log_level level;
    pw_log_parse_level(cfg.log_level, &level);
    pw_log_set_level(level);

    /* block the stop signals before any thread starts, so every thread inherits the mask and
     * they arrive only through the event loop's signalfd */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);

    static struct pw_app app;
    if (pw_app_init(&app, &cfg, &pw_clock_system, err, sizeof err) != PW_OK) {
        fprintf(stderr, "pitwall: %s\n", err);
        pw_app_free(&app);
        return 1;
    }
    int rc = http_serve(&app.http);
    pw_app_free(&app);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        pw_config_usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "man")) { /* the build writes pitwall.1 with this */
        pw_config_man(stdout, PITWALL_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("pitwall %s\n", PITWALL_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "serve")) return serve(argc - 1, argv + 1);
    if (!strcmp(argv[1], "mechanic")) return pw_cli_mechanic(argc - 1, argv + 1);
    if (!strcmp(argv[1], "import-mechanics")) return pw_cli_import_mechanics(argc - 1, argv + 1);
    fprintf(stderr, "pitwall: unknown command '%s' (see pitwall --help)\n", argv[1]);
    return 2;
}
