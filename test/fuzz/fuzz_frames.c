/* fuzz_frames.c -- libFuzzer harness for src/wsframe.c and src/utf8.c,
 * linked with those two alone.
 *
 * Input layout: byte 0's low three bits give a count c (0..7); the next c
 * bytes are piece sizes (0..255, cycled; a 0 is an empty read); the rest is
 * the byte stream a peer sent. With c = 0 the stream arrives in one read.
 *
 * The stream is parsed twice, once in a single buffer and once in those
 * pieces, as reads would deliver it. Both runs must see the same frames, the
 * same payload bytes and the same error, and every wsframe_feed call must
 * keep the contract of wsframe.h. Payloads are compared with an unmasking
 * done byte by byte here, headers with what wsframe_write_header writes for
 * the same fields. Text messages (fragments joined, control frames between
 * them ignored) go through the incremental UTF-8 validator chunk by chunk as
 * they arrive; its verdict after every chunk must match a reference written
 * here, and its final verdict utf8_valid() on the whole message. Finally,
 * frames built with wsframe_write_header and wsframe_mask must parse back to
 * what was written. A broken invariant calls abort(). */
#include "utf8.h"
#include "wsframe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
    abort();
}

#define REQUIRE(cond) \
    do { if (!(cond)) fail(__FILE__, __LINE__, #cond); } while (0)

/* --- reference UTF-8 (RFC 3629), written apart from src/utf8.c ---------- */

/* Can a sequence whose code point so far is cp, with `left` continuation
 * bytes still to come, end as a scalar value of its length's range? The
 * completions span [cp << 6*left, that | all ones]: it must reach the
 * length's minimum (no overlong form), stay under U+10FFFF and not lie
 * wholly among the surrogates. */
static bool completable(uint32_t cp, int left, uint32_t min)
{
    uint32_t lo = cp << (6 * left), hi = lo | ((1u << (6 * left)) - 1);
    if (hi < min || lo > 0x10FFFF)
        return false;
    return !(lo >= 0xD800 && hi <= 0xDFFF);
}

/* Index of the first byte of s[0..len) after which no continuation can make
 * valid UTF-8, or len if there is none. *complete: s ends on a boundary. */
static size_t ref_first_bad(const uint8_t *s, size_t len, bool *complete)
{
    static const uint32_t min_cp[4] = { 0, 0x80, 0x800, 0x10000 };
    size_t i = 0;

    *complete = true;
    while (i < len) {
        uint8_t b = s[i];
        int n = b < 0x80 ? 0 : (b & 0xE0) == 0xC0 ? 1 : (b & 0xF0) == 0xE0 ? 2
              : (b & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0)
            return i;
        uint32_t cp = n == 0 ? b : b & (0x3Fu >> n);
        if (n > 0 && !completable(cp, n, min_cp[n]))
            return i;
        for (int k = 1; k <= n; k++) {
            if (i + (size_t)k == len) {
                *complete = false;
                return len;
            }
            uint8_t c = s[i + (size_t)k];
            if ((c & 0xC0) != 0x80)
                return i + (size_t)k;
            cp = cp << 6 | (c & 0x3Fu);
            if (!completable(cp, n - k, min_cp[n]))
                return i + (size_t)k;
        }
        i += (size_t)n + 1;
    }
    return len;
}

/* Verdicts of the incremental validator after each chunk of one message. */
struct utf8_trace {
    struct utf8_validator v;
    uint8_t *bytes;             /* the message so far */
    size_t len;
    size_t *ends;               /* end of each chunk ... */
    bool *alive;                /* ... and utf8_feed's answer there */
    size_t chunks;
};

static void trace_start(struct utf8_trace *t)
{
    utf8_reset(&t->v);
    t->len = 0;
    t->chunks = 0;
}

static void trace_feed(struct utf8_trace *t, const uint8_t *s, size_t n)
{
    bool alive = utf8_feed(&t->v, s, n);
    memcpy(t->bytes + t->len, s, n);
    t->len += n;
    t->ends[t->chunks] = t->len;
    t->alive[t->chunks++] = alive;
}

/* utf8_feed fails as soon as, and only when, the bytes so far cannot start
 * valid UTF-8 (RFC 6455 §8.1: fail fast); a dead validator stays dead. At
 * the end of a message it must agree with utf8_valid() and the reference. */
static void trace_check(const struct utf8_trace *t, bool message_done)
{
    bool complete;
    size_t bad = ref_first_bad(t->bytes, t->len, &complete);

    for (size_t c = 0; c < t->chunks; c++)
        REQUIRE(t->alive[c] == (t->ends[c] <= bad));
    if (message_done) {
        bool whole = utf8_valid(t->bytes, t->len);
        bool incremental = (t->chunks == 0 || t->alive[t->chunks - 1]) && utf8_complete(&t->v);
        REQUIRE(whole == incremental);
        REQUIRE(whole == (bad == t->len && complete));
    }
}

/* --- parsing a stream ------------------------------------------------------ */

struct frame_rec {
    uint8_t hdr[WSFRAME_MAX_HEADER], hdr_len;
    bool fin, masked;
    uint8_t rsv, opcode, mask[4];
    uint64_t payload_len;
    size_t payload_at;          /* where its payload starts in run.payload */
};

struct run {
    struct frame_rec *frames;
    size_t nframes;             /* frames whose header completed */
    uint8_t *payload;           /* every payload byte, unmasked, in order */
    size_t payload_len;
    bool error;
    struct wsframe_parser last; /* the parser when the stream ended */
    struct utf8_trace text;     /* the text message in progress */
    bool in_text;
};

/* The header just completed: it is the stream's bytes at frame_at, its
 * fields are what the bytes say, its length uses the minimal encoding with
 * the top bit clear (§5.2), and the writer, given the same fields, writes
 * the same bytes but the RSV bits, which it never sets. */
static void check_header(const struct wsframe_parser *p, const uint8_t *orig, size_t frame_at)
{
    uint8_t len7 = p->hdr[1] & 0x7F, out[WSFRAME_MAX_HEADER];

    REQUIRE(p->hdr_len >= 2 && p->hdr_len <= WSFRAME_MAX_HEADER);
    REQUIRE(memcmp(p->hdr, orig + frame_at, p->hdr_len) == 0);
    REQUIRE(p->fin == ((p->hdr[0] & 0x80) != 0));
    REQUIRE(p->rsv == ((p->hdr[0] >> 4) & 7));
    REQUIRE(p->opcode == (p->hdr[0] & 0x0F));
    REQUIRE(p->masked == ((p->hdr[1] & 0x80) != 0));
    REQUIRE(p->payload_seen == 0);
    REQUIRE(p->payload_len >> 63 == 0);
    if (len7 < 126)
        REQUIRE(p->payload_len == len7);
    else if (len7 == 126)
        REQUIRE(p->payload_len >= 126 && p->payload_len <= 0xFFFF);
    else
        REQUIRE(p->payload_len > 0xFFFF);
    size_t n = wsframe_write_header(out, p->fin, (enum ws_opcode)p->opcode, p->payload_len,
                                    p->masked ? p->mask : NULL);
    REQUIRE(n == p->hdr_len);
    REQUIRE(out[0] == (p->hdr[0] & 0x8F));
    REQUIRE(memcmp(out + 1, p->hdr + 1, n - 1) == 0);
}

/* Messages as ws.c assembles them: a text frame starts one, continuation
 * frames extend it, a binary frame starts a message that is not text, and
 * control frames may come between fragments without touching it. */
static void on_header(struct run *r, const struct wsframe_parser *p)
{
    if (p->opcode & 0x8)
        return;
    if (p->opcode == WS_OP_TEXT) {
        if (r->in_text)
            trace_check(&r->text, false);
        trace_start(&r->text);
        r->in_text = true;
    } else if (p->opcode != WS_OP_CONT && r->in_text) {
        trace_check(&r->text, false);
        r->in_text = false;
    }
}

static void on_frame_done(struct run *r, const struct wsframe_parser *p)
{
    if (r->in_text && !(p->opcode & 0x8) && p->fin) {
        trace_check(&r->text, true);
        r->in_text = false;
    }
}

/* A header just completed: check it, keep its fields to compare the runs. */
static void record_header(struct run *r, const struct wsframe_parser *p, const uint8_t *orig,
                          size_t frame_at)
{
    struct frame_rec *f = &r->frames[r->nframes++];

    check_header(p, orig, frame_at);
    *f = (struct frame_rec){ .hdr_len = p->hdr_len, .fin = p->fin, .masked = p->masked,
                             .rsv = p->rsv, .opcode = p->opcode,
                             .payload_len = p->payload_len, .payload_at = r->payload_len };
    memcpy(f->hdr, p->hdr, p->hdr_len);
    memcpy(f->mask, p->mask, 4);
    on_header(r, p);
}

/* One wsframe_feed call and the contract of wsframe.h around it. */
static ssize_t feed_once(struct run *r, struct wsframe_parser *p, uint8_t *buf,
                         size_t len, const uint8_t *orig, size_t at)
{
    const uint8_t *data = NULL;
    size_t data_len = 12345, frame_at = at - p->hdr_len;
    bool had_header = wsframe_header_done(p);
    uint64_t seen = p->payload_seen;
    ssize_t n = wsframe_feed(p, buf, len, &data, &data_len);

    if (n < 0) {
        REQUIRE(n == WSFRAME_ERR_LENGTH && !had_header);
        return n;
    }
    REQUIRE((size_t)n <= len);
    REQUIRE(data == buf && data_len <= (size_t)n);
    REQUIRE(p->payload_seen <= p->payload_len || !wsframe_header_done(p));
    REQUIRE(p->hdr_len <= WSFRAME_MAX_HEADER);
    if (!had_header) {                   /* header bytes only, never payload */
        REQUIRE(data_len == 0);
        REQUIRE(n > 0 || len == 0);
        if (wsframe_header_done(p))
            record_header(r, p, orig, frame_at);
        else
            REQUIRE((size_t)n == len);   /* an unfinished header takes everything */
        return n;
    }
    REQUIRE(data_len == (size_t)n);
    REQUIRE(p->payload_seen == seen + (uint64_t)n);
    REQUIRE((size_t)n == len || wsframe_done(p));    /* stops only at the frame's end */
    for (size_t i = 0; i < data_len; i++)            /* §5.3, one byte at a time */
        REQUIRE(data[i] == (orig[at + i] ^ (p->masked ? p->mask[(seen + i) & 3] : 0)));
    memcpy(r->payload + r->payload_len, data, data_len);
    r->payload_len += data_len;
    if (r->in_text && !(p->opcode & 0x8) && data_len > 0)
        trace_feed(&r->text, data, data_len);
    return n;
}

/* Feed buf[0..len) as one read, as wspulse does: call again while bytes are
 * left, resetting after each complete frame. */
static bool feed_read(struct run *r, struct wsframe_parser *p, uint8_t *buf, size_t len,
                      const uint8_t *orig, size_t at)
{
    size_t used = 0;
    do {
        ssize_t n = feed_once(r, p, buf + used, len - used, orig, at + used);
        if (n < 0)
            return false;
        used += (size_t)n;
        if (wsframe_done(p)) {
            const uint8_t *data;
            size_t data_len;
            REQUIRE(wsframe_feed(p, buf + used, len - used, &data, &data_len) == 0);
            on_frame_done(r, p);
            wsframe_reset(p);
            static const struct wsframe_parser zero;
            REQUIRE(memcmp(p, &zero, sizeof zero) == 0);
        }
    } while (used < len);
    return true;
}

/* The whole stream, split at the given sizes (cycled), or in one read when
 * there are none. */
static void run_stream(struct run *r, uint8_t *buf, const uint8_t *orig, size_t len,
                       const uint8_t *sizes, size_t nsizes)
{
    struct wsframe_parser p = {0};
    size_t at = 0, k = 0;

    while (at < len || (at == 0 && len == 0)) {
        size_t piece = nsizes ? sizes[k++ % nsizes] : len;
        if (piece > len - at)
            piece = len - at;
        if (!feed_read(r, &p, buf + at, piece, orig, at)) {
            r->error = true;
            break;
        }
        at += piece;
        if (len == 0)
            break;
    }
    r->last = p;
    if (r->in_text)
        trace_check(&r->text, false);
}

static void run_init(struct run *r, size_t len)
{
    memset(r, 0, sizeof *r);
    r->frames = malloc((len / 2 + 1) * sizeof *r->frames);
    r->payload = malloc(len + 1);
    r->text.bytes = malloc(len + 1);
    /* A chunk per piece, empty pieces included: at most 7 per non-empty one. */
    r->text.ends = malloc(8 * (len + 1) * sizeof *r->text.ends);
    r->text.alive = malloc(8 * (len + 1));
    REQUIRE(r->frames && r->payload && r->text.bytes && r->text.ends && r->text.alive);
}

static void run_free(struct run *r)
{
    free(r->frames);
    free(r->payload);
    free(r->text.bytes);
    free(r->text.ends);
    free(r->text.alive);
}

static bool frames_equal(const struct frame_rec *a, const struct frame_rec *b)
{
    return a->hdr_len == b->hdr_len && memcmp(a->hdr, b->hdr, a->hdr_len) == 0 &&
           a->fin == b->fin && a->masked == b->masked && a->rsv == b->rsv &&
           a->opcode == b->opcode && memcmp(a->mask, b->mask, 4) == 0 &&
           a->payload_len == b->payload_len && a->payload_at == b->payload_at;
}

/* However the stream was split, the same frames, payload and end state. */
static void compare_runs(const struct run *a, const struct run *b)
{
    REQUIRE(a->error == b->error);
    REQUIRE(a->nframes == b->nframes);
    for (size_t f = 0; f < a->nframes; f++)
        REQUIRE(frames_equal(&a->frames[f], &b->frames[f]));
    REQUIRE(a->payload_len == b->payload_len);
    REQUIRE(memcmp(a->payload, b->payload, a->payload_len) == 0);
    if (!a->error) {
        REQUIRE(a->last.header_done == b->last.header_done);
        REQUIRE(a->last.hdr_len == b->last.hdr_len);
        REQUIRE(a->last.payload_seen == b->last.payload_seen);
    }
}

/* --- writing and parsing back ------------------------------------------- */

/* Write a frame for payload[0..len) (masked in two calls split at `cut`, to
 * exercise the offset), parse it back in one read: same fields and bytes. */
static void round_trip(bool fin, uint8_t opcode, const uint8_t *payload, size_t len,
                       const uint8_t *mask, size_t cut)
{
    uint8_t *frame = malloc(WSFRAME_MAX_HEADER + len + 1);
    REQUIRE(frame != NULL);
    size_t h = wsframe_write_header(frame, fin, (enum ws_opcode)opcode, len, mask);
    memcpy(frame + h, payload, len);
    if (mask) {
        cut = len ? cut % (len + 1) : 0;
        wsframe_mask(frame + h, cut, mask, 0);
        wsframe_mask(frame + h + cut, len - cut, mask, cut);
    }
    struct wsframe_parser p = {0};
    const uint8_t *data;
    size_t data_len;
    REQUIRE(wsframe_feed(&p, frame, h + len, &data, &data_len) == (ssize_t)h);
    REQUIRE(wsframe_header_done(&p) && p.fin == fin && p.opcode == (opcode & 0x0F));
    REQUIRE(p.masked == (mask != NULL) && p.rsv == 0 && p.payload_len == len);
    REQUIRE(wsframe_feed(&p, frame + h, len, &data, &data_len) == (ssize_t)len);
    REQUIRE(wsframe_done(&p) && data_len == len && memcmp(data, payload, len) == 0);
    free(frame);
}

/* A header for any 63-bit length, parsed back alone: the 16- and 64-bit
 * forms are reached without megabytes of payload. */
static void header_round_trip(uint64_t len, const uint8_t *mask)
{
    uint8_t hdr[WSFRAME_MAX_HEADER];
    struct wsframe_parser p = {0};
    const uint8_t *data;
    size_t data_len;

    len &= UINT64_MAX >> 1;
    size_t h = wsframe_write_header(hdr, true, WS_OP_BINARY, len, mask);
    REQUIRE(h == 2 + (len < 126 ? 0 : len <= 0xFFFF ? 2 : 8) + (mask ? 4 : 0));
    for (size_t i = 0; i < h; i++)       /* one byte per read */
        REQUIRE(wsframe_feed(&p, hdr + i, 1, &data, &data_len) == 1);
    REQUIRE(wsframe_header_done(&p) && p.payload_len == len && p.hdr_len == h);
    REQUIRE(!mask || memcmp(p.mask, mask, 4) == 0);
}

/* wsframe_mask against the byte-by-byte definition, from any phase. */
static void check_mask(const uint8_t *s, size_t len, const uint8_t mask[4], uint64_t offset)
{
    uint8_t *m = malloc(len + 1);
    REQUIRE(m != NULL);
    memcpy(m, s, len);
    wsframe_mask(m, len, mask, offset);
    for (size_t i = 0; i < len; i++)
        REQUIRE(m[i] == (s[i] ^ mask[(offset + i) % 4]));
    free(m);
}

/* The raw stream through the validator in the same pieces: utf8.c on
 * arbitrary bytes, not only on what happens to be a text frame. */
static void check_utf8_pieces(const uint8_t *s, size_t len, const uint8_t *sizes,
                              size_t nsizes, struct utf8_trace *t)
{
    size_t at = 0, k = 0;
    trace_start(t);
    while (at < len) {
        size_t piece = nsizes ? sizes[k++ % nsizes] : len;
        if (piece > len - at)
            piece = len - at;
        trace_feed(t, s + at, piece);
        at += piece;
    }
    trace_check(t, true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t nsizes = data[0] & 7u;
    if (size < 1 + nsizes)
        return 0;
    const uint8_t *sizes = data + 1, *orig = data + 1 + nsizes;
    size_t len = size - 1 - nsizes, total = 0;
    for (size_t i = 0; i < nsizes; i++)
        total += sizes[i];
    if (total == 0)
        nsizes = 0;                      /* only empty reads would never end */

    struct run whole, split;
    uint8_t *buf = malloc(len + 1);
    REQUIRE(buf != NULL);
    run_init(&whole, len);
    run_init(&split, len);
    memcpy(buf, orig, len);
    run_stream(&whole, buf, orig, len, NULL, 0);
    memcpy(buf, orig, len);
    run_stream(&split, buf, orig, len, sizes, nsizes);
    compare_runs(&whole, &split);

    for (size_t f = 0; f < whole.nframes; f++) {        /* complete frames only */
        const struct frame_rec *fr = &whole.frames[f];
        if (whole.payload_len - fr->payload_at < fr->payload_len)
            break;
        round_trip(fr->fin, fr->opcode, whole.payload + fr->payload_at,
                   (size_t)fr->payload_len, fr->masked ? fr->mask : NULL, fr->payload_len / 3);
    }
    uint8_t key[4] = { 0 };
    memcpy(key, orig, len < 4 ? len : 4);
    round_trip(data[0] & 0x08, data[0] >> 4, orig, len, (len & 1) ? key : NULL, len / 2 + 1);
    uint64_t big = 0;
    memcpy(&big, orig, len < 8 ? len : 8);
    header_round_trip(big, (data[0] & 0x40) ? key : NULL);
    header_round_trip(big >> (data[0] & 63), NULL);
    check_mask(orig, len, key, big);

    check_utf8_pieces(orig, len, sizes, nsizes, &split.text);
    run_free(&whole);
    run_free(&split);
    free(buf);
    return 0;
}
