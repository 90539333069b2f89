/* clock.h -- the two clocks: monotonic for intervals and deadlines (immune to
 * the wall clock being set), and the wall clock for what people read.
 * Formatting is local time, as the README's messages show it. No I/O. */
#ifndef CLOCK_H
#define CLOCK_H

#include <stddef.h>
#include <stdint.h>

uint64_t clock_mono_ns(void);
uint64_t clock_mono_ms(void);
int64_t  clock_wall_us(void);    /* Unix epoch microseconds */
int64_t  clock_wall_ms(void);    /* Unix epoch milliseconds */

#define CLOCK_LOCAL_LEN    19    /* "2025-07-31 10:30:45" */
#define CLOCK_LOCAL_US_LEN 26    /* "2025-08-30T10:30:40.123456" */
#define CLOCK_HMS_LEN      8     /* "10:30:45" */

/* Local time of an epoch-ms instant as "YYYY-MM-DD HH:MM:SS"; out holds
 * CLOCK_LOCAL_LEN + 1 bytes and is NUL-terminated. */
void clock_format_local(int64_t wall_ms, char *out);
/* Local time as "YYYY-MM-DDTHH:MM:SS.ffffff" (out: CLOCK_LOCAL_US_LEN + 1). */
void clock_format_local_us(int64_t wall_us, char *out);
/* UTC as "YYYY-MM-DDTHH:MM:SS.mmmZ" for log lines (out: 25 bytes). */
void clock_format_utc_ms(int64_t wall_ms, char *out);
/* Local "HH:MM:SS" (out: CLOCK_HMS_LEN + 1). */
void clock_format_hms(int64_t wall_ms, char *out);

#endif
