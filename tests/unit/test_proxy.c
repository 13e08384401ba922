/* SPDX-License-Identifier: MIT */
/* Unit tests for the no_proxy rules (agent/proxy.c): curl's rules, CIDR included. */
#include "proxy.h"
#include "unit.h"

TEST(names_and_subdomains)
{
	CHECK(proxy_no_proxy_match("example.com", "example.com"));
	CHECK(proxy_no_proxy_match("example.com", "hub.example.com"));
	CHECK(proxy_no_proxy_match(".example.com", "hub.example.com"));
	CHECK(proxy_no_proxy_match("other.org, EXAMPLE.com", "Hub.Example.COM."));
	CHECK(!proxy_no_proxy_match("example.com", "badexample.com"));
	CHECK(!proxy_no_proxy_match("hub.example.com", "example.com"));
	CHECK(!proxy_no_proxy_match("", "example.com"));
}

TEST(star_and_separators)
{
	CHECK(proxy_no_proxy_match("*", "anything.example"));
	CHECK(proxy_no_proxy_match("a.org b.org\tc.org", "c.org"));
	CHECK(!proxy_no_proxy_match("*.example.com", "other.org"));
}

TEST(addresses_and_cidr)
{
	CHECK(proxy_no_proxy_match("127.0.0.1", "127.0.0.1"));
	CHECK(!proxy_no_proxy_match("127.0.0.1", "127.0.0.2"));
	CHECK(proxy_no_proxy_match("127.0.0.0/8", "127.4.5.6"));
	CHECK(!proxy_no_proxy_match("10.0.0.0/8", "11.0.0.1"));
	CHECK(proxy_no_proxy_match("192.168.1.0/25", "192.168.1.127"));
	CHECK(!proxy_no_proxy_match("192.168.1.0/25", "192.168.1.128"));
	CHECK(proxy_no_proxy_match("::1", "[::1]"));
	CHECK(proxy_no_proxy_match("[::1]", "::1"));
	CHECK(proxy_no_proxy_match("fd00::/8", "[fd12::5]"));
	CHECK(!proxy_no_proxy_match("fd00::/8", "fe80::1"));
	/* a name entry never matches an address, and a bad block matches nothing */
	CHECK(!proxy_no_proxy_match("localhost", "127.0.0.1"));
	CHECK(!proxy_no_proxy_match("127.0.0.0/33", "127.0.0.1"));
}

void suite_proxy(void)
{
	RUN(names_and_subdomains);
	RUN(star_and_separators);
	RUN(addresses_and_cidr);
}
