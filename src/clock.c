/* clock.c -- see clock.h. localtime_r() can be slow (it may consult the time
 * zone file), and ticks format the same second for every client, so the
 * broken-down local time of the last second asked for is cached. */
#include "clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

uint64_t clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t clock_mono_ms(void)
{
    return clock_mono_ns() / 1000000u;
}

int64_t clock_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t clock_wall_ms(void)
{
    return clock_wall_us() / 1000;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b < 0);
}

/* Local broken-down time of an epoch second, cached for repeated calls. */
static const struct tm *local_tm(int64_t sec)
{
    static _Thread_local int64_t cached_sec = INT64_MIN;
    static _Thread_local struct tm cached;
    if (sec != cached_sec) {
        time_t t = (time_t)sec;
        localtime_r(&t, &cached);
        cached_sec = sec;
    }
    return &cached;
}

/* Write n decimal digits of v (zero-padded, the high ones dropped). */
static char *put_digits(char *out, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--, v /= 10)
        out[i] = (char)('0' + v % 10);
    return out + n;
}

/* "YYYY-MM-DD?HH:MM:SS" with sep in the middle: 19 characters, NUL-ended. */
static int format_date_time(const struct tm *tm, char sep, char *out, size_t cap)
{
    if (cap < 20)
        return 0;
    char *p = out;
    p = put_digits(p, (unsigned)(tm->tm_year + 1900), 4);
    *p++ = '-';
    p = put_digits(p, (unsigned)tm->tm_mon + 1, 2);
    *p++ = '-';
    p = put_digits(p, (unsigned)tm->tm_mday, 2);
    *p++ = sep;
    p = put_digits(p, (unsigned)tm->tm_hour, 2);
    *p++ = ':';
    p = put_digits(p, (unsigned)tm->tm_min, 2);
    *p++ = ':';
    p = put_digits(p, (unsigned)tm->tm_sec, 2);
    *p = '\0';
    return (int)(p - out);
}

void clock_format_local(int64_t wall_ms, char *out)
{
    format_date_time(local_tm(floor_div(wall_ms, 1000)), ' ', out, CLOCK_LOCAL_LEN + 1);
}

void clock_format_local_us(int64_t wall_us, char *out)
{
    int64_t sec = floor_div(wall_us, 1000000);
    int n = format_date_time(local_tm(sec), 'T', out, CLOCK_LOCAL_US_LEN + 1);
    snprintf(out + n, CLOCK_LOCAL_US_LEN + 1 - (size_t)n, ".%06d",
             (int)(wall_us - sec * 1000000));
}

void clock_format_utc_ms(int64_t wall_ms, char *out)
{
    int64_t sec = floor_div(wall_ms, 1000);
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    int n = format_date_time(&tm, 'T', out, 25);
    snprintf(out + n, 25 - (size_t)n, ".%03dZ", (int)(wall_ms - sec * 1000));
}

void clock_format_hms(int64_t wall_ms, char *out)
{
    char full[CLOCK_LOCAL_LEN + 1];
    format_date_time(local_tm(floor_div(wall_ms, 1000)), ' ', full, sizeof full);
    memcpy(out, full + 11, CLOCK_HMS_LEN + 1);
}
