/* chat.h -- the parts of /chat and how they call each other; not for
 * other endpoints.
 *
 *   ep_chat.c      the room: members, welcome and join/leave notices, the
 *                  message types; chat_deliver() sends a message to every
 *                  live member and keeps it in the history.
 *   chat_history.c ids and the ring of the last messages.
 *   chat_resume.c  a member that reconnects gets what it missed, then the
 *                  live messages (README "Resume").
 *   chat_stream.c  with --redis: the room is the cluster's; every message
 *                  goes through the stream PREFIX:chat, and so does an
 *                  old resume.
 *
 * Without --redis a message is delivered the moment it is accepted; with
 * it, when it comes back from the stream, in the stream's order, to every
 * instance alike. */
#ifndef CHAT_H
#define CHAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chat_history.h"
#include "conn.h"
#include "reactor.h"

enum chat_member_state {
    CHAT_JOINING,                /* not welcomed yet */
    CHAT_LIVE,                   /* gets every message as it is delivered */
    CHAT_RESUMING,               /* replaying; gets the live ones after */
};

/* One per /chat connection (c->ep_state.ptr). It outlives its connection
 * while a Redis command still names it: conn is NULL then. */
struct chat_member {
    struct conn *conn;
    uint32_t refs;               /* the connection's + one per command */
    uint8_t state;               /* enum chat_member_state */
    bool spoke;                  /* sent a message: too late to resume */
    bool fetching;               /* a page of the stream is on its way */
    bool verified;               /* its since is known to the ring or the stream */
    bool complete;               /* no message after since is missing */
    bool quiet;                  /* catching up after a refused resume: no
                                    "resumed" at the end */
    bool page_took;              /* the page took a message */
    bool page_full;              /* the page stopped: m's output is full */
    uint32_t replayed;
    struct chat_id since;        /* as the client asked */
    struct chat_id pos;          /* the newest message it has */
    struct chat_id paused_at;    /* the newest delivered when it left the live */
    struct chat_member *next_resumer;   /* chat_resume.c's list */
};

/* --- ep_chat.c ------------------------------------------------------------ */

/* The room's history: what every live member has been sent. */
struct chat_history *chat_history(void);
/* Send to every live member the message obj (a JSON object without its id)
 * with "id" added, keep it in the history, and let waiting resumers catch
 * up. id must be newer than every id delivered before. */
void chat_deliver(const struct chat_id *id, const char *obj, size_t len);
/* The same frame for one message again (a replay from the stream). NULL if
 * out of memory. *payload_len gets its JSON's length. */
struct msg *chat_frame(const struct chat_id *id, const char *obj, size_t len,
                       size_t *payload_len);
/* {"type":"error","message":what} to m's connection, if it still has one. */
void chat_reply_error(struct chat_member *m, const char *what);
/* m leaves the live members for its replay; when it is over, it becomes
 * a live member again. */
void chat_member_pause(struct chat_member *m);
void chat_member_go_live(struct chat_member *m);
/* A Redis command names m: keep it until chat_member_put. */
void chat_member_hold(struct chat_member *m);
void chat_member_put(struct chat_member *m);

/* --- chat_resume.c -------------------------------------------------------- */

/* The client asked to resume from the id in since[0..len) (?since= or its
 * first message). m is welcomed and live; it leaves the live list until
 * its replay is over. Bad ids get an error reply and m stays live. */
void chat_resume_begin(struct chat_member *m, const char *since, size_t len);
/* Messages were delivered, or output drained: go on with every replay. */
void chat_resume_poke(void);
/* m is closing: forget it. */
void chat_resume_forget(struct chat_member *m);
/* chat_stream.c's answer to chat_stream_fetch, for each message after
 * m->pos in order, then once at the end: take_one returns false when m's
 * output has no room for more (the rest of the page is dropped and asked
 * again later). */
bool chat_resume_take(struct chat_member *m, const struct chat_id *id, const char *obj,
                      size_t len);
/* The end of a page: its answer about m->pos (trimmed: some are missing;
 * unknown: no such id), or failed (the broker is gone). */
enum chat_page_result { CHAT_PAGE_OK, CHAT_PAGE_TRIMMED, CHAT_PAGE_UNKNOWN, CHAT_PAGE_FAILED };
void chat_resume_page_done(struct chat_member *m, enum chat_page_result result);

/* --- chat_stream.c (--redis) ---------------------------------------------- */

/* Join the cluster's room (reads the stream from its current end, reports
 * this instance's count). Returns 0 or -1. */
int chat_stream_setup(struct reactor *r, uint32_t history);
bool chat_stream_enabled(void);
/* The history's beginning is known: the stream has been checked since the
 * reader's last connect (or Redis is away). Until then a resume waits. */
bool chat_stream_joined(void);
/* Append obj (sent by m) to the stream; chat_deliver follows when it comes
 * back. -1 if the broker is unavailable now, -2 if this instance is too far
 * behind the stream to take more: nothing was sent. A failure later is told
 * to m as an error reply. */
int chat_stream_publish(struct chat_member *m, const char *obj, size_t len);
/* Ask for the messages after m->pos; the answer comes through
 * chat_resume_take / chat_resume_page_done. -1 if the broker is unavailable. */
int chat_stream_fetch(struct chat_member *m);
/* Clients of the other instances, as last reported (0 without --redis);
 * this instance's own count (stats.chat_online) goes out every presence
 * round, at most PRESENCE_MS after it changed. */
size_t chat_stream_others_online(void);

#endif
