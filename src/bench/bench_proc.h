/* bench_proc.h -- how much the processes of a benchmark use: our own CPU
 * time (getrusage), and the server's CPU time and resident memory read from
 * /proc/PID (Linux), for `wspulse bench --pid`. */
#ifndef BENCH_PROC_H
#define BENCH_PROC_H

#include <stdint.h>

/* User + system CPU time of this process, all threads, in nanoseconds. */
uint64_t bench_proc_self_cpu_ns(void);
/* User + system CPU time of process pid in nanoseconds, or -1. */
long long bench_proc_cpu_ns(long pid);
/* VmRSS of process pid in bytes, or -1. */
long long bench_proc_rss(long pid);

#endif
