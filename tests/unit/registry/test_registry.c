/* Registry helpers: WWW-Authenticate challenges and Retry-After values. */
#include "unit.h"

#include "registry/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_challenge_accepted(void **state)
{
	static const struct {
		const char *header, *scheme, *realm, *service, *scope;
	} cases[] = {
		{"Bearer realm=\"https://auth.example.com/token\",service=\"registry.example.com\","
		 "scope=\"repository:a/b:pull,push\"",
		 "bearer", "https://auth.example.com/token", "registry.example.com",
		 "repository:a/b:pull,push"},
		{"Basic realm=\"Registry Realm\"", "basic", "Registry Realm", "", ""},
		{"Basic", "basic", "", "", ""},
		{"BASIC realm=x", "basic", "x", "", ""},
		{"bearer realm=\"https://a/t\"", "bearer", "https://a/t", "", ""},
		{"BeArEr realm=\"https://a/t\"", "bearer", "https://a/t", "", ""},
		{"Bearer realm=https://a/t,service=reg.io,scope=repository:x:pull", "bearer",
		 "https://a/t", "reg.io", "repository:x:pull"},
		{"Bearer realm=\"https://a/t?q=\\\"x\\\"\",service=\"a\\\\b\"", "bearer",
		 "https://a/t?q=\"x\"", "a\\b", ""},
		{"  Bearer   realm=\"https://a/t\" ,  , service=\"s\",,scope=\"p\"  ,", "bearer",
		 "https://a/t", "s", "p"},
		{"Bearer\trealm=\"https://a/t\",\tservice=\"s\"", "bearer", "https://a/t", "s", ""},
		{"Bearer REALM=\"https://a/t\",Service=\"s\"", "bearer", "https://a/t", "s", ""},
		{"Bearer realm=\"https://a/t\",error=\"insufficient_scope\",charset=UTF-8",
		 "bearer", "https://a/t", "", ""},
		{"Bearer service=\"s\",realm=\"https://a/t\"", "bearer", "https://a/t", "s", ""},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct challenge ch;

		if (registry_parse_challenge(cases[i].header, &ch) != 0)
			fail_msg("refused challenge %zu: %s", i, cases[i].header);
		assert_string_equal(ch.scheme, cases[i].scheme);
		assert_string_equal(ch.realm, cases[i].realm);
		assert_string_equal(ch.service, cases[i].service);
		assert_string_equal(ch.scope, cases[i].scope);
	}
}

static void test_challenge_rejected(void **state)
{
	static const char *bad[] = {
		"Bearer service=\"x\"",		       /* no realm */
		"Bearer",			       /* no realm at all */
		"Bearer realm=\"\"",		       /* an empty realm */
		"Negotiate",			       /* not Basic or Bearer */
		"Digest realm=\"r\",nonce=\"n\"",      /* neither */
		"",				       /* empty */
		"   ",				       /* blank */
		"Bearer realm=\"https://a/t",	       /* unterminated quote */
		"Bearer realm=\"https://a/t\\\"",      /* the closing quote escaped */
		"Bearer realm",			       /* a parameter without '=' */
		"Bearer =x",			       /* a parameter without a name */
		"Bearer realm=\"https://a/t\"junk",    /* text glued to a quoted value */
		"Averyveryverylongscheme realm=\"r\"", /* does not fit a scheme */
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		struct challenge ch;

		if (registry_parse_challenge(bad[i], &ch) == 0)
			fail_msg("accepted challenge '%s'", bad[i]);
	}
}

/* A realm of `n` characters, quoted or not. */
static int parse_realm_of(size_t n, int quoted, struct challenge *ch)
{
	char *h = malloc(n + 32), *p = h;
	int ret;

	assert_non_null(h);
	p += sprintf(p, "Bearer realm=%s", quoted ? "\"" : "");
	memset(p, 'r', n);
	p += n;
	sprintf(p, "%s,service=s", quoted ? "\"" : "");
	ret = registry_parse_challenge(h, ch);
	free(h);
	return ret;
}

static void test_challenge_realm_length(void **state)
{
	struct challenge ch;

	(void)state;
	assert_int_equal(parse_realm_of(1023, 1, &ch), 0);
	assert_int_equal(strlen(ch.realm), 1023);
	assert_string_equal(ch.service, "s");
	assert_int_equal(parse_realm_of(1024, 1, &ch), -1);
	assert_int_equal(parse_realm_of(5000, 1, &ch), -1);
	assert_int_equal(parse_realm_of(1023, 0, &ch), 0);
	assert_int_equal(strlen(ch.realm), 1023);
	assert_int_equal(parse_realm_of(1024, 0, &ch), -1);
}

static void test_challenge_long_service_and_scope(void **state)
{
	char h[2048];
	struct challenge ch;

	(void)state;
	snprintf(h, sizeof(h), "Bearer realm=\"r\",service=\"%0300d\"", 0);
	assert_int_equal(registry_parse_challenge(h, &ch), -1);
	snprintf(h, sizeof(h), "Bearer realm=\"r\",scope=\"%0600d\"", 0);
	assert_int_equal(registry_parse_challenge(h, &ch), -1);
	snprintf(h, sizeof(h), "Bearer realm=\"r\",scope=\"%0511d\"", 0);
	assert_int_equal(registry_parse_challenge(h, &ch), 0);
	assert_int_equal(strlen(ch.scope), 511);
}

static void test_retry_after(void **state)
{
	/* Sun, 06 Nov 1994 08:49:47 GMT, RFC 9110's example date. */
	const time_t now = 784111787;
	static const struct {
		const char *value;
		long seconds;
	} cases[] = {
		{"0", 0},
		{"5", 5},
		{"120", 120},
		{"007", 7},
		{" 5", -1},
		{"5 ", -1},
		{"5s", -1},
		{"-5", -1},
		{"+5", -1},
		{"abc", -1},
		{"", -1},
		{"99999999999999999999999", -1},
		{"Sun, 06 Nov 1994 08:49:57 GMT", 10},
		{"Sun, 06 Nov 1994 09:49:47 GMT", 3600},
		{"Sun, 06 Nov 1994 08:49:47 GMT", 0},
		{"Sun, 06 Nov 1994 08:49:37 GMT", 0},
		{"Thu, 01 Jan 1970 00:00:00 GMT", 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		long got = registry_retry_after(cases[i].value, now);

		if (got != cases[i].seconds)
			fail_msg("Retry-After '%s': want %ld, got %ld", cases[i].value,
				 cases[i].seconds, got);
	}
	assert_int_equal(registry_retry_after(NULL, now), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_challenge_accepted),
		cmocka_unit_test(test_challenge_rejected),
		cmocka_unit_test(test_challenge_realm_length),
		cmocka_unit_test(test_challenge_long_service_and_scope),
		cmocka_unit_test(test_retry_after),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
