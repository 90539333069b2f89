/* cli.h -- the client subcommands (cli_*.c). Each takes the whole argv with
 * its own name at argv[1], parses its options with config_parse(), and
 * returns the process exit status. */
#ifndef CLI_H
#define CLI_H

/* wspulse connect [URL] [--name N]: the terminal chat client (cli_connect.c). */
int cli_connect(int argc, char **argv);
/* wspulse monitor [URL] [options]: the connectivity monitor (cli_monitor.c). */
int cli_monitor(int argc, char **argv);
/* wspulse bench MODE [URL] [options]: the load generator (bench/cli_bench.c). */
int cli_bench(int argc, char **argv);

#endif
