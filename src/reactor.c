/* reactor.c -- see reactor.h. Level-triggered: a callback that leaves bytes
 * unread is simply called again, which keeps every callback bounded and
 * simple at the price of an epoll_wait per round. */
#include "reactor.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "clock.h"
#include "xalloc.h"

#define REACTOR_BATCH 256

struct reactor_deferred {
    struct reactor_deferred *next;
    void (*free_fn)(void *);
    void *p;
};

int reactor_init(struct reactor *r)
{
    *r = (struct reactor){0};
    r->epfd = epoll_create1(EPOLL_CLOEXEC);
    return r->epfd < 0 ? -1 : 0;
}

static void run_deferred(struct reactor *r)
{
    while (r->deferred) {
        struct reactor_deferred *d = r->deferred;
        r->deferred = d->next;
        d->free_fn(d->p);
        free(d);
    }
}

void reactor_fini(struct reactor *r)
{
    run_deferred(r);
    if (r->epfd >= 0)
        close(r->epfd);
    r->epfd = -1;
}

static uint32_t wanted(bool readable, bool writable)
{
    return (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
}

int reactor_add(struct reactor *r, struct reactor_watch *w, bool readable, bool writable)
{
    struct epoll_event ev = { .events = wanted(readable, writable), .data.ptr = w };
    if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0)
        return -1;
    w->events = ev.events;
    return 0;
}

int reactor_modify(struct reactor *r, struct reactor_watch *w, bool readable, bool writable)
{
    struct epoll_event ev = { .events = wanted(readable, writable), .data.ptr = w };
    if (ev.events == w->events)
        return 0;
    if (epoll_ctl(r->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
        return -1;
    w->events = ev.events;
    return 0;
}

void reactor_close(struct reactor *r, struct reactor_watch *w)
{
    if (w->fd < 0)
        return;
    /* close() alone would do on Linux, but only if no dup of the fd exists;
     * being explicit costs one syscall on a cold path. */
    epoll_ctl(r->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    close(w->fd);
    w->fd = -1;
    w->events = 0;
}

void reactor_defer_free(struct reactor *r, void (*free_fn)(void *), void *p)
{
    struct reactor_deferred *d = xmalloc(sizeof *d);
    *d = (struct reactor_deferred){ r->deferred, free_fn, p };
    r->deferred = d;
}

void reactor_later(struct reactor *r, struct reactor_later *l)
{
    if (l->armed)
        return;
    l->armed = true;
    l->next = r->later;
    r->later = l;
}

/* The list is taken whole: what is armed while it runs waits for the next
 * batch, so a function that re-arms itself cannot hold the loop. */
static void run_later(struct reactor *r)
{
    struct reactor_later *l = r->later;
    r->later = NULL;
    while (l) {
        struct reactor_later *next = l->next;
        l->armed = false;
        l->fn(l);
        l = next;
    }
}

/* after_batch may close connections, and freeing them (their last words to
 * others) may give after_batch more to do; the later work runs once, when
 * the frees are done, and after_batch writes what it sent. */
static void finish_batch(struct reactor *r)
{
    bool later_done = false;
    for (;;) {
        if (r->after_batch)
            r->after_batch();
        if (r->deferred) {
            run_deferred(r);
            continue;
        }
        if (later_done || !r->later)
            return;
        run_later(r);
        later_done = true;
    }
}

static void dispatch(struct reactor_watch *w, uint32_t events)
{
    /* Errors and hang-ups are reported as readable: the read sees them. */
    if (w->fd >= 0 && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && w->ops->on_readable)
        w->ops->on_readable(w);
    if (w->fd >= 0 && (events & (EPOLLOUT | EPOLLERR)) && (w->events & EPOLLOUT)
        && w->ops->on_writable)
        w->ops->on_writable(w);
}

int reactor_run(struct reactor *r)
{
    struct epoll_event events[REACTOR_BATCH];
    r->stopping = false;
    while (!r->stopping) {
        /* Later work waiting: poll, do not sleep. */
        int n = epoll_wait(r->epfd, events, REACTOR_BATCH, r->later ? 0 : -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        for (int i = 0; i < n; i++)
            dispatch(events[i].data.ptr, events[i].events);
        finish_batch(r);
    }
    return 0;
}

void reactor_stop(struct reactor *r)
{
    r->stopping = true;
}

/* --- timers ------------------------------------------------------------- */

static void timer_on_readable(struct reactor_watch *w)
{
    struct reactor_timer *t = (struct reactor_timer *)w;
    uint64_t expirations;
    ssize_t n = read(w->fd, &expirations, sizeof expirations);
    if (n != sizeof expirations)
        return;                  /* EAGAIN: a spurious wake-up */
    t->next_ns += expirations * t->interval_ns;
    t->on_tick(t, expirations);
}

static const struct reactor_ops timer_ops = { timer_on_readable, NULL };

int reactor_timer_start(struct reactor *r, struct reactor_timer *t, uint64_t interval_ns)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0)
        return -1;
    uint64_t first = clock_mono_ns() + interval_ns;
    struct itimerspec its = {
        .it_value = { (time_t)(first / 1000000000u), (long)(first % 1000000000u) },
        .it_interval = { (time_t)(interval_ns / 1000000000u), (long)(interval_ns % 1000000000u) },
    };
    if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
        close(fd);
        return -1;
    }
    t->watch = (struct reactor_watch){ &timer_ops, fd, 0 };
    t->interval_ns = interval_ns;
    t->next_ns = first;
    if (reactor_add(r, &t->watch, true, false) < 0) {
        close(fd);
        t->watch.fd = -1;
        return -1;
    }
    return 0;
}

void reactor_timer_stop(struct reactor *r, struct reactor_timer *t)
{
    reactor_close(r, &t->watch);
}

/* --- signals ------------------------------------------------------------ */

static struct {
    struct reactor_watch watch;
    void (*on_signal)(int signo);
} sigwatch;

static void signal_on_readable(struct reactor_watch *w)
{
    struct signalfd_siginfo si;
    while (read(w->fd, &si, sizeof si) == sizeof si)
        sigwatch.on_signal((int)si.ssi_signo);
}

static const struct reactor_ops signal_ops = { signal_on_readable, NULL };

int reactor_signals(struct reactor *r, const int *signals, int count,
                    void (*on_signal)(int signo))
{
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++)
        sigaddset(&set, signals[i]);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -1;
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -1;
    sigwatch.watch = (struct reactor_watch){ &signal_ops, fd, 0 };
    sigwatch.on_signal = on_signal;
    return reactor_add(r, &sigwatch.watch, true, false);
}
