/* nats_pending.c: the NATS subcommands, not written yet: each exits 1. */
#include "cli.h"
int cmd_nats_core(struct cli *c, const char *v, int argc, char **argv){(void)c;(void)v;(void)argc;(void)argv;return 1;}
int cmd_stream(struct cli *c, int argc, char **argv){(void)c;(void)argc;(void)argv;return 1;}
int cmd_consumer(struct cli *c, int argc, char **argv){(void)c;(void)argc;(void)argv;return 1;}
