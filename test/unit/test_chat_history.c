/* test_chat_history.c -- ids (parse, format, order, the next one) and the
 * ring: what it keeps, what it drops, and what it can say about an id
 * (held, too old, unknown), the answers a resume is built on. */
#include <stdlib.h>

#include "chat_history.h"
#include "check.h"

static struct chat_id id(uint64_t ms, uint64_t seq)
{
    return (struct chat_id){ ms, seq };
}

static void test_ids_parse_strictly(void)
{
    struct chat_id v;
    CHECK_EQ(chat_id_parse("1722445845123-0", 15, &v), 0);
    CHECK_EQ(v.ms, 1722445845123ull);
    CHECK_EQ(v.seq, 0);
    CHECK_EQ(chat_id_parse("18446744073709551615-18446744073709551615", 41, &v), 0);
    CHECK(v.ms == UINT64_MAX && v.seq == UINT64_MAX);
    const char *bad[] = { "", "-", "1", "1-", "-1", "1-2-3", "a-1", "1-b", " 1-2", "1-2 ",
                          "+1-2", "18446744073709551616-0", "123456789012345678901-0" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ(chat_id_parse(bad[i], strlen(bad[i]), &v), -1);
    CHECK_EQ(chat_id_parse("12-34xyz", 5, &v), 0);       /* only len bytes count */
    CHECK(v.ms == 12 && v.seq == 34);
}

static void test_ids_format_order_and_grow(void)
{
    char text[CHAT_ID_MAX_LEN + 1];
    struct chat_id big = id(UINT64_MAX, UINT64_MAX);
    CHECK_EQ(chat_id_format(&big, text), CHAT_ID_MAX_LEN);
    CHECK(strcmp(text, "18446744073709551615-18446744073709551615") == 0);
    struct chat_id a = id(5, 9), b = id(6, 0), c = id(6, 1);
    CHECK(chat_id_cmp(&a, &b) < 0 && chat_id_cmp(&b, &c) < 0 && chat_id_cmp(&c, &a) > 0);
    CHECK_EQ(chat_id_cmp(&b, &b), 0);
    struct chat_id n = chat_id_next(&a, 7);              /* the clock moved on */
    CHECK(n.ms == 7 && n.seq == 0);
    n = chat_id_next(&a, 5);                             /* the same millisecond */
    CHECK(n.ms == 5 && n.seq == 10);
    n = chat_id_next(&a, 1);                             /* the clock stepped back */
    CHECK(n.ms == 5 && n.seq == 10);
    struct chat_id full = id(5, UINT64_MAX);
    n = chat_id_next(&full, 5);                          /* never wraps below */
    CHECK(n.ms == 6 && n.seq == 0);
}

static void push(struct chat_history *h, struct chat_id i, size_t bytes)
{
    struct msg *m = msg_new(bytes);
    m->len = bytes;
    chat_history_push(h, &i, m, bytes);
    msg_unref(m);
}

static void test_the_ring_keeps_the_last_and_knows_its_gap(void)
{
    struct chat_history h;
    struct chat_id start = id(100, 0);
    CHECK_EQ(chat_history_init(&h, 3, 1 << 20, &start), 0);
    uint32_t first = 99;
    CHECK_EQ(chat_history_find(&h, &start, &first), CHAT_SINCE_HELD);   /* nothing yet */
    CHECK_EQ(first, 0);
    for (uint64_t i = 1; i <= 5; i++)
        push(&h, id(100 + i, 0), 10);
    CHECK_EQ(h.count, 3);
    CHECK(chat_history_at(&h, 0)->id.ms == 103 && chat_history_at(&h, 2)->id.ms == 105);
    CHECK(h.gap.ms == 102 && h.last.ms == 105);
    struct chat_id q = id(101, 0);
    CHECK_EQ(chat_history_find(&h, &q, &first), CHAT_SINCE_TOO_OLD);
    q = id(102, 0);                                      /* the dropped edge: complete */
    CHECK_EQ(chat_history_find(&h, &q, &first), CHAT_SINCE_HELD);
    CHECK_EQ(first, 0);
    q = id(104, 0);
    CHECK_EQ(chat_history_find(&h, &q, &first), CHAT_SINCE_HELD);
    CHECK_EQ(first, 2);
    q = id(105, 0);
    CHECK_EQ(chat_history_find(&h, &q, &first), CHAT_SINCE_HELD);
    CHECK_EQ(first, 3);                                  /* nothing after the newest */
    q = id(104, 1);                                      /* between two: never issued */
    CHECK_EQ(chat_history_find(&h, &q, &first), CHAT_SINCE_UNKNOWN);
    q = id(106, 0);                                      /* newer than any */
    CHECK_EQ(chat_history_find(&h, &q, &first), CHAT_SINCE_UNKNOWN);
    struct chat_id restart = id(200, 0);
    chat_history_restart(&h, &restart);                  /* a new history */
    CHECK_EQ(h.count, 0);
    CHECK_EQ(h.bytes, 0);
    q = id(105, 0);
    CHECK_EQ(chat_history_find(&h, &q, &first), CHAT_SINCE_TOO_OLD);
    free(h.ring);
}

static void test_the_byte_budget_drops_the_oldest(void)
{
    struct chat_history h;
    struct chat_id start = id(0, 0);
    CHECK_EQ(chat_history_init(&h, 100, 250, &start), 0);
    for (uint64_t i = 1; i <= 5; i++)
        push(&h, id(i, 0), 100);
    CHECK_EQ(h.count, 2);                                /* 2 x 100 <= 250 < 3 x 100 */
    CHECK_EQ(h.bytes, 200);
    CHECK_EQ(h.gap.ms, 3);
    push(&h, id(6, 0), 1000);                            /* bigger than the budget: */
    CHECK_EQ(h.count, 1);                                /* kept alone, the newest */
    CHECK_EQ(h.gap.ms, 5);
    struct chat_id none = id(6, 0);
    chat_history_restart(&h, &none);
    free(h.ring);
}

int main(void)
{
    test_ids_parse_strictly();
    test_ids_format_order_and_grow();
    test_the_ring_keeps_the_last_and_knows_its_gap();
    test_the_byte_budget_drops_the_oldest();
    return check_report("chat_history");
}
