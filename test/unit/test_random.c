/* test_random.c -- random_bytes() against a scripted kernel: this file
 * defines getrandom(), which the linker takes instead of the C library's,
 * so each case says what every call answers: short reads, an interrupting
 * signal, an error that will not go away. */
#include <errno.h>
#include <sys/random.h>

#include "check.h"
#include "random.h"

static struct kernel {
    ssize_t answers[8];          /* per call: bytes (capped at n), or -errno */
    int calls;
} kernel;

ssize_t getrandom(void *buf, size_t n, unsigned int flags)
{
    (void)flags;
    ssize_t a = kernel.answers[kernel.calls < 8 ? kernel.calls : 7];
    kernel.calls++;
    if (a < 0) {
        errno = (int)-a;
        return -1;
    }
    size_t k = (size_t)a < n ? (size_t)a : n;
    memset(buf, 0xA5, k);
    return (ssize_t)k;
}

static void script(ssize_t a0, ssize_t a1, ssize_t a2)
{
    kernel = (struct kernel){ .answers = { a0, a1, a2, a2, a2, a2, a2, a2 } };
}

/* A request answered in pieces is filled to the end. */
static void test_short_reads_are_continued(void)
{
    uint8_t out[10] = {0};
    script(3, 4, 100);
    CHECK_EQ(random_bytes(out, sizeof out), 0);
    CHECK_EQ(kernel.calls, 3);
    for (size_t i = 0; i < sizeof out; i++)
        CHECK_EQ(out[i], 0xA5);
}

/* A signal during the call is no failure: asked again. */
static void test_eintr_is_retried(void)
{
    uint8_t out[4];
    script(-EINTR, -EINTR, 100);
    CHECK_EQ(random_bytes(out, sizeof out), 0);
    CHECK_EQ(kernel.calls, 3);
}

/* An error that would come back every time fails at once, with its errno,
 * instead of spinning. */
static void test_persistent_error_fails_at_once(void)
{
    static const int errors[] = { ENOSYS, EPERM, EFAULT };
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
        uint8_t out[4];
        script(-errors[i], -errors[i], -errors[i]);
        CHECK_EQ(random_bytes(out, sizeof out), -1);
        CHECK_EQ(errno, errors[i]);
        CHECK_EQ(kernel.calls, 1);
    }
    uint8_t out[16];
    script(5, -ENOSYS, 100);                 /* after part of the bytes, too */
    CHECK_EQ(random_bytes(out, sizeof out), -1);
    CHECK_EQ(kernel.calls, 2);
}

int main(void)
{
    test_short_reads_are_continued();
    test_eintr_is_retried();
    test_persistent_error_fails_at_once();
    return check_report("random");
}
