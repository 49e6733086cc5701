/* path_join: a path that fits is made; one that does not is refused whole, never cut. */
#include "unit.h"

#include "base/fs.h"

#include <string.h>

static void test_fits(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(path_join(out, sizeof(out), "%s/%s", "/state", "jobs"), 0);
	assert_string_equal(out, "/state/jobs");
	/* exactly size - 1 characters still fits */
	assert_int_equal(path_join(out, sizeof(out), "%s/%s", "/0123456789", "abc"), 0);
	assert_string_equal(out, "/0123456789/abc");
}

static void test_truncation_fails(void **state)
{
	char out[16], msg[512];
	int saved;
	FILE *tmp;

	(void)state;
	tmp = capture_begin(&saved);
	assert_int_equal(path_join(out, sizeof(out), "%s/%s", "/0123456789", "abcd"), -1);
	capture_end(tmp, saved, msg, sizeof(msg));
	assert_string_equal(out, ""); /* the cut "/0123456789/abc" must not be used */
	assert_non_null(strstr(msg, "berth: error: path too long: '/0123456789/abc...'"));
	assert_non_null(strstr(msg, "over 15 bytes"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fits),
		cmocka_unit_test(test_truncation_fails),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
