/* Image references: what parses into which fields, what is refused, and registry hosts. */
#include "unit.h"

#include "conf/reference.h"

#include <stdio.h>
#include <string.h>

#define DIGEST_HEX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_parse_accepts(void **state)
{
	static const struct {
		const char *in, *host, *path, *tag, *digest;
		size_t components;
	} cases[] = {
		{"registry.example.com/group/app", "registry.example.com", "group/app", "", "", 2},
		{"localhost:5000/app", "localhost:5000", "app", "", "", 1},
		{"localhost/app", "localhost", "app", "", "", 1},
		{"127.0.0.1:5000/a/b", "127.0.0.1:5000", "a/b", "", "", 2},
		{"cr.selcloud.ru/myreg/group/app", "cr.selcloud.ru", "myreg/group/app", "", "", 3},
		{"host.io/a/b:tag", "host.io", "a/b", "tag", "", 2},
		{"host.io/a:v1.2.3-rc_1", "host.io", "a", "v1.2.3-rc_1", "", 1},
		{"host.io/a:Latest", "host.io", "a", "Latest", "", 1},
		{"host.io/a@sha256:" DIGEST_HEX, "host.io", "a", "", "sha256:" DIGEST_HEX, 1},
		{"host.io:443/a/b:t@sha256:" DIGEST_HEX, "host.io:443", "a/b", "t",
		 "sha256:" DIGEST_HEX, 2},
		{"host.io/a__b/c.d/e-f--g", "host.io", "a__b/c.d/e-f--g", "", "", 3},
		{"Host.IO/a", "Host.IO", "a", "", "", 1},
		{"a-b.c:80/x0/1y", "a-b.c:80", "x0/1y", "", "", 2},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct reference ref;
		char why[128] = "";

		if (reference_parse(cases[i].in, &ref, why, sizeof(why)) != 0)
			fail_msg("refused '%s': %s", cases[i].in, why);
		assert_string_equal(ref.host, cases[i].host);
		assert_string_equal(ref.path, cases[i].path);
		assert_string_equal(ref.tag, cases[i].tag);
		assert_string_equal(ref.digest, cases[i].digest);
		assert_int_equal(ref.components, cases[i].components);
	}
}

