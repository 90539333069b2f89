/* server.h -- `wspulse serve`. */
#ifndef SERVER_H
#define SERVER_H

#include "config.h"

/* Run the server until SIGINT or SIGTERM; returns the exit status
 * (0 after a clean shutdown, 1 if it could not start). */
int server_run(const struct server_config *cfg);

#endif
