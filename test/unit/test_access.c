/* test_access.c -- token and Origin rules on parsed requests. */
#include "access.h"
#include "check.h"

static struct http_request req;

static const struct http_request *parse(const char *raw)
{
    CHECK(http_parse_request(raw, strlen(raw), &req, NULL) > 0);
    return &req;
}

static void test_no_rules_allow_everything(void)
{
    struct access_rules none = {0};
    CHECK_EQ(access_check_token(&none, parse("GET /ws HTTP/1.1\r\n\r\n")), 0);
    CHECK_EQ(access_check_origin(&none, parse("GET /ws HTTP/1.1\r\nOrigin: http://x\r\n\r\n")), 0);
}

static void test_token(void)
{
    struct access_rules r = { .token = "s3cr et" };
    CHECK_EQ(access_check_token(&r, parse("GET /ws HTTP/1.1\r\n\r\n")), 401);
    CHECK_EQ(access_check_token(&r, parse("GET /ws?token=s3cr%20et HTTP/1.1\r\n\r\n")), 0);
    CHECK_EQ(access_check_token(&r, parse("GET /ws?a=1&token=s3cr+et&b HTTP/1.1\r\n\r\n")), 0);
    CHECK_EQ(access_check_token(&r, parse("GET /ws?token=s3cr HTTP/1.1\r\n\r\n")), 401);
    CHECK_EQ(access_check_token(&r, parse("GET /ws?token=s3cr%20etX HTTP/1.1\r\n\r\n")), 401);
    CHECK_EQ(access_check_token(&r, parse("GET /ws?token= HTTP/1.1\r\n\r\n")), 401);
    CHECK_EQ(access_check_token(&r, parse("GET /ws?token=%zz HTTP/1.1\r\n\r\n")), 401);
    CHECK_EQ(access_check_token(&r, parse("GET /ws?xtoken=s3cr%20et HTTP/1.1\r\n\r\n")), 401);
    CHECK_EQ(access_check_token(&r,
             parse("GET /ws HTTP/1.1\r\nAuthorization: Bearer s3cr et\r\n\r\n")), 0);
    CHECK_EQ(access_check_token(&r,
             parse("GET /ws HTTP/1.1\r\nAuthorization: bearer s3cr et\r\n\r\n")), 0);
    CHECK_EQ(access_check_token(&r,
             parse("GET /ws HTTP/1.1\r\nAuthorization: Basic s3cr et\r\n\r\n")), 401);
    CHECK_EQ(access_check_token(&r,
             parse("GET /ws HTTP/1.1\r\nAuthorization: Bearer wrong\r\n\r\n")), 401);
}

static void test_secret_equal(void)
{
    CHECK(access_secret_equal("abc", 3, "abc"));
    CHECK(!access_secret_equal("abd", 3, "abc"));
    CHECK(!access_secret_equal("ab", 2, "abc"));
    CHECK(!access_secret_equal("abcabc", 6, "abc"));   /* a repeat is not a match */
    CHECK(!access_secret_equal("", 0, "abc"));
}

static void test_origin(void)
{
    struct access_rules r = { .allow_origin = "https://a.example, http://localhost:8970" };
    CHECK_EQ(access_check_origin(&r, parse("GET /ws HTTP/1.1\r\n\r\n")), 0);
    CHECK_EQ(access_check_origin(&r,
             parse("GET /ws HTTP/1.1\r\nOrigin: https://a.example\r\n\r\n")), 0);
    CHECK_EQ(access_check_origin(&r,
             parse("GET /ws HTTP/1.1\r\nOrigin: HTTP://LOCALHOST:8970\r\n\r\n")), 0);
    CHECK_EQ(access_check_origin(&r,
             parse("GET /ws HTTP/1.1\r\nOrigin: https://evil.example\r\n\r\n")), 403);
    CHECK_EQ(access_check_origin(&r,
             parse("GET /ws HTTP/1.1\r\nOrigin: https://a.example.evil\r\n\r\n")), 403);
    CHECK_EQ(access_check_origin(&r, parse("GET /ws HTTP/1.1\r\nOrigin: null\r\n\r\n")), 403);
}

int main(void)
{
    test_no_rules_allow_everything();
    test_token();
    test_secret_equal();
    test_origin();
    return check_report("access");
}
