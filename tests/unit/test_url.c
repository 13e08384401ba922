/* SPDX-License-Identifier: MIT */
/* Unit tests for url.c: hosts, loopback, percent-decoding. */
#include "unit.h"
#include "url.h"

TEST(url_hosts)
{
	char h[64];

	CHECK(url_host("http://127.0.0.1:8888/", h, sizeof(h)) == 0);
	CHECK_STR(h, "127.0.0.1");
	CHECK(url_host("https://user:pw@hub.example/user/a/", h, sizeof(h)) == 0);
	CHECK_STR(h, "hub.example");
	CHECK(url_host("http://[::1]:8888/", h, sizeof(h)) == 0);
	CHECK_STR(h, "::1");
	CHECK(url_host("http://[::1", h, sizeof(h)) == -1);
	CHECK(url_host("http:///", h, sizeof(h)) == -1);
	CHECK(url_host("http://a-very-long-host-name.example/", h, 8) == -1);
}

TEST(url_loopback)
{
	CHECK(url_is_loopback("http://localhost:8888/"));
	CHECK(url_is_loopback("http://LOCALHOST/"));
	CHECK(url_is_loopback("http://127.1.2.3:1/"));
	CHECK(url_is_loopback("http://[::1]:8888/"));
	CHECK(!url_is_loopback("http://0.0.0.0:8888/"));
	CHECK(!url_is_loopback("http://127.0.0.1.example/"));
	CHECK(!url_is_loopback("http://localhost.example/"));
	CHECK(!url_is_loopback("https://10.0.0.5/"));
}

TEST(url_decode)
{
	char b[16];

	CHECK(url_pct_decode("a%20b", 5, b, sizeof(b), NULL) == 0);
	CHECK_STR(b, "a b");
	CHECK(url_pct_decode("p%3Aw%2f", 8, b, sizeof(b), NULL) == 0);
	CHECK_STR(b, "p:w/");
	CHECK(url_pct_decode("p%3Aw%2f", 8, b, sizeof(b), "/") == -1);	/* forbidden */
	CHECK(url_pct_decode("%00", 3, b, sizeof(b), NULL) == -1);	/* NUL */
	CHECK(url_pct_decode("%4", 2, b, sizeof(b), NULL) == -1);	/* cut short */
	CHECK(url_pct_decode("%zz", 3, b, sizeof(b), NULL) == -1);	/* not hex */
	CHECK(url_pct_decode("abcdef", 6, b, 4, NULL) == -1);		/* too small */
	CHECK(url_pct_decode("abc", 3, b, 4, NULL) == 0);
	CHECK_STR(b, "abc");
}

void suite_url(void)
{
	RUN(url_hosts);
	RUN(url_loopback);
	RUN(url_decode);
}
