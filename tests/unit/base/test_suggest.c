/* "did you mean": the distance between two names, and which known name is close enough. */
#include "unit.h"

#include "base/suggest.h"

#include <string.h>

static void test_distance(void **state)
{
	static const struct {
		const char *a, *b;
		size_t d;
	} cases[] = {
		{"", "", 0},
		{"kill_grace", "kill_grace", 0},
		{"kill_gace", "kill_grace", 1},	  /* a letter missing */
		{"kill_grrace", "kill_grace", 1}, /* one too many */
		{"kill_grase", "kill_grace", 1},  /* one changed */
		{"kill_gcrae", "kill_grace", 2},  /* two swaps */
		{"exectuor", "executor", 1},	  /* a swap counts once */
		{"", "abc", 3},
		{"abc", "", 3},
		{"abc", "xyz", 3},
		{"ca", "abc", 3}, /* optimal string alignment: no edit after a swap */
	};
	char long_name[SUGGEST_MAX_LEN + 2];
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++)
		if (suggest_distance(cases[i].a, cases[i].b) != cases[i].d)
			fail_msg("'%s' to '%s': %zu, want %zu", cases[i].a, cases[i].b,
				 suggest_distance(cases[i].a, cases[i].b), cases[i].d);
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_true(suggest_distance(long_name, "a") == (size_t)-1);
}

static void test_closest(void **state)
{
	static const char *const names[] = {"state_dir", "kill_grace", "gc_age", "executor",
					    "lock_backend"};
	static const struct {
		const char *word, *want;
	} cases[] = {
		{"kill_gace", "kill_grace"},
		{"stat_dir", "state_dir"},
		{"gc_ag", "gc_age"},
		{"lock_backends", "lock_backend"},
		{"gcage", "gc_age"},	  /* 5 letters allow one edit */
		{"gc_aaaa", NULL},	  /* 3 edits: 7 letters allow 2 */
		{"exeuctor", "executor"}, /* a swap is one edit */
		{"colour", NULL},	  /* nothing near */
		{"x", NULL},
		{"kill", NULL}, /* a prefix is not a typo */
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *got = suggest_closest(cases[i].word, names, ARRAY_SIZE(names));

		if (cases[i].want ? !got || strcmp(got, cases[i].want) : got != NULL)
			fail_msg("'%s': got %s, want %s", cases[i].word, got ? got : "none",
				 cases[i].want ? cases[i].want : "none");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_distance),
		cmocka_unit_test(test_closest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
