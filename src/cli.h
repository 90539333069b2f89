/* cli.h -- the client subcommands (cli_*.c). Each takes the whole argv with
 * its own name at argv[1], parses its options with config_parse(), and
 * returns the process exit status. */
#ifndef CLI_H
#define CLI_H

#endif