static void test_parse_rejects(void **state)
{
	static const struct {
		const char *in, *why_has;
	} cases[] = {
		{"group/app", "host"},
		{"app", "host"},
		{"", "host"},
		{"/app", "host"},
		{"host.io/Group/app", "lowercase"},
		{"host.io/group/App", "lowercase"},
		{"host.io/a/", "end with '/'"},
		{"host.io/", "no repository"},
		{"host.io:99999999/a", "host"},
		{"host.io:/a", "host"},
		{"host.io:x/a", "host"},
		{"-host.io/a", "host"},
		{"host.io/a:-x", "tag"},
		{"host.io/a:.x", "tag"},
		{"host.io/a:", "tag"},
		{"host.io/a:t!g", "tag"},
		{"host.io/a:b:c", "tag"},
		{"host.io/a@sha256:abc", "digest"},
		{"host.io/a@md5:" DIGEST_HEX, "digest"},
		{"host.io/a@sha256:" DIGEST_HEX "0", "digest"},
		{"host.io/a@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
		 "digest"},
		{"host.io/a@", "digest"},
		{"host.io//a", "lowercase"},
		{"host.io/a//b", "lowercase"},
		{"host.io/_a", "lowercase"},
		{"host.io/.a", "lowercase"},
		{"host.io/-a", "lowercase"},
		{"host.io/a_", "lowercase"},
		{"host.io/a___b", "lowercase"},
		{"host.io/a._b", "lowercase"},
		{"host.io/a b", "lowercase"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct reference ref;
		char why[128] = "";

		if (reference_parse(cases[i].in, &ref, why, sizeof(why)) == 0)
			fail_msg("accepted '%s'", cases[i].in);
		assert_true(why[0] != '\0');
		if (!strstr(why, cases[i].why_has))
			fail_msg("'%s': reason '%s' does not mention '%s'", cases[i].in, why,
				 cases[i].why_has);
	}
}

static void test_parse_name_length(void **state)
{
	char in[400], tagged[420];
	struct reference ref;
	char why[128] = "";
	size_t n;

	(void)state;
	/* "host.io/" is 8 characters: a name of exactly 255 is fine, 256 is not. */
	memcpy(in, "host.io/", 8);
	for (n = 8; n < 255; n++)
		in[n] = 'a';
	in[n] = '\0';
	assert_int_equal(reference_parse(in, &ref, why, sizeof(why)), 0);
	assert_int_equal(strlen(ref.path), 247);
	snprintf(tagged, sizeof(tagged), "%s:tag", in);
	assert_int_equal(reference_parse(tagged, &ref, why, sizeof(why)), 0);
	assert_string_equal(ref.tag, "tag");

	in[n++] = 'a';
	in[n] = '\0';
	why[0] = '\0';
	assert_int_equal(reference_parse(in, &ref, why, sizeof(why)), -1);
	assert_true(why[0] != '\0');
	assert_non_null(strstr(why, "255"));

	for (; n < sizeof(in) - 1; n++)
		in[n] = 'a';
	in[n] = '\0';
	why[0] = '\0';
	assert_int_equal(reference_parse(in, &ref, why, sizeof(why)), -1);
	assert_true(why[0] != '\0');
}

static void test_parse_long_host(void **state)
{
	char in[300];
	struct reference ref;
	char why[128] = "";

	(void)state;
	memset(in, 'a', sizeof(in));
	memcpy(in + 280, ".io/app", 8);
	assert_int_equal(reference_parse(in, &ref, why, sizeof(why)), -1);
	assert_true(why[0] != '\0');
	assert_non_null(strstr(why, "host"));
}

static void test_parse_tag_length(void **state)
{
	char in[200];
	struct reference ref;
	char why[128] = "";

	(void)state;
	memcpy(in, "host.io/a:", 10);
	memset(in + 10, 't', 128);
	in[138] = '\0';
	assert_int_equal(reference_parse(in, &ref, why, sizeof(why)), 0);
	assert_int_equal(strlen(ref.tag), 128);
	in[138] = 't';
	in[139] = '\0';
	assert_int_equal(reference_parse(in, &ref, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "tag"));
}

static void test_valid_host(void **state)
{
	static const struct {
		const char *host;
		int ok;
	} cases[] = {
		{"a.b", 1},	   {"a-b.c:80", 1}, {"localhost", 1}, {"127.0.0.1:5000", 1},
		{"a", 1},	   {"a--b.c", 1},   {"x:65535", 1},   {"A.B", 1},
		{"", 0},	   {"-a.b", 0},	    {"a-.b", 0},      {"a..b", 0},
		{"a.b:", 0},	   {"a.b:x", 0},    {"a b", 0},	      {".a.b", 0},
		{"a.b.", 0},	   {"a.b-", 0},	    {":80", 0},	      {"a.b:80:90", 0},
		{"a.b:123456", 0}, {"a_b.c", 0},    {"a.b/c", 0},     {"a.b:8 0", 0},
		{"[::1]:5000", 0}, {"a.b:-1", 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++)
		if ((reference_valid_host(cases[i].host) == 0) != cases[i].ok)
			fail_msg("reference_valid_host('%s') should %s", cases[i].host,
				 cases[i].ok ? "accept" : "refuse");
}

static void test_valid_host_length(void **state)
{
	char host[300];

	(void)state;
	memset(host, 'a', sizeof(host));
	host[255] = '\0';
	assert_int_equal(reference_valid_host(host), 0);
	host[255] = 'a';
	host[256] = '\0';
	assert_int_equal(reference_valid_host(host), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_accepts),	  cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_parse_name_length), cmocka_unit_test(test_parse_long_host),
		cmocka_unit_test(test_parse_tag_length),  cmocka_unit_test(test_valid_host),
		cmocka_unit_test(test_valid_host_length),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
