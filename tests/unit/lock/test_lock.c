/* Lock keys and the owner record. */
#include "unit.h"

#include "lock/lock.h"

#include <stdlib.h>
#include <string.h>

static void test_keys(void **state)
{
	static const struct {
		const char *key;
		int ok;
	} cases[] = {
		{"deploy/42/production", 1},
		{"cleanup/cr.selcloud.ru/myreg", 1},
		{"a", 1},
		{"a.b_c-d/e..f", 1},
		{"cleanup/registry.internal:5000/reg", 1},
		{"", 0},
		{"/a", 0},
		{"a/", 0},
		{"a//b", 0},
		{"a/./b", 0},
		{"../x", 0},
		{"x/..", 0},
		{".", 0},
		{"with space", 0},
		{"a\nb", 0},
		{"a%2Fb", 0},
	};
	char longest[LOCK_KEY_MAX + 2];
	char why[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why[0] = '\0';
		assert_int_equal(lock_valid_key(cases[i].key, why, sizeof(why)),
				 cases[i].ok ? 0 : -1);
		if (!cases[i].ok)
			assert_true(why[0] != '\0');
	}
	memset(longest, 'k', sizeof(longest));
	longest[LOCK_KEY_MAX] = '\0';
	assert_int_equal(lock_valid_key(longest, why, sizeof(why)), 0);
	longest[LOCK_KEY_MAX] = 'k';
	longest[LOCK_KEY_MAX + 1] = '\0';
	assert_int_equal(lock_valid_key(longest, why, sizeof(why)), -1);
}

static void test_owner_from_environment(void **state)
{
	struct lock_owner me;
	char buf[1024];

	(void)state;
	setenv("CI_JOB_ID", "4242", 1);
	setenv("CI_PROJECT_PATH", "group/app", 1);
	unsetenv("CI_PIPELINE_URL");
	lock_owner_init(&me, &vars_script);
	assert_string_equal(me.job, "4242");
	assert_string_equal(me.project, "group/app");
	assert_string_equal(me.pipeline_url, "-");
	assert_true(me.pid > 0 && me.queued > 0 && me.since == 0);
	lock_owner_describe(&me, buf, sizeof(buf));
	assert_non_null(strstr(buf, "job 4242 (project group/app"));
	assert_non_null(strstr(buf, "queued at"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_owner_from_environment),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
