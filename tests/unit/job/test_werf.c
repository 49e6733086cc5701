/* werf under berth: the real werf behind the wrapper, and the lock a subcommand takes. */
#include "unit.h"

#include "conf/settings.h"
#include "job/werf.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/berth-test-werf-XXXXXX";
static char wrapper_dir[256], real_dir[256], real[512];

/* wrapper/werf is a link to this very binary (as <workspace>/bin/werf is to berth);
 * real/werf is another program. */
static int make_dirs(void **state)
{
	char self[PATH_MAX], link[PATH_MAX + 8];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	FILE *f;

	(void)state;
	if (n < 0 || !mkdtemp(dir))
		return -1;
	self[n] = '\0';
	snprintf(wrapper_dir, sizeof(wrapper_dir), "%s/wrapper", dir);
	snprintf(real_dir, sizeof(real_dir), "%s/real", dir);
	snprintf(real, sizeof(real), "%s/werf", real_dir);
	snprintf(link, sizeof(link), "%s/werf", wrapper_dir);
	if (mkdir(wrapper_dir, 0700) < 0 || mkdir(real_dir, 0700) < 0 || symlink(self, link) < 0)
		return -1;
	f = fopen(real, "w");
	if (!f || fputs("#!/bin/sh\n", f) < 0 || fclose(f) != 0)
		return -1;
	return chmod(real, 0700);
}

static int remove_dirs(void **state)
{
	char cmd[64];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* After `trdl use`, trdl's werf may come before or after the wrapper: never the wrapper. */
static void test_locate_skips_the_wrapper(void **state)
{
	char path[3 * PATH_MAX], out[PATH_MAX];

	(void)state;
	snprintf(path, sizeof(path), "%s:/nonexistent:%s", wrapper_dir, real_dir);
	assert_int_equal(werf_locate("werf", path, out, sizeof(out)), 0);
	assert_string_equal(out, real);
	snprintf(path, sizeof(path), "%s:%s", real_dir, wrapper_dir);
	assert_int_equal(werf_locate("werf", path, out, sizeof(out)), 0);
	assert_string_equal(out, real);
	/* Only the wrapper on PATH: a clear error, not berth running itself for ever. */
	assert_int_equal(werf_locate("werf", wrapper_dir, out, sizeof(out)), -1);
}

static void test_locate_takes_werf_path(void **state)
{
	char self[PATH_MAX + 8], out[PATH_MAX];

	(void)state;
	assert_int_equal(werf_locate(real, wrapper_dir, out, sizeof(out)), 0);
	assert_string_equal(out, real);
	snprintf(self, sizeof(self), "%s/werf", wrapper_dir);
	assert_int_equal(werf_locate(self, real_dir, out, sizeof(out)), -1);
	assert_int_equal(werf_locate("/nonexistent/werf", real_dir, out, sizeof(out)), -1);
}

static void test_lock_keys(void **state)
{
	struct settings s;
	struct strvec env = STRVEC_INIT;
	char key[256];

	(void)state;
	memset(&s, 0, sizeof(s));
	unsetenv("BERTH_JOB_DIR");
	setenv("CI_PROJECT_ID", "42", 1);
	setenv("CI_ENVIRONMENT_SLUG", "review-7", 1);
	assert_int_equal(werf_lock_key("converge", &s, &env, key, sizeof(key)), 0);
	assert_string_equal(key, "deploy/42/review-7");
	assert_int_equal(werf_lock_key("version", &s, &env, key, sizeof(key)), 0);
	assert_string_equal(key, "");
	assert_int_equal(werf_lock_key(NULL, &s, &env, key, sizeof(key)), 0);
	assert_string_equal(key, "");
	assert_int_equal(strvec_setenv(&env, "WERF_REPO", "cr.example.com/shop/app"), 0);
	assert_int_equal(werf_lock_key("cleanup", &s, &env, key, sizeof(key)), 0);
	assert_string_equal(key, "cleanup/cr.example.com/shop");
	strvec_clear(&env);
	assert_int_equal(werf_lock_key("cleanup", &s, &env, key, sizeof(key)), -1);
	setenv("CI_ENVIRONMENT_SLUG", "Not A Slug", 1);
	assert_int_equal(werf_lock_key("converge", &s, &env, key, sizeof(key)), -1);
	unsetenv("CI_ENVIRONMENT_SLUG");
	unsetenv("CI_PROJECT_ID");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_locate_skips_the_wrapper),
		cmocka_unit_test(test_locate_takes_werf_path),
		cmocka_unit_test(test_lock_keys),
	};
	return cmocka_run_group_tests(tests, make_dirs, remove_dirs);
}
