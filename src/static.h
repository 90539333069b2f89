/* static.h -- the web pages: the copy built into the binary from www/ (see
 * embed.sh), or files read from --www DIR at each request, so pages can be
 * edited without a rebuild. URL to file: "/" is index.html, "/chat" is
 * chat.html, "/app.js" is app.js. Only names in www/ itself are served:
 * no subdirectories, nothing hidden, no "..". From --www DIR, only regular
 * files are served, and no symlink, even one that points inside DIR: what
 * is served is what DIR holds, and a FIFO or device never blocks the
 * reactor. */
#ifndef STATIC_H
#define STATIC_H

#include <stddef.h>

#include "buf.h"

struct www_file {
    const char          *name;   /* "index.html" */
    const unsigned char *data;
    size_t               len;
};

extern const struct www_file www_files[];   /* generated */
extern const unsigned www_file_count;

/* Serve files from dir instead of the built-in copy (NULL: built-in). */
void static_set_dir(const char *dir);

/* Find the page for a URL path (without the query). Returns a message with
 * the body (one reference for the caller) and sets *content_type, or NULL
 * when there is no such page. Built-in pages are encoded once and shared. */
struct msg *static_lookup(const char *path, size_t path_len, const char **content_type);

#endif
