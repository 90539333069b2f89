/* access.h -- who may open a WebSocket or read the counters: a shared
 * secret (--token, presented as ?token= or Authorization: Bearer, compared
 * in constant time) and an Origin allow list (--allow-origin; RFC 6455
 * §10.2: a server may refuse browsers from other origins, with 403). A
 * request without Origin is not from a browser and is not refused for it.
 * No I/O. */
#ifndef ACCESS_H
#define ACCESS_H

#include <stdbool.h>

#include "http.h"

struct access_rules {
    const char *token;           /* NULL: no token needed */
    const char *allow_origin;    /* comma-separated origins, NULL: any */
};

/* Is the request's token right? 0 if so (or none is needed), else 401. */
int access_check_token(const struct access_rules *rules, const struct http_request *req);
/* May the request's Origin open a WebSocket? 0 if so, else 403. */
int access_check_origin(const struct access_rules *rules, const struct http_request *req);

/* Compare a presented secret with the real one in time that depends only
 * on the real one's length. */
bool access_secret_equal(const char *given, size_t given_len, const char *secret);

#endif
