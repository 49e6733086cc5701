/* What messages print: credentials in URLs masked, control characters escaped. */
#include "unit.h"

#include "base/log.h"

#include <string.h>

struct printed {
	const char *in, *want;
};

static void check(const struct printed *cases, size_t n)
{
	char out[256];
	size_t i;

	for (i = 0; i < n; i++) {
		log_printable(out, sizeof(out), cases[i].in);
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("'%s': got '%s', want '%s'", cases[i].in, out, cases[i].want);
	}
}

static void test_userinfo_is_masked(void **state)
{
	static const struct printed cases[] = {
		{"cannot reach cluster 'c' at https://u:pw@10.0.0.1:6443: refused",
		 "cannot reach cluster 'c' at https://***@10.0.0.1:6443: refused"},
		{"WERF_REPO 'https://robot:s3cr3t@registry.example.com/group/app' is not valid",
		 "WERF_REPO 'https://***@registry.example.com/group/app' is not valid"},
		{"http://token@h", "http://***@h"},
		{"git+ssh://git:tok@host/x", "git+ssh://***@host/x"},
		/* A raw '@' in the password: curl splits at the last one, and so does the mask. */
		{"https://u:p@ss@host/x", "https://***@host/x"},
		{"https://@host", "https://***@host"},
		{"two: http://a:b@h1 and HTTPS://c:d@h2/",
		 "two: http://***@h1 and HTTPS://***@h2/"},
		/* No userinfo: an '@' past the authority is the path's or the query's. */
		{"https://host/path?u=a@b", "https://host/path?u=a@b"},
		{"https://host:6443/api#x@y", "https://host:6443/api#x@y"},
		{"ftp://host:21", "ftp://host:21"},
		{"at https://host: refused by alice@example.com",
		 "at https://host: refused by alice@example.com"},
		/* No scheme: an e-mail address, a registry login, a path. */
		{"mail alice@example.com", "mail alice@example.com"},
		{"user:pw@registry/app", "user:pw@registry/app"},
		{"not a scheme ://u:p@h, nor 1://u:p@h", "not a scheme ://u:p@h, nor 1://u:p@h"},
		{"", ""},
	};

	(void)state;
	check(cases, ARRAY_SIZE(cases));
}

/* A variable quoted in a message cannot end the line, rewrite it, or drive the terminal. */
static void test_control_characters_are_escaped(void **state)
{
	static const struct printed cases[] = {
		{"WERF_REPO 'a\nberth: job succeeded'", "WERF_REPO 'a\\nberth: job succeeded'"},
		{"clear \x1b[2J\x1b[1;1H", "clear \\x1b[2J\\x1b[1;1H"},
		{"x\r\ty\x7f\x01", "x\\r\\ty\\x7f\\x01"},
		/* C1 controls in UTF-8 (U+009B is CSI); other characters stay as they are. */
		{"\xc2\x9b"
		 "2J \xc2\x85",
		 "\\xc2\\x9b2J \\xc2\\x85"},
		{"caf\xc3\xa9 \xc2\xa0 \xe2\x80\x94", "caf\xc3\xa9 \xc2\xa0 \xe2\x80\x94"},
		{"a lone \xc2", "a lone \xc2"},
		/* Both at once: white space ends a URL's authority, so nothing is taken for
		   userinfo. */
		{"https://u:p\n@h and https://u:p@h\n", "https://u:p\\n@h and https://***@h\\n"},
		{"back\\slash", "back\\slash"},
	};

	(void)state;
	check(cases, ARRAY_SIZE(cases));
}

static void test_output_is_cut_to_size(void **state)
{
	char out[12];

	(void)state;
	log_printable(out, sizeof(out), "https://user:password@host/long/path");
	assert_string_equal(out, "https://***");
	log_printable(out, 1, "anything");
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_userinfo_is_masked),
		cmocka_unit_test(test_control_characters_are_escaped),
		cmocka_unit_test(test_output_is_cut_to_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
