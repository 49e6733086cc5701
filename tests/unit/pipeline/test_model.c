/*
 * model: the wildcard of `include:local` against GitLab's own rule, and its bound on steps.
 */
#include "unit.h"

#include "pipeline/model.h"

#include <string.h>

struct wild_case {
	const char *pattern, *path;
	int want;
};

/*
 * Expectations from GitLab's Repository#search_files_by_wildcard_path, run in python3: the
 * pattern escaped, `**` made `.*?`, then `*` made `([^/])*?`, matched as ^...$.
 */
static const struct wild_case wild_cases[] = {
	{"configs/*.yml", "configs/a.yml", 1},
	{"configs/*.yml", "configs/sub/a.yml", 0},
	{"configs/*.yml", "configs/.hidden.yml", 1},
	{"configs/**.yml", "configs/a.yml", 1},
	{"configs/**.yml", "configs/sub/deeper/a.yml", 1},
	{"configs/**.yml", "configs/a.yaml", 0},
	{"configs/**/*.yml", "configs/a.yml", 0},
	{"configs/**/*.yml", "configs/sub/a.yml", 1},
	{"configs/**/*.yml", "configs/sub/deeper/a.yml", 1},
	{"*.yml", "a.yml", 1},
	{"*.yml", "ci/a.yml", 0},
	{"**.yml", "ci/a.yml", 1},
	/* Only `*` is special: `?` and brackets are themselves. */
	{"ci/?.yml", "ci/a.yml", 0},
	{"ci/?.yml", "ci/?.yml", 1},
	{"ci/[ab].yml", "ci/a.yml", 0},
	{"ci/[ab].yml", "ci/[ab].yml", 1},
	{"ci/a.*", "ci/a.yml", 1},
	{"ci/a*", "ci/a", 1},
	{"ci/*", "ci/", 1},
	{"ci/*/x.yml", "ci/a/x.yml", 1},
	{"ci/*/x.yml", "ci/x.yml", 0},
	{"ci/*/x.yml", "ci/a/b/x.yml", 0},
	{"***.yml", "a/b.yml", 1},
	{"ci/*.yml", "ci/a.yml.bak", 0},
	{"ci/*.yml", "xci/a.yml", 0},
	{"ci/x*y*z.yml", "ci/xayz.yml", 1},
	{"ci/x*y*z.yml", "ci/xaz.yml", 0},
	{"", "", 1},
	{"a.yml", "a.yml", 1},
	{"a.yml", "a.ym", 0},
};

static void test_wildcard_match(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(wild_cases); i++) {
		int got = pipeline_wildcard_match(wild_cases[i].pattern, wild_cases[i].path);

		if (got != wild_cases[i].want)
			fail_msg("'%s' on '%s': got %d, want %d", wild_cases[i].pattern,
				 wild_cases[i].path, got, wild_cases[i].want);
	}
}

/* A pattern that would backtrack for ages stops with -1 instead of a guess. */
static void test_wildcard_steps_are_bounded(void **state)
{
	char path[301];

	(void)state;
	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(pipeline_wildcard_match("*a*a*a*a*a*a*a*a*a*b", path), -1);
	assert_int_equal(pipeline_wildcard_match("**a**a**a**b", path), -1);
	/* The same path with few stars is answered. */
	assert_int_equal(pipeline_wildcard_match("*a*b", path), 0);
	assert_int_equal(pipeline_wildcard_match("a*a", path), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wildcard_match),
		cmocka_unit_test(test_wildcard_steps_are_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
