/* main.c -- picks the subcommand and calls it; nothing else. */
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "server.h"

static int serve(int argc, char **argv, int first)
{
    struct server_config cfg;
    bool done;
    int rc = config_server(&cfg, argc, argv, first, &done);
    return done ? rc : server_run(&cfg);
}

/* glibc serves a large block from its heap once a block that size has been
 * freed (its mmap threshold grows, up to 32 MiB), and a heap does not give
 * memory back: after one client's 16 MiB echo, every later one would stay
 * in the process's memory when freed. A fixed threshold keeps large blocks
 * (output queued for a slow client, a big message) mapped and unmapped on
 * their own, so memory goes back when they do. musl always does that. */
static void large_blocks_go_back(void)
{
#ifdef M_MMAP_THRESHOLD
    mallopt(M_MMAP_THRESHOLD, 256 << 10);
#endif
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";
    large_blocks_go_back();
    if (strcmp(cmd, "--version") == 0) {
        printf("wspulse %s\n", WSPULSE_VERSION);
        return 0;
    }
    /* client subcommands */
    if (strcmp(cmd, "connect") == 0)
        return cli_connect(argc, argv);
    if (strcmp(cmd, "monitor") == 0)
        return cli_monitor(argc, argv);
    if (strcmp(cmd, "bench") == 0)
        return cli_bench(argc, argv);
    /* "start": the word the original servers' instructions use */
    if (strcmp(cmd, "serve") == 0 || strcmp(cmd, "start") == 0)
        return serve(argc, argv, 2);
    return serve(argc, argv, 1);
}
