/* main.c: sluice-server's entry point. Turns flags and the config file into a struct sl_config
 * (a bad one exits 2 with the reason), then starts, runs and stops the broker (server.c). Exit
 * codes: 0 after a clean stop, 1 if the broker could not start or stop cleanly, 2 for bad input. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/logging.h"
#include "broker/config.h"
#include "broker/server.h"

int main(int argc, char **argv) {
    static struct sl_config cfg; /* static: 8 KiB of paths does not belong on the stack */
    static struct broker broker;
    char err[1024];

    sl_config_defaults(&cfg);
    int rc = sl_config_parse_args(&cfg, argc, argv, err, sizeof(err));
    if (rc == 1) return 0;
    if (rc == 0) rc = sl_config_validate(&cfg, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "sluice-server: %s\n", err);
        return 2;
    }
    sl_log_level_max = (enum sl_log_level)cfg.log_level;
    sl_log_json = !strcmp(cfg.log_format, "json");
    /* From here a line never waits for stderr on the loop (logging.h); at failure, lines stay
     * synchronous, as before. */
    if (sl_log_async_start(0) != 0) fprintf(stderr, "sluice-server: log writer thread: %s\n", strerror(errno));
    for (uint32_t i = 0; i < cfg.warning_count; i++) SL_WARN("%s", cfg.warnings[i]);
    if (cfg.check_config) {
        printf("sluice-server: configuration OK\n");
        return 0;
    }

    if (broker_start(&broker, &cfg) != 0) return 1;
    broker.argc = argc;
    broker.argv = argv;
    broker_run(&broker);
    rc = broker_stop(&broker) == 0 ? 0 : 1;
    sl_log_async_stop();
    return rc;
}
