/* The pure parts of the HTTP client: a status's class, query escaping, HTTP dates. */
#include "unit.h"

#include "base/http.h"

#include <stdlib.h>

static void test_status_classes(void **state)
{
	static const struct {
		long status;
		enum berth_result want;
	} cases[] = {
		{200, BERTH_OK},
		{201, BERTH_OK},
		{202, BERTH_OK},
		{204, BERTH_OK},
		{299, BERTH_OK},
		/* The credentials: the job's to fix. */
		{401, BERTH_BUILD_FAILURE},
		{403, BERTH_BUILD_FAILURE},
		/* The server: failing, limiting, or not the API it should be. */
		{100, BERTH_SYSTEM_FAILURE},
		{199, BERTH_SYSTEM_FAILURE},
		{301, BERTH_SYSTEM_FAILURE},
		{400, BERTH_SYSTEM_FAILURE},
		{404, BERTH_SYSTEM_FAILURE},
		{405, BERTH_SYSTEM_FAILURE},
		{409, BERTH_SYSTEM_FAILURE},
		{410, BERTH_SYSTEM_FAILURE},
		{429, BERTH_SYSTEM_FAILURE},
		{500, BERTH_SYSTEM_FAILURE},
		{503, BERTH_SYSTEM_FAILURE},
		{0, BERTH_SYSTEM_FAILURE},
		{-1, BERTH_SYSTEM_FAILURE},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		if (http_status_result(cases[i].status) != cases[i].want)
			fail_msg("HTTP %ld: want class %d, got %d", cases[i].status,
				 (int)cases[i].want, (int)http_status_result(cases[i].status));
	}
}

static void test_escape_keeps_only_unreserved(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"", ""},
		{"AZaz09-._~", "AZaz09-._~"},
		{"repository:group/app:pull", "repository%3Agroup%2Fapp%3Apull"},
		{"a b&c=d?e#f%", "a%20b%26c%3Dd%3Fe%23f%25"},
		{"\xc3\xa9\x01\xff", "%C3%A9%01%FF"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char *got = http_escape(cases[i].in);

		assert_non_null(got);
		assert_string_equal(got, cases[i].want);
		free(got);
	}
}

/* Retry-After may be a date in any of HTTP's three forms; nonsense is -1. */
static void test_parse_date(void **state)
{
	(void)state;
	assert_int_equal(http_parse_date("Wed, 21 Oct 2015 07:28:00 GMT"), 1445412480LL);
	assert_int_equal(http_parse_date("Wednesday, 21-Oct-15 07:28:00 GMT"), 1445412480LL);
	assert_int_equal(http_parse_date("Wed Oct 21 07:28:00 2015"), 1445412480LL);
	assert_int_equal(http_parse_date("not a date"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_classes),
		cmocka_unit_test(test_escape_keeps_only_unreserved),
		cmocka_unit_test(test_parse_date),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
