/* Settings: every key, defaults, and the errors an admin gets for a bad file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse(struct settings *s, const char *yaml)
{
	memset(s, 0, sizeof(*s));
	return settings_parse(s, "t.yaml", yaml, strlen(yaml));
}

static void test_defaults_follow_state_dir(void **state)
{
	struct settings s;

	(void)state;
	assert_int_equal(parse(&s, "state_dir: /srv/b\n"), 0);
	assert_string_equal(s.state_dir, "/srv/b");
	assert_string_equal(s.builds_dir, "/srv/b/builds");
	assert_string_equal(s.cache_dir, "/srv/b/cache");
	assert_string_equal(s.executor, "shell");
	assert_int_equal(s.kill_grace, 10);
	assert_int_equal(s.builds_per_job, 0);
	settings_release(&s);
}

static void test_empty_file_gives_defaults(void **state)
{
	struct settings s;

	(void)state;
	assert_int_equal(parse(&s, ""), 0);
	assert_non_null(s.state_dir);
	assert_int_equal(s.state_dir[0], '/');
	settings_release(&s);
	assert_int_equal(parse(&s, "# only a comment\n"), 0);
	settings_release(&s);
}

static void test_every_key(void **state)
{
	struct settings s;

	(void)state;
	assert_int_equal(parse(&s, "state_dir: /a\nbuilds_dir: /b\ncache_dir: /c\n"
				   "builds_per_job: yes\nexecutor: shell\nkill_grace: 2m\n"),
			 0);
	assert_string_equal(s.builds_dir, "/b");
	assert_string_equal(s.cache_dir, "/c");
	assert_int_equal(s.builds_per_job, 1);
	assert_int_equal(s.kill_grace, 120);
	settings_release(&s);
}

static void test_durations(void **state)
{
	static const struct {
		const char *text;
		int ok;
		unsigned seconds;
	} cases[] = {
		{"0", 1, 0},	 {"7", 1, 7},	    {"7s", 1, 7},  {"3m", 1, 180},
		{"1h", 1, 3600}, {"24h", 1, 86400}, {"25h", 0, 0}, {"soon", 0, 0},
		{"-1", 0, 0},	 {"5x", 0, 0},	    {"1.5", 0, 0}, {"99999999999999999999", 0, 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct settings s;
		char yaml[64];

		snprintf(yaml, sizeof(yaml), "kill_grace: %s\n", cases[i].text);
		assert_int_equal(parse(&s, yaml), cases[i].ok ? 0 : -1);
		if (cases[i].ok)
			assert_int_equal(s.kill_grace, cases[i].seconds);
		settings_release(&s);
	}
}

static void test_rejected(void **state)
{
	static const char *bad[] = {
		"stat_dir: /x\n",		      /* unknown key */
		"state_dir: relative/path\n",	      /* not absolute */
		"builds_per_job: maybe\n",	      /* not a bool */
		"executor: docker\n",		      /* no such backend */
		"state_dir: [/a, /b]\n",	      /* a list */
		"state_dir:\n  nested: 1\n",	      /* a mapping */
		"state_dir:\n",			      /* no value */
		"state_dir: &x /y\nbuilds_dir: *x\n", /* an alias */
		"state_dir: /a\nstate_dir: /b\n",     /* twice */
		"- state_dir\n",		      /* not a mapping */
		"state_dir: /a\n  bad indent: [\n",   /* not YAML */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct settings s;

		assert_int_equal(parse(&s, bad[i]), -1);
		settings_release(&s);
	}
}

static void test_print_round_trips(void **state)
{
	struct settings a, b;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_int_equal(parse(&a, "state_dir: /srv/x\nkill_grace: 90\nbuilds_per_job: true\n"), 0);
	f = open_memstream(&text, &len);
	settings_print(&a, f);
	fclose(f);
	assert_int_equal(parse(&b, text), 0);
	assert_string_equal(b.state_dir, "/srv/x");
	assert_string_equal(b.builds_dir, "/srv/x/builds");
	assert_int_equal(b.kill_grace, 90);
	assert_int_equal(b.builds_per_job, 1);
	free(text);
	settings_release(&a);
	settings_release(&b);
}

static void test_load_missing_named_file_fails(void **state)
{
	struct settings s;

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(settings_load(&s, "/nonexistent/berth.yaml"), -1);
	settings_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_follow_state_dir),
		cmocka_unit_test(test_empty_file_gives_defaults),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_rejected),
		cmocka_unit_test(test_print_round_trips),
		cmocka_unit_test(test_load_missing_named_file_fails),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
