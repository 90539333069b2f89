/* bench_proc.c -- see bench_proc.h. No sscanf(): in the static build it
 * would bring 4 KiB of libc for two lines of /proc. */
#include "bench_proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

uint64_t bench_proc_self_cpu_ns(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return 0;
    uint64_t us = (uint64_t)ru.ru_utime.tv_sec * 1000000u + (uint64_t)ru.ru_utime.tv_usec
                + (uint64_t)ru.ru_stime.tv_sec * 1000000u + (uint64_t)ru.ru_stime.tv_usec;
    return us * 1000u;
}

/* /proc/PID/stat: utime and stime are fields 14 and 15, counted after the
 * command name, which is in parentheses and may itself hold spaces. */
long long bench_proc_cpu_ns(long pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *ok = fgets(line, sizeof line, f);
    fclose(f);
    char *p = ok ? strrchr(line, ')') : NULL;
    if (!p)
        return -1;
    /* Twelve spaces on: before state, ppid .. cmajflt (ten), then utime. */
    for (int skip = 0; skip < 12 && p; skip++)
        p = strchr(p + 1, ' ');
    if (!p)
        return -1;
    char *end;
    unsigned long long utime = strtoull(p, &end, 10);
    unsigned long long stime = strtoull(end, &end, 10);
    if (*end != ' ')
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    return (long long)((utime + stime) * (1000000000ull / (unsigned long long)hz));
}

long long bench_proc_rss(long pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtoll(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}
