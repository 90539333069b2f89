/* test_outq.c -- the output queue: order, sharing, control frames ahead of
 * data but never inside a frame on the wire, partial writes, no memory kept
 * once empty. */
#include <stdlib.h>

#include "check.h"
#include "outq.h"

/* Everything the queue would write, in order, as one string. */
static size_t drain(struct outq *q, char *out, size_t cap)
{
    struct iovec iov[64];
    int n = outq_iov(q, iov, 64);
    size_t len = 0;
    for (int i = 0; i < n && len < cap; i++) {
        memcpy(out + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    return len;
}

static void test_order_and_bytes(void)
{
    struct outq q = {0};
    outq_push_copy(&q, "ab", 2);
    outq_push_copy(&q, "cd", 2);            /* joins the private tail */
    struct msg *m = msg_from("EF", 2);
    outq_push_msg(&q, msg_ref(m), 0);
    outq_push_copy(&q, "gh", 2);
    CHECK_EQ(q.bytes, 8);
    CHECK_EQ(q.count, 3);
    char out[64];
    CHECK_MEM(out, drain(&q, out, sizeof out), "abcdEFgh", 8);
    outq_consume(&q, 8);
    CHECK(outq_empty(&q));
    CHECK(q.items != NULL);                  /* kept while busy ... */
    outq_trim(&q);
    CHECK(q.items == NULL);                  /* ... and freed when idle */
    CHECK_EQ(m->refs, 1);                    /* the queue's reference is gone */
    msg_unref(m);
}

static void test_shared_message_is_not_appended_to(void)
{
    struct outq q = {0};
    struct msg *shared = msg_new(64);        /* room to spare, but shared */
    memcpy(shared->data, "SH", 2);
    shared->len = 2;
    outq_push_msg(&q, msg_ref(shared), 0);
    outq_push_copy(&q, "x", 1);
    CHECK_EQ(shared->len, 2);
    char out[16];
    CHECK_MEM(out, drain(&q, out, sizeof out), "SHx", 3);
    outq_clear(&q);
    msg_unref(shared);
}

static void test_partial_consume(void)
{
    struct outq q = {0};
    outq_push_copy(&q, "hello", 5);
    struct msg *m = msg_from("world", 5);
    outq_push_msg(&q, m, 0);
    outq_consume(&q, 3);
    char out[16];
    CHECK_MEM(out, drain(&q, out, sizeof out), "loworld", 7);
    outq_consume(&q, 4);
    CHECK_MEM(out, drain(&q, out, sizeof out), "rld", 3);
    CHECK_EQ(q.bytes, 3);
    outq_clear(&q);
}

static void test_urgent_goes_first(void)
{
    struct outq q = {0};
    outq_push_copy(&q, "data1", 5);
    struct msg *m = msg_from("data2", 5);
    outq_push_msg(&q, m, 0);
    outq_push_urgent(&q, "P1", 2);
    outq_push_urgent(&q, "P2", 2);           /* after P1: control frames keep order */
    char out[32];
    CHECK_MEM(out, drain(&q, out, sizeof out), "P1P2data1data2", 14);
    outq_clear(&q);
}

static void test_urgent_never_splits_a_frame_on_the_wire(void)
{
    struct outq q = {0};
    outq_push_copy(&q, "frameA", 6);
    outq_consume(&q, 2);                     /* "fr" is on the wire */
    outq_push_copy(&q, "frameB", 6);         /* must not join a started tail */
    outq_push_urgent(&q, "C", 1);
    char out[32];
    CHECK_MEM(out, drain(&q, out, sizeof out), "ameACframeB", 11);
    outq_consume(&q, 4);                     /* finish frame A */
    outq_push_urgent(&q, "D", 1);            /* behind C, ahead of B */
    CHECK_MEM(out, drain(&q, out, sizeof out), "CDframeB", 8);
    outq_clear(&q);
}

static void test_data_after_urgent_tail_stays_behind(void)
{
    struct outq q = {0};
    outq_push_urgent(&q, "U", 1);
    outq_push_copy(&q, "d", 1);              /* must not be appended into U */
    outq_push_urgent(&q, "V", 1);
    char out[8];
    CHECK_MEM(out, drain(&q, out, sizeof out), "UVd", 3);
    outq_clear(&q);
}

static void test_many_items_grow_the_ring(void)
{
    struct outq q = {0};
    struct msg *m = msg_from("z", 1);
    for (int i = 0; i < 1000; i++)
        outq_push_msg(&q, msg_ref(m), 0);
    CHECK_EQ(q.count, 1000);
    CHECK_EQ(m->refs, 1001);
    outq_consume(&q, 999);
    CHECK_EQ(q.count, 1);
    outq_clear(&q);
    CHECK_EQ(m->refs, 1);
    msg_unref(m);
}

/* A slow consumer's backlog: whole frames not begun go; the frame on the
 * wire, pieces queued apart and control frames stay, in order. */
static void test_drop_frames_keeps_a_valid_stream(void)
{
    struct outq q = {0};
    struct msg *a = msg_from("AA", 2), *b = msg_from("BB", 2), *c = msg_from("CC", 2);
    outq_push_frame(&q, msg_ref(a));
    outq_consume(&q, 1);                     /* A is on the wire */
    outq_push_frame(&q, msg_ref(b));
    outq_push_copy(&q, "hd", 2);             /* a header queued apart ... */
    outq_push_msg(&q, msg_ref(c), 0);        /* ... and its body */
    outq_push_urgent(&q, "P", 1);            /* a pong: after A, before B */
    outq_push_frame(&q, msg_ref(b));
    outq_push_copy(&q, "zz", 2);             /* never appended to a frame item */
    outq_drop_frames(&q);
    char out[64];
    CHECK_MEM(out, drain(&q, out, sizeof out), "APhdCCzz", 8);
    CHECK_EQ(q.bytes, 8);
    CHECK_EQ(b->refs, 1);                    /* both of B's queue references are gone */
    outq_push_urgent(&q, "Q", 1);            /* the front stays consistent */
    CHECK_MEM(out, drain(&q, out, sizeof out), "APQhdCCzz", 9);
    outq_clear(&q);
    msg_unref(a), msg_unref(b), msg_unref(c);
}

int main(void)
{
    test_order_and_bytes();
    test_shared_message_is_not_appended_to();
    test_partial_consume();
    test_urgent_goes_first();
    test_urgent_never_splits_a_frame_on_the_wire();
    test_data_after_urgent_tail_stays_behind();
    test_many_items_grow_the_ring();
    test_drop_frames_keeps_a_valid_stream();
    return check_report("outq");
}
