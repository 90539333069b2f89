/* static.c -- see static.h. */
#include "static.h"

#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATIC_MAX_NAME  64
#define STATIC_MAX_BYTES (8u << 20)   /* a --www file larger than this is refused */

static const char *www_dir;
static struct msg *builtin_cache[64];   /* one shared body per built-in file */

void static_set_dir(const char *dir)
{
    www_dir = dir;
}

static const char *content_type_of(const char *name)
{
    static const struct { const char *ext, *type; } types[] = {
        { ".html", "text/html; charset=utf-8" },
        { ".js",   "text/javascript; charset=utf-8" },
        { ".css",  "text/css; charset=utf-8" },
        { ".svg",  "image/svg+xml" },
        { ".png",  "image/png" },
        { ".ico",  "image/x-icon" },
        { ".json", "application/json" },
        { ".txt",  "text/plain; charset=utf-8" },
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

/* A plain file name: letters, digits, '-', '_', '.', not starting with a
 * dot. This alone keeps requests inside www/ ("..", "/", hidden files). */
static bool name_ok(const char *p, size_t len)
{
    if (len == 0 || len >= STATIC_MAX_NAME || p[0] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = p[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
               || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.';
        if (!ok)
            return false;
    }
    return true;
}

/* Open name inside www_dir without following it anywhere else: the name is
 * one component (name_ok), opened relative to a descriptor of the folder
 * with O_NOFOLLOW, so a symlink in the folder is refused wherever it points
 * (checking the target first and opening second would race a link swapped
 * in between). The folder itself may be a symlink: the operator named it.
 * O_NONBLOCK: opening a FIFO or a device could otherwise wait for a writer
 * and stall every client of the reactor; a regular file reads the same
 * either way. O_NOCTTY: a terminal never becomes ours. -1 if the name
 * cannot be opened so. */
static int open_in_www(const char *name)
{
    int dir = open(www_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);   /* search right only */
    if (dir < 0)
        return -1;
    int fd = openat(dir, name, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
    close(dir);
    return fd;
}

/* Only a regular file is served: a directory, FIFO, socket or device in
 * the folder is "no such page". */
static struct msg *read_file(const char *name)
{
    int fd = open_in_www(name);
    if (fd < 0)
        return NULL;
    struct stat st;
    struct msg *m = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size <= STATIC_MAX_BYTES) {
        m = msg_new((size_t)st.st_size);
        while (m->len < m->cap) {
            ssize_t n = read(fd, m->data + m->len, m->cap - m->len);
            if (n <= 0)
                break;           /* shrank while we read: serve what is there */
            m->len += (uint32_t)n;
        }
    }
    close(fd);
    return m;
}

static struct msg *builtin_file(const char *name)
{
    for (unsigned i = 0; i < www_file_count && i < 64; i++) {
        if (strcmp(www_files[i].name, name) != 0)
            continue;
        if (!builtin_cache[i])
            builtin_cache[i] = msg_from(www_files[i].data, www_files[i].len);
        return msg_ref(builtin_cache[i]);
    }
    return NULL;
}

static struct msg *find(const char *name)
{
    return www_dir ? read_file(name) : builtin_file(name);
}

struct msg *static_lookup(const char *path, size_t path_len, const char **content_type)
{
    char name[STATIC_MAX_NAME + 8];
    if (path_len == 0 || path[0] != '/')
        return NULL;
    path++, path_len--;
    if (path_len == 0) {
        path = "index.html";
        path_len = strlen(path);
    }
    if (!name_ok(path, path_len))
        return NULL;
    memcpy(name, path, path_len);
    name[path_len] = '\0';
    struct msg *m = find(name);
    if (!m && !memchr(path, '.', path_len)) {   /* "/chat" is chat.html */
        strcpy(name + path_len, ".html");
        m = find(name);
    }
    if (m)
        *content_type = content_type_of(name);
    return m;
}
