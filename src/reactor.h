/* reactor.h -- the event loop: one thread, level-triggered epoll, a callback
 * per readiness event, timerfd timers and signalfd signals. It knows nothing
 * about protocols. Memory that an event may still point to is freed only
 * after the batch of events it came in (reactor_defer_free), so no callback
 * ever sees freed memory. Each thread that needs a loop owns one reactor. */
#ifndef REACTOR_H
#define REACTOR_H

#include <stdbool.h>
#include <stdint.h>

struct reactor_watch;

struct reactor_ops {             /* shared by every watch of one kind */
    void (*on_readable)(struct reactor_watch *w);
    void (*on_writable)(struct reactor_watch *w);
};

struct reactor_watch {           /* embed in the object that owns the fd */
    const struct reactor_ops *ops;
    int      fd;                 /* -1 once removed: pending events are dropped */
    uint32_t events;             /* EPOLLIN / EPOLLOUT currently watched */
};

struct reactor_timer {
    struct reactor_watch watch;  /* the timerfd */
    /* expirations: intervals elapsed since the last call (1 when on time) */
    void (*on_tick)(struct reactor_timer *t, uint64_t expirations);
    uint64_t interval_ns;
    uint64_t next_ns;            /* monotonic time the next tick is due */
};

struct reactor_deferred;

/* Work done once at the end of a batch however many events asked for it
 * (a room's joins and leaves told in one notice). Embed it in the object
 * that owns the work; the reactor allocates nothing for it. */
struct reactor_later {
    struct reactor_later *next;
    void (*fn)(struct reactor_later *l);
    bool armed;
};

struct reactor {
    int  epfd;
    bool stopping;
    struct reactor_deferred *deferred;   /* freed after the current batch */
    struct reactor_later *later;         /* armed: run at the end of the batch */
    /* Called after every batch of events, before and after the deferred
     * frees and after the reactor_later work: the place for work that is
     * cheaper done once for many events, such as writing output (optional). */
    void (*after_batch)(void);
};

/* Create the epoll instance; -1 with errno on failure. */
int  reactor_init(struct reactor *r);
void reactor_fini(struct reactor *r);

/* Watch w->fd for reading and/or writing; 0 or -1 with errno. */
int  reactor_add(struct reactor *r, struct reactor_watch *w, bool readable, bool writable);
/* Change what is watched; a no-op when nothing changes. */
int  reactor_modify(struct reactor *r, struct reactor_watch *w, bool readable, bool writable);
/* Stop watching, close the fd and set w->fd = -1: events for it that are
 * already in the current batch are dropped. */
void reactor_close(struct reactor *r, struct reactor_watch *w);

/* Call free_fn(p) after the current batch of events (or, outside
 * reactor_run, at the end of the next batch or in reactor_fini). */
void reactor_defer_free(struct reactor *r, void (*free_fn)(void *), void *p);

/* Call l->fn(l) once after the current batch, after its deferred frees (so
 * it sees every connection that closed in the batch) and before after_batch
 * writes the output (so what it sends goes out in the same round). Arming an
 * armed l does nothing. Armed from within a later function, it runs after the
 * next batch, and the loop does not sleep meanwhile: long work done a slice
 * per batch lets every other event in between. */
void reactor_later(struct reactor *r, struct reactor_later *l);

/* A timerfd that fires every interval_ns, its schedule fixed at the start so
 * ticks never drift (the kernel counts from the first expiry, not from when
 * we got around to reading it). */
int  reactor_timer_start(struct reactor *r, struct reactor_timer *t, uint64_t interval_ns);
void reactor_timer_stop(struct reactor *r, struct reactor_timer *t);

/* Block the signals and deliver them through a signalfd; on_signal runs in
 * the loop like any other callback. Returns 0 or -1 with errno. */
int  reactor_signals(struct reactor *r, const int *signals, int count,
                     void (*on_signal)(int signo));

/* Run until reactor_stop(); returns 0, or -1 if epoll_wait failed. */
int  reactor_run(struct reactor *r);
/* Return from reactor_run() after the current batch. */
void reactor_stop(struct reactor *r);

#endif
