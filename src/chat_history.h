/* chat_history.h -- the chat room's memory: message ids and the ring of
 * the last messages, from which a client that reconnects is given what it
 * missed (README "Resume").
 *
 * An id has the form of a Redis stream id, "MS-SEQ": the wall-clock
 * millisecond it was issued in and a sequence number within it. Without
 * --redis this process issues them (chat_id_next); with --redis they are
 * the stream's. Either way they only grow, so ids compare as the order in
 * which every client saw the messages.
 *
 * The ring keeps each message as its encoded frame (the struct msg every
 * member was sent), so a replay costs no encoding and no copy. It knows
 * where its knowledge begins: `gap` is the newest id of which the ring can
 * no longer say what came after it (a message it dropped, or where this
 * history started: the process's start, the cluster stream's end when the
 * instance joined it). A resume from an id at or after the gap is complete;
 * from before it, some messages may be missing. */
#ifndef CHAT_HISTORY_H
#define CHAT_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct chat_id {
    uint64_t ms, seq;
};

#define CHAT_ID_MAX_LEN 41       /* two 20-digit numbers and the '-' */

/* Parse exactly "<digits>-<digits>" (no sign, no spaces, each part a
 * 64-bit number). Returns 0, or -1 if s[0..len) is anything else. */
int chat_id_parse(const char *s, size_t len, struct chat_id *id);
/* "MS-SEQ" and a NUL into out (CHAT_ID_MAX_LEN + 1 bytes); returns its length. */
size_t chat_id_format(const struct chat_id *id, char *out);
/* <0, 0, >0 as a is older than, the same as, newer than b. */
int chat_id_cmp(const struct chat_id *a, const struct chat_id *b);
/* The id after last for a message issued at now_ms: (now_ms, 0) when the
 * clock has moved on, else (last.ms, last.seq + 1), so that ids keep
 * growing when the clock stands still or steps back. */
struct chat_id chat_id_next(const struct chat_id *last, uint64_t now_ms);

struct chat_entry {
    struct chat_id id;
    struct msg *frame;           /* the whole encoded frame, one reference */
    size_t payload_len;          /* its JSON's bytes, for the counters */
};

struct chat_history {
    struct chat_entry *ring;     /* cap slots, the oldest at head */
    uint32_t cap, head, count;
    size_t bytes, max_bytes;     /* frames held; over max_bytes the oldest go */
    struct chat_id gap;          /* see the top of the file */
    struct chat_id last;         /* the newest id pushed, or the gap if none */
};

/* Room for cap messages and about max_bytes of frames; the history begins
 * after start. Returns 0, or -1 if out of memory. */
int chat_history_init(struct chat_history *h, uint32_t cap, size_t max_bytes,
                      const struct chat_id *start);
/* Forget everything up to and including gap: what comes next starts a new
 * history (a Redis that came back empty). */
void chat_history_restart(struct chat_history *h, const struct chat_id *gap);
/* Append a message newer than every one held; takes a reference to frame.
 * The oldest ones go when the ring or the byte budget is full. */
void chat_history_push(struct chat_history *h, const struct chat_id *id, struct msg *frame,
                       size_t payload_len);

/* What the history can say about the messages after since. */
enum chat_since {
    CHAT_SINCE_HELD,             /* every message after it is held */
    CHAT_SINCE_TOO_OLD,          /* older than the gap: some may be gone */
    CHAT_SINCE_UNKNOWN,          /* after the gap, yet no message of the
                                    history has that id (or it is newer) */
};
/* Classify since; for HELD the index (0..count) of the first message after
 * it goes to *first. */
enum chat_since chat_history_find(const struct chat_history *h, const struct chat_id *since,
                                  uint32_t *first);
/* The i-th message held, 0 the oldest. */
const struct chat_entry *chat_history_at(const struct chat_history *h, uint32_t i);

#endif
